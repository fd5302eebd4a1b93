//! `node:zlib` (isolate/js/node-zlib.js) inside real V8 isolates: Node's own compressed bytes
//! decoded (vectors made by Node 20's zlib), the isolate's output decoded by flate2 and brotli
//! outside it, the callback form through `util.promisify`, Node's errors for corrupt input and
//! `maxOutputLength`, `crc32` against Node's values. The stream classes: tests/node_stream.rs.
mod common;
use std::io::Read;

use common::*;
use stockade_isolate::{Compat, Invocation, LoadOptions, Module, ModuleSet, Worker};

fn node() -> LoadOptions {
    LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("valid compat"),
        env: serde_json::json!({}),
    }
}

fn run(body: &str) -> Invocation {
    let src = format!(
        "import zlib from 'node:zlib'; import {{ promisify }} from 'node:util';
         import {{ Buffer }} from 'node:buffer';
         export default async () => {{ {body} }};"
    );
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
    let loaded = worker.load_with("main.js", &mut set, &node());
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call("null")
}

/// What Node 20 made of "hello from node zlib " three times.
const TEXT: &str = "hello from node zlib hello from node zlib hello from node zlib ";
const NODE_GZIP: &str = "H4sIAAAAAAAAA8tIzcnJV0grys9VyMtPSVWoyslMUsggWhAAy+qloT8AAAA=";
const NODE_DEFLATE: &str = "eJzLSM3JyVdIK8rPVcjLT0lVqMrJTFLIIFoQAOTHFt4=";
const NODE_RAW: &str = "y0jNyclXSCvKz1XIy09JVajKyUxSyCBaEAA=";

#[test]
fn nodes_compressed_bytes_decode_and_ours_decode_outside() {
    let v = ok(run(&format!(
        "const b = (s) => Buffer.from(s, 'base64');
         const text = (buf) => [Buffer.isBuffer(buf), buf.toString()];
         return {{
           gunzip: text(zlib.gunzipSync(b('{NODE_GZIP}'))),
           inflate: text(zlib.inflateSync(b('{NODE_DEFLATE}'))),
           inflateRaw: text(zlib.inflateRawSync(b('{NODE_RAW}'))),
           unzipGzip: text(zlib.unzipSync(b('{NODE_GZIP}'))),
           unzipZlib: text(zlib.unzipSync(b('{NODE_DEFLATE}'))),
           promisified: text(await promisify(zlib.gunzip)(b('{NODE_GZIP}'))),
           gzip: Array.from(zlib.gzipSync('{TEXT}')),
           deflate: Array.from(zlib.deflateSync(new TextEncoder().encode('{TEXT}'))),
           raw: Array.from(zlib.deflateRawSync(Buffer.from('{TEXT}'))),
           br: Array.from(zlib.brotliCompressSync('{TEXT}')),
           roundTrip: zlib.inflateRawSync(zlib.deflateRawSync('x'.repeat(100000))).length,
         }};"
    )));
    for key in [
        "gunzip",
        "inflate",
        "inflateRaw",
        "unzipGzip",
        "unzipZlib",
        "promisified",
    ] {
        assert_eq!(v[key], serde_json::json!([true, TEXT]), "{key}: {v:#}");
    }
    assert_eq!(v["roundTrip"], 100000);
    let bytes = |key: &str| -> Vec<u8> {
        serde_json::from_value(v[key].clone()).unwrap_or_else(|e| panic!("{key}: {e}: {v:#}"))
    };
    let mut out = String::new();
    flate2::read::GzDecoder::new(&bytes("gzip")[..])
        .read_to_string(&mut out)
        .expect("gzip");
    assert_eq!(out, TEXT);
    out.clear();
    flate2::read::ZlibDecoder::new(&bytes("deflate")[..])
        .read_to_string(&mut out)
        .expect("zlib");
    assert_eq!(out, TEXT);
    out.clear();
    flate2::read::DeflateDecoder::new(&bytes("raw")[..])
        .read_to_string(&mut out)
        .expect("raw deflate");
    assert_eq!(out, TEXT);
    out.clear();
    brotli::Decompressor::new(&bytes("br")[..], 4096)
        .read_to_string(&mut out)
        .expect("brotli");
    assert_eq!(out, TEXT);
}

