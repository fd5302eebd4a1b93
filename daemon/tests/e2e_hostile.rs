//! Limits that hold against hostile code, end to end: a real daemon, real jailed workers on V8
//! 13.6, requests over loopback HTTP. Each test is an attack (or an ordinary API that used to
//! trip the jail) and asserts the typed outcome *and* that the worker process that ran it is
//! still the one serving: no crash, no respawn, no innocent tenant quarantined.

mod common;

use std::time::{Duration, Instant};

use common::{
    acting_then_asleep, client, get_json, tenant_token, until_echoes, Daemon, Target, OPERATOR,
    TEST_HOOKS,
};
use serde_json::{json, Value};

/// POST /v1/run with `limits`: (status, body, elapsed).
fn run_with(d: &impl Target, code: &str, limits: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let r = client()
        .post(format!("{}/v1/run", d.base()))
        .bearer_auth(tenant_token(0))
        .json(&json!({ "code": code, "limits": limits }))
        .send()
        .expect("run");
    let status = r.status().as_u16();
    let body = r.json().expect("json");
    (status, body, started.elapsed())
}

/// The tenant is not blamed for a crash: no `worker_crash_while_running` or `seccomp_kill`
/// signal, not quarantined. (A worker that ends itself for a limit V8 cannot stop in-process is
/// a death its tenants see as `worker_death`, like any eviction, and the limit as a limit hit.)
fn assert_not_blamed(d: &Daemon) {
    let (status, report) = get_json(d, Some(OPERATOR), "/v1/tenants/t0/risk");
    assert_eq!(status, 200, "{report}");
    let signals = report["signals"].as_array().cloned().unwrap_or_default();
    for signal in ["worker_crash_while_running", "seccomp_kill"] {
        assert!(
            !signals.iter().any(|s| s["signal"] == signal),
            "{signal}: {report:#}"
        );
    }
    assert!(
        signals.iter().any(|s| s["signal"] == "cpu_limit_hit"),
        "{report:#}"
    );
    assert_ne!(report["tier"], "quarantine", "{report:#}");
}

/// The tenant's next request is served (by the same process or a new one).
fn assert_serves(d: &Daemon) {
    let (status, body, _) = run_with(d, "export default () => 2 + 2", json!({}));
    assert_eq!((status, &body["result"]), (200, &json!(4)), "{body:#}");
}

fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// One process serves every request (one tenant, one process of its tier); a first request has
/// placed the tenant on it (and the pool has replaced the warm spare it took).
fn daemon(tag: &str) -> Daemon {
    // Requests ask for their own limits; the configured ones only cap them.
    let d = Daemon::start(
        tag,
        1,
        1,
        "[limits]\ncpu_ms = 5000\n[cordon]\nstandard_min_processes = 1\n",
    );
    let (status, body, _) = run_with(&d, "export default () => 1", json!({}));
    assert_eq!(status, 200, "{body:#}");
    d
}

/// No worker process died while running the tenant's code: the daemon records every death of a
/// process that was running a tenant's request in that tenant's risk signals (`worker_death`,
/// `seccomp_kill`), as the cordon tests prove.
fn assert_survived(d: &Daemon) {
    let (status, report) = get_json(d, Some(OPERATOR), "/v1/tenants/t0/risk");
    assert_eq!(status, 200, "{report}");
    for signal in ["worker_death", "seccomp_kill"] {
        let value = report["signals"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["signal"] == signal))
            .and_then(|s| s["contribution"].as_f64())
            .unwrap_or(0.0); // a signal that never fired is not listed
        assert_eq!(value, 0.0, "{signal}: {report:#}");
    }
    assert_ne!(report["tier"], "quarantine", "{report:#}");
}

