//! The operator's view (operator token only):
//! - `GET /v1/admin/workers`: every worker process, by slot: its cordon process and tier (none
//!   for a warm spare), V8 profile, host pid, uptime, isolates, the tenants whose code it holds,
//!   whether it is being recycled, memory, restarts; plus the per-tier metrics;
//! - `GET /v1/admin/metrics`: processes, tenants and isolates per tier;
//! - `GET /v1/admin/egress?tenant=ID&limit=N`: the tenant's latest `N` (default 100, at most
//!   1000) outbound requests and refusals, oldest first (`egress::Record`: no header values, no
//!   query strings, no bodies).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use stockade_cordon::TenantId;

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;
use crate::supervisor::{rss_bytes, tenant_pid};

pub async fn workers(
    State(state): State<Arc<AppState>>,
    who: Caller,
) -> Result<Response, ApiError> {
    who.operator_only()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let names = |ids: &[TenantId]| -> Vec<String> {
        let mut names: Vec<String> = ids
            .iter()
            .map(|&t| state.pool.tenant_name(t).to_string())
            .collect();
        names.sort();
        names
    };
    let list: Vec<serde_json::Value> = state
        .pool
        .processes()
        .into_iter()
        .map(|p| {
            let spawned = p.info.host_pid.load(Ordering::Relaxed);
            let pid = tenant_pid(spawned, state.pool.jailed);
            // What the worker said of itself at its handshake: self-reported, for the operator.
            let report = *p.info.jail.lock().unwrap_or_else(|e| e.into_inner());
            let reported = serde_json::json!({
                "seccomp": report.seccomp,
                "landlockAbi": report.landlock_abi,
                "userNamespace": report.user_namespace,
                "mpk": report.mpk,
            });
            let mut hosted = p.tenants.clone();
            hosted.extend(&p.draining);
            serde_json::json!({
                "slot": p.slot,
                "processId": p.process.map(|id| id.0),
                "tier": p.tier,
                "profile": p.profile,
                "ready": p.info.ready.load(Ordering::Relaxed),
                "pid": pid,
                "launcherPid": spawned,
                "uptimeMs": now.saturating_sub(p.info.started_unix_ms.load(Ordering::Relaxed)),
                "isolates": p.info.isolates(),
                "tenants": names(&hosted),
                "drainingTenants": names(&p.draining),
                "recycling": p.retiring,
                "rssBytes": rss_bytes(pid),
                "restarts": p.restarts,
                "inFlight": p.info.in_flight.load(Ordering::Relaxed),
                "jailed": state.pool.jailed,
                "reported": reported,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "workers": list,
        "metrics": state.pool.metrics(),
    }))
    .into_response())
}

pub async fn metrics(
    State(state): State<Arc<AppState>>,
    who: Caller,
) -> Result<Response, ApiError> {
    who.operator_only()?;
    Ok(Json(state.pool.metrics()).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressQuery {
    tenant: String,
    limit: Option<usize>,
}

pub async fn egress(
    State(state): State<Arc<AppState>>,
    who: Caller,
    query: Result<Query<EgressQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    who.operator_only()?;
    let Query(query) = query.map_err(|e| {
        ApiError::BadRequest(format!("expected ?tenant=ID&limit=N: {}", e.body_text()))
    })?;
    let limit = query
        .limit
        .unwrap_or(100)
        .min(crate::egress::AUDIT_RING_LEN);
    let records = state
        .egress
        .audit(&query.tenant, limit)
        .ok_or(ApiError::NotFound("no such tenant"))?;
    Ok(Json(serde_json::json!({ "tenant": query.tenant, "records": records })).into_response())
}
