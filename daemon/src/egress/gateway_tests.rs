//! The gateway against real HTTP servers on 127.0.0.1.

use stockade_ipc::limits::MAX_BODY_LEN;

use super::*;
use crate::config::Config;
use crate::egress::test_upstream::{Answer, Upstream};
use crate::egress::wire::encode_request;
use crate::egress::{Egress, EgressError, RuleError, SecretError};

const SECRET: &str = "s3cr3t-value-42";

fn egress(allow_private: bool, rules: &str) -> Egress {
    let allow = if allow_private {
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n"
    } else {
        ""
    };
    let text = format!(
        "{allow}[[tenants]]\nid = \"t0\"\ntoken = \"0123456789abcdef\"\n[tenants.secrets]\napi_key = \"{SECRET}\"\n{rules}"
    );
    let config: Config = toml::from_str(&text).expect("config");
    Egress::new(&config).expect("egress")
}

fn rule(host: &str, extra: &str) -> String {
    format!("[[tenants.egress]]\nhost = \"{host}\"\n{extra}\n")
}

/// Loopback upstreams allowed, and a rule for 127.0.0.1:`port` injecting `X-Api-Key`.
fn injecting(port: u16) -> Egress {
    egress(
        true,
        &rule(
            "127.0.0.1",
            &format!("ports = [{port}]\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}"),
        ),
    )
}

#[derive(Debug)]
struct Got {
    status: u16,
    head: serde_json::Value,
    body: String,
}

async fn call(
    e: &Egress,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    redirect: &str,
) -> Result<Got, String> {
    let payload = encode_request(method, url, headers, redirect, b"");
    let out = e.gateway.fetch(TenantId(0), payload).await?;
    let len = u32::from_le_bytes(out[..4].try_into().expect("prefix")) as usize;
    let head: serde_json::Value = serde_json::from_slice(&out[4..4 + len]).expect("head");
    Ok(Got {
        status: head["status"].as_u64().expect("status") as u16,
        head,
        body: String::from_utf8_lossy(&out[4 + len..]).into_owned(),
    })
}

async fn get(e: &Egress, url: &str) -> Result<Got, String> {
    call(e, "GET", url, &[], "follow").await
}

#[tokio::test]
async fn allowed_denied_and_narrowed_requests() {
    let up = Upstream::start(|_| Answer::ok(b"hello"));
    let p = up.port;
    let e = egress(
        true,
        &rule(
            "127.0.0.1",
            &format!("ports = [{p}]\nmethods = [\"GET\"]\npath_prefix = \"/v1/\""),
        ),
    );
    let got = get(&e, &format!("http://127.0.0.1:{p}/v1/x"))
        .await
        .expect("allowed");
    assert_eq!((got.status, got.body.as_str()), (200, "hello"));
    assert_eq!(got.head["redirected"], false);
    for (method, url, why) in [
        (
            "POST",
            format!("http://127.0.0.1:{p}/v1/x"),
            "method not allowed",
        ),
        (
            "GET",
            format!("http://127.0.0.1:{p}/v2/x"),
            "path not allowed",
        ),
        (
            "GET",
            format!("http://127.0.0.1:{p}/v1/../v2/x"),
            "path not allowed",
        ),
        (
            "GET",
            format!("http://127.0.0.1:{}/v1/x", p.wrapping_add(1)),
            "port not allowed",
        ),
        (
            "GET",
            format!("http://127.0.0.2:{p}/v1/x"),
            "host not allowed",
        ),
        (
            "GET",
            format!("ftp://127.0.0.1:{p}/v1/x"),
            "http and https only",
        ),
    ] {
        let err = call(&e, method, &url, &[], "follow").await.expect_err(&url);
        assert!(err.contains(why), "{method} {url}: {err}");
    }
    assert_eq!(
        up.requests().len(),
        1,
        "only the allowed request reached the upstream"
    );
    let audit = e.audit("t0", 100).expect("tenant");
    assert_eq!(audit.len(), 7);
    assert_eq!(
        (
            audit[0].verdict,
            audit[0].rule,
            audit[0].status,
            audit[0].bytes_in
        ),
        ("allowed", Some(0), Some(200), 5)
    );
    assert!(audit[1..]
        .iter()
        .all(|r| r.verdict == "denied" && r.reason.is_some()));

    let unresolvable = egress(true, &rule("*.invalid", ""));
    let err = get(&unresolvable, "http://no-such-host.invalid/")
        .await
        .expect_err("unresolvable");
    assert!(err.contains("cannot resolve no-such-host.invalid"), "{err}");

    let none = egress(true, "");
    let err = get(&none, &format!("http://127.0.0.1:{p}/"))
        .await
        .expect_err("no rules");
    assert!(err.contains("no egress rules"), "{err}");
}

