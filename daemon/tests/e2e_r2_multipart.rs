//! R2 multipart uploads end to end, in real jailed isolates of a real daemon: parts streamed
//! from a request body, completed into one object with R2's multipart etag and the upload's
//! metadata; the completion's checks (etags, the 5 MiB minimum, the object cap) and the quota
//! counting parts under way; parts that survive a restart (resumed by id) and a completed object
//! that survives `kill -9`; another tenant's upload id reaching nothing; an abandoned upload
//! removed after `[store] r2_multipart_expiry_secs`.
mod common;
use common::*;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const MIB: usize = 1 << 20;

/// `?op=create|part|complete|abort|get&key=K&id=UPLOAD&n=PART`; a part's bytes are the request
/// body (a stream), a completion's parts the body's JSON.
const WORKER: &str = r#"
export default { async fetch(req, env) {
  const u = new URL(req.url), q = (n) => u.searchParams.get(n);
  const key = q('key') ?? 'obj', op = q('op');
  try {
    if (op === 'create') {
      const m = await env.B.createMultipartUpload(key, { httpMetadata: { contentType: 'x/parts' }, customMetadata: { by: 'test' } });
      return Response.json({ tag: Object.prototype.toString.call(m), key: m.key, uploadId: m.uploadId });
    }
    const m = env.B.resumeMultipartUpload(key, q('id'));
    if (op === 'part') return Response.json(await m.uploadPart(Number(q('n')), req.body));
    if (op === 'complete') {
      const o = await m.complete(await req.json());
      return Response.json({ tag: Object.prototype.toString.call(o), key: o.key, size: o.size, etag: o.etag,
        httpEtag: o.httpEtag, type: o.httpMetadata.contentType, custom: o.customMetadata });
    }
    if (op === 'abort') { await m.abort(); return Response.json('aborted'); }
    if (op === 'bad') {
      const err = async (f) => { try { await f(); return 'no error'; } catch (e) { return [e.constructor.name, e.message]; } };
      return Response.json([
        await err(() => m.uploadPart(0, 'x')),
        await err(() => m.uploadPart(10001, 'x')),
        await err(() => m.complete('nope')),
        await err(() => env.B.resumeMultipartUpload(key, 'f'.repeat(32)).uploadPart(1, 'x')),
      ]);
    }
    const o = await env.B.get(key);
    if (o === null) return new Response('none', { status: 404 });
    return new Response(o.body, { headers: { etag: o.httpEtag } });
  } catch (e) {
    return Response.json({ error: [e.constructor.name, e.message] }, { status: 400 });
  }
} };
"#;

fn env() -> Value {
    json!({ "B": { "binding": "r2", "bucket": "mp" } })
}

fn call(d: &impl Target, token: &str, id: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/?{query}", d.base()))
        .bearer_auth(token)
        .body(body)
        .send()
        .expect("call");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
    )
}

fn ok(d: &impl Target, token: &str, id: &str, query: &str, body: Vec<u8>) -> Value {
    let (status, v) = call(d, token, id, query, body);
    assert_eq!(status, 200, "{query}: {v}");
    v
}

fn create(d: &impl Target, token: &str, id: &str, key: &str) -> String {
    let v = ok(d, token, id, &format!("op=create&key={key}"), Vec::new());
    assert_eq!(v["tag"], "[object R2MultipartUpload]");
    assert_eq!(v["key"], key);
    v["uploadId"].as_str().expect("uploadId").to_owned()
}

fn part(
    d: &impl Target,
    token: &str,
    id: &str,
    key: &str,
    upload: &str,
    n: u32,
    bytes: &[u8],
) -> (u16, Value) {
    call(
        d,
        token,
        id,
        &format!("op=part&key={key}&id={upload}&n={n}"),
        bytes.to_vec(),
    )
}

fn complete(
    d: &impl Target,
    token: &str,
    id: &str,
    key: &str,
    upload: &str,
    parts: &[Value],
) -> (u16, Value) {
    let body = serde_json::to_vec(parts).expect("json");
    call(
        d,
        token,
        id,
        &format!("op=complete&key={key}&id={upload}"),
        body,
    )
}

