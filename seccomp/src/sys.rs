//! Thin, checked wrappers around the raw `libc` calls the jail makes.
//!
//! Guarantees: every wrapper turns the C "-1 and errno" convention into an
//! `io::Result`, so callers can attach the step-specific `JailError` variant.
//! Trusts: the kernel and libc; nothing here touches tenant data.

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

/// Maps a C return value (`-1` + errno on failure) to `io::Result`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Same as [`cvt`] for `syscall(2)`, which returns a `c_long`.
pub(crate) fn cvt_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `mount(2)` with optional source/fstype/data.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is either null or a NUL-terminated string that
    // outlives the call; mount(2) only reads them.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    cvt(ret).map(drop)
}

/// `close_range(first, last, 0)`; an empty range is a no-op.
pub(crate) fn close_range(first: libc::c_uint, last: libc::c_uint) -> io::Result<()> {
    if first > last {
        return Ok(());
    }
    // SAFETY: close_range only closes descriptors of this process; the caller
    // owns the decision that no live Rust object still uses them.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0 as libc::c_uint) };
    cvt_long(ret).map(drop)
}

/// Closes every descriptor except `keep`.
pub(crate) fn close_all_except(keep: RawFd) -> io::Result<()> {
    let keep =
        libc::c_uint::try_from(keep).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    if keep > 0 {
        close_range(0, keep - 1)?;
    }
    match keep.checked_add(1) {
        Some(next) => close_range(next, libc::c_uint::MAX),
        None => Ok(()),
    }
}

/// `prctl(option, arg2, 0, 0, 0)`.
pub(crate) fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: the prctl options used by this crate take integer arguments
    // only; no pointer is passed.
    cvt(unsafe {
        libc::prctl(
            option,
            arg2,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
}

/// Sets soft and hard limit of `resource` to `value`.
pub(crate) fn set_rlimit(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `limit` is a valid, initialised rlimit that outlives the call.
    cvt(unsafe { libc::setrlimit(resource, &limit) }).map(drop)
}

/// Number of threads in the calling process, from `/proc/self/task`.
pub(crate) fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Is `fd` an open descriptor of this process?
pub(crate) fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor table.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}
