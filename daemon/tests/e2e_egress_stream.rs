//! Outbound response bodies that stream, end to end: a real daemon, a real jailed worker and a
//! real HTTP server on 127.0.0.1 that sends its answer in pieces. The tenant reads the first
//! part while the upstream still holds the rest (so nothing buffered the whole answer), and a
//! secret the gateway injected, echoed back split across two pieces, still arrives scrubbed. An
//! event stream's head and first small event reach the tenant before its next event exists.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};

use common::*;

const SECRET: &str = "stream-secret-4e1b-value";

/// An upstream whose `/stream` answer sends 80 KiB, then waits until `/release` was asked,
/// then the secret it was sent (in two pieces) and the end; `/events` is an event stream whose
/// second event waits for `/release` too.
fn start_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let released = Arc::new((Mutex::new(false), Condvar::new()));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let released = Arc::clone(&released);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut path = String::new();
                let mut key = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let l = line.trim_end().to_string();
                    line.clear();
                    if l.is_empty() {
                        break;
                    }
                    if path.is_empty() {
                        path = l.split(' ').nth(1).unwrap_or("").to_string();
                    } else if let Some(v) = l.strip_prefix("x-api-key: ") {
                        key = v.to_string();
                    }
                }
                let mut out = stream;
                if path == "/count" {
                    // A chunked upload: count its bytes, then answer the count.
                    let mut total = 0usize;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).map_or(true, |n| n == 0) {
                            return;
                        }
                        let size = usize::from_str_radix(line.trim_end(), 16).unwrap_or(0);
                        let mut chunk = vec![0u8; size + 2];
                        if std::io::Read::read_exact(&mut reader, &mut chunk).is_err() {
                            return;
                        }
                        if size == 0 {
                            break;
                        }
                        total += size;
                    }
                    let text = total.to_string();
                    let _ = out.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                            text.len()
                        )
                        .as_bytes(),
                    );
                    return;
                }
                if path == "/release" {
                    let (lock, cv) = &*released;
                    *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
                    cv.notify_all();
                    let _ = out.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nreleased",
                    );
                    return;
                }
                let chunk = |out: &mut std::net::TcpStream, piece: &[u8]| {
                    let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                    frame.extend_from_slice(piece);
                    frame.extend_from_slice(b"\r\n");
                    let _ = out.write_all(&frame);
                    let _ = out.flush();
                };
                let wait_for_release = || {
                    let (lock, cv) = &*released;
                    let mut done = lock.lock().unwrap_or_else(|e| e.into_inner());
                    while !*done {
                        done = cv.wait(done).unwrap_or_else(|e| e.into_inner());
                    }
                };
                if path == "/events" {
                    // Server-sent events: the head and one small event, the next one only
                    // once `/release` was asked (it does not exist before), then the end.
                    let _ = out.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                          transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                    );
                    chunk(&mut out, b"data: one\n\n");
                    wait_for_release();
                    chunk(&mut out, format!("data: two {key}\n\n").as_bytes());
                    let _ = out.write_all(b"0\r\n\r\n");
                    return;
                }
                let _ = out.write_all(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                );
                chunk(&mut out, &vec![b'a'; 80 << 10]);
                wait_for_release();
                let (left, right) = key.split_at(key.len() / 2);
                chunk(&mut out, format!("|key={left}").as_bytes());
                chunk(&mut out, format!("{right}|").as_bytes());
                let _ = out.write_all(b"0\r\n\r\n");
            });
        }
    });
    port
}

/// A tenant allowed to reach the upstream on `port`, its `X-Api-Key` injected from a secret.
fn secret_config(port: u16) -> String {
    format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [tenants.secrets]\napi_key = \"{SECRET}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{port}]\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}\n",
        tenant_token(0)
    )
}