fn get(d: &impl Target, token: &str, id: &str, key: &str) -> (u16, Vec<u8>) {
    let r = client()
        .get(format!(
            "{}/v1/workers/{id}/fetch/?op=get&key={key}",
            d.base()
        ))
        .bearer_auth(token)
        .send()
        .expect("get");
    (r.status().as_u16(), r.bytes().expect("bytes").to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bytes(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// R2's etag of an object of `parts`: the MD5 of their MD5s, then `-N`.
fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut all = Vec::new();
    for p in parts {
        all.extend(Md5::digest(p));
    }
    format!("{}-{}", hex(&Md5::digest(&all)), parts.len())
}

fn error_of(v: &Value) -> String {
    v["error"][1].as_str().unwrap_or("").to_owned()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

const CPU: &str = "[limits]\ncpu_ms = 2000\n";

#[test]
fn parts_stream_in_and_complete_into_one_object_with_r2s_etag() {
    let d = Daemon::start("r2mp", 1, 1, CPU);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, WORKER, env());
    let up = create(&d, &t, &w, "obj");
    assert_eq!(up.len(), 32);
    let (one, two) = (bytes(5 * MIB, 1), bytes(3 * MIB + 7, 2));
    let (status, p2) = part(&d, &t, &w, "obj", &up, 2, &two);
    assert_eq!(status, 200, "{p2}");
    let (status, p1) = part(&d, &t, &w, "obj", &up, 1, &one);
    assert_eq!(status, 200, "{p1}");
    assert_eq!(
        p1,
        json!({"partNumber": 1, "etag": hex(&Md5::digest(&one))})
    );
    // Checks: an etag that names no part, a first part below 5 MiB, malformed arguments.
    let (status, v) = complete(
        &d,
        &t,
        &w,
        "obj",
        &up,
        &[json!({"partNumber": 1, "etag": "00"}), p2.clone()],
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        error_of(&v).starts_with("complete: ") && error_of(&v).ends_with("(10025)"),
        "{v}"
    );
    let (status, v) = complete(
        &d,
        &t,
        &w,
        "obj",
        &up,
        &[p2.clone(), json!({"partNumber": 3, "etag": p1["etag"]})],
    );
    assert_eq!(status, 400, "{v}");
    let bad = ok(&d, &t, &w, &format!("op=bad&key=obj&id={up}"), Vec::new());
    assert_eq!(bad[0][0], "TypeError", "{bad}");
    assert_eq!(bad[1][0], "TypeError", "{bad}");
    assert_eq!(bad[2][0], "TypeError", "{bad}");
    assert!(
        bad[3][1].as_str().unwrap_or("").ends_with("(10024)"),
        "{bad}"
    );
    let small = create(&d, &t, &w, "small");
    let (_, s1) = part(&d, &t, &w, "small", &small, 1, b"too small");
    let (_, s2) = part(&d, &t, &w, "small", &small, 2, b"last");
    let (status, v) = complete(&d, &t, &w, "small", &small, &[s1, s2]);
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).ends_with("(10011)"), "{v}");
    ok(
        &d,
        &t,
        &w,
        &format!("op=abort&key=small&id={small}"),
        Vec::new(),
    );
    // The completion: given in any order.
    let (status, o) = complete(&d, &t, &w, "obj", &up, &[p2, p1]);
    assert_eq!(status, 200, "{o}");
    let etag = multipart_etag(&[&one, &two]);
    assert_eq!(
        o,
        json!({"tag": "[object R2Object]", "key": "obj", "size": one.len() + two.len(), "etag": etag,
            "httpEtag": format!("\"{etag}\""), "type": "x/parts", "custom": {"by": "test"}})
    );
    let (status, back) = get(&d, &t, &w, "obj");
    assert_eq!(status, 200);
    assert!(
        back == [one.as_slice(), two.as_slice()].concat(),
        "the parts, in order"
    );
    // One file: the object's (the parts' and the aborted upload's are gone).
    assert_eq!(files_in(&d.dir.join("data/r2/t0/mp")), 1);
    // Done: the upload is no more.
    let (status, v) = part(&d, &t, &w, "obj", &up, 3, b"late");
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).ends_with("(10024)"), "{v}");
}

