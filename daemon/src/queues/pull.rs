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
//! (`store::queues::pull`). A pulled queue has its pull consumer's settings ([`PullSettings`],
//! `PUT /v1/queues/{name}/consumer`), else Cloudflare's defaults: after `max_retries + 1`
//! deliveries (an explicit retry, or a lease left to end) the message goes to the dead-letter
//! queue, or is dropped when there is none; a retry without a delay waits `retry_delay`; a pull
//! without a batch size or a visibility timeout gets the settings'. Trusts: the store; nothing
//! of the lease_ids it is given.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
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

/// A queue's HTTP pull consumer (`PUT /v1/queues/{name}/consumer`), with Cloudflare's names and
/// defaults (`wrangler queues consumer http add`: batch size 5, visibility 30 s, 3 retries, no
/// dead-letter queue, no retry delay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullSettings {
    /// Messages of a pull that names no `batch_size`.
    #[serde(default = "default_batch")]
    pub batch_size: u32,
    /// The lease of a pull that names no `visibility_timeout_ms`, ms.
    #[serde(default = "default_visibility")]
    pub visibility_timeout_ms: u32,
    /// Deliveries beyond the first before a message goes to `dead_letter_queue` (or is dropped).
    #[serde(default = "super::default_retries")]
    pub max_retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_queue: Option<String>,
    /// The delay of a retry that names none, seconds.
    #[serde(default)]
    pub retry_delay: u32,
}

fn default_batch() -> u32 {
    DEFAULT_BATCH
}
fn default_visibility() -> u32 {
    DEFAULT_VISIBILITY_MS
}

impl Default for PullSettings {
    fn default() -> Self {
        PullSettings {
            batch_size: DEFAULT_BATCH,
            visibility_timeout_ms: DEFAULT_VISIBILITY_MS,
            max_retries: super::default_retries(),
            dead_letter_queue: None,
            retry_delay: 0,
        }
    }
}

impl PullSettings {
    /// Checks the settings of `queue`'s pull consumer: each number in Cloudflare's range, a
    /// dead-letter queue a valid name other than the queue; the error names the field.
    pub fn check(&self, queue: &str) -> Result<(), String> {
        if !(1..=MAX_PULL_BATCH).contains(&self.batch_size) {
            return Err(format!("batch_size must be 1 to {MAX_PULL_BATCH}"));
        }
        if !(1..=MAX_VISIBILITY_MS).contains(&self.visibility_timeout_ms) {
            return Err(format!(
                "visibility_timeout_ms must be 1 to {MAX_VISIBILITY_MS}"
            ));
        }
        super::check_retries(
            queue,
            self.max_retries,
            self.retry_delay,
            self.dead_letter_queue.as_deref(),
        )
    }

