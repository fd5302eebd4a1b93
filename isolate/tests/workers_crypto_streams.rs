//! Cloudflare Workers' crypto and stream extensions inside real V8 isolates, as workerd behaves:
//! MD5 in `crypto.subtle.digest`, `crypto.subtle.timingSafeEqual`, `crypto.DigestStream`,
//! `IdentityTransformStream` and `FixedLengthStream` (also as a fetch handler's response body),
//! and AES-GCM's IV lengths and tag lengths with the Web Cryptography API's error types.
mod common;
use common::*;

use stockade_isolate::{FetchRequest, FetchResponse};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!(
        "const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');\n\
         const unhex = (s) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));\n\
         const enc = (s) => new TextEncoder().encode(s);\n\
         const name = async (p) => {{ try {{ await p; return 'resolved'; }} catch (e) {{ return e.name; }} }};\n\
         const nameSync = (f) => {{ try {{ f(); return 'returned'; }} catch (e) {{ return e.name; }} }};\n\
         export default async () => {{ {body} }};"
    )))
}

#[test]
fn md5_digests_as_workers_do_and_is_no_key_hash() {
    // RFC 1321 appendix A.5.
    let v = eval(
        "const out = [];
         for (const [alg, s] of [['MD5', ''], ['md5', 'abc'], [{ name: 'Md5' }, 'message digest'],
             ['MD5', '12345678901234567890123456789012345678901234567890123456789012345678901234567890']]) {
           out.push(hex(await crypto.subtle.digest(alg, enc(s))));
         }
         const buf = enc('xabcx');
         out.push(hex(await crypto.subtle.digest('MD5', new DataView(buf.buffer, 1, 3))));
         out.push((await crypto.subtle.digest('MD5', new ArrayBuffer(0))) instanceof ArrayBuffer);
         // A key's hash is never MD5 (Stockade's choice; workerd takes it for HMAC keys).
         out.push(await name(crypto.subtle.importKey('raw', enc('k'), { name: 'HMAC', hash: 'MD5' }, false, ['sign'])));
         out.push(await name(crypto.subtle.generateKey({ name: 'HMAC', hash: 'MD5' }, false, ['sign'])));
         const base = await crypto.subtle.importKey('raw', enc('pw'), 'PBKDF2', false, ['deriveBits']);
         out.push(await name(crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'MD5', salt: enc('s'), iterations: 1 }, base, 128)));
         out.push(await name(crypto.subtle.digest('MD4', enc(''))));
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "d41d8cd98f00b204e9800998ecf8427e",
            "900150983cd24fb0d6963f7d28e17f72",
            "f96b697d7cb7938d525a2f31aaf161d0",
            "57edf4a22be3c955ac49da2e2107b67a",
            "900150983cd24fb0d6963f7d28e17f72",
            true,
            "NotSupportedError",
            "NotSupportedError",
            "NotSupportedError",
            "NotSupportedError"
        ])
    );
}

#[test]
fn timing_safe_equal_compares_buffers_of_equal_length() {
    let v = eval(
        "const s = crypto.subtle;
         const a = enc('secret-token'), b = enc('secret-token'), c = enc('secret-tokeN');
         const big = new Uint8Array(64).fill(7);
         const out = [
           s.timingSafeEqual(a, b), s.timingSafeEqual(a, c), s.timingSafeEqual(a.buffer, b),
           s.timingSafeEqual(new DataView(big.buffer, 8, 4), new Uint32Array([0x07070707])),
           s.timingSafeEqual(big.subarray(1, 9), new Uint8Array(8).fill(7)),
           s.timingSafeEqual(new ArrayBuffer(0), new Uint8Array(0)),
           typeof s.timingSafeEqual, s.timingSafeEqual.length,
           Object.keys(SubtleCrypto.prototype).includes('timingSafeEqual'),
         ];
         // Lengths that differ, a non-buffer, too few arguments, the wrong receiver: TypeErrors,
         // thrown at once (the method is synchronous, as in workerd).
         out.push(nameSync(() => s.timingSafeEqual(a, enc('secret'))));
         out.push(nameSync(() => s.timingSafeEqual('secret-token', a)));
         out.push(nameSync(() => s.timingSafeEqual([1], [1])));
         out.push(nameSync(() => s.timingSafeEqual(a)));
         out.push(nameSync(() => s.timingSafeEqual.call({}, a, b)));
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            true,
            false,
            true,
            true,
            true,
            true,
            "function",
            2,
            true,
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError"
        ])
    );
}

