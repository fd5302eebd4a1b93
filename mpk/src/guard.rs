//! [`PkeyGuard`]: the single place where this crate changes PKRU.
//!
//! Guarantees: while a guard for key `k` is the innermost live guard on a
//! thread, that thread's PKRU opens key 0 and `k` only; every other key is
//! access-disabled and write-disabled. Dropping the guard (normal exit, early
//! return, `?`, or panic unwinding) writes back the exact PKRU value that was
//! there when it was entered, so nested guards restore their outer guard's
//! value.
//!
//! Trusts: guards on one thread are dropped in reverse order of entry (the
//! normal scoping rule; moving guards around to break it, or leaking one
//! with `mem::forget`, leaves the thread with the wrong keys open), and no
//! other code leaves PKRU changed across a guard's exit. Debug builds check
//! both on drop.
//!
//! PKRU is per thread: the guard is `!Send`, it cannot be dropped on another
//! thread.

use crate::ProtectionKey;
use crate::{pkru, MpkError, MpkStatus};
use std::marker::PhantomData;

/// Restricts the current thread to key 0 plus one isolate key until dropped.
#[derive(Debug)]
#[must_use = "PKRU is restored as soon as the guard is dropped"]
pub struct PkeyGuard {
    previous: u32,
    installed: u32,
    /// `*const ()` makes the guard `!Send` and `!Sync`.
    _this_thread_only: PhantomData<*const ()>,
}

impl PkeyGuard {
    /// Opens key 0 and `key` and closes (AD+WD) every other key on this
    /// thread until the guard is dropped.
    #[inline]
    pub fn enter(key: ProtectionKey) -> PkeyGuard {
        // SAFETY: a ProtectionKey exists only if pkey_alloc succeeded, which
        // implies OSPKE; the new value keeps key 0 (stack, heap) open.
        unsafe { Self::install(pkru::only_default_and(key.as_raw())) }
    }

    /// Opens every key on this thread until dropped: for host code that must
    /// touch several isolates' heaps (V8 platform/GC threads created before
    /// the pool, or a signal handler that runs with key 0 only).
    ///
    /// # Errors
    /// [`MpkError::Unavailable`] when MPK is not available (then PKRU does not
    /// exist and nothing needs opening).
    #[inline]
    pub fn enter_unrestricted() -> Result<PkeyGuard, MpkError> {
        match crate::status() {
            MpkStatus::Unavailable(reason) => Err(MpkError::Unavailable(reason)),
            // SAFETY: status() is available only with OSPKE set; opening all
            // keys cannot remove access the thread needs.
            MpkStatus::Available => Ok(unsafe { Self::install(pkru::ALLOW_ALL) }),
        }
    }

    /// The PKRU value this guard installed.
    pub fn installed_pkru(&self) -> u32 {
        self.installed
    }

    /// The PKRU value this guard will restore.
    pub fn previous_pkru(&self) -> u32 {
        self.previous
    }

    /// # Safety
    /// OSPKE is enabled and `value` opens key 0.
    #[inline]
    unsafe fn install(value: u32) -> PkeyGuard {
        // SAFETY: OSPKE per the caller.
        let previous = unsafe { pkru::read() };
        // SAFETY: OSPKE per the caller; key 0 stays open.
        unsafe { pkru::write(value) };
        PkeyGuard {
            previous,
            installed: value,
            _this_thread_only: PhantomData,
        }
    }
}

impl Drop for PkeyGuard {
    #[inline]
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        if !std::thread::panicking() {
            // SAFETY: a guard exists only if OSPKE is enabled.
            let current = unsafe { pkru::read() };
            debug_assert_eq!(
                current, self.installed,
                "PKRU changed under a live PkeyGuard: guards dropped out of order or leaked"
            );
        }
        // SAFETY: a guard exists only if OSPKE is enabled; `previous` is the
        // value this thread ran with before, so it opens what it needs.
        unsafe { pkru::write(self.previous) };
    }
}
