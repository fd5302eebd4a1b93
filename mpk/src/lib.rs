//! Memory Protection Keys (MPK / Intel PKU) for Stockade.
//!
//! # What this protects
//!
//! A Stockade worker process hosts several V8 isolates, possibly of several
//! tenants. Each isolate's heap pages are tagged with their own protection key
//! ("pkey") by the V8 page allocator (see [`protect`] and the C-side contract
//! below). When a worker thread enters an isolate it takes a [`PkeyGuard`] for
//! that isolate's key: the thread's PKRU register then opens **key 0 and that
//! key only**; every other key is access-disabled and write-disabled. When the
//! thread leaves the isolate the guard restores the previous PKRU value.
//!
//! So an isolate with a memory-corruption bug (a V8 type confusion, an OOB
//! write in a builtin, ...) that computes a pointer into *another* isolate's
//! heap cannot read or write it: the CPU raises a page fault that the kernel
//! delivers as `SIGSEGV` with `si_code == SEGV_PKUERR`. The integration tests
//! in `tests/` perform exactly that access on real pages and assert the fault.
//!
//! # What this does NOT protect
//!
//! * **Memory under key 0**: the Rust host, the C++ bridge, V8's own globals,
//!   malloc'd memory, thread stacks. Key 0 must stay open for the thread to
//!   run at all, so anything there is readable and writable from any isolate.
//! * **Same-key neighbours**: x86 has 16 keys, key 0 is the default and the
//!   kernel may hold one for execute-only mappings, so at most 15 are usable.
//!   When a process hosts more isolates than keys, keys are shared (least-used
//!   first) and two isolates on one key are not separated from each other.
//!   [`pair_sharing_probability`] quantifies it; the daemon should cap
//!   isolates per process or group same-tenant isolates on one key.
//! * **Side channels**: PKU is an access check, not a speculation barrier, so
//!   Spectre-style reads across keys are not prevented.
//! * **Arbitrary code execution**: `WRPKRU` is an unprivileged instruction. An
//!   attacker who can run arbitrary native code (or find a `WRPKRU` gadget in
//!   the process) can open every key. MPK raises the bar for data-only
//!   corruption; it is not a barrier against full control-flow hijack. The
//!   seccomp and process jail are the barrier for that.
//! * **Instruction fetch**: PKU checks data accesses only; executing a page is
//!   governed by its `PROT_EXEC` bit alone.
//!
//! # What it trusts
//!
//! The kernel (`pkey_alloc` hands out keys nobody else holds; `pkey_mprotect`
//! tags pages; signal delivery saves and restores PKRU) and the CPU's PKU
//! implementation. Keys come only from `pkey_alloc`, so they never collide
//! with keys V8 (`--memory-protection-keys`) or a library allocated.
//!
//! # Runtime support
//!
//! MPK needs CPUID leaf 7 ECX bit 3 (PKU, the CPU has it) and bit 4 (OSPKE,
//! the kernel enabled it) *and* a `pkey_alloc` that succeeds. [`status`]
//! reports which of these is missing as an [`MpkStatus`] with a reason string
//! and a metric label; without MPK the system runs with every isolate under
//! key 0 and says so, it never pretends. On targets other than x86_64 Linux
//! the key type [`ProtectionKey`] is an empty enum: no key can exist, so code
//! that would switch PKRU compiles but can never run.
//!
//! # Signal handlers
//!
//! Linux runs a signal handler with PKRU reset to the boot-time default,
//! which opens key 0 only (`init_pkru`, normally `0x5555_5554`), and restores
//! the interrupted PKRU on `sigreturn`. A handler that must touch an
//! isolate's heap (V8's trap handler, a profiler) has to take a
//! [`PkeyGuard`] itself.
//!
//! # Threads
//!
//! PKRU is per thread and a new thread inherits its creator's value.
//! `pkey_alloc` opens the new key in the *calling* thread only; threads that
//! already exist keep the kernel default for it (access-disabled). Allocate
//! the [`KeyPool`] before spawning V8 platform (GC) threads, or have those
//! threads run under [`PkeyGuard::enter_unrestricted`].
//!
//! # C-side contract (V8 page allocator in the C++ bridge)
//!
//! The bridge calls `pkey_mprotect(addr, len, prot, key)` itself with
//! [`ProtectionKey::as_raw`], on every range it hands to the isolate, before
//! the isolate first touches it. A range must keep its key for its whole life:
//!
//! * `SetPermissions`: call `pkey_mprotect(..., key)` with the range's key.
//!   (Plain `mprotect` keeps the key in general, but an execute-only `prot`
//!   moves the range to the kernel's execute-only key; be explicit.)
//! * `DecommitPages` / `DiscardSystemPages`: `madvise(MADV_DONTNEED/FREE)`
//!   keeps the key. V8's default `DecommitPages` re-`mmap`s the range with
//!   `MAP_FIXED`, which creates a fresh mapping **under key 0**: re-tag it with
//!   `pkey_mprotect(..., key)` right after, or the pages become readable by
//!   every isolate.
//! * `FreePages` / `munmap`: nothing to do; a later `mmap` starts at key 0
//!   and is tagged again when it is handed out.

mod error;
pub mod pkru;
mod sharing;
mod status;
#[cfg(feature = "test-support")]
pub mod testing;

pub use error::MpkError;
pub use sharing::{pair_sharing_probability, KeyAssigner};
pub use status::{MpkStatus, UnavailableReason};

#[cfg(stockade_mpk_enabled)]
mod enabled;
#[cfg(stockade_mpk_enabled)]
mod guard;
#[cfg(stockade_mpk_enabled)]
mod pool;
#[cfg(stockade_mpk_enabled)]
pub mod sys;
#[cfg(stockade_mpk_enabled)]
pub use enabled::*;

#[cfg(not(stockade_mpk_enabled))]
mod disabled;
#[cfg(not(stockade_mpk_enabled))]
pub use disabled::*;

/// Page protection bits for [`protect`] (the `PROT_*` flags of `mmap(2)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageProt(i32);

impl PageProt {
    /// No access.
    pub const NONE: PageProt = PageProt(libc::PROT_NONE);
    /// Read only.
    pub const READ: PageProt = PageProt(libc::PROT_READ);
    /// Read and write.
    pub const READ_WRITE: PageProt = PageProt(libc::PROT_READ | libc::PROT_WRITE);
    /// Read and execute (JIT code after sealing).
    pub const READ_EXEC: PageProt = PageProt(libc::PROT_READ | libc::PROT_EXEC);
    /// Read, write and execute (V8's RWX JIT pages, if enabled).
    pub const READ_WRITE_EXEC: PageProt =
        PageProt(libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC);

    /// The raw `PROT_*` bits as passed to the kernel.
    pub const fn bits(self) -> i32 {
        self.0
    }
}
