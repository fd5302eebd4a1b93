//! Host calls: what a running request may ask the supervisor (`ToSupervisor::HostCall`), by
//! name. A registry maps each name to an async handler `(tenant, payload) -> Result<payload,
//! message>`; the link (`link`) dispatches a worker's call to it and answers `HostReply`.
//!
//! Guarantees: a handler runs on the supervisor's runtime (its first steps in the link's router
//! task, up to its first wait, then as a task of its own) and must never block a thread (sleep
//! with tokio, do I/O asynchronously, keep work before its first wait short); an unknown name
//! is answered with an error, never dispatched; the registry is fixed once the pool starts. In
//! debug builds only, the registry has `test.echo`, which proves the mechanism end to end;
//! release builds contain no test call. Outbound `fetch` is registered by the egress gateway
//! (`crate::egress`).
//!
//! A handler registered with [`HostCalls::register_in_context`] also gets the request's
//! [`CallContext`]: where its outbound requests go (the Loader API's `globalOutbound`) and the
//! bindings its worker's `env` grants (`bindings`).
//!
//! The calls of the bindings Cloudflare counts among a request's six simultaneous open
//! connections (`crate::egress::connections::counts`: KV, Cache, R2, Queues) are dispatched
//! through the request's gate: a handler starts only once the call holds a slot, given back when
//! the call ends or is dropped (an R2 body that streams on after its `r2.get` answered holds
//! none, as a fetch's body holds none). R2's `put` and `uploadPart` take theirs in their handler
//! (`storage/r2_calls.rs`), or their upload's.
//!
//! Every call dispatched is counted by name ([`render`]: `stockade_host_calls_total`); the names
//! are the registry's, never a worker's.
//!
//! Trusts: nothing in the payload (tenant code controls it, up to
//! `stockade_ipc::limits::MAX_HOST_CALL_PAYLOAD` bytes); the tenant id, which the supervisor
//! itself attached to the request. A handler's time counts against the request's wall-clock limit
//! only (the worker enforces that); the link caps how many calls one request has outstanding,
//! and what their payloads and answers hold (`held`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use stockade_cordon::TenantId;

use super::bindings::Bindings;
use super::held::Budget;
use crate::egress::connections;

/// What a handler eventually answers: the reply payload, or why the call failed.
pub type HostResult = Result<Vec<u8>, String>;

/// A handler's answer, boxed.
pub type HostFuture = Pin<Box<dyn Future<Output = HostResult> + Send>>;

type Handler = Arc<dyn Fn(CallContext, Vec<u8>) -> HostFuture + Send + Sync>;

/// Host calls dispatched since the daemon started, by registered name.
static DISPATCHED: Mutex<BTreeMap<String, Arc<AtomicU64>>> = Mutex::new(BTreeMap::new());

/// The counter of registered call `name` in [`DISPATCHED`].
fn counter_of(name: &str) -> Arc<AtomicU64> {
    let mut all = DISPATCHED.lock().unwrap_or_else(|e| e.into_inner());
    Arc::clone(all.entry(name.to_owned()).or_default())
}

/// `stockade_host_calls_total{call}`: the host calls dispatched since the daemon started, by
/// name (the registry's names only: a call of an unknown name is not counted).
pub fn render(out: &mut String) {
    use crate::metrics::{header, sample};
    let name = "stockade_host_calls_total";
    header(
        out,
        name,
        "counter",
        "Host calls dispatched to their handlers (KV, R2, fetch, service and object calls...), by name.",
    );
    let all = DISPATCHED.lock().unwrap_or_else(|e| e.into_inner());
    for (call, count) in all.iter() {
        sample(
            out,
            name,
            &[("call", call)],
            count.load(Ordering::Relaxed) as f64,
        );
    }
}

/// Where a request's outbound `fetch()` goes: the Loader API's `globalOutbound`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Outbound {
    /// The tenant's egress policy (`globalOutbound` absent; every Code Mode request).
    #[default]
    Policy,
    /// No network at all (`globalOutbound: null`).
    Blocked,
    /// Delivered to this Loader worker of the same tenant, `{"worker": "<id>"}`.
    Worker(OutboundTarget),
}

/// The Loader worker a `globalOutbound` delivers to: its id (hex), and optionally the named
/// export whose `fetch` is called and the `ctx.props` it sees (`{"worker", "entrypoint"?,
/// "props"?}`; a Loader child's `ctx.exports.Name({props})` of its parent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTarget {
    pub worker: String,
    pub entrypoint: Option<String>,
    /// Canonical JSON text of an object (`bindings::props_of`).
    pub props: Option<String>,
}

