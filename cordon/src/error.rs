//! Typed errors. Every fallible entry point of [`crate::Cordon`] validates
//! before it mutates, so an `Err` means the state is unchanged.

use crate::ids::{ProcessId, TenantId};
use crate::tier::RiskTier;

/// Why a cordon operation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CordonError {
    /// The tenant was never registered with `set_profile` (or was forgotten).
    #[error("unknown tenant {0}")]
    UnknownTenant(TenantId),
    /// The process does not exist (never opened, or already retired).
    #[error("unknown process {0}")]
    UnknownProcess(ProcessId),
    /// The tenant has no isolate in that process.
    #[error("{tenant} has no isolate in {process}")]
    TenantNotInProcess {
        /// The tenant named.
        tenant: TenantId,
        /// The process named.
        process: ProcessId,
    },
    /// The tenant still has isolates, so it cannot be forgotten.
    #[error("{0} still has isolates")]
    TenantHasIsolates(TenantId),
    /// A stored history snapshot this build does not understand (see `persist`).
    #[error("the stored risk history of {0} is not understood")]
    BadSnapshot(TenantId),
    /// A score above 100.
    #[error("risk score {0} is above 100")]
    ScoreOutOfRange(u8),
    /// A shared tier was configured with zero isolates per process.
    #[error("capacity of the {0} tier must be at least 1")]
    ZeroCapacity(RiskTier),
    /// A shared tier was configured to spread over zero processes.
    #[error("min_processes of the {0} tier must be at least 1")]
    ZeroMinProcesses(RiskTier),
}
