//! The `fetch` host call: tenant code's outbound HTTP(S), made by the supervisor on its behalf.
//! Here the gateway and the answer's way back to tenant code; one hop's admission is in
//! `gateway_admit.rs`, the chain of hops (injection, redirects, aborts) in `gateway_hops.rs`,
//! the errors in `gateway_error.rs`.
//!
//! Guarantees, for every answer (see `gateway_hops.rs` for every hop):
//! - an answer compressed with gzip, deflate or br reaches tenant code decoded (without its
//!   `Content-Encoding` and `Content-Length`), as a Workers `fetch()` gives it, and is scrubbed
//!   decoded; the caps below count decoded bytes (the client built here decodes; the raw one,
//!   for `encodeResponseBody: "manual"` with nothing injected, does not);
//! - every value injected anywhere in the chain is replaced by `[redacted]` (verbatim and in its
//!   common encodings, mixed, see `scrub`) in the status text, header names and values, final
//!   URL, body and error text the tenant gets back;
//! - each hop is bounded by `[egress] hop_timeout_ms` (default 30 s, body included); an answer read whole by
//!   `MAX_BODY_LEN` bytes, one that streams (longer than its first part, see `stream`) by
//!   `stream::MAX_STREAMED_BODY`, scrubbed piece by piece (a value split across pieces is still
//!   caught); the request's wall-clock limit (the worker's) bounds the whole;
//! - every hop and every refusal is audited (`audit`), without header values or query: the
//!   last hop here, once its body is read or its stream is over, the others and the refusals
//!   where they happen;
//! - a request's fetch holds one of its six places for open connections (`connections`) from
//!   its first hop until its last hop's response head arrived (`gateway_hops.rs`): a body being
//!   read, streamed or not, and an open WebSocket hold none, as on Cloudflare since April 2026.
//!
//! Trusts: the tenant id (the supervisor attached it); nothing in the payload; the upstream's
//! answer only as far as its size and a verbatim scrub go (an upstream that transforms a secret,
//! say base64 of it, can hand it back: injected secrets are for services the operator trusts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderName;
use stockade_cordon::TenantId;
use stockade_ipc::limits::MAX_HOST_CALL_PAYLOAD;

use super::addr::AddressPolicy;
use super::audit::{Audit, Record};
use super::outbound::WorkerDispatch;
use super::policy::Rule;
use super::resolver::CheckedResolver;
use super::scrub::{scrub_str, Scrubber};
use super::secrets::Secrets;
use super::stream::{from_response, hold, read_start, PendingAudit, Upstream};
use super::wire::{encode_response, ResponseHead};
use crate::config::SecretValue;
use crate::supervisor::Resources;

pub use fetch_error::FetchError;

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

pub struct Gateway {
    /// For `globalOutbound: {"worker": id}` (see `outbound`).
    pub dispatch: std::sync::OnceLock<WorkerDispatch>,
    /// By tenant index (`TenantId`); replaced whole by a reload.
    tenants: std::sync::RwLock<Vec<Arc<TenantRules>>>,
    secrets: Arc<Secrets>,
    pub(super) audit: Arc<Audit>,
    pub(super) addresses: Arc<AddressPolicy>,
    /// Decodes gzip, deflate and br answers (every hop but a raw one).
    client: reqwest::Client,
    /// Decodes nothing: a hop whose answer goes to tenant code as the upstream sent it
    /// (`encodeResponseBody: "manual"` in a chain that injected nothing).
    raw_client: reqwest::Client,
    /// HTTP/1.1 only, decodes nothing: a WebSocket handshake's hop (`websocket.rs`).
    pub(super) upgrade_client: reqwest::Client,
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
        let builder = |decode: bool, http1: bool| {
            let builder = reqwest::Client::builder();
            let builder = if http1 { builder.http1_only() } else { builder };
            builder
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
        let client = builder(true, false)?;
        let raw_client = builder(false, false)?;
        let upgrade_client = builder(false, true)?;
        Ok(Gateway {
            dispatch: std::sync::OnceLock::new(),
            tenants: std::sync::RwLock::new(tenants.into_iter().map(Arc::new).collect()),
            secrets,
            audit,
            addresses,
            client,
            raw_client,
            upgrade_client,
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
            Ok((head, body, socket)) => {
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
                let out = match socket {
                    Some(socket) => websocket::encode_answer(&head, socket),
                    None => encode_response(&head, &body),
                };
                if out.len() > MAX_HOST_CALL_PAYLOAD {
                    return Err(FetchError::BodyTooLarge.to_string());
                }
                Ok(out)
            }
            Err(e) => Err(scrub_str(&e.to_string(), &injected)),
        }
    }

    /// The answer's head and its body (scrubbed), or its first part with the rest kept in
    /// `resources` under `head.stream`; or, for a WebSocket handshake the server accepted, its
    /// head and the number of the socket (`websocket.rs`).
    async fn answer(
        &self,
        tenant: TenantId,
        worker: Option<&str>,
        payload: Vec<u8>,
        resources: Option<&Resources>,
        injected: &mut Vec<SecretValue>,
    ) -> Result<(ResponseHead, Vec<u8>, Option<u32>), FetchError> {
        let ran = self
            .run(tenant, worker, payload, resources, injected)
            .await?;
        if let (Some(key), 101) = (&ran.websocket_key, ran.head.status) {
            let key = key.clone();
            let socket = self.upgraded(ran, &key, resources, injected).await?;
            return Ok((socket.0, Vec::new(), Some(socket.1)));
        }
        let hops::Ran {
            mut head,
            response,
            index,
            hop,
            ..
        } = ran;
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
        Ok((head, body, None))
    }
}

#[path = "gateway_admit.rs"]
mod admit;
#[path = "gateway_error.rs"]
mod fetch_error;
#[path = "gateway_hops.rs"]
mod hops;
#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
#[path = "websocket.rs"]
mod websocket;
