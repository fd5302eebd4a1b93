//! The stub for targets without MPK support (anything but x86_64 Linux, or a
//! build with `STOCKADE_MPK_FORCE_DISABLED=1`).
//!
//! Same API as `enabled.rs`, so the daemon compiles everywhere, but
//! [`ProtectionKey`], [`KeyPool`] and [`PkeyGuard`] are uninhabited: no key
//! can be made, so no code path can believe it is protected. [`status`]
//! reports [`UnavailableReason::UnsupportedPlatform`].

use crate::{MpkError, MpkStatus, PageProt, UnavailableReason};

/// A protection key; none can exist on this target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProtectionKey {}

impl ProtectionKey {
    /// The kernel's key number (unreachable: no key exists).
    pub const fn as_raw(self) -> u32 {
        match self {}
    }
}

/// The key pool; [`KeyPool::allocate`] always fails on this target.
#[derive(Debug)]
pub enum KeyPool {}

impl KeyPool {
    /// Always [`MpkError::Unavailable`].
    pub fn allocate(_max_keys: usize) -> Result<KeyPool, MpkError> {
        Err(MpkError::Unavailable(
            UnavailableReason::UnsupportedPlatform,
        ))
    }

    /// The keys of the pool.
    pub fn keys(&self) -> &[ProtectionKey] {
        match *self {}
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        match *self {}
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        match *self {}
    }

    /// The key for a new isolate.
    pub fn assign(&mut self) -> ProtectionKey {
        match *self {}
    }

    /// Releases one user of `key`.
    pub fn release(&mut self, key: ProtectionKey) -> bool {
        match key {}
    }

    /// Users of `key`.
    pub fn users(&self, key: ProtectionKey) -> u32 {
        match key {}
    }

    /// Whether `key` has several users.
    pub fn is_shared(&self, key: ProtectionKey) -> bool {
        match key {}
    }

    /// Probability that two isolates share a key.
    pub fn current_sharing_probability(&self) -> f64 {
        match *self {}
    }

    /// Returns every key to the kernel.
    ///
    /// # Safety
    /// Unreachable: no pool exists on this target.
    pub unsafe fn free_to_kernel(self) -> Result<(), MpkError> {
        match self {}
    }
}

/// The PKRU guard; it cannot be entered on this target.
#[derive(Debug)]
pub enum PkeyGuard {}

impl PkeyGuard {
    /// Unreachable: no key exists.
    pub fn enter(key: ProtectionKey) -> PkeyGuard {
        match key {}
    }

    /// Always [`MpkError::Unavailable`].
    pub fn enter_unrestricted() -> Result<PkeyGuard, MpkError> {
        Err(MpkError::Unavailable(
            UnavailableReason::UnsupportedPlatform,
        ))
    }

    /// The PKRU value this guard installed.
    pub fn installed_pkru(&self) -> u32 {
        match *self {}
    }

    /// The PKRU value this guard will restore.
    pub fn previous_pkru(&self) -> u32 {
        match *self {}
    }
}

/// Always [`UnavailableReason::UnsupportedPlatform`].
pub fn cpu_support() -> Result<(), UnavailableReason> {
    Err(UnavailableReason::UnsupportedPlatform)
}

/// Always unavailable on this target.
pub fn status() -> MpkStatus {
    MpkStatus::Unavailable(UnavailableReason::UnsupportedPlatform)
}

/// Always false on this target.
pub fn is_supported() -> bool {
    false
}

/// Unreachable: no key exists.
///
/// # Safety
/// Same contract as the x86_64 Linux version.
pub unsafe fn protect(
    _addr: *mut u8,
    _len: usize,
    _prot: PageProt,
    key: ProtectionKey,
) -> Result<(), MpkError> {
    match key {}
}
