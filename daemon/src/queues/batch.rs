//! The dispatcher's arithmetic, with no clock and no store: when a consumer's batch is due, and
//! what becomes of a message after a delivery.
//!
//! Guarantees: a batch is due once `max_batch_size` messages are deliverable or the earliest of
//! them has waited `max_batch_timeout` seconds (never with none); a message explicitly acked, or
//! left alone by a handler that returned, is acked; one retried, or left alone by a handler that
//! failed, is delivered again after its delay unless it has had `max_retries + 1` deliveries, when
//! it goes to the dead-letter queue if there is one and is dropped otherwise. Trusts: nothing.

use super::Consumer;

/// Whether `consumer`'s batch is due at `now_ms`, given `ready` deliverable messages, the
/// earliest deliverable since `oldest_ms`.
pub fn due(consumer: &Consumer, ready: i64, oldest_ms: Option<i64>, now_ms: i64) -> bool {
    if ready <= 0 {
        return false;
    }
    if ready >= i64::from(consumer.max_batch_size) {
        return true;
    }
    let waited = oldest_ms.map_or(0, |t| now_ms.saturating_sub(t));
    waited >= i64::from(consumer.max_batch_timeout) * 1000
}

/// What the handler said of one message (`js/queue.js`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    Ack,
    /// Retry, after this many seconds (`None`: the consumer's `retry_delay`).
    Retry(Option<u32>),
    /// Nothing: the handler's outcome decides.
    Nothing,
}

/// What becomes of one delivered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Ack,
    /// Deliverable again after this many seconds.
    Retry(u32),
    DeadLetter,
    Drop,
}

/// The fate of a message delivered for the `attempts`-th time, of which the handler `said` this,
/// the handler as a whole having succeeded (`ok`) or not.
pub fn fate(consumer: &Consumer, attempts: i64, said: Said, ok: bool) -> Fate {
    let delay = match said {
        Said::Ack => return Fate::Ack,
        Said::Nothing if ok => return Fate::Ack,
        Said::Nothing => consumer.retry_delay,
        Said::Retry(delay) => delay.unwrap_or(consumer.retry_delay),
    };
    if attempts > i64::from(consumer.max_retries) {
        return match consumer.dead_letter_queue {
            Some(_) => Fate::DeadLetter,
            None => Fate::Drop,
        };
    }
    Fate::Retry(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn consumer(size: u32, timeout: u32, retries: u32, dlq: bool) -> Consumer {
        Consumer {
            queue: "q".into(),
            max_batch_size: size,
            max_batch_timeout: timeout,
            max_retries: retries,
            dead_letter_queue: dlq.then(|| "dlq".into()),
            retry_delay: 4,
            max_concurrency: None,
        }
    }

    #[test]
    fn a_batch_is_due_when_full_or_waited_long_enough() {
        let c = consumer(10, 5, 3, false);
        assert!(!due(&c, 0, None, 1_000_000));
        assert!(due(&c, 10, Some(999_999), 1_000_000), "full");
        assert!(!due(&c, 9, Some(996_000), 1_000_000), "4 s of 5");
        assert!(due(&c, 1, Some(995_000), 1_000_000), "5 s");
        assert!(due(
            &consumer(10, 0, 3, false),
            1,
            Some(1_000_000),
            1_000_000
        ));
    }

    #[test]
    fn fates_follow_what_was_said_and_the_retries_left() {
        let c = consumer(10, 5, 3, true);
        assert_eq!(fate(&c, 9, Said::Ack, false), Fate::Ack);
        assert_eq!(fate(&c, 1, Said::Nothing, true), Fate::Ack);
        assert_eq!(fate(&c, 1, Said::Nothing, false), Fate::Retry(4));
        assert_eq!(fate(&c, 3, Said::Retry(Some(9)), true), Fate::Retry(9));
        assert_eq!(fate(&c, 4, Said::Retry(None), true), Fate::DeadLetter);
        let c = consumer(10, 5, 0, false);
        assert_eq!(fate(&c, 1, Said::Nothing, false), Fate::Drop);
    }

    proptest! {
        /// A message is delivered exactly `max_retries + 1` times by a consumer that always
        /// fails, then dead-lettered (or dropped); never acked by a failure.
        #[test]
        fn deliveries_are_bounded_by_max_retries(retries in 0u32..100, dlq: bool, explicit: bool) {
            let c = consumer(10, 5, retries, dlq);
            let said = if explicit { Said::Retry(None) } else { Said::Nothing };
            let mut attempts = 0i64;
            let end = loop {
                attempts += 1;
                match fate(&c, attempts, said, explicit) {
                    Fate::Retry(_) => continue,
                    other => break other,
                }
            };
            prop_assert_eq!(attempts, i64::from(retries) + 1);
            prop_assert_eq!(end, if dlq { Fate::DeadLetter } else { Fate::Drop });
        }

        /// Due is monotonic: more messages or a longer wait never make a due batch not due.
        #[test]
        fn due_is_monotonic(size in 1u32..=100, timeout in 0u32..=60, ready in 0i64..200,
                            waited in 0i64..120_000, more in 0i64..50, longer in 0i64..60_000) {
            let c = consumer(size, timeout, 3, false);
            let now = 10_000_000;
            if due(&c, ready, Some(now - waited), now) {
                prop_assert!(due(&c, ready + more, Some(now - waited - longer), now));
            }
            prop_assert!(!due(&c, 0, Some(now - waited), now));
        }
    }
}
