//! The memory cap of each worker process (`[limits] worker_process_memory_mb`): many isolates
//! in one process may together use more memory than the host gives that process, even when
//! each stays under its own heap limit. The cap is enforced by the kernel where the daemon may
//! create cgroups, else by polling.
//!
//! Mechanisms, chosen once at start and logged:
//! - `cgroup v2` / `cgroup v1`: a group `stockade-<pid>/w<life>` per worker process below the
//!   daemon's own cgroup, its memory (and swap) capped (see `cgroup`). The spawned process
//!   joins it between fork and exec, so the worker and everything it starts are in it before
//!   any code of the worker (let alone of a tenant) runs. At the cap the kernel's OOM killer
//!   kills the worker (SIGKILL); the group's `oom_kill` count tells that death apart from any
//!   other SIGKILL;
//! - `polling`, when no cgroup may be created (or `worker_process_memory_enforcement =
//!   "poll"`): the supervisor reads each worker process's resident set size every
//!   [`POLL_PERIOD`] and kills it (SIGKILL) above the cap. Memory can outgrow the cap between
//!   two readings (by what a process allocates in one period), and memory that is not resident
//!   is not counted; the kernel's cap has neither gap;
//! - `off` with a cap of 0.
//!
//! A hit is handled like the death of a process ([`super::process`]): the requests in flight
//! fail with `process_memory_limit`, the process is replaced, bystanders' Loader workers are
//! loaded again, and the tenant charged (see [`charged`]) gets `memory_limit_hit`.
//!
//! Trusts: the kernel (cgroups, `/proc`) to enforce and report the cap. Whom a hit charges
//! rests on the memory each isolate reports holding (`Outcome::memory_bytes`), which a
//! compromised worker can misstate: it decides only who gets that weak signal.

pub mod cgroup;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v2_real;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stockade_cordon::TenantId;

use crate::config::MemoryEnforcement;

/// How often the polling fallback reads a worker process's resident set size.
pub const POLL_PERIOD: Duration = Duration::from_millis(100);

/// How long removing a group waits for its processes to finish exiting.
const REMOVE_PATIENCE: Duration = Duration::from_secs(5);

enum Mechanism {
    Cgroup(cgroup::Parent),
    Poll,
    Off,
}

/// The daemon's worker process memory cap; removes its cgroups when dropped.
pub struct MemoryCap {
    bytes: u64,
    mechanism: Mechanism,
}

impl std::fmt::Debug for MemoryCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MemoryCap({} bytes, {})",
            self.bytes,
            self.mechanism_name()
        )
    }
}

/// `worker_process_memory_enforcement = "cgroup"`, and no cgroup could be made.
#[derive(Debug, thiserror::Error)]
#[error("worker_process_memory_enforcement = \"cgroup\", but no cgroup can be created: {0}")]
pub struct CgroupRequired(#[source] pub cgroup::CgroupError);

impl MemoryCap {
    /// Sets up the cap of `mb` MiB per worker process (0: none) and logs how it is enforced.
    /// `Cgroup` refuses to start without a cgroup; `Auto` falls back to polling.
    pub fn start(mb: u64, enforcement: MemoryEnforcement) -> Result<MemoryCap, CgroupRequired> {
        let cap = MemoryCap::choose(
            mb,
            enforcement,
            Path::new("/sys/fs/cgroup"),
            &std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        )?;
        match &cap.mechanism {
            Mechanism::Cgroup(parent) => {
                let swept = parent.sweep_stale();
                if swept > 0 {
                    tracing::info!("removed {swept} cgroup(s) left by earlier daemons");
                }
                tracing::info!(
                    "worker process memory cap: {mb} MiB, enforced by {} ({})",
                    parent.version.name(),
                    parent.dir.display()
                );
            }
            Mechanism::Poll => tracing::info!(
                "worker process memory cap: {mb} MiB, enforced by polling each process's \
                 resident set every {} ms",
                POLL_PERIOD.as_millis()
            ),
            Mechanism::Off => {
                tracing::info!("worker process memory cap: off (worker_process_memory_mb = 0)")
            }
        }
        Ok(cap)
    }

    /// [`MemoryCap::start`] against a cgroup root and the text of `/proc/self/cgroup`.
    pub fn choose(
        mb: u64,
        enforcement: MemoryEnforcement,
        root: &Path,
        self_cgroup: &str,
    ) -> Result<MemoryCap, CgroupRequired> {
        let bytes = mb.saturating_mul(1 << 20);
        let mechanism = match (mb, enforcement) {
            (0, _) => Mechanism::Off,
            (_, MemoryEnforcement::Poll) => Mechanism::Poll,
            (_, enforcement) => {
                match cgroup::Parent::create(root, self_cgroup, std::process::id()) {
                    Ok(parent) => Mechanism::Cgroup(parent),
                    Err(why) if enforcement == MemoryEnforcement::Cgroup => {
                        return Err(CgroupRequired(why))
                    }
                    Err(why) => {
                        tracing::warn!(
                            "no cgroup for the worker process memory cap ({why}); falling back \
                             to polling"
                        );
                        Mechanism::Poll
                    }
                }
            }
        };
        Ok(MemoryCap { bytes, mechanism })
    }

    /// `cgroup v2`, `cgroup v1`, `polling` or `off`.
    pub fn mechanism_name(&self) -> &'static str {
        match &self.mechanism {
            Mechanism::Cgroup(parent) => parent.version.name(),
            Mechanism::Poll => "polling",
            Mechanism::Off => "off",
        }
    }

    /// The group of the parent (a cgroup mechanism only).
    #[cfg(test)]
    pub fn parent_dir(&self) -> Option<&Path> {
        match &self.mechanism {
            Mechanism::Cgroup(parent) => Some(&parent.dir),
            _ => None,
        }
    }

    /// The enforcement of one worker process life, `life` (unique in this daemon). A group that
    /// cannot be created makes that life fall back to polling, saying so.
    pub fn guard(&self, life: u64) -> Guard {
        let kind = match &self.mechanism {
            Mechanism::Off => Kind::Off,
            Mechanism::Poll => Kind::Poll(Poll::default()),
            Mechanism::Cgroup(parent) => match parent.child(&format!("w{life}"), self.bytes) {
                Ok(group) => {
                    match CString::new(group.procs().into_os_string().into_encoded_bytes()) {
                        Ok(procs) => Kind::Cgroup { group, procs },
                        Err(_) => Kind::Poll(Poll::default()),
                    }
                }
                Err(e) => {
                    tracing::warn!("worker process {life} is polled instead: {e}");
                    Kind::Poll(Poll::default())
                }
            },
        };
        Guard {
            bytes: self.bytes,
            mechanism: self.mechanism_name(),
            kind,
            baseline: 0,
        }
    }
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        if let Mechanism::Cgroup(parent) = &self.mechanism {
            parent.remove(REMOVE_PATIENCE);
        }
    }
}

