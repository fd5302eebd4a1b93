//! Queues: a tenant's workers send messages to its named queues (`{"binding": "queue", "queue":
//! "q"}`, `send`/`sendBatch`, or `POST /v1/queues/{name}/messages`), and the worker that declares
//! `triggers.queues: [{"queue": "q", ...}]` consumes them in batches in its `queue(batch, env,
//! ctx)` handler.
//!
//! - `producer`: the `queue.send` host call and the checks every send passes (sizes, content
//!   types, delays), then the store;
//! - `batch`: when a batch is due, what becomes of a message after a delivery (no clock);
//! - `dispatcher`: the supervisor's task that claims due batches and delivers them (`deliver`);
//! - `lease`: claims under this daemon's id, and the release at start of the leases that id held;
//! - `pull`: a queue no worker consumes, leased over HTTP and acknowledged by lease_id.
//!
//! Guarantees: a send is answered once its messages are in the store (SQLite fsynced, PostgreSQL
//! committed); delivery is at least once: a message leaves the store only when acknowledged
//! (explicitly, or by a handler that returned), dead-lettered or dropped after `max_retries + 1`
//! deliveries; a delivery the daemon did not finish (killed, its process died) is delivered
//! again once its lease ends, or as soon as the daemon restarts on its data_dir (`lease`).
//! Everything is per tenant: a queue name means the calling tenant's
//! queue, and a consumer only ever receives its own tenant's messages. Trusts: the store.

mod backlog;
mod batch;
pub mod deliver;
mod dispatcher;
mod lease;
pub mod producer;
pub mod pull;

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::metrics::{header, sample};
use crate::store::Store;
use crate::supervisor::TenantNames;

pub use dispatcher::start;

/// Largest message body, bytes (Cloudflare's 128 KB, whose KB is 1,000 bytes).
pub const MAX_BODY: usize = 128_000;
/// Most messages in one send.
pub const MAX_BATCH: usize = 100;
/// Largest sum of the bodies of one send, bytes.
pub const MAX_BATCH_BYTES: usize = 256_000;
/// Longest delay, seconds (12 hours).
pub const MAX_DELAY: u32 = 43_200;
/// Most queues one worker consumes.
pub const MAX_CONSUMERS_PER_WORKER: usize = 16;
/// Largest `max_concurrency` (Cloudflare's ceiling of concurrent consumer invocations).
pub const MAX_CONCURRENCY: u32 = 250;
/// Batches of one queue in flight at once when `max_concurrency` is not given. Cloudflare
/// autoscales from 1 up to 250 by the backlog; here there is no autoscaler, and every batch holds
/// one of the tenant's `max_concurrent_requests` (it is a request of the tenant), so a small
/// number: a backlog drains several batches at a time without a busy queue taking the slots the
/// tenant's fetches need.
pub const DEFAULT_CONCURRENCY: u32 = 4;

/// One `triggers.queues` entry, with Cloudflare's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    pub queue: String,
    #[serde(default = "default_batch_size")]
    pub max_batch_size: u32,
    /// Seconds.
    #[serde(default = "default_batch_timeout")]
    pub max_batch_timeout: u32,
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue: Option<String>,
    /// Seconds.
    #[serde(default)]
    pub retry_delay: u32,
    /// Batches of the queue delivered at once (absent: [`DEFAULT_CONCURRENCY`]), never more than
    /// the tenant's `max_concurrent_requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
}

impl Consumer {
    /// How many batches may be in flight at once for a tenant whose `max_concurrent_requests`
    /// is `tenant_cap` (0: none): the setting, else the default, at most the tenant's cap, at
    /// least 1.
    pub fn concurrency(&self, tenant_cap: u32) -> u32 {
        let asked = self.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        let capped = if tenant_cap == 0 {
            asked
        } else {
            asked.min(tenant_cap)
        };
        capped.max(1)
    }
}

