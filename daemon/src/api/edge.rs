//! What every API request goes through before and after its handler: a request id, its
//! tenant's quotas, a log span, and the metrics.
//!
//! Guarantees:
//! - every response carries `x-request-id`: the client's own when it sent a plausible one
//!   (1-64 of `[A-Za-z0-9._:-]`), else one made here; every log line written while the request
//!   is handled carries it too (a `tracing` span);
//! - every request but the probes (`/healthz`, `/readyz`) is authenticated here, before any
//!   handler runs and so before a byte of its body is read (a client that asked with
//!   `Expect: 100-continue` is not told to send it): without a valid token it is answered `401`
//!   at once. The token is checked here only (`auth::Tokens::authenticate`): the principal it
//!   names goes to the handler in the request's extensions (`auth::Caller`), so the tenant whose
//!   quotas admit a request is the tenant its handler serves;
//! - a request whose token names a tenant is admitted by that tenant's quotas (`quota`) before
//!   its handler runs, or answered `429` with `Retry-After`; its place under the tenant's
//!   concurrency is held until its response body is over, or, for a WebSocket's 101, until the
//!   socket's relay ends (`websocket::UpgradeSlot::hold`);
//! - an error answer off the data plane is the JSON envelope with a stable code even when axum
//!   made it rather than a handler (one without an `ErrorCode` and not JSON is replaced);
//! - each request is counted once, by tenant (configured ids only), route (a fixed name) and
//!   outcome (`ok` or the stable error code), with its time to the response head. A worker's own
//!   answer on the data plane is `ok` whatever its status.
//!
//! Trusts: the handlers to mark their errors (`ErrorCode`, set by `ApiError`).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::auth::Tokens;
use super::error::{ApiError, ErrorCode};
use super::quota::{Permit, QuotaBook};
use super::websocket::UpgradeSlot;
use super::AppState;
use crate::metrics::Metrics;

pub const REQUEST_ID: &str = "x-request-id";

/// The fixed name of the route `path` belongs to, for metrics and logs.
pub fn route_of(method: &Method, path: &str) -> &'static str {
    let mut parts = path.trim_start_matches('/').split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some("run"), None, _) => "run",
        (Some("v1"), Some("workers"), None | Some(""), _) if method == Method::GET => {
            "workers_list"
        }
        (Some("v1"), Some("workers"), None | Some(""), _) => "workers_create",
        (Some("v1"), Some("workers"), Some(_), Some("fetch")) => "fetch",
        (Some("v1"), Some("workers"), Some(_), Some("logs")) => "logs",
        (Some("v1"), Some("workers"), Some(_), Some("scheduled")) => "scheduled",
        (Some("v1"), Some("queues"), Some(_), _) => "queues",
        (Some("v1"), Some("workers"), Some(_), None) if method == Method::DELETE => {
            "workers_delete"
        }
        (Some("v1"), Some("workers"), Some(_), None) => "workers_get",
        (Some("v1"), Some("tenants"), Some(_), Some("risk")) => "risk",
        (Some("v1"), Some("tenants"), Some(_), Some("secrets")) => "secrets",
        (Some("v1"), Some("tenants"), Some(_), Some("capabilities")) => "capabilities",
        (Some("v1"), Some("workers"), Some(_), Some("types"))
        | (Some("v1"), Some("types"), None, _) => "types",
        (Some("mcp"), None, _, _) => "mcp",
        (Some("v1"), Some("admin"), _, _) => "admin",
        (Some("metrics"), None, _, _) => "metrics",
        (Some("v1"), Some("workspaces"), Some(_), Some(_)) => "workspaces",
        (Some("healthz" | "readyz"), None, _, _) => "probe",
        _ => "other",
    }
}

/// The client's request id if plausible, else a new one.
fn request_id(request: &Request) -> String {
    let given = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        });
    match given {
        Some(id) => id.to_string(),
        None => new_id(),
    }
}

/// 16 hex digits: a counter scrambled with a per-process random seed (unique in the process,
/// not guessable across restarts).
fn new_id() -> String {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let mut bytes = [0u8; 8];
        let _ = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
        u64::from_le_bytes(bytes) | 1
    });
    // splitmix64 of (counter + seed): a bijection, so ids never repeat within the process.
    let mut z = NEXT
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(seed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{:016x}", z ^ (z >> 31))
}