#[test]
fn errors_are_nodes() {
    let v = ok(run(
        "const err = (f) => { try { f(); return 'no error'; } catch (e) { return [e.name, e.code, e.errno ?? null]; } };
         const later = await new Promise((resolve) => zlib.gunzip(Buffer.from('not gzip'), (e, r) => resolve([e?.code, r ?? null])));
         return {
           corrupt: err(() => zlib.gunzipSync(Buffer.from('not gzip'))),
           tooLarge: err(() => zlib.inflateSync(zlib.deflateSync('x'.repeat(1000)), { maxOutputLength: 10 })),
           badLimit: err(() => zlib.inflateSync(zlib.deflateSync('x'), { maxOutputLength: 0 })),
           badInput: err(() => zlib.gzipSync(42)),
           later,
           crc: [zlib.crc32('hello'), zlib.crc32('world', zlib.crc32('hello ')), zlib.crc32('hello world')],
           brotliDecompress: err(() => zlib.brotliDecompressSync(Buffer.from('not brotli at all'))),
           constants: [zlib.constants.Z_SYNC_FLUSH, zlib.constants.Z_DATA_ERROR],
         };",
    ));
    assert_eq!(
        v["corrupt"],
        serde_json::json!(["Error", "Z_DATA_ERROR", -3]),
        "{v:#}"
    );
    assert_eq!(
        v["tooLarge"],
        serde_json::json!(["RangeError", "ERR_BUFFER_TOO_LARGE", null])
    );
    assert_eq!(
        v["badLimit"],
        serde_json::json!(["RangeError", "ERR_OUT_OF_RANGE", null])
    );
    assert_eq!(
        v["badInput"],
        serde_json::json!(["TypeError", "ERR_INVALID_ARG_TYPE", null])
    );
    assert_eq!(v["later"], serde_json::json!(["Z_DATA_ERROR", null]));
    // Node 20's zlib.crc32 of the same inputs.
    assert_eq!(
        v["crc"],
        serde_json::json!([907060870u32, 222957957u32, 222957957u32])
    );
    assert_eq!(
        v["brotliDecompress"],
        serde_json::json!(["Error", "Z_DATA_ERROR", -3]),
        "{v:#}"
    );
    assert_eq!(v["constants"], serde_json::json!([2, -3]));
}