    /// The settings as a consumer's, for a message's fate ([`fate`]).
    pub fn consumer(&self, queue: &str) -> Consumer {
        Consumer {
            queue: queue.to_owned(),
            max_batch_size: self.batch_size,
            max_batch_timeout: 0,
            max_retries: self.max_retries,
            dead_letter_queue: self.dead_letter_queue.clone(),
            retry_delay: self.retry_delay,
            max_concurrency: None,
        }
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
    /// Leases up to `n` (default: the settings' batch size) deliverable messages of `tenant`'s
    /// `queue` for `visibility_ms` (default: the settings'); with the messages the queue then
    /// holds (leased and delayed ones included).
    pub async fn pull(
        &self,
        tenant: &str,
        queue: &str,
        n: Option<u32>,
        visibility_ms: Option<u32>,
    ) -> Result<(Vec<PulledMessage>, i64), PullError> {
        let (tenant, queue) = (tenant.to_owned(), queue.to_owned());
        let result = self
            .store
            .tx(move |tx| {
                if let Some(worker) = stored::consumer_of(tx, &tenant, &queue)? {
                    return Ok(Err(worker));
                }
                // The settings in the same transaction as the pull: one version of them.
                let settings = stored::pull_consumer(tx, &tenant, &queue)?.unwrap_or_default();
                let n = n.unwrap_or(settings.batch_size);
                let visibility_ms = visibility_ms.unwrap_or(settings.visibility_timeout_ms);
                let max_deliveries = i64::from(settings.max_retries) + 1;
                let dead_letter = settings.dead_letter_queue;
                let mut secrets = Vec::with_capacity(n as usize);
                let mut hashes = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let (secret, hash) = new_lease()?;
                    secrets.push(secret);
                    hashes.push(hash);
                }
                let now = now_ms();
                let until = now.saturating_add(i64::from(visibility_ms));
                let pulled = stored::pull(
                    tx,
                    &tenant,
                    &queue,
                    now,
                    until,
                    max_deliveries,
                    dead_letter.as_deref(),
                    &hashes,
                )?;
                let backlog = stored::backlog(tx, &tenant, &queue, now)?.0;
                Ok(Ok((pulled, backlog, secrets)))
            })
            .await?;
        let (pulled, backlog, secrets) = result.map_err(PullError::Consumed)?;
        self.count("pulled", pulled.leased.len() as u64);
        self.count("dropped", pulled.dropped);
        self.count("dead_lettered", pulled.dead_lettered);
        if pulled.dead_lettered > 0 {
            // The dead-letter queue may be a worker's: its dispatcher looks now.
            self.wake.notify_one();
        }
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
    /// `retries` (lease_id, delay seconds, default the settings' `retry_delay`) delivered again
    /// after its delay, or, out of deliveries, moved to the dead-letter queue (dropped when there
    /// is none). Acks first; a lease unknown, ended, or already settled is a warning.
    pub async fn ack_leases(
        &self,
        tenant: &str,
        queue: &str,
        acks: Vec<String>,
        retries: Vec<(String, Option<u32>)>,
    ) -> Result<Acked, StoreError> {
        let (tenant, queue) = (tenant.to_owned(), queue.to_owned());
        let (acked, (dropped, dead_lettered)) = self
            .store
            .tx(move |tx| {
                let now = now_ms();
                let settings = stored::pull_consumer(tx, &tenant, &queue)?.unwrap_or_default();
                let consumer = settings.consumer(&queue);
                let mut out = Acked::default();
                let (mut dropped, mut dead_lettered) = (0u64, 0u64);
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
                        Said::Retry(delay.map(|d| d.min(MAX_DELAY))),
                        true,
                    ) {
                        Fate::Retry(d) => {
                            let at = now.saturating_add(i64::from(d) * 1000);
                            stored::retry(tx, &tenant, &queue, id, at)?;
                        }
                        Fate::DeadLetter => {
                            let to = consumer.dead_letter_queue.as_deref().unwrap_or(&queue);
                            stored::move_to(tx, &tenant, &queue, id, to, now)?;
                            dead_lettered += 1;
                        }
                        Fate::Drop | Fate::Ack => {
                            stored::remove(tx, &tenant, &queue, id)?;
                            dropped += 1;
                        }
                    }
                    out.retried += 1;
                }
                Ok((out, (dropped, dead_lettered)))
            })
            .await?;
        self.count("acked", acked.acked);
        let settled = dropped + dead_lettered;
        self.count("retried", acked.retried.saturating_sub(settled));
        self.count("dropped", dropped);
        self.count("dead_lettered", dead_lettered);
        if dead_lettered > 0 {
            self.wake.notify_one();
        }
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
    fn a_pulled_queue_has_cloudflares_pull_defaults_and_its_settings_are_checked() {
        let d = PullSettings::default();
        assert_eq!(d.check("q"), Ok(()));
        assert_eq!(
            serde_json::from_str::<PullSettings>("{}").expect("defaults"),
            d
        );
        let c = d.consumer("q");
        assert_eq!((c.max_retries, c.dead_letter_queue.as_deref()), (3, None));
        assert_eq!(fate(&c, 4, Said::Retry(Some(1)), true), Fate::Drop);
        assert_eq!(fate(&c, 3, Said::Retry(Some(1)), true), Fate::Retry(1));
        let set = PullSettings {
            max_retries: 0,
            dead_letter_queue: Some("dlq".into()),
            retry_delay: 7,
            ..d.clone()
        };
        let c = set.consumer("q");
        assert_eq!(fate(&c, 1, Said::Retry(None), true), Fate::DeadLetter);
        assert_eq!(
            fate(
                &PullSettings {
                    max_retries: 1,
                    ..set.clone()
                }
                .consumer("q"),
                1,
                Said::Retry(None),
                true
            ),
            Fate::Retry(7)
        );
        for (bad, field) in [
            (
                PullSettings {
                    batch_size: 0,
                    ..d.clone()
                },
                "batch_size",
            ),
            (
                PullSettings {
                    batch_size: 101,
                    ..d.clone()
                },
                "batch_size",
            ),
            (
                PullSettings {
                    visibility_timeout_ms: 0,
                    ..d.clone()
                },
                "visibility_timeout_ms",
            ),
            (
                PullSettings {
                    max_retries: 101,
                    ..d.clone()
                },
                "max_retries",
            ),
            (
                PullSettings {
                    retry_delay: MAX_DELAY + 1,
                    ..d.clone()
                },
                "retry_delay",
            ),
            (
                PullSettings {
                    dead_letter_queue: Some("q".into()),
                    ..d.clone()
                },
                "dead_letter_queue",
            ),
            (
                PullSettings {
                    dead_letter_queue: Some("../x".into()),
                    ..d.clone()
                },
                "dead_letter_queue",
            ),
        ] {
            let e = bad.check("q").expect_err(field);
            assert!(e.starts_with(field), "{e}");
        }
    }
}
