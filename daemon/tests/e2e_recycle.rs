//! Recycling worker processes that cannot stop growing, against a real daemon with real jailed
//! workers. V8 13.6 grows a process with every isolate it creates until its shared heap is
//! renewed, which needs a moment when no isolate lives; a Loader worker's isolate always does.
//! With `worker_renew_after = 50`, a process holding a Loader worker that serves fresh-isolate
//! requests (`POST /v1/run`) is overdue after 100 isolates: the worker says so, the supervisor
//! moves the tenant to a new process of its tier, lets the old one finish and shuts it down.
//! The Loader worker answers on, loaded afresh (its module state starts over), no request fails
//! during the swap, and a process without a Loader worker renews by itself and is kept, unless
//! it never pauses (some request always in flight): then it is replaced too.
mod common;
#[path = "common/tcp_servers.rs"]
mod tcp_servers;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Renewal every 50 isolates; one tenant, `t0`.
fn config() -> String {
    format!(
        "worker_renew_after = 50\n[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
        tenant_token(0)
    )
}

/// Counts its requests in module state: a fresh isolate starts at 1 again.
const COUNTER: &str = "let n = 0;
export default { fetch() { n += 1; return new Response(String(n)); } };";

const SNIPPET: &str = "export default () => 1";

/// The worker process `tenant` is active in (not draining), as (pid, host pid of its launcher).
fn active_pid(d: &Daemon, tenant: &str) -> Option<u64> {
    let admin = d.admin();
    let active: Vec<u64> = hosting(&admin, tenant)
        .iter()
        .filter(|w| {
            !w["drainingTenants"]
                .as_array()
                .is_some_and(|t| t.iter().any(|n| n == tenant))
        })
        .filter_map(|w| w["pid"].as_u64())
        .collect();
    (active.len() == 1).then(|| active[0])
}

