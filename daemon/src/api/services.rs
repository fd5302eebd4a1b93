//! Worker-to-worker bindings: the host calls behind `{"binding": "service"}` (`env.X.fetch`,
//! `env.X.method(...)`) and `{"binding": "loader"}` (`env.LOADER.get`/`load` and the stubs they
//! return).
//!
//! Host calls (payloads framed like storage calls: `u32 LE head_len`, JSON head, bytes):
//! - `service.call` `{binding, method, worker?, entrypoint?}` + the encoded argument list (JSON
//!   text, `isolate/js/rpc.js`; `{"get": 1}` for a property read, `await stub.name`) → `{}` +
//!   the target's answer (`{"ok"}` or `{"error"}`, encoded);
//! - `service.fetch` `{binding, worker?, entrypoint?, call?}` + a `fetch` request frame → a
//!   `fetch` answer frame (as the egress gateway's), both bodies streamed (`service_fetch`: the
//!   egress gateway's `fetch.read`, `fetch.cancel`, and `fetch.abort` naming `call`);
//! - `loader.get` `{binding, name}` → `{"id"}` of the child cached for `(parent, name)`, or
//!   `{"missing": true}` (the runtime then calls the tenant's callback and `loader.create`);
//! - `loader.create` `{binding, name?}` + a `WorkerCode` as JSON text → `{"id"}`: the code becomes a
//!   Loader worker through the same path as `POST /v1/workers` (`loader::define`), narrowed to
//!   the parent (limits, bindings, outbound).
//!
//! Guarantees:
//! - a call reaches a worker only through a binding of the *stored* definition of the worker
//!   making it (`CallContext`): a service binding's worker, or a child this worker made through
//!   its loader binding (the registry below), and only one of the calling tenant's (checked again
//!   at every call, so a deleted worker is unreachable); a name the definition does not grant is
//!   refused whatever the payload says; Code Mode has no bindings;
//! - each call runs as a call of its own in the target's own isolate, placed by its own cordon
//!   under its own limits; the caller waits for it within its own wall-clock limit (it is a host
//!   call), and the request's whole chain of binding calls (however deep or wide) shares one
//!   budget of `[limits] max_binding_calls` calls (default 1000) and is at most
//!   `max_binding_depth` calls deep (default 8): past either, the call fails with a typed error
//!   (`QuotaExceededError`, `RangeError`) and nothing is run.
//!
//! Trusts: the call context the supervisor attached; nothing in the payload.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde_json::{json, Value};
use stockade_ipc::{Call, Reply};

use super::error::{error_code, ApiError};
use super::loader::{define, find, hex, WorkerCode};
use super::AppState;
use crate::supervisor::bindings::{valid_name, Binding};
use crate::supervisor::{CallContext, Chain, HostCalls, Job, Streams, WorkerDef};

/// Children one parent worker keeps by name (`LOADER.get`); past it, the oldest are forgotten.
const MAX_NAMED_CHILDREN: usize = 4096;
/// Children one parent worker may call at once (`get` and `load`); past it, the oldest are
/// forgotten (a stub of a forgotten child fails; `get` makes it again).
const MAX_CHILDREN: usize = 8192;

/// The service and loader host calls' shared state.
pub struct Services {
    state: OnceLock<Weak<AppState>>,
    /// The children each parent worker made through its loader binding, by parent hex id.
    children: Mutex<HashMap<String, Children>>,
}

#[derive(Default)]
struct Children {
    /// `LOADER.get` names → child hex id, and the order they came in (to forget the oldest).
    by_name: HashMap<String, String>,
    order: std::collections::VecDeque<String>,
    /// Every child id this parent made (through `get` or `load`): the ones its stubs may call,
    /// and the order they came in (past [`MAX_CHILDREN`], the oldest are forgotten).
    ids: HashSet<String>,
    made: std::collections::VecDeque<String>,
}

/// A call's refusal: the head the tenant's runtime throws as a typed error.
fn refusal(name: &str, message: impl Into<String>) -> Value {
    json!({"error": {"name": name, "message": message.into()}})
}

