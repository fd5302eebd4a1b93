//! Durable Object alarms end to end, in real jailed isolates of a real daemon: an alarm fires
//! once, in the live instance with its storage; `getAlarm`/`deleteAlarm`; one set again from
//! within `alarm()` stays set; a throwing `alarm()` is retried with `retryCount`/`isRetry` and
//! then given up; a deleted worker's alarm does not run; tenants never see or set each other's
//! (also by a direct host call); an evicted object is constructed again for its alarm; and an
//! alarm set before a `kill -9` fires after the restart.
mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn ns_env() -> Value {
    json!({
        "NS": { "binding": "durable_object_namespace", "class_name": "Clock" },
        "NA": { "binding": "durable_object_namespace", "class_name": "NoAlarm" },
    })
}

const CLOCK: &str = r#"
import { DurableObject } from "cloudflare:workers";
export class Clock extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.born = crypto.randomUUID();
    this.hits = 0;
    ctx.blockConcurrencyWhile(async () => {
      await ctx.storage.put("constructed", ((await ctx.storage.get("constructed")) ?? 0) + 1);
    });
  }
  async alarm(info) {
    const s = this.ctx.storage;
    const runs = (await s.get("runs")) ?? [];
    runs.push({ retryCount: info.retryCount, isRetry: info.isRetry, born: this.born, hits: this.hits,
      n: (await s.get("n")) ?? null, alarmDuringRun: await s.getAlarm() });
    await s.put("runs", runs);
    console.log(`alarm ran retryCount=${info.retryCount}`);
    const mode = (await s.get("mode")) ?? "ok";
    if (mode === "throw") throw new RangeError("alarm boom");
    if (mode === "again" && runs.length === 1) await s.setAlarm(Date.now() + 300);
  }
  async arm(ms, mode) {
    await this.ctx.storage.put({ mode, n: 42 });
    await this.ctx.storage.setAlarm(Date.now() + ms);
    return this.born;
  }
  touch() { this.hits++; return this.born; }
  async wipe() { await this.ctx.storage.deleteAll(); return await this.ctx.storage.getAlarm(); }
  async state() {
    const s = this.ctx.storage;
    return { born: this.born, hits: this.hits, runs: (await s.get("runs")) ?? [], alarm: await s.getAlarm(),
      constructed: (await s.get("constructed")) ?? 0 };
  }
  async dates() {
    const s = this.ctx.storage;
    await s.setAlarm(new Date(8.64e15));
    const far = await s.getAlarm();
    await s.deleteAlarm();
    const gone = await s.getAlarm();
    const bad = [];
    for (const t of ["soon", NaN, {}]) {
      try { await s.setAlarm(t); bad.push("set"); } catch (e) { bad.push(e.name); }
    }
    return { far, gone, bad };
  }
}
export class NoAlarm extends DurableObject {
  async arm() {
    try { await this.ctx.storage.setAlarm(Date.now()); return "set"; } catch (e) { return `${e.name}: ${e.message}`; }
  }
}
export default { async fetch(req, env) {
  const url = new URL(req.url);
  const ns = url.searchParams.get("ns") === "NA" ? env.NA : env.NS;
  const stub = ns.getByName(url.searchParams.get("name") ?? "a");
  const args = JSON.parse(url.searchParams.get("args") ?? "[]");
  try {
    return Response.json(await stub[url.pathname.split("/").pop()](...args));
  } catch (e) {
    return Response.json({ error: e.name, message: e.message });
  }
} };
"#;

/// Calls `method(args)` of the object `name` through the worker's fetch handler.
fn call(d: &impl Target, token: &str, id: &str, name: &str, method: &str, args: Value) -> Value {
    let args = urlencode(&args.to_string());
    fetch_json(d, token, id, &format!("{method}?name={name}&args={args}"))
}

/// Polls `f` every 100 ms until it gives `Some`, for up to 60 s.
fn within<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within 60 s");
}

fn runs(state: &Value) -> Vec<Value> {
    state["runs"].as_array().cloned().unwrap_or_default()
}

fn metric(d: &Daemon, outcome: &str) -> f64 {
    let want = format!("stockade_do_alarms_total{{outcome=\"{outcome}\"}} ");
    d.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(&want).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(-1.0)
}

