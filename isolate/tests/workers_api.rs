//! The Workers-only APIs inside real V8 isolates (the prelude as the engine's snapshot ships it):
//! `navigator`, `scheduler.wait`, `request.cf`, the service-worker syntax (`addEventListener
//! ("fetch")` with `respondWith`, `waitUntil`, `passThroughOnException`, env bindings as globals)
//! and `structuredClone` with `transfer`.
mod common;

use std::time::{Duration, Instant};

use common::*;
use stockade_isolate::{Answer, FetchRequest, Module, ModuleSet, RunError, TaskEvent, Worker};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!("export default async () => {{ {body} }};")))
}

fn get(url: &str, headers: &[(&str, &str)], env: serde_json::Value) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: url.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: Vec::new(),
        body_streamed: false,
        encode_body: false,
        env,
    }
}

fn loaded(src: &str) -> Worker {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    let load = worker.load("main.js", &mut set);
    assert!(load.result.is_ok(), "{:?}", load.result);
    worker
}

/// (status, body text, log texts) of one request to a fresh worker of `src`.
fn answer(src: &str, request: &FetchRequest) -> (u16, String, Vec<String>) {
    let mut worker = loaded(src);
    let (response, inv) = worker.fetch(request);
    let logs = inv.logs.iter().map(|l| l.text.clone()).collect();
    match response {
        Ok(r) => (
            r.status,
            String::from_utf8_lossy(&r.body).into_owned(),
            logs,
        ),
        Err(e) => panic!("{e:?}; logs: {logs:?}"),
    }
}

#[test]
fn navigator_reports_what_workerd_reports() {
    let v = eval(
        "return [navigator.userAgent, navigator.hardwareConcurrency, typeof Navigator,
                 Object.prototype.toString.call(navigator), (() => { try { new Navigator(); return 'made'; } catch (e) { return e.name; } })()];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "Cloudflare-Workers",
            1,
            "function",
            "[object Navigator]",
            "TypeError"
        ])
    );
}

#[test]
fn scheduler_wait_sleeps_and_follows_its_signal() {
    let v = eval(
        "const t0 = Date.now(); await scheduler.wait(40); const slept = Date.now() - t0;
         const c = new AbortController(); setTimeout(() => c.abort(new RangeError('stop')), 5);
         const t1 = Date.now();
         const aborted = await scheduler.wait(10000, { signal: c.signal }).then(() => 'resolved', (e) => e.name);
         const early = Date.now() - t1;
         const pre = await scheduler.wait(1, { signal: AbortSignal.abort() }).then(() => 'resolved', (e) => e.name);
         const bad = await scheduler.wait(1, { signal: {} }).then(() => 'resolved', (e) => e.name);
         return [slept >= 40, aborted, early < 5000, pre, bad];",
    );
    assert_eq!(
        v,
        serde_json::json!([true, "RangeError", true, "AbortError", "TypeError"])
    );
}

#[test]
fn request_cf_is_the_hosts_and_absent_on_requests_the_tenant_builds() {
    let src = "export default { fetch(req) {
        const own = new Request('https://x.test/');
        const copy = new Request(req);
        const given = new Request('https://x.test/', { cf: { cacheTtl: 5 } });
        return Response.json({ cf: req.cf, own: own.cf === undefined, copy: copy.cf === req.cf,
          clone: req.clone().cf === req.cf, given: given.cf.cacheTtl,
          bad: (() => { try { new Request('https://x.test/', { cf: 1 }); return 'made'; } catch (e) { return e.name; } })() });
    } };";
    let (status, body, _) = answer(
        src,
        &get(
            "https://w.test/",
            &[("Accept-Encoding", "gzip, br")],
            serde_json::json!({}),
        ),
    );
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["cf"]["colo"], "LOCAL");
    assert_eq!(v["cf"]["country"], serde_json::Value::Null);
    assert_eq!(v["cf"]["httpProtocol"], "HTTP/1.1");
    assert_eq!(v["cf"]["clientAcceptEncoding"], "gzip, br");
    assert_eq!(v["cf"]["timezone"], "UTC");
    assert_eq!(v["own"], true);
    assert_eq!(v["copy"], true);
    assert_eq!(v["clone"], true);
    assert_eq!(v["given"], 5);
    assert_eq!(v["bad"], "TypeError");
}

#[test]
fn service_worker_syntax_answers_through_respond_with() {
    let src = "addEventListener('fetch', (event) => {
        const url = new URL(event.request.url);
        if (url.pathname === '/late') { setTimeout(() => { try { event.respondWith(new Response('no')); } catch (e) { console.log('late:' + e.name); } }, 0); }
        if (url.pathname === '/none') return;
        event.passThroughOnException();
        event.respondWith((async () => {
          await scheduler.wait(1);
          let twice = 'allowed';
          try { event.respondWith(new Response('again')); } catch (e) { twice = e.name; }
          return Response.json({ path: url.pathname, type: event.type, trusted: event.isTrusted,
            isFetchEvent: event instanceof FetchEvent, cf: event.request.cf.colo, secret: typeof API_KEY === 'string' ? API_KEY : null,
            defaultPrevented: event.defaultPrevented });
        })());
      });";
    let env = serde_json::json!({ "API_KEY": "k-123" });
    let (status, body, _) = answer(src, &get("https://w.test/hello", &[], env.clone()));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v,
        serde_json::json!({ "path": "/hello", "type": "fetch", "trusted": true, "isFetchEvent": true,
            "cf": "LOCAL", "secret": "k-123", "defaultPrevented": true })
    );
    // respondWith after the dispatch is refused, and no answer at all is a clear error.
    let (status, _, logs) = answer(src, &get("https://w.test/late", &[], env.clone()));
    assert_eq!(status, 200);
    assert!(
        logs.iter().any(|l| l == "late:InvalidStateError"),
        "{logs:?}"
    );
    let mut worker = loaded(src);
    let (response, inv) = worker.fetch(&get("https://w.test/none", &[], env));
    match response {
        Err(RunError::Threw { message, .. }) => {
            assert!(message.contains("respondWith"), "{message}")
        }
        other => panic!("expected an error, got {other:?}; logs {:?}", inv.logs),
    }
}

