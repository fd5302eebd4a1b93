//! A Durable Object's isolate (its `env` names the object, `stockade_source::reserved`): a
//! task's timers and host calls keep it alive after its answer, so what they do still runs for
//! it, and it ends when the last is gone or at its wall limit. In any other isolate a task ends
//! with its answer and its timers never fire (real V8, real timers, no mocks).

mod common;

use std::time::{Duration, Instant};

use common::{engine, limits};
use stockade_isolate::{
    Answer, FetchRequest, LimitKind, Limits, LoadOptions, Module, ModuleSet, RunError, TaskEvent,
    TaskId, Worker,
};
use stockade_source::reserved::OBJECT_ENV_KEY;

/// The handler arms a timer that counts into `fired` (`GET` reads it); `?clear` clears the
/// timer the last request armed; `?interval` arms a 20 ms interval; `?call` makes a host call
/// from the timer; `?throw` arms a timer and throws.
const SRC: &str = "let fired = 0; let last;
export default { async fetch(req) {
  const q = new URL(req.url).search;
  if (req.method === 'GET') return new Response(String(fired));
  if (q === '?clear') { clearTimeout(last); return new Response('cleared'); }
  if (q === '?interval') { setInterval(() => fired++, 20); return new Response('ticking'); }
  if (q === '?throw') { setTimeout(() => fired++, 10); throw new Error('thrown after arming'); }
  if (q === '?call') { setTimeout(() => __stockadeTestHostCall('test.echo').then(() => fired++), 10); return new Response('calling'); }
  last = setTimeout(() => fired++, q === '?long' ? 1e6 : 100);
  return new Response('armed');
} };";

fn loaded(limits: Limits, object: bool) -> Worker {
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    worker.install_test_host_call().expect("test hooks");
    let mut set = ModuleSet::new([Module::new("main.js", SRC)]).expect("set");
    let env = if object {
        serde_json::json!({ OBJECT_ENV_KEY: { "class": "C", "id": "00", "name": null } })
    } else {
        serde_json::json!({})
    };
    let options = LoadOptions {
        env,
        ..LoadOptions::default()
    };
    worker
        .load_with("main.js", &mut set, &options)
        .result
        .expect("loads");
    worker
}

fn post(worker: &mut Worker, query: &str) -> TaskId {
    worker.start_fetch(&FetchRequest {
        method: "POST".into(),
        url: format!("http://x/{query}"),
        ..FetchRequest::default()
    })
}

fn fired(worker: &mut Worker) -> String {
    let (response, _) = worker.fetch(&FetchRequest {
        method: "GET".into(),
        url: "http://x/".into(),
        ..FetchRequest::default()
    });
    String::from_utf8(response.expect("response").body).expect("text")
}

/// Runs the worker's loop (advancing timers) until `task` ended or 10 s pass: its end's error.
fn until_ended(worker: &mut Worker, task: TaskId) -> Option<Option<RunError>> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        for event in worker.drain_events() {
            if let TaskEvent::Ended { task: t, error, .. } = event {
                if t == task {
                    return Some(error);
                }
            }
        }
        let wake = worker.next_wake()?;
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        worker.advance(Instant::now());
    }
    None
}

/// The answer's body and whether the task ended with it.
fn answer(worker: &mut Worker, task: TaskId) -> (String, bool) {
    let events = worker.drain_events();
    let body = events
        .iter()
        .find_map(|e| match e {
            TaskEvent::Answered(a) if a.task == task => match &a.result {
                Ok(Answer::Response(r)) => Some(String::from_utf8_lossy(&r.body).into_owned()),
                other => panic!("{other:?}"),
            },
            _ => None,
        })
        .expect("answered at once");
    let ended = events
        .iter()
        .any(|e| matches!(e, TaskEvent::Ended { task: t, .. } if *t == task));
    (body, ended)
}

