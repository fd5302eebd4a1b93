//! A task's own wall-clock limit in real isolates (`Worker::within`, which a worker process uses
//! for cron events and queue batches, `[limits] event_wall_ms`): a task started inside it may
//! wait past the worker's `limits.wall` up to its own limit, is answered the wall limit past
//! that, and the tasks started after it have the worker's limit again.
mod common;

use std::time::{Duration, Instant};

use common::*;
use stockade_isolate::error::{LimitKind, RunError};
use stockade_isolate::{Answer, Limits, Module, ModuleSet, TaskEvent, TaskId, Worker};

/// Awaits `env.MS` ms in its scheduled handler, logs "woke", then awaits `env.MORE` ms (0 when
/// not given).
const SRC: &str = r#"export default {
    async scheduled(controller, env) {
        await new Promise((r) => setTimeout(r, env.MS));
        console.log("woke");
        await new Promise((r) => setTimeout(r, env.MORE ?? 0));
    },
};"#;

/// A worker loaded from [`SRC`] whose wall-clock limit is 300 ms.
fn short_walled() -> Worker {
    let limits = Limits {
        wall: Duration::from_millis(300),
        ..limits()
    };
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", SRC)]).expect("set");
    let loaded = worker.load("main.js", &mut set);
    assert!(loaded.result.is_ok(), "{:?}", loaded.result);
    worker
}

/// Drives `worker` until `task` is answered (a hang guard of 20 s): its result and console lines.
fn answer_and_logs(worker: &mut Worker, task: TaskId) -> (Result<Answer, RunError>, Vec<String>) {
    let start = Instant::now();
    loop {
        for event in worker.drain_events() {
            if let TaskEvent::Answered(a) = event {
                if a.task == task {
                    return (a.result, a.logs.into_iter().map(|l| l.text).collect());
                }
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no answer");
        let wake = worker
            .next_wake()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(1));
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        worker.advance(Instant::now());
    }
}

fn answer(worker: &mut Worker, task: TaskId) -> Result<Answer, RunError> {
    answer_and_logs(worker, task).0
}

fn assert_ok(result: Result<Answer, RunError>) {
    match result {
        Ok(Answer::Json(json)) => assert_eq!(json, r#"{"outcome":"ok","noRetry":false}"#),
        other => panic!("expected outcome ok, got {other:?}"),
    }
}

fn assert_wall(result: Result<Answer, RunError>) {
    assert!(
        matches!(result, Err(RunError::Limit(LimitKind::Wall))),
        "expected the wall limit, got {result:?}"
    );
}

#[test]
fn a_task_within_a_longer_wall_outlives_the_workers_wall() {
    let mut worker = short_walled();
    let env = serde_json::json!({ "MS": 800 });
    let task = worker.within(Duration::from_secs(5), |w| {
        w.start_scheduled("* * * * *", 0, &env)
    });
    assert_ok(answer(&mut worker, task));
}

#[test]
fn a_task_past_its_own_wall_is_answered_the_wall_limit() {
    let mut worker = short_walled();
    // A longer own limit than the worker's 300 ms, which the task outlives (it logs at 450 ms)
    // and then outlasts.
    let env = serde_json::json!({ "MS": 450, "MORE": 60_000 });
    let task = worker.within(Duration::from_millis(900), |w| {
        w.start_scheduled("* * * * *", 0, &env)
    });
    let (result, logs) = answer_and_logs(&mut worker, task);
    assert_wall(result);
    assert_eq!(logs, ["woke"], "it ran past the worker's wall limit");
}

#[test]
fn tasks_started_after_it_have_the_workers_wall_again() {
    let mut worker = short_walled();
    let env = serde_json::json!({ "MS": 800 });
    let inside = worker.within(Duration::from_secs(5), |w| {
        w.start_scheduled("* * * * *", 0, &env)
    });
    let after = worker.start_scheduled("* * * * *", 0, &env);
    assert_wall(answer(&mut worker, after));
    assert_ok(answer(&mut worker, inside));
}
