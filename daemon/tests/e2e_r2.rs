//! R2 end to end: a `{"binding": "r2"}` in real jailed isolates of a real daemon: put, get,
//! head, delete, list (prefix, delimiter, cursor paging), metadata round trip, ranges, `onlyIf`
//! etag conditions; a 20 MiB body streamed in and out with its SHA-256 checked; the object cap
//! and the tenant's quota (a clear error, nothing left behind); tenants whose buckets of the
//! same name never meet; an acknowledged put that survives a `kill -9` of the daemon.
mod common;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn bucket_env(bucket: &str) -> Value {
    json!({ "B": { "binding": "r2", "bucket": bucket } })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const API_WORKER: &str = r#"
export default { async fetch(req, env) {
  const b = env.B, out = {};
  const err = async (f) => { try { await f(); return 'no error'; } catch (e) { return [e.constructor.name, e.message]; } };
  out.tag = Object.prototype.toString.call(b);
  const put = await b.put('dir/a.txt', 'hello world', {
    httpMetadata: { contentType: 'text/plain', cacheControl: 'max-age=60', cacheExpiry: new Date(Date.UTC(2030, 0, 2)) },
    customMetadata: { owner: 'ann', n: 7 },
  });
  out.put = { key: put.key, size: put.size, etag: put.etag, httpEtag: put.httpEtag, tag: Object.prototype.toString.call(put),
    uploaded: put.uploaded instanceof Date, version: typeof put.version, storageClass: put.storageClass,
    md5: put.checksums.toJSON().md5, md5Bytes: put.checksums.md5.byteLength };
  const got = await b.get('dir/a.txt');
  const h = new Headers();
  got.writeHttpMetadata(h);
  out.get = { tag: Object.prototype.toString.call(got), used: got.bodyUsed, text: await got.text(), usedAfter: got.bodyUsed,
    http: got.httpMetadata.contentType, expiry: got.httpMetadata.cacheExpiry.toISOString(), custom: got.customMetadata,
    headers: [...h], again: await err(() => got.text()) };
  const head = await b.head('dir/a.txt');
  out.head = [head.size, head.etag === put.etag, 'body' in head, head.customMetadata.owner];
  out.missing = [await b.get('nope'), await b.head('nope')];
  out.range = await Promise.all([
    b.get('dir/a.txt', { range: { offset: 6 } }).then(async (o) => [await o.text(), o.range]),
    b.get('dir/a.txt', { range: { offset: 1, length: 3 } }).then((o) => o.text()),
    b.get('dir/a.txt', { range: { suffix: 5 } }).then((o) => o.text()),
    b.get('dir/a.txt', { range: new Headers({ range: 'bytes=0-4' }) }).then((o) => o.text()),
  ]);
  out.badRange = await err(() => b.get('dir/a.txt', { range: { offset: 100 } }));
  const etag = put.etag;
  const cond = await b.get('dir/a.txt', { onlyIf: { etagDoesNotMatch: etag } });
  out.cond = [Object.prototype.toString.call(cond), 'body' in cond,
    await b.get('dir/a.txt', { onlyIf: { etagMatches: etag } }).then((o) => o.text()),
    await b.get('dir/a.txt', { onlyIf: new Headers({ 'if-none-match': `"${etag}"` }) }).then((o) => 'body' in o),
    await b.put('dir/a.txt', 'changed', { onlyIf: { etagMatches: 'nope' } }),
    await b.put('dir/a.txt', 'changed', { onlyIf: { etagDoesNotMatch: '*' } }),
    (await b.put('dir/a.txt', 'changed', { onlyIf: { etagMatches: etag } })).size,
    await b.get('dir/a.txt').then((o) => o.text())];
  // Bytes, a Blob, a stream, null; keys of any characters.
  await b.put('bytes', new Uint8Array([0, 1, 255]));
  await b.put('blob', new Blob(['bl', 'ob'], { type: 'x/y' }));
  await b.put('stream', new Response('streamed body').body);
  await b.put('empty', null);
  const weird = 'we\u0000ird/../../key é 🙂?#%';
  await b.put(weird, 'odd');
  out.values = [
    [...new Uint8Array(await (await b.get('bytes')).arrayBuffer())],
    await (await b.get('blob')).text(),
    await (await b.get('stream')).text(),
    (await b.get('empty')).size,
    await (await b.get(weird)).text(),
    await b.get('bytes').then((o) => o.json()).catch((e) => e.constructor.name),
    await b.get('blob').then((o) => o.blob()).then((x) => [x.size, x.type]),
  ];
  out.checksum = [
    (await b.put('c1', 'abc', { sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad' })).checksums.toJSON(),
    await err(() => b.put('c2', 'abc', { md5: '00000000000000000000000000000000' })),
    await b.head('c2'),
  ];
  out.errors = [
    await err(() => b.put('x'.repeat(1025), 'v')),
    await err(() => b.put('', 'v')),
    await err(() => b.put('k', 12)),
    await err(() => b.list({ limit: 1001 })),
    await err(() => b.resumeMultipartUpload('m', 'f'.repeat(32)).complete([{ partNumber: 1, etag: 'x' }])),
  ];
  // list: prefix, delimiter, cursor paging, include.
  for (const k of ['l/1', 'l/2', 'l/3', 'l/sub/1', 'l/sub/2', 'l/z/9', 'm']) await b.put(k, k, { customMetadata: { k } });
  const top = await b.list({ prefix: 'l/', delimiter: '/' });
  out.delimited = [top.objects.map((o) => o.key), top.delimitedPrefixes, top.truncated, 'cursor' in top];
  const pages = [];
  let cursor;
  do {
    const page = await b.list({ prefix: 'l/', limit: 2, cursor });
    pages.push(page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor !== undefined);
  out.pages = pages;
  out.startAfter = (await b.list({ prefix: 'l/', startAfter: 'l/2' })).objects.map((o) => o.key);
  const plain = await b.list({ prefix: 'l/1' });
  const incl = await b.list({ prefix: 'l/1', include: ['customMetadata', 'httpMetadata'] });
  out.include = [plain.objects[0].customMetadata, incl.objects[0].customMetadata];
  await b.delete('m');
  await b.delete(['l/1', 'l/2', 'not-there']);
  out.afterDelete = [await b.head('m'), (await b.list({ prefix: 'l/' })).objects.map((o) => o.key)];
  return Response.json(out);
} };
"#;

#[test]
fn r2_binding_has_cloudflare_r2s_methods() {
    let d = Daemon::start("r2api", 1, 1, CPU_NOT_TESTED);
    let t = tenant_token(0);
    let id = load_with_env(&d, &t, API_WORKER, bucket_env("files"));
    let out = fetch_json(&d, &t, &id, "");
    assert_eq!(out["tag"], "[object R2Bucket]");
    let md5 = "5eb63bbbe01eeed093cb22bb8f5acdc3"; // md5("hello world")
    assert_eq!(
        out["put"],
        json!({"key": "dir/a.txt", "size": 11, "etag": md5, "httpEtag": format!("\"{md5}\""),
               "tag": "[object R2Object]", "uploaded": true, "version": "string",
               "storageClass": "Standard", "md5": md5, "md5Bytes": 16})
    );
    assert_eq!(
        out["get"],
        json!({"tag": "[object R2ObjectBody]", "used": false, "text": "hello world", "usedAfter": true,
               "http": "text/plain", "expiry": "2030-01-02T00:00:00.000Z",
               "custom": {"owner": "ann", "n": "7"},
               "headers": [["cache-control", "max-age=60"], ["content-type", "text/plain"],
                           ["expires", "Wed, 02 Jan 2030 00:00:00 GMT"]],
               "again": ["TypeError", "R2ObjectBody.text: the body has already been used"]})
    );
    assert_eq!(out["head"], json!([11, true, false, "ann"]));
    assert_eq!(out["missing"], json!([null, null]));
    assert_eq!(
        out["range"],
        json!([["world", {"offset": 6, "length": 5}], "ell", "world", "hello"])
    );
    assert_eq!(out["badRange"][0], "Error");
    assert!(
        out["badRange"][1]
            .as_str()
            .unwrap_or("")
            .starts_with("get: The requested range is not satisfiable"),
        "{}",
        out["badRange"]
    );
    assert_eq!(
        out["cond"],
        json!([
            "[object R2Object]",
            false,
            "hello world",
            false,
            null,
            null,
            7,
            "changed"
        ])
    );
    assert_eq!(
        out["values"],
        json!([
            [0, 1, 255],
            "blob",
            "streamed body",
            0,
            "odd",
            "SyntaxError",
            [4, ""]
        ])
    );
    assert_eq!(
        out["checksum"][0],
        json!({"md5": "900150983cd24fb0d6963f7d28e17f72",
               "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"})
    );
    assert_eq!(out["checksum"][1][0], "Error");
    assert!(
        out["checksum"][1][1]
            .as_str()
            .unwrap_or("")
            .contains("md5 checksum you specified did not match"),
        "{}",
        out["checksum"][1]
    );
    assert_eq!(
        out["checksum"][2],
        Value::Null,
        "a failed check stores nothing"
    );
    let errors = out["errors"].as_array().expect("errors");
    assert_eq!(errors[0][0], "TypeError", "{}", errors[0]);
    assert!(errors[0][1]
        .as_str()
        .unwrap_or("")
        .contains("1 to 1024 bytes"));
    assert_eq!(errors[1][0], "TypeError");
    assert_eq!(errors[2][0], "TypeError", "{}", errors[2]);
    assert_eq!(errors[3][0], "TypeError", "{}", errors[3]);
    assert_eq!(errors[4][0], "Error");
    assert!(
        errors[4][1].as_str().unwrap_or("").ends_with("(10024)"),
        "no such upload: {}",
        errors[4]
    );
    assert_eq!(
        out["delimited"],
        json!([["l/1", "l/2", "l/3"], ["l/sub/", "l/z/"], false, false])
    );
    assert_eq!(
        out["pages"],
        json!([["l/1", "l/2"], ["l/3", "l/sub/1"], ["l/sub/2", "l/z/9"]])
    );
    assert_eq!(
        out["startAfter"],
        json!(["l/3", "l/sub/1", "l/sub/2", "l/z/9"])
    );
    assert_eq!(out["include"], json!([{}, {"k": "l/1"}]));
    assert_eq!(
        out["afterDelete"],
        json!([null, ["l/3", "l/sub/1", "l/sub/2", "l/z/9"]])
    );
    // The objects are files named by version under the tenant's bucket folder, never by key.
    let dir = d.dir.join("data/r2/t0/files");
    assert!(d.dir.join("data/r2/t0/index.sqlite3").is_file());
    for f in std::fs::read_dir(&dir).expect("bucket folder") {
        let name = f.expect("entry").file_name().to_string_lossy().into_owned();
        assert!(
            name.len() == 32 && name.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
    }
}

const STREAM_WORKER: &str = r#"
export default { async fetch(req, env) {
  const u = new URL(req.url);
  const key = u.searchParams.get('key') ?? 'big';
  if (req.method === 'PUT') {
    try {
      const sha256 = u.searchParams.get('sha256') ?? undefined;
      const o = await env.B.put(key, req.body, { sha256 });
      return Response.json({ size: o.size, etag: o.etag, sha256: o.checksums.toJSON().sha256 });
    } catch (e) {
      return Response.json({ error: [e.constructor.name, e.message] }, { status: 400 });
    }
  }
  if (req.method === 'DELETE') { await env.B.delete(key); return Response.json('deleted'); }
  const o = await env.B.get(key);
  if (o === null) return new Response('none', { status: 404 });
  return new Response(o.body, { headers: { etag: o.httpEtag } });
} };
"#;

fn put_body(d: &impl Target, token: &str, id: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    let r = client()
        .put(format!("{}/v1/workers/{id}/fetch/?{query}", d.base()))
        .bearer_auth(token)
        .body(body)
        .send()
        .expect("put");
    (r.status().as_u16(), r.json().expect("json"))
}

fn get_body(d: &impl Target, token: &str, id: &str, key: &str) -> (u16, Vec<u8>) {
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/?key={key}", d.base()))
        .bearer_auth(token)
        .send()
        .expect("get");
    (r.status().as_u16(), r.bytes().expect("bytes").to_vec())
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn a_20_mib_body_streams_in_and_out() {
    // Moving 20 MiB through the isolate (a copy per MiB each way) takes more than the default
    // 50 ms of CPU on a loaded machine; the wall limit still bounds the request.
    let d = Daemon::start("r2stream", 1, 1, "[limits]\ncpu_ms = 2000\n");
    let t = tenant_token(0);
    let id = load_with_env(&d, &t, STREAM_WORKER, bucket_env("big"));
    let body: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let sha = hex(&Sha256::digest(&body));
    let md5 = {
        use md5::Digest as _;
        hex(&md5::Md5::digest(&body))
    };
    let (status, v) = put_body(&d, &t, &id, &format!("sha256={sha}"), body.clone());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"size": 20 << 20, "etag": md5, "sha256": sha}));
    let (status, back) = get_body(&d, &t, &id, "big");
    assert_eq!(status, 200);
    assert_eq!(back.len(), 20 << 20);
    assert_eq!(hex(&Sha256::digest(&back)), sha);
    // A checksum that does not match stores nothing and leaves no file.
    let wrong = "0".repeat(64);
    let (status, v) = put_body(&d, &t, &id, &format!("key=other&sha256={wrong}"), body);
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"][1]
            .as_str()
            .unwrap_or("")
            .contains("did not match"),
        "{v}"
    );
    assert_eq!(get_body(&d, &t, &id, "other").0, 404);
    assert_eq!(files_in(&d.dir.join("data/r2/t0/big")), 1);
}

#[test]
fn the_object_cap_and_the_tenants_quota_are_clear_errors_that_leave_nothing() {
    let extra = "[limits]\ncpu_ms = 2000\n[store]\nr2_max_object_bytes = 3145728\nr2_tenant_max_bytes = 5242880\n";
    let d = Daemon::start("r2quota", 1, 1, extra);
    let t = tenant_token(0);
    let id = load_with_env(&d, &t, STREAM_WORKER, bucket_env("q"));
    let dir = d.dir.join("data/r2/t0/q");
    let (status, v) = put_body(&d, &t, &id, "key=too-big", vec![7; (3 << 20) + 1]);
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"][0], "Error");
    let message = v["error"][1].as_str().unwrap_or("");
    assert!(
        message.contains("exceeds the maximum allowed object size")
            && message.contains("r2_max_object_bytes = 3145728")
            && message.ends_with("(10100)"),
        "{message}"
    );
    assert_eq!(files_in(&dir), 0, "nothing half-written");
    let (status, v) = put_body(&d, &t, &id, "key=a", vec![1; 3 << 20]);
    assert_eq!(status, 200, "{v}");
    let (status, v) = put_body(&d, &t, &id, "key=b", vec![2; 3 << 20]);
    assert_eq!(status, 400, "{v}");
    let message = v["error"][1].as_str().unwrap_or("");
    assert!(
        message.contains("r2_tenant_max_bytes = 5242880"),
        "{message}"
    );
    assert_eq!(files_in(&dir), 1, "only the stored object's file");
    assert_eq!(get_body(&d, &t, &id, "b").0, 404);
    // Deleting frees the quota.
    let r = client()
        .delete(format!("{}/v1/workers/{id}/fetch/?key=a", d.base()))
        .bearer_auth(&t)
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 200);
    let (status, v) = put_body(&d, &t, &id, "key=b", vec![2; 3 << 20]);
    assert_eq!(status, 200, "{v}");
    assert_eq!(files_in(&dir), 1);
}

#[test]
fn tenants_buckets_of_the_same_name_never_meet() {
    let d = Daemon::start_with(
        "r2iso",
        &["normal", "normal"],
        1,
        "",
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let w0 = load_with_env(&d, &t0, STREAM_WORKER, bucket_env("shared"));
    let w1 = load_with_env(&d, &t1, STREAM_WORKER, bucket_env("shared"));
    assert_eq!(put_body(&d, &t0, &w0, "key=k", b"zero".to_vec()).0, 200);
    assert_eq!(
        get_body(&d, &t1, &w1, "k").0,
        404,
        "t1 sees nothing of t0's"
    );
    assert_eq!(put_body(&d, &t1, &w1, "key=k", b"one".to_vec()).0, 200);
    assert_eq!(get_body(&d, &t0, &w0, "k").1, b"zero");
    assert_eq!(get_body(&d, &t1, &w1, "k").1, b"one");
    for bad in ["../t1/shared", "t1/shared", "..", "a.b", ""] {
        let (status, v) = create_with_env(&d, &t0, STREAM_WORKER, bucket_env(bad));
        assert_eq!(status, 400, "{bad}: {v}");
    }
    // A worker calling the host directly reaches only its own stored binding.
    let attacker = &[
        DIRECT_HOST_CALL,
        r#"
export default { async fetch(req, env) {
  return Response.json([
    await ask('r2.get', { binding: 'shared', key: 'k' }),
    await ask('r2.get', { binding: 'KV', key: 'k' }),
    await ask('r2.get', { binding: 'B', bucket: '../t1/shared', key: 'k' }),
  ]);
} };"#,
    ]
    .concat();
    let env = json!({ "B": { "binding": "r2", "bucket": "own" }, "KV": { "binding": "kv", "namespace": "shared" } });
    let a = load_with_env(&d, &t0, attacker, env);
    let out = fetch_json(&d, &t0, &a, "");
    for i in 0..2 {
        let s = out[i].as_str().unwrap_or("");
        assert!(
            s.starts_with("refused: ") && s.contains("no R2 binding"),
            "{i}: {s}"
        );
    }
    let own = out[2].as_str().unwrap_or("");
    assert!(
        own.contains("\"object\":null"),
        "its own empty bucket: {own}"
    );
}

#[test]
fn an_acknowledged_put_survives_kill_9() {
    let tenants = format!(
        "[limits]\ncpu_ms = 2000\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("r2durable", 1, &tenants, &[]);
    let t = tenant_token(0);
    let id = load_with_env(&d, &t, STREAM_WORKER, bucket_env("durable"));
    let body: Vec<u8> = (0..(3u32 << 20) + 17).map(|i| (i % 251) as u8).collect();
    for i in 0..5 {
        let (status, v) = put_body(&d, &t, &id, &format!("key=k{i}"), body.clone());
        assert_eq!(status, 200, "{v}");
    }
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    for i in 0..5 {
        let (status, back) = get_body(&d, &t, &id, &format!("k{i}"));
        assert_eq!(status, 200);
        assert!(back == body, "k{i} came back whole");
    }
}