#[test]
fn a_decompression_bomb_ends_at_the_memory_limit_not_the_process() {
    // 1 GiB of zeros kept from 16 KiB of input: the isolate's memory limit ends it, and the
    // isolate's process (this test) goes on.
    let v = run("const bomb = zlib.deflateRawSync(new Uint8Array(16 << 20));
         const kept = [];
         for (let i = 0; i < 64; i++) kept.push(zlib.inflateRawSync(bomb));
         return kept.length;");
    assert!(v.result.is_err(), "{:?}", v.result);
    let after = ok(run(
        "return zlib.inflateRawSync(zlib.deflateRawSync('still here')).toString();",
    ));
    assert_eq!(after, "still here");
}

mod node_crypto_support;

#[test]
fn bytes_after_a_streams_end_are_read_as_node_reads_them() {
    // Concatenated gzip members, trailing zeros, trailing garbage and truncated members, the same
    // in Stockade and Node 20; one-shot and streamed, split across member boundaries.
    node_crypto_support::same(
        "const zlib = await import('node:zlib');
         const t = (f) => { try { const r = f(); return Buffer.isBuffer(r) ? r.toString() : r; } catch (e) { return ['ERR', e.code, e.message]; } };
         const a = zlib.gzipSync('hello '), b = zlib.gzipSync('world');
         const many = Buffer.concat(Array.from({ length: 200 }, (_, i) => zlib.gzipSync(String(i % 10))));
         const out = [
           t(() => zlib.gunzipSync(Buffer.concat([a, b]))),
           t(() => zlib.gunzipSync(many)),
           t(() => zlib.unzipSync(Buffer.concat([a, b]))),
           t(() => zlib.gunzipSync(Buffer.concat([a, Buffer.from('garbage!')]))),
           t(() => zlib.gunzipSync(Buffer.concat([a, Buffer.alloc(10)]))),
           t(() => zlib.gunzipSync(Buffer.concat([a, Buffer.from([0, 1, 2, 3])]))),
           t(() => zlib.gunzipSync(Buffer.concat([a, Buffer.from([0x1f])]))),
           t(() => zlib.gunzipSync(Buffer.concat([a, b.subarray(0, 15)]))),
           t(() => zlib.inflateSync(Buffer.concat([zlib.deflateSync('abc'), Buffer.from('xyz')]))),
           t(() => zlib.inflateRawSync(Buffer.concat([zlib.deflateRawSync('abc'), Buffer.from('xyz')]))),
           t(() => zlib.brotliDecompressSync(Buffer.concat([zlib.brotliCompressSync('abc'), Buffer.from('xyz')]))),
         ];
         const streamed = (bytes, cut) => new Promise((res) => {
           const g = zlib.createGunzip();
           const got = [];
           g.on('data', (c) => got.push(c)).on('end', () => res(Buffer.concat(got).toString())).on('error', (e) => res(['ERR', e.code]));
           for (let i = 0; i < bytes.length; i += cut) g.write(bytes.subarray(i, i + cut));
           g.end();
         });
         const both = Buffer.concat([a, b]);
         out.push(await streamed(both, a.length), await streamed(both, 7), await streamed(many, 1000),
                  await streamed(Buffer.concat([both, Buffer.from('x')]), 5));
         return out;",
    );
}

#[test]
fn decompression_streams_still_refuse_bytes_after_the_end() {
    // The web's DecompressionStream keeps the standard's rule, on the same native decoder.
    let inv = run(
        "const both = Buffer.concat([zlib.gzipSync('a'), zlib.gzipSync('b')]);
         try {
           await new Response(new Blob([both]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
           return 'no error';
         } catch (e) { return e.name; }",
    );
    assert_eq!(ok(inv), "TypeError");
}

#[test]
fn generated_zlib_calls_answer_as_in_node() {
    // 300 seeded calls: options of every kind (level, windowBits, memLevel, strategy, chunkSize,
    // out of range, fractions, strings), each format's one-shot compress-then-decompress round
    // trip with them (brotli's params too), and the decompression of damaged and foreign input;
    // the text that comes back, or the same error code (compressed bytes are not compared: any
    // deflater may choose others).
    node_crypto_support::same(
        "const zlib = await import('node:zlib');
         let seed = 0x21b9;
         const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); };
         const pick = (list) => list[rand(list.length)];
         const formats = [['deflateSync', 'inflateSync'], ['deflateRawSync', 'inflateRawSync'], ['gzipSync', 'gunzipSync'], ['gzipSync', 'unzipSync'],
           ['deflateSync', 'unzipSync'], ['brotliCompressSync', 'brotliDecompressSync']];
         const option = () => pick([undefined, 0, 1, 9, -1, 10, 1.5, '5', 8, 15, 16, 7, -8, 100, null]);
         const out = [];
         for (let i = 0; i < 300; i++) {
           try {
             let [c, d] = pick(formats);
             const text = pick(['', 'a', 'hello hello hello', 'x'.repeat(300), 'é😀']);
             const kind = rand(3);
             // (Damaged input only for zlib's formats: Node names each brotli decoder error, here it
             // is Z_DATA_ERROR.)
             if (kind > 0 && c.startsWith('brotli')) [c, d] = formats[0];
             if (kind === 0) {
               const options = {};
               // (Not finishFlush: a one-shot call here always ends its stream, where Node's ends it
               // with the flush given, an unfinished stream for any but Z_FINISH.)
               for (const k of ['level', 'windowBits', 'memLevel', 'strategy', 'chunkSize', 'flush']) if (rand(3) === 0) options[k] = option();
               if (rand(4) === 0) options.params = { [pick([0, 1, 2, 8, 9, -1, 'x'])]: pick([1, true, '1']) };
               out.push(zlib[d](zlib[c](text, options)).toString());
             } else if (kind === 1) {
               const packed = zlib[c](text);
               const cut = Buffer.from(packed.subarray(0, rand(packed.length + 1)));
               const flipped = cut.length > 0 && rand(2) === 1;
               if (flipped) cut[rand(cut.length)] ^= 1 << rand(8);
               // A flipped bit: whether it is refused, not how (zlib may read on to the end of a
               // block the Rust decoder already refuses: Z_BUF_ERROR for Z_DATA_ERROR).
               try { out.push(zlib[d](cut).toString()); } catch (e) { out.push(flipped && /^Z_(DATA|BUF)_ERROR$/.test(e.code) ? 'refused' : e.code ?? e.name); }
             } else {
               out.push(zlib[d](Buffer.from(pick(['not compressed', '\\x1f\\x8b\\x08', '\\x78\\x9c', '']))).toString());
             }
           } catch (e) {
             out.push(e.code ?? e.name);
           }
         }
         return out;",
    );
}

#[test]
fn stream_classes_check_their_options_as_in_node() {
    node_crypto_support::same(
        "const zlib = await import('node:zlib');
         const t = (f) => { try { f(); return 'ok'; } catch (e) { return e.code ?? e.name; } };
         return [t(() => zlib.createGzip({ level: 10 })), t(() => zlib.createInflate({ windowBits: null })),
           t(() => zlib.createInflateRaw({ windowBits: 0 })), t(() => zlib.createGzip({ chunkSize: 10 })),
           t(() => zlib.createDeflate({ windowBits: 8 })), t(() => zlib.createGzip({ windowBits: 8 })),
           t(() => zlib.createBrotliCompress({ params: { 9: 1 } })), t(() => zlib.createDeflate({ strategy: '1' }))];",
    );
}
