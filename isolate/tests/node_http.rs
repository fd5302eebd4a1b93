//! `node:http`, `node:https` and `cloudflare:node` inside real V8 isolates (no host: the client's
//! fetches through the gateway are daemon/tests/e2e_node_http.rs): the module surface as Node 20
//! has it (STATUS_CODES, METHODS, maxHeaderSize, the validators' codes and messages, checked
//! against `node` for the same calls), OutgoingMessage's header methods, and the server side: a
//! `node:http` server behind `httpServerHandler` answering Workers `Request`s (status, reason,
//! headers both ways, a body read chunk by chunk, a streamed answer, HEAD and 204 without a body,
//! a port no server listens on).
mod common;

use common::*;
use stockade_isolate::{Compat, Invocation, LoadOptions, Module, ModuleSet, Worker};

fn node() -> LoadOptions {
    LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("valid compat"),
        env: serde_json::json!({}),
    }
}

fn run(body: &str) -> Invocation {
    let src = format!(
        "import http from 'node:http';
         import https from 'node:https';
         import {{ httpServerHandler, handleAsNodeRequest }} from 'cloudflare:node';
         export default async () => {{ {body} }};"
    );
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
    let loaded = worker.load_with("main.js", &mut set, &node());
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call("null")
}

#[test]
fn the_module_surface_is_node_20s() {
    // The same expressions under Node 20 (`node -e`) give these values.
    let v = ok(run("const err = (f) => { try { f(); return null; } catch (e) { return [e.name, e.code, e.message]; } };
         return {
           methods: http.METHODS.length, hasQuery: http.METHODS.includes('QUERY'),
           teapot: http.STATUS_CODES[418], s511: http.STATUS_CODES[511], max: http.maxHeaderSize,
           badName: err(() => http.validateHeaderName('bad name')),
           badValue: err(() => http.validateHeaderValue('x-a', 'a\\nb')),
           undef: err(() => http.validateHeaderValue('x-a', undefined)),
           good: err(() => http.validateHeaderName('x-ok')),
           agent: http.globalAgent instanceof http.Agent, httpsAgent: https.globalAgent.defaultPort,
           badProtocol: err(() => http.request('https://example.com/')),
           badPath: err(() => http.request({ host: 'example.com', path: '/a b' })),
           badMethod: err(() => http.request({ host: 'example.com', method: 'G ET' })),
         };"));
    assert_eq!(v["methods"], 35, "{v:#}");
    assert_eq!(v["hasQuery"], true);
    assert_eq!(v["teapot"], "I'm a Teapot");
    assert_eq!(v["s511"], "Network Authentication Required");
    assert_eq!(v["max"], 16384);
    assert_eq!(
        v["badName"],
        serde_json::json!([
            "TypeError",
            "ERR_INVALID_HTTP_TOKEN",
            "Header name must be a valid HTTP token [\"bad name\"]"
        ])
    );
    assert_eq!(
        v["badValue"],
        serde_json::json!([
            "TypeError",
            "ERR_INVALID_CHAR",
            "Invalid character in header content [\"x-a\"]"
        ])
    );
    assert_eq!(
        v["undef"],
        serde_json::json!([
            "TypeError",
            "ERR_HTTP_INVALID_HEADER_VALUE",
            "Invalid value \"undefined\" for header \"x-a\""
        ])
    );
    assert_eq!(v["good"], serde_json::Value::Null);
    assert_eq!(v["agent"], true);
    assert_eq!(v["httpsAgent"], 443);
    assert_eq!(
        v["badProtocol"],
        serde_json::json!([
            "TypeError",
            "ERR_INVALID_PROTOCOL",
            "Protocol \"https:\" not supported. Expected \"http:\""
        ])
    );
    assert_eq!(
        v["badPath"],
        serde_json::json!([
            "TypeError",
            "ERR_UNESCAPED_CHARACTERS",
            "Request path contains unescaped characters"
        ])
    );
    assert_eq!(
        v["badMethod"],
        serde_json::json!([
            "TypeError",
            "ERR_INVALID_HTTP_TOKEN",
            "Method must be a valid HTTP token [\"G ET\"]"
        ])
    );
}

#[test]
fn a_server_behind_http_server_handler_answers_requests() {
    // A streamed body that names no framing shows `transfer-encoding: chunked`, as on the wire.
    let v = ok(run("const seen = [];
         const server = http.createServer((req, res) => {
           const chunks = [];
           req.on('data', (c) => chunks.push(`${Buffer.isBuffer(c)}:${c}`));
           req.on('end', () => {
             seen.push({ method: req.method, url: req.url, ua: req.headers['user-agent'] ?? null, cookie: req.headers.cookie ?? null,
               raw: req.rawHeaders.length, version: req.httpVersion, chunks, ip: req.socket.remoteAddress,
               encrypted: req.socket.encrypted });
             if (req.url.startsWith('/stream')) {
               res.writeHead(201, 'Made', { 'content-type': 'text/plain', 'x-list': ['a', 'b'] });
               res.write('one,');
               setTimeout(() => { res.write('two,'); res.end('three'); }, 5);
               return;
             }
             if (req.url === '/none') { res.statusCode = 204; res.end('dropped'); return; }
             res.setHeader('Set-Cookie', ['a=1', 'b=2']);
             res.statusCode = 404;
             res.end(JSON.stringify({ missing: req.url }));
           });
         });
         server.listen(3000);
         const handler = httpServerHandler({ port: 3000 });
         const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('up1,')); c.enqueue(new TextEncoder().encode('up2')); c.close(); } });
         const r1 = await handler.fetch(new Request('https://example.com/stream?q=1', {
           method: 'POST', body, duplex: 'half', headers: { 'User-Agent': 'ua/1', Cookie: 'c=1', 'CF-Connecting-IP': '203.0.113.9' } }));
         const r1body = [];
         for await (const chunk of r1.body) r1body.push(new TextDecoder().decode(chunk));
         const r2 = await handler.fetch(new Request('http://example.com/missing'));
         const r3 = await handleAsNodeRequest(3000, new Request('http://example.com/none'));
         const r4 = await httpServerHandler(server).fetch(new Request('http://example.com/', { method: 'HEAD' }));
         let unknown = null;
         try { await httpServerHandler(4000).fetch(new Request('http://example.com/')); } catch (e) { unknown = e.message; }
         return {
           seen,
           r1: [r1.status, r1.statusText, r1.headers.get('content-type'), r1.headers.get('x-list'), r1body.join('')],
           r2: [r2.status, r2.statusText, r2.headers.getSetCookie(), await r2.text()],
           r3: [r3.status, r3.body === null],
           r4: [r4.status, r4.body === null, r4.headers.get('set-cookie')],
           address: server.address(), unknown,
         };"));
    assert_eq!(
        v["seen"][0],
        serde_json::json!({"method": "POST", "url": "/stream?q=1", "ua": "ua/1", "cookie": "c=1",
            "raw": 8, "version": "1.1", "chunks": ["true:up1,", "true:up2"], "ip": "203.0.113.9",
            "encrypted": true}),
        "{v:#}"
    );
    assert_eq!(
        v["r1"],
        serde_json::json!([201, "Made", "text/plain", "a, b", "one,two,three"])
    );
    assert_eq!(
        v["r2"],
        serde_json::json!([
            404,
            "Not Found",
            ["a=1", "b=2"],
            "{\"missing\":\"/missing\"}"
        ])
    );
    assert_eq!(v["r3"], serde_json::json!([204, true]));
    assert_eq!(v["r4"], serde_json::json!([404, true, "a=1, b=2"]));
    assert_eq!(
        v["address"],
        serde_json::json!({"port": 3000, "family": "IPv4", "address": "127.0.0.1"})
    );
    assert_eq!(
        v["unknown"],
        "cloudflare:node: no node:http server is listening on port 4000 (call server.listen(4000) first)"
    );
}