#[test]
fn alarms_fire_retry_stay_set_and_stay_in_their_tenant() {
    let config = "[limits]\ncpu_ms = 2000\n[durable_objects]\nalarm_retry_ms = 50\n";
    let d = Daemon::start_with("do-alarms", &["normal", "normal"], 1, config, TEST_HOOKS);
    let (t0, t1) = (tenant_token(0), tenant_token(1));
    let w = load_with_env(&d, &t0, CLOCK, ns_env());

    // An alarm 3 s ahead (time for the next call to see it set on a loaded machine) fires once,
    // in the live instance, with the object's storage.
    let born = call(&d, &t0, &w, "a", "touch", json!([]));
    let armed = call(&d, &t0, &w, "a", "arm", json!([3000, "ok"]));
    assert_eq!(armed, born, "the same instance");
    let set = call(&d, &t0, &w, "a", "state", json!([]));
    assert!(set["alarm"].as_f64().is_some(), "getAlarm says when: {set}");
    let fired = within("the alarm fired", || {
        let s = call(&d, &t0, &w, "a", "state", json!([]));
        (runs(&s).len() == 1 && s["alarm"].is_null()).then_some(s)
    });
    let run = &runs(&fired)[0];
    assert_eq!(run["born"], born, "the live instance ran it: {fired}");
    assert_eq!(run["hits"], 1, "its in-memory field: {fired}");
    assert_eq!(run["n"], 42, "its storage: {fired}");
    assert_eq!(
        (&run["retryCount"], &run["isRetry"]),
        (&json!(0), &json!(false))
    );
    assert_eq!(fired["constructed"], 1);
    assert_eq!(
        run["alarmDuringRun"],
        Value::Null,
        "getAlarm() in alarm(): null"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let later = call(&d, &t0, &w, "a", "state", json!([]));
    assert_eq!(runs(&later).len(), 1, "once: {later}");
    let (_, logs) = get_json(&d, Some(&t0), &format!("/v1/workers/{w}/logs"));
    assert!(
        logs.to_string().contains("alarm ran retryCount=0"),
        "{logs}"
    );

    // getAlarm / deleteAlarm, a Date, bad times; no alarm() handler: setAlarm rejects.
    let dates = call(&d, &t0, &w, "d", "dates", json!([]));
    assert_eq!(dates["far"], json!(8_640_000_000_000_000i64), "{dates}");
    assert_eq!(dates["gone"], Value::Null);
    assert_eq!(dates["bad"], json!(["TypeError", "TypeError", "TypeError"]));
    let na = fetch_json(&d, &t0, &w, "arm?ns=NA&name=x");
    assert!(
        na.as_str()
            .unwrap_or("")
            .contains("must have an alarm() handler"),
        "{na}"
    );
    // deleteAll() keeps the alarm, but from compatibility date 2026-02-24 on (Cloudflare's).
    call(&d, &t0, &w, "w", "arm", json!([60_000, "ok"]));
    assert!(call(&d, &t0, &w, "w", "wipe", json!([])).is_number());
    call(&d, &t0, &w, "w", "dates", json!([]));
    let body = json!({ "mainModule": "main.js", "modules": { "main.js": CLOCK }, "env": ns_env(),
        "compatibilityDate": "2026-03-01" });
    let dated = load_code(&d, &t0, &body);
    call(&d, &t0, &dated, "w", "arm", json!([60_000, "ok"]));
    assert_eq!(call(&d, &t0, &dated, "w", "wipe", json!([])), Value::Null);
    // A deleted alarm does not fire: deleted well before it is due, checked after it was.
    let del_due = Instant::now() + Duration::from_secs(5);
    call(&d, &t0, &w, "del", "arm", json!([5000, "ok"]));
    call(&d, &t0, &w, "del", "dates", json!([]));

    // Set again from within alarm(): it stays set and fires again.
    call(&d, &t0, &w, "g", "arm", json!([0, "again"]));
    let again = within("the alarm set again fired", || {
        let s = call(&d, &t0, &w, "g", "state", json!([]));
        (runs(&s).len() == 2 && s["alarm"].is_null()).then_some(s)
    });
    assert!(runs(&again)[0]["alarmDuringRun"].is_null(), "{again}");
    assert!(runs(&again)[1]["isRetry"] == json!(false), "{again}");

    // A throwing alarm() (a time in the past: at once) is retried 6 times, then given up.
    call(&d, &t0, &w, "t", "arm", json!([-5000, "throw"]));
    let thrown = within("seven runs", || {
        let s = call(&d, &t0, &w, "t", "state", json!([]));
        (runs(&s).len() >= 7 && s["alarm"].is_null()).then_some(s)
    });
    let seen: Vec<(Value, Value)> = runs(&thrown)
        .iter()
        .map(|r| (r["retryCount"].clone(), r["isRetry"].clone()))
        .collect();
    let want: Vec<(Value, Value)> = (0..7).map(|i| (json!(i), json!(i > 0))).collect();
    assert_eq!(seen, want, "{thrown}");
    std::thread::sleep(Duration::from_secs(2));
    let after = call(&d, &t0, &w, "t", "state", json!([]));
    assert_eq!(runs(&after).len(), 7, "it stopped: {after}");
    let (_, logs) = get_json(&d, Some(&t0), &format!("/v1/workers/{w}/logs"));
    let text = logs.to_string();
    assert!(text.contains("RangeError: alarm boom"), "{text}");
    assert!(text.contains("failed 7 times and is given up"), "{text}");
    std::thread::sleep(del_due.saturating_duration_since(Instant::now()) + Duration::from_secs(1));
    let del = call(&d, &t0, &w, "del", "state", json!([]));
    assert_eq!(runs(&del).len(), 0, "the deleted alarm never ran: {del}");

    // A deleted worker's alarm does not run.
    // (Another code: a worker's id is its definition's hash.)
    let w2 = load_with_env(&d, &t0, &format!("{CLOCK}// another"), ns_env());
    assert_ne!(w2, w);
    call(&d, &t0, &w2, "z", "arm", json!([5000, "ok"]));
    let gone_before = metric(&d, "gone");
    let r = client()
        .delete(format!("{}/v1/workers/{w2}", d.base()))
        .bearer_auth(&t0)
        .send()
        .expect("delete");
    assert!(r.status().is_success(), "{}", r.status());
    within("the deleted worker's alarm dropped", || {
        (metric(&d, "gone") == gone_before + 1.0).then_some(())
    });

    // Tenant t1: its object "a" is its own (no alarm, no runs); a direct host call has no
    // alarm to read or set outside an object.
    let w1 = load_with_env(&d, &t1, CLOCK, ns_env());
    let theirs = call(&d, &t1, &w1, "a", "state", json!([]));
    assert_eq!(
        (&theirs["alarm"], runs(&theirs).len()),
        (&Value::Null, 0),
        "{theirs}"
    );
    let attacker = [
        DIRECT_HOST_CALL,
        "export default { async fetch() { return Response.json([
          await ask('do.setAlarm', { time: 0 }), await ask('do.getAlarm', {}), await ask('do.deleteAlarm', {}),
        ]); } };",
    ]
    .concat();
    let w3 = load_with_env(&d, &t1, &attacker, ns_env());
    let out = fetch_json(&d, &t1, &w3, "");
    for answer in out.as_array().expect("answers") {
        assert!(
            answer
                .as_str()
                .unwrap_or("")
                .contains("belongs to a live Durable Object"),
            "{out}"
        );
    }
    let mine = call(&d, &t0, &w, "a", "state", json!([]));
    assert_eq!(
        (&mine["alarm"], runs(&mine).len()),
        (&Value::Null, 1),
        "{mine}"
    );
    // Metrics: 1 (a) + 2 (g) ran; 7 failed runs of t, given up once.
    assert_eq!(metric(&d, "ok"), 3.0);
    assert_eq!(metric(&d, "error"), 7.0);
    assert_eq!(metric(&d, "gave_up"), 1.0);
}