#[test]
fn digest_stream_hashes_what_is_written_with_every_algorithm() {
    let v = eval(
        "const out = [];
         const parts = [enc('The quick brown fox '), 'jumps over ', new DataView(enc('xthe lazy dogx').buffer, 1, 12),
                        new Uint8Array(0), '', enc(' ☃').buffer];
         const whole = enc('The quick brown fox jumps over the lazy dog ☃');
         for (const alg of ['SHA-1', 'sha-256', { name: 'SHA-384' }, 'SHA-512', 'MD5']) {
           const ds = new crypto.DigestStream(alg);
           const w = ds.getWriter();
           for (const p of parts) await w.write(p);
           await w.close();
           const got = await ds.digest;
           const want = await crypto.subtle.digest(typeof alg === 'string' ? alg : alg.name, whole);
           out.push([got instanceof ArrayBuffer, hex(got) === hex(want), ds.bytesWritten === BigInt(whole.length)]);
         }
         // Nothing written: the digest of no bytes. The promise is one object, an accessor's.
         const empty = new crypto.DigestStream('MD5');
         out.push(empty.digest === empty.digest, typeof empty.bytesWritten, Number(empty.bytesWritten));
         await empty.close();
         out.push(hex(await empty.digest));
         // A large chunk (hashed in pieces) through pipeTo.
         const big = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i * 7);
         const piped = new crypto.DigestStream('SHA-256');
         await new ReadableStream({ start(c) { c.enqueue(big); c.enqueue(big.subarray(0, 3)); c.close(); } }).pipeTo(piped);
         const joined = new Uint8Array(big.length + 3); joined.set(big); joined.set(big.subarray(0, 3), big.length);
         out.push(hex(await piped.digest) === hex(await crypto.subtle.digest('SHA-256', joined)), Number(piped.bytesWritten));
         // The class: a WritableStream on crypto, not a global.
         const ds = new crypto.DigestStream('SHA-1');
         out.push(ds instanceof WritableStream, Object.prototype.toString.call(ds), typeof globalThis.DigestStream,
                  crypto.DigestStream === crypto.DigestStream, Object.keys(crypto.DigestStream.prototype).sort().join());
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            [true, true, true],
            [true, true, true],
            [true, true, true],
            [true, true, true],
            [true, true, true],
            true,
            "bigint",
            0,
            "d41d8cd98f00b204e9800998ecf8427e",
            true,
            3 * 1024 * 1024 + 8,
            true,
            "[object DigestStream]",
            "undefined",
            true,
            "bytesWritten,digest"
        ])
    );
}

#[test]
fn digest_stream_checksums_match_workerd() {
    // workerd's own DigestStream cases (from the AWS SDK's checksum tests), base64 of the
    // big-endian checksum; the names are exact, as workerd compares them.
    let v = eval(
        "const out = [];
         const cases = [['', 'crc32', 'AAAAAA=='], ['abc', 'crc32', 'NSRBwg=='], ['Hello world', 'crc32', 'i9aeUg=='],
           ['', 'crc32c', 'AAAAAA=='], ['abc', 'crc32c', 'Nks/tw=='], ['Hello world', 'crc32c', 'crUfeA=='],
           ['', 'crc64nvme', 'AAAAAAAAAAA='], ['abc', 'crc64nvme', 'BeXKuz/B+us='], ['Hello world', 'crc64nvme', 'OOJZ0D8xKts='],
           ['abc', 'SHA-1', 'qZk+NkcGgWq6PiVxeFDCbJzQ2J0='], ['Hello world', 'SHA-256', 'ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=']];
         for (const [body, alg, want] of cases) {
           const ds = new crypto.DigestStream(alg);
           const w = ds.getWriter();
           w.write(enc(body));
           w.close();
           out.push(btoa(String.fromCharCode(...new Uint8Array(await ds.digest))) === want);
         }
         // workerd's: a Uint32Array's bytes, its byteOffset honoured.
         const c = new crypto.DigestStream('crc32');
         const cw = c.getWriter();
         await cw.write(new Uint32Array([0, 1, 2, 3]).subarray(1));
         await cw.close();
         out.push(Array.from(new Uint8Array(await c.digest)).join());
         out.push(nameSync(() => new crypto.DigestStream('CRC32')));
         out.push(await name(crypto.subtle.digest('crc32', enc(''))));
         return out;",
    );
    let mut want = vec![serde_json::json!(true); 11];
    want.push(serde_json::json!("176,224,34,147"));
    want.push(serde_json::json!("NotSupportedError"));
    want.push(serde_json::json!("NotSupportedError"));
    assert_eq!(v, serde_json::Value::Array(want));
}

