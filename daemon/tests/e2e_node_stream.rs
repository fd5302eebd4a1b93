//! node:stream and node:zlib's streams through a real daemon with jailed workers (whose warm-up
//! now builds them): a Loader worker gunzips a request body through
//! `Readable.fromWeb` → `createGunzip` → a `Transform` → `Readable.toWeb`, and answers with it.
mod common;
use std::io::{Read, Write};

use common::*;

const APP: &str = r#"
import { Readable, Transform } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";

export default {
  async fetch(request) {
    const lines = new Transform({
      transform(chunk, enc, cb) { this.count = (this.count ?? 0) + chunk.length; cb(null, chunk); },
      flush(cb) { cb(null, `\n(${this.count} bytes)`); },
    });
    const node = Readable.fromWeb(request.body).pipe(createGunzip()).on("error", (e) => lines.destroy(e)).pipe(lines);
    const out = new URL(request.url).searchParams.has("gzip") ? node.pipe(createGzip()) : node;
    return new Response(Readable.toWeb(out));
  },
};
"#;

#[test]
fn a_gzip_body_streams_through_node_streams_in_a_jailed_worker() {
    let d = Daemon::start("node-stream", 1, 1, CPU_NOT_TESTED);
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": APP },
            "compatibilityDate": "2025-06-01",
            "compatibilityFlags": ["nodejs_compat"],
        }))
        .send()
        .expect("create");
    assert_eq!(r.status().as_u16(), 201);
    let v: serde_json::Value = r.json().expect("json");
    let id = v["id"].as_str().expect("id").to_string();
    // 1 MiB of text, gzipped by flate2, in; out decoded (within the request's CPU limit).
    let text: String = (0..100_000).map(|i| format!("line {i:06} ok\n")).collect();
    let text = &text[..1 << 20];
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).expect("gzip");
    let body = e.finish().expect("gzip");
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(tenant_token(0))
        .body(body.clone())
        .send()
        .expect("fetch");
    assert_eq!(r.status().as_u16(), 200);
    let got = r.text().expect("text");
    assert_eq!(got, format!("{text}\n({} bytes)", text.len()));
    // And back out gzipped by createGzip, decoded here.
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/?gzip", d.base))
        .bearer_auth(tenant_token(0))
        .body(body)
        .send()
        .expect("fetch");
    let status = r.status().as_u16();
    let packed = r.bytes().expect("bytes");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&packed));
    let mut out = String::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_string(&mut out)
        .expect("gunzip");
    assert_eq!(out, format!("{text}\n({} bytes)", text.len()));
}
