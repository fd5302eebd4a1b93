//! The Cloudflare compatibility flags Stockade accepts because it already behaves as they ask
//! (`stockade_source::compat::KNOWN_FLAGS`, "already true: ..."): each one is loaded in a real
//! isolate and the behaviour it names is checked there. The few only a daemon can show (egress,
//! bindings) are checked by `daemon/tests/e2e_compat_flags.rs`; every accepted flag is one or
//! the other.
mod common;
use common::*;
use stockade_isolate::compat::already_true_flags;
use stockade_isolate::{Compat, LoadOptions, Module, ModuleSet, Worker};

/// Checked through a daemon (daemon/tests/e2e_compat_flags.rs).
const CHECKED_BY_THE_DAEMON: &[&str] = &[
    "fetch_refuses_unknown_protocols",
    "global_fetch_strictly_public",
    "rpc",
    "fetcher_no_get_put_delete",
];

/// Each flag and an async function body that returns true when Stockade behaves as it asks.
const CHECKS: &[(&str, &str)] = &[
    (
        "formdata_parser_supports_files",
        "const body = '--b\\r\\ncontent-disposition: form-data; name=\"f\"; filename=\"a.txt\"\\r\\ncontent-type: text/plain\\r\\n\\r\\nhello\\r\\n--b--\\r\\n';
         const form = await new Response(body, { headers: { 'content-type': 'multipart/form-data; boundary=b' } }).formData();
         const f = form.get('f');
         return f instanceof File && f.name === 'a.txt' && (await f.text()) === 'hello';",
    ),
    (
        "fetch_standard_url",
        "return new Request('HTTPS://EXAMPLE.com:443/a/../b c').url === 'https://example.com/b%20c'
           && new Request('http://0x7f.1/').url === 'http://127.0.0.1/';",
    ),
    (
        "url_standard",
        "return new URL('http://0x7f.1/').hostname === '127.0.0.1'
           && new URL('HTTP://EX.com:80/a/./b/../c d').href === 'http://ex.com/a/c%20d'
           && new URL('https://xn--nxasmq6b.example/').hostname === 'xn--nxasmq6b.example'
           && new URL('https://βόλος.example/').hostname === 'xn--nxasmm1c.example';",
    ),
    (
        "response_redirect_url_standard",
        "return Response.redirect('HTTPS://EX.com:443/a/./b').headers.get('location') === 'https://ex.com/a/b';",
    ),
    (
        "urlsearchparams_delete_has_value_arg",
        "const p = new URLSearchParams('a=1&a=2&b=3');
         p.delete('a', '1');
         return p.toString() === 'a=2&b=3' && p.has('a', '2') && !p.has('a', '1');",
    ),
    (
        "streams_enable_constructors",
        "const got = [];
         const readable = new ReadableStream({ start(c) { c.enqueue('x'); c.close(); } });
         await readable.pipeTo(new WritableStream({ write(chunk) { got.push(chunk); } }));
         return got.join() === 'x';",
    ),
    (
        "transformstream_enable_standard_constructor",
        "const t = new TransformStream({ transform(chunk, c) { c.enqueue(chunk * 2); }, flush(c) { c.enqueue(-1); } });
         const w = t.writable.getWriter(); w.write(21); w.close();
         const r = t.readable.getReader();
         const a = await r.read(); const b = await r.read(); const end = await r.read();
         return a.value === 42 && b.value === -1 && end.done;",
    ),
    (
        "streams_byob_reader_detaches_buffer",
        "const s = new ReadableStream({ type: 'bytes', pull(c) { c.enqueue(new Uint8Array([1, 2])); c.close(); } });
         const view = new Uint8Array(8);
         const { value } = await s.getReader({ mode: 'byob' }).read(view);
         return view.buffer.byteLength === 0 && value.byteLength === 2 && value[0] === 1;",
    ),
    (
        "export_commonjs_default",
        "const m = await import('./lib.cjs');
         return m.default === m.default.self && m.default.answer === 42 && !('default' in m.default);",
    ),
    (
        "global_navigator",
        "return typeof navigator === 'object' && navigator.userAgent === 'Cloudflare-Workers';",
    ),
    (
        "http_headers_getsetcookie",
        "const h = new Headers([['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['x', 'y']]);
         return h.getSetCookie().join('|') === 'a=1|b=2'
           && [...h].filter(([k]) => k === 'set-cookie').map(([, v]) => v).join('|') === 'a=1|b=2';",
    ),
    (
        "workers_api_getters_setters_on_prototype",
        "const d = Object.getOwnPropertyDescriptor(Request.prototype, 'url');
         class Mine extends Request { get url() { return 'overridden'; } }
         return typeof d?.get === 'function' && !Object.hasOwn(new Request('https://a.example/'), 'url')
           && new Mine('https://a.example/').url === 'overridden';",
    ),
    (
        "set_tostring_tag",
        "const tag = (v) => Object.prototype.toString.call(v);
         return tag(new Headers()) === '[object Headers]' && tag(new Request('https://a.example/')) === '[object Request]'
           && tag(new Response()) === '[object Response]' && tag(new URL('https://a.example/')) === '[object URL]';",
    ),
    (
        "no_global_importscripts",
        "return typeof importScripts === 'undefined' && !('importScripts' in globalThis);",
    ),
    (
        "enable_nodejs_os_module",
        "const os = await import('node:os');
         return os.platform() === 'linux' && os.EOL === '\\n' && os.cpus().length === 0
           && os.constants.signals.SIGTERM === 15 && Object.isFrozen(os.constants);",
    ),
    (
        "enable_nodejs_http_modules",
        "const http = await import('node:http');
         const https = await import('node:https');
         const { httpServerHandler } = await import('cloudflare:node');
         http.createServer((req, res) => res.end(req.url)).listen(9000);
         const answer = await httpServerHandler({ port: 9000 }).fetch(new Request('http://x/flag'));
         return typeof http.request === 'function' && typeof https.get === 'function'
           && await answer.text() === '/flag';",
    ),
    (
        // What a tenant's WebSocket reports; the outbound handshake never offers an extension and
        // refuses a server's (daemon/src/egress/websocket.rs's tests), and the data plane's
        // server side negotiates none (tungstenite has no permessage-deflate).
        "no_web_socket_compression",
        "const [client, server] = Object.values(new WebSocketPair());
         server.accept();
         return client.extensions === '' && server.extensions === '';",
    ),
    (
        "enable_weak_ref",
        "const target = {};
         return new WeakRef(target).deref() === target && typeof new FinalizationRegistry(() => {}).register === 'function';",
    ),
];

