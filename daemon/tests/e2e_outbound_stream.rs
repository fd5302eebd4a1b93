//! `globalOutbound: {"worker": id}` streams both ways, end to end (real daemon, real jailed
//! workers): the target's streamed answer reaches the caller's `fetch()` as the target writes it,
//! the caller's request body (a stream, or a body too large for one host call) reaches the target
//! as it is produced, the caller's abort cancels the target's request, and a deleted target fails
//! the fetch clearly (its caller's upload let go of). Every exchange is audited with its bytes.
mod common;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Limits roomy enough for 17 MiB bodies hashed on both sides.
const ROOMY: &str = "[limits]\ncpu_ms = 20000\nwall_ms = 60000\nmemory_mb = 256\n";

/// The workers' pattern and helpers (their `digest` is [`hashing::DIGEST_JS`], as [`tree_hash`]
/// computes it here).
const SHARED: &str = r#"
const pattern = (n, seed) => { const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = (i * seed + (i >>> 11)) & 255; return a; };
const enc = new TextEncoder();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
"#;

/// [`hashing::DIGEST_JS`]'s `digest` of [`SHARED`]'s `pattern(n, seed)`, computed here.
fn tree_hash(n: usize, seed: usize) -> String {
    let all: Vec<u8> = (0..n)
        .map(|i| (i.wrapping_mul(seed).wrapping_add(i >> 11) & 255) as u8)
        .collect();
    let mut parts = Sha256::new();
    for mib in all.chunks(1 << 20) {
        parts.update(Sha256::digest(mib));
    }
    parts
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The target, whatever the URL's host: `/gate` writes `one;` and then, once `/release` was
/// fetched (or after 5 s: `timeout`), what it was released with; `/big?mib=N` streams N MiB and
/// 12345 bytes of `pattern(_, 7)`; `/hash` reads its request body as a stream and answers its
/// length and digest; `/forever` writes a tick every 50 ms (400 at most) and keeps, for
/// `/state`, how many it wrote and why its stream was cancelled; `/slow` ticks 40 times, 50 ms
/// apart (`/ticks` counts), before it answers.
const TARGET: &str = r#"
let release = null;
const forever = { written: 0, cancelled: null };
let slowTicks = 0;
export default {
  async fetch(req) {
    const url = new URL(req.url);
    switch (url.pathname) {
      case '/gate': {
        const gate = new Promise((r) => { release = r; setTimeout(() => r('timeout'), 5000); });
        const { readable, writable } = new TransformStream();
        const w = writable.getWriter();
        (async () => { await w.write(enc.encode('one;')); await w.write(enc.encode(await gate)); await w.close(); })();
        return new Response(readable);
      }
      case '/release': if (release !== null) release('released'); return new Response('ok');
      case '/big': {
        const all = pattern(Number(url.searchParams.get('mib')) * (1 << 20) + 12345, 7);
        let at = 0;
        return new Response(new ReadableStream({
          pull(c) {
            if (at >= all.length) { c.close(); return; }
            const n = Math.min(256 * 1024 + 7, all.length - at);
            c.enqueue(all.slice(at, at + n));
            at += n;
          },
        }), { headers: { 'x-len': String(all.length) } });
      }
      case '/hash': {
        const parts = [];
        let len = 0;
        for await (const p of req.body) { parts.push(p); len += p.length; }
        const all = new Uint8Array(len);
        for (let at = 0, i = 0; i < parts.length; at += parts[i].length, i++) all.set(parts[i], at);
        return Response.json({ len, hash: await digest(all) });
      }
      case '/forever': {
        let n = 0;
        forever.written = 0;
        forever.cancelled = null;
        return new Response(new ReadableStream({
          async pull(c) {
            if (n > 0) await sleep(50);
            forever.written = ++n;
            c.enqueue(enc.encode(`tick${n};`));
            if (n >= 400) c.close();
          },
          cancel(reason) { forever.cancelled = String(reason?.message ?? reason); },
        }));
      }
      case '/state': return Response.json(forever);
      case '/slow':
        for (let i = 0; i < 40; i++) { await sleep(50); slowTicks++; }
        return new Response('slow done');
      case '/ticks': return Response.json(slowTicks);
    }
    return new Response('?', { status: 404 });
  },
};
"#;

/// The caller: `/{path}` runs `cases[path]`, whose `fetch()`es all go to the target.
const CALLER: &str = r#"
const dec = new TextDecoder();
const readAll = async (body) => {
  const parts = [];
  let len = 0;
  for await (const p of body) { parts.push(p); len += p.length; }
  const all = new Uint8Array(len);
  for (let at = 0, i = 0; i < parts.length; at += parts[i].length, i++) all.set(parts[i], at);
  return [all, parts.length];
};
const cases = {
  // The first chunk is read before the target may write its second: only `/release` frees it.
  async gate() {
    const reader = (await fetch('http://t/gate')).body.getReader();
    const first = dec.decode((await reader.read()).value);
    const released = await (await fetch('http://t/release')).text();
    let rest = '';
    for (;;) { const { done, value } = await reader.read(); if (done) break; rest += dec.decode(value); }
    return { first, released, rest };
  },
  async big() {
    const down = await fetch('http://t/big?mib=17');
    const [all, reads] = await readAll(down.body);
    // A ReadableStream of uneven chunks, and a body known whole too large for one host call.
    const streamed = pattern(17 * (1 << 20) + 4321, 13);
    let at = 0;
    const body = new ReadableStream({
      pull(c) {
        if (at >= streamed.length) { c.close(); return; }
        const n = Math.min(300 * 1024 + 1, streamed.length - at);
        c.enqueue(streamed.slice(at, at + n));
        at += n;
      },
    });
    const up = await (await fetch('http://t/hash', { method: 'POST', body, duplex: 'half' })).json();
    const whole = pattern(17 * (1 << 20) + 5, 3);
    const upWhole = await (await fetch('http://t/hash', { method: 'PUT', body: whole })).json();
    return { down: { len: all.length, reads, hash: await digest(all), said: down.headers.get('x-len') }, up, upWhole };
  },
  async abort() {
    const out = {};
    const c = new AbortController();
    const reader = (await fetch('http://t/forever', { signal: c.signal })).body.getReader();
    out.first = dec.decode((await reader.read()).value);
    c.abort(new RangeError('enough'));
    try { await reader.read(); out.afterAbort = 'read'; } catch (e) { out.afterAbort = [e.name, e.message]; }
    // The target's stream learns of it (its cancel callback), and writes no more (at most 40
    // looks: each is one of the 50 subrequests).
    let s = null;
    for (let i = 0; i < 40; i++) { s = await (await fetch('http://t/state')).json(); if (s.cancelled !== null) break; await sleep(100); }
    await sleep(300);
    out.state = [s, await (await fetch('http://t/state')).json()];
    // Aborted before the target answered: its handler stops.
    const slow = new AbortController();
    setTimeout(() => slow.abort(new RangeError('too slow')), 300);
    try { out.slow = await (await fetch('http://t/slow', { signal: slow.signal })).text(); }
    catch (e) { out.slow = [e.name, e.message]; }
    await sleep(300);
    const t1 = await (await fetch('http://t/ticks')).json();
    await sleep(500);
    out.ticks = [t1, await (await fetch('http://t/ticks')).json()];
    return out;
  },
  // Ends with the target's body unread.
  async leave() {
    const reader = (await fetch('http://t/forever')).body.getReader();
    return dec.decode((await reader.read()).value);
  },
  async state() { return (await fetch('http://t/state')).json(); },
  async deleted() {
    let cancelled;
    const gone = new Promise((r) => { cancelled = r; });
    const body = new ReadableStream({
      pull(c) { c.enqueue(new Uint8Array(1 << 20)); },
      cancel(reason) { cancelled(String(reason?.message ?? reason)); },
    });
    let error = null;
    try { await fetch('http://t/hash', { method: 'POST', body, duplex: 'half' }); } catch (e) { error = [e.name, e.message]; }
    const upload = await Promise.race([gone, sleep(5000).then(() => 'still fed after 5 s')]);
    return { error, upload };
  },
};
export default {
  async fetch(req) {
    const path = new URL(req.url).pathname.slice(1);
    // The target's answer, answered on to the client as it comes.
    if (path === 'proxy') return fetch('http://t/big?mib=17');
    return Response.json(await cases[path]());
  },
};
"#;

fn create(d: &Daemon, t: &str, code: &str, outbound: Option<&str>) -> String {
    let mut body = json!({
        "mainModule": "main.js",
        "modules": { "main.js": format!("{}{SHARED}{code}", hashing::DIGEST_JS) },
        "limits": { "cpuMs": 20000, "wallMs": 60000, "memoryMb": 256 },
    });
    if let Some(target) = outbound {
        body["globalOutbound"] = json!({ "worker": target });
    }
    load_code(d, t, &body)
}

/// A daemon, the target and a caller routed to it.
fn pair(tag: &str) -> (Daemon, String, String, String) {
    let d = Daemon::start(tag, 1, 1, ROOMY);
    let t = tenant_token(0);
    let target = create(&d, &t, TARGET, None);
    let caller = create(&d, &t, CALLER, Some(&target));
    (d, t, target, caller)
}

fn audit(d: &Daemon, target: &str, path: &str) -> Vec<Value> {
    let (_, audit) = get_json(d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=1000");
    let records = audit["records"].as_array().expect("records");
    records
        .iter()
        .filter(|r| r["scheme"] == "worker" && r["host"] == target && r["path"] == path)
        .cloned()
        .collect()
}

/// The caller reads the target's first chunk before the target writes its second: the target
/// writes it only once the caller fetched `/release`, which the caller does only after reading
/// the first chunk (gathered whole, the fetch would wait for the target's 5 s fallback).
#[test]
fn the_targets_answer_reaches_the_caller_as_it_is_written() {
    let (d, t, target, caller) = pair("obgate");
    let out = fetch_json(&d, &t, &caller, "gate");
    assert_eq!(
        out,
        json!({ "first": "one;", "released": "ok", "rest": "released" })
    );
    let records = audit(&d, &target, "/gate");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["bytesIn"], 12, "{records:?}");
    assert_eq!(records[0]["status"], 200, "{records:?}");
}

/// 17 MiB and more each way, by length and digest in the worker that received them and here:
/// the target's streamed answer, the caller's streamed body and its body known whole (larger
/// than one host call carries); the target's answer answered on by the caller reaches a client
/// whole (its SHA-256); audited with the bytes each way once over.
#[test]
fn bodies_larger_than_one_host_call_stream_both_ways() {
    let (d, t, target, caller) = pair("obbig");
    let out = fetch_json(&d, &t, &caller, "big");
    let down = 17 * (1 << 20) + 12345;
    assert_eq!(out["down"]["len"], down, "{out}");
    assert_eq!(out["down"]["said"], down.to_string(), "{out}");
    assert!(out["down"]["reads"].as_u64().unwrap_or(0) > 1, "{out}");
    assert_eq!(out["down"]["hash"], tree_hash(down, 7), "{out}");
    let up = 17 * (1 << 20) + 4321;
    assert_eq!(out["up"], json!({ "len": up, "hash": tree_hash(up, 13) }));
    let whole = 17 * (1 << 20) + 5;
    assert_eq!(
        out["upWhole"],
        json!({ "len": whole, "hash": tree_hash(whole, 3) })
    );
    // Answered on to a client: its SHA-256 is the pattern's.
    let r = client()
        .get(format!("{}/v1/workers/{caller}/fetch/proxy", d.base))
        .bearer_auth(&t)
        .send()
        .expect("proxy");
    assert_eq!(r.status().as_u16(), 200);
    let body = r.bytes().expect("body");
    let want: Vec<u8> = (0..down)
        .map(|i| (i.wrapping_mul(7).wrapping_add(i >> 11) & 255) as u8)
        .collect();
    assert_eq!(body.len(), down);
    assert_eq!(Sha256::digest(&body), Sha256::digest(&want));
    let records = audit(&d, &target, "/big");
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r["bytesIn"] == down), "{records:?}");
    let uploads = audit(&d, &target, "/hash");
    let mut sent: Vec<u64> = uploads
        .iter()
        .map(|r| r["bytesOut"].as_u64().unwrap_or(0))
        .collect();
    sent.sort_unstable();
    assert_eq!(sent, vec![whole as u64, up as u64], "{uploads:?}");
}

