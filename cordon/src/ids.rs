//! Identifiers and the caller-supplied clock value.
//!
//! Guarantees: all three types are plain, totally ordered values; ordering is
//! what makes placement tie-breaks deterministic. Trusts: nothing. The crate
//! never reads a clock; [`Millis`] values are whatever the caller passes in.

use serde::Serialize;
use std::fmt;

/// A tenant (an account whose code the daemon runs). Opaque to this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantId(pub u64);

/// A supervisor worker slot: one jailed worker process as the supervisor
/// numbers it. Not an OS pid. Allocated by [`crate::Cordon`] in increasing
/// order and never reused, so a lower id is always an older process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ProcessId(pub u64);

/// A point in time, in milliseconds since an arbitrary epoch chosen by the
/// caller (the daemon's monotonic clock). Only differences matter. A time
/// earlier than one already seen is treated as "no time has passed".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Millis(pub u64);

impl Millis {
    /// One second.
    pub const SECOND: u64 = 1_000;
    /// One hour.
    pub const HOUR: u64 = 3_600 * Self::SECOND;
    /// One day.
    pub const DAY: u64 = 24 * Self::HOUR;

    /// Milliseconds elapsed from `earlier` to `self`, zero if `earlier` is later.
    #[must_use]
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + ms`, saturating at the end of time.
    #[must_use]
    pub fn plus(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant#{}", self.0)
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "process#{}", self.0)
    }
}
