//! Server-side WebSockets inside one real V8 isolate: `WebSocketPair`, `WebSocket` and
//! `CloseEvent` as workerd has them (accept, queued delivery, send/close semantics and their
//! errors, readyState), and `Response`'s `webSocket` (101 only, handing the client end over).
mod common;

use common::*;
use stockade_isolate::{FetchRequest, Module, ModuleSet, Worker};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!(
        "const tick = () => new Promise((r) => setTimeout(r, 1));
        export default async () => {{ {body} }};"
    )))
}

#[test]
fn a_pair_delivers_in_order_after_accept_and_never_synchronously() {
    let v = eval(
        "const pair = new WebSocketPair();
        const [client, server] = Object.values(pair);
        const got = [];
        server.addEventListener('message', (e) => got.push([e.constructor === MessageEvent, e.isTrusted,
          typeof e.data === 'string' ? e.data : [Object.prototype.toString.call(e.data), [...new Uint8Array(e.data)]]]));
        server.addEventListener('close', (e) => got.push(['close', e.constructor === CloseEvent, e.code, e.reason, e.wasClean]));
        client.accept();
        const bytes = new Uint8Array([1, 2, 3]);
        client.send('before accept');
        client.send(bytes.subarray(1));
        bytes[1] = 9; // send took a copy
        client.close(4001, 'bye');
        await tick();
        const beforeAccept = got.length;
        server.accept();
        server.accept(); // idempotent
        const sync = got.length;
        await tick();
        return [beforeAccept, sync, got, client.readyState, server.readyState,
          pair[0] === client, pair[1] === server, [...pair].length, Object.keys(pair)];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            0,
            0,
            [
                [true, true, "before accept"],
                [true, true, ["[object ArrayBuffer]", [2, 3]]],
                ["close", true, 4001, "bye", true]
            ],
            2,
            2,
            true,
            true,
            2,
            ["0", "1"]
        ])
    );
}

#[test]
fn both_ways_and_ready_states_follow_workerd() {
    let v = eval(
        "const [a, b] = Object.values(new WebSocketPair());
        const log = [];
        a.accept(); b.accept();
        a.addEventListener('message', (e) => log.push('a got ' + e.data));
        b.addEventListener('message', (e) => { log.push('b got ' + e.data); b.send('echo ' + e.data); });
        b.addEventListener('close', (e) => { log.push('b close ' + e.code); b.close(e.code, e.reason); });
        a.addEventListener('close', (e) => log.push('a close ' + e.code + ' ' + e.reason + ' ' + e.wasClean));
        const states = [a.readyState];
        a.send('hi');
        await tick();
        a.close(1000, 'done');
        states.push(a.readyState);
        await tick();
        states.push(a.readyState, b.readyState);
        a.close(1000); // a second close is a no-op
        return [log, states, WebSocket.OPEN, WebSocket.READY_STATE_CLOSED, a.CLOSING,
          a.url, a.protocol, a.extensions];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            [
                "b got hi",
                "a got echo hi",
                "b close 1000",
                "a close 1000 done true"
            ],
            [1, 2, 3, 3],
            1,
            3,
            2,
            null,
            "",
            ""
        ])
    );
}

#[test]
fn misuse_is_a_clear_error() {
    let v = eval(
        "const msg = (f) => { try { f(); return 'no error'; } catch (e) { return e.name + ': ' + e.message; } };
        const [c, s] = Object.values(new WebSocketPair());
        const out = [
          msg(() => s.send('x')),
          msg(() => s.close()),
          msg(() => new WebSocket('ftp://example.com/')),
        ];
        s.accept();
        out.push(
          msg(() => s.close(999)),
          msg(() => s.close(1005)),
          msg(() => s.close(5000)),
          msg(() => s.close(undefined, 'why')),
          msg(() => s.close(1000, 'x'.repeat(124))),
          msg(() => new Response(null, { status: 101 })),
          msg(() => new Response(null, { status: 200, webSocket: c })),
          msg(() => new Response(null, { status: 101, webSocket: {} })),
          msg(() => new Response(null, { status: 101, webSocket: s })) === 'no error' ? 'accepted end refused only when read' : 'x',
        );
        s.close(1000, 'x'.repeat(123));
        out.push(msg(() => s.send('after close')));
        const r = new Response(null, { status: 101, webSocket: c });
        out.push(r.status, r.webSocket === c, msg(() => r.clone()));
        return out;",
    );
    let strings: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|x| x.to_string())
        .collect();
    let expect = [
        "You must call one of accept()",
        "You must call one of accept()",
        "SyntaxError: WebSocket: the URL's scheme must be ws:, wss:, http: or https:, not ftp:",
        "TypeError: Invalid WebSocket close code: 999.",
        "TypeError: Invalid WebSocket close code: 1005.",
        "TypeError: Invalid WebSocket close code: 5000.",
        "you must also specify a code",
        "SyntaxError: WebSocket.close: the reason is 124 bytes",
        "RangeError: Response: the status 101 is only for a response with a webSocket",
        "TypeError: Response: a response with a webSocket must have the status 101",
        "TypeError: Response: webSocket must be a WebSocket",
        "accepted end refused only when read",
        "TypeError: Can't call WebSocket send() after close().",
        "101",
        "true",
        "TypeError: Response.clone: a response with a webSocket cannot be cloned",
    ];
    assert_eq!(strings.len(), expect.len(), "{strings:?}");
    for (got, want) in strings.iter().zip(expect) {
        assert!(got.contains(want), "{got} should contain {want}");
    }
}

/// A fetch of the worker `src` in a fresh isolate: the response's status and whether it carries
/// a WebSocket, or the error. Host calls are refused here (no worker process).
fn fetches(src: &str, times: usize) -> Vec<String> {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    (0..times)
        .map(|_| match worker.fetch(&get()).0 {
            Ok(r) => format!("{} ws={}", r.status, r.web_socket),
            Err(e) => e.to_string(),
        })
        .collect()
}

fn get() -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: "https://w.test/".into(),
        headers: vec![("upgrade".into(), "websocket".into())],
        body: Vec::new(),
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({}),
    }
}

#[test]
fn a_handler_returns_an_unused_end_once_never_an_accepted_one() {
    let got = fetches(
        "export default { async fetch() { const [client] = Object.values(new WebSocketPair());
           client.accept(); return new Response(null, { status: 101, webSocket: client }); } };",
        1,
    );
    assert!(
        got[0].contains("Can't return WebSocket in a Response after calling accept()"),
        "{got:?}"
    );
    // A module-level pair: the first request hands its client end over, the second cannot.
    let got = fetches(
        "const [client, server] = Object.values(new WebSocketPair());
         server.accept();
         export default { async fetch() { return new Response(null, { status: 101, webSocket: client }); } };",
        2,
    );
    assert_eq!(got[0], "101 ws=true");
    assert!(
        got[1].contains("Can't return WebSocket that was already used in a response."),
        "{got:?}"
    );
    // An ordinary response is no WebSocket.
    let got = fetches(
        "export default { fetch() { return new Response('hi'); } };",
        1,
    );
    assert_eq!(got, ["200 ws=false"]);
}
