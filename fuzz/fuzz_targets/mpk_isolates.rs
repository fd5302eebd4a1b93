//! Fuzzes protection keys across isolates: random sequences of create (keyed or not) / drop /
//! call (enter+exit) / GC churn / ArrayBuffer allocation / canary planting / same-key and
//! cross-isolate reads, over up to five live isolates.
//!
//! Checks, after every operation that can tell:
//! * **no cross-key access succeeds and every same-key access does**: a read of isolate `j`'s
//!   memory made with exactly the PKRU of isolate `i`'s calls ([`Worker::attack_read_under_key`])
//!   runs in a forked child, so a fault does not end the fuzzer; the child must die with
//!   `SEGV_PKUERR` naming `j`'s key iff `j` has a key and `i` does not have the same one, and
//!   must return the same bytes as `j`'s own read otherwise. The prediction from PKRU bits
//!   (`pkru::allows_read`) and the page's key in the bridge's registry must agree with both;
//! * reads of an isolate's own memory under its own key succeed in-process (a fault here kills
//!   the fuzzer: that is a finding);
//! * every address picked belongs, in the registry, to the isolate it was picked from, with that
//!   isolate's key, and the kernel (`/proc/self/smaps`) gives its page the same key;
//! * PKRU inside a call opens key 0 and the isolate's key only, and the thread's PKRU is the
//!   same before and after every call;
//! * no V8 page is ever allocated outside an isolate's scope.
//!
//! Meaningful only on a CPU with PKU (`bash mpk/tests/qemu/run-in-vm.sh --fuzz SECONDS` runs it
//! in a VM that has it); elsewhere every isolate is unkeyed and only the "same-key" half runs.
//! Build: `cargo +nightly fuzz build -s none --features mpk mpk_isolates` (no sanitizer: libnode
//! is not instrumented; debug assertions stay on, as the test-only `mpk-attack` feature needs).

#![no_main]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use stockade_isolate::attack::attack_range_of;
use stockade_isolate::{Engine, Limits, Module, ModuleSet, MpkMode, V8Profile, Worker};
use stockade_mpk::pkru;

const MAX_LIVE: usize = 5;
const MAX_OPS: usize = 24;
const SEGV_PKUERR: i32 = 4;
const SI_PKEY_OFFSET: usize = 32;

const TENANT_JS: &str = r#"
globalThis.bufs = [];
export default (x) => {
  switch (x.op) {
    case 'plant': {
      const codes = [...x.a, ...x.b].map((c) => c.charCodeAt(0));
      globalThis.canary = String.fromCharCode(...codes);
      return 0;
    }
    case 'churn': {
      let keep = [];
      for (let r = 0; r < x.rounds; r++) {
        for (let i = 0; i < 2000; i++) keep.push({ i, s: 'v' + i });
        if (keep.length > 8000) keep = [];
      }
      return keep.length;
    }
    case 'buffer': {
      bufs.push(new Uint8Array(x.size).fill(x.fill));
      if (bufs.length > 8) bufs.shift();
      return bufs.length;
    }
    case 'pkru': return __attack.pkru();
  }
  return null;
};
"#;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<&'static Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::init(V8Profile::Standard).expect("V8 initialises"))
}

fn limits() -> Limits {
    Limits {
        cpu: Duration::from_secs(30),
        wall: Duration::from_secs(60),
        ..Limits::default()
    }
}

struct Tenant {
    worker: Worker,
    /// Canary text and the addresses of its copies, if planted.
    canary: Option<(String, Vec<u64>)>,
}

fn call(w: &mut Worker, arg: serde_json::Value) -> serde_json::Value {
    let inv = w.call(&arg.to_string());
    let json = inv
        .result
        .unwrap_or_else(|e| panic!("call {arg} failed: {e:?}"));
    serde_json::from_str(&json).expect("JSON result")
}

