//! Cordons against a real daemon with real jailed workers: tenants placed by risk tier and spread
//! over a tier's minimum of processes, a worker really killed by seccomp, operator overrides, and
//! the risk API.
mod common;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Config for tests about co-residents: the standard tier stacks tenants in one process.
const ONE_STANDARD_PROCESS: &str = "[cordon]\nstandard_min_processes = 1\n";

/// `ONE_STANDARD_PROCESS`, each process given one request at a time: a request of a neighbour
/// waits in the supervisor (not in the worker), so a crash takes only the request that caused
/// it, is pinned on its tenant, and the neighbour's request is placed again, elsewhere.
const ONE_STANDARD_PROCESS_ONE_AT_A_TIME: &str =
    "max_in_flight_per_worker = 1\n[cordon]\nstandard_min_processes = 1\n";

/// The one process hosting `tenant`.
fn process_of(admin: &Value, tenant: &str) -> Value {
    let hosting = hosting(admin, tenant);
    assert_eq!(hosting.len(), 1, "{tenant} in {admin:#}");
    hosting[0].clone()
}

/// Polls until `tenant` is in one process only (its old isolates drained), of tier `tier`.
fn drained_into(d: &Daemon, tenant: &str, tier: &str) -> Value {
    let admin = admin_until(d, &format!("{tenant} drained into {tier}"), |admin| {
        let hosting = hosting(admin, tenant);
        hosting.len() == 1 && hosting[0]["tier"] == tier
    });
    process_of(&admin, tenant)
}