#[tokio::test]
async fn injected_secrets_reach_the_upstream_and_never_come_back() {
    let up = Upstream::start(|seen| match seen.target.as_str() {
        // An upstream that puts the value it got into the next URL.
        "/leak" => Answer::redirect(
            302,
            &format!("/landed/{}", seen.header("x-api-key").unwrap_or("")),
        ),
        _ => Answer::echo(seen),
    });
    let p = up.port;
    let e = injecting(p);
    let got = call(
        &e,
        "GET",
        &format!("http://127.0.0.1:{p}/echo"),
        &[
            ("x-api-key", "mine"),
            ("accept-encoding", "gzip"),
            ("range", "bytes=0-3"),
            ("host", "evil.example"),
        ],
        "follow",
    )
    .await
    .expect("allowed");
    let seen = up.requests().pop().expect("request");
    assert_eq!(
        seen.header("x-api-key"),
        Some(SECRET),
        "the upstream gets the secret"
    );
    assert_eq!(
        seen.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-api-key"))
            .count(),
        1
    );
    assert_eq!(seen.header("accept-encoding"), Some("identity"));
    assert_eq!(
        seen.header("range"),
        None,
        "no range may cut a value in two"
    );
    assert_eq!(seen.header("host"), Some(format!("127.0.0.1:{p}").as_str()));
    assert!(
        !got.body.contains(SECRET) && got.body.contains("[redacted]"),
        "{}",
        got.body
    );
    let head = got.head.to_string();
    assert!(
        !head.contains(SECRET) && head.contains("[redacted]"),
        "{head}"
    );
    // A redirect whose location holds the value is not followed (the gateway would carry the
    // value to wherever it points), and the value is in neither the error nor the audit.
    let before = up.requests().len();
    let err = get(&e, &format!("http://127.0.0.1:{p}/leak"))
        .await
        .expect_err("not followed");
    assert!(err.contains("redirect not followed"), "{err}");
    assert_eq!(
        up.requests().len(),
        before + 1,
        "the /landed hop was not made"
    );
    let audit = format!("{:?}", e.audit("t0", 100));
    assert!(
        !audit.contains(SECRET) && !audit.contains("/landed"),
        "{audit}"
    );
    // A rule whose secret is not set fails by the secret's name.
    let e2 = egress(
        true,
        &rule(
            "127.0.0.1",
            &format!("ports = [{p}]\ninject_headers = {{ \"X-Api-Key\" = \"missing\" }}"),
        ),
    );
    let err = get(&e2, &format!("http://127.0.0.1:{p}/"))
        .await
        .expect_err("missing secret");
    assert!(
        err.contains("\"missing\"") && err.contains("not set"),
        "{err}"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_without_allow_private() {
    let up = Upstream::start(|_| Answer::ok(b"private"));
    let p = up.port;
    let rules = [
        rule("127.0.0.1", ""),
        rule("localhost", ""),
        rule("::ffff:127.0.0.1", ""),
        rule("169.254.169.254", ""),
    ]
    .concat();
    let e = egress(false, &rules);
    for url in [
        format!("http://127.0.0.1:{p}/"),
        format!("http://localhost:{p}/"),
        format!("http://[::ffff:127.0.0.1]:{p}/"),
        format!("http://2130706433:{p}/"),
        format!("http://0177.0.0.1:{p}/"),
        format!("http://0x7f.1:{p}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let err = get(&e, &url).await.expect_err(&url);
        assert!(
            err.contains("denied") && err.contains("not allowed"),
            "{url}: {err}"
        );
    }
    assert!(up.requests().is_empty(), "nothing reached the upstream");
    let audit = e.audit("t0", 100).expect("tenant");
    assert!(audit.iter().all(|r| r.verdict == "denied"), "{audit:?}");
}

#[tokio::test]
async fn redirects_are_followed_hop_by_hop_and_rechecked() {
    let b = Upstream::start(Answer::echo);
    let bp = b.port;
    let a = Upstream::start(move |seen| match seen.target.as_str() {
        "/to-b" => Answer::redirect(302, &format!("http://127.0.0.1:{bp}/landed")),
        "/to-denied" => Answer::redirect(302, &format!("http://127.0.0.2:{bp}/")),
        "/loop" => Answer::redirect(302, "/loop"),
        "/see-other" => Answer::redirect(303, &format!("http://127.0.0.1:{bp}/after-post")),
        _ => Answer::ok(b"a"),
    });
    let ap = a.port;
    let rules = [
        rule(
            "127.0.0.1",
            &format!("ports = [{ap}]\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}"),
        ),
        rule("127.0.0.1", &format!("ports = [{bp}]")),
    ]
    .concat();
    let e = egress(true, &rules);
    let got = get(&e, &format!("http://127.0.0.1:{ap}/to-b"))
        .await
        .expect("followed");
    assert_eq!(got.status, 200);
    assert_eq!(got.head["redirected"], true);
    assert_eq!(got.head["url"], format!("http://127.0.0.1:{bp}/landed"));
    let at_b = b.requests().pop().expect("b reached");
    assert_eq!(
        at_b.header("x-api-key"),
        None,
        "the injected header stays with its rule"
    );
    assert_eq!(a.requests()[0].header("x-api-key"), Some(SECRET));

    let err = get(&e, &format!("http://127.0.0.1:{ap}/to-denied"))
        .await
        .expect_err("denied hop");
    assert!(err.contains("host not allowed"), "{err}");
    let err = get(&e, &format!("http://127.0.0.1:{ap}/loop"))
        .await
        .expect_err("loop");
    assert!(err.contains("more than 20 redirects"), "{err}");
    let manual = call(
        &e,
        "GET",
        &format!("http://127.0.0.1:{ap}/to-b"),
        &[],
        "manual",
    )
    .await
    .expect("manual");
    assert_eq!(manual.status, 302);
    let err = call(
        &e,
        "GET",
        &format!("http://127.0.0.1:{ap}/to-b"),
        &[],
        "error",
    )
    .await
    .expect_err("error mode");
    assert!(err.contains("redirect refused"), "{err}");
    let posted = call(
        &e,
        "POST",
        &format!("http://127.0.0.1:{ap}/see-other"),
        &[],
        "follow",
    )
    .await
    .expect("303");
    assert!(
        posted.body.starts_with("GET /after-post"),
        "{}",
        posted.body
    );
}

#[tokio::test]
async fn oversized_and_compressed_answers_are_refused() {
    let up = Upstream::start(|seen| match seen.target.as_str() {
        "/big" => Answer::ok(&vec![b'x'; MAX_BODY_LEN + 1]),
        _ => {
            // An encoding the gateway does not decode.
            let mut a = Answer::ok(b"\x1f\x9d");
            a.headers
                .push(("Content-Encoding".into(), "compress".into()));
            a
        }
    });
    let p = up.port;
    let e = injecting(p);
    let err = get(&e, &format!("http://127.0.0.1:{p}/big"))
        .await
        .expect_err("big");
    assert!(err.contains("larger than"), "{err}");
    let err = get(&e, &format!("http://127.0.0.1:{p}/gz"))
        .await
        .expect_err("gz");
    assert!(err.contains("compressed"), "{err}");
    let err = e
        .gateway
        .fetch(TenantId(0), b"\x05\0\0\0{".to_vec())
        .await
        .expect_err("bad payload");
    assert!(
        err.contains("not valid") || err.contains("shorter"),
        "{err}"
    );
    assert!(e.gateway.fetch(TenantId(9), Vec::new()).await.is_err());
}

#[tokio::test]
async fn a_streamed_upload_is_sent_once_and_a_redirect_that_would_resend_it_fails() {
    let up = Upstream::start(|seen| {
        if seen.target == "/moved" {
            Answer::redirect(307, "/again")
        } else {
            Answer::ok(b"got it")
        }
    });
    let e = egress(true, &rule("127.0.0.1", &format!("ports = [{}]", up.port)));
    let head = |path: &str| {
        let head = serde_json::json!({
            "method": "POST", "url": format!("http://127.0.0.1:{}{path}", up.port),
            "headers": [], "redirect": "follow", "upload": 1,
        })
        .to_string();
        let mut payload = (head.len() as u32).to_le_bytes().to_vec();
        payload.extend_from_slice(head.as_bytes());
        payload
    };
    let feed = |resources: Arc<Resources>| async move {
        let mut chunk = 1u32.to_le_bytes().to_vec();
        chunk.push(0);
        chunk.extend_from_slice(b"streamed body");
        super::super::stream::write(&resources, &chunk)
            .await
            .expect("queued");
        let mut end = 1u32.to_le_bytes().to_vec();
        end.push(1);
        super::super::stream::write(&resources, &end)
            .await
            .expect("ended");
    };
    // Straight to its answer (the e2e test checks what the upstream received).
    let resources = Arc::new(Resources::default());
    let (answer, ()) = tokio::join!(
        e.gateway
            .fetch_with(TenantId(0), None, head("/here"), Some(&resources)),
        feed(Arc::clone(&resources)),
    );
    assert!(answer.is_ok_and(|a| a.ends_with(b"got it")));
    // A 307 would have to send it again: that fails, as the fetch standard says.
    let resources = Arc::new(Resources::default());
    let (answer, ()) = tokio::join!(
        e.gateway
            .fetch_with(TenantId(0), None, head("/moved"), Some(&resources)),
        feed(Arc::clone(&resources)),
    );
    let error = answer.expect_err("a redirect cannot resend a stream");
    assert!(error.contains("streamed body again"), "{error}");
}

#[tokio::test]
async fn a_hop_that_outlasts_the_hop_timeout_fails_with_a_typed_error() {
    let up = Upstream::start(|_| Answer {
        delay: std::time::Duration::from_secs(3),
        ..Answer::ok(b"too late")
    });
    let text = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\nhop_timeout_ms = 300\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"0123456789abcdef\"\n{}",
        rule("127.0.0.1", &format!("ports = [{}]", up.port))
    );
    let config: Config = toml::from_str(&text).expect("config");
    let e = Egress::new(&config).expect("egress");
    let started = std::time::Instant::now();
    let error = get(&e, &format!("http://127.0.0.1:{}/slow", up.port))
        .await
        .expect_err("the hop times out");
    assert!(error.contains("hop timeout"), "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "ended by the timeout, not the answer"
    );
}

#[test]
fn rules_that_do_not_check_are_refused_naming_the_tenant_the_rule_and_the_cause() {
    let refused = |allow: &str, rules: &str| {
        let text = format!(
            "{allow}[[tenants]]\nid = \"t0\"\ntoken = \"0123456789abcdef\"\n{}{rules}",
            rule("ok.example", "")
        );
        let config: Config = toml::from_str(&text).expect("config");
        match Egress::new(&config) {
            Err(e) => e,
            Ok(_) => panic!("refused"),
        }
    };
    let e = refused("", &rule("", ""));
    assert!(
        matches!(&e, EgressError::Rule { tenant, index: 2, source: RuleError::Criteria(_) } if tenant == "t0"),
        "{e:?}"
    );
    let e = refused("", &rule("x.com", "inject_headers = { \"Host\" = \"k\" }"));
    assert!(
        matches!(&e, EgressError::Rule { index: 2, source: RuleError::NotInjectable(h), .. } if h == "Host"),
        "{e:?}"
    );
    let e = refused(
        "",
        &rule("x.com", "inject_headers = { \"Bad Name\" = \"k\" }"),
    );
    assert!(
        matches!(&e, EgressError::Rule { source: RuleError::HeaderName(h), .. } if h == "Bad Name"),
        "{e:?}"
    );
    let e = refused(
        "",
        &rule("x.com", "inject_headers = { \"X-Key\" = \"no spaces\" }"),
    );
    assert!(
        matches!(&e, EgressError::Rule { source: RuleError::Secret { header, source: SecretError::BadName }, .. } if header == "X-Key"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "tenant t0: egress rule 2: inject_headers X-Key: a secret name must be 1-64 of [A-Za-z0-9_.-]"
    );
    let e = refused("[egress]\nallow_private = [\"10.0.0.0/33\"]\n", "");
    assert!(
        matches!(&e, EgressError::PrivateNet(bad) if bad.net == "10.0.0.0/33"),
        "{e:?}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes).expect("gzip");
    z.finish().expect("gzip")
}

#[tokio::test]
async fn a_gzip_answer_reaches_the_tenant_decoded_and_scrubbed() {
    let up = Upstream::start(|seen| {
        // Echoes the injected header, compressed whether asked or not (as a stored gzip
        // object is served).
        let text = format!("key={}", seen.header("x-api-key").unwrap_or("none"));
        let mut a = Answer::ok(&gzip(text.as_bytes()));
        a.headers.push(("Content-Encoding".into(), "gzip".into()));
        a
    });
    let p = up.port;
    let plain = egress(true, &rule("127.0.0.1", &format!("ports = [{p}]")));
    let got = get(&plain, &format!("http://127.0.0.1:{p}/a"))
        .await
        .expect("plain");
    assert_eq!(got.body, "key=none", "decoded");
    assert!(
        !got.head["headers"].to_string().contains("content-encoding"),
        "{}",
        got.head
    );
    let injecting = injecting(p);
    let got = get(&injecting, &format!("http://127.0.0.1:{p}/b"))
        .await
        .expect("injecting");
    assert_eq!(got.body, "key=[redacted]", "decoded, then scrubbed");
}

#[tokio::test]
async fn an_injected_secret_echoed_in_any_common_escape_reaches_the_tenant_redacted() {
    // The upstream hands the key back as Go, PHP and fully \u-escaped JSON, percent-encoded, in
    // HTML, and in a header name (which the HTTP stack lower-cases).
    let up = Upstream::start(|seen| {
        let key = seen.header("x-api-key").unwrap_or("").to_string();
        let u: String = key
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        let pct: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
        let body = format!(
            "{{\"go\": \"{}\", \"u\": \"{u}\", \"pct\": \"{pct}\", \"html\": \"{}\"}}",
            key.replace('-', "\\u002d"),
            key.replace('-', "&#45;"),
        );
        let mut answer = Answer::ok(body.as_bytes());
        answer
            .headers
            .push((format!("X-{}", key.to_uppercase()), "1".into()));
        answer
    });
    let p = up.port;
    let e = injecting(p);
    let got = get(&e, &format!("http://127.0.0.1:{p}/"))
        .await
        .expect("allowed");
    let body: serde_json::Value = serde_json::from_str(&got.body).expect("json");
    for field in ["go", "u", "pct", "html"] {
        assert_eq!(body[field], "[redacted]", "{field}: {}", got.body);
    }
    let head = got.head.to_string().to_ascii_lowercase();
    assert!(
        !head.contains(SECRET) && head.contains("x-[redacted]"),
        "{head}"
    );
    // The body was rewritten: the upstream's length is not passed on.
    assert!(!head.contains("content-length"), "{head}");
}

/// A non-loopback address of this host (the one its default route leaves from).
fn own_address() -> std::net::IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp");
    // No packet is sent: connecting a UDP socket only picks the route and source address.
    probe.connect("192.0.2.1:9").expect("a route off this host");
    let ip = probe.local_addr().expect("addr").ip();
    assert!(!ip.is_loopback(), "{ip}");
    ip
}

#[tokio::test]
async fn a_rule_that_injects_sends_its_secret_over_plain_http_only_to_loopback_unless_it_says_so() {
    let ip = own_address();
    let up = Upstream::start_on("0.0.0.0", Answer::echo);
    let p = up.port;
    let rules = |extra: &str| {
        let text = format!(
            "[egress]\nallow_private = [\"{ip}/32\"]\n[[tenants]]\nid = \"t0\"\ntoken = \
             \"0123456789abcdef\"\n[tenants.secrets]\napi_key = \"{SECRET}\"\n{}",
            rule(
                &ip.to_string(),
                &format!(
                    "ports = [{p}]\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}\n{extra}"
                ),
            )
        );
        let config: Config = toml::from_str(&text).expect("config");
        Egress::new(&config).expect("egress")
    };
    let url = format!("http://{ip}:{p}/");
    let err = get(&rules(""), &url).await.expect_err("cleartext refused");
    assert!(err.contains("https only"), "{err}");
    assert!(up.requests().is_empty(), "nothing was sent");
    let got = get(&rules("inject_over_http = true"), &url)
        .await
        .expect("allowed by the rule");
    assert_eq!(got.status, 200);
    assert_eq!(up.requests()[0].header("x-api-key"), Some(SECRET));
}

#[tokio::test]
async fn header_values_are_bytes_each_one_character_both_ways() {
    // A raw upstream: it keeps the request's bytes and answers a header holding byte 0xE9.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let p = listener.local_addr().expect("addr").port();
    let got = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).expect("read");
            assert!(n > 0, "the request ended early");
            request.extend_from_slice(&buf[..n]);
        }
        let mut answer = b"HTTP/1.1 200 OK\r\nX-Name: caf".to_vec();
        answer.extend_from_slice(&[0xE9]);
        answer.extend_from_slice(b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        stream.write_all(&answer).expect("write");
        request
    });
    let e = egress(true, &rule("127.0.0.1", &format!("ports = [{p}]")));
    let url = format!("http://127.0.0.1:{p}/");
    let answer = call(&e, "GET", &url, &[("x-byte", "a\u{ff}b")], "follow")
        .await
        .expect("allowed");
    let request = got.join().expect("upstream");
    assert!(
        request.windows(11).any(|w| w == b"x-byte: a\xffb"),
        "one byte 0xFF, not its UTF-8: {:?}",
        String::from_utf8_lossy(&request)
    );
    let headers = answer.head["headers"].to_string();
    assert!(headers.contains("caf\u{e9}"), "{headers}");
    // A character above U+00FF is no byte: refused before anything is sent.
    let err = call(&e, "GET", &url, &[("x-byte", "\u{100}")], "follow")
        .await
        .expect_err("refused");
    assert!(err.contains("invalid header"), "{err}");
}
