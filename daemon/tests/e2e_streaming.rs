//! Streamed bodies end to end: real daemon, real jailed workers, real HTTP on loopback. An
//! upload read chunk by chunk and echoed with the worker's memory flat, a response whose first
//! chunk reaches the client while its handler still runs, a body cut when its stream fails,
//! `waitUntil` work calling the host after the response, the app's own `Authorization`, and an
//! HTMLRewriter transforming a streamed body.
mod common;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// Timing-free tests, but heavy ones: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Room for 100 MiB through JavaScript streams.
const ROOMY: &str = "[limits]\ncpu_ms = 20000\nwall_ms = 120000\nmemory_mb = 128\n";

fn load_js(d: &Daemon, token: &str, main: &str) -> String {
    let body = serde_json::json!({
        "mainModule": "main.js",
        "modules": { "main.js": main },
        "limits": { "cpuMs": 20000, "wallMs": 120000 },
    });
    load_code(d, token, &body)
}

/// The upload: `len` bytes of a pattern, produced as the client sends them (never held whole).
struct Pattern {
    left: usize,
    at: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left).min(64 << 10);
        for b in &mut buf[..n] {
            *b = (self.at % 251) as u8;
            self.at += 1;
        }
        self.left -= n;
        Ok(n)
    }
}

/// A raw HTTP/1.1 exchange, for what a client library hides: a request whose chunked body a
/// thread of its own writes (from `body`, up to `limit` bytes, then the last chunk unless
/// `finish` is false) while the caller reads the response head (status, headers).
fn raw_post(
    d: &Daemon,
    path: &str,
    token: &str,
    mut body: impl Read + Send + 'static,
    finish: bool,
) -> (BufReader<TcpStream>, u16, Vec<(String, String)>) {
    let addr = d.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).expect("head");
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let sent = writer
                .write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|()| writer.write_all(&buf[..n]))
                .and_then(|()| writer.write_all(b"\r\n"));
            if sent.is_err() {
                return;
            }
        }
        if finish {
            let _ = writer.write_all(b"0\r\n\r\n");
        }
    });
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status = status_of(&line);
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    (reader, status, headers)
}

/// Reads a chunked body, handing each piece to `each`; `Err` if it is cut.
fn read_chunked(
    reader: &mut BufReader<TcpStream>,
    mut each: impl FnMut(&[u8]),
) -> Result<(), String> {
    let mut line = String::new();
    let mut buf = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(line.trim_end(), 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        if size == 0 {
            return Ok(());
        }
        buf.resize(size + 2, 0);
        reader.read_exact(&mut buf).map_err(|e| e.to_string())?;
        each(&buf[..size]);
    }
}

/// The RSS of the worker process serving tenant 0, as the admin view shows it.
fn worker_rss(d: &Daemon) -> Option<u64> {
    let admin = d.admin();
    admin["workers"]
        .as_array()?
        .iter()
        .find(|w| w["tenants"] == serde_json::json!(["t0"]))
        .and_then(|w| w["rssBytes"].as_u64())
}

#[test]
fn a_100_mib_upload_is_echoed_chunk_by_chunk_with_the_worker_memory_flat() {
    let _serial = serial();
    let d = Daemon::start("echo100", 1, 1, ROOMY);
    let t = tenant_token(0);
    let id = load_js(
        &d,
        &t,
        "export default { fetch(req) { return new Response(req.body, { headers: { 'x-echo': '1' } }); } };",
    );
    echoes_100_mib_with_memory_flat(&d, &id, &t, 1);
}

