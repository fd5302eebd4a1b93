//! Worker names end to end (a real daemon, jailed workers, the SQLite store): a definition made
//! with a `name` is a version of it; `/v1/workers/{name}/...` reaches the current version; the
//! name's Durable Objects keep their storage across versions and run the current version's code
//! (a live object is reset at its next call); making an old version again rolls back; deleting
//! the current version makes the newest other one current; deleting by name deletes them all;
//! the name survives `kill -9`. Its cron triggers and queue consumers move with the current
//! version; a service binding by name calls the current version; bad names are `400`s. Versions
//! beyond `max_versions` are deleted oldest first; a `PUT`'s crons stay with the name.
mod common;
#[path = "common/ws_client.rs"]
mod ws_client;

use common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const COUNTER: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Counter extends DurableObject {
  inc() {
    const n = (this.ctx.storage.kv.get("n") ?? 0) + 1;
    this.ctx.storage.kv.put("n", n);
    console.log(`VERSION counted ${n}`);
    return { n, version: "VERSION" };
  }
}
export default { async fetch(req, env) {
  const o = env.NS.getByName("room");
  return Response.json({ front: "VERSION", object: await o.inc() });
} };
"#;

fn counter(version: &str) -> Value {
    json!({
        "name": "counter",
        "mainModule": "main.js",
        "modules": { "main.js": COUNTER.replace("VERSION", version) },
        "env": { "NS": { "binding": "durable_object_namespace", "class_name": "Counter" } },
    })
}

fn created(d: &Daemon, t: &str, body: &Value) -> String {
    let (status, v) = create_worker(d, t, body);
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_owned()
}

fn delete(d: &Daemon, t: &str, what: &str) -> u16 {
    client()
        .delete(format!("{}/v1/workers/{what}", d.base()))
        .bearer_auth(t)
        .send()
        .expect("delete")
        .status()
        .as_u16()
}

/// One count through `worker` (a name or an id): (the front's version, the object's, n).
fn inc(d: &Daemon, t: &str, worker: &str) -> (String, String, u64) {
    let v = fetch_json(d, t, worker, "");
    (
        v["front"].as_str().expect("front").to_owned(),
        v["object"]["version"].as_str().expect("version").to_owned(),
        v["object"]["n"].as_u64().expect("n"),
    )
}

fn tenant_config() -> String {
    format!(
        "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[[tenants]]\nid = \"t1\"\ntoken = \"{}\"\n",
        tenant_token(0),
        tenant_token(1)
    )
}

