//! Code Mode: `POST /v1/run` runs one snippet (a module whose default export is called with
//! `arg`) in a fresh isolate and answers `{ result, logs, cpuMs, wallMs }`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use stockade_ipc::{Outcome, Reply};

use super::error::ApiError;
use super::loader::tenant_and_json;
use super::AppState;
use crate::config::LimitsConfig;
use crate::supervisor::Job;

/// Limits a request may ask for; each is capped by the configured one.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsIn {
    cpu_ms: Option<u32>,
    wall_ms: Option<u32>,
    memory_mb: Option<u32>,
    sub_requests: Option<u32>,
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
}

pub fn logs_json(logs: &[stockade_ipc::LogLine]) -> Vec<serde_json::Value> {
    logs.iter()
        .map(|l| {
            let level = match l.level {
                stockade_ipc::LogLevel::Debug => "debug",
                stockade_ipc::LogLevel::Info => "log",
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
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (tenant, request): (String, RunRequest) = tenant_and_json(&state, &headers, body, "JSON")?;
    if request.code.len()
        > state
            .config
            .limits
            .max_run_bytes
            .min(stockade_ipc::limits::MAX_SNIPPET_LEN)
    {
        return Err(ApiError::TooLarge("the code is too large".into()));
    }
    let arg_json = request.arg.to_string().into_bytes();
    if arg_json.len() > stockade_ipc::limits::MAX_ARG_JSON_LEN {
        return Err(ApiError::TooLarge("the argument is too large".into()));
    }
    let limits = request_limits(&request.limits, &state.config.limits)?;
    let outcome = state
        .pool
        .submit(
            &tenant,
            Job::Run {
                code: request.code,
                arg_json,
                limits,
            },
        )
        .await?;
    let (cpu_us, wall_us) = (outcome.cpu_us, outcome.wall_us);
    let logs = logs_json(&outcome.logs);
    let result = match outcome_or_error(outcome)? {
        Reply::Json(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|_| ApiError::BadRequest("the worker returned invalid JSON".into()))?,
        _ => serde_json::Value::Null,
    };
    Ok(Json(serde_json::json!({
        "result": result,
        "logs": logs,
        "cpuMs": cpu_us as f64 / 1000.0,
        "wallMs": wall_us as f64 / 1000.0,
    }))
    .into_response())
}
