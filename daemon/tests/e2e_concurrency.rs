//! Many requests in flight per worker process, end to end: real daemon, real jailed workers,
//! real HTTP on loopback. What a neighbour's sleeping request may cost, timers in parallel,
//! `ctx.waitUntil`, cancellation by the client, and host calls to the supervisor.
mod common;
use std::time::{Duration, Instant};

use common::*;

/// The tests of this file measure time: they run one at a time (each starts its own daemon),
/// so that one's load is not another's latency.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every test runs twice: with the daemon's default isolate threads per process (the threads
/// read the socket in turn and queue each other what is not theirs), and with one (that thread
/// reads everything itself, as in every process whose isolates are keyed).
macro_rules! both_ways {
    ($($name:ident),* $(,)?) => {
        mod several_threads {
            $(#[test]
            fn $name() {
                super::$name("");
            })*
        }
        mod one_thread {
            $(#[test]
            fn $name() {
                super::$name("worker_threads = 1\n");
            })*
        }
    };
}

both_ways!(
    a_tenant_sleeping_in_timers_does_not_delay_its_neighbour_in_the_same_process,
    two_hundred_requests_waiting_on_timers_run_together,
    wait_until_work_runs_after_the_response_timers_included,
    a_request_cancelled_by_its_client_stops_its_handler,
    host_calls_reach_the_supervisor_and_only_wall_time_counts,
    a_one_mib_body_crosses_both_ways_within_the_default_cpu_limit,
);

/// Both tenants' requests in one process: the standard tier stacks tenants at once.
const ONE_PROCESS: &str = "[cordon]\nstandard_min_processes = 1\n";

/// The admin listing once the process serving both tenants has requests in flight that
/// `enough` accepts (`Daemon::until_admin`).
fn until_shared_in_flight(
    d: &Daemon,
    enough: impl Fn(u64) -> bool,
    what: &str,
) -> serde_json::Value {
    d.until_admin(what, |admin| {
        admin["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .any(|w| {
                w["tenants"] == serde_json::json!(["t0", "t1"])
                    && enough(w["inFlight"].as_u64().unwrap_or(0))
            })
    })
}

fn post_run(base: &str, token: &str, code: &str, wall_ms: u64) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{base}/v1/run"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "code": code, "limits": { "wallMs": wall_ms } }))
        .send()
        .expect("run");
    (r.status().as_u16(), r.json().expect("json"))
}

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn a_tenant_sleeping_in_timers_does_not_delay_its_neighbour_in_the_same_process(threads: &str) {
    let _serial = serial();
    let d = Daemon::start("neighbour", 2, 1, &format!("{threads}{ONE_PROCESS}"));
    let quick = load(
        &d,
        &tenant_token(1),
        "export default { fetch() { return new Response('quick'); } };",
    );
    assert_eq!(fetch(&d, &tenant_token(1), &quick), (200, "quick".into()));
    // Tenant 0: sixteen requests, each asleep for 5 s in a timer.
    let sleepers: Vec<_> = (0..16)
        .map(|_| {
            let base = d.base.clone();
            std::thread::spawn(move || {
                post_run(
                    &base,
                    &tenant_token(0),
                    "export default async () => { await new Promise((r) => setTimeout(r, 5000)); return 'slept'; };",
                    20_000,
                )
            })
        })
        .collect();
    until_shared_in_flight(
        &d,
        |n| n >= 8,
        "the sleepers are in flight in the process both tenants share",
    );
    // Tenant 1, meanwhile: fifty requests, one after the other.
    let mut took = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        assert_eq!(fetch(&d, &tenant_token(1), &quick), (200, "quick".into()));
        took.push(start.elapsed());
    }
    // Served behind the sleepers, each would wait 5 s. The bound is half that, so a loaded
    // machine (a CI simulation beside builds once stalled one request 1.6 s, past the 1 s
    // bound of 2 s sleeps) does not fail it, while blocking would; the p99 is the figure to watch
    // (issue 9 aims at 50 ms; benches/load measures latency properly).
    let p99 = percentile(took.clone(), 0.99);
    eprintln!("the neighbour's p99 while the sleepers slept: {p99:?}");
    assert!(
        took.iter().all(|t| *t < Duration::from_millis(2500)),
        "a neighbour request waited for the sleepers: p99 {p99:?} ({took:?})"
    );
    for s in sleepers {
        let (status, body) = s.join().expect("thread");
        assert_eq!((status, body["result"].clone()), (200, "slept".into()));
    }
}

