//! The Streams standard and stream bodies inside real V8 isolates: pipes through transforms,
//! `new Response(res.body, res)`, request bodies read chunk by chunk, clone()/tee(), handlers
//! answering with a ReadableStream, and the clear error a chunk that is not bytes gets.
mod common;
use common::*;

use stockade_isolate::{FetchRequest, FetchResponse, RunError};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!("export default async () => {{ {body} }};")))
}

/// A fetch request to `path` of the test worker.
fn request(method: &str, path: &str, body: &[u8]) -> FetchRequest {
    FetchRequest {
        method: method.into(),
        url: format!("https://worker.test{path}"),
        headers: vec![("content-type".into(), "text/plain".into())],
        body: body.to_vec(),
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({}),
    }
}

/// Loads `src` as the main module and sends it one fetch request; a streamed answer's body is
/// collected, and must end without an error.
fn fetch(src: &str, method: &str, body: &[u8]) -> Result<FetchResponse, RunError> {
    let fetched = fetch_with(src, &request(method, "/streams", body));
    assert_eq!(fetched.end_error, None, "the streamed body failed");
    fetched.response
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
    // The stream fails at its first read, before the answer's head has left: the fetch fails
    // with the TypeError (the client gets a typed error, not a cut answer), and no body goes out.
    let fetched = fetch_with(src, &request("GET", "/streams", b""));
    match fetched.response {
        Err(RunError::Threw { message, .. }) => {
            assert!(message.contains("not a Uint8Array"), "{message}")
        }
        other => panic!("expected the TypeError, got {other:?}"),
    }
    assert_eq!(fetched.end_error, None);
    // Once the head has left (a first chunk came), a bad chunk cuts the body with its text.
    let later = "export default { async fetch() {
        return new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array([1])); c.enqueue('not bytes'); c.close(); } }));
    } };";
    let fetched = fetch_with(later, &request("GET", "/streams", b""));
    let response = fetched.response.expect("an answer");
    assert!(response.streamed);
    let error = fetched.end_error.expect("the body ended with an error");
    assert!(error.contains("not a Uint8Array"), "{error}");
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
         // A stream body needs no duplex: 'half' (workerd asks for none); another duplex is refused.
         out.push(new Request('https://x.test/', { method: 'POST', body: new ReadableStream() }).method);
         try { new Request('https://x.test/', { method: 'POST', body: new ReadableStream(), duplex: 'full' }); } catch (e) { out.push(e.name); }
         out.push(new Request('https://x.test/', { method: 'POST', body: new ReadableStream(), duplex: 'half' }).duplex);
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!(["TypeError", "TypeError", "POST", "TypeError", "half"])
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

/// A tenant that replaces the typed-array operations (slice, subarray, set; the buffer, length,
/// byteLength, byteOffset and constructor getters; the array iterator) with versions that zero
/// every view they are shown. If the prelude or the runtime ever handed them a body's private
/// bytes, the bodies read back (and the bytes the host takes) would come out zeroed.
const PATCHING_HANDLER: &str = "export default { async fetch(request) {
    const N = 70000;
    const expected = new Uint8Array(N);
    for (let i = 0; i < N; i++) expected[i] = (i * 7 + 1) & 255;
    const input = new Uint8Array(expected);
    const blobParts = new Set([new Uint8Array(expected)]); // made before the array iterator is patched
    const TA = Object.getPrototypeOf(Uint8Array.prototype);
    const fill = TA.fill;
    const lengthOf = Object.getOwnPropertyDescriptor(TA, 'length').get;
    let seen = 0;
    const burn = (v) => { if (ArrayBuffer.isView(v)) { seen++; try { Reflect.apply(fill, v, [0]); } catch {} } };
    const define = (target, name, d) => Object.defineProperty(target, name, { ...d, configurable: true });
    for (const target of [TA, Uint8Array.prototype]) {
        for (const name of ['slice', 'subarray', 'set']) {
            const original = TA[name];
            define(target, name, { writable: true, value: function (...args) { burn(this); args.forEach(burn); return Reflect.apply(original, this, args); } });
        }
    }
    for (const name of ['buffer', 'length', 'byteLength', 'byteOffset']) {
        const get = Object.getOwnPropertyDescriptor(TA, name).get;
        define(TA, name, { get() { burn(this); return Reflect.apply(get, this, []); } });
    }
    define(Uint8Array.prototype, 'constructor', { get() { burn(this); return Uint8Array; } });
    const iterate = Array.prototype[Symbol.iterator];
    define(Array.prototype, Symbol.iterator, { writable: true, value: function () { for (let i = 0; i < this.length; i++) burn(this[i]); return Reflect.apply(iterate, this, []); } });

    const fromHost = new Uint8Array(await request.arrayBuffer());
    const res = new Response(input, { headers: { 'content-type': 'application/octet-stream' } });
    Reflect.apply(fill, input, [0xee]); // the body is a copy of it
    const blob = new Blob(blobParts);
    const readAll = async (stream) => {
        const out = new Uint8Array(N);
        let at = 0;
        const reader = stream.getReader();
        for (;;) {
            const step = await reader.read();
            if (step.done) return out;
            const n = Reflect.apply(lengthOf, step.value, []);
            for (let i = 0; i < n && at < N; i++) out[at++] = step.value[i];
        }
    };
    const results = [
        fromHost,
        new Uint8Array(await res.clone().arrayBuffer()),
        await res.clone().bytes(),
        new Uint8Array(await (await res.clone().blob()).arrayBuffer()),
        await readAll(res.clone().body),
        await new Response(blob).bytes(),
        await readAll(blob.stream()),
    ];
    const intact = results.map((a) => Reflect.apply(lengthOf, a, []) === N && a.every((v, i) => v === expected[i]));
    const path = new URL(request.url).pathname;
    const out = path === '/stream' ? new Response(res.body.pipeThrough(new TransformStream()))
        : path === '/blob' ? new Response(blob) : res;
    out.headers.set('x-intact', JSON.stringify(intact));
    out.headers.set('x-seen', String(seen));
    return out;
} };";

