//! The PKRU register: its bit layout, pure functions computing values, and
//! the `RDPKRU`/`WRPKRU` instructions.
//!
//! PKRU is a 32-bit per-thread register holding two bits for each of the 16
//! protection keys:
//!
//! ```text
//!  bit: 31 30 29 28  ...   7  6  5  4  3  2  1  0
//!      ┌──┬──┬──┬──┬─────┬──┬──┬──┬──┬──┬──┬──┬──┐
//!      │WD│AD│WD│AD│ ... │WD│AD│WD│AD│WD│AD│WD│AD│
//!      └──┴──┴──┴──┴─────┴──┴──┴──┴──┴──┴──┴──┴──┘
//!       key 15 key 14       key 3 key 2 key 1 key 0
//!
//!  AD (bit 2k)   = access-disable for key k: every data read/write faults
//!  WD (bit 2k+1) = write-disable for key k: writes fault, reads allowed
//! ```
//!
//! A set bit *denies*; PKRU = 0 allows everything. Checks apply to user-mode
//! data accesses only, not to instruction fetch. A denied access raises a
//! page fault with the PK bit set, which Linux delivers as `SIGSEGV` with
//! `si_code == SEGV_PKUERR` and the page's key in `si_pkey`.
//!
//! The pure functions here are safe and platform-independent. Reading and
//! writing the register needs CR4.PKE (OSPKE); without it both instructions
//! raise `#UD`. [`write`] is `pub(crate)` and called only by
//! [`crate::PkeyGuard`], the one place PKRU changes.

/// Number of protection keys (and 2-bit fields in PKRU).
pub const KEY_COUNT: u32 = 16;
/// The access-disable bit of a key's 2-bit field.
pub const ACCESS_DISABLE: u32 = 0b01;
/// The write-disable bit of a key's 2-bit field.
pub const WRITE_DISABLE: u32 = 0b10;
/// PKRU value allowing every access to every key.
pub const ALLOW_ALL: u32 = 0;
/// PKRU value denying every access to every key, key 0 included.
pub const DENY_ALL: u32 = u32::MAX;

/// Both bits (AD and WD) of `key`'s field, in place.
///
/// # Panics
/// If `key >= 16`; kernel keys are always below 16 on x86.
pub const fn key_mask(key: u32) -> u32 {
    assert!(key < KEY_COUNT, "x86 protection keys are 0..16");
    0b11 << (2 * key)
}

/// PKRU value that allows full access to every key in `keys` and denies
/// (AD and WD) all access to every other key, key 0 included unless listed.
///
/// # Panics
/// If a key is `>= 16`.
pub const fn deny_all_but(keys: &[u32]) -> u32 {
    let mut value = DENY_ALL;
    let mut i = 0;
    while i < keys.len() {
        value &= !key_mask(keys[i]);
        i += 1;
    }
    value
}

/// The value a [`crate::PkeyGuard`] for `key` installs: key 0 and `key` open,
/// the 14 (or 15) others access- and write-disabled.
pub const fn only_default_and(key: u32) -> u32 {
    deny_all_but(&[0, key])
}

/// Whether `pkru` allows reading memory tagged with `key`.
pub const fn allows_read(pkru: u32, key: u32) -> bool {
    key < KEY_COUNT && pkru & (ACCESS_DISABLE << (2 * key)) == 0
}

/// Whether `pkru` allows writing memory tagged with `key` (needs both AD and
/// WD clear).
pub const fn allows_write(pkru: u32, key: u32) -> bool {
    key < KEY_COUNT && pkru & key_mask(key) == 0
}

