//! `node:net` and `node:tls` end to end: a real daemon, a jailed Loader worker with
//! `nodejs_compat` whose code opens connections with `net.connect` / `tls.connect` (over
//! `cloudflare:sockets`, through the egress gateway) to real servers on 127.0.0.1: an echo round
//! trip whose events come in Node's order, a half-close with `allowHalfOpen` (the client writes
//! after the server's FIN, and the server reads it), `setTimeout` firing `timeout` on an idle
//! socket, a host no rule names (an `error` event, then `close(true)`), TLS to a rustls server
//! whose certificate a test CA signed (trusted through `[egress] sockets_extra_roots`), and a
//! STARTTLS upgrade of a connected `net.Socket` with `tls.connect({ socket })`. The same events
//! were checked against Node 20's own net/tls (isolate/js/test/node-net.test.mjs runs the plain
//! scenarios under both); what differs is said in the README's Node.js table.
mod common;
#[path = "common/tcp_servers.rs"]
mod tcp_servers;

use std::sync::Arc;

use common::*;
use tcp_servers::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Echoes every byte; at EOF closes its side too.
fn echo_server() -> u16 {
    listen(|mut stream| async move {
        let (mut r, mut w) = stream.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    })
}

/// Writes "hi" and shuts its side down at once, then reads to EOF: notes `got <text>`.
fn half_close_server(seen: &Seen) -> u16 {
    let seen = Arc::clone(seen);
    listen(move |mut stream| {
        let seen = Arc::clone(&seen);
        async move {
            let _ = stream.write_all(b"hi").await;
            let _ = stream.shutdown().await;
            let mut got = Vec::new();
            let _ = stream.read_to_end(&mut got).await;
            seen.lock()
                .expect("seen")
                .push(format!("got {}", String::from_utf8_lossy(&got)));
        }
    })
}

/// Accepts and never writes; notes `idle eof` when the client goes.
fn idle_server(seen: &Seen) -> u16 {
    let seen = Arc::clone(seen);
    listen(move |mut stream| {
        let seen = Arc::clone(&seen);
        async move {
            let mut sink = Vec::new();
            let _ = stream.read_to_end(&mut sink).await;
            seen.lock().expect("seen").push("idle eof".to_owned());
        }
    })
}

/// The worker: one path per scenario, each answering its event log as JSON.
const WORKER: &str = r#"
import net from "node:net";
import tls from "node:tls";
const closed = (s, log) => new Promise((resolve) => s.on("close", (hadError) => { log.push(`close:${hadError}`); resolve(log); }));
const scenarios = {
  async echo(port) {
    const log = [];
    const s = net.connect(port, "127.0.0.1");
    log.push(`pending:${s.pending}:${s.readyState}`);
    for (const e of ["connect", "ready", "end", "finish"]) s.on(e, () => log.push(`${e}:${s.readyState}`));
    s.on("data", (d) => { log.push(`data:${d}:${Buffer.isBuffer(d)}:${s.remoteAddress}:${s.remotePort === port}`); s.end(); });
    s.write("hello");
    await closed(s, log);
    log.push(`bytes:${s.bytesRead}:${s.bytesWritten}`);
    return log;
  },
  async halfOpen(port) {
    const log = [];
    const s = new net.Socket({ allowHalfOpen: true });
    s.connect({ port, host: "127.0.0.1" }, () => log.push("cb"));
    s.on("data", (d) => log.push(`data:${d}`));
    s.on("end", () => {
      log.push(`end:${s.writable}:${s.readyState}`);
      s.write("after", () => { log.push("written"); s.end(); });
    });
    return closed(s, log);
  },
  async timeout(port) {
    const log = [];
    // As on Node, the idle timer runs from the start, connecting included: long enough for
    // a loaded machine's connect.
    const s = net.connect({ port, host: "127.0.0.1", timeout: 1500 });
    s.on("connect", () => log.push("connect"));
    s.on("timeout", () => { log.push(`timeout:${s.timeout}:${s.destroyed}`); s.destroy(); });
    return closed(s, log);
  },
  async denied(port) {
    const log = [];
    const s = net.connect(port, "127.0.0.2");
    s.on("connect", () => log.push("connect"));
    s.on("error", (e) => log.push(`error:${e.message}`));
    await closed(s, log);
    log.push(`destroyed:${s.destroyed}`);
    return log;
  },
  async tls(port) {
    const log = [];
    const s = tls.connect({ port, host: "127.0.0.1" }, () => log.push(`cb:${s.authorized}:${s.encrypted}`));
    for (const e of ["connect", "ready", "secureConnect", "end"]) s.on(e, () => log.push(e));
    s.on("data", (d) => { log.push(`data:${d}`); s.end(); });
    s.write("over tls");
    await closed(s, log);
    return log;
  },
  async starttls(port) {
    const log = [];
    const plain = net.connect(port, "127.0.0.1");
    plain.on("close", () => log.push("plain close"));
    const go = await new Promise((resolve) => {
      plain.on("data", function first(d) { plain.off("data", first); resolve(String(d)); });
      plain.write("STARTTLS\r\n");
    });
    log.push(`go:${JSON.stringify(go)}`);
    const s = tls.connect({ socket: plain, servername: "localhost" });
    s.on("secureConnect", () => { log.push(`secureConnect:${s.authorized}:${s.encrypted}`); s.write("secret"); });
    s.on("data", (d) => { log.push(`data:${d}`); s.end(); });
    s.on("end", () => log.push("end"));
    await closed(s, log);
    return log;
  },
  async untrusted(port) {
    const log = [];
    const s = tls.connect(port, "127.0.0.1");
    s.on("secureConnect", () => log.push("secureConnect"));
    s.on("error", (e) => log.push(`error:${e.message.includes("UnknownIssuer")}`));
    return closed(s, log);
  },
};
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const name = url.pathname.split("/").pop();
    try {
      return Response.json(await scenarios[name](Number(url.searchParams.get("port"))));
    } catch (e) {
      return Response.json({ threw: `${e.constructor.name}: ${e.message}` });
    }
  },
};
"#;

