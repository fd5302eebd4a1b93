//! node:fs's `/bundle` inside real V8 isolates: every module of the worker under its name (a
//! directory per `/` in a name), with the bytes it was given (JavaScript, TypeScript and CommonJS
//! source as uploaded, text, JSON, data and wasm bytes), through every read form node:fs has,
//! and read-only as workerd answers (EPERM for every write, EISDIR to unlink the directory).
mod common;
use std::time::Duration;

use common::*;
use stockade_isolate::{LoadOptions, Module, ModuleKind, ModuleSet, Worker};

const MAIN: &str = "import fs from 'node:fs'; import fsp from 'node:fs/promises';
import { Buffer } from 'node:buffer';
import { helper } from './lib/util.js';
import notes from './notes.txt';
import legacy from './legacy.cjs';
const codeOf = (f) => { try { f(); return null; } catch (e) { return [e.code, e.syscall, e.message]; } };
export default async (arg) => {
  if (arg === 'listing') {
    const stat = (p) => { const s = fs.statSync(p); return [s.size, s.isFile(), s.isDirectory(), s.mode]; };
    return {
      root: fs.readdirSync('/bundle'),
      lib: fs.readdirSync('/bundle/lib'),
      deep: fs.readdirSync('/bundle/lib/deep'),
      types: fs.readdirSync('/bundle', { withFileTypes: true }).map((d) => [d.name, d.isFile(), d.isDirectory()]),
      stats: {
        main: stat('/bundle/main.js'), util: stat('/bundle/lib/util.js'), notes: stat('/bundle/notes.txt'),
        blob: stat('/bundle/blob.bin'), wasm: stat('/bundle/mod.wasm'), lib: stat('/bundle/lib'),
      },
      exists: [fs.existsSync('/bundle/lib/util.js'), fs.existsSync('/bundle/nope.js')],
      imported: [helper(), notes, legacy.a],
    };
  }
  if (arg === 'contents') {
    const text = (p) => fs.readFileSync(p, 'utf8');
    return {
      main: text('/bundle/main.js'), util: text('/bundle/lib/util.js'), notes: text('/bundle/notes.txt'),
      conf: text('/bundle/conf.json'), legacy: text('/bundle/legacy.cjs'), ts: text('/bundle/types.ts'),
      deep: text('/bundle/lib/deep/x.txt'),
      blob: [...fs.readFileSync('/bundle/blob.bin')], wasm: [...fs.readFileSync('/bundle/mod.wasm')],
      relative: text('/bundle/lib/../notes.txt'),
    };
  }
  if (arg === 'forms') {
    const fd = fs.openSync('/bundle/notes.txt', 'r');
    const buf = Buffer.alloc(5);
    const n = fs.readSync(fd, buf, 0, 5, 3);
    const next = Buffer.alloc(4);
    const m = fs.readSync(fd, next, 0, 4, null);
    const fstat = fs.fstatSync(fd).size;
    fs.closeSync(fd);
    const cb = await new Promise((resolve) => fs.readFile('/bundle/lib/util.js', 'utf8', (e, d) => resolve([e, d])));
    const promised = await fsp.readFile('/bundle/notes.txt', 'utf8');
    const chunks = [];
    await new Promise((resolve, reject) => {
      fs.createReadStream('/bundle/notes.txt', { start: 1, end: 4 })
        .on('data', (c) => chunks.push(...c)).on('end', resolve).on('error', reject);
    });
    fs.copyFileSync('/bundle/lib/util.js', '/tmp/copy.js');
    const handle = await fsp.open('/bundle/blob.bin', 'r');
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 1);
    await handle.close();
    return {
      read: [n, buf.toString('latin1'), m, next.toString('latin1')], fstat, cb, promised,
      stream: chunks, copy: fs.readFileSync('/tmp/copy.js', 'utf8'), handle: [bytesRead, [...buffer]],
    };
  }
  if (arg === 'writes') {
    fs.writeFileSync('/tmp/y', 'y');
    return {
      write: codeOf(() => fs.writeFileSync('/bundle/main.js', 'x')),
      create: codeOf(() => fs.writeFileSync('/bundle/new.js', 'x')),
      append: codeOf(() => fs.appendFileSync('/bundle/notes.txt', 'x')),
      openRw: codeOf(() => fs.openSync('/bundle/notes.txt', 'r+')),
      truncate: codeOf(() => fs.truncateSync('/bundle/notes.txt')),
      unlink: codeOf(() => fs.unlinkSync('/bundle/main.js')),
      unlinkDir: codeOf(() => fs.unlinkSync('/bundle')),
      mkdir: codeOf(() => fs.mkdirSync('/bundle/a')),
      mkdtemp: codeOf(() => fs.mkdtempSync('/bundle/t-')),
      rmdir: codeOf(() => fs.rmdirSync('/bundle/lib/deep')),
      rm: codeOf(() => fs.rmSync('/bundle/lib', { recursive: true })),
      renameOut: codeOf(() => fs.renameSync('/bundle/main.js', '/tmp/main.js')),
      renameIn: codeOf(() => fs.renameSync('/tmp/y', '/bundle/y')),
      copyIn: codeOf(() => fs.copyFileSync('/tmp/y', '/bundle/notes.txt')),
      chmod: codeOf(() => fs.chmodSync('/bundle/main.js', 0o777)),
      promised: await fsp.writeFile('/bundle/main.js', 'x').then(() => null, (e) => e.code),
      stream: await new Promise((resolve) => fs.createWriteStream('/bundle/w.txt').on('error', (e) => resolve(e.code))),
      after: [fs.readFileSync('/bundle/main.js', 'utf8').length, fs.readdirSync('/bundle/lib')],
    };
  }
  return null;
};
";

