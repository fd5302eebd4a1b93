//! Scheduled handlers and cron triggers end to end, on a real daemon with jailed workers: the
//! manual route (`POST /v1/workers/{id}/scheduled`) runs the handler with the cron and time asked
//! for and the worker's bindings, exceptions and a missing handler are outcomes, bad crons are
//! 400s, and a `* * * * *` trigger really fires at a minute boundary, after a restart on the same
//! data folder too, while a deleted worker's trigger does not.
mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use serde_json::{json, Value};

/// Records each scheduled run in KV (`runs`: [{cron, t, w}]); `GET /` reads them back.
const RECORDER: &str = r#"
export default {
  async scheduled(controller, env, ctx) {
    console.log(`scheduled ${controller.cron} at ${controller.scheduledTime}`);
    ctx.waitUntil((async () => {
      const runs = JSON.parse((await env.KV.get("runs")) ?? "[]");
      runs.push({ cron: controller.cron, t: controller.scheduledTime, w: env.NAME });
      await env.KV.put("runs", JSON.stringify(runs));
    })());
  },
  async fetch(request, env) {
    return new Response((await env.KV.get("runs")) ?? "[]");
  },
};"#;

fn recorder(name: &str, crons: &[&str]) -> Value {
    json!({
        "mainModule": "main.js",
        "modules": { "main.js": RECORDER },
        "env": { "KV": { "binding": "kv", "namespace": "cron" }, "NAME": name },
        "triggers": { "crons": crons },
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_millis() as i64
}

/// POST the manual route: (status, JSON).
fn run_now(d: &impl Target, token: &str, id: &str, query: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/workers/{id}/scheduled?{query}", d.base()))
        .bearer_auth(token)
        .send()
        .expect("scheduled");
    (r.status().as_u16(), r.json().expect("json"))
}

#[test]
fn the_manual_route_runs_the_handler_with_its_cron_time_and_bindings() {
    let d = Daemon::start("sched-manual", 2, 1, "");
    let t = tenant_token(0);
    let id = load_code(&d, &t, &recorder("manual", &["*/5 * * * *"]));
    let (status, body) = run_now(
        &d,
        &t,
        &id,
        &format!(
            "cron={}&scheduledTime=1767225600000",
            urlencode("0 12 * * MON")
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "ok", "{body}");
    assert_eq!(body["noRetry"], false);
    assert_eq!(
        body["logs"][0]["message"],
        "scheduled 0 12 * * MON at 1767225600000"
    );
    // What the handler's waitUntil wrote through its binding, read back through its fetch.
    let runs = fetch_json(&d, &t, &id, "");
    assert_eq!(
        runs,
        json!([{ "cron": "0 12 * * MON", "t": 1767225600000i64, "w": "manual" }])
    );
    // Without a cron the worker's first trigger is used; its line is in the worker's logs.
    let (status, body) = run_now(&d, &t, &id, "scheduledTime=60000");
    assert_eq!((status, &body["outcome"]), (200, &json!("ok")), "{body}");
    let (_, logs) = get_json(&d, Some(&t), &format!("/v1/workers/{id}/logs"));
    let text = logs.to_string();
    assert!(text.contains("scheduled */5 * * * * at 60000"), "{text}");
    // Described with its triggers.
    let (_, described) = get_json(&d, Some(&t), &format!("/v1/workers/{id}"));
    assert_eq!(described["triggers"]["crons"], json!(["*/5 * * * *"]));
    // Another tenant does not see it.
    let (status, _) = run_now(&d, &tenant_token(1), &id, "");
    assert_eq!(status, 404);
}

#[test]
fn exceptions_and_missing_handlers_are_outcomes_and_bad_crons_are_400s() {
    let d = Daemon::start("sched-errors", 1, 1, "[limits]\nmax_crons_per_worker = 2\n");
    let t = tenant_token(0);
    let throws = load(
        &d,
        &t,
        "export default { scheduled(c) { c.noRetry(); throw new RangeError('boom'); } };",
    );
    let (status, body) = run_now(&d, &t, &throws, "cron=*+*+*+*+*");
    assert_eq!(status, 200);
    assert_eq!(body["outcome"], "exception", "{body}");
    assert_eq!(body["noRetry"], true);
    assert_eq!(body["error"]["message"], "boom");
    assert!(
        body["logs"]
            .to_string()
            .contains("Uncaught RangeError: boom"),
        "{body}"
    );

    let spins = load(&d, &t, "export default { scheduled() { for (;;) {} } };");
    let (status, body) = run_now(&d, &t, &spins, "");
    assert_eq!(
        (status, &body["outcome"]),
        (200, &json!("exceededCpu")),
        "{body}"
    );

    let fetch_only = load(
        &d,
        &t,
        "export default { fetch() { return new Response('x'); } };",
    );
    let (status, body) = run_now(&d, &t, &fetch_only, "");
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["outcome"], "noHandler");

    let (status, body) = run_now(&d, &t, &throws, "cron=61+*+*+*+*");
    assert_eq!(status, 400, "{body}");
    let (status, _) = run_now(&d, &t, &throws, "scheduledTime=-1");
    assert_eq!(status, 400);

    let code = |crons: Value| {
        json!({ "mainModule": "m.js", "modules": { "m.js": "export default {}" },
                "triggers": { "crons": crons } })
    };
    let (status, body) = create_worker(&d, &t, &code(json!(["*/5 * * * *", "0 25 * * *"])));
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("\"0 25 * * *\""),
        "the bad one is named: {message}"
    );
    let (status, _) = create_worker(
        &d,
        &t,
        &code(json!(["* * * * *", "0 * * * *", "0 0 * * *"])),
    );
    assert_eq!(status, 400, "over max_crons_per_worker");
    let (status, _) = create_worker(&d, &t, &code(json!(["@daily"])));
    assert_eq!(status, 400);
    let (status, _) = create_worker(&d, &t, &code(json!(1)));
    assert_eq!(status, 400);
    let (status, a) = create_worker(&d, &t, &code(json!(["0 17 * * sun", "59 23 L * *"])));
    assert_eq!(status, 201, "{a}");
    let (_, b) = create_worker(&d, &t, &code(json!(["0 17 * * sun"])));
    assert_ne!(a["id"], b["id"], "the triggers hash into the id");
}

/// The runs `id` recorded (its `runs` in KV).
fn runs(d: &impl Target, token: &str, id: &str) -> Vec<Value> {
    fetch_json(d, token, id, "")
        .as_array()
        .expect("runs")
        .clone()
}

#[test]
fn a_trigger_fires_each_minute_after_a_restart_and_not_once_deleted() {
    let t = tenant_token(0);
    let tenants = format!("[[tenants]]\nid = \"t0\"\ntoken = \"{t}\"\n");
    let dir = std::env::temp_dir().join(format!("stockade-e2e-sched-fire-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = Daemon::start_in(dir.clone(), 1, &tenants, &[]);
    let kept = load_code(&first, &t, &recorder("kept", &["* * * * *"]));
    // A second worker of the same tenant, writing to the same namespace, deleted at once (not
    // within 10 s of a minute boundary, so it cannot have fired in between).
    let into_minute = now_ms() % 60_000;
    if into_minute > 50_000 {
        std::thread::sleep(Duration::from_millis((60_500 - into_minute) as u64));
    }
    let gone = load_code(&first, &t, &recorder("gone", &["* * * * *"]));
    let r = client()
        .delete(format!("{}/v1/workers/{gone}", first.base))
        .bearer_auth(&t)
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    // Restart on the same data folder: the trigger is in the store.
    let mut first = first;
    first.keep_dir = true;
    drop(first);
    let d = Daemon::start_in(dir.clone(), 1, &tenants, &[]);
    let restarted = now_ms();
    let deadline = Instant::now() + Duration::from_secs(75);
    let fired = loop {
        let recorded = runs(&d, &t, &kept);
        if let Some(run) = recorded
            .iter()
            .find(|r| r["t"].as_i64().is_some_and(|at| at > restarted))
        {
            break run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no run within 75 s: {recorded:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let at = fired["t"].as_i64().expect("time");
    assert_eq!(at % 60_000, 0, "a minute boundary: {fired}");
    assert_eq!(fired["cron"], "* * * * *");
    assert!(
        at - restarted <= 61_000,
        "the first boundary after the restart: {fired}"
    );
    let recorded = runs(&d, &t, &kept);
    assert!(
        recorded.iter().all(|r| r["w"] == "kept"),
        "the deleted worker never ran: {recorded:?}"
    );
    let metrics = d.metrics();
    assert!(
        metrics.contains("stockade_scheduled_runs_total{trigger=\"cron\",outcome=\"ok\"}"),
        "{metrics}"
    );
    let (_, logs) = get_json(&d, Some(&t), &format!("/v1/workers/{kept}/logs"));
    assert!(
        logs.to_string()
            .contains(&format!("scheduled * * * * * at {at}")),
        "{logs}"
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn triggers_are_replaced_without_a_new_definition_and_fire_without_a_restart() {
    let d = Daemon::start("sched-put", 2, 1, "");
    let (t, other) = (tenant_token(0), tenant_token(1));
    // A trigger that does not fire during the test, replaced by one that fires each minute.
    let id = load_code(&d, &t, &recorder("put", &["0 0 1 1 *"]));
    let path = format!("/v1/workers/{id}/triggers");
    assert_eq!(
        get_json(&d, Some(&t), &path),
        (200, json!({ "crons": ["0 0 1 1 *"] }))
    );
    let replaced = now_ms();
    let (status, body) = put_json(&d, Some(&t), &path, r#"{"crons": ["* * * * *"]}"#);
    assert_eq!((status, body), (200, json!({ "crons": ["* * * * *"] })));
    assert_eq!(
        get_json(&d, Some(&t), &path),
        (200, json!({ "crons": ["* * * * *"] }))
    );
    // The worker's description shows the crons in force, not the definition's.
    let (status, described) = get_json(&d, Some(&t), &format!("/v1/workers/{id}"));
    assert_eq!(status, 200, "{described}");
    assert_eq!(
        described["triggers"]["crons"],
        json!(["* * * * *"]),
        "{described}"
    );

    // Checked as a definition's triggers are; a refused change changes nothing.
    for bad in [
        r#"{"crons": ["@daily"]}"#,
        r#"{"crons": ["* * * * *", "* * * * *"]}"#,
        r#"{"crons": ["0 * * * *", "1 * * * *", "2 * * * *", "3 * * * *", "4 * * * *", "5 * * * *"]}"#,
        r#"{"crons": "* * * * *"}"#,
        r#"{"crons": [], "queues": []}"#,
        r#"not json"#,
    ] {
        let (status, body) = put_json(&d, Some(&t), &path, bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // Another tenant's worker is not found, to read or to change.
    let (status, _) = put_json(&d, Some(&other), &path, r#"{"crons": ["0 0 * * *"]}"#);
    assert_eq!(status, 404);
    assert_eq!(get_json(&d, Some(&other), &path).0, 404);
    let (status, _) = put_json(
        &d,
        Some(&t),
        &format!("/v1/workers/{}/triggers", "0".repeat(64)),
        r#"{"crons": []}"#,
    );
    assert_eq!(status, 404);
    assert_eq!(
        get_json(&d, Some(&t), &path),
        (200, json!({ "crons": ["* * * * *"] }))
    );

    // The scheduler fires the new trigger at the next minute boundary, no restart.
    let deadline = Instant::now() + Duration::from_secs(75);
    let fired = loop {
        let recorded = runs(&d, &t, &id);
        if let Some(run) = recorded.first() {
            break run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no run within 75 s: {recorded:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(fired["cron"], "* * * * *", "{fired}");
    let at = fired["t"].as_i64().expect("time");
    assert!(at > replaced && at - replaced <= 61_000, "{fired}");
    // The manual route's default cron is the stored one too.
    let (status, body) = run_now(&d, &t, &id, "scheduledTime=1767225600000");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["logs"][0]["message"],
        "scheduled * * * * * at 1767225600000"
    );
}
