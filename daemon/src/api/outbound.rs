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
use crate::supervisor::Outbound;

/// `globalOutbound` as the Loader API takes it: `{"worker": id, "entrypoint"?, "props"?}`, or,
/// for a Loader child, `{"self": true, "entrypoint"?, "props"?}` (its parent's
/// `ctx.exports.Name({props})`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundWorker {
    #[serde(default)]
    worker: Option<String>,
    #[serde(default, rename = "self")]
    loopback: bool,
    #[serde(default)]
    entrypoint: Option<String>,
    #[serde(default)]
    props: Option<serde_json::Value>,
}

/// A field that is present, even as `null` (absent fields get the `default`, `None`).
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// What `globalOutbound` (absent: `None`; `null`: `Some(None)`) means for `tenant`'s worker
/// (a Loader child of `parent_id`, if given).
pub async fn resolve(
    state: &AppState,
    tenant: &str,
    given: Option<Option<OutboundWorker>>,
    parent_id: Option<&str>,
) -> Result<Outbound, ApiError> {
    Ok(match given {
        None => Outbound::Policy,
        Some(None) => Outbound::Blocked,
        Some(Some(OutboundWorker {
            worker,
            loopback,
            entrypoint,
            props,
        })) => {
            let bad = |why: &str| ApiError::BadRequest(format!("globalOutbound: {why}"));
            let worker = match (worker, loopback, parent_id) {
                (Some(worker), false, _) => worker,
                (None, true, Some(parent)) => parent.to_owned(),
                (None, true, None) => {
                    return Err(bad(
                        "\"self\" is a Loader child's (its parent's ctx.exports)",
                    ))
                }
                _ => return Err(bad("name a worker, or \"self\": true")),
            };
            if entrypoint
                .as_deref()
                .is_some_and(|e| !crate::supervisor::bindings::valid_name(e))
            {
                return Err(bad("the entrypoint must be 1-64 of [A-Za-z0-9_.-]"));
            }
            let props =
                crate::supervisor::bindings::props_of(props.as_ref()).map_err(|e| bad(&e))?;
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
            Outbound::Worker(crate::supervisor::OutboundTarget {
                worker,
                entrypoint,
                props,
            })
        }
    })
}

/// `globalOutbound` as `GET /v1/workers/{id}` shows it.
pub fn describe(outbound: &Outbound) -> serde_json::Value {
    match outbound {
        Outbound::Policy => serde_json::json!("policy"),
        Outbound::Blocked => serde_json::Value::Null,
        Outbound::Worker(target) => {
            let mut shown = serde_json::json!({ "worker": target.worker });
            if let Some(entrypoint) = &target.entrypoint {
                shown["entrypoint"] = entrypoint.clone().into();
            }
            if let Some(props) = &target.props {
                shown["props"] = serde_json::from_str(props).unwrap_or_default();
            }
            shown
        }
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
                target,
                chain,
                request,
                upload,
            } = delivery;
            let worker = target.worker;
            // One more binding call of the fetching request's chain, no deeper than any.
            let limits = &state.config.limits;
            let message = |refused: serde_json::Value| {
                refused["error"]["message"]
                    .as_str()
                    .unwrap_or("refused")
                    .to_owned()
            };
            let next = super::services::spend_binding_call(&chain, limits.max_binding_calls)
                .map_err(message)?;
            super::services::check_binding_depth(&next, limits.max_binding_depth)
                .map_err(message)?;
            let def = find(&state, &tenant, &worker)
                .await
                .map_err(|_| format!("globalOutbound worker {worker} no longer exists"))?;
            let who = format!("globalOutbound worker {worker}");
            deliver(
                &state,
                &tenant,
                Callee {
                    def,
                    entrypoint: target.entrypoint.unwrap_or_default(),
                    keep: None,
                    queued: None,
                    props: target.props,
                },
                request,
                upload,
                next,
                &who,
            )
            .await
            .map_err(|r| r.message)
        })
    })
}
