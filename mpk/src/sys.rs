//! Raw `pkey_alloc(2)`, `pkey_free(2)` and `pkey_mprotect(2)` through
//! `libc::syscall`, so they work whatever the libc version. Errors are the
//! kernel's `errno` as `io::Error`. Nothing here checks CPU support: the
//! kernel does, and fails with `EINVAL`/`ENOSPC` when PKU is off.

use std::io;

/// `SEGV_PKUERR`, the `si_code` of a protection-key fault.
pub const SEGV_PKUERR: i32 = 4;

/// Allocates a protection key. `access_rights` are the PKRU bits
/// (`ACCESS_DISABLE`/`WRITE_DISABLE`) the kernel sets for the new key in the
/// *calling thread*; other threads are not changed. The kernel never returns
/// a key that another part of the process holds.
pub fn pkey_alloc(flags: u32, access_rights: u32) -> io::Result<u32> {
    // SAFETY: pkey_alloc takes two integers and touches no user memory.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pkey_alloc,
            libc::c_ulong::from(flags),
            libc::c_ulong::from(access_rights),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))
}

/// Frees a protection key.
///
/// # Safety
/// No mapping may still be tagged with `key`: the kernel does not check, and
/// a later `pkey_alloc` (by V8, say) may hand the same key to code that will
/// open it, exposing those pages.
pub unsafe fn pkey_free(key: u32) -> io::Result<()> {
    // SAFETY: pkey_free takes an integer and touches no user memory; the
    // caller upholds the no-remaining-mapping contract.
    let ret = unsafe { libc::syscall(libc::SYS_pkey_free, libc::c_ulong::from(key)) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the protection of `[addr, addr + len)` to `prot` and tags it with
/// `key` (`-1` keeps the current key, like `mprotect`).
///
/// # Safety
/// The range must belong to the caller (no Rust reference into it may be
/// used in a way the new protection or key forbids), `addr` page-aligned.
pub unsafe fn pkey_mprotect(
    addr: *mut libc::c_void,
    len: usize,
    prot: libc::c_int,
    key: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the caller owns the range; the kernel validates the arguments
    // and changes only page-table state.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pkey_mprotect,
            addr,
            len,
            libc::c_long::from(prot),
            libc::c_long::from(key),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
