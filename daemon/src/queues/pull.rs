//! Pull consumers: a tenant's queue with no worker consuming it is pulled over HTTP
//! (`api/queue_pull.rs`): a pull leases a batch for a visibility timeout and gives each message a
//! `lease_id`; an ack names leases to acknowledge or retry.
//!
//! Guarantees: a queue a worker consumes (`triggers.queues`) is never pulled ([`PullError::Consumed`],
//! checked in the pull's transaction); a lease_id is `<message id>.<secret>`, the secret 32
//! random bytes of which the store keeps only the SHA-256, so a lease_id cannot be guessed or
//! derived, and it settles only the message it was given for, of the tenant and queue it was
//! pulled from, while its lease lasts and no later claim has replaced it: anything else is a
//! warning and changes nothing. A pull lease is held by no daemon, so a restart never releases it
//! (`store::queues::pull`). A pulled queue has Cloudflare's defaults ([`pull_consumer`]):
//! after `max_retries + 1` deliveries (an explicit retry, or a lease left to end) the message is
//! dropped. Trusts: the store; nothing of the lease_ids it is given.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::batch::{fate, Fate, Said};
use super::{now_ms, Consumer, Queues, MAX_DELAY};
use crate::store::queues::{self as stored, Claimed};
use crate::store::StoreError;

/// Messages of one pull when `batch_size` is not given (Cloudflare's default).
pub const DEFAULT_BATCH: u32 = 5;
/// Most messages of one pull.
pub const MAX_PULL_BATCH: u32 = 100;
/// A pull's lease when `visibility_timeout_ms` is not given (Cloudflare's 30 s).
pub const DEFAULT_VISIBILITY_MS: u32 = 30_000;
/// Longest pull lease: 12 hours (Cloudflare's).
pub const MAX_VISIBILITY_MS: u32 = 43_200_000;
/// Longest lease_id looked at (longer ones are unknown without a look).
const MAX_LEASE_ID: usize = 256;

/// The settings a pulled queue is consumed under: Cloudflare's defaults for a pull consumer
/// (`max_retries` 3, no dead-letter queue, no retry delay).
pub fn pull_consumer(queue: &str) -> Consumer {
    Consumer {
        queue: queue.to_owned(),
        max_batch_size: DEFAULT_BATCH,
        max_batch_timeout: 0,
        max_retries: 3,
        dead_letter_queue: None,
        retry_delay: 0,
        max_concurrency: None,
    }
}

/// A message leased to a pull.
#[derive(Debug)]
pub struct PulledMessage {
    pub message: Claimed,
    pub lease_id: String,
}

/// Why a pull did not happen.
#[derive(Debug)]
pub enum PullError {
    /// The queue has a push consumer: this worker.
    Consumed(String),
    Store(StoreError),
}

impl From<StoreError> for PullError {
    fn from(e: StoreError) -> Self {
        PullError::Store(e)
    }
}

/// What an ack did: how many leases were acked and retried, and a warning for each one that
/// changed nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Acked {
    pub acked: u64,
    pub retried: u64,
    pub warnings: Vec<String>,
}

/// A new lease secret and the hash the store keeps of it.
fn new_lease() -> Result<(String, String), StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Backend(e.to_string()))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&secret);
    Ok((secret, hash))
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A lease_id's message id and the hash of its secret, if it has the shape of one.
fn parse_lease(lease_id: &str) -> Option<(&str, String)> {
    if lease_id.len() > MAX_LEASE_ID {
        return None;
    }
    let (id, secret) = lease_id.split_once('.')?;
    (!id.is_empty() && !secret.is_empty()).then(|| (id, hash(secret)))
}