impl OutboundTarget {
    /// The default export of `worker`, without props.
    pub fn to(worker: impl Into<String>) -> OutboundTarget {
        OutboundTarget {
            worker: worker.into(),
            entrypoint: None,
            props: None,
        }
    }
}

/// What the supervisor knows of the request that made a host call (it attached all of it).
#[derive(Clone)]
pub struct CallContext {
    pub tenant: TenantId,
    pub outbound: Outbound,
    /// What the request holds across its calls; dropped when the request ends.
    pub resources: Arc<Resources>,
    /// What the worker's `env` grants, from the definition the supervisor stored (empty for
    /// Code Mode).
    pub bindings: Arc<Bindings>,
    /// Which worker made the call, and the chain of binding calls it runs in.
    pub caller: Caller,
    /// The worker process life whose isolate made the call (0: none, a call the supervisor
    /// makes itself).
    pub life: u64,
    /// A synchronous call's CPU allowance: what its request has left, as the worker says
    /// (`HostCall::cpu_left_us`; a claim, which only bounds the request's own work further).
    /// `None` for an asynchronous call.
    pub cpu_left: Option<std::time::Duration>,
    /// The CPU time the handler spent for the call where it measures it (a Durable Object's
    /// storage operation): sent with the answer, and charged to a synchronous call's request.
    pub spent: Spent,
}

/// CPU time a host call's handler spent for it, added up wherever the work ran (a blocking
/// thread of the runtime's pool), read by the link when it answers. Only a synchronous call's is
/// measured ([`Spent::measured`]); the default, every other call's, allocates nothing and keeps
/// nothing.
#[derive(Clone, Default, Debug)]
pub struct Spent(Option<Arc<std::sync::atomic::AtomicU64>>);

impl Spent {
    /// A call's measure, starting at nothing.
    pub fn measured() -> Spent {
        Spent(Some(Arc::default()))
    }

    /// Adds `cpu` to what the call spent (nothing when it is not measured).
    pub fn add(&self, cpu: std::time::Duration) {
        if let Some(total) = &self.0 {
            let us = u64::try_from(cpu.as_micros()).unwrap_or(u64::MAX);
            total.fetch_add(us, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// What the call spent so far, microseconds (saturated to the protocol's `u32`; 0 when it is
    /// not measured).
    pub fn micros(&self) -> u32 {
        let us = self
            .0
            .as_ref()
            .map_or(0, |t| t.load(std::sync::atomic::Ordering::Relaxed));
        u32::try_from(us).unwrap_or(u32::MAX)
    }
}

/// The Loader worker a request runs (`None` for Code Mode), and where the request stands in a
/// chain of service / Loader calls (A calls B calls C...): attached by the supervisor.
#[derive(Clone, Default)]
pub struct Caller {
    pub worker: Option<Arc<super::WorkerDef>>,
    pub chain: Chain,
    /// What the supervisor attached to this one request for its host calls' handlers (an RPC
    /// call's session, `crate::api` `rpc_targets`): set by the job's maker, never by the worker.
    pub session: Option<Session>,
}

/// A request's session: its handler's own type (see [`Caller::session`]).
pub type Session = Arc<dyn std::any::Any + Send + Sync>;

/// A chain of binding calls: how deep this request is (0 for a client's request), and the calls
/// the whole chain has made so far, shared by every request of the chain (so fanning out does
/// not multiply the budget).
#[derive(Clone, Default)]
pub struct Chain {
    pub depth: u32,
    pub calls: Arc<std::sync::atomic::AtomicU32>,
}

impl CallContext {
    /// The calling tenant's name (by the pool's own id table: ids are given once and kept
    /// across reloads, while the config's order may change) and the binding a host call's
    /// request `head` names: what every binding's host call starts with.
    pub fn binding_caller<'h>(
        &self,
        names: Option<&super::TenantNames>,
        head: &'h serde_json::Value,
    ) -> Result<(String, &'h str), String> {
        let tenant = names
            .and_then(|names| names.name(self.tenant))
            .ok_or("unknown tenant")?;
        let name = head
            .get("binding")
            .and_then(serde_json::Value::as_str)
            .ok_or("the request names no binding")?;
        Ok((tenant, name))
    }
}

impl From<TenantId> for CallContext {
    fn from(tenant: TenantId) -> CallContext {
        CallContext {
            tenant,
            outbound: Outbound::Policy,
            resources: Arc::default(),
            bindings: Arc::default(),
            caller: Caller::default(),
            life: 0,
            cpu_left: None,
            spent: Spent::default(),
        }
    }
}

/// What one request holds across its host calls (an outbound response body it is still
/// reading, say), by a number only that request's calls can name: one request's calls never
/// reach another's. Everything is dropped (connections closed) when the request ends and the
/// link forgets it. At most [`Resources::MAX`] at once.
/// A request's resources by number, and the last number given.
type Slots = (u32, HashMap<u32, Box<dyn std::any::Any + Send>>);

#[derive(Default)]
pub struct Resources {
    slots: std::sync::Mutex<Slots>,
    /// Resources named by the request itself (an upload it feeds while its fetch waits).
    named: std::sync::Mutex<HashMap<u32, Box<dyn std::any::Any + Send>>>,
    /// At most one value of each type, shared by the request's calls (its service fetches'
    /// aborts, say).
    shared: std::sync::Mutex<HashMap<std::any::TypeId, Box<dyn std::any::Any + Send>>>,
    /// Calls to tenant capabilities this request has made (`crate::capabilities`).
    pub capability_calls: std::sync::atomic::AtomicU32,
}

impl Resources {
    /// Resources one request may hold at once.
    pub const MAX: usize = 16;

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `value`; its number, or `None` when the request holds [`Resources::MAX`] already.
    pub fn insert<T: Send + 'static>(&self, value: T) -> Option<u32> {
        let mut slots = self.slots();
        if slots.1.len() >= Resources::MAX {
            return None;
        }
        slots.0 = slots.0.wrapping_add(1).max(1);
        let id = slots.0;
        slots.1.insert(id, Box::new(value));
        Some(id)
    }

    /// Takes resource `id` out (to use it without holding the lock); `None` if there is none
    /// of that type (or it is in use). [`Resources::put_back`] returns it.
    pub fn take<T: Send + 'static>(&self, id: u32) -> Option<T> {
        let mut slots = self.slots();
        if !slots.1.get(&id).is_some_and(|v| v.is::<T>()) {
            return None;
        }
        slots.1.remove(&id)?.downcast::<T>().ok().map(|b| *b)
    }

