//! The Loader API's `globalOutbound`: parsing it (`null` and absent differ), checking the worker
//! it names, showing it, and delivering a worker's outbound requests to that worker.
//!
//! Guarantees: `{"worker": id}` names an existing worker of the same tenant at creation, and is
//! checked again on every delivery (a deleted worker fails the fetch); a delivery is a call of
//! its own, under the target worker's limits. Trusts: the token check in `AppState`.

use std::sync::Arc;

use serde::Deserialize;
use stockade_ipc::{Call, Reply};

use super::error::ApiError;
use super::loader::find;
use super::AppState;
use crate::supervisor::body;
use crate::supervisor::{Chain, Job, JobError, Outbound, Streams, WorkerDef};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundWorker {
    worker: String,
}

/// A field that is present, even as `null` (absent fields get the `default`, `None`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// What `globalOutbound` (absent: `None`; `null`: `Some(None)`) means for `tenant`'s worker.
pub async fn resolve(
    state: &AppState,
    tenant: &str,
    given: Option<Option<OutboundWorker>>,
) -> Result<Outbound, ApiError> {
    Ok(match given {
        None => Outbound::Policy,
        Some(None) => Outbound::Blocked,
        Some(Some(OutboundWorker { worker })) => {
            find(state, tenant, &worker).await.map_err(|_| {
                ApiError::BadRequest(format!(
                    "globalOutbound: no worker {worker:?} of this tenant"
                ))
            })?;
            Outbound::Worker(worker)
        }
    })
}

/// `globalOutbound` as `GET /v1/workers/{id}` shows it.
pub fn describe(outbound: &Outbound) -> serde_json::Value {
    match outbound {
        Outbound::Policy => serde_json::json!("policy"),
        Outbound::Blocked => serde_json::Value::Null,
        Outbound::Worker(id) => serde_json::json!({ "worker": id }),
    }
}

/// How the egress gateway delivers a `globalOutbound: {"worker": id}` request: to that worker's
/// fetch handler, as a call of its own (its own limits), if it is still one of `tenant`'s.
pub fn outbound_dispatch(state: std::sync::Weak<AppState>) -> crate::egress::WorkerDispatch {
    Arc::new(
        move |tenant: String, worker: String, request: crate::egress::FetchRequest| {
            let state = state.clone();
            Box::pin(async move {
                let state = state.upgrade().ok_or("the daemon is stopping")?;
                let def = find(&state, &tenant, &worker)
                    .await
                    .map_err(|_| format!("globalOutbound worker {worker} no longer exists"))?;
                let (_, answer) = fetch_whole(&state, &tenant, def, request, Chain::default())
                    .await
                    .map_err(|e| format!("globalOutbound worker: {e}"))?;
                match answer {
                    Whole::Response(status, headers, body) => Ok((status, headers, body)),
                    Whole::BodyFailed(e) => Err(format!("globalOutbound worker's body: {e}")),
                    Whole::NotAResponse => {
                        Err("globalOutbound worker did not return a Response".to_string())
                    }
                    Whole::Failed(e) => Err(format!("globalOutbound worker failed: {}", e.message)),
                }
            })
        },
    )
}

/// What a worker's fetch handler answered, its body read whole.
pub(super) enum Whole {
    Response(u16, stockade_ipc::Headers, Vec<u8>),
    /// Its streamed body failed, or was longer than one host call carries.
    BodyFailed(String),
    NotAResponse,
    Failed(stockade_ipc::ErrorReply),
}

/// Calls `def`'s fetch handler with `request` as one call of `tenant` in `chain`; a streamed
/// answer is gathered whole (at most one host call's payload), since the caller hands on one
/// body (the egress gateway for `globalOutbound`; a service binding's `fetch` streams instead,
/// `service_fetch`). The outcome handler's console output and its answer.
pub(super) async fn fetch_whole(
    state: &AppState,
    tenant: &str,
    def: Arc<WorkerDef>,
    request: crate::egress::FetchRequest,
    chain: Chain,
) -> Result<(Vec<stockade_ipc::LogLine>, Whole), JobError> {
    let call = Call::Fetch {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        body_streamed: false,
    };
    let (out, stream) = body::channel();
    let streams = Streams {
        body_in: None,
        body_out: Some(out),
        chain,
    };
    let outcome = state
        .pool
        .submit(tenant, Job::Call { def, call, streams })
        .await?;
    let answer = match outcome.result {
        Ok(Reply::Response {
            status,
            headers,
            body,
            streamed,
        }) => {
            if streamed {
                match stream
                    .collect(stockade_ipc::limits::MAX_HOST_CALL_PAYLOAD)
                    .await
                {
                    Ok(body) => Whole::Response(status, headers, body),
                    Err(e) => Whole::BodyFailed(e.to_string()),
                }
            } else {
                Whole::Response(status, headers, body)
            }
        }
        Ok(_) => Whole::NotAResponse,
        Err(e) => Whole::Failed(e),
    };
    Ok((outcome.logs, answer))
}
