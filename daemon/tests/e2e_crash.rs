//! Blast radius of a worker process's death, against a real daemon with real jailed workers: the
//! neighbours of a process that dies keep their Loader workers (loaded again at once in the
//! replacement, with fresh module state) and their requests that had not started running code
//! are served elsewhere; a kill from outside blames nobody.
mod common;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Both tenants in one standard process.
const ONE_STANDARD_PROCESS: &str = "[cordon]\nstandard_min_processes = 1\n";

/// Waits (10 s at most) until the first worker process has `n` requests in flight.
fn until_in_flight(d: &Daemon, n: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.admin()["workers"][0]["inFlight"].as_u64() != Some(n) {
        assert!(Instant::now() < deadline, "{what}: {:#}", d.admin());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The CPU time (user + system, clock ticks) process `pid` has used so far.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the worker's stat");
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    let after = &stat[stat.rfind(')').expect("a command") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// The one process hosting `tenant`, once `done` holds for it (polled for 10 s).
fn hosting_until(d: &Daemon, tenant: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let admin = d.admin();
        let found = admin["workers"].as_array().and_then(|all| {
            all.iter()
                .find(|w| {
                    w["tenants"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|n| n == tenant))
                })
                .cloned()
        });
        if let Some(process) = found.filter(|p| done(p)) {
            return process;
        }
        assert!(Instant::now() < deadline, "{tenant}: {admin:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_neighbours_workers_survive_a_death_and_its_requests_that_had_not_started_are_served() {
    let d = Daemon::start_with(
        "crash-neighbours",
        &["normal"; 2],
        1,
        ONE_STANDARD_PROCESS,
        TEST_HOOKS,
    );
    let (a, b) = (tenant_token(0), tenant_token(1));
    // B's worker counts its requests in a module variable.
    let counter = load(
        &d,
        &b,
        "let n = 0; export default { fetch() { n += 1; return new Response(String(n)); } };",
    );
    for expected in ["1", "2", "3"] {
        assert_eq!(fetch(&d, &b, &counter), (200, expected.into()));
    }
    let shared = hosting_until(&d, "t1", |p| p["isolates"] == 1);
    let shared_pid = shared["pid"].as_u64().expect("pid") as i32;

    // A's two requests run code (a timer), one of them after a host call; B's first request to
    // a worker that takes a second to load (its module awaits a timer) waits for that load.
    let slow_load = load(
        &d,
        &b,
        "await new Promise((r) => setTimeout(r, 1000)); export default { fetch() { return new Response('loaded'); } };",
    );
    let a_runs = |code: String| {
        let h = d.handle();
        std::thread::spawn(move || {
            let r = client()
                .post(format!("{}/v1/run", h.base))
                .bearer_auth(tenant_token(0))
                .json(&serde_json::json!({"code": code, "limits": {"wallMs": 10000}}))
                .send()
                .expect("a's request");
            (r.status().as_u16(), r.json::<Value>().expect("json"))
        })
    };
    let acting = a_runs(acting_then_asleep(5000));
    let quiet = a_runs(
        "export default () => new Promise((r) => setTimeout(() => r('late'), 5000));".into(),
    );
    let hb = d.handle();
    let waiting = std::thread::spawn(move || fetch(&hb, &tenant_token(1), &slow_load));
    until_in_flight(&d, 3, "never in flight");
    until_echoes(&d, 1, "a's acting request made no host call");
    // SAFETY: kill(2) on the worker's pid, which the admin API reported.
    assert_eq!(unsafe { libc::kill(shared_pid, libc::SIGKILL) }, 0);

    // A's request that made a host call may have acted outside its isolate: it dies with the
    // process.
    let (status, body) = acting.join().expect("thread");
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &serde_json::json!("worker_crashed")),
        "{body}"
    );
    // The one that only ran inside its isolate, which a kill from outside does not blame, runs
    // again from the start in the replacement.
    let (status, body) = quiet.join().expect("thread");
    assert_eq!(
        (status, &body["result"]),
        (200, &serde_json::json!("late")),
        "{body}"
    );
    // B's call had not started (its worker was loading): it is served by the replacement.
    assert_eq!(waiting.join().expect("thread"), (200, "loaded".into()));
    // B's counter was loaded again at once, before B called it: two isolates, in a new process.
    let moved = hosting_until(&d, "t1", |p| p["isolates"] == 2);
    assert_ne!(moved["pid"].as_u64(), Some(shared_pid as u64), "{moved:#}");
    // Its module state started afresh (documented: module variables die with their process).
    assert_eq!(fetch(&d, &b, &counter), (200, "1".into()));
    // A kill from outside is evidence against nobody.
    for (token, tenant) in [(&a, "t0"), (&b, "t1")] {
        let (status, report) = get_json(&d, Some(token), &format!("/v1/tenants/{tenant}/risk"));
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["tier"], "standard", "{report:#}");
        assert!(
            !report["signals"].as_array().is_some_and(|s| s
                .iter()
                .any(|s| s["signal"] == "worker_crash_while_running")),
            "{report:#}"
        );
    }
}

