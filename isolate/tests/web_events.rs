//! DOM events, abort signals, Blob/File/FormData and form bodies, inside real V8 isolates (the
//! prelude as the engine's snapshot ships it, real timers, real fetch handlers).
mod common;

use std::time::{Duration, Instant};

use common::*;
use stockade_isolate::{FetchRequest, Module, ModuleSet, TaskEvent, Worker};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!("export default async () => {{ {body} }};")))
}

fn loaded(src: &str) -> Worker {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    worker
}

fn post(body: Vec<u8>, content_type: &str) -> FetchRequest {
    FetchRequest {
        method: "POST".into(),
        url: "https://worker.test/upload".into(),
        headers: vec![("Content-Type".into(), content_type.into())],
        body,
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({}),
    }
}

/// Sends `request` to the fetch handler of `src`; the JSON body of the answer.
fn fetch_json(src: &str, request: &FetchRequest) -> serde_json::Value {
    let mut worker = loaded(src);
    let (response, inv) = worker.fetch(request);
    let response = response.unwrap_or_else(|e| panic!("{e:?}; logs: {:?}", inv.logs));
    assert_eq!(
        response.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    serde_json::from_slice(&response.body).expect("a JSON body")
}

#[test]
fn event_target_dispatch_order_once_and_signal() {
    let v = eval(
        "const t = new EventTarget(); const log = []; const c = new AbortController();
         t.addEventListener('x', () => { log.push('bubble'); t.addEventListener('x', () => log.push('late')); });
         t.addEventListener('x', () => log.push('capture'), true);
         t.addEventListener('x', { handleEvent(e) { log.push('object:' + (e.currentTarget === t)); } });
         t.addEventListener('x', () => log.push('once'), { once: true });
         t.addEventListener('x', () => log.push('signal'), { signal: c.signal });
         t.addEventListener('x', (e) => { e.stopImmediatePropagation(); log.push('stop'); });
         t.addEventListener('x', () => log.push('after-stop'));
         const e = new Event('x', { cancelable: true });
         const result = t.dispatchEvent(e);
         c.abort();
         t.dispatchEvent(new Event('x'));
         return [log, result, e.isTrusted, e.eventPhase, e.target === t];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            [
                "capture",
                "bubble",
                "object:true",
                "once",
                "signal",
                "stop",
                "capture",
                "bubble",
                "object:true",
                "stop"
            ],
            true,
            false,
            0,
            true
        ])
    );
}

#[test]
fn abort_signal_timeout_fires_inside_a_handler_that_awaits_it() {
    let src = "export default { async fetch() {
        const start = performance.now();
        const signal = AbortSignal.timeout(60);
        const reason = await new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason)));
        return Response.json({ name: reason.name, code: reason.code, waited: performance.now() - start >= 55, aborted: signal.aborted });
    } };";
    let request = FetchRequest {
        method: "GET".into(),
        url: "https://worker.test/".into(),
        headers: vec![],
        body: vec![],
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({}),
    };
    let started = Instant::now();
    let v = fetch_json(src, &request);
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(
        v,
        serde_json::json!({"name": "TimeoutError", "code": 23, "waited": true, "aborted": true})
    );
}

#[test]
fn a_pending_timeout_signal_does_not_keep_a_request_alive() {
    // The handler answers at once with a 4 s timeout signal still armed: the request ends with
    // its answer instead of waiting for the timer.
    let src = "export default { async fetch() { const s = AbortSignal.timeout(4000); s.onabort = () => {}; return new Response('done'); } };";
    let mut worker = loaded(src);
    let request = post(Vec::new(), "text/plain");
    let started = Instant::now();
    let task = worker.start_fetch(&request);
    let mut ended = false;
    while !ended && started.elapsed() < Duration::from_secs(3) {
        for event in worker.drain_events() {
            if matches!(event, TaskEvent::Ended { task: t, .. } if t == task) {
                ended = true;
            }
        }
        if !ended {
            std::thread::sleep(Duration::from_millis(5));
            worker.advance(Instant::now());
        }
    }
    assert!(ended, "the request was still alive after 3 s");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn abort_signal_any_follows_its_sources() {
    let v = eval(
        "const a = new AbortController(); const b = new AbortController();
         const any = AbortSignal.any([a.signal, b.signal]); const nested = AbortSignal.any([any, AbortSignal.timeout(10000)]);
         const seen = [];
         nested.onabort = () => seen.push('nested:' + nested.reason);
         a.signal.onabort = () => seen.push('a:' + any.aborted + ':' + nested.aborted);
         b.abort('from-b');
         const pre = AbortSignal.any([AbortSignal.abort('pre')]);
         const timed = AbortSignal.any([new AbortController().signal, AbortSignal.timeout(20)]);
         await new Promise((r) => timed.addEventListener('abort', r));
         return [any.aborted, any.reason, nested.reason, seen, a.signal.aborted, pre.aborted, pre.reason, timed.reason.name];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            true,
            "from-b",
            "from-b",
            ["nested:from-b"],
            false,
            true,
            "pre",
            "TimeoutError"
        ])
    );
}