/// The same through RPC both ways: the caller hands its upload to another worker as an RPC
/// argument and answers with the stream that worker returns, each crossing in a pipe
/// (`api/rpc_pipes.rs`), chunk by chunk, both isolates in the one worker process.
#[test]
fn a_100_mib_upload_crosses_rpc_and_back_with_the_worker_memory_flat() {
    let _serial = serial();
    let d = Daemon::start("echo100rpc", 1, 1, ROOMY);
    let t = tenant_token(0);
    let callee = load_js(
        &d,
        &t,
        "import { WorkerEntrypoint } from 'cloudflare:workers';
         export default class extends WorkerEntrypoint { echo(stream) { return stream; } };",
    );
    let caller = load_code(
        &d,
        &t,
        &serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": "export default { async fetch(req, env) { return new Response(await env.S.echo(req.body), { headers: { 'x-echo': '1' } }); } };" },
            "limits": { "cpuMs": 20000, "wallMs": 120000 },
            "env": { "S": { "binding": "service", "worker": callee } },
        }),
    );
    // Two isolates hold chunks on their way (each its own heap, collected as it grows): 32 MiB
    // each, where a body held whole in either would be 100 MiB (measured: 35-39 MiB for 50 and
    // for 100 MiB).
    echoes_100_mib_with_memory_flat(&d, &caller, &t, 2);
}

/// Posts 100 MiB to worker `id`, which must answer them back (header `x-echo: 1`), and checks
/// every byte came back in order while the worker process's RSS grew at most 32 MiB for each of
/// the `isolates` the body crosses.
fn echoes_100_mib_with_memory_flat(d: &Daemon, id: &str, t: &str, isolates: u64) {
    // Warm: the isolate exists, so what grows later is the body's doing.
    let small = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(t)
        .body("warm")
        .send()
        .expect("warm");
    assert_eq!(small.text().expect("text"), "warm");
    let before = worker_rss(d).expect("the worker's RSS");

    let total = 100usize << 20;
    let sampler = {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let base = d.base.clone();
        let flag = std::sync::Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peak = 0u64;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let admin: serde_json::Value = client()
                    .get(format!("{base}/v1/admin/workers"))
                    .bearer_auth(OPERATOR)
                    .send()
                    .and_then(|r| r.json())
                    .unwrap_or_default();
                if let Some(rss) = admin["workers"].as_array().and_then(|ws| {
                    ws.iter()
                        .find(|w| w["tenants"] == serde_json::json!(["t0"]))
                        .and_then(|w| w["rssBytes"].as_u64())
                }) {
                    peak = peak.max(rss);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        (stop, handle)
    };
    let (mut reader, status, headers) = raw_post(
        d,
        &format!("/v1/workers/{id}/fetch/"),
        t,
        Pattern { left: total, at: 0 },
        true,
    );
    assert_eq!(status, 200);
    assert!(
        headers.contains(&("x-echo".into(), "1".into())),
        "{headers:?}"
    );
    let (mut got, mut mismatch) = (0usize, None);
    read_chunked(&mut reader, |piece| {
        for (i, b) in piece.iter().enumerate() {
            if mismatch.is_none() && *b != ((got + i) as u64 % 251) as u8 {
                mismatch = Some(got + i);
            }
        }
        got += piece.len();
    })
    .expect("the echo streams back whole");
    sampler.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.1.join().expect("sampler");
    assert_eq!(got, total, "every byte came back");
    assert_eq!(mismatch, None, "in order, unchanged");
    let growth = peak.saturating_sub(before);
    assert!(
        growth <= isolates * (32 << 20),
        "the worker's RSS grew {} MiB (from {} MiB) while echoing 100 MiB",
        growth >> 20,
        before >> 20
    );
}

/// An upload the test feeds piece by piece: reading it waits for the next piece.
struct Fed(std::sync::mpsc::Receiver<Vec<u8>>);

impl Read for Fed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.recv() {
            Ok(piece) => {
                let n = piece.len().min(buf.len());
                buf[..n].copy_from_slice(&piece[..n]);
                Ok(n)
            }
            Err(_) => Ok(0),
        }
    }
}

