//! The wall-clock limit of a Durable Object's alarm, and a worker's own `limits.eventWallMs`, end
//! to end on a real daemon with jailed workers: an `alarm()` that awaits longer than the worker's
//! `wallMs` runs under `[limits] event_wall_ms` (as Cloudflare gives it 15 minutes) and its
//! storage write lands, while the same wait in the object's `fetch` ends at the worker's `wallMs`;
//! a worker's `eventWallMs` lowers the limit of its cron runs and its objects' alarms (a run
//! past it ends `exceededWall`, an alarm past it fails on the wall limit), is shown back by
//! `GET /v1/workers/{id}`, and a value past `[limits] event_wall_ms` (or on `/v1/run`) is a 400
//! naming the field and the bound.
mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// `Sleeper`'s `alarm()` counts its run, awaits `env.WAIT` ms and writes `done` (its
/// `retryCount`); its `fetch` awaits as long. The default export's `fetch` calls a method of
/// the object `?name=`; `scheduled()` awaits `env.WAIT` ms itself and then fetches the object
/// `f`, logging what it got.
const WORKER: &str = r#"
import { DurableObject } from "cloudflare:workers";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export class Sleeper extends DurableObject {
  async alarm(info) {
    const s = this.ctx.storage;
    await s.put("runs", ((await s.get("runs")) ?? 0) + 1);
    await sleep(this.env.WAIT);
    await s.put("done", info.retryCount);
  }
  async arm() { await this.ctx.storage.setAlarm(Date.now()); return "armed"; }
  async state() {
    const s = this.ctx.storage;
    return { runs: (await s.get("runs")) ?? 0, done: (await s.get("done")) ?? null };
  }
  async fetch() { await sleep(this.env.WAIT); return new Response("woke"); }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const stub = env.NS.getByName(url.searchParams.get("name") ?? "a");
    return Response.json(await stub[url.pathname.split("/").pop()]());
  },
  async scheduled(controller, env) {
    await sleep(env.WAIT);
    console.log("slept");
    try {
      const r = await env.NS.getByName("f").fetch("http://object/nap");
      console.log(`the object answered ${r.status} ${await r.text()}`);
    } catch (e) {
      console.log(`the object failed: ${e.name}: ${e.message}`);
    }
  },
};
"#;

/// The worker, with `limits` (its `wallMs` 1 s, plus what `extra` adds), its handlers waiting
/// `wait` ms.
fn worker(wait: u32, extra: Value) -> Value {
    let mut limits = json!({ "wallMs": 1000 });
    if let (Some(l), Some(e)) = (limits.as_object_mut(), extra.as_object()) {
        l.extend(e.clone());
    }
    json!({
        "mainModule": "main.js",
        "modules": { "main.js": WORKER },
        "env": {
            "NS": { "binding": "durable_object_namespace", "class_name": "Sleeper" },
            "WAIT": wait,
        },
        "limits": limits,
    })
}

