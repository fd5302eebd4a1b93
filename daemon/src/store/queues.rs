//! Queues at rest (`crate::queues`): which stored worker consumes which queue of its tenant
//! (`queue_consumers`, kept with the definition by `workers::put` and `workers::delete`), and the
//! messages (`queue_messages`).
//!
//! Guarantees: a tenant's queue has at most one consumer (a second worker asking for it is a
//! `Conflict`, and the definition is not stored); a consumer is listed exactly while its
//! definition is stored; every operation is scoped by tenant and queue, so one tenant never reads,
//! claims or deletes another's messages, whatever their names. A message leaves the table only
//! through [`ack`], [`remove`] or [`move_to`]; a claimed one is invisible until its lease ends
//! or its holder's successor releases it: a claim records the claiming daemon's id (`holder`),
//! which [`retry`] and [`move_to`] clear, and [`release_held`] makes the messages one id holds
//! deliverable at once (attempts kept), touching no other id's. Trusts: the rows (written by this
//! module), its callers' checks of names and sizes, and the caller of [`release_held`] to name
//! only the id of a daemon known to be dead (`serve`: its own data_dir's, under the folder's
//! lock). A message pulled over HTTP is leased with no holder (`pull`): no restart releases it.

mod pull;

use super::{Dialect, StoreError, Tx, Val};
use crate::queues::Consumer;

pub use pull::{delete_pull_consumer, leased, pull, pull_consumer, put_pull_consumer};

/// A consumer as stored: a tenant's queue, the worker consuming it, its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConsumer {
    pub tenant: String,
    pub worker: String,
    pub consumer: Consumer,
}

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Delivered no earlier than this, ms since the epoch.
    pub visible_ms: i64,
}

/// A message claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: String,
    pub content_type: String,
    pub body: Vec<u8>,
    /// Deliveries so far, this one included.
    pub attempts: i64,
    pub created_ms: i64,
}

/// Holds `tenant`'s `queue`'s consumer lock for the rest of the transaction, on PostgreSQL (whose
/// transactions read committed rows only: a worker's consumer and a pull consumer, each checking
/// the other's table first, could otherwise both be kept by two daemons at once). SQLite's
/// transactions are serialised already (`BEGIN IMMEDIATE`).
pub(super) fn lock_consumer(tx: &mut dyn Tx, tenant: &str, queue: &str) -> Result<(), StoreError> {
    if tx.dialect() == Dialect::Postgres {
        let key = format!("queue-consumer/{tenant}/{queue}");
        tx.exec(
            "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))",
            &[key.as_str().into()],
        )?;
    }
    Ok(())
}

