//! A tenant's secrets (values for its egress rules' `inject_headers`), by name:
//! - `PUT /v1/tenants/{id}/secrets/{name}` `{"value": "..."}`: sets or replaces one
//!   (`200 {"name"}`);
//! - `GET /v1/tenants/{id}/secrets`: `{"names": [...]}`, names only;
//! - `DELETE /v1/tenants/{id}/secrets/{name}`: `204` (a value set here over the configuration
//!   file's: the file's is in force again), `404` when there was none, `409` for one only the
//!   configuration file sets (the operator's to change).
//!
//! The tenant itself or the operator; anyone else gets the 404 an unknown tenant gets. Secrets
//! set here are kept in the store, sealed (AES-256-GCM, `store::secrets`), and answered only
//! once stored; they are loaded back at start (over the config's `[tenants.secrets]` of the
//! same name), and a change made through another daemon sharing a PostgreSQL store reaches this
//! one within `[store] secrets_poll_ms` (`serve::follow_stored_secrets`). Guarantees: no answer, error or log line of these routes contains a value (a
//! malformed body is refused without echoing it). Trusts: the token check of `edge`
//! (`auth::Caller`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath};
use super::loader::body_or_error;
use super::AppState;
use crate::egress::{Deleted, SecretError};
use crate::store::secrets as store_secrets;
use crate::store::StoreError;

const NO_SUCH_TENANT: ApiError = ApiError::NotFound("no such tenant");

fn may_manage(who: &Caller, tenant: &str) -> Result<(), ApiError> {
    let who = &who.principal;
    if who.operator || who.tenant.as_deref() == Some(tenant) {
        Ok(())
    } else {
        Err(NO_SUCH_TENANT)
    }
}

fn api_error(e: SecretError) -> ApiError {
    match e {
        SecretError::NoTenant => NO_SUCH_TENANT,
        other => ApiError::BadRequest(other.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretBody {
    value: String,
}

pub async fn set(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api((tenant, name)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    may_manage(&who, &tenant)?;
    let body = body_or_error(body)?;
    // serde's message could quote the value: say only what was expected.
    let body: SecretBody = serde_json::from_slice(&body)
        .map_err(|_| ApiError::BadRequest("expected {\"value\": \"...\"}".into()))?;
    let sealed = state
        .store
        .sealer
        .seal(&tenant, &name, body.value.as_bytes())
        .map_err(ApiError::from)?;
    // In memory first (this checks the name, the value and the count), then durably; under the
    // store's secrets lock, so this daemon's reload of the stored set (`serve`) cannot put back
    // a set read before this change.
    let _held = state.store.secrets_lock.lock().await;
    let replaced = state
        .egress
        .set_secret(&tenant, &name, body.value)
        .map_err(api_error)?;
    let (who, key) = (tenant.clone(), name.clone());
    if let Err(e) = state
        .store
        .tx(move |tx| store_secrets::put(tx, &who, &key, sealed))
        .await
    {
        // Refused: the value before this PUT is in force again (an earlier PUT's, else the
        // configuration file's, else none), as the store still holds.
        state.egress.undo_secret(replaced);
        return Err(e.into());
    }
    Ok(Json(serde_json::json!({ "name": name })).into_response())
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(tenant): ApiPath<String>,
) -> Result<Response, ApiError> {
    may_manage(&who, &tenant)?;
    let names = state.egress.secret_names(&tenant).map_err(api_error)?;
    Ok(Json(serde_json::json!({ "names": names })).into_response())
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api((tenant, name)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    may_manage(&who, &tenant)?;
    let _held = state.store.secrets_lock.lock().await;
    let in_file = state
        .egress
        .secret_in_file(&tenant, &name)
        .map_err(api_error)?;
    let (who, key) = (tenant.clone(), name.clone());
    let stored = state
        .store
        .tx(move |tx| store_secrets::delete(tx, &who, &key))
        .await?;
    if in_file && !stored {
        // Only the operator's file can take it away.
        return Err(ApiError::Store(StoreError::Conflict(
            "this secret is set in the configuration file; change it there and reload".into(),
        )));
    }
    match state
        .egress
        .delete_secret(&tenant, &name)
        .map_err(api_error)?
    {
        Deleted::Missing if !stored => Err(ApiError::NotFound("no such secret")),
        _ => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
