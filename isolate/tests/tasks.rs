//! Tasks: many invocations in flight in one isolate and across isolates on one thread, driven by
//! an event loop like the worker process's (real V8, real timers, no mocks).

mod common;

use std::time::{Duration, Instant};

use common::{engine, limits};
use stockade_isolate::{
    Answer, Answered, FetchRequest, LimitKind, Limits, Module, ModuleSet, RunError, TaskEvent,
    TaskId, Worker,
};

fn loaded(limits: Limits, src: &str) -> Worker {
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    worker.load("main.js", &mut set).result.expect("loads");
    worker
}

/// Runs the worker's loop until `until` says stop (or 10 s pass), collecting events.
fn drive(worker: &mut Worker, mut until: impl FnMut(&[TaskEvent]) -> bool) -> Vec<TaskEvent> {
    let start = Instant::now();
    let mut events = Vec::new();
    loop {
        events.extend(worker.drain_events());
        if until(&events) || start.elapsed() > Duration::from_secs(10) {
            return events;
        }
        let Some(wake) = worker.next_wake() else {
            return events;
        };
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        worker.advance(Instant::now());
    }
}

fn answered(events: &[TaskEvent], task: TaskId) -> Option<&Answered> {
    events.iter().find_map(|e| match e {
        TaskEvent::Answered(a) if a.task == task => Some(a),
        _ => None,
    })
}

fn ended(events: &[TaskEvent], task: TaskId) -> bool {
    events
        .iter()
        .any(|e| matches!(e, TaskEvent::Ended { task: t, .. } if *t == task))
}

fn json(a: &Answered) -> serde_json::Value {
    match &a.result {
        Ok(Answer::Json(text)) => serde_json::from_str(text).expect("JSON"),
        other => panic!("expected JSON, got {other:?}"),
    }
}

#[test]
fn a_quick_task_answers_while_another_in_the_same_isolate_sleeps() {
    let src =
        "export default async (ms) => { await new Promise((r) => setTimeout(r, ms)); return ms; };";
    let mut worker = loaded(limits(), src);
    let slow = worker.start_call("300");
    let quick = worker.start_call("0");
    let events = drive(&mut worker, |e| answered(e, slow).is_some());
    let order: Vec<TaskId> = events
        .iter()
        .filter_map(|e| match e {
            TaskEvent::Answered(a) => Some(a.task),
            _ => None,
        })
        .collect();
    assert_eq!(order, [quick, slow]);
    assert_eq!(json(answered(&events, slow).expect("answered")), 300);
    assert!(ended(&events, quick) && ended(&events, slow));
}