/// Records `consumers` as `tenant`'s worker `id`'s; a queue another worker of the tenant already
/// consumes, or that has a pull consumer, is a `Conflict` (the caller's transaction then stores
/// nothing).
pub fn put_consumers(
    tx: &mut dyn Tx,
    tenant: &str,
    id: &str,
    consumers: &[Consumer],
) -> Result<(), StoreError> {
    for c in consumers {
        lock_consumer(tx, tenant, &c.queue)?;
        if pull_consumer(tx, tenant, &c.queue)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "triggers.queues: queue {:?} has an HTTP pull consumer (a queue has one consumer; \
                 DELETE /v1/queues/{}/consumer first)",
                c.queue, c.queue
            )));
        }
        let settings = serde_json::to_string(c).map_err(|e| StoreError::Backend(e.to_string()))?;
        tx.exec(
            "INSERT INTO queue_consumers (tenant, queue, id, settings) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (tenant, queue) DO NOTHING",
            &[
                tenant.into(),
                c.queue.as_str().into(),
                id.into(),
                settings.into(),
            ],
        )?;
        let rows = tx.query(
            "SELECT id FROM queue_consumers WHERE tenant = ?1 AND queue = ?2",
            &[tenant.into(), c.queue.as_str().into()],
        )?;
        let holder = rows.first().map(|r| r.text(0)).transpose()?;
        if holder.as_deref() != Some(id) {
            return Err(StoreError::Conflict(format!(
                "triggers.queues: queue {:?} already has a consumer, worker {} (a queue has one \
                 consumer; delete that worker first)",
                c.queue,
                holder.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Forgets the consumers of `tenant`'s worker `id` (its messages stay, for a next consumer).
pub fn delete_consumers(tx: &mut dyn Tx, tenant: &str, id: &str) -> Result<(), StoreError> {
    tx.exec(
        "DELETE FROM queue_consumers WHERE tenant = ?1 AND id = ?2",
        &[tenant.into(), id.into()],
    )?;
    Ok(())
}

/// Every consumer of every tenant, in order. A row whose settings do not parse is `Corrupt`.
pub fn list_consumers(tx: &mut dyn Tx) -> Result<Vec<StoredConsumer>, StoreError> {
    let rows = tx.query(
        "SELECT tenant, id, settings FROM queue_consumers ORDER BY tenant, queue",
        &[],
    )?;
    rows.iter()
        .map(|row| {
            let settings = row.text(2)?;
            Ok(StoredConsumer {
                tenant: row.text(0)?,
                worker: row.text(1)?,
                consumer: serde_json::from_str(&settings)
                    .map_err(|e| StoreError::Corrupt(format!("a queue consumer: {e}")))?,
            })
        })
        .collect()
}

/// The worker consuming `tenant`'s `queue`, if any.
pub fn consumer_of(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
) -> Result<Option<String>, StoreError> {
    let rows = tx.query(
        "SELECT id FROM queue_consumers WHERE tenant = ?1 AND queue = ?2",
        &[tenant.into(), queue.into()],
    )?;
    rows.first().map(|r| r.text(0)).transpose()
}

/// Stores `messages` in `tenant`'s `queue`, created at `now_ms`, never delivered yet.
pub fn insert(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    messages: &[NewMessage],
    now_ms: i64,
) -> Result<(), StoreError> {
    for m in messages {
        tx.exec(
            "INSERT INTO queue_messages (tenant, queue, id, content_type, body, attempts, \
             created_ms, visible_ms) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
            &[
                tenant.into(),
                queue.into(),
                m.id.as_str().into(),
                m.content_type.as_str().into(),
                Val::Blob(m.body.clone()),
                now_ms.into(),
                m.visible_ms.into(),
            ],
        )?;
    }
    Ok(())
}

/// `tenant`'s `queue` at `now_ms`: (messages stored, of which deliverable now, the earliest time
/// one of those became deliverable).
pub fn backlog(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    now_ms: i64,
) -> Result<(i64, i64, Option<i64>), StoreError> {
    let rows = tx.query(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN visible_ms <= ?3 THEN 1 ELSE 0 END), 0), \
         MIN(CASE WHEN visible_ms <= ?3 THEN visible_ms END) \
         FROM queue_messages WHERE tenant = ?1 AND queue = ?2",
        &[tenant.into(), queue.into(), now_ms.into()],
    )?;
    let Some(row) = rows.first() else {
        return Ok((0, 0, None));
    };
    let oldest = match row.0.get(2) {
        Some(Val::Int(v)) => Some(*v),
        _ => None,
    };
    Ok((row.int(0)?, row.int(1)?, oldest))
}

/// Claims up to `n` messages of `tenant`'s `queue` deliverable at `now_ms`, oldest first, for
/// the daemon `holder`: each counts one more attempt and is invisible until `lease_until_ms`
/// (a pull's lease it had, ended, is forgotten).
pub fn claim(
    tx: &mut dyn Tx,
    holder: &str,
    tenant: &str,
    queue: &str,
    now_ms: i64,
    n: usize,
    lease_until_ms: i64,
) -> Result<Vec<Claimed>, StoreError> {
    let due = deliverable(tx, tenant, queue, now_ms, n)?;
    for m in &due {
        lease(tx, tenant, queue, m, lease_until_ms, Some(holder), None)?;
    }
    Ok(due)
}

/// Up to `n` messages of `tenant`'s `queue` deliverable at `now_ms`, oldest first (by when each
/// became deliverable), locked for this transaction on PostgreSQL; `attempts` counts the
/// delivery about to be made.
fn deliverable(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    now_ms: i64,
    n: usize,
) -> Result<Vec<Claimed>, StoreError> {
    let sql = format!(
        "SELECT id, content_type, body, attempts, created_ms FROM queue_messages \
         WHERE tenant = ?1 AND queue = ?2 AND visible_ms <= ?3 \
         ORDER BY visible_ms, created_ms, id LIMIT ?4{}",
        tx.for_update()
    );
    let limit = i64::try_from(n).unwrap_or(i64::MAX);
    let rows = tx.query(
        &sql,
        &[tenant.into(), queue.into(), now_ms.into(), limit.into()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for mut row in rows {
        out.push(Claimed {
            id: row.text(0)?,
            content_type: row.text(1)?,
            body: row.blob(2)?,
            attempts: row.int(3)?.saturating_add(1),
            created_ms: row.int(4)?,
        });
    }
    Ok(out)
}

/// Records the delivery of `m` (its attempts), invisible until `until`, held by the daemon
/// `holder` (a push delivery) or by the HTTP client whose lease hashes to `pull_lease` (a pull).
fn lease(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    m: &Claimed,
    until: i64,
    holder: Option<&str>,
    pull_lease: Option<&str>,
) -> Result<(), StoreError> {
    tx.exec(
        "UPDATE queue_messages SET attempts = ?4, visible_ms = ?5, holder = ?6, lease = ?7 \
         WHERE tenant = ?1 AND queue = ?2 AND id = ?3",
        &[
            tenant.into(),
            queue.into(),
            m.id.as_str().into(),
            m.attempts.into(),
            until.into(),
            holder.map_or(Val::Null, Val::from),
            pull_lease.map_or(Val::Null, Val::from),
        ],
    )?;
    Ok(())
}

/// Deletes message `id` of `tenant`'s `queue` (acknowledged); whether it was there.
pub fn ack(tx: &mut dyn Tx, tenant: &str, queue: &str, id: &str) -> Result<bool, StoreError> {
    remove(tx, tenant, queue, id)
}

/// Deletes message `id` (acknowledged, or dropped after its last attempt).
pub fn remove(tx: &mut dyn Tx, tenant: &str, queue: &str, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec(
        "DELETE FROM queue_messages WHERE tenant = ?1 AND queue = ?2 AND id = ?3",
        &[tenant.into(), queue.into(), id.into()],
    )? > 0)
}

/// Makes message `id` deliverable again at `visible_ms` (a retry), held by no daemon nor pull.
pub fn retry(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    id: &str,
    visible_ms: i64,
) -> Result<bool, StoreError> {
    Ok(tx.exec(
        "UPDATE queue_messages SET visible_ms = ?4, holder = NULL, lease = NULL \
         WHERE tenant = ?1 AND queue = ?2 AND id = ?3",
        &[tenant.into(), queue.into(), id.into(), visible_ms.into()],
    )? > 0)
}

/// Moves message `id` from `tenant`'s `queue` to its queue `to` (a dead-letter queue), with no
/// attempts, deliverable at `now_ms`, held by no daemon nor pull; whether it was there.
pub fn move_to(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    id: &str,
    to: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    Ok(tx.exec(
        "UPDATE queue_messages SET queue = ?4, attempts = 0, visible_ms = ?5, holder = NULL, \
         lease = NULL \
         WHERE tenant = ?1 AND queue = ?2 AND id = ?3",
        &[
            tenant.into(),
            queue.into(),
            id.into(),
            to.into(),
            now_ms.into(),
        ],
    )? > 0)
}

/// Releases every lease the daemon `holder` holds, of every tenant's queues: those messages are
/// deliverable at `now_ms` (or when they already were, if earlier: a lease that ended), held by
/// no daemon, their attempts kept (the interrupted delivery counts, as when a lease ends). The
/// messages other daemons hold are untouched. How many were released.
pub fn release_held(tx: &mut dyn Tx, holder: &str, now_ms: i64) -> Result<u64, StoreError> {
    tx.exec(
        "UPDATE queue_messages SET holder = NULL, \
         visible_ms = CASE WHEN visible_ms > ?2 THEN ?2 ELSE visible_ms END \
         WHERE holder = ?1",
        &[holder.into(), now_ms.into()],
    )
}