#[test]
fn ordinary_apis_that_read_locale_and_time_zone_data_work_in_the_jail() {
    let d = daemon("icu");
    // Each entry runs in the jailed worker; ICU and the C library probe zone and locale files,
    // which the jail answers with an errno, never with SIGSYS.
    let sweep = r#"
        export default () => {
          const d0 = new Date(0);
          const out = {
            compare: "b".localeCompare("a"),
            hours: d0.getHours(),
            offset: d0.getTimezoneOffset(),
            str: String(d0),
            de: new Intl.DateTimeFormat("de", { timeZone: "UTC" }).format(0),
            deDefault: new Intl.DateTimeFormat("de").format(0),
            zone: new Intl.DateTimeFormat().resolvedOptions().timeZone,
            ny: d0.toLocaleString("en-US", { timeZone: "America/New_York" }),
            num: new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" }).format(1234.5),
            coll: ["z", "a", "ä"].sort(new Intl.Collator("de").compare),
            seg: [...new Intl.Segmenter("en", { granularity: "word" }).segment("hi there")].length,
            plural: new Intl.PluralRules("en").select(1),
            rel: new Intl.RelativeTimeFormat("fr").format(-1, "day"),
            list: new Intl.ListFormat("en").format(["a", "b", "c"]),
            names: new Intl.DisplayNames(["en"], { type: "region" }).of("DE"),
            locStr: (1234567.891).toLocaleString(),
            dateLoc: d0.toLocaleDateString("ja-JP", { timeZone: "Asia/Tokyo" }),
            upper: "i".toLocaleUpperCase("tr"),
            norm: "\u0065\u0301".normalize("NFC").length,
            zones: Intl.supportedValuesOf("timeZone").length > 100,
            es2023: [[3, 1, 2].toSorted(), Object.groupBy([1, 2, 3], (x) => (x % 2 ? "odd" : "even")).odd,
              typeof Promise.withResolvers, new Set([1, 2]).union(new Set([3])).size,
              Iterator.from([1, 2, 3]).map((x) => x * 2).toArray(), /[\p{L}--[a-z]]/v.test("A")],
          };
          return out;
        };
    "#;
    let (status, body, _) = run_with(&d, sweep, json!({ "cpuMs": 2000 }));
    assert_eq!(status, 200, "{body:#}");
    let r = &body["result"];
    assert_eq!(r["compare"], 1);
    assert_eq!(r["hours"], 0, "workers run in UTC unless configured");
    assert_eq!(r["offset"], 0);
    assert!(
        r["str"].as_str().is_some_and(|s| s.contains("GMT+0000")),
        "{r:#}"
    );
    assert_eq!(r["de"], "1.1.1970");
    assert_eq!(r["deDefault"], "1.1.1970");
    assert_eq!(r["zone"], "UTC");
    assert_eq!(r["ny"], "12/31/1969, 7:00:00 PM");
    assert_eq!(r["num"], "1.234,50\u{a0}€");
    assert_eq!(r["coll"], json!(["a", "ä", "z"]));
    assert_eq!(r["seg"], 3);
    assert_eq!(r["plural"], "one");
    assert_eq!(r["rel"], "il y a 1 jour");
    assert_eq!(r["list"], "a, b, and c");
    assert_eq!(r["names"], "Germany");
    assert_eq!(r["dateLoc"], "1970/1/1");
    assert_eq!(r["upper"], "\u{130}");
    assert_eq!(r["norm"], 1);
    assert_eq!(r["zones"], true);
    assert_eq!(
        r["es2023"],
        json!([[1, 2, 3], [1, 3], "function", 3, [2, 4, 6], true])
    );
    assert_survived(&d);
}

#[test]
fn cpu_limit_holds_inside_long_builtins() {
    let d = daemon("builtin-cpu");
    for code in [
        "export default () => 'a'.repeat(1e7).replace(/a/g, 'bb').length",
        "export default () => 'a'.repeat(2e7).split('').join('-').length",
        "export default () => JSON.stringify(Array.from({ length: 3e6 }, (_, i) => ({ i }))).length",
    ] {
        let (status, body, elapsed) = run_with(&d, code, json!({ "cpuMs": 20 }));
        assert_eq!(code_of(&body), "cpu_limit", "{code}: {status} {body:#}");
        // The limit is 20 ms of CPU; the overrun allowed by the issue is 100 ms. The bound here is
        // looser (loopback, a loaded 2-core machine) but below the 4.7-8.6 s of V8 10.2.
        assert!(elapsed < Duration::from_millis(3000), "{code}: {elapsed:?}");
    }
    // Where V8 does not honour termination, the worker ended itself after a 100 ms grace: the
    // next request is served by a fresh process.
    assert_serves(&d);
    assert_not_blamed(&d);
}

