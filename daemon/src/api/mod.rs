//! The HTTP API (JSON): the Loader API, Code Mode, tenants' risk and secrets, workspaces, and
//! the admin view.
//!
//! Guarantees: every request is authenticated by a bearer token from the config (401 without
//! one; on the data plane it may come as `X-Stockade-Token` instead, see `fetch`); a tenant only ever sees its own workers (another tenant's id is a 404, like a missing
//! one); bodies are size-limited per route; every error is JSON `{"error": {"code", "message"}}`
//! with a stable `code`. The Stockade token never reaches tenant code. Every request passes
//! `edge` first: a request id, the tenant's quotas (`quota`, 429 with `Retry-After`), logs and
//! metrics (`GET /metrics`, operator only, `prometheus`).

mod admin;
mod answer;
mod capabilities;
mod edge;
mod error;
mod fetch;
mod health;
mod loader;
mod logs;
mod mcp;
mod narrow;
mod outbound;
mod prometheus;
mod quota;
mod run;
mod secrets;
mod service_fetch;
mod services;
mod tenants;
mod types;
mod worker_fetch;
mod workspaces;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::{any, get, post, put};
use axum::Router;
use sha2::{Digest, Sha256};

use crate::capabilities::Capabilities;
use crate::config::{Config, TenantConfig};
use crate::egress::Egress;
use crate::http::ConnectionStats;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::supervisor::{Pool, WorkerDef};
pub use error::ApiError;
pub use outbound::outbound_dispatch;
pub use prometheus::metrics_only_router;
pub use run::MIN_MEMORY_MB;
pub use services::Services;

pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    /// Outbound network: tenants' secrets and the egress audit.
    pub egress: Arc<Egress>,
    /// Worker definitions by hex id, as far as this daemon has met them (the store has all).
    pub workers: RwLock<HashMap<String, Arc<WorkerDef>>>,
    /// Console output of the workers' fetch handlers (`GET /v1/workers/{id}/logs`).
    pub logs: logs::LogRings,
    /// SHA-256 of each token → who it is (replaced whole by a reload).
    tokens: RwLock<HashMap<[u8; 32], Principal>>,
    /// Each tenant's quotas and usage.
    pub quotas: quota::QuotaBook,
    /// Request counters.
    pub metrics: Metrics,
    /// The HTTP server's connections.
    pub connections: Arc<ConnectionStats>,
    /// Durable state: worker definitions, secrets, key-value data, workspaces.
    pub store: Store,
    /// Tenants' capabilities (`http` and `mcp` services their workers' `env` may bind).
    pub capabilities: Arc<Capabilities>,
    /// `SIGTERM` came: the daemon drains (`/readyz` says so).
    pub draining: std::sync::atomic::AtomicBool,
    /// What outstanding host calls' payloads hold (a gauge of `/metrics`).
    pub host_call_budget: Arc<crate::supervisor::HostCallBudget>,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: Option<String>,
    pub operator: bool,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Every token of `config` by digest: the tenants' (a tenant marked `operator` is also the
