//! Unauthenticated probes for load balancers and orchestrators, on the API's listener and on
//! `metrics_listen`: `GET /healthz` answers `200 ok` while the daemon answers HTTP at all
//! (liveness); `GET /readyz` answers `200 ready` when a request can be served now, and `503` with
//! the reason otherwise (readiness): no worker process ready yet, or the daemon draining after
//! `SIGTERM` (so a balancer stops sending before the listener closes).
//!
//! Guarantees: the probes say nothing of tenants, workers or configuration beyond that one word
//! and reason; they take no lock longer than the pool's own view of its processes.
//!
//! Trusts: nothing of the request.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use crate::supervisor::SlotView;

/// Why the daemon cannot serve a request now.
#[derive(Debug, PartialEq, Eq)]
pub enum NotReady {
    Draining,
    NoWorkerReady,
}

/// Ready unless draining, or warm worker processes are configured and none is ready yet.
pub fn readiness(draining: bool, warm: usize, ready: usize) -> Result<(), NotReady> {
    if draining {
        return Err(NotReady::Draining);
    }
    if warm > 0 && ready == 0 {
        return Err(NotReady::NoWorkerReady);
    }
    Ok(())
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The daemon's readiness now, from the pool's view of its processes.
pub fn of(state: &AppState, processes: &[SlotView]) -> Result<(), NotReady> {
    let ready = processes
        .iter()
        .filter(|p| p.info.ready.load(Ordering::Relaxed))
        .count();
    let draining = state.draining.load(Ordering::Relaxed);
    readiness(draining, state.config.workers, ready)
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    match of(&state, &state.pool.processes()) {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(NotReady::Draining) => (StatusCode::SERVICE_UNAVAILABLE, "draining\n"),
        Err(NotReady::NoWorkerReady) => (StatusCode::SERVICE_UNAVAILABLE, "no worker ready\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_a_ready_worker_when_some_are_warm_and_never_while_draining() {
        assert_eq!(readiness(false, 2, 1), Ok(()));
        assert_eq!(readiness(false, 2, 0), Err(NotReady::NoWorkerReady));
        // No warm processes configured: they start on demand, so nothing to wait for.
        assert_eq!(readiness(false, 0, 0), Ok(()));
        assert_eq!(readiness(true, 2, 2), Err(NotReady::Draining));
        assert_eq!(readiness(true, 0, 0), Err(NotReady::Draining));
    }
}
