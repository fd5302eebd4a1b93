//! node:zlib's stream classes (isolate/js/node-zlib-streams.js, on node:stream) and brotli
//! decompression inside real V8 isolates: the isolate's streamed gzip, deflate and brotli decoded
//! by flate2 and brotli outside it, Node 20's brotli bytes decoded inside, `flush()` making what
//! was written decodable, errors as Node's, and decompression bombs: one read slowly holds about
//! a highWaterMark, one read into memory ends at the isolate's limit, one read and dropped goes
//! through whole.
mod common;
use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use stockade_isolate::{Compat, Invocation, Limits, LoadOptions, Module, ModuleSet, Worker};

fn node() -> LoadOptions {
    LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("valid compat"),
        env: serde_json::json!({}),
    }
}

fn run_limited(limits: Limits, body: &str, arg: &str) -> Invocation {
    let src = format!(
        "import zlib from 'node:zlib'; import {{ Readable, Writable }} from 'node:stream';
         import {{ pipeline }} from 'node:stream/promises';
         import {{ Buffer }} from 'node:buffer';
         export default async (arg) => {{ {body} }};"
    );
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
    let loaded = worker.load_with("main.js", &mut set, &node());
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call(arg)
}

fn run(body: &str) -> Invocation {
    run_limited(limits(), body, "null")
}

fn bytes(v: &serde_json::Value, key: &str) -> Vec<u8> {
    serde_json::from_value(v[key].clone()).unwrap_or_else(|e| panic!("{key}: {e}: {v:#}"))
}

/// 300,000 bytes that compress somewhat (Node made the same: see NODE_BROTLI_SHA256).
const SAMPLE: &str = "const big = Buffer.alloc(300000);
     for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 10)) & 0xff;";
/// Node 20: zlib.brotliCompressSync('hello from node brotli '.repeat(50)).
const NODE_BROTLI: &str = "G30E+MVtbF33Fh1CJEQ1iIFlwks6qyFsZfD6EwA=";
/// sha256 of SAMPLE's bytes, by Node 20.
const SAMPLE_SHA256: &str = "cdda45cb2977b0fc641892692128a2c723310d75d0de4050466027553a4314a1";

