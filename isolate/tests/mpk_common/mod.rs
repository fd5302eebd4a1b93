//! Support for the MPK tests of the engine: run a scenario in a fresh child process and read
//! back what it reported; a SIGSEGV reporter; the kernel's view of page keys (`smaps`).
//!
//! Why child processes: a protection-key fault kills the process, the engine's key pool is
//! per process (each scenario needs its own, undisturbed by parallel tests), and PKRU state must
//! not leak between tests. The child is this test binary re-run with `STOCKADE_MPK_SCENARIO`
//! set, running only its ignored `child_entry_point` test, which dispatches on the name.
//!
//! The child prints `REPORT key=0x<hex>` lines; its SIGSEGV handler reports `fault_code`,
//! `fault_pkey` and `fault_addr` from the kernel's siginfo, restores the default action and
//! returns, so the access faults again and the kernel kills the child with SIGSEGV.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use stockade_isolate::{Engine, Limits, Module, ModuleSet, MpkMode, V8Profile, Worker};

#[cfg(feature = "mpk-attack")]
pub mod tenant;

pub const SCENARIO_ENV: &str = "STOCKADE_MPK_SCENARIO";
/// Set to 1 (the QEMU run does) to turn "this machine has no pkeys" into a failure.
pub const REQUIRE_ENV: &str = "STOCKADE_MPK_REQUIRE";
pub const SEGV_PKUERR: u64 = 4;

/// The scenario this process must run, if it is a child.
pub fn scenario() -> Option<String> {
    std::env::var(SCENARIO_ENV).ok()
}

/// True when the test should run. False, after printing why (straight to fd 2, past libtest's
/// capture), only when the CPU or kernel lacks PKU; panics when PKU is present but unusable or
/// when `STOCKADE_MPK_REQUIRE=1`.
pub fn pkeys_present(test: &str) -> bool {
    let status = stockade_mpk::status();
    let Some(reason) = status.unavailable_reason() else {
        return true;
    };
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    assert!(
        reason.is_missing_hardware_or_os_support() && !required,
        "{test}: MPK required but unavailable: {status}"
    );
    let line = format!(
        "SKIPPED {test}: no protection keys on this machine ({reason}); \
         run `bash mpk/tests/qemu/run-in-vm.sh` to run it in a VM with PKU\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

/// For tests that check the no-keys state when there are no keys: says so (or fails in the VM,
/// where keys are required).
pub fn only_unkeyed_state_checked(test: &str) {
    let status = stockade_mpk::status();
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    assert!(!required, "{test}: MPK required but unavailable: {status}");
    let line = format!(
        "PARTIAL {test}: no protection keys on this machine; checked the unkeyed state only\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

pub fn engine() -> &'static Engine {
    Engine::init(V8Profile::Standard).expect("V8 initialises")
}

/// Generous limits: the VM emulates the CPU, everything is ~20x slower than on hardware.
pub fn limits() -> Limits {
    Limits {
        cpu: Duration::from_secs(20),
        wall: Duration::from_secs(60),
        ..Limits::default()
    }
}

/// A worker with `src` as its main module, loaded (panics on failure).
pub fn worker(mode: MpkMode, src: &str) -> Worker {
    let mut w = Worker::with_mpk(engine(), limits(), mode).expect("isolate");
    load(&mut w, src);
    w
}

pub fn load(w: &mut Worker, src: &str) {
    let mut set =
        ModuleSet::new([Module::new("main.js", src.as_bytes().to_vec())]).expect("module set");
    let inv = w.load("main.js", &mut set);
    assert!(inv.result.is_ok(), "load failed: {:?}", inv.result);
}

/// Calls the worker and returns its JSON result (panics on error).
pub fn call(w: &mut Worker, arg: &serde_json::Value) -> serde_json::Value {
    let inv = w.call(&arg.to_string());
    match inv.result {
        Ok(json) => serde_json::from_str(&json).expect("JSON result"),
        Err(e) => panic!("call failed: {e:?}; logs {:?}", inv.logs),
    }
}

/// What a child did.
pub struct ChildOutcome {
    pub scenario: String,
    pub status: ExitStatus,
    pub reports: BTreeMap<String, String>,
    pub stdout: String,
    pub stderr: String,
}

impl ChildOutcome {
    /// A reported number; panics with the child's output when missing.
    pub fn num(&self, key: &str) -> u64 {
        let raw = self
            .reports
            .get(key)
            .unwrap_or_else(|| panic!("child did not report {key}\n{self}"));
        parse_num(raw).unwrap_or_else(|| panic!("bad number {key}={raw}\n{self}"))
    }

    pub fn has(&self, key: &str) -> bool {
        self.reports.contains_key(key)
    }

    /// The child ran its scenario to the end and exited 0.
    pub fn assert_completed(&self) {
        assert!(
            self.status.success() && self.has("done"),
            "scenario did not complete\n{self}"
        );
    }

    /// The child was killed by a protection-key fault on `addr` under `pkey`.
    pub fn assert_pkey_fault(&self, addr: u64, pkey: u64) {
        assert_eq!(
            self.status.signal(),
            Some(libc::SIGSEGV),
            "child must die by SIGSEGV\n{self}"
        );
        assert_eq!(self.num("fault_code"), SEGV_PKUERR, "si_code\n{self}");
        assert_eq!(self.num("fault_pkey"), pkey, "si_pkey\n{self}");
        assert_eq!(self.num("fault_addr"), addr, "si_addr\n{self}");
    }
}

impl fmt::Display for ChildOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scenario {}: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.scenario, self.status, self.stdout, self.stderr
        )
    }
}