/// Counts one binding call against the request's `budget` (every call counts, whatever it
/// does): the chain the called worker runs in, one deeper, or the refusal when the budget is
/// spent. (A chain's depth counts calls: a client's request is at 0, the one it calls at 1.)
pub(super) fn spend_binding_call(chain: &Chain, budget: u32) -> Result<Chain, Value> {
    if chain.calls.fetch_add(1, Ordering::Relaxed) >= budget {
        return Err(refusal(
            "QuotaExceededError",
            format!("this request made its {budget} binding calls"),
        ));
    }
    Ok(Chain {
        depth: chain.depth + 1,
        calls: Arc::clone(&chain.calls),
    })
}

/// The refusal of a call `next` (from [`spend_binding_call`]) nested deeper than `max_depth`.
pub(super) fn check_binding_depth(next: &Chain, max_depth: u32) -> Result<(), Value> {
    if next.depth > max_depth {
        return Err(refusal(
            "RangeError",
            format!("binding calls nest at most {max_depth} deep"),
        ));
    }
    Ok(())
}

impl Services {
    pub fn new() -> Arc<Services> {
        Arc::new(Services {
            state: OnceLock::new(),
            children: Mutex::default(),
        })
    }

    /// Hands the calls the API's state (they are registered before it exists).
    pub fn attach(&self, state: Weak<AppState>) {
        let _ = self.state.set(state);
    }

    /// Registers `service.call`, `service.fetch`, `loader.get`, `loader.create`, and the
    /// RpcTargets' calls (`rpc_targets`).
    pub fn register(self: &Arc<Services>, calls: &mut HostCalls) {
        for op in [
            "service.call",
            "service.fetch",
            "loader.get",
            "loader.create",
            "service.target",
            "service.release",
            "service.callback",
            "service.resume",
            "service.reply",
        ] {
            let me = Arc::clone(self);
            calls.register_in_context(op, move |context, payload| {
                let me = Arc::clone(&me);
                async move { me.answer(op, context, payload).await }
            });
        }
        // The callee's side of RpcTargets needs nothing of the API's state.
        calls.register_in_context("service.export", super::rpc_targets::export);
        calls.register_in_context("service.next", super::rpc_targets::next);
        calls.register_in_context("service.wait", super::rpc_targets::wait);
        // Bodies streamed over RPC (`rpc_pipes`): the request's own pipes only.
        calls.register_in_context("pipe.open", super::rpc_pipes::open);
        calls.register_in_context("pipe.write", super::rpc_pipes::write);
        calls.register_in_context("pipe.close", super::rpc_pipes::close);
        calls.register_in_context("pipe.take", super::rpc_pipes::take);
        calls.register_in_context("pipe.read", super::rpc_pipes::read);
        calls.register_in_context("pipe.cancel", super::rpc_pipes::cancel);
    }

