//! A tenant's workspaces over HTTP (the calling tenant's own, by name):
//! - `GET /v1/workspaces/{name}/files/{path}`: the file's bytes (`application/octet-stream`);
//! - `PUT /v1/workspaces/{name}/files/{path}`: writes the body (`204` once durable);
//! - `DELETE /v1/workspaces/{name}/files/{path}?recursive=true`: `204`, `404` when missing;
//! - `GET /v1/workspaces/{name}/files?glob=PATTERN` (default `**`): `{"entries": [...]}`;
//! - `POST /v1/workspaces/{name}/search` `{pattern, glob?, ignoreCase?, maxResults?}`:
//!   `{"matches": [{path, line, text}], "truncated"}`.
//!
//! Guarantees: the same operations, normalisation and quotas as the `workspace` binding
//! (`storage::ws_calls`); a tenant only ever reaches its own workspaces (the tenant comes from the
//! token, never from the URL). Errors: `400` invalid path or pattern, `404` missing, `409`
//! conflict, `507` quota. Trusts: the token check of `edge` (`auth::Caller`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath, ApiQuery};
use super::json;
use super::loader::body_or_error;
use super::AppState;
use crate::storage::ws_calls;
use crate::store::workspace::Ws;
use crate::supervisor::bindings::valid_name;

fn workspace(who: &Caller, name: &str) -> Result<Ws, ApiError> {
    let tenant = who.tenant()?;
    if !valid_name(name) {
        return Err(ApiError::BadRequest(
            "a workspace name is 1-64 of [A-Za-z0-9_.-]".into(),
        ));
    }
    Ok(Ws::new(&tenant, name))
}

async fn op(
    state: &AppState,
    ws: Ws,
    op: &str,
    head: Value,
    body: &[u8],
) -> Result<(Value, Vec<u8>), ApiError> {
    ws_calls::call(&state.store, ws, op, &head, body)
        .await
        .map_err(ApiError::from)
}

pub async fn read(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api((name, path)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let ws = workspace(&who, &name)?;
    let (_, bytes) = op(&state, ws, "readFile", json!({ "path": path }), &[]).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

pub async fn write(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api((name, path)): ApiPath<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ws = workspace(&who, &name)?;
    let body = body_or_error(body)?;
    op(&state, ws, "writeFile", json!({ "path": path }), &body).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api((name, path)): ApiPath<(String, String)>,
    Api(query): ApiQuery<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ws = workspace(&who, &name)?;
    let recursive = query
        .get("recursive")
        .is_some_and(|v| v == "true" || v == "1");
    let (answer, _) = op(
        &state,
        ws,
        "delete",
        json!({ "path": path, "recursive": recursive }),
        &[],
    )
    .await?;
    if answer["deleted"] == json!(true) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("no such file"))
    }
}

pub async fn files(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
    Api(query): ApiQuery<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ws = workspace(&who, &name)?;
    let pattern = query.get("glob").map_or("**", String::as_str);
    let (answer, _) = op(&state, ws, "glob", json!({ "pattern": pattern }), &[]).await?;
    Ok(Json(answer).into_response())
}

pub async fn search(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(name): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let ws = workspace(&who, &name)?;
    let body = body_or_error(body)?;
    let head: Value = json::from_body(&body, "search JSON")?;
    if !head.is_object() || head.get("binding").is_some() {
        return Err(ApiError::BadRequest(
            "expected {\"pattern\", \"glob\"?, \"ignoreCase\"?, \"maxResults\"?}".into(),
        ));
    }
    let (answer, _) = op(&state, ws, "search", head, &[]).await?;
    Ok(Json(answer).into_response())
}
