//! Synchronous host calls (`__stockade_host.callSync`, reached here through the debug build's
//! test hook): only a Durable Object's storage calls (and, in debug builds, `test.echo`) may be
//! made so, whatever the JavaScript asks; the owner's `SyncHost` answers inside the entry, told
//! the CPU the task has left. What the wait costs: the CPU the host reports it spent is charged
//! as the task's CPU; the rest of the wait is free up to `SYNC_WAIT_ALLOWANCE` per task (across
//! its entries) and counts as CPU past it; past the CPU budget or the wall deadline the task fails with that
//! limit as if JavaScript had spent it. Real V8, a host that blocks on a sleep (no CPU of its
//! own) and reports what it is told to.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{engine, limits};
use stockade_isolate::{
    Answer, LimitKind, Limits, Module, ModuleSet, RunError, SyncEnd, SyncHost, TaskEvent, Worker,
    SYNC_WAIT_ALLOWANCE,
};

/// Answers every call with its name and payload after `delay` (slept, not spun), reporting
/// `host_cpu` spent, unless the deadline comes first; records the CPU allowance and the wait
/// it was given.
struct Sleepy {
    delay: Duration,
    host_cpu: Duration,
    offered: Arc<Mutex<Vec<(Duration, Duration)>>>,
}

impl Sleepy {
    fn new(delay: Duration, host_cpu: Duration) -> Sleepy {
        Sleepy {
            delay,
            host_cpu,
            offered: Arc::default(),
        }
    }
}

impl SyncHost for Sleepy {
    fn call(
        &mut self,
        _tag: u64,
        _call: u32,
        name: &str,
        payload: Vec<u8>,
        cpu_left: Duration,
        deadline: Instant,
    ) -> SyncEnd {
        let now = Instant::now();
        if let Ok(mut d) = self.offered.lock() {
            d.push((cpu_left, deadline.saturating_duration_since(now)));
        }
        let until = (now + self.delay).min(deadline);
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        if until == deadline && self.delay > deadline.saturating_duration_since(now) {
            return SyncEnd::TimedOut;
        }
        let mut out = name.as_bytes().to_vec();
        out.push(b':');
        out.extend_from_slice(&payload);
        SyncEnd::Answered {
            result: Ok(out),
            host_cpu: self.host_cpu,
        }
    }
}

const SRC: &str = "export default async (names) => names.map((n) => { try { return new TextDecoder().decode(__stockadeTestHostCallSync(n, new TextEncoder().encode('p'))); } catch (e) { return `${e.name}: ${e.message}`; } });";

fn worker(limits: Limits, host: Option<Sleepy>) -> Worker {
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", SRC)]).expect("set");
    worker.load("main.js", &mut set).result.expect("loads");
    worker.install_test_host_call().expect("test hooks");
    if let Some(host) = host {
        worker.set_sync_host(Box::new(host));
    }
    worker
}

/// Runs `arg` through the default export: its result (JSON) or error, and the CPU it was charged.
fn run(worker: &mut Worker, arg: &str) -> (Result<serde_json::Value, RunError>, Duration) {
    let task = worker.start_call(arg);
    for event in worker.drain_events() {
        if let TaskEvent::Answered(a) = event {
            if a.task == task {
                let result = a.result.map(|answer| match answer {
                    Answer::Json(text) => serde_json::from_str(&text).expect("JSON"),
                    other => panic!("expected JSON, got {other:?}"),
                });
                return (result, a.cpu);
            }
        }
    }
    panic!("a synchronous call answers within the entry");
}