    /// A clone of resource `id`, left in place; `None` if there is none of that type.
    pub fn cloned<T: Clone + Send + 'static>(&self, id: u32) -> Option<T> {
        self.slots().1.get(&id)?.downcast_ref::<T>().cloned()
    }

    /// Returns a taken resource under its number.
    pub fn put_back<T: Send + 'static>(&self, id: u32, value: T) {
        self.slots().1.insert(id, Box::new(value));
    }

    /// Runs `f` on the resource the request named `key`, made by `make` if there is none yet
    /// (whichever of two calls comes first makes it); `None` if `key` holds another type or the
    /// request names [`Resources::MAX`] already.
    pub fn with_named<T: Send + 'static, R>(
        &self,
        key: u32,
        make: impl FnOnce() -> T,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<R> {
        let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        if !named.contains_key(&key) {
            if named.len() >= Resources::MAX {
                return None;
            }
            named.insert(key, Box::new(make()));
        }
        named.get_mut(&key)?.downcast_mut::<T>().map(f)
    }

    /// Whether the request names [`Resources::MAX`] resources and `key` is not one of them (why
    /// [`Resources::with_named`] found no room for it).
    pub fn named_full(&self, key: u32) -> bool {
        let named = self.named.lock().unwrap_or_else(|e| e.into_inner());
        !named.contains_key(&key) && named.len() >= Resources::MAX
    }

    /// Runs `f` on the request's one value of type `T` (made with `T::default()` first).
    pub fn shared<T: Default + Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let slot = shared
            .entry(std::any::TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()));
        match slot.downcast_mut::<T>() {
            Some(value) => f(value),
            // Unreachable: the slot of `TypeId::of::<T>()` only ever holds a `T`.
            None => f(&mut T::default()),
        }
    }

    /// Runs `f` on the request's one value of type `T` if one was made ([`Resources::shared`]);
    /// nothing is made otherwise.
    pub fn shared_if_made<T: Send + 'static>(&self, f: impl FnOnce(&mut T)) {
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = shared
            .get_mut(&std::any::TypeId::of::<T>())
            .and_then(|slot| slot.downcast_mut::<T>())
        {
            f(value);
        }
    }

    /// Forgets the resource the request named `key`.
    pub fn forget_named(&self, key: u32) {
        self.named
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }
}