const UTIL: &str = "export const helper = () => 'helped';\n";
const NOTES: &str = "héllo wörld ✓ notes\n";
const CONF: &str = "{\"k\": [1, 2]}";
const LEGACY: &str = "module.exports = { a: 41 + 1 };\n";
const TYPES: &str = "export const n: number = 1;\ninterface Hidden { x: string }\n";
const BLOB: &[u8] = &[0, 1, 2, 254, 255, 128];
// The smallest WebAssembly module: the magic number and version 1.
const WASM: &[u8] = b"\0asm\x01\0\0\0";

use common::compat as options;

fn modules() -> Vec<Module> {
    vec![
        Module::new("main.js", MAIN),
        Module::new("lib/util.js", UTIL),
        Module::new("lib/deep/x.txt", "deep"),
        Module::new("notes.txt", NOTES),
        Module::new("conf.json", CONF),
        Module::new("legacy.cjs", LEGACY),
        Module::new("types.ts", TYPES),
        Module {
            name: "blob.bin".into(),
            kind: ModuleKind::Data,
            bytes: BLOB.to_vec(),
        },
        Module::new("mod.wasm", WASM),
    ]
}

fn worker_with(modules: Vec<Module>, options: &LoadOptions) -> Worker {
    let limits = stockade_isolate::Limits {
        memory_bytes: 128 << 20,
        cpu: Duration::from_secs(2),
        ..limits()
    };
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new(modules).expect("module set");
    let load = worker.load_with("main.js", &mut set, options);
    assert!(load.result.is_ok(), "{:?}", load.result);
    worker
}

fn worker() -> Worker {
    worker_with(modules(), &options("2025-09-01", &["nodejs_compat"]))
}

#[test]
fn every_module_is_listed_under_its_name_with_its_size() {
    let mut w = worker();
    let v = ok(w.call("\"listing\""));
    assert_eq!(
        v["root"],
        serde_json::json!([
            "blob.bin",
            "conf.json",
            "legacy.cjs",
            "lib",
            "main.js",
            "mod.wasm",
            "notes.txt",
            "types.ts"
        ])
    );
    assert_eq!(v["lib"], serde_json::json!(["deep", "util.js"]));
    assert_eq!(v["deep"], serde_json::json!(["x.txt"]));
    assert_eq!(v["types"][3], serde_json::json!(["lib", false, true]));
    assert_eq!(v["types"][4], serde_json::json!(["main.js", true, false]));
    let file = |size: usize| serde_json::json!([size, true, false, 0o100444]);
    assert_eq!(v["stats"]["main"], file(MAIN.len()));
    assert_eq!(v["stats"]["util"], file(UTIL.len()));
    // Bytes, not characters: the text has multi-byte UTF-8.
    assert_eq!(v["stats"]["notes"], file(NOTES.len()));
    assert_ne!(NOTES.len(), NOTES.chars().count());
    assert_eq!(v["stats"]["blob"], file(BLOB.len()));
    assert_eq!(v["stats"]["wasm"], file(WASM.len()));
    assert_eq!(
        v["stats"]["lib"],
        serde_json::json!([0, false, true, 0o40555])
    );
    assert_eq!(v["exists"], serde_json::json!([true, false]));
    // The modules still work as modules.
    assert_eq!(v["imported"], serde_json::json!(["helped", NOTES, 42]));
}

