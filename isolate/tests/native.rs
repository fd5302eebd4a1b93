//! The native families on the op road inside real V8 isolates: CompressionStream and
//! DecompressionStream (interop with gzip(1), every format, a decompression bomb that must end as
//! a limit or a clear error, never an out-of-memory of the process) and TextDecoder's legacy
//! encodings (labels, fatal, streaming, TextDecoderStream).
mod common;
use std::time::{Duration, Instant};

use common::*;
use stockade_isolate::ops::{self, compression, fields, state::OpState, OpCode, OpCtx};
use stockade_isolate::{LimitKind, Limits, RunError};

fn eval(body: &str) -> serde_json::Value {
    ok(run(&format!(
        "const enc = (s) => new TextEncoder().encode(s);\n\
         const collect = async (readable) => new Uint8Array(await new Response(readable).arrayBuffer());\n\
         const through = (bytes, ts) => new Blob([bytes]).stream().pipeThrough(ts);\n\
         export default async () => {{ {body} }};"
    )))
}

#[test]
fn gzip_of_gzip_1_decompresses_and_every_format_round_trips() {
    // `printf 'hello stockade\n' | gzip -n -9 | base64`
    let v = eval(
        "const gz = Uint8Array.from(atob('H4sIAAAAAAACA8tIzcnJVyguyU/OTkxJ5QIAfaoprw8AAAA='), (c) => c.charCodeAt(0));
         const text = new TextDecoder().decode(await collect(through(gz, new DecompressionStream('gzip'))));
         const data = enc('stockade '.repeat(50000));
         const sizes = [];
         for (const f of ['gzip', 'deflate', 'deflate-raw']) {
           const packed = await collect(through(data, new CompressionStream(f)));
           const back = await collect(through(packed, new DecompressionStream(f)));
           sizes.push(packed.length < 5000 && back.length === data.length && back.every((b, i) => b === data[i]));
         }
         const ours = await collect(through(enc('x'), new CompressionStream('gzip')));
         return [text, sizes, Array.from(ours.subarray(0, 3))];",
    );
    assert_eq!(
        v,
        serde_json::json!(["hello stockade\n", [true, true, true], [31, 139, 8]])
    );
}

#[test]
fn bad_input_and_arguments_are_typed_errors() {
    let v = eval(
        "const out = [];
         try { new CompressionStream('zstd'); } catch (e) { out.push(e.name); }
         try { new DecompressionStream(); } catch (e) { out.push(e.name); }
         for (const bad of [enc('not gzip at all'), 'a string']) {
           const ds = new DecompressionStream('gzip');
           const w = ds.writable.getWriter();
           w.write(bad).catch(() => {});
           w.close().catch(() => {});
           try { await collect(ds.readable); out.push('no error'); } catch (e) { out.push(e.name); }
         }
         // A truncated stream errors at the end, after the output it had.
         const gz = await collect(through(enc('hello'), new CompressionStream('gzip')));
         try { await collect(through(gz.subarray(0, gz.length - 2), new DecompressionStream('gzip'))); out.push('no error'); }
         catch (e) { out.push(e.name); }
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError"
        ])
    );
}

#[test]
fn brotli_streams_interoperate_with_the_brotli_crate_and_open_side_by_side() {
    use std::io::{Read, Write};
    // Made by another encoder (quality 11, a 4 MiB window, as `brotli -q 11` makes).
    let plain = "stockade brotli ".repeat(40_000);
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 11, 22);
    w.write_all(plain.as_bytes()).expect("compress");
    let theirs = base64(&w.into_inner());
    let v = eval(&format!(
        "const br = Uint8Array.from(atob('{theirs}'), (c) => c.charCodeAt(0));
         const dec = async () => new TextDecoder().decode(
           await collect(through(br, new DecompressionStream('brotli'))));
         // Three decoders at once, as a handler decoding several responses does.
         const texts = await Promise.all([dec(), dec(), dec()]);
         const ours = await collect(through(enc('stockade '.repeat(50000)), new CompressionStream('brotli')));
         return [texts.map((t) => t.length), texts[0].slice(0, 16), Array.from(ours)];"
    ));
    let n = plain.len() as u64;
    assert_eq!(v[0], serde_json::json!([n, n, n]), "{v}");
    assert_eq!(v[1], "stockade brotli ");
    // What CompressionStream('brotli') made, decoded by the brotli crate.
    let ours: Vec<u8> = serde_json::from_value(v[2].clone()).expect("bytes");
    assert!(ours.len() < 1000, "{}", ours.len());
    let mut back = Vec::new();
    brotli::Decompressor::new(&ours[..], 4096)
        .read_to_end(&mut back)
        .expect("decodes");
    assert!(back == "stockade ".repeat(50000).as_bytes());
}