/// The registry of host calls, by name, and the budget of what their payloads hold.
#[derive(Default)]
pub struct HostCalls {
    handlers: HashMap<String, (Handler, Arc<AtomicU64>)>,
    budget: Arc<Budget>,
    /// Told when a worker process is gone (see [`HostCalls::on_exit`]).
    exit_watches: Vec<ExitWatch>,
}

/// Told that worker process life `life` is gone (it died, or retired and exited): what a handler
/// keeps for that process's isolates is void.
pub type ExitWatch = Box<dyn Fn(u64) + Send + Sync>;

impl HostCalls {
    /// Sets the daemon's budget for the payloads of outstanding calls and one tenant's share of
    /// it (`[limits] host_call_memory_mb`, `host_call_memory_per_tenant_mb`); before the pool
    /// starts.
    pub fn set_budget_mb(&mut self, mb: u64, tenant_mb: u64) {
        self.budget = Arc::new(Budget::of_mb(mb, tenant_mb));
    }

    /// What every outstanding call's payload is counted against (see `held`).
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// The daemon's registry: in debug builds `test.echo`, else nothing yet.
    pub fn standard() -> HostCalls {
        #[allow(unused_mut)] // release builds register nothing yet
        let mut calls = HostCalls::default();
        #[cfg(debug_assertions)]
        calls.register("test.echo", test_echo);
        calls
    }

    /// Has `watch` told of every worker process that is gone from now on (before the pool
    /// reloads its workers elsewhere): handlers that keep state for one process's isolates
    /// (a Durable Object's own sockets, `crate::objects`) drop it there.
    pub fn on_exit(&mut self, watch: ExitWatch) {
        self.exit_watches.push(watch);
    }

    /// Worker process life `life` is gone.
    pub fn process_gone(&self, life: u64) {
        for watch in &self.exit_watches {
            watch(life);
        }
    }

    /// Registers `handler` under `name`, replacing any handler of that name.
    // Release builds register no call yet (outbound fetch, RPC and storage will).
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    pub fn register<F, Fut>(&mut self, name: &str, handler: F)
    where
        F: Fn(TenantId, Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HostResult> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |context: CallContext, payload| {
            Box::pin(handler(context.tenant, payload))
        });
        self.handlers
            .insert(name.to_owned(), (handler, counter_of(name)));
    }

    /// Registers `handler` under `name`; it gets the request's whole [`CallContext`].
    pub fn register_in_context<F, Fut>(&mut self, name: &str, handler: F)
    where
        F: Fn(CallContext, Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HostResult> + Send + 'static,
    {
        let handler: Handler =
            Arc::new(move |context, payload| Box::pin(handler(context, payload)));
        self.handlers
            .insert(name.to_owned(), (handler, counter_of(name)));
    }

    /// The call `name` of a request (its tenant, or its whole context) with `payload`, ready to
    /// be awaited; `None` for an unknown name. A call that is one of the request's open
    /// connections (`connections::counts`) first waits for its slot.
    pub fn call(
        &self,
        name: &str,
        context: impl Into<CallContext>,
        payload: Vec<u8>,
    ) -> Option<HostFuture> {
        let (handler, dispatched) = self.handlers.get(name)?;
        dispatched.fetch_add(1, Ordering::Relaxed);
        let context = context.into();
        if !connections::counts(name) {
            return Some(handler(context, payload));
        }
        let handler = Arc::clone(handler);
        let resources = Arc::clone(&context.resources);
        Some(Box::pin(async move {
            connections::gated(&resources, || handler(context, payload))
                .await
                .map_err(|closed| closed.to_string())?
        }))
    }
}

/// The longest `test.echo` sleeps, milliseconds.
#[cfg(debug_assertions)]
pub const TEST_ECHO_MAX_SLEEP_MS: u64 = 10_000;