#[test]
fn describing_a_tenants_error_runs_under_its_limits_and_the_process_survives() {
    // An uncaught error's `stack` is read for the answer; tenant code decides what reading it
    // runs. It used to run with no watchdog armed: a getter that never returned held the
    // worker's thread past every limit until the supervisor killed the process (and with it
    // every other request it ran), answering `worker_timeout` after the wall limit and more.
    let d = daemon("stack-getter");
    for code in [
        "export default () => { const e = new Error('x'); Object.defineProperty(e, 'stack', { get() { for (;;) {} } }); throw e; }",
        "export default async () => { Error.prepareStackTrace = () => { for (;;) {} }; await null; throw new Error('x'); }",
    ] {
        let (status, body, _) = run_with(&d, code, json!({ "cpuMs": 50, "wallMs": 5000 }));
        assert_eq!(code_of(&body), "cpu_limit", "{code}: {status} {body:#}");
    }
    assert_serves(&d);
    assert_survived(&d);
}

#[test]
fn a_limit_the_process_ends_itself_for_is_the_culprits_answer_among_several_requests() {
    // One process serves the tenant's three requests: two asleep in a timer (one of them made a
    // host call first), one stuck in a builtin V8 does not interrupt. The worker ends itself for
    // the third's CPU limit and names it in its marks file: the culprit is answered `cpu_limit`;
    // the sleeper that acted only inside its isolate runs again in the next process and
    // answers; only the one that made a host call (it may have acted outside) is lost with the
    // process (before, all three were `worker_crashed`).
    let d = Daemon::start_with(
        "culprit",
        &["normal"],
        1,
        "[limits]\ncpu_ms = 5000\n[cordon]\nstandard_min_processes = 1\n",
        TEST_HOOKS,
    );
    let asleep = |code: String| {
        let base = d.base.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let r = client()
                .post(format!("{base}/v1/run"))
                .bearer_auth(tenant_token(0))
                .json(&json!({ "code": code, "limits": { "wallMs": 30000 } }))
                .send()
                .expect("run");
            let status = r.status().as_u16();
            (status, r.json::<Value>().expect("json"), started.elapsed())
        })
    };
    // Asleep 8 s: long past the culprit's end of the process on a loaded machine.
    let quiet = asleep(
        "export default () => new Promise((r) => setTimeout(() => r('late'), 8000));".into(),
    );
    let acting = asleep(acting_then_asleep(8000));
    // Both sleepers are in flight (sent from threads: they arrive when a loaded machine lets
    // them), and the acting one made its host call.
    until_echoes(&d, 1, "the acting sleeper made no host call");
    d.until_admin("the sleepers never went in flight", |admin| {
        let workers = admin["workers"].as_array().expect("workers");
        workers
            .iter()
            .filter_map(|w| w["inFlight"].as_u64())
            .sum::<u64>()
            >= 2
    });
    let (status, body, _) = run_with(
        &d,
        "export default () => JSON.parse('['.repeat(3e6) + ']'.repeat(3e6)).length",
        json!({ "cpuMs": 20 }),
    );
    assert_eq!(code_of(&body), "cpu_limit", "{status} {body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("the worker process was ended")),
        "the process ended itself for it: {body:#}"
    );
    let (status, body, _) = acting.join().expect("acting sleeper");
    assert_eq!(code_of(&body), "worker_crashed", "{status} {body:#}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("another of the 3 requests")),
        "{body:#}"
    );
    // Run again from the start: its first run's time is lost, nothing else.
    let (status, body, took) = quiet.join().expect("quiet sleeper");
    assert_eq!((status, &body["result"]), (200, &json!("late")), "{body:#}");
    assert!(took > Duration::from_millis(8400), "ran twice: {took:?}");
    // The next request is served by a fresh process.
    assert_serves(&d);
}

#[test]
fn heap_limit_holds_and_the_process_survives() {
    let d = daemon("heap");
    for mb in [16, 128] {
        let (status, body, _) = run_with(
            &d,
            "export default () => new Array(2e7).fill(1.1).length",
            json!({ "memoryMb": mb, "cpuMs": 5000 }),
        );
        assert_eq!(
            code_of(&body),
            "memory_limit",
            "{mb} MiB: {status} {body:#}"
        );
    }
    let (status, body, _) = run_with(
        &d,
        "export default () => { const a = []; for (;;) a.push({ x: a.length }); }",
        json!({ "memoryMb": 16, "cpuMs": 5000 }),
    );
    assert_eq!(code_of(&body), "memory_limit", "{status} {body:#}");
    // Same process, still serving.
    assert_serves(&d);
    assert_survived(&d);
}