#[test]
fn outgoing_headers_behave_as_nodes() {
    // Node 20 gives the same for the same calls on a ServerResponse.
    let v = ok(run("const res = new http.ServerResponse(null);
         res.setHeader('X-Multi', ['a', 'b']);
         res.setHeader('Content-Type', 'text/html');
         res.appendHeader('x-multi', 'c');
         const names = res.getHeaderNames();
         const raw = res.getRawHeaderNames();
         const has = [res.hasHeader('content-type'), res.hasHeader('nope')];
         res.removeHeader('content-type');
         const all = { ...res.getHeaders() };
         res.writeHead(200);
         let late = null;
         try { res.setHeader('x-late', '1'); } catch (e) { late = [e.code, e.message]; }
         let status = null;
         try { new http.ServerResponse(null).writeHead(1000); } catch (e) { status = [e.code, e.message]; }
         return { names, raw, has, all, late, status, sent: res.headersSent };"));
    assert_eq!(v["names"], serde_json::json!(["x-multi", "content-type"]));
    assert_eq!(v["raw"], serde_json::json!(["X-Multi", "Content-Type"]));
    assert_eq!(v["has"], serde_json::json!([true, false]));
    assert_eq!(v["all"], serde_json::json!({"x-multi": ["a", "b", "c"]}));
    assert_eq!(
        v["late"],
        serde_json::json!([
            "ERR_HTTP_HEADERS_SENT",
            "Cannot set headers after they are sent to the client"
        ])
    );
    assert_eq!(
        v["status"],
        serde_json::json!(["ERR_HTTP_INVALID_STATUS_CODE", "Invalid status code: 1000"])
    );
    assert_eq!(v["sent"], true);
}

#[test]
fn node_http_and_cloudflare_node_need_nodejs_compat() {
    for module in ["node:http", "node:https", "cloudflare:node"] {
        let mut worker = Worker::new(engine(), limits()).expect("isolate");
        let src = format!("import * as m from '{module}'; export default () => 1;");
        let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
        let loaded = worker.load("main.js", &mut set);
        let e = format!("{:?}", loaded.result.expect_err("refused"));
        assert!(
            e.contains("is a Node.js built-in module: it needs the"),
            "{module}: {e}"
        );
    }
}
