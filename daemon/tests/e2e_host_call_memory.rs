//! What tenant code can make the supervisor hold through host calls, tried for real: a real
//! daemon with jailed workers, tenant code that starts 40 `fetch()`es of one 15 MiB buffer to an
//! upstream on 127.0.0.1 that accepts and never reads (each call's payload is a copy the
//! supervisor holds while the call lasts). Before the budget (`supervisor/held.rs`) one such
//! request grew the supervisor by 2.2 GiB; now a request's calls hold at most their 48 MiB share
//! and all requests together `[limits] host_call_memory_mb`, and the calls past either are
//! refused at once with a message that says which.
mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// An upstream that accepts every connection and never reads from it or answers.
fn tarpit() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream); // kept open, unread
        }
    });
    port
}

/// Tenant code: `calls` fetches of one 15 MiB body, started together; once `expected` of them
/// were refused (or after `wait_ms`), and half a second more, the messages of those refused so
/// far, then every fetch is aborted.
fn flood(port: u16, calls: usize, expected: usize, wait_ms: u64) -> String {
    format!(
        "export default async () => {{
           const body = new Uint8Array(15 << 20);
           const ctrl = new AbortController();
           const refused = [];
           const calls = [];
           for (let i = 0; i < {calls}; i++) {{
             calls.push(fetch('http://127.0.0.1:{port}/', {{ method: 'POST', body, signal: ctrl.signal }})
               .then(() => 'answered', (e) => {{ refused.push(String(e.message)); }}));
           }}
           // Each call's 15 MiB travel to the supervisor first, which a loaded machine makes
           // slow: wait for the refusals expected, then a while for any beyond.
           for (let waited = 0; refused.length < {expected} && waited < {wait_ms}; waited += 50) {{
             await new Promise((r) => setTimeout(r, 50));
           }}
           await new Promise((r) => setTimeout(r, 500));
           const seen = refused.slice();
           ctrl.abort();
           await Promise.allSettled(calls);
           return seen;
         }};"
    )
}

/// The supervisor's resident set, KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Samples `pid`'s RSS every 20 ms until `stop`; the highest seen.
fn watch_peak(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_kib(pid));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    })
}

/// Tenants `t0` and `t1`, each allowed to reach the tarpit; the daemon's budget and a tenant's
/// share, MiB.
fn config(port: u16, budget_mb: u64, tenant_mb: u64) -> String {
    let mut text = format!(
        "[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [limits]\ncpu_ms = 5000\nhost_call_memory_mb = {budget_mb}\n\
         host_call_memory_per_tenant_mb = {tenant_mb}\n"
    );
    for i in 0..2 {
        text.push_str(&format!(
            "[[tenants]]\nid = \"t{i}\"\ntoken = \"{}\"\n\
             [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{port}]\n",
            tenant_token(i)
        ));
    }
    text
}

/// Runs `flood(port, calls, calls, 3000)` for each tenant index given, all at once; the refusals each
/// saw.
fn floods_at_once(d: &Daemon, port: u16, tenants: &[usize], calls: usize) -> Vec<Vec<String>> {
    let runs: Vec<_> = tenants
        .iter()
        .map(|&tenant| {
            let base = d.base.clone();
            std::thread::spawn(move || {
                client()
                    .post(format!("{base}/v1/run"))
                    .bearer_auth(tenant_token(tenant))
                    .json(&serde_json::json!({ "code": flood(port, calls, calls, 3000) }))
                    .send()
                    .expect("run")
                    .json::<serde_json::Value>()
                    .expect("json")
            })
        })
        .collect();
    runs.into_iter()
        .map(|r| messages(&r.join().expect("run thread")))
        .collect()
}

/// `stockade_host_call_bytes_held` from `/metrics`.
fn held_bytes(d: &Daemon) -> u64 {
    let metrics = d.metrics();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("stockade_host_call_bytes_held "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no host call gauge: {metrics}"))
}

/// Waits (5 s at most) until the calls of the requests run so far are over and hold nothing.
fn wait_released(d: &Daemon) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let held = held_bytes(d);
        if held == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{held} bytes still held by calls that are over"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn messages(body: &serde_json::Value) -> Vec<String> {
    body["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no result: {body}"))
        .iter()
        .map(|m| m.as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn one_requests_host_calls_hold_at_most_its_share_in_the_supervisor() {
    let port = tarpit();
    let d = Daemon::start_raw("host-call-share", 1, &config(port, 512, 128), &[]);
    let before = rss_kib(d.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let peak = watch_peak(d.pid(), Arc::clone(&stop));
    // 40: under the 50 outbound requests an invocation may make.
    let (status, body) = run(&d, &tenant_token(0), &flood(port, 40, 37, 8000));
    stop.store(true, Ordering::Relaxed);
    let peak = peak.join().expect("watcher");
    assert_eq!(status, 200, "{body}");
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("the supervisor grew {grown_mib} MiB holding one request's host calls");
    assert!(
        grown_mib < 256,
        "the supervisor grew {grown_mib} MiB (from {} MiB) holding one request's host calls",
        before / 1024
    );
    let refused = messages(&body);
    // 15 MiB and a head per call: three fit in the 48 MiB share, the other 37 are refused.
    assert_eq!(refused.len(), 37, "{refused:?}");
    assert!(
        refused.iter().all(|m| m.contains("is its share")),
        "{refused:?}"
    );
    // Over, they are given back: the same flood again is refused exactly as much.
    wait_released(&d);
    let (_, body) = run(&d, &tenant_token(0), &flood(port, 8, 5, 8000));
    assert_eq!(messages(&body).len(), 5, "{body}");
}

#[test]
fn all_requests_host_calls_together_stay_within_the_daemons_budget() {
    let port = tarpit();
    let d = Daemon::start_raw("host-call-budget", 1, &config(port, 64, 64), &[]);
    // Two tenants' requests at once, each of which alone could hold 45 MiB: 64 MiB hold four
    // calls.
    let refused: Vec<String> = floods_at_once(&d, port, &[0, 1], 3).concat();
    assert_eq!(refused.len(), 2, "six calls, four held: {refused:?}");
    assert!(
        refused.iter().all(|m| m.contains("whole budget")),
        "{refused:?}"
    );
    wait_released(&d);
}

#[test]
fn one_tenant_cannot_take_the_daemons_budget_from_another() {
    let port = tarpit();
    let d = Daemon::start_raw("host-call-tenant", 1, &config(port, 512, 64), &[]);
    // t0's two requests could hold 90 MiB together; its 64 MiB share holds four calls. t1's
    // request, at the same time, holds its three.
    let refused = floods_at_once(&d, port, &[0, 0, 1], 3);
    let of_t0: Vec<&String> = refused[0].iter().chain(&refused[1]).collect();
    assert_eq!(of_t0.len(), 2, "six calls of t0, four held: {refused:?}");
    assert!(
        of_t0.iter().all(|m| m.contains("its whole share")),
        "{refused:?}"
    );
    assert!(refused[2].is_empty(), "t1 keeps its own share: {refused:?}");
    wait_released(&d);
}
