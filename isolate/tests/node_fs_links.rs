//! node:fs's symbolic links, recursive `readdir` and `access` inside real V8 isolates.
//!
//! Under /tmp, `node_fs_links.js` runs the same calls Node 20 ran on a real directory (links,
//! relative and absolute targets, loops, dangling links, writes and mkdir through links, removal,
//! recursive listings); `node_fs_links.node20.json` is what Node answered there, and the
//! isolate's answers must equal it. To record it again:
//! `env -u NODE_EXTRA_CA_CERTS node --input-type=module -e "import fs from 'node:fs';
//! import s from './isolate/tests/node_fs_links.js'; const d = fs.mkdtempSync('/tmp/l-');
//! console.log(JSON.stringify(await s(fs, d), null, 1)); fs.rmSync(d, { recursive: true });"`
//! (on a file system that lists a directory in name order, as this machine's /tmp and the
//! isolate do; Node keeps the file system's order).
//! Over /bundle and /dev (which no real directory has), Node 20's recursive listing order and
//! names, and workerd's rules: links only under /tmp, a link into /bundle reads the module and
//! cannot write it, `access` answers ENOENT for W_OK on what is read-only and for X_OK
//! (workerd's fs-access-test.js).
mod common;
use std::time::Duration;

use common::*;
use stockade_isolate::{Compat, LoadOptions, Module, ModuleKind, ModuleSet, Worker};

const SCENARIO: &str = include_str!("node_fs_links.js");
const NODE20: &str = include_str!("node_fs_links.node20.json");

fn worker(main: &str) -> Worker {
    let limits = stockade_isolate::Limits {
        memory_bytes: 128 << 20,
        cpu: Duration::from_secs(5),
        ..limits()
    };
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([
        Module::new("main.js", main),
        Module::new("scenario.js", SCENARIO),
        Module::new("lib/util.js", "export const x = 1;\n"),
        Module::new("lib/deep/x.txt", "deep"),
        Module::new("notes.txt", "notes"),
        Module {
            name: "blob.bin".into(),
            kind: ModuleKind::Data,
            bytes: vec![0, 1, 2],
        },
    ])
    .expect("module set");
    let options = LoadOptions {
        compat: Compat::parse("2025-09-01", &["nodejs_compat".to_string()]).expect("compat"),
        env: serde_json::json!({}),
    };
    let load = worker.load_with("main.js", &mut set, &options);
    assert!(load.result.is_ok(), "{:?}", load.result);
    worker
}

fn run(body: &str) -> serde_json::Value {
    let main = format!(
        "import fs from 'node:fs'; import fsp from 'node:fs/promises';
         import scenario from './scenario.js';
         const codeOf = (f) => {{ try {{ f(); return null; }} catch (e) {{ return [e.code, e.errno, e.syscall, e.message]; }} }};
         export default async (arg) => {{ {body} }};"
    );
    ok(worker(&main).call("null"))
}