#[test]
fn digest_stream_refuses_bad_algorithms_and_chunks_and_rejects_when_aborted() {
    let v = eval(
        "const out = [];
         out.push(nameSync(() => new crypto.DigestStream('SHA-224')));
         out.push(nameSync(() => new crypto.DigestStream({})));
         out.push(nameSync(() => new crypto.DigestStream()));
         out.push(nameSync(() => crypto.DigestStream('SHA-1')));
         // A chunk that is not bytes: the write, the stream and the digest fail with a TypeError.
         const bad = new crypto.DigestStream('SHA-256');
         const w = bad.getWriter();
         out.push(await name(w.write({ length: 1 })), await name(bad.digest), await name(w.closed));
         // Aborted: the digest rejects with the reason.
         const ab = new crypto.DigestStream('SHA-256');
         const aw = ab.getWriter();
         await aw.write(enc('partial'));
         await aw.abort(new RangeError('stop'));
         out.push(await name(ab.digest));
         // Disposed (workerd's [Symbol.dispose]): the digest rejects and the stream errors.
         const d = new crypto.DigestStream('MD5');
         d[Symbol.dispose]();
         out.push(await name(d.digest), await name(d.getWriter().write(enc('x'))));
         // Writes after close are refused by the stream.
         const closed = new crypto.DigestStream('SHA-1');
         const cw = closed.getWriter();
         await cw.close();
         out.push(await name(cw.write(enc('late'))), await name(closed.digest));
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "NotSupportedError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "RangeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "resolved"
        ])
    );
}

#[test]
fn closed_and_aborted_digest_streams_free_their_native_hashers() {
    // A stream written to holds a native hasher (an isolate may hold 4096 native objects): closing
    // or aborting frees it, so ten thousand in a row never reach the cap.
    let v = eval(
        "for (let i = 0; i < 10000; i++) {
           const ds = new crypto.DigestStream(i % 3 ? 'SHA-256' : 'MD5');
           const w = ds.getWriter();
           await w.write(enc('x'));
           if (i % 2) await w.abort('gone'); else await w.close();
         }
         return 'ok';",
    );
    assert_eq!(v, "ok");
}

#[test]
fn identity_transform_stream_passes_bytes_through_a_byte_stream() {
    let v = eval(
        "const out = [];
         const its = new IdentityTransformStream();
         out.push(its instanceof TransformStream, Object.prototype.toString.call(its), IdentityTransformStream.length);
         const w = its.writable.getWriter();
         const r = its.readable.getReader({ mode: 'byob' });
         // A write is taken when a read asks for it (a TransformStream's backpressure).
         const src = enc('hello world');
         const reading = r.read(new Uint8Array(5));
         const written = w.write(src);
         const first = await reading;
         out.push(new TextDecoder().decode(first.value), src.byteLength, src[0]);
         const second = await r.read(new Uint8Array(64));
         out.push(new TextDecoder().decode(second.value));
         await written;
         r.releaseLock();
         const dr = its.readable.getReader();
         const strings = dr.read();
         await w.write('');
         await w.write(new ArrayBuffer(0));
         await Promise.all([w.write('☃'), strings]);
         out.push(Array.from((await strings).value));
         const last = dr.read();
         await w.close();
         out.push((await last).done);
         // A chunk that is not bytes errors both sides with a TypeError.
         const bad = new IdentityTransformStream();
         const bw = bad.writable.getWriter();
         const br = bad.readable.getReader();
         const pending = br.read();
         out.push(await name(bw.write(42)), await name(pending), await name(bw.closed));
         // Cancelling the readable errors the writable; aborting the writable errors the readable.
         const c = new IdentityTransformStream();
         await c.readable.cancel(new RangeError('nope'));
         out.push(await name(c.writable.getWriter().write(enc('x'))));
         const a = new IdentityTransformStream();
         await a.writable.abort(new SyntaxError('bye'));
         out.push(await name(a.readable.getReader().read()));
         // A Response reads it whole; new TransformStream() semantics with a byte queue strategy.
         const via = new IdentityTransformStream({ highWaterMark: 1024 });
         const vw = via.writable.getWriter();
         out.push(vw.desiredSize);
         (async () => { await vw.write(enc('a')); await vw.write('b'); await vw.close(); })();
         out.push(await new Response(via.readable).text());
         out.push(nameSync(() => new IdentityTransformStream({ highWaterMark: -1 })));
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            true,
            "[object IdentityTransformStream]",
            0,
            "hello",
            11,
            104,
            " world",
            [226, 152, 131],
            true,
            "TypeError",
            "TypeError",
            "TypeError",
            "RangeError",
            "SyntaxError",
            1024,
            "ab",
            "TypeError"
        ])
    );
}

