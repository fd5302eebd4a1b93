//! Memory protection keys (MPK/PKU) between the isolates of one process.
//!
//! # What it guarantees
//!
//! With MPK available, each isolate gets a protection key from a process-wide pool
//! (`EngineKeys`, allocated at [`crate::Engine::init`]), and:
//!
//! * **Every page V8 allocates or re-permissions for the isolate carries its key.** The platform's
//!   page allocator (`bridge/memory.cc`, `TaggingPageAllocator`) tags each range with
//!   `pkey_mprotect` before V8 sees its address, records it (range → key, owner) in a registry,
//!   re-applies the key on every `SetPermissions`, and re-tags the fresh mapping that
//!   `DecommitPages`' `mmap(MAP_FIXED)` creates (it would be key 0 otherwise).
//! * **ArrayBuffer backing stores** come from a per-isolate arena (`ArenaAllocator`) whose chunks
//!   and large mappings are tagged with the same key, instead of `malloc` (key 0).
//! * **PKRU is switched on every entry into the isolate.** Every bridge call a
//!   [`crate::Worker`] makes (creation, compile, synthetic modules, module requests, run, invoke,
//!   pump — which runs microtask checkpoints and platform tasks —, timers, heap statistics,
//!   disposal) goes through `KeyedIsolate::call`, which holds a [`PkeyGuard`] for the
//!   isolate's key: the thread can then touch key 0 and that key, and no other tenant's key.
//!   One switch in and one out per bridge call (the clock update rides along with the call it
//!   precedes), so a warm invocation costs two guard entries: invoke and pump.
//!   Callbacks from V8 into the host (console output, random bytes, timers, module resolution)
//!   run inside those calls, so under the same guard; they reach only the calling worker's own
//!   `HostState` (its `userdata`, host memory) and the buffers V8 hands them. The guard restores
//!   the previous PKRU on exit, also on unwinding.
//! * **No thread holds tenant keys open outside a guard.** `pkey_alloc` opens a new key in the
//!   calling thread only, so the pool is allocated on a short-lived helper thread: every other
//!   thread (the watchdog included) keeps the kernel's default for these keys, access-disabled.
//!   A worker without a key ([`MpkMode::Off`]) runs with that ambient PKRU: it reaches key 0
//!   memory only, not keyed isolates.
//! * **V8 gets no key.** V8 13.6 would take a protection key of its own for its JIT code
//!   (`--memory-protection-keys`, on by default) and write PKRU beside our guards. It runs with
//!   `--no-memory-protection-keys`, and the pool takes every free key *before* V8 initialises
//!   (older V8 allocated one whatever the flag said), so [`PkeyGuard`] stays the only writer of
//!   PKRU in the process. The price: V8 13.6 maps JIT code read-write-execute under key 0 (it has
//!   no mprotect W^X any more); see SECURITY.md.
//! * **Keys are spread**: a new isolate gets a key no live isolate holds while one exists, else
//!   the least-used one (`stockade_mpk::KeyAssigner`). With more isolates than keys, the
//!   probability that two neighbours share a key is exported
//!   ([`crate::Engine::mpk_stats`], [`crate::Engine::mpk_sharing_probability_for`]).
//! * **Without MPK it says so.** When the CPU, hypervisor or kernel lacks PKU, the engine records
//!   the [`MpkStatus`] (with the reason and a metric label), logs it once to stderr, and runs
//!   every isolate with no key; [`MpkStats::sharing_probability`] is then 1 for two or more
//!   isolates. Nothing claims protection the hardware does not give.
//!
//! # Why the tagging is sound: pages allocated outside a call
//!
//! The key a new page gets is the key of the *thread-local owner* (`OwnerScope` in
//! `bridge/memory.h`) that the bridge opens around everything that can run V8 on an isolate's
//! behalf: each bridge call (`Entry`), `Isolate::New` and `Isolate::Dispose`. This is correct
//! only if V8 never allocates an isolate's pages on another thread or outside such a call, which
//! holds because:
//!
//! 1. V8 runs with `--single-threaded` (both [`crate::V8Profile`]s): no concurrent marking,
//!    sweeping, compilation or background tasks and no worker threads. Garbage collection,
//!    compilation, deoptimisation and the platform's foreground tasks all run on the isolate's
//!    thread, and only inside bridge calls (`stk_pump` runs the task queue inside its `Entry`).
//! 2. Nothing else calls into an isolate: the watchdog only calls `TerminateExecution`, which
//!    sets a flag in the `Isolate` object (C++ heap, key 0) and allocates nothing.
//! 3. It is checked, not assumed: the page allocator counts allocations made with no owner on
//!    the calling thread ([`crate::Engine::pages_allocated_outside_isolates`]); the tests
//!    (`tests/mpk_wiring.rs`, and the fuzz target `mpk_isolates`) assert the count stays 0
//!    across creation, GC, growth, compilation and disposal, and it does go up when an `Entry`
//!    opens no owner (checked by hand when the test was written).
//! 4. And checked against the kernel: `tests/mpk_tagging.rs` compares the registry with
//!    `/proc/self/smaps` both ways after GC, growth and shrinking (every mapping of an isolate's
//!    ranges carries its key; every tagged mapping belongs to a live isolate with that key; a
//!    disposed isolate leaves nothing under its key).
//!
//! The registry makes the key stick across V8's permission changes, whichever thread makes them;
//! a decommitted range (empty, untagged) belongs to whichever isolate makes it accessible again.
//!
//! **Pages V8 moves without asking.** V8 13.6 pools the heap pages its collections free and hands
//! them to other isolates with no call to the page allocator: a live isolate with an empty pool
//! takes from another live isolate's pool, and a disposed isolate's pool is shared for 8 s. Both
//! routes are closed in the bridge (`DrainPagePool`, `DisposeReleasingPools`): a keyed isolate's
//! pool is emptied before any bridge call that collected garbage returns, and a disposal's pool is
//! freed right after it. The VM tests above would fault (a page under another isolate's key) or
//! lose their canaries (tenant data under key 0) if a page still moved.
//!
//! Process-wide V8 state that every isolate reads is created under the engine's own owner (no
//! key): the startup snapshot, V8's set-up, and the **shared read-only heap**. V8 shares one
//! read-only heap between all isolates and frees it with the last isolate; if it were ever
//! re-created inside a tenant's isolate creation, it would carry that tenant's key and every other
//! isolate would fault on `undefined`. An anchor isolate, created from the snapshot at engine
//! start and never disposed, keeps it alive under key 0 (cost: one idle isolate per process,
//! about 0.9 MiB of RSS measured).
//!
//! # What is NOT protected
//!
//! * **Key 0 memory**, open to every isolate: V8's shared read-only heap (immutable: it is mapped
//!   read-only), V8's `malloc`'d memory (the `Isolate` object, zones with parser ASTs and
//!   compiler IR, handle blocks, the embedder's `stk_isolate`), the host's Rust structures,
//!   thread stacks. That includes **tenant data in transit through the host**: module sources
//!   as the host holds them, request payloads, console lines, results (the `Outcome` strings),
//!   while they exist. An isolate with an arbitrary read primitive that finds them in the
//!   `malloc` heap can read them; MPK protects what lives in V8's heap and ArrayBuffers.
//! * **Same-key neighbours**: at most 15 keys exist; with more isolates than keys some share one
//!   and are not separated from each other by MPK (see the sharing probability). Workers created
//!   with [`MpkMode::Off`] are not separated from anyone.
//! * **WebAssembly code space**: V8's process-wide native-module cache hands the compiled code
//!   of a byte-identical module to every isolate that compiles it, so its code space (the one
//!   reservation V8 makes as `kNoAccessWillJitLater`) is left under key 0, owned by no isolate.
//!   It holds machine code and jump tables compiled from bytes the reader has too, no tenant
//!   data, and is write-protected (`--wasm-write-protect-code-memory`: RX, made RW only while V8
//!   writes code, on the compiling isolate's thread).
//! * **Side channels**: PKU is an access check, not a speculation barrier.
//! * **Arbitrary code execution**: `WRPKRU` is unprivileged; an attacker who can run native code
//!   (or reach a `WRPKRU` gadget) opens every key. MPK stops data-only corruption (an arbitrary
//!   read/write primitive in V8), which `tests/mpk_attack.rs` demonstrates with a real one; the
//!   process jail is the barrier against control-flow hijack.
//! * **Instruction fetch**: PKU checks data accesses only.
//!
//! # What it trusts
//!
//! The CPU's PKU, the kernel (`pkey_alloc`, `pkey_mprotect`, PKRU save/restore on signals and
//! context switches), `stockade-mpk`'s [`PkeyGuard`] (the single place PKRU is written), and V8 to
//! honour `--single-threaded`.