/// The codec streams take writes before anyone reads (workerd's do; Workers code writes, closes and
/// only then reads): up to 1 MiB of output is held, and past it a write waits for a read, as the
/// standard's streams wait. With the standard's TransformStream (nothing held) the first write
/// never settled.
#[test]
fn codec_streams_take_writes_before_a_reader_and_then_wait_for_one() {
    let v = eval(
        "const enc = new TextEncoder();
         const gz = new CompressionStream('gzip'); const w = gz.writable.getWriter();
         await w.write(enc.encode('hello '.repeat(100))); await w.close();
         const back = await new Response(new Response(gz.readable).body.pipeThrough(new DecompressionStream('gzip'))).text();
         const te = new TextEncoderStream(); const tw = te.writable.getWriter();
         await tw.write('é'); await tw.close();
         const bytes = [...new Uint8Array(await new Response(te.readable).arrayBuffer())];
         // Incompressible 768 KiB chunks: the first two are taken, then the output held passes 1 MiB.
         const noise = () => crypto.getRandomValues(new Uint8Array(65536));
         const chunk = () => { const c = new Uint8Array(12 * 65536); for (let i = 0; i < 12; i++) c.set(noise(), i * 65536); return c; };
         const raw = new CompressionStream('deflate-raw'); const rw = raw.writable.getWriter();
         await rw.write(chunk()); await rw.write(chunk());
         const third = rw.write(chunk()).then(() => 'written');
         const before = await Promise.race([third, new Promise((r) => setTimeout(() => r('waiting'), 50))]);
         const reader = raw.readable.getReader(); let read = 0;
         const drain = (async () => { for (;;) { const { done, value } = await reader.read(); if (done) return; read += value.length; } })();
         const after = await third; await rw.close(); await drain;
         return [back.length, bytes, before, after, read > 3 * 12 * 65536];",
    );
    assert_eq!(
        v,
        serde_json::json!([600, [195, 169], "waiting", "written", true])
    );
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() / 3 * 4 + 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// 1 GiB of zeros, gzipped by the native compressor (about 1 MiB).
fn gzip_bomb() -> Vec<u8> {
    let flag = std::sync::atomic::AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    let h = ops::run(
        OpCode::CompressNew as u32,
        &fields::encode(&[&2u32.to_le_bytes()]),
        &ctx,
    )
    .expect("new");
    let zeros = vec![0u8; compression::MAX_CALL_INPUT];
    let mut bomb = Vec::new();
    for i in 0..1024 {
        let finish = u32::from(i == 1023);
        let mut rest = &zeros[..];
        loop {
            let out = ops::run(
                OpCode::CompressWrite as u32,
                &fields::encode(&[&h[..], rest, &finish.to_le_bytes()]),
                &ctx,
            )
            .expect("compress");
            let f = fields::Fields::parse(&out).expect("answer");
            bomb.extend_from_slice(f.bytes(2).expect("output"));
            rest = &rest[f.u32(0).expect("consumed") as usize..];
            if f.u32(1).expect("flags") & compression::MORE == 0 && rest.is_empty() {
                break;
            }
        }
    }
    bomb
}

#[test]
fn a_gzip_bomb_ends_as_a_limit_or_a_clear_error() {
    let bomb = gzip_bomb();
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let b64 = base64(&bomb);
    let limits = Limits {
        cpu: Duration::from_secs(20),
        wall: Duration::from_secs(60),
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    // The tenant reads it all (keeping nothing), or collects it: either way it must stop.
    for keep in [false, true] {
        let src = format!(
            "const bomb = Uint8Array.from(atob('{b64}'), (c) => c.charCodeAt(0));
             export default async () => {{
               const r = new Blob([bomb]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
               const kept = []; let total = 0;
               try {{
                 for (;;) {{ const {{ done, value }} = await r.read(); if (done) break; total += value.length; if ({keep}) kept.push(value); }}
               }} catch (e) {{ return [e.name, e.message, total]; }}
               return ['done', '', total];
             }};"
        );
        let started = Instant::now();
        let inv = run_with(limits.clone(), &[("main.js", &src)], "null");
        let took = started.elapsed();
        match inv.result {
            Ok(json) => {
                eprintln!("keep={keep}: {json} in {took:?}");
                let v: serde_json::Value = serde_json::from_str(&json).expect("json");
                assert_eq!(v[0], "RangeError", "keep={keep}: {v}");
                assert!(v[2].as_u64().expect("total") < 1 << 30, "{v}");
            }
            Err(RunError::Limit(kind)) => {
                eprintln!("keep={keep}: limit {kind:?} in {took:?}");
                assert!(
                    matches!(
                        kind,
                        LimitKind::ExternalMemory | LimitKind::Heap | LimitKind::Cpu
                    ),
                    "keep={keep}: {kind:?}"
                );
            }
            Err(e) => panic!("keep={keep}: {e:?}"),
        }
        assert!(took < Duration::from_secs(60), "{took:?}");
    }
}

#[test]
fn legacy_encodings_decode_with_fatal_bom_and_streaming() {
    let v = eval(
        "const out = [];
         const sjis = new Uint8Array([0x82, 0xa0, 0x20, 0xa4, 0xa2]);
         out.push(new TextDecoder('shift_jis').decode(sjis));
         out.push(new TextDecoder(' Latin1 ').encoding, new TextDecoder('latin1').decode(new Uint8Array([0x80, 0xe9])));
         // Streaming: a two-byte character split across calls.
         const d = new TextDecoder('sjis');
         out.push(d.decode(sjis.subarray(0, 1), { stream: true }) + '|' + d.decode(sjis.subarray(1)));
         // UTF-16: the BOM is dropped once unless ignoreBOM.
         const u16 = new Uint8Array([0xff, 0xfe, 0x41, 0x00]);
         out.push(new TextDecoder('utf-16le').decode(u16), new TextDecoder('utf-16le', { ignoreBOM: true }).decode(u16).length);
         // fatal: a lone lead byte at the end.
         try { new TextDecoder('euc-jp', { fatal: true }).decode(new Uint8Array([0x41, 0xa4])); out.push('no error'); }
         catch (e) { out.push(e.name); }
         out.push(new TextDecoder('euc-jp').decode(new Uint8Array([0x41, 0xa4])));
         try { new TextDecoder('iso-2022-kr'); } catch (e) { out.push(e.name); }
         try { new TextDecoder('nope'); } catch (e) { out.push(e.name); }
         const chunks = [];
         const ts = new TextDecoderStream('windows-1251');
         const w = ts.writable.getWriter();
         w.write(new Uint8Array([0xcf, 0xf0])); w.write(new Uint8Array([0xe8, 0xe2, 0xe5, 0xf2])); w.close();
         for await (const c of ts.readable) chunks.push(c);
         out.push(ts.encoding, chunks.join(''));
         // A large input crosses the native side in pieces.
         const big = new Uint8Array(3 << 20).fill(0xe9);
         const s = new TextDecoder('iso-8859-2').decode(big);
         out.push(s.length, s.charCodeAt(0), s.charCodeAt(s.length - 1));
         return out;",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "\u{3042} \u{ff64}\u{ff62}",
            "windows-1252",
            "\u{20ac}\u{e9}",
            "|\u{3042} \u{ff64}\u{ff62}",
            "A",
            2,
            "TypeError",
            "A\u{fffd}",
            "RangeError",
            "RangeError",
            "windows-1251",
            "\u{41f}\u{440}\u{438}\u{432}\u{435}\u{442}",
            3 << 20,
            0xe9,
            0xe9
        ])
    );
}

#[test]
fn abandoned_native_objects_are_capped_per_isolate() {
    // Each CompressionStream made and written but never closed keeps its compressor until the
    // isolate goes; past the cap a new one fails with a QuotaExceededError, and the worker lives.
    let v = eval(
        "const keep = [];
         for (let i = 0; i < 200; i++) {
           const cs = new CompressionStream('deflate');
           const w = cs.writable.getWriter();
           cs.readable.getReader().read().catch(() => {}); // lifts the readable side's backpressure
           try { await w.write(enc('x')); } catch (e) { return [i, e.name]; }
           keep.push(cs);
         }
         return ['no cap'];",
    );
    assert_eq!(v[1], "QuotaExceededError", "{v}");
    let n = v[0].as_u64().expect("count") as usize;
    assert_eq!(n, ops::state::MAX_STATE_BYTES / compression::deflate::COST);
}

#[test]
fn abandoned_streams_are_freed_when_collected() {
    // Far more abandoned compressors than the cap allows at once: each batch becomes garbage, the
    // garbage collector finds it, and the FinalizationRegistry frees the native side.
    let limits = Limits {
        cpu: Duration::from_secs(20),
        wall: Duration::from_secs(60),
        ..limits()
    };
    let src = "export default async () => {
        const per = 40;
        for (let batch = 0; batch < 10; batch++) {
          for (let i = 0; i < per; i++) {
            const cs = new CompressionStream('deflate');
            cs.readable.getReader().read().catch(() => {});
            try { await cs.writable.getWriter().write(new Uint8Array(8)); }
            catch (e) { return [batch * per + i, e.name]; }
          }
          // Garbage, so that the collector runs, then a turn of the event loop for its cleanup.
          let junk = [];
          for (let k = 0; k < 200; k++) junk.push(new Array(10000).fill(k));
          junk = null;
          await new Promise((r) => setTimeout(r, 1));
        }
        return ['ok'];
      };";
    let v = ok(run_with(limits, &[("main.js", src)], "null"));
    assert_eq!(v, serde_json::json!(["ok"]));
}