#[test]
fn fixed_length_stream_holds_writers_to_its_length() {
    let v = eval(
        "const out = [];
         const f = new FixedLengthStream(6);
         out.push(f instanceof IdentityTransformStream, f instanceof TransformStream, Object.prototype.toString.call(f), FixedLengthStream.length);
         const w = f.writable.getWriter();
         (async () => { await w.write(enc('abc')); await w.write('def'); await w.close(); })();
         out.push(await new Response(f.readable).text());
         // One byte too many: the write fails, and the reader sees the same TypeError.
         const over = new FixedLengthStream(3n);
         const ow = over.writable.getWriter();
         const reading = new Response(over.readable).text();
         out.push(await name(ow.write(enc('abcd'))), await name(reading));
         // Too few: close fails, and so does the reader.
         const under = new FixedLengthStream(4);
         const uw = under.writable.getWriter();
         const all = new Response(under.readable).arrayBuffer();
         await uw.write(enc('ab'));
         out.push(await name(uw.close()), await name(all));
         // Zero bytes expected, none written.
         const zero = new FixedLengthStream(0);
         zero.writable.close();
         out.push((await new Response(zero.readable).arrayBuffer()).byteLength);
         // The length: a whole number of bytes below 2^53, as a number or a bigint.
         for (const n of [-1, 1.5, 2 ** 53, NaN, Infinity, '5', null, -1n, 2n ** 53n]) out.push(nameSync(() => new FixedLengthStream(n)));
         out.push(nameSync(() => new FixedLengthStream()), nameSync(() => new FixedLengthStream(2 ** 53 - 1)));
         // A queuing strategy's high-water mark is capped at the length.
         out.push(new FixedLengthStream(10, { highWaterMark: 100 }).writable.getWriter().desiredSize);
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            true,
            true,
            "[object FixedLengthStream]",
            1,
            "abcdef",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            0,
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "returned",
            10
        ])
    );
}

#[test]
fn aes_gcm_takes_any_non_empty_iv_and_the_spec_tag_lengths() {
    // The GCM specification's test case 6 (AES-128, a 60-byte IV, 20 bytes of additional data).
    let v = eval(
        "const out = [];
         const raw = unhex('feffe9928665731c6d6a8f9467308308');
         const key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
         const pt = unhex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39');
         const additionalData = unhex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
         const iv60 = unhex('9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b');
         const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv60, additionalData }, key, pt);
         out.push(hex(ct));
         out.push(hex(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv60, additionalData }, key, ct)) === hex(pt));
         // Round trips with IVs of 1 to 128 bytes and every allowed tag length.
         const k256 = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
         let trips = 0;
         for (const n of [1, 8, 12, 16, 32, 60, 128]) {
           for (const tagLength of [32, 64, 96, 104, 112, 120, 128]) {
             const iv = crypto.getRandomValues(new Uint8Array(n));
             const c = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, tagLength }, k256, enc('payload'));
             const p = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, tagLength }, k256, c);
             if (c.byteLength === 7 + tagLength / 8 && new TextDecoder().decode(p) === 'payload') trips++;
           }
         }
         out.push(trips);
         // Another IV of the same length does not decrypt.
         const c8 = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(8) }, k256, enc('x'));
         out.push(await name(crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(8).fill(1) }, k256, c8)));
         // An empty IV, a tagLength outside the list, a ciphertext shorter than its tag:
         // OperationError. A tagLength outside an octet, a missing or non-buffer IV: TypeError.
         for (const op of ['encrypt', 'decrypt']) {
           out.push(await name(crypto.subtle[op]({ name: 'AES-GCM', iv: new Uint8Array(0) }, k256, new Uint8Array(32))));
           for (const tagLength of [0, 8, 100, 127, 136, 255]) {
             out.push(await name(crypto.subtle[op]({ name: 'AES-GCM', iv: new Uint8Array(12), tagLength }, k256, new Uint8Array(32))));
           }
           out.push(await name(crypto.subtle[op]({ name: 'AES-GCM', iv: new Uint8Array(12), tagLength: 256 }, k256, new Uint8Array(32))));
           out.push(await name(crypto.subtle[op]({ name: 'AES-GCM' }, k256, new Uint8Array(32))));
           out.push(await name(crypto.subtle[op]({ name: 'AES-GCM', iv: 'twelve bytes' }, k256, new Uint8Array(32))));
         }
         out.push(await name(crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(16), tagLength: 128 }, k256, new Uint8Array(15))));
         return out;",
    );
    let per_op = [
        "OperationError",
        "OperationError",
        "OperationError",
        "OperationError",
        "OperationError",
        "OperationError",
        "OperationError",
        "TypeError",
        "TypeError",
        "TypeError",
    ];
    let mut want = vec![
        serde_json::json!("8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5619cc5aefffe0bfa462af43c1699d050"),
        serde_json::json!(true),
        serde_json::json!(49),
        serde_json::json!("OperationError"),
    ];
    for _ in 0..2 {
        want.extend(per_op.iter().map(|s| serde_json::json!(s)));
    }
    want.push(serde_json::json!("OperationError"));
    assert_eq!(v, serde_json::Value::Array(want));
}

