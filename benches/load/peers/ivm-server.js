// isolated-vm peer: a node:http server where every request gets a fresh V8 isolate, the
// counterpart of Stockade's POST /v1/run (a fresh isolate per request, Code Mode).
//
//   PORT=18789 node --no-node-snapshot ivm-server.js
//
// Per request: read the body; if it is JSON with an `arg` field, that is the argument, else
// {name: 'bench'} (a `code` field, as in Stockade's run body, is ignored: the script is fixed).
// Then create a fresh isolate (memoryLimit 128 MiB) and a context, compile and run the script
// `(a) => ({hello: a.name})`, call it with a copy of the argument, copy the result out, dispose
// the isolate and answer the result as JSON. Uses isolated-vm's async calls, so isolates run
// on isolated-vm's own threads and the event loop keeps accepting requests.
'use strict';
const http = require('node:http');
const ivm = require('isolated-vm');

const SOURCE = '(a) => ({hello: a.name})';
const DEFAULT_ARG = { name: 'bench' };

async function runFresh(arg) {
  const isolate = new ivm.Isolate({ memoryLimit: 128 });
  try {
    const context = await isolate.createContext();
    const script = await isolate.compileScript(SOURCE);
    const fn = await script.run(context, { reference: true, timeout: 1000 });
    return await fn.apply(undefined, [arg], {
      arguments: { copy: true },
      result: { copy: true },
      timeout: 1000,
    });
  } finally {
    isolate.dispose();
  }
}

function argOf(body) {
  if (body.length === 0) return DEFAULT_ARG;
  try {
    const parsed = JSON.parse(body);
    return parsed && parsed.arg !== undefined ? parsed.arg : DEFAULT_ARG;
  } catch {
    return DEFAULT_ARG;
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    runFresh(argOf(Buffer.concat(chunks).toString('utf8'))).then(
      (result) => {
        const out = JSON.stringify(result);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
        res.end(out);
      },
      (err) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err && err.message) + '\n');
      },
    );
  });
});

const port = Number(process.env.PORT || 18789);
server.listen(port, '127.0.0.1', () => {
  console.error(`isolated-vm peer listening on 127.0.0.1:${port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
