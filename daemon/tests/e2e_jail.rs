//! The daemon's worker processes really are jailed: read from the host's /proc while they serve.
mod common;
use common::*;

fn status_field(pid: u64, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("worker status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{key} missing from /proc/{pid}/status"))
}

/// A daemon with one tenant whose worker process has just served `code`.
fn daemon_that_served(tag: &str, code: &str) -> Daemon {
    let d = Daemon::start(tag, 1, 1, "");
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .expect("run");
    assert_eq!(r.status().as_u16(), 200);
    d
}

#[test]
fn serving_workers_run_under_seccomp_without_privileges_in_their_own_namespaces() {
    let d = daemon_that_served("jail", "export default () => 'served';");
    let admin = d.admin();
    // What the worker reported at its handshake, shown to the operator: the jail it closed, and
    // MPK exactly when this machine has it.
    let reported = &admin["workers"][0]["reported"];
    assert_eq!(reported["seccomp"], true, "{admin:#}");
    assert_eq!(reported["userNamespace"], true, "{admin:#}");
    assert_eq!(
        reported["mpk"],
        stockade_mpk::status().is_available(),
        "{admin:#}"
    );
    let pid = admin["workers"][0]["pid"].as_u64().expect("pid");
    assert_ne!(
        pid,
        admin["workers"][0]["launcherPid"]
            .as_u64()
            .expect("launcher"),
        "the tenant code runs in the reaper's child"
    );
    assert_eq!(status_field(pid, "Seccomp"), "2", "seccomp filter mode");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // A root daemon's workers are `nobody` on the host, not the supervisor's uid-0 peers.
        assert!(
            status_field(pid, "Uid")
                .split_whitespace()
                .all(|id| id == "65534"),
            "Uid"
        );
        assert!(
            status_field(pid, "Gid")
                .split_whitespace()
                .all(|id| id == "65534"),
            "Gid"
        );
        assert_eq!(status_field(pid, "Groups"), "");
    }
    assert_eq!(status_field(pid, "NoNewPrivs"), "1");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(pid, set), "0000000000000000", "{set}");
    }
    // Every thread of the worker (the watchdog included) is covered.
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let tid = task
            .expect("task")
            .file_name()
            .to_string_lossy()
            .parse::<u64>()
            .expect("tid");
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).expect("task status");
        assert!(status.contains("Seccomp:\t2"), "thread {tid}");
        assert!(status.contains("CapEff:\t0000000000000000"), "thread {tid}");
    }
    for ns in ["user", "pid", "net", "mnt", "ipc", "uts", "cgroup"] {
        let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).expect("our ns");
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).expect("worker ns");
        assert_ne!(ours, theirs, "{ns} namespace must differ");
    }
    // Its root is empty: nothing of the host's filesystem is mounted in its mount namespace.
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    assert_eq!(mounts.lines().count(), 1, "{mounts}");
    assert!(std::fs::read_dir(format!("/proc/{pid}/root"))
        .expect("root")
        .next()
        .is_none());
}

/// The files a process has mapped (from /proc/PID/maps).
fn mapped_files(pid: u64) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .expect("maps")
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_string))
        .collect()
}

#[test]
fn the_supervisor_never_maps_v8_and_only_workers_do() {
    let d = daemon_that_served("no-v8", "export default () => [1, 2, 3].toSorted().length;");
    let worker = d.admin()["workers"][0]["pid"].as_u64().expect("pid");
    let theirs = mapped_files(worker);
    assert!(
        theirs.iter().any(|f| f.ends_with("/libnode.so.137")),
        "the worker maps V8: {theirs:?}"
    );
    assert!(
        theirs.iter().any(|f| f.ends_with("/libstockade_worker.so")),
        "{theirs:?}"
    );
    let ours = mapped_files(u64::from(d.pid()));
    assert!(
        !ours
            .iter()
            .any(|f| f.contains("libnode") || f.contains("libstockade_worker")),
        "the supervisor maps V8: {ours:?}"
    );
    // And it runs on the system's libc, not the runtime root's.
    assert!(
        !ours.iter().any(|f| f.contains("stockade/v8-13.6")),
        "{ours:?}"
    );
}

#[test]
fn crypto_subtle_runs_inside_the_jail() {
    // Every family's native ops (random keys from getrandom, RSA prime search, curves, AES,
    // PBKDF2) inside a jailed worker: a system call outside the seccomp policy would kill the
    // process and the request would end as worker_crashed.
    let d = Daemon::start("jail-crypto", 1, 1, "[limits]\ncpu_ms = 5000\n");
    let code = "export default async () => {
        const s = crypto.subtle, enc = new TextEncoder(), msg = enc.encode('m');
        const rsa = await s.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['sign', 'verify']);
        const r = await s.verify('RSASSA-PKCS1-v1_5', rsa.publicKey, await s.sign('RSASSA-PKCS1-v1_5', rsa.privateKey, msg), msg);
        const ec = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
        const e = await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, ec.publicKey, await s.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.privateKey, msg), msg);
        const ed = await s.generateKey('Ed25519', false, ['sign', 'verify']);
        const o = await s.verify('Ed25519', ed.publicKey, await s.sign('Ed25519', ed.privateKey, msg), msg);
        const aes = await s.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt', 'decrypt']);
        const iv = crypto.getRandomValues(new Uint8Array(12));
        const pt = await s.decrypt({ name: 'AES-GCM', iv }, aes, await s.encrypt({ name: 'AES-GCM', iv }, aes, msg));
        const pw = await s.importKey('raw', enc.encode('pw'), 'PBKDF2', false, ['deriveBits']);
        const k = await s.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: msg, iterations: 1000 }, pw, 256);
        return [r, e, o, new TextDecoder().decode(pt), k.byteLength];
    };";
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .expect("run");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["result"],
        serde_json::json!([true, true, true, "m", 32])
    );
}

#[test]
fn compression_encodings_urlpattern_and_htmlrewriter_run_inside_the_jail() {
    // The other native families (miniz_oxide, encoding_rs, urlpattern, lol_html with its
    // JavaScript callbacks, suspended on its own stack in an async handler) inside a jailed worker: a system call outside the seccomp policy would
    // kill the process and the request would end as worker_crashed.
    let d = Daemon::start("jail-native", 1, 1, "[limits]\ncpu_ms = 5000\n");
    let code = "export default async () => {
        const data = new TextEncoder().encode('stockade '.repeat(10000));
        const packed = await new Response(new Blob([data]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer();
        const back = await new Response(new Blob([packed]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer();
        const sjis = new TextDecoder('shift_jis').decode(new Uint8Array([0x82, 0xa0]));
        const id = new URLPattern({ pathname: '/u/:id' }).exec('https://x.example/u/42').pathname.groups.id;
        const html = await new HTMLRewriter().on('a', { async element(el) { el.setAttribute('rel', await new Promise((r) => setTimeout(() => r('noopener'), 1))); } })
          .transform(new Response('<a href=/>x</a>')).text();
        return [packed.byteLength < 1000, back.byteLength, sjis, id, html];
    };";
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .expect("run");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().expect("json");
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["result"],
        serde_json::json!([
            true,
            90000,
            "\u{3042}",
            "42",
            "<a href=/ rel=\"noopener\">x</a>"
        ])
    );
}
