//! Promise rejections nothing handles, in real V8 isolates: the `unhandledrejection` and
//! `rejectionhandled` events at the global scope (`PromiseRejectionEvent`), the "Uncaught (in
//! promise)" console line of one no listener canceled, and what stays a task's own failure (a
//! handler's rejected promise, a module's top-level rejection).
mod common;

use common::*;
use stockade_isolate::{FetchRequest, LogLevel, Module, ModuleSet, RunError, Worker};

fn get(url: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: Vec::new(),
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({}),
    }
}

fn loaded(src: &str) -> Worker {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    let load = worker.load("main.js", &mut set);
    assert!(load.result.is_ok(), "{:?}", load.result);
    worker
}

/// (body text, [(level, text)] of the console) of one request to `worker`.
fn fetch_text(worker: &mut Worker, url: &str) -> (String, Vec<(LogLevel, String)>) {
    let (response, inv) = worker.fetch(&get(url));
    let logs: Vec<(LogLevel, String)> =
        inv.logs.iter().map(|l| (l.level, l.text.clone())).collect();
    match response {
        Ok(r) => (String::from_utf8_lossy(&r.body).into_owned(), logs),
        Err(e) => panic!("{e:?}; logs: {logs:?}"),
    }
}

fn in_promise(logs: &[(LogLevel, String)]) -> Vec<&str> {
    logs.iter()
        .filter(|(_, t)| t.starts_with("Uncaught (in promise)"))
        .map(|(level, t)| {
            assert_eq!(*level, LogLevel::Error, "{t}");
            t.as_str()
        })
        .collect()
}

const SEEN: &str = "const seen = [];
    addEventListener('unhandledrejection', (e) => {
      seen.push(['unhandled', e instanceof PromiseRejectionEvent, String(e.reason), e.cancelable,
                 e.isTrusted, e.promise instanceof Promise]);
      if (String(e.reason).includes('quiet')) e.preventDefault();
    });
    addEventListener('rejectionhandled', (e) => {
      seen.push(['handled', String(e.reason), e.cancelable, e.isTrusted]);
    });
    const tick = (ms) => new Promise((r) => setTimeout(r, ms));";

#[test]
fn a_floating_rejection_fires_unhandledrejection_and_is_logged_unless_canceled() {
    let src = format!(
        "{SEEN}
        export default {{ async fetch() {{
          Promise.reject(new Error('floating'));
          Promise.reject(new Error('quiet one'));
          (async () => {{ await tick(1); throw new TypeError('from a timer continuation'); }})();
          await tick(20);
          return Response.json(seen);
        }} }};"
    );
    let mut worker = loaded(&src);
    let (body, logs) = fetch_text(&mut worker, "https://w.test/");
    let seen: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        seen,
        serde_json::json!([
            ["unhandled", true, "Error: floating", true, true, true],
            ["unhandled", true, "Error: quiet one", true, true, true],
            [
                "unhandled",
                true,
                "TypeError: from a timer continuation",
                true,
                true,
                true
            ]
        ])
    );
    let lines = in_promise(&logs);
    assert_eq!(lines.len(), 2, "the canceled one is not logged: {logs:?}");
    assert!(lines[0].contains("Error: floating"), "{lines:?}");
    assert!(
        lines[1].contains("TypeError: from a timer continuation"),
        "{lines:?}"
    );
}

#[test]
fn a_rejection_handled_later_fires_rejectionhandled_and_one_handled_in_time_fires_nothing() {
    let src = format!(
        "{SEEN}
        export default {{ async fetch() {{
          const late = Promise.reject(new Error('late'));
          const awaited = Promise.reject(new Error('awaited'));
          try {{ await awaited; }} catch {{}}
          const microtask = Promise.reject(new Error('microtask'));
          await null; await null;
          microtask.catch(() => {{}});
          await tick(5);
          late.catch(() => {{}});
          await tick(5);
          return Response.json(seen);
        }} }};"
    );
    let mut worker = loaded(&src);
    let (body, logs) = fetch_text(&mut worker, "https://w.test/");
    let seen: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        seen,
        serde_json::json!([
            ["unhandled", true, "Error: late", true, true, true],
            ["handled", "Error: late", false, true]
        ])
    );
    assert_eq!(in_promise(&logs).len(), 1, "{logs:?}");
}