fn holds(flag: &str, body: &str) -> serde_json::Value {
    let opts = LoadOptions {
        // With nodejs_compat, which some of them need (enable_nodejs_os_module) and the others
        // ignore.
        compat: Compat::parse(
            "2025-06-01",
            &[flag.to_string(), "nodejs_compat".to_string()],
        )
        .expect("accepted"),
        env: serde_json::json!({}),
    };
    let main = format!("export default async () => {{ {body} }};");
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([
        Module::new("main.js", main.as_bytes()),
        Module::new(
            "lib.cjs",
            "exports.answer = 42; exports.self = module.exports;".as_bytes(),
        ),
    ])
    .expect("set");
    let loaded = worker.load_with("main.js", &mut set, &opts);
    if loaded.result.is_err() {
        return serde_json::json!(format!("{:?}", loaded.result));
    }
    ok(worker.call("null"))
}

#[test]
fn every_flag_accepted_as_already_true_is_true_in_an_isolate() {
    let mut failed = Vec::new();
    for (flag, body) in CHECKS {
        let v = holds(flag, body);
        if v != serde_json::json!(true) {
            failed.push(format!("{flag}: {v}"));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn every_flag_accepted_as_already_true_is_checked() {
    let mut checked: Vec<&str> = CHECKS
        .iter()
        .map(|(f, _)| *f)
        .chain(CHECKED_BY_THE_DAEMON.iter().copied())
        .collect();
    checked.sort();
    let mut accepted: Vec<&str> = already_true_flags().collect();
    accepted.sort();
    assert_eq!(checked, accepted);
}
