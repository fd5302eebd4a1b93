//! Outbound `fetch()`'s `encodeResponseBody: "manual"` (Cloudflare's `RequestInit` option), end
//! to end: a real daemon, real jailed workers, real HTTP servers on 127.0.0.1 answering gzip.
//! Manual hands tenant code the bytes exactly as the upstream sent them, with `Content-Encoding`
//! and `Content-Length` (whole, and streamed past the first 64 KiB), and a worker returning that
//! response sends them on unchanged; the default still decodes; the upstream is asked for the
//! same encodings either way. When a secret was injected on any hop, manual is not honoured: the
//! answer is decoded and scrubbed, so an injected value never comes back, compressed or not.
mod common;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use upstream::{Answer, Upstream};

const SECRET: &str = "gz-secret-e2e-5d2c-value";
const TEXT: &str = "hello compressed world ";

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes).expect("gzip");
    z.finish().expect("gzip")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

/// Text that gzip cannot shrink much (so its gzip is well over the 64 KiB that come with the
/// head, and streams).
fn noisy(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[(x % 62) as usize]
        })
        .collect()
}

/// An answer of `body` gzipped, with `Content-Encoding: gzip` whatever the request asked (as a
/// stored gzip object is served).
fn gzipped(body: &[u8]) -> Answer {
    let mut a = Answer::ok(&gzip(body));
    a.headers.push(("Content-Encoding".into(), "gzip".into()));
    a.headers.push(("Content-Type".into(), "text/plain".into()));
    a
}

/// `/inject/echo`: the injected key, gzipped; `/inject/redirect`: to `/plain/leak`, which
/// gzips the secret though nothing was injected on its hop (an upstream that learned it on the
/// first); `/plain/big`: the noisy body gzipped; any other `/plain/` path: `TEXT` gzipped.
fn start_upstream() -> Upstream {
    Upstream::start(|seen| {
        let path = seen.target.as_str();
        if path == "/inject/echo" || path == "/plain/echo" {
            gzipped(format!("key={}", seen.header("x-api-key").unwrap_or("none")).as_bytes())
        } else if path == "/inject/redirect" {
            Answer::redirect(302, "/plain/leak")
        } else if path == "/plain/leak" {
            gzipped(format!("leak={SECRET}").as_bytes())
        } else if path == "/plain/big" {
            gzipped(&noisy(300_000))
        } else {
            gzipped(TEXT.as_bytes())
        }
    })
}

fn start_daemon(tag: &str, port: u16) -> Daemon {
    // CPU room for the tenant code's base64 of a 300 KB body on a loaded host (the tests are
    // about encodings, not the CPU limit, which a busy CI machine's 50 ms default hit once).
    let config = format!(
        "[limits]\ncpu_ms = 2000\n[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [tenants.secrets]\napi_key = \"{SECRET}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{port}]\npath_prefix = \"/inject/\"\n\
         inject_headers = {{ \"X-Api-Key\" = \"api_key\" }}\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{port}]\npath_prefix = \"/plain/\"\n",
        tenant_token(0)
    );
    Daemon::start_raw(tag, 1, &config, &[])
}

/// What tenant code's `fetch(url, init)` gave: status, `Content-Encoding`, `Content-Length` and
/// the body's bytes (base64 in the run's JSON result), or the error.
#[derive(Debug)]
struct Got {
    status: u64,
    encoding: Option<String>,
    length: Option<String>,
    body: Vec<u8>,
    json: String,
}

fn tenant_fetch(d: &Daemon, url: &str, init: &str) -> Got {
    let code = format!(
        "export default async () => {{
           const r = await fetch({}, {init});
           const b = new Uint8Array(await r.arrayBuffer());
           let s = ''; for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
           return {{ status: r.status, encoding: r.headers.get('content-encoding'),
                     length: r.headers.get('content-length'), body: btoa(s) }};
         }};",
        serde_json::Value::from(url)
    );
    let (status, out) = run(d, &tenant_token(0), &code);
    assert_eq!(status, 200, "{out}");
    let result = &out["result"];
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD
        .decode(result["body"].as_str().unwrap_or_else(|| panic!("{out}")))
        .expect("base64");
    let text = |name: &str| result[name].as_str().map(str::to_owned);
    Got {
        status: result["status"].as_u64().expect("status"),
        encoding: text("encoding"),
        length: text("length"),
        body,
        json: out.to_string(),
    }
}

