//! Durability end to end: a daemon killed with SIGKILL in the middle of a stream of acknowledged
//! writes (workspace files over HTTP, KV puts through a worker's binding) is restarted on the
//! same data folder, and every acknowledged write is there, with the worker ids and the secrets
//! set through the API. And two daemons on different ports sharing one PostgreSQL store.
mod common;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const KV_WORKER: &str = "export default { async fetch(req, env) {
  const u = new URL(req.url);
  const put = u.searchParams.get('put'), get = u.searchParams.get('get');
  if (put !== null) { await env.KV.put('k' + put, 'value-' + put); return new Response('stored'); }
  return new Response(String(await env.KV.get('k' + get)));
} };";

fn load_kv_worker(d: &impl Target, t: &str) -> String {
    let body = json!({
        "mainModule": "main.js",
        "modules": { "main.js": KV_WORKER },
        "env": { "KV": { "binding": "kv", "namespace": "durable" } },
    });
    let r = client()
        .post(format!("{}/v1/workers", d.base()))
        .bearer_auth(t)
        .json(&body)
        .send()
        .expect("load");
    assert_eq!(r.status().as_u16(), 201);
    r.json::<Value>().expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// A client that gives up quickly (the daemon may be dead).
fn quick() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

#[test]
fn acknowledged_writes_survive_kill_9_and_worker_ids_keep_working() {
    let d = Daemon::start_raw(
        "durable",
        1,
        &format!(
            "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
            tenant_token(0)
        ),
        &[],
    );
    let t = tenant_token(0);
    let id = load_kv_worker(&d, &t);
    let (status, _) = put_json(
        &d,
        Some(&t),
        "/v1/tenants/t0/secrets/api_key",
        r#"{"value": "sealed-value-123"}"#,
    );
    assert_eq!(status, 200);
    // Two writers, each recording what was acknowledged, until the daemon dies under them.
    let files = Arc::new(Mutex::new(Vec::new()));
    let keys = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let file_writer = {
        let (base, t, files, stop) = (d.base.clone(), t.clone(), files.clone(), stop.clone());
        std::thread::spawn(move || {
            let c = quick();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = format!("file {i} {}", "x".repeat(i % 4096));
                let r = c
                    .put(format!("{base}/v1/workspaces/w/files/dir{}/f{i}", i % 7))
                    .bearer_auth(&t)
                    .body(body.clone())
                    .send();
                match r {
                    Ok(r) if r.status().as_u16() == 204 => {
                        files.lock().expect("lock").push((i, body))
                    }
                    _ => break,
                }
            }
        })
    };
    let kv_writer = {
        let (base, t, keys, stop, id) = (
            d.base.clone(),
            t.clone(),
            keys.clone(),
            stop.clone(),
            id.clone(),
        );
        std::thread::spawn(move || {
            let c = quick();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = c
                    .get(format!("{base}/v1/workers/{id}/fetch/?put={i}"))
                    .bearer_auth(&t)
                    .send();
                match r {
                    Ok(r) if r.status().as_u16() == 200 => keys.lock().expect("lock").push(i),
                    _ => break,
                }
            }
        })
    };
    // Killed once both have had more than twenty writes acknowledged (a loaded disk may make
    // that take a while).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while files.lock().expect("lock").len() <= 20 || keys.lock().expect("lock").len() <= 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writers never got 21 writes acknowledged each"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = d.kill9();
    stop.store(true, Ordering::Relaxed);
    file_writer.join().expect("file writer");
    kv_writer.join().expect("kv writer");
    let files = files.lock().expect("lock").clone();
    let keys = keys.lock().expect("lock").clone();
    eprintln!(
        "acknowledged before the kill: {} files, {} keys",
        files.len(),
        keys.len()
    );
    assert!(
        files.len() > 20 && keys.len() > 20,
        "writes were in flight: {} files, {} keys",
        files.len(),
        keys.len()
    );

    let d = Daemon::start_in(
        dir,
        1,
        &format!(
            "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
            tenant_token(0)
        ),
        &[],
    );
    let c = client();
    for (i, body) in &files {
        let r = c
            .get(format!(
                "{}/v1/workspaces/w/files/dir{}/f{i}",
                d.base,
                i % 7
            ))
            .bearer_auth(&t)
            .send()
            .expect("read back");
        assert_eq!(r.status().as_u16(), 200, "acknowledged file {i}");
        assert_eq!(&r.text().expect("text"), body, "acknowledged file {i}");
    }
    // The worker id still works (its definition is read back from the store) and every
    // acknowledged key is there.
    for i in &keys {
        let r = c
            .get(format!("{}/v1/workers/{id}/fetch/?get={i}", d.base))
            .bearer_auth(&t)
            .send()
            .expect("get");
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            r.text().expect("text"),
            format!("value-{i}"),
            "acknowledged key {i}"
        );
    }
    let (status, describe) = get_json(&d, Some(&t), &format!("/v1/workers/{id}"));
    assert_eq!(status, 200, "{describe}");
    assert_eq!(
        describe["bindings"],
        json!({ "KV": { "binding": "kv", "namespace": "durable" } })
    );
    let (status, names) = get_json(&d, Some(&t), "/v1/tenants/t0/secrets");
    assert_eq!(status, 200);
    assert_eq!(
        names["names"],
        json!(["api_key"]),
        "the API's secret survived"
    );
    let key = std::fs::read(d.dir.join("data/secret.key")).expect("key file");
    assert_eq!(key.len(), 32);
    let db = std::fs::read(d.dir.join("data/stockade.db")).unwrap_or_default();
    let wal = std::fs::read(d.dir.join("data/stockade.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(16).any(|w| w == b"sealed-value-123"),
            "the secret is not stored in clear"
        );
    }
}

