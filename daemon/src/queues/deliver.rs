//! One delivery: a claimed batch becomes a `Call::Queue` (its messages' JSON and bodies), the
//! handler's answer becomes each message's fate, and the fates are written to the store.
//!
//! Guarantees: a batch's lease outlasts the longest its delivery may take ([`lease_end`]: the
//! consumer's load, then the batch under `[limits] event_wall_ms`), so it is not delivered
//! again while its handler runs; only the ids of the batch are read from the answer (an id the handler invents
//! changes nothing); a run that did not answer (a limit, a crash, a malformed answer) retries the
//! whole batch; every message of the batch leaves its lease in the same transaction (acked,
//! retried with its delay, dead-lettered or dropped). Trusts: the store; the worker's answer only
//! as far as it parses.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use super::batch::{fate, Fate, Said};
use super::{now_ms, Consumer, Queues};
use crate::store::queues::{self as stored, Claimed};
use crate::store::StoreError;

/// How long a delivery's lease outlasts the longest its job may take.
const LEASE_MARGIN_MS: i64 = 15_000;

/// When the lease of a batch claimed at `now` (ms) ends: after the longest its job may take (a
/// load of the consumer first, under the worker's wall-clock limit `load_wall_ms`, then the
/// batch, under its own `event_wall_ms`), and a margin. A lease that ended sooner would deliver
/// the batch again while its handler still runs.
pub fn lease_end(now: i64, load_wall_ms: u32, event_wall_ms: u32) -> i64 {
    now.saturating_add(i64::from(load_wall_ms))
        .saturating_add(i64::from(event_wall_ms))
        .saturating_add(LEASE_MARGIN_MS)
}

/// `claimed` as the isolate reads it: the messages' JSON and their bodies back to back.
pub fn call_parts(claimed: &[Claimed]) -> (Vec<u8>, Vec<u8>) {
    let mut bodies = Vec::with_capacity(claimed.iter().map(|m| m.body.len()).sum());
    let mut list = Vec::with_capacity(claimed.len());
    for m in claimed {
        list.push(json!({
            "id": m.id,
            "timestamp": m.created_ms,
            "attempts": m.attempts,
            "contentType": m.content_type,
            "body": [bodies.len(), m.body.len()],
        }));
        bodies.extend_from_slice(&m.body);
    }
    let messages = serde_json::to_vec(&list).unwrap_or_else(|_| b"[]".to_vec());
    (messages, bodies)
}

/// What a handler's answer said: whether it succeeded, and of each message it named.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub ok: bool,
    pub outcome: String,
    pub said: HashMap<String, Said>,
}

/// The answer of `js/queue.js`, or `None` when it does not parse (the batch is retried).
pub fn parse_answer(json: &[u8]) -> Option<Answer> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct One {
        id: String,
        action: String,
        #[serde(default)]
        delay_seconds: Option<u32>,
    }
    #[derive(Deserialize)]
    struct Raw {
        outcome: String,
        #[serde(default)]
        messages: Vec<One>,
    }
    let raw: Raw = serde_json::from_slice(json).ok()?;
    let said = raw
        .messages
        .into_iter()
        .map(|m| {
            let said = match m.action.as_str() {
                "ack" => Said::Ack,
                "retry" => Said::Retry(m.delay_seconds.map(|d| d.min(super::MAX_DELAY))),
                _ => Said::Nothing,
            };
            (m.id, said)
        })
        .collect();
    Some(Answer {
        ok: raw.outcome == "ok",
        outcome: raw.outcome,
        said,
    })
}

/// How many messages of a batch ended each way.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub acked: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    pub dropped: u64,
}

impl Queues {
    /// Writes the fates of `claimed` (of `tenant`'s queue `consumer.queue`) after `answer` (None:
    /// the run failed without one), and counts them.
    pub async fn settle(
        &self,
        tenant: &str,
        consumer: &Consumer,
        claimed: Vec<Claimed>,
        answer: Option<Answer>,
    ) -> Result<Tally, StoreError> {
        let (tenant, consumer) = (tenant.to_owned(), consumer.clone());
        let tally = self
            .store
            .tx(move |tx| {
                let now = now_ms();
                let mut tally = Tally::default();
                let queue = consumer.queue.as_str();
                for m in &claimed {
                    let (said, ok) = match &answer {
                        Some(a) => (a.said.get(&m.id).copied().unwrap_or(Said::Nothing), a.ok),
                        None => (Said::Nothing, false),
                    };
                    match fate(&consumer, m.attempts, said, ok) {
                        Fate::Ack => {
                            stored::ack(tx, &tenant, queue, &m.id)?;
                            tally.acked += 1;
                        }
                        Fate::Retry(delay) => {
                            let at = now + i64::from(delay) * 1000;
                            stored::retry(tx, &tenant, queue, &m.id, at)?;
                            tally.retried += 1;
                        }
                        Fate::DeadLetter => {
                            let to = consumer.dead_letter_queue.as_deref().unwrap_or(queue);
                            stored::move_to(tx, &tenant, queue, &m.id, to, now)?;
                            tally.dead_lettered += 1;
                        }
                        Fate::Drop => {
                            stored::remove(tx, &tenant, queue, &m.id)?;
                            tally.dropped += 1;
                        }
                    }
                }
                Ok(tally)
            })
            .await?;
        self.count("acked", tally.acked);
        self.count("retried", tally.retried);
        self.count("dead_lettered", tally.dead_lettered);
        self.count("dropped", tally.dropped);
        if tally.dead_lettered > 0 {
            self.wake.notify_one();
        }
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_outlasts_a_load_and_the_event_wall() {
        assert_eq!(
            lease_end(1_000, 30_000, 900_000),
            1_000 + 30_000 + 900_000 + 15_000
        );
        assert_eq!(lease_end(i64::MAX - 5, u32::MAX, u32::MAX), i64::MAX);
    }

    #[test]
    fn answers_parse_into_what_was_said() {
        let a = parse_answer(
            br#"{"outcome":"exception","error":{"name":"E","message":"m"},"messages":[
                {"id":"a","action":"ack"},{"id":"b","action":"retry","delaySeconds":7},
                {"id":"c","action":"retry"},{"id":"d","action":"none"},{"id":"e","action":"?"}]}"#,
        )
        .expect("parses");
        assert!(!a.ok);
        assert_eq!(a.said["a"], Said::Ack);
        assert_eq!(a.said["b"], Said::Retry(Some(7)));
        assert_eq!(a.said["c"], Said::Retry(None));
        assert_eq!(a.said["d"], Said::Nothing);
        assert_eq!(a.said["e"], Said::Nothing);
        assert!(parse_answer(b"not json").is_none());
        assert!(parse_answer(br#"{"outcome":"ok"}"#).expect("parses").ok);
    }

    #[test]
    fn the_call_names_each_body_by_its_range() {
        let m = |id: &str, body: &[u8]| Claimed {
            id: id.into(),
            content_type: "text".into(),
            body: body.to_vec(),
            attempts: 2,
            created_ms: 5,
        };
        let (json, bodies) = call_parts(&[m("a", b"xy"), m("b", b"z")]);
        assert_eq!(bodies, b"xyz");
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(v[1]["body"], json!([2, 1]));
        assert_eq!(v[0]["attempts"], 2);
    }
}
