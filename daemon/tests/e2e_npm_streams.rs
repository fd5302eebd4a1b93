//! Real npm packages built on `node:stream`, end to end: `daemon/tests/npm-streams/app.js`
//! (csv-parse and csv-stringify with node:zlib in one `stream.pipeline`, split2 over
//! node:string_decoder, busboy, stream-json chained by stream-chain's Duplex), installed by
//! `npm ci` from the pinned lockfile and bundled as Wrangler does for `nodejs_compat`
//! (`npm/build.mjs`), loaded through `POST /v1/workers` with `nodejs_compat` and called
//! over HTTP. Every answer is checked against what this file computes itself from the input it
//! generated (the CSV written out by its own rules, hashes by `sha2`, gzip by `flate2`). The tests
//! need Node.js and npm and fail without them.
mod common;
#[allow(dead_code)] // the framework apps' own bundling is e2e_frameworks.rs's
#[path = "frameworks/bundle.rs"]
mod npm;

use std::io::{Read, Write};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use sha2::{Digest, Sha256};

/// CPU for requests that stream megabytes through JavaScript parsers (Workers' paid plan allows
/// 30 s; the default here is 50 ms).
const ROOMY: &str = "[limits]\ncpu_ms = 5000\n";

/// `npm-streams/app.js` bundled (once per test binary).
fn bundle() -> String {
    static BUILT: OnceLock<Result<String, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        npm::built_by_folder("npm-streams", &["app.js"]).map(|mut all| all.remove(0))
    });
    match built {
        Ok(code) => code.clone(),
        Err(why) => panic!("cannot bundle npm-streams/app.js: {why}"),
    }
}

/// Loads the app with `nodejs_compat`; the worker id.
fn load(d: &Daemon) -> String {
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({
            "mainModule": "app.mjs",
            "modules": { "app.mjs": bundle() },
            "compatibilityDate": "2026-11-01",
            "compatibilityFlags": ["nodejs_compat"],
            "limits": { "cpuMs": 5000, "wallMs": 30000 },
        }))
        .send()
        .expect("load");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 201, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["id"].as_str().expect("id").to_string()
}

fn post(
    d: &Daemon,
    id: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<u8>) {
    let mut request = client()
        .post(format!("{}/v1/workers/{id}/fetch{path}", d.base))
        .bearer_auth(tenant_token(0));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.body(body).send().expect("call");
    let status = r.status().as_u16();
    (status, r.bytes().expect("body").to_vec())
}

fn json(status: u16, body: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(body);
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A deterministic byte generator (xorshift64*).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 56) as u8).collect()
    }
}

const NAMES: &[&str] = &["alice", "bob", "zoë", "łukasz", "日本", "emoji😀", "o'neil"];
const NOTES: &[&str] = &[
    "",
    "plain",
    "with, comma",
    "say \"hi\"",
    "two\nlines",
    "crlf\r\nin it",
    " padded ",
];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// A CSV field as RFC 4180 (and csv-stringify) quote it: only when it holds a comma, a quote or
/// a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[test]
fn csv_parse_and_stringify_in_a_gzip_pipeline() {
    let d = Daemon::start("npm-streams-csv", 1, 1, ROOMY);
    let id = load(&d);
    let mut noise = Noise(0x5eed_c5f1);
    let mut input = String::from("id,name,note,qty,cents\n");
    let mut expected = String::from("id,name,note,total\n");
    for i in 0..3000u64 {
        let name = NAMES[(noise.next() % NAMES.len() as u64) as usize];
        let note = NOTES[(noise.next() % NOTES.len() as u64) as usize];
        let (qty, cents) = (noise.next() % 50, noise.next() % 100_000);
        // The input quotes every note, whether it needs it or not.
        input += &format!(
            "{i},{name},\"{}\",{qty},{cents}\n",
            note.replace('"', "\"\"")
        );
        expected += &format!(
            "{i},{},{},{}\n",
            field(&name.to_uppercase()),
            field(note),
            qty * cents
        );
    }
    // In pieces of 7 bytes (records, quoted fields and UTF-8 sequences cut anywhere) and whole.
    for chunk in ["?chunk=7", ""] {
        let (status, body) = post(
            &d,
            &id,
            &format!("/csv{chunk}"),
            &[],
            gzip(input.as_bytes()),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let mut out = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut out)
            .expect("a whole gzip stream");
        assert_eq!(out, expected, "chunk {chunk}");
    }
}

#[test]
fn split2_decodes_utf8_cut_anywhere() {
    let d = Daemon::start("npm-streams-split2", 1, 1, ROOMY);
    let id = load(&d);
    let mut ndjson = String::new();
    let (mut sum, mut names) = (0u64, String::new());
    for i in 0..800u64 {
        let name = NAMES[(i % NAMES.len() as u64) as usize];
        ndjson += &serde_json::json!({ "n": i * 3, "name": name }).to_string();
        ndjson += if i % 5 == 0 { "\r\n" } else { "\n" };
        sum += i * 3;
        names += name;
    }
    for chunk in ["1", "3", "5", "4096"] {
        let (status, body) = post(
            &d,
            &id,
            &format!("/lines?chunk={chunk}"),
            &[],
            ndjson.clone().into_bytes(),
        );
        let v = json(status, &body);
        assert_eq!(
            v,
            serde_json::json!({ "count": 800, "sum": sum, "names": names }),
            "chunk {chunk}"
        );
    }
    // A line that is not JSON: split2's error reaches the `for await`.
    let (status, body) = post(&d, &id, "/lines", &[], b"{\"n\":1}\n{nope\n".to_vec());
    assert_eq!(status, 500);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert!(
        v["error"].as_str().unwrap_or("").contains("SyntaxError"),
        "{v}"
    );
}

