//! The Loader API's `globalOutbound`: parsing it (`null` and absent differ), checking the worker
//! it names, showing it, and delivering a worker's outbound requests to that worker.
//!
//! Guarantees: `{"worker": id}` names an existing worker of the same tenant at creation, and is
//! checked again on every delivery (a deleted worker fails the fetch); a delivery is a call of
//! its own, under the target worker's limits, both bodies streamed. Trusts: the token check of
//! `edge`.

use std::sync::Arc;

use serde::Deserialize;

use super::error::ApiError;
use super::loader::find;
use super::worker_fetch::{deliver, Callee};
use super::AppState;
use crate::supervisor::{Chain, Outbound};

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
            // By id only: an id hashes the definition it names, so a chain cannot come back to a
            // worker; a name's next version could.
            if crate::store::worker_names::valid_name(&worker) {
                return Err(ApiError::BadRequest(format!(
                    "globalOutbound: name the worker {worker:?} by its id (a name's next \
                     version could make a cycle)"
                )));
            }
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
/// fetch handler, as a call of its own (its own limits), if it is still one of `tenant`'s; both
/// bodies stream (`worker_fetch::deliver`), the gateway reads the answer's on (`egress::stream`).
pub fn outbound_dispatch(state: std::sync::Weak<AppState>) -> crate::egress::WorkerDispatch {
    Arc::new(move |delivery: crate::egress::WorkerRequest| {
        let state = state.clone();
        Box::pin(async move {
            let state = state.upgrade().ok_or("the daemon is stopping")?;
            let crate::egress::WorkerRequest {
                tenant,
                worker,
                request,
                upload,
            } = delivery;
            let def = find(&state, &tenant, &worker)
                .await
                .map_err(|_| format!("globalOutbound worker {worker} no longer exists"))?;
            let who = format!("globalOutbound worker {worker}");
            deliver(
                &state,
                &tenant,
                Callee {
                    def,
                    entrypoint: String::new(),
                    keep: None,
                    queued: None,
                    props: None,
                },
                request,
                upload,
                Chain::default(),
                &who,
            )
            .await
            .map_err(|r| r.message)
        })
    })
}