    /// The API's state, while the daemon runs.
    fn app(&self) -> Result<Arc<AppState>, String> {
        self.state
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| "the daemon is stopping".to_owned())
    }

    /// `service.target`, `service.release`, `service.callback`, `service.resume` and
    /// `service.reply`: a caller's
    /// use of the targets an RPC call returned, and a callee's of its caller's arguments'
    /// (`rpc_targets`). A target call and a callback each spend one of the chain's binding calls.
    async fn on_target(
        &self,
        op: &str,
        context: CallContext,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let state = self.app()?;
        // The arguments stay in the payload's buffer (a callback's first steps run in the link's
        // router, whatever its size: no copy of up to 16 MiB there).
        let (head, bytes) = crate::storage::split_owned(payload)?;
        match op {
            "service.release" => return super::rpc_targets::release(&context, &head),
            "service.reply" => return super::rpc_targets::reply(&context, &head, &bytes),
            "service.resume" => {
                // Its failure is the call's own (an OperationError, as at service.target).
                let driven = super::rpc_targets::resume(&context, &head).await?;
                return Ok(match answer_of(Ok(driven)) {
                    Ok((head, bytes)) => frame(&head, &bytes),
                    Err(head) => frame(&head, &[]),
                });
            }
            _ => {}
        }
        let budget = state.config.limits.max_binding_calls;
        if let Err(refused) = spend_binding_call(&context.caller.chain, budget) {
            return Ok(frame(&refused, &[]));
        }
        match op {
            "service.callback" => super::rpc_targets::callback(&context, &head, bytes).await,
            // Its answer, or a callback (a failure is the call's own, as before callbacks).
            _ => match super::rpc_targets::call(&context, &head, bytes).await? {
                super::rpc_targets::Driven::Answer(head, bytes) => Ok(frame(&head, &bytes)),
                super::rpc_targets::Driven::Finished(_) => Err("the RpcTarget's call ended".into()),
            },
        }
    }

    async fn answer(
        &self,
        op: &str,
        context: CallContext,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        if matches!(
            op,
            "service.target"
                | "service.release"
                | "service.callback"
                | "service.resume"
                | "service.reply"
        ) {
            return self.on_target(op, context, payload).await;
        }
        let state = self.app()?;
        let (head, bytes) = crate::storage::split(&payload)?;
        // A service fetch's streamed request body is let go of if the fetch never takes it.
        let _upload = (op == "service.fetch")
            .then(|| super::service_fetch::UploadGuard::new(&context.resources, bytes));
        let name = head
            .get("binding")
            .and_then(Value::as_str)
            .unwrap_or("ctx.exports");
        let (tenant, binding, parent) = if head.get("self") == Some(&Value::Bool(true)) {
            // `ctx.exports.Name`: the worker calls an entrypoint of its own.
            let tenant = state
                .pool
                .tenant_names()
                .name(context.tenant)
                .ok_or("unknown tenant")?;
            let caller =
                context.caller.worker.clone().ok_or(
                    "ctx.exports reaches a worker's own entrypoints, and this is no worker",
                )?;
            // A Durable Object's: the entrypoints of the worker version its instance runs.
            let incarnated = state
                .objects
                .get()
                .and_then(|objects| objects.directory().version_of(&caller.id));
            let parent = incarnated.unwrap_or(caller);
            (tenant, loopback(&parent, &head)?, parent)
        } else {
            let (tenant, name) = context.binding_caller(Some(&state.pool.tenant_names()), &head)?;
            match (context.bindings.get(name), &context.caller.worker) {
                (Some(b @ (Binding::Service { .. } | Binding::Loader)), Some(parent)) => {
                    (tenant, b.clone(), Arc::clone(parent))
                }
                _ => {
                    return Err(format!(
                        "this worker has no service or loader binding named {name:?}"
                    ))
                }
            }
        };
        // Over budget or too deep, nothing runs.
        let limits = &state.config.limits;
        let next = match spend_binding_call(&context.caller.chain, limits.max_binding_calls) {
            Ok(next) => next,
            Err(refused) => return Ok(frame(&refused, &[])),
        };
        let answer = match op {
            "loader.get" | "loader.create" => {
                if binding != Binding::Loader {
                    return Err(format!("{name:?} is not a loader binding"));
                }
                self.loader(&state, op, &tenant, &parent, &head, bytes)
                    .await
            }
            _ => {
                if let Err(refused) = check_binding_depth(&next, limits.max_binding_depth) {
                    return Ok(frame(&refused, &[]));
                }
                let (def, entrypoint, props) = self
                    .target(&state, &tenant, &parent, &binding, &head)
                    .await?;
                let callee = super::worker_fetch::Callee {
                    def,
                    entrypoint,
                    keep: None,
                    queued: None,
                    props,
                };
                if op == "service.call" {
                    let resources = &context.resources;
                    rpc(&state, &tenant, callee, &head, bytes, next, resources).await
                } else {
                    let call = head
                        .get("call")
                        .and_then(Value::as_u64)
                        .and_then(|c| u32::try_from(c).ok());
                    let resources = &context.resources;
                    super::service_fetch::fetch(
                        &state, &tenant, callee, bytes, next, resources, call,
                    )
                    .await
                }
            }
        };
        Ok(match answer {
            Ok((head, bytes)) => frame(&head, &bytes),
            Err(head) => frame(&head, &[]),
        })
    }

    /// The worker and entrypoint a `service.*` call goes to, checked now.
    async fn target(
        &self,
        state: &AppState,
        tenant: &str,
        parent: &WorkerDef,
        binding: &Binding,
        head: &Value,
    ) -> Result<(Arc<WorkerDef>, String, Option<String>), String> {
        let (worker, entrypoint, props) = match binding {
            Binding::Service {
                worker,
                entrypoint,
                props,
            } => (
                worker.clone(),
                entrypoint.clone().unwrap_or_default(),
                props.clone(),
            ),
            _ => {
                let worker = head
                    .get("worker")
                    .and_then(Value::as_str)
                    .ok_or("a loader call names no worker")?;
                let made = self
                    .children()
                    .get(&hex(&parent.id))
                    .is_some_and(|c| c.ids.contains(worker));
                if !made {
                    return Err("this worker made no such worker through its loader".into());
                }
                let entrypoint = entrypoint_of(head)?.unwrap_or_default();
                // The parent's props for its child's entrypoint (`getEntrypoint(name, {props})`).
                let props = crate::supervisor::bindings::props_of(head.get("props"))?;
                (worker.to_owned(), entrypoint, props)
            }
        };
        // A name under a gradual deployment: a version by its shares, as a client's request.
        let choice = super::deployments::VersionChoice::default();
        let def = super::names::find_serving(state, tenant, &worker, &choice)
            .await
            .map_err(|_| format!("the worker {worker} is not one of this tenant's (any more)"))?;
        Ok((def, entrypoint, props))
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<String, Children>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `loader.get` and `loader.create`.
    async fn loader(
        &self,
        state: &AppState,
        op: &str,
        tenant: &str,
        parent: &WorkerDef,
        head: &Value,
        code: &[u8],
    ) -> Result<(Value, Vec<u8>), Value> {
        let parent_id = hex(&parent.id);
        let name = match head.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) if !n.is_empty() && n.len() <= 256 => Some(n.clone()),
            Some(_) => return Err(refusal("TypeError", "a worker name is 1-256 characters")),
        };
        if op == "loader.get" {
            let name = name.ok_or_else(|| refusal("TypeError", "LOADER.get needs a name"))?;
            let cached = self
                .children()
                .get(&parent_id)
                .and_then(|c| c.by_name.get(&name).cloned());
            // A cached child is used only while it is still one of the tenant's workers.
            if let Some(id) = cached {
                if find(state, tenant, &id).await.is_ok() {
                    return Ok((json!({ "id": id }), Vec::new()));
                }
            }
            return Ok((json!({ "missing": true }), Vec::new()));
        }
        let code: WorkerCode = serde_json::from_slice(code)
            .map_err(|e| refusal("TypeError", format!("invalid WorkerCode: {e}")))?;
        let (id, _) = define(state, tenant, code, Some(parent))
            .await
            .map_err(|e| refusal(api_error_name(&e), e.to_string()))?;
        let mut children = self.children();
        let mine = children.entry(parent_id).or_default();
        if mine.ids.insert(id.clone()) {
            mine.made.push_back(id.clone());
        }
        while mine.made.len() > MAX_CHILDREN {
            if let Some(old) = mine.made.pop_front() {
                mine.ids.remove(&old);
                mine.by_name.retain(|_, v| *v != old);
            }
        }
        if let Some(name) = name {
            if mine.by_name.insert(name.clone(), id.clone()).is_none() {
                mine.order.push_back(name);
            }
            while mine.order.len() > MAX_NAMED_CHILDREN {
                if let Some(old) = mine.order.pop_front() {
                    mine.by_name.remove(&old);
                }
            }
        }
        Ok((json!({ "id": id }), Vec::new()))
    }
}

