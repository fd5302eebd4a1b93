//! Two PostgreSQL drivers from npm, unchanged, against a real PostgreSQL. node-postgres through
//! `cloudflare:sockets`:
//! `daemon/tests/npm-pg/app.js` (npm `pg` 8.23.1, which takes `pg-cloudflare`'s socket on a
//! runtime whose `navigator.userAgent` is "Cloudflare-Workers"), installed by `npm ci` from the
//! pinned lockfile and bundled as Wrangler bundles for `nodejs_compat` (`npm/build.mjs`),
//! loaded through `POST /v1/workers` and called over HTTP. The connection goes through the egress
//! gateway (a rule naming the server's host and port, loopback allowed by `allow_private`), the
//! driver authenticates with the server's own method (SCRAM-SHA-256 on Debian's default
//! `pg_hba.conf`, on the runtime's WebCrypto), and what the worker wrote is read back here with
//! `tokio-postgres`. postgres.js through `node:net` (`npm-pg/app-postgres.node.js`: npm `postgres`
//! bundled with Node's conditions, so its connections are `net.connect` sockets: the runtime's
//! node:net over the same sockets and gateway). Needs Node.js, npm and `STOCKADE_TEST_PG_URL` (CI
//! sets it; outside CI the tests say they skipped).
mod common;
#[allow(dead_code)] // the framework apps' own bundling is e2e_frameworks.rs's
#[path = "frameworks/bundle.rs"]
mod npm;

use std::sync::OnceLock;

use common::*;
use serde_json::{json, Value};

/// The apps of `npm-pg/`, bundled (once per test binary).
const APPS: [&str; 2] = ["app.js", "app-postgres.node.js"];

/// `npm-pg/<app>` (one of [`APPS`]) bundled.
fn bundle(app: &str) -> String {
    static BUILT: OnceLock<Result<Vec<String>, String>> = OnceLock::new();
    match BUILT.get_or_init(|| npm::built_by_folder("npm-pg", &APPS)) {
        Ok(all) => all[APPS.iter().position(|a| *a == app).expect("an app")].clone(),
        Err(why) => panic!("cannot bundle npm-pg's apps: {why}"),
    }
}

