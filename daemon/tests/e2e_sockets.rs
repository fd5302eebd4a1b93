//! `cloudflare:sockets` end to end: a real daemon, a jailed Loader worker whose code opens TCP
//! connections with `connect()` through the egress gateway to real servers on 127.0.0.1
//! (allowed with `allow_private` loopback and a rule naming their ports): an echo round trip,
//! 4 MiB each way at once (checked byte by byte as it streams, never held whole), TLS
//! (`secureTransport: "on"`) to a rustls server whose certificate a test CA signed (trusted
//! through `[egress] sockets_extra_roots`), a `starttls` upgrade, a host no rule names, port 25,
//! a loopback address without `allow_private`, a 7th socket of a request waiting for one of the
//! six open to close (more in `e2e_open_connections.rs`), `closed` rejecting
//! when the server resets, and the request's end closing the sockets it left open (the server
//! sees EOF). Each audited connection carries its bytes each way.
mod common;
#[path = "common/tcp_servers.rs"]
mod tcp_servers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tcp_servers::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Echoes every byte; at EOF notes `eof <bytes>` and closes its side too.
fn echo_server(seen: &Seen) -> u16 {
    let seen = Arc::clone(seen);
    listen(move |mut stream| {
        let seen = Arc::clone(&seen);
        async move {
            let (mut r, mut w) = stream.split();
            let copied = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
            let line = match copied {
                Ok(n) => format!("eof {n}"),
                Err(e) => format!("error {e}"),
            };
            seen.lock().expect("seen").push(line);
        }
    })
}

/// Reads one byte, then resets the connection (SO_LINGER 0).
fn reset_server() -> u16 {
    listen(|mut stream| async move {
        let mut one = [0u8; 1];
        let _ = stream.read_exact(&mut one).await;
        // SO_LINGER 0: closing sends RST (the deprecation is about blocking on drop, which a
        // zero linger does not do).
        #[allow(deprecated)]
        let _ = stream.set_linger(Some(Duration::ZERO));
        drop(stream);
    })
}