#[test]
fn blob_slices_read_back() {
    let v = eval(
        "const b = new Blob(['héllo ', new Uint8Array([119, 111, 114, 108, 100]), new Blob(['!'])], { type: 'Text/Plain' });
         const s = b.slice(-6, -1, 'text/x');
         const f = new File([b.slice(0, 3)], 'f.txt', { lastModified: 7 });
         return [b.size, b.type, await b.text(), s.size, s.type, await s.text(), Array.from(await s.bytes()),
                 new Uint8Array(await b.slice(1, 3).arrayBuffer()).length, f.name, f.lastModified, await f.text(),
                 await structuredClone(f).text(), typeof b.stream];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            13,
            "text/plain",
            "héllo world!",
            5,
            "text/x",
            "world",
            [119, 111, 114, 108, 100],
            2,
            "f.txt",
            7,
            "h\u{e9}",
            "h\u{e9}",
            "function"
        ])
    );
}

const FORM_HANDLER: &str = "export default { async fetch(request) {
    const fd = await request.formData();
    const out = {};
    for (const [name, value] of fd) {
        out[name] = typeof value === 'string' ? value
            : { file: value.name, type: value.type, size: value.size, bytes: Array.from(await value.bytes()) };
    }
    return Response.json(out);
} };";

#[test]
fn a_handler_reads_the_form_data_a_response_serialized() {
    let v = eval(
        "const fd = new FormData(); fd.append('name', 'Zoë'); fd.append('note', 'a\\nb');
         fd.append('doc', new File([new Uint8Array([0, 13, 10, 45, 45, 255])], 'd.bin', { type: 'application/x-d' }));
         const r = new Response(fd);
         return [r.headers.get('content-type'), Array.from(new Uint8Array(await r.arrayBuffer()))];",
    );
    let content_type = v[0].as_str().expect("a content type").to_owned();
    assert!(content_type.starts_with("multipart/form-data; boundary="));
    let body: Vec<u8> = v[1]
        .as_array()
        .expect("bytes")
        .iter()
        .map(|b| {
            b.as_u64()
                .and_then(|b| u8::try_from(b).ok())
                .expect("a byte")
        })
        .collect();
    let got = fetch_json(FORM_HANDLER, &post(body, &content_type));
    assert_eq!(
        got,
        serde_json::json!({
            "name": "Zoë",
            "note": "a\r\nb",
            "doc": {"file": "d.bin", "type": "application/x-d", "size": 6, "bytes": [0, 13, 10, 45, 45, 255]}
        })
    );
}

#[test]
fn a_file_upload_keeps_its_filename_and_bytes() {
    // A browser-style upload written by hand: a text field, then a binary file part holding every
    // byte value and near-misses of the delimiter.
    let boundary = "----WebKitFormBoundaryx7Q2mZ9kE1";
    let mut file: Vec<u8> = (0..=255u8).collect();
    // (A real delimiter is CRLF "--" boundary; these only come close.)
    file.extend_from_slice(
        format!("--{boundary}\r\n\r\n-{boundary}\r\n--{}", &boundary[..30]).as_bytes(),
    );
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"beach %22sun%22.raw\"\r\nContent-Type: image/x-raw\r\n\r\n").as_bytes());
    body.extend_from_slice(&file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let got = fetch_json(
        FORM_HANDLER,
        &post(body, &format!("multipart/form-data; boundary={boundary}")),
    );
    assert_eq!(got["title"], "holiday");
    assert_eq!(got["photo"]["file"], "beach \"sun\".raw");
    assert_eq!(got["photo"]["type"], "image/x-raw");
    let bytes: Vec<u8> = got["photo"]["bytes"]
        .as_array()
        .expect("bytes")
        .iter()
        .map(|b| {
            b.as_u64()
                .and_then(|b| u8::try_from(b).ok())
                .expect("a byte")
        })
        .collect();
    assert_eq!(bytes, file);
}

#[test]
fn a_malformed_upload_is_a_clear_type_error() {
    let src = "export default { async fetch(request) { try { await request.formData(); return new Response('parsed'); } catch (e) { return new Response(e.constructor.name + ': ' + e.message); } } };";
    let mut worker = loaded(src);
    let body =
        b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno closing boundary".to_vec();
    let (response, _) = worker.fetch(&post(body, "multipart/form-data; boundary=b"));
    let text = String::from_utf8(response.expect("a response").body).expect("utf-8");
    assert!(
        text.starts_with("TypeError: formData: malformed multipart/form-data body"),
        "{text}"
    );
}

