//! The HTTP API (JSON): the Loader API, Code Mode, tenants' risk and secrets, workspaces, and
//! the admin view.
//!
//! Guarantees: every request but the probes is authenticated by a bearer token from the config
//! (on the data plane it may come as `X-Stockade-Token` instead, see `fetch`) in `edge`, before
//! its handler runs or its body is read: 401 at once without one; the token is checked there
//! once and the principal it names reaches the handler as a `Caller` (`auth`); a tenant only
//! ever sees its own workers (another tenant's id is a 404, like a missing one); bodies are
//! size-limited per route (`limited`: a larger declared `Content-Length` is a 413 before any of
//! it is read); every error is JSON `{"error": {"code", "message"}}` with a stable `code` (a
//! path or query that does not parse is `bad_request`, `extract`; a body that is not the JSON
//! expected is `bad_request` saying why, `json`; a method a route does not take is
//! `method_not_allowed`). The Stockade token never reaches tenant code. Every request passes
//! `edge` first: a request id, the token, the tenant's quotas (`quota`, 429 with
//! `Retry-After`), logs and metrics (`GET /metrics`, operator only, `prometheus`).

mod admin;
mod answer;
mod auth;
mod capabilities;
mod deployments;
mod edge;
mod error;
mod extract;
mod fetch;
mod health;
mod json;
mod loader;
mod logs;
mod mcp;
mod names;
mod narrow;
mod objects;
mod outbound;
mod prometheus;
mod queue_consumer;
mod queue_pull;
mod queues;
mod quota;
mod rpc_pipes;
mod rpc_targets;
mod run;
mod scheduled;
mod secrets;
mod service_fetch;
mod services;
mod tenants;
mod types;
pub mod websocket;
mod worker_fetch;
mod workspaces;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::extract::DefaultBodyLimit;
use axum::routing::{any, get, post, put, MethodRouter};
use axum::Router;

use crate::capabilities::Capabilities;
use crate::config::{Config, TenantConfig};
use crate::egress::Egress;
use crate::http::ConnectionStats;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::supervisor::{Pool, WorkerDef};
pub use error::ApiError;
pub use objects::ObjectCalls;
pub use outbound::outbound_dispatch;
pub use prometheus::metrics_only_router;
pub use queues::deliver as deliver_queue_batch;
pub use run::MIN_MEMORY_MB;
pub use scheduled::{fire as fire_scheduled, Fired};
pub use services::Services;

pub struct AppState {
    pub config: Config,
    pub pool: Pool,
    /// Outbound network: tenants' secrets and the egress audit.
    pub egress: Arc<Egress>,
    /// Worker definitions by hex id, as far as this daemon has met them (the store has all).
    pub workers: RwLock<HashMap<String, Arc<WorkerDef>>>,
    /// Worker names' current versions as last read here (`names.rs`): read from the store again
    /// after `names::NAME_TTL`, or at once after this daemon changed the name.
    pub names: names::NameCache,
    /// Console output of the workers' fetch handlers (`GET /v1/workers/{id}/logs`).
    pub logs: Arc<logs::LogRings>,
    /// Who each token is (replaced whole by a reload); checked by `edge` only.
    tokens: auth::Tokens,
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
    /// Runs of workers' scheduled handlers (`crate::scheduled`, `/metrics`).
    pub scheduled: crate::scheduled::Counters,
    /// Queues: sends from the API, the messages' counters (`crate::queues`, `/metrics`).
    pub queues: Arc<crate::queues::Queues>,
    /// Durable Objects, once `ObjectCalls::attach` ran (their alarms' counters, `/metrics`).
    pub objects: std::sync::OnceLock<Arc<crate::objects::Objects>>,
}

fn quota_table(config: &Config) -> Vec<(String, crate::config::Quotas)> {
    config
        .tenants
        .iter()
        .map(|t: &TenantConfig| (t.id.clone(), config.quotas_for(t)))
        .collect()
}

impl AppState {
    /// The state's parts, each made by `serve` (one call site, each argument a distinct part).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        pool: Pool,
        egress: Arc<Egress>,
        connections: Arc<ConnectionStats>,
        store: Store,
        capabilities: Arc<Capabilities>,
        host_call_budget: Arc<crate::supervisor::HostCallBudget>,
        queues: Arc<crate::queues::Queues>,
    ) -> AppState {
        AppState {
            tokens: auth::Tokens::new(&config),
            quotas: quota::QuotaBook::new(quota_table(&config)),
            config,
            pool,
            egress,
            workers: RwLock::new(HashMap::new()),
            names: names::NameCache::default(),
            metrics: Metrics::default(),
            connections,
            logs: Arc::default(),
            store,
            capabilities,
            draining: Default::default(),
            host_call_budget,
            scheduled: Default::default(),
            queues,
            objects: Default::default(),
        }
    }

    /// Applies a reloaded configuration's tenants, tokens and quotas (see `serve`): tokens no
    /// longer configured stop working at once, new tenants can be served. Tokens go last, so a
    /// new tenant's first request already meets its quotas (before, one authenticated between
    /// the two steps was admitted with none).
    pub fn reload(&self, config: &Config) {
        self.quotas.configure(quota_table(config));
        self.capabilities.configure(config);
        self.tokens.configure(config);
    }
}