use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, PoisonError};

use stockade_mpk::{KeyPool, MpkStatus, PkeyGuard, ProtectionKey};

use crate::ffi;
use crate::watchdog::TerminateHandle;

/// Whether a new worker's isolate gets a protection key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MpkMode {
    /// A key from the engine's pool when MPK is available; no key otherwise.
    #[default]
    Pooled,
    /// No key: the isolate's memory is under key 0 and readable by every isolate of the process.
    /// For baselines (benchmarks) and the tests' control runs.
    Off,
}

/// Protection-key figures for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MpkStats {
    /// Whether MPK works in this process, and if not why (`status.metric_label()`).
    pub status: MpkStatus,
    /// Keys in the engine's pool (0 without MPK).
    pub keys: usize,
    /// Live isolates holding a key.
    pub keyed_isolates: u64,
    /// Live isolates without a key ([`MpkMode::Off`], or MPK unavailable).
    pub unkeyed_isolates: u64,
    /// Probability that two distinct live isolates, picked uniformly, are *not* separated by MPK:
    /// they share a key, or one of them has none. 0 with fewer than two isolates.
    pub sharing_probability: f64,
}

/// The process's key pool and how it is used. One per process (a `static` in `engine.rs`).
pub(crate) struct EngineKeys {
    status: MpkStatus,
    state: Mutex<KeyState>,
}

