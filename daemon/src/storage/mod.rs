//! Storage for tenant code: the `kv.*` and `ws.*` host calls behind the `kv` and `workspace`
//! bindings, and the operations the HTTP API shares with them; the `d1.*` calls behind the `d1`
//! binding (SQLite files of the tenant's, `d1`); the `r2.*` calls behind the `r2` binding
//! (object storage in files of the tenant's, `r2`); the Cache API's `cache.*` (in memory, per
//! tenant: `cache`).
//!
//! Wire format (both ways, like `fetch`): `u32 LE head_len`, a JSON head, then raw bytes (a
//! value or a file's contents). A request head names the binding by its `env` name
//! (`{"binding": "MY_KV", ...}`); an answer head is the result, or `{"error": {"name",
//! "message"}}` for what the tenant did wrong (the runtime throws it as a typed error).
//!
//! Guarantees: a call reaches a namespace or workspace only through a binding of the *stored*
//! definition of the worker that made it (`CallContext::bindings`, attached by the supervisor),
//! of the right kind, and always within the calling tenant; a request naming anything else is
//! refused whatever it says (Code Mode has none unless its request gives an `env`, whose
//! bindings are checked like a definition's). A store failure reaches the
//! tenant as an `OperationError` without details (the operator's stderr has them). Trusts: the
//! call context; nothing in the payload.

pub mod cache;
pub mod d1;
pub(crate) mod d1_calls;
pub(crate) mod d1_exec;
pub(crate) mod d1_guard;
mod kv_calls;
pub mod r2;
mod r2_args;
mod r2_calls;
mod r2_cond;
mod r2_index;
mod r2_multipart;
mod r2_parts;
mod r2_upload;
pub mod ws_calls;

use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use stockade_ipc::limits::MAX_HOST_CALL_PAYLOAD;

use crate::store::{Store, StoreError};
use crate::supervisor::bindings::Binding;
use crate::supervisor::{CallContext, HostCalls, TenantNames};

/// Largest request head, bytes (a `replace` carries its search and replacement texts in it;
/// `isolate/js/bindings.js` refuses a larger one as a `TypeError` before calling).
const MAX_HEAD_LEN: usize = 1 << 20;

/// What a call answers: a head and bytes, or the error a tenant sees.
pub type Answer = Result<(Value, Vec<u8>), StoreError>;

/// The storage host calls' shared state.
pub struct Storage {
    pub store: Store,
    /// The D1 databases.
    d1: Arc<d1::D1>,
    /// The R2 buckets.
    r2: Arc<r2::R2>,
    /// Tenant names by `TenantId`, from the pool (set once it starts, before any call can come;
    /// tenants a configuration reload adds are found too).
    tenants: OnceLock<TenantNames>,
}

impl Storage {
    pub fn new(store: Store, d1: d1::D1Settings, r2: r2::R2Settings) -> Arc<Storage> {
        let r2 = r2::R2::new(r2);
        r2_multipart::start_reaper(&r2);
        Arc::new(Storage {
            store,
            d1: d1::D1::new(d1),
            r2,
            tenants: OnceLock::new(),
        })
    }

    /// Where tenant names come from; once.
    pub fn resolve_tenants_with(&self, names: TenantNames) {
        let _ = self.tenants.set(names);
    }

    /// Registers `kv.*`, `ws.*`, `d1.*` and `r2.*`.
    pub fn register(self: &Arc<Storage>, calls: &mut HostCalls) {
        for op in kv_calls::OPS {
            let me = Arc::clone(self);
            calls.register_in_context(&format!("kv.{op}"), move |context, payload| {
                let me = Arc::clone(&me);
                async move { me.answer(context, payload, Kind::Kv, op).await }
            });
        }
        for op in ws_calls::OPS {
            let me = Arc::clone(self);
            calls.register_in_context(&format!("ws.{op}"), move |context, payload| {
                let me = Arc::clone(&me);
                async move { me.answer(context, payload, Kind::Workspace, op).await }
            });
        }
        for op in d1_calls::OPS {
            let me = Arc::clone(self);
            calls.register_in_context(&format!("d1.{op}"), move |context, payload| {
                let me = Arc::clone(&me);
                async move {
                    let d1 = Arc::clone(&me.d1);
                    me.answer_d1(d1, context, payload, op).await
                }
            });
        }
        for op in r2_calls::OPS {
            let me = Arc::clone(self);
            calls.register_in_context(&format!("r2.{op}"), move |context, payload| {
                let me = Arc::clone(&me);
                async move {
                    let r2 = Arc::clone(&me.r2);
                    me.answer_r2(r2, context, payload, op).await
                }
            });
        }
    }