#[test]
fn one_thread_drives_many_isolates_waiting_on_timers_at_once() {
    // 50 isolates, each waiting 300 ms: one thread serves them together (serially: 15 s).
    let src =
        "export default async () => { await new Promise((r) => setTimeout(r, 300)); return 1; };";
    let mut workers: Vec<Worker> = (0..50).map(|_| loaded(limits(), src)).collect();
    let start = Instant::now();
    let mut pending: Vec<(usize, TaskId)> = workers
        .iter_mut()
        .enumerate()
        .map(|(i, w)| (i, w.start_call("null")))
        .collect();
    while !pending.is_empty() && start.elapsed() < Duration::from_secs(10) {
        let wake = workers.iter().filter_map(Worker::next_wake).min();
        if let Some(wake) = wake {
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
        let now = Instant::now();
        for w in workers.iter_mut() {
            w.advance(now);
        }
        pending.retain(|(i, task)| {
            let events = workers[*i].drain_events();
            answered(&events, *task).is_none()
        });
    }
    assert!(pending.is_empty(), "{} never answered", pending.len());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn cpu_accumulates_over_a_tasks_entries() {
    // Each round is one entry (a timer callback) burning a few ms of CPU: one round fits the
    // 50 ms budget, forty do not, although no single entry exceeds it.
    let src = "export default async (rounds) => { let x = 0; for (let i = 0; i < rounds; i++) { await new Promise((r) => setTimeout(r, 1)); for (let j = 0; j < 3e6; j++) x += j; } return x > 0; };";
    let limits = Limits {
        cpu: Duration::from_millis(50),
        ..limits()
    };
    let mut worker = loaded(limits.clone(), src);
    let one = worker.start_call("1");
    let events = drive(&mut worker, |e| answered(e, one).is_some());
    let a = answered(&events, one).expect("answered");
    assert_eq!(json(a), true, "one round fits the budget ({:?})", a.cpu);
    let mut worker = loaded(limits, src);
    let forty = worker.start_call("40");
    let events = drive(&mut worker, |e| answered(e, forty).is_some());
    let a = answered(&events, forty).expect("answered");
    assert!(
        matches!(a.result, Err(RunError::Limit(LimitKind::Cpu))),
        "{:?} after {:?} of CPU",
        a.result,
        a.cpu
    );
}

#[test]
fn a_wall_limit_while_waiting_fails_that_task_only() {
    let src =
        "export default async (ms) => { await new Promise((r) => setTimeout(r, ms)); return ms; };";
    let limits = Limits {
        wall: Duration::from_millis(200),
        ..limits()
    };
    let mut worker = loaded(limits, src);
    let late = worker.start_call("5000");
    let events = drive(&mut worker, |e| answered(e, late).is_some());
    assert!(matches!(
        answered(&events, late).expect("answered").result,
        Err(RunError::Limit(LimitKind::Wall))
    ));
    assert!(worker.poisoned().is_none());
    let next = worker.start_call("1");
    let events = drive(&mut worker, |e| answered(e, next).is_some());
    assert_eq!(json(answered(&events, next).expect("answered")), 1);
}

#[test]
fn a_cancelled_task_runs_no_more_of_its_timers() {
    let src = "let ticks = 0; export default async (ms) => { if (ms < 0) return ticks; await new Promise((r) => setTimeout(r, ms)); ticks++; return ticks; };";
    let mut worker = loaded(limits(), src);
    let cancelled = worker.start_call("100");
    worker.cancel(cancelled);
    std::thread::sleep(Duration::from_millis(150));
    worker.advance(Instant::now());
    let events = worker.drain_events();
    assert!(answered(&events, cancelled).is_none() && !ended(&events, cancelled));
    let probe = worker.start_call("-1");
    let events = drive(&mut worker, |e| answered(e, probe).is_some());
    assert_eq!(json(answered(&events, probe).expect("answered")), 0);
}

#[test]
fn wait_until_work_runs_after_the_response_timers_included() {
    let src = "let done = 0; export default { async fetch(req, env, ctx) { if (req.method === 'GET') return new Response(String(done)); ctx.waitUntil(new Promise((r) => setTimeout(() => { done++; r(); }, 100))); return new Response('accepted'); } };";
    let mut worker = loaded(limits(), src);
    let post = worker.start_fetch(&FetchRequest {
        method: "POST".into(),
        url: "http://x/".into(),
        ..FetchRequest::default()
    });
    let events = drive(&mut worker, |e| answered(e, post).is_some());
    match &answered(&events, post).expect("answered").result {
        Ok(Answer::Response(r)) => assert_eq!(r.body, b"accepted"),
        other => panic!("{other:?}"),
    }
    assert!(
        !ended(&events, post),
        "the background work is still pending"
    );
    let events = drive(&mut worker, |e| ended(e, post));
    assert!(ended(&events, post));
    let (response, _) = worker.fetch(&FetchRequest {
        method: "GET".into(),
        url: "http://x/".into(),
        ..FetchRequest::default()
    });
    assert_eq!(response.expect("response").body, b"1");
}

#[test]
fn request_and_response_bodies_cross_as_bytes() {
    let src = "export default { async fetch(req) { const b = new Uint8Array(await req.arrayBuffer()); return new Response(b.map((x) => 255 - x)); } };";
    let mut worker = loaded(limits(), src);
    let body: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let (response, _) = worker.fetch(&FetchRequest {
        method: "POST".into(),
        url: "http://x/".into(),
        body: body.clone(),
        ..FetchRequest::default()
    });
    let expected: Vec<u8> = body.iter().map(|b| 255 - b).collect();
    assert_eq!(response.expect("response").body, expected);
}

#[test]
fn host_calls_leave_the_isolate_and_their_answers_come_back() {
    let src = "export default async (what) => { const enc = new TextEncoder(), dec = new TextDecoder(); try { const r = await __stockadeTestHostCall('test.echo', enc.encode(what)); return ['ok', dec.decode(r)]; } catch (e) { return ['err', e.message]; } };";
    let mut worker = loaded(limits(), src);
    worker.install_test_host_call().expect("test hooks");
    let task = worker.start_call("\"hello\"");
    let calls = worker.take_host_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (
            calls[0].task,
            calls[0].name.as_str(),
            calls[0].payload.as_slice()
        ),
        (task, "test.echo", &b"hello"[..])
    );
    assert!(worker.drain_events().is_empty(), "it waits for the host");
    worker.host_reply(calls[0].call, Ok(b"HELLO".to_vec()));
    let events = worker.drain_events();
    assert_eq!(
        json(answered(&events, task).expect("answered")),
        serde_json::json!(["ok", "HELLO"])
    );

    let failing = worker.start_call("\"x\"");
    let call = worker.take_host_calls().remove(0);
    worker.host_reply(call.call, Err("no such thing".into()));
    let events = worker.drain_events();
    assert_eq!(
        json(answered(&events, failing).expect("answered")),
        serde_json::json!(["err", "no such thing"])
    );
}

/// A fan-out wider than the calls a task may have in flight: 1000 concurrent host calls all
/// complete, never more than `MAX_HOST_CALLS_PER_TASK` (64) unanswered at once, and they leave
/// in the order they were made (a call made by an answer's continuation after those waiting).
#[test]
fn a_thousand_concurrent_host_calls_of_one_task_all_complete_with_at_most_64_in_flight() {
    let src = "export default async () => { const enc = new TextEncoder(), dec = new TextDecoder(); \
        const call = (what) => __stockadeTestHostCall('test.echo', enc.encode(what)).then((r) => dec.decode(r)); \
        const ps = Array.from({ length: 1000 }, (_, i) => call(String(i))); \
        const late = ps[0].then(() => call('late')); \
        const answers = await Promise.all(ps); \
        return [answers.every((a, i) => a === 'answer ' + i), answers.length, await late]; };";
    let mut worker = loaded(limits(), src);
    worker.install_test_host_call().expect("test hooks");
    let task = worker.start_call("null");
    assert_eq!(stockade_isolate::MAX_HOST_CALLS_PER_TASK, 64);
    let mut outstanding: std::collections::VecDeque<(u32, Vec<u8>)> = Default::default();
    let (mut sent, mut most, mut round) = (Vec::new(), 0, 0usize);
    let mut events = Vec::new();
    while answered(&events, task).is_none() {
        for call in worker.take_host_calls() {
            assert_eq!(call.task, task);
            sent.push(String::from_utf8(call.payload.clone()).expect("text"));
            outstanding.push_back((call.call, call.payload));
        }
        most = most.max(outstanding.len());
        assert!(
            outstanding.len() <= 64,
            "{} host calls of one task unanswered at once",
            outstanding.len()
        );
        assert!(!outstanding.is_empty(), "the task waits on nothing");
        // Answer a few at a time, not always the oldest first.
        round += 1;
        for _ in 0..(round % 5 + 1).min(outstanding.len()) {
            let (call, payload) = if round % 2 == 0 {
                outstanding.pop_front()
            } else {
                outstanding.pop_back()
            }
            .expect("a call");
            let mut answer = b"answer ".to_vec();
            answer.extend_from_slice(&payload);
            worker.host_reply(call, Ok(answer));
        }
        events.extend(worker.drain_events());
    }
    assert_eq!(
        json(answered(&events, task).expect("answered")),
        serde_json::json!([true, 1000, "answer late"])
    );
    assert_eq!(most, 64, "the task used every place in flight");
    let mut expected: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    expected.push("late".into());
    assert_eq!(sent, expected, "the calls left in the order they were made");
    assert!(ended(&events, task));
}

/// The calls waiting for a place are bounded, in number and in payload bytes: a call past either
/// bound is refused at once with a RangeError naming it (not "the host refused the call"), the
/// calls before it go on, and a task that ends drops the calls it had waiting (those it made
/// still go out).
#[test]
fn a_tasks_waiting_host_calls_are_bounded_with_a_clear_error() {
    use stockade_isolate::{MAX_QUEUED_HOST_CALLS_PER_TASK, MAX_QUEUED_HOST_CALL_BYTES_PER_TASK};
    assert_eq!(
        (
            MAX_QUEUED_HOST_CALLS_PER_TASK,
            MAX_QUEUED_HOST_CALL_BYTES_PER_TASK
        ),
        (10_000, 64 << 20)
    );
    // (n calls without a payload, m calls of 1 MiB after them, whether to wait for all): the
    // outcome of the last five.
    let src = "export default async ([n, m, all]) => { const ps = []; const mib = new Uint8Array(1 << 20); \
        for (let i = 0; i < n + m; i++) ps.push(__stockadeTestHostCall('test.echo', i < n ? undefined : mib) \
          .then(() => 'ok', (e) => [e.name, e.message])); \
        if (all) await Promise.all(ps); return Promise.all(ps.slice(-5)); };";
    let mut worker = loaded(limits(), src);
    worker.install_test_host_call().expect("test hooks");
    let refusals = |v: &serde_json::Value| -> Vec<(String, String)> {
        v.as_array()
            .expect("array")
            .iter()
            .filter_map(|r| Some((r[0].as_str()?.to_string(), r[1].as_str()?.to_string())))
            .collect()
    };

    // By number: 64 in flight, 10,000 waiting, the last five refused (the task answers with
    // them at once, and its calls end with it).
    let task = worker.start_call("[10069, 0, false]");
    let events = worker.drain_events();
    let v = json(answered(&events, task).expect("the refusals settle at once"));
    let refused = refusals(&v);
    assert_eq!(refused.len(), 5, "{v}");
    for (name, message) in &refused {
        assert_eq!(name, "RangeError");
        assert!(
            message.contains("more than 10000 host calls waiting in this request"),
            "{message}"
        );
        assert!(!message.contains("refused"), "{message}");
    }
    // It ended well: the 64 calls it made still go out (answered, they wake nothing); the
    // 10,000 waiting for a place went with it.
    let sent = worker.take_host_calls();
    assert_eq!(sent.len(), 64, "the calls it made");
    assert!(sent.iter().all(|c| c.task == task));
    for call in sent {
        worker.host_reply(call.call, Ok(Vec::new()));
    }
    assert!(worker.take_host_calls().is_empty(), "none of those waiting");
    assert!(worker.drain_events().is_empty());

    // By bytes: 64 in flight, 64 calls of 1 MiB waiting (64 MiB), the next refused; the rest
    // complete as the host answers.
    let task = worker.start_call("[64, 69, true]");
    let mut calls = worker.take_host_calls();
    assert_eq!(calls.len(), 64, "64 in flight");
    let mut events = Vec::new();
    let mut answers = 0;
    while answered(&events, task).is_none() {
        assert!(!calls.is_empty(), "the task waits on nothing");
        assert!(calls.len() <= 64);
        for call in calls {
            answers += 1;
            worker.host_reply(call.call, Ok(Vec::new()));
        }
        events.extend(worker.drain_events());
        calls = worker.take_host_calls();
    }
    assert_eq!(
        answers,
        64 + 64,
        "every call not refused was sent and answered"
    );
    let v = json(answered(&events, task).expect("answered"));
    let refused = refusals(&v);
    assert_eq!(refused.len(), 5, "{v}");
    for (name, message) in &refused {
        assert_eq!(name, "RangeError");
        assert!(
            message.contains("the host calls waiting in this request would hold more than 64 MiB"),
            "{message}"
        );
    }

    // A task that ends (here: cancelled) drops its calls in flight and waiting: nothing more
    // leaves, late answers are ignored, and the isolate serves on.
    let src = "export default async (n) => { if (n === 0) return 'still here'; \
        await Promise.all(Array.from({ length: n }, () => __stockadeTestHostCall('test.echo'))); return 'all'; };";
    let mut worker = loaded(limits(), src);
    worker.install_test_host_call().expect("test hooks");
    let task = worker.start_call("500");
    let calls = worker.take_host_calls();
    assert_eq!(calls.len(), 64);
    worker.cancel(task);
    for call in calls {
        worker.host_reply(call.call, Ok(Vec::new()));
    }
    assert!(
        worker.take_host_calls().is_empty(),
        "its waiting calls are dropped"
    );
    assert!(
        worker.drain_events().is_empty(),
        "a cancelled task says nothing"
    );
    assert!(!worker.busy());
    let next = worker.start_call("0");
    let events = worker.drain_events();
    assert_eq!(
        json(answered(&events, next).expect("answered")),
        "still here"
    );
}

/// Calls waiting for a place count against the task's wall-clock limit (not its CPU): a task
/// whose calls in flight are never answered ends at its wall limit, its waiting calls with it.
#[test]
fn host_calls_waiting_for_a_place_count_against_the_wall_limit_only() {
    let src = "export default async () => { await Promise.all(Array.from({ length: 100 }, () => __stockadeTestHostCall('test.echo'))); return 'all'; };";
    let limits = Limits {
        wall: Duration::from_millis(300),
        ..limits()
    };
    let mut worker = loaded(limits, src);
    worker.install_test_host_call().expect("test hooks");
    let task = worker.start_call("null");
    assert_eq!(worker.take_host_calls().len(), 64);
    let events = drive(&mut worker, |e| answered(e, task).is_some());
    let a = answered(&events, task).expect("answered");
    assert!(
        matches!(a.result, Err(RunError::Limit(LimitKind::Wall))),
        "{:?}",
        a.result
    );
    assert!(a.cpu < Duration::from_millis(200), "{:?}", a.cpu);
    assert!(worker.take_host_calls().is_empty());
    assert!(!worker.busy());
}

#[test]
fn a_task_that_waits_on_nothing_is_reported_at_once() {
    let mut worker = loaded(limits(), "export default () => new Promise(() => {});");
    let task = worker.start_call("null");
    let events = worker.drain_events();
    assert!(matches!(
        answered(&events, task).expect("answered").result,
        Err(RunError::NeverSettled)
    ));
}

#[test]
fn fetch_leaves_as_a_host_call_and_its_answer_becomes_a_response() {
    let src = "export default async () => { const r = await fetch('https://api.example/v1/x?q=1', { method: 'POST', headers: { 'x-a': 'b' }, body: 'hi' }); return [r.status, r.statusText, r.headers.get('content-type'), r.url, r.redirected, await r.text()]; };";
    let mut worker = loaded(limits(), src);
    let task = worker.start_call("null");
    let calls = worker.take_host_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "fetch");
    let p = &calls[0].payload;
    let n = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize;
    let head: serde_json::Value = serde_json::from_slice(&p[4..4 + n]).expect("head");
    assert_eq!(
        head,
        serde_json::json!({"method": "POST", "url": "https://api.example/v1/x?q=1", "headers": [["content-type", "text/plain;charset=UTF-8"], ["x-a", "b"]], "redirect": "follow", "call": 1})
    );
    assert_eq!(&p[4 + n..], b"hi");
    let reply_head = serde_json::json!({"status": 201, "statusText": "Created", "headers": [["content-type", "text/plain"]], "url": "https://api.example/v1/y", "redirected": true}).to_string();
    let mut reply = (reply_head.len() as u32).to_le_bytes().to_vec();
    reply.extend_from_slice(reply_head.as_bytes());
    reply.extend_from_slice(b"made");
    worker.host_reply(calls[0].call, Ok(reply));
    let events = worker.drain_events();
    assert_eq!(
        json(answered(&events, task).expect("answered")),
        serde_json::json!([
            201,
            "Created",
            "text/plain",
            "https://api.example/v1/y",
            true,
            "made"
        ])
    );
}

