//! The cap on a tenant's SQLite temporary files: a VFS, [`VFS_NAME`], that D1 connections (and
//! only they) open with, which is the host's default VFS except that each temporary file
//! (a sort's spill, a `GROUP BY`/`DISTINCT`/CTE's ephemeral table, a statement journal, the
//! `TEMP` database) is charged, by the bytes it extends to, to the [`TempQuota`] of the call
//! that opened it, until it is closed.
//!
//! Guarantees: a temporary file's write or truncation past what its quota has left fails with
//! `SQLITE_FULL` (and [`refused`] says so to the call that hit it), so a tenant's temporary
//! files together take at most its cap on the host's disk; the size hints with which SQLite
//! would extend a file without writing it are dropped; a temporary file opened on a thread
//! outside a [`Scope`] is refused (fail closed). Other files (the database, its WAL) pass
//! through untouched. Memory stays bounded as it is with files (the sorter's in-memory part
//! is the page cache's size, `PRAGMA temp_store` stays `FILE`, which tenants cannot change):
//! `temp_store = MEMORY` would move the same bytes into the supervisor's heap, uncapped.
//!
//! Trusts: SQLite's VFS contract (`sqlite3_vfs`, `sqlite3_io_methods`), and that a D1 call's
//! SQLite work runs on the thread that entered its [`Scope`] (`SQLITE_LIMIT_WORKER_THREADS` 0).

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use rusqlite::ffi;

/// The name D1 connections open their files with.
pub const VFS_NAME: &CStr = c"stockade-d1";

/// The temporary-file bytes one tenant may have on disk at once.
#[derive(Debug)]
pub struct TempQuota {
    used: AtomicU64,
    cap: u64,
}

impl TempQuota {
    pub fn new(cap: u64) -> Arc<TempQuota> {
        Arc::new(TempQuota {
            used: AtomicU64::new(0),
            cap,
        })
    }

    /// The cap, bytes.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Bytes charged now.
    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    fn charge(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.cap)
            })
            .is_ok()
    }

    fn refund(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<TempQuota>>> = const { RefCell::new(None) };
    static REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// While alive, temporary files opened on this thread are charged to its quota.
pub struct Scope(());

/// Charges this thread's temporary files to `quota` until the [`Scope`] is dropped.
pub fn enter(quota: Arc<TempQuota>) -> Scope {
    CURRENT.with(|c| *c.borrow_mut() = Some(quota));
    REFUSED.with(|r| r.set(false));
    Scope(())
}

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}

/// The cap of this thread's scope, bytes.
pub fn cap() -> Option<u64> {
    CURRENT.with(|c| c.borrow().as_ref().map(|q| q.cap()))
}

/// Whether a temporary file of this thread's scope was refused bytes for its quota.
pub fn refused() -> bool {
    REFUSED.with(Cell::get)
}

/// A temporary file: ours in front, the default VFS's file right after it (same allocation).
#[repr(C)]
struct TempFile {
    base: ffi::sqlite3_file,
    /// From `Arc::into_raw`; released in `close`.
    quota: *const TempQuota,
    /// The bytes charged: how far the file extends.
    charged: u64,
}

const HEAD: usize = std::mem::size_of::<TempFile>().next_multiple_of(8);

fn inner_vfs() -> *mut ffi::sqlite3_vfs {
    INNER.get().map_or(std::ptr::null_mut(), |p| p.0)
}

struct VfsPtr(*mut ffi::sqlite3_vfs);
// SAFETY: a registered VFS is immutable and lives as long as the process; SQLite's own
// functions are the only ones that use it, from any thread (it is built thread-safe).
unsafe impl Send for VfsPtr {}
// SAFETY: as above.
unsafe impl Sync for VfsPtr {}

static INNER: OnceLock<VfsPtr> = OnceLock::new();
static REGISTERED: OnceLock<Result<(), c_int>> = OnceLock::new();

