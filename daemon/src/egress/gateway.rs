//! The `fetch` host call: tenant code's outbound HTTP(S), made by the supervisor on its behalf.
//!
//! Guarantees, for every hop (the first request and each redirect the gateway follows):
//! - only `http` and `https` URLs, parsed by the `url` crate (so `http://2130706433/` and
//!   `http://0177.0.0.1/` are 127.0.0.1 before anything is checked);
//! - the tenant's allow rules decide (`policy`, first match wins, no rule no network), then the
//!   address: an IP literal is checked directly, a name through the checked resolver
//!   (`resolver`), and the connection goes to the checked address only;
//! - headers from the matching rule's `inject_headers` replace any the tenant set of that name,
//!   with values of the tenant's secrets, on that hop only (a redirect to another rule's host
//!   gets that rule's headers, or none); a hop that injects asks for an uncompressed, whole
//!   answer (no `Range`); an answer in an encoding the gateway does not decode is refused
//!   there, since it could not be scrubbed;
//! - an answer compressed with gzip, deflate or br reaches tenant code decoded (without its
//!   `Content-Encoding` and `Content-Length`), as a Workers `fetch()` gives it, and is scrubbed
//!   decoded; the caps below count decoded bytes;
//! - `encodeResponseBody: "manual"` hands tenant code the body as the upstream sent it, with its
//!   `Content-Encoding` (and `Content-Length`), only when no hop of the chain injected a secret
//!   (there is then nothing to scrub); after an injection the answer is decoded and scrubbed as
//!   above (no `Content-Encoding`: that absence is how tenant code can tell). Either way the
//!   upstream is asked for the same encodings an automatic fetch asks for (`hop::negotiate`);
//! - a hop that injects goes over `https`, or `http` to a loopback address, unless its rule
//!   says `inject_over_http` (a rule names a host and ports, not a scheme);
//! - every value injected anywhere in the chain is replaced by `[redacted]` (verbatim and in its
//!   common encodings, mixed, see `scrub`) in the status text, header names and values, final
//!   URL, body and error text the tenant gets back, and a scrubbed answer has no
//!   `Content-Length`; a redirect whose location holds one is not followed;
//! - at most [`MAX_REDIRECTS`] redirects, each re-checked; `redirect: "manual"` answers a 3xx
//!   as it is; `"error"` fails on one; a cross-origin redirect drops `Authorization` and
//!   `Cookie`; 303, and 301/302 after a POST, become a bodyless GET;
//! - each hop is bounded by `[egress] hop_timeout_ms` (default 30 s, body included); an answer read whole by
//!   `MAX_BODY_LEN` bytes, one that streams (longer than its first part, see `stream`) by
//!   `stream::MAX_STREAMED_BODY`, scrubbed piece by piece (a value split across pieces is still
//!   caught); the request's wall-clock limit (the worker's) bounds the whole;
//! - every hop and every refusal is audited (`audit`), without header values or query.
//!
//! Trusts: the tenant id (the supervisor attached it); nothing in the payload; the upstream's
//! answer only as far as its size and a verbatim scrub go (an upstream that transforms a secret,
//! say base64 of it, can hand it back: injected secrets are for services the operator trusts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use stockade_cordon::TenantId;
use stockade_ipc::limits::{MAX_BODY_LEN, MAX_HOST_CALL_PAYLOAD};
use tokio::sync::oneshot;
use url::{Host, Url};

use super::abort::watch;
use super::addr::{AddressPolicy, Refused};
use super::audit::{now_ms, Audit, Record};
use super::hop::{classify, isomorphic_decode, negotiate, tenant_headers};
use super::outbound::WorkerDispatch;
use super::policy::{decide, Decision, Rule, Target, TargetHost};
use super::resolver::CheckedResolver;
use super::scrub::holds_any;
use super::scrub::{scrub_str, Scrubber};
use super::secrets::Secrets;
use super::stream::{from_response, hold, read_start, upload_body, PendingAudit, Upstream};
use super::wire::{
    decode_request, encode_response, RedirectMode, ResponseBodyEncoding, ResponseHead, WireError,
};
use crate::config::SecretValue;
use crate::supervisor::Resources;

/// Redirects followed at most.
pub const MAX_REDIRECTS: usize = 20;

/// A tenant's rules, each with what it injects.
pub struct TenantRules {
    pub name: String,
    pub rules: Vec<Rule>,
    pub injects: Vec<Injects>,
}

/// What one rule injects: header -> secret name, and whether over plain `http` to an address
/// that is not loopback (the rule's `inject_over_http`).
#[derive(Default)]
pub struct Injects {
    pub headers: Vec<(HeaderName, String)>,
    pub over_http: bool,
}

