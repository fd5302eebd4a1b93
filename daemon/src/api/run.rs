//! Code Mode: `POST /v1/run` runs one snippet (a module whose default export is called with
//! `arg`) in a fresh isolate and answers `{ result, logs, cpuMs, wallMs }`.
//!
//! With an `env` (the Loader API's shapes: plain values, and bindings checked the same way, a
//! capability the tenant does not have being a 400), the snippet runs as a one-off worker whose
//! default export is called `(arg, env)`: its own isolate, loaded for this request only and
//! disposed after it (never cached, never reloaded after a death), its host calls resolved
//! against this request's bindings only.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use stockade_ipc::{limits as wire, Call, ModuleKind, Outcome, Reply, WorkerId};

use super::auth::Caller;
use super::error::ApiError;
use super::loader::tenant_and_json;
use super::AppState;
use crate::config::LimitsConfig;
use crate::supervisor::{bindings, CodeFeatures, Job, Outbound, WorkerDef};

/// Limits a request may ask for; each is capped by the configured one.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsIn {
    cpu_ms: Option<u32>,
    wall_ms: Option<u32>,
    memory_mb: Option<u32>,
    sub_requests: Option<u32>,
    /// A worker's events' wall-clock limit (`api/loader.rs`, [`event_wall_ms`]); a snippet has
    /// no events, so `/v1/run` refuses it.
    pub(super) event_wall_ms: Option<u32>,
}

/// A worker definition's `limits.eventWallMs`: absent, the daemon's `[limits] event_wall_ms`
/// (`None`); else 1 to that bound, or a 400 naming the field and the bound.
pub fn event_wall_ms(asked: &LimitsIn, config: &LimitsConfig) -> Result<Option<u32>, ApiError> {
    match asked.event_wall_ms {
        None => Ok(None),
        Some(ms) if (1..=config.event_wall_ms).contains(&ms) => Ok(Some(ms)),
        Some(ms) => Err(ApiError::BadRequest(format!(
            "limits.eventWallMs is {ms}; it must be 1 to {} ms (the daemon's [limits] event_wall_ms)",
            config.event_wall_ms
        ))),
    }
}

/// The smallest `memoryMb` a request may ask for: below it V8 cannot even deserialise a context
/// with the runtime and prelude, so a smaller figure could only fail, and confusingly. The engine
/// refuses the same floor (`stockade_isolate::Limits::MIN_MEMORY_BYTES`); this copy answers with a
/// 400 before a worker process is asked, as the supervisor does not link the engine.
pub const MIN_MEMORY_MB: u32 = 8;

