//! The metrics of following the secrets daemons sharing a PostgreSQL store change: two real
//! daemons on one real PostgreSQL (`STOCKADE_TEST_PG_URL`, a schema of the test's own; under
//! `CI=true` the test fails without it). A secret set through A moves the store's change counter;
//! B's `/metrics` counts the reload it made for it and shows the counter; a counter B cannot read
//! (its table taken away) counts failed polls, and B counts reloads again once it can.
mod common;

use std::time::{Duration, Instant};

use common::*;

const POLL_MS: u64 = 300;
/// Room for a poll and a reload on a loaded 2-core machine (a bound against a hang only).
const BOUND: Duration = Duration::from_secs(20);

/// The value of the unlabelled series `name` on `d`'s metrics page, if it has it.
fn series(d: &Daemon, name: &str) -> Option<f64> {
    let page = d.metrics();
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until `d`'s series `name` satisfies `ok`; its value then.
fn until(d: &Daemon, name: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + BOUND;
    loop {
        let value = series(d, name);
        if let Some(v) = value.filter(|v| ok(*v)) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {value:?}:\n{}",
            d.metrics()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn put_secret(d: &Daemon, name: &str, value: &str) {
    let r = client()
        .put(format!("{}/v1/tenants/t0/secrets/{name}", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "value": value }))
        .send()
        .expect("put secret");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
}

#[test]
fn following_the_stored_secrets_is_counted_in_the_metrics() {
    let Some(pg) = pg_schema("e2e_secrets_metrics") else {
        return;
    };
    let shared = std::env::temp_dir().join(format!(
        "stockade-e2e-secrets-metrics-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&shared).expect("mkdir");
    let key = shared.join("secret.key");
    std::fs::write(&key, "ab".repeat(32)).expect("key");
    let tail = format!(
        "[store]\nurl = \"{}\"\nsecret_key_file = \"{}\"\nsecrets_poll_ms = {POLL_MS}\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        pg.url,
        key.display(),
        tenant_token(0)
    );
    let a = Daemon::start_raw("secrets-metrics-a", 1, &tail, &[]);
    let b = Daemon::start_raw("secrets-metrics-b", 1, &tail, &[]);

    // Nothing changed yet: no reload, no failure, the counter as the store began it.
    assert_eq!(series(&b, "stockade_secrets_reloads_total"), Some(0.0));
    assert_eq!(
        series(&b, "stockade_secrets_poll_failures_total"),
        Some(0.0)
    );
    let start = series(&b, "stockade_secrets_generation").expect("the generation gauge");
    let page = b.metrics();
    assert!(
        page.contains("# TYPE stockade_secrets_reloads_total counter\n"),
        "{page}"
    );
    assert!(
        page.contains("# TYPE stockade_secrets_poll_failures_total counter\n"),
        "{page}"
    );
    assert!(
        page.contains("# TYPE stockade_secrets_generation gauge\n"),
        "{page}"
    );

    // A change through A: B reloads once for it and shows the counter it moved to.
    put_secret(&a, "api_key", "metrics-value-1");
    until(&b, "stockade_secrets_generation", |g| g == start + 1.0);
    assert_eq!(series(&b, "stockade_secrets_reloads_total"), Some(1.0));

    // B cannot read the counter: failed polls are counted, and nothing is reloaded.
    pg_execute(
        &pg.base,
        &format!(
            "ALTER TABLE {}.secrets_generation RENAME TO secrets_generation_away",
            pg.name
        ),
    );
    until(&b, "stockade_secrets_poll_failures_total", |n| n >= 2.0);
    pg_execute(
        &pg.base,
        &format!(
            "ALTER TABLE {}.secrets_generation_away RENAME TO secrets_generation",
            pg.name
        ),
    );
    put_secret(&a, "api_key", "metrics-value-2");
    until(&b, "stockade_secrets_generation", |g| g == start + 2.0);
    assert_eq!(series(&b, "stockade_secrets_reloads_total"), Some(2.0));
    let failures = series(&b, "stockade_secrets_poll_failures_total").expect("failures");
    std::thread::sleep(Duration::from_millis(3 * POLL_MS));
    assert_eq!(
        series(&b, "stockade_secrets_poll_failures_total"),
        Some(failures),
        "no failure once the store is readable again"
    );

    drop((a, b));
    let _ = std::fs::remove_dir_all(&shared);
}