#[test]
fn streamed_output_decodes_outside_and_nodes_brotli_decodes_inside() {
    let v = ok(run(&format!(
        "{SAMPLE}
         const through = async (stream, chunks) => {{
           const out = [];
           stream.on('data', (c) => out.push(c));
           const done = new Promise((resolve, reject) => {{ stream.on('end', resolve); stream.on('error', reject); }});
           for (const c of chunks) stream.write(c);
           stream.end();
           await done;
           return Buffer.concat(out);
         }};
         const pieces = [];
         for (let i = 0; i < big.length; i += 7777) pieces.push(big.subarray(i, i + 7777));
         const gz = await through(zlib.createGzip(), pieces);
         const br = await through(zlib.createBrotliCompress(), pieces);
         const df = await through(new zlib.Deflate(), pieces);
         const raw = await through(zlib.createDeflateRaw(), pieces);
         // Back through the isolate's own decompressors, one byte at a time for the headers.
         const split = (b) => [b.subarray(0, 1), b.subarray(1, 2), b.subarray(2)];
         const eq = (b) => b.equals(big);
         const nodeBr = Buffer.from('{NODE_BROTLI}', 'base64');
         const {{ createHash }} = await import('node:crypto');
         const viaPipeline = [];
         await pipeline(Readable.from(split(gz)), zlib.createGunzip(),
           new Writable({{ write(c, e, cb) {{ viaPipeline.push(c); cb(); }} }}));
         return {{
           gz: Array.from(gz), br: Array.from(br), df: Array.from(df), raw: Array.from(raw),
           back: [eq(await through(zlib.createGunzip(), split(gz))), eq(await through(zlib.createBrotliDecompress(), split(br))),
                  eq(await through(zlib.createInflate(), split(df))), eq(await through(zlib.createInflateRaw(), split(raw))),
                  eq(await through(zlib.createUnzip(), split(gz))), eq(await through(zlib.createUnzip(), split(df))),
                  eq(Buffer.concat(viaPipeline))],
           nodeBr: [zlib.brotliDecompressSync(nodeBr).toString(), (await through(zlib.createBrotliDecompress(), [nodeBr])).toString(),
                    await new Promise((r) => zlib.brotliDecompress(nodeBr, (e, b) => r(e ? e.code : b.length)))],
           oneShot: eq(zlib.brotliDecompressSync(zlib.brotliCompressSync(big))),
           sha: createHash('sha256').update(big).digest('hex'),
         }};"
    )));
    assert_eq!(
        v["back"],
        serde_json::json!([true, true, true, true, true, true, true]),
        "{v:#}"
    );
    assert_eq!(v["sha"], SAMPLE_SHA256);
    let text = "hello from node brotli ".repeat(50);
    assert_eq!(v["nodeBr"], serde_json::json!([text, text, text.len()]));
    assert_eq!(v["oneShot"], true);
    // The isolate's streams, decoded by flate2 and the brotli crate.
    let mut sample = vec![0u8; 300_000];
    for (i, b) in sample.iter_mut().enumerate() {
        *b = ((i * 7 + (i >> 10)) & 0xff) as u8;
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes(&v, "gz")[..])
        .read_to_end(&mut out)
        .expect("gzip");
    assert!(out == sample, "gzip");
    out.clear();
    flate2::read::ZlibDecoder::new(&bytes(&v, "df")[..])
        .read_to_end(&mut out)
        .expect("zlib");
    assert!(out == sample, "zlib");
    out.clear();
    flate2::read::DeflateDecoder::new(&bytes(&v, "raw")[..])
        .read_to_end(&mut out)
        .expect("raw");
    assert!(out == sample, "raw");
    out.clear();
    brotli::Decompressor::new(&bytes(&v, "br")[..], 4096)
        .read_to_end(&mut out)
        .expect("brotli");
    assert!(out == sample, "brotli");
}

