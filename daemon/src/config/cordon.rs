//! `[cordon]`: tier capacities, how many processes each shared tier spreads over, quarantine's
//! tighter limits, and how often risk scores are re-evaluated. Checked at load
//! (`Config::validate`).

use serde::Deserialize;

use super::MAX_MIN_PROCESSES;

/// `[cordon]`: how many isolates a process of each shared tier holds, how many processes each
/// shared tier spreads its tenants over, the tighter limits of quarantine processes, and how
/// often scores are re-evaluated.
///
/// A worker process is given up to `max_in_flight_per_worker` requests at once and runs them on
/// `worker_threads` isolate threads, so a tenant's requests, and its neighbours', run in parallel
/// within one process. `*_min_processes` is the number of processes a tier grows to before any
/// of them takes a second tenant ("spread before stack"): the tier's tenants are placed on the
/// least-loaded of its processes, and a new process is opened for a tenant while the tier has
/// fewer than its minimum and none of them is empty, or when all are full. One tenant is always
/// in one process per tier (its requests share it), and a tier never has more processes than
/// its tenants need: with `k` tenants, at most `k` (plus capacity overflow). A tier keeps up to
/// its minimum of processes when its tenants leave, so tenants that come and go (Code Mode
/// requests) reuse them instead of making the daemon restart processes. Quarantine is always
/// one tenant per process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CordonSettings {
    /// Tenants per process in the `trusted` tier.
    pub trusted_capacity: u32,
    /// Tenants per process in the `standard` tier.
    pub standard_capacity: u32,
    /// Tenants per process in the `untrusted` tier.
    pub untrusted_capacity: u32,
    /// Processes the `trusted` tier spreads over before stacking tenants (default 1).
    pub trusted_min_processes: u32,
    /// Processes the `standard` tier spreads over before stacking tenants (default: the CPUs
    /// this daemon may use, `std::thread::available_parallelism`).
    pub standard_min_processes: u32,
    /// Processes the `untrusted` tier spreads over before stacking tenants (default 1).
    pub untrusted_min_processes: u32,
    /// Bundles larger than this many bytes carry the `large_bundle` signal.
    pub large_bundle_bytes: u64,
    /// CPU limit (ms) of every request in a quarantine process (a request may ask for less).
    pub quarantine_cpu_ms: u32,
    /// Wall-clock limit (ms) in a quarantine process.
    pub quarantine_wall_ms: u32,
    /// Memory limit (MiB) in a quarantine process.
    pub quarantine_memory_mb: u32,
    /// Every this many milliseconds every tenant is re-scored, so decayed history moves a tenant
    /// out of a tier without waiting for its next request.
    pub reevaluate_ms: u64,
}

impl Default for CordonSettings {
    fn default() -> Self {
        let capacity = stockade_cordon::TierCapacity::default();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CordonSettings {
            trusted_capacity: capacity.trusted,
            standard_capacity: capacity.standard,
            untrusted_capacity: capacity.untrusted,
            trusted_min_processes: 1,
            standard_min_processes: u32::try_from(cores)
                .unwrap_or(MAX_MIN_PROCESSES)
                .min(MAX_MIN_PROCESSES),
            untrusted_min_processes: 1,
            large_bundle_bytes: stockade_cordon::signals::DEFAULT_LARGE_BUNDLE_BYTES,
            // 25 until the prelude grew to 39 parts: a jitless isolate's start now costs ~22 ms of
            // CPU, which 25 ms left no room for (see the README's Cordons paragraph).
            quarantine_cpu_ms: 50,
            quarantine_wall_ms: 5_000,
            quarantine_memory_mb: 64,
            reevaluate_ms: 60_000,
        }
    }
}
