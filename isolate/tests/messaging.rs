//! Channel messaging in real V8 isolates: `MessageChannel`, `MessagePort` and `MessageEvent`
//! (asynchronous delivery, structured clone, transfer of ArrayBuffers and ports, start/close,
//! a request's messages in its own logs).
mod common;

use std::time::Duration;

use common::*;
use stockade_isolate::{FetchRequest, Module, ModuleSet, Worker};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!("export default async () => {{ {body} }};")))
}

fn get(url: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: Vec::new(),
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({}),
    }
}

/// `tick(ms)`, and `until(done)`: ticks until `done()` (at most about a second), for what must
/// arrive, whose delivery (one message per task) a loaded machine may stretch past a fixed wait.
const TICK: &str = "const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));
    const until = async (done) => { for (let i = 0; i < 1000 && !done(); i++) await tick(1); };";

#[test]
fn messages_arrive_as_tasks_cloned_in_order() {
    let v = eval(&format!(
        "{TICK}
        const {{ port1, port2 }} = new MessageChannel();
        const got = [];
        port2.onmessage = (e) => {{
          got.push([e.constructor === MessageEvent, e.type, e.data, e.isTrusted, e.origin, e.lastEventId,
                    e.source, e.ports.length, Object.isFrozen(e.ports), e.cancelable, e.bubbles]);
          queueMicrotask(() => got.push('microtask after ' + JSON.stringify(e.data)));
        }};
        const message = {{ n: 1, nested: [new Map([[1, 'one']])] }};
        port1.postMessage(message);
        message.n = 2;
        port1.postMessage('second');
        const sync = got.length;
        await null; await null;
        const afterMicrotasks = got.length;
        await tick();
        got[0][2] = [got[0][2].n, got[0][2].nested[0].get(1)];
        return [sync, afterMicrotasks, got, port2.onmessage !== null,
                Object.prototype.toString.call(port1), typeof MessagePort, port1 instanceof EventTarget];"
    ));
    assert_eq!(
        v,
        serde_json::json!([
            0,
            0,
            [
                [
                    true,
                    "message",
                    [1, "one"],
                    true,
                    "",
                    "",
                    null,
                    0,
                    true,
                    false,
                    false
                ],
                "microtask after {\"n\":1,\"nested\":[{}]}",
                [true, "message", "second", true, "", "", null, 0, true, false, false],
                "microtask after \"second\""
            ],
            true,
            "[object MessagePort]",
            "function",
            true
        ])
    );
}

#[test]
fn listeners_wait_for_start_and_close_disentangles() {
    let v = eval(&format!(
        "{TICK}
        const a = new MessageChannel();
        const got = [];
        a.port2.addEventListener('message', (e) => got.push(e.data));
        a.port1.postMessage(1);
        a.port1.postMessage(2);
        await tick(2);
        const beforeStart = got.length;
        a.port2.start();
        a.port2.start();
        await until(() => got.length >= 2);
        const afterStart = [...got];
        a.port1.close();
        a.port1.postMessage(3);
        a.port2.postMessage(4);
        await tick(2);
        let transferClosed;
        try {{ structuredClone(a.port1, {{ transfer: [a.port1] }}); transferClosed = 'cloned'; }} catch (e) {{ transferClosed = e.name; }}
        return [beforeStart, afterStart, got.length, transferClosed];"
    ));
    assert_eq!(v, serde_json::json!([0, [1, 2], 2, "DataCloneError"]));
}

