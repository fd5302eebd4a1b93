//! A service binding's `fetch` (`env.SVC.fetch(request)`, host call `service.fetch`), with both
//! bodies streamed through the parts the data plane and the egress gateway already use
//! (`worker_fetch::deliver`):
//! - the caller's streamed request body is fed with `fetch.write` (the egress upload,
//!   `egress::upload_stream`) and reaches the target as a client's upload does;
//! - the target's streamed response body is answered at once with its head, and the caller reads
//!   the rest with `service.read` (an empty answer is the end) as it comes; a body is cut at
//!   `egress::MAX_STREAMED_BODY` bytes;
//! - `service.cancel` drops a body the caller no longer reads, and `fetch.abort` the fetch a
//!   caller's signal aborted before the target answered (`egress::watch_abort`): either way the
//!   target's request is cancelled the way a client that goes away cancels it (its request in
//!   flight gets `Cancel`;
//!   an answered one's next `body.write` fails and its stream is cancelled). A caller's request
//!   that ends takes its bodies and outstanding fetches with it in the same way.
//!
//! Guarantees: a body is held in the caller's request's own `Resources` (no other request can
//! name it); a read answers at most one chunk of the target's (at most 1 MiB); a cut body is an
//! error, never a short body passed off as whole.
//!
//! Trusts: the call context the supervisor attached; nothing in the payloads.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::{Mutex, Notify};

use super::worker_fetch::deliver;
use super::AppState;
use crate::egress::{
    decode_request, encode_response, release_untaken_upload, upload_stream, watch_abort,
    ResponseHead, UploadStream, MAX_STREAMED_BODY,
};
use crate::supervisor::body::BodyStream;
use crate::supervisor::{Chain, HostCalls, Resources, WorkerDef};

/// A call's refusal: the head the tenant's runtime throws as a typed error.
fn refusal(name: &str, message: impl Into<String>) -> Value {
    json!({"error": {"name": name, "message": message.into()}})
}

/// The rest of a target's streamed response body, in the caller's request's `Resources`.
struct ServiceBody(Arc<Rest>);

struct Rest {
    body: Mutex<Option<(BodyStream, u64)>>,
    cancelled: Notify,
}

/// Releases the upload a service fetch names, if nothing took it, when the call is over however
/// it ended (a refusal before the fetch started included).
pub(super) struct UploadGuard<'a> {
    resources: &'a Resources,
    upload: Option<u32>,
}

impl<'a> UploadGuard<'a> {
    /// For the fetch request frame `request` (only its head is read).
    pub(super) fn new(resources: &'a Resources, request: &[u8]) -> UploadGuard<'a> {
        let head = request
            .get(..4)
            .and_then(|p| <[u8; 4]>::try_from(p).ok())
            .map(|p| u32::from_le_bytes(p) as usize)
            .and_then(|n| request.get(4..4usize.checked_add(n)?))
            .and_then(|h| serde_json::from_slice::<Value>(h).ok());
        let upload = head
            .as_ref()
            .and_then(|h| h.get("upload"))
            .and_then(Value::as_u64)
            .and_then(|u| u32::try_from(u).ok());
        UploadGuard { resources, upload }
    }
}

impl Drop for UploadGuard<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.upload {
            release_untaken_upload(self.resources, id);
        }
    }
}

fn stream_id(payload: &[u8]) -> Result<u32, String> {
    let id: [u8; 4] = payload
        .try_into()
        .map_err(|_| "a service stream is named by 4 bytes")?;
    Ok(u32::from_le_bytes(id))
}

/// Registers `service.read` and `service.cancel`.
pub fn register(calls: &mut HostCalls) {
    calls.register_in_context("service.read", |context, payload| async move {
        read(&context.resources, &payload).await
    });
    calls.register_in_context("service.cancel", |context, payload| async move {
        cancel(&context.resources, stream_id(&payload)?);
        Ok(Vec::new())
    });
}

/// `service.cancel`: drops body `id` (a read in progress ends, and drops it).
fn cancel(resources: &Resources, id: u32) {
    if let Some(ServiceBody(rest)) = resources.take::<ServiceBody>(id) {
        rest.cancelled.notify_one();
        if let Ok(mut body) = rest.body.try_lock() {
            *body = None;
        }
    }
}