#[test]
fn an_objects_task_lives_until_its_timer_fired_and_a_plain_one_ends_with_its_answer() {
    let mut object = loaded(limits(), true);
    let task = post(&mut object, "");
    assert_eq!(answer(&mut object, task), ("armed".into(), false));
    let end = until_ended(&mut object, task);
    assert!(matches!(end, Some(None)), "ends cleanly: {end:?}");
    assert_eq!(fired(&mut object), "1", "the timer fired after the answer");

    let mut plain = loaded(limits(), false);
    let task = post(&mut plain, "");
    assert_eq!(answer(&mut plain, task), ("armed".into(), true));
    std::thread::sleep(Duration::from_millis(300));
    plain.advance(Instant::now());
    assert_eq!(
        fired(&mut plain),
        "0",
        "a plain request's timer died with it"
    );
}

#[test]
fn a_timer_cleared_by_another_task_ends_the_task_that_armed_it() {
    let mut object = loaded(limits(), true);
    let long = post(&mut object, "?long");
    assert_eq!(answer(&mut object, long), ("armed".into(), false));
    let clear = post(&mut object, "?clear");
    let events = object.drain_events();
    let ended: Vec<TaskId> = events
        .iter()
        .filter_map(|e| match e {
            TaskEvent::Ended { task, .. } => Some(*task),
            _ => None,
        })
        .collect();
    assert!(
        ended.contains(&long) && ended.contains(&clear),
        "{events:?}"
    );
}

#[test]
fn a_lingering_interval_ends_at_the_wall_limit_of_its_task() {
    let mut object = loaded(
        Limits {
            wall: Duration::from_millis(500),
            ..limits()
        },
        true,
    );
    let task = post(&mut object, "?interval");
    assert_eq!(answer(&mut object, task), ("ticking".into(), false));
    let end = until_ended(&mut object, task).expect("ended within 10 s");
    assert!(
        matches!(end, Some(RunError::Limit(LimitKind::Wall))),
        "{end:?}"
    );
    let after = fired(&mut object);
    std::thread::sleep(Duration::from_millis(200));
    object.advance(Instant::now());
    assert_eq!(fired(&mut object), after, "no tick after the end");
    assert!(
        after.parse::<u32>().expect("a count") > 0,
        "it ticked after the answer: {after}"
    );
}

#[test]
fn a_lingering_tasks_host_call_goes_out_as_its_own_and_its_answer_ends_it() {
    let mut object = loaded(limits(), true);
    let task = post(&mut object, "?call");
    assert_eq!(answer(&mut object, task), ("calling".into(), false));
    std::thread::sleep(Duration::from_millis(50));
    object.advance(Instant::now());
    let calls = object.take_host_calls();
    assert_eq!(calls.len(), 1, "the timer's host call");
    assert_eq!((calls[0].task, calls[0].name.as_str()), (task, "test.echo"));
    assert!(
        !object
            .drain_events()
            .iter()
            .any(|e| matches!(e, TaskEvent::Ended { .. })),
        "its host call keeps it"
    );
    object.host_reply(calls[0].call, Ok(Vec::new()));
    let end = until_ended(&mut object, task);
    assert!(matches!(end, Some(None)), "{end:?}");
    assert_eq!(fired(&mut object), "1");
}

#[test]
fn a_call_that_threw_keeps_the_timers_it_armed_in_an_object_only() {
    let mut object = loaded(limits(), true);
    let task = post(&mut object, "?throw");
    let events = object.drain_events();
    let threw = events.iter().any(|e| {
        matches!(e, TaskEvent::Answered(a) if a.task == task
            && matches!(&a.result, Err(e) if e.to_string().contains("thrown after arming")))
    });
    assert!(threw, "{events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, TaskEvent::Ended { .. })),
        "its timer keeps it: {events:?}"
    );
    let end = until_ended(&mut object, task);
    assert!(matches!(end, Some(None)), "{end:?}");
    assert_eq!(fired(&mut object), "1");

    let mut plain = loaded(limits(), false);
    let task = post(&mut plain, "?throw");
    let events = plain.drain_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TaskEvent::Ended { task: t, .. } if *t == task)),
        "{events:?}"
    );
    std::thread::sleep(Duration::from_millis(100));
    plain.advance(Instant::now());
    assert_eq!(fired(&mut plain), "0");
}