/// The typed error a tenant sees for a refused child definition.
fn api_error_name(e: &ApiError) -> &'static str {
    match e {
        ApiError::Exceeds(_) => "NotAllowedError",
        ApiError::BadRequest(_) => "TypeError",
        ApiError::TooLarge(_) => "RangeError",
        ApiError::Quota(_) => "QuotaExceededError",
        _ => "OperationError",
    }
}

/// An RPC call in the target's isolate: `Call::Rpc`, answered `Reply::Json`; or, when the target
/// returns `RpcTarget`s, answered with its export and `{"session": n, "key"}` (a session among the
/// caller's `resources`, and its key), its request going on to serve them (`rpc_targets`).
pub(super) async fn rpc(
    state: &Arc<AppState>,
    tenant: &str,
    callee: super::worker_fetch::Callee,
    head: &Value,
    args: &[u8],
    chain: Chain,
    resources: &crate::supervisor::Resources,
) -> Result<(Value, Vec<u8>), Value> {
    let super::worker_fetch::Callee {
        def,
        entrypoint,
        keep,
        queued,
        props,
    } = callee;
    let method = head
        .get("method")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty() && m.len() <= stockade_ipc::limits::MAX_RPC_NAME_LEN)
        .ok_or_else(|| refusal("TypeError", "an RPC call names no method"))?;
    let call = Call::Rpc {
        entrypoint,
        method: method.to_owned(),
        args_json: args.to_vec(),
        props_json: props.map(String::into_bytes).unwrap_or_default(),
    };
    let id = super::objects::log_ring_of(state, &def);
    let pending = super::rpc_targets::CalleeSession::start(|session| {
        // The lines its work makes after the answer (`ctx.waitUntil`, a Durable Object's
        // timers) go to the same ring as its answer's.
        let streams = Streams {
            chain,
            after_logs: Some(state.logs.after_answer(&id)),
            keep,
            session: Some(session as crate::supervisor::Session),
            queued,
            ..Streams::default()
        };
        let (state, tenant, id) = (Arc::clone(state), tenant.to_owned(), id.clone());
        Box::pin(async move {
            let outcome = state
                .pool
                .submit(&tenant, Job::Call { def, call, streams })
                .await;
            if let Ok(outcome) = &outcome {
                state.logs.record(&id, &outcome.logs);
            }
            outcome
        })
    });
    let driven = super::rpc_targets::drive(pending, resources).await;
    answer_of(driven)
}

