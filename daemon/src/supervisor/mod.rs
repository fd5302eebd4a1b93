//! The supervisor's side of the worker processes: placing tenants into them by risk (the
//! `stockade_cordon` tiers), spawning them on demand with their tier's profile, talking to them,
//! and recording how they fail. It never runs tenant code itself.
//!
//! - `pool`: the public face: place and run a job, risk reports and overrides, admin views;
//! - `state`: the placement state behind one mutex (cordon, slots, tenants' presence);
//! - `slots`: the worker processes, bound to a tier or waiting as warm spares;
//! - `process`: one worker process's life (spawn, handshake, concurrent jobs, death);
//! - `jobs`: one job over the IPC protocol;
//! - `link`: a process's multiplexed socket: requests in flight, cancels, host calls;
//! - `body`: request and response bodies streamed through a request's `body.*` host calls;
//! - `host_calls`: what a running request may ask the supervisor; `held`: what those calls'
//!   payloads may hold meanwhile, per request and for the daemon;
//! - `bindings`: the capabilities a worker's `env` grants (key-value, workspaces);
//! - `tenants`: configured tenants and the code features that feed their scores;
//! - `spawn`, `channel`: starting a jailed worker; framed messages over its socket;
//! - `memory_cap`: the memory cap of each worker process (a cgroup, or polling).

pub mod bindings;
pub mod body;
mod channel;
#[cfg(test)]
mod fake_worker;
mod held;
mod host_calls;
mod jobs;
mod link;
pub mod memory_cap;
mod pool;
mod process;
mod slots;
mod spawn;
mod state;
mod tenants;
pub mod websocket;
pub mod websocket_bridge;
pub mod websocket_relay;

pub use held::{
    Budget as HostCallBudget, DEFAULT_BUDGET_MB as HOST_CALL_BUDGET_MB,
    DEFAULT_TENANT_SHARE_MB as HOST_CALL_TENANT_SHARE_MB,
};
pub use host_calls::{
    render as render_host_calls, CallContext, Chain, HostCalls, Outbound, OutboundTarget,
    Resources, Session, Spent,
};
pub use jobs::{
    log_ring, Job, JobError, Keep, LogSink, Queued, Reply as JobReply, Streams, WorkerDef,
};
pub use link::lookout;
pub use memory_cap::{CgroupRequired, MemoryCap};
pub use pool::{Pool, TenantNames};
pub use slots::SlotView;
pub use spawn::{rss_bytes, tenant_pid, worker_command, LocateError, SpawnConfig, WorkerRuntime};
pub use tenants::CodeFeatures;