#[test]
fn the_object_cap_and_the_quota_count_parts() {
    let extra =
        format!("{CPU}[store]\nr2_max_object_bytes = 7340032\nr2_tenant_max_bytes = 9437184\n");
    let d = Daemon::start("r2mpquota", 1, 1, &extra);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, WORKER, env());
    let up = create(&d, &t, &w, "k");
    let (status, p1) = part(&d, &t, &w, "k", &up, 1, &bytes(5 * MIB, 3));
    assert_eq!(status, 200, "{p1}");
    // 5 MiB under way + 5 MiB > the 9 MiB quota.
    let (status, v) = part(&d, &t, &w, "k", &up, 2, &bytes(5 * MIB, 4));
    assert_eq!(status, 400, "{v}");
    assert!(
        error_of(&v).contains("r2_tenant_max_bytes = 9437184"),
        "{v}"
    );
    assert_eq!(
        files_in(&d.dir.join("data/r2/t0/mp")),
        1,
        "the refused part left nothing"
    );
    // 5 + 3 MiB: within the quota, past the 7 MiB object cap.
    let (status, p2) = part(&d, &t, &w, "k", &up, 2, &bytes(3 * MIB, 4));
    assert_eq!(status, 200, "{p2}");
    let (status, v) = complete(&d, &t, &w, "k", &up, &[p1.clone(), p2]);
    assert_eq!(status, 400, "{v}");
    assert!(
        error_of(&v).contains("r2_max_object_bytes = 7340032"),
        "{v}"
    );
    let (status, p2) = part(&d, &t, &w, "k", &up, 2, &bytes(MIB, 5));
    assert_eq!(status, 200, "{p2}");
    let (status, o) = complete(&d, &t, &w, "k", &up, &[p1, p2]);
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["size"], 6 * MIB);
}

#[test]
fn parts_survive_a_restart_and_the_completed_object_survives_kill_9() {
    let tenants = format!(
        "{CPU}[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("r2mpdurable", 1, &tenants, &[]);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, WORKER, env());
    let up = create(&d, &t, &w, "k");
    let one = bytes(5 * MIB, 6);
    let (status, p1) = part(&d, &t, &w, "k", &up, 1, &one);
    assert_eq!(status, 200, "{p1}");
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    // Resumed by its id after the restart.
    let two = bytes(1000, 7);
    let (status, p2) = part(&d, &t, &w, "k", &up, 2, &two);
    assert_eq!(status, 200, "{p2}");
    let (status, o) = complete(&d, &t, &w, "k", &up, &[p1, p2]);
    assert_eq!(status, 200, "{o}");
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    let (status, back) = get(&d, &t, &w, "k");
    assert_eq!(status, 200);
    assert!(
        back == [one.as_slice(), two.as_slice()].concat(),
        "whole after kill -9"
    );
    assert_eq!(files_in(&d.dir.join("data/r2/t0/mp")), 1);
}

#[test]
fn another_tenants_upload_id_reaches_nothing() {
    let d = Daemon::start("r2mpiso", 2, 1, CPU);
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let w0 = load_with_env(&d, &t0, WORKER, env());
    let w1 = load_with_env(&d, &t1, WORKER, env());
    let up = create(&d, &t0, &w0, "k");
    let (status, p1) = part(&d, &t0, &w0, "k", &up, 1, b"mine");
    assert_eq!(status, 200, "{p1}");
    // t1, same bucket name, same key, t0's id.
    let (status, v) = part(&d, &t1, &w1, "k", &up, 2, b"theirs");
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).ends_with("(10024)"), "{v}");
    let (status, v) = complete(&d, &t1, &w1, "k", &up, std::slice::from_ref(&p1));
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).ends_with("(10024)"), "{v}");
    ok(&d, &t1, &w1, &format!("op=abort&key=k&id={up}"), Vec::new());
    // The same id with another key of t0's own: nothing either.
    let (status, v) = part(&d, &t0, &w0, "other", &up, 2, b"x");
    assert_eq!(status, 400, "{v}");
    // t0's upload is untouched.
    let (status, o) = complete(&d, &t0, &w0, "k", &up, &[p1]);
    assert_eq!(status, 200, "{o}");
    assert_eq!(get(&d, &t0, &w0, "k").1, b"mine");
    assert_eq!(get(&d, &t1, &w1, "k").0, 404);
    assert_eq!(files_in(&d.dir.join("data/r2/t1/mp")), 0);
}

#[test]
fn an_abandoned_upload_is_removed_after_its_time() {
    let d = Daemon::start(
        "r2mpreap",
        1,
        1,
        &format!("{CPU}[store]\nr2_multipart_expiry_secs = 2\n"),
    );
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, WORKER, env());
    let up = create(&d, &t, &w, "k");
    let (status, v) = part(&d, &t, &w, "k", &up, 1, b"abandoned");
    assert_eq!(status, 200, "{v}");
    let dir = d.dir.join("data/r2/t0/mp");
    // The reaper looks every second (a quarter of the expiry, at least 1 s); 60 s only guards
    // against a hang.
    let deadline = Instant::now() + Duration::from_secs(60);
    while files_in(&dir) > 0 {
        assert!(Instant::now() < deadline, "the part's file is still there");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, v) = part(&d, &t, &w, "k", &up, 2, b"late");
    assert_eq!(status, 400, "{v}");
    assert!(error_of(&v).ends_with("(10024)"), "{v}");
}