/// The caller's answer from what waiting for its RPC call came to.
fn answer_of(
    driven: Result<super::rpc_targets::Driven, String>,
) -> Result<(Value, Vec<u8>), Value> {
    let outcome = match driven.map_err(|e| refusal("RangeError", e))? {
        super::rpc_targets::Driven::Answer(head, bytes) => return Ok((head, bytes)),
        super::rpc_targets::Driven::Finished(outcome) => outcome,
    };
    let outcome =
        outcome.map_err(|e| refusal("OperationError", format!("the service's worker: {e}")))?;
    match outcome.result {
        Ok(Reply::Json(answer)) => Ok((json!({}), answer)),
        Ok(_) => Err(refusal(
            "OperationError",
            "the service's worker gave no RPC answer",
        )),
        Err(e) => Err(refusal(
            "OperationError",
            format!(
                "the service's worker failed ({}): {}",
                error_code(e.kind),
                e.message
            ),
        )),
    }
}

/// `head` and `bytes` framed; a `Null` head means `bytes` is the whole answer already.
fn frame(head: &Value, bytes: &[u8]) -> Vec<u8> {
    if head.is_null() {
        return bytes.to_vec();
    }
    crate::storage::frame(head, bytes)
}

/// The binding of a worker's call to an entrypoint of its own (`ctx.exports.Name`, a head
/// `{"self": true, "entrypoint"?, "props"?}`): this very version of `worker`, with the props its
/// own code chose.
fn loopback(worker: &WorkerDef, head: &Value) -> Result<Binding, String> {
    Ok(Binding::Service {
        worker: hex(&worker.id),
        entrypoint: entrypoint_of(head)?,
        props: crate::supervisor::bindings::props_of(head.get("props"))?,
    })
}

/// The `entrypoint` a call's `head` names: none (absent or null), or a valid export name.
fn entrypoint_of(head: &Value) -> Result<Option<String>, String> {
    match head.get("entrypoint") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(e)) if valid_name(e) => Ok(Some(e.clone())),
        Some(_) => Err("the entrypoint must be 1-64 of [A-Za-z0-9_.-]".into()),
    }
}
