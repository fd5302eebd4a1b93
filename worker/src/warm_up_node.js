// The warm-up's second module (lib.rs, `warm`; see warm_up.js), loaded with `nodejs_compat` in an
// isolate of its own: the `node:*` modules packages import most, used, so that the code cache of
// the prelude's lazy node, nodestream, nodefs, nodehttp, nodenet and sockets groups hold what that use
// compiled (without a host: an Express-style server served by httpServerHandler, a socket made
// but never connected, an address connect() refuses before it asks the host; node:fs's /bundle
// listed, recursively, and a module read through a symbolic link in /tmp).
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
import { readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { httpServerHandler } from 'cloudflare:node';
import { connect } from 'cloudflare:sockets';

async function served() {
  http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${req.method} ${req.url}`);
  }).listen(8080);
  const answer = await httpServerHandler({ port: 8080 }).fetch(new Request('http://warm/up?x=1'));
  return `${answer.status} ${await answer.text()} ${http.STATUS_CODES[404]}`;
}

function bundle() {
  symlinkSync('/bundle/d.json', '/tmp/d');
  return `${readdirSync('/bundle', { recursive: true }).join('+')}=${readFileSync('/tmp/d', 'utf8')}`;
}

function sockets() {
  const socket = new net.Socket();
  let refused = '';
  try { connect('no port'); } catch (e) { refused = e.name; }
  return `${net.isIP('10.0.0.1')}${net.isIPv6('::1')} ${socket.readyState} ${refused}`;
}

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
    await served(),
    sockets(),
    (writeFileSync('/tmp/warm', 'fs'), readFileSync('/tmp/warm', 'utf8')),
    bundle(),
  ].join();
};