/// `test.echo` (debug builds): the payload is JSON `{"sleepMs": n, "echo": <any JSON>}`; sleeps
/// `min(n, 10000)` ms without blocking anything and answers the JSON text of `echo` (`null`
/// when absent).
#[cfg(debug_assertions)]
async fn test_echo(_tenant: TenantId, payload: Vec<u8>) -> HostResult {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Echo {
        #[serde(default)]
        sleep_ms: u64,
        #[serde(default)]
        echo: serde_json::Value,
    }
    let wants = |e: &dyn std::fmt::Display| {
        format!("test.echo wants {{\"sleepMs\": n, \"echo\": any}}: {e}")
    };
    let request = match serde_json::from_slice(&payload).map_err(|e| wants(&e))? {
        object @ serde_json::Value::Object(_) => {
            serde_json::from_value::<Echo>(object).map_err(|e| wants(&e))?
        }
        _ => return Err(wants(&"not an object")),
    };
    let sleep = request.sleep_ms.min(TEST_ECHO_MAX_SLEEP_MS);
    tokio::time::sleep(std::time::Duration::from_millis(sleep)).await;
    serde_json::to_vec(&request.echo).map_err(|e| format!("test.echo: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_typed_numbered_and_bounded() {
        let resources = Resources::default();
        let a = resources.insert(7u8).expect("room");
        assert_eq!(
            resources.take::<String>(a),
            None,
            "the wrong type is not taken"
        );
        assert_eq!(resources.take::<u8>(a), Some(7));
        assert_eq!(resources.take::<u8>(a), None, "taken: in use");
        resources.put_back(a, 8u8);
        assert_eq!(resources.take::<u8>(a), Some(8));
        for _ in 0..Resources::MAX {
            assert!(resources.insert(1u8).is_some());
        }
        assert!(resources.insert(1u8).is_none(), "bounded");
        // Named ones: made by the first user, shared by the next, typed.
        assert_eq!(resources.with_named(5, || 1u8, |v| *v), Some(1));
        assert_eq!(resources.with_named(5, || 2u8, |v| *v), Some(1));
        assert_eq!(resources.with_named(5, String::new, |v| v.len()), None);
        resources.forget_named(5);
        assert_eq!(resources.with_named(5, || 3u8, |v| *v), Some(3));
    }

    #[tokio::test]
    async fn unknown_names_are_not_dispatched() {
        let calls = HostCalls::standard();
        assert!(calls
            .call("no.such.call", TenantId(1), Vec::new())
            .is_none());
    }

    #[tokio::test]
    async fn registered_handlers_get_the_tenant_and_payload() {
        let mut calls = HostCalls::default();
        calls.register("t.who", |tenant: TenantId, payload: Vec<u8>| async move {
            Ok(format!("{}:{}", tenant.0, String::from_utf8_lossy(&payload)).into_bytes())
        });
        let answer = calls.call("t.who", TenantId(7), b"hi".to_vec());
        assert_eq!(answer.expect("registered").await, Ok(b"7:hi".to_vec()));
    }

    #[tokio::test]
    async fn counted_binding_calls_wait_for_a_place_among_the_open_connections() {
        use futures_util::FutureExt as _;
        let mut calls = HostCalls::default();
        for name in ["kv.get", "d1.exec"] {
            calls.register_in_context(name, |_: CallContext, _: Vec<u8>| async { Ok(Vec::new()) });
        }
        let context = CallContext::from(TenantId(1));
        let six: Vec<_> = (0..connections::MAX_OPEN)
            .map(|_| {
                connections::open(&context.resources)
                    .now_or_never()
                    .expect("room")
                    .expect("slot")
            })
            .collect();
        let mut kv = calls
            .call("kv.get", context.clone(), Vec::new())
            .expect("registered");
        assert!(
            (&mut kv).now_or_never().is_none(),
            "KV waits while six are open"
        );
        let d1 = calls.call("d1.exec", context.clone(), Vec::new());
        assert_eq!(d1.expect("registered").now_or_never(), Some(Ok(Vec::new())));
        drop(six);
        assert_eq!(kv.now_or_never(), Some(Ok(Vec::new())), "then it runs");
    }

    #[cfg(debug_assertions)]
    #[tokio::test(start_paused = true)]
    async fn test_echo_sleeps_at_most_ten_seconds_and_echoes_json() {
        let calls = HostCalls::standard();
        let start = tokio::time::Instant::now();
        let payload = br#"{"sleepMs": 99999999, "echo": {"a": [1, "x"]}}"#.to_vec();
        let answer = calls
            .call("test.echo", TenantId(1), payload)
            .expect("registered");
        assert_eq!(answer.await, Ok(br#"{"a":[1,"x"]}"#.to_vec()));
        assert_eq!(
            start.elapsed().as_millis(),
            u128::from(TEST_ECHO_MAX_SLEEP_MS)
        );

        let answer = calls.call("test.echo", TenantId(1), b"{}".to_vec());
        assert_eq!(answer.expect("registered").await, Ok(b"null".to_vec()));
        for bad in [
            &b"[1]"[..],
            b"not json",
            br#"{"sleepMs": -1}"#,
            br#"{"x": 1}"#,
        ] {
            let answer = calls.call("test.echo", TenantId(1), bad.to_vec());
            assert!(answer.expect("registered").await.is_err());
        }
    }
}
