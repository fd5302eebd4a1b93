//! Risk-based placement of tenants into jailed worker processes.
//!
//! Pure logic: no I/O, no threads, no clock reads. Time is a [`Millis`] value
//! passed in, so every behaviour (decay, latch expiry) is testable exactly.
//!
//! # What it guarantees
//!
//! - A tenant's facts, history and operator override give a [`RiskScore`]
//!   (0–100) and a [`RiskTier`]; the weights are in [`signals`], the
//!   thresholds in [`tier`], the precedence in [`assess`].
//! - A worker crash or seccomp kill while a tenant's code ran quarantines it
//!   at once, whatever its score, for a latch period (24 h / 7 days).
//! - Every process serves one tier. `Quarantine` tenants each get a fresh
//!   single-use process running [`V8Profile::Strict`].
//! - New isolates go to the least-loaded process of the tier with room
//!   (lowest [`ProcessId`] on ties) through a per-tier
//!   `BTreeSet<(load, ProcessId)>`: O(log n) per decision. *Spread before
//!   stack*: a shared tier first grows to its [`TierMinProcesses`] (the
//!   daemon uses its core count for `Standard`), so no process takes a second
//!   tenant while the tier has fewer processes than that. A worker process
//!   runs many requests at once on its isolate threads, so stacked tenants
//!   share its cores; spreading gives each tenant cores (and a crash) of its
//!   own. One tenant still has one active process per tier.
//! - Tier changes return [`Drain`]s for the old isolates; a crash evicts all
//!   co-residents and retires the process; recycling a process
//!   ([`Cordon::recycle`]) drains its tenants to other processes of their
//!   tier and retires it once empty.
//!
//! # Balance: what holds and what does not
//!
//! "Loads within a tier differ by at most 1" holds only up to the tier's
//! minimum of processes. Beyond it, a process is opened only when all are
//! full, so with capacity 8 and a minimum of 2 the 17th isolate leaves loads
//! 8, 8 and 1; and "the busiest process holds at most twice the isolates of
//! the idlest" fails the same way. Releases (an isolate disposed at the
//! daemon's discretion) can also leave any load pattern, and no placement
//! policy repairs that without migrating live isolates. What holds, and is
//! tested (named assertions in `tests/invariants.rs`), is:
//! - *least-loaded-choice*: a new isolate placed in an existing process lands
//!   in one whose load is the minimum over the eligible processes (same tier,
//!   room, not holding this tenant's draining isolate), lowest id on ties.
//!   Consequently such a placement never widens the load spread (max − min)
//!   of the processes that were eligible for it, except from 0 to 1;
//! - *open-only-when-full-or-below-minimum*: a shared tier opens a process
//!   only when no process is eligible, or when it has fewer than its minimum
//!   of processes and none of the eligible ones is empty;
//! - with placements only (no releases, evictions, drains or tier changes),
//!   in every shared tier with `n` processes and minimum `m`:
//!   *spread-before-stack*: `n < m` ⇒ every process holds exactly one
//!   isolate; *balanced-within-minimum*: `n ≤ m` ⇒ loads differ by at most
//!   1; *fill-before-spill-beyond-minimum*: `n > m` ⇒ every process except
//!   the newest is full;
//! - *idle-spare-rule*: an emptied shared-tier process is retired exactly
//!   when its tier has another empty process and more than `m` processes,
//!   so a tier above its minimum has at most one empty process, and a tier
//!   whose tenants come and go keeps its processes instead of churning them.

//! # What it trusts
//!
//! The daemon: to report facts, events and crashes truthfully, to call
//! [`Cordon::release`] once per disposed isolate, to act on every [`Drain`]
//! and retired process, and to pass non-decreasing times.

pub mod assess;
mod config;
mod cordon;
pub mod decay;
mod error;
mod ids;
pub mod metrics;
pub mod persist;
mod pool;
pub mod signals;
pub mod tier;

pub use assess::{
    History, Override, RiskReport, ScoringPolicy, SignalContribution, TenantProfile, TrustLevel,
};
pub use config::{CordonConfig, TierCapacity, TierMinProcesses};
pub use cordon::{Cordon, CrashOutcome, Drain, Placement, Recycled, Released, TenantView};
pub use error::CordonError;
pub use ids::{Millis, ProcessId, TenantId};
pub use metrics::{CordonMetrics, TierMetrics};
pub use persist::TenantSnapshot;
pub use pool::ProcessView;
pub use signals::{HistoryEvent, Signal};
pub use tier::{RiskScore, RiskTier, V8Profile};
