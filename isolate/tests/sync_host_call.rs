//! Synchronous host calls (`__stockade_host.callSync`, reached here through the debug build's
//! test hook): only a Durable Object's storage calls may be made so, whatever the JavaScript
//! asks; the owner's `SyncHost` answers inside the entry; its wait counts as the task's CPU time
//! and ends by the task's CPU budget, after which the task fails with the CPU limit as if
//! JavaScript had spent it. Real V8, a host that blocks on a sleep (no CPU of its own).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{engine, limits};
use stockade_isolate::{
    Answer, LimitKind, Limits, Module, ModuleSet, RunError, SyncEnd, SyncHost, TaskEvent, Worker,
};

/// Answers every call with its name and payload after `delay` (slept, not spun), unless the
/// deadline comes first; records the deadlines it was given.
struct Sleepy {
    delay: Duration,
    deadlines: Arc<Mutex<Vec<Duration>>>,
}

impl SyncHost for Sleepy {
    fn call(
        &mut self,
        _tag: u64,
        _call: u32,
        name: &str,
        payload: Vec<u8>,
        deadline: Instant,
    ) -> SyncEnd {
        let now = Instant::now();
        if let Ok(mut d) = self.deadlines.lock() {
            d.push(deadline.saturating_duration_since(now));
        }
        let until = (now + self.delay).min(deadline);
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        if until == deadline && self.delay > deadline.saturating_duration_since(now) {
            return SyncEnd::TimedOut;
        }
        let mut out = name.as_bytes().to_vec();
        out.push(b':');
        out.extend_from_slice(&payload);
        SyncEnd::Answered(Ok(out))
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
    let deadlines = Arc::new(Mutex::new(Vec::new()));
    let host = Sleepy {
        delay: Duration::ZERO,
        deadlines: Arc::clone(&deadlines),
    };
    let mut w = worker(limits(), Some(host));
    let (result, _) = run(
        &mut w,
        r#"["do.sql", "fetch", "service.call", "test.echo"]"#,
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
    // The wait was offered what the task had left of its CPU budget (500 ms), not more.
    let offered = deadlines.lock().expect("deadlines")[0];
    assert!(offered <= Duration::from_millis(500), "{offered:?}");

    // An isolate with no one to send them refuses them too.
    let mut bare = worker(limits(), None);
    let out = run(&mut bare, r#"["do.sql"]"#).0.expect("answered");
    assert!(out[0].as_str().unwrap_or("").contains("no host"), "{out}");
}

#[test]
fn the_wait_is_charged_as_cpu_and_ends_the_task_at_its_cpu_budget() {
    // Within the budget: answered, and the sleep counts as the task's CPU time.
    let generous = Limits {
        cpu: Duration::from_secs(2),
        wall: Duration::from_secs(10),
        ..limits()
    };
    let host = Sleepy {
        delay: Duration::from_millis(150),
        deadlines: Arc::default(),
    };
    let mut w = worker(generous, Some(host));
    let (result, cpu) = run(&mut w, r#"["do.get", "do.put"]"#);
    assert_eq!(
        result.expect("answered"),
        serde_json::json!(["do.get:p", "do.put:p"])
    );
    assert!(
        cpu >= Duration::from_millis(300),
        "two waits of 150 ms: {cpu:?}"
    );

    // Past the budget: the CPU limit, as if JavaScript had spent it (the isolate is poisoned).
    let tight = Limits {
        cpu: Duration::from_millis(100),
        wall: Duration::from_secs(10),
        ..limits()
    };
    let host = Sleepy {
        delay: Duration::from_secs(5),
        deadlines: Arc::default(),
    };
    let mut w = worker(tight, Some(host));
    let (result, _) = run(&mut w, r#"["do.sql"]"#);
    assert!(
        matches!(result, Err(RunError::Limit(LimitKind::Cpu))),
        "{result:?}"
    );
    assert!(w.poisoned().is_some());
}
