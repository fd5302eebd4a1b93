//! Step 2b: replace the filesystem with an empty, read-only tmpfs.
//!
//! Guarantees, after [`pivot_to_empty_root`]: `/` is a tmpfs holding nothing
//! but `.` and `..`, mounted read-only, nosuid, nodev, noexec; the old root
//! and every mount under it (including `/proc`, `/sys`, `/dev`) are detached
//! from this mount namespace, so no path leads back to the host; the cwd is
//! `/`. Propagation was made private first, so none of this reaches the
//! host's mount table.
//!
//! Trusts: that it runs in a private mount namespace owned by a user
//! namespace where it still holds `CAP_SYS_ADMIN` (checked by the caller via
//! `enter_namespaces()`), and that `/tmp` exists as a mountpoint (bubblewrap
//! relies on the same).

use crate::error::JailError;
use crate::sys::{cvt, mount};

const NEW_ROOT: &std::ffi::CStr = c"/tmp";

/// Pivots into an empty read-only tmpfs; see the module docs.
pub(crate) fn pivot_to_empty_root() -> Result<(), JailError> {
    // i. Private propagation, recursively: later mount events stay here.
    mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(JailError::MountPropagation)?;

    // ii. The new root: a tiny tmpfs, root dir mode 0555.
    mount(
        Some(c"tmpfs"),
        NEW_ROOT,
        Some(c"tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some(c"size=4k,nr_inodes=8,mode=0555"),
    )
    .map_err(JailError::MountTmpfs)?;

    // iii. pivot_root(".", ".") (pivot_root(2), NOTES): the old root ends up
    //      stacked on top of the new one at "/", with no temp dir needed.
    // SAFETY: chdir takes a NUL-terminated path.
    cvt(unsafe { libc::chdir(NEW_ROOT.as_ptr()) }).map_err(JailError::PivotRoot)?;
    // SAFETY: pivot_root reads two NUL-terminated paths.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) };
    crate::sys::cvt_long(ret).map_err(JailError::PivotRoot)?;

    // iv. Detach the old root (and everything below it) lazily.
    // SAFETY: umount2 reads one NUL-terminated path.
    cvt(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) })
        .map_err(JailError::UnmountOldRoot)?;
    // SAFETY: as above.
    cvt(unsafe { libc::chdir(c"/".as_ptr()) }).map_err(JailError::UnmountOldRoot)?;

    // v. Read-only from now on (flags we set at mount time must be repeated).
    mount(
        None,
        c"/",
        None,
        libc::MS_REMOUNT
            | libc::MS_BIND
            | libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC,
        None,
    )
    .map_err(JailError::RemountReadOnly)
}