/// One chunk of a chunked body.
#[test]
fn a_streamed_response_reaches_the_client_while_its_handler_still_runs() {
    let _serial = serial();
    let d = Daemon::start("sse", 1, 1, ROOMY);
    let t = tenant_token(0);
    // One event per piece of the upload: the client sends its second piece only after it has
    // read the first event, so the handler cannot have finished when that event arrives.
    let id = load_js(
        &d,
        &t,
        "export default { fetch(req) {
           const reader = req.body.getReader();
           const enc = new TextEncoder(), dec = new TextDecoder();
           const body = new ReadableStream({ async pull(c) {
             const { value, done } = await reader.read();
             if (done) { c.enqueue(enc.encode('event: end\\n\\n')); c.close(); return; }
             c.enqueue(enc.encode('data: ' + dec.decode(value) + '\\n\\n'));
           } });
           return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
         } };",
    );
    let (feed, pieces) = std::sync::mpsc::channel();
    feed.send(b"one".to_vec()).expect("feed");
    let (mut reader, status, headers) = raw_post(
        &d,
        &format!("/v1/workers/{id}/fetch/"),
        &t,
        Fed(pieces),
        true,
    );
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-type".into(), "text/event-stream".into())));
    assert_eq!(next_chunk(&mut reader), b"data: one\n\n");
    feed.send(b"two".to_vec()).expect("feed");
    assert_eq!(next_chunk(&mut reader), b"data: two\n\n");
    drop(feed); // the upload ends
    assert_eq!(next_chunk(&mut reader), b"event: end\n\n");
    assert_eq!(next_chunk(&mut reader), b"", "the body ends cleanly");
}

#[test]
fn a_response_of_large_chunks_reaches_a_slow_client_whole_and_in_order() {
    let _serial = serial();
    let d = Daemon::start("large-chunks", 1, 1, ROOMY);
    let t = tenant_token(0);
    // 48 chunks of 300 KiB, each a run of the byte pattern: several writes are in flight at once
    // and, the client not reading yet, wait for room in its queue; they must take it in order.
    let id = load_js(
        &d,
        &t,
        "export default { fetch() {
           const size = 300 << 10; let i = 0, at = 0;
           return new Response(new ReadableStream({ pull(c) {
             if (i++ === 48) { c.close(); return; }
             const chunk = new Uint8Array(size);
             for (let k = 0; k < size; k++) chunk[k] = (at + k) % 251;
             at += size; c.enqueue(chunk);
           } }));
         } };",
    );
    let mut response = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("the response head");
    assert_eq!(response.status(), 200);
    std::thread::sleep(Duration::from_millis(500)); // the writes queue up meanwhile
    let mut body = Vec::new();
    response.read_to_end(&mut body).expect("the body");
    assert_eq!(body.len(), 48 * (300 << 10), "every byte came");
    let first_wrong = body
        .iter()
        .enumerate()
        .position(|(i, b)| *b != (i % 251) as u8);
    assert_eq!(first_wrong, None, "in order, unchanged");
}

#[test]
fn a_client_that_waits_for_100_continue_gets_it_before_the_response_head() {
    let _serial = serial();
    let d = Daemon::start("continue", 1, 1, ROOMY);
    let t = tenant_token(0);
    // The handler answers at once and reads its upload only later (after 300 ms): the response
    // head leaves first, so a `100 Continue` sent only at the first read would come too late
    // for a client that waits for it (curl waits a second, then sends the body anyway).
    let id = load_js(
        &d,
        &t,
        "export default { fetch(req) {
           return new Response(new ReadableStream({ async pull(c) {
             await new Promise((r) => setTimeout(r, 300));
             let n = 0;
             for await (const piece of req.body) n += piece.length;
             c.enqueue(new TextEncoder().encode(String(n))); c.close();
           } }));
         } };",
    );
    let addr = d.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let length = 2 << 20; // streamed (past the 1 MiB a request carries inline)
    let head = format!(
        "POST /v1/workers/{id}/fetch/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\n\
         Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).expect("head");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("the first answer");
    assert_eq!(
        line.trim_end(),
        "HTTP/1.1 100 Continue",
        "before any body was sent"
    );
    line.clear();
    reader
        .read_line(&mut line)
        .expect("the blank line after it");
    assert_eq!(line, "\r\n");
    writer.write_all(&vec![b'x'; length]).expect("the body");
    line.clear();
    reader.read_line(&mut line).expect("status line");
    assert_eq!(status_of(&line), 200, "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        if line.trim_end().is_empty() {
            break;
        }
    }
    let mut body = Vec::new();
    read_chunked(&mut reader, |piece| body.extend_from_slice(piece)).expect("the body");
    assert_eq!(body, length.to_string().into_bytes());
}

