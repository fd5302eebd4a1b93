//! How a response body reaches an HTTP client, end to end through a real daemon and real jailed
//! isolates. A `FixedLengthStream` body is framed by its declared length. A body whose
//! `Content-Encoding` is `gzip` or `br` reaches the client compressed so, as Cloudflare's runtime
//! does (with the encoded length, never the handler's), whole or streamed, each streamed chunk
//! decodable as it arrives; `encodeBody: "manual"` sends it as the handler made it, as does any
//! other encoding; a worker calling another through a service binding gets the body unencoded,
//! with the header, as a Workers `fetch()` does.
mod common;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::json;

const TEXT: &str = "hello world ";

/// Answers `TEXT` 1000 times with the Content-Encoding `?e=` names (gzip if none);
/// `?m=1` adds `encodeBody: "manual"`, `?bad=1` an invalid encodeBody.
const ENCODER: &str = r#"
export default { fetch(req) {
  const u = new URL(req.url);
  const init = { headers: { 'content-encoding': u.searchParams.get('e') ?? 'gzip', 'content-type': 'text/plain',
    'content-length': '12000' } };
  if (u.searchParams.get('m')) init.encodeBody = 'manual';
  if (u.searchParams.get('bad')) init.encodeBody = 'sometimes';
  return new Response('hello world '.repeat(1000), init);
} };
"#;

fn create(d: &Daemon, token: &str, code: &str, env: serde_json::Value) -> String {
    load_code(
        d,
        token,
        &json!({ "mainModule": "main.js", "modules": { "main.js": code }, "env": env }),
    )
}

/// A client that leaves bodies as they come (no decoding, no Accept-Encoding of its own).
fn raw_client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .no_gzip()
        .no_brotli()
        .no_deflate()
        .build()
        .expect("client")
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("brotli");
    out
}

#[test]
fn a_body_is_encoded_as_its_content_encoding_says_unless_the_handler_says_manual() {
    let d = Daemon::start("encode", 1, 1, "");
    let t = tenant_token(0);
    let id = create(&d, &t, ENCODER, json!({}));
    let get = |query: &str| {
        let r = raw_client()
            .get(format!("{}/v1/workers/{id}/fetch/{query}", d.base))
            .bearer_auth(&t)
            .send()
            .expect("answered");
        let status = r.status().as_u16();
        let header = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().expect("text").to_string())
        };
        let (encoding, length) = (header("content-encoding"), header("content-length"));
        (status, encoding, length, r.bytes().expect("body").to_vec())
    };
    let plain = TEXT.repeat(1000).into_bytes();

    let (status, encoding, length, body) = get("");
    assert_eq!((status, encoding.as_deref()), (200, Some("gzip")));
    let encoded_length = Some(body.len().to_string());
    assert_eq!(
        length, encoded_length,
        "the encoded body's length, not the handler's"
    );
    assert!(body.len() < plain.len() / 10, "{} bytes", body.len());
    assert_eq!(gunzip(&body), plain);

    let (status, encoding, length, body) = get("?e=br");
    assert_eq!((status, encoding.as_deref()), (200, Some("br")));
    assert_eq!(length, Some(body.len().to_string()));
    assert!(body.len() < plain.len() / 10, "{} bytes", body.len());
    assert_eq!(unbrotli(&body), plain);

    // As on Cloudflare: manual, another encoding, or another spelling is sent as it is.
    for query in [
        "?m=1",
        "?e=deflate",
        "?e=GZIP",
        "?e=gzip,%20br",
        "?e=x-custom",
    ] {
        let (status, _, length, body) = get(query);
        assert_eq!(status, 200, "{query}");
        assert_eq!(length.as_deref(), Some("12000"), "{query}");
        assert!(body == plain, "{query}: the body as the handler made it");
    }
    let (status, _, _, body) = get("?bad=1");
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("encodeBody must be"),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