#[test]
fn each_file_holds_the_module_as_uploaded() {
    let mut w = worker();
    let v = ok(w.call("\"contents\""));
    assert_eq!(v["main"], MAIN);
    assert_eq!(v["util"], UTIL);
    assert_eq!(v["notes"], NOTES);
    assert_eq!(v["conf"], CONF);
    assert_eq!(v["legacy"], LEGACY);
    // TypeScript as written (not as stripped for V8).
    assert_eq!(v["ts"], TYPES);
    assert_eq!(v["deep"], "deep");
    assert_eq!(v["blob"], serde_json::json!(BLOB));
    assert_eq!(v["wasm"], serde_json::json!(WASM));
    assert_eq!(v["relative"], NOTES);
}

#[test]
fn fds_callbacks_promises_streams_and_copies_read_the_bundle() {
    let mut w = worker();
    let v = ok(w.call("\"forms\""));
    let notes = NOTES.as_bytes();
    let latin1 = |b: &[u8]| b.iter().map(|&c| c as char).collect::<String>();
    assert_eq!(
        v["read"],
        serde_json::json!([5, latin1(&notes[3..8]), 4, latin1(&notes[0..4])])
    );
    assert_eq!(v["fstat"], notes.len());
    assert_eq!(v["cb"], serde_json::json!([null, UTIL]));
    assert_eq!(v["promised"], NOTES);
    assert_eq!(v["stream"], serde_json::json!(&notes[1..5]));
    assert_eq!(v["copy"], UTIL);
    assert_eq!(v["handle"], serde_json::json!([2, &BLOB[1..3]]));
}

#[test]
fn writes_under_bundle_are_refused_as_workerd_refuses_them() {
    let mut w = worker();
    let v = ok(w.call("\"writes\""));
    let eperm = |syscall: &str, path: &str| {
        serde_json::json!([
            "EPERM",
            syscall,
            format!("EPERM: operation not permitted, {syscall} '{path}'")
        ])
    };
    assert_eq!(v["write"], eperm("open", "/bundle/main.js"));
    assert_eq!(v["create"], eperm("open", "/bundle/new.js"));
    assert_eq!(v["append"], eperm("open", "/bundle/notes.txt"));
    assert_eq!(v["openRw"], eperm("open", "/bundle/notes.txt"));
    assert_eq!(v["truncate"], eperm("open", "/bundle/notes.txt"));
    assert_eq!(v["unlink"], eperm("unlink", "/bundle/main.js"));
    assert_eq!(
        v["unlinkDir"],
        serde_json::json!([
            "EISDIR",
            "unlink",
            "EISDIR: illegal operation on a directory, unlink '/bundle'"
        ])
    );
    assert_eq!(v["mkdir"], eperm("mkdir", "/bundle/a"));
    assert_eq!(v["mkdtemp"], eperm("mkdtemp", "/bundle/t-XXXXXX"));
    assert_eq!(v["rmdir"], eperm("rmdir", "/bundle/lib/deep"));
    assert_eq!(v["rm"], eperm("rm", "/bundle/lib"));
    assert_eq!(
        v["renameOut"][2],
        "EPERM: operation not permitted, rename '/bundle/main.js' -> '/tmp/main.js'"
    );
    assert_eq!(
        v["renameIn"][2],
        "EPERM: operation not permitted, rename '/tmp/y' -> '/bundle/y'"
    );
    assert_eq!(v["copyIn"][0], "EPERM");
    assert_eq!(v["chmod"], eperm("chmod", "/bundle/main.js"));
    assert_eq!(v["promised"], "EPERM");
    assert_eq!(v["stream"], "EPERM");
    // Nothing changed.
    assert_eq!(
        v["after"],
        serde_json::json!([MAIN.len(), ["deep", "util.js"]])
    );
}