#[test]
fn a_handler_answers_before_reading_its_upload_and_reads_it_chunk_by_chunk() {
    let _serial = serial();
    let d = Daemon::start("upload", 1, 1, ROOMY);
    let t = tenant_token(0);
    let id = load_js(
        &d,
        &t,
        "export default { async fetch(req) {
           if (new URL(req.url).search === '?ignore') return new Response('early');
           let chunks = 0, bytes = 0;
           for await (const chunk of req.body) { chunks++; bytes += chunk.length; }
           return Response.json({ chunks, bytes });
         } };",
    );
    let counted: serde_json::Value = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .body(reqwest::blocking::Body::new(Pattern {
            left: 8 << 20,
            at: 0,
        }))
        .send()
        .expect("upload")
        .json()
        .expect("json");
    assert_eq!(counted["bytes"], 8 << 20);
    assert!(
        counted["chunks"].as_u64().unwrap_or(0) > 8,
        "read in many chunks: {counted}"
    );
    // The answer comes while the upload is still under way: the client has sent 64 KiB of
    // it and waits for the response before sending more.
    let (mut reader, status, headers) = raw_post(
        &d,
        &format!("/v1/workers/{id}/fetch/?ignore"),
        &t,
        Pattern {
            left: 64 << 10,
            at: 0,
        },
        false,
    );
    assert_eq!(status, 200);
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .expect("a known length");
    let mut early = vec![0u8; length];
    reader.read_exact(&mut early).expect("the answer");
    assert_eq!(early, b"early");
}

#[test]
fn a_body_whose_stream_fails_is_cut_not_passed_off_as_complete() {
    let _serial = serial();
    let d = Daemon::start("cut", 1, 1, ROOMY);
    let t = tenant_token(0);
    let id = load_js(
        &d,
        &t,
        "export default { fetch() {
           let n = 0;
           const body = new ReadableStream({ pull(c) {
             if (n++ < 3) c.enqueue(new TextEncoder().encode('chunk ' + n + ';'));
             else c.error(new Error('the source broke'));
           } });
           return new Response(body);
         } };",
    );
    // The chunks and the error may reach the HTTP layer before it has sent the head: then the
    // connection is cut before the head, else after it; never a complete response.
    match client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
    {
        Err(e) => assert!(e.is_request(), "{e:?}"),
        Ok(response) => {
            assert_eq!(response.status().as_u16(), 200);
            let read = response.bytes();
            assert!(
                read.is_err(),
                "the client must see a broken body, got {read:?}"
            );
        }
    }
}

