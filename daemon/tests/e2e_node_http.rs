//! `node:http` / `node:https` clients end to end: a real daemon, a jailed Loader worker with
//! `nodejs_compat` running daemon/tests/node-http/scenarios.js (requests made with
//! `http.get`/`http.request`, each one fetch through the egress gateway) against a real HTTP
//! server on 127.0.0.1; Node 20 runs the same scenarios against the same server
//! (run-under-node.mjs) and the logs must be the same: events in order, status and reason,
//! headers joined as Node joins them (`set-cookie` an array, a repeated header joined with ", "),
//! a body written in parts sent chunked as it is written, a body given whole sent with its
//! Content-Length, a response read chunk by chunk (its second chunk exists only once the client
//! saw the first), `destroy()`/`abort()`/`setTimeout`. A host no rule names is an `error` then
//! `close`, and `https.get` to a server that speaks plain HTTP fails (the gateway's https trusts
//! the webpki roots only, so no local https server can be trusted: the refusal path is tested).
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};

use common::*;

/// One request's head, lower-cased header names, and its body (chunked or by length).
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    chunked: bool,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut parts = line.split(' ');
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (name, value) = l.split_once(':')?;
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
            let size = usize::from_str_radix(line.trim_end(), 16).ok()?;
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body = vec![0u8; n];
        reader.read_exact(&mut body).ok()?;
    }
    Some(Seen {
        method,
        path,
        headers,
        chunked,
        body,
    })
}

/// The server both clients talk to: `/echo` (201, what it saw in `x-echo`, the body back),
/// `/missing` (404), `/stream` (a chunked answer whose second chunk waits for `/release`),
/// `/release`, and `/hang` (never answers; reads until the client goes).
fn start_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let released = Arc::new((Mutex::new(false), Condvar::new()));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let released = Arc::clone(&released);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let Some(seen) = read_request(&mut reader) else {
                    return;
                };
                let mut out = stream;
                // Repeated lines joined with ", " (Node sends one line per value, fetch one).
                let header = |n: &str| {
                    let values: Vec<&str> = seen
                        .headers
                        .iter()
                        .filter(|(k, _)| k == n)
                        .map(|(_, v)| v.as_str())
                        .collect();
                    if values.is_empty() {
                        "none".to_owned()
                    } else {
                        values.join(", ")
                    }
                };
                let path = seen.path.split('?').next().unwrap_or("");
                let answer = match path {
                    "/echo" => {
                        let echo = format!(
                            "{} {} chunked={} length={} custom={} list={}",
                            seen.method,
                            seen.path,
                            seen.chunked,
                            header("content-length"),
                            header("x-custom"),
                            header("x-list")
                        );
                        format!(
                            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nset-cookie: a=1\r\n\
                             set-cookie: b=2\r\nx-dup: 1\r\nx-dup: 2\r\nx-echo: {echo}\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{}",
                            seen.body.len(),
                            String::from_utf8_lossy(&seen.body)
                        )
                    }
                    "/missing" => {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"
                            .to_owned()
                    }
                    "/release" => {
                        let (lock, cv) = &*released;
                        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
                        cv.notify_all();
                        "HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nreleased"
                            .to_owned()
                    }
                    "/stream" => {
                        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n6\r\nfirst;\r\n";
                        if out.write_all(head.as_bytes()).is_err() || out.flush().is_err() {
                            return;
                        }
                        let (lock, cv) = &*released;
                        let mut done = lock.lock().unwrap_or_else(|e| e.into_inner());
                        while !*done {
                            done = cv.wait(done).unwrap_or_else(|e| e.into_inner());
                        }
                        *done = false;
                        drop(done);
                        "7\r\nsecond;\r\n0\r\n\r\n".to_owned()
                    }
                    _ => {
                        let mut sink = Vec::new();
                        let _ = reader.read_to_end(&mut sink);
                        return;
                    }
                };
                let _ = out.write_all(answer.as_bytes());
            });
        }
    });
    port
}

