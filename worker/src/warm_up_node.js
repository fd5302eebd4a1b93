// The warm-up's second module (lib.rs, `warm`; see warm_up.js), loaded with `nodejs_compat` in an
// isolate of its own: the `node:*` modules packages import most, used, so that the code cache of
// the prelude's lazy node group holds what that use compiled.
import { Buffer } from 'node:buffer';
import EventEmitter from 'node:events';
import { format, inspect, promisify } from 'node:util';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import process from 'node:process';

export default async () => {
  const bytes = Buffer.from('warm');
  const emitter = new EventEmitter();
  let heard = 0;
  emitter.on('x', () => heard++);
  emitter.emit('x');
  await new Promise((r) => process.nextTick(r));
  const later = promisify((cb) => cb(null, 'later'));
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
  ].join();
};