#[test]
fn a_large_module_reads_whole_and_in_pieces_and_every_request_sees_it() {
    // Over the 8 MiB one host read answers: read in steps.
    let big: Vec<u8> = (0..(9u32 << 20)).map(|i| (i % 251) as u8).collect();
    let main = "import fs from 'node:fs'; import { Buffer } from 'node:buffer';
        export default async () => {
          const all = fs.readFileSync('/bundle/big.bin');
          let sum = 0;
          for (let i = 0; i < all.length; i++) sum = (sum * 31 + all[i]) >>> 0;
          const fd = fs.openSync('/bundle/big.bin');
          const piece = Buffer.alloc(16);
          const n = fs.readSync(fd, piece, 0, 16, (8 << 20) - 8);
          const tail = fs.readSync(fd, Buffer.alloc(16), 0, 16, all.length - 3);
          fs.closeSync(fd);
          return [all.length, sum, n, [...piece], tail, fs.statSync('/bundle/big.bin').size];
        };";
    let mut w = worker_with(
        vec![
            Module::new("main.js", main),
            Module {
                name: "big.bin".into(),
                kind: ModuleKind::Data,
                bytes: big.clone(),
            },
        ],
        &options("2025-09-01", &["nodejs_compat"]),
    );
    let sum = big
        .iter()
        .fold(0u32, |s, &b| s.wrapping_mul(31).wrapping_add(u32::from(b)));
    let at = (8 << 20) - 8;
    let expect = serde_json::json!([big.len(), sum, 16, &big[at..at + 16], 3, big.len()]);
    assert_eq!(ok(w.call("null")), expect);
    // The tree is the isolate's; a later request reads the same.
    assert_eq!(ok(w.call("null")), expect);
}

#[test]
fn the_flag_alone_brings_the_bundle() {
    // Before node:fs's date, enable_nodejs_fs_module gives it, /bundle included.
    let mut w = worker_with(
        modules(),
        &options("2025-08-31", &["nodejs_compat", "enable_nodejs_fs_module"]),
    );
    let v = ok(w.call("\"contents\""));
    assert_eq!(v["util"], UTIL);
    assert_eq!(v["blob"], serde_json::json!(BLOB));
}

#[test]
fn modules_nobody_imports_are_listed_and_read() {
    // As workerd: every module the worker was given, imported or not (text, data, JSON, JS).
    let main = "import fs from 'node:fs';
        export default () => [fs.readdirSync('/bundle', { recursive: true }),
          fs.readFileSync('/bundle/spare/notes.txt', 'utf8'), [...fs.readFileSync('/bundle/spare/blob.bin')],
          fs.readFileSync('/bundle/conf.json', 'utf8'), fs.readFileSync('/bundle/unused.js', 'utf8')];";
    let mut w = worker_with(
        vec![
            Module::new("main.js", main),
            Module::new("spare/notes.txt", NOTES),
            Module {
                name: "spare/blob.bin".into(),
                kind: ModuleKind::Data,
                bytes: BLOB.to_vec(),
            },
            Module::new("conf.json", CONF),
            Module::new("unused.js", UTIL),
        ],
        &options("2025-09-01", &["nodejs_compat"]),
    );
    assert_eq!(
        ok(w.call("null")),
        serde_json::json!([
            [
                "conf.json",
                "main.js",
                "spare",
                "unused.js",
                "spare/blob.bin",
                "spare/notes.txt"
            ],
            NOTES,
            BLOB,
            CONF,
            UTIL
        ])
    );
}

#[test]
fn the_node_warm_up_lists_and_reads_its_bundle() {
    // worker/src/warm_up_node.js as worker/src/lib.rs's warm-up loads it (main.ts beside d.json,
    // with node:fs), so that the bundle's listing and reads are in the nodefs group's code cache.
    let limits = stockade_isolate::Limits {
        memory_bytes: 128 << 20,
        cpu: Duration::from_secs(5),
        ..limits()
    };
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([
        Module::new("main.ts", include_str!("../../worker/src/warm_up_node.js")),
        Module::new("d.json", "1"),
    ])
    .expect("module set");
    let options = options("2025-06-01", &["nodejs_compat", "enable_nodejs_fs_module"]);
    let load = worker.load_with("main.ts", &mut set, &options);
    assert!(load.result.is_ok(), "{:?}", load.result);
    let answer = ok(worker.call("1"));
    let text = answer.as_str().expect("a string");
    assert!(text.ends_with(",fs,d.json+main.ts=1"), "{text}");
}
