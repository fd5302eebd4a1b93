//! The real implementation, for x86_64 Linux: run-time detection, the key
//! type, and page tagging. The key pool and the PKRU guard live in
//! `pool.rs` and `guard.rs`.
//!
//! Guarantees: a [`ProtectionKey`] exists only if `pkey_alloc` returned it,
//! which the kernel does only with OSPKE on, so code holding a key may run
//! `RDPKRU`/`WRPKRU`. Trusts: CPUID and the kernel.

pub use crate::guard::PkeyGuard;
pub use crate::pool::KeyPool;

use crate::sys;
use crate::{MpkError, MpkStatus, PageProt, UnavailableReason};
use std::sync::OnceLock;

/// CPUID.(EAX=7,ECX=0):ECX bit 3: the CPU implements protection keys.
const CPUID7_ECX_PKU: u32 = 1 << 3;
/// CPUID.(EAX=7,ECX=0):ECX bit 4: the OS set CR4.PKE, RDPKRU/WRPKRU work.
const CPUID7_ECX_OSPKE: u32 = 1 << 4;

/// A protection key allocated from the kernel by [`KeyPool`]. Never key 0.
///
/// Copy: it is a name, not ownership; the pool owns the allocation for the
/// life of the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtectionKey(u32);

impl ProtectionKey {
    /// The kernel's key number (1..=15), as passed to `pkey_mprotect` by the
    /// C++ bridge.
    pub const fn as_raw(self) -> u32 {
        self.0
    }

    /// Wraps a key returned by `pkey_alloc`; `None` for key 0 or out of range.
    pub(crate) fn from_kernel(raw: u32) -> Option<Self> {
        (1..crate::pkru::KEY_COUNT)
            .contains(&raw)
            .then_some(ProtectionKey(raw))
    }
}

/// What the CPU says, without asking the kernel for a key: `Ok` when both
/// PKU and OSPKE are set.
pub fn cpu_support() -> Result<(), UnavailableReason> {
    use core::arch::x86_64::__cpuid_count;
    // CPUID is available on every x86_64 CPU.
    let max_leaf = __cpuid_count(0, 0).eax;
    if max_leaf < 7 {
        return Err(UnavailableReason::NoCpuidLeaf7);
    }
    let ecx = __cpuid_count(7, 0).ecx;
    if ecx & CPUID7_ECX_PKU == 0 {
        return Err(UnavailableReason::CpuLacksPku);
    }
    if ecx & CPUID7_ECX_OSPKE == 0 {
        return Err(UnavailableReason::OsDisabledPku);
    }
    Ok(())
}

fn probe() -> MpkStatus {
    if let Err(reason) = cpu_support() {
        return MpkStatus::Unavailable(reason);
    }
    match sys::pkey_alloc(0, 0) {
        Ok(key) => {
            // SAFETY: the key was allocated one line above and no page has
            // been tagged with it.
            // A failing free leaks one key; the status is still accurate.
            let _ = unsafe { sys::pkey_free(key) };
            MpkStatus::Available
        }
        Err(err) => MpkStatus::Unavailable(UnavailableReason::KernelRefused {
            errno: err.raw_os_error().unwrap_or(libc::EINVAL),
        }),
    }
}

/// Whether MPK works in this process, probed once (CPUID leaf 7 PKU and
/// OSPKE bits, then one `pkey_alloc` + `pkey_free`) and cached.
///
/// The probe takes and returns one key; if every key is already held at the
/// time of the first call, the status is `KernelRefused { errno: ENOSPC }`.
pub fn status() -> MpkStatus {
    static STATUS: OnceLock<MpkStatus> = OnceLock::new();
    *STATUS.get_or_init(probe)
}

/// `status().is_available()`; see [`status`] for the reason when false.
pub fn is_supported() -> bool {
    status().is_available()
}

/// Sets `[addr, addr + len)` to `prot` and tags it with `key`
/// (`pkey_mprotect(2)`). Accesses to the range are then allowed only to a
/// thread whose PKRU opens `key`, e.g. inside [`PkeyGuard::enter`]`(key)`.
///
/// # Safety
/// The caller owns the range (it was mapped by the caller and is not used by
/// anyone expecting other permissions) and `addr` is page-aligned; `len` is
/// rounded up to pages by the kernel.
pub unsafe fn protect(
    addr: *mut u8,
    len: usize,
    prot: PageProt,
    key: ProtectionKey,
) -> Result<(), MpkError> {
    let raw_key = libc::c_int::try_from(key.as_raw()).map_err(|_| MpkError::Syscall {
        call: "pkey_mprotect",
        source: std::io::Error::from_raw_os_error(libc::EINVAL),
    })?;
    // SAFETY: the caller owns the page-aligned range; `key` was allocated by
    // this process.
    unsafe { sys::pkey_mprotect(addr.cast(), len, prot.bits(), raw_key) }.map_err(|source| {
        MpkError::Syscall {
            call: "pkey_mprotect",
            source,
        }
    })
}
