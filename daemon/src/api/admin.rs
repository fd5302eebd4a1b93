//! `GET /v1/admin/workers` (operator token only): each worker process with its host pid,
//! uptime, isolates, tenants, memory and restarts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ApiError;
use super::AppState;
use crate::supervisor::{rss_bytes, tenant_pid};

pub async fn workers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.principal(&headers)?.operator {
        return Err(ApiError::Forbidden);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let list: Vec<serde_json::Value> = state
        .pool
        .processes()
        .map(|p| {
            let spawned = p.host_pid.load(Ordering::Relaxed);
            let pid = tenant_pid(spawned, state.pool.jailed);
            let mut tenants: Vec<String> = p
                .tenants
                .lock()
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            tenants.sort();
            serde_json::json!({
                "slot": p.slot,
                "pid": pid,
                "launcherPid": spawned,
                "uptimeMs": now.saturating_sub(p.started_unix_ms.load(Ordering::Relaxed)),
                "isolates": p.loaded.lock().map(|l| l.len()).unwrap_or(0),
                "tenants": tenants,
                "rssBytes": rss_bytes(pid),
                "restarts": p.restarts.load(Ordering::Relaxed),
                "inFlight": p.in_flight.load(Ordering::Relaxed),
                "jailed": state.pool.jailed,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "workers": list })).into_response())
}