/// The polling fallback's state of one process.
#[derive(Default)]
struct Poll {
    /// The resident set size it was killed at; 0 while it was not.
    killed_at: Arc<AtomicU64>,
    task: Option<tokio::task::AbortHandle>,
}

enum Kind {
    Cgroup {
        group: cgroup::Group,
        procs: CString,
    },
    Poll(Poll),
    Off,
}

/// How one worker process life's cap is enforced; removes its group when dropped.
pub struct Guard {
    bytes: u64,
    mechanism: &'static str,
    kind: Kind,
    /// The process's resident set when it became ready, before any tenant code ran.
    baseline: u64,
}

/// A process was killed for the cap.
#[derive(Debug, Clone)]
pub struct Hit {
    /// For people: the cap, how it was enforced, what was seen.
    pub how: String,
    /// The cap, bytes.
    pub cap: u64,
    /// What the process held before any tenant code ran in it, bytes (0: unknown).
    pub baseline: u64,
}

impl Guard {
    /// The file the spawned process writes `0` to, between fork and exec, to join its group.
    pub fn join_path(&self) -> Option<&CString> {
        match &self.kind {
            Kind::Cgroup { procs, .. } => Some(procs),
            _ => None,
        }
    }

    /// Starts watching the process spawned as `spawned` (polling only; the kernel needs
    /// nothing more). A respawned life's earlier watch is stopped.
    pub fn watch(&mut self, spawned: u32, jailed: bool) {
        let bytes = self.bytes;
        if let Kind::Poll(poll) = &mut self.kind {
            if let Some(task) = poll.task.take() {
                task.abort();
            }
            let killed_at = Arc::clone(&poll.killed_at);
            let task = tokio::spawn(async move {
                let mut tick = tokio::time::interval(POLL_PERIOD);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let rss = process_resident_bytes(spawned, jailed);
                    if rss > bytes {
                        killed_at.store(rss, Ordering::SeqCst);
                        let worker = super::spawn::tenant_pid(spawned, jailed);
                        // SAFETY: kill(2) with SIGKILL on the worker (or its launcher), a child
                        // of this daemon's that has not been reaped yet (the life waits on it).
                        unsafe { libc::kill(worker as i32, libc::SIGKILL) };
                        return;
                    }
                }
            });
            poll.task = Some(task.abort_handle());
        }
    }

    /// Notes what the process spawned as `spawned` holds now that it is ready, before it is
    /// given any tenant code (see [`charged`]).
    pub fn note_baseline(&mut self, spawned: u32, jailed: bool) {
        self.baseline = process_resident_bytes(spawned, jailed);
    }

    /// Whether the process that just died was killed for the cap.
    pub fn hit(&self) -> Option<Hit> {
        let mb = self.bytes >> 20;
        let how = match &self.kind {
            Kind::Off => return None,
            Kind::Cgroup { group, .. } => {
                if group.oom_kills() == 0 {
                    return None;
                }
                format!(
                    "killed for exceeding the worker process memory cap of {mb} MiB ({})",
                    self.mechanism
                )
            }
            Kind::Poll(poll) => match poll.killed_at.load(Ordering::SeqCst) {
                0 => return None,
                rss => format!(
                    "killed for exceeding the worker process memory cap of {mb} MiB ({} MiB \
                     resident, seen by polling)",
                    rss >> 20
                ),
            },
        };
        Some(Hit {
            how,
            cap: self.bytes,
            baseline: self.baseline,
        })
    }
}

