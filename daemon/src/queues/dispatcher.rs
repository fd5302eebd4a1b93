//! The dispatcher: a task of the supervisor that looks at every tenant's consumers (from the
//! store, SQLite or PostgreSQL) four times a second, and at once after a send, and delivers each
//! due batch (`batch::due`) as a task of its own (`api::queues::deliver`).
//!
//! Guarantees: one batch per consumer in flight in this daemon; a batch is claimed in the store
//! before it is delivered (daemons sharing a PostgreSQL store never claim the same message twice
//! while its lease lasts); a store that fails a read keeps the last known consumers (logged)
//! rather than stopping. It stops when the daemon drains or its state is dropped. Trusts: the
//! store.

use std::collections::HashSet;
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

/// (tenant, queue) of the batches in flight.
type Busy = Arc<Mutex<HashSet<(String, String)>>>;

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
                Ok(now) => consumers = now,
                Err(e) => {
                    tracing::warn!("cannot read the queue consumers (the last known serve): {e}")
                }
            }
            listed = Some(Instant::now());
        }
        for c in &consumers {
            let key = (c.tenant.clone(), c.consumer.queue.clone());
            if busy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&key)
            {
                continue;
            }
            let now = now_ms();
            let (tenant, queue) = key.clone();
            let backlog = queues
                .store
                .tx(move |tx| stored::backlog(tx, &tenant, &queue, now))
                .await;
            let (_, ready, oldest) = match backlog {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("cannot read a queue's backlog: {e}");
                    continue;
                }
            };
            if !due(&c.consumer, ready, oldest, now) {
                continue;
            }
            busy.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone());
            let (state, queues, busy, c) = (
                Arc::clone(&state),
                Arc::clone(&queues),
                Arc::clone(&busy),
                c.clone(),
            );
            tokio::spawn(async move {
                let delivered = deliver_queue_batch(&state, &queues, &c).await;
                busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
                if delivered {
                    // More may be due already (a full queue): look again at once.
                    queues.wake.notify_one();
                }
            });
        }
    }
}