#[test]
fn manual_gives_the_exact_compressed_bytes_and_header_and_the_default_still_decodes() {
    let up = start_upstream();
    let d = start_daemon("egress-manual", up.port);
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", up.port);
    let served = gzip(TEXT.as_bytes());

    let got = tenant_fetch(&d, &url("/plain/gz"), "{ encodeResponseBody: 'manual' }");
    assert_eq!(got.status, 200);
    assert_eq!(got.encoding.as_deref(), Some("gzip"), "{got:?}");
    assert_eq!(got.length, Some(served.len().to_string()), "{got:?}");
    assert_eq!(
        got.body, served,
        "the bytes exactly as the upstream sent them"
    );
    assert_eq!(gunzip(&got.body), TEXT.as_bytes());
    let manual_asked = up.requests().pop().expect("reached");

    let got = tenant_fetch(&d, &url("/plain/gz"), "{}");
    assert_eq!(got.encoding, None, "{got:?}");
    assert_eq!(got.length, None, "{got:?}");
    assert_eq!(got.body, TEXT.as_bytes(), "decoded");
    let automatic_asked = up.requests().pop().expect("reached");
    assert_eq!(
        manual_asked.header("accept-encoding"),
        automatic_asked.header("accept-encoding"),
        "manual asks for no encoding an automatic fetch does not"
    );
    assert_eq!(
        manual_asked.header("accept-encoding"),
        Some("gzip, deflate, br")
    );

    // The tenant's own Accept-Encoding goes as it is.
    let got = tenant_fetch(
        &d,
        &url("/plain/gz"),
        "{ encodeResponseBody: 'manual', headers: { 'accept-encoding': 'gzip' } }",
    );
    assert_eq!(got.body, served);
    assert_eq!(
        up.requests()
            .pop()
            .expect("reached")
            .header("accept-encoding"),
        Some("gzip")
    );

    // Streamed: the answer is longer than what comes with its head, and is read with fetch.read.
    let plain = noisy(300_000);
    let big = gzip(&plain);
    assert!(big.len() > 128 << 10, "{} bytes", big.len());
    let got = tenant_fetch(&d, &url("/plain/big"), "{ encodeResponseBody: 'manual' }");
    assert_eq!(got.encoding.as_deref(), Some("gzip"));
    assert_eq!(got.length, Some(big.len().to_string()));
    assert!(got.body == big, "streamed, the bytes exactly as sent");
    let got = tenant_fetch(&d, &url("/plain/big"), "{}");
    assert_eq!(got.encoding, None);
    assert!(got.body == plain, "streamed, decoded");
}

#[test]
fn a_worker_returning_a_manual_answer_sends_the_upstreams_bytes_on_unchanged() {
    let up = start_upstream();
    let d = start_daemon("egress-manual-proxy", up.port);
    let t = tenant_token(0);
    let id = load_code(
        &d,
        &t,
        &serde_json::json!({ "mainModule": "main.js", "modules": { "main.js": format!(
            "export default {{ fetch(req) {{
               const auto = new URL(req.url).searchParams.has('auto');
               return fetch('http://127.0.0.1:{}/plain/gz', auto ? {{}} : {{ encodeResponseBody: 'manual' }});
             }} }};",
            up.port
        ) } }),
    );
    // A client that decodes nothing and asks for nothing.
    let raw = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .expect("client");
    let r = raw
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("answered");
    assert_eq!(r.status().as_u16(), 200);
    let encoding = r.headers().get("content-encoding").cloned();
    let body = r.bytes().expect("body").to_vec();
    assert_eq!(encoding.as_ref().map(|v| v.as_bytes()), Some(&b"gzip"[..]));
    assert_eq!(
        body,
        gzip(TEXT.as_bytes()),
        "passed through, not encoded twice"
    );
    assert_eq!(gunzip(&body), TEXT.as_bytes());
    // The automatic answer (decoded, no Content-Encoding) goes as plain text.
    let r = raw
        .get(format!("{}/v1/workers/{id}/fetch/?auto=1", d.base))
        .bearer_auth(&t)
        .send()
        .expect("answered");
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.bytes().expect("body").as_ref(), TEXT.as_bytes());
}

#[test]
fn with_a_secret_injected_on_any_hop_manual_is_decoded_and_scrubbed_and_the_secret_never_returns() {
    let up = start_upstream();
    let d = start_daemon("egress-manual-secret", up.port);
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", up.port);
    let hidden = |got: &Got| {
        assert!(!got.json.contains(SECRET), "{got:?}");
        assert!(
            !String::from_utf8_lossy(&got.body).contains(SECRET),
            "{got:?}"
        );
        if got.body.starts_with(&[0x1f, 0x8b]) {
            let decoded = gunzip(&got.body);
            assert!(
                !String::from_utf8_lossy(&decoded).contains(SECRET),
                "compressed"
            );
        }
    };

    // Without injection the same echo comes compressed, exactly as sent (the contrast).
    let got = tenant_fetch(&d, &url("/plain/echo"), "{ encodeResponseBody: 'manual' }");
    assert_eq!(got.encoding.as_deref(), Some("gzip"), "{got:?}");
    assert_eq!(gunzip(&got.body), b"key=none");

    // The upstream echoes the injected key into a gzip body: manual is not honoured.
    for init in ["{ encodeResponseBody: 'manual' }", "{}"] {
        let got = tenant_fetch(&d, &url("/inject/echo"), init);
        let seen = up.requests().pop().expect("reached");
        assert_eq!(seen.header("x-api-key"), Some(SECRET), "injected");
        assert_eq!(seen.header("accept-encoding"), Some("identity"));
        hidden(&got);
        assert_eq!(
            got.encoding, None,
            "{init}: decoded, so no Content-Encoding"
        );
        assert_eq!(got.length, None, "{init}: scrubbed, so no Content-Length");
        assert_eq!(got.body, b"key=[redacted]", "{init}");
    }

    // Injected on the first hop only: the redirect's answer, which holds the secret compressed,
    // is decoded and scrubbed too (its hop asked for identity).
    let got = tenant_fetch(
        &d,
        &url("/inject/redirect"),
        "{ encodeResponseBody: 'manual' }",
    );
    let hops = up.requests();
    let last = hops.last().expect("reached");
    assert_eq!(last.target, "/plain/leak");
    assert_eq!(
        last.header("x-api-key"),
        None,
        "not injected on the second hop"
    );
    assert_eq!(last.header("accept-encoding"), Some("identity"));
    hidden(&got);
    assert_eq!(got.encoding, None, "{got:?}");
    assert_eq!(got.body, b"leak=[redacted]");
}
