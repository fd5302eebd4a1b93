//! The data plane: a client's HTTP request to a Loader worker's `fetch` handler
//! (`/v1/workers/{id}/fetch/...`), with both bodies streamed.
//!
//! Guarantees:
//! - the caller proves who it is with `X-Stockade-Token: <token>`, and then its own
//!   `Authorization` header reaches the worker unchanged (apps that check Bearer or Basic
//!   credentials work); without that header, `Authorization: Bearer <token>` is Stockade's and
//!   is removed before the worker sees the request. `X-Stockade-Token` never reaches a worker;
//! - a body whose length is declared and at most [`INLINE_BODY_MAX`] travels with the request;
//!   any other body streams: the worker reads it chunk by chunk as its handler asks
//!   (`Request.body`), so a handler can answer before the upload is over and the upload is never
//!   held whole. Either way a body over `max_fetch_body_bytes` is refused (413 when declared,
//!   an error for the worker's read when it is found out while streaming). A client that waits
//!   for `100 Continue` (`Expect: 100-continue`) gets it before the request goes to the worker,
//!   not only once the handler first reads, which may come after the response head (an echo),
//!   when the client would wait its own timeout (curl: a second) before it sends the body;
//! - a response whose body the worker streams reaches the client chunk by chunk as the worker
//!   writes it; one the worker fails to finish is cut (an aborted response), never passed off as
//!   complete; statuses and headers are checked whatever the worker claims;
//! - a request that asks for a WebSocket (`api/websocket.rs`) reaches the worker with its
//!   `Upgrade: websocket`, and a 101 with a `webSocket` (only then: `answer::checked_upgrade`)
//!   completes the handshake; the socket then lives as the worker's request does, within its
//!   wall-clock limit, and keeps its place under the tenant's concurrency quota until it closes
//!   (`edge.rs`).
//!
//! Trusts: the worker's answer only as far as these checks go.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use stockade_ipc::{limits as wire, Call};

use super::answer::{self, BadAnswer};
use super::auth::Caller;
use super::error::ApiError;
use super::run::logs_json;
use super::websocket::{self, UpgradeSlot};
use super::AppState;
use crate::supervisor::body::{self, BodyIn};
use crate::supervisor::{websocket as socket, Job, Streams};

/// The header that carries Stockade's token on the data plane, leaving `Authorization` to the app.
pub const TOKEN_HEADER: &str = "x-stockade-token";

/// The largest body sent with its request rather than streamed (when its length is declared).
pub const INLINE_BODY_MAX: usize = 1 << 20;

/// Headers that describe the connection, not the request, or that carry Stockade's own token.
fn forwarded(name: &HeaderName, keep_authorization: bool) -> bool {
    match name.as_str() {
        "authorization" => keep_authorization,
        "connection"
        | "keep-alive"
        | "transfer-encoding"
        | "upgrade"
        | "te"
        | "trailer"
        | "proxy-authorization"
        | "proxy-connection"
        | "content-length"
        | TOKEN_HEADER => false,
        _ => true,
    }
}

/// Who calls, and whether the client's `Authorization` is its own (to forward) or Stockade's:
/// as `edge` decided by the data plane's rule (`auth::Tokens::authenticate`), the tenant it
/// charged the quotas to.
fn caller(caller: &Caller) -> Result<(String, bool), ApiError> {
    Ok((caller.tenant()?, caller.token_header))
}

/// The worker id of a data-plane request, from the path as the client sent it (the router's
/// decoded copy of the rest of it is not used: it may hold any bytes, percent-encoded).
fn worker_id(uri: &Uri) -> Result<String, ApiError> {
    let raw = uri.path().split('/').nth(3).unwrap_or("");
    percent_decoded(raw).ok_or_else(|| ApiError::BadRequest("invalid worker id".into()))
}

