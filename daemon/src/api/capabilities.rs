//! A tenant's capabilities (services its workers' `env` may bind, `crate::capabilities`):
//! - `PUT /v1/tenants/{id}/capabilities/{name}` with `{"kind": "http", "url", "types"?}` or
//!   `{"kind": "mcp", "url"}`: declares or replaces one (`200 {"name", ...}`), durably;
//! - `GET /v1/tenants/{id}/capabilities`: `{"capabilities": [{"name", "kind", "url", "types"?,
//!   "source": "config" | "api"}]}`;
//! - `DELETE /v1/tenants/{id}/capabilities/{name}`: `204`; `404` when the API declared none of
//!   that name (one from the config is changed in the config).
//!
//! The tenant itself or the operator; anyone else gets the 404 an unknown tenant gets.
//! Guarantees: a declaration is checked (`Capability::check`) before it is stored and answered
//! only once stored. Trusts: the token check of `edge` (`auth::Caller`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
use super::json;
use super::loader::body_or_error;
use super::AppState;
use crate::capabilities::{Capability, Source};
use crate::store::capabilities as stored;
use crate::supervisor::bindings::valid_name;

const NO_SUCH_TENANT: ApiError = ApiError::NotFound("no such tenant");

fn may_manage(state: &AppState, who: &Caller, tenant: &str) -> Result<(), ApiError> {
    let who = &who.principal;
    let allowed = who.operator || who.tenant.as_deref() == Some(tenant);
    if allowed && state.capabilities.has_tenant(tenant) {
        Ok(())
    } else {
        Err(NO_SUCH_TENANT)
    }
}

fn checked_name(name: &str) -> Result<(), ApiError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "capability names are 1-64 of [A-Za-z0-9_.-]".into(),
        ))
    }
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api((tenant, name)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    may_manage(&state, &who, &tenant)?;
    checked_name(&name)?;
    let body = body_or_error(body)?;
    let cap: Capability = json::from_body(&body, "capability")?;
    cap.check().map_err(ApiError::BadRequest)?;
    let (who, key, value) = (tenant.clone(), name.clone(), cap.clone());
    state
        .store
        .tx(move |tx| stored::put(tx, &who, &key, &value))
        .await?;
    Ok(Json(describe(&name, &cap, Source::Api)).into_response())
}

fn describe(name: &str, cap: &Capability, source: Source) -> serde_json::Value {
    let mut v = serde_json::to_value(cap).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("name".into(), name.into());
        let source = match source {
            Source::Config => "config",
            Source::Api => "api",
        };
        o.insert("source".into(), source.into());
    }
    v
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(tenant): ApiPath<String>,
) -> Result<Response, ApiError> {
    may_manage(&state, &who, &tenant)?;
    let all = state.capabilities.list(&tenant).await?;
    let out: Vec<serde_json::Value> = all
        .iter()
        .map(|(name, (cap, source))| describe(name, cap, *source))
        .collect();
    Ok(Json(serde_json::json!({ "capabilities": out })).into_response())
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api((tenant, name)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    may_manage(&state, &who, &tenant)?;
    checked_name(&name)?;
    let (who, key) = (tenant.clone(), name.clone());
    if state
        .store
        .tx(move |tx| stored::delete(tx, &who, &key))
        .await?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(
            "no such capability declared through the API",
        ))
    }
}