/// `route` with its request bodies limited to `max` bytes: a body that declares more
/// (`Content-Length`) is refused with `413` before a byte of it is read (and before a client that
/// asked with `Expect: 100-continue` is told to send it); one that turns out longer while it is
/// read fails there (`DefaultBodyLimit`). Runs after `edge`, so only for an authenticated caller.
fn limited(route: MethodRouter<Arc<AppState>>, max: usize) -> MethodRouter<Arc<AppState>> {
    route
        .layer(DefaultBodyLimit::max(max))
        .layer(axum::middleware::from_fn_with_state(max, declared_length))
}

async fn declared_length(
    axum::extract::State(max): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return ApiError::TooLarge(format!("the request body is larger than {max} bytes"))
            .into_response();
    }
    next.run(request).await
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
            limited(post(loader::create), code_body).get(loader::list),
        )
        .route(
            "/v1/workers/{id}",
            get(loader::describe).delete(loader::delete),
        )
        .route("/v1/workers/{id}/logs", get(logs::logs))
        .route("/v1/workers/{id}/scheduled", post(scheduled::run_now))
        .route(
            "/v1/workers/{id}/triggers",
            get(scheduled::get_triggers).put(scheduled::put_triggers),
        )
        .route(
            "/v1/workers/{id}/deployment",
            get(deployments::get_deployment).put(deployments::put_deployment),
        )
        .route("/v1/queues/{name}", get(queues::describe))
        .route("/v1/queues/{name}/messages", post(queues::send))
        .route(
            "/v1/queues/{name}/consumer",
            get(queue_consumer::get)
                .put(queue_consumer::put)
                .delete(queue_consumer::delete),
        )
        .route("/v1/queues/{name}/messages/pull", post(queue_pull::pull))
        .route("/v1/queues/{name}/messages/ack", post(queue_pull::ack))
        .route("/v1/workers/{id}/types", get(types::of_worker))
        .route("/v1/types", limited(post(types::of_env), code_body))
        .route("/v1/tenants/{id}/capabilities", get(capabilities::list))
        .route(
            "/v1/tenants/{id}/capabilities/{name}",
            limited(
                put(capabilities::put).delete(capabilities::delete),
                crate::capabilities::MAX_TYPES_LEN * 2 + 16384,
            ),
        )
        .route(
            "/v1/workers/{id}/fetch",
            limited(any(fetch::fetch), fetch_body),
        )
        .route(
            "/v1/workers/{id}/fetch/",
            limited(any(fetch::fetch), fetch_body),
        )
        .route(
            "/v1/workers/{id}/fetch/{*path}",
            limited(any(fetch::fetch), fetch_body),
        )
        .route("/v1/run", limited(post(run::run), run_body))
        .route(
            "/v1/tenants/{id}/risk",
            limited(get(tenants::risk).put(tenants::set_risk), 4096),
        )
        .route("/v1/tenants/{id}/secrets", get(secrets::list))
        .route(
            "/v1/tenants/{id}/secrets/{name}",
            limited(put(secrets::set).delete(secrets::delete), 16 << 10),
        )
        .route("/v1/workspaces/{name}/files", get(workspaces::files))
        .route(
            "/v1/workspaces/{name}/files/{*path}",
            limited(
                get(workspaces::read)
                    .put(workspaces::write)
                    .delete(workspaces::delete),
                crate::store::workspace::MAX_FILE_BYTES,
            ),
        )
        .route(
            "/v1/workspaces/{name}/search",
            limited(post(workspaces::search), 64 << 10),
        )
        .route(
            "/mcp",
            limited(post(mcp::post), run_body.saturating_add(code_body)),
        )
        .route("/v1/admin/egress", get(admin::egress))
        .route("/v1/admin/workers", get(admin::workers))
        .route("/v1/admin/metrics", get(admin::metrics))
        .route("/metrics", get(prometheus::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        // After every route: it is given to the routes there are.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound("no such route") })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            edge::edge::<AppState>,
        ))
        .with_state(state)
}