/// What the edge needs of the daemon's state: a trait so that its tests can run it without a
/// worker pool.
pub trait Gate: Send + Sync + 'static {
    fn tokens(&self) -> &Tokens;
    fn quotas(&self) -> &QuotaBook;
    fn metrics(&self) -> &Metrics;
}

impl Gate for AppState {
    fn tokens(&self) -> &Tokens {
        &self.tokens
    }
    fn quotas(&self) -> &QuotaBook {
        &self.quotas
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

pub async fn edge<G: Gate>(
    State(state): State<Arc<G>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let route = route_of(request.method(), request.uri().path());
    // Everything but the probes needs a token, an unknown route too (so nothing but the probes
    // answers an unauthenticated client otherwise than 401).
    let who = match route {
        "probe" => Ok(None),
        _ => state
            .tokens()
            .authenticate(request.headers(), route == "fetch")
            .map(Some),
    };
    let tenant = who
        .as_ref()
        .ok()
        .and_then(|w| w.as_ref())
        .and_then(|w| w.principal.tenant.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        route,
        tenant = tenant.as_deref().unwrap_or("-"),
    );
    let admitted = match (&who, &tenant) {
        (Err(_), _) => Ok(None),
        (Ok(_), Some(t)) => state.quotas().admit(t),
        (Ok(_), None) => Ok(None),
    };
    let mut response = match (who, admitted) {
        // Answered without reading the body (nor asking for it: no `100 Continue`).
        (Err(e), _) => e.into_response(),
        (Ok(caller), Ok(permit)) => {
            // The handler's `Caller`: the token is not checked again.
            if let Some(caller) = caller {
                request.extensions_mut().insert(caller);
            }
            let upgrade = request.extensions().get::<UpgradeSlot>().cloned();
            let response = next.run(request).instrument(span.clone()).await;
            match permit {
                Some(permit) => hold_until_sent(response, permit, upgrade),
                None => response,
            }
        }
        (Ok(_), Err(refusal)) => {
            span.in_scope(|| tracing::info!("refused: {}", refusal.message));
            ApiError::Quota(refusal).into_response()
        }
    };
    if route != "fetch" {
        response = enveloped(response);
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let outcome = match response.extensions().get::<ErrorCode>() {
        Some(code) => code.0,
        // The worker's own answer, whatever its status.
        None if route == "fetch" => "ok",
        None => status_code(response.status()).unwrap_or("ok"),
    };
    let took = started.elapsed();
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            outcome,
            ms = took.as_secs_f64() * 1000.0,
            "answered"
        )
    });
    state
        .metrics()
        .request(tenant.as_deref().unwrap_or("-"), route, outcome, took);
    response
}

/// The stable code of an error status no handler marked (`None`: not an error).
fn status_code(status: StatusCode) -> Option<&'static str> {
    Some(match status {
        s if !s.is_client_error() && !s.is_server_error() => return None,
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    })
}

/// `response`, an error answer axum made (no `ErrorCode`, not JSON: a rejection's plain text, an
/// empty `405`) replaced by the JSON envelope with the same status and headers.
fn enveloped(response: Response) -> Response {
    let Some(code) = status_code(response.status()) else {
        return response;
    };
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json || response.extensions().get::<ErrorCode>().is_some() {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let message = parts
        .status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.extensions.insert(ErrorCode(code));
    Response::from_parts(parts, Body::from(body))
}

/// `response` with its body holding `permit` until the body is over or dropped; a 101's
/// WebSocket relay (left in the connection's `upgrade` slot) holding it until the socket closes.
fn hold_until_sent(response: Response, permit: Permit, upgrade: Option<UpgradeSlot>) -> Response {
    let permit = match upgrade {
        Some(slot) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
            match slot.hold(permit) {
                Ok(()) => return response,
                Err(permit) => permit,
            }
        }
        _ => permit,
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(Held {
            inner: body,
            _permit: permit,
        }),
    )
}

/// A body that holds a quota permit while it lives.
struct Held {
    inner: Body,
    _permit: Permit,
}

impl http_body::Body for Held {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[path = "edge_tests.rs"]
mod tests;
