//! The calls that reach a Durable Object through its namespace binding (`env.NS.get(id)`'s stub),
//! and the eviction of idle objects; `ObjectCalls::attach` also starts the alarms' firing
//! (`object_alarms.rs`).
//!
//! Host calls (framed like `service.*`):
//! - `do.call` `{binding, id, name?, method}` + the encoded argument list → `{}` + the object's
//!   answer (`{"ok"}` or `{"error"}`, rpc.js's encoding), as `service.call`;
//! - `do.fetch` `{binding, id, name?, call?}` + a `fetch` request frame → a `fetch` answer frame,
//!   as `service.fetch` (both bodies streamed); one that asks for a WebSocket goes to
//!   `object_sockets.rs`, where a 101 hands the caller the object's accepted socket.
//!
//! Guarantees:
//! - the binding is resolved against the calling worker's *stored* definition (an object's own
//!   calls: its worker's, found through the directory); the object is (calling tenant, that
//!   worker, the binding's class, the id), so one tenant's object is never another's whatever
//!   the id or name says; the id is 64 hex digits, or the call is a `TypeError`;
//! - every call of an object goes to its one live incarnation (`objects::directory`), placed by
//!   the pool as a Loader worker of its own: one isolate, which constructs the class once
//!   (`isolate/js/durable.js`); a call for an object past the live caps is refused at once with
//!   a `QuotaExceededError`;
//! - a request's calls to one object reach its instance in the order the request made them
//!   ([`CallOrder`]), as Cloudflare delivers a stub's calls, as long as that instance's process
//!   lives (a call placed again after its process died or was recycled may overtake later ones);
//! - calls count against the request's chain of binding calls as service calls do (budget and
//!   depth); an object calling itself runs as another task of the same isolate, so it does not
//!   wait for itself;
//! - an object idle for `[durable_objects] idle_ms` (no call in flight), or whose worker was
//!   deleted, is disposed: its memory is gone, its storage stays; its next call constructs it
//!   again in a fresh isolate.
//!
//! Trusts: the call context the supervisor attached; nothing in the payload.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use serde_json::{json, Value};

use super::AppState;
use crate::objects::directory::{valid_id, ObjectKey, Version};
use crate::objects::Objects;
use crate::supervisor::bindings::Binding;
use crate::supervisor::{CallContext, HostCalls, Keep, Queued, Resources};
use tokio::sync::oneshot;

#[path = "object_alarms.rs"]
mod alarms;
#[path = "object_sockets.rs"]
mod sockets;

/// Longest name an id is made from, bytes.
const MAX_NAME_BYTES: usize = 2048;

/// The object calls' shared state.
pub struct ObjectCalls {
    state: OnceLock<Weak<AppState>>,
    objects: Arc<Objects>,
}

fn refusal(name: &str, message: impl Into<String>) -> Vec<u8> {
    crate::storage::frame(
        &json!({"error": {"name": name, "message": message.into()}}),
        &[],
    )
}

/// Leaves the directory's count of calls in flight when dropped: held by the call's job
/// until its work is over (`Streams::keep`), so an object whose call left timers or
/// `waitUntil` work running is not idle, and by the caller until the answer.
struct InFlight {
    objects: Arc<Objects>,
    key: ObjectKey,
    /// The incarnation entered (a reset one's calls no longer count for the object).
    def: stockade_ipc::WorkerId,
    /// An open socket's pin (`Directory::enter_pin`), not a call.
    pin: bool,
}

impl InFlight {
    fn held(objects: &Arc<Objects>, key: &ObjectKey, def: &crate::supervisor::WorkerDef) -> Keep {
        Arc::new(InFlight {
            objects: Arc::clone(objects),
            key: key.clone(),
            def: def.id,
            pin: false,
        })
    }

