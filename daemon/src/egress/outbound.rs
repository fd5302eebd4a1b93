//! Where a request's `fetch()` goes when its Loader worker says so (`globalOutbound`): nowhere
//! (`null`), or to another Loader worker's fetch handler (`{"worker": id}`), instead of through
//! the tenant's egress policy (`gateway`).
//!
//! Guarantees: a `Blocked` request never reaches the network, and is audited as denied; a
//! `Worker` request is handed to the dispatch the API set (which checks the worker is the same
//! tenant's) and audited with the worker's id as its host and `worker` as its scheme. Both bodies
//! stream as the network's do: a streamed request body (`fetch.write`, the egress upload) is the
//! worker's request body as it is fed, and the worker's streamed answer is read with `fetch.read`
//! as the worker writes it (`stream::Upstream`: the same pieces, the same
//! `stream::MAX_STREAMED_BODY` cap); its audit record is written when the stream is over, with
//! the bytes sent and received. An abort (`fetch.abort`), a `fetch.cancel`, or the end of the
//! caller's request drops the worker's call: its request is cancelled. A `Worker` request is one
//! of the caller's open connections (`connections`) until its answer's head came, as a network
//! fetch is. Trusts: the supervisor's call context (it attached the outbound
//! of the request's worker definition).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use reqwest::StatusCode;
use stockade_cordon::TenantId;
use url::Url;

use super::abort::watch;
use super::audit::{now_ms, Record};
use super::connections;
use super::gateway::{FetchError, Gateway};
use super::stream::{
    from_worker, hold_answer, upload_stream, PendingAudit, Source, UploadStream, FIRST_PART,
};
use super::wire::{decode_request, encode_response, FetchRequest, ResponseHead};
use crate::supervisor::body::BodyStream;
use crate::supervisor::{CallContext, Outbound};

/// A request for a Loader worker's fetch handler.
pub struct WorkerRequest {
    /// The tenant's name, and the worker (and its entrypoint and props) it goes to.
    pub tenant: String,
    pub target: crate::supervisor::OutboundTarget,
    /// The chain of binding calls the fetching request runs in: a delivery is one more call of
    /// it (its budget and depth), so a worker and its child cannot hand requests back and forth
    /// without end.
    pub chain: crate::supervisor::Chain,
    /// Its body is in `request.body`, unless `upload` streams it.
    pub request: FetchRequest,
    pub upload: Option<UploadStream>,
}

/// What a Loader worker's fetch handler answered: its body whole, or streamed (`rest`).
pub struct WorkerAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub rest: Option<BodyStream>,
}

