//! Sending: the `queue.send` host call of a queue binding (`js/queue.js`), and the checks every
//! send passes, from a worker or from `POST /v1/queues/{name}/messages` (`api/queues.rs`).
//!
//! Wire (the storage calls' framing, `storage::split`): head `{"binding": "Q", "messages":
//! [{"contentType", "delaySeconds", "length"}]}`, then the bodies back to back; answered `{}` once
//! stored, or `{"error": {name, message}}`.
//!
//! Guarantees: a worker sends only to the queue a binding of its *stored* definition names, of
//! its own tenant; nothing the runtime checked is trusted: at most [`MAX_BATCH`] messages and
//! [`MAX_BATCH_BYTES`] of bodies, each at most [`MAX_BODY`], of a known content type ("json" and
//! "v8" bodies JSON text, "text" UTF-8), a delay at most [`MAX_DELAY`]; a send refused for any of
//! these stores nothing and says why (a `TypeError` or `RangeError`). Trusts: the call context.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{now_ms, Queues, MAX_BATCH, MAX_BATCH_BYTES, MAX_BODY, MAX_DELAY};
use crate::storage::{error_head, frame, split};
use crate::store::queues::{self as stored, NewMessage};
use crate::store::StoreError;
use crate::supervisor::bindings::Binding;
use crate::supervisor::{CallContext, HostCalls};

/// One message to send, as a producer gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub content_type: String,
    pub body: Vec<u8>,
    pub delay_seconds: u32,
}

/// Why a send is refused: what the tenant sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A shape or type the API does not take (`TypeError`).
    Type(String),
    /// A size or range past a limit (`RangeError`).
    Range(String),
}

impl Refused {
    fn head(&self) -> Value {
        let (name, message) = match self {
            Refused::Type(m) => ("TypeError", m),
            Refused::Range(m) => ("RangeError", m),
        };
        json!({"error": {"name": name, "message": message}})
    }

    pub fn message(&self) -> &str {
        match self {
            Refused::Type(m) | Refused::Range(m) => m,
        }
    }
}

/// `messages` checked against the limits (see the module's guarantees).
pub fn check(messages: &[Outgoing]) -> Result<(), Refused> {
    if messages.is_empty() {
        return Err(Refused::Type("a send carries at least one message".into()));
    }
    if messages.len() > MAX_BATCH {
        return Err(Refused::Range(format!(
            "a batch is at most {MAX_BATCH} messages"
        )));
    }
    let mut total = 0usize;
    for (i, m) in messages.iter().enumerate() {
        if m.body.len() > MAX_BODY {
            return Err(Refused::Range(format!(
                "message {i}: a message is at most {MAX_BODY} bytes (this one is {})",
                m.body.len()
            )));
        }
        total += m.body.len();
        if m.delay_seconds > MAX_DELAY {
            return Err(Refused::Range(format!(
                "message {i}: delaySeconds must be 0 to {MAX_DELAY}"
            )));
        }
        let text = || std::str::from_utf8(&m.body).is_ok();
        let ok = match m.content_type.as_str() {
            "text" => text(),
            "json" | "v8" => serde_json::from_slice::<serde::de::IgnoredAny>(&m.body).is_ok(),
            "bytes" => true,
            _ => {
                return Err(Refused::Type(format!(
                    "message {i}: contentType must be \"json\", \"text\", \"bytes\" or \"v8\""
                )))
            }
        };
        if !ok {
            return Err(Refused::Type(format!(
                "message {i}: the body is not {} text",
                if m.content_type == "text" {
                    "UTF-8"
                } else {
                    "JSON"
                }
            )));
        }
    }
    if total > MAX_BATCH_BYTES {
        return Err(Refused::Range(format!(
            "a batch is at most {MAX_BATCH_BYTES} bytes (this one is {total})"
        )));
    }
    Ok(())
}

/// A new message id: 32 random hex digits.
fn new_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Why a checked send did not happen.
#[derive(Debug)]
pub enum SendError {
    Refused(Refused),
    Store(StoreError),
}

impl Queues {
    /// Stores `messages` in `tenant`'s `queue` (checked first); answered once they are durable.
    pub async fn send(
        &self,
        tenant: &str,
        queue: &str,
        messages: Vec<Outgoing>,
    ) -> Result<usize, SendError> {
        check(&messages).map_err(SendError::Refused)?;
        let now = now_ms();
        let mut rows = Vec::with_capacity(messages.len());
        for m in messages {
            rows.push(NewMessage {
                id: new_id().map_err(SendError::Store)?,
                content_type: m.content_type,
                body: m.body,
                visible_ms: now + i64::from(m.delay_seconds) * 1000,
            });
        }
        let n = rows.len();
        let (tenant_owned, queue_owned) = (tenant.to_owned(), queue.to_owned());
        self.store
            .tx(move |tx| stored::insert(tx, &tenant_owned, &queue_owned, &rows, now))
            .await
            .map_err(SendError::Store)?;
        self.count("sent", n as u64);
        self.wake.notify_one();
        Ok(n)
    }

