//! The HTTP server's own limits and the operator's view, against a real daemon: slow
//! unauthenticated connections under a small descriptor limit, request ids on every response,
//! `/metrics` (operator only, or on its own address), the probes (`/healthz`, `/readyz`), JSON
//! logs carrying the request id, bodies refused before they are read (no token, too large), and
//! the JSON error envelope for requests the router itself refuses.
mod common;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn tenant(i: usize) -> String {
    format!(
        "[[tenants]]\nid = \"t{i}\"\ntoken = \"{}\"\n",
        tenant_token(i)
    )
}

fn addr(d: &Daemon) -> String {
    d.base.trim_start_matches("http://").to_string()
}

#[test]
fn slow_unauthenticated_connections_neither_exhaust_descriptors_nor_starve_a_tenant() {
    // 128 descriptors, which 200 connections would exhaust; heads must arrive within 1 s.
    let d = Daemon::start_limited(
        "http-slow",
        1,
        &format!("[http]\nheader_read_timeout_ms = 1000\n{}", tenant(0)),
        128,
    );
    let slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = TcpStream::connect(addr(&d)).expect("connect");
            // Half a request head, never finished.
            s.write_all(b"POST /v1/run HTTP/1.1\r\nHost: x\r\nContent-Le")
                .expect("write");
            s
        })
        .collect();
    // A tenant's requests are still answered, each within a generous bound.
    let patient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    for i in 0..3 {
        let start = Instant::now();
        let r = patient
            .post(format!("{}/v1/run", d.base))
            .bearer_auth(tenant_token(0))
            .json(&serde_json::json!({ "code": format!("export default () => {i}") }))
            .send()
            .expect("the tenant's request starved");
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.json::<Value>().expect("json")["result"], i);
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{:?}",
            start.elapsed()
        );
    }
    // Every half-sent connection is closed by the daemon (EOF or reset), not left open.
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        let mut rest = Vec::new();
        // Until EOF (perhaps after a 408), or a reset; a timeout means it stayed open.
        if let Err(e) = s.read_to_end(&mut rest) {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "a slow connection stayed open: {e}"
            );
        }
    }
    // A kept-alive connection idle after its answer is closed on the same clock.
    let mut kept = TcpStream::connect(addr(&d)).expect("connect");
    kept.write_all(
        format!(
            "GET /nowhere HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            tenant_token(0)
        )
        .as_bytes(),
    )
    .expect("write");
    kept.set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    let start = Instant::now();
    let mut answer = Vec::new();
    kept.read_to_end(&mut answer)
        .expect("closed after its idle wait");
    assert!(answer.starts_with(b"HTTP/1.1 404"), "{answer:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let metrics = d.metrics();
    let timed_out = metrics
        .lines()
        .find_map(|l| l.strip_prefix("stockade_http_connections_timed_out_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("timed-out counter");
    assert!(timed_out >= 200.0, "{metrics}");
}

fn request_id(r: &reqwest::blocking::Response) -> String {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_string()
}

/// A daemon with one process, tenant `t0`, and `/metrics` on a listener of its own.
fn with_metrics_listener(tag: &str) -> Daemon {
    Daemon::start_raw(
        tag,
        1,
        &format!("metrics_listen = \"127.0.0.1:0\"\n{}", tenant(0)),
        &[],
    )
}

#[test]
fn every_response_has_a_request_id_and_metrics_are_the_operators() {
    let d = with_metrics_listener("http-ids");
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        "export default { fetch() { return new Response('hi', { status: 418 }); } };",
    );
    let c = client();
    let mut seen = std::collections::HashSet::new();
    for r in [
        c.post(format!("{}/v1/run", d.base)).send(), // 401
        c.get(format!("{}/nowhere", d.base)).bearer_auth(&t).send(), // 404
        c.post(format!("{}/v1/run", d.base))
            .bearer_auth(&t)
            .json(&serde_json::json!({"code": "export default () => 1"}))
            .send(),
        c.get(format!("{}/v1/workers/{id}/fetch/", d.base))
            .bearer_auth(&t)
            .send(), // the worker's own 418
    ] {
        let r = r.expect("response");
        let id = request_id(&r);
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert!(seen.insert(id), "request ids repeat");
    }
    // A plausible id of the client's is kept.
    let r = c
        .get(format!("{}/v1/workers/{id}", d.base))
        .bearer_auth(&t)
        .header("x-request-id", "client-id.42")
        .send()
        .expect("get");
    assert_eq!(request_id(&r), "client-id.42");

    // /metrics: the operator's only.
    let get = |token: Option<&str>| {
        let mut req = c.get(format!("{}/metrics", d.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().expect("metrics")
    };
    assert_eq!(get(None).status().as_u16(), 401);
    assert_eq!(get(Some(&t)).status().as_u16(), 403);
    let r = get(Some(OPERATOR));
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .is_ok_and(|v| v.starts_with("text/plain; version=0.0.4")));
    let text = r.text().expect("text");
    for series in [
        "stockade_requests_total{tenant=\"t0\",route=\"run\",outcome=\"ok\"} 1",
        "stockade_requests_total{tenant=\"t0\",route=\"fetch\",outcome=\"ok\"} 1",
        "stockade_requests_total{tenant=\"-\",route=\"run\",outcome=\"unauthorized\"} 1",
        "stockade_request_duration_seconds_count{tenant=\"t0\",route=\"run\"} 1",
        "stockade_processes{tier=\"standard\"} 1",
        "stockade_tenants{tier=\"standard\"} 1",
        "stockade_isolates{tier=\"standard\"} 1",
        "stockade_quarantines_total 0",
        "stockade_worker_deaths_total{cause=\"seccomp\"} 0",
        "# TYPE stockade_request_duration_seconds histogram",
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
    // MPK as the workers reported it at their handshake (this host may or may not have PKU).
    let admin = d.admin();
    let reported_mpk = admin["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter(|w| w["ready"] == true && w["reported"]["mpk"] == true)
        .count();
    assert!(
        text.contains(&format!(
            "stockade_mpk_processes{{mpk=\"on\"}} {reported_mpk}\n"
        )),
        "{text}"
    );
    // The same page without a token on metrics_listen, and nothing else there.
    let metrics = d.metrics_base.as_deref().expect("the metrics address");
    let r = c
        .get(format!("{metrics}/metrics"))
        .send()
        .expect("metrics_listen");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().expect("text").contains("stockade_processes"));
    let r = c
        .get(format!("{metrics}/v1/admin/workers"))
        .send()
        .expect("other path");
    assert_eq!(r.status().as_u16(), 404);
    let r = c
        .post(format!("{metrics}/metrics"))
        .send()
        .expect("other method");
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        r.json::<Value>().expect("json")["error"]["code"],
        "method_not_allowed"
    );
}

#[test]
fn logs_are_json_lines_carrying_the_request_id_when_asked() {
    let d = Daemon::start_raw(
        "http-json-logs",
        1,
        &tenant(0),
        &[
            ("STOCKADE_LOG_FORMAT", "json"),
            ("STOCKADE_LOG", "stockade=debug"),
        ],
    );
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .header("x-request-id", "trace-me-42")
        .json(&serde_json::json!({"code": "export default () => 1"}))
        .send()
        .expect("run");
    assert_eq!(r.status().as_u16(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stderr = d.stderr();
        let lines: Vec<Value> = stderr
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(!lines.is_empty(), "{stderr}");
        let traced = lines
            .iter()
            .find(|l| l["span"]["request_id"] == "trace-me-42");
        if let Some(line) = traced {
            assert_eq!(line["span"]["tenant"], "t0", "{line}");
            assert_eq!(line["span"]["route"], "run", "{line}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no line with the request id:\n{stderr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn probes_answer_without_a_token_and_readiness_turns_503_while_draining() {
    let d = with_metrics_listener("http-probes");
    let metrics = d.metrics_base.clone().expect("the metrics address");
    let c = client();
    let probe = |base: &str, path: &str| {
        let r = c.get(format!("{base}{path}")).send().expect("probe");
        (r.status().as_u16(), r.text().expect("text"))
    };
    // Ready once the warm worker process has answered its handshake (503 "no worker ready"
    // until then), on both listeners.
    let deadline = Instant::now() + Duration::from_secs(60);
    for base in [d.base.as_str(), metrics.as_str()] {
        assert_eq!(probe(base, "/healthz"), (200, "ok\n".to_string()));
        loop {
            match probe(base, "/readyz") {
                (200, text) => break assert_eq!(text, "ready\n"),
                (503, text) => assert_eq!(text, "no worker ready\n"),
                other => panic!("{other:?}"),
            }
            assert!(Instant::now() < deadline, "never ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let gauges = |base: &str| {
        let page = c
            .get(format!("{base}/metrics"))
            .send()
            .expect("metrics")
            .text()
            .expect("text");
        let value = |name: &str| {
            page.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .map(str::to_string)
        };
        (value("stockade_ready"), value("stockade_draining"))
    };
    assert_eq!(
        gauges(&metrics),
        (Some("1".to_string()), Some("0".to_string()))
    );
    // A response still streaming holds the drain open: its first chunk is out, the rest comes
    // once the test has seen the readiness change.
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        "export default { fetch() { const enc = new TextEncoder(); let tick; \
         const body = new ReadableStream({ start(c) { c.enqueue(enc.encode('first,')); \
         tick = setTimeout(() => { c.enqueue(enc.encode('last')); c.close(); }, 8000); } }); \
         return new Response(body); } };",
    );
    let mut open = c
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("the streamed response");
    let mut first = [0u8; 6];
    open.read_exact(&mut first).expect("the first chunk");
    assert_eq!(&first, b"first,");
    // SAFETY: kill(2) on the daemon this test started.
    assert_eq!(unsafe { libc::kill(d.pid() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = probe(&metrics, "/readyz");
        if status == 503 {
            assert_eq!(text, "draining\n");
            break;
        }
        assert!(Instant::now() < deadline, "still {status} {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The API's listener closes as the drain begins: a new connection is refused (before, it
    // waited in the backlog, unanswered, until the drain ended, here when the open response
    // ends 8 s after it began), while the open response goes on.
    let deadline = Instant::now() + Duration::from_secs(6);
    while std::net::TcpStream::connect(addr(&d)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "new connections to a draining daemon were still taken"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Liveness is not readiness: the daemon still answers, and its gauges say the same.
    assert_eq!(probe(&metrics, "/healthz"), (200, "ok\n".to_string()));
    assert_eq!(
        gauges(&metrics),
        (Some("0".to_string()), Some("1".to_string()))
    );
    let mut rest = String::new();
    open.read_to_string(&mut rest).expect("the rest");
    assert_eq!(rest, "last");
}

/// Sends `head` and then the whole `body` before reading anything (as Python's `urllib` and
/// many other clients do), then reads the response to its end: `Err` if the connection broke.
fn send_all_then_read(d: &Daemon, head: &str, body: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect(addr(d))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn a_response_given_before_the_upload_was_read_reaches_a_client_that_sends_it_all_first() {
    // The handler answers without reading its 8 MiB upload, and the API refuses an oversized
    // body with 413 before reading it. Closing such a connection with the upload still arriving
    // made the kernel reset it: a client that writes its whole body before reading saw a broken
    // pipe or a reset instead of the response. The server now closes its side and reads what
    // still comes.
    let d = Daemon::start_raw(
        "linger",
        1,
        &format!(
            "[limits]\nmax_fetch_body_bytes = {}\n{}",
            16 << 20,
            tenant(0)
        ),
        &[],
    );
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        "export default { fetch() { return new Response('ignored'); } };",
    );
    let body = vec![b'x'; 8 << 20];
    let head = format!(
        "POST /v1/workers/{id}/fetch/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    for round in 0..3 {
        let response = send_all_then_read(&d, &head, &body)
            .unwrap_or_else(|e| panic!("round {round}: the connection broke: {e}"));
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ignored"), "{response}");
    }
    let big = vec![b'x'; 24 << 20];
    let head = format!(
        "POST /v1/workers/{id}/fetch/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
         Content-Length: {}\r\n\r\n",
        big.len()
    );
    let response = send_all_then_read(&d, &head, &big)
        .unwrap_or_else(|e| panic!("413: the connection broke: {e}"));
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("too_large"), "{response}");
}

/// Sends `head` alone (the body it declares never follows) and reads what comes back until the
/// daemon closes the connection or `wait` passes: everything read by then.
fn head_only(d: &Daemon, head: &str, wait: Duration) -> String {
    let mut s = TcpStream::connect(addr(d)).expect("connect");
    s.write_all(head.as_bytes()).expect("write");
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_body_is_not_read_before_its_sender_is_authenticated_nor_when_declared_too_large() {
    // Unauthenticated clients each sending 120 MiB bodies used to be read whole (to the route's
    // limit) before the token was looked at, and one asking `Expect: 100-continue` with 4 GB was
    // told to go ahead. Here the body never comes: an answer at all shows it was not waited for.
    let d = Daemon::start_raw("http-unauth-body", 1, &tenant(0), &[]);
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        "export default { fetch() { return new Response('ok'); } };",
    );
    let routes = [
        "POST /v1/workers".to_string(),
        "POST /v1/types".into(),
        "POST /mcp".into(),
        "POST /v1/run".into(),
        "PUT /v1/tenants/t0/risk".into(),
        "PUT /v1/tenants/t0/secrets/k".into(),
        "PUT /v1/tenants/t0/capabilities/c".into(),
        "PUT /v1/workspaces/w/files/a.txt".into(),
        "POST /v1/workspaces/w/search".into(),
        format!("POST /v1/workers/{id}/fetch/"),
        "POST /nowhere".into(),
    ];
    let huge = [120u64 << 20, 4 << 30];
    for route in &routes {
        for (auth, name) in [
            ("", "no token"),
            (
                "Authorization: Bearer not-a-token-0123456789\r\n",
                "a wrong token",
            ),
            (
                "X-Stockade-Token: not-a-token-0123456789\r\n",
                "a wrong data-plane token",
            ),
        ] {
            for (len, expect) in huge.iter().zip(["", "Expect: 100-continue\r\n"]) {
                let head = format!(
                    "{route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                     {auth}{expect}Content-Length: {len}\r\n\r\n"
                );
                let answer = head_only(&d, &head, Duration::from_secs(5));
                assert!(
                    answer.starts_with("HTTP/1.1 401"),
                    "{route}, {name}, {len} bytes {expect}: {answer:?}"
                );
                assert!(!answer.contains("100 Continue"), "{route}: {answer}");
                assert!(answer.contains("\"unauthorized\""), "{route}: {answer}");
            }
        }
    }
    // Authenticated, a body declared over the route's limit is refused at once, unread.
    for route in [
        "POST /v1/workers",
        "POST /v1/run",
        "PUT /v1/tenants/t0/risk",
    ] {
        let head = format!(
            "{route} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
             Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            4u64 << 30
        );
        let answer = head_only(&d, &head, Duration::from_secs(5));
        assert!(answer.starts_with("HTTP/1.1 413"), "{route}: {answer:?}");
        assert!(!answer.contains("100 Continue"), "{route}: {answer}");
        assert!(answer.contains("\"too_large\""), "{route}: {answer}");
    }
    // A tenant's body within the limit is asked for (`100 Continue`) and served.
    let body = br#"{"code": "export default () => 7"}"#;
    let mut s = TcpStream::connect(addr(&d)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(
        format!(
            "POST /v1/run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\
             Content-Type: application/json\r\nExpect: 100-continue\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .expect("head");
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).expect("100 Continue");
    assert!(interim.starts_with(b"HTTP/1.1 100 Continue"), "{interim:?}");
    s.write_all(body).expect("body");
    let mut rest = String::new();
    let _ = s.read_to_string(&mut rest);
    assert!(
        rest.contains("200 OK") && rest.contains("\"result\":7"),
        "{rest}"
    );
}

#[test]
fn requests_the_router_refuses_get_the_json_envelope_and_count_as_errors() {
    let d = Daemon::start_raw("http-envelope", 1, &tenant(0), &[]);
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        "export default { fetch(req) { return new Response(new URL(req.url).pathname); } };",
    );
    let c = client();
    let cases = [
        (
            "GET",
            format!("/v1/workers/{id}/logs?limit=-1"),
            400,
            "bad_request",
        ),
        (
            "GET",
            format!("/v1/workers/{id}/logs?limit=abc"),
            400,
            "bad_request",
        ),
        ("GET", "/v1/workers/%FF".to_string(), 400, "bad_request"),
        ("DELETE", "/v1/workers/%FF".to_string(), 400, "bad_request"),
        (
            "GET",
            "/v1/tenants/%FF/risk".to_string(),
            400,
            "bad_request",
        ),
        (
            "GET",
            "/v1/workspaces/%FF/files".to_string(),
            400,
            "bad_request",
        ),
        (
            "GET",
            "/v1/workspaces/w/files/%FF".to_string(),
            400,
            "bad_request",
        ),
        (
            "PATCH",
            "/v1/workers".to_string(),
            405,
            "method_not_allowed",
        ),
        ("GET", "/v1/run".to_string(), 405, "method_not_allowed"),
        ("PUT", "/metrics".to_string(), 405, "method_not_allowed"),
        ("GET", "/mcp".to_string(), 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in &cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = c
            .request(method.clone(), format!("{}{path}", d.base))
            .bearer_auth(&t)
            .send()
            .expect("send");
        assert_eq!(r.status().as_u16(), *status, "{method} {path}");
        let kind = r.headers().get("content-type").cloned();
        let text = r.text().expect("text");
        assert!(
            kind.is_some_and(|k| k.as_bytes().starts_with(b"application/json")),
            "{method} {path}: {text}"
        );
        let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
        assert_eq!(body["error"]["code"], *code, "{method} {path}: {body}");
    }
    // The token is looked at before the query: no token, a 401 whatever the query says.
    let r = c
        .get(format!("{}/v1/workers/{id}/logs?limit=-1", d.base))
        .send()
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let r = c
        .get(format!("{}/v1/workers/{id}/logs?limit=5", d.base))
        .bearer_auth(&t)
        .send()
        .expect("logs");
    assert_eq!(r.status().as_u16(), 200);
    // The worker's path may hold any bytes, percent-encoded: it reaches the worker as sent.
    let r = c
        .get(format!("{}/v1/workers/{id}/fetch/%FF/a%2Fb", d.base))
        .bearer_auth(&t)
        .send()
        .expect("fetch");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().expect("text"), "/%FF/a%2Fb");
    // Counted under their routes as the errors they are, never as `ok`.
    let metrics = d.metrics();
    for series in [
        "{tenant=\"t0\",route=\"logs\",outcome=\"bad_request\"} 2",
        "{tenant=\"t0\",route=\"logs\",outcome=\"ok\"} 1",
        "{tenant=\"t0\",route=\"logs\",outcome=\"unauthorized\"}",
        "{tenant=\"t0\",route=\"workers_get\",outcome=\"bad_request\"} 1",
        "{tenant=\"t0\",route=\"workers_delete\",outcome=\"bad_request\"} 1",
        "{tenant=\"t0\",route=\"risk\",outcome=\"bad_request\"} 1",
        "{tenant=\"t0\",route=\"workspaces\",outcome=\"bad_request\"} 2",
        "{tenant=\"t0\",route=\"workers_create\",outcome=\"method_not_allowed\"} 1",
        "{tenant=\"t0\",route=\"run\",outcome=\"method_not_allowed\"} 1",
        "{tenant=\"t0\",route=\"metrics\",outcome=\"method_not_allowed\"} 1",
        "{tenant=\"t0\",route=\"mcp\",outcome=\"method_not_allowed\"} 1",
        "{tenant=\"t0\",route=\"fetch\",outcome=\"ok\"} 1",
    ] {
        let series = series.replace(
            "\"t0\",route=\"logs\",outcome=\"unauthorized\"",
            "\"-\",route=\"logs\",outcome=\"unauthorized\"",
        );
        assert!(
            metrics.contains(&format!("stockade_requests_total{series}")),
            "{series} in\n{metrics}"
        );
    }
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("stockade_requests_total"))
    {
        assert!(!line.contains("route=\"other\""), "{line}");
        for route in [
            "risk",
            "workspaces",
            "workers_get",
            "workers_delete",
            "run",
            "mcp",
        ] {
            assert!(
                !line.contains(&format!("route=\"{route}\",outcome=\"ok\"")),
                "{line}"
            );
        }
    }
}
