//! Streamed bodies end to end: real daemon, real jailed workers, real HTTP on loopback. An
//! upload read chunk by chunk and echoed with the worker's memory flat, a response whose first
//! chunk reaches the client while its handler still runs, a body cut when its stream fails,
//! `waitUntil` work calling the host after the response, and the app's own `Authorization`.
mod common;
use std::io::Read;
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
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("load");
    assert_eq!(r.status().as_u16(), 201);
    r.json::<serde_json::Value>().expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
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
    // Warm: the isolate exists, so what grows later is the body's doing.
    let small = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .body("warm")
        .send()
        .expect("warm");
    assert_eq!(small.text().expect("text"), "warm");
    let before = worker_rss(&d).expect("the worker's RSS");

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
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client")
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .body(reqwest::blocking::Body::new(Pattern { left: total, at: 0 }))
        .send()
        .expect("upload");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-echo"], "1");
    let mut reader = response;
    let mut buf = vec![0u8; 256 << 10];
    let (mut got, mut mismatch) = (0usize, None);
    loop {
        let n = reader.read(&mut buf).expect("the echo streams back");
        if n == 0 {
            break;
        }
        for (i, b) in buf[..n].iter().enumerate() {
            if mismatch.is_none() && *b != ((got + i) as u64 % 251) as u8 {
                mismatch = Some(got + i);
            }
        }
        got += n;
    }
    sampler.0.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.1.join().expect("sampler");
    assert_eq!(got, total, "every byte came back");
    assert_eq!(mismatch, None, "in order, unchanged");
    let growth = peak.saturating_sub(before);
    assert!(
        growth <= 32 << 20,
        "the worker's RSS grew {} MiB (from {} MiB) while echoing 100 MiB",
        growth >> 20,
        before >> 20
    );
}

#[test]
fn a_streamed_response_reaches_the_client_while_its_handler_still_runs() {
    let _serial = serial();
    let d = Daemon::start("sse", 1, 1, ROOMY);
    let t = tenant_token(0);
    // The stream's second event waits for a second request, which the client only sends once
    // it has read the first event: if the first were held back until the handler finished,
    // this could never complete.
    let id = load_js(
        &d,
        &t,
        "let release; const released = new Promise((r) => { release = r; });
         export default { async fetch(req) {
           if (new URL(req.url).pathname === '/release') { release(); return new Response('released'); }
           const enc = new TextEncoder();
           const body = new ReadableStream({ async start(c) {
             c.enqueue(enc.encode('data: first\\n\\n'));
             await released;
             c.enqueue(enc.encode('data: second\\n\\n'));
             c.close();
           } });
           return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
         } };",
    );
    let mut events = client()
        .get(format!("{}/v1/workers/{id}/fetch/events", d.base))
        .bearer_auth(&t)
        .send()
        .expect("events");
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut first = [0u8; 13];
    events.read_exact(&mut first).expect("the first event");
    assert_eq!(&first, b"data: first\n\n");
    let released = client()
        .get(format!("{}/v1/workers/{id}/fetch/release", d.base))
        .bearer_auth(&t)
        .send()
        .expect("release");
    assert_eq!(released.text().expect("text"), "released");
    let mut rest = String::new();
    events.read_to_string(&mut rest).expect("the rest");
    assert_eq!(rest, "data: second\n\n");
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
           if (req.headers.get('x-mode') === 'ignore') return new Response('early');
           let chunks = 0, bytes = 0;
           for await (const chunk of req.body) { chunks++; bytes += chunk.length; }
           return Response.json({ chunks, bytes });
         } };",
    );
    let upload = |mode: &str, len: usize| {
        client()
            .post(format!("{}/v1/workers/{id}/fetch/", d.base))
            .bearer_auth(&t)
            .header("x-mode", mode)
            .body(reqwest::blocking::Body::new(Pattern { left: len, at: 0 }))
            .send()
            .expect("upload")
    };
    let counted: serde_json::Value = upload("count", 8 << 20).json().expect("json");
    assert_eq!(counted["bytes"], 8 << 20);
    assert!(
        counted["chunks"].as_u64().unwrap_or(0) > 8,
        "read in many chunks: {counted}"
    );
    assert_eq!(upload("ignore", 8 << 20).text().expect("text"), "early");
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
    let response = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("fetch");
    assert_eq!(response.status().as_u16(), 200);
    let read = response.bytes();
    assert!(
        read.is_err(),
        "the client must see a broken body, got {read:?}"
    );
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
