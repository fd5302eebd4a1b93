//! `[limits]`: the limits of every request (a request may ask for less), the sizes the API
//! accepts (code, env, bodies), the budgets of a request's chain of binding calls, and the memory
//! cap of each worker process, and the wall-clock limit of events (cron runs, queue batches,
//! Durable Object alarms).
//! Checked at load (`Config::validate`, which calls [`LimitsConfig::validate`]).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub cpu_ms: u32,
    pub wall_ms: u32,
    /// The wall-clock limit of a cron run (`scheduled()`), a queue batch (`queue()`) and a
    /// Durable Object's `alarm()`, ms, in place of `wall_ms` (default 900000, Cloudflare's 15
    /// minutes; 1000 to 86400000, 24 h). CPU and memory stay the worker's. A queue batch's lease
    /// outlasts it. A worker's `limits.eventWallMs` may lower it (never raise it: a 400).
    pub event_wall_ms: u32,
    pub memory_mb: u32,
    /// Largest request body of `POST /v1/workers` (the code), bytes.
    pub max_code_bytes: usize,
    /// Largest `env` of a worker, bytes.
    pub max_env_bytes: usize,
    /// Largest request body forwarded to a worker's fetch handler, bytes (bodies over 1 MiB
    /// stream, so this bounds time and traffic, not memory).
    pub max_fetch_body_bytes: usize,
    /// Largest `POST /v1/run` body, bytes.
    pub max_run_bytes: usize,
    /// Service and Loader binding calls one request's whole chain may make (at least 1).
    pub max_binding_calls: u32,
    /// How deep a chain of binding calls may nest (1-64).
    pub max_binding_depth: u32,
    /// Memory one worker process may use, MiB, all its isolates together (default 1024; 0: no
    /// cap). Each isolate's own heap limit is `memory_mb`; this caps what many isolates sharing
    /// a process add up to. A process over it is killed and replaced; its requests in flight
    /// fail with `process_memory_limit` (see `supervisor::memory_cap`).
    pub worker_process_memory_mb: u64,
    /// How the cap is enforced: `auto` (default: a cgroup when the daemon may create one, else
    /// polling), `cgroup` (refuse to start without one) or `poll`.
    pub worker_process_memory_enforcement: MemoryEnforcement,
    /// What the payloads of every outstanding host call may hold in the supervisor together,
    /// MiB (default 512, at least 64): a call past it is refused (see `supervisor::held`, which
    /// also caps one request's share at 48 MiB).
    pub host_call_memory_mb: u64,
    /// What one tenant's outstanding host calls may hold of it, MiB (default 128, at least 64,
    /// at most `host_call_memory_mb`): one tenant cannot take the whole budget from the others.
    pub host_call_memory_per_tenant_mb: u64,
    /// Cron triggers one worker definition may have (`triggers.crons`; default 5, as
    /// Cloudflare's paid plan; 0: none).
    pub max_crons_per_worker: usize,
}

/// `[limits] event_wall_ms`'s default: Cloudflare's 15 minutes for a cron trigger, a queue
/// consumer or a Durable Object alarm.
pub const DEFAULT_EVENT_WALL_MS: u32 = 15 * 60_000;

/// The range of `[limits] event_wall_ms`: 1 s to the protocol's cap (24 h).
pub const EVENT_WALL_MS: std::ops::RangeInclusive<u32> =
    1_000..=stockade_ipc::limits::MAX_CALL_WALL_MS;

impl LimitsConfig {
    /// The figures of this section checked here (the others are in `Config::validate`).
    pub fn validate(&self) -> Result<(), String> {
        if !EVENT_WALL_MS.contains(&self.event_wall_ms) {
            return Err(format!(
                "limits.event_wall_ms must be {} to {} (24 h)",
                EVENT_WALL_MS.start(),
                EVENT_WALL_MS.end()
            ));
        }
        Ok(())
    }
}

/// `[limits] worker_process_memory_enforcement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryEnforcement {
    /// A cgroup (v2 or v1) when the daemon may create one, else polling.
    #[default]
    Auto,
    /// A cgroup, or the daemon refuses to start.
    Cgroup,
    /// Poll each worker process's resident set size.
    Poll,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            cpu_ms: 50,
            wall_ms: 30_000,
            event_wall_ms: DEFAULT_EVENT_WALL_MS,
            memory_mb: 128,
            max_code_bytes: 64 << 20,
            max_env_bytes: 1 << 20,
            max_fetch_body_bytes: 100 << 20,
            max_run_bytes: 1 << 20,
            max_binding_calls: 1000,
            max_binding_depth: 8,
            worker_process_memory_mb: 1024,
            worker_process_memory_enforcement: MemoryEnforcement::Auto,
            host_call_memory_mb: crate::supervisor::HOST_CALL_BUDGET_MB,
            host_call_memory_per_tenant_mb: crate::supervisor::HOST_CALL_TENANT_SHARE_MB,
            max_crons_per_worker: 5,
        }
    }
}
