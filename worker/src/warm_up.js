// The worker's warm-up (lib.rs, `warm`): runs once per process, after the jail closed and before
// any tenant code, in an isolate no tenant code ever runs in. It takes the paths requests take
// (the compiler, module linking, promises, timers, the watchdog thread), so that a system call the
// jail refuses fails the start and not a request; it loads ICU's data (about 20 ms of CPU the
// first time in a process, else charged to the first request that formats a date); and it uses
// the streams, WebCrypto, URLPattern, HTMLRewriter, WebSockets, EventSource and local RPC stubs, lazy groups of the
// prelude whose use needs no host (warm_up_node.js uses the node ones), so that their code caches hold what that use compiled and a tenant's
// first use of them deserialises it instead of compiling from source.
import d from './d.json';
import { RpcStub, RpcTarget } from 'cloudflare:workers';

async function streams() {
  const piped = await new Response(new Response('w').body.pipeThrough(new TransformStream())).text();
  const pulled = new ReadableStream({
    pull(c) {
      c.enqueue(new Uint8Array([1]));
      c.close();
    },
  }).getReader();
  await pulled.read();
  pulled.releaseLock();
  const bytes = new ReadableStream({
    type: 'bytes',
    pull(c) {
      c.enqueue(new Uint8Array([2]));
      c.close();
    },
  }).getReader({ mode: 'byob' });
  await bytes.read(new Uint8Array(1));
  const written = [];
  const writer = new WritableStream({ write(chunk) { written.push(chunk); } }).getWriter();
  await writer.write('x');
  await writer.close();
  for await (const chunk of new Response('a').body) written.push(chunk);
  const zipped = new Blob(['z']).stream()
    .pipeThrough(new CompressionStream('gzip'))
    .pipeThrough(new DecompressionStream('gzip'))
    .pipeThrough(new TextDecoderStream());
  let unzipped = '';
  for await (const chunk of zipped) unzipped += chunk;
  const tee = new Response('t').body.tee();
  await Promise.all(tee.map((s) => new Response(s).arrayBuffer()));
  // Cloudflare Workers' own: the identity streams and crypto.DigestStream (all in this group).
  const [sent, hashed] = new Response('i').body
    .pipeThrough(new IdentityTransformStream())
    .pipeThrough(new FixedLengthStream(1))
    .tee();
  const digesting = new crypto.DigestStream('SHA-256');
  const [identity] = await Promise.all([new Response(sent).text(), hashed.pipeTo(digesting)]);
  const digest = await digesting.digest;
  return [piped, unzipped, written.length, identity, digest.byteLength].join();
}

async function webCrypto() {
  const data = new TextEncoder().encode('w');
  const digest = await crypto.subtle.digest('SHA-256', data);
  const hmac = await crypto.subtle.importKey('raw', new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const ok = await crypto.subtle.verify('HMAC', hmac, await crypto.subtle.sign('HMAC', hmac, data), data);
  const aes = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, true, ['encrypt', 'decrypt']);
  const iv = new Uint8Array(12);
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, aes, data);
  await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, aes, sealed);
  const jwk = await crypto.subtle.exportKey('jwk', aes);
  return [digest.byteLength, ok, jwk.kty].join();
}

function patterns() {
  const route = new URLPattern({ pathname: '/books/:id(\\d+)' });
  const found = route.exec('https://example.com/books/12?x=1');
  const any = new URLPattern('https://*.example.com/*');
  return [route.test({ pathname: '/books/x' }), found.pathname.groups.id, any.test('https://a.example.com/b')].join();
}

async function rewriting() {
  const rewriter = new HTMLRewriter()
    .on('a[href]', {
      element(e) {
        e.setAttribute('href', e.getAttribute('href').toUpperCase());
        e.append('!', { html: false });
      },
    })
    .on('p', { text(t) { if (t.lastInTextNode) t.after('.'); } })
    .onDocument({ comments(c) { c.remove(); } });
  return rewriter.transform(new Response('<p>a<!-- c --></p><a href="x">y</a>')).text();
}

async function sockets() {
  const [client, server] = Object.values(new WebSocketPair());
  const got = new Promise((resolve) => server.addEventListener('message', (e) => resolve(e.data)));
  const closed = new Promise((resolve) => client.addEventListener('close', (e) => resolve(e.code)));
  server.accept();
  client.accept();
  client.send('socket');
  const data = await got;
  server.close(1000, 'done');
  const response = new Response(null, { status: 101, webSocket: new WebSocketPair()[0] });
  return [data, await closed, response.status].join(':');
}

async function eventSource() {
  const bytes = new TextEncoder().encode('data: sse\r\n\r\nevent: b\ndata: ok\n\n');
  const source = EventSource.from(new Response(bytes).body);
  const got = [];
  await new Promise((resolve) => {
    source.onmessage = (e) => got.push(e.data);
    source.addEventListener('b', (e) => got.push(e.type + e.data));
    source.onerror = () => resolve();
  });
  return got.join('=');
}

class WarmTarget extends RpcTarget {
  twice(n) {
    return n * 2;
  }
  get name() {
    return 'r';
  }
}

// A local stub's calls, property read, dup and disposal (the RPC group; its calls to other
// workers need the host).
async function rpcStubs() {
  const stub = new RpcStub(new WarmTarget());
  const fn = new RpcStub((n) => n + 1);
  const got = [await stub.twice(2), await stub.name, await fn(1), fn instanceof RpcStub];
  const dup = stub.dup();
  dup[Symbol.dispose]();
  stub[Symbol.dispose]();
  return `rpc:${got.join(':')}`;
}

export default async (x) => {
  await new Promise((r) => setTimeout(r, 1));
  return [
    x,
    d,
    new TextEncoder().encode('w').length,
    crypto.randomUUID().length,
    new Intl.DateTimeFormat().format(0),
    new Date(0).toLocaleString(),
    (1.5).toLocaleString(),
    'a'.localeCompare('b'),
    new Intl.Collator().compare('a', 'b'),
    await streams(),
    await webCrypto(),
    patterns(),
    await rewriting(),
    await sockets(),
    await eventSource(),
    await rpcStubs(),
  ];
};