/// Registers [`VFS_NAME`] (once; later calls answer the first's outcome).
pub fn register() -> Result<(), c_int> {
    *REGISTERED.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find(NULL) initialises SQLite and returns the default VFS, which
        // lives as long as the process.
        let inner = unsafe { ffi::sqlite3_vfs_find(std::ptr::null()) };
        if inner.is_null() {
            return Err(ffi::SQLITE_ERROR);
        }
        let _ = INNER.set(VfsPtr(inner));
        // SAFETY: `inner` is a valid VFS (above); copying it keeps every method and field
        // (methods given our pointer see the same fields: `pAppData`, `mxPathname`), then the
        // name, size and `xOpen` are ours. Leaked: a registered VFS is never unregistered.
        let ours = unsafe {
            let mut vfs = std::ptr::read(inner);
            vfs.pNext = std::ptr::null_mut();
            vfs.zName = VFS_NAME.as_ptr();
            vfs.szOsFile = vfs.szOsFile.saturating_add(HEAD as c_int);
            vfs.xOpen = Some(open);
            Box::into_raw(Box::new(vfs))
        };
        // SAFETY: `ours` is a complete, valid VFS that lives as long as the process.
        match unsafe { ffi::sqlite3_vfs_register(ours, 0) } {
            ffi::SQLITE_OK => Ok(()),
            code => Err(code),
        }
    })
}

const TEMPORARY: c_int = ffi::SQLITE_OPEN_TEMP_DB
    | ffi::SQLITE_OPEN_TEMP_JOURNAL
    | ffi::SQLITE_OPEN_SUBJOURNAL
    | ffi::SQLITE_OPEN_TRANSIENT_DB;

/// The default VFS's file behind `file`, one of ours.
///
/// # Safety
/// `file` is a `TempFile` opened by [`open`] (its allocation `szOsFile` bytes).
unsafe fn inner(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: the caller's contract: the inner file starts `HEAD` bytes into the allocation.
    unsafe { file.cast::<u8>().add(HEAD).cast() }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let inner_vfs = inner_vfs();
    // SAFETY: `inner_vfs` is the default VFS, set before this VFS was registered.
    let Some(inner_open) = (unsafe { inner_vfs.as_ref() }).and_then(|v| v.xOpen) else {
        return ffi::SQLITE_CANTOPEN;
    };
    if !name.is_null() && flags & TEMPORARY == 0 {
        // A named, persistent file: the default VFS's, in the allocation SQLite gave (which is
        // larger than it needs).
        // SAFETY: SQLite's own arguments, passed on to the VFS whose file this becomes.
        return unsafe { inner_open(inner_vfs, name, file, flags, out_flags) };
    }
    let Some(quota) = CURRENT.with(|c| c.borrow().clone()) else {
        return ffi::SQLITE_CANTOPEN;
    };
    // SAFETY: `file` is `szOsFile` bytes (ours: `HEAD` plus the default VFS's), 8-aligned;
    // the default VFS fills in its part.
    let rc = unsafe { inner_open(inner_vfs, name, inner(file), flags, out_flags) };
    // SAFETY: `file` points to at least a `TempFile`'s bytes (above); a failed inner open that
    // set its methods is closed with them, once, as SQLite would.
    unsafe {
        if rc != ffi::SQLITE_OK {
            let half_open = inner(file);
            if let Some(shut) = (*half_open).pMethods.as_ref().and_then(|m| m.xClose) {
                shut(half_open);
            }
            (*file).pMethods = std::ptr::null();
            return rc;
        }
        file.cast::<TempFile>().write(TempFile {
            base: ffi::sqlite3_file { pMethods: &METHODS },
            quota: Arc::into_raw(quota),
            charged: 0,
        });
    }
    ffi::SQLITE_OK
}

/// Our file and the default VFS's methods for its inner file.
///
/// # Safety
/// `file` is a `TempFile` [`open`] set up and not yet closed.
unsafe fn parts<'a>(
    file: *mut ffi::sqlite3_file,
) -> (
    &'a mut TempFile,
    *mut ffi::sqlite3_file,
    &'a ffi::sqlite3_io_methods,
) {
    // SAFETY: the caller's contract; the inner file was opened successfully, so its methods
    // are set and live as long as the process.
    unsafe {
        let inner = inner(file);
        (&mut *file.cast::<TempFile>(), inner, &*(*inner).pMethods)
    }
}

