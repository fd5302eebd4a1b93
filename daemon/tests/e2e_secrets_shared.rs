//! Secrets set or deleted through one daemon's API reach another daemon sharing its PostgreSQL
//! store within `[store] secrets_poll_ms` (plus the reload), without a restart or `SIGHUP`: two
//! real daemons on one real PostgreSQL (`STOCKADE_TEST_PG_URL`, a schema of the test's own),
//! tenant code on daemon B fetching a real HTTP server on 127.0.0.1 through B's egress, which
//! injects the tenant's secrets. A rotation through A reaches B; a DELETE through A gives B the
//! configuration file's value back, or none (the fetch is refused, nothing injected); a store
//! B cannot read leaves B serving with the last set it had, and B follows the changes again once
//! it can.
mod common;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use std::time::{Duration, Instant};

use common::*;
use upstream::{Answer, Upstream};

/// The daemons' `[store] secrets_poll_ms`.
const POLL_MS: u64 = 300;
/// How long a change may take to be seen through B: the poll interval and the reload, plus one
/// fetch through a worker (the probe), with room for a loaded 2-core machine.
const BOUND: Duration = Duration::from_millis(POLL_MS + 4_000);
const FILE_VALUE: &str = "file-value-0a1b2c";

/// What the upstream received through `d`'s egress for tenant t0's fetch of `path`: the header
/// `header` (the injected secret), or `None` when the gateway refused the fetch (a secret the
/// rule injects has no value) and nothing reached the upstream.
fn probe(d: &Daemon, up: &Upstream, path: &str, header: &str) -> Option<String> {
    let url = format!("http://127.0.0.1:{}{path}", up.port);
    let code = format!(
        "export default async () => {{ try {{ const r = await fetch({}); return ['ok', r.status]; }} catch (e) {{ return ['error', e.message]; }} }};",
        serde_json::Value::from(url)
    );
    let before = up.requests().len();
    let (status, body) = run(d, &tenant_token(0), &code);
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    let seen = up.requests();
    if result[0] == "error" {
        let message = result[1].as_str().unwrap_or("");
        assert!(
            message.contains("needs secret"),
            "refused for a missing secret: {result}"
        );
        assert_eq!(seen.len(), before, "a refused fetch reaches nothing");
        return None;
    }
    assert_eq!(result[1], 200, "{result}");
    let last = seen
        .get(before..)
        .and_then(|s| s.last())
        .expect("upstream reached");
    Some(last.header(header).expect("injected header").to_string())
}

/// Probes until `want` is seen (`None`: refused), within [`BOUND`] of `since`; panics with what
/// was last seen otherwise. The time it took.
fn until_seen(
    d: &Daemon,
    up: &Upstream,
    path: &str,
    header: &str,
    want: Option<&str>,
    since: Instant,
) -> Duration {
    loop {
        let got = probe(d, up, path, header);
        if got.as_deref() == want {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < BOUND,
            "daemon B still sees {got:?} for {path}, not {want:?}, {:?} after the change \
             (bound {BOUND:?})",
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn put_secret(d: &Daemon, name: &str, value: &str) -> Instant {
    let r = client()
        .put(format!("{}/v1/tenants/t0/secrets/{name}", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "value": value }))
        .send()
        .expect("put secret");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
    Instant::now()
}

fn delete_secret(d: &Daemon, name: &str) -> Instant {
    let r = client()
        .delete(format!("{}/v1/tenants/t0/secrets/{name}", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("delete secret");
    assert_eq!(r.status().as_u16(), 204, "{:?}", r.text());
    Instant::now()
}

/// Waits (bounded) until `d`'s stderr says `text`.
fn until_logged(d: &Daemon, text: &str) {
    let deadline = Instant::now() + BOUND;
    while !d.stderr().contains(text) {
        assert!(
            Instant::now() < deadline,
            "never logged {text:?}:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn secrets_changed_through_one_daemon_reach_another_sharing_postgresql() {
    let Some(pg) = pg_schema("e2e_shared_secrets") else {
        return;
    };
    let (base_url, schema, url) = (&pg.base, &pg.name, &pg.url);
    let shared = std::env::temp_dir().join(format!(
        "stockade-e2e-shared-secrets-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&shared).expect("mkdir");
    let key = shared.join("secret.key");
    std::fs::write(&key, "cd".repeat(32)).expect("key");
    let up = Upstream::start(Answer::echo);
    let p = up.port;
    // `api_key` has a value in the file (an override's DELETE gives it back); `token` has none.
    let tail = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [store]\nurl = \"{url}\"\nsecret_key_file = \"{}\"\nsecrets_poll_ms = {POLL_MS}\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [tenants.secrets]\napi_key = \"{FILE_VALUE}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{p}]\npath_prefix = \"/a/\"\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{p}]\npath_prefix = \"/b/\"\ninject_headers = {{ \"X-Token\" = \"token\" }}\n",
        key.display(),
        tenant_token(0)
    );
    let a = Daemon::start_raw("shared-secrets-a", 1, &tail, &[]);
    let b = Daemon::start_raw("shared-secrets-b", 1, &tail, &[]);

    // At first B injects the file's value, and has no `token` at all.
    assert_eq!(
        probe(&b, &up, "/a/", "x-api-key").as_deref(),
        Some(FILE_VALUE)
    );
    assert_eq!(probe(&b, &up, "/b/", "x-token"), None);

    // Set through A: B injects the new values within the bound.
    let since = put_secret(&a, "api_key", "rotated-1-value");
    let took = until_seen(&b, &up, "/a/", "x-api-key", Some("rotated-1-value"), since);
    eprintln!("a set reached B in {took:?}");
    let since = put_secret(&a, "token", "token-1-value");
    until_seen(&b, &up, "/b/", "x-token", Some("token-1-value"), since);

    // Rotated again through A (a leaked key replaced): B stops injecting the old one.
    let since = put_secret(&a, "api_key", "rotated-2-value");
    let took = until_seen(&b, &up, "/a/", "x-api-key", Some("rotated-2-value"), since);
    eprintln!("a rotation reached B in {took:?}");
    until_logged(&b, "reloaded the stored secrets");

    // B cannot read the store's change counter (its table taken away): B logs it and keeps
    // serving with the set it has; once it can again, it says so and follows changes again.
    pg_execute(
        base_url,
        &format!("ALTER TABLE {schema}.secrets_generation RENAME TO secrets_generation_away"),
    );
    until_logged(&b, "cannot follow the stored secrets' changes");
    assert_eq!(
        probe(&b, &up, "/a/", "x-api-key").as_deref(),
        Some("rotated-2-value"),
        "the last good set stays in force"
    );
    pg_execute(
        base_url,
        &format!("ALTER TABLE {schema}.secrets_generation_away RENAME TO secrets_generation"),
    );
    until_logged(&b, "following the stored secrets' changes again");

    // Deleted through A: B injects the file's value again, and refuses `token` (none left).
    let since = delete_secret(&a, "api_key");
    let took = until_seen(&b, &up, "/a/", "x-api-key", Some(FILE_VALUE), since);
    eprintln!("a delete reached B in {took:?}");
    let since = delete_secret(&a, "token");
    until_seen(&b, &up, "/b/", "x-token", None, since);

    // B's secrets list agrees (names only).
    let (status, names) = get_json(&b, Some(&tenant_token(0)), "/v1/tenants/t0/secrets");
    assert_eq!(status, 200);
    assert_eq!(names["names"], serde_json::json!(["api_key"]));

    let _ = std::fs::remove_dir_all(&shared);
}