/// Delivers a request to a Loader worker. Set once the API exists (it holds the workers), so
/// the gateway can serve `globalOutbound: {"worker": id}`; dropping the future cancels the
/// worker's request.
pub type WorkerDispatch = Arc<
    dyn Fn(
            WorkerRequest,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<WorkerAnswer, String>> + Send>,
        > + Send
        + Sync,
>;

impl Gateway {
    /// The `fetch` host call of a request, by where its outbound requests go.
    pub async fn fetch_in(
        &self,
        context: CallContext,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        match &context.outbound {
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
            Outbound::Worker(target) => self.to_worker(&context, target.clone(), payload).await,
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
            queued_ms: 0,
        })
    }

    /// `globalOutbound: {"worker": id}`: the request goes to that worker's fetch handler, both
    /// bodies streamed; audited when its answer's body is over (or the delivery ended first).
    async fn to_worker(
        &self,
        context: &CallContext,
        target: crate::supervisor::OutboundTarget,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let tenant = context.tenant;
        let resources = &context.resources;
        let index = usize::try_from(tenant.0).map_err(|_| FetchError::NoTenant.to_string())?;
        let rules = self
            .rules(index)
            .ok_or_else(|| FetchError::NoTenant.to_string())?;
        let mut request = decode_request(&payload).map_err(|e| e.to_string())?;
        if request.websocket {
            return Err("a WebSocket to a worker (globalOutbound) is not supported yet".into());
        }
        let mut record = self
            .worker_record(tenant, &target.worker, &payload)
            .ok_or_else(|| FetchError::NoTenant.to_string())?;
        drop(payload);
        record.verdict = "allowed";
        let mut audit = Unwritten {
            gateway: self,
            index,
            record: Some(record),
            sent: Arc::new(AtomicU64::new(request.body.len() as u64)),
            started: Instant::now(),
        };
        // Taken now, so an upload nobody reads (a refused request) fails its feeder.
        let upload = match request.upload.take() {
            Some(id) => {
                let counted = Arc::clone(&audit.sent);
                let stream = upload_stream(resources, id).map_err(|e| audit.failed(e))?;
                Some(Box::pin(stream.inspect(move |item| {
                    if let Ok(chunk) = item {
                        counted.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    }
                })) as UploadStream)
            }
            None => None,
        };
        let dispatch = self
            .dispatch
            .get()
            .ok_or_else(|| audit.failed("outbound workers are not available"))?;
        let (_watch, mut aborted) =
            watch(resources, request.call).ok_or_else(|| audit.failed(FetchError::Aborted))?;
        // One of the request's open connections until its answer's head came, as a network fetch
        // is: waits (holding no lock) while six wait for theirs; an abort ends the wait.
        let slot = tokio::select! {
            opened = connections::open(resources) => opened.map_err(|e| audit.failed(e))?,
            Ok(()) = &mut aborted => return Err(audit.failed(FetchError::Aborted)),
        };
        let url = request.url.clone();
        let delivery = dispatch(WorkerRequest {
            tenant: rules.name.clone(),
            target,
            chain: context.caller.chain.clone(),
            request,
            upload,
        });
        // Dropping the delivery (an abort, or the caller's request ending) cancels it.
        let answer = tokio::select! {
            answer = delivery => answer.map_err(|e| audit.failed(e))?,
            Ok(()) = &mut aborted => return Err(audit.failed(FetchError::Aborted)),
        };
        drop(slot);
        let mut head = ResponseHead {
            status: answer.status,
            status_text: StatusCode::from_u16(answer.status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
                .to_owned(),
            headers: answer.headers,
            url,
            redirected: false,
            stream: None,
        };
        let Some(mut record) = audit.record.take() else {
            return Err("the delivery was audited already".into()); // only ever taken here
        };
        record.status = Some(answer.status);
        // A body that streams, or is larger than a first part, is read with `fetch.read`.
        let (first, rest): (Vec<u8>, Option<Source>) = match answer.rest {
            Some(stream) => (answer.body, Some(from_worker(stream))),
            None if answer.body.len() > FIRST_PART => {
                let whole = Ok(axum::body::Bytes::from(answer.body));
                let once = futures_util::stream::once(std::future::ready(whole));
                (Vec::new(), Some(Box::pin(once)))
            }
            None => (answer.body, None),
        };
        let Some(source) = rest else {
            record.bytes_in = first.len() as u64;
            audit.record = Some(record); // written as the call ends
            return Ok(encode_response(&head, &first));
        };
        let pending = PendingAudit {
            audit: Arc::clone(&self.audit),
            index,
            record,
            started: audit.started,
            injected: Vec::new(),
            sent: Some(Arc::clone(&audit.sent)),
        };
        // Past the request's cap the body is dropped here: audited, its worker's request ends.
        let held = hold_answer(resources, source, first.len(), Some(pending))
            .ok_or_else(|| FetchError::TooManyStreams.to_string())?;
        head.stream = Some(held);
        Ok(encode_response(&head, &first))
    }
}

/// A delivery's audit record, written when the delivery is over unless its answer's stream took
/// it (a delivery dropped before it answered, the caller's request having ended, included).
struct Unwritten<'a> {
    gateway: &'a Gateway,
    index: usize,
    record: Option<Record>,
    /// The request body's bytes sent so far.
    sent: Arc<AtomicU64>,
    started: Instant,
}

impl Unwritten<'_> {
    /// The delivery failed for `why`: its record says so; the text the fetch fails with.
    fn failed(&mut self, why: impl ToString) -> String {
        let why = why.to_string();
        if let Some(record) = &mut self.record {
            record.reason = Some(why.clone());
        }
        why
    }
}

impl Drop for Unwritten<'_> {
    fn drop(&mut self) {
        let Some(mut record) = self.record.take() else {
            return;
        };
        if record.status.is_none() && record.reason.is_none() {
            record.reason = Some("the caller's request ended before the answer".into());
        }
        record.bytes_out = self.sent.load(Ordering::Relaxed);
        record.ms = self.started.elapsed().as_millis() as u64;
        self.gateway.audit.record(self.index, record);
    }
}
