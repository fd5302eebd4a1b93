//! The standard WebSocket client (`new WebSocket(url, protocols)`) and the `on<event>`
//! attributes inside one real V8 isolate, without a host (its handshake's host call is refused
//! here, so a connection fails as an unreachable server's does): the constructor's checks
//! (SyntaxError for a bad URL or subprotocol list), CONNECTING until the handshake is over, send
//! refused with InvalidStateError meanwhile, a failure seen as `error` then `close` (1006), the
//! attributes as event handlers, and `binaryType`. The handshake against a real server is
//! `daemon/tests/e2e_websocket_outbound.rs`.
mod common;

use common::*;

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!("export default async () => {{ {body} }};")))
}

#[test]
fn the_constructor_checks_its_url_and_subprotocols() {
    let v = eval(
        "const msg = (f) => { try { const ws = f(); return `${ws.readyState} ${ws.url}`; } catch (e) { return `${e.name}: ${e.message}`; } };
        return [
          msg(() => new WebSocket('ftp://example.com/')),
          msg(() => new WebSocket('not a url')),
          msg(() => new WebSocket('wss://example.com/#frag')),
          msg(() => new WebSocket('ws://example.com/', ['a', 'a'])),
          msg(() => new WebSocket('ws://example.com/', 'a b')),
          msg(() => new WebSocket('ws://example.com/', [''])),
          msg(() => new WebSocket()),
          msg(() => new WebSocket('https://example.com/x?q', ['chat', 'v2'])),
          msg(() => new WebSocket('WS://Example.com:80/')),
        ];",
    );
    let got: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("text"))
        .collect();
    assert!(
        got[0].starts_with("SyntaxError: WebSocket: the URL's scheme"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("SyntaxError: WebSocket: invalid URL"),
        "{got:?}"
    );
    assert!(
        got[2].starts_with("SyntaxError: WebSocket: the URL has a fragment"),
        "{got:?}"
    );
    assert!(got[3].contains("is given twice"), "{got:?}");
    assert!(got[4].contains("is not a valid subprotocol"), "{got:?}");
    assert!(got[5].contains("is not a valid subprotocol"), "{got:?}");
    assert!(got[6].starts_with("TypeError"), "{got:?}");
    assert_eq!(got[7], "0 wss://example.com/x?q");
    assert_eq!(got[8], "0 ws://example.com/");
}

#[test]
fn a_connection_that_fails_is_an_error_then_a_close_and_send_waits_for_open() {
    let v = eval(
        "const ws = new WebSocket('ws://example.com/');
        const log = [ws.readyState, ws.protocol, ws.binaryType, ws.extensions];
        try { ws.send('x'); } catch (e) { log.push(`${e.name} ${e instanceof DOMException}`); }
        try { ws.accept(); } catch (e) { log.push(e.name); }
        ws.binaryType = 'nonsense';
        log.push(ws.binaryType);
        ws.binaryType = 'blob';
        log.push(ws.binaryType);
        await new Promise((resolve) => {
          ws.onopen = () => log.push('open');
          ws.onerror = (e) => log.push(`error ${e.type} ${ws.readyState}`);
          ws.addEventListener('close', (e) => { log.push(`close ${e.code} ${e.wasClean} ${ws.readyState}`); resolve(); });
        });
        return log;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            0,
            "",
            "arraybuffer",
            "",
            "InvalidStateError true",
            "TypeError",
            "arraybuffer",
            "blob",
            "error error 3",
            "close 1006 false 3"
        ])
    );
}

#[test]
fn close_while_connecting_is_closing_then_fails() {
    let v = eval(
        "const ws = new WebSocket('ws://example.com/');
        ws.close(1000);
        const log = [ws.readyState];
        ws.close(); // a no-op
        await new Promise((resolve) => { ws.onclose = (e) => { log.push(e.code, ws.readyState); resolve(); }; });
        return log;",
    );
    assert_eq!(v, serde_json::json!([2, 1006, 3]));
}

#[test]
fn the_on_attributes_are_the_events_handlers_on_a_pair_too() {
    let v = eval(
        "const [a, b] = Object.values(new WebSocketPair());
        a.accept(); b.accept();
        const log = [a.onmessage, a.onclose, a.onerror, a.onopen];
        a.onmessage = (e) => log.push(`message ${e.data}`);
        const handler = a.onmessage;
        log.push(typeof handler);
        a.onclose = (e) => log.push(`close ${e.code} ${e.reason}`);
        b.send('hi');
        b.close(4000, 'done');
        await new Promise((r) => setTimeout(r, 1));
        a.onmessage = null;
        log.push(a.onmessage);
        return log;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            null,
            null,
            null,
            null,
            "function",
            "message hi",
            "close 4000 done",
            null
        ])
    );
}
