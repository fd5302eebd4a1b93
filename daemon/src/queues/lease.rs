//! Whose lease a claimed batch is: every claim this daemon makes records its id (the data_dir's
//! `daemon.id`, `serve/daemon_id.rs`), and at start the daemon releases the leases its id holds,
//! which only its predecessor on the same data_dir can have taken, and which that predecessor,
//! dead (the folder's lock is now this daemon's), will never settle: their batches are delivered
//! again at once instead of when their leases end (by default a quarter of an hour later).
//!
//! Guarantees: a release touches only this daemon's id, never a lease another daemon sharing the
//! store holds (each serves a data_dir of its own, so has an id of its own); a released message
//! keeps its attempts, as one whose lease ended does; a message pulled over HTTP (`pull`) is held
//! by no daemon, so no release touches it (its lease ends with its visibility timeout). Trusts:
//! the store, and `serve` to call [`Queues::release_held`] once, after taking the data_dir's lock
//! and before the dispatcher starts.

use super::{now_ms, Queues};
use crate::store::queues::{self as stored, Claimed};
use crate::store::StoreError;

impl Queues {
    /// Claims up to `n` messages of `tenant`'s `queue` deliverable at `now` (ms), leased to this
    /// daemon until `lease_until` (`deliver::lease_end`).
    pub async fn claim(
        &self,
        tenant: &str,
        queue: &str,
        now: i64,
        n: usize,
        lease_until: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let (holder, tenant, queue) = (self.holder.clone(), tenant.to_owned(), queue.to_owned());
        self.store
            .tx(move |tx| stored::claim(tx, &holder, &tenant, &queue, now, n, lease_until))
            .await
    }

    /// Makes every message this daemon's id holds deliverable now (the leases of a predecessor
    /// killed on this data_dir), logged; how many.
    pub async fn release_held(&self) -> Result<u64, StoreError> {
        let holder = self.holder.clone();
        let released = self
            .store
            .tx(move |tx| stored::release_held(tx, &holder, now_ms()))
            .await?;
        if released > 0 {
            tracing::info!(
                "queues: {released} message(s) in flight when this data_dir's previous daemon \
                 stopped are deliverable again now"
            );
        } else {
            tracing::info!("queues: no lease of a previous daemon on this data_dir to release");
        }
        Ok(released)
    }
}