#[test]
fn a_names_durable_objects_keep_their_storage_across_versions_rollbacks_deletes_and_kill_9() {
    let d = Daemon::start_raw("names-do", 1, &tenant_config(), &[]);
    let t = tenant_token(0);
    let (status, v) = create_worker(&d, &t, &counter("v1"));
    assert_eq!((status, v["name"].clone()), (201, json!("counter")), "{v}");
    let v1 = v["id"].as_str().expect("id").to_owned();
    assert_eq!(inc(&d, &t, "counter"), ("v1".into(), "v1".into(), 1));
    assert_eq!(inc(&d, &t, "counter"), ("v1".into(), "v1".into(), 2));
    // A name is its tenant's: another tenant neither reaches it nor shares its objects.
    let t1 = tenant_token(1);
    assert_eq!(fetch(&d, &t1, "counter").0, 404);
    created(&d, &t1, &counter("other"));
    assert_eq!(inc(&d, &t1, "counter"), ("other".into(), "other".into(), 1));

    // A new version: the live object is reset to its code, its storage kept.
    let v2 = created(&d, &t, &counter("v2"));
    assert_ne!(v1, v2);
    assert_eq!(inc(&d, &t, "counter"), ("v2".into(), "v2".into(), 3));
    // The old version is still reachable by its id, but the name's objects are the current
    // version's.
    assert_eq!(inc(&d, &t, &v1), ("v1".into(), "v2".into(), 4));
    let (status, described) = get_json(&d, Some(&t), &format!("/v1/workers/{v1}"));
    assert_eq!(status, 200, "{described}");
    assert_eq!(
        (described["name"].clone(), described["current"].clone()),
        (json!("counter"), json!(false))
    );
    let (_, described) = get_json(&d, Some(&t), "/v1/workers/counter");
    assert_eq!(
        (described["id"].clone(), described["current"].clone()),
        (json!(v2), json!(true))
    );

    // Made again, the old version is current again: a rollback.
    assert_eq!(created(&d, &t, &counter("v1")), v1);
    assert_eq!(inc(&d, &t, "counter"), ("v1".into(), "v1".into(), 5));
    let (_, listed) = get_json(&d, Some(&t), "/v1/workers");
    let named: Vec<(&str, &str)> = listed["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            (
                w["id"].as_str().unwrap_or(""),
                w["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(named, [(v1.as_str(), "counter"), (v2.as_str(), "counter")]);

    // One log ring for the name, every version's lines in it.
    let (_, logs) = get_json(&d, Some(&t), "/v1/workers/counter/logs");
    let logs = logs.to_string();
    for line in ["v1 counted 1", "v2 counted 3", "v1 counted 5"] {
        assert!(logs.contains(line), "{line} missing from {logs}");
    }
    // Another tenant's worker of the same name has a ring of its own.
    assert!(!logs.contains("other counted"), "{logs}");
    let (_, theirs) = get_json(&d, Some(&t1), "/v1/workers/counter/logs");
    let theirs = theirs.to_string();
    assert!(
        theirs.contains("other counted 1") && !theirs.contains("v1 counted"),
        "{theirs}"
    );

    // Deleting the current version makes the newest other one current.
    assert_eq!(delete(&d, &t, &v1), 204);
    assert_eq!(inc(&d, &t, "counter"), ("v2".into(), "v2".into(), 6));
    assert_eq!(fetch(&d, &t, &v1).0, 404);

    // The name and its current version survive kill -9.
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenant_config(), &[]);
    assert_eq!(inc(&d, &t, "counter"), ("v2".into(), "v2".into(), 7));

    // Deleting by name deletes every version; the objects' storage stays, as a deleted
    // worker's does, for the name's next version.
    let v3 = created(&d, &t, &counter("v3"));
    assert_eq!(delete(&d, &t, "counter"), 204);
    for gone in ["counter", v2.as_str(), v3.as_str()] {
        assert_eq!(fetch(&d, &t, gone).0, 404, "{gone}");
    }
    assert_eq!(delete(&d, &t, "counter"), 404);
    created(&d, &t, &counter("v4"));
    assert_eq!(inc(&d, &t, "counter"), ("v4".into(), "v4".into(), 8));
}

const CALLEE: &str = r#"
export default {
  fetch() { return new Response("callee VERSION"); },
  scheduled() {},
  async queue(batch) { for (const m of batch.messages) { console.log(`VERSION got ${m.body}`); m.ack(); } },
};
"#;

fn callee(version: &str, crons: &[&str]) -> Value {
    json!({
        "name": "callee",
        "mainModule": "main.js",
        "modules": { "main.js": CALLEE.replace("VERSION", version) },
        "triggers": { "crons": crons, "queues": [{ "queue": "jobs", "max_batch_timeout": 0 }] },
    })
}

fn crons_of(d: &Daemon, t: &str, worker: &str) -> Value {
    let (status, v) = get_json(d, Some(t), &format!("/v1/workers/{worker}/triggers"));
    assert_eq!(status, 200, "{v}");
    v["crons"].clone()
}

#[test]
fn names_are_checked_and_triggers_consumers_and_service_bindings_follow_the_current_version() {
    let d = Daemon::start_raw("names-triggers", 1, &tenant_config(), &[]);
    let t = tenant_token(0);
    let code = json!({ "main.js": "export default { fetch() { return new Response('x'); } };" });
    for bad in ["Counter", "-x", "a.b", "", "naïve", &"a".repeat(64)] {
        let body = json!({ "name": bad, "mainModule": "main.js", "modules": code });
        let (status, v) = create_worker(&d, &t, &body);
        assert_eq!(status, 400, "{bad:?}: {v}");
    }
    let longest = "a".repeat(63);
    let body = json!({ "name": longest, "mainModule": "main.js", "modules": code });
    assert_eq!(create_worker(&d, &t, &body).0, 201, "63 characters");

    let v1 = created(&d, &t, &callee("v1", &["*/5 * * * *"]));
    assert_eq!(crons_of(&d, &t, "callee"), json!(["*/5 * * * *"]));
    // A worker of another name may not consume the name's queue ...
    let other = json!({ "name": "other", "mainModule": "main.js", "modules": { "main.js": CALLEE },
        "triggers": { "queues": [{ "queue": "jobs" }] } });
    let (status, v) = create_worker(&d, &t, &other);
    assert_eq!(status, 409, "{v}");
    // ... but its next version takes its triggers and its queue over.
    let v2 = created(&d, &t, &callee("v2", &["0 * * * *"]));
    assert_eq!(crons_of(&d, &t, "callee"), json!(["0 * * * *"]));
    assert_eq!(crons_of(&d, &t, &v1), json!([]));
    let (status, v) = put_json(
        &d,
        Some(&t),
        &format!("/v1/workers/{v1}/triggers"),
        r#"{"crons": ["1 * * * *"]}"#,
    );
    assert_eq!(status, 409, "an old version's triggers: {v}");
    let (status, v) = put_json(
        &d,
        Some(&t),
        "/v1/workers/callee/triggers",
        r#"{"crons": ["2 * * * *"]}"#,
    );
    assert_eq!(
        (status, v["crons"].clone()),
        (200, json!(["2 * * * *"])),
        "{v}"
    );
    let sent = client()
        .post(format!("{}/v1/queues/jobs/messages", d.base()))
        .bearer_auth(&t)
        .json(&json!({ "messages": [{ "body": "m1" }] }))
        .send()
        .expect("send");
    assert_eq!(sent.status().as_u16(), 202);
    let logs = wait_for_logs(&d, &t, "callee", "got m1");
    assert!(
        logs.contains("v2 got m1") && !logs.contains("v1 got"),
        "{logs}"
    );

    // A service binding by name calls the name's current version.
    let caller = load_with_env(
        &d,
        &t,
        "export default { async fetch(req, env) { return env.S.fetch(req); } };",
        json!({ "S": { "binding": "service", "worker": "callee" } }),
    );
    assert_eq!(fetch(&d, &t, &caller), (200, "callee v2".into()));
    // So may Code Mode's (`/v1/run` with an env).
    let run = client()
        .post(format!("{}/v1/run", d.base()))
        .bearer_auth(&t)
        .json(&json!({
            "code": "export default async (arg: unknown, env: any) => (await env.S.fetch('http://x/')).text()",
            "env": { "S": { "binding": "service", "worker": "callee" } },
        }))
        .send()
        .expect("run");
    let ran: Value = run.json().expect("json");
    assert_eq!(ran["result"], json!("callee v2"), "{ran}");
    // Deleting the current version gives the name (and its triggers) back to the one before.
    assert_eq!(delete(&d, &t, &v2), 204);
    assert_eq!(fetch(&d, &t, &caller), (200, "callee v1".into()));
    assert_eq!(crons_of(&d, &t, "callee"), json!(["*/5 * * * *"]));

    // A globalOutbound names its worker by id only (a name's next version could make a cycle).
    let body = json!({ "mainModule": "main.js", "modules": code, "globalOutbound": { "worker": "callee" } });
    let (status, v) = create_worker(&d, &t, &body);
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("by its id"), "{v}");
    // A Loader child has no name.
    let parent = load_with_env(
        &d,
        &t,
        r#"export default { async fetch(req, env) {
          try {
            const r = await env.LOADER.get("c", () => ({ name: "child", mainModule: "m.js", modules: { "m.js": "export default { fetch() { return new Response('child'); } };" } })).getEntrypoint().fetch("http://x/");
            return new Response(await r.text());
          } catch (e) { return new Response(`refused: ${e.message}`); }
        } };"#,
        json!({ "LOADER": { "binding": "loader" } }),
    );
    let (status, text) = fetch(&d, &t, &parent);
    assert!(
        status == 200
            && text.contains("refused")
            && text.contains("Loader worker's child has no name"),
        "{status} {text}"
    );
}

