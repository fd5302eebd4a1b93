//! Support for the MPK tests of the engine: the shared child-process harness and SIGSEGV
//! reporter (`stockade_mpk::testing`), engine helpers, and the kernel's view of page keys
//! (`smaps`).
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

use std::io::Write;
use std::time::Duration;

use stockade_isolate::{Engine, Limits, Module, ModuleSet, MpkMode, V8Profile, Worker};

#[cfg(feature = "mpk-attack")]
pub mod tenant;

pub use stockade_mpk::testing::*;

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
