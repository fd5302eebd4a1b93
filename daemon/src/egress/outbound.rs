//! Where a request's `fetch()` goes when its Loader worker says so (`globalOutbound`): nowhere
//! (`null`), or to another Loader worker's fetch handler (`{"worker": id}`), instead of through
//! the tenant's egress policy (`gateway`).
//!
//! Guarantees: a `Blocked` request never reaches the network, and is audited as denied; a
//! `Worker` request is handed to the dispatch the API set (which checks the worker is the same
//! tenant's) and audited with the worker's id as its host and `worker` as its scheme. Trusts:
//! the supervisor's call context (it attached the outbound of the request's worker definition).

use std::sync::Arc;
use std::time::Instant;

use reqwest::StatusCode;
use stockade_cordon::TenantId;
use url::Url;

use super::audit::{now_ms, Record};
use super::gateway::{FetchError, Gateway};
use super::wire::{decode_request, encode_response, FetchRequest, ResponseHead};
use crate::supervisor::{CallContext, Outbound};

/// What a Loader worker's fetch handler answered: status, headers, body.
pub type WorkerAnswer = Result<(u16, Vec<(String, String)>, Vec<u8>), String>;

/// Delivers a request to a Loader worker: `(tenant, worker id, request)`. Set once the API
/// exists (it holds the workers), so the gateway can serve `globalOutbound: {"worker": id}`.
pub type WorkerDispatch = Arc<
    dyn Fn(
            String,
            String,
            FetchRequest,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = WorkerAnswer> + Send>>
        + Send
        + Sync,
>;

impl Gateway {
    /// The `fetch` host call of a request, by where its outbound requests go.
    pub async fn fetch_in(
        &self,
        context: CallContext,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        match context.outbound {
            Outbound::Policy => {
                let worker = context.caller.worker.as_ref().map(|w| w.id.to_hex());
                self.fetch_with(
                    context.tenant,
                    worker.as_deref(),
                    payload,
                    Some(&context.resources),
                )
                .await
            }
            Outbound::Blocked => {
                let error = "this worker has no network (its globalOutbound is null)";
                if let Some(record) = self.worker_record(context.tenant, "-", &payload) {
                    let index = context.tenant.0 as usize;
                    self.audit.record(
                        index,
                        Record {
                            reason: Some(error.into()),
                            ..record
                        },
                    );
                }
                Err(error.into())
            }
            Outbound::Worker(id) => self.to_worker(context.tenant, id, payload).await,
        }
    }

    /// An audit record of a request that goes to a Loader worker (or nowhere).
    fn worker_record(&self, tenant: TenantId, worker: &str, payload: &[u8]) -> Option<Record> {
        let rules = self.rules(usize::try_from(tenant.0).ok()?)?;
        let request = decode_request(payload).ok();
        let url = request.as_ref().and_then(|r| Url::parse(&r.url).ok());
        Some(Record {
            at_ms: now_ms(),
            tenant: rules.name.clone(),
            worker: None,
            method: request.as_ref().map_or(String::new(), |r| r.method.clone()),
            scheme: "worker".into(),
            host: worker.to_owned(),
            port: 0,
            path: url.map_or(String::new(), |u| u.path().to_owned()),
            rule: None,
            verdict: "denied",
            reason: None,
            status: None,
            bytes_out: request.as_ref().map_or(0, |r| r.body.len() as u64),
            bytes_in: 0,
            ms: 0,
        })
    }

    /// `globalOutbound: {"worker": id}`: the request goes to that worker's fetch handler.
    async fn to_worker(
        &self,
        tenant: TenantId,
        worker: String,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let index = usize::try_from(tenant.0).map_err(|_| FetchError::NoTenant.to_string())?;
        let rules = self
            .rules(index)
            .ok_or_else(|| FetchError::NoTenant.to_string())?;
        let request = decode_request(&payload).map_err(|e| e.to_string())?;
        let mut record = self
            .worker_record(tenant, &worker, &payload)
            .ok_or_else(|| FetchError::NoTenant.to_string())?;
        let dispatch = self
            .dispatch
            .get()
            .ok_or("outbound workers are not available")?;
        let url = request.url.clone();
        let started = Instant::now();
        let answer = dispatch(rules.name.clone(), worker, request).await;
        record.ms = started.elapsed().as_millis() as u64;
        match answer {
            Ok((status, headers, body)) => {
                record.verdict = "allowed";
                record.status = Some(status);
                record.bytes_in = body.len() as u64;
                self.audit.record(index, record);
                let head = ResponseHead {
                    status,
                    status_text: StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("")
                        .to_owned(),
                    headers,
                    url,
                    redirected: false,
                    stream: None,
                };
                Ok(encode_response(&head, &body))
            }
            Err(e) => {
                record.verdict = "allowed";
                record.reason = Some(e.clone());
                self.audit.record(index, record);
                Err(e)
            }
        }
    }
}