#[test]
fn a_memory_limit_below_the_minimum_is_a_clear_400() {
    let d = daemon("min-mem");
    for mb in [1, 2, 7] {
        let (status, body, _) = run_with(&d, "export default () => 1", json!({ "memoryMb": mb }));
        assert_eq!((status, code_of(&body)), (400, "bad_request"), "{body:#}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("8 MiB")),
            "{body:#}"
        );
    }
    let (status, _, _) = run_with(&d, "export default () => 1", json!({ "memoryMb": 8 }));
    assert_eq!(status, 200);
}

#[test]
fn compilation_runs_under_the_request_limits() {
    let d = daemon("compile");
    // 10,000 nested parentheses: a compile error, in TypeScript and in plain JavaScript.
    let nested = format!(
        "export default () => {}1{};",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let (status, body, _) = run_with(&d, &nested, json!({}));
    assert_eq!(code_of(&body), "compile_error", "{status} {body:#}");
    // A 524-byte string enum that doubles itself 27 times: 256 MiB once folded.
    let mut members = vec!["A = \"abcdefgh\"".to_string()];
    for i in 1..28 {
        members.push(format!(
            "M{i} = {p} + {p}",
            p = if i == 1 {
                "A".to_string()
            } else {
                format!("M{}", i - 1)
            }
        ));
    }
    let enum_src = format!(
        "enum E {{ {} }}\nexport default () => E.M27.length;",
        members.join(", ")
    );
    let started = Instant::now();
    let (status, body, _) = run_with(&d, &enum_src, json!({ "cpuMs": 50 }));
    assert!(
        matches!(
            code_of(&body),
            "compile_error" | "cpu_limit" | "memory_limit"
        ),
        "{status} {body:#}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Type-argument look-ahead in the TypeScript parser: twice the work per level.
    let mut expression = String::from("1");
    for _ in 0..40 {
        expression = format!("a<{{[{expression}]:x}}>1");
    }
    let arrows = format!("let a: any, x: any;\nexport default () => {expression};\n");
    let started = Instant::now();
    let (status, body, _) = run_with(&d, &arrows, json!({ "cpuMs": 5 }));
    assert!(
        matches!(code_of(&body), "cpu_limit" | "memory_limit"),
        "{status} {body:#}"
    );
    // Unbounded, 2^40 steps: the bound only needs to be finite, and loose for a loaded machine.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_survived(&d);
}

#[test]
fn a_module_importing_itself_while_it_evaluates_gets_an_answer() {
    let d = daemon("self-import");
    for (main, modules) in [
        (
            "main.js",
            json!({ "main.js": "const me = await import('./main.js');\nexport default { fetch() { return new Response(typeof me); } };" }),
        ),
        (
            "main.js",
            json!({
                "main.js": "import './b.js';\nexport default { fetch() { return new Response('ok'); } };",
                "b.js": "await import('./main.js');"
            }),
        ),
    ] {
        let r = client()
            .post(format!("{}/v1/workers", d.base))
            .bearer_auth(tenant_token(0))
            .json(&json!({ "mainModule": main, "modules": modules }))
            .send()
            .expect("load");
        assert_eq!(r.status().as_u16(), 201);
        let id = r.json::<Value>().expect("json")["id"]
            .as_str()
            .expect("id")
            .to_string();
        let r = client()
            .get(format!("{}/v1/workers/{id}/fetch/", d.base))
            .bearer_auth(tenant_token(0))
            .send()
            .expect("fetch");
        let status = r.status().as_u16();
        let body = r.text().expect("text");
        assert!(
            status == 200 || body.contains("script_threw") || body.contains("compile_error"),
            "{status} {body}"
        );
    }
    // A V8 CHECK failure would have killed the worker.
    assert_survived(&d);
}

#[test]
fn no_shared_memory_by_any_route() {
    let d = daemon("shared-memory");
    for code in [
        "export default () => typeof SharedArrayBuffer",
        "export default () => new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer.constructor.name",
        // A module that declares and exports a shared memory of its own.
        "export default async () => { const b = new Uint8Array([0,97,115,109,1,0,0,0,5,4,1,3,1,1,7,5,1,1,109,2,0]); const { instance } = await WebAssembly.instantiate(b); return instance.exports.m.buffer.constructor.name; }",
        "export default () => { const b = new Uint8Array([0,97,115,109,1,0,0,0,5,4,1,3,1,1,7,5,1,1,109,2,0]); return new WebAssembly.Instance(new WebAssembly.Module(b)).exports.m.buffer.constructor.name; }",
    ] {
        let (status, body, _) = run_with(&d, code, json!({}));
        let shared = body["result"] == "SharedArrayBuffer" || body["result"] == "function";
        assert!(!shared, "{code}: {body:#}");
        assert!(
            status == 200 && body["result"] == "undefined" || code_of(&body) == "script_threw",
            "{code}: {status} {body:#}"
        );
    }
}

#[test]
fn encoded_path_characters_reach_the_worker_encoded() {
    let d = daemon("encoded-path");
    let id = common::load(
        &d,
        &tenant_token(0),
        "export default { fetch(req: Request) { const u = new URL(req.url); return new Response(JSON.stringify([req.url.slice(req.url.indexOf('/', 8)), u.pathname, u.search])); } };",
    );
    for (sent, expected) in [
        // A `%2F` is not a separator: the worker sees one segment, not `/admin`.
        (
            "public%2F..%2Fadmin",
            json!(["/public%2F..%2Fadmin", "/public%2F..%2Fadmin", ""]),
        ),
        // A `%3F` is not the start of a query.
        ("a%3Fb=c", json!(["/a%3Fb=c", "/a%3Fb=c", ""])),
        ("x?q=1", json!(["/x?q=1", "/x", "?q=1"])),
    ] {
        let r = client()
            .get(format!("{}/v1/workers/{id}/fetch/{sent}", d.base))
            .bearer_auth(tenant_token(0))
            .send()
            .expect("fetch");
        assert_eq!(r.status().as_u16(), 200);
        let seen: Value = r.json().expect("json");
        assert_eq!(seen, expected, "{sent}");
    }
}

#[test]
fn responses_that_do_not_fit_are_a_clear_502_and_the_worker_lives() {
    let d = daemon("bad-responses");
    // A counter in module state tells whether the isolate (and its process) survived.
    let id = common::load(
        &d,
        &tenant_token(0),
        r#"
let calls = 0;
export default {
  fetch(req: Request) {
    calls++;
    const kind = new URL(req.url).pathname.slice(1);
    const h = new Headers();
    if (kind === "many") for (let i = 0; i < 129; i++) h.set("x-h" + i, "v");
    if (kind === "long-value") h.set("x-big", "v".repeat(9 * 1024));
    if (kind === "long-name") h.set("x" + "n".repeat(300), "v");
    // The Response constructor refuses these; a tenant lies through the prototype instead.
    const lie = (status: number) => {
      const r = new Response("body");
      Object.defineProperty(r, "status", { get: () => status });
      return r;
    };
    if (kind === "no-content") return lie(204);
    if (kind === "status-101") return lie(101);
    if (kind === "status-600") return lie(600);
    return new Response(String(calls), { headers: h });
  },
};
"#,
    );
    let get = |path: &str| {
        let r = client()
            .get(format!("{}/v1/workers/{id}/fetch/{path}", d.base))
            .bearer_auth(tenant_token(0))
            .send()
            .expect("fetch");
        (r.status().as_u16(), r.text().expect("text"))
    };
    assert_eq!(get("ok"), (200, "1".to_string()));
    // Lies about the status through the prototype do not reach the wire: the runtime reads the
    // Response's own state, so the client sees what the constructor accepted.
    for path in ["no-content", "status-101", "status-600"] {
        assert_eq!(get(path), (200, "body".to_string()), "{path}");
    }
    let refused = ["many", "long-value", "long-name"];
    for path in refused {
        let (status, body) = get(path);
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (502, Some("invalid_response")),
            "{path}: {body}"
        );
    }
    // Same isolate: the counter kept counting (the first call, three lies, three refused, this).
    assert_eq!(get("ok"), (200, (refused.len() + 5).to_string()));
    assert_survived(&d);
}