#[test]
fn only_storage_calls_may_be_synchronous_and_their_answer_comes_back_at_once() {
    let host = Sleepy::new(Duration::ZERO, Duration::ZERO);
    let offered = Arc::clone(&host.offered);
    let mut w = worker(limits(), Some(host));
    let (result, _) = run(
        &mut w,
        r#"["do.sql", "fetch", "service.call", "queue.send", "test.echo"]"#,
    );
    let out = result.expect("answered");
    assert_eq!(out[0], "do.sql:p");
    for i in 1..4 {
        let text = out[i].as_str().unwrap_or("");
        assert!(
            text.starts_with("TypeError") && text.contains("cannot be made synchronously"),
            "{i}: {out}"
        );
    }
    // The debug build's test call (this test runs only there: the hook is debug-only).
    assert_eq!(out[4], "test.echo:p");
    // The host was told what the task had left of its CPU budget (500 ms), not more, and the
    // wait may last that and the allowance, no longer.
    let (cpu_left, wait) = offered.lock().expect("offered")[0];
    assert!(
        cpu_left <= Duration::from_millis(500) && cpu_left > Duration::from_millis(300),
        "{cpu_left:?}"
    );
    assert!(wait <= cpu_left + SYNC_WAIT_ALLOWANCE, "{wait:?}");

    // An isolate with no one to send them refuses them too.
    let mut bare = worker(limits(), None);
    let out = run(&mut bare, r#"["do.sql"]"#).0.expect("answered");
    assert!(out[0].as_str().unwrap_or("").contains("no host"), "{out}");
}

#[test]
fn a_wait_within_the_allowance_costs_no_cpu_and_the_hosts_cpu_is_charged() {
    // Two waits of 150 ms on a 100 ms budget: the disk's share, free (300 ms < the allowance).
    let small = Limits {
        cpu: Duration::from_millis(100),
        wall: Duration::from_secs(10),
        ..limits()
    };
    let mut w = worker(
        small,
        Some(Sleepy::new(Duration::from_millis(150), Duration::ZERO)),
    );
    let (result, cpu) = run(&mut w, r#"["do.get", "do.put"]"#);
    assert_eq!(
        result.expect("answered"),
        serde_json::json!(["do.get:p", "do.put:p"])
    );
    assert!(cpu < Duration::from_millis(100), "two free waits: {cpu:?}");

    // What the host says it spent is the task's CPU.
    let generous = Limits {
        cpu: Duration::from_secs(2),
        wall: Duration::from_secs(10),
        ..limits()
    };
    let host = Sleepy::new(Duration::from_millis(150), Duration::from_millis(120));
    let mut w = worker(generous, Some(host));
    let (result, cpu) = run(&mut w, r#"["do.get", "do.put"]"#);
    assert_eq!(
        result.expect("answered"),
        serde_json::json!(["do.get:p", "do.put:p"])
    );
    assert!(
        cpu >= Duration::from_millis(240),
        "two calls whose host spent 120 ms each: {cpu:?}"
    );
}

#[test]
fn the_hosts_cpu_past_the_budget_ends_the_task_with_the_cpu_limit() {
    let tight = Limits {
        cpu: Duration::from_millis(100),
        wall: Duration::from_secs(10),
        ..limits()
    };
    // The host spent all of its 300 ms wait working (a host cannot claim more than it took).
    let host = Sleepy::new(Duration::from_millis(300), Duration::from_millis(300));
    let mut w = worker(tight, Some(host));
    let (result, _) = run(&mut w, r#"["do.sql"]"#);
    assert!(
        matches!(result, Err(RunError::Limit(LimitKind::Cpu))),
        "{result:?}"
    );
    assert!(w.poisoned().is_some());
}

#[test]
fn a_wait_past_the_allowance_counts_as_cpu_and_ends_the_task_at_its_budget() {
    let tight = Limits {
        cpu: Duration::from_millis(100),
        wall: Duration::from_secs(10),
        ..limits()
    };
    let host = Sleepy::new(Duration::from_secs(5), Duration::ZERO);
    let mut w = worker(tight, Some(host));
    let started = Instant::now();
    let (result, _) = run(&mut w, r#"["do.sql"]"#);
    let took = started.elapsed();
    assert!(
        matches!(result, Err(RunError::Limit(LimitKind::Cpu))),
        "{result:?}"
    );
    // It held the thread for the allowance and the budget, not the host's 5 s.
    assert!(
        took >= SYNC_WAIT_ALLOWANCE && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(w.poisoned().is_some());
}

#[test]
fn a_wait_past_the_wall_deadline_ends_the_task_with_the_wall_limit() {
    let short = Limits {
        cpu: Duration::from_secs(5),
        wall: Duration::from_millis(300),
        ..limits()
    };
    let host = Sleepy::new(Duration::from_secs(5), Duration::ZERO);
    let mut w = worker(short, Some(host));
    let (result, _) = run(&mut w, r#"["do.sql"]"#);
    assert!(
        matches!(result, Err(RunError::Limit(LimitKind::Wall))),
        "{result:?}"
    );
}

/// The allowance is the task's, not each entry's: two waits of 400 ms, in two entries (a timer
/// between them), pass it by 300 ms, which count as CPU on a 100 ms budget.
#[test]
fn the_allowance_is_the_tasks_across_its_entries() {
    let src = "export default async () => { const call = () => __stockadeTestHostCallSync('do.get', new TextEncoder().encode('p')); call(); await new Promise((r) => setTimeout(r, 1)); call(); return 'both'; };";
    let tight = Limits {
        cpu: Duration::from_millis(100),
        wall: Duration::from_secs(10),
        ..limits()
    };
    let build = |delay_ms: u64| {
        let mut w = Worker::new(engine(), tight.clone()).expect("isolate");
        let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
        w.load("main.js", &mut set).result.expect("loads");
        w.install_test_host_call().expect("test hooks");
        w.set_sync_host(Box::new(Sleepy::new(
            Duration::from_millis(delay_ms),
            Duration::ZERO,
        )));
        w
    };
    // Two waits of 200 ms: 400 ms in all, within the allowance.
    let inv = build(200).call("null");
    assert!(
        matches!(inv.result.as_deref(), Ok("\"both\"")),
        "{:?}",
        inv.result
    );
    // Two of 400 ms: the second entry finds 100 ms of the allowance left.
    let inv = build(400).call("null");
    assert!(
        matches!(inv.result, Err(RunError::Limit(LimitKind::Cpu))),
        "{:?}",
        inv.result
    );
}
