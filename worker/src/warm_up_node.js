// The warm-up's second module (lib.rs, `warm`; see warm_up.js), loaded with `nodejs_compat` in an
// isolate of its own: the `node:*` modules packages import most, used, so that the code cache of
// the prelude's lazy node and nodestream groups hold what that use compiled.
import { Buffer } from 'node:buffer';
import EventEmitter from 'node:events';
import { format, inspect, promisify } from 'node:util';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import process from 'node:process';
import { parse as parseQuery, stringify as stringifyQuery } from 'node:querystring';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, createGunzip } from 'node:zlib';

export default async () => {
  const bytes = Buffer.from('warm');
  const emitter = new EventEmitter();
  let heard = 0;
  emitter.on('x', () => heard++);
  emitter.emit('x');
  await new Promise((r) => process.nextTick(r));
  const later = promisify((cb) => cb(null, 'later'));
  // node:stream (its own lazy group) and node:zlib's streams on it.
  let streamed = '';
  await pipeline(
    Readable.from(['warm ', 'stream']),
    new Transform({ transform(chunk, enc, cb) { cb(null, chunk); } }),
    createGzip(),
    createGunzip(),
    new Writable({ write(chunk, enc, cb) { streamed += chunk; cb(); } }),
  );
  for await (const chunk of Readable.from(['x'])) streamed += chunk;
  return [
    bytes.toString('base64'),
    Buffer.concat([bytes, Buffer.alloc(1)]).length,
    bytes.readUInt16BE(0),
    heard,
    format('%s=%d', 'a', 1),
    inspect({ a: [1] }),
    join('/a', '../b'),
    createHash('sha256').update(bytes).digest('hex').length,
    randomBytes(4).length,
    await later(),
    stringifyQuery(parseQuery('q=w%20a+r&m=1&m=2')),
    streamed,
  ].join();
};