/// Why a fetch failed (the text tenant code's `TypeError` carries; never a secret value).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("invalid URL: {0}")]
    BadUrl(String),
    #[error("fetch supports http and https only, not {0}:")]
    Scheme(String),
    #[error("invalid method {0:?}")]
    BadMethod(String),
    #[error("invalid header {0:?}")]
    BadHeader(String),
    #[error("egress to {host}:{port} denied: {reason}")]
    Denied {
        host: String,
        port: u16,
        reason: &'static str,
    },
    #[error("egress to {host} denied: {refused}")]
    Refused { host: String, refused: Refused },
    #[error("cannot resolve {0}")]
    Unresolvable(String),
    #[error("egress rule needs secret {0:?}, which is not set")]
    SecretMissing(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("redirect refused: the request's redirect mode is \"error\"")]
    RedirectRefused,
    #[error("invalid redirect location")]
    BadLocation,
    #[error("the response body is larger than {MAX_BODY_LEN} bytes")]
    BodyTooLarge,
    #[error("the upstream answered a compressed body ({0}) to a request carrying secrets")]
    Compressed(String),
    #[error(
        "this egress rule injects secrets, which go over https only (or http to a loopback \
         address; the rule's inject_over_http allows more)"
    )]
    CleartextSecret,
    #[error("redirect not followed: its location holds a secret the gateway injected")]
    SecretInLocation,
    #[error("the upstream did not answer within the hop timeout")]
    Timeout,
    #[error("upstream request failed: {0}")]
    Upstream(String),
    #[error("this tenant has no egress configuration")]
    NoTenant,
    #[error("a redirect would send the request's streamed body again, which cannot be done")]
    StreamedRedirect,
    #[error("the worker's response body failed: {0}")]
    WorkerBody(String),
    #[error("the fetch was aborted")]
    Aborted,
    #[error("too many response bodies open at once in this request")]
    TooManyStreams,
    #[error(
        "this request streams {} request bodies at once already (the most it may)",
        crate::supervisor::Resources::MAX
    )]
    TooManyUploads,
    #[error("no such response body stream (it ended, or was never opened by this request)")]
    NoStream,
    #[error(
        "the streamed response body is larger than {} bytes",
        super::stream::MAX_STREAMED_BODY
    )]
    StreamTooLarge,
}

pub struct Gateway {
    /// For `globalOutbound: {"worker": id}` (see `outbound`).
    pub dispatch: std::sync::OnceLock<WorkerDispatch>,
    /// By tenant index (`TenantId`); replaced whole by a reload.
    tenants: std::sync::RwLock<Vec<Arc<TenantRules>>>,
    secrets: Arc<Secrets>,
    pub(super) audit: Arc<Audit>,
    addresses: Arc<AddressPolicy>,
    /// Decodes gzip, deflate and br answers (every hop but a raw one).
    client: reqwest::Client,
    /// Decodes nothing: a hop whose answer goes to tenant code as the upstream sent it
    /// (`encodeResponseBody: "manual"` in a chain that injected nothing).
    raw_client: reqwest::Client,
}

/// What one hop is about, for its audit record.
struct Hop {
    started: Instant,
    record: Record,
}

impl Gateway {
    /// The rules of tenant `index`, as they are now.
    pub(super) fn rules(&self, index: usize) -> Option<Arc<TenantRules>> {
        let tenants = self.tenants.read().unwrap_or_else(|e| e.into_inner());
        tenants.get(index).cloned()
    }

    /// Replaces every tenant's rules (a reload); requests under way keep the rules they began with.
    pub(super) fn set_rules(&self, tenants: Vec<Arc<TenantRules>>) {
        *self.tenants.write().unwrap_or_else(|e| e.into_inner()) = tenants;
    }

    pub fn new(
        tenants: Vec<TenantRules>,
        secrets: Arc<Secrets>,
        audit: Arc<Audit>,
        addresses: Arc<AddressPolicy>,
        hop_timeout: Duration,
    ) -> Result<Gateway, super::EgressError> {
        let builder = |decode: bool| {
            reqwest::Client::builder()
                .dns_resolver(Arc::new(CheckedResolver {
                    policy: Arc::clone(&addresses),
                }))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                // Decoded for tenant code, and so that scrubbing sees the bytes; each hop names
                // the encodings it asks for (`hop::negotiate`).
                .gzip(decode)
                .deflate(decode)
                .brotli(decode)
                .timeout(hop_timeout)
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(super::EgressError::Client)
        };
        let client = builder(true)?;
        let raw_client = builder(false)?;
        Ok(Gateway {
            dispatch: std::sync::OnceLock::new(),
            tenants: std::sync::RwLock::new(tenants.into_iter().map(Arc::new).collect()),
            secrets,
            audit,
            addresses,
            client,
            raw_client,
        })
    }