    /// Registers `queue.send`.
    pub fn register(self: &Arc<Queues>, calls: &mut HostCalls) {
        let me = Arc::clone(self);
        calls.register_in_context("queue.send", move |context, payload| {
            let me = Arc::clone(&me);
            async move { me.answer_send(context, payload).await }
        });
    }

    async fn answer_send(&self, context: CallContext, payload: Vec<u8>) -> Result<Vec<u8>, String> {
        let (head, bytes) = split(&payload)?;
        let (tenant, name) = context.binding_caller(self.tenants.get(), &head)?;
        let Some(Binding::Queue { queue }) = context.bindings.get(name) else {
            return Err(format!("this worker has no queue binding named {name:?}"));
        };
        let messages = match framed_messages(&head, bytes) {
            Ok(messages) => messages,
            Err(refused) => return Ok(frame(&refused.head(), &[])),
        };
        Ok(match self.send(&tenant, queue, messages).await {
            Ok(_) => frame(&json!({}), &[]),
            Err(SendError::Refused(r)) => frame(&r.head(), &[]),
            Err(SendError::Store(e)) => frame(&error_head(&e), &[]),
        })
    }
}

/// The messages of a `queue.send` head and its bytes.
fn framed_messages(head: &Value, bytes: &[u8]) -> Result<Vec<Outgoing>, Refused> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Framed {
        content_type: String,
        #[serde(default)]
        delay_seconds: u32,
        length: usize,
    }
    let list = head
        .get("messages")
        .cloned()
        .ok_or_else(|| Refused::Type("queue.send: no messages".into()))?;
    let list: Vec<Framed> =
        serde_json::from_value(list).map_err(|e| Refused::Type(format!("queue.send: {e}")))?;
    if list.len() > MAX_BATCH {
        return Err(Refused::Range(format!(
            "a batch is at most {MAX_BATCH} messages"
        )));
    }
    let mut at = 0usize;
    let mut out = Vec::with_capacity(list.len());
    for m in list {
        let end = at
            .checked_add(m.length)
            .filter(|end| *end <= bytes.len())
            .ok_or_else(|| {
                Refused::Type("queue.send: the lengths do not match the bytes".into())
            })?;
        out.push(Outgoing {
            content_type: m.content_type,
            body: bytes[at..end].to_vec(),
            delay_seconds: m.delay_seconds,
        });
        at = end;
    }
    if at != bytes.len() {
        return Err(Refused::Type(
            "queue.send: the lengths do not match the bytes".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kind: &str, body: &[u8], delay: u32) -> Outgoing {
        Outgoing {
            content_type: kind.into(),
            body: body.to_vec(),
            delay_seconds: delay,
        }
    }

    #[test]
    fn sends_are_checked_against_cloudflares_limits() {
        assert_eq!(
            check(&[m("json", b"{\"a\":1}", 0), m("bytes", &[255], 43_200)]),
            Ok(())
        );
        assert!(matches!(check(&[]), Err(Refused::Type(_))));
        assert!(matches!(
            check(&vec![m("json", b"1", 0); 101]),
            Err(Refused::Range(_))
        ));
        assert!(matches!(
            check(&[m("bytes", &vec![0; MAX_BODY + 1], 0)]),
            Err(Refused::Range(_))
        ));
        let big = m("bytes", &vec![0; MAX_BODY], 0);
        assert!(matches!(
            check(&[big.clone(), big.clone(), m("text", b"x", 0)]),
            Err(Refused::Range(_))
        ));
        assert!(matches!(
            check(&[m("json", b"1", 43_201)]),
            Err(Refused::Range(_))
        ));
        assert!(matches!(check(&[m("xml", b"1", 0)]), Err(Refused::Type(_))));
        assert!(matches!(
            check(&[m("json", b"{", 0)]),
            Err(Refused::Type(_))
        ));
        assert!(matches!(
            check(&[m("text", &[0xff], 0)]),
            Err(Refused::Type(_))
        ));
    }

    #[test]
    fn framed_lengths_must_cover_the_bytes_exactly() {
        let head = json!({"messages": [{"contentType": "text", "length": 2}, {"contentType": "json", "delaySeconds": 3, "length": 1}]});
        let got = framed_messages(&head, b"hi1").expect("framed");
        assert_eq!(got, vec![m("text", b"hi", 0), m("json", b"1", 3)]);
        assert!(framed_messages(&head, b"hi").is_err(), "short");
        assert!(framed_messages(&head, b"hi12").is_err(), "long");
        let huge = json!({"messages": [{"contentType": "text", "length": usize::MAX}]});
        assert!(framed_messages(&huge, b"x").is_err());
    }
}