#[test]
fn links_and_recursive_listings_under_tmp_answer_as_node_20_on_a_real_directory() {
    let v = run("fs.mkdirSync('/tmp/w'); return scenario(fs, '/tmp/w');");
    let node: serde_json::Value = serde_json::from_str(NODE20).expect("recorded JSON");
    let (got, want) = (
        v.as_object().expect("object"),
        node.as_object().expect("object"),
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (key, expected) in want {
        assert_eq!(&got[key], expected, "{key}");
    }
}

#[test]
fn recursive_readdir_walks_bundle_dev_and_the_root_in_node_20s_order() {
    let v = run("
        fs.writeFileSync('/tmp/t.txt', 't');
        const types = (p) => fs.readdirSync(p, { recursive: true, withFileTypes: true })
          .map((d) => [d.name, d.parentPath, d.path, d.isFile(), d.isDirectory(), d.isCharacterDevice()]);
        return {
          bundle: fs.readdirSync('/bundle', { recursive: true }),
          bundleTypes: types('/bundle'),
          dev: fs.readdirSync('/dev', { recursive: true }),
          root: fs.readdirSync('/', { recursive: true }),
          lib: fs.readdirSync('bundle/./lib/', { recursive: true, withFileTypes: true }).map((d) => [d.name, d.parentPath]),
          buffers: fs.readdirSync('/bundle/lib', { recursive: true, encoding: 'buffer' }).map((b) => b.toString()),
          promised: await fsp.readdir('/bundle/lib', { recursive: true }),
          callback: await new Promise((resolve) => fs.readdir('/dev', { recursive: true, withFileTypes: true },
            (e, list) => resolve([e, list.map((d) => d.name + '@' + d.parentPath)]))),
          flat: fs.readdirSync('/bundle', { recursive: false }),
        };
    ");
    let bundle = [
        "blob.bin",
        "lib",
        "main.js",
        "notes.txt",
        "scenario.js",
        "lib/deep",
        "lib/util.js",
        "lib/deep/x.txt",
    ];
    assert_eq!(v["bundle"], serde_json::json!(bundle));
    let f = |name: &str, parent: &str, file: bool| {
        serde_json::json!([name, parent, parent, file, !file, false])
    };
    assert_eq!(
        v["bundleTypes"],
        serde_json::json!([
            f("blob.bin", "/bundle", true),
            f("lib", "/bundle", false),
            f("main.js", "/bundle", true),
            f("notes.txt", "/bundle", true),
            f("scenario.js", "/bundle", true),
            f("deep", "/bundle/lib", false),
            f("util.js", "/bundle/lib", true),
            f("x.txt", "/bundle/lib/deep", true),
        ])
    );
    let devices = ["full", "null", "random", "urandom", "zero"];
    assert_eq!(v["dev"], serde_json::json!(devices));
    // Breadth first (Node 20 on a real directory of this shape answered the same).
    assert_eq!(
        v["root"],
        serde_json::json!([
            "bundle",
            "dev",
            "tmp",
            "bundle/blob.bin",
            "bundle/lib",
            "bundle/main.js",
            "bundle/notes.txt",
            "bundle/scenario.js",
            "dev/full",
            "dev/null",
            "dev/random",
            "dev/urandom",
            "dev/zero",
            "tmp/t.txt",
            "bundle/lib/deep",
            "bundle/lib/util.js",
            "bundle/lib/deep/x.txt"
        ])
    );
    // The first level's parentPath is the path as given; deeper ones are joined as path.join.
    assert_eq!(
        v["lib"],
        serde_json::json!([
            ["deep", "bundle/./lib/"],
            ["util.js", "bundle/./lib/"],
            ["x.txt", "bundle/lib/deep"]
        ])
    );
    let lib = ["deep", "util.js", "deep/x.txt"];
    assert_eq!(v["buffers"], serde_json::json!(lib));
    assert_eq!(v["promised"], serde_json::json!(lib));
    assert_eq!(
        v["callback"],
        serde_json::json!([null, devices.map(|d| format!("{d}@/dev"))])
    );
    assert_eq!(
        v["flat"],
        serde_json::json!(["blob.bin", "lib", "main.js", "notes.txt", "scenario.js"])
    );
}

#[test]
fn a_link_into_bundle_reads_the_module_and_links_are_made_only_under_tmp() {
    let v = run("
        fs.symlinkSync('/bundle/notes.txt', '/tmp/n');
        fs.symlinkSync('../bundle/lib', '/tmp/lib');
        fs.symlinkSync('/bundle/none', '/tmp/none');
        return {
          read: [fs.readFileSync('/tmp/n', 'utf8'), fs.readFileSync('/tmp/lib/deep/x.txt', 'utf8'),
            fs.statSync('/tmp/n').size, fs.lstatSync('/tmp/n').isSymbolicLink(), fs.realpathSync('/tmp/lib/util.js'),
            fs.readdirSync('/tmp/lib'), [...fs.readFileSync('/tmp/lib/../blob.bin')]],
          writeThrough: codeOf(() => fs.writeFileSync('/tmp/n', 'x')),
          // access answers for the link's target (read-only: ENOENT for W_OK, as workerd).
          access: [codeOf(() => fs.accessSync('/tmp/n')), codeOf(() => fs.accessSync('/tmp/n', fs.constants.W_OK))?.[0]],
          createThrough: codeOf(() => fs.writeFileSync('/tmp/none', 'x')),
          mkdirThrough: codeOf(() => fs.mkdirSync('/tmp/lib/new')),
          inBundle: codeOf(() => fs.symlinkSync('/tmp/n', '/bundle/l')),
          inBundleDir: codeOf(() => fs.symlinkSync('/tmp/n', '/bundle/lib/l')),
          inDev: codeOf(() => fs.symlinkSync('/tmp/n', '/dev/l')),
          inRoot: codeOf(() => fs.symlinkSync('/tmp/n', '/l')),
          promised: await fsp.symlink('/tmp/n', '/bundle/p').then(() => null, (e) => e.code),
          // Unlinking the link leaves the module.
          unlinked: [codeOf(() => fs.unlinkSync('/tmp/n')), fs.existsSync('/tmp/n'), fs.readFileSync('/bundle/notes.txt', 'utf8')],
          still: fs.readdirSync('/bundle'),
        };
    ");
    assert_eq!(
        v["read"],
        serde_json::json!([
            "notes",
            "deep",
            5,
            true,
            "/bundle/lib/util.js",
            ["deep", "util.js"],
            [0, 1, 2]
        ])
    );
    let eperm = |syscall: &str, path: &str| {
        serde_json::json!([
            "EPERM",
            -1,
            syscall,
            format!("EPERM: operation not permitted, {syscall} '{path}'")
        ])
    };
    assert_eq!(v["writeThrough"], eperm("open", "/tmp/n"));
    assert_eq!(v["access"], serde_json::json!([null, "ENOENT"]));
    assert_eq!(v["createThrough"], eperm("open", "/tmp/none"));
    assert_eq!(v["mkdirThrough"], eperm("mkdir", "/tmp/lib/new"));
    assert_eq!(v["inBundle"], eperm("symlink", "/tmp/n' -> '/bundle/l"));
    assert_eq!(
        v["inBundleDir"],
        eperm("symlink", "/tmp/n' -> '/bundle/lib/l")
    );
    assert_eq!(v["inDev"], eperm("symlink", "/tmp/n' -> '/dev/l"));
    assert_eq!(v["inRoot"], eperm("symlink", "/tmp/n' -> '/l"));
    assert_eq!(v["promised"], "EPERM");
    assert_eq!(v["unlinked"], serde_json::json!([null, false, "notes"]));
    assert_eq!(
        v["still"],
        serde_json::json!(["blob.bin", "lib", "main.js", "notes.txt", "scenario.js"])
    );
}

#[test]
fn links_belong_to_their_requests_tmp() {
    let mut w = worker(
        "import fs from 'node:fs';
         export default async (arg) => {
           const before = fs.existsSync('/tmp/l') || fs.readdirSync('/tmp').length;
           fs.symlinkSync('/bundle/notes.txt', '/tmp/l');
           return [before, fs.readFileSync('/tmp/l', 'utf8')];
         };",
    );
    assert_eq!(ok(w.call("1")), serde_json::json!([0, "notes"]));
    assert_eq!(ok(w.call("2")), serde_json::json!([0, "notes"]));
}

#[test]
fn access_answers_as_workerd_enoent_for_w_ok_on_read_only_paths_and_for_x_ok() {
    let v = run("
        fs.writeFileSync('/tmp/f', 'f');
        const paths = ['/', '/bundle', '/bundle/main.js', '/dev', '/dev/null', '/dev/zero', '/dev/full',
          '/dev/random', '/tmp', '/tmp/f'];
        const modes = [fs.constants.F_OK, fs.constants.R_OK, fs.constants.W_OK, fs.constants.X_OK, 6];
        const bad = [123n, '2', { [Symbol.toPrimitive]() { return 4; } }, -1, 8, NaN];
        return {
          table: paths.map((p) => [p, ...modes.map((m) => { const e = codeOf(() => fs.accessSync(p, m)); return e === null ? 'ok' : e[0]; })]),
          error: codeOf(() => fs.accessSync('/bundle/main.js', fs.constants.W_OK)),
          nullMode: [codeOf(() => fs.accessSync('/bundle', null)), codeOf(() => fs.accessSync('/bundle', undefined))],
          bad: bad.map((m) => { try { fs.accessSync('/', m); return null; } catch (e) { return [e.name, e.code ?? null, e.message]; } }),
          promised: await fsp.access('/bundle', fs.constants.W_OK).then(() => null, (e) => e.code),
          callback: await new Promise((resolve) => fs.access('/tmp', fs.constants.W_OK, (e) => resolve(e))),
          missing: codeOf(() => fs.accessSync('/does/not/exist', fs.constants.W_OK)),
        };
    ");
    let row = |p: &str, writable: bool| {
        let w = if writable { "ok" } else { "ENOENT" };
        serde_json::json!([p, "ok", "ok", w, "ENOENT", w])
    };
    assert_eq!(
        v["table"],
        serde_json::json!([
            row("/", false),
            row("/bundle", false),
            row("/bundle/main.js", false),
            row("/dev", false),
            row("/dev/null", true),
            row("/dev/zero", true),
            row("/dev/full", true),
            row("/dev/random", true),
            row("/tmp", true),
            row("/tmp/f", true),
        ])
    );
    assert_eq!(
        v["error"],
        serde_json::json!([
            "ENOENT",
            -2,
            "access",
            "ENOENT: no such file or directory, access '/bundle/main.js'"
        ])
    );
    assert_eq!(v["nullMode"], serde_json::json!([null, null]));
    let invalid = serde_json::json!([
        "TypeError",
        "ERR_INVALID_ARG_TYPE",
        "mode must be int32 or null/undefined"
    ]);
    let range = serde_json::json!([
        "RangeError",
        "ERR_OUT_OF_RANGE",
        "mode is out of range: >= 0 && <= 7"
    ]);
    assert_eq!(
        v["bad"],
        serde_json::json!([
            invalid,
            invalid,
            invalid,
            range,
            range,
            ["RangeError", "ERR_OUT_OF_RANGE", "mode is out of range"]
        ])
    );
    assert_eq!(v["promised"], "ENOENT");
    assert_eq!(v["callback"], serde_json::Value::Null);
    assert_eq!(v["missing"][0], "ENOENT");
}

#[test]
fn replaced_prototypes_do_not_steer_links_or_listings() {
    // The runtime's walks use captured primordials: tenant code replacing, once node:fs is
    // imported, the methods they could call changes nothing.
    let v = run("
        const boom = () => { throw new Error('steered'); };
        for (const [proto, names] of [[Array.prototype, ['push', 'pop', 'join', 'slice', 'sort', 'map']],
            [String.prototype, ['split', 'slice', 'indexOf', 'lastIndexOf', 'startsWith', 'endsWith']],
            [Map.prototype, ['get', 'set', 'forEach', 'has']]]) {
          for (const n of names) proto[n] = boom;
        }
        fs.mkdirSync('/tmp/a/b', { recursive: true });
        fs.symlinkSync('../../bundle/lib', '/tmp/a/lib');
        fs.symlinkSync('/tmp/a', '/tmp/la');
        const listed = fs.readdirSync('/tmp', { recursive: true });
        return [listed.length, listed[0], listed[listed.length - 1], fs.realpathSync('/tmp/la/lib/deep/x.txt'),
          fs.readFileSync('/tmp/la/lib/deep/x.txt', 'utf8'), fs.readlinkSync('/tmp/la/lib')];
    ");
    // a, la, a/b, a/lib, la/b, la/lib, a/lib/deep, a/lib/util.js, la/lib/deep, la/lib/util.js,
    // a/lib/deep/x.txt, la/lib/deep/x.txt
    assert_eq!(
        v,
        serde_json::json!([
            12,
            "a",
            "la/lib/deep/x.txt",
            "/bundle/lib/deep/x.txt",
            "deep",
            "../../bundle/lib"
        ])
    );
}