/// The worker: one path per scenario, each answering JSON.
const WORKER: &str = r#"
import { connect } from "cloudflare:sockets";
const enc = new TextEncoder();
const dec = new TextDecoder();
const pattern = (i) => (i * 31 + 7) & 255;
async function readText(reader, n) {
  let got = "";
  while (got.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    got += dec.decode(value);
  }
  return got;
}
const message = (e) => `${e.constructor.name}: ${e.message}`;
async function attempt(address, options) {
  const socket = connect(address, options);
  try {
    await socket.opened;
    await socket.close();
    return "opened";
  } catch (e) {
    const closed = await socket.closed.then(() => "resolved", (c) => c === e ? "same" : message(c));
    return `${message(e)} / closed ${closed}`;
  }
}
const scenarios = {
  async echo(port) {
    const socket = connect(`127.0.0.1:${port}`);
    const info = await socket.opened;
    const writer = socket.writable.getWriter();
    await writer.write(enc.encode("hello"));
    const reader = socket.readable.getReader();
    const echoed = await readText(reader, 5);
    await writer.close();
    const last = await reader.read();
    await socket.closed;
    return { remote: info.remoteAddress, echoed, done: last.done, upgraded: socket.upgraded, secure: socket.secureTransport };
  },
  async big(port) {
    const total = 4 << 20;
    const socket = connect({ hostname: "127.0.0.1", port });
    const writing = (async () => {
      const writer = socket.writable.getWriter();
      for (let at = 0; at < total;) {
        const n = Math.min(100000, total - at);
        const chunk = new Uint8Array(n);
        for (let i = 0; i < n; i++) chunk[i] = pattern(at + i);
        await writer.write(chunk);
        at += n;
      }
      await writer.close();
    })();
    let received = 0, bad = -1, largest = 0;
    for await (const chunk of socket.readable) {
      largest = Math.max(largest, chunk.length);
      for (let i = 0; i < chunk.length; i++) if (bad < 0 && chunk[i] !== pattern(received + i)) bad = received + i;
      received += chunk.length;
    }
    await writing;
    await socket.closed;
    return { received, bad, largest };
  },
  async tls(port) {
    const socket = connect(`127.0.0.1:${port}`, { secureTransport: "on" });
    await socket.opened;
    const writer = socket.writable.getWriter();
    await writer.write(enc.encode("over tls"));
    const back = await readText(socket.readable.getReader(), 8);
    await socket.close();
    let again;
    try { socket.startTls(); } catch (e) { again = message(e); }
    return { back, secure: socket.secureTransport, again };
  },
  async untrusted(port) {
    return attempt(`127.0.0.1:${port}`, { secureTransport: "on" });
  },
  async starttls(port) {
    const socket = connect(`127.0.0.1:${port}`, { secureTransport: "starttls" });
    const writer = socket.writable.getWriter();
    await writer.write(enc.encode("STARTTLS\r\n"));
    const reader = socket.readable.getReader();
    const go = await readText(reader, 4);
    writer.releaseLock();
    reader.releaseLock();
    const secure = socket.startTls({ expectedServerHostname: "localhost" });
    let twice;
    try { socket.startTls(); } catch (e) { twice = message(e); }
    const oldClosed = await socket.closed.then(() => "resolved");
    await secure.opened;
    const w2 = secure.writable.getWriter();
    await w2.write(enc.encode("secret"));
    const back = await readText(secure.readable.getReader(), 6);
    await secure.close();
    let plain;
    try { connect(`127.0.0.1:${port}`).startTls(); } catch (e) { plain = message(e); }
    return { go, back, twice, oldClosed, upgraded: socket.upgraded, secure: secure.secureTransport, plain };
  },
  async refusals(port, reset) {
    const out = {};
    out.denied = await attempt(`127.0.0.2:${port}`);
    out.port25 = await attempt("127.0.0.1:25");
    for (const bad of ["nohostport", ":80", "a b:80", "[::1]"]) {
      try { connect(bad); out[bad] = "connected"; } catch (e) { out[bad] = message(e); }
    }
    try { connect("127.0.0.1:1", { secureTransport: "maybe" }); } catch (e) { out.transport = message(e); }
    const six = [];
    for (let i = 0; i < 6; i++) {
      const s = connect(`127.0.0.1:${port}`);
      await s.opened;
      six.push(s);
    }
    // Queued, not refused: it opens once one of the six is closed.
    const seventh = attempt(`127.0.0.1:${port}`);
    await six[0].close();
    out.seventh = await seventh;
    for (const s of six.slice(1)) await s.close();
    out.afterClosing = await attempt(`127.0.0.1:${port}`);
    const r = connect(`127.0.0.1:${reset}`);
    const writer = r.writable.getWriter();
    await writer.write(enc.encode("x"));
    const read = await r.readable.getReader().read().then(() => "read", message);
    out.reset = [read, await r.closed.then(() => "resolved", message)];
    return out;
  },
  async abandoned(port) {
    const six = [];
    for (let i = 0; i < 6; i++) {
      const s = connect(`127.0.0.1:${port}`);
      await s.opened;
      six.push(s);
    }
    // A seventh waits for a place; closed before it has one, it is never connected.
    const queued = connect(`127.0.0.1:${port}`);
    const closing = queued.close();
    const opened = await queued.opened.then(() => "opened", message);
    const closed = await queued.closed.then(() => "resolved", message);
    await closing;
    await six[0].close();
    const next = await attempt(`127.0.0.1:${port}`);
    for (const s of six.slice(1)) await s.close();
    return { opened, closed, next };
  },
  async budget(port) {
    const out = [];
    for (let i = 0; i < 4; i++) out.push(await attempt(`127.0.0.1:${port}`));
    try { out.push((await fetch(`http://127.0.0.1:${port}/`)).status); } catch (e) { out.push(message(e)); }
    return out;
  },
  async private(port) {
    return attempt(`127.0.0.1:${port}`);
  },
  async leave(port) {
    const socket = connect(`127.0.0.1:${port}`);
    await socket.opened;
    await socket.writable.getWriter().write(enc.encode("left open"));
    return "left";
  },
};
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const name = url.pathname.split("/").pop();
    const port = Number(url.searchParams.get("port"));
    const other = Number(url.searchParams.get("other"));
    try {
      return Response.json(await scenarios[name](port, other));
    } catch (e) {
      return Response.json({ threw: message(e) });
    }
  },
};
"#;

fn worker(d: &Daemon) -> String {
    load_with_env(d, &tenant_token(0), WORKER, serde_json::json!({}))
}

/// The audit records of t0's sockets (method CONNECT).
fn socket_audit(d: &Daemon) -> Vec<serde_json::Value> {
    let (status, audit) = get_json(d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=100");
    assert_eq!(status, 200, "{audit}");
    audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|r| r["method"] == "CONNECT")
        .cloned()
        .collect()
}