impl Queues {
    /// Leases up to `n` deliverable messages of `tenant`'s `queue` for `visibility_ms`; with the
    /// messages the queue then holds (leased and delayed ones included).
    pub async fn pull(
        &self,
        tenant: &str,
        queue: &str,
        n: u32,
        visibility_ms: u32,
    ) -> Result<(Vec<PulledMessage>, i64), PullError> {
        let mut secrets = Vec::with_capacity(n as usize);
        let mut hashes = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let (secret, hash) = new_lease()?;
            secrets.push(secret);
            hashes.push(hash);
        }
        let (tenant, queue) = (tenant.to_owned(), queue.to_owned());
        let max_deliveries = i64::from(pull_consumer(&queue).max_retries) + 1;
        let result = self
            .store
            .tx(move |tx| {
                if let Some(worker) = stored::consumer_of(tx, &tenant, &queue)? {
                    return Ok(Err(worker));
                }
                let now = now_ms();
                let until = now.saturating_add(i64::from(visibility_ms));
                let pulled =
                    stored::pull(tx, &tenant, &queue, now, until, max_deliveries, &hashes)?;
                let backlog = stored::backlog(tx, &tenant, &queue, now)?.0;
                Ok(Ok((pulled, backlog)))
            })
            .await?;
        let (pulled, backlog) = result.map_err(PullError::Consumed)?;
        self.count("pulled", pulled.leased.len() as u64);
        self.count("dropped", pulled.dropped);
        let messages = pulled
            .leased
            .into_iter()
            .zip(secrets)
            .map(|(message, secret)| PulledMessage {
                lease_id: format!("{}.{secret}", message.id),
                message,
            })
            .collect();
        Ok((messages, backlog))
    }

    /// Settles the pull leases of `tenant`'s `queue`: `acks` are acknowledged (deleted), each of
    /// `retries` (lease_id, delay seconds) delivered again after its delay, or dropped if out of
    /// deliveries. Acks first; a lease unknown, ended, or already settled is a warning.
    pub async fn ack_leases(
        &self,
        tenant: &str,
        queue: &str,
        acks: Vec<String>,
        retries: Vec<(String, u32)>,
    ) -> Result<Acked, StoreError> {
        let (tenant, queue) = (tenant.to_owned(), queue.to_owned());
        let (acked, dropped) = self
            .store
            .tx(move |tx| {
                let now = now_ms();
                let consumer = pull_consumer(&queue);
                let mut out = Acked::default();
                let mut dropped = 0u64;
                let ops = acks
                    .iter()
                    .map(|l| (l, None))
                    .chain(retries.iter().map(|(l, d)| (l, Some(*d))));
                for (i, (lease_id, retry)) in ops.enumerate() {
                    let what = match retry {
                        None => format!("acks[{i}]"),
                        Some(_) => format!("retries[{}]", i - acks.len()),
                    };
                    let found = match parse_lease(lease_id) {
                        Some((id, hash)) => stored::leased(tx, &tenant, &queue, id, &hash, now)?
                            .map(|attempts| (id, attempts)),
                        None => None,
                    };
                    let Some((id, attempts)) = found else {
                        out.warnings.push(format!(
                            "{what}: no lease {lease_id:?} of queue {queue:?} is held (unknown, \
                             ended, or already settled); nothing done"
                        ));
                        continue;
                    };
                    let Some(delay) = retry else {
                        stored::ack(tx, &tenant, &queue, id)?;
                        out.acked += 1;
                        continue;
                    };
                    match fate(
                        &consumer,
                        attempts,
                        Said::Retry(Some(delay.min(MAX_DELAY))),
                        true,
                    ) {
                        Fate::Retry(d) => {
                            let at = now.saturating_add(i64::from(d) * 1000);
                            stored::retry(tx, &tenant, &queue, id, at)?;
                        }
                        // A pulled queue has no dead-letter queue: out of deliveries, dropped.
                        Fate::DeadLetter | Fate::Drop | Fate::Ack => {
                            stored::remove(tx, &tenant, &queue, id)?;
                            dropped += 1;
                        }
                    }
                    out.retried += 1;
                }
                Ok((out, dropped))
            })
            .await?;
        self.count("acked", acked.acked);
        self.count("retried", acked.retried.saturating_sub(dropped));
        self.count("dropped", dropped);
        Ok(acked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_id_is_its_message_and_a_secret_only_its_hash_is_kept() {
        let (secret, h) = new_lease().expect("random");
        assert_eq!(secret.len(), 43, "32 bytes, base64url");
        assert_eq!(h, hash(&secret));
        assert_ne!(new_lease().expect("random").0, secret);
        let lease_id = format!("abc.{secret}");
        assert_eq!(parse_lease(&lease_id), Some(("abc", h)));
        for bad in ["", "abc", ".x", "abc.", &"a.".repeat(200)] {
            assert_eq!(parse_lease(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_pulled_queue_has_cloudflares_pull_defaults() {
        let c = pull_consumer("q");
        assert_eq!((c.max_retries, c.dead_letter_queue.as_deref()), (3, None));
        assert_eq!(fate(&c, 4, Said::Retry(Some(1)), true), Fate::Drop);
        assert_eq!(fate(&c, 3, Said::Retry(Some(1)), true), Fate::Retry(1));
    }
}