#[test]
fn service_worker_wait_until_runs_after_the_response() {
    let src = "let done = 0;
      addEventListener('fetch', (event) => {
        if (event.request.method === 'GET') { event.respondWith(new Response(String(done))); return; }
        event.waitUntil(scheduler.wait(50).then(() => { done++; }));
        event.respondWith(new Response('accepted'));
      });";
    let mut worker = loaded(src);
    let mut post = get("https://w.test/", &[], serde_json::json!({}));
    post.method = "POST".into();
    let task = worker.start_fetch(&post);
    let (mut answered, mut ended) = (false, false);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ended && Instant::now() < deadline {
        for event in worker.drain_events() {
            match event {
                TaskEvent::Answered(a) if a.task == task => {
                    match a.result {
                        Ok(Answer::Response(r)) => assert_eq!(r.body, b"accepted"),
                        other => panic!("{other:?}"),
                    }
                    // Answered before its waitUntil work is over.
                    assert!(!ended);
                    answered = true;
                }
                TaskEvent::Ended { task: t, .. } if t == task => ended = true,
                _ => {}
            }
        }
        if let Some(wake) = worker.next_wake() {
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
            worker.advance(Instant::now());
        }
    }
    assert!(answered && ended);
    let (response, _) = worker.fetch(&get("https://w.test/", &[], serde_json::json!({})));
    assert_eq!(response.expect("response").body, b"1");
}

#[test]
fn module_syntax_wins_and_a_module_with_neither_is_refused() {
    let both = "addEventListener('fetch', (e) => e.respondWith(new Response('listener')));
      export default { fetch() { return new Response('module'); } };";
    let (_, body, _) = answer(both, &get("https://w.test/", &[], serde_json::json!({})));
    assert_eq!(body, "module");
    let mut worker = loaded("export default 1;");
    let (response, _) = worker.fetch(&get("https://w.test/", &[], serde_json::json!({})));
    match response {
        Err(RunError::Threw { message, .. }) => {
            assert!(message.contains("\"fetch\" event listener"), "{message}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn structured_clone_transfers_array_buffers() {
    let v = eval(
        "const buf = new Uint8Array([1, 2, 3, 4]).buffer; const view = new Uint8Array(buf, 1, 2);
         const out = structuredClone({ buf, view }, { transfer: [buf] });
         const errors = [];
         for (const t of [[{}], [buf], [new ArrayBuffer(1), 'x']]) {
           try { structuredClone(1, { transfer: t }); errors.push('cloned'); } catch (e) { errors.push(e.name); }
         }
         const kept = new ArrayBuffer(2);
         try { structuredClone([kept, Symbol()], { transfer: [kept] }); } catch {}
         return [buf.detached, buf.byteLength, [...new Uint8Array(out.buf)], out.view.buffer === out.buf, [...out.view],
                 errors, kept.detached];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            true,
            0,
            [1, 2, 3, 4],
            true,
            [2, 3],
            ["DataCloneError", "DataCloneError", "TypeError"],
            false
        ])
    );
}

#[test]
fn an_exception_in_a_timer_is_reported_and_the_request_goes_on() {
    // As workerd does: the request answers; the exception is an "error" event at the global
    // scope and, unless a listener cancels it, a console line.
    let src = "export default { async fetch() {
        const seen = [];
        addEventListener('error', (e) => { seen.push([e instanceof ErrorEvent, e.message, e.error?.name, e.isTrusted]); if (seen.length === 2) e.preventDefault(); });
        setTimeout(() => { throw new TypeError('timer boom'); }, 1);
        setTimeout(() => { throw new RangeError('canceled by a listener'); }, 2);
        await new Promise((r) => setTimeout(r, 20));
        reportError(new Error('reported'));
        return Response.json(seen);
    } };";
    let (status, body, logs) = answer(src, &get("https://w.example/", &[], serde_json::json!({})));
    assert_eq!(status, 200, "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        seen,
        serde_json::json!([
            [true, "timer boom", "TypeError", true],
            [true, "canceled by a listener", "RangeError", true],
            [true, "reported", "Error", true]
        ])
    );
    let uncaught: Vec<&String> = logs.iter().filter(|l| l.contains("Uncaught")).collect();
    assert_eq!(
        uncaught.len(),
        2,
        "the canceled one is not logged: {logs:?}"
    );
    assert!(
        uncaught[0].contains("timer boom") && uncaught[1].contains("reported"),
        "{logs:?}"
    );
}