fn default_batch_size() -> u32 {
    10
}
fn default_batch_timeout() -> u32 {
    5
}
fn default_retries() -> u32 {
    3
}

/// `triggers.queues` of a new definition, checked: names as a D1 database's, each queue once, a
/// dead-letter queue not the queue itself, the numbers within Cloudflare's ranges, none for a
/// Loader child (`child`). The error says which and why.
pub fn check_consumers(consumers: Vec<Consumer>, child: bool) -> Result<Vec<Consumer>, String> {
    if consumers.is_empty() {
        return Ok(consumers);
    }
    if child {
        return Err("triggers: a worker made through a Loader binding consumes no queue".into());
    }
    if consumers.len() > MAX_CONSUMERS_PER_WORKER {
        return Err(format!(
            "triggers.queues: at most {MAX_CONSUMERS_PER_WORKER} queues per worker"
        ));
    }
    for (i, c) in consumers.iter().enumerate() {
        let at = format!("triggers.queues[{i}]");
        if !crate::supervisor::bindings::valid_database_name(&c.queue) {
            return Err(format!("{at}.queue must be 1-64 of [A-Za-z0-9_-]"));
        }
        if consumers[..i].iter().any(|o| o.queue == c.queue) {
            return Err(format!("{at}: queue {:?} is given twice", c.queue));
        }
        if !(1..=100).contains(&c.max_batch_size) {
            return Err(format!("{at}.max_batch_size must be 1 to 100"));
        }
        if c.max_batch_timeout > 60 {
            return Err(format!("{at}.max_batch_timeout must be 0 to 60 (seconds)"));
        }
        if c.max_concurrency
            .is_some_and(|n| !(1..=MAX_CONCURRENCY).contains(&n))
        {
            return Err(format!(
                "{at}.max_concurrency must be 1 to {MAX_CONCURRENCY}"
            ));
        }
        check_retries(
            &c.queue,
            c.max_retries,
            c.retry_delay,
            c.dead_letter_queue.as_deref(),
        )
        .map_err(|e| format!("{at}.{e}"))?;
    }
    Ok(consumers)
}

/// The retry settings of any consumer of `queue`, a worker's or a pull's (`pull::PullSettings`),
/// checked: `max_retries` 0 to 100, `retry_delay` 0 to [`MAX_DELAY`] seconds, a dead-letter queue
/// a valid name other than the queue. The error names the field.
pub fn check_retries(
    queue: &str,
    max_retries: u32,
    retry_delay: u32,
    dead_letter_queue: Option<&str>,
) -> Result<(), String> {
    if max_retries > 100 {
        return Err("max_retries must be 0 to 100".into());
    }
    if retry_delay > MAX_DELAY {
        return Err(format!("retry_delay must be 0 to {MAX_DELAY} (seconds)"));
    }
    if let Some(dlq) = dead_letter_queue {
        if !crate::supervisor::bindings::valid_database_name(dlq) || dlq == queue {
            return Err("dead_letter_queue must be 1-64 of [A-Za-z0-9_-], another queue".into());
        }
    }
    Ok(())
}

/// The outcomes a message is counted under.
const OUTCOMES: [&str; 6] = [
    "sent",
    "pulled",
    "acked",
    "retried",
    "dead_lettered",
    "dropped",
];

/// The queues' shared state: the store, the dispatcher's wake-up, the counters.
pub struct Queues {
    store: Store,
    /// This daemon's id (`serve/daemon_id.rs`), recorded by each claim (`lease`).
    holder: String,
    /// Rung by every send: the dispatcher looks at once instead of at its next tick.
    wake: Notify,
    /// Tenant names by `TenantId`, from the pool (set once it starts).
    tenants: OnceLock<TenantNames>,
    /// outcome -> messages.
    counts: Mutex<BTreeMap<&'static str, u64>>,
    /// Each consumed queue's messages waiting and in flight (`/metrics`).
    pub backlog: backlog::Backlog,
}