#[test]
fn fetch_rejects_with_the_abort_reason() {
    let v = eval(
        "const pre = await fetch('https://example.com/', { signal: AbortSignal.abort('early') }).then(() => 'resolved', (e) => e);
         const c = new AbortController();
         const p = fetch('https://example.com/', { signal: c.signal }).then(() => 'resolved', (e) => [e.name, e.message]);
         c.abort();
         const req = new Request('https://example.com/', { signal: c.signal });
         return [pre, await p, req.signal.aborted, req.signal.reason.name];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "early",
            ["AbortError", "This operation was aborted"],
            true,
            "AbortError"
        ])
    );
}

#[test]
fn streams_take_real_abort_signals() {
    let v = eval(
        "let signal;
         const ws = new WritableStream({ start(c) { signal = c.signal; } });
         const fired = [];
         signal.addEventListener('abort', (e) => fired.push(e.type));
         await ws.abort('gone');
         const shaped = { aborted: false, reason: undefined, addEventListener() {}, removeEventListener() {} };
         const fake = await new ReadableStream().pipeTo(new WritableStream(), { signal: shaped }).then(() => 'resolved', (e) => e.name);
         const c = new AbortController();
         let cancelled;
         const source = new ReadableStream({ pull(ctl) { ctl.enqueue('x'); }, cancel(r) { cancelled = r; } }, { highWaterMark: 0 });
         // A tenant's replaced addEventListener is not how the pipe hears its signal.
         EventTarget.prototype.addEventListener = () => { throw new Error('patched'); };
         const piped = source.pipeTo(new WritableStream({ write() { return new Promise((r) => setTimeout(r, 1)); } }), { signal: c.signal }).then(() => 'resolved', (e) => e);
         await new Promise((r) => setTimeout(r, 5));
         c.abort('stop');
         return [signal instanceof AbortSignal, signal.aborted, signal.reason, fired, fake, await piped, cancelled];",
    );
    assert_eq!(
        v,
        serde_json::json!([true, true, "gone", ["abort"], "TypeError", "stop", "stop"])
    );
}

#[test]
fn blob_and_form_bodies_read_through_streams() {
    let v = eval(
        "const blob = new Blob([new Uint8Array(150000).fill(7), 'end'], { type: 'Application/X-Test' });
         const sizes = [];
         for await (const chunk of blob.stream()) sizes.push(chunk.length);
         const res = new Response(blob);
         let total = 0;
         for await (const chunk of res.body) total += chunk.length;
         const fd = new FormData();
         fd.append('name', 'value');
         fd.append('file', new Blob(['abc'], { type: 'text/x-abc' }), 'a.txt');
         const req = new Request('https://worker.test/', { method: 'POST', body: fd });
         const copy = new Request(req, { headers: req.headers }); // takes over the body through a stream
         const back = await copy.formData();
         const file = back.get('file');
         const typed = await new Response('x', { headers: { 'content-type': 'Text/HTML; Charset=\"utf-8\"' } }).blob();
         const nullForm = await new Response(null, { headers: { 'content-type': 'multipart/form-data; boundary=b' } }).formData().then(() => 'parsed', (e) => e.name);
         return [sizes, total, res.headers.get('content-type'), back.get('name'), file.name, file.type, await file.text(), typed.type, nullForm, req.bodyUsed];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            [65536, 65536, 18931],
            150003,
            "application/x-test",
            "value",
            "a.txt",
            "text/x-abc",
            "abc",
            "text/html;charset=utf-8",
            "TypeError",
            true
        ])
    );
}

#[test]
fn the_global_scope_is_an_event_target() {
    // Service-worker syntax needs it later: listeners on the global object, `this` undefined in
    // module code meaning the global, events whose target is the global.
    let v = eval(
        "const log = [];
         addEventListener('hello', (e) => log.push([e.type, e.target === globalThis, e.isTrusted]));
         const listener = () => log.push('removed');
         self.addEventListener('hello', listener);
         self.removeEventListener('hello', listener);
         const delivered = dispatchEvent(new CustomEvent('hello', { detail: 1 }));
         performance.addEventListener('tick', () => log.push('performance'));
         performance.dispatchEvent(new Event('tick'));
         return [log, delivered, globalThis instanceof EventTarget, Object.getPrototypeOf(Performance) === EventTarget];",
    );
    assert_eq!(
        v,
        serde_json::json!([[["hello", true, false], "performance"], true, true, true])
    );
}
