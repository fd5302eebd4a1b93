//! The pool of pre-spawned worker processes and how jobs are routed to them.
//!
//! Routing: a Loader worker goes to a process that already has it loaded (so its isolate is
//! reused), else to the least busy one; a Code Mode snippet goes to the least busy process.
//! Ties go to the lowest slot, so routing is deterministic for a given state.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::process::{start, Job, JobError, ProcessHandle, ProcessInfo, Reply};
use super::spawn::SpawnConfig;

pub struct Pool {
    processes: Vec<ProcessHandle>,
    pub jailed: bool,
}

impl Pool {
    pub fn start(size: usize, config: SpawnConfig) -> Pool {
        let jailed = config.jail;
        let processes = (0..size.max(1))
            .map(|slot| start(slot, config.clone()))
            .collect();
        Pool { processes, jailed }
    }

    fn pick(&self, job: &Job) -> Option<&ProcessHandle> {
        let wanted = match job {
            Job::Call { def, .. } => Some(def.id),
            Job::Dispose { worker_id } => Some(*worker_id),
            Job::Run { .. } => None,
        };
        let has = |p: &&ProcessHandle, id| {
            p.info
                .loaded
                .lock()
                .map(|l| l.contains(&id))
                .unwrap_or(false)
        };
        if let Some(id) = wanted {
            if let Some(p) = self.processes.iter().find(|p| has(p, id)) {
                return Some(p);
            }
        }
        self.processes
            .iter()
            .min_by_key(|p| (p.info.in_flight.load(Ordering::Relaxed), p.info.slot))
    }

    /// Runs `job` on a process and waits for its one reply.
    pub async fn submit(&self, job: Job) -> Reply {
        let Some(process) = self.pick(&job) else {
            return Err(JobError::Unavailable);
        };
        process.info.in_flight.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if process.jobs.send((job, tx)).await.is_err() {
            process.info.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(JobError::Unavailable);
        }
        rx.await.unwrap_or(Err(JobError::Unavailable))
    }

    /// Disposes a worker in every process that has it loaded.
    pub async fn dispose_everywhere(&self, id: stockade_ipc::WorkerId) {
        for p in &self.processes {
            let has = p
                .info
                .loaded
                .lock()
                .map(|l| l.contains(&id))
                .unwrap_or(false);
            if has {
                p.info.in_flight.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = oneshot::channel();
                if p.jobs
                    .send((Job::Dispose { worker_id: id }, tx))
                    .await
                    .is_ok()
                {
                    let _ = rx.await;
                } else {
                    p.info.in_flight.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub fn processes(&self) -> impl Iterator<Item = &Arc<ProcessInfo>> {
        self.processes.iter().map(|p| &p.info)
    }
}
