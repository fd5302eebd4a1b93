//! The Streams standard and stream bodies inside real V8 isolates: pipes through transforms,
//! `new Response(res.body, res)`, request bodies read chunk by chunk, clone()/tee(), handlers
//! answering with a ReadableStream, and the clear error a chunk that is not bytes gets.
mod common;
use common::*;
use stockade_isolate::{FetchRequest, FetchResponse, Module, ModuleSet, RunError, Worker};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!("export default async () => {{ {body} }};")))
}

/// Loads `src` as the main module and sends it one fetch request.
fn fetch(src: &str, method: &str, body: &[u8]) -> Result<FetchResponse, RunError> {
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    let loaded = worker.load("main.js", &mut set);
    assert!(loaded.result.is_ok(), "{:?}", loaded.result);
    let request = FetchRequest {
        method: method.into(),
        url: "https://worker.test/streams".into(),
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.to_vec(),
        body_streamed: false,
        env: serde_json::json!({}),
    };
    worker.fetch(&request).0
}

fn header<'a>(response: &'a FetchResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_readable_stream_piped_through_a_transform_stream() {
    let v = eval(
        "const rs = new ReadableStream({ start(c) { for (const w of ['al', 'pha', 'bet']) c.enqueue(w); c.close(); } });
         const upper = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); }, flush(c) { c.enqueue('.'); } });
         const bytes = rs.pipeThrough(upper).pipeThrough(new TextEncoderStream());
         const text = await new Response(bytes).text();
         const out = [];
         for await (const s of new Response('x\\u00e9y').body.pipeThrough(new TextDecoderStream())) out.push(s);
         return [text, out, rs.locked];", // a finished pipe releases its lock
    );
    assert_eq!(v, serde_json::json!(["ALPHABET.", ["xéy"], false]));
}

#[test]
fn new_response_from_a_response_body_keeps_the_body_with_new_headers() {
    let src = "export default { async fetch(request) {
        const inner = new Response('the body', { status: 203, headers: { 'x-inner': '1' } });
        const res = new Response(inner.body, inner);
        res.headers.set('x-added', 'yes');
        res.headers.delete('x-inner');
        return res;
    } };";
    let response = fetch(src, "GET", b"").expect("a response");
    assert_eq!(response.status, 203);
    assert_eq!(response.body, b"the body");
    assert_eq!(header(&response, "x-added"), Some("yes"));
    assert_eq!(header(&response, "x-inner"), None);
    assert_eq!(
        header(&response, "content-type"),
        Some("text/plain;charset=UTF-8")
    );
}

#[test]
fn request_body_is_read_chunk_by_chunk_in_a_fetch_handler() {
    let src = "export default { async fetch(request) {
        const reader = request.body.getReader({ mode: 'byob' });
        const sizes = [];
        let text = '';
        const decoder = new TextDecoder();
        for (;;) {
            const { value, done } = await reader.read(new Uint8Array(4));
            if (done) break;
            sizes.push(value.length);
            text += decoder.decode(value, { stream: true });
        }
        return Response.json({ sizes, text, used: request.bodyUsed, locked: request.body.locked });
    } };";
    let response = fetch(src, "POST", b"0123456789").expect("a response");
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"sizes": [4, 4, 2], "text": "0123456789", "used": true, "locked": true})
    );
}

#[test]
fn clone_and_tee_give_both_sides_the_whole_body() {
    let v = eval(
        "const a = new Response('shared');
         const b = a.clone();
         const req = new Request('https://x.test/', { method: 'PUT', body: new Uint8Array([1, 2, 3]) });
         req.body;
         const req2 = req.clone();
         const [t1, t2] = new ReadableStream({ type: 'bytes', start(c) { c.enqueue(new Uint8Array([7, 8])); c.close(); } }).tee();
         const r1 = t1.getReader();
         const first = await r1.read();
         return [await b.text(), await a.text(), Array.from(await req2.bytes()), Array.from(await req.bytes()),
                 Array.from(first.value), Array.from(await new Response(t2).bytes()), a.bodyUsed];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "shared",
            "shared",
            [1, 2, 3],
            [1, 2, 3],
            [7, 8],
            [7, 8],
            true
        ])
    );
}

