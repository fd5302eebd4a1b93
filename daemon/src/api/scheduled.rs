//! Scheduled events of stored workers: one run of a worker's `scheduled` handler (a
//! `Call::Scheduled` job, `js/scheduled.js` in the isolate), for a cron trigger the scheduler
//! fires (`crate::scheduled`) or for `POST /v1/workers/{id}/scheduled?cron=&scheduledTime=`, which
//! runs it now, as wrangler's `/__scheduled` test route does.
//!
//! Guarantees: a run is a request of the worker's tenant: placed by its cordon, under the
//! worker's CPU and memory limits and the wall-clock limit of events (`[limits]
//! event_wall_ms`, 15 minutes by default, not the worker's `wall_ms`); a run the scheduler fires is first admitted by the
//! tenant's quotas (rate and concurrency, its permit held for the run) and skipped when they
//! refuse; the run's console lines go to the worker's log ring (`GET /v1/workers/{id}/logs`) as
//! a fetch handler's do; whatever happens, the answer is an outcome: `ok`, `exception` (the
//! handler or a `waitUntil` promise threw), `noHandler`, `exceededCpu`, `exceededMemory`,
//! `exceededWall`, `canceled` or `unknown` (the run failed for a reason of Stockade's, such as
//! its process dying), never a panic. The manual route's `cron` must parse and its
//! `scheduledTime` be a JavaScript date's milliseconds (a 400 otherwise); a worker without a
//! handler answers 422 with outcome `noHandler`.
//!
//! `PUT /v1/workers/{id}/triggers` `{"crons": [...]}` replaces a stored worker's cron triggers
//! without a new definition (checked as `triggers.crons` of a new one: each parses, none twice,
//! at most `[limits] max_crons_per_worker`; a 400 otherwise, nothing changed); the scheduler
//! fires the new ones from its next minute on. `GET` of it answers `{"crons": [...]}` as stored.
//! Another tenant's worker, or none, is a 404 for both. On a name (its current version; an older
//! version is a 409) the crons stay with the name: a new version whose definition has no crons
//! keeps them, one with crons of its own replaces them (`store::worker_names`).
//!
//! Trusts: the worker's answer only as far as its JSON parses into the fields read here.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use stockade_ipc::{Call, ErrorKind, LogLevel, LogLine, Reply};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath, ApiQuery};
use super::loader::find;
use super::run::logs_json;
use super::AppState;
use crate::scheduled::cron::CronExpr;
use crate::store::triggers::{self, StoredTrigger};
use crate::supervisor::{Job, Streams, WorkerDef};

/// The latest `scheduledTime` taken: JavaScript's largest date, ms.
const MAX_TIME_MS: u64 = 8_640_000_000_000_000;

/// What one run came to.
#[derive(Debug)]
pub struct Report {
    /// `ok`, `exception`, `noHandler`, `exceededCpu`, ... (see the module's guarantees).
    pub outcome: &'static str,
    /// The handler called `noRetry()`.
    pub no_retry: bool,
    /// What failed, when something did: `{name, message}`.
    pub error: Option<serde_json::Value>,
    /// The run's console lines.
    pub logs: Vec<LogLine>,
}

/// Runs the scheduled handler of `def` for `cron` due at `time_ms`, and records its lines in
/// the worker's log ring.
pub async fn run_event(state: &AppState, def: Arc<WorkerDef>, cron: &str, time_ms: u64) -> Report {
    let id = def.log_ring();
    let tenant = def.tenant.clone();
    let call = Call::Scheduled {
        cron: cron.to_owned(),
        scheduled_time_ms: time_ms,
        wall_ms: state.config.limits.event_wall_ms,
    };
    let streams = Streams {
        after_logs: Some(state.logs.after_answer(&id)),
        ..Streams::default()
    };
    let job = Job::Call { def, call, streams };
    let report = match state.pool.submit(&tenant, job).await {
        Ok(outcome) => {
            let logs = outcome.logs;
            match outcome.result {
                Ok(Reply::Json(json)) => answered(&json, logs),
                Ok(other) => Report {
                    outcome: "unknown",
                    no_retry: false,
                    error: Some(error_json("Error", &format!("unexpected answer {other:?}"))),
                    logs,
                },
                Err(e) => Report {
                    outcome: match e.kind {
                        ErrorKind::CpuLimit => "exceededCpu",
                        ErrorKind::MemoryLimit => "exceededMemory",
                        ErrorKind::WallLimit => "exceededWall",
                        ErrorKind::Cancelled => "canceled",
                        ErrorKind::ScriptThrew => "exception",
                        _ => "unknown",
                    },
                    no_retry: false,
                    error: Some(error_json(&format!("{:?}", e.kind), &e.message)),
                    logs,
                },
            }
        }
        Err(e) => Report {
            outcome: "unknown",
            no_retry: false,
            error: Some(error_json("Error", &e.to_string())),
            logs: Vec::new(),
        },
    };
    state.logs.record(&id, &report.logs);
    report
}