/// One tenant fills every place the process has for requests (`max_in_flight_per_worker`)
/// with requests asleep in timers, and has more waiting: a neighbour's request still finds a
/// place at once (the lane keeps its last places for tenants below their share,
/// `supervisor/process/lanes.rs`), and is answered while every sleeper still sleeps. Before, it
/// queued behind the sleepers until one woke.
#[test]
fn a_tenant_filling_a_process_with_sleepers_leaves_a_place_for_its_neighbour() {
    let _serial = serial();
    let d = Daemon::start(
        "lane-share",
        2,
        1,
        &format!("max_in_flight_per_worker = 8\n{ONE_PROCESS}"),
    );
    let quick = load(
        &d,
        &tenant_token(1),
        "export default { fetch() { return new Response('quick'); } };",
    );
    assert_eq!(fetch(&d, &tenant_token(1), &quick), (200, "quick".into()));
    let sleepers: Vec<_> = (0..12)
        .map(|_| {
            let base = d.base.clone();
            std::thread::spawn(move || {
                post_run(
                    &base,
                    &tenant_token(0),
                    "export default async () => { await new Promise((r) => setTimeout(r, 10000)); return 'slept'; };",
                    20_000,
                )
            })
        })
        .collect();
    // Every place the sleepers may take is taken (the rest wait in the supervisor).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let admin = d.admin();
        let in_flight: u64 = admin["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .filter_map(|w| w["inFlight"].as_u64())
            .sum();
        if in_flight >= 12 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sleepers never went in flight: {admin}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fetch(&d, &tenant_token(1), &quick), (200, "quick".into()));
    assert!(
        sleepers.iter().all(|s| !s.is_finished()),
        "the neighbour was answered only after a sleeper woke"
    );
    for s in sleepers {
        let (status, body) = s.join().expect("thread");
        assert_eq!((status, body["result"].clone()), (200, "slept".into()));
    }
}

/// Several isolate threads read the socket in turn (`worker/src/inbox.rs`): a thread inside a
/// long call reads nothing until it returns, so the other thread, idle, must read a neighbour's
/// request meanwhile (it watches the socket, or looks at it after a millisecond asleep). Both
/// tenants are in one process; the busy call is a Loader worker's, which gives no warning that it
/// will be long; the neighbour's are its own Loader worker's calls and Code Mode snippets. Not
/// run with one thread: there, a call that loops holds up the whole process.
#[test]
fn a_long_call_on_one_thread_does_not_hold_up_a_neighbour_on_the_other() {
    let _serial = serial();
    let d = Daemon::start(
        "longcall",
        2,
        1,
        &format!("worker_threads = 2\n{ONE_PROCESS}[limits]\ncpu_ms = 10000\n"),
    );
    let busy = load_code(
        &d,
        &tenant_token(0),
        &serde_json::json!({
            "mainModule": "main.js",
            "modules": { "main.js": "export default { fetch() { for (;;) {} } };" },
            "limits": { "cpuMs": 8000, "wallMs": 20000 }
        }),
    );
    // Tenant 1's Loader worker, in the same process (its snippets are placed there too).
    let resident = load(
        &d,
        &tenant_token(1),
        "export default { fetch() { return new Response('here'); } };",
    );
    assert_eq!(fetch(&d, &tenant_token(1), &resident), (200, "here".into()));
    let looping = {
        let base = d.base.clone();
        let busy = busy.clone();
        std::thread::spawn(move || {
            let r = client()
                .get(format!("{base}/v1/workers/{busy}/fetch/"))
                .bearer_auth(tenant_token(0))
                .send()
                .expect("busy fetch");
            let at = Instant::now();
            (r.status().as_u16(), r.text().unwrap_or_default(), at)
        })
    };
    // The loop (endless: its 8 s CPU limit ends it, however fast this machine) is in flight on
    // its thread.
    until_shared_in_flight(
        &d,
        |n| n == 1,
        "the loop is in flight in the process both tenants share",
    );
    let began = Instant::now();
    let mut answered = Vec::new();
    for _ in 0..10 {
        // Its Loader worker: bound to the thread it was loaded on, which is not the looping
        // one (workers loaded while the threads are idle spread over them, `router.rs`).
        assert_eq!(fetch(&d, &tenant_token(1), &resident), (200, "here".into()));
        answered.push(Instant::now());
        // A fresh isolate, on the thread with fewer requests: not the looping one either.
        let (status, body) = post_run(&d.base, &tenant_token(1), "export default () => 7", 5_000);
        assert_eq!((status, body["result"].clone()), (200, 7.into()));
        answered.push(Instant::now());
    }
    let (status, body, looped_until) = looping.join().expect("thread");
    assert!(
        status != 200 && body.to_lowercase().contains("cpu"),
        "the CPU limit ended the loop: {status} {body}"
    );
    let since = |at: &Instant| at.saturating_duration_since(began);
    eprintln!(
        "neighbour answered at {:?}; the loop ended at {:?}",
        answered.iter().map(since).collect::<Vec<_>>(),
        since(&looped_until)
    );
    assert!(
        answered.iter().all(|at| *at < looped_until),
        "a neighbour's request waited for the looping call to end"
    );
}

