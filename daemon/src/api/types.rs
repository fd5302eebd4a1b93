//! Types for the model: one `.d.ts` declaring `interface Env` with every binding's methods
//! (`crate::capabilities::types`):
//! - `GET /v1/workers/{id}/types`: for a Loader worker's `env`;
//! - `POST /v1/types` with `{"env": {...}}`: for an `env` as `POST /v1/run` would take it.
//!
//! Answered `text/plain; charset=utf-8`. Guarantees: a tenant sees only its own workers and
//! capabilities (an `env` naming a capability it does not have is a 400); an `mcp`
//! capability's types come from its server's `tools/list`, asked through the tenant's egress,
//! every capability's server at once and each for at most `mcp_client::LIST_TOOLS_TIMEOUT` (5 s)
//! (when that fails, the binding is declared untyped with the reason in a comment: a server that
//! never answers is a `TimeoutError` naming its URL, and the other bindings are typed as ever).
//! Trusts: the token check of `edge` (`auth::Caller`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::future::join_all;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
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
    // All at once: each `mcp` capability asks its server (bounded by
    // `mcp_client::LIST_TOOLS_TIMEOUT`), and one slow server must not delay the others.
    let members = join_all(env.iter().map(|(key, value)| async move {
        let member = match bindings.get(key) {
            None => Member::Plain(value.clone()),
            Some(Binding::Kv { .. }) => Member::Kv,
            Some(Binding::Workspace { .. }) => Member::Workspace,
            Some(Binding::D1 { .. }) => Member::D1,
            Some(Binding::R2 { .. }) => Member::R2,
            Some(Binding::Queue { .. }) => Member::Queue,
            Some(Binding::Service { .. }) => Member::Service,
            Some(Binding::Loader) => Member::Loader,
            Some(Binding::DurableObjectNamespace { .. }) => Member::ObjectNamespace,
            Some(Binding::Capability { name }) => capability_member(state, tenant, name).await,
        };
        (key.clone(), member)
    }))
    .await;
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
    who: Caller,
    Api(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
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
    who: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (tenant, request): (String, TypesRequest) = tenant_and_json(&who, body, "JSON")?;
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