/// A daemon whose tenant t0 may reach the PostgreSQL server of `schema` (loopback allowed) and
/// a worker of `app` given `PG_URL` (the schema's URL); the daemon and the worker's id.
fn daemon_with(app: &str, schema: &PgSchema) -> (Daemon, String) {
    let (host, port) = host_port(&schema.base);
    let config = format!(
        "[limits]\ncpu_ms = 5000\nwall_ms = 30000\n[egress]\nallow_private = [\"127.0.0.0/8\", \"::1/128\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[[tenants.egress]]\nhost = \"{host}\"\nports = [{port}]\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("npm-pg", 1, &config, &[]);
    let (status, created) = create_worker(
        &d,
        &tenant_token(0),
        &json!({
            "mainModule": "app.mjs",
            "modules": { "app.mjs": bundle(app) },
            "compatibilityDate": "2026-11-01",
            "compatibilityFlags": ["nodejs_compat"],
            "env": { "PG_URL": schema.url },
            "limits": { "cpuMs": 5000, "wallMs": 30000 },
        }),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    (d, id)
}

/// The host and port of a `postgres://` URL (5432 when it names none).
fn host_port(url: &str) -> (String, u16) {
    let parsed = url::Url::parse(url).expect("STOCKADE_TEST_PG_URL is a URL");
    let host = parsed.host_str().expect("a host").to_string();
    (host, parsed.port().unwrap_or(5432))
}

/// One request of the worker with the JSON `body`; its JSON answer.
fn run(d: &Daemon, id: &str, body: Value) -> Value {
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(tenant_token(0))
        .json(&body)
        .send()
        .expect("fetch");
    let status = r.status().as_u16();
    let text = r.text().expect("body");
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn node_postgres_from_npm_queries_a_real_postgresql_through_the_gateway() {
    let Some(schema) = pg_schema("e2e_npm_pg") else {
        return;
    };
    let (d, id) = daemon_with("app.js", &schema);
    let port = host_port(&schema.base).1;

    // Parameters go as the extended protocol's binds; text with quotes and non-ASCII, bytea and
    // a NULL cross as the server's wire formats.
    let answer = run(
        &d,
        &id,
        json!({ "steps": [
            [
                "CREATE TABLE notes (id serial PRIMARY KEY, body text, n int, raw bytea)",
                []
            ],
            [
                "INSERT INTO notes (body, n, raw) VALUES ($1, $2, decode($3, 'hex')) RETURNING id",
                ["it's «ünïcode» ✓", 7, "00ff10"]
            ],
            [
                "INSERT INTO notes (body, n) VALUES ($1, $2), ($3, $4) RETURNING id",
                ["second", 12, null, 30]
            ],
            [
                "SELECT id, body, n, encode(raw, 'hex') AS raw FROM notes WHERE n > $1 ORDER BY id",
                [5]
            ],
            ["SELECT current_schema() AS schema", []],
        ] }),
    );
    let steps = answer.as_array().expect("an array");
    assert_eq!(steps.len(), 5, "{answer}");
    assert_eq!(steps[0]["command"], "CREATE", "{answer}");
    assert_eq!(steps[1]["rows"], json!([{ "id": 1 }]), "{answer}");
    assert_eq!(steps[2]["rowCount"], 2, "{answer}");
    assert_eq!(
        steps[3]["rows"],
        json!([
            { "id": 1, "body": "it's «ünïcode» ✓", "n": 7, "raw": "00ff10" },
            { "id": 2, "body": "second", "n": 12, "raw": null },
            { "id": 3, "body": null, "n": 30, "raw": null },
        ]),
        "{answer}"
    );
    assert_eq!(steps[3]["fields"], json!(["id", "body", "n", "raw"]));
    assert_eq!(
        steps[4]["rows"],
        json!([{ "schema": schema.name }]),
        "{answer}"
    );

    // What the worker wrote is in the server, read back by another client.
    let rows = pg_query(
        &schema.base,
        &format!(
            "SELECT body, n::text FROM {}.notes ORDER BY id",
            schema.name
        ),
    );
    assert_eq!(
        rows,
        vec![
            vec![Some("it's «ünïcode» ✓".to_string()), Some("7".to_string())],
            vec![Some("second".to_string()), Some("12".to_string())],
            vec![None, Some("30".to_string())],
        ]
    );

    // The server's errors reach the driver as PostgreSQL's own (code and message), and the
    // connection is left as it should be: a second request connects afresh and sees the rows.
    let answer = run(
        &d,
        &id,
        json!({ "steps": [
            ["SELECT count(*)::int AS c FROM notes", []],
            ["SELECT * FROM no_such_table", []],
        ] }),
    );
    assert_eq!(answer[0]["rows"], json!([{ "c": 3 }]), "{answer}");
    assert_eq!(answer[1]["code"], "42P01", "{answer}");
    assert!(
        answer[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("relation \"no_such_table\" does not exist")),
        "{answer}"
    );

    // Every connection went through the gateway and is in the tenant's egress audit.
    let (status, audit) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=50");
    assert_eq!(status, 200, "{audit}");
    let text = audit.to_string();
    assert!(
        text.matches(&format!("\"port\":{port}")).count() >= 2,
        "two connections to port {port} in the audit: {audit}"
    );
}

/// postgres.js built for Node: its `net.connect` socket is the runtime's node:net over
/// `cloudflare:sockets`, so the same gateway; a multi-row insert, parameters, the server's error.
#[test]
fn postgres_js_from_npm_queries_a_real_postgresql_over_node_net() {
    let Some(schema) = pg_schema("e2e_npm_postgres_js") else {
        return;
    };
    let (d, id) = daemon_with("app-postgres.node.js", &schema);
    let answer = run(&d, &id, json!({ "above": 30 }));
    assert_eq!(answer["inserted"], json!([1, 2, 3]), "{answer}");
    assert_eq!(
        answer["rows"],
        json!([{ "name": "Ada", "age": 36 }, { "name": "Grace", "age": 45 }]),
        "{answer}"
    );
    assert_eq!(answer["schema"], schema.name.as_str(), "{answer}");
    assert_eq!(answer["error"]["code"], "42P01", "{answer}");
    let rows = pg_query(
        &schema.base,
        &format!("SELECT name FROM {}.people ORDER BY id", schema.name),
    );
    assert_eq!(
        rows,
        vec![
            vec![Some("Ada".to_string())],
            vec![Some("Grace".to_string())],
            vec![Some("Édith".to_string())],
        ]
    );
    let (status, audit) = get_json(&d, Some(OPERATOR), "/v1/admin/egress?tenant=t0&limit=50");
    assert_eq!(status, 200, "{audit}");
    let port = host_port(&schema.base).1;
    assert!(
        audit.to_string().contains(&format!("\"port\":{port}")),
        "the connection in the audit: {audit}"
    );
}