fn two_hundred_requests_waiting_on_timers_run_together(threads: &str) {
    let _serial = serial();
    let d = Daemon::start("timers200", 1, 1, threads);
    let start = Instant::now();
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let base = d.base.clone();
            std::thread::spawn(move || {
                post_run(
                    &base,
                    &tenant_token(0),
                    &format!("export default async () => {{ await new Promise((r) => setTimeout(r, 500)); return {i}; }};"),
                    10_000,
                )
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let (status, body) = h.join().expect("thread");
        assert_eq!((status, body["result"].clone()), (200, i.into()), "{body}");
    }
    // One after the other they would take 100 s, and with two at a time 50 s; together, about
    // 0.5 s plus making 200 isolates. The bound leaves room for a loaded machine.
    let took = start.elapsed();
    eprintln!("200 requests asleep 500 ms each took {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

fn wait_until_work_runs_after_the_response_timers_included(threads: &str) {
    let _serial = serial();
    let d = Daemon::start("waituntil", 1, 1, threads);
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        "let done = 0; export default { fetch(req: Request, env: unknown, ctx: any) { if (req.method === 'GET') return new Response(String(done)); ctx.waitUntil(new Promise((r) => setTimeout(() => { done++; r(null); }, 2000))); return new Response('accepted'); } };",
    );
    // Loaded before the clock starts, so that only the request is timed.
    assert_eq!(fetch(&d, &t, &id), (200, "0".into()));
    let url = format!("{}/v1/workers/{id}/fetch/", d.base);
    let start = Instant::now();
    let r = client().post(&url).bearer_auth(&t).send().expect("post");
    assert_eq!(r.text().expect("text"), "accepted");
    assert!(
        start.elapsed() < Duration::from_millis(2000),
        "the response waited for the background work"
    );
    assert_eq!(fetch(&d, &t, &id), (200, "0".into()));
    // The background work finishes after the response, within the wall limit.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fetch(&d, &t, &id) != (200, "1".into()) {
        assert!(Instant::now() < deadline, "the background work never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn a_request_cancelled_by_its_client_stops_its_handler(threads: &str) {
    let _serial = serial();
    let d = Daemon::start("cancel", 1, 1, threads);
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        "let ticks = 0; export default { async fetch(req: Request) { if (req.method === 'GET') return new Response(String(ticks)); for (let i = 0; i < 200; i++) { await new Promise((r) => setTimeout(r, 25)); ticks++; } return new Response('finished'); } };",
    );
    // Loaded first, so that the impatient request's time is the handler's.
    assert_eq!(fetch(&d, &t, &id), (200, "0".into()));
    let impatient = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .expect("client");
    let gave_up = impatient
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .send();
    assert!(gave_up.is_err(), "the client timed out and closed");
    // The cancel reaches the handler on its own time: the count stops moving (two reads 500 ms
    // apart agree, where a running handler ticks every 25 ms), before the 5 s the handler
    // would take to finish.
    let count = || -> u32 { fetch(&d, &t, &id).1.parse().expect("count") };
    let deadline = Instant::now() + Duration::from_secs(10);
    let stopped = loop {
        let before = count();
        std::thread::sleep(Duration::from_millis(500));
        if count() == before {
            break before;
        }
        assert!(
            Instant::now() < deadline,
            "the handler went on after its client left"
        );
    };
    assert!(stopped > 0, "the handler ran before the client left");
    assert!(stopped < 200, "the handler ran to its end: {stopped} ticks");
}

fn host_calls_reach_the_supervisor_and_only_wall_time_counts(threads: &str) {
    let _serial = serial();
    let d = Daemon::start_with(
        "hostcall",
        &["normal"],
        1,
        threads,
        &[("STOCKADE_TEST_HOOKS", "1")],
    );
    let code = "export default async () => { const enc = new TextEncoder(), dec = new TextDecoder(); const ask = (name, v) => __stockadeTestHostCall(name, enc.encode(JSON.stringify(v))).then((b) => JSON.parse(dec.decode(b)), (e) => 'error: ' + e.message); return [await ask('test.echo', { sleepMs: 400, echo: { hello: [1, 2] } }), await ask('no.such.call', {})]; };";
    let (status, body) = post_run(&d.base, &tenant_token(0), code, 10_000);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"][0], serde_json::json!({ "hello": [1, 2] }));
    let refused = body["result"][1].as_str().expect("error text");
    assert!(refused.contains("unknown host call"), "{refused}");
    assert!(body["wallMs"].as_f64().unwrap_or(0.0) >= 400.0, "{body}");
    assert!(body["cpuMs"].as_f64().unwrap_or(1e9) < 200.0, "{body}");
}

fn a_one_mib_body_crosses_both_ways_within_the_default_cpu_limit(threads: &str) {
    let _serial = serial();
    // Bodies cross the socket and the bridge as bytes: no base64, no JSON, no JavaScript decode.
    let d = Daemon::start("bodies", 1, 1, threads);
    let t = tenant_token(0);
    let id = load(
        &d,
        &t,
        "export default { async fetch(req: Request) { const b = new Uint8Array(await req.arrayBuffer()); return new Response(b, { headers: { 'x-len': String(b.length) } }); } };",
    );
    let body: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let r = client()
        .post(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(&t)
        .body(body.clone())
        .send()
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("x-len").and_then(|v| v.to_str().ok()),
        Some("1048576")
    );
    assert!(
        r.bytes().expect("body").as_ref() == body.as_slice(),
        "echoed unchanged"
    );
}
