//! `GET /metrics`: the daemon's metrics in the Prometheus text format. On the API's address it
//! needs the operator token (403 for a tenant, 401 without a token); `metrics_listen` serves the
//! same page, and nothing else, without authentication on an address of the operator's choice.
//!
//! Series (see README): requests by tenant, route and outcome; latency histograms; limit and
//! quota hits by kind; worker processes, tenants and isolates per tier; worker deaths by cause,
//! restarts, reloads; quarantines; MPK as the workers report it and the chance that two isolates
//! of a process share a key; open connections; with a PostgreSQL store, the stored secrets'
//! reloads, failed polls and change counter.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use stockade_cordon::RiskTier;

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;
use crate::metrics::{header as help, sample};

/// Keys a worker process may hand out to isolates when it has MPK (16 less key 0).
const MPK_KEYS: u64 = 15;

pub async fn metrics(
    State(state): State<Arc<AppState>>,
    who: Caller,
) -> Result<Response, ApiError> {
    who.operator_only()?;
    Ok(page(&state))
}

/// The router of `metrics_listen`: `/metrics` and the probes (`health.rs`), without authentication.
pub fn metrics_only_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<Arc<AppState>>| async move { page(&state) }),
        )
        .route("/healthz", get(super::health::healthz))
        .route("/readyz", get(super::health::readyz))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .fallback(|| async { ApiError::NotFound("no such route") })
        .with_state(state)
}

fn page(state: &AppState) -> Response {
    let mut out = String::with_capacity(8192);
    state.metrics.render(&mut out);
    state.scheduled.render(&mut out);
    state.queues.render(&mut out);
    if let Some(objects) = state.objects.get() {
        objects.db.alarms.render(&mut out);
    }
    render_pool(state, &mut out);
    state.egress.secrets_follow().render(&mut out);
    crate::egress::connections::render(&mut out);
    crate::supervisor::render_host_calls(&mut out);
    let mut response = out.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

fn tier_name(tier: RiskTier) -> &'static str {
    match tier {
        RiskTier::Trusted => "trusted",
        RiskTier::Standard => "standard",
        RiskTier::Untrusted => "untrusted",
        RiskTier::Quarantine => "quarantine",
    }
}

