//! `node:fs` and `node:fs/promises` (isolate/js/node-fs*.js) inside real V8 isolates: the virtual
//! file system Cloudflare's nodejs_compat has (`/tmp` per request, `/dev`, read-only `/bundle`),
//! its sync, callback, promise, fd and stream forms, Node 20's error codes and messages (taken
//! from Node 20 on a real directory), the gate by compatibility date and flag, the /tmp cap.
mod common;
use std::time::Duration;

use common::*;
use stockade_isolate::{Invocation, LoadOptions, Module, ModuleSet, Worker};

fn loaded(body: &str, options: &LoadOptions, memory: usize) -> (Worker, Invocation) {
    let src = format!(
        "import fs from 'node:fs'; import fsp from 'node:fs/promises';
         import {{ Buffer }} from 'node:buffer';
         const codeOf = (f) => {{ try {{ f(); return null; }} catch (e) {{ return [e.code, e.errno, e.syscall, e.message]; }} }};
         export default async (arg) => {{ {body} }};"
    );
    let limits = stockade_isolate::Limits {
        memory_bytes: memory,
        cpu: Duration::from_secs(2),
        ..limits()
    };
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
    let load = worker.load_with("main.js", &mut set, options);
    (worker, load)
}

fn run(body: &str) -> serde_json::Value {
    let (mut worker, load) = loaded(body, &compat("2025-09-01", &["nodejs_compat"]), 128 << 20);
    assert!(load.result.is_ok(), "{:?}", load.result);
    ok(worker.call("null"))
}