#[test]
fn a_streamed_body_is_encoded_chunk_by_chunk_each_decodable_as_it_arrives() {
    let d = Daemon::start("encode-stream", 1, 1, "");
    let t = tenant_token(0);
    // One event per second piece of the request: the handler cannot have finished when an
    // event arrives, so what the client decodes at that moment was flushed for it.
    let id = create(
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
           return new Response(body, { headers: { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' } });
         } };",
        json!({}),
    );
    let addr = d.base.trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let head = format!(
        "POST /v1/workers/{id}/fetch/ HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).expect("head");
    let mut send = |piece: &[u8]| {
        writer
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .and_then(|()| writer.write_all(piece))
            .and_then(|()| writer.write_all(b"\r\n"))
            .expect("piece");
    };
    send(b"one");
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("head line");
        if line == "\r\n" {
            break;
        }
        headers.push(line.trim_end().to_ascii_lowercase());
    }
    assert!(headers[0].contains(" 200 "), "{headers:?}");
    assert!(
        headers.contains(&"content-encoding: gzip".to_string()),
        "{headers:?}"
    );
    let mut decoded = flate2::write::GzDecoder::new(Vec::new());
    let mut decoded_after = |chunk: Vec<u8>| {
        decoded.write_all(&chunk).expect("gzip so far");
        decoded.flush().expect("flush");
        String::from_utf8(decoded.get_ref().clone()).expect("text")
    };
    let mut so_far = String::new();
    while !so_far.contains("data: one") {
        so_far = decoded_after(next_chunk(&mut reader));
    }
    assert_eq!(so_far, "data: one\n\n");
    send(b"two");
    while !so_far.contains("data: two") {
        so_far = decoded_after(next_chunk(&mut reader));
    }
    assert_eq!(so_far, "data: one\n\ndata: two\n\n");
    send(b""); // the last chunk: the upload ends
    loop {
        let chunk = next_chunk(&mut reader);
        if chunk.is_empty() {
            break;
        }
        so_far = decoded_after(chunk);
    }
    assert_eq!(so_far, "data: one\n\ndata: two\n\nevent: end\n\n");
    decoded
        .try_finish()
        .expect("a whole gzip member, trailer checked");
}

#[test]
fn a_service_binding_caller_gets_the_body_as_its_handler_made_it() {
    let d = Daemon::start("encode-svc", 1, 1, "");
    let t = tenant_token(0);
    let target = create(&d, &t, ENCODER, json!({}));
    let caller = create(
        &d,
        &t,
        "export default { async fetch(req, env) {
           const r = await env.B.fetch('http://b/?e=gzip');
           const text = await r.text();
           return Response.json({ encoding: r.headers.get('content-encoding'), same: text === 'hello world '.repeat(1000) });
         } };",
        json!({ "B": { "binding": "service", "worker": target } }),
    );
    let r = raw_client()
        .get(format!("{}/v1/workers/{caller}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("answered");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers().get("content-encoding"), None);
    let out: serde_json::Value = r.json().expect("json");
    assert_eq!(out, json!({ "encoding": "gzip", "same": true }));
}

/// Answers a FixedLengthStream of `?n=` declared bytes carrying "hello world" (11 bytes),
/// with the Content-Encoding `?e=` names, if any.
const FIXED: &str = r#"
export default { fetch(req) {
  const u = new URL(req.url);
  const { readable, writable } = new FixedLengthStream(Number(u.searchParams.get('n')));
  const w = writable.getWriter();
  const enc = new TextEncoder();
  w.write(enc.encode('hello ')).catch(() => {});
  w.write(enc.encode('world')).catch(() => {});
  w.close().catch(() => {});
  const headers = u.searchParams.get('e') ? { 'content-encoding': u.searchParams.get('e') } : {};
  return new Response(readable, { headers });
} };
"#;

#[test]
fn a_fixed_length_stream_frames_its_streamed_body_by_its_length() {
    let d = Daemon::start("fixed-length", 1, 1, "");
    let t = tenant_token(0);
    let id = create(&d, &t, FIXED, json!({}));
    let get = |query: &str| {
        raw_client()
            .get(format!("{}/v1/workers/{id}/fetch/{query}", d.base))
            .bearer_auth(&t)
            .send()
            .expect("answered")
    };
    let header = |r: &reqwest::blocking::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().expect("text").to_string())
    };
    // The declared length is the Content-Length of a body that streams.
    let r = get("?n=11");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-length").as_deref(), Some("11"));
    assert_eq!(header(&r, "transfer-encoding"), None);
    assert_eq!(r.bytes().expect("body").as_ref(), b"hello world");
    // A stream that ends short of it errors: the client sees a body cut short (or, when the
    // cut comes before the head went out, no answer at all), never a complete-looking one.
    let short = raw_client()
        .get(format!("{}/v1/workers/{id}/fetch/?n=20", d.base))
        .bearer_auth(&t)
        .send();
    if let Ok(r) = short {
        assert_eq!(header(&r, "content-length").as_deref(), Some("20"));
        assert!(r.bytes().is_err(), "a body short of its length is cut");
    }
    // Encoded, the length is the encoding's, not the declared one.
    let r = get("?n=11&e=gzip");
    assert_ne!(header(&r, "content-length").as_deref(), Some("11"));
    assert_eq!(gunzip(&r.bytes().expect("body")), b"hello world");
}

#[test]
fn a_service_binding_caller_sees_a_fixed_length_streams_length() {
    let d = Daemon::start("fixed-length-svc", 1, 1, "");
    let t = tenant_token(0);
    let target = create(&d, &t, FIXED, json!({}));
    let caller = create(
        &d,
        &t,
        "export default { async fetch(req, env) {
           const r = await env.B.fetch('http://b/?n=11');
           return Response.json({ length: r.headers.get('content-length'), text: await r.text() });
         } };",
        json!({ "B": { "binding": "service", "worker": target } }),
    );
    let r = raw_client()
        .get(format!("{}/v1/workers/{caller}/fetch/", d.base))
        .bearer_auth(&t)
        .send()
        .expect("answered");
    let out: serde_json::Value = r.json().expect("json");
    assert_eq!(out, json!({ "length": "11", "text": "hello world" }));
}