#[test]
fn a_handler_returning_a_readable_stream_answers_with_its_chunks_concatenated() {
    let src = "export default { async fetch() {
        let i = 0;
        const parts = ['<p>', 'streamed', ' ', 'answer', '</p>'];
        const enc = new TextEncoder();
        const body = new ReadableStream({
            async pull(c) {
                await new Promise((r) => setTimeout(r, 1));
                if (i < parts.length) c.enqueue(enc.encode(parts[i++]));
                else c.close();
            },
        });
        return new Response(body, { headers: { 'content-type': 'text/html' } });
    } };";
    let response = fetch(src, "GET", b"").expect("a response");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"<p>streamed answer</p>");
    assert_eq!(header(&response, "content-type"), Some("text/html"));
}

#[test]
fn a_chunk_that_is_not_a_uint8array_is_a_clear_type_error() {
    let src = "export default { async fetch() {
        return new Response(new ReadableStream({ start(c) { c.enqueue('not bytes'); c.close(); } }));
    } };";
    match fetch(src, "GET", b"") {
        Err(RunError::Threw { message, .. }) => {
            assert!(
                message.contains("TypeError") && message.contains("not a Uint8Array"),
                "{message}"
            )
        }
        other => panic!("expected a TypeError, got {other:?}"),
    }
    // Inside the worker, reading such a body rejects the same way.
    let v = eval(
        "const r = new Response(new ReadableStream({ start(c) { c.enqueue([1, 2]); c.close(); } }));
         try { await r.arrayBuffer(); return 'read'; } catch (e) { return [e.name, e.message]; }",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "TypeError",
            "The body stream produced a chunk that is not a Uint8Array"
        ])
    );
}

#[test]
fn locked_or_used_bodies_are_refused_with_type_errors() {
    let v = eval(
        "const out = [];
         const rs = new ReadableStream();
         rs.getReader();
         try { new Response(rs); } catch (e) { out.push(e.name); }
         const used = new Response('x');
         await used.text();
         try { used.clone(); } catch (e) { out.push(e.name); }
         try { new Request('https://x.test/', { method: 'POST', body: new ReadableStream() }); } catch (e) { out.push(e.name); }
         out.push(new Request('https://x.test/', { method: 'POST', body: new ReadableStream(), duplex: 'half' }).duplex);
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!(["TypeError", "TypeError", "TypeError", "half"])
    );
    // A handler returning a Response whose body it already read gets a clear error.
    let src = "export default { async fetch() { const r = new Response('once'); await r.text(); return r; } };";
    match fetch(src, "GET", b"") {
        Err(RunError::Threw { message, .. }) => {
            assert!(message.contains("already used or locked"), "{message}")
        }
        other => panic!("expected a TypeError, got {other:?}"),
    }
}

#[test]
fn streamed_answers_survive_tampered_prototypes() {
    // The host reads the response stream through internal operations: replacing the public
    // reader methods, Object.prototype.then or Array.prototype.push changes nothing.
    let src = "export default { async fetch() {
        ReadableStreamDefaultReader.prototype.read = () => { throw new Error('patched read'); };
        ReadableStream.prototype.getReader = () => { throw new Error('patched getReader'); };
        Array.prototype.push = () => { throw new Error('patched push'); };
        Object.prototype.then = function () { throw new Error('then intercepted'); };
        const enc = new TextEncoder();
        const body = new ReadableStream({ start(c) { c.enqueue(enc.encode('still ')); c.enqueue(enc.encode('fine')); c.close(); } });
        const res = new Response(body);
        delete Object.prototype.then;
        return res;
    } };";
    let response = fetch(src, "GET", b"").expect("a response");
    assert_eq!(response.body, b"still fine");
}