#[test]
fn plain_tcp_echoes_and_carries_4_mib_each_way_audited() {
    let seen = Seen::default();
    let port = echo_server(&seen);
    let d = daemon("sockets-plain", &[port], true, None);
    let id = worker(&d);
    let t0 = tenant_token(0);
    let got = fetch_json(&d, &t0, &id, &format!("echo?port={port}"));
    assert_eq!(
        got,
        serde_json::json!({ "remote": format!("127.0.0.1:{port}"), "echoed": "hello", "done": true,
            "upgraded": false, "secure": "off" }),
    );
    assert!(wait_for(&seen, "eof 5").contains(&"eof 5".to_owned()));
    let got = fetch_json(&d, &t0, &id, &format!("big?port={port}"));
    assert_eq!(got["received"], 4 << 20, "{got}");
    assert_eq!(got["bad"], -1, "{got}");
    assert!(got["largest"].as_u64().expect("largest") <= 65536, "{got}");
    let total = (4u64 << 20).to_string();
    assert!(wait_for(&seen, &format!("eof {total}")).contains(&format!("eof {total}")));
    // Audited once each connection is over, with what it carried.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut records = socket_audit(&d);
    while records.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        records = socket_audit(&d);
    }
    let carried: Vec<(u64, u64)> = records
        .iter()
        .map(|r| {
            (
                r["bytesOut"].as_u64().unwrap_or(0),
                r["bytesIn"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(carried, vec![(5, 5), (4 << 20, 4 << 20)], "{records:?}");
    assert!(
        records.iter().all(|r| r["verdict"] == "allowed"
            && r["scheme"] == "tcp"
            && r["host"] == "127.0.0.1"
            && r["reason"] == "closed"),
        "{records:?}"
    );
}

#[test]
fn tls_on_and_starttls_use_the_gateways_roots() {
    let (ca_pem, config) = test_pki();
    let dir = std::env::temp_dir().join(format!("stockade-e2e-sockets-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_pem).expect("ca");
    let seen = Seen::default();
    let tls = tls_server(&config, &seen);
    let starttls = starttls_server(&config, &seen);
    let d = daemon("sockets-tls", &[tls, starttls], true, Some(&ca));
    let id = worker(&d);
    let t0 = tenant_token(0);
    let got = fetch_json(&d, &t0, &id, &format!("tls?port={tls}"));
    assert_eq!(
        got,
        serde_json::json!({ "back": "over tls", "secure": "on",
            "again": "TypeError: Cannot startTls on a TLS socket." })
    );
    let got = fetch_json(&d, &t0, &id, &format!("starttls?port={starttls}"));
    assert_eq!(
        got,
        serde_json::json!({ "go": "GO\r\n", "back": "secret", "twice": "TypeError: startTls can only be called once.",
            "oldClosed": "resolved", "upgraded": true, "secure": "on",
            "plain": "TypeError: The `secureTransport` socket option must be set to 'starttls' for startTls to be used." })
    );
    let lines = wait_for(&seen, "tls secret");
    assert!(lines.contains(&"plain STARTTLS".to_owned()), "{lines:?}");
    assert!(lines.contains(&"tls over tls".to_owned()), "{lines:?}");
    assert!(lines.contains(&"tls secret".to_owned()), "{lines:?}");
    let _ = std::fs::remove_dir_all(&dir);

    // Without the test CA among its roots, the daemon refuses the server's certificate.
    drop(d);
    let d = daemon("sockets-untrusted", &[tls], true, None);
    let id = worker(&d);
    let got = fetch_json(&d, &t0, &id, &format!("untrusted?port={tls}"));
    let text = got.as_str().expect("text");
    assert!(
        text.starts_with("Error: the TLS handshake failed") && text.contains("UnknownIssuer"),
        "{got}"
    );
}

#[test]
fn refusals_and_a_reset_are_clear_errors_and_a_seventh_socket_waits() {
    let seen = Seen::default();
    let port = echo_server(&seen);
    let reset = reset_server();
    let d = daemon("sockets-refusals", &[port, reset, 25], true, None);
    let id = worker(&d);
    let got = fetch_json(
        &d,
        &tenant_token(0),
        &id,
        &format!("refusals?port={port}&other={reset}"),
    );
    assert_eq!(
        got["denied"],
        format!("Error: egress to 127.0.0.2:{port} denied: host not allowed / closed same"),
        "{got}"
    );
    assert_eq!(
        got["port25"], "Error: Connections to port 25 are prohibited / closed same",
        "{got}"
    );
    assert_eq!(
        got["nohostport"],
        "TypeError: Specified address is missing port."
    );
    assert_eq!(
        got[":80"],
        "TypeError: Specified address is missing hostname."
    );
    assert_eq!(
        got["a b:80"],
        "TypeError: Specified address is empty string, contains unsupported characters or is too long."
    );
    assert_eq!(
        got["[::1]"],
        "TypeError: Specified address is missing port."
    );
    assert_eq!(
        got["transport"],
        "TypeError: Unsupported value in secureTransport socket option: maybe"
    );
    assert_eq!(got["seventh"], "opened", "{got}");
    assert_eq!(got["afterClosing"], "opened", "{got}");
    assert_eq!(
        got["reset"],
        serde_json::json!([
            "Error: the connection was reset by the server",
            "Error: the connection was reset by the server"
        ]),
        "{got}"
    );
    let records = socket_audit(&d);
    let reasons: Vec<&str> = records
        .iter()
        .filter(|r| r["verdict"] == "denied")
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("host not allowed")),
        "{records:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("port 25")), "{records:?}");
}

/// A socket closed while its connect waits for one of the request's six places is never
/// connected: the server sees the six and the one opened after, not the abandoned one (which,
/// first in line, would otherwise take the freed place and connect before it).
#[test]
fn a_socket_closed_before_it_connected_never_connects() {
    let accepted = Seen::default();
    let noted = Arc::clone(&accepted);
    let port = listen(move |mut stream| {
        noted.lock().expect("seen").push("accepted".into());
        async move {
            let (mut r, mut w) = stream.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        }
    });
    let d = daemon("sockets-abandoned", &[port], true, None);
    let id = worker(&d);
    let got = fetch_json(&d, &tenant_token(0), &id, &format!("abandoned?port={port}"));
    assert_eq!(
        got,
        serde_json::json!({
            "opened": "Error: the socket was closed before it connected",
            "closed": "resolved",
            "next": "opened",
        })
    );
    // The listener's thread notes each connection as it accepts it: wait for the seventh, then
    // a moment more for an eighth that must not come.
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepted.lock().expect("seen").len() < 7 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let lines = accepted.lock().expect("seen").clone();
    assert_eq!(lines.len(), 7, "six, then the one opened after: {lines:?}");
    // Audited as the rules allowed it, with why it never connected.
    let records = socket_audit(&d);
    assert!(
        records.iter().any(|r| r["verdict"] == "allowed"
            && r["reason"] == "the socket was closed before it connected"),
        "{records:?}"
    );
}

#[test]
fn a_loopback_address_needs_allow_private() {
    let seen = Seen::default();
    let port = echo_server(&seen);
    let d = daemon("sockets-private", &[port], false, None);
    let id = worker(&d);
    let got = fetch_json(&d, &tenant_token(0), &id, &format!("private?port={port}"));
    assert_eq!(
        got,
        "Error: egress to 127.0.0.1 denied: address 127.0.0.1 is loopback and not allowed / closed same"
    );
    assert!(seen.lock().expect("seen").is_empty(), "never connected");
}

#[test]
fn the_requests_end_closes_the_sockets_it_left_open() {
    let seen = Seen::default();
    let port = echo_server(&seen);
    let d = daemon("sockets-end", &[port], true, None);
    let id = worker(&d);
    let got = fetch_json(&d, &tenant_token(0), &id, &format!("leave?port={port}"));
    assert_eq!(got, "left");
    // Closed either way: a FIN after the 9 bytes, or a reset when the server's echo of them was
    // still unread at the gateway when the request ended (the kernel's answer to a close with
    // data unread).
    let lines = wait_for(&seen, "");
    assert!(
        lines == ["eof 9"] || lines == ["error Connection reset by peer (os error 104)"],
        "the server saw the connection closed: {lines:?}"
    );
}

/// Each connection is an outbound request of the invocation's: with `subRequests` 3, the fourth
/// `connect()` is refused (and a `fetch` after it too), before anything reaches the gateway.
#[test]
fn a_connection_counts_against_the_invocations_sub_requests() {
    let seen = Seen::default();
    let port = echo_server(&seen);
    let d = daemon("sockets-budget", &[port], true, None);
    let (status, created) = create_worker(
        &d,
        &tenant_token(0),
        &serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": WORKER },
            "limits": { "subRequests": 3 },
        }),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id");
    let got = fetch_json(&d, &tenant_token(0), id, &format!("budget?port={port}"));
    let limit = "this invocation made its limit of outbound requests (subRequests)";
    assert_eq!(
        got,
        serde_json::json!([
            "opened",
            "opened",
            "opened",
            format!("Error: {limit} / closed same"),
            format!("TypeError: fetch failed: {limit}"),
        ]),
        "{got}"
    );
    // A connection's record is written when its relay ends, after the close was answered:
    // waited for, then counted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while socket_audit(&d).len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        socket_audit(&d).len(),
        3,
        "only three connections reached the gateway"
    );
}