impl Queues {
    /// The queues of `store`, claimed as the daemon `holder` (its data_dir's id).
    pub fn new(store: Store, holder: String) -> std::sync::Arc<Queues> {
        std::sync::Arc::new(Queues {
            store,
            holder,
            wake: Notify::new(),
            tenants: OnceLock::new(),
            counts: Mutex::new(BTreeMap::new()),
            backlog: backlog::Backlog::default(),
        })
    }

    /// Where tenant names come from; once.
    pub fn resolve_tenants_with(&self, names: TenantNames) {
        let _ = self.tenants.set(names);
    }

    /// `n` messages more counted under `outcome` (one of [`OUTCOMES`]).
    pub fn count(&self, outcome: &'static str, n: u64) {
        debug_assert!(OUTCOMES.contains(&outcome));
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(outcome).or_default() += n;
    }

    pub fn render(&self, out: &mut String) {
        header(
            out,
            "stockade_queue_messages_total",
            "counter",
            "Queue messages: sent, pulled (leased to an HTTP pull), acked, retried, dead_lettered \
             (moved to a dead-letter queue), dropped (out of retries, no dead-letter queue).",
        );
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for outcome in OUTCOMES {
            let n = counts.get(outcome).copied().unwrap_or(0);
            sample(
                out,
                "stockade_queue_messages_total",
                &[("outcome", outcome)],
                n as f64,
            );
        }
        drop(counts);
        self.backlog.render(out);
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: serde_json::Value) -> Result<Vec<Consumer>, String> {
        let list: Vec<Consumer> = serde_json::from_value(v).map_err(|e| e.to_string())?;
        check_consumers(list, false)
    }

    #[test]
    fn consumers_take_cloudflares_defaults_and_ranges() {
        let got = c(serde_json::json!([{"queue": "jobs"}])).expect("valid");
        assert_eq!(
            got[0],
            Consumer {
                queue: "jobs".into(),
                max_batch_size: 10,
                max_batch_timeout: 5,
                max_retries: 3,
                dead_letter_queue: None,
                retry_delay: 0,
                max_concurrency: None,
            }
        );
        assert_eq!(got[0].concurrency(0), DEFAULT_CONCURRENCY);
        assert_eq!(
            got[0].concurrency(2),
            2,
            "at most the tenant's concurrent requests"
        );
        let two = c(serde_json::json!([{"queue": "q", "max_concurrency": 2}])).expect("valid");
        assert_eq!(two[0].concurrency(512), 2);
        assert_eq!(two[0].concurrency(0), 2);
        for bad in [
            serde_json::json!([{"queue": "a.b"}]),
            serde_json::json!([{"queue": "a"}, {"queue": "a"}]),
            serde_json::json!([{"queue": "a", "max_batch_size": 0}]),
            serde_json::json!([{"queue": "a", "max_batch_size": 101}]),
            serde_json::json!([{"queue": "a", "max_batch_timeout": 61}]),
            serde_json::json!([{"queue": "a", "retry_delay": 43201}]),
            serde_json::json!([{"queue": "a", "dead_letter_queue": "a"}]),
            serde_json::json!([{"queue": "a", "dead_letter_queue": "../x"}]),
            serde_json::json!([{"queue": "a", "max_concurrency": 0}]),
            serde_json::json!([{"queue": "a", "max_concurrency": 251}]),
            serde_json::json!([{"queue": "a", "visibility_timeout_ms": 2}]),
        ] {
            assert!(c(bad.clone()).is_err(), "{bad}");
        }
        let one = vec![Consumer {
            queue: "q".into(),
            max_batch_size: 1,
            max_batch_timeout: 0,
            max_retries: 0,
            dead_letter_queue: None,
            retry_delay: 0,
            max_concurrency: None,
        }];
        assert!(check_consumers(one, true).is_err(), "a Loader child");
    }
}
