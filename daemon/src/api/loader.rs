//! The Loader API: create a worker from modules at runtime, describe it, delete it, and call its
//! `fetch` handler. Field names follow Cloudflare's `WorkerCode`.
//!
//! A worker's id is SHA-256 over its tenant and its whole definition, so loading the same code
//! twice is cheap (same id, same cached isolate) and two tenants never share an entry.
//!
//! `compatibilityDate` and `compatibilityFlags` are validated with `stockade_source::compat` (an
//! unknown flag, a malformed date or one later than the build supports is a 400) and travel to the
//! worker in `LoadWorker`, which reads them with the same code.
//!
//! Definitions are durable: `create` answers only once the definition is in the store, and a
//! worker not in memory (after a restart, or made by another daemon sharing the store) is read
//! back from it on first use. `env` takes any JSON values; an object with a `binding` key is a
//! capability (`supervisor::bindings`), checked here.
//!
//! `globalOutbound` says where the worker's `fetch()` goes: absent, through the tenant's egress
//! policy; `null`, nowhere (every fetch fails); `{"worker": "<id>"}`, to that worker's `fetch`
//! handler (one of the same tenant's workers, which must exist when this one is created). As the
//! id hashes the definition, `globalOutbound` included, such chains cannot form a cycle.
//!
//! `triggers: {"crons": [...]}` gives the worker cron triggers (`crate::scheduled`): each a valid
//! expression (a 400 naming a bad one), no two alike, at most `[limits] max_crons_per_worker`;
//! they hash into the id and are stored with the definition. A Loader child takes none.
//! `triggers: {"queues": [{"queue": "q", "max_batch_size"?, "max_batch_timeout"?, "max_retries"?,
//! "dead_letter_queue"?, "retry_delay"?}]}` makes it the consumer of the tenant's queues
//! (`crate::queues`, Cloudflare's names and defaults; a 400 naming a bad entry); a queue another
//! of the tenant's workers consumes is a 409, and nothing is stored.
//!
//! `limits: {cpuMs, wallMs, memoryMb, subRequests}` are capped by `[limits]`; `eventWallMs`, the
//! wall-clock limit of the worker's events (cron runs, queue batches, its Durable Objects'
//! alarms), is 1 to `[limits] event_wall_ms` (a larger one is a 400 naming both), absent the
//! daemon's; a Loader child's is at most its parent's. The creation answer and `GET` show each as
//! it applies.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use stockade_ipc::{limits as wire, ModuleKind, WorkerId};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
use super::json;
pub(super) use super::names::find;
use super::names::{current_version, name_changed};
use super::narrow::{narrowed_limits, narrowed_outbound};
use super::quota::check_workers;
use super::run::{event_wall_ms, request_limits, LimitsIn};
use super::{outbound, AppState};
use crate::store::{worker_names, workers};
use crate::supervisor::{bindings, CodeFeatures, Outbound, WorkerDef};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkerCode {
    /// A tenant-scoped name: this definition becomes the name's current version.
    #[serde(default)]
    name: Option<String>,
    main_module: String,
    modules: BTreeMap<String, ModuleValue>,
    #[serde(default)]
    env: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    compatibility_date: Option<String>,
    #[serde(default)]
    compatibility_flags: Vec<String>,
    #[serde(default)]
    limits: LimitsIn,
    /// Absent: `None`; `null`: `Some(None)`.
    #[serde(default, deserialize_with = "outbound::present")]
    global_outbound: Option<Option<outbound::OutboundWorker>>,
    #[serde(default)]
    triggers: Triggers,
}