fn worker(d: &Daemon) -> String {
    load_code(
        d,
        &tenant_token(0),
        &serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": WORKER },
            "compatibilityDate": "2025-06-01",
            "compatibilityFlags": ["nodejs_compat"],
        }),
    )
}

#[test]
fn net_connect_events_half_close_timeout_and_a_denied_host() {
    let seen = Seen::default();
    let echo = echo_server();
    let half = half_close_server(&seen);
    let idle = idle_server(&seen);
    let d = daemon("node-net", &[echo, half, idle], true, None);
    let id = worker(&d);
    let t0 = tenant_token(0);
    let got = fetch_json(&d, &t0, &id, &format!("echo?port={echo}"));
    assert_eq!(
        got,
        serde_json::json!([
            "pending:true:opening",
            "connect:open",
            "ready:open",
            "data:hello:true:127.0.0.1:true",
            "finish:readOnly",
            "end:closed",
            "close:false",
            "bytes:5:5",
        ])
    );
    let got = fetch_json(&d, &t0, &id, &format!("halfOpen?port={half}"));
    assert_eq!(
        got,
        serde_json::json!([
            "cb",
            "data:hi",
            "end:true:writeOnly",
            "written",
            "close:false"
        ])
    );
    let lines = wait_for(&seen, "got after");
    assert!(lines.contains(&"got after".to_owned()), "{lines:?}");
    let got = fetch_json(&d, &t0, &id, &format!("timeout?port={idle}"));
    assert_eq!(
        got,
        serde_json::json!(["connect", "timeout:1500:false", "close:false"])
    );
    let lines = wait_for(&seen, "idle eof");
    assert!(lines.contains(&"idle eof".to_owned()), "{lines:?}");
    let got = fetch_json(&d, &t0, &id, &format!("denied?port={echo}"));
    assert_eq!(
        got,
        serde_json::json!([
            format!("error:egress to 127.0.0.2:{echo} denied: host not allowed"),
            "close:true",
            "destroyed:true",
        ])
    );
}

#[test]
fn tls_connect_and_a_starttls_upgrade_use_the_gateways_roots() {
    let (ca_pem, config) = test_pki();
    let dir = std::env::temp_dir().join(format!("stockade-e2e-node-tls-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_pem).expect("ca");
    let seen = Seen::default();
    let tls = tls_server(&config, &seen);
    let starttls = starttls_server(&config, &seen);
    let d = daemon("node-tls", &[tls, starttls], true, Some(&ca));
    let id = worker(&d);
    let t0 = tenant_token(0);
    let got = fetch_json(&d, &t0, &id, &format!("tls?port={tls}"));
    assert_eq!(
        got,
        serde_json::json!([
            "connect",
            "ready",
            "cb:true:true",
            "secureConnect",
            "data:over tls",
            "end",
            "close:false",
        ])
    );
    let got = fetch_json(&d, &t0, &id, &format!("starttls?port={starttls}"));
    assert_eq!(
        got,
        serde_json::json!([
            "go:\"GO\\r\\n\"",
            "secureConnect:true:true",
            "data:secret",
            "end",
            "plain close",
            "close:false",
        ])
    );
    let lines = wait_for(&seen, "tls secret");
    for line in ["tls over tls", "plain STARTTLS", "tls secret"] {
        assert!(lines.contains(&line.to_owned()), "{lines:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);

    // Without the test CA among the daemon's roots, the certificate is refused: an error event.
    drop(d);
    let d = daemon("node-tls-untrusted", &[tls], true, None);
    let id = worker(&d);
    let got = fetch_json(&d, &t0, &id, &format!("untrusted?port={tls}"));
    assert_eq!(got, serde_json::json!(["error:true", "close:true"]));
}