#[test]
fn two_daemons_sharing_postgresql_serve_each_others_workers_and_files() {
    let Some(schema) = pg_schema("e2e_two_daemons") else {
        return;
    };
    let url = &schema.url;
    let shared = std::env::temp_dir().join(format!("stockade-e2e-pgkey-{}", std::process::id()));
    std::fs::create_dir_all(&shared).expect("mkdir");
    let key = shared.join("secret.key");
    std::fs::write(&key, "ab".repeat(32)).expect("key");
    let tail = format!(
        "[store]\nurl = \"{url}\"\nsecret_key_file = \"{}\"\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        key.display(),
        tenant_token(0)
    );
    let a = Daemon::start_raw("pg-a", 1, &tail, &[]);
    let b = Daemon::start_raw("pg-b", 1, &tail, &[]);
    let t = tenant_token(0);
    // A worker created on A is served by B.
    let id = load_kv_worker(&a, &t);
    let marker = std::process::id();
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/?put=pg{marker}", a.base))
        .bearer_auth(&t)
        .send()
        .expect("put on A");
    assert_eq!(r.text().expect("text"), "stored");
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/?get=pg{marker}", b.base))
        .bearer_auth(&t)
        .send()
        .expect("get on B");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().expect("text"), format!("value-pg{marker}"));
    // A file written through A is read through B.
    let path = format!("/v1/workspaces/pg/files/run-{marker}.txt");
    let r = client()
        .put(format!("{}{path}", a.base))
        .bearer_auth(&t)
        .body("written on A")
        .send()
        .expect("write on A");
    assert_eq!(r.status().as_u16(), 204);
    let r = client()
        .get(format!("{}{path}", b.base))
        .bearer_auth(&t)
        .send()
        .expect("read on B");
    assert_eq!(r.text().expect("text"), "written on A");
    let _ = std::fs::remove_dir_all(&shared);
}