#[test]
fn flush_makes_what_was_written_decodable() {
    let v = ok(run("const gz = zlib.createGzip();
         const out = [];
         gz.on('data', (c) => out.push(c));
         gz.write('first event\\n');
         await new Promise((resolve) => gz.flush(resolve));
         const afterFlush = Buffer.concat(out);
         gz.write('second event\\n');
         const flushedAgain = await new Promise((resolve) => gz.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(true)));
         await new Promise((resolve) => gz.end(resolve));
         await new Promise((resolve) => setTimeout(resolve, 0));
         return { afterFlush: Array.from(afterFlush), all: Array.from(Buffer.concat(out)),
                  bytesWritten: gz.bytesWritten, flushedAgain, handle: gz._handle };"));
    // What came out before the end is a decodable prefix with the first event whole.
    let prefix = bytes(&v, "afterFlush");
    let mut d = flate2::write::DeflateDecoder::new(Vec::new());
    d.write_all(&prefix[10..]).expect("inflate");
    d.flush().expect("flush");
    assert_eq!(d.get_ref().as_slice(), b"first event\n");
    let mut out = String::new();
    flate2::read::GzDecoder::new(&bytes(&v, "all")[..])
        .read_to_string(&mut out)
        .expect("gzip");
    assert_eq!(out, "first event\nsecond event\n");
    assert_eq!(v["bytesWritten"], 25);
    assert_eq!(v["flushedAgain"], true);
    assert_eq!(v["handle"], serde_json::Value::Null, "freed at the end");
}

#[test]
fn corrupt_input_is_nodes_error_and_destroys() {
    let v = ok(run("const errorOf = (stream, input) => new Promise((resolve) => {
           stream.on('error', (e) => resolve([e.name, e.code, e.errno, stream.destroyed]));
           stream.on('end', () => resolve('ended'));
           stream.resume();
           stream.end(input);
         });
         let piped = null;
         try { await pipeline(Readable.from([Buffer.from('not gzip at all')]), zlib.createGunzip(), new Writable({ write(c, e, cb) { cb(); } })); }
         catch (e) { piped = e.code; }
         const truncated = zlib.gzipSync('some text that will be cut short');
         return { gunzip: await errorOf(zlib.createGunzip(), Buffer.from('not gzip at all')),
                  brotli: await errorOf(zlib.createBrotliDecompress(), Buffer.from('not brotli at all')),
                  truncated: await errorOf(zlib.createGunzip(), truncated.subarray(0, truncated.length - 4)),
                  piped,
                  badChunk: (() => { try { zlib.createGzip().write({}); return 'no error'; } catch (e) { return e.code; } })() };"));
    let data_error = serde_json::json!(["Error", "Z_DATA_ERROR", -3, true]);
    assert_eq!(v["gunzip"], data_error, "{v:#}");
    // Node says ERR__ERROR_FORMAT_PADDING_2 (brotli's own error names); Stockade Z_DATA_ERROR.
    assert_eq!(v["brotli"], data_error);
    // Node 20's answers for the same input.
    assert_eq!(
        v["truncated"],
        serde_json::json!(["Error", "Z_BUF_ERROR", -5, true])
    );
    assert_eq!(v["piped"], "Z_DATA_ERROR");
    assert_eq!(v["badChunk"], "ERR_INVALID_ARG_TYPE");
}

/// A gzip member of `n` zero bytes.
fn gzip_zeros(n: usize) -> String {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..n >> 20 {
        e.write_all(&zeros).expect("gzip");
    }
    let packed = e.finish().expect("gzip");
    serde_json::to_string(&packed).expect("json")
}

fn bomb_limits() -> Limits {
    Limits {
        cpu: Duration::from_secs(10),
        wall: Duration::from_secs(30),
        memory_bytes: 64 << 20,
        ..Limits::default()
    }
}

#[test]
fn a_gunzip_bomb_is_held_to_the_high_water_mark_or_ends_at_the_memory_limit() {
    let bomb = gzip_zeros(256 << 20);
    // Not read: the stream stops after its buffer fills, however much the input would make.
    let v = ok(run_limited(
        bomb_limits(),
        "const g = zlib.createGunzip();
         g.write(Buffer.from(arg));
         for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 0));
         const held = g.readableLength;
         g.destroy();
         return { held, hwm: g.readableHighWaterMark };",
        &bomb,
    ));
    let held = v["held"].as_u64().expect("number");
    assert!(
        held > 0 && held <= (16 << 10) + (1 << 20),
        "held {held} bytes: {v:#}"
    );
    // Read and dropped: all of it goes through, four times the isolate's memory limit.
    let v = ok(run_limited(
        bomb_limits(),
        "let total = 0;
         await pipeline(Readable.from([Buffer.from(arg)]), zlib.createGunzip(),
           new Writable({ write(c, e, cb) { total += c.length; cb(); } }));
         return total;",
        &bomb,
    ));
    assert_eq!(v, 256u64 << 20);
    // Read into memory: the isolate's memory limit ends it, and this process goes on.
    let kept = run_limited(
        bomb_limits(),
        "const kept = [];
         const g = zlib.createGunzip();
         g.on('data', (c) => kept.push(c));
         await new Promise((resolve, reject) => { g.on('end', resolve); g.on('error', reject); g.end(Buffer.from(arg)); });
         return kept.length;",
        &bomb,
    );
    assert!(kept.result.is_err(), "{:?}", kept.result);
    let after = ok(run(
        "return zlib.gunzipSync(zlib.gzipSync('still here')).toString();",
    ));
    assert_eq!(after, "still here");
}