/// `triggers` of a WorkerCode, as wrangler's configuration spells it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Triggers {
    #[serde(default)]
    crons: Vec<String>,
    /// Queues it consumes (`crate::queues`).
    #[serde(default)]
    queues: Vec<crate::queues::Consumer>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModuleValue {
    Source(String),
    Typed(TypedModule),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedModule {
    js: Option<String>,
    ts: Option<String>,
    text: Option<String>,
    json: Option<serde_json::Value>,
    /// Base64.
    data: Option<String>,
    /// CommonJS source.
    cjs: Option<String>,
    /// Base64 of a WebAssembly binary.
    wasm: Option<String>,
}

/// The calling tenant and its request body, parsed as JSON (`what` names it in errors).
pub(super) fn tenant_and_json<T: serde::de::DeserializeOwned>(
    who: &Caller,
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<(String, T), ApiError> {
    let tenant = who.tenant()?;
    let body = body_or_error(body)?;
    let value = json::from_body(&body, what)?;
    Ok((tenant, value))
}

pub(super) fn body_or_error(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge("the request body is too large".into()),
        _ => ApiError::BadRequest(format!("cannot read the request body: {e}")),
    })
}

fn module(name: &str, value: ModuleValue) -> Result<stockade_ipc::Module, ApiError> {
    let bad = |m: String| ApiError::BadRequest(format!("module {name:?}: {m}"));
    // A string is TypeScript when named .ts/.mts, CommonJS when named .cjs, else an ES module.
    let (kind, bytes) = match value {
        ModuleValue::Source(s) => (
            if name.ends_with(".ts") || name.ends_with(".mts") {
                ModuleKind::Ts
            } else if name.ends_with(".cjs") {
                ModuleKind::Cjs
            } else {
                ModuleKind::Js
            },
            s.into_bytes(),
        ),
        ModuleValue::Typed(t) => {
            let given = [
                t.js.is_some(),
                t.ts.is_some(),
                t.text.is_some(),
                t.json.is_some(),
                t.data.is_some(),
                t.cjs.is_some(),
                t.wasm.is_some(),
            ];
            if given.iter().filter(|g| **g).count() != 1 {
                return Err(bad(
                    "give exactly one of js, cjs, ts, text, json, data, wasm".into(),
                ));
            }
            let base64 = |field: &str, value: String| {
                base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .map_err(|e| bad(format!("{field} is not base64: {e}")))
            };
            if let Some(js) = t.js {
                (ModuleKind::Js, js.into_bytes())
            } else if let Some(ts) = t.ts {
                (ModuleKind::Ts, ts.into_bytes())
            } else if let Some(text) = t.text {
                (ModuleKind::Text, text.into_bytes())
            } else if let Some(json) = t.json {
                (ModuleKind::Json, json.to_string().into_bytes())
            } else if let Some(cjs) = t.cjs {
                (ModuleKind::Cjs, cjs.into_bytes())
            } else if let Some(wasm) = t.wasm {
                let bytes = base64("wasm", wasm)?;
                if !bytes.starts_with(b"\0asm") {
                    return Err(bad(
                        "wasm is not a WebAssembly binary (no \\0asm header)".into()
                    ));
                }
                (ModuleKind::Wasm, bytes)
            } else {
                (
                    ModuleKind::Data,
                    base64("data", t.data.unwrap_or_default())?,
                )
            }
        }
    };
    let normalised = stockade_source::modules::normalise_name(name).map_err(bad)?;
    Ok(stockade_ipc::Module {
        name: normalised,
        kind,
        bytes,
    })
}

fn worker_id(tenant: &str, def: &WorkerDef) -> WorkerId {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(tenant.as_bytes());
    // Only when given: a definition without one keeps the id it always had.
    if let Some(name) = &def.name {
        field(b"name");
        field(name.as_bytes());
    }
    field(def.main_module.as_bytes());
    for m in &def.modules {
        field(m.name.as_bytes());
        field(&[m.kind as u8]);
        field(&m.bytes);
    }
    for (k, v) in &def.env {
        field(k.as_bytes());
        field(v.to_string().as_bytes());
    }
    for v in def.limits.to_array() {
        field(&v.to_le_bytes());
    }
    // Only when given: a definition without it keeps the id it always had.
    if let Some(ms) = def.event_wall_ms {
        field(b"eventWallMs");
        field(&ms.to_le_bytes());
    }
    field(def.compatibility_date.as_deref().unwrap_or("").as_bytes());
    field(&(def.compatibility_flags.len() as u64).to_le_bytes());
    for flag in &def.compatibility_flags {
        field(flag.as_bytes());
    }
    match &def.outbound {
        Outbound::Policy => field(b"policy"),
        Outbound::Blocked => field(b"blocked"),
        Outbound::Worker(target) => {
            field(b"worker");
            field(target.worker.as_bytes());
            // Only when there are any: a definition without them keeps the id it always had.
            if let Some(entrypoint) = &target.entrypoint {
                field(b"entrypoint");
                field(entrypoint.as_bytes());
            }
            if let Some(props) = &target.props {
                field(b"props");
                field(props.as_bytes());
            }
        }
    }
    // Only when there are any: a definition without triggers keeps the id it always had.
    if !def.crons.is_empty() {
        field(b"crons");
        field(&(def.crons.len() as u64).to_le_bytes());
        for cron in &def.crons {
            field(cron.as_bytes());
        }
    }
    if !def.queues.is_empty() {
        field(b"queues");
        for c in &def.queues {
            field(serde_json::to_string(c).unwrap_or_default().as_bytes());
        }
    }
    WorkerId(h.finalize().into())
}

