//! Pull consumers over HTTP (Cloudflare's HTTP pull API, in Stockade's shape):
//! `POST /v1/queues/{name}/messages/pull` leases a batch of the tenant's queue `name`, and
//! `POST /v1/queues/{name}/messages/ack` acknowledges or retries messages by their `lease_id`
//! (`crate::queues::pull`).
//!
//! Guarantees: only the caller's tenant's queue is read or settled; a queue a worker consumes is a
//! `409` naming the worker; every number and field is checked, a bad one a `400` naming it
//! (`batch_size`, `visibility_timeout_ms`, `acks[i].lease_id`, `retries[i].delay_seconds`, ...),
//! an unknown field too; a lease_id that settles nothing is a warning, never an error. A body is
//! given back by its content type: "json" and "v8" (the runtime's tagged encoding, JSON) as JSON,
//! "text" as a string, "bytes" as base64, with the content type beside it. Trusts: nothing of
//! the request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
use super::loader::body_or_error;
use super::queues::queue_name;
use super::AppState;
use crate::queues::pull::{PullError, MAX_PULL_BATCH, MAX_VISIBILITY_MS};
use crate::queues::MAX_DELAY;
use crate::store::StoreError;

/// Most acks, and most retries, of one ack request.
const MAX_SETTLE: usize = 100;

/// `body` as a JSON object with only the fields `known` (an empty body: no fields).
pub(super) fn object(
    body: &[u8],
    what: &str,
    known: &[&str],
) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let Value::Object(map) = super::json::from_body::<Value>(body, what)? else {
        return Err(ApiError::BadRequest(format!("{what} must be an object")));
    };
    fields(&map, "", known)?;
    Ok(map)
}

/// Refuses a field of `map` (at `at`) not among `known`.
fn fields(map: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), ApiError> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::BadRequest(format!(
            "{at}{k}: unknown field (known: {})",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The integer field `name` of `map` (named `at{name}`), `lo` to `hi`; `None` when absent.
pub(super) fn int(
    map: &Map<String, Value>,
    at: &str,
    name: &str,
    (lo, hi): (u32, u32),
) -> Result<Option<u32>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| (lo..=hi).contains(n))
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("{at}{name} must be an integer from {lo} to {hi}"))
            }),
    }
}

/// A stored body as the pull API gives it: (body, contentType).
fn body_of(content_type: &str, body: &[u8]) -> (Value, &'static str) {
    let b64 = || Value::String(base64::engine::general_purpose::STANDARD.encode(body));
    match content_type {
        "json" | "v8" => match serde_json::from_slice(body) {
            Ok(v) if content_type == "json" => (v, "json"),
            Ok(v) => (v, "v8"),
            // Checked as JSON when sent; a row that is not is given as it is.
            Err(_) => (b64(), "bytes"),
        },
        "text" => match std::str::from_utf8(body) {
            Ok(s) => (Value::String(s.to_owned()), "text"),
            Err(_) => (b64(), "bytes"),
        },
        _ => (b64(), "bytes"),
    }
}

/// `POST /v1/queues/{name}/messages/pull` `{"batch_size"?, "visibility_timeout_ms"?}` (absent:
/// the queue's pull consumer settings', `queue_consumer.rs`): leases up to `batch_size`
/// messages; `{"messages": [{"id", "body", "contentType", "timestamp_ms", "attempts",
/// "lease_id"}], "message_backlog_count"}`.
pub async fn pull(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let body = body_or_error(body)?;
    queue_name(&name)?;
    let what = "a queue pull's JSON";
    let map = object(&body, what, &["batch_size", "visibility_timeout_ms"])?;
    let n = int(&map, "", "batch_size", (1, MAX_PULL_BATCH))?;
    let visibility = int(&map, "", "visibility_timeout_ms", (1, MAX_VISIBILITY_MS))?;
    let (pulled, backlog) = match state.queues.pull(&tenant, &name, n, visibility).await {
        Ok(done) => done,
        Err(PullError::Consumed(worker)) => {
            return Err(ApiError::Store(StoreError::Conflict(format!(
                "queue {name:?} is consumed by worker {worker} (its triggers.queues); a queue \
                 with a worker consumer cannot be pulled"
            ))))
        }
        Err(PullError::Store(e)) => return Err(e.into()),
    };
    let messages: Vec<Value> = pulled
        .iter()
        .map(|p| {
            let m = &p.message;
            let (body, content_type) = body_of(&m.content_type, &m.body);
            json!({
                "id": m.id,
                "body": body,
                "contentType": content_type,
                "timestamp_ms": m.created_ms,
                "attempts": m.attempts,
                "lease_id": p.lease_id,
            })
        })
        .collect();
    Ok(Json(json!({ "messages": messages, "message_backlog_count": backlog })).into_response())
}