fn create(keyed: bool) -> Tenant {
    let mode = if keyed { MpkMode::Pooled } else { MpkMode::Off };
    let mut worker = Worker::with_mpk(engine(), limits(), mode).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", TENANT_JS.as_bytes().to_vec())])
        .expect("module set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    worker.attack_install();
    Tenant {
        worker,
        canary: None,
    }
}

fn thread_pkru() -> Option<u32> {
    // SAFETY: RDPKRU is defined when MPK is available (OSPKE).
    stockade_mpk::status()
        .is_available()
        .then(|| unsafe { pkru::read() })
}

/// A call that enters and leaves the isolate: PKRU inside is key 0 + its key; outside, the same
/// before and after.
fn enter_exit(t: &mut Tenant) {
    let before = thread_pkru();
    let inside = call(&mut t.worker, serde_json::json!({ "op": "pkru" }));
    assert_eq!(thread_pkru(), before, "PKRU not restored after a call");
    if let (Some(k), Some(v)) = (t.worker.mpk_key(), inside.as_u64()) {
        assert_eq!(
            v,
            u64::from(pkru::only_default_and(k)),
            "PKRU inside a call"
        );
    }
}

fn plant(t: &mut Tenant, seed: u64) {
    let text = format!("{:016x}", seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (a, b) = text.split_at(8);
    call(
        &mut t.worker,
        serde_json::json!({ "op": "plant", "a": a, "b": b }),
    );
    let copies = t.worker.attack_find(text.as_bytes());
    assert!(!copies.is_empty(), "planted canary not found");
    t.canary = Some((text, copies));
}

/// Readable 8-byte-aligned addresses of `t`'s memory: canary copies first, then a page of
/// each readable range.
fn addresses(t: &Tenant) -> Vec<u64> {
    let mut out: Vec<u64> = t
        .canary
        .as_ref()
        .map(|(_, c)| c.iter().map(|a| a & !7).collect())
        .unwrap_or_default();
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    let readable: Vec<(u64, u64)> = maps
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (range, perms) = (f.next()?, f.next()?);
            let (s, e) = range.split_once('-')?;
            perms.starts_with('r').then_some((
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
            ))
        })
        .collect();
    for r in t.worker.attack_ranges() {
        if let Some(&(s, _)) = readable.iter().find(|(s, e)| *s < r.end && r.start < *e) {
            out.push(s.max(r.start));
        }
    }
    out
}

fn kernel_pkey(addr: u64) -> u32 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let mut inside = false;
    for line in smaps.lines() {
        if let Some(v) = line.strip_prefix("ProtectionKey:") {
            if inside {
                return v.trim().parse().expect("pkey");
            }
            continue;
        }
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((s, e)) = first.split_once('-') {
            if let (Ok(s), Ok(e)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) {
                if inside {
                    return 0; // the previous mapping had no ProtectionKey line
                }
                inside = s <= addr && addr < e;
            }
        }
    }
    0
}

static EXPECTED_PKEY: AtomicU32 = AtomicU32::new(0);

/// What the checks saw, printed every 200 inputs: inputs, cross-isolate reads that faulted as
/// required, reads that succeeded as required (same key or unkeyed owner), own-key reads.
static STATS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
const INPUTS: usize = 0;
const DENIED: usize = 1;
const ALLOWED: usize = 2;
const OWN: usize = 3;

fn count(what: usize) {
    STATS[what].fetch_add(1, Ordering::Relaxed);
}

extern "C" fn child_segv(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid SIGSEGV siginfo (_sigfault layout).
    let (code, pkey) = unsafe {
        let pkey = info
            .cast::<u8>()
            .add(SI_PKEY_OFFSET)
            .cast::<u32>()
            .read_unaligned();
        ((*info).si_code, pkey)
    };
    let status = if code == SEGV_PKUERR && pkey == EXPECTED_PKEY.load(Ordering::Relaxed) {
        42
    } else if code == SEGV_PKUERR {
        43
    } else {
        44
    };
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(status) };
}

/// Does `reader`'s view read `addr`? In a forked child: Ok(value) or Err(exit status).
fn read_in_child(reader: &Worker, addr: u64, owner_key: u32) -> Result<u64, i32> {
    let mut pipe = [0i32; 2];
    // SAFETY: pipe writes two fds into the array.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    EXPECTED_PKEY.store(owner_key, Ordering::Relaxed);
    // SAFETY: the child only installs a handler, reads, writes to a pipe and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork");
    if pid == 0 {
        // SAFETY: async-signal-safe calls only; addr is mapped and readable (picked so).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = child_segv as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
            let value = reader.attack_read_under_key(addr);
            libc::write(pipe[1], (&value as *const u64).cast(), 8);
            libc::_exit(0);
        }
    }
    let mut status = 0;
    let mut value = 0u64;
    // SAFETY: waits for our own child; reads at most 8 bytes into `value`; closes our fds.
    unsafe {
        libc::close(pipe[1]);
        libc::waitpid(pid, &mut status, 0);
        let n = libc::read(pipe[0], (&mut value as *mut u64).cast(), 8);
        libc::close(pipe[0]);
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 && n == 8 {
            return Ok(value);
        }
    }
    Err(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    })
}