    /// The pin of an open socket incarnation `def` `accept()`ed, if `def` is still live.
    fn pinned(
        objects: &Arc<Objects>,
        key: &ObjectKey,
        def: &stockade_ipc::WorkerId,
    ) -> Option<Self> {
        objects.directory().enter_pin(key, def).then(|| InFlight {
            objects: Arc::clone(objects),
            key: key.clone(),
            def: *def,
            pin: true,
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut directory = self.objects.directory();
        match self.pin {
            true => directory.leave_pin(&self.key, &self.def),
            false => directory.leave(&self.key, &self.def),
        }
    }
}

impl ObjectCalls {
    pub fn new(objects: Arc<Objects>) -> Arc<ObjectCalls> {
        Arc::new(ObjectCalls {
            state: OnceLock::new(),
            objects,
        })
    }

    /// Hands the calls the API's state, and starts evicting idle objects and firing alarms.
    pub fn attach(self: &Arc<Self>, state: Weak<AppState>) {
        let _ = self.state.set(state.clone());
        if let Some(app) = state.upgrade() {
            let _ = app.objects.set(Arc::clone(&self.objects));
        }
        tokio::spawn(alarms::run(state.clone(), Arc::clone(&self.objects)));
        let objects = Arc::clone(&self.objects);
        let idle = objects.settings.idle;
        tokio::spawn(async move {
            let period = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let Some(state) = state.upgrade() else {
                    return;
                };
                let (gone, reset) = {
                    let mut directory = objects.directory();
                    (directory.idle(idle), directory.take_reset())
                };
                for (key, def) in gone {
                    state.pool.dispose_worker(&def).await;
                    objects.db.close(&key);
                }
                // The object lives on in its new version: its file stays open.
                for def in reset {
                    state.pool.dispose_worker(&def).await;
                }
            }
        });
    }

    /// Registers `do.call` and `do.fetch`.
    pub fn register(self: &Arc<Self>, calls: &mut HostCalls) {
        for op in ["do.call", "do.fetch"] {
            let me = Arc::clone(self);
            calls.register_in_context(op, move |context, payload| {
                let me = Arc::clone(&me);
                // Taken here, synchronously, in the order the request made its calls.
                let turn = CallOrder::turn(&context.resources, &payload);
                async move { me.answer(op, context, payload, turn).await }
            });
        }
    }

    async fn answer(
        &self,
        op: &str,
        context: CallContext,
        payload: Vec<u8>,
        (before, queued): Turn,
    ) -> Result<Vec<u8>, String> {
        // First, the request's call before this one to the object is queued to its process (or
        // over): a refusal of this one below then releases the next one no earlier.
        if let Some(before) = before {
            let _ = before.await;
        }
        let state = self
            .state
            .get()
            .and_then(Weak::upgrade)
            .ok_or("the daemon is stopping")?;
        let (head, bytes) = crate::storage::split(&payload)?;
        let _upload = (op == "do.fetch")
            .then(|| super::service_fetch::UploadGuard::new(&context.resources, bytes));
        let (tenant, name) = context.binding_caller(Some(&state.pool.tenant_names()), &head)?;
        let (Some(Binding::DurableObjectNamespace { class_name }), Some(caller)) =
            (context.bindings.get(name), &context.caller.worker)
        else {
            return Err(format!(
                "this worker has no Durable Object namespace binding named {name:?}"
            ));
        };
        // An object's own calls are its worker's: the namespace is that worker's class.
        let worker = self
            .objects
            .directory()
            .object_of(&caller.id)
            .map(|k| k.worker.clone())
            .unwrap_or_else(|| caller.scope());
        if op == "do.call"
            && head
                .get("method")
                .and_then(Value::as_str)
                .is_some_and(|m| m.starts_with('\0'))
        {
            return Ok(refusal("TypeError", "no such RPC method"));
        }
        let id = head.get("id").and_then(Value::as_str).unwrap_or_default();
        if !valid_id(id) {
            return Ok(refusal(
                "TypeError",
                "a Durable Object id is 64 lowercase hex digits",
            ));
        }
        let object_name = match head.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) if n.len() <= MAX_NAME_BYTES => Some(n.as_str()),
            Some(_) => {
                return Ok(refusal(
                    "TypeError",
                    format!(
                        "a Durable Object's name is a string of at most {MAX_NAME_BYTES} bytes"
                    ),
                ))
            }
        };
        // As a service call: every call counts; over budget or too deep, nothing runs.
        let limits = &state.config.limits;
        let next = match super::services::spend_binding_call(
            &context.caller.chain,
            limits.max_binding_calls,
        ) {
            Ok(next) => next,
            Err(refused) => return Ok(crate::storage::frame(&refused, &[])),
        };
        if let Err(refused) = super::services::check_binding_depth(&next, limits.max_binding_depth)
        {
            return Ok(crate::storage::frame(&refused, &[]));
        }
        let key = ObjectKey {
            tenant: tenant.clone(),
            worker,
            class: class_name.clone(),
            id: id.to_owned(),
        };
        let parent = version_of(&state, &key).await.map_err(|_| {
            format!(
                "the worker {} is not one of this tenant's (any more)",
                key.worker
            )
        })?;
        let settings = &self.objects.settings;
        let caps = (settings.max_live_per_tenant, settings.max_live);
        let entered = match object_name {
            Some(name) => self
                .objects
                .directory()
                .enter(&key, Some(name), &parent, caps),
            // Addressed by its id alone (`idFromString`): a new incarnation is constructed with
            // the name its file keeps, as an event's is.
            None => self.objects.enter_unnamed(&key, &parent, caps).await,
        };
        let def = match entered {
            Ok(def) => def,
            Err(full) => return Ok(refusal("QuotaExceededError", full.0)),
        };
        let in_flight = InFlight::held(&self.objects, &key, &def);
        let callee = super::worker_fetch::Callee {
            def,
            entrypoint: class_name.clone(),
            keep: Some(in_flight),
            queued: Some(queued),
            props: None,
        };
        let answer = if op == "do.call" {
            let resources = &context.resources;
            super::services::rpc(&state, &tenant, callee, &head, bytes, next, resources).await
        } else if sockets::asks_for_socket(bytes) {
            let resources = &context.resources;
            sockets::fetch(&state, &self.objects, callee, &key, bytes, next, resources).await
        } else {
            let call = head
                .get("call")
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok());
            let resources = &context.resources;
            super::service_fetch::fetch(&state, &tenant, callee, bytes, next, resources, call).await
        };
        Ok(match answer {
            Ok((head, bytes)) if head.is_null() => bytes,
            Ok((head, bytes)) => crate::storage::frame(&head, &bytes),
            Err(head) => crate::storage::frame(&head, &[]),
        })
    }
}