#[test]
fn outbound_requests_are_limited_per_invocation() {
    let src = "export default async () => { const out = []; for (let i = 0; i < 4; i++) { try { await fetch('https://a.example/'); out.push('ok'); } catch (e) { out.push(e.message); } } return out; };";
    let limits = Limits {
        sub_requests: 2,
        ..limits()
    };
    let mut worker = loaded(limits, src);
    let task = worker.start_call("null");
    let empty = {
        let head = serde_json::json!({"status": 200, "statusText": "", "headers": [], "url": "https://a.example/", "redirected": false}).to_string();
        let mut b = (head.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(head.as_bytes());
        b
    };
    let mut answered_calls = 0;
    for _ in 0..10 {
        for call in worker.take_host_calls() {
            answered_calls += 1;
            worker.host_reply(call.call, Ok(empty.clone()));
        }
    }
    let events = worker.drain_events();
    let v = json(answered(&events, task).expect("answered"));
    assert_eq!(answered_calls, 2);
    assert_eq!(v[0], "ok");
    assert_eq!(v[1], "ok");
    assert!(
        v[2].as_str().is_some_and(|m| m.contains("subRequests")),
        "{v}"
    );
}

#[test]
fn background_work_calls_the_host_after_the_response_until_its_task_ends() {
    let src = "let seen = 'none'; export default { async fetch(req, env, ctx) { if (req.method === 'GET') return new Response(seen); ctx.waitUntil(new Promise((r) => setTimeout(r, 10)).then(() => __stockadeTestHostCall('test.echo')).then((b) => { seen = new TextDecoder().decode(b); }, (e) => { seen = e.message; })); return new Response('accepted'); } };";
    let mut worker = loaded(limits(), src);
    worker.install_test_host_call().expect("test hooks");
    let post = worker.start_fetch(&FetchRequest {
        method: "POST".into(),
        url: "http://x/".into(),
        ..FetchRequest::default()
    });
    // Answered first; the call comes from the background work, for the same task.
    let events = drive(&mut worker, |e| answered(e, post).is_some());
    assert!(!ended(&events, post));
    std::thread::sleep(Duration::from_millis(30));
    worker.advance(Instant::now());
    assert!(
        !ended(&worker.drain_events(), post),
        "its host call keeps it alive"
    );
    let calls = worker.take_host_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].task, post);
    worker.host_reply(calls[0].call, Ok(b"late".to_vec()));
    let events = drive(&mut worker, |e| ended(e, post));
    assert!(events
        .iter()
        .any(|e| matches!(e, TaskEvent::Ended { task, error: None, .. } if *task == post)));
    let (response, _) = worker.fetch(&FetchRequest {
        method: "GET".into(),
        url: "http://x/".into(),
        ..FetchRequest::default()
    });
    assert_eq!(response.expect("response").body, b"late");
    // After its task ended, nothing is left that could call for it.
    assert!(worker.take_host_calls().is_empty());
}

