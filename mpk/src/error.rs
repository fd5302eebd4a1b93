//! Errors of the MPK crate: every failure is typed and carries the kernel's
//! `io::Error` where there is one.

use crate::status::UnavailableReason;
use std::io;

/// Errors from key allocation and page tagging.
#[derive(Debug, thiserror::Error)]
pub enum MpkError {
    /// MPK cannot be used in this process; see [`crate::status`].
    #[error("memory protection keys unavailable: {0}")]
    Unavailable(UnavailableReason),
    /// `pkey_alloc` returned `ENOSPC` before the pool got a single key:
    /// every key of this process is already held (by another pool, V8, or a
    /// library).
    #[error("no protection key is free in this process (pkey_alloc: ENOSPC)")]
    NoKeysFree,
    /// A syscall failed.
    #[error("{call} failed: {source}")]
    Syscall {
        /// The syscall, e.g. `"pkey_mprotect"`.
        call: &'static str,
        /// The error the kernel returned.
        #[source]
        source: io::Error,
    },
}