/// `raw` percent-decoded, if that is UTF-8 (a malformed escape stays as it is, as axum's router
/// leaves it).
fn percent_decoded(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub async fn fetch(
    State(state): State<Arc<AppState>>,
    who: Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    slot: Option<Extension<UpgradeSlot>>,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, keep_authorization) = caller(&who)?;
    // A WebSocket needs the connection back from hyper (`http.rs` puts the slot in).
    let upgrade =
        slot.and_then(|Extension(slot)| Some((websocket::asked(&method, &headers)?, slot)));
    let worker = worker_id(&uri)?;
    let choice = super::deployments::VersionChoice::of(&headers, &worker);
    let def = super::names::find_serving(&state, &tenant, &worker, &choice).await?;
    let id = def.log_ring();
    // The path as the client sent it, percent-encoding intact (`%2F`, `%3F`, `%2E` stay encoded
    // for the worker's URL parser to judge), not the router's decoded copy: the segments after
    // `/v1/workers/{id}/fetch`.
    let path = uri.path().splitn(6, '/').nth(5).unwrap_or("");
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("worker.invalid");
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("http://{host}/{path}{query}");
    if url.len() > wire::MAX_URL_LEN {
        return Err(ApiError::BadRequest("the URL is too long".into()));
    }
    let mut pairs = Vec::new();
    let mut total = 0usize;
    for (name, value) in headers
        .iter()
        .filter(|(n, _)| forwarded(n, keep_authorization))
    {
        let value = value
            .to_str()
            .map_err(|_| ApiError::BadRequest(format!("header {name} is not valid text")))?;
        total += name.as_str().len() + value.len();
        if pairs.len() >= wire::MAX_HEADERS
            || value.len() > wire::MAX_HEADER_VALUE_LEN
            || total > wire::MAX_HEADER_TOTAL
        {
            return Err(ApiError::BadRequest("too many or too large headers".into()));
        }
        pairs.push((name.as_str().to_string(), value.to_string()));
    }
    if upgrade.is_some() {
        // As on Workers, the handler sees the upgrade it is asked for.
        pairs.push(("upgrade".into(), "websocket".into()));
    }
    let cap = state.config.limits.max_fetch_body_bytes;
    let (inline, body_in) = request_body(&headers, body, cap).await?;
    let call = Call::Fetch {
        method: method.as_str().to_string(),
        url,
        headers: pairs,
        body: inline,
        body_streamed: body_in.is_some(),
        entrypoint: String::new(),
        // The client gets the body encoded as its Content-Encoding says (gzip, br).
        encode_body: true,
        props_json: Vec::new(),
    };
    let (out, stream) = body::channel();
    let (socket, client) = match upgrade {
        Some(_) => {
            let (socket, client) = socket::pair();
            (Some(socket), Some(client))
        }
        None => (None, None),
    };
    let streams = Streams {
        body_in,
        body_out: Some(out),
        socket,
        chain: Default::default(),
        after_logs: Some(state.logs.after_answer(&id)),
        keep: None,
        session: None,
        queued: None,
    };
    let job = Job::Call { def, call, streams };
    let outcome = state.pool.submit(&tenant, job).await?;
    state.logs.record(&id, &outcome.logs);
    let lines = outcome.logs;
    let logs = || logs_json(&lines);
    let answer::Answer {
        status,
        headers,
        body,
        streamed,
        length,
        web_socket,
    } = match answer::checked_upgrade(outcome.result, upgrade.is_some()) {
        Ok(answer) => answer,
        // The logs go back as JSON only with an error; a good answer does not build them.
        Err(BadAnswer::Failed(e)) => return Err(ApiError::Script(e, logs())),
        Err(bad) => {
            return Err(ApiError::Script(
                bad_response(format!("the worker {bad}")),
                logs(),
            ))
        }
    };
    let Ok(status) = StatusCode::from_u16(status) else {
        let why = format!("the worker answered the invalid status {status}");
        return Err(ApiError::Script(bad_response(why), logs()));
    };
    if let (true, Some((key, slot)), Some(client)) = (web_socket, &upgrade, client) {
        let headers = headers
            .into_iter()
            .filter_map(|(name, value)| {
                let n = HeaderName::from_bytes(name.as_bytes()).ok()?;
                let v = HeaderValue::from_str(&value).ok()?;
                (forwarded(&n, false) && n != header::SEC_WEBSOCKET_ACCEPT).then_some((n, v))
            })
            .collect();
        return Ok(websocket::accept(slot, key, client, headers));
    }
    let body = if streamed {
        Body::from_stream(stream.into_stream())
    } else {
        Body::from(body)
    };
    let mut response = (status, body).into_response();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            if forwarded(&n, false) {
                response.headers_mut().append(n, v);
            }
        }
    }
    // A streamed body of a length the runtime vouches for (a FixedLengthStream's) is framed by
    // it; hyper cuts the connection should the body end short of it.
    if let Some(n) = length {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(response)
}

/// The request body: all of it when its declared length is at most [`INLINE_BODY_MAX`],
/// otherwise nothing yet and the whole body as a stream.
async fn request_body(
    headers: &HeaderMap,
    body: Body,
    cap: usize,
) -> Result<(Vec<u8>, Option<BodyIn>), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Err(ApiError::TooLarge(format!(
            "the request body is larger than {cap} bytes"
        )));
    }
    match declared {
        Some(0) => Ok((Vec::new(), None)),
        Some(n) if n <= INLINE_BODY_MAX => {
            let bytes = axum::body::to_bytes(body, INLINE_BODY_MAX)
                .await
                .map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
            Ok((bytes.to_vec(), None))
        }
        _ if no_body(headers) => Ok((Vec::new(), None)),
        _ => {
            // Polled once here: the HTTP layer answers `100 Continue` when a body is first
            // polled; a piece already there waits in the peek for the worker's first read.
            let mut stream = Box::pin(futures_util::StreamExt::peekable(body.into_data_stream()));
            std::future::poll_fn(|cx| {
                let _ = stream.as_mut().poll_peek(cx);
                std::task::Poll::Ready(())
            })
            .await;
            Ok((Vec::new(), Some(BodyIn::new(stream, cap))))
        }
    }
}

/// A request without `Content-Length` or `Transfer-Encoding` has no body (RFC 9112, 6.3).
fn no_body(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::CONTENT_LENGTH)
        && !headers.contains_key(header::TRANSFER_ENCODING)
}

fn bad_response(message: String) -> stockade_ipc::ErrorReply {
    stockade_ipc::ErrorReply {
        kind: stockade_ipc::ErrorKind::InvalidResponse,
        message,
        stack: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_id_comes_from_the_raw_path_whatever_follows_it() {
        let id = |path: &str| worker_id(&path.parse::<Uri>().expect("uri"));
        assert_eq!(id("/v1/workers/ab12/fetch/%FF%FE").expect("id"), "ab12");
        assert_eq!(id("/v1/workers/a%62c/fetch").expect("id"), "abc");
        assert_eq!(id("/v1/workers/a%zz/fetch/").expect("id"), "a%zz");
        assert!(matches!(
            id("/v1/workers/%FF/fetch/"),
            Err(ApiError::BadRequest(_))
        ));
    }
}