fn tenants_of(process: &Value) -> Vec<String> {
    process["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| t.as_str().expect("name").to_string())
        .collect()
}

/// Polls the admin view until `done` holds (asynchronous drains), or fails after 10 s.
fn admin_until(d: &Daemon, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let admin = d.admin();
        if done(&admin) {
            return admin;
        }
        assert!(Instant::now() < deadline, "{what}: {admin:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the forbidden-syscall hook exists in debug builds only"
)]
fn a_tenant_whose_worker_is_killed_by_seccomp_is_quarantined_and_its_neighbours_keep_being_served()
{
    // One request per process at a time: with several in flight, B's requests would die with
    // A's and the death could not be pinned on A (see the test below).
    let d = Daemon::start_with(
        "cordon-sigsys",
        &["normal", "normal"],
        1,
        ONE_STANDARD_PROCESS_ONE_AT_A_TIME,
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let (a, b) = (tenant_token(0), tenant_token(1));
    let worker_a = load(
        &d,
        &a,
        "export default { fetch() { return new Response('a:' + typeof WebAssembly); } };",
    );
    let worker_b = load(
        &d,
        &b,
        "export default { fetch() { return new Response('b:' + typeof WebAssembly); } };",
    );
    assert_eq!(fetch(&d, &a, &worker_a), (200, "a:object".into()));
    assert_eq!(fetch(&d, &b, &worker_b), (200, "b:object".into()));
    // Neighbours: one standard process hosts both.
    let shared = process_of(&d.admin(), "t0");
    assert_eq!(tenants_of(&shared), ["t0", "t1"], "{shared}");
    assert_eq!(
        (shared["tier"].as_str(), shared["profile"].as_str()),
        (Some("standard"), Some("standard"))
    );
    let shared_pid = shared["pid"].as_u64().expect("pid");
    assert_eq!(risk(&d, &a, "t0")["tier"], "standard");

    // B keeps sending requests, from two threads, while A's code makes the forbidden call.
    let (handle, id_b) = (d.handle(), worker_b.clone());
    let neighbour = std::thread::spawn(move || {
        let (d, worker_b) = (handle, id_b);
        (0..2)
            .map(|_| {
                let (d, b, worker_b) = (d.clone(), tenant_token(1), worker_b.clone());
                std::thread::spawn(move || {
                    (0..15)
                        .map(|_| fetch(&d, &b, &worker_b))
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|t| t.join().expect("neighbour thread"))
            .collect::<Vec<_>>()
    });
    let (status, body) = run(&d, &a, FORBIDDEN_SYSCALL);
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "worker_crashed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("killed by signal 31")),
        "SIGSYS: {body}"
    );
    for answer in neighbour.join().expect("neighbour") {
        assert_eq!(answer, (200, "b:object".into()), "a neighbour failed");
    }

    // A is quarantined, by the seccomp kill, and says so the moment its request failed.
    let report = risk(&d, &a, "t0");
    assert_eq!(report["tier"], "quarantine", "{report:#}");
    assert!(contribution(&report, "seccomp_kill") >= 99.0, "{report:#}");
    assert!(
        report["quarantine_latched_until"].as_u64().is_some(),
        "{report:#}"
    );
    // B was only a bystander.
    let report = risk(&d, &b, "t1");
    assert_eq!(report["tier"], "standard", "{report:#}");
    assert_eq!(contribution(&report, "seccomp_kill"), 0.0);
    assert!(contribution(&report, "worker_death") > 0.0, "{report:#}");
    let (status, _) = get_json(&d, Some(&b), "/v1/tenants/t0/risk");
    assert_eq!(status, 404, "a tenant cannot read another's risk");

    // B is served on, by a fresh standard process.
    for _ in 0..5 {
        assert_eq!(fetch(&d, &b, &worker_b), (200, "b:object".into()));
    }
    // A's next request runs in a strict process of its own: no WebAssembly there.
    assert_eq!(fetch(&d, &a, &worker_a), (200, "a:undefined".into()));
    let admin = d.admin();
    let alone = process_of(&admin, "t0");
    assert_eq!(tenants_of(&alone), ["t0"], "{admin:#}");
    assert_eq!(
        (alone["tier"].as_str(), alone["profile"].as_str()),
        (Some("quarantine"), Some("strict"))
    );
    let neighbour = process_of(&admin, "t1");
    assert_eq!(tenants_of(&neighbour), ["t1"], "{admin:#}");
    assert_eq!(neighbour["tier"], "standard");
    let pids: BTreeSet<u64> = [&alone, &neighbour]
        .iter()
        .map(|p| p["pid"].as_u64().expect("pid"))
        .collect();
    assert_eq!(pids.len(), 2);
    assert!(!pids.contains(&shared_pid), "the killed process is gone");
    // The process that died was really killed: it is not running any more.
    // SAFETY: kill(2) with signal 0 only checks whether the pid exists.
    assert_eq!(unsafe { libc::kill(shared_pid as i32, 0) }, -1);
    let metrics = &admin["metrics"];
    assert_eq!(metrics["quarantine"]["tenants"], 1, "{metrics:#}");
    assert_eq!(metrics["quarantine"]["processes"], 1, "{metrics:#}");
    assert_eq!(metrics["standard"]["tenants"], 1, "{metrics:#}");
}

#[test]
fn a_tier_spreads_its_tenants_over_its_minimum_of_processes_taking_warm_spares_first() {
    let d = Daemon::start(
        "cordon-spread",
        3,
        2,
        "[cordon]\nstandard_min_processes = 2\n[limits]\nwall_ms = 10000\n",
    );
    // A life is named by its launcher's pid (the jailed worker's own pid is only known once
    // it has been forked).
    let spares: BTreeSet<u64> = d.admin()["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter(|w| w["tier"].is_null())
        .map(|w| w["launcherPid"].as_u64().expect("launcher pid"))
        .collect();
    assert_eq!(spares.len(), 2, "two warm spares at start");

    // Code Mode, no loaded worker: t0 and t1 each hold a request open at the same time. The
    // standard tier has no process yet, so each takes its own, and they run side by side.
    let slow = "export default () => new Promise((r) => setTimeout(() => r('done'), 1500));";
    let threads: Vec<_> = (0..2)
        .map(|i| {
            let d = d.handle();
            std::thread::spawn(move || run(&d, &tenant_token(i), slow))
        })
        .collect();
    let admin = admin_until(&d, "t0 and t1 both in flight", |admin| {
        hosting(admin, "t0").len() == 1 && hosting(admin, "t1").len() == 1
    });
    let (p0, p1) = (process_of(&admin, "t0"), process_of(&admin, "t1"));
    assert_eq!(tenants_of(&p0), ["t0"], "{admin:#}");
    assert_eq!(tenants_of(&p1), ["t1"], "{admin:#}");
    for p in [&p0, &p1] {
        assert_eq!(p["tier"], "standard", "{p}");
        assert_eq!(
            p["inFlight"], 1,
            "one job each, not queued behind the other: {p}"
        );
    }
    let bound: BTreeSet<u64> = [&p0, &p1]
        .iter()
        .map(|p| p["launcherPid"].as_u64().expect("launcher pid"))
        .collect();
    assert_eq!(bound, spares, "the tier grew onto the warm spares");
    for t in threads {
        let (status, body) = t.join().expect("thread");
        assert_eq!((status, &body["result"]), (200, &serde_json::json!("done")));
    }

    // At its minimum, the tier stacks least-loaded: loaded workers keep their tenants resident.
    let workers: Vec<String> = (0..3)
        .map(|i| {
            let id = load(
                &d,
                &tenant_token(i),
                &format!("export default {{ fetch() {{ return new Response('t{i}'); }} }};"),
            );
            assert_eq!(fetch(&d, &tenant_token(i), &id), (200, format!("t{i}")));
            id
        })
        .collect();
    let admin = d.admin();
    let (p0, p1) = (process_of(&admin, "t0"), process_of(&admin, "t1"));
    assert_ne!(p0["pid"], p1["pid"], "{admin:#}");
    assert_eq!(
        tenants_of(&p0),
        ["t0", "t2"],
        "the third tenant stacks: {admin:#}"
    );
    assert_eq!(tenants_of(&p1), ["t1"], "{admin:#}");
    let metrics = &admin["metrics"]["standard"];
    assert_eq!(
        (&metrics["processes"], &metrics["isolates"]),
        (&serde_json::json!(2), &serde_json::json!(3)),
        "{metrics:#}"
    );
    // One tenant's concurrent requests stay in its one process.
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let (d, id) = (d.handle(), workers[1].clone());
            std::thread::spawn(move || fetch(&d, &tenant_token(1), &id))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), (200, "t1".into()));
    }
    assert_eq!(process_of(&d.admin(), "t1")["pid"], p1["pid"]);
}

#[test]
fn trusted_and_low_trust_tenants_never_share_a_process() {
    let trust = ["trusted", "low", "normal", "trusted", "low"];
    let d = Daemon::start_with("cordon-tiers", &trust, 1, "", &[]);
    let workers: Vec<String> = (0..trust.len())
        .map(|i| {
            load(
                &d,
                &tenant_token(i),
                &format!("export default {{ fetch() {{ return new Response('t{i}'); }} }};"),
            )
        })
        .collect();
    let threads: Vec<_> = (0..trust.len() * 4)
        .map(|n| {
            let i = n % trust.len();
            let (d, id) = (d.handle(), workers[i].clone());
            std::thread::spawn(move || {
                let fetched = fetch(&d, &tenant_token(i), &id);
                let ran = run(&d, &tenant_token(i), &format!("export default () => {i};"));
                (i, fetched, ran)
            })
        })
        .collect();
    for t in threads {
        let (i, fetched, (status, body)) = t.join().expect("thread");
        assert_eq!(fetched, (200, format!("t{i}")));
        assert_eq!(
            (status, &body["result"]),
            (200, &serde_json::json!(i)),
            "{body}"
        );
    }
    let admin = d.admin();
    let tier_of = |i: usize| match trust[i] {
        "trusted" => "trusted",
        "low" => "untrusted",
        _ => "standard",
    };
    for worker in admin["workers"].as_array().expect("workers") {
        let hosted = tenants_of(worker);
        let tiers: BTreeSet<&str> = hosted
            .iter()
            .map(|t| tier_of(t[1..].parse::<usize>().expect("t<i>")))
            .collect();
        assert!(tiers.len() <= 1, "tiers mixed in one process: {worker}");
        if let Some(tier) = tiers.first() {
            assert_eq!(worker["tier"], *tier, "{worker}");
        }
    }
    // Same tier, same process (capacity allows); different tiers, different processes.
    let pid = |t: &str| process_of(&admin, t)["pid"].as_u64().expect("pid");
    assert_eq!(pid("t0"), pid("t3"));
    assert_eq!(pid("t1"), pid("t4"));
    let distinct: BTreeSet<u64> = ["t0", "t1", "t2"].iter().map(|t| pid(t)).collect();
    assert_eq!(distinct.len(), 3, "{admin:#}");
    for (i, signal) in [(0, "operator_trusted"), (1, "operator_low_trust")] {
        let report = risk(&d, OPERATOR, &format!("t{i}"));
        assert_eq!(report["tier"], tier_of(i), "{report:#}");
        assert!(contribution(&report, signal) != 0.0, "{report:#}");
    }
    let (status, metrics) = get_json(&d, Some(OPERATOR), "/v1/admin/metrics");
    assert_eq!(status, 200);
    for (tier, tenants) in [
        ("trusted", 2),
        ("standard", 1),
        ("untrusted", 2),
        ("quarantine", 0),
    ] {
        assert_eq!(metrics[tier]["tenants"], tenants, "{tier}: {metrics:#}");
    }
    assert_eq!(metrics["trusted"]["processes"], 1, "{metrics:#}");
    assert_eq!(metrics["untrusted"]["processes"], 1, "{metrics:#}");
    let (status, _) = get_json(&d, Some(&tenant_token(0)), "/v1/admin/metrics");
    assert_eq!(status, 403);
}

#[test]
fn an_operator_override_moves_a_tenant_at_once_and_only_the_operator_may_set_one() {
    let d = Daemon::start("cordon-override", 2, 1, "");
    let t0 = tenant_token(0);
    let worker = load(
        &d,
        &t0,
        "export default { fetch() { return new Response(typeof WebAssembly); } };",
    );
    assert_eq!(fetch(&d, &t0, &worker), (200, "object".into()));
    let standard_pid = process_of(&d.admin(), "t0")["pid"].clone();
    let path = "/v1/tenants/t0/risk";

    for (token, status) in [
        (Some(t0.as_str()), 403),
        (Some(tenant_token(1).as_str()), 403),
        (None, 401),
    ] {
        let (got, body) = put_json(&d, token, path, r#"{"tier": "trusted"}"#);
        assert_eq!(got, status, "{body}");
    }
    for bad in [
        r#"{"tier": "gold"}"#,
        r#"{"score": 101}"#,
        r#"{"score": -3}"#,
        r#"{"tier": "trusted", "score": 3}"#,
        r#"{"pin": "trusted"}"#,
        "{",
        "",
    ] {
        let (status, body) = put_json(&d, Some(OPERATOR), path, bad);
        assert_eq!(
            (status, &body["error"]["code"]),
            (400, &serde_json::json!("bad_request")),
            "{bad}: {body}"
        );
    }
    let (status, _) = put_json(&d, Some(OPERATOR), "/v1/tenants/nobody/risk", "{}");
    assert_eq!(status, 404);
    assert_eq!(
        risk(&d, &t0, "t0")["tier"],
        "standard",
        "refused overrides changed nothing"
    );

    // Pin a tier: the next request runs there, and the old isolate is drained away.
    let (status, report) = put_json(&d, Some(OPERATOR), path, r#"{"tier": "untrusted"}"#);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["tier"], "untrusted");
    assert_eq!(
        report["override"],
        serde_json::json!({"pin_tier": "untrusted"})
    );
    assert_eq!(fetch(&d, &t0, &worker), (200, "object".into()));
    let moved = drained_into(&d, "t0", "untrusted");
    assert_eq!(tenants_of(&moved), ["t0"], "{moved}");
    assert_ne!(moved["pid"], standard_pid);

    // Pin a score in the quarantine range: a strict process of its own.
    let (status, report) = put_json(&d, Some(OPERATOR), path, r#"{"score": 90}"#);
    assert_eq!(
        (status, &report["tier"], &report["score"]),
        (
            200,
            &serde_json::json!("quarantine"),
            &serde_json::json!(90)
        )
    );
    assert_eq!(fetch(&d, &t0, &worker), (200, "undefined".into()));
    let alone = drained_into(&d, "t0", "quarantine");
    assert_eq!(tenants_of(&alone), ["t0"], "{alone}");
    assert_eq!(
        (alone["tier"].as_str(), alone["profile"].as_str()),
        (Some("quarantine"), Some("strict"))
    );
    // Quarantine's tighter memory limit (64 MiB by default, 128 elsewhere) applies there.
    let big = "export default () => new Uint8Array(96 << 20).length;";
    let (status, body) = run(&d, &t0, big);
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &serde_json::json!("memory_limit")),
        "{body}"
    );
    let (status, body) = run(&d, &tenant_token(1), big);
    assert_eq!(
        (status, &body["result"]),
        (200, &serde_json::json!(96 << 20)),
        "{body}"
    );

    // Clearing the override: back to the computed tier (the memory-limit hit is not enough to
    // leave `standard`).
    let (status, report) = put_json(&d, Some(OPERATOR), path, "null");
    assert_eq!(
        (status, &report["override"]),
        (200, &Value::Null),
        "{report}"
    );
    assert_eq!(report["tier"], "standard");
    assert!(
        contribution(&report, "memory_limit_hit") > 0.0,
        "{report:#}"
    );
    assert_eq!(fetch(&d, &t0, &worker), (200, "object".into()));
    drained_into(&d, "t0", "standard");
}

#[test]
fn the_risk_report_shows_the_signals_and_only_to_the_tenant_and_the_operator() {
    let d = Daemon::start("cordon-risk", 2, 1, "");
    let t0 = tenant_token(0);
    let before = risk(&d, &t0, "t0");
    assert_eq!(before["tenant"], "t0");
    assert_eq!(before["tier"], "standard");
    assert_eq!(before["override"], Value::Null);
    assert!(contribution(&before, "baseline") > 0.0, "{before:#}");
    for _ in 0..3 {
        let (status, body) = run(&d, &t0, "export default () => { for (;;) {} };");
        assert_eq!(
            (status, &body["error"]["code"]),
            (422, &serde_json::json!("cpu_limit"))
        );
    }
    let after = risk(&d, OPERATOR, "t0");
    let hits = contribution(&after, "cpu_limit_hit");
    assert!((8.9..=9.0).contains(&hits), "3 hits of weight 3: {after:#}");
    assert!(
        after["score"].as_u64() > before["score"].as_u64(),
        "{after:#}"
    );
    for (token, tenant) in [
        (Some(tenant_token(1)), "t0"),
        (Some(t0.clone()), "nobody"),
        (Some(OPERATOR.to_string()), "nobody"),
    ] {
        let (status, body) = get_json(&d, token.as_deref(), &format!("/v1/tenants/{tenant}/risk"));
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &serde_json::json!("not_found"))
        );
    }
    let (status, _) = get_json(&d, None, "/v1/tenants/t0/risk");
    assert_eq!(status, 401);
}

#[test]
fn a_process_that_dies_while_idle_quarantines_nobody() {
    let d = Daemon::start("cordon-idle-death", 2, 1, ONE_STANDARD_PROCESS);
    let workers: Vec<String> = (0..2)
        .map(|i| {
            load(
                &d,
                &tenant_token(i),
                &format!("export default {{ fetch() {{ return new Response('t{i}'); }} }};"),
            )
        })
        .collect();
    for (i, id) in workers.iter().enumerate() {
        assert_eq!(fetch(&d, &tenant_token(i), id), (200, format!("t{i}")));
    }
    let shared = process_of(&d.admin(), "t0");
    assert_eq!(tenants_of(&shared), ["t0", "t1"]);
    let pid = shared["pid"].as_u64().expect("pid") as i32;
    // SAFETY: kill(2) on the worker's pid, which the admin API reported.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    // The death is noticed without a request: neither tenant is blamed, and both are placed
    // afresh at once, their workers loaded again in a new process before anyone calls them.
    admin_until(
        &d,
        "both tenants' workers loaded again elsewhere",
        |admin| {
            ["t0", "t1"].iter().all(|t| {
                let hosts = hosting(admin, t);
                hosts.len() == 1
                    && hosts[0]["pid"].as_u64() != Some(pid as u64)
                    && hosts[0]["isolates"].as_u64() == Some(2)
            })
        },
    );
    for i in 0..2 {
        // The death's signal is recorded by the process's life, which may finish after the
        // reload above was placed: wait for it (10 s at most).
        let deadline = Instant::now() + Duration::from_secs(10);
        let report = loop {
            let report = risk(&d, OPERATOR, &format!("t{i}"));
            if contribution(&report, "worker_death") > 0.0 || Instant::now() > deadline {
                break report;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(report["tier"], "standard", "{report:#}");
        assert!(contribution(&report, "worker_death") > 0.0, "{report:#}");
        assert_eq!(contribution(&report, "worker_crash_while_running"), 0.0);
        assert_eq!(report["quarantine_latched_until"], Value::Null);
    }
    for (i, id) in workers.iter().enumerate() {
        assert_eq!(fetch(&d, &tenant_token(i), id), (200, format!("t{i}")));
    }
    assert_ne!(
        process_of(&d.admin(), "t0")["pid"].as_u64(),
        Some(pid as u64)
    );
}

/// With requests of several tenants in flight in the process, a seccomp kill cannot be pinned on
/// one: nobody is quarantined, each gets `worker_death`, and every request in flight fails with
/// the process (today's worker runs them in order, so B's second request is queued behind A's
/// forbidden call when it kills the process).
#[test]
fn a_seccomp_kill_with_several_tenants_in_flight_quarantines_nobody_and_fails_them_all() {
    let d = Daemon::start_with(
        "cordon-sigsys-several",
        &["normal", "normal"],
        1,
        ONE_STANDARD_PROCESS,
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let (a, b) = (tenant_token(0), tenant_token(1));
    // Loaded workers keep both tenants resident in the one process.
    let worker_a = load(
        &d,
        &a,
        "export default { fetch() { return new Response('a'); } };",
    );
    let worker_b = load(
        &d,
        &b,
        "export default { fetch() { return new Response('b'); } };",
    );
    assert_eq!(fetch(&d, &a, &worker_a), (200, "a".into()));
    assert_eq!(fetch(&d, &b, &worker_b), (200, "b".into()));
    let shared = process_of(&d.admin(), "t0");
    assert_eq!(tenants_of(&shared), ["t0", "t1"], "{shared}");

    // B's slow request is asleep in a timer in the process when A's forbidden call kills it.
    let in_thread = |token: String, code: &'static str| {
        let d = d.handle();
        std::thread::spawn(move || run(&d, &token, code))
    };
    let slow = in_thread(
        b.clone(),
        "export default () => new Promise((r) => setTimeout(() => r('slow'), 3000));",
    );
    admin_until(&d, "B's request in flight", |admin| {
        admin["workers"][0]["inFlight"].as_u64() == Some(1)
    });
    let forbidden = in_thread(a.clone(), FORBIDDEN_SYSCALL);
    for (what, thread) in [
        ("A's forbidden call", forbidden),
        ("B's sleeping request", slow),
    ] {
        let (status, body) = thread.join().expect("thread");
        assert_eq!(status, 502, "{what}: {body}");
        assert_eq!(body["error"]["code"], "worker_crashed", "{what}: {body}");
    }

    for tenant in ["t0", "t1"] {
        let report = risk(&d, OPERATOR, tenant);
        assert_ne!(report["tier"], "quarantine", "{report:#}");
        assert_eq!(contribution(&report, "seccomp_kill"), 0.0, "{report:#}");
        assert!(contribution(&report, "worker_death") > 0.0, "{report:#}");
        assert_eq!(report["quarantine_latched_until"], Value::Null);
    }
    // Both are served on, by a fresh process.
    assert_eq!(fetch(&d, &a, &worker_a), (200, "a".into()));
    assert_eq!(fetch(&d, &b, &worker_b), (200, "b".into()));
    assert_ne!(process_of(&d.admin(), "t0")["pid"], shared["pid"]);
}

/// Risk signals come from what code does, not only from its text: WebAssembly reached through a
/// computed name, and an `import()` with a comment before its parenthesis, both evade the text
/// scan (no signal after the code is loaded); V8 reports both when they run, and the tenant's
/// risk then carries them (latched: a later request that does neither keeps them).
#[test]
fn risk_signals_come_from_what_code_does_not_only_from_its_text() {
    let d = Daemon::start_with("cordon-behaviour", &["normal", "normal"], 1, "", &[]);
    let wasm = "export default async () => { const W = globalThis['Web' + 'Assem' + 'bly']; \
                const m = await W.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); \
                return m instanceof W.Module; };";
    let before = risk(&d, OPERATOR, "t0");
    assert_eq!(
        contribution(&before, "uses_web_assembly"),
        0.0,
        "{before:#}"
    );
    let (status, body) = run(&d, &tenant_token(0), wasm);
    assert_eq!(
        (status, &body["result"]),
        (200, &serde_json::json!(true)),
        "{body}"
    );
    let (status, _) = run(&d, &tenant_token(0), "export default () => 1;");
    assert_eq!(status, 200);
    let after = risk(&d, OPERATOR, "t0");
    assert!(contribution(&after, "uses_web_assembly") > 0.0, "{after:#}");
    assert_eq!(contribution(&after, "dynamic_import"), 0.0, "{after:#}");

    let id = load_code(
        &d,
        &tenant_token(1),
        &serde_json::json!({
            "mainModule": "main.js",
            "modules": {
                "main.js": "export default { async fetch() { \
                            const m = await import/* hidden */('./b.js'); \
                            return new Response(m.v); } };",
                "b.js": "export const v = 'b';",
            },
        }),
    );
    let loaded = risk(&d, OPERATOR, "t1");
    assert_eq!(contribution(&loaded, "dynamic_import"), 0.0, "{loaded:#}");
    assert_eq!(fetch(&d, &tenant_token(1), &id), (200, "b".into()));
    let fetched = risk(&d, OPERATOR, "t1");
    assert!(
        contribution(&fetched, "dynamic_import") > 0.0,
        "{fetched:#}"
    );
    assert_eq!(
        contribution(&fetched, "uses_web_assembly"),
        0.0,
        "{fetched:#}"
    );
    // t0's observations stay t0's.
    assert_eq!(
        contribution(&risk(&d, OPERATOR, "t0"), "dynamic_import"),
        0.0
    );
}