/// `service.read`: the next chunk of body `id` (empty at the end).
async fn read(resources: &Resources, payload: &[u8]) -> Result<Vec<u8>, String> {
    let id = stream_id(payload)?;
    let rest = match resources.take::<ServiceBody>(id) {
        Some(ServiceBody(rest)) => {
            resources.put_back(id, ServiceBody(Arc::clone(&rest)));
            rest
        }
        None => return Err("no such service body (it ended, or was cancelled)".into()),
    };
    let mut guard = rest.body.lock().await;
    let Some((stream, read)) = guard.as_mut() else {
        return Err("the service body was cancelled".into());
    };
    let next = tokio::select! {
        next = stream.next() => Some(next),
        () = rest.cancelled.notified() => None,
    };
    let answer = match next {
        None => Err("the service body was cancelled".into()),
        Some(Some(Ok(chunk))) => {
            *read += chunk.len() as u64;
            if *read > MAX_STREAMED_BODY {
                Err(format!(
                    "the service's body is larger than {MAX_STREAMED_BODY} bytes"
                ))
            } else {
                return Ok(chunk.to_vec());
            }
        }
        Some(Some(Err(cut))) => Err(format!("the service's body: {cut}")),
        Some(None) => Ok(Vec::new()),
    };
    // Over: the body is let go of (its target's request ends).
    *guard = None;
    drop(guard);
    drop(resources.take::<ServiceBody>(id));
    answer
}

/// A `fetch` to the target's fetch handler, both bodies streamed; `call` names it for
/// `fetch.abort`.
pub(super) async fn fetch(
    state: &AppState,
    tenant: &str,
    def: Arc<WorkerDef>,
    request: &[u8],
    chain: Chain,
    resources: &Resources,
    call: Option<u32>,
) -> Result<(Value, Vec<u8>), Value> {
    let aborted = || refusal("AbortError", "the fetch was aborted");
    let Some((_watch, abort)) = watch_abort(resources, call) else {
        return Err(aborted());
    };
    let mut request = decode_request(request).map_err(|e| refusal("TypeError", e.to_string()))?;
    let upload = match request.upload.take() {
        Some(id) => {
            let upload = upload_stream(resources, id)
                .map_err(|e| refusal("TypeError", format!("the request body: {e}")))?;
            Some(Box::pin(upload) as UploadStream)
        }
        None => None,
    };
    let url = request.url.clone();
    let who = "the service's worker";
    // Dropping the delivery (an abort, or the caller's request ending) cancels the target's.
    let answered = tokio::select! {
        answered = deliver(state, tenant, def, request, upload, chain, who) => answered,
        Ok(()) = abort => return Err(aborted()),
    };
    let answered = answered.map_err(|r| refusal(r.name, r.message))?;
    let stream = match answered.rest {
        Some(stream) => {
            let rest = Rest {
                body: Mutex::new(Some((stream, 0))),
                cancelled: Notify::new(),
            };
            // Past the request's cap, the body is dropped here: the target's request ends.
            let id = resources
                .insert(ServiceBody(Arc::new(rest)))
                .ok_or_else(|| {
                    refusal(
                        "RangeError",
                        format!("this request has {} bodies open already", Resources::MAX),
                    )
                })?;
            Some(id)
        }
        None => None,
    };
    let head = ResponseHead {
        status: answered.status,
        status_text: String::new(),
        headers: answered.headers,
        url,
        redirected: false,
        stream,
    };
    // The fetch answer frame is the whole reply: its own head and body.
    Ok((Value::Null, encode_response(&head, &answered.body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::body;

    /// A target's body as a caller's resource: its writing end and the resource's id.
    fn open_body(resources: &Resources) -> (body::BodyOut, u32) {
        let (out, stream) = body::channel();
        let id = resources
            .insert(ServiceBody(Arc::new(Rest {
                body: Mutex::new(Some((stream, 0))),
                cancelled: Notify::new(),
            })))
            .expect("room");
        (out, id)
    }

    #[tokio::test]
    async fn a_body_is_read_to_its_end_or_cut_and_a_cancel_drops_it() {
        let resources = Resources::default();
        let (out, id) = open_body(&resources);
        let name = id.to_le_bytes();
        out.write(b"ab".to_vec()).await.expect("queued");
        assert_eq!(read(&resources, &name).await, Ok(b"ab".to_vec()));
        out.cut("boom".into()).await;
        let cut = read(&resources, &name).await.expect_err("cut");
        assert!(cut.contains("boom"), "{cut}");
        assert!(read(&resources, &name).await.is_err(), "gone after its end");

        // A read waiting for the target's next chunk ends when the body is cancelled, and the
        // target's next write fails (its request is then cancelled).
        let (out, id) = open_body(&resources);
        let name = id.to_le_bytes();
        let resources = Arc::new(resources);
        let reader = {
            let resources = Arc::clone(&resources);
            tokio::spawn(async move { read(&resources, &name).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        cancel(&resources, id);
        assert!(reader.await.expect("joined").is_err());
        assert!(out.write(b"late".to_vec()).await.is_err());
        // An idle body is dropped at once.
        let (out, id) = open_body(&resources);
        cancel(&resources, id);
        assert!(out.write(b"late".to_vec()).await.is_err());
    }
}