#[test]
fn busboy_streams_multipart_files() {
    let d = Daemon::start("npm-streams-busboy", 1, 1, ROOMY);
    let id = load(&d);
    let boundary = "----stockade-npm-streams-b0undary";
    // Every byte value, with CRLFs and dashes that look like the start of a boundary, and 1 MiB
    // of noise.
    let mut tricky: Vec<u8> = (0..=255u8).collect();
    tricky.extend_from_slice(b"\r\n--\r\n------stockade-npm-streams\r\n");
    let tricky = tricky.repeat(40);
    let big = Noise(7).bytes(1 << 20);
    let mut body = Vec::new();
    let mut part = |headers: &str, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part(
        "Content-Disposition: form-data; name=\"title\"",
        "naïve café".as_bytes(),
    );
    part(
        "Content-Disposition: form-data; name=\"tricky\"; filename=\"tricky.bin\"\r\nContent-Type: application/octet-stream",
        &tricky,
    );
    part("Content-Disposition: form-data; name=\"empty\"", b"");
    part(
        "Content-Disposition: form-data; name=\"big\"; filename=\"noise.dat\"\r\nContent-Type: image/x-noise",
        &big,
    );
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let (status, body) = post(&d, &id, "/upload", &[("Content-Type", &content_type)], body);
    let v = json(status, &body);
    let hex = |b: &[u8]| -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    assert_eq!(
        v["fields"],
        serde_json::json!([
            { "name": "title", "value": "naïve café", "mimeType": "text/plain" },
            { "name": "empty", "value": "", "mimeType": "text/plain" },
        ])
    );
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{v}");
    for (file, (name, filename, mime, bytes)) in files.iter().zip([
        ("tricky", "tricky.bin", "application/octet-stream", &tricky),
        ("big", "noise.dat", "image/x-noise", &big),
    ]) {
        assert_eq!(file["name"], name);
        assert_eq!(file["filename"], filename);
        assert_eq!(file["mimeType"], mime);
        assert_eq!(file["size"], bytes.len());
        assert_eq!(file["sha256"], hex(bytes), "{name}");
    }
    // The big file reached the worker's code as a stream, not in one piece.
    assert!(files[1]["chunks"].as_u64().unwrap_or(0) > 1, "{v}");
}

#[test]
fn stream_json_through_a_stream_chain_duplex() {
    let d = Daemon::start("npm-streams-json", 1, 1, ROOMY);
    let id = load(&d);
    let mut noise = Noise(99);
    let mut items = Vec::new();
    let mut expected = Vec::new();
    for i in 0..3000u64 {
        let tags: Vec<u64> = (0..noise.next() % 6).collect();
        let label = format!(
            "{}\t\"{}\"\\{}",
            NAMES[(i % 7) as usize],
            i,
            "é".repeat((i % 4) as usize)
        );
        let keep = noise.next().is_multiple_of(3);
        items.push(serde_json::json!({ "id": i, "keep": keep, "tags": tags, "nested": { "deep": [i, { "x": null }] }, "label": label }));
        if keep {
            expected
                .push(serde_json::json!({ "key": i, "id": i, "tags": tags.len(), "label": label }));
        }
    }
    let input = serde_json::to_vec_pretty(&items).expect("json");
    let (status, body) = post(&d, &id, "/json", &[], input);
    let text = String::from_utf8(body).expect("utf-8");
    assert_eq!(status, 200, "{text}");
    let got: Vec<serde_json::Value> = text
        .split('\n')
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
}

#[test]
fn tar_stream_packs_through_a_gzip_pipeline() {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt as _;
    let d = Daemon::start("npm-streams-tar", 1, 1, ROOMY);
    let id = load(&d);
    let noise = Noise(3).bytes(200_000);
    let files: Vec<(&str, u32, u64, Vec<u8>)> = vec![
        (
            "hello.txt",
            0o644,
            1_700_000_000,
            b"hello from tar-stream\n".to_vec(),
        ),
        ("dir/noise.bin", 0o600, 1_600_000_000, noise),
        (
            "dir/sub/ñame-日本.txt",
            0o755,
            1_500_000_000,
            "ünïcode\n".as_bytes().to_vec(),
        ),
        ("empty", 0o640, 1_400_000_000, Vec::new()),
    ];
    let b64 = base64::engine::general_purpose::STANDARD;
    let list: Vec<serde_json::Value> = files
        .iter()
        .map(|(name, mode, mtime, bytes)| {
            serde_json::json!({ "name": name, "mode": mode, "mtime": mtime, "base64": b64.encode(bytes) })
        })
        .collect();
    let (status, body) = post(
        &d,
        &id,
        "/tar",
        &[],
        serde_json::to_vec(&list).expect("json"),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // GNU tar unpacks it (permissions kept), and every file is what was sent.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("npm-streams-tar-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("out.tar.gz"), &body).expect("write");
    let unpacked = dir.join("x");
    std::fs::create_dir_all(&unpacked).expect("dir");
    npm::run(
        Command::new("tar")
            .args(["-xpzf", "../out.tar.gz"])
            .current_dir(&unpacked),
        "tar -x",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (name, mode, mtime, bytes) in &files {
        let path = unpacked.join(name);
        assert_eq!(&std::fs::read(&path).expect(name), bytes, "{name}");
        let meta = std::fs::metadata(&path).expect(name);
        assert_eq!(meta.permissions().mode() & 0o777, *mode, "{name}");
        let modified = meta
            .modified()
            .expect("mtime")
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        assert_eq!(modified, *mtime, "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
