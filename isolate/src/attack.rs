//! TEST ONLY (feature `mpk-attack`, refused without debug assertions): the attacker's tools for
//! the MPK tests and the fuzz target.
//!
//! [`Worker::attack_install`] gives the worker's JavaScript `__attack.read64(addr)` /
//! `write64(addr, value)` (hex strings), an arbitrary read/write primitive such as a V8
//! memory-corruption bug would give, and `__attack.pkru()` (the thread's PKRU as seen from inside
//! a call, -1 without OSPKE). The other hooks let a test find a canary in an isolate's memory and
//! check which key the bridge gave each range. Nothing here weakens a build without the feature.

use crate::ffi;
use crate::worker::Worker;

/// A range of memory the bridge handed out, as its registry records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnedRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The protection key it is tagged with; `None`: untagged (key 0).
    pub key: Option<u32>,
    /// Owner id: [`Worker::attack_owner`] of its isolate, 0 for the engine's own memory.
    pub owner: u64,
}

impl From<ffi::StkRange> for OwnedRange {
    fn from(r: ffi::StkRange) -> Self {
        OwnedRange {
            start: r.start,
            end: r.end,
            key: u32::try_from(r.key).ok(),
            owner: r.owner,
        }
    }
}

impl Worker {
    /// Installs `globalThis.__attack` in this worker's context (see the module doc).
    pub fn attack_install(&self) {
        // SAFETY: the isolate is live; the call runs under its key.
        self.iso.call(|raw| unsafe { ffi::stk_attack_install(raw) });
    }

    /// The addresses of every copy of `needle` in this isolate's readable memory (V8 heap and
    /// ArrayBuffer arena, in address order), searched with this isolate's key open. Garbage
    /// copies (a string a GC moved away from) count: they are this isolate's memory too.
    pub fn attack_find(&self, needle: &[u8]) -> Vec<u64> {
        let mut found = Vec::new();
        let mut from = 0u64;
        loop {
            let mut addr = 0u64;
            // SAFETY: needle and addr are valid for the call; the search runs under the key.
            let rc = self.iso.call(|raw| unsafe {
                ffi::stk_attack_find(raw, needle.as_ptr(), needle.len(), from, &mut addr)
            });
            if rc != 0 {
                return found;
            }
            found.push(addr);
            from = addr + 1;
        }
    }

    /// Every range the bridge currently holds for this isolate.
    pub fn attack_ranges(&self) -> Vec<OwnedRange> {
        let mut buf = vec![ffi::StkRange::default(); 256];
        loop {
            // SAFETY: buf has buf.len() writable entries; the registry read touches host memory.
            let n = self
                .iso
                .call(|raw| unsafe { ffi::stk_attack_ranges(raw, buf.as_mut_ptr(), buf.len()) });
            if n <= buf.len() {
                buf.truncate(n);
                return buf.into_iter().map(OwnedRange::from).collect();
            }
            buf.resize(n + 64, ffi::StkRange::default());
        }
    }

    /// Reads 8 bytes at `addr` with exactly the PKRU this worker's bridge calls run under (its
    /// key's guard, or the thread's own PKRU when it has no key), as code inside the isolate
    /// would. Faults like such code would: run it in a child process when it may.
    ///
    /// # Safety
    /// `addr` must be mapped, readable and 8-byte aligned; whether PKRU lets the read through is
    /// the question being asked.
    pub unsafe fn attack_read_under_key(&self, addr: u64) -> u64 {
        // SAFETY: the caller guarantees the address is mapped and readable.
        self.iso
            .call(|_| unsafe { std::ptr::read_volatile(addr as *const u64) })
    }

    /// The PKRU value inside this worker's bridge calls; `None` without OSPKE.
    pub fn attack_pkru_in_call(&self) -> Option<u32> {
        stockade_mpk::status().is_available().then(|| {
            // SAFETY: MPK available implies OSPKE, so RDPKRU is defined.
            self.iso.call(|_| unsafe { stockade_mpk::pkru::read() })
        })
    }

    /// This isolate's owner id in the range registry.
    pub fn attack_owner(&self) -> u64 {
        // SAFETY: reads a field of the live isolate's bridge state.
        self.iso.call(|raw| unsafe { ffi::stk_attack_owner(raw) })
    }
}

/// The registry's range holding `addr`, if the bridge handed it out.
pub fn attack_range_of(addr: u64) -> Option<OwnedRange> {
    let mut out = ffi::StkRange::default();
    // SAFETY: out is a valid out-pointer; the lookup reads host memory only.
    let rc = unsafe { ffi::stk_attack_range_of(addr, &mut out) };
    (rc == 0).then(|| out.into())
}
