//! The key pool: the process's protection keys, taken from the kernel once,
//! and their assignment to isolates.
//!
//! Guarantees: every key comes from `pkey_alloc`, so it is never key 0 and
//! never a key that V8 or a library holds; a key is handed to a second
//! isolate only when every key already has at least one (least-used,
//! round-robin, see [`crate::KeyAssigner`]). Keys are held until the process
//! exits: freeing a key whose pages are still tagged would let a later
//! `pkey_alloc` elsewhere in the process open them, so it is `unsafe`
//! ([`KeyPool::free_to_kernel`]).
//!
//! Not synchronised: the worker that creates isolates owns the pool (wrap it
//! in a `Mutex` to share it).

use crate::sys;
use crate::ProtectionKey;
use crate::{KeyAssigner, MpkError, MpkStatus};

/// The protection keys of this process and who uses them.
#[derive(Debug)]
pub struct KeyPool {
    keys: Vec<ProtectionKey>,
    assigner: KeyAssigner,
}

impl KeyPool {
    /// Takes up to `max_keys` keys from the kernel (all free ones for
    /// `usize::MAX`; at most 15 exist on x86).
    ///
    /// Call it on the thread that will later spawn the V8 platform threads:
    /// `pkey_alloc` opens the new keys in the calling thread's PKRU only, and
    /// threads inherit PKRU at creation. Leave a key free (`max_keys = 14`)
    /// if V8's own `--memory-protection-keys` should get one.
    ///
    /// # Errors
    /// * [`MpkError::Unavailable`] when [`crate::status`] is unavailable;
    /// * [`MpkError::NoKeysFree`] when `pkey_alloc` fails with `ENOSPC` before
    ///   the first key (`max_keys == 0` gives the same error);
    /// * [`MpkError::Syscall`] for any other `pkey_alloc` failure (keys taken
    ///   so far are returned to the kernel first).
    ///
    /// Running out of keys after the first one is not an error: the pool is
    /// simply smaller and keys are shared sooner.
    pub fn allocate(max_keys: usize) -> Result<KeyPool, MpkError> {
        if let MpkStatus::Unavailable(reason) = crate::status() {
            return Err(MpkError::Unavailable(reason));
        }
        let mut keys = Vec::new();
        while keys.len() < max_keys {
            match sys::pkey_alloc(0, 0) {
                Ok(raw) => match ProtectionKey::from_kernel(raw) {
                    Some(key) => keys.push(key),
                    None => {
                        return Err(give_back(
                            &keys,
                            std::io::Error::from_raw_os_error(libc::ERANGE),
                        ))
                    }
                },
                Err(err) if err.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(err) => return Err(give_back(&keys, err)),
            }
        }
        if keys.is_empty() {
            return Err(MpkError::NoKeysFree);
        }
        let assigner = KeyAssigner::new(keys.len());
        Ok(KeyPool { keys, assigner })
    }

    /// The keys of the pool, in allocation order.
    pub fn keys(&self) -> &[ProtectionKey] {
        &self.keys
    }

    /// Number of keys (≥ 1).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a pool holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for a new isolate: one with no user if any, otherwise the
    /// least-used one (round-robin among equals). Never fails.
    pub fn assign(&mut self) -> ProtectionKey {
        // A pool is never empty, so there is always a slot.
        let slot = self.assigner.assign().unwrap_or(0);
        self.keys[slot]
    }

    /// The isolate that used `key` is gone. Returns false when `key` is not
    /// from this pool or has no user (double release); nothing changes then.
    pub fn release(&mut self, key: ProtectionKey) -> bool {
        self.slot_of(key)
            .is_some_and(|slot| self.assigner.release(slot))
    }

    /// Current number of isolates on `key` (0 if not in this pool).
    pub fn users(&self, key: ProtectionKey) -> u32 {
        self.slot_of(key)
            .map_or(0, |slot| self.assigner.users()[slot])
    }

    /// Whether an isolate on `key` currently has a neighbour on the same key
    /// (and is therefore not separated from it by MPK).
    pub fn is_shared(&self, key: ProtectionKey) -> bool {
        self.slot_of(key)
            .is_some_and(|slot| self.assigner.shares_with(slot))
    }

    /// Probability that two current isolates picked at random share a key,
    /// from the actual assignment; see [`crate::pair_sharing_probability`].
    pub fn current_sharing_probability(&self) -> f64 {
        self.assigner.current_sharing_probability()
    }

    /// Returns every key to the kernel.
    ///
    /// # Safety
    /// No mapping may still be tagged with any of these keys (unmap or
    /// re-tag to key 0 first), and no thread may be inside a
    /// [`crate::PkeyGuard`] for one of them.
    pub unsafe fn free_to_kernel(self) -> Result<(), MpkError> {
        let mut first_error = None;
        for key in &self.keys {
            // SAFETY: the caller guarantees no mapping is tagged with `key`.
            if let Err(source) = unsafe { sys::pkey_free(key.as_raw()) } {
                first_error.get_or_insert(MpkError::Syscall {
                    call: "pkey_free",
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn slot_of(&self, key: ProtectionKey) -> Option<usize> {
        self.keys.iter().position(|&k| k == key)
    }
}

/// Frees keys taken by a failed [`KeyPool::allocate`] and builds its error.
fn give_back(keys: &[ProtectionKey], source: std::io::Error) -> MpkError {
    for key in keys {
        // SAFETY: these keys were allocated by the failing call and never
        // handed out, so no page is tagged with them.
        let _ = unsafe { sys::pkey_free(key.as_raw()) };
    }
    MpkError::Syscall {
        call: "pkey_alloc",
        source,
    }
}
