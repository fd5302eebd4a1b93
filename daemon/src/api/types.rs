//! Types for the model: one `.d.ts` declaring `interface Env` with every binding's methods
//! (`crate::capabilities::types`):
//! - `GET /v1/workers/{id}/types`: for a Loader worker's `env`;
//! - `POST /v1/types` with `{"env": {...}}`: for an `env` as `POST /v1/run` would take it.
//!
//! Answered `text/plain; charset=utf-8`. Guarantees: a tenant sees only its own workers and
//! capabilities (an `env` naming a capability it does not have is a 400); an `mcp`
//! capability's types come from its server's `tools/list`, asked through the tenant's egress
//! (when that fails, the binding is declared untyped with the reason in a comment). Trusts: the
//! token check in `AppState`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::extract::ApiPath;
use super::loader::{find, tenant_and_json};
use super::run::checked_env;
use super::AppState;
use crate::capabilities::types::{env_declarations, Member};
use crate::supervisor::bindings::{self, Binding, Bindings};

/// The `.d.ts` of `env` (whose bindings are `bindings`) for `tenant`.
pub(super) async fn env_types(
    state: &AppState,
    tenant: &str,
    env: &[(String, Value)],
    bindings: &Bindings,
) -> String {
    let mut members = Vec::with_capacity(env.len());
    for (key, value) in env {
        let member = match bindings.get(key) {
            None => Member::Plain(value.clone()),
            Some(Binding::Kv { .. }) => Member::Kv,
            Some(Binding::Workspace { .. }) => Member::Workspace,
            Some(Binding::Service { .. }) => Member::Service,
            Some(Binding::Loader) => Member::Loader,
            Some(Binding::Capability { name }) => capability_member(state, tenant, name).await,
        };
        members.push((key.clone(), member));
    }
    env_declarations(&members)
}

async fn capability_member(state: &AppState, tenant: &str, name: &str) -> Member {
    let caps = &state.capabilities;
    match caps.get(tenant, name).await {
        Ok(Some(cap)) => match caps.declarations(tenant, &cap).await {
            Ok(text) => Member::Capability(name.to_owned(), text),
            Err(e) => Member::Unavailable(name.to_owned(), format!("{}: {}", e.name, e.message)),
        },
        Ok(None) => Member::Unavailable(name.to_owned(), "no such capability".into()),
        Err(_) => Member::Unavailable(name.to_owned(), "the store failed".into()),
    }
}

fn typescript(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

pub async fn of_worker(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    let def = find(&state, &tenant, &id).await?;
    Ok(typescript(
        env_types(&state, &tenant, &def.env, &def.bindings).await,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypesRequest {
    #[serde(default)]
    env: BTreeMap<String, Value>,
}

pub async fn of_env(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (tenant, request): (String, TypesRequest) =
        tenant_and_json(&state, &headers, body, "JSON")?;
    let env = checked_env(&state, request.env)?;
    let bindings = bindings::parse(&env).map_err(ApiError::BadRequest)?;
    state
        .capabilities
        .check_bindings(&tenant, &bindings)
        .await
        .map_err(ApiError::BadRequest)?;
    Ok(typescript(
        env_types(&state, &tenant, &env, &bindings).await,
    ))
}
