//! A continuation belongs to the task that awaited, whichever task's entry runs it: when request
//! B settles a promise request A awaits (state shared in the module), A's console lines, host
//! calls and timers after the `await` are A's, not B's; and once A is over they go nowhere (B's
//! entry does not lend A its identity). Real V8, real tasks of one isolate, no mocks.

mod common;

use common::{engine, limits};
use stockade_isolate::{Answer, Answered, LogLine, Module, ModuleSet, TaskEvent, TaskId, Worker};

/// A awaits `gate` (kept alive by a long timer); B opens it. After the gate, A logs, makes a
/// host call and arms a timer that logs; B logs once.
const SHARED_GATE: &str = r#"
let open;
const gate = new Promise((r) => { open = r; });
export default async (who) => {
  if (who === "A") {
    const keepAlive = setTimeout(() => {}, 5000);
    await gate;
    clearTimeout(keepAlive);
    console.log("A after the gate");
    await new Promise((r) => setTimeout(() => { console.log("A's timer"); r(); }, 1));
    const reply = await __stockadeTestHostCall("test.echo", new TextEncoder().encode("from A"));
    return new TextDecoder().decode(reply);
  }
  console.log("B opens the gate");
  open();
  return "B done";
};
"#;

fn loaded() -> Worker {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", SHARED_GATE)]).expect("set");
    worker.load("main.js", &mut set).result.expect("loads");
    worker.install_test_host_call().expect("test hooks");
    worker
}

fn answered(events: &[TaskEvent], task: TaskId) -> Option<&Answered> {
    events.iter().find_map(|e| match e {
        TaskEvent::Answered(a) if a.task == task => Some(a),
        _ => None,
    })
}

fn texts(logs: &[LogLine]) -> Vec<&str> {
    logs.iter().map(|l| l.text.as_str()).collect()
}

/// Runs timers until a host call is made or 2 s pass.
fn until_host_call(
    worker: &mut Worker,
    events: &mut Vec<TaskEvent>,
) -> Vec<stockade_isolate::HostCall> {
    let start = std::time::Instant::now();
    loop {
        events.extend(worker.drain_events());
        let calls = worker.take_host_calls();
        if !calls.is_empty() || start.elapsed() > std::time::Duration::from_secs(2) {
            return calls;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        worker.advance(std::time::Instant::now());
    }
}

#[test]
fn a_continuation_run_by_a_neighbours_entry_is_its_own_tasks() {
    let mut worker = loaded();
    let a = worker.start_call("\"A\"");
    let b = worker.start_call("\"B\"");
    let mut events = worker.drain_events();
    let b_answer = answered(&events, b).expect("B answered in its entry");
    assert_eq!(
        texts(&b_answer.logs),
        ["B opens the gate"],
        "B's lines are B's only"
    );

    let calls = until_host_call(&mut worker, &mut events);
    assert_eq!(calls.len(), 1, "A's continuation made its host call");
    assert_eq!(calls[0].task, a, "the host call is A's, not B's");
    worker.host_reply(calls[0].call, Ok(b"echo".to_vec()));
    events.extend(worker.drain_events());
    let a_answer = answered(&events, a).expect("A answered");
    assert!(
        matches!(&a_answer.result, Ok(Answer::Json(j)) if j == "\"echo\""),
        "{:?}",
        a_answer.result
    );
    assert_eq!(texts(&a_answer.logs), ["A after the gate", "A's timer"]);
}

#[test]
fn a_continuation_of_a_task_that_is_over_does_nothing_as_its_neighbour() {
    let mut worker = loaded();
    let a = worker.start_call("\"A\"");
    worker.cancel(a); // A's requester is gone; its promise reaction on the gate stays in V8
    let b = worker.start_call("\"B\"");
    let mut events = worker.drain_events();
    let b_answer = answered(&events, b).expect("B answered");
    assert_eq!(
        texts(&b_answer.logs),
        ["B opens the gate"],
        "A's line is not B's"
    );
    // A's timer would have fired by now and its host call been made: neither happens.
    let calls = until_host_call(&mut worker, &mut events);
    assert!(
        calls.is_empty(),
        "a cancelled task's continuation called the host: {calls:?}"
    );
    assert!(
        answered(&events, a).is_none(),
        "a cancelled task is never answered"
    );
}
