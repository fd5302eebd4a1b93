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
//! another tenant's or queue's message finds nothing. Trusts: its callers for the lease hashes
//! and the tenant.

use super::{deliverable, lease, remove, Claimed};
use crate::store::{StoreError, Tx};

/// What a pull did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pulled {
    /// The messages leased, oldest first: the i-th under the i-th lease given.
    pub leased: Vec<Claimed>,
    /// Messages out of deliveries, deleted instead.
    pub dropped: u64,
}

/// Leases up to `leases.len()` messages of `tenant`'s `queue` deliverable at `now_ms` to an
/// HTTP pull, until `lease_until_ms`: the i-th leased records `leases[i]`, held by no daemon. One
/// already delivered `max_deliveries` times is deleted instead (and the next one looked at).
pub fn pull(
    tx: &mut dyn Tx,
    tenant: &str,
    queue: &str,
    now_ms: i64,
    lease_until_ms: i64,
    max_deliveries: i64,
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
                remove(tx, tenant, queue, &m.id)?;
                out.dropped += 1;
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