#[test]
fn a_handler_s_own_rejection_stays_the_request_s_failure() {
    // A fetch handler whose promise rejects, a snippet that throws, a module whose top level
    // rejects: each is its task's error, never an unhandledrejection.
    let src = format!(
        "{SEEN}
        export default {{ async fetch(request) {{
          if (request.url.endsWith('/seen')) return Response.json(seen);
          throw new RangeError('the handler failed');
        }} }};"
    );
    let mut worker = loaded(&src);
    let (response, inv) = worker.fetch(&get("https://w.test/fail"));
    match response {
        Err(RunError::Threw { message, .. }) => {
            assert!(message.contains("the handler failed"), "{message}")
        }
        other => panic!("expected the handler's error, got {other:?}"),
    }
    assert!(
        inv.logs.iter().all(|l| !l.text.contains("in promise")),
        "{:?}",
        inv.logs
    );
    let sync = "export default { fetch() { return Promise.reject(new Error('returned')); } };";
    let mut plain = loaded(sync);
    let (response, inv) = plain.fetch(&get("https://w.test/"));
    assert!(
        matches!(response, Err(RunError::Threw { ref message, .. }) if message.contains("returned")),
        "{response:?}"
    );
    assert!(inv.logs.is_empty(), "{:?}", inv.logs);
    let (body, _) = fetch_text(&mut worker, "https://w.test/seen");
    assert_eq!(body, "[]");

    let inv = run(
        "addEventListener('unhandledrejection', () => console.log('event'));
        export default async () => { throw new Error('snippet failed'); };",
    );
    assert!(
        matches!(&inv.result, Err(RunError::Threw { message, .. }) if message.contains("snippet failed")),
        "{:?}",
        inv.result
    );
    assert!(inv.logs.is_empty(), "{:?}", inv.logs);

    let inv = run(
        "addEventListener('unhandledrejection', () => console.log('event'));
        await null;
        throw new Error('top level');",
    );
    assert!(
        matches!(&inv.result, Err(RunError::Threw { message, .. }) if message.contains("top level")),
        "{:?}",
        inv.result
    );
    assert!(inv.logs.is_empty(), "{:?}", inv.logs);
}

#[test]
fn a_snippet_s_floating_rejection_is_in_its_logs() {
    let inv = run("export default async () => {
        Promise.reject(new Error('nobody listens'));
        await new Promise((r) => setTimeout(r, 1));
        return 1;
      };");
    assert!(matches!(inv.result.as_deref(), Ok("1")), "{:?}", inv.result);
    let logs: Vec<(LogLevel, String)> =
        inv.logs.iter().map(|l| (l.level, l.text.clone())).collect();
    let lines = in_promise(&logs);
    assert_eq!(lines.len(), 1, "{logs:?}");
    assert!(lines[0].contains("Error: nobody listens"), "{lines:?}");
}

#[test]
fn each_request_s_rejection_goes_to_its_own_logs() {
    // Two requests of one isolate interleave; each floating rejection is logged by the request
    // whose code rejected it, even when the other's entry runs the checkpoint.
    let src = "export default { async fetch(request) {
        const name = new URL(request.url).pathname;
        await new Promise((r) => setTimeout(r, name === '/a' ? 1 : 5));
        Promise.reject(new Error('from ' + name));
        await new Promise((r) => setTimeout(r, 10));
        return new Response(name);
      } };";
    let mut worker = loaded(src);
    let a = worker.start_fetch(&get("https://w.test/a"));
    let b = worker.start_fetch(&get("https://w.test/b"));
    let mut logs = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while logs.len() < 2 && std::time::Instant::now() < deadline {
        for event in worker.drain_events() {
            if let stockade_isolate::TaskEvent::Answered(answered) = event {
                let texts: Vec<String> = answered.logs.iter().map(|l| l.text.clone()).collect();
                logs.insert(answered.task, texts);
            }
        }
        if let Some(wake) = worker.next_wake() {
            std::thread::sleep(wake.saturating_duration_since(std::time::Instant::now()));
            worker.advance(std::time::Instant::now());
        }
    }
    for (task, path) in [(a, "/a"), (b, "/b")] {
        let lines = logs.get(&task).expect("answered");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("Uncaught (in promise) Error: from ") && lines[0].contains(path),
            "{lines:?}"
        );
    }
}