/// The caller's abort cancels the target's request: after its answer, the target's stream is
/// cancelled and it writes no more; before it, the target's handler stops. A caller whose
/// request ends with the target's body unread cancels the target's stream too.
#[test]
fn the_callers_abort_cancels_the_targets_request() {
    let (d, t, target, caller) = pair("obabort");
    let out = fetch_json(&d, &t, &caller, "abort");
    assert_eq!(out["first"], "tick1;", "{out}");
    assert_eq!(out["afterAbort"], json!(["RangeError", "enough"]), "{out}");
    let state = &out["state"];
    assert!(state[0]["cancelled"].is_string(), "not cancelled: {out}");
    assert_eq!(state[0]["written"], state[1]["written"], "wrote on: {out}");
    assert!(state[0]["written"].as_u64().unwrap_or(400) < 100, "{out}");
    assert_eq!(out["slow"], json!(["RangeError", "too slow"]), "{out}");
    let ticks = &out["ticks"];
    assert_eq!(ticks[0], ticks[1], "the aborted handler ran on: {out}");
    assert!(ticks[0].as_u64().unwrap_or(40) < 40, "{out}");
    let aborted = audit(&d, &target, "/slow");
    assert!(
        aborted
            .iter()
            .any(|r| r["reason"].as_str() == Some("the fetch was aborted")),
        "{aborted:?}"
    );

    assert_eq!(fetch_json(&d, &t, &caller, "leave"), json!("tick1;"));
    let mut state = Value::Null;
    for _ in 0..50 {
        state = fetch_json(&d, &t, &caller, "state");
        if state["cancelled"].is_string() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(state["cancelled"].is_string(), "not cancelled: {state}");
    let left = audit(&d, &target, "/forever");
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(
        left.iter()
            .all(|r| r["reason"] == "the body was not read to its end"),
        "{left:?}"
    );
}

/// A target deleted after its caller was made fails the caller's fetch with a clear error, and
/// the caller's streamed body is let go of (its stream cancelled) rather than fed forever.
#[test]
fn a_deleted_target_fails_the_fetch_clearly() {
    let (d, t, target, caller) = pair("obgone");
    let r = client()
        .delete(format!("{}/v1/workers/{target}", d.base))
        .bearer_auth(&t)
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let out = fetch_json(&d, &t, &caller, "deleted");
    assert_eq!(out["error"][0], "TypeError", "{out}");
    let message = out["error"][1].as_str().unwrap_or("");
    assert!(
        message.contains(&format!("globalOutbound worker {target} no longer exists")),
        "{out}"
    );
    assert!(
        out["upload"]
            .as_str()
            .is_some_and(|u| !u.contains("still fed")),
        "{out}"
    );
}