/// Lease_ids, each with its retry's delay (seconds) if it names one.
type Leases = Vec<(String, Option<u32>)>;

/// The list field `name` of `map`: each entry an object with a string `lease_id` and, for
/// retries, an optional `delay_seconds` (absent: the pull consumer's `retry_delay`).
fn leases(map: &Map<String, Value>, name: &str, retry: bool) -> Result<Leases, ApiError> {
    let list = match map.get(name) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ApiError::BadRequest(format!("{name} must be a list"))),
    };
    if list.len() > MAX_SETTLE {
        return Err(ApiError::BadRequest(format!(
            "{name}: at most {MAX_SETTLE} per request"
        )));
    }
    let known: &[&str] = if retry {
        &["lease_id", "delay_seconds"]
    } else {
        &["lease_id"]
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let at = format!("{name}[{i}].");
        let Value::Object(entry) = entry else {
            return Err(ApiError::BadRequest(format!(
                "{name}[{i}] must be an object {{\"lease_id\"}}"
            )));
        };
        fields(entry, &at, known)?;
        let Some(Value::String(lease_id)) = entry.get("lease_id") else {
            return Err(ApiError::BadRequest(format!(
                "{at}lease_id must be a string"
            )));
        };
        let delay = int(entry, &at, "delay_seconds", (0, MAX_DELAY))?;
        out.push((lease_id.clone(), delay));
    }
    Ok(out)
}

/// `POST /v1/queues/{name}/messages/ack` `{"acks"?: [{"lease_id"}], "retries"?: [{"lease_id",
/// "delay_seconds"?}]}`: `{"ackCount", "retryCount", "warnings"}`.
pub async fn ack(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let body = body_or_error(body)?;
    queue_name(&name)?;
    let map = object(&body, "a queue ack's JSON", &["acks", "retries"])?;
    let acks = leases(&map, "acks", false)?
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    let retries = leases(&map, "retries", true)?;
    let done = state
        .queues
        .ack_leases(&tenant, &name, acks, retries)
        .await?;
    Ok(Json(json!({
        "ackCount": done.acked,
        "retryCount": done.retried,
        "warnings": done.warnings,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_come_back_by_their_content_type() {
        assert_eq!(body_of("json", br#"{"a":1}"#), (json!({"a": 1}), "json"));
        assert_eq!(body_of("text", b"hi"), (json!("hi"), "text"));
        assert_eq!(body_of("bytes", &[0, 255]), (json!("AP8="), "bytes"));
        assert_eq!(
            body_of("v8", br#"{"$t":"Map","v":[]}"#),
            (json!({"$t": "Map", "v": []}), "v8")
        );
        assert_eq!(body_of("text", &[0xff]), (json!("/w=="), "bytes"));
    }

    #[test]
    fn bad_fields_are_named() {
        let m = |v: Value| v.as_object().cloned().expect("object");
        let e = int(&m(json!({"batch_size": 0})), "", "batch_size", (1, 100));
        assert!(matches!(e, Err(ApiError::BadRequest(s)) if s.starts_with("batch_size ")));
        let e = leases(
            &m(json!({"retries": [{"lease_id": "x", "delay_seconds": -1}]})),
            "retries",
            true,
        );
        assert!(
            matches!(e, Err(ApiError::BadRequest(ref s)) if s.starts_with("retries[0].delay_seconds ")),
            "{e:?}"
        );
        let e = object(br#"{"batch":1}"#, "x", &["batch_size"]);
        assert!(matches!(e, Err(ApiError::BadRequest(s)) if s.starts_with("batch: unknown")));
        assert!(object(b" ", "x", &[]).expect("empty").is_empty());
    }
}