#[test]
fn requests_sent_to_a_process_that_dies_before_starting_them_are_served_elsewhere() {
    // One isolate thread: while A's snippet computes, B's requests wait in the process, sent
    // but not started (their marks are missing when it dies).
    let d = Daemon::start_with(
        "crash-unstarted",
        &["normal"; 2],
        1,
        "worker_threads = 1\n[limits]\ncpu_ms = 10000\n[cordon]\nstandard_min_processes = 1\n",
        TEST_HOOKS,
    );
    assert_eq!(
        run(&d, &tenant_token(1), "export default () => 'warm'").0,
        200
    );
    let busy = d.handle();
    let running = std::thread::spawn(move || {
        client()
            .post(format!("{}/v1/run", busy.base))
            .bearer_auth(tenant_token(0))
            // A host call first: a request that may have acted outside is not run again.
            .json(&serde_json::json!({"code": "export default async () => { await __stockadeTestHostCall('test.echo', new TextEncoder().encode('{\"sleepMs\": 0, \"echo\": 1}')); const end = Date.now() + 8000; let n = 0; while (Date.now() < end) n++; return n; };", "limits": {"cpuMs": 10000, "wallMs": 20000}}))
            .send()
            .expect("a's request")
    });
    until_in_flight(&d, 1, "a never in flight");
    // A's host call was dispatched: its loop comes as soon as the answer is back, on the
    // process's one isolate thread, which it then holds while B's requests arrive. The process
    // running 200 ms of CPU after it says the loop runs (nothing else of it computes).
    until_echoes(&d, 1, "a made no host call");
    let pid = d.admin()["workers"][0]["pid"].as_i64().expect("pid") as i32;
    let (start, deadline) = (cpu_ticks(pid), Instant::now() + Duration::from_secs(10));
    while cpu_ticks(pid) < start + 20 {
        assert!(Instant::now() < deadline, "a's loop never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let queued: Vec<_> = (0..3)
        .map(|i| {
            let h = d.handle();
            std::thread::spawn(move || {
                let code = format!("export default () => 'b{i}'");
                let answer = run(&h, &tenant_token(1), &code);
                (answer, Instant::now())
            })
        })
        .collect();
    until_in_flight(&d, 4, "b never in flight");
    let killed = Instant::now();
    // SAFETY: kill(2) on the worker's pid, which the admin API reported.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);

    // A's code was running: its request dies with the process.
    let r = running.join().expect("thread");
    assert_eq!(r.status().as_u16(), 502);
    // B's had been sent but never started: each is served by the replacement, after the kill.
    for (i, b) in queued.into_iter().enumerate() {
        let ((status, body), answered) = b.join().expect("thread");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], format!("b{i}"), "{body}");
        assert!(answered > killed, "b{i} was answered before the kill");
    }
}