#[test]
fn versions_beyond_max_versions_go_oldest_first_and_a_put_s_crons_stay_with_the_name() {
    let config = format!(
        "{}[quotas]\nmax_versions = 2\nmax_workers = 3\n",
        tenant_config()
    );
    let d = Daemon::start_raw("names-prune", 1, &config, &[]);
    let t = tenant_token(0);
    let v1 = created(&d, &t, &counter("v1"));
    assert_eq!(inc(&d, &t, "counter"), ("v1".into(), "v1".into(), 1));
    let v2 = created(&d, &t, &counter("v2"));
    assert_eq!(inc(&d, &t, "counter"), ("v2".into(), "v2".into(), 2));
    // A third version: the oldest goes, the name's objects keep their storage.
    let v3 = created(&d, &t, &counter("v3"));
    assert_eq!(get_json(&d, Some(&t), &format!("/v1/workers/{v1}")).0, 404);
    assert_eq!(
        fetch(&d, &t, &v1).0,
        404,
        "the deleted version is not served"
    );
    assert_eq!(inc(&d, &t, "counter"), ("v3".into(), "v3".into(), 3));
    assert_eq!(inc(&d, &t, &v2), ("v2".into(), "v3".into(), 4));
    // At `max_workers` (two versions and an unnamed worker), a fourth version still fits: the
    // one it pushes out is counted as gone.
    let code = json!({ "main.js": "export default { fetch() { return new Response('x'); } };" });
    let body = json!({ "mainModule": "main.js", "modules": code });
    assert_eq!(create_worker(&d, &t, &body).0, 201);
    let named = json!({ "name": "elsewhere", "mainModule": "main.js", "modules": code });
    let (status, v) = create_worker(&d, &t, &named);
    assert_eq!(status, 429, "a new name is over the quota: {v}");
    let v4 = created(&d, &t, &counter("v4"));
    assert_eq!(get_json(&d, Some(&t), &format!("/v1/workers/{v2}")).0, 404);
    let (_, listed) = get_json(&d, Some(&t), "/v1/workers");
    let mut ids: Vec<&str> = listed["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter(|w| w["name"] == json!("counter"))
        .map(|w| w["id"].as_str().unwrap_or(""))
        .collect();
    ids.sort_unstable();
    let mut kept = vec![v3.as_str(), v4.as_str()];
    kept.sort_unstable();
    assert_eq!(ids, kept, "{listed}");
    assert_eq!(inc(&d, &t, "counter"), ("v4".into(), "v4".into(), 5));

    // Crons a PUT set on the name stay with it for a version without crons of its own ...
    let (status, v) = put_json(
        &d,
        Some(&t),
        "/v1/workers/counter/triggers",
        r#"{"crons": ["2 * * * *"]}"#,
    );
    assert_eq!(status, 200, "{v}");
    created(&d, &t, &counter("v5"));
    assert_eq!(crons_of(&d, &t, "counter"), json!(["2 * * * *"]));
    // ... and one with crons replaces them.
    let mut v6 = counter("v6");
    v6["triggers"] = json!({ "crons": ["7 * * * *"] });
    created(&d, &t, &v6);
    assert_eq!(crons_of(&d, &t, "counter"), json!(["7 * * * *"]));
    created(&d, &t, &counter("v7"));
    assert_eq!(crons_of(&d, &t, "counter"), json!([]));
}

/// The logs of `worker` as text, polled until `what` is in them (for up to 30 s).
fn wait_for_logs(d: &Daemon, t: &str, worker: &str, what: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let (_, logs) = get_json(d, Some(t), &format!("/v1/workers/{worker}/logs"));
        let text = logs.to_string();
        if text.contains(what) {
            return text;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no {what:?} in the logs: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_name_moved_through_one_daemon_is_followed_by_another_sharing_postgresql() {
    let Some(pg) = pg_schema("e2e_worker_names") else {
        return;
    };
    let shared = std::env::temp_dir().join(format!("stockade-e2e-names-{}", std::process::id()));
    std::fs::create_dir_all(&shared).expect("mkdir");
    let key = shared.join("secret.key");
    std::fs::write(&key, "cd".repeat(32)).expect("key");
    let tail = format!(
        "[store]\nurl = \"{}\"\nsecret_key_file = \"{}\"\n{}",
        pg.url,
        key.display(),
        tenant_config()
    );
    let a = Daemon::start_raw("names-shared-a", 1, &tail, &[]);
    let b = Daemon::start_raw("names-shared-b", 1, &tail, &[]);
    let t = tenant_token(0);
    let app = |version: &str| {
        json!({ "name": "app", "mainModule": "main.js", "modules": { "main.js":
            format!("export default {{ fetch() {{ return new Response('{version}'); }} }};") } })
    };
    let v1 = created(&a, &t, &app("v1"));
    assert_eq!(fetch(&b, &t, "app"), (200, "v1".into()));
    // B trusts what it read for a second (`NAME_TTL`), then reads the store again.
    let until = |want: (u16, &str)| {
        let since = std::time::Instant::now();
        loop {
            let got = fetch(&b, &t, "app");
            if got.0 == want.0 && (want.0 != 200 || got.1 == want.1) {
                return;
            }
            assert!(
                since.elapsed() < std::time::Duration::from_secs(10),
                "B still answers {got:?}, not {want:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    created(&a, &t, &app("v2"));
    until((200, "v2"));
    // B holds v1 (it served it): deleted through A, it is no longer served by B either.
    assert_eq!(fetch(&b, &t, &v1), (200, "v1".into()));
    assert_eq!(delete(&a, &t, &v1), 204);
    let since = std::time::Instant::now();
    while fetch(&b, &t, &v1).0 != 404 {
        assert!(
            since.elapsed() < std::time::Duration::from_secs(10),
            "B still serves the deleted v1"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(delete(&a, &t, "app"), 204);
    until((404, "no such worker"));
    let _ = std::fs::remove_dir_all(shared);
}

const ROOM: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Room extends DurableObject {
  fetch(req) {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    return new Response(null, { status: 101, webSocket: client });
  }
  webSocketMessage(ws, msg) { ws.send(`VERSION:${msg}`); }
  async slow(ms) {
    await new Promise((r) => setTimeout(r, ms));
    try { this.ctx.storage.kv.put("late", "VERSION"); return "written"; }
    catch (e) { return `refused: ${e.message}`; }
  }
  read() { return this.ctx.storage.kv.get("late") ?? "none"; }
}
export default { async fetch(req, env) {
  const o = env.NS.getByName("r");
  if (req.headers.get("Upgrade") === "websocket") return o.fetch(req);
  const op = new URL(req.url).pathname.split("/").pop();
  return Response.json(op === "slow" ? await o.slow(4000) : await o.read());
} };
"#;

fn room(version: &str) -> Value {
    json!({
        "name": "room",
        "mainModule": "main.js",
        "modules": { "main.js": ROOM.replace("VERSION", version) },
        "env": { "NS": { "binding": "durable_object_namespace", "class_name": "Room" } },
    })
}

#[test]
fn a_reset_objects_old_calls_lose_its_storage_and_its_hibernated_sockets_reach_the_new_code() {
    let d = Daemon::start_raw("names-reset", 1, &tenant_config(), &[]);
    let t = tenant_token(0);
    created(&d, &t, &room("v1"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut ws = rt.block_on(async {
        let mut ws = ws_client::connect(&d, &t, "room", "").await;
        ws.send(Message::text("a")).await.expect("send");
        assert_eq!(ws_client::next(&mut ws).await, Message::text("v1:a"));
        ws
    });
    // A v1 call that writes after 4 s, while v2 becomes current and the object is reset.
    let in_flight = |admin: &Value| -> u64 {
        admin["workers"]
            .as_array()
            .map_or(0, |w| w.iter().filter_map(|w| w["inFlight"].as_u64()).sum())
    };
    // The socket's message event may still count for a moment after its answer reached the
    // client: start from a quiet process, so "two more" below means this slow call's two.
    d.until_admin("the socket's event over", |a| in_flight(a) == 0);
    let slow = {
        let (base, t) = (d.base().to_owned(), t.clone());
        std::thread::spawn(move || {
            client()
                .get(format!("{base}/v1/workers/room/fetch/slow"))
                .bearer_auth(&t)
                .send()
                .expect("slow")
                .text()
                .expect("text")
        })
    };
    // In flight: the worker's request and the object's call, which runs v1's code.
    d.until_admin("the slow call in the object", |a| in_flight(a) >= 2);
    created(&d, &t, &room("v2"));
    assert_eq!(fetch_json(&d, &t, "room", "read"), json!("none"));
    let answer = slow.join().expect("slow call");
    assert!(
        answer.contains("this Durable Object was reset because its worker has a new version"),
        "the old instance wrote after the reset: {answer}"
    );
    assert_eq!(fetch_json(&d, &t, "room", "read"), json!("none"));
    // The hibernated socket stays connected; its next message reaches the new code.
    rt.block_on(async {
        ws.send(Message::text("b")).await.expect("send");
        assert_eq!(ws_client::next(&mut ws).await, Message::text("v2:b"));
    });
}

#[test]
fn deleting_a_name_disposes_every_loaded_version() {
    let d = Daemon::start_raw("names-dispose", 1, &tenant_config(), &[]);
    let t = tenant_token(0);
    let mut ids = Vec::new();
    for v in ["v1", "v2", "v3"] {
        let code = format!("export default {{ fetch() {{ return new Response('{v}'); }} }};");
        let body =
            json!({ "name": "multi", "mainModule": "main.js", "modules": { "main.js": code } });
        let id = created(&d, &t, &body);
        assert_eq!(fetch(&d, &t, &id), (200, v.to_owned()));
        ids.push(id);
    }
    let isolates = || {
        d.admin()["workers"].as_array().map_or(0, |all| {
            all.iter()
                .filter_map(|w| w["isolates"].as_u64())
                .sum::<u64>()
        })
    };
    assert_eq!(isolates(), 3, "{:#}", d.admin());
    // One delete disposes the three, in one process: each after the one before.
    assert_eq!(delete(&d, &t, "multi"), 204);
    let start = std::time::Instant::now();
    while isolates() != 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "still loaded: {:#}",
            d.admin()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for id in &ids {
        assert_eq!(fetch(&d, &t, id).0, 404);
    }
}
