//! The chain of hops of one `fetch` (the first request and each redirect the gateway follows)
//! up to the head of the answer it ends with, whose body `gateway.rs` reads and scrubs.
//!
//! Guarantees, for every hop:
//! - only `http` and `https` URLs, parsed by the `url` crate (so `http://2130706433/` and
//!   `http://0177.0.0.1/` are 127.0.0.1 before anything is checked);
//! - the tenant's allow rules decide (`policy`, first match wins, no rule no network), then the
//!   address: an IP literal is checked directly (`gateway_admit.rs`), a name through the checked
//!   resolver (`resolver`), and the connection goes to the checked address only;
//! - headers from the matching rule's `inject_headers` replace any the tenant set of that name,
//!   with values of the tenant's secrets, on that hop only (a redirect to another rule's host
//!   gets that rule's headers, or none); a hop that injects asks for an uncompressed, whole
//!   answer (no `Range`); an answer in an encoding the gateway does not decode is refused
//!   there, since it could not be scrubbed;
//! - `encodeResponseBody: "manual"` hands tenant code the body as the upstream sent it, with its
//!   `Content-Encoding` (and `Content-Length`), only when no hop of the chain injected a secret
//!   (there is then nothing to scrub); after an injection the answer is decoded and scrubbed as
//!   `gateway.rs` says (no `Content-Encoding`: that absence is how tenant code can tell). Either
//!   way the upstream is asked for the same encodings an automatic fetch asks for
//!   (`hop::negotiate`);
//! - a hop that injects goes over `https`, or `http` to a loopback address, unless its rule
//!   says `inject_over_http` (a rule names a host and ports, not a scheme);
//! - after an injection the answer has no `Content-Length` (its scrubbed body's length may not
//!   be the upstream's), and a redirect whose location holds an injected value is not followed;
//! - at most [`MAX_REDIRECTS`] redirects, each re-checked; `redirect: "manual"` answers a 3xx
//!   as it is; `"error"` fails on one; a cross-origin redirect drops `Authorization` and
//!   `Cookie`; 303, and 301/302 after a POST, become a bodyless GET; a streamed upload is sent
//!   once (a redirect that would send it again fails);
//! - a WebSocket handshake (`websocket: true`, a bodyless `GET`) is a hop like any other (rules,
//!   address checks, injection, audit) whose `Upgrade`, `Connection` and `Sec-WebSocket-*`
//!   headers but the protocol are the gateway's, over HTTP/1.1, its redirects never followed (a
//!   3xx is its answer, as a browser's WebSocket does not follow one either);
//! - a fetch its caller aborts stops waiting for its hop, which is audited as aborted (so is one
//!   aborted before it started); a hop whose caller's request ends before its answer is audited
//!   as cut short;
//! - a fetch of a request (`resources`) is one of its open connections (`connections`): its first
//!   hop that is admitted waits, in turn, while six are waiting for their answers' heads (an abort
//!   or the request's end ends that wait as they end a hop's); the chain keeps its place across
//!   redirects and gives it back when its last hop's head arrived (this returns), so a body
//!   being read never holds one (Cloudflare's rule since April 2026: no deadlock of six
//!   unread answers and a seventh fetch).
//!
//! Trusts: the tenant id (the supervisor attached it); nothing in the payload; the upstream's
//! status and `Location` only as far as they are checked again here.

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode};
use tokio::sync::oneshot;
use url::{Host, Url};

use super::websocket;
use super::*;
use crate::egress::abort::watch;
use crate::egress::connections;
use crate::egress::hop::{classify, isomorphic_decode, negotiate, tenant_headers};
use crate::egress::scrub::holds_any;
use crate::egress::stream::upload_body;
use crate::egress::wire::{decode_request, RedirectMode, ResponseBodyEncoding};

/// Where a chain of hops ended: the last answer's head and response, the tenant's index, the
/// last hop, and the key of the WebSocket handshake it made, if it made one.
pub(super) struct Ran {
    pub head: ResponseHead,
    pub response: reqwest::Response,
    pub index: usize,
    pub hop: Hop,
    pub websocket_key: Option<String>,
}

