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
//!   `BTreeSet<(load, ProcessId)>`: O(log n) per decision.
//! - Tier changes return [`Drain`]s for the old isolates; a crash evicts all
//!   co-residents and retires the process.
//!
//! # Balance: what holds and what does not
//!
//! "The busiest process of a tier holds at most twice the isolates of the
//! idlest" does **not** hold for least-loaded-with-capacity placement, even
//! with no releases at all: with capacity 8, the 9th isolate opens a second
//! process and loads are 8 and 1. Releases (an isolate disposed at the
//! daemon's discretion) can also leave any load pattern, and no placement
//! policy repairs that without migrating live isolates. What holds, and is
//! tested, is:
//! - *least-loaded choice*: each new isolate lands in a process whose load is
//!   the minimum over the eligible processes (same tier, room, not holding
//!   this tenant's draining isolate), lowest id on ties; a process is opened
//!   only when no process is eligible. Consequently a placement never
//!   widens the load spread (max − min) of the processes that were eligible
//!   for it, except from 0 to 1: placements only ever fill the idlest;
//! - *fill-before-spill*: with no releases, evictions or drains, every
//!   process of a tier except the newest is full.
//!
//! # What it trusts
//!
//! The daemon: to report facts, events and crashes truthfully, to call
//! [`Cordon::release`] once per disposed isolate, to act on every [`Drain`]
//! and retired process, and to pass non-decreasing times.

pub mod assess;
mod cordon;
pub mod decay;
mod error;
mod ids;
pub mod metrics;
mod pool;
pub mod signals;
pub mod tier;

pub use assess::{
    History, Override, RiskReport, ScoringPolicy, SignalContribution, TenantProfile, TrustLevel,
};
pub use cordon::{
    Cordon, CordonConfig, CrashOutcome, Drain, Placement, Released, TenantView, TierCapacity,
};
pub use error::CordonError;
pub use ids::{Millis, ProcessId, TenantId};
pub use metrics::{CordonMetrics, TierMetrics};
pub use pool::ProcessView;
pub use signals::{HistoryEvent, Signal};
pub use tier::{RiskScore, RiskTier, V8Profile};