pub fn hex(id: &WorkerId) -> String {
    id.to_hex()
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    who: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (tenant, code): (String, WorkerCode) = tenant_and_json(&who, body, "WorkerCode JSON")?;
    let (id, def) = define(&state, &tenant, code, None).await?;
    // The limits as they apply: what the tenant asked, lowered to `[limits]` where it asked for
    // more, so a client learns at once that its worker got less than it asked.
    let mut answer = serde_json::json!({ "id": id, "limits": applied_limits(&state, &def) });
    if let Some(name) = &def.name {
        answer["name"] = serde_json::json!(name);
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// A worker's limits as they apply, in the API's names (the creation answer and `GET` show them).
fn applied_limits(state: &AppState, def: &WorkerDef) -> serde_json::Value {
    let l = &def.limits;
    serde_json::json!({
        "cpuMs": l.cpu_ms,
        "wallMs": l.wall_ms,
        "memoryMb": l.memory_mb,
        "subRequests": l.sub_requests,
        "eventWallMs": def.event_wall_ms.unwrap_or(state.config.limits.event_wall_ms),
    })
}

/// Validates, stores (within the tenant's quota) and keeps `tenant`'s worker defined by `code`:
/// its hex id and definition. `parent` is the worker whose `env.LOADER` asks for it: the child's
/// limits are then the parent's where it asks for more, its bindings must be ones the parent holds,
/// and its outbound can reach no further than the parent's (see [`narrowed_outbound`]).
pub(super) async fn define(
    state: &AppState,
    tenant: &str,
    code: WorkerCode,
    parent: Option<&WorkerDef>,
) -> Result<(String, Arc<WorkerDef>), ApiError> {
    let tenant = tenant.to_owned();
    let limits = &state.config.limits;
    if let Some(name) = &code.name {
        if parent.is_some() {
            return Err(ApiError::BadRequest(
                "name: a Loader worker's child has no name (it is found by its parent's id for it)"
                    .into(),
            ));
        }
        if !worker_names::valid_name(name) {
            return Err(ApiError::BadRequest(format!(
                "name {name:?}: a worker's name is 1-63 of [a-z0-9_-], starting with a letter or \
                 a digit"
            )));
        }
    }
    if code.modules.is_empty() || code.modules.len() > wire::MAX_MODULES {
        return Err(ApiError::BadRequest(format!(
            "give 1 to {} modules",
            wire::MAX_MODULES
        )));
    }
    // Validated here (a clear 400), interpreted by the worker with the same code.
    let compat = stockade_source::Compat::parse(
        code.compatibility_date.as_deref().unwrap_or(""),
        &code.compatibility_flags,
    )
    .map_err(ApiError::BadRequest)?;
    let mut modules = Vec::with_capacity(code.modules.len());
    let mut total = 0usize;
    for (name, value) in code.modules {
        let m = module(&name, value)?;
        total += m.bytes.len();
        if total > limits.max_code_bytes || m.bytes.len() > wire::MAX_MODULE_LEN {
            return Err(ApiError::TooLarge(format!(
                "modules exceed {} bytes of code",
                limits.max_code_bytes.min(wire::MAX_TOTAL_CODE)
            )));
        }
        modules.push(m);
    }
    let main_module = stockade_source::modules::normalise_name(&code.main_module)
        .map_err(|e| ApiError::BadRequest(format!("mainModule: {e}")))?;
    if !modules.iter().any(|m| m.name == main_module) {
        return Err(ApiError::BadRequest(format!(
            "mainModule {main_module:?} is not among the modules"
        )));
    }
    let mut env = Vec::with_capacity(code.env.len());
    let mut env_total = 0usize;
    let parent_id = parent.map(|p| hex(&p.id));
    for (k, mut v) in code.env {
        if let Some(parent_id) = &parent_id {
            loopback_to(&mut v, parent_id); // before its size is counted
        }
        // A NUL-led key is the runtime's own (a Durable Object's identity, `objects::directory`).
        if k.starts_with('\0') {
            return Err(ApiError::BadRequest(format!(
                "env: the key {k:?} is reserved (a NUL starts the runtime's own)"
            )));
        }
        // Any JSON value; it crosses to the worker as JSON text.
        env_total += k.len() + v.to_string().len();
        if env_total > limits.max_env_bytes.min(wire::MAX_ENV_TOTAL)
            || env.len() >= wire::MAX_ENV_VARS
            || k.len() > wire::MAX_ENV_NAME_LEN
        {
            return Err(ApiError::TooLarge(format!(
                "env exceeds {} bytes",
                limits.max_env_bytes
            )));
        }
        env.push((k, v));
    }
    let bindings = bindings::parse(&env).map_err(ApiError::BadRequest)?;
    if let Some(parent) = parent {
        bindings::subset(&bindings, &parent.bindings, &hex(&parent.id))
            .map_err(ApiError::Exceeds)?;
    }
    check_services(state, &tenant, &bindings).await?;
    state
        .capabilities
        .check_bindings(&tenant, &bindings)
        .await
        .map_err(ApiError::BadRequest)?;
    let crons = crate::scheduled::check_crons(
        code.triggers.crons,
        limits.max_crons_per_worker,
        parent.is_some(),
    )
    .map_err(ApiError::BadRequest)?;
    let queues = crate::queues::check_consumers(code.triggers.queues, parent.is_some())
        .map_err(ApiError::BadRequest)?;
    let mut outbound =
        outbound::resolve(state, &tenant, code.global_outbound, parent_id.as_deref()).await?;
    let mut asked_limits = request_limits(&code.limits, limits)?;
    let mut event_wall = event_wall_ms(&code.limits, limits)?;
    if let Some(parent) = parent {
        outbound = narrowed_outbound(
            outbound,
            &parent.outbound,
            &hex(&parent.id),
            &parent.bindings,
        )?;
        asked_limits = narrowed_limits(asked_limits, &parent.limits);
        // A child's events get no longer than its parent's.
        event_wall = match (event_wall, parent.event_wall_ms) {
            (Some(c), Some(p)) => Some(c.min(p)),
            (c, p) => c.or(p),
        };
    }
    let mut def = WorkerDef {
        id: WorkerId([0; 32]),
        tenant: tenant.clone(),
        name: code.name,
        main_module,
        modules,
        env,
        bindings: Arc::new(bindings),
        limits: asked_limits,
        event_wall_ms: event_wall,
        compatibility_date: compat.date.clone(),
        compatibility_flags: compat.flags.clone(),
        features: CodeFeatures::default(),
        outbound,
        crons,
        queues,
        deleted: Default::default(),
    };
    def.features = CodeFeatures::of(&def.modules);
    def.id = worker_id(&tenant, &def);
    let id = hex(&def.id);
    let def = Arc::new(def);
    // Stored before the answer: an acknowledged worker id survives a restart. The tenant's quota
    // of definitions is checked against the store in the same transaction that stores this one.
    // A Loader child's survives the daemon's crash but is not waited on to reach the disk (one
    // fsync, milliseconds of `LOADER.get`): it can be made again, by its parent's callback.
    let stored = Arc::clone(&def);
    let key = id.clone();
    let quotas = state.quotas.quotas(&tenant);
    // The name's versions beyond `max_versions` go in the same transaction (their ids, to forget).
    let check_and_put = move |tx: &mut dyn crate::store::Tx| {
        if workers::exists(tx, &stored.tenant, &key)? {
            // A named one made again is its name's current version again (a rollback).
            return worker_names::make_current(tx, &key, &stored).map(|()| Ok(Vec::new()));
        }
        let pruned = match &stored.name {
            Some(name) => worker_names::beyond(tx, &stored.tenant, name, quotas.max_versions)?,
            None => Vec::new(),
        };
        let (held, held_bytes) = workers::usage(tx, &stored.tenant)?;
        // What the pruned versions free counts, so a name at its quota can still move on.
        let held = held.saturating_sub(pruned.len());
        let held_bytes = held_bytes.saturating_sub(pruned.iter().map(|(_, b)| b).sum());
        let bytes = workers::stored_bytes(&stored)?;
        if let Err(refusal) = check_workers(&quotas, held, held_bytes, bytes) {
            return Ok(Err(refusal));
        }
        workers::put(tx, &key, &stored)?;
        for (old, _) in &pruned {
            workers::delete(tx, &stored.tenant, old)?;
        }
        Ok(Ok(pruned.into_iter().map(|(old, _)| old).collect()))
    };
    let stored = if parent.is_some() {
        state.store.tx_relaxed(check_and_put).await
    } else {
        state.store.tx(check_and_put).await
    };
    let pruned = stored.map_err(ApiError::from)?.map_err(ApiError::Quota)?;
    let def = {
        let mut workers = state.workers.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(workers.entry(id.clone()).or_insert(def))
    };
    if let Some(name) = &def.name {
        name_changed(state, &tenant, name);
    }
    let pruned = unserve(state, &pruned);
    refresh_code_features(state, &tenant);
    state.pool.dispose_workers(&pruned);
    Ok((id, def))
}

/// After the store deleted the definitions `ids`: they are no longer served (taken out of the
/// daemon's definitions and marked deleted). Their isolates are the caller's to dispose (the
/// definitions returned); what their scope keeps is the caller's too.
pub(super) fn unserve(state: &AppState, ids: &[String]) -> Vec<Arc<WorkerDef>> {
    super::names::forget_verified(state, ids);
    let mut defs = Vec::with_capacity(ids.len());
    if let Ok(mut workers) = state.workers.write() {
        for id in ids {
            defs.extend(workers.remove(id));
        }
    }
    for def in &defs {
        def.deleted
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    defs
}

/// A Loader child's service binding to its parent itself (the parent's `ctx.exports.Name`, which
/// its runtime sends as `{"binding": "service", "self": true, ...}`, knowing no id) made to name
/// the parent, `parent_id`, as stored. Elsewhere `self` is an unknown field (`bindings::parse`).
fn loopback_to(value: &mut serde_json::Value, parent_id: &str) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    if object.get("binding").and_then(|b| b.as_str()) == Some("service")
        && object.get("self") == Some(&serde_json::Value::Bool(true))
        && !object.contains_key("worker")
    {
        object.remove("self");
        object.insert("worker".into(), parent_id.into());
    }
}

/// Every service binding of `bindings` names a worker of `tenant` (a 400 naming the key otherwise).
pub(super) async fn check_services(
    state: &AppState,
    tenant: &str,
    bindings: &bindings::Bindings,
) -> Result<(), ApiError> {
    for (key, binding) in bindings.iter() {
        if let bindings::Binding::Service { worker, .. } = binding {
            find(state, tenant, worker).await.map_err(|_| {
                ApiError::BadRequest(format!("env.{key}: no worker {worker:?} of this tenant"))
            })?;
        }
    }
    Ok(())
}

/// The code features of all of `tenant`'s workers are risk signals of the tenant.
pub(super) fn refresh_code_features(state: &AppState, tenant: &str) {
    let features = state
        .workers
        .read()
        .map(|workers| {
            workers
                .values()
                .filter(|d| d.tenant == tenant)
                .map(|d| d.features)
                .fold(CodeFeatures::default(), CodeFeatures::union)
        })
        .unwrap_or_default();
    state.pool.set_code_features(tenant, features);
}

/// `GET /v1/workers`: the tenant's stored worker definitions, its Loader workers' children
/// included (which count toward its `max_workers` quota too, and are deleted the same way).
pub async fn list(State(state): State<Arc<AppState>>, who: Caller) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let who = tenant.clone();
    let listed = state
        .store
        .tx(move |tx| workers::list(tx, &who))
        .await
        .map_err(ApiError::from)?;
    let bytes: i64 = listed.iter().map(|w| w.bytes).sum();
    let workers: Vec<serde_json::Value> = listed
        .iter()
        .map(|w| match &w.name {
            Some(name) => serde_json::json!({ "id": w.id, "name": name, "createdMs": w.created_ms, "bytes": w.bytes }),
            None => serde_json::json!({ "id": w.id, "createdMs": w.created_ms, "bytes": w.bytes }),
        })
        .collect();
    Ok(Json(serde_json::json!({
        "workers": workers,
        "count": listed.len(),
        "bytes": bytes,
    }))
    .into_response())
}

pub async fn describe(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let def = find(&state, &tenant, &id).await?;
    let id = hex(&def.id);
    // As the scheduler fires them: a `PUT .../triggers` replaces the definition's.
    let crons = super::scheduled::stored_crons(&state, &tenant, &id).await?;
    // Whether it is its name's current version (an unnamed worker is its own).
    let current = match &def.name {
        Some(name) => current_version(&state, &tenant, name).await?.as_deref() == Some(&id),
        None => true,
    };
    let modules: Vec<&str> = def.modules.iter().map(|m| m.name.as_str()).collect();
    let bindings: serde_json::Map<String, serde_json::Value> = def
        .env
        .iter()
        .filter(|(k, _)| def.bindings.contains_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Json(serde_json::json!({
        "id": id,
        "name": def.name,
        "current": current,
        "mainModule": def.main_module,
        "modules": modules,
        "compatibilityDate": def.compatibility_date,
        "compatibilityFlags": def.compatibility_flags,
        "globalOutbound": outbound::describe(&def.outbound),
        "triggers": { "crons": crons, "queues": def.queues },
        "bindings": bindings,
        "limits": applied_limits(&state, &def),
    }))
    .into_response())
}

/// The close reason of a deleted worker's Durable Objects' WebSockets (code 1001).
pub const DELETED_REASON: &str = "the Durable Object's worker was deleted";

pub async fn delete(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let def = find(&state, &tenant, &id).await?;
    let key = hex(&def.id);
    // By name: every version of it; by id: that one (a name then points at its newest other).
    let by_name = def.name.clone().filter(|name| *name == id);
    let (who, name, named) = (tenant.clone(), by_name.clone(), def.name.clone());
    // The versions deleted, and whether the scope went with them (what it keeps goes too).
    let (deleted, scope_gone) = state
        .store
        .tx(move |tx| match (name, named) {
            (Some(name), _) => Ok((worker_names::delete_all(tx, &who, &name)?, true)),
            (None, named) => {
                workers::delete(tx, &who, &key)?;
                let gone = match named {
                    Some(name) => worker_names::current(tx, &who, &name)?.is_none(),
                    None => true,
                };
                Ok((vec![key], gone))
            }
        })
        .await
        .map_err(ApiError::from)?;
    if let Some(name) = &def.name {
        name_changed(&state, &tenant, name);
    }
    let defs = unserve(&state, &deleted);
    let scope = def.scope();
    if scope_gone {
        // Its Durable Objects' accepted WebSockets go with it ("going away"), as its objects do.
        if let Some(objects) = state.objects.get() {
            objects
                .sockets
                .close_worker(&tenant, &scope, 1001, DELETED_REASON);
        }
        state.logs.forget(&def.log_ring());
    }
    refresh_code_features(&state, &tenant);
    state.pool.dispose_workers(&defs);
    Ok(StatusCode::NO_CONTENT.into_response())
}
