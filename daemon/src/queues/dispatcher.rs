//! The dispatcher: a task of the supervisor that looks at every tenant's consumers (from the
//! store, SQLite or PostgreSQL) four times a second, and at once after a send, and delivers each
//! due batch (`batch::due`) as a task of its own (`api::queues::deliver`).
//!
//! Guarantees: at most `Consumer::concurrency` batches of a consumer in flight in this daemon
//! (its `max_concurrency`, bounded by the tenant's `max_concurrent_requests`), each claiming
//! messages no other holds (a claimed message is invisible until its lease ends, whichever
//! batch asks); a batch is claimed in the store
//! before it is delivered (daemons sharing a PostgreSQL store never claim the same message twice
//! while its lease lasts); a store that fails a read keeps the last known consumers (logged)
//! rather than stopping. It stops when the daemon drains or its state is dropped. Trusts: the
//! store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use super::batch::due;
use super::{now_ms, Queues};
use crate::api::{deliver_queue_batch, AppState};
use crate::store::queues::{self as stored, StoredConsumer};

/// How often the dispatcher looks without being woken.
const TICK: Duration = Duration::from_millis(250);
/// How often it reads the consumers again.
const REFRESH: Duration = Duration::from_secs(1);

/// Starts the dispatcher over `state`'s store.
pub fn start(state: Weak<AppState>, queues: Arc<Queues>) {
    tokio::spawn(run(state, queues));
}

/// (tenant, queue) -> batches in flight.
type Busy = Arc<Mutex<HashMap<(String, String), u32>>>;

async fn run(state: Weak<AppState>, queues: Arc<Queues>) {
    let busy: Busy = Arc::default();
    let mut consumers: Vec<StoredConsumer> = Vec::new();
    let mut listed: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = queues.wake.notified() => {}
        }
        let Some(state) = state.upgrade() else {
            return;
        };
        if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if listed.is_none_or(|at| at.elapsed() >= REFRESH) {
            match queues.store.tx(stored::list_consumers).await {
                Ok(now) => {
                    consumers = now;
                    let keep: Vec<(String, String)> = consumers
                        .iter()
                        .map(|c| (c.tenant.clone(), c.consumer.queue.clone()))
                        .collect();
                    queues.backlog.retain(&keep);
                }
                Err(e) => {
                    tracing::warn!("cannot read the queue consumers (the last known serve): {e}")
                }
            }
            listed = Some(Instant::now());
        }
        for c in &consumers {
            let key = (c.tenant.clone(), c.consumer.queue.clone());
            let limit = c
                .consumer
                .concurrency(state.quotas.quotas(&c.tenant).max_concurrent_requests);
            let in_flight = busy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .copied()
                .unwrap_or(0);
            if in_flight >= limit {
                continue;
            }
            let now = now_ms();
            let (tenant, queue) = key.clone();
            let backlog = queues
                .store
                .tx(move |tx| stored::backlog(tx, &tenant, &queue, now))
                .await;
            let (stored_now, ready, oldest) = match backlog {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("cannot read a queue's backlog: {e}");
                    continue;
                }
            };
            queues
                .backlog
                .stored(&c.tenant, &c.consumer.queue, stored_now);
            if !due(&c.consumer, ready, oldest, now) {
                continue;
            }
            // As many full batches as are ready, up to the free places (a partial batch, due by
            // its wait, goes alone); each claims its own messages.
            let full = ready / i64::from(c.consumer.max_batch_size.max(1));
            let starts = u32::try_from(full.max(1))
                .unwrap_or(u32::MAX)
                .min(limit - in_flight);
            for _ in 0..starts {
                *busy
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(key.clone())
                    .or_default() += 1;
                let (state, queues, busy, c, key) = (
                    Arc::clone(&state),
                    Arc::clone(&queues),
                    Arc::clone(&busy),
                    c.clone(),
                    key.clone(),
                );
                tokio::spawn(async move {
                    let delivered = deliver_queue_batch(&state, &queues, &c).await;
                    release(&busy, &key);
                    if delivered {
                        // More may be due already (a full queue): look again at once.
                        queues.wake.notify_one();
                    }
                });
            }
        }
    }
}

/// One batch of `key` less in flight.
fn release(busy: &Busy, key: &(String, String)) {
    let mut busy = busy.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = busy.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            busy.remove(key);
        }
    }
}