#[test]
fn transfer_moves_buffers_and_ports_and_refuses_the_rest() {
    let v = eval(&format!(
        "{TICK}
        const {{ port1, port2 }} = new MessageChannel();
        const got = [];
        port2.onmessage = (e) => got.push(e);
        const buffer = new Uint8Array([1, 2, 3]).buffer;
        port1.postMessage({{ buffer }}, [buffer]);
        const inner = new MessageChannel();
        port1.postMessage({{ port: inner.port1 }}, {{ transfer: [inner.port1] }});
        await until(() => got.length >= 2);
        const received = got[1].data.port;
        const viaPorts = got[1].ports[0] === received;
        const echoed = [];
        inner.port2.onmessage = (e) => echoed.push(e.data);
        received.postMessage('through the moved port');
        inner.port1.postMessage('through the old port');
        // structuredClone moves a port too (WPT's structured-clone battery does this).
        const other = new MessageChannel();
        const copy = structuredClone(other.port2, {{ transfer: [other.port2] }});
        const back = [];
        other.port1.onmessage = (e) => back.push(e.data);
        copy.postMessage('ohai');
        await until(() => echoed.length >= 1 && back.length >= 1);
        const errors = [];
        for (const attempt of [
          () => port1.postMessage(1, [port1]),
          () => port1.postMessage(() => 1),
          () => port1.postMessage(1, [new ReadableStream()]),
          () => port1.postMessage(1, [buffer]),
          () => port1.postMessage(1, [inner.port1]),
          () => port1.postMessage(1, [new ArrayBuffer(1), 'x']),
          () => new MessagePort(),
          () => structuredClone(port1),
          () => structuredClone(new MessageChannel()),
        ]) {{
          try {{ attempt(); errors.push('ok'); }} catch (e) {{ errors.push(e.name); }}
        }}
        // Posting a port to the port it is entangled with drops the message (HTML's doomed).
        const doomed = new MessageChannel();
        const doomedGot = [];
        doomed.port2.onmessage = (e) => doomedGot.push(e.data);
        doomed.port1.postMessage('dropped', [doomed.port2]);
        await tick(2);
        return [buffer.detached, [...new Uint8Array(got[0].data.buffer)], viaPorts,
                received instanceof MessagePort, received !== inner.port1, echoed, back, errors,
                doomedGot.length];"
    ));
    assert_eq!(
        v,
        serde_json::json!([
            true,
            [1, 2, 3],
            true,
            true,
            true,
            ["through the moved port"],
            ["ohai"],
            [
                "DataCloneError",
                "DataCloneError",
                "DataCloneError",
                "DataCloneError",
                "DataCloneError",
                "TypeError",
                "TypeError",
                "DataCloneError",
                "DataCloneError"
            ],
            0
        ])
    );
}

#[test]
fn message_event_is_constructible() {
    let v = eval(
        "const { port1 } = new MessageChannel();
        const e = new MessageEvent('message', { data: { a: 1 }, origin: 'o', lastEventId: 'l', source: port1, ports: [port1] });
        const errors = [];
        for (const init of [{ ports: [1] }, { source: {} }, { ports: 5 }]) {
          try { new MessageEvent('x', init); errors.push('ok'); } catch (err) { errors.push(err.name); }
        }
        const d = new MessageEvent('m');
        return [e.data, e.origin, e.lastEventId, e.source === port1, e.ports[0] === port1, e.ports === e.ports,
                e.isTrusted, errors, d.data, d.ports.length, d.source];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            {"a": 1},
            "o",
            "l",
            true,
            true,
            true,
            false,
            ["TypeError", "TypeError", "TypeError"],
            null,
            0,
            null
        ])
    );
}

#[test]
fn a_request_s_messages_are_its_own_and_an_ended_request_does_not_stall_the_port() {
    // A module-level channel shared by the requests of one isolate: a message posted by a
    // request that answered at once (its delivery timer died with it) still arrives when a later
    // request posts, and each listener's console line is in the logs of the request that posted.
    let src = "const { port1, port2 } = new MessageChannel();
      const got = [];
      port2.onmessage = (e) => { got.push(e.data); console.log('got ' + e.data); };
      export default { async fetch(request) {
        const name = new URL(request.url).pathname.slice(1);
        port1.postMessage(name);
        if (name === 'first') return new Response('posted');
        await new Promise((r) => setTimeout(r, 5));
        return Response.json(got);
      } };";
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    let (first, inv) = worker.fetch(&get("https://w.test/first"));
    assert_eq!(first.expect("response").body, b"posted");
    assert!(inv.logs.is_empty(), "{:?}", inv.logs);
    std::thread::sleep(Duration::from_millis(5));
    let (second, inv) = worker.fetch(&get("https://w.test/second"));
    let body = second.expect("response").body;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).expect("json"),
        serde_json::json!(["first", "second"])
    );
    let logs: Vec<&str> = inv.logs.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(logs, ["got first", "got second"]);
}