impl Gateway {
    /// Follows the request's hops to its answer: its head, the response to read its body
    /// from, and the last hop (audited once its body is read, or its stream is over).
    pub(super) async fn run(
        &self,
        tenant: TenantId,
        worker: Option<&str>,
        payload: Vec<u8>,
        resources: Option<&Resources>,
        injected: &mut Vec<SecretValue>,
    ) -> Result<Ran, FetchError> {
        let index = usize::try_from(tenant.0).map_err(|_| FetchError::NoTenant)?;
        let rules = self.rules(index).ok_or(FetchError::NoTenant)?;
        let request = decode_request(&payload)?;
        // The body is copied out: a 15 MiB payload is not held twice.
        drop(payload);
        // A fetch its caller aborts stops waiting for its hop: the request is dropped (its
        // connection closed) and audited as aborted, as is one aborted before it started.
        let (_watch, mut aborted, aborted_early) = match resources {
            Some(resources) => match watch(resources, request.call) {
                Some((watch, fired)) => (Some(watch), Some(fired), false),
                None => (None, None, true),
            },
            None => (None, None, false),
        };
        let mut method = Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| FetchError::BadMethod(request.method.clone()))?;
        let mut url = Url::parse(&request.url).map_err(|e| FetchError::BadUrl(e.to_string()))?;
        let mut headers = tenant_headers(&request.headers)?;
        // A WebSocket handshake's own headers are the gateway's (its key, checked in the 101).
        let websocket_key = request.websocket.then(|| {
            websocket::drop_handshake_headers(&mut headers);
            websocket::new_key()
        });
        if request.websocket && method != Method::GET {
            return Err(FetchError::WebSocketMethod(request.method.clone()));
        }
        if request.websocket && !websocket::has_room(resources) {
            return Err(FetchError::TooManyWebSockets);
        }
        // A streamed upload can be sent once: a redirect that would send it again fails.
        let mut upload = match (request.upload, resources) {
            (Some(id), Some(resources)) => Some(upload_body(resources, id, request.length)?),
            (Some(_), None) => return Err(FetchError::NoStream),
            (None, _) => None,
        };
        // Shared, not copied, with each hop's request (a redirect may send it again).
        let mut body = bytes::Bytes::from(request.body);
        let mut redirected = false;
        let mut slot = None;
        for hop in 0..=MAX_REDIRECTS {
            if hop > 0 && request.upload.is_some() && !body_dropped(&method, &request.method) {
                return Err(FetchError::StreamedRedirect);
            }
            let (rule, mut record) =
                self.admit(index, worker, &rules, &method, &url, body.len(), injected)?;
            let started = Instant::now();
            if aborted_early {
                return Err(self.fail(
                    index,
                    Hop { started, record },
                    FetchError::Aborted,
                    injected,
                ));
            }
            let mut sent = headers.clone();
            let rule_injects = rules.injects.get(rule);
            let to_inject = rule_injects.map_or(&[][..], |i| i.headers.as_slice());
            if !to_inject.is_empty()
                && url.scheme() == "http"
                && !rule_injects.is_some_and(|i| i.over_http)
                && !is_loopback(&url)
            {
                let refused = FetchError::CleartextSecret;
                return Err(self.fail(index, Hop { started, record }, refused, injected));
            }
            // All of the hop's values at once: a reload of the secrets is seen whole or not.
            let values = self
                .secrets
                .values(index, to_inject.iter().map(|(_, s)| s.as_str()));
            for ((name, secret), value) in to_inject.iter().zip(values) {
                let value = value.ok_or_else(|| FetchError::SecretMissing(secret.clone()));
                let value = match value {
                    Ok(v) => v,
                    Err(e) => return Err(self.fail(index, Hop { started, record }, e, injected)),
                };
                // Checked when set: visible ASCII.
                let header = HeaderValue::from_str(&value.0)
                    .map_err(|_| FetchError::SecretMissing(secret.clone()))?;
                sent.remove(name);
                sent.insert(name.clone(), header);
                injected.push(value);
            }
            // An answer that could hold a secret (injected on this hop or an earlier one) must
            // come whole and uncompressed, or decoded, or it could not be scrubbed (a range could
            // cut a value in two); any other answer may go to tenant code as it came.
            let raw = negotiate(
                &mut sent,
                !injected.is_empty(),
                request.encode_response_body == ResponseBodyEncoding::Manual,
            );
            let client = match &websocket_key {
                Some(key) => {
                    websocket::handshake_headers(&mut sent, key);
                    &self.upgrade_client
                }
                None if raw => &self.raw_client,
                None => &self.client,
            };
            // Audited if the caller's request ends (and drops this) before the answer.
            let mut cut = CutShort {
                gateway: self,
                index,
                hop: Some(Hop {
                    started,
                    record: record.clone(),
                }),
                injected,
            };
            if let (None, Some(resources)) = (&slot, resources) {
                // One of the request's open connections: waits (holding no lock) while six are
                // open; an abort ends the wait.
                let waiting = Instant::now();
                slot = Some(tokio::select! {
                    opened = connections::open(resources) => match opened {
                        Ok(slot) => slot,
                        Err(closed) => {
                            let hop_state = cut.disarm();
                            let error = FetchError::Upstream(closed.to_string());
                            return Err(self.fail(index, hop_state, error, injected));
                        }
                    },
                    () = fired(&mut aborted) => {
                        let hop_state = cut.disarm();
                        return Err(self.fail(index, hop_state, FetchError::Aborted, injected));
                    }
                });
                cut.queued(waiting.elapsed());
            }
            let hop_body = match upload.take() {
                Some(stream) => {
                    // The length the runtime knows (`upload_length`), not chunked framing.
                    if let Some(length) = request.length {
                        sent.insert(reqwest::header::CONTENT_LENGTH, HeaderValue::from(length));
                    }
                    stream
                }
                None => reqwest::Body::from(body.clone()),
            };
            let send = client
                .request(method.clone(), url.clone())
                .headers(sent)
                .body(hop_body)
                .send();
            let response = tokio::select! {
                response = send => response,
                () = fired(&mut aborted) => {
                    let hop_state = cut.disarm();
                    return Err(self.fail(index, hop_state, FetchError::Aborted, injected));
                }
            };
            let hop_state = cut.disarm();
            let response = match response {
                Ok(r) => r,
                Err(e) => {
                    let error = classify(&e, &url);
                    return Err(self.fail(index, hop_state, error, injected));
                }
            };
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            if let (true, Some(location), false) = (
                status.is_redirection(),
                location,
                request.redirect == RedirectMode::Manual || request.websocket,
            ) {
                record.status = Some(status.as_u16());
                record.ms = started.elapsed().as_millis() as u64;
                self.log(index, record, injected);
                if request.redirect == RedirectMode::Error {
                    return Err(FetchError::RedirectRefused);
                }
                if hop == MAX_REDIRECTS {
                    return Err(FetchError::TooManyRedirects);
                }
                let next = url.join(&location).map_err(|_| FetchError::BadLocation)?;
                // An upstream that echoes a secret into its redirect would have the gateway
                // carry it elsewhere (perhaps to a host the tenant controls): not followed.
                if holds_any(&location, injected) || holds_any(next.as_str(), injected) {
                    return Err(FetchError::SecretInLocation);
                }
                if status == StatusCode::SEE_OTHER && method != Method::HEAD
                    || matches!(status.as_u16(), 301 | 302) && method == Method::POST
                {
                    method = Method::GET;
                    body = bytes::Bytes::new();
                    for name in [
                        "content-type",
                        "content-encoding",
                        "content-language",
                        "content-location",
                    ] {
                        headers.remove(name);
                    }
                }
                if next.origin() != url.origin() {
                    headers.remove(reqwest::header::AUTHORIZATION);
                    headers.remove(reqwest::header::COOKIE);
                }
                url = next;
                redirected = true;
                continue;
            }
            let encoding = response
                .headers()
                .get(reqwest::header::CONTENT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("identity")
                .to_ascii_lowercase();
            if !injected.is_empty() && encoding != "identity" {
                return Err(self.fail(
                    index,
                    hop_state,
                    FetchError::Compressed(encoding),
                    injected,
                ));
            }
            let head = ResponseHead {
                status: status.as_u16(),
                status_text: status.canonical_reason().unwrap_or("").to_owned(),
                headers: response
                    .headers()
                    .iter()
                    // A scrubbed body's length may not be the upstream's.
                    .filter(|(n, _)| injected.is_empty() || *n != reqwest::header::CONTENT_LENGTH)
                    .map(|(n, v)| (n.as_str().to_owned(), isomorphic_decode(v.as_bytes())))
                    .collect(),
                url: url.to_string(),
                redirected,
                stream: None,
            };
            return Ok(Ran {
                head,
                response,
                index,
                hop: hop_state,
                websocket_key,
            });
        }
        Err(FetchError::TooManyRedirects)
    }
}

