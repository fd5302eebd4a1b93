//! The HTTP API (JSON): the Loader API, Code Mode, tenants' risk and secrets, workspaces, and
//! the admin view.
//!
//! Guarantees: every request is authenticated by a bearer token from the config (401 without
//! one; on the data plane it may come as `X-Stockade-Token` instead, see `fetch`); a tenant only ever sees its own workers (another tenant's id is a 404, like a missing
//! one); bodies are size-limited per route; every error is JSON `{"error": {"code", "message"}}`
//! with a stable `code`. The Stockade token never reaches tenant code.

mod admin;
mod error;
mod fetch;
mod loader;
mod outbound;
mod run;
mod secrets;
mod tenants;
mod workspaces;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{any, get, post, put};
use axum::Router;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::egress::Egress;
use crate::store::Store;
use crate::supervisor::{Pool, WorkerDef};
pub use error::ApiError;
pub use outbound::outbound_dispatch;
pub use run::MIN_MEMORY_MB;

pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    /// Outbound network: tenants' secrets and the egress audit.
    pub egress: Arc<Egress>,
    /// Worker definitions by hex id, as far as this daemon has met them (the store has all).
    pub workers: RwLock<HashMap<String, Arc<WorkerDef>>>,
    /// Durable state: worker definitions, secrets, key-value data, workspaces.
    pub store: Store,
    /// SHA-256 of each token → who it is.
    tokens: HashMap<[u8; 32], Principal>,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: Option<String>,
    pub operator: bool,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl AppState {
    pub fn new(config: Config, pool: Pool, egress: Arc<Egress>, store: Store) -> AppState {
        let mut tokens: HashMap<[u8; 32], Principal> = HashMap::new();
        for t in &config.tenants {
            tokens.insert(
                digest(&t.token),
                Principal {
                    tenant: Some(t.id.clone()),
                    operator: false,
                },
            );
        }
        if let Some(op) = &config.operator_token {
            tokens
                .entry(digest(op))
                .or_insert(Principal {
                    tenant: None,
                    operator: false,
                })
                .operator = true;
        }
        AppState {
            config,
            pool,
            egress,
            workers: RwLock::new(HashMap::new()),
            store,
            tokens,
        }
    }

    /// Who sent this request. Tokens are compared by digest, so lookup time does not depend on
    /// how much of a guess matches.
    pub fn principal(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let token = value
            .strip_prefix("Bearer ")
            .ok_or(ApiError::Unauthorized)?
            .trim();
        self.tokens
            .get(&digest(token))
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }

    pub fn tenant(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        self.principal(headers)?.tenant.ok_or(ApiError::Forbidden)
    }

    /// The tenant whose token is `token` (given some other way than `Authorization`).
    pub fn tenant_by_token(&self, token: &str) -> Result<String, ApiError> {
        self.tokens
            .get(&digest(token.trim()))
            .cloned()
            .ok_or(ApiError::Unauthorized)?
            .tenant
            .ok_or(ApiError::Forbidden)
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let limits = &state.config.limits;
    // JSON escaping can double a module's size; allow for it plus the envelope.
    let code_body = limits
        .max_code_bytes
        .saturating_mul(2)
        .saturating_add(limits.max_env_bytes.saturating_mul(2))
        .saturating_add(64 << 10);
    let fetch_body = limits.max_fetch_body_bytes;
    let run_body = limits.max_run_bytes.saturating_mul(2);
    Router::new()
        .route(
            "/v1/workers",
            post(loader::create).layer(DefaultBodyLimit::max(code_body)),
        )
        .route(
            "/v1/workers/{id}",
            get(loader::describe).delete(loader::delete),
        )
        .route(
            "/v1/workers/{id}/fetch",
            any(fetch::fetch).layer(DefaultBodyLimit::max(fetch_body)),
        )
        .route(
            "/v1/workers/{id}/fetch/",
            any(fetch::fetch).layer(DefaultBodyLimit::max(fetch_body)),
        )
        .route(
            "/v1/workers/{id}/fetch/{*path}",
            any(fetch::fetch).layer(DefaultBodyLimit::max(fetch_body)),
        )
        .route(
            "/v1/run",
            post(run::run).layer(DefaultBodyLimit::max(run_body)),
        )
        .route(
            "/v1/tenants/{id}/risk",
            get(tenants::risk)
                .put(tenants::set_risk)
                .layer(DefaultBodyLimit::max(4096)),
        )
        .route("/v1/tenants/{id}/secrets", get(secrets::list))
        .route(
            "/v1/tenants/{id}/secrets/{name}",
            put(secrets::set)
                .delete(secrets::delete)
                .layer(DefaultBodyLimit::max(16 << 10)),
        )
        .route("/v1/workspaces/{name}/files", get(workspaces::files))
        .route(
            "/v1/workspaces/{name}/files/{*path}",
            get(workspaces::read)
                .put(workspaces::write)
                .delete(workspaces::delete)
                .layer(DefaultBodyLimit::max(
                    crate::store::workspace::MAX_FILE_BYTES,
                )),
        )
        .route(
            "/v1/workspaces/{name}/search",
            post(workspaces::search).layer(DefaultBodyLimit::max(64 << 10)),
        )
        .route("/v1/admin/egress", get(admin::egress))
        .route("/v1/admin/workers", get(admin::workers))
        .route("/v1/admin/metrics", get(admin::metrics))
        .fallback(|| async { ApiError::NotFound("no such route") })
        .with_state(state)
}