/// operator) and `operator_token`.
fn token_table(config: &Config) -> HashMap<[u8; 32], Principal> {
    let mut tokens: HashMap<[u8; 32], Principal> = HashMap::new();
    for t in &config.tenants {
        tokens.insert(
            digest(&t.token),
            Principal {
                tenant: Some(t.id.clone()),
                operator: t.operator,
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
    tokens
}

fn quota_table(config: &Config) -> Vec<(String, crate::config::Quotas)> {
    config
        .tenants
        .iter()
        .map(|t: &TenantConfig| (t.id.clone(), config.quotas_for(t)))
        .collect()
}

impl AppState {
    pub fn new(
        config: Config,
        pool: Pool,
        egress: Arc<Egress>,
        connections: Arc<ConnectionStats>,
        store: Store,
        capabilities: Arc<Capabilities>,
        host_call_budget: Arc<crate::supervisor::HostCallBudget>,
    ) -> AppState {
        AppState {
            tokens: RwLock::new(token_table(&config)),
            quotas: quota::QuotaBook::new(quota_table(&config)),
            config,
            pool,
            egress,
            workers: RwLock::new(HashMap::new()),
            metrics: Metrics::default(),
            connections,
            logs: logs::LogRings::default(),
            store,
            capabilities,
            draining: Default::default(),
            host_call_budget,
        }
    }

    /// Applies a reloaded configuration's tenants, tokens and quotas (see `serve`): tokens no
    /// longer configured stop working at once, new tenants can be served.
    pub fn reload(&self, config: &Config) {
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = token_table(config);
        self.quotas.configure(quota_table(config));
        self.capabilities.configure(config);
    }

    fn lookup(&self, token: &str) -> Option<Principal> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest(token.trim()))
            .cloned()
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
            .ok_or(ApiError::Unauthorized)?;
        self.lookup(token).ok_or(ApiError::Unauthorized)
    }

    /// The tenant a request's token names, if any (`X-Stockade-Token`, else `Authorization`),
    /// for quotas, logs and metrics; authentication proper is the handlers'.
    pub fn claimed_tenant(&self, headers: &HeaderMap) -> Option<String> {
        let token = match headers.get(fetch::TOKEN_HEADER) {
            Some(token) => token.to_str().ok()?,
            None => headers
                .get(axum::http::header::AUTHORIZATION)?
                .to_str()
                .ok()?
                .strip_prefix("Bearer ")?,
        };
        self.lookup(token)?.tenant
    }

    pub fn tenant(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        self.principal(headers)?.tenant.ok_or(ApiError::Forbidden)
    }

    /// The tenant whose token is `token` (given some other way than `Authorization`).
    pub fn tenant_by_token(&self, token: &str) -> Result<String, ApiError> {
        self.lookup(token)
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
        .route("/v1/workers/{id}/logs", get(logs::logs))
        .route("/v1/workers/{id}/types", get(types::of_worker))
        .route(
            "/v1/types",
            post(types::of_env).layer(DefaultBodyLimit::max(code_body)),
        )
        .route("/v1/tenants/{id}/capabilities", get(capabilities::list))
        .route(
            "/v1/tenants/{id}/capabilities/{name}",
            put(capabilities::put)
                .delete(capabilities::delete)
                .layer(DefaultBodyLimit::max(
                    crate::capabilities::MAX_TYPES_LEN * 2 + 16384,
                )),
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
        .route(
            "/mcp",
            post(mcp::post)
                .get(mcp::not_allowed)
                .delete(mcp::not_allowed)
                .layer(DefaultBodyLimit::max(run_body.saturating_add(code_body))),
        )
        .route("/v1/admin/egress", get(admin::egress))
        .route("/v1/admin/workers", get(admin::workers))
        .route("/v1/admin/metrics", get(admin::metrics))
        .route("/metrics", get(prometheus::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(|| async { ApiError::NotFound("no such route") })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            edge::edge,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_held_by_their_sha256_digest_only() {
        let config: Config = toml::from_str(
            "operator_token = \"operator-token-0123456789\"\n\
             [[tenants]]\nid = \"a\"\ntoken = \"tenant-a-token-0123456789\"\n\
             [[tenants]]\nid = \"b\"\ntoken = \"tenant-b-token-0123456789\"\noperator = true\n",
        )
        .expect("config");
        let table = token_table(&config);
        assert_eq!(table.len(), 3);
        let a = &table[&digest("tenant-a-token-0123456789")];
        assert_eq!((a.tenant.as_deref(), a.operator), (Some("a"), false));
        let b = &table[&digest("tenant-b-token-0123456789")];
        assert_eq!((b.tenant.as_deref(), b.operator), (Some("b"), true));
        let op = &table[&digest("operator-token-0123456789")];
        assert_eq!((op.tenant.as_deref(), op.operator), (None, true));
        // The digest is SHA-256 of the token's bytes: nothing else keys the table.
        let expected: [u8; 32] = Sha256::digest(b"tenant-a-token-0123456789").into();
        assert!(table.contains_key(&expected));
        assert!(!table.contains_key(&digest("tenant-a-token-012345678")));
    }
}