fn alive(pid: u64) -> bool {
    // SAFETY: kill(2) with signal 0 only checks whether the pid exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Waits up to 60 s for `pid` to be gone, and for no worker of the admin view to have it.
fn wait_gone(d: &Daemon, pid: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let listed = d.admin()["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .any(|w| w["pid"].as_u64() == Some(pid));
        if !listed && !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the recycled process {pid} is still there: {}", d.admin());
}

fn recycles(d: &Daemon) -> u64 {
    d.metrics()
        .lines()
        .find_map(|l| l.strip_prefix("stockade_worker_recycles_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("stockade_worker_recycles_total") as u64
}

/// Runs snippets as `token` until `tenant`'s active process is no longer `pid` (at most
/// `max`); returns how many ran.
fn run_until_replaced(d: &Daemon, token: &str, tenant: &str, pid: u64, max: usize) -> usize {
    for i in 1..=max {
        let (status, body) = run(d, token, SNIPPET);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], 1, "{body}");
        if i % 10 == 0 && active_pid(d, tenant).is_some_and(|now| now != pid) {
            return i;
        }
    }
    panic!(
        "{max} fresh isolates beside a live isolate, and the process was not replaced: {}",
        d.admin()
    );
}

#[test]
fn a_process_holding_a_loader_worker_is_replaced_and_the_worker_answers_on_afresh() {
    let d = Daemon::start_raw("recycle-loader", 1, &config(), &[]);
    let token = tenant_token(0);
    let id = load(&d, &token, COUNTER);
    assert_eq!(fetch(&d, &token, &id), (200, "1".into()));
    assert_eq!(fetch(&d, &token, &id), (200, "2".into()));
    let old = active_pid(&d, "t0").expect("t0's process");

    let ran = run_until_replaced(&d, &token, "t0", old, 400);
    eprintln!("replaced after {ran} snippets");
    let new = active_pid(&d, "t0").expect("t0's new process");
    assert_ne!(new, old);
    // Same tier, and the old process is shut down once idle.
    let admin = d.admin();
    let tier_of = |pid: u64| {
        admin["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .find(|w| w["pid"].as_u64() == Some(pid))
            .map(|w| w["tier"].clone())
    };
    assert_eq!(tier_of(new), Some(Value::from("standard")), "{admin}");
    wait_gone(&d, old);

    // The Loader worker answers from the new process, loaded afresh: its module state starts
    // over (the documented behaviour, as after an eviction).
    assert_eq!(fetch(&d, &token, &id), (200, "1".into()));
    assert_eq!(fetch(&d, &token, &id), (200, "2".into()));
    assert_eq!(active_pid(&d, "t0"), Some(new));
    assert!(recycles(&d) >= 1);
    let metrics = d.metrics();
    let deaths: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("stockade_worker_deaths_total{"))
        .collect();
    assert_eq!(deaths.len(), 5, "{metrics}");
    assert!(
        deaths.iter().all(|l| l.ends_with(" 0")),
        "recycling is no death: {deaths:?}"
    );
}

#[test]
fn no_request_fails_while_a_process_is_swapped() {
    let d = Daemon::start_raw("recycle-concurrent", 1, &config(), &[]);
    let token = tenant_token(0);
    let id = load(&d, &token, COUNTER);
    assert_eq!(fetch(&d, &token, &id), (200, "1".into()));
    let old = active_pid(&d, "t0").expect("t0's process");

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let (runs, fetches) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let counts = Arc::new(Mutex::new(Vec::<u64>::new()));
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (h, token, stop, failures, runs) = (
            d.handle(),
            token.clone(),
            Arc::clone(&stop),
            Arc::clone(&failures),
            Arc::clone(&runs),
        );
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = run(&h, &token, SNIPPET);
                if status != 200 || body["result"] != 1 {
                    failures
                        .lock()
                        .expect("lock")
                        .push(format!("run: {status} {body}"));
                }
                runs.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        let (h, token, id, stop, failures, fetches, counts) = (
            d.handle(),
            token.clone(),
            id.clone(),
            Arc::clone(&stop),
            Arc::clone(&failures),
            Arc::clone(&fetches),
            Arc::clone(&counts),
        );
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (status, text) = fetch(&h, &token, &id);
                match (status, text.parse::<u64>()) {
                    (200, Ok(n)) => counts.lock().expect("lock").push(n),
                    _ => failures
                        .lock()
                        .expect("lock")
                        .push(format!("fetch: {status} {text}")),
                }
                fetches.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    while active_pid(&d, "t0").is_none_or(|now| now == old) {
        assert!(
            Instant::now() < deadline,
            "not replaced after {} snippets: {}",
            runs.load(Ordering::Relaxed),
            d.admin()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Load goes on through the swap until the old process is gone, and a little beyond.
    wait_gone(&d, old);
    let after = fetches.load(Ordering::Relaxed);
    while fetches.load(Ordering::Relaxed) < after + 5 {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread");
    }
    let failures = failures.lock().expect("lock");
    assert!(failures.is_empty(), "requests failed: {failures:?}");
    let counts = counts.lock().expect("lock");
    eprintln!(
        "{} snippets and {} fetches; fetch counts {:?}",
        runs.load(Ordering::Relaxed),
        counts.len(),
        *counts
    );
    // The Loader worker's count started over at least once: it answered from a new isolate.
    assert!(
        counts.windows(2).any(|w| w[1] < w[0]),
        "the worker was never loaded afresh: {counts:?}"
    );
    assert!(recycles(&d) >= 1);
}

#[test]
fn a_process_that_renews_by_itself_is_kept() {
    let d = Daemon::start_raw("recycle-none", 1, &config(), &[]);
    let token = tenant_token(0);
    let (status, body) = run(&d, &token, SNIPPET);
    assert_eq!(status, 200, "{body}");
    // A snippet's tenant leaves its process when the snippet is done: look at every process.
    let pids = || -> Vec<u64> {
        let mut pids: Vec<u64> = d.admin()["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .filter_map(|w| w["pid"].as_u64())
            .collect();
        pids.sort_unstable();
        pids
    };
    // The warm spare may still be starting (its pid is its launcher's until it is ready).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !d.admin()["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .all(|w| w["ready"] == true)
    {
        assert!(
            Instant::now() < deadline,
            "workers not ready: {}",
            d.admin()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = pids();
    // Six times the threshold, three times what makes a process holding a Loader worker
    // overdue: this one has idle moments with no isolate alive, and renews.
    for _ in 0..300 {
        let (status, body) = run(&d, &token, SNIPPET);
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(pids(), before, "{}", d.admin());
    assert!(before.iter().all(|&pid| alive(pid)));
    assert_eq!(recycles(&d), 0);
}

/// A process that never has a moment without a live isolate cannot renew, Loader worker or
/// not: here one snippet awaits a timer throughout while others run one after another (as at
/// full load, where some request is always in flight). Such a process is told apart from one
/// that renews by itself by the time it had: twice the threshold plus the worker's renewal
/// grace (1,000 isolates), so about 1,100 isolates here. Before, only a process holding a
/// Loader worker said it was overdue, and this one grew without bound (about 475 bytes per
/// isolate: 48 → 259 MiB in 9 minutes at 826 fresh isolates a second).
#[test]
fn a_process_that_never_pauses_is_replaced_though_it_holds_no_loader_worker() {
    // The long snippet waits for an answer the test holds until the process was replaced
    // (however long the fresh isolates take on a loaded machine).
    let server = tcp_servers::HoldServer::start_heads();
    let config = format!(
        "worker_renew_after = 50\n[limits]\nwall_ms = 170000\n[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n[[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{}]\n",
        tenant_token(0),
        server.port
    );
    let d = Daemon::start_raw("recycle-busy", 1, &config, &[]);
    let token = tenant_token(0);
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let long = {
        // A handle, not the daemon: a failing assertion below must not leave it running.
        let (base, token, port) = (d.base.clone(), token.clone(), server.port);
        std::thread::spawn(move || {
            let code = format!(
                "export default async () => {{ await (await fetch('http://127.0.0.1:{port}/hold')).text(); return 2; }}"
            );
            let r = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(180))
                .build()
                .expect("client")
                .post(format!("{base}/v1/run"))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "code": code }))
                .send()
                .expect("the long snippet");
            let answer: (u16, Value) = (r.status().as_u16(), r.json().expect("json"));
            let _ = done_tx.send(());
            answer
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid = loop {
        if let Some(pid) = active_pid(&d, "t0") {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the long snippet never started: {}",
            d.admin()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    server.wait_arrived(1);
    let mut ran = 0;
    while recycles(&d) == 0 {
        for _ in 0..20 {
            let (status, body) = run(&d, &token, SNIPPET);
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["result"], 1, "{body}");
        }
        ran += 20;
        assert!(
            done_rx.try_recv().is_err(),
            "the long snippet ended before the process was replaced ({ran} snippets): {}",
            d.admin()
        );
        assert!(
            ran < 3000,
            "{ran} fresh isolates beside a live one, and the process was not replaced: {}",
            d.admin()
        );
    }
    let old = d.admin()["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .find(|w| w["pid"].as_u64() == Some(pid))
        .cloned()
        .expect("the old process, still finishing the long snippet");
    assert_eq!(old["recycling"], true, "{old}");
    // New requests run elsewhere meanwhile.
    let (status, body) = run(&d, &token, SNIPPET);
    assert_eq!(status, 200, "{body}");
    // The long snippet finishes where it started, and that process then goes.
    server.release(1);
    let (status, body) = long.join().expect("long snippet");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"], 2, "{body}");
    wait_gone(&d, pid);
}
