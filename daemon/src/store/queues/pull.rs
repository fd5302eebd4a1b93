//! Pull leases at rest: messages of a tenant's queue leased to an HTTP client
//! (`POST /v1/queues/{name}/messages/pull`, `crate::queues::pull`) and settled by it
//! (`.../messages/ack`).
//!
//! Guarantees: a pull claims through the same selection as a push delivery (deliverable now,
//! oldest first, one attempt more, invisible until the lease ends); its lease is recorded as the
//! `lease` the caller gives (the hash of the secret the client holds) with no `holder`, so no
//! daemon's restart releases it (`release_held` touches only a daemon id's rows): it ends when
//! its visibility timeout does. A message already delivered `max_deliveries` times is dropped
//! rather than delivered again. [`leased`] finds a message only by tenant, queue, id and the
//! current lease, while it lasts: a lease that ended, was replaced by a later claim, or names
//! another tenant's or queue's message finds nothing. A queue's pull consumer settings
//! (`queue_pull_consumers`) are kept only for a queue no worker consumes, and a worker may not
//! consume a queue that has them (`super::put_consumers`): a queue has one consumer. Trusts: its
//! callers for the lease hashes, the settings and the tenant.

use super::{consumer_of, deliverable, lease, lock_consumer, move_to, remove, Claimed};
use crate::queues::pull::PullSettings;
use crate::store::{StoreError, Tx};

/// What a pull did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    /// The messages leased, oldest first: the i-th under the i-th lease given.
    pub leased: Vec<Claimed>,
    /// Messages out of deliveries, deleted instead (no dead-letter queue).
    pub dropped: u64,
    /// Messages out of deliveries, moved to the dead-letter queue instead.
    pub dead_lettered: u64,
}

/// Leases up to `leases.len()` messages of `tenant`'s `queue` deliverable at `now_ms` to an
/// HTTP pull, until `lease_until_ms`: the i-th leased records `leases[i]`, held by no daemon. One
/// already delivered `max_deliveries` times is moved to `dead_letter` if given, else deleted (and
/// the next one looked at).
#[allow(clippy::too_many_arguments)]
pub fn pull(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    now_ms: i64,
    lease_until_ms: i64,
    max_deliveries: i64,
    dead_letter: Option<&str>,
    leases: &[String],
) -> Result<Pulled, StoreError> {
    let mut out = Pulled::default();
    loop {
        let want = leases.len().saturating_sub(out.leased.len());
        if want == 0 {
            return Ok(out);
        }
        let due = deliverable(tx, tenant, queue, now_ms, want)?;
        if due.is_empty() {
            return Ok(out);
        }
        for m in due {
            if m.attempts > max_deliveries {
                match dead_letter {
                    Some(to) => {
                        move_to(tx, tenant, queue, &m.id, to, now_ms)?;
                        out.dead_lettered += 1;
                    }
                    None => {
                        remove(tx, tenant, queue, &m.id)?;
                        out.dropped += 1;
                    }
                }
                continue;
            }
            let hash = &leases[out.leased.len()];
            lease(tx, tenant, queue, &m, lease_until_ms, None, Some(hash))?;
            out.leased.push(m);
        }
    }
}

/// The deliveries so far of message `id` of `tenant`'s `queue` if its current pull lease is
/// `lease_hash` and lasts past `now_ms`; `None` otherwise (an ended, replaced or unknown lease).
/// Locked for this transaction on PostgreSQL, for the ack or retry that follows.
pub fn leased(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    id: &str,
    lease_hash: &str,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let sql = format!(
        "SELECT attempts FROM queue_messages WHERE tenant = ?1 AND queue = ?2 AND id = ?3 \
         AND lease = ?4 AND visible_ms > ?5{}",
        tx.for_update()
    );
    let rows = tx.query(
        &sql,
        &[
            tenant.into(),
            queue.into(),
            id.into(),
            lease_hash.into(),
            now_ms.into(),
        ],
    )?;
    rows.first().map(|r| r.int(0)).transpose()
}

/// Keeps `settings` as `tenant`'s `queue`'s pull consumer (replacing earlier ones); a queue a
/// worker consumes is a `Conflict` naming it, and nothing is kept.
pub fn put_pull_consumer(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    settings: &PullSettings,
) -> Result<(), StoreError> {
    lock_consumer(tx, tenant, queue)?;
    if let Some(worker) = consumer_of(tx, tenant, queue)? {
        return Err(StoreError::Conflict(format!(
            "queue {queue:?} is consumed by worker {worker} (its triggers.queues); a queue has \
             one consumer"
        )));
    }
    let text = serde_json::to_string(settings).map_err(|e| StoreError::Backend(e.to_string()))?;
    tx.exec(
        "INSERT INTO queue_pull_consumers (tenant, queue, settings) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant, queue) DO UPDATE SET settings = excluded.settings",
        &[tenant.into(), queue.into(), text.into()],
    )?;
    Ok(())
}

/// `tenant`'s `queue`'s pull consumer settings, if it has some. A row that does not parse is
/// `Corrupt`.
pub fn pull_consumer(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
) -> Result<Option<PullSettings>, StoreError> {
    let rows = tx.query(
        "SELECT settings FROM queue_pull_consumers WHERE tenant = ?1 AND queue = ?2",
        &[tenant.into(), queue.into()],
    )?;
    rows.first()
        .map(|r| {
            let text = r.text(0)?;
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("a queue's pull consumer: {e}")))
        })
        .transpose()
}

/// Forgets `tenant`'s `queue`'s pull consumer settings; whether it had some.
pub fn delete_pull_consumer(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
) -> Result<bool, StoreError> {
    Ok(tx.exec(
        "DELETE FROM queue_pull_consumers WHERE tenant = ?1 AND queue = ?2",
        &[tenant.into(), queue.into()],
    )? > 0)
}