#[test]
fn an_alarm_constructs_an_evicted_object_and_survives_kill_9() {
    let tenants = format!(
        "[limits]\ncpu_ms = 2000\n[durable_objects]\nidle_ms = 300\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    );
    let d = Daemon::start_raw("do-alarms-restart", 1, &tenants, &[]);
    let t = tenant_token(0);
    let w = load_with_env(&d, &t, CLOCK, ns_env());
    // Evicted (idle 300 ms) before its alarm 2 s ahead: constructed again to run it.
    let born = call(&d, &t, &w, "e", "arm", json!([2000, "ok"]));
    // No call meanwhile (a call would keep it live).
    std::thread::sleep(Duration::from_secs(3));
    let fired = within("the evicted object's alarm fired", || {
        let s = call(&d, &t, &w, "e", "state", json!([]));
        (runs(&s).len() == 1).then_some(s)
    });
    let run = &runs(&fired)[0];
    assert_ne!(run["born"], born, "a new instance: {fired}");
    assert_eq!(run["n"], 42, "with the storage: {fired}");
    assert!(fired["constructed"].as_u64() >= Some(2), "{fired}");
    // Set, then kill -9 at once: after the restart it fires.
    call(&d, &t, &w, "k", "arm", json!([1500, "ok"]));
    let dir = d.kill9();
    let d = Daemon::start_in(dir, 1, &tenants, &[]);
    let after = within("the alarm fired after the restart", || {
        let s = call(&d, &t, &w, "k", "state", json!([]));
        (runs(&s).len() == 1 && s["alarm"].is_null()).then_some(s)
    });
    assert_eq!(runs(&after)[0]["n"], 42, "{after}");
}
