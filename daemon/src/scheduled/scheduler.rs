//! The scheduler: a task of the supervisor that wakes at each minute boundary (every cron fire
//! time is one), reads the triggers of every tenant's stored workers from the store (SQLite or
//! PostgreSQL, `store::triggers`), and starts each due run as a task of its own.
//!
//! Guarantees: those of the module (`scheduled`): one run in flight per trigger in this daemon,
//! the others skipped and counted; one daemon per due time among those sharing the store; no
//! replay of times before the scheduler started; a store that fails a read keeps the last
//! known triggers (logged) rather than stopping. It stops when the daemon drains or its state
//! is dropped. Trusts: the store.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::schedule::{Running, Schedule};
use crate::api::{fire_scheduled, AppState, Fired};
use crate::store::triggers;

/// How long the claims of past runs are kept: daemons sharing a store tick within this of each
/// other.
const CLAIMS_KEPT_MS: i64 = 10 * 60_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Starts the scheduler over `state`'s store.
pub fn start(state: Weak<AppState>) {
    tokio::spawn(run(state));
}

async fn run(state: Weak<AppState>) {
    let running = Running::default();
    let mut schedule = Schedule::new(now_ms());
    loop {
        let now = now_ms();
        let boundary = (now.div_euclid(60_000) + 1) * 60_000;
        let wait = u64::try_from(boundary - now).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        tick(&state, &mut schedule, &running, now_ms()).await;
    }
}

/// Refreshes the triggers and starts what is due at `now`.
async fn tick(state: &Arc<AppState>, schedule: &mut Schedule, running: &Running, now: i64) {
    match state.store.tx(triggers::list).await {
        Ok(listed) => {
            for bad in schedule.refresh(listed) {
                tracing::warn!("a stored cron trigger is skipped: {bad}");
            }
        }
        Err(e) => tracing::warn!("cannot read the cron triggers (the last known ones fire): {e}"),
    }
    let due = schedule.due(now);
    if due.is_empty() {
        return;
    }
    let before = now - CLAIMS_KEPT_MS;
    if let Err(e) = state
        .store
        .tx(move |tx| triggers::forget_claims(tx, before))
        .await
    {
        tracing::warn!("cannot delete old scheduled-run claims: {e}");
    }
    for (trigger, at) in due {
        let Some(guard) = running.start(&trigger) else {
            tracing::info!(
                tenant = %trigger.tenant,
                worker = %trigger.worker,
                cron = %trigger.cron,
                "scheduled run skipped: the previous one is still running"
            );
            state.scheduled.skipped("running");
            continue;
        };
        let claim = trigger.clone();
        match state
            .store
            .tx(move |tx| triggers::claim(tx, &claim, at))
            .await
        {
            Ok(true) => {}
            Ok(false) => continue, // another daemon sharing the store runs it
            Err(e) => {
                tracing::warn!("cannot claim a scheduled run, skipped: {e}");
                continue;
            }
        }
        let state = Arc::clone(state);
        tokio::spawn(async move {
            match fire_scheduled(&state, &trigger, at).await {
                Fired::Ran(outcome) => state.scheduled.ran("cron", outcome),
                Fired::Refused => state.scheduled.skipped("quota"),
                Fired::Gone => {}
            }
            drop(guard);
        });
    }
}