#[test]
fn an_upstream_answer_streams_to_the_tenant_and_a_split_secret_is_still_scrubbed() {
    let port = start_upstream();
    let config = secret_config(port);
    let d = Daemon::start_raw("egress-stream", 1, &config, &[]);
    // The tenant reads the answer's first 80 KiB, then asks the upstream to send the rest: if
    // the gateway waited for the whole answer, the first read could never complete.
    let code = format!(
        "export default async () => {{
           const base = 'http://127.0.0.1:{port}';
           const r = await fetch(base + '/stream');
           const reader = r.body.getReader();
           let first = 0, pieces = 0;
           while (first < 80 * 1024) {{ const {{ value, done }} = await reader.read(); if (done) break; first += value.length; pieces++; }}
           const released = await (await fetch(base + '/release')).text();
           let rest = '';
           const dec = new TextDecoder();
           for (;;) {{ const {{ value, done }} = await reader.read(); if (done) break; rest += dec.decode(value, {{ stream: true }}); }}
           return {{ first, pieces, released, rest }};
         }};"
    );
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "code": code, "limits": { "wallMs": 20000, "cpuMs": 2000 } }))
        .send()
        .expect("run");
    let body: serde_json::Value = r.json().expect("json");
    let result = &body["result"];
    assert_eq!(result["first"], 80 << 10, "{body}");
    assert_eq!(result["released"], "released", "{body}");
    assert_eq!(result["rest"], "|key=[redacted]|", "{body}");
    assert!(!body.to_string().contains(SECRET));
    // The audit counts every byte the stream received, not only its first part.
    let (status, audit) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=50");
    assert_eq!(status, 200, "{audit}");
    let streamed = audit["records"]
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["path"] == "/stream")
        .unwrap_or_else(|| panic!("the streamed hop is audited: {audit}"));
    let total = (80 << 10) + "|key=|".len() + SECRET.len();
    assert_eq!(streamed["bytesIn"], total, "{streamed}");
    assert_eq!(
        (streamed["status"].as_u64(), &streamed["reason"]),
        (Some(200), &serde_json::Value::Null),
        "{streamed}"
    );
    assert!(!audit.to_string().contains(SECRET));
}

#[test]
fn a_request_body_larger_than_one_host_call_streams_up_to_the_upstream() {
    let port = start_upstream();
    let config = format!(
        "[limits]\ncpu_ms = 5000\n[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{port}]\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("egress-upload", 1, &config, &[]);
    // 24 MiB: more than one host call may carry (16 MiB), so it can only have gone up in pieces.
    let code = format!(
        "export default async () => {{
           let sent = 0;
           const body = new ReadableStream({{ pull(c) {{
             if (sent >= 24 * 1024 * 1024) {{ c.close(); return; }}
             c.enqueue(new Uint8Array(1024 * 1024).fill(7)); sent += 1024 * 1024;
           }} }});
           const r = await fetch('http://127.0.0.1:{port}/count', {{ method: 'POST', body, duplex: 'half' }});
           return [r.status, await r.text()];
         }};"
    );
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "code": code, "limits": { "wallMs": 30000, "cpuMs": 5000 } }))
        .send()
        .expect("run");
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(
        body["result"],
        serde_json::json!([200, (24 << 20).to_string()]),
        "{body}"
    );
}

#[test]
fn an_event_streams_head_and_first_event_reach_the_tenant_before_the_next_event_exists() {
    let port = start_upstream();
    let config = secret_config(port);
    let d = Daemon::start_raw("egress-events", 1, &config, &[]);
    // The upstream sends its second event only once the tenant has read the first one and
    // asked `/release`: if the gateway waited for more of the body than had come (64 KiB, or
    // the end) before answering the head, `fetch()` could never resolve.
    let code = format!(
        "export default async () => {{
           const base = 'http://127.0.0.1:{port}';
           const r = await fetch(base + '/events');
           const reader = r.body.getReader();
           const dec = new TextDecoder();
           let first = '';
           while (!first.endsWith('\\n\\n')) {{
             const {{ value, done }} = await reader.read();
             if (done) break;
             first += dec.decode(value, {{ stream: true }});
           }}
           const released = await (await fetch(base + '/release')).text();
           let rest = '';
           for (;;) {{ const {{ value, done }} = await reader.read(); if (done) break; rest += dec.decode(value, {{ stream: true }}); }}
           return {{ type: r.headers.get('content-type'), first, released, rest }};
         }};"
    );
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "code": code, "limits": { "wallMs": 10000, "cpuMs": 2000 } }))
        .send()
        .expect("run");
    let body: serde_json::Value = r.json().expect("json");
    let result = &body["result"];
    assert_eq!(result["type"], "text/event-stream", "{body}");
    assert_eq!(result["first"], "data: one\n\n", "{body}");
    assert_eq!(result["released"], "released", "{body}");
    // The second event echoed the injected secret: scrubbed on its way as ever.
    assert_eq!(result["rest"], "data: two [redacted]\n\n", "{body}");
    assert!(!body.to_string().contains(SECRET));
}