struct KeyState {
    pool: Option<KeyPool>,
    unkeyed: u64,
}

impl EngineKeys {
    /// Takes every free key from the kernel, on a helper thread so that no long-lived thread has
    /// them open outside a guard. Call before V8 initialises (see the module doc). Without MPK
    /// (or when the kernel refuses), records why.
    pub(crate) fn allocate() -> EngineKeys {
        let taken = std::thread::Builder::new()
            .name("stockade-pkey-alloc".into())
            .spawn(|| KeyPool::allocate(usize::MAX))
            .map_err(|e| e.to_string())
            .and_then(|h| h.join().map_err(|_| "key allocation panicked".to_string()));
        let (status, pool) = match taken {
            Ok(Ok(pool)) => (MpkStatus::Available, Some(pool)),
            Ok(Err(stockade_mpk::MpkError::Unavailable(reason))) => {
                (MpkStatus::Unavailable(reason), None)
            }
            Ok(Err(err)) => {
                eprintln!("stockade: cannot allocate protection keys: {err}");
                (unavailable_after_probe(), None)
            }
            Err(err) => {
                eprintln!("stockade: cannot allocate protection keys: {err}");
                (unavailable_after_probe(), None)
            }
        };
        match &pool {
            Some(pool) => eprintln!(
                "stockade: memory protection keys on: {} keys for isolates",
                pool.len()
            ),
            None => eprintln!("stockade: {status}"),
        }
        EngineKeys {
            status,
            state: Mutex::new(KeyState { pool, unkeyed: 0 }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, KeyState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn status(&self) -> MpkStatus {
        self.status
    }

    /// The key for a new isolate (`None`: no key) and its registration as a user.
    fn assign(&self, mode: MpkMode) -> Option<ProtectionKey> {
        let mut state = self.lock();
        let key = match (mode, state.pool.as_mut()) {
            (MpkMode::Pooled, Some(pool)) => Some(pool.assign()),
            _ => None,
        };
        if key.is_none() {
            state.unkeyed += 1;
        }
        key
    }

    fn release(&self, key: Option<ProtectionKey>) {
        let mut state = self.lock();
        match (key, state.pool.as_mut()) {
            (Some(key), Some(pool)) => {
                pool.release(key);
            }
            _ => state.unkeyed = state.unkeyed.saturating_sub(1),
        }
    }

    pub(crate) fn stats(&self) -> MpkStats {
        let state = self.lock();
        let users: Vec<u64> = state.pool.as_ref().map_or_else(Vec::new, |pool| {
            pool.keys()
                .iter()
                .map(|&k| u64::from(pool.users(k)))
                .collect()
        });
        let keyed: u64 = users.iter().sum();
        let unkeyed = state.unkeyed;
        let n = keyed + unkeyed;
        let sharing_probability = if n < 2 {
            0.0
        } else {
            // Ordered pairs (a, b), a != b, not separated: same key, or either without a key.
            let same_key: u64 = users.iter().map(|&u| u * u.saturating_sub(1)).sum();
            let with_unkeyed = n * (n - 1) - keyed * keyed.saturating_sub(1);
            (same_key + with_unkeyed) as f64 / (n * (n - 1)) as f64
        };
        MpkStats {
            status: self.status,
            keys: users.len(),
            keyed_isolates: keyed,
            unkeyed_isolates: unkeyed,
            sharing_probability,
        }
    }
}

/// The status to report when the pool could not be allocated although the probe may have
/// succeeded: keep the probe's reason if it has one, else say the kernel refused.
fn unavailable_after_probe() -> MpkStatus {
    match stockade_mpk::status() {
        MpkStatus::Available => {
            MpkStatus::Unavailable(stockade_mpk::UnavailableReason::KernelRefused {
                errno: libc::ENOSPC,
            })
        }
        other => other,
    }
}

/// A bridge isolate and its protection key. All access to the isolate goes through
/// [`KeyedIsolate::call`], so no bridge call can be made without the key's guard.
pub(crate) struct KeyedIsolate {
    raw: NonNull<ffi::StkIsolate>,
    key: Option<ProtectionKey>,
    keys: &'static EngineKeys,
    disposed: bool,
}

impl KeyedIsolate {
    /// Creates the isolate with a key chosen by `mode`. On failure the key is released and the
    /// bridge's outcome describes the error.
    ///
    /// # Safety
    /// `callbacks.userdata` must stay valid until the isolate is disposed.
    pub(crate) unsafe fn create(
        keys: &'static EngineKeys,
        mode: MpkMode,
        mut config: ffi::StkIsolateConfig,
        callbacks: &ffi::StkHost,
        out: &mut ffi::StkOutcome,
    ) -> Option<KeyedIsolate> {
        let key = keys.assign(mode);
        config.pkey = key.map_or(-1, |k| k.as_raw() as i32);
        let raw = {
            let _guard = key.map(PkeyGuard::enter);
            // SAFETY: config, callbacks and out are valid for the call; the caller keeps the
            // userdata alive. The guard opens the new isolate's key while V8 fills its heap.
            unsafe { ffi::stk_isolate_new(&config, callbacks, out) }
        };
        match NonNull::new(raw) {
            Some(raw) => Some(KeyedIsolate {
                raw,
                key,
                keys,
                disposed: false,
            }),
            None => {
                keys.release(key);
                None
            }
        }
    }

    /// Runs one bridge call on the isolate with its key open (and every other tenant key
    /// closed) for exactly the duration of `f`.
    #[inline]
    pub(crate) fn call<R>(&self, f: impl FnOnce(*mut ffi::StkIsolate) -> R) -> R {
        let _guard = self.key.map(PkeyGuard::enter);
        f(self.raw.as_ptr())
    }

    /// The handle the watchdog terminates the isolate through (`stk_isolate_terminate` touches
    /// only key-0 memory, so the watchdog thread needs no key).
    pub(crate) fn terminate_handle(&self) -> TerminateHandle {
        TerminateHandle(self.raw.as_ptr())
    }

    pub(crate) fn key(&self) -> Option<ProtectionKey> {
        self.key
    }

    /// Disposes of the isolate (under its key) and gives the key back. Idempotent.
    pub(crate) fn dispose(&mut self) {
        if self.disposed {
            return;
        }
        self.disposed = true;
        // SAFETY: the isolate is live and disposed exactly once, here, on its thread.
        self.call(|raw| unsafe { ffi::stk_isolate_dispose(raw) });
        self.keys.release(self.key);
    }
}

impl Drop for KeyedIsolate {
    fn drop(&mut self) {
        self.dispose();
    }
}