    async fn answer(
        &self,
        context: CallContext,
        payload: Vec<u8>,
        kind: Kind,
        op: &'static str,
    ) -> Result<Vec<u8>, String> {
        let (head, body) = split(&payload)?;
        let (tenant, name) = context.binding_caller(self.tenants.get(), &head)?;
        let tenant = &tenant;
        let result = match (kind, context.bindings.get(name)) {
            (Kind::Kv, Some(Binding::Kv { namespace })) => {
                kv_calls::call(&self.store, tenant, namespace, op, &head, body).await
            }
            (Kind::Workspace, Some(Binding::Workspace { name })) => {
                let ws = crate::store::workspace::Ws::new(tenant, name);
                ws_calls::call(&self.store, ws, op, &head, body).await
            }
            _ => {
                let what = match kind {
                    Kind::Kv => "key-value",
                    Kind::Workspace => "workspace",
                };
                return Err(format!("this worker has no {what} binding named {name:?}"));
            }
        };
        Ok(match result {
            Ok((head, bytes)) => within_a_call(frame(&head, &bytes)),
            Err(e) => frame(&error_head(&e), &[]),
        })
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Kv,
    Workspace,
}

/// The head a tenant sees for `e`.
pub fn error_head(e: &StoreError) -> Value {
    let name = match e {
        StoreError::NotFound(_) => "NotFoundError",
        StoreError::Invalid(_) => "TypeError",
        StoreError::Quota(_) => "QuotaExceededError",
        StoreError::Conflict(_) => "InvalidModificationError",
        _ => {
            tracing::error!("store: {e}");
            return json!({"error": {"name": "OperationError", "message": "the store failed"}});
        }
    };
    json!({"error": {"name": name, "message": e.to_string()}})
}

/// `framed`, or a `TypeError` when it is more than a host call's answer carries (the operations
/// bound their answers below that; this is the net under them, so a tenant sees a typed error,
/// never the link's refusal).
fn within_a_call(framed: Vec<u8>) -> Vec<u8> {
    if framed.len() <= MAX_HOST_CALL_PAYLOAD {
        return framed;
    }
    let message = format!(
        "the answer would be more than {MAX_HOST_CALL_PAYLOAD} bytes, what a host call carries: ask for less"
    );
    frame(
        &json!({"error": {"name": "TypeError", "message": message}}),
        &[],
    )
}

/// Splits a framed host-call payload (storage, capability, service and loader calls) into its
/// JSON object head and bytes.
pub(crate) fn split(payload: &[u8]) -> Result<(Value, &[u8]), String> {
    let len = payload
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("a host call wants a framed payload")?;
    if len > MAX_HEAD_LEN || 4 + len > payload.len() {
        return Err("a host call's head is malformed".into());
    }
    let head: Value = serde_json::from_slice(&payload[4..4 + len])
        .map_err(|e| format!("a host call's head is not JSON: {e}"))?;
    if !head.is_object() {
        return Err("a host call's head is not an object".into());
    }
    Ok((head, &payload[4 + len..]))
}

/// [`split`] of an owned payload: its bytes kept in the payload's own buffer (the head's moved
/// out in place), never copied beside it.
pub(crate) fn split_owned(mut payload: Vec<u8>) -> Result<(Value, Vec<u8>), String> {
    let (head, bytes) = split(&payload)?;
    let at = payload.len() - bytes.len();
    payload.drain(..at);
    Ok((head, payload))
}

/// `head` and `bytes` framed.
pub(crate) fn frame(head: &Value, bytes: &[u8]) -> Vec<u8> {
    let head = head.to_string().into_bytes();
    let mut out = Vec::with_capacity(4 + head.len() + bytes.len());
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(bytes);
    out
}

/// A request head as `T` (unknown fields refused), or the tenant's `TypeError`.
pub fn parse<T: DeserializeOwned>(head: &Value, op: &str) -> Result<T, StoreError> {
    let mut head = head.clone();
    if let Some(o) = head.as_object_mut() {
        o.remove("binding");
    }
    serde_json::from_value(head).map_err(|e| StoreError::Invalid(format!("{op}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_past_what_a_call_carries_is_a_type_error() {
        let small = frame(&json!({"size": 1}), b"x");
        assert_eq!(within_a_call(small.clone()), small);
        let large = frame(&json!({}), &vec![0; MAX_HOST_CALL_PAYLOAD]);
        let refused = within_a_call(large);
        let (head, bytes) = split(&refused).expect("framed");
        assert_eq!(head["error"]["name"], "TypeError", "{head}");
        assert!(bytes.is_empty());
    }
}
