//! Test support shared by the MPK tests of this crate and of the engine (feature
//! `test-support`; never part of a normal build): run a scenario in a fresh child process and
//! read back what it reported, and a SIGSEGV reporter that tells the parent how the child died.
//!
//! Why a child process: a protection-key fault kills the process, each scenario needs its own
//! keys (a process has only 15), and PKRU state must not leak between tests. The child is the
//! same test binary re-executed with `STOCKADE_MPK_SCENARIO=<name>`, running only its ignored
//! `child_entry_point` test, which dispatches on the name.
//!
//! The child reports `REPORT key=value` lines on stdout; its SIGSEGV handler reports
//! `fault_code`, `fault_pkey` and `fault_addr` read from the kernel's siginfo, then restores the
//! default action and returns, so the faulting access runs again and the kernel kills the child
//! with SIGSEGV. The parent asserts on both the reports and the exit signal.
#![allow(clippy::missing_panics_doc, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

pub const SCENARIO_ENV: &str = "STOCKADE_MPK_SCENARIO";
/// Set to 1 to turn a "CPU lacks pkeys" skip into a failure (the QEMU run).
pub const REQUIRE_ENV: &str = "STOCKADE_MPK_REQUIRE";
/// `SEGV_PKUERR` as the reports carry it.
pub const SEGV_PKUERR: u64 = 4; // include/uapi/asm-generic/siginfo.h

/// The scenario this process must run, if it is a child.
pub fn scenario() -> Option<String> {
    std::env::var(SCENARIO_ENV).ok()
}

/// True when the test should run. False (after printing why, past libtest's
/// output capture) only when the CPU or kernel lacks PKU; panics when PKU is
/// present but unusable, or when `STOCKADE_MPK_REQUIRE=1`.
pub fn pkeys_present(test: &str) -> bool {
    let status = crate::status();
    let Some(reason) = status.unavailable_reason() else {
        return true;
    };
    let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
    assert!(
        reason.is_missing_hardware_or_os_support() && !required,
        "{test}: MPK required but unavailable: {status}"
    );
    // One write, straight to fd 2: libtest captures print!/eprint! only.
    let line = format!(
        "SKIPPED {test}: no protection keys on this machine ({reason}); \
         run `bash mpk/tests/qemu/run-in-vm.sh` to run it in a VM with PKU\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
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
    /// A reported hex or decimal number; panics with the child's output if
    /// it was not reported.
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

    pub fn killed_by(&self) -> Option<i32> {
        self.status.signal()
    }

    /// The child ran to the end of its scenario and exited 0.
    pub fn assert_completed(&self) {
        assert!(
            self.status.success() && self.has("done"),
            "scenario did not complete\n{self}"
        );
    }

    /// The child was killed by a protection-key fault on `addr` under `pkey`.
    pub fn assert_pkey_fault(&self, addr: u64, pkey: u64) {
        assert_eq!(
            self.killed_by(),
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

pub fn parse_num(raw: &str) -> Option<u64> {
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
        // libtest may print "test x ... " before the first report on a line.
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

/// Child side: one `REPORT key=value` line, flushed before anything can fault.
pub fn report(key: &str, value: impl fmt::LowerHex) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "REPORT {key}=0x{value:x}");
    let _ = out.flush();
}

/// Offset of `si_pkey` in the kernel's x86_64 `siginfo_t`: the header is
/// `si_signo`, `si_errno`, `si_code` (3 × i32) padded to 16; `_sigfault`
/// starts with `void *_addr` (16..24), then a union whose `_addr_pkey` arm is
/// `char _dummy_pkey[__ADDR_BND_PKEY_PAD = 8]; __u32 _pkey;` → 24 + 8 = 32.
/// (include/uapi/asm-generic/siginfo.h)
const SI_PKEY_OFFSET: usize = 32;

/// Installs the SIGSEGV reporter described in the module doc.
pub fn install_segv_reporter() {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value;
    // the handler only calls async-signal-safe functions (write, sigaction).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = segv_reporter as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut()), 0);
    }
}

extern "C" fn segv_reporter(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler;
    // SIGSEGV siginfo has the _sigfault layout read here.
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
    // SAFETY: resetting to the default action is async-signal-safe; on
    // return the access faults again and the kernel kills the process.
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