#[test]
fn patched_typed_array_methods_never_see_private_body_bytes() {
    let expected: Vec<u8> = (0..70000u32).map(|i| ((i * 7 + 1) & 255) as u8).collect();
    // The body the host hands in, the one it takes back whole (bytes, a Blob's), and one it
    // takes chunk by chunk through the runtime's pump.
    for (path, streamed) in [("/bytes", false), ("/blob", false), ("/stream", true)] {
        let fetched = fetch_with(PATCHING_HANDLER, &request("POST", path, &expected));
        assert_eq!(fetched.end_error, None, "{path}");
        let response = fetched.response.unwrap_or_else(|e| panic!("{path}: {e:?}"));
        assert_eq!(response.streamed, streamed, "{path}");
        assert_eq!(
            header(&response, "x-intact"),
            Some("[true,true,true,true,true,true,true]"),
            "{path}: a body read back inside the handler was changed"
        );
        assert_eq!(header(&response, "x-seen"), Some("0"), "{path}");
        assert!(
            response.body == expected,
            "{path}: the host got other bytes"
        );
    }
}

#[test]
fn a_body_known_whole_but_larger_than_an_answer_carries_streams() {
    // 17 MB in one Uint8Array: before, the answer was refused (`invalid_response`, "at most
    // 16777216"); Workers has no such cap. It goes out in 1 MiB writes, whole.
    let src = "export default { fetch() {
        const bytes = new Uint8Array(17000000);
        for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i / 4096) & 255;
        return new Response(bytes);
    } };";
    let fetched = fetch_with(src, &request("GET", "/big", b""));
    let response = fetched.response.expect("an answer");
    assert!(response.streamed, "streamed");
    assert_eq!(fetched.end_error, None);
    assert_eq!(response.body.len(), 17_000_000);
    assert!(response
        .body
        .chunks(4096)
        .enumerate()
        .all(|(i, c)| c[0] == (i & 255) as u8));
}

/// workerd's `ReadableStreamBYOBReader.readAtLeast(minBytes, view)`: waits for at least that many
/// bytes (chunks of 2 bytes arrive; 5 are asked, then 4 into a Uint16Array: 2 elements).
#[test]
fn byob_read_at_least_waits_for_the_bytes_asked() {
    let v = eval(
        "let n = 0;
         const rs = new ReadableStream({ type: 'bytes', pull(c) { n++; c.enqueue(new Uint8Array([n, n])); } });
         const reader = rs.getReader({ mode: 'byob' });
         const first = await reader.readAtLeast(5, new Uint8Array(8));
         const second = await reader.readAtLeast(4, new Uint16Array(4));
         return [[...first.value], second.value.length, n];",
    );
    assert_eq!(v, serde_json::json!([[1, 1, 2, 2, 3, 3], 2, 5]));
}