/// The limits a request runs under, or a clear error for a figure no request can run under.
pub fn request_limits(
    asked: &LimitsIn,
    config: &LimitsConfig,
) -> Result<stockade_ipc::Limits, ApiError> {
    if let Some(mb) = asked.memory_mb.filter(|&mb| mb < MIN_MEMORY_MB) {
        return Err(ApiError::BadRequest(format!(
            "limits.memoryMb is {mb}; the smallest memory limit is {MIN_MEMORY_MB} MiB"
        )));
    }
    let cap = |v: Option<u32>, max: u32| v.map_or(max, |v| v.clamp(1, max));
    Ok(stockade_ipc::Limits {
        cpu_ms: cap(asked.cpu_ms, config.cpu_ms),
        wall_ms: cap(asked.wall_ms, config.wall_ms),
        memory_mb: cap(asked.memory_mb, config.memory_mb),
        stack_kb: 0,
        sub_requests: cap(asked.sub_requests, 50),
        result_bytes: 0,
        log_bytes: 0,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunRequest {
    code: String,
    #[serde(default)]
    arg: serde_json::Value,
    #[serde(default)]
    limits: LimitsIn,
    #[serde(default)]
    env: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `env`'s pairs, within the Loader API's size limits.
pub(super) fn checked_env(
    state: &AppState,
    env: std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Vec<(String, serde_json::Value)>, ApiError> {
    let limits = &state.config.limits;
    let mut out = Vec::with_capacity(env.len());
    let mut total = 0usize;
    for (k, v) in env {
        total += k.len() + v.to_string().len();
        if total > limits.max_env_bytes.min(wire::MAX_ENV_TOTAL)
            || out.len() >= wire::MAX_ENV_VARS
            || k.len() > wire::MAX_ENV_NAME_LEN
        {
            return Err(ApiError::TooLarge(format!(
                "env exceeds {} bytes",
                limits.max_env_bytes
            )));
        }
        out.push((k, v));
    }
    Ok(out)
}

pub fn logs_json(logs: &[stockade_ipc::LogLine]) -> Vec<serde_json::Value> {
    logs.iter()
        .map(|l| {
            let level = match l.level {
                stockade_ipc::LogLevel::Debug => "debug",
                stockade_ipc::LogLevel::Info => "info",
                stockade_ipc::LogLevel::Log => "log",
                stockade_ipc::LogLevel::Warn => "warn",
                stockade_ipc::LogLevel::Error => "error",
            };
            serde_json::json!({ "level": level, "message": l.text })
        })
        .collect()
}

/// The reply, or the script's error as an API error carrying its logs.
pub fn outcome_or_error(outcome: Outcome) -> Result<Reply, ApiError> {
    match outcome.result {
        Ok(reply) => Ok(reply),
        Err(e) => Err(ApiError::Script(e, logs_json(&outcome.logs))),
    }
}

pub async fn run(
    State(state): State<Arc<AppState>>,
    who: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (tenant, request): (String, RunRequest) = tenant_and_json(&who, body, "JSON")?;
    let env = checked_env(&state, request.env)?;
    let answer = execute(
        &state,
        &tenant,
        request.code,
        &request.arg,
        env,
        &request.limits,
    )
    .await?;
    Ok(Json(answer).into_response())
}

/// Runs `code` for `tenant` with `arg` and `env` (see the module docs); the answer's JSON.
pub(super) async fn execute(
    state: &Arc<AppState>,
    tenant: &str,
    code: String,
    arg: &serde_json::Value,
    env: Vec<(String, serde_json::Value)>,
    limits: &LimitsIn,
) -> Result<serde_json::Value, ApiError> {
    if limits.event_wall_ms.is_some() {
        return Err(ApiError::BadRequest(
            "limits.eventWallMs is a worker's (its cron, queue and alarm events); \
             a /v1/run snippet has none"
                .into(),
        ));
    }
    if code.len()
        > state
            .config
            .limits
            .max_run_bytes
            .min(stockade_ipc::limits::MAX_SNIPPET_LEN)
    {
        return Err(ApiError::TooLarge("the code is too large".into()));
    }
    let arg_json = arg.to_string().into_bytes();
    if arg_json.len() > stockade_ipc::limits::MAX_ARG_JSON_LEN {
        return Err(ApiError::TooLarge("the argument is too large".into()));
    }
    let limits = request_limits(limits, &state.config.limits)?;
    let outcome = if env.is_empty() {
        let job = Job::Run {
            code,
            arg_json,
            limits,
        };
        state.pool.submit(tenant, job).await?
    } else {
        let def = one_off(state, tenant, code, env, limits).await?;
        let job = Job::Call {
            def: Arc::clone(&def),
            call: Call::Default { arg_json },
            streams: Default::default(),
        };
        let outcome = state.pool.submit(tenant, job).await;
        def.deleted
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let pool_state = Arc::clone(state);
        tokio::spawn(async move { pool_state.pool.dispose_worker(&def).await });
        outcome?
    };
    let (cpu_us, wall_us) = (outcome.cpu_us, outcome.wall_us);
    let logs = logs_json(&outcome.logs);
    let result = match outcome_or_error(outcome)? {
        // The worker's fault, not the client's: a 502 like any answer a worker cannot give.
        Reply::Json(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
            ApiError::Script(
                stockade_ipc::ErrorReply {
                    kind: stockade_ipc::ErrorKind::InvalidResponse,
                    message: format!("the worker returned invalid JSON: {e}"),
                    stack: None,
                },
                logs.clone(),
            )
        })?,
        _ => serde_json::Value::Null,
    };
    Ok(serde_json::json!({
        "result": result,
        "logs": logs,
        "cpuMs": cpu_us as f64 / 1000.0,
        "wallMs": wall_us as f64 / 1000.0,
    }))
}

/// The one-off worker a snippet with `env` runs as: TypeScript module `main.ts`, a random id.
async fn one_off(
    state: &AppState,
    tenant: &str,
    code: String,
    env: Vec<(String, serde_json::Value)>,
    limits: stockade_ipc::Limits,
) -> Result<Arc<WorkerDef>, ApiError> {
    let bindings = bindings::parse(&env).map_err(ApiError::BadRequest)?;
    super::loader::check_services(state, tenant, &bindings).await?;
    state
        .capabilities
        .check_bindings(tenant, &bindings)
        .await
        .map_err(ApiError::BadRequest)?;
    let mut id = [0u8; 32];
    getrandom::getrandom(&mut id)
        .map_err(|e| ApiError::BadRequest(format!("no randomness for a worker id: {e}")))?;
    let modules = vec![stockade_ipc::Module {
        name: "main.ts".into(),
        kind: ModuleKind::Ts,
        bytes: code.into_bytes(),
    }];
    Ok(Arc::new(WorkerDef {
        id: WorkerId(id),
        tenant: tenant.to_owned(),
        name: None,
        main_module: "main.ts".into(),
        features: CodeFeatures::of(&modules),
        modules,
        env,
        bindings: Arc::new(bindings),
        limits,
        event_wall_ms: None,
        compatibility_date: None,
        compatibility_flags: Vec::new(),
        outbound: Outbound::Policy,
        crons: Vec::new(),
        queues: Vec::new(),
        deleted: Default::default(),
    }))
}