fn parse_num(raw: &str) -> Option<u64> {
    match raw.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => raw.parse().ok(),
    }
}

/// Runs `scenario` in a fresh copy of this test binary.
pub fn run_child(scenario: &str, env: &[(&str, String)]) -> ChildOutcome {
    let exe = std::env::current_exe().expect("own executable path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "child_entry_point",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SCENARIO_ENV, scenario);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn child test process");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let reports = stdout
        .lines()
        .filter_map(|l| l.find("REPORT ").map(|i| &l[i + "REPORT ".len()..]))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect();
    ChildOutcome {
        scenario: scenario.to_owned(),
        status: out.status,
        reports,
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// 16 hex digits nobody can guess: nanoseconds mixed with the pid.
pub fn fresh_canary() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{mixed:016x}")
}

/// The value `read64` returns at the canary's address: its first 8 bytes.
pub fn canary_word(canary: &str) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&canary.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

/// Child side: the canary the parent chose.
pub fn canary_from_env() -> String {
    std::env::var("STOCKADE_MPK_CANARY").expect("STOCKADE_MPK_CANARY")
}

/// Child side: one `REPORT key=0x<hex>` line, flushed before anything can fault.
pub fn report(key: &str, value: impl fmt::LowerHex) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "REPORT {key}=0x{value:x}");
    let _ = out.flush();
}

/// Offset of `si_pkey` in the kernel's x86_64 `siginfo_t` (header 16 bytes, `_addr` 8, then
/// `_addr_pkey { char _dummy_pkey[8]; __u32 _pkey; }`; include/uapi/asm-generic/siginfo.h).
const SI_PKEY_OFFSET: usize = 32;

/// Installs the SIGSEGV reporter described in the module doc.
pub fn install_segv_reporter() {
    // SAFETY: a zeroed sigaction is "no flags, empty mask"; the handler only calls
    // async-signal-safe functions (write, sigaction).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = segv_reporter as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()), 0);
    }
}

extern "C" fn segv_reporter(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo with the _sigfault layout for SIGSEGV.
    let (code, addr, pkey) = unsafe {
        let code = (*info).si_code;
        let addr = (*info).si_addr() as u64;
        let pkey = info
            .cast::<u8>()
            .add(SI_PKEY_OFFSET)
            .cast::<u32>()
            .read_unaligned();
        (code, addr, pkey)
    };
    raw_report(b"fault_code", code as u64);
    raw_report(b"fault_pkey", u64::from(pkey));
    raw_report(b"fault_addr", addr);
    // SAFETY: resetting to the default action is async-signal-safe; on return the access
    // faults again and the kernel kills the process.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
    }
}

/// `REPORT key=0x<hex>\n` with one write(2) and no allocation.
fn raw_report(key: &[u8], value: u64) {
    let mut buf = [0u8; 64];
    let mut len = 0;
    for &b in b"REPORT ".iter().chain(key).chain(b"=0x") {
        buf[len] = b;
        len += 1;
    }
    let digits = if value == 0 {
        1
    } else {
        (67 - value.leading_zeros() as usize) / 4
    };
    for i in (0..digits).rev() {
        buf[len] = b"0123456789abcdef"[((value >> (4 * i)) & 0xf) as usize];
        len += 1;
    }
    buf[len] = b'\n';
    len += 1;
    // SAFETY: writes `len` initialised bytes of `buf` to stdout.
    unsafe { libc::write(1, buf.as_ptr().cast(), len) };
}

/// One mapping of this process as `/proc/self/smaps` describes it.
#[derive(Debug, Clone, Copy)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub readable: bool,
    /// Writable and executable at once.
    pub rwx: bool,
    /// The kernel's `ProtectionKey:` field (0 when the kernel prints none).
    pub pkey: u32,
}

/// The kernel's view of every mapping and its protection key.
pub fn smaps() -> Vec<Vma> {
    let text = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
    let mut vmas: Vec<Vma> = Vec::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("ProtectionKey:") {
            if let Some(last) = vmas.last_mut() {
                last.pkey = value.trim().parse().expect("ProtectionKey value");
            }
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        else {
            continue;
        };
        if perms.len() == 4 {
            vmas.push(Vma {
                start,
                end,
                readable: perms.starts_with('r'),
                rwx: perms.starts_with("rwx"),
                pkey: 0,
            });
        }
    }
    vmas
}

/// The kernel's key for the page holding `addr`.
pub fn kernel_pkey_of(vmas: &[Vma], addr: u64) -> Option<u32> {
    vmas.iter()
        .find(|v| v.start <= addr && addr < v.end)
        .map(|v| v.pkey)
}
