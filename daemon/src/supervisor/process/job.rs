//! One job's run in a worker process, wherever it came from (the door or the life's queue): a
//! place among the jobs of its depth (`lanes`), then `serve_job` over the process's link, and
//! how it ended, for the life.
//!
//! Guarantees: a job is counted in `ProcessInfo::in_flight` from the moment it is handed over
//! until it is answered or dropped, at any point (a caller that goes away takes its count
//! with it); a job whose caller went away is cancelled (its request in flight gets `Cancel`,
//! by the ticket's drop); a job that failed the process is handed back to the life with its
//! count, which the life keeps until it has answered it. Trusts: `serve_job` to end once the
//! link is closed.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use stockade_cordon::TenantId;
use tokio::sync::oneshot;

use super::lanes::{Lane, Place};
use super::{Answer, Envelope};
use crate::supervisor::jobs::{serve_job, Failure, ProcessInfo, Runner};

/// Counts a job in `ProcessInfo::in_flight` until it is answered (dropped).
pub(super) struct Counted(Arc<ProcessInfo>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A job the process failed: answered by the life once the death is recorded.
pub(super) struct Failed {
    pub(super) reply: oneshot::Sender<Answer>,
    pub(super) failure: Failure,
    pub(super) tenant: TenantId,
    pub(super) _counted: Counted,
}

pub(super) enum JobEnd {
    /// Answered, or its caller went away.
    Over,
    /// The process failed it.
    Failed(Failed),
    /// It never started: the process died (or stopped) while it waited for a place; handed back
    /// once the death is recorded, to run elsewhere.
    Unstarted(Envelope),
}

/// A job (counted in `in_flight` already) waiting for a place among the jobs of its depth
/// (`lanes`), in the supervisor, then run. Dropped at any point, it is counted no more.
pub(super) async fn queued_job(
    runner: Arc<Runner>,
    mut envelope: Envelope,
    lane: Arc<Lane>,
) -> JobEnd {
    let counted = Counted(Arc::clone(&runner.info));
    let permit = tokio::select! {
        permit = lane.acquire(envelope.tenant) => permit,
        // Its caller went away while it waited: nothing was sent.
        () = envelope.reply.closed() => return JobEnd::Over,
    };
    match permit {
        Ok(permit) => job_task(runner, envelope, permit, counted).await,
        Err(_closed) => JobEnd::Unstarted(envelope),
    }
}

/// One job, in its caller's task or a task of its own.
async fn job_task(
    runner: Arc<Runner>,
    envelope: Envelope,
    permit: Place,
    counted: Counted,
) -> JobEnd {
    let Envelope {
        job,
        tenant,
        mut reply,
    } = envelope;
    if reply.is_closed() {
        return JobEnd::Over; // its caller went away while it was queued
    }
    let lease: crate::supervisor::link::Lease = Arc::new(permit);
    let result = tokio::select! {
        result = serve_job(&runner, job, tenant, &lease) => result,
        // The caller went away: dropping `serve_job` cancels its request in flight.
        () = reply.closed() => return JobEnd::Over,
    };
    drop(lease); // requests still pending hold their own share until answered
    match result {
        Ok(outcome) => {
            let _ = reply.send(Answer::Done(Ok(outcome)));
            JobEnd::Over
        }
        // The worker is fine: the supervisor gave up on a retry, or sent nothing.
        Err(Failure::Error(error)) if !error.ends_the_process() => {
            let _ = reply.send(Answer::Done(Err(error)));
            JobEnd::Over
        }
        Err(failure) => JobEnd::Failed(Failed {
            reply,
            failure,
            tenant,
            _counted: counted,
        }),
    }
}