fn render_pool(state: &AppState, out: &mut String) {
    let tiers = state.pool.metrics();
    let all = [
        RiskTier::Trusted,
        RiskTier::Standard,
        RiskTier::Untrusted,
        RiskTier::Quarantine,
    ];
    for (name, what, get) in [
        (
            "stockade_processes",
            "Worker processes serving a tier.",
            (|m: &stockade_cordon::TierMetrics| m.processes) as fn(&_) -> usize,
        ),
        ("stockade_tenants", "Tenants whose tier this is.", |m| {
            m.tenants
        }),
        (
            "stockade_isolates",
            "Isolates in a tier's processes.",
            |m| m.isolates,
        ),
    ] {
        help(out, name, "gauge", what);
        for tier in all {
            sample(
                out,
                name,
                &[("tier", tier_name(tier))],
                get(tiers.tier(tier)) as f64,
            );
        }
    }
    let processes = state.pool.processes();
    let spares = processes.iter().filter(|p| p.process.is_none()).count();
    help(
        out,
        "stockade_spare_processes",
        "gauge",
        "Warm worker processes not yet given to a tier.",
    );
    sample(out, "stockade_spare_processes", &[], spares as f64);
    let readiness = super::health::of(state, &processes);
    help(
        out,
        "stockade_ready",
        "gauge",
        "1 when a request can be served now (what /readyz answers 200 for).",
    );
    sample(
        out,
        "stockade_ready",
        &[],
        f64::from(u8::from(readiness.is_ok())),
    );
    help(
        out,
        "stockade_draining",
        "gauge",
        "1 once SIGTERM came: the daemon finishes what it serves and stops.",
    );
    let draining = readiness == Err(super::health::NotReady::Draining);
    sample(out, "stockade_draining", &[], f64::from(u8::from(draining)));
    help(
        out,
        "stockade_host_call_bytes_held",
        "gauge",
        "Bytes the payloads of outstanding host calls hold in the supervisor (capped by limits.host_call_memory_mb).",
    );
    sample(
        out,
        "stockade_host_call_bytes_held",
        &[],
        state.host_call_budget.held() as f64,
    );
    let restarts: u64 = processes.iter().map(|p| u64::from(p.restarts)).sum();
    help(
        out,
        "stockade_worker_restarts_total",
        "counter",
        "Worker processes replaced after a death, over the slots alive now.",
    );
    sample(out, "stockade_worker_restarts_total", &[], restarts as f64);
    let c = state.pool.counters();
    help(
        out,
        "stockade_worker_deaths_total",
        "counter",
        "Worker process deaths by cause.",
    );
    for (cause, n) in [
        ("seccomp", &c.deaths_seccomp),
        ("limit", &c.deaths_limit),
        ("process_memory", &c.deaths_process_memory),
        ("external", &c.deaths_external),
        ("crash", &c.deaths_crash),
    ] {
        sample(
            out,
            "stockade_worker_deaths_total",
            &[("cause", cause)],
            n.load(Ordering::Relaxed) as f64,
        );
    }
    help(
        out,
        "stockade_quarantines_total",
        "counter",
        "Tenants quarantined by a worker's death.",
    );
    sample(
        out,
        "stockade_quarantines_total",
        &[],
        c.quarantines.load(Ordering::Relaxed) as f64,
    );
    help(
        out,
        "stockade_worker_reloads_total",
        "counter",
        "Loader workers loaded again after their process died or was recycled.",
    );
    sample(
        out,
        "stockade_worker_reloads_total",
        &[],
        c.reloads.load(Ordering::Relaxed) as f64,
    );
    help(
        out,
        "stockade_worker_recycles_total",
        "counter",
        "Worker processes replaced because they could not renew V8's shared heap.",
    );
    sample(
        out,
        "stockade_worker_recycles_total",
        &[],
        c.recycles.load(Ordering::Relaxed) as f64,
    );
    // MPK, as each ready process reported it at its handshake.
    let ready: Vec<_> = processes
        .iter()
        .filter(|p| p.info.ready.load(Ordering::Relaxed))
        .collect();
    let with_mpk = ready
        .iter()
        .filter(|p| p.info.jail.lock().unwrap_or_else(|e| e.into_inner()).mpk)
        .count();
    help(
        out,
        "stockade_mpk_processes",
        "gauge",
        "Ready worker processes by whether memory protection keys guard their isolates.",
    );
    sample(
        out,
        "stockade_mpk_processes",
        &[("mpk", "on")],
        with_mpk as f64,
    );
    sample(
        out,
        "stockade_mpk_processes",
        &[("mpk", "off")],
        (ready.len() - with_mpk) as f64,
    );
    help(out, "stockade_mpk_key_sharing_probability", "gauge", "Per worker process: the chance that two of its isolates share a protection key (1 without MPK once it holds two).");
    for p in &ready {
        let mpk = p.info.jail.lock().unwrap_or_else(|e| e.into_inner()).mpk;
        let keys = if mpk { MPK_KEYS } else { 0 };
        let isolates = p.info.isolates() as u64;
        let chance = stockade_mpk::pair_sharing_probability(isolates, keys);
        let slot = p.slot.to_string();
        sample(
            out,
            "stockade_mpk_key_sharing_probability",
            &[("slot", slot.as_str())],
            chance,
        );
    }
    let conns = &state.connections;
    help(
        out,
        "stockade_http_connections",
        "gauge",
        "HTTP connections open now.",
    );
    sample(
        out,
        "stockade_http_connections",
        &[],
        conns.open.load(Ordering::Relaxed) as f64,
    );
    help(
        out,
        "stockade_http_connections_timed_out_total",
        "counter",
        "HTTP connections closed for a head that did not arrive in time, or for idleness.",
    );
    sample(
        out,
        "stockade_http_connections_timed_out_total",
        &[],
        conns.timed_out.load(Ordering::Relaxed) as f64,
    );
}