// ---- As a fetch handler's response body. ----

fn request() -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: "https://worker.test/".into(),
        headers: Vec::new(),
        body: Vec::new(),
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({}),
    }
}

/// The worker `src`'s answer to one GET through the task API (`common::fetch_with`): a
/// streamed answer's body collected, and the error text `body.end` carries when it failed.
fn fetch(src: &str) -> (FetchResponse, Option<String>) {
    let fetched = fetch_with(src, &request());
    (fetched.response.expect("a response"), fetched.end_error)
}

#[test]
fn a_fixed_length_stream_answers_a_fetch_with_exactly_its_bytes() {
    let src = "export default { async fetch(request, env, ctx) {
        const { readable, writable } = new FixedLengthStream(11);
        const w = writable.getWriter();
        ctx.waitUntil((async () => {
            await w.write(new TextEncoder().encode('hello '));
            await new Promise((r) => setTimeout(r, 1));
            await w.write('world');
            await w.close();
        })());
        return new Response(readable, { headers: { 'content-type': 'text/plain' } });
    } };";
    let (response, end_error) = fetch(src);
    assert_eq!(response.status, 200);
    assert!(response.streamed);
    assert_eq!(response.body, b"hello world");
    assert_eq!(end_error, None);
}

#[test]
fn a_fixed_length_stream_left_short_fails_the_streamed_body() {
    let src = "export default { async fetch(request, env, ctx) {
        const { readable, writable } = new FixedLengthStream(100);
        const w = writable.getWriter();
        ctx.waitUntil((async () => {
            await w.write(new TextEncoder().encode('only this'));
            await new Promise((r) => setTimeout(r, 1));
            await w.close().catch(() => {});
        })());
        return new Response(readable);
    } };";
    let (response, end_error) = fetch(src);
    assert_eq!(response.body, b"only this");
    let error = end_error.expect("the body ends with an error");
    assert!(error.contains("FixedLengthStream"), "{error}");
}

#[test]
fn a_digest_stream_tees_a_response_body_as_workers_code_does() {
    // The common Workers pattern: hash a body while it streams to the client.
    let src = "export default { async fetch(request, env, ctx) {
        const source = new Response('streamed bytes to hash').body;
        const [toClient, toHash] = source.tee();
        const ds = new crypto.DigestStream('MD5');
        ctx.waitUntil(toHash.pipeTo(ds));
        const { readable, writable } = new IdentityTransformStream();
        ctx.waitUntil((async () => {
            await toClient.pipeTo(writable, { preventClose: true });
            const md5 = [...new Uint8Array(await ds.digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
            const w = writable.getWriter();
            await w.write(' md5=' + md5);
            await w.close();
        })());
        return new Response(readable);
    } };";
    let (response, end_error) = fetch(src);
    assert_eq!(end_error, None);
    // printf 'streamed bytes to hash' | md5sum
    assert_eq!(
        String::from_utf8_lossy(&response.body),
        "streamed bytes to hash md5=8be36a316e952fa6b4a53e819dda51a9"
    );
}
