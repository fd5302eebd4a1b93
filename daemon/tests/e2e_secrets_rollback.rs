//! A secret `PUT` the store refuses is undone in memory to the value the secret had before it,
//! through a real daemon on its SQLite store: the value an earlier `PUT` set (not the
//! configuration file's, which that value was over), or none for a new name. The store is made
//! to refuse by taking away the table of its secrets' change counter (the write bumps it in the
//! same transaction); tenant code then fetches a real HTTP server on 127.0.0.1 through the
//! daemon's egress, which injects the secret in force. SQLite has no other daemon to follow: the
//! metrics carry no secrets-following series.
mod common;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;

use common::*;
use upstream::{Answer, Upstream};

const FILE_VALUE: &str = "file-value-3d4e5f";

/// The `X-Api-Key` the upstream received through `d`'s egress for tenant t0's fetch.
fn injected(d: &Daemon, up: &Upstream) -> String {
    let code = format!(
        "export default async () => {{ const r = await fetch({}); return r.status; }};",
        serde_json::Value::from(format!("http://127.0.0.1:{}/a/", up.port))
    );
    let before = up.requests().len();
    let (status, body) = run(d, &tenant_token(0), &code);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 200, "{body}");
    let seen = up.requests();
    let last = seen
        .get(before..)
        .and_then(|s| s.last())
        .expect("upstream reached");
    last.header("x-api-key").expect("injected").to_string()
}

/// PUT tenant t0's secret `name`: the status and the answer's text.
fn put(d: &Daemon, name: &str, value: &str) -> (u16, String) {
    let r = client()
        .put(format!("{}/v1/tenants/t0/secrets/{name}", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "value": value }))
        .send()
        .expect("put secret");
    (r.status().as_u16(), r.text().expect("text"))
}

fn store_sql(d: &Daemon, sql: &str) {
    let db = rusqlite::Connection::open(d.dir.join("data").join("stockade.db")).expect("open");
    db.busy_timeout(std::time::Duration::from_secs(10))
        .expect("busy timeout");
    db.execute_batch(sql).expect(sql);
}

#[test]
fn a_put_the_store_refuses_leaves_the_value_before_it_in_force() {
    let up = Upstream::start(Answer::echo);
    let tail = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n\
         [tenants.secrets]\napi_key = \"{FILE_VALUE}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{}]\ninject_headers = {{ \"X-Api-Key\" = \"api_key\" }}\n",
        tenant_token(0),
        up.port
    );
    let d = Daemon::start_raw("secrets-rollback", 1, &tail, &[]);
    assert_eq!(injected(&d, &up), FILE_VALUE);
    let (status, text) = put(&d, "api_key", "first-put-value");
    assert_eq!(status, 200, "{text}");
    assert_eq!(injected(&d, &up), "first-put-value");

    // The store refuses the next changes.
    store_sql(
        &d,
        "ALTER TABLE secrets_generation RENAME TO secrets_generation_away",
    );
    let (status, text) = put(&d, "api_key", "refused-value");
    assert!(status >= 500, "{status} {text}");
    assert!(!text.contains("refused-value"), "{text}");
    assert_eq!(
        injected(&d, &up),
        "first-put-value",
        "the value the earlier PUT set, as the store still holds"
    );
    let (status, text) = put(&d, "fresh", "fresh-value");
    assert!(status >= 500, "{status} {text}");
    let (status, names) = get_json(&d, Some(&tenant_token(0)), "/v1/tenants/t0/secrets");
    assert_eq!(status, 200);
    assert_eq!(
        names["names"],
        serde_json::json!(["api_key"]),
        "no trace of the refused name"
    );

    // The store takes changes again.
    store_sql(
        &d,
        "ALTER TABLE secrets_generation_away RENAME TO secrets_generation",
    );
    let (status, text) = put(&d, "api_key", "second-put-value");
    assert_eq!(status, 200, "{text}");
    assert_eq!(injected(&d, &up), "second-put-value");

    let metrics = d.metrics();
    assert!(!metrics.contains("stockade_secrets_"), "{metrics}");
}