#[test]
fn promise_rejection_event_is_a_constructible_event() {
    let inv = run("export default () => {
        const p = Promise.resolve(1);
        const e = new PromiseRejectionEvent('unhandledrejection', { promise: p, reason: 7, cancelable: true });
        const errors = [];
        for (const args of [['x'], ['x', {}], ['x', { promise: 1 }], ['x', null]]) {
          try { new PromiseRejectionEvent(...args); errors.push('made'); } catch (err) { errors.push(err.name); }
        }
        e.preventDefault();
        return [e.type, e.promise === p, e.reason, e.cancelable, e.defaultPrevented, e.isTrusted,
                e instanceof Event, Object.prototype.toString.call(e), errors,
                dispatchEvent(new PromiseRejectionEvent('unhandledrejection', { promise: p }))];
      };");
    assert_eq!(
        ok(inv),
        serde_json::json!([
            "unhandledrejection",
            true,
            7,
            true,
            true,
            false,
            true,
            "[object PromiseRejectionEvent]",
            ["TypeError", "TypeError", "TypeError", "TypeError"],
            true
        ])
    );
}

#[test]
fn a_flood_of_rejections_is_capped_and_counted() {
    let inv = run("export default async () => {
        for (let i = 0; i < 10005; i++) Promise.reject(i);
        await new Promise((r) => setTimeout(r, 1));
        return 1;
      };");
    assert!(matches!(inv.result.as_deref(), Ok("1")), "{:?}", inv.result);
    let lines: Vec<&str> = inv.logs.iter().map(|l| l.text.as_str()).collect();
    assert!(
        lines.contains(&"5 more promise rejections with no handler were not reported"),
        "{:?}",
        &lines[lines.len().saturating_sub(3)..]
    );
}

#[test]
fn a_queue_microtask_callback_that_throws_is_an_error_event_not_a_rejection() {
    // As HTML and workerd report it: an ErrorEvent "error" and an "Uncaught" line.
    let inv = run("export default async () => {
        const seen = [];
        addEventListener('error', (e) => seen.push(['error', e.message]));
        addEventListener('unhandledrejection', (e) => seen.push(['unhandled', String(e.reason)]));
        queueMicrotask(() => { throw new Error('from a microtask'); });
        await new Promise((r) => setTimeout(r, 1));
        return seen;
      };");
    let logs: Vec<String> = inv.logs.iter().map(|l| l.text.clone()).collect();
    assert_eq!(ok(inv), serde_json::json!([["error", "from a microtask"]]));
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0].starts_with("Uncaught Error: from a microtask"),
        "{logs:?}"
    );
}

#[test]
fn the_runtime_s_own_promises_never_log_a_rejection() {
    // Streams, bodies, abort signals and scheduler.wait reject internal promises as they fail;
    // the runtime marks them handled, so only what tenant code left unhandled is reported.
    let inv = run("export default async () => {
        const errored = new ReadableStream({ start(c) { c.error(new Error('stream failed')); } });
        try { await errored.getReader().read(); } catch {}
        try { await new Response(new ReadableStream({ pull(c) { c.error(new Error('pull')); } })).text(); } catch {}
        const ac = new AbortController();
        const piped = new ReadableStream({ pull() {} }).pipeTo(new WritableStream(), { signal: ac.signal });
        ac.abort(new Error('aborted'));
        try { await piped; } catch {}
        const ts = new TransformStream({ transform() { throw new Error('transform'); } });
        const w = ts.writable.getWriter();
        const read = ts.readable.getReader().read();
        try { await w.write('x'); } catch {}
        try { await read; } catch {}
        const wait = new AbortController();
        const waiting = scheduler.wait(50, { signal: wait.signal });
        wait.abort();
        try { await waiting; } catch {}
        const writer = new WritableStream({ write() { throw new Error('sink'); } }).getWriter();
        try { await writer.write(1); } catch {}
        try { await writer.close(); } catch {}
        await new Promise((r) => setTimeout(r, 5));
        return 'done';
      };");
    let logs: Vec<String> = inv.logs.iter().map(|l| l.text.clone()).collect();
    assert_eq!(ok(inv), serde_json::json!("done"));
    assert!(logs.is_empty(), "{logs:?}");
}

#[test]
fn a_listener_is_under_the_request_s_limits_and_cannot_keep_the_pump() {
    // A listener that spins is the request's CPU limit, like any code of the request.
    let inv = run(
        "addEventListener('unhandledrejection', () => { for (;;) {} });
        export default async () => { Promise.reject(1); await null; return 1; };",
    );
    assert!(
        matches!(inv.result, Err(RunError::Limit(_))),
        "{:?}",
        inv.result
    );
    // One that rejects a fresh promise each time is bounded per checkpoint: the request ends.
    let inv = run("let n = 0;
        addEventListener('unhandledrejection', (e) => { e.preventDefault(); n++; Promise.reject(n); });
        export default async () => { Promise.reject(0); await new Promise((r) => setTimeout(r, 1)); return n > 0; };");
    assert_eq!(ok(inv), serde_json::json!(true));
}