fn cross_read(tenants: &[Tenant], i: usize, j: usize, pick: usize) {
    let (reader, owner) = (&tenants[i].worker, &tenants[j].worker);
    let addrs = addresses(&tenants[j]);
    let Some(&addr) = addrs.get(pick % addrs.len().max(1)) else {
        return;
    };
    let range = attack_range_of(addr).expect("picked address is registered");
    assert_eq!(range.owner, owner.attack_owner(), "{addr:#x} owner");
    assert_eq!(range.key, owner.mpk_key(), "{addr:#x} registry key");
    if stockade_mpk::status().is_available() {
        assert_eq!(
            kernel_pkey(addr),
            owner.mpk_key().unwrap_or(0),
            "{addr:#x} kernel key"
        );
    }
    // The isolation policy.
    let allowed = owner.mpk_key().is_none() || reader.mpk_key() == owner.mpk_key();
    // What PKRU says.
    if let Some(p) = reader.attack_pkru_in_call() {
        let predicted = owner.mpk_key().is_none_or(|k| pkru::allows_read(p, k));
        assert_eq!(
            predicted,
            allowed,
            "PKRU {p:#x} vs policy for key {:?}",
            owner.mpk_key()
        );
    }
    // What the CPU does. The owner's own read (in-process: must not fault) is the reference.
    // SAFETY: addr is mapped and readable; owner reads under its own key.
    let reference = unsafe { owner.attack_read_under_key(addr) };
    match read_in_child(reader, addr, owner.mpk_key().unwrap_or(0)) {
        Ok(v) => {
            assert!(allowed, "cross-key read of {addr:#x} succeeded");
            assert_eq!(v, reference, "same-key read returned other bytes");
            count(ALLOWED);
        }
        Err(42) => {
            assert!(!allowed, "allowed read of {addr:#x} faulted with PKUERR");
            count(DENIED);
        }
        Err(code) => panic!("read of {addr:#x} failed oddly (child status {code})"),
    }
}

fuzz_target!(|data: &[u8]| {
    let engine = engine();
    let mut tenants: Vec<Tenant> = Vec::new();
    let mut seq = 0u64;
    for op in data.chunks_exact(3).take(MAX_OPS) {
        let (code, x, y) = (op[0] % 8, usize::from(op[1]), usize::from(op[2]));
        seq += 1;
        if tenants.is_empty() && code != 0 {
            tenants.push(create(true));
        }
        let n = tenants.len();
        match code {
            0 if n < MAX_LIVE => tenants.push(create(x % 4 != 0)),
            0 => {}
            1 => drop(tenants.remove(x % n)),
            2 => {
                let t = &mut tenants[x % n];
                call(
                    &mut t.worker,
                    serde_json::json!({ "op": "churn", "rounds": y % 6 + 1 }),
                );
                if let Some((text, copies)) = &mut t.canary {
                    *copies = t.worker.attack_find(text.as_bytes()); // a GC may have moved it
                }
            }
            3 => {
                const SIZES: [usize; 9] = [0, 1, 16, 100, 2048, 2049, 4096, 65536, 1 << 20];
                let arg = serde_json::json!({ "op": "buffer", "size": SIZES[y % 9], "fill": y });
                call(&mut tenants[x % n].worker, arg);
            }
            4 => plant(&mut tenants[x % n], seq ^ (y as u64) << 40),
            5 | 6 => cross_read(&tenants, x % n, y % n, x / n + y),
            _ => enter_exit(&mut tenants[x % n]),
        }
    }
    // Same-key reads in-process: each isolate reads its own canary under its own key.
    for t in &tenants {
        if let Some((text, _)) = &t.canary {
            let live = t.worker.attack_find(text.as_bytes());
            assert!(!live.is_empty(), "canary lost");
            let (base, off) = (live[0] & !7, (live[0] & 7) as usize);
            // SAFETY: the 16 canary bytes at live[0] are readable, so are the aligned words
            // covering their first 8 (same pages).
            let words = unsafe {
                [
                    t.worker.attack_read_under_key(base),
                    t.worker.attack_read_under_key(base + 8),
                ]
            };
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            assert_eq!(
                &bytes[off..off + 8],
                &text.as_bytes()[..8],
                "own canary under own key"
            );
            count(OWN);
        }
    }
    drop(tenants);
    assert_eq!(engine.pages_allocated_outside_isolates(), 0);
    count(INPUTS);
    let s: Vec<u64> = STATS.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    if s[INPUTS] % 200 == 0 {
        eprintln!(
            "mpk_isolates: {} inputs, {} cross-key reads faulted (PKUERR, right key), {} allowed \
             reads succeeded, {} own-key reads",
            s[INPUTS], s[DENIED], s[ALLOWED], s[OWN]
        );
    }
});