#[test]
fn an_rpc_task_calls_a_method_with_decoded_arguments_and_answers_encoded() {
    let src = "export default { add(a, b) { return a + b; }, kinds(u8, d, m, s) { return [u8 instanceof Uint8Array, d instanceof Date, m instanceof Map, s instanceof Set, u8.length, m.get('k')]; }, async slow() { await new Promise((r) => setTimeout(r, 20)); return { $: 'own dollar' }; }, throws() { throw new RangeError('nope'); } };
export const Obj = { twice(x) { return x * 2; } };
export class Api { constructor() { this.own = 1; } get v() { return 7; } }";
    let mut worker = loaded(limits(), src);
    let env = serde_json::json!({});
    let add = worker.start_rpc("", "add", "[2, 3]", &env);
    let kinds = worker.start_rpc(
        "",
        "kinds",
        r#"[{"$":"u8","v":"AAH/"},{"$":"d","v":5},{"$":"m","v":[["k",{"$":"u"}]]},{"$":"s","v":[1]}]"#,
        &env,
    );
    let slow = worker.start_rpc("", "slow", "[]", &env);
    let throws = worker.start_rpc("", "throws", "[]", &env);
    let named = worker.start_rpc("Obj", "twice", "[21]", &env);
    let inherited = worker.start_rpc("", "toString", "[]", &env);
    let missing = worker.start_rpc("Nope", "x", "[]", &env);
    let bad = worker.start_rpc("", "add", "{}", &env);
    // `{"get": 1}` reads a property of the class (`await stub.v`), never an own field.
    let getter = worker.start_rpc("Api", "v", r#"{"get": 1}"#, &env);
    let own = worker.start_rpc("Api", "own", r#"{"get":1}"#, &env);
    let not_get = worker.start_rpc("Api", "v", r#"{"get": 2}"#, &env);
    let events = drive(&mut worker, |e| answered(e, slow).is_some());
    let get = |task| json(answered(&events, task).expect("answered"));
    assert_eq!(get(add), serde_json::json!({ "ok": 5 }));
    assert_eq!(
        get(kinds),
        serde_json::json!({ "ok": [true, true, true, true, 3, { "$": "u" }] })
    );
    assert_eq!(
        get(slow),
        serde_json::json!({ "ok": { "$": "o", "v": { "$": "own dollar" } } })
    );
    assert_eq!(
        get(throws),
        serde_json::json!({ "error": { "name": "RangeError", "message": "nope" } })
    );
    assert_eq!(get(named), serde_json::json!({ "ok": 42 }));
    assert_eq!(get(inherited)["error"]["name"], "TypeError");
    assert_eq!(get(missing)["error"]["name"], "TypeError");
    assert!(
        matches!(
            answered(&events, bad).expect("answered").result,
            Err(RunError::InvalidInput(_))
        ),
        "arguments that are not a list are refused before any code runs"
    );
    assert_eq!(get(getter), serde_json::json!({ "ok": 7 }));
    assert_eq!(get(own), serde_json::json!({ "ok": { "$": "u" } }));
    assert!(matches!(
        answered(&events, not_get).expect("answered").result,
        Err(RunError::InvalidInput(_))
    ));
}

/// A call that continues a stream the request holds (`fetch.read`, `body.write`, ...) never
/// waits for a place and takes none: with every place held and calls waiting, it goes out at
/// once, and its answer frees no place for the waiting calls.
#[test]
fn a_call_that_continues_a_stream_goes_out_at_once_and_takes_no_place() {
    let src = "export default async () => { const enc = new TextEncoder(); \
        const call = (name, what) => __stockadeTestHostCall(name, enc.encode(what)); \
        const ps = Array.from({ length: 70 }, (_, i) => call('test.echo', String(i))); \
        await new Promise((r) => setTimeout(r, 0)); \
        const read = await call('fetch.read', 'stream'); \
        await Promise.all(ps); return new TextDecoder().decode(read); };";
    let mut worker = loaded(limits(), src);
    worker.install_test_host_call().expect("test hooks");
    let task = worker.start_call("null");
    let mut events = worker.drain_events();
    let first = worker.take_host_calls();
    assert_eq!(first.len(), 64, "every place taken, six calls waiting");
    // The timer fires; the stream's call goes out though every place is held.
    let mut continued = Vec::new();
    for _ in 0..100 {
        events.extend(worker.drain_events());
        continued = worker.take_host_calls();
        if !continued.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        worker.advance(std::time::Instant::now());
    }
    assert_eq!(
        continued.len(),
        1,
        "{:?}",
        continued.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    assert_eq!(continued[0].name, "fetch.read");
    // Its answer frees no place: nothing waiting goes out.
    worker.host_reply(continued[0].call, Ok(b"streamed".to_vec()));
    events.extend(worker.drain_events());
    assert!(
        worker.take_host_calls().is_empty(),
        "a waiting call took a place it never had"
    );
    // The counted ones, answered, let the waiting six go, and the task ends.
    for call in first {
        worker.host_reply(call.call, Ok(Vec::new()));
    }
    events.extend(worker.drain_events());
    let rest = worker.take_host_calls();
    assert_eq!(rest.len(), 6);
    for call in rest {
        worker.host_reply(call.call, Ok(Vec::new()));
    }
    events.extend(worker.drain_events());
    assert_eq!(
        json(answered(&events, task).expect("answered")),
        serde_json::json!("streamed")
    );
}

#[test]
fn a_reused_isolate_forgets_the_pending_timers_of_requests_that_ended() {
    // Each call leaves a pending timer whose callback holds 4 MiB, then ends: its timer can
    // never fire. 100 calls would keep 400 MiB of callbacks (the isolate's limit is 128 MiB)
    // if the runtime remembered them; the host hands their ids back and the runtime forgets
    // them, so every call succeeds, a cancelled call's timers included.
    let src = "export default (i) => {
                 const held = new Array(1 << 19).fill(i);
                 setTimeout(() => held.length, 1e9);
                 setInterval(() => held.length, 1e9);
                 return i;
               };";
    let mut worker = loaded(limits(), src);
    for i in 0..100 {
        if i % 10 == 5 {
            let cancelled = worker.start_call(&i.to_string());
            worker.cancel(cancelled);
            continue;
        }
        let call = worker.start_call(&i.to_string());
        let events = drive(&mut worker, |e| answered(e, call).is_some());
        assert_eq!(
            json(answered(&events, call).expect("answered")),
            i,
            "call {i}"
        );
    }
}