/// A call's place in its request's order: the request's call before it to the same object, to
/// wait for, and what tells the next one.
type Turn = (Option<oneshot::Receiver<()>>, Queued);

/// The order a request's calls to one object reach it in: the order the request made them (as
/// Cloudflare delivers a stub's calls). A call waits until the request's call before it to the
/// same object (binding, id) is queued to a worker process, or is over unsent; calls queued to
/// one process reach the object's isolate there in that order (`Ticket::on_queued`). A call
/// placed again (its process died before it ran, or was retired) is queued anew elsewhere and
/// may be overtaken. Kept in the request's `Resources`: it ends with the request.
#[derive(Default)]
struct CallOrder {
    /// (binding, id) → what the request's last call to it tells.
    last: HashMap<(String, String), oneshot::Receiver<()>>,
}

impl CallOrder {
    /// The next call's turn, from its payload's head (a payload without one is refused later:
    /// it waits for nothing).
    fn turn(resources: &Resources, payload: &[u8]) -> Turn {
        let (queued, told) = Queued::new();
        let key = crate::storage::split(payload).ok().map(|(head, _)| {
            let field = |name: &str| {
                head.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            (field("binding"), field("id"))
        });
        let before = key.and_then(|key| {
            resources.shared::<CallOrder, _>(|order| {
                // Past a few objects, those whose last call is queued already are forgotten: what
                // is kept is bounded by the calls not yet queued, not by the ids a request names.
                if order.last.len() >= SWEEP_ORDER_AT {
                    order.last.retain(|_, told| {
                        matches!(told.try_recv(), Err(oneshot::error::TryRecvError::Empty))
                    });
                }
                order.last.insert(key, told)
            })
        });
        (before, queued)
    }
}

/// How many objects' last calls [`CallOrder`] keeps before it forgets those already queued.
const SWEEP_ORDER_AT: usize = 64;

/// The version of `key`'s worker that serves the object (`key.worker` is an id, or a name): under
/// a gradual deployment, the one its id falls to (the class and id as the version key), so one
/// object runs one version at every call, event and alarm while the shares stay, and moves (reset,
/// as a new version resets it) only toward the version that grows; else the name's current one.
/// Stamped with when the read of the name's deployment began (`directory::Version`; a read kept
/// in memory keeps its own time), so a slow or cached lookup that read the store before a
/// deployment changed never resets the object back.
pub(crate) async fn version_of(
    state: &AppState,
    key: &ObjectKey,
) -> Result<Version, super::error::ApiError> {
    let choice = super::deployments::VersionChoice {
        key: Some(format!("{}/{}", key.class, key.id)),
        overrides: None,
    };
    let (def, looked_up) =
        super::names::find_serving_read(state, &key.tenant, &key.worker, &choice).await?;
    Ok(Version { def, looked_up })
}

/// The worker whose log ring a call's console lines go to (`GET /v1/workers/{id}/logs`): the
/// definition's own, except for a live Durable Object's, which runs as a definition of its own
/// (`objects/directory.rs`) and whose lines go to the worker that exports its class.
pub(super) fn log_ring_of(state: &AppState, def: &crate::supervisor::WorkerDef) -> String {
    state
        .objects
        .get()
        .and_then(|objects| {
            objects
                .directory()
                .object_of(&def.id)
                .map(ObjectKey::log_ring)
        })
        .unwrap_or_else(|| def.log_ring())
}