    /// The `fetch` host call under the tenant's egress policy, its answer read whole (at most
    /// `MAX_BODY_LEN` bytes).
    #[cfg(test)]
    pub async fn fetch(&self, tenant: TenantId, payload: Vec<u8>) -> Result<Vec<u8>, String> {
        self.fetch_with(tenant, None, payload, None).await
    }

    /// The `fetch` host call of `tenant`'s Loader worker `worker` (hex id; `None` for Code Mode
    /// and the daemon's own requests); with `resources` (the request's), its head is answered as it
    /// comes, with what of the body came (see `stream::read_start`), and the rest is kept there
    /// and read with `fetch.read`.
    pub async fn fetch_with(
        &self,
        tenant: TenantId,
        worker: Option<&str>,
        payload: Vec<u8>,
        resources: Option<&Resources>,
    ) -> Result<Vec<u8>, String> {
        let mut injected = Vec::new();
        match self
            .answer(tenant, worker, payload, resources, &mut injected)
            .await
        {
            Ok((head, body)) => {
                let head = ResponseHead {
                    status: head.status,
                    status_text: scrub_str(&head.status_text, &injected),
                    headers: head
                        .headers
                        .iter()
                        .map(|(n, v)| (scrub_str(n, &injected), scrub_str(v, &injected)))
                        .collect(),
                    url: scrub_str(&head.url, &injected),
                    redirected: head.redirected,
                    stream: head.stream,
                };
                let out = encode_response(&head, &body);
                if out.len() > MAX_HOST_CALL_PAYLOAD {
                    return Err(FetchError::BodyTooLarge.to_string());
                }
                Ok(out)
            }
            Err(e) => Err(scrub_str(&e.to_string(), &injected)),
        }
    }

    /// The answer's head and its body (scrubbed), or its first part with the rest kept in
    /// `resources` under `head.stream`.
    async fn answer(
        &self,
        tenant: TenantId,
        worker: Option<&str>,
        payload: Vec<u8>,
        resources: Option<&Resources>,
        injected: &mut Vec<SecretValue>,
    ) -> Result<(ResponseHead, Vec<u8>), FetchError> {
        let (mut head, response, index, hop) = self
            .run(tenant, worker, payload, resources, injected)
            .await?;
        let mut scrubber = Scrubber::new(injected);
        let (first, rest) = match read_start(response, resources.is_some()).await {
            Ok(read) => read,
            Err(e) => return Err(self.fail(index, hop, e, injected)),
        };
        let mut record = hop.record;
        record.status = Some(head.status);
        record.bytes_in = first.len() as u64;
        record.ms = hop.started.elapsed().as_millis() as u64;
        let mut body = scrubber.push(&first);
        match (rest, resources) {
            (Some(response), Some(resources)) => {
                // Audited when the stream is over, with every byte it received.
                let audit = PendingAudit {
                    audit: Arc::clone(&self.audit),
                    index,
                    record,
                    started: hop.started,
                    injected: injected.clone(),
                    sent: None,
                };
                let source = from_response(response);
                let upstream = Upstream::new(source, scrubber, first.len(), Some(audit));
                head.stream = Some(hold(resources, upstream).ok_or(FetchError::TooManyStreams)?);
            }
            _ => {
                body.extend(scrubber.finish());
                self.log(index, record, injected);
            }
        }
        Ok((head, body))
    }

    /// Follows the request's hops to its answer: its head, the response to read its body
    /// from, and the last hop (audited once its body is read, or its stream is over).
    async fn run(
        &self,
        tenant: TenantId,
        worker: Option<&str>,
        payload: Vec<u8>,
        resources: Option<&Resources>,
        injected: &mut Vec<SecretValue>,
    ) -> Result<(ResponseHead, reqwest::Response, usize, Hop), FetchError> {
        let index = usize::try_from(tenant.0).map_err(|_| FetchError::NoTenant)?;
        let rules = self.rules(index).ok_or(FetchError::NoTenant)?;
        let request = decode_request(&payload)?;
        drop(payload); // the body is copied out; a 15 MiB payload is not held twice
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
        // A streamed upload can be sent once: a redirect that would send it again fails.
        let mut upload = match (request.upload, resources) {
            (Some(id), Some(resources)) => Some(upload_body(resources, id, request.length)?),
            (Some(_), None) => return Err(FetchError::NoStream),
            (None, _) => None,
        };
        // Shared, not copied, with each hop's request (a redirect may send it again).
        let mut body = bytes::Bytes::from(request.body);
        let mut redirected = false;
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
            let client = if raw { &self.raw_client } else { &self.client };
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
            // Audited if the caller's request ends (and drops this) before the answer.
            let cut = CutShort {
                gateway: self,
                index,
                hop: Some(Hop {
                    started,
                    record: record.clone(),
                }),
                injected,
            };
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
                request.redirect == RedirectMode::Manual,
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
            return Ok((head, response, index, hop_state));
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

#[path = "gateway_admit.rs"]
mod admit;
#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