#[test]
fn a_body_whose_stream_can_never_go_on_is_cut_not_passed_off_as_complete() {
    // Nothing can wake the stream's pull (no timer, no host call): the isolate ends the request
    // as never settling, after its head has left; the client must not see a complete body.
    let _serial = serial();
    let d = Daemon::start("stuck", 1, 1, ROOMY);
    let t = tenant_token(0);
    for chunks in [0, 2] {
        let id = load_js(
            &d,
            &t,
            &"export default { fetch() {
           let n = 0;
           const body = new ReadableStream({ pull(c) {
             if (n++ < NCHUNKS) c.enqueue(new TextEncoder().encode('chunk ' + n + ';'));
             else return new Promise(() => {});
           } });
           return new Response(body);
         } };"
                .replace("NCHUNKS", &chunks.to_string()),
        );
        // The head may or may not have left before the cut (with no chunk, the cut comes with
        // the answer); either way the client must see a broken response, never a complete one.
        let read = client()
            .get(format!("{}/v1/workers/{id}/fetch/", d.base))
            .bearer_auth(&t)
            .send()
            .and_then(|response| {
                assert_eq!(response.status().as_u16(), 200);
                response.bytes()
            });
        assert!(
            read.is_err(),
            "{chunks} chunks: the client must see a broken response, got {read:?}"
        );
    }
}

#[test]
fn a_body_that_fails_at_once_is_a_typed_error_not_an_empty_reply() {
    // The stream errors in start(), in its first pull, or gives a chunk that is not bytes: the
    // head has not left, so the client gets the JSON error of a script that threw (before, the
    // connection closed with no answer at all and the request was counted as served).
    let _serial = serial();
    let d = Daemon::start("fails-at-once", 1, 1, ROOMY);
    let t = tenant_token(0);
    for (stream, says) in [
        (
            "{ start(c) { c.error(new TypeError('broken at once')); } }",
            "broken at once",
        ),
        (
            "{ pull() { return Promise.reject(new RangeError('first pull failed')); } }",
            "first pull failed",
        ),
        ("{ start(c) { c.enqueue('not bytes'); } }", ""),
    ] {
        let id = load_js(
            &d,
            &t,
            &format!("export default {{ fetch() {{ return new Response(new ReadableStream({stream})); }} }};"),
        );
        let r = client()
            .get(format!("{}/v1/workers/{id}/fetch/", d.base))
            .bearer_auth(&t)
            .send()
            .unwrap_or_else(|e| panic!("{stream}: no answer: {e}"));
        let status = r.status().as_u16();
        let body: serde_json::Value = r
            .json()
            .unwrap_or_else(|e| panic!("{stream}: not the JSON error: {e}"));
        assert_eq!(
            (status, &body["error"]["code"]),
            (422, &serde_json::json!("script_threw")),
            "{stream}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(says)),
            "{stream}: {body}"
        );
    }
    // A stream whose first chunk takes real time still answers its head at once.
    let id = load_js(
        &d,
        &t,
        "export default { fetch() { return new Response(new ReadableStream({ async pull(c) { await new Promise((r) => setTimeout(r, 300)); c.enqueue(new Uint8Array([104, 105])); c.close(); } })); } };",
    );
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("answered");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().expect("body"), "hi");
}

#[test]
fn a_whole_body_larger_than_an_answer_carries_reaches_the_client() {
    // `new Response(new Uint8Array(17e6))`: before, a 502 `invalid_response` ("at most
    // 16777216"); now it streams.
    let _serial = serial();
    let d = Daemon::start("big-whole", 1, 1, ROOMY);
    let t = tenant_token(0);
    let id = load_js(
        &d,
        &t,
        "export default { fetch() { const b = new Uint8Array(17000000); b[16999999] = 7; return new Response(b); } };",
    );
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("answered");
    assert_eq!(r.status().as_u16(), 200);
    let body = r.bytes().expect("the whole body");
    assert_eq!((body.len(), body[16_999_999]), (17_000_000, 7));
}