/// Whom a hit charges with `memory_limit_hit`: the tenant holding the most memory in the
/// process when it was killed, as far as the supervisor can tell. Each Loader isolate reports
/// what it holds with every answer (`Outcome::memory_bytes`; `holdings`, per tenant), so what
/// an idle tenant holds is known. The memory no report explains (the cap, less the process's
/// `baseline` and every report) is held by the tenants with code in flight (`running`), which
/// may have grown since they last reported:
/// - with one tenant in flight, it holds its report plus all of that, and whoever holds the
///   most is charged (ties: all of them);
/// - with several, how they share it is unknown: each may be the largest holder, and is
///   charged, unless an idle tenant holds more than any of them could; an idle tenant is
///   charged when it holds at least what the largest of them holds at the least.
///
/// So a tenant that keeps memory between requests is charged however the kill came about
/// (during its neighbour's request, or with nothing in flight), and an idle tenant holding
/// little never is.
pub fn charged(
    hit: &Hit,
    running: &BTreeSet<TenantId>,
    holdings: &BTreeMap<TenantId, u64>,
) -> Vec<TenantId> {
    let known = |t: &TenantId| holdings.get(t).copied().unwrap_or(0);
    let reported = holdings.values().fold(0u64, |a, &b| a.saturating_add(b));
    let unexplained = hit
        .cap
        .saturating_sub(hit.baseline)
        .saturating_sub(reported);
    let idle: Vec<(TenantId, u64)> = holdings
        .iter()
        .filter(|(t, _)| !running.contains(t))
        .map(|(&t, &bytes)| (t, bytes))
        .collect();
    let idle_most = idle.iter().map(|&(_, bytes)| bytes).max().unwrap_or(0);
    let charged: BTreeSet<TenantId> = if running.len() <= 1 {
        let estimate = |t: &TenantId| {
            known(t).saturating_add(if running.contains(t) { unexplained } else { 0 })
        };
        let candidates: BTreeSet<TenantId> = holdings.keys().chain(running).copied().collect();
        let most = candidates.iter().map(estimate).max().unwrap_or(0);
        candidates
            .into_iter()
            .filter(|t| most > 0 && estimate(t) == most)
            .collect()
    } else {
        let in_flight = running.iter().fold(0u64, |a, t| a.saturating_add(known(t)));
        let largest_at_least = in_flight.saturating_add(unexplained) / running.len() as u64;
        let may_be_largest = running
            .iter()
            .filter(|t| known(t).saturating_add(unexplained) >= idle_most);
        let holds_more = idle
            .iter()
            .filter(|&&(_, bytes)| bytes > 0 && bytes >= largest_at_least)
            .map(|(t, _)| t);
        may_be_largest.chain(holds_more).copied().collect()
    };
    charged.into_iter().collect()
}

impl Drop for Guard {
    fn drop(&mut self) {
        match &mut self.kind {
            Kind::Poll(poll) => {
                if let Some(task) = poll.task.take() {
                    task.abort();
                }
            }
            Kind::Cgroup { group, .. } => {
                if cgroup::remove_dir(&group.dir, Duration::ZERO) {
                    return;
                }
                // Its processes are still exiting: wait for them off the runtime's threads (the
                // daemon's parent removal catches what is left at shutdown).
                let dir = group.dir.clone();
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn_blocking(move || cgroup::remove_dir(&dir, REMOVE_PATIENCE));
                }
            }
            Kind::Off => {}
        }
    }
}

/// Resident set size of a worker process spawned as `spawned`: the spawned process and, when
/// jailed, the worker it started (see `spawn::tenant_pid`).
fn process_resident_bytes(spawned: u32, jailed: bool) -> u64 {
    let worker = super::spawn::tenant_pid(spawned, jailed);
    let rss = resident_bytes(spawned);
    if worker == spawned {
        rss
    } else {
        rss.saturating_add(resident_bytes(worker))
    }
}

/// Resident set size of a process, bytes, from `/proc/<pid>/statm` (0 once it is gone).
pub fn resident_bytes(pid: u32) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}