#[test]
fn files_under_tmp_are_written_read_appended_listed_renamed_and_removed() {
    let v = run("
        fs.writeFileSync('/tmp/a.txt', 'hello');
        fs.appendFileSync('/tmp/a.txt', Buffer.from(' world'));
        fs.mkdirSync('/tmp/d/e/f', { recursive: true });
        fs.writeFileSync('/tmp/d/b.bin', new Uint8Array([1, 2, 3]));
        const st = fs.statSync('/tmp/a.txt');
        const dst = fs.statSync('/tmp/d');
        const listing = fs.readdirSync('/tmp/d', { withFileTypes: true }).map((d) => [d.name, d.isFile(), d.isDirectory()]);
        fs.renameSync('/tmp/a.txt', '/tmp/d/c.txt');
        const moved = [fs.existsSync('/tmp/a.txt'), fs.readFileSync('/tmp/d/c.txt', 'utf8')];
        fs.unlinkSync('/tmp/d/b.bin');
        fs.copyFileSync('/tmp/d/c.txt', '/tmp/copy.txt');
        fs.rmSync('/tmp/d', { recursive: true });
        return {
          text: fs.readFileSync('/tmp/copy.txt', 'utf8'),
          isBuffer: Buffer.isBuffer(fs.readFileSync('/tmp/copy.txt')),
          size: st.size, isFile: st.isFile(), isDir: st.isDirectory(), mode: st.mode,
          dirMode: dst.mode & 0o170000, dirIsDir: dst.isDirectory(),
          mtimeIsDate: st.mtime instanceof Date, mtimeMs: typeof st.mtimeMs,
          listing, moved, root: fs.readdirSync('/'), tmp: fs.readdirSync('/tmp'),
          realpath: fs.realpathSync('/tmp/../tmp/./copy.txt'),
          temp: /^\\/tmp\\/x-[A-Za-z0-9]{6}$/.test(fs.mkdtempSync('/tmp/x-')),
        };
    ");
    assert_eq!(v["text"], "hello world");
    assert_eq!(v["isBuffer"], true);
    assert_eq!(v["size"], 11);
    assert_eq!(v["isFile"], true);
    assert_eq!(v["isDir"], false);
    // Node 20: a file written with the default mode 0o666 under umask 022 is 0o100644; ours has
    // no umask, so 0o100666.
    assert_eq!(v["mode"], 0o100666);
    assert_eq!(v["dirMode"], 0o040000);
    assert_eq!(v["dirIsDir"], true);
    assert_eq!(v["mtimeIsDate"], true);
    assert_eq!(v["mtimeMs"], "number");
    assert_eq!(
        v["listing"],
        serde_json::json!([["b.bin", true, false], ["e", false, true]])
    );
    assert_eq!(v["moved"], serde_json::json!([false, "hello world"]));
    assert_eq!(v["root"], serde_json::json!(["bundle", "dev", "tmp"]));
    assert_eq!(v["tmp"], serde_json::json!(["copy.txt"]));
    assert_eq!(v["realpath"], "/tmp/copy.txt");
    assert_eq!(v["temp"], true);
}

#[test]
fn errors_are_nodes() {
    // Each expectation is what Node 20 threw for the same call on a real directory (`d` = /tmp).
    let v = run("
        fs.mkdirSync('/tmp/d');
        fs.writeFileSync('/tmp/d/f', '');
        return {
          noent: codeOf(() => fs.readFileSync('/tmp/d/no')),
          readDir: codeOf(() => fs.readFileSync('/tmp/d')),
          exists: codeOf(() => fs.mkdirSync('/tmp/d')),
          writeDir: codeOf(() => fs.writeFileSync('/tmp/d', 'x')),
          notEmpty: codeOf(() => fs.rmdirSync('/tmp/d')),
          unlinkDir: codeOf(() => fs.unlinkSync('/tmp/d')),
          rmDir: codeOf(() => fs.rmSync('/tmp/d')),
          notDir: codeOf(() => fs.readdirSync('/tmp/d/f')),
          rename: codeOf(() => fs.renameSync('/tmp/d/no', '/tmp/d/b')),
          badFd: codeOf(() => fs.closeSync(99)),
          copy: codeOf(() => fs.copyFileSync('/tmp/d/no', '/tmp/d/c')),
          stat: codeOf(() => fs.statSync('/tmp/d/no')),
          mkdirDeep: codeOf(() => fs.mkdirSync('/tmp/d/q/r')),
          excl: codeOf(() => fs.openSync('/tmp/d/f', 'wx')),
          access: codeOf(() => fs.accessSync('/tmp/d/no')),
          underFile: codeOf(() => fs.writeFileSync('/tmp/d/f/x', '')),
          bundle: codeOf(() => fs.writeFileSync('/bundle/main.js', 'x')),
          root: codeOf(() => fs.mkdirSync('/etc')),
          noEntry: fs.statSync('/tmp/d/no', { throwIfNoEntry: false }) === undefined,
        };
    ");
    let expect = |key: &str, code: &str, errno: i64, syscall: &str, message: &str| {
        assert_eq!(
            v[key],
            serde_json::json!([code, errno, syscall, message]),
            "{key}"
        );
    };
    expect(
        "noent",
        "ENOENT",
        -2,
        "open",
        "ENOENT: no such file or directory, open '/tmp/d/no'",
    );
    expect(
        "readDir",
        "EISDIR",
        -21,
        "read",
        "EISDIR: illegal operation on a directory, read",
    );
    expect(
        "exists",
        "EEXIST",
        -17,
        "mkdir",
        "EEXIST: file already exists, mkdir '/tmp/d'",
    );
    expect(
        "writeDir",
        "EISDIR",
        -21,
        "open",
        "EISDIR: illegal operation on a directory, open '/tmp/d'",
    );
    expect(
        "notEmpty",
        "ENOTEMPTY",
        -39,
        "rmdir",
        "ENOTEMPTY: directory not empty, rmdir '/tmp/d'",
    );
    expect(
        "unlinkDir",
        "EISDIR",
        -21,
        "unlink",
        "EISDIR: illegal operation on a directory, unlink '/tmp/d'",
    );
    expect(
        "rmDir",
        "ERR_FS_EISDIR",
        21,
        "rm",
        "Path is a directory: rm returned EISDIR (is a directory) /tmp/d",
    );
    expect(
        "notDir",
        "ENOTDIR",
        -20,
        "scandir",
        "ENOTDIR: not a directory, scandir '/tmp/d/f'",
    );
    expect(
        "rename",
        "ENOENT",
        -2,
        "rename",
        "ENOENT: no such file or directory, rename '/tmp/d/no' -> '/tmp/d/b'",
    );
    expect(
        "badFd",
        "EBADF",
        -9,
        "close",
        "EBADF: bad file descriptor, close",
    );
    expect(
        "copy",
        "ENOENT",
        -2,
        "copyfile",
        "ENOENT: no such file or directory, copyfile '/tmp/d/no' -> '/tmp/d/c'",
    );
    expect(
        "stat",
        "ENOENT",
        -2,
        "stat",
        "ENOENT: no such file or directory, stat '/tmp/d/no'",
    );
    expect(
        "mkdirDeep",
        "ENOENT",
        -2,
        "mkdir",
        "ENOENT: no such file or directory, mkdir '/tmp/d/q/r'",
    );
    expect(
        "excl",
        "EEXIST",
        -17,
        "open",
        "EEXIST: file already exists, open '/tmp/d/f'",
    );
    expect(
        "access",
        "ENOENT",
        -2,
        "access",
        "ENOENT: no such file or directory, access '/tmp/d/no'",
    );
    expect(
        "underFile",
        "ENOTDIR",
        -20,
        "open",
        "ENOTDIR: not a directory, open '/tmp/d/f/x'",
    );
    // Outside /tmp nothing may be written (workerd: EPERM).
    expect(
        "bundle",
        "EPERM",
        -1,
        "open",
        "EPERM: operation not permitted, open '/bundle/main.js'",
    );
    expect(
        "root",
        "EPERM",
        -1,
        "mkdir",
        "EPERM: operation not permitted, mkdir '/etc'",
    );
    assert_eq!(v["noEntry"], true);
}

#[test]
fn fds_devices_callbacks_promises_and_streams() {
    let v = run("
        const fd = fs.openSync('/tmp/f', 'w+');
        fs.writeSync(fd, 'abcdef');
        fs.writeSync(fd, Buffer.from('XY'), 0, 2, 1);
        const buf = Buffer.alloc(4);
        const n = fs.readSync(fd, buf, 0, 4, 0);
        const fstat = fs.fstatSync(fd).size;
        fs.closeSync(fd);
        const zero = Buffer.alloc(3, 7);
        const zfd = fs.openSync('/dev/zero', 'r');
        fs.readSync(zfd, zero, 0, 3, null);
        fs.closeSync(zfd);
        fs.writeFileSync('/dev/null', 'gone');
        const full = codeOf(() => fs.writeFileSync('/dev/full', 'x'));
        const cb = await new Promise((resolve) => fs.readFile('/tmp/f', 'utf8', (err, data) => resolve([err, data])));
        const cbErr = await new Promise((resolve) => fs.stat('/tmp/none', (err) => resolve(err.code)));
        await fsp.writeFile('/tmp/p.txt', 'promised');
        await fsp.appendFile('/tmp/p.txt', '!');
        const handle = await fsp.open('/tmp/p.txt', 'r');
        const { bytesRead } = await handle.read(Buffer.alloc(8), 0, 8, 0);
        await handle.close();
        const rejected = await fsp.readFile('/tmp/none').catch((e) => e.code);
        const out = fs.createWriteStream('/tmp/s.txt');
        await new Promise((resolve, reject) => {
          out.on('error', reject);
          out.write('one ');
          out.end('two', resolve);
        });
        const chunks = [];
        await new Promise((resolve, reject) => {
          fs.createReadStream('/tmp/s.txt', { encoding: 'utf8', start: 1, end: 5 })
            .on('data', (c) => chunks.push(c)).on('end', resolve).on('error', reject);
        });
        const streamErr = await new Promise((resolve) => fs.createReadStream('/tmp/none').on('error', (e) => resolve(e.code)));
        return {
          read: [n, buf.toString()], fstat, zero: [...zero], full,
          cb: [cb[0], cb[1]], cbErr,
          promised: [fs.readFileSync('/tmp/p.txt', 'utf8'), bytesRead, rejected,
            (await fsp.readdir('/tmp')).join(','), (await fsp.stat('/tmp/p.txt')).size],
          stream: [fs.readFileSync('/tmp/s.txt', 'utf8'), chunks.join('')], streamErr,
          unsupported: [codeOf(() => fs.watch('/tmp'))[0], codeOf(() => fs.linkSync('/tmp/f', '/tmp/l'))[0]],
        };
    ");
    assert_eq!(v["read"], serde_json::json!([4, "aXYd"]));
    assert_eq!(v["fstat"], 6);
    assert_eq!(v["zero"], serde_json::json!([0, 0, 0]));
    assert_eq!(v["full"][0], "ENOSPC");
    assert_eq!(v["cb"], serde_json::json!([null, "aXYdef"]));
    assert_eq!(v["cbErr"], "ENOENT");
    assert_eq!(
        v["promised"],
        serde_json::json!(["promised!", 8, "ENOENT", "f,p.txt,s.txt", 9])
    );
    assert_eq!(v["stream"], serde_json::json!(["one two", "ne tw"]));
    assert_eq!(v["streamErr"], "ENOENT");
    assert_eq!(
        v["unsupported"],
        serde_json::json!(["ERR_METHOD_NOT_IMPLEMENTED", "ERR_METHOD_NOT_IMPLEMENTED"])
    );
}

#[test]
fn each_request_of_a_reused_worker_has_its_own_tmp() {
    let (mut worker, load) = loaded(
        "const before = fs.readdirSync('/tmp');
         await new Promise((r) => setTimeout(r, 1));
         fs.writeFileSync(`/tmp/${arg}`, String(arg));
         await Promise.resolve();
         return { before, after: fs.readdirSync('/tmp') };",
        &compat("2025-09-01", &["nodejs_compat"]),
        128 << 20,
    );
    assert!(load.result.is_ok(), "{:?}", load.result);
    let first = ok(worker.call("1"));
    let second = ok(worker.call("2"));
    assert_eq!(first, serde_json::json!({"before": [], "after": ["1"]}));
    assert_eq!(second, serde_json::json!({"before": [], "after": ["2"]}));
}

#[test]
fn tmp_past_its_cap_is_enospc_and_the_isolate_lives_on() {
    let (mut worker, load) = loaded(
        "if (arg === 'fill') {
           const chunk = new Uint8Array(8 << 20);
           let written = 0;
           try {
             for (let i = 0; i < 10; i++) { fs.appendFileSync('/tmp/big', chunk); written += chunk.length; }
           } catch (e) { return [e.code, e.syscall, written]; }
           return ['no error', written];
         }
         fs.writeFileSync('/tmp/small', 'fine');
         return fs.readFileSync('/tmp/small', 'utf8');",
        &compat("2025-09-01", &["nodejs_compat"]),
        256 << 20,
    );
    assert!(load.result.is_ok(), "{:?}", load.result);
    let full = ok(worker.call("\"fill\""));
    assert_eq!(full, serde_json::json!(["ENOSPC", "write", 64 << 20]));
    // The request that filled /tmp is over: its bytes no longer count.
    assert_eq!(ok(worker.call("\"after\"")), "fine");
}

#[test]
fn node_fs_comes_with_the_date_or_the_flag() {
    let import = |options: &LoadOptions| {
        let (_, load) = loaded("return 1;", options, 128 << 20);
        load.result
    };
    let before = import(&compat("2025-08-31", &["nodejs_compat"])).expect_err("refused");
    let text = format!("{before:?}");
    assert!(text.contains("enable_nodejs_fs_module"), "{text}");
    assert!(import(&compat(
        "2025-08-31",
        &["nodejs_compat", "enable_nodejs_fs_module"]
    ))
    .is_ok());
    assert!(import(&compat(
        "2025-09-01",
        &["nodejs_compat", "disable_nodejs_fs_module"]
    ))
    .is_err());
    assert!(import(&compat("2025-09-01", &["nodejs_compat"])).is_ok());
}
