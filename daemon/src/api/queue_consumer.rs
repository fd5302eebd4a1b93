//! A queue's HTTP pull consumer settings (Cloudflare's `wrangler queues consumer http add`, in
//! Stockade's shape): `GET`, `PUT` and `DELETE /v1/queues/{name}/consumer`
//! (`crate::queues::pull::PullSettings`: `batch_size`, `visibility_timeout_ms`, `max_retries`,
//! `dead_letter_queue`, `retry_delay`).
//!
//! Guarantees: only the caller's tenant's queue is read or changed; every field is checked (a
//! `400` naming it, an unknown field too) before anything is kept; a queue a worker consumes is a
//! `409` naming the worker (a queue has one consumer; the worker's definition refuses a queue with
//! a pull consumer the same way); the settings are in the store before the answer. Trusts:
//! nothing of the request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
use super::loader::body_or_error;
use super::queue_pull::{int, object};
use super::queues::queue_name;
use super::AppState;
use crate::queues::pull::PullSettings;
use crate::store::queues as stored;

/// The answer for `name`'s consumer: a worker's, or the pull consumer's settings (`configured`:
/// kept, else the defaults a pull gets).
fn described(name: &str, worker: Option<String>, kept: Option<PullSettings>) -> Response {
    let body = match worker {
        Some(worker) => json!({ "queue": name, "type": "worker", "worker": worker }),
        None => json!({
            "queue": name,
            "type": "http_pull",
            "configured": kept.is_some(),
            "settings": kept.unwrap_or_default(),
        }),
    };
    Json(body).into_response()
}

/// The settings a `PUT` gives: each field an integer (or, `dead_letter_queue`, a string), named
/// when it is not (a null is an absent field: the default); the ranges are
/// [`PullSettings::check`]'s.
fn parse(body: &[u8]) -> Result<PullSettings, ApiError> {
    const FIELDS: [&str; 5] = [
        "batch_size",
        "visibility_timeout_ms",
        "max_retries",
        "dead_letter_queue",
        "retry_delay",
    ];
    let map = object(body, "a pull consumer's JSON", &FIELDS)?;
    let d = PullSettings::default();
    let dead_letter_queue = match map.get("dead_letter_queue") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(q)) => Some(q.clone()),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "dead_letter_queue must be a queue's name (a string)".into(),
            ))
        }
    };
    let number = |name: &str, default: u32| -> Result<u32, ApiError> {
        Ok(int(&map, "", name, (0, u32::MAX))?.unwrap_or(default))
    };
    Ok(PullSettings {
        batch_size: number("batch_size", d.batch_size)?,
        visibility_timeout_ms: number("visibility_timeout_ms", d.visibility_timeout_ms)?,
        max_retries: number("max_retries", d.max_retries)?,
        dead_letter_queue,
        retry_delay: number("retry_delay", d.retry_delay)?,
    })
}

/// `GET /v1/queues/{name}/consumer`: `{"queue", "type": "worker", "worker"}` or `{"queue", "type":
/// "http_pull", "configured", "settings"}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    queue_name(&name)?;
    let q = name.clone();
    let (worker, kept) = state
        .store
        .tx(move |tx| {
            let worker = stored::consumer_of(tx, &tenant, &q)?;
            Ok((worker, stored::pull_consumer(tx, &tenant, &q)?))
        })
        .await?;
    Ok(described(&name, worker, kept))
}

/// `PUT /v1/queues/{name}/consumer` with the settings (absent fields: Cloudflare's defaults):
/// kept as the queue's pull consumer; answers as `GET`.
pub async fn put(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let body = body_or_error(body)?;
    queue_name(&name)?;
    let settings = parse(&body)?;
    settings.check(&name).map_err(ApiError::BadRequest)?;
    let (q, kept) = (name.clone(), settings.clone());
    state
        .store
        .tx(move |tx| stored::put_pull_consumer(tx, &tenant, &q, &kept))
        .await?;
    Ok(described(&name, None, Some(settings)))
}

/// `DELETE /v1/queues/{name}/consumer`: forgets the pull consumer's settings (a pull then gets
/// the defaults); `204`, or `404` when it had none.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    queue_name(&name)?;
    let q = name.clone();
    let had = state
        .store
        .tx(move |tx| stored::delete_pull_consumer(tx, &tenant, &q))
        .await?;
    if had {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(
            "this queue has no pull consumer settings",
        ))
    }
}