fn scenarios_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node-http")
}

/// The scenario under Node 20 itself.
fn under_node(port: u16, name: &str) -> serde_json::Value {
    let out = Command::new("node")
        .arg("run-under-node.mjs")
        .arg(port.to_string())
        .arg(name)
        .env_remove("NODE_EXTRA_CA_CERTS")
        .current_dir(scenarios_dir())
        .output()
        .expect("the node:http tests need Node.js on PATH");
    assert!(
        out.status.success(),
        "node {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("node's log is JSON")
}

const WORKER: &str = r#"
import { scenarios } from "./scenarios.js";
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

fn daemon(port: u16) -> Daemon {
    let config = format!(
        "[limits]\ncpu_ms = 5000\nwall_ms = 30000\n[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{port}]\n",
        tenant_token(0),
    );
    Daemon::start_raw("node-http", 1, &config, &[])
}

#[test]
fn the_node_http_client_behaves_as_node_20s_through_the_gateway() {
    let port = start_server();
    let d = daemon(port);
    let scenarios = std::fs::read_to_string(scenarios_dir().join("scenarios.js")).expect("read");
    let id = load_code(
        &d,
        &tenant_token(0),
        &serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": WORKER, "scenarios.js": scenarios },
            "compatibilityDate": "2025-06-01",
            "compatibilityFlags": ["nodejs_compat"],
        }),
    );
    let t0 = tenant_token(0);
    let stockade = |name: &str| fetch_json(&d, &t0, &id, &format!("{name}?port={port}"));

    let get = stockade("get");
    assert_eq!(get, under_node(port, "get"), "get");
    assert_eq!(
        get,
        serde_json::json!([
            "req:finish",
            "response:201:Created:1.1",
            "{\"content-type\":\"application/json\",\"set-cookie\":[\"a=1\",\"b=2\"],\"x-dup\":\"1, 2\",\
             \"x-echo\":\"GET /echo?x=1 chunked=false length=none custom=c list=none\"}",
            "res:end:",
            "res:close",
            "req:close",
        ])
    );
    let parts = stockade("postParts");
    assert_eq!(parts, under_node(port, "postParts"), "postParts");
    let has = |log: &serde_json::Value, text: &str| {
        log.as_array().is_some_and(|l| {
            l.iter()
                .any(|e| e.as_str().is_some_and(|s| s.contains(text)))
        })
    };
    assert!(
        has(
            &parts,
            "POST /echo chunked=true length=none custom=none list=none"
        ),
        "{parts:#}"
    );
    assert!(
        has(&parts, "res:end:abc") && parts[0] == "written",
        "{parts:#}"
    );
    let whole = stockade("postWhole");
    assert_eq!(whole, under_node(port, "postWhole"), "postWhole");
    assert!(
        has(
            &whole,
            "PUT /echo chunked=false length=5 custom=none list=1, 2"
        ),
        "{whole:#}"
    );
    for name in [
        "missing",
        "stream",
        "https",
        "destroyed",
        "aborted",
        "timeout",
    ] {
        assert_eq!(stockade(name), under_node(port, name), "{name}");
    }
    assert_eq!(
        stockade("stream"),
        serde_json::json!(["data:first;", "data:second;", "end"])
    );
    assert_eq!(
        stockade("missing"),
        serde_json::json!([
            "req:finish",
            "response:404:Not Found:1.1",
            "{\"content-type\":null,\"set-cookie\":null,\"x-dup\":null,\"x-echo\":null}",
            "res:end:no",
            "res:close",
            "req:close",
        ])
    );
    assert_eq!(
        stockade("https"),
        serde_json::json!(["threw:ERR_INVALID_PROTOCOL", "error", "close"])
    );
    // Node's connection to 127.0.0.2 is refused (ECONNREFUSED); the gateway refuses a host no
    // rule names before connecting: the same events, the fetch's error.
    assert_eq!(
        stockade("denied"),
        serde_json::json!(["req:finish", "req:error:none", "req:close"])
    );
}