/// Resolves when the fetch's caller aborted it (never, for a fetch that cannot be aborted).
async fn fired(aborted: &mut Option<oneshot::Receiver<()>>) {
    if let Some(fired) = aborted.as_mut() {
        if fired.await.is_ok() {
            return;
        }
        *aborted = None; // the watch ended without an abort: never polled again
    }
    std::future::pending::<()>().await
}

/// A hop waiting for its answer: audited if dropped before it (the caller's request ended: wall
/// limit, client gone); [`CutShort::disarm`] hands the hop back once the wait is over.
struct CutShort<'a> {
    gateway: &'a Gateway,
    index: usize,
    hop: Option<Hop>,
    injected: &'a [SecretValue],
}

impl CutShort<'_> {
    /// The hop waited `wait` for one of its request's connections (its record's `queued_ms`).
    fn queued(&mut self, wait: std::time::Duration) {
        if let Some(hop) = self.hop.as_mut() {
            hop.record.queued_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        }
    }

    fn disarm(mut self) -> Hop {
        let Some(hop) = self.hop.take() else {
            unreachable!("a hop is taken only here, once")
        };
        hop
    }
}

impl Drop for CutShort<'_> {
    fn drop(&mut self) {
        if let Some(hop) = self.hop.take() {
            let mut record = hop.record;
            record.reason = Some("the caller's request ended before the answer".into());
            record.ms = hop.started.elapsed().as_millis() as u64;
            self.gateway.log(self.index, record, self.injected);
        }
    }
}

/// Whether `url`'s host is a loopback address (or `localhost`): a hop there never leaves the
/// host.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether a redirect turned the request into a bodyless one (`method` now, `asked` at first).
fn body_dropped(method: &Method, asked: &str) -> bool {
    *method == Method::GET && !asked.eq_ignore_ascii_case("GET")
}