#[test]
fn risk_history_latches_and_pins_survive_kill_9() {
    let mut tail =
        String::from("max_in_flight_per_worker = 1\n[cordon]\nstandard_min_processes = 1\n");
    for i in 0..4 {
        tail.push_str(&format!(
            "[[tenants]]\nid = \"t{i}\"\ntoken = \"{}\"\n",
            tenant_token(i)
        ));
    }
    let hooks = [("STOCKADE_TEST_HOOKS", "1")];
    let d = Daemon::start_raw("durable-risk", 1, &tail, &hooks);
    // t0's code is killed by seccomp: quarantined at once, latched for 7 days.
    let (status, body) = run(&d, &tenant_token(0), FORBIDDEN_SYSCALL);
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &json!("worker_crashed"))
    );
    // t1 is pinned by the operator.
    let (status, body) = put_json(
        &d,
        Some(OPERATOR),
        "/v1/tenants/t1/risk",
        r#"{"tier": "untrusted"}"#,
    );
    assert_eq!(status, 200, "{body}");
    // t2 hits its CPU limit.
    let r = client()
        .post(format!("{}/v1/run", d.base()))
        .bearer_auth(tenant_token(2))
        .json(&json!({ "code": "export default () => { for (;;) {} }", "limits": { "cpuMs": 20 } }))
        .send()
        .expect("run");
    assert_eq!(r.status().as_u16(), 422);
    let before = [
        risk(&d, OPERATOR, "t0"),
        risk(&d, OPERATOR, "t1"),
        risk(&d, OPERATOR, "t2"),
    ];
    assert_eq!(before[0]["tier"], "quarantine", "{}", before[0]);
    assert_eq!(before[1]["tier"], "untrusted", "{}", before[1]);
    assert!(
        contribution(&before[2], "cpu_limit_hit") > 2.9,
        "{}",
        before[2]
    );
    // Histories are stored on a task of their own, after the change: killed once the store
    // holds all three (read beside the running daemon, as SQLite allows).
    let db = d.dir.join("data/stockade.db");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stored: i64 =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| {
                    c.query_row(
                        "SELECT count(*) FROM risk_history WHERE tenant IN ('t0', 't1', 't2')",
                        [],
                        |row| row.get(0),
                    )
                })
                .unwrap_or(0);
        if stored == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the risk histories were never stored ({stored} of 3)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = d.kill9();

    let d = Daemon::start_in(dir, 1, &tail, &hooks);
    let after = [
        risk(&d, OPERATOR, "t0"),
        risk(&d, OPERATOR, "t1"),
        risk(&d, OPERATOR, "t2"),
        risk(&d, OPERATOR, "t3"),
    ];
    assert_eq!(
        after[0]["tier"], "quarantine",
        "the latch outlives the restart: {}",
        after[0]
    );
    assert!(
        after[0]["quarantine_latched_until"].is_u64(),
        "{}",
        after[0]
    );
    assert!(
        contribution(&after[0], "seccomp_kill") >= 99.0,
        "{}",
        after[0]
    );
    assert_eq!(after[1]["tier"], "untrusted", "{}", after[1]);
    assert_eq!(after[1]["override"], before[1]["override"], "{}", after[1]);
    let cpu = contribution(&after[2], "cpu_limit_hit");
    assert!(
        (cpu - contribution(&before[2], "cpu_limit_hit")).abs() < 0.05,
        "decayed only by the seconds that passed: {} vs {}",
        after[2],
        before[2]
    );
    // A tenant with no history is not touched by the restore.
    assert_eq!(after[3]["tier"], "standard", "{}", after[3]);
    assert_eq!(contribution(&after[3], "seccomp_kill"), 0.0);
    // The cordon places by the restored tiers: one tenant in quarantine, one untrusted.
    let (status, body) = run(&d, &tenant_token(0), "export default () => 1");
    assert_eq!(status, 200, "{body}");
    let metrics = &d.admin()["metrics"];
    assert_eq!(metrics["quarantine"]["tenants"], 1, "{metrics}");
    assert_eq!(metrics["untrusted"]["tenants"], 1, "{metrics}");
}