#[test]
fn wait_until_work_calls_the_host_after_the_response() {
    let _serial = serial();
    let d = Daemon::start_with(
        "late",
        &["normal"],
        1,
        ROOMY,
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let t = tenant_token(0);
    let id = load_js(
        &d,
        &t,
        "let seen = 'nothing yet';
         export default { fetch(req, env, ctx) {
           if (req.method === 'GET') return new Response(seen);
           const ask = __stockadeTestHostCall('test.echo', new TextEncoder().encode('{\"sleepMs\": 200, \"echo\": \"late answer\"}'));
           ctx.waitUntil(ask.then((b) => { seen = new TextDecoder().decode(b); }, (e) => { seen = 'refused: ' + e.message; }));
           return new Response('accepted');
         } };",
    );
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("post");
    assert_eq!(r.text().expect("text"), "accepted");
    let mut seen = String::new();
    for _ in 0..50 {
        seen = fetch(&d, &t, &id).1;
        if seen != "nothing yet" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(seen, "\"late answer\"");
}

#[test]
fn the_apps_own_authorization_reaches_it_when_the_token_travels_apart() {
    let _serial = serial();
    let d = Daemon::start("authz", 1, 1, "");
    let t = tenant_token(0);
    let id = load_js(
        &d,
        &t,
        "export default { fetch(req) { return Response.json({ authorization: req.headers.get('authorization'), token: req.headers.get('x-stockade-token') }); } };",
    );
    let url = format!("{}/v1/workers/{id}/fetch/", d.base);
    // The token in its own header: the app's Basic credentials reach it untouched.
    let seen: serde_json::Value = client()
        .get(&url)
        .header("x-stockade-token", &t)
        .basic_auth("alice", Some("s3cret"))
        .send()
        .expect("fetch")
        .json()
        .expect("json");
    assert_eq!(seen["authorization"], "Basic YWxpY2U6czNjcmV0");
    assert_eq!(seen["token"], serde_json::Value::Null);
    // The token as a bearer: it is Stockade's, and the app never sees it.
    let seen: serde_json::Value = client()
        .get(&url)
        .bearer_auth(&t)
        .send()
        .expect("fetch")
        .json()
        .expect("json");
    assert_eq!(seen["authorization"], serde_json::Value::Null);
    // A wrong token in the header is refused, whatever Authorization says.
    let refused = client()
        .get(&url)
        .header("x-stockade-token", "not-a-token")
        .bearer_auth(&t)
        .send()
        .expect("fetch");
    assert_eq!(refused.status().as_u16(), 401);
}

#[test]
fn an_html_rewriter_streams_its_rewritten_body_chunk_by_chunk() {
    // HTMLRewriter (lol_html, with JavaScript handlers called back per element) over the
    // request's streamed body: the client sends its second piece of HTML only after it has read
    // the first piece rewritten, so the rewriter cannot have buffered the document.
    let _serial = serial();
    let d = Daemon::start("rewriter", 1, 1, ROOMY);
    let t = tenant_token(0);
    let id = load_js(
        &d,
        &t,
        "export default { fetch(req) {
           const page = new Response(req.body, { headers: { 'content-type': 'text/html' } });
           return new HTMLRewriter()
             .on('p', { element(el) { el.setAttribute('class', 'seen'); } })
             .onDocument({ end(e) { e.append('<!-- done -->', { html: true }); } })
             .transform(page);
         } };",
    );
    let (feed, pieces) = std::sync::mpsc::channel();
    feed.send(b"<p>one</p>".to_vec()).expect("feed");
    let (mut reader, status, headers) = raw_post(
        &d,
        &format!("/v1/workers/{id}/fetch/"),
        &t,
        Fed(pieces),
        true,
    );
    assert_eq!(status, 200);
    assert!(headers.contains(&("content-type".into(), "text/html".into())));
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("one</p>") {
        let chunk = next_chunk(&mut reader);
        assert!(!chunk.is_empty(), "the body ended early: {got:?}");
        got.extend(chunk);
    }
    feed.send(b"<p>two</p>".to_vec()).expect("feed");
    drop(feed); // the upload ends
    loop {
        let chunk = next_chunk(&mut reader);
        if chunk.is_empty() {
            break;
        }
        got.extend(chunk);
    }
    assert_eq!(
        String::from_utf8_lossy(&got),
        "<p class=\"seen\">one</p><p class=\"seen\">two</p><!-- done -->"
    );
}