fn post_worker(d: &Daemon, token: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/workers", d.base()))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("create");
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn run_scheduled(d: &Daemon, token: &str, id: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/workers/{id}/scheduled", d.base()))
        .bearer_auth(token)
        .send()
        .expect("scheduled");
    (r.status().as_u16(), r.json().expect("json"))
}

fn messages(body: &Value) -> Vec<String> {
    body["logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|line| line["message"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `f` every 200 ms until it gives `Some`, for up to 90 s (a guard against hangs only).
fn within<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90) {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: not within 90 s");
}

const CONFIG: &str =
    "[limits]\ncpu_ms = 2000\nevent_wall_ms = 20000\n[durable_objects]\nalarm_retry_ms = 50\n";

#[test]
fn an_alarm_runs_under_the_event_wall_and_the_objects_fetch_keeps_the_workers() {
    let d = Daemon::start("do-alarm-wall", 1, 1, CONFIG);
    let t = tenant_token(0);
    // 7 s: past the worker's 1 s, and past the 1 s + 5 s of silence after which the supervisor
    // would declare a process running a 1 s call hung (no other request talks to the process
    // meanwhile), so the supervisor too must wait for the event's limit.
    let id = load_code(&d, &t, &worker(7000, json!({})));

    // The alarm awaits 7 s, within the event's 20 s: its first run finishes and its write lands.
    assert_eq!(fetch_json(&d, &t, &id, "arm?name=a"), json!("armed"));
    // Nothing talks to the process while the alarm waits (a poll's storage calls would break
    // the worker's silence, which is what a supervisor waiting only 1 s + 5 s would see).
    std::thread::sleep(Duration::from_secs(9));
    let state = within("the alarm finished or was retried", || {
        let s = fetch_json(&d, &t, &id, "state?name=a");
        (s["done"].is_number() || s["runs"].as_u64().unwrap_or(0) > 1).then_some(s)
    });
    assert_eq!(
        state,
        json!({"runs": 1, "done": 0}),
        "one run, finished on its first attempt"
    );

    // The same wait in the object's fetch, asked by a caller that may wait (a cron run under the
    // event's 20 s, once it has slept as long), ends at the worker's 1 s.
    let (status, body) = run_scheduled(&d, &t, &id);
    assert_eq!((status, &body["outcome"]), (200, &json!("ok")), "{body}");
    let logs = messages(&body);
    assert_eq!(logs.first().map(String::as_str), Some("slept"), "{body}");
    let answer = logs.get(1).cloned().unwrap_or_default();
    assert!(
        answer.starts_with("the object failed") && answer.contains("(wall_limit)"),
        "the object's fetch ends at its wall limit: {body}"
    );
}

#[test]
fn a_workers_event_wall_ms_bounds_its_events_and_is_checked() {
    let d = Daemon::start("do-event-wall-ms", 1, 1, CONFIG);
    let t = tenant_token(0);

    // Past the daemon's bound, or 0: a 400 naming the field and the bound; nothing stored.
    for bad in [20_001, 0] {
        let (status, body) = post_worker(&d, &t, &worker(10, json!({ "eventWallMs": bad })));
        let error = body.to_string();
        assert_eq!(status, 400, "{body}");
        assert!(
            error.contains("limits.eventWallMs") && error.contains("20000"),
            "{body}"
        );
    }
    // A snippet has no events.
    let r = client()
        .post(format!("{}/v1/run", d.base()))
        .bearer_auth(&t)
        .json(&json!({ "code": "export default () => 1", "limits": { "eventWallMs": 1000 } }))
        .send()
        .expect("run");
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap_or_default().contains("eventWallMs"));

    // Shown back: the worker's own, else the daemon's.
    let short = load_code(&d, &t, &worker(3000, json!({ "eventWallMs": 2000 })));
    let plain = load_code(&d, &t, &worker(3000, json!({})));
    assert_ne!(short, plain);
    let (_, described) = get_json(&d, Some(&t), &format!("/v1/workers/{short}"));
    assert_eq!(described["limits"]["eventWallMs"], 2000, "{described}");
    let (_, described) = get_json(&d, Some(&t), &format!("/v1/workers/{plain}"));
    assert_eq!(described["limits"]["eventWallMs"], 20000, "{described}");

    // A cron run that awaits 3 s: past the worker's 2 s it ends exceededWall; the same worker
    // without eventWallMs (the daemon's 20 s) gets to its log line.
    let (status, body) = run_scheduled(&d, &t, &short);
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("exceededWall")),
        "{body}"
    );
    assert!(messages(&body).is_empty(), "{body}");
    let (status, body) = run_scheduled(&d, &t, &plain);
    assert_eq!((status, &body["outcome"]), (200, &json!("ok")), "{body}");
    assert_eq!(messages(&body).first().map(String::as_str), Some("slept"));

    // Its object's alarm that awaits 3 s fails on the wall limit (and is retried).
    assert_eq!(fetch_json(&d, &t, &short, "arm?name=a"), json!("armed"));
    let logs = within("the alarm's failure is logged", || {
        let (_, logs) = get_json(&d, Some(&t), &format!("/v1/workers/{short}/logs"));
        let text = logs.to_string();
        text.contains("the alarm() of Durable Object Sleeper")
            .then_some(text)
    });
    assert!(logs.contains("WallLimit"), "{logs}");
    let state = fetch_json(&d, &t, &short, "state?name=a");
    assert_eq!(state["done"], Value::Null, "it never finished: {state}");
}