/// The run's own answer (`js/scheduled.js`): `{outcome, noRetry, error?}`.
fn answered(json: &[u8], logs: Vec<LogLine>) -> Report {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        outcome: String,
        #[serde(default)]
        no_retry: bool,
        #[serde(default)]
        error: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<Answer>(json) {
        Ok(a) => Report {
            outcome: match a.outcome.as_str() {
                "ok" => "ok",
                "exception" => "exception",
                "noHandler" => "noHandler",
                _ => "unknown",
            },
            no_retry: a.no_retry,
            error: a.error,
            logs,
        },
        Err(e) => Report {
            outcome: "unknown",
            no_retry: false,
            error: Some(error_json("Error", &format!("the answer is not JSON: {e}"))),
            logs,
        },
    }
}

fn error_json(name: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "message": message })
}

/// What the scheduler did with one due run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// It ran; its outcome.
    Ran(&'static str),
    /// The tenant's quotas refused it (rate or concurrency), or the tenant is not configured.
    Refused,
    /// The worker is gone.
    Gone,
}

/// Runs `trigger` due at `time_ms` as the scheduler does: the worker is found again (deleted
/// since: nothing runs), the tenant's quotas admit the run, and a failure is logged.
pub async fn fire(state: &AppState, trigger: &StoredTrigger, time_ms: i64) -> Fired {
    let Ok(def) = find(state, &trigger.tenant, &trigger.worker).await else {
        return Fired::Gone;
    };
    if def.deleted.load(std::sync::atomic::Ordering::Relaxed) {
        return Fired::Gone;
    }
    // A run is a request of the tenant: its permit is held until the run is over.
    let _permit = match state.quotas.admit(&trigger.tenant) {
        Ok(Some(permit)) => permit,
        Ok(None) => return Fired::Refused,
        Err(refusal) => {
            tracing::warn!(
                tenant = %trigger.tenant,
                worker = %trigger.worker,
                cron = %trigger.cron,
                "scheduled run skipped: {}",
                refusal.message
            );
            return Fired::Refused;
        }
    };
    let time = u64::try_from(time_ms).unwrap_or(0);
    let ring = def.log_ring();
    let report = run_event(state, def, &trigger.cron, time).await;
    if report.outcome == "noHandler" {
        // Said where the tenant looks: its worker's logs.
        let line = LogLine {
            level: LogLevel::Warn,
            text: format!(
                "cron trigger {:?} fired, but the worker has no scheduled handler",
                trigger.cron
            ),
        };
        state.logs.record(&ring, &[line]);
    }
    if report.outcome != "ok" {
        tracing::warn!(
            tenant = %trigger.tenant,
            worker = %trigger.worker,
            cron = %trigger.cron,
            outcome = report.outcome,
            "scheduled run did not succeed: {}",
            report.error.as_ref().map(|e| e.to_string()).unwrap_or_default()
        );
    }
    Fired::Ran(report.outcome)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledQuery {
    cron: Option<String>,
    scheduled_time: Option<u64>,
}

/// `POST /v1/workers/{id}/scheduled?cron=<expr>&scheduledTime=<ms>`: runs the worker's scheduled
/// handler now (the edge has admitted the request). `cron` defaults to the worker's first
/// trigger (else `* * * * *`), `scheduledTime` to now.
pub async fn run_now(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(id): ApiPath<String>,
    Api(query): ApiQuery<ScheduledQuery>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let def = find(&state, &tenant, &id).await?;
    let id = def.id.to_hex();
    let cron = match query.cron {
        Some(cron) => cron,
        None => stored_crons(&state, &tenant, &id)
            .await?
            .into_iter()
            .next()
            .unwrap_or_else(|| "* * * * *".into()),
    };
    CronExpr::parse(&cron).map_err(ApiError::BadRequest)?;
    let time = match query.scheduled_time {
        Some(t) if t > MAX_TIME_MS => {
            return Err(ApiError::BadRequest(format!(
                "scheduledTime is after {MAX_TIME_MS} (JavaScript's last date)"
            )))
        }
        Some(t) => t,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    };
    let report = run_event(&state, def, &cron, time).await;
    state.scheduled.ran("manual", report.outcome);
    let status = if report.outcome == "noHandler" {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut body = serde_json::json!({
        "outcome": report.outcome,
        "noRetry": report.no_retry,
        "logs": logs_json(&report.logs),
    });
    if let Some(error) = report.error {
        body["error"] = error;
    }
    Ok((status, Json(body)).into_response())
}

/// `tenant`'s worker `id`'s cron triggers as stored (the definition's, or a `PUT`'s since).
pub(super) async fn stored_crons(
    state: &AppState,
    tenant: &str,
    id: &str,
) -> Result<Vec<String>, ApiError> {
    let (tenant, id) = (tenant.to_owned(), id.to_owned());
    Ok(state
        .store
        .tx(move |tx| triggers::of(tx, &tenant, &id))
        .await?)
}

/// `PUT /v1/workers/{id}/triggers`' body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggersBody {
    crons: Vec<String>,
}

/// `GET /v1/workers/{id}/triggers`: `{"crons": [...]}` of the tenant's worker.
pub async fn get_triggers(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let id = find(&state, &tenant, &id).await?.id.to_hex();
    let crons = stored_crons(&state, &tenant, &id).await?;
    Ok(Json(serde_json::json!({ "crons": crons })).into_response())
}

/// `PUT /v1/workers/{id}/triggers`: replaces the cron triggers of the tenant's worker; answers
/// them as `GET` does.
pub async fn put_triggers(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(id): ApiPath<String>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let (tenant, body): (String, TriggersBody) =
        super::loader::tenant_and_json(&who, body, "a triggers' JSON")?;
    let def = find(&state, &tenant, &id).await?;
    if def.deleted.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(ApiError::NotFound("no such worker"));
    }
    let id = def.id.to_hex();
    let name = def.name.clone();
    let crons =
        crate::scheduled::check_crons(body.crons, state.config.limits.max_crons_per_worker, false)
            .map_err(ApiError::BadRequest)?;
    let (t, i, stored) = (tenant.clone(), id.clone(), crons.clone());
    let replaced = state
        .store
        .tx(move |tx| {
            // A name's triggers are its current version's (`store::worker_names`), and a PUT's
            // stay with the name for versions whose definitions have no crons.
            if let Some(name) = &name {
                let current = crate::store::worker_names::current_locked(tx, &t, name)?;
                if current.as_deref() != Some(&i) {
                    return Err(crate::store::StoreError::Conflict(format!(
                        "worker {i} is not the current version of {name:?}: its triggers are \
                         the current version's (PUT /v1/workers/{name}/triggers)"
                    )));
                }
            }
            let replaced = triggers::replace(tx, &t, &i, &stored)?;
            if let (true, Some(name)) = (replaced, &name) {
                crate::store::worker_names::set_crons(tx, &t, name, Some(&stored))?;
            }
            Ok(replaced)
        })
        .await?;
    if !replaced {
        return Err(ApiError::NotFound("no such worker"));
    }
    Ok(
        Json(serde_json::json!({ "crons": stored_crons(&state, &tenant, &id).await? }))
            .into_response(),
    )
}