/// Reads this thread's PKRU (`RDPKRU`).
///
/// # Safety
/// The CPU must have PKU enabled by the OS (CPUID.7.0:ECX bit 4, OSPKE);
/// otherwise the instruction raises `#UD` (`SIGILL`). Any
/// [`crate::ProtectionKey`] existing, or [`crate::status`] being available,
/// establishes this.
#[cfg(target_arch = "x86_64")]
#[inline]
pub unsafe fn read() -> u32 {
    let pkru: u32;
    // SAFETY: the caller guarantees OSPKE, so RDPKRU is a defined instruction.
    // It requires ECX = 0, writes EAX (PKRU) and EDX (zeroed), touches no
    // memory and no flags. Not `pure`: it must not be merged across a WRPKRU.
    unsafe {
        core::arch::asm!(
            "rdpkru",
            in("ecx") 0u32,
            lateout("eax") pkru,
            lateout("edx") _,
            options(nomem, nostack, preserves_flags),
        );
    }
    pkru
}

/// Writes this thread's PKRU (`WRPKRU`). Only [`crate::PkeyGuard`] calls it.
///
/// # Safety
/// OSPKE must be enabled (see [`read`]). The caller must keep open every key
/// whose memory the code that runs before the next write touches (key 0 at
/// least, for the stack), or the thread dies on the next such access.
#[cfg(stockade_mpk_enabled)]
#[inline]
pub(crate) unsafe fn write(pkru: u32) {
    // WRPKRU requires ECX = EDX = 0 and reads EAX. No `nomem`: the asm is a
    // compiler memory barrier, so no load or store is moved across the
    // permission change. The CPU does not run WRPKRU speculatively, and
    // accesses checked against PKRU do not execute, even speculatively, before
    // a preceding WRPKRU completes (Intel SDM).
    // SAFETY: the caller guarantees OSPKE and keeps its stack's key open.
    unsafe {
        core::arch::asm!(
            "wrpkru",
            in("eax") pkru,
            in("ecx") 0u32,
            in("edx") 0u32,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_single_keys() {
        assert_eq!(key_mask(0), 0b11);
        assert_eq!(key_mask(1), 0b1100);
        assert_eq!(key_mask(15), 0b11 << 30);
        let all: u32 = (0..16).map(key_mask).fold(0, |a, m| a | m);
        assert_eq!(all, u32::MAX);
    }

    #[test]
    fn guard_values() {
        assert_eq!(only_default_and(1), 0xFFFF_FFF0);
        assert_eq!(only_default_and(2), 0xFFFF_FFCC);
        assert_eq!(only_default_and(15), 0x3FFF_FFFC);
        // Key 0 only, as the kernel's default init_pkru (AD-only) would allow.
        assert_eq!(only_default_and(0), 0xFFFF_FFFC);
    }

    #[test]
    fn guard_value_opens_exactly_two_keys() {
        for key in 0..16 {
            let v = only_default_and(key);
            for other in 0..16 {
                let open = other == 0 || other == key;
                assert_eq!(allows_read(v, other), open, "key {key} other {other}");
                assert_eq!(allows_write(v, other), open, "key {key} other {other}");
            }
        }
    }

    #[test]
    fn ad_and_wd_are_distinct() {
        let wd_only = WRITE_DISABLE << (2 * 3);
        assert!(allows_read(wd_only, 3));
        assert!(!allows_write(wd_only, 3));
        let ad_only = ACCESS_DISABLE << (2 * 3);
        assert!(!allows_read(ad_only, 3));
        assert!(!allows_write(ad_only, 3));
        // The kernel's default: AD for keys 1..15.
        let init_pkru = 0x5555_5554;
        assert!(allows_write(init_pkru, 0));
        assert!((1..16).all(|k| !allows_read(init_pkru, k)));
    }

    #[test]
    fn deny_all_but_is_union() {
        assert_eq!(deny_all_but(&[]), DENY_ALL);
        assert_eq!(deny_all_but(&[0, 3, 3]), !(key_mask(0) | key_mask(3)));
        assert_eq!(deny_all_but(&(0..16).collect::<Vec<_>>()), ALLOW_ALL);
        assert!(!allows_read(ALLOW_ALL, 16));
    }

    #[test]
    #[should_panic(expected = "0..16")]
    fn key_out_of_range_panics() {
        let _ = key_mask(16);
    }
}
