//! Helpers shared by the engine's integration tests: a real V8 engine, real isolates.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use stockade_isolate::{
    Answer, Engine, FetchRequest, FetchResponse, Invocation, Limits, LogLine, Module, ModuleSet,
    RunError, TaskEvent, TaskId, V8Profile, Worker,
};

/// How a test loads a worker: `date` (empty: none) and `flags`, an empty env.
pub fn compat(date: &str, flags: &[&str]) -> stockade_isolate::LoadOptions {
    stockade_isolate::LoadOptions {
        compat: stockade_isolate::Compat::parse(
            date,
            &flags.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
        )
        .expect("valid compat"),
        env: serde_json::json!({}),
    }
}

pub fn engine() -> &'static Engine {
    Engine::init(V8Profile::Standard).expect("V8 initialises")
}

pub fn limits() -> Limits {
    Limits {
        cpu: Duration::from_millis(500),
        wall: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// Loads `modules` (main first) and calls the default export with `arg`.
pub fn run_with(limits: Limits, modules: &[(&str, &str)], arg: &str) -> Invocation {
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new(
        modules
            .iter()
            .map(|(n, s)| Module::new(*n, s.as_bytes().to_vec())),
    )
    .expect("module set");
    let loaded = worker.load(modules[0].0, &mut set);
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call(arg)
}

pub fn run(src: &str) -> Invocation {
    run_with(limits(), &[("main.js", src)], "null")
}

pub fn run_ts(src: &str) -> Invocation {
    run_with(limits(), &[("main.ts", src)], "null")
}

pub fn ok(inv: Invocation) -> serde_json::Value {
    match inv.result {
        Ok(json) => serde_json::from_str(&json).expect("result is JSON"),
        Err(e) => panic!("expected success, got {e:?}; logs: {:?}", inv.logs),
    }
}

pub fn err(inv: Invocation) -> RunError {
    match inv.result {
        Ok(json) => panic!("expected an error, got {json}"),
        Err(e) => e,
    }
}

/// A fetch answered through the task API, as a worker process drives it: a streamed answer's
/// `body.write` host calls are collected into `response.body`, and `body.end` ends it (with the
/// error text the prelude sends when the body stream failed). Other host calls are refused.
pub struct Fetched {
    pub response: Result<FetchResponse, RunError>,
    pub end_error: Option<String>,
}

pub fn fetch_with(src: &str, request: &FetchRequest) -> Fetched {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    let loaded = worker.load("main.js", &mut set);
    assert!(loaded.result.is_ok(), "{:?}", loaded.result);
    let task = worker.start_fetch(request);
    let started = Instant::now();
    let mut response = None;
    let mut body = Vec::new();
    let mut end_error = None;
    loop {
        let calls = worker.take_host_calls();
        let busy = !calls.is_empty();
        for call in calls {
            let reply = match call.name.as_str() {
                "body.write" => {
                    body.extend_from_slice(&call.payload);
                    Ok(Vec::new())
                }
                "body.end" => {
                    if !call.payload.is_empty() {
                        end_error = Some(String::from_utf8_lossy(&call.payload).into_owned());
                    }
                    Ok(Vec::new())
                }
                other => Err(format!("this test has no host for `{other}`")),
            };
            worker.host_reply(call.call, reply);
        }
        let mut ended = false;
        for event in worker.drain_events() {
            match event {
                TaskEvent::Answered(a) if a.task == task => {
                    response = Some(a.result.and_then(|answer| match answer {
                        Answer::Response(r) => Ok(r),
                        other => Err(RunError::Internal(format!("not a response: {other:?}"))),
                    }));
                }
                TaskEvent::Ended { task: t, .. } if t == task => ended = true,
                _ => {}
            }
        }
        if ended {
            break;
        }
        if busy {
            continue; // the replies may have made more calls
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the fetch did not end"
        );
        let wake = worker
            .next_wake()
            .unwrap_or_else(|| Instant::now() + Duration::from_millis(1));
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        worker.advance(Instant::now());
    }
    let response = response
        .unwrap_or_else(|| Err(RunError::Internal("the fetch ended unanswered".into())))
        .map(|mut r| {
            if r.streamed {
                r.body = body;
            }
            r
        });
    Fetched {
        response,
        end_error,
    }
}

/// A worker with `src` (an ES module named `main.js`) loaded into a fresh isolate.
pub fn loaded_worker(src: &str) -> Worker {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    let loaded = worker.load("main.js", &mut set);
    assert!(loaded.result.is_ok(), "{:?}", loaded.result);
    worker
}

/// Drives `worker` (timers included, no host) until `task` answers JSON text: the answer parsed
/// and its console lines. Panics on any other answer or after 20 s.
pub fn json_answer(worker: &mut Worker, task: TaskId) -> (serde_json::Value, Vec<LogLine>) {
    let start = Instant::now();
    loop {
        for event in worker.drain_events() {
            if let TaskEvent::Answered(a) = event {
                assert_eq!(a.task, task);
                return match a.result {
                    Ok(Answer::Json(text)) => (serde_json::from_str(&text).expect("JSON"), a.logs),
                    other => panic!("expected JSON, got {other:?}; logs {:?}", a.logs),
                };
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
