//! The supervisor's side of the worker processes: spawning them, talking to them, routing jobs
//! to them and replacing them when they die. It never runs tenant code itself.

mod channel;
mod pool;
mod process;
mod spawn;

pub use pool::Pool;
pub use process::{Job, JobError, WorkerDef};
pub use spawn::{rss_bytes, tenant_pid, worker_command, SpawnConfig};