/// Grows or shrinks what `file` has charged to `extent` bytes; `false` if its quota is out.
fn recharge(file: &mut TempFile, extent: u64) -> bool {
    // SAFETY: `quota` came from `Arc::into_raw` in `open` and is released only in `close`.
    let quota = unsafe { &*file.quota };
    if extent > file.charged {
        if !quota.charge(extent - file.charged) {
            REFUSED.with(|r| r.set(true));
            return false;
        }
    } else {
        quota.refund(file.charged - extent);
    }
    file.charged = extent;
    true
}

/// A method of ours that is the default VFS's on the inner file.
macro_rules! pass {
    ($name:ident, $method:ident, $otherwise:expr, ($($arg:ident: $ty:ty),*)) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: SQLite's arguments for a file open through `open`.
            let (_, inner, methods) = unsafe { parts(file) };
            // SAFETY: as above: the default VFS's method on its own, open file.
            methods.$method.map_or($otherwise, |f| unsafe { f(inner $(, $arg)*) })
        }
    };
}

pass!(read, xRead, ffi::SQLITE_IOERR, (buf: *mut c_void, n: c_int, at: i64));
pass!(sync, xSync, ffi::SQLITE_OK, (flags: c_int));
pass!(file_size, xFileSize, ffi::SQLITE_IOERR, (size: *mut i64));
pass!(lock, xLock, ffi::SQLITE_OK, (level: c_int));
pass!(unlock, xUnlock, ffi::SQLITE_OK, (level: c_int));
pass!(check_reserved_lock, xCheckReservedLock, ffi::SQLITE_OK, (out: *mut c_int));
pass!(sector_size, xSectorSize, 4096, ());
pass!(device_characteristics, xDeviceCharacteristics, 0, ());

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file it opened through `open` once.
    let (ours, inner, methods) = unsafe { parts(file) };
    // SAFETY: the inner file is open (as above).
    let rc = methods
        .xClose
        .map_or(ffi::SQLITE_OK, |f| unsafe { f(inner) });
    recharge(ours, 0);
    // SAFETY: from `Arc::into_raw` in `open`, released here once.
    drop(unsafe { Arc::from_raw(ours.quota) });
    ours.quota = std::ptr::null();
    rc
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    n: c_int,
    at: i64,
) -> c_int {
    // SAFETY: SQLite's arguments for a file open through `open`.
    let (ours, inner, methods) = unsafe { parts(file) };
    let end = u64::try_from(at)
        .unwrap_or(u64::MAX)
        .saturating_add(u64::try_from(n).unwrap_or(0));
    if end > ours.charged && !recharge(ours, end) {
        return ffi::SQLITE_FULL;
    }
    // SAFETY: as above.
    methods
        .xWrite
        .map_or(ffi::SQLITE_IOERR, |f| unsafe { f(inner, buf, n, at) })
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    // SAFETY: SQLite's arguments for a file open through `open`.
    let (ours, inner, methods) = unsafe { parts(file) };
    let size_u = u64::try_from(size).unwrap_or(0);
    if size_u > ours.charged && !recharge(ours, size_u) {
        return ffi::SQLITE_FULL;
    }
    // SAFETY: as above.
    let rc = methods
        .xTruncate
        .map_or(ffi::SQLITE_IOERR, |f| unsafe { f(inner, size) });
    if rc == ffi::SQLITE_OK && size_u < ours.charged {
        recharge(ours, size_u);
    }
    rc
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    if op == ffi::SQLITE_FCNTL_SIZE_HINT || op == ffi::SQLITE_FCNTL_CHUNK_SIZE {
        // They would extend the file without a write: a hint may be ignored.
        return ffi::SQLITE_OK;
    }
    // SAFETY: SQLite's arguments for a file open through `open`.
    let (_, inner, methods) = unsafe { parts(file) };
    // SAFETY: as above.
    methods
        .xFileControl
        .map_or(ffi::SQLITE_NOTFOUND, |f| unsafe { f(inner, op, arg) })
}

/// Version 1: no shared memory, no memory mapping (a mapped file's pages would be written
/// without `xWrite`).
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};
