//! Queues over HTTP and the delivery of a batch to its consumer (`crate::queues`):
//! `POST /v1/queues/{name}/messages` sends as a producer binding does (the tenant's own queue
//! `name`), `GET /v1/queues/{name}` says its backlog and consumer, and [`deliver`] runs one due
//! batch of the dispatcher's in the consumer's isolate (`Call::Queue`, `js/queue.js`).
//!
//! Guarantees: a batch is a request of the consumer's tenant: admitted by its quotas (a refusal
//! leaves the messages where they are for a later look), placed by its cordon, under the
//! worker's CPU and memory limits and the wall-clock limit of events (`[limits]
//! event_wall_ms`); its console lines go to the worker's log ring; its messages are claimed
//! with a lease longer than the run may last (`queues::deliver::lease_end`), and settled after it whatever
//! happened (`queues::deliver`). The HTTP body is `{"messages": [{"body", "contentType"?,
//! "delaySeconds"?}]}` (a "bytes" body in base64, "v8" not taken), checked as a worker's send
//! is; a name that is not a queue name is a 400. Trusts: the worker's answer only as far as it
//! parses.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use stockade_ipc::{limits::DEFAULT_WALL_MS, Call, LogLevel, LogLine, Reply};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
use super::loader::{find, tenant_and_json};
use super::AppState;
use crate::queues::deliver::{call_parts, lease_end, parse_answer};
use crate::queues::producer::{Outgoing, SendError};
use crate::queues::Queues;
use crate::store::queues::{self as stored, StoredConsumer};
use crate::supervisor::bindings::valid_database_name;
use crate::supervisor::{Job, Streams};

/// Delivers one due batch of `c`'s queue; whether a batch ran.
pub async fn deliver(state: &AppState, queues: &Queues, c: &StoredConsumer) -> bool {
    let _permit = match state.quotas.admit(&c.tenant) {
        Ok(Some(permit)) => permit,
        Ok(None) | Err(_) => return false,
    };
    let Ok(def) = find(state, &c.tenant, &c.worker).await else {
        return false;
    };
    if def.deleted.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let wall = if def.limits.wall_ms == 0 {
        DEFAULT_WALL_MS
    } else {
        def.limits.wall_ms
    };
    let now = crate::queues::now_ms();
    let event_wall = state.config.limits.event_wall_ms;
    let lease = lease_end(now, wall, event_wall);
    let n = c.consumer.max_batch_size as usize;
    let claimed = match queues
        .claim(&c.tenant, &c.consumer.queue, now, n, lease)
        .await
    {
        Ok(claimed) if !claimed.is_empty() => claimed,
        Ok(_) => return false,
        Err(e) => {
            tracing::warn!("cannot claim a queue batch: {e}");
            return false;
        }
    };
    let held = i64::try_from(claimed.len()).unwrap_or(i64::MAX);
    queues.backlog.in_flight(&c.tenant, &c.consumer.queue, held);
    let (messages_json, bodies) = call_parts(&claimed);
    let id = def.log_ring();
    let call = Call::Queue {
        queue: c.consumer.queue.clone(),
        messages_json,
        bodies,
        wall_ms: event_wall,
    };
    let streams = Streams {
        after_logs: Some(state.logs.after_answer(&id)),
        ..Streams::default()
    };
    let job = Job::Call { def, call, streams };
    let (answer, mut logs, failure) = match state.pool.submit(&c.tenant, job).await {
        Ok(outcome) => match outcome.result {
            Ok(Reply::Json(json)) => {
                let answer = parse_answer(&json);
                let failure = match &answer {
                    Some(a) if a.ok => None,
                    Some(a) => Some(a.outcome.clone()),
                    None => Some("a malformed answer".to_owned()),
                };
                (answer, outcome.logs, failure)
            }
            Ok(other) => (
                None,
                outcome.logs,
                Some(format!("an unexpected answer {other:?}")),
            ),
            Err(e) => (
                None,
                outcome.logs,
                Some(format!("{:?}: {}", e.kind, e.message)),
            ),
        },
        Err(e) => (None, Vec::new(), Some(e.to_string())),
    };
    if answer.as_ref().is_some_and(|a| a.outcome == "noHandler") {
        logs.push(LogLine {
            level: LogLevel::Warn,
            text: format!(
                "a batch of queue {:?} was delivered, but the worker has no queue handler \
                 (the messages are retried)",
                c.consumer.queue
            ),
        });
    }
    state.logs.record(&id, &logs);
    if let Some(failure) = failure {
        tracing::info!(
            tenant = %c.tenant,
            worker = %c.worker,
            queue = %c.consumer.queue,
            "a queue batch failed ({failure}); its messages are retried"
        );
    }
    if let Err(e) = queues.settle(&c.tenant, &c.consumer, claimed, answer).await {
        // The lease ends and the batch is delivered again: at least once.
        tracing::warn!("cannot settle a queue batch (delivered again later): {e}");
    }
    queues
        .backlog
        .in_flight(&c.tenant, &c.consumer.queue, -held);
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    messages: Vec<SendMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SendMessage {
    body: serde_json::Value,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    delay_seconds: u32,
}

pub(super) fn queue_name(name: &str) -> Result<(), ApiError> {
    if valid_database_name(name) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "a queue name is 1-64 of [A-Za-z0-9_-]".into(),
        ))
    }
}

/// `POST /v1/queues/{name}/messages`: stores the messages in the tenant's queue `name`; 202
/// `{"sent": n}` once they are durable.
pub async fn send(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (tenant, body): (String, SendBody) = tenant_and_json(&who, body, "a queue send's JSON")?;
    queue_name(&name)?;
    let mut out = Vec::with_capacity(body.messages.len());
    for (i, m) in body.messages.into_iter().enumerate() {
        let kind = m.content_type.unwrap_or_else(|| "json".into());
        let bytes = match (kind.as_str(), m.body) {
            ("json", v) => v.to_string().into_bytes(),
            ("text", serde_json::Value::String(s)) => s.into_bytes(),
            ("bytes", serde_json::Value::String(s)) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| ApiError::BadRequest(format!("messages[{i}].body: {e}")))?,
            ("text" | "bytes", _) => {
                return Err(ApiError::BadRequest(format!(
                    "messages[{i}].body: a \"{kind}\" body is a string (base64 for bytes)"
                )))
            }
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "messages[{i}].contentType must be \"json\", \"text\" or \"bytes\""
                )))
            }
        };
        out.push(Outgoing {
            content_type: kind,
            body: bytes,
            delay_seconds: m.delay_seconds,
        });
    }
    match state.queues.send(&tenant, &name, out).await {
        Ok(n) => Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "sent": n }))).into_response()),
        Err(SendError::Refused(r)) => Err(ApiError::BadRequest(r.message().to_owned())),
        Err(SendError::Store(e)) => Err(ApiError::from(e)),
    }
}

/// `GET /v1/queues/{name}`: `{"queue", "backlog", "ready", "consumer"}` of the tenant's queue.
pub async fn describe(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    queue_name(&name)?;
    let now = crate::queues::now_ms();
    let (t, q) = (tenant.clone(), name.clone());
    let (backlog, consumer) = state
        .store
        .tx(move |tx| {
            let backlog = stored::backlog(tx, &t, &q, now)?;
            Ok((backlog, stored::consumer_of(tx, &t, &q)?))
        })
        .await?;
    Ok(Json(serde_json::json!({
        "queue": name,
        "backlog": backlog.0,
        "ready": backlog.1,
        "consumer": consumer,
    }))
    .into_response())
}
