//! The Cache API end to end: `caches.default` and named caches in real isolates of a real daemon,
//! entries shared by a tenant's fresh isolates, freshness, what is not kept, typed errors, the
//! tenant's byte bound, and two tenants that never see each other's entries.
mod common;
use common::*;
use serde_json::{json, Value};

/// Runs `code` as Code Mode (a fresh isolate) as tenant `t`; its result.
fn result(d: &Daemon, t: usize, code: &str) -> Value {
    let (status, v) = run(d, &tenant_token(t), code);
    assert_eq!(status, 200, "{v}");
    v["result"].clone()
}

const PUT: &str = r#"
export default async () => {
  const c = caches.default;
  const err = async (f) => { try { await f(); return 'no error'; } catch (e) { return e.name + ': ' + e.message; } };
  const res = new Response('hello', { status: 201, statusText: 'Made', headers: { 'x-a': '1', 'content-type': 'text/plain' } });
  await c.put('https://example.com/a#frag', res);
  const named = await caches.open('n');
  await named.put(new Request('https://example.com/a'), new Response('named'));
  await c.put('https://example.com/short', new Response('brief', { headers: { 'cache-control': 'max-age=4' } }));
  await c.put('https://example.com/nostore', new Response('x', { headers: { 'cache-control': 'no-store' } }));
  await c.put('https://example.com/cookie', new Response('x', { headers: { 'set-cookie': 'a=b' } }));
  const used = new Response('u'); await used.text();
  return {
    bodyUsed: res.bodyUsed,
    post: await err(() => c.put(new Request('https://example.com/p', { method: 'POST' }), new Response('x'))),
    partial: await err(() => c.put('https://example.com/r', new Response('x', { status: 206 }))),
    varyStar: await err(() => c.put('https://example.com/v', new Response('x', { headers: { vary: '*' } }))),
    usedBody: await err(() => c.put('https://example.com/u', used)),
    notResponse: await err(() => c.put('https://example.com/n', 'text')),
    badUrl: await err(() => c.put('not a url', new Response('x'))),
    illegal: await err(() => new Cache()),
  };
};
"#;

const MATCH: &str = r#"
export default async () => {
  const c = caches.default;
  const show = async (r) => r === undefined ? null : [r.status, r.statusText, r.headers.get('x-a'), await r.text()];
  return {
    hit: await show(await c.match('https://example.com/a')),
    viaRequest: await show(await c.match(new Request('https://example.com/a#other'))),
    post: await show(await c.match(new Request('https://example.com/a', { method: 'POST' }))),
    ignoreMethod: await show(await c.match(new Request('https://example.com/a', { method: 'POST' }), { ignoreMethod: true })),
    named: await show(await (await caches.open('n')).match('https://example.com/a')),
    emptyName: await show(await (await caches.open('')).match('https://example.com/a')),
    short: await show(await c.match('https://example.com/short')),
    nostore: await show(await c.match('https://example.com/nostore')),
    cookie: await show(await c.match('https://example.com/cookie')),
    missing: await show(await c.match('https://example.com/never')),
  };
};
"#;

#[test]
fn entries_outlive_the_isolate_that_put_them_and_follow_workers_rules() {
    let d = Daemon::start("cache", 1, 1, "");
    let put = result(&d, 0, PUT);
    assert_eq!(put["bodyUsed"], true, "{put}");
    for (field, expected) in [
        (
            "post",
            "TypeError: Cache.put: only GET requests can be cached",
        ),
        (
            "partial",
            "TypeError: Cache.put: a partial response (206) cannot be cached",
        ),
        (
            "varyStar",
            "TypeError: Cache.put: a response with Vary: * cannot be cached",
        ),
        (
            "usedBody",
            "TypeError: Cache.put: the response body has already been used",
        ),
        (
            "notResponse",
            "TypeError: Cache.put: the second argument must be a Response",
        ),
        ("illegal", "TypeError: Illegal constructor"),
    ] {
        assert_eq!(put[field], expected, "{field}: {put}");
    }
    assert!(
        put["badUrl"]
            .as_str()
            .unwrap_or("")
            .starts_with("TypeError"),
        "{put}"
    );

    // A fresh isolate (Code Mode always makes one) sees what the first one put.
    let m = result(&d, 0, MATCH);
    assert_eq!(m["hit"], json!([201, "Made", "1", "hello"]), "{m}");
    assert_eq!(
        m["viaRequest"], m["hit"],
        "fragments are not part of the key: {m}"
    );
    assert_eq!(m["post"], Value::Null, "{m}");
    assert_eq!(m["ignoreMethod"], m["hit"], "{m}");
    assert_eq!(m["named"], json!([200, "", null, "named"]), "{m}");
    assert_eq!(
        m["emptyName"],
        Value::Null,
        "open('') is not the default cache: {m}"
    );
    assert_eq!(m["short"], json!([200, "", null, "brief"]), "{m}");
    for kept_out in ["nostore", "cookie", "missing"] {
        assert_eq!(m[kept_out], Value::Null, "{kept_out}: {m}");
    }

    // max-age=4 (time for the fresh isolate above on a loaded machine) runs out.
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let m = result(&d, 0, MATCH);
    assert_eq!(m["short"], Value::Null, "{m}");
    assert_eq!(m["hit"], json!([201, "Made", "1", "hello"]), "{m}");

    // delete: true once, then false; the named cache keeps its own entry.
    let deleted = result(
        &d,
        0,
        "export default async () => [await caches.default.delete('https://example.com/a'), \
         await caches.default.delete('https://example.com/a'), \
         (await (await caches.open('n')).match('https://example.com/a')) !== undefined]",
    );
    assert_eq!(deleted, json!([true, false, true]));
}

#[test]
fn two_tenants_never_see_each_others_entries() {
    let d = Daemon::start("cache-tenants", 2, 1, "");
    result(
        &d,
        0,
        "export default async () => caches.default.put('https://shared.example/k', new Response('t0 only'))",
    );
    let other = result(
        &d,
        1,
        "export default async () => [(await caches.default.match('https://shared.example/k')) === undefined, \
         await caches.default.delete('https://shared.example/k')]",
    );
    assert_eq!(other, json!([true, false]));
    let own = result(
        &d,
        0,
        "export default async () => (await caches.default.match('https://shared.example/k')).text()",
    );
    assert_eq!(own, "t0 only");
}

#[test]
fn a_tenants_entries_are_bounded_by_its_cache_bytes() {
    let d = Daemon::start("cache-bound", 1, 1, "[quotas]\ncache_bytes = 4096\n");
    let v = result(
        &d,
        0,
        r#"export default async () => {
          const body = 'x'.repeat(1000);
          for (let i = 0; i < 10; i++) await caches.default.put(`https://b.example/${i}`, new Response(body));
          const hits = [];
          for (let i = 0; i < 10; i++) hits.push((await caches.default.match(`https://b.example/${i}`)) !== undefined);
          let big;
          try { await caches.default.put('https://b.example/big', new Response('y'.repeat(5000))); big = 'stored'; }
          catch (e) { big = e.name; }
          return { hits, big };
        }"#,
    );
    let hits: Vec<bool> = serde_json::from_value(v["hits"].clone()).expect("hits");
    // Each entry takes a little over 1000 bytes: the latest three fit in 4096, the rest went.
    assert_eq!(
        hits,
        [false, false, false, false, false, false, false, true, true, true],
        "{v}"
    );
    assert_eq!(v["big"], "QuotaExceededError", "{v}");
}
