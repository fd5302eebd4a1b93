//! A service binding's `fetch` (`env.SVC.fetch(request)`, host call `service.fetch`), with both
//! bodies streamed through the parts the data plane and the egress gateway already use
//! (`worker_fetch::deliver`, as a `globalOutbound: {"worker": id}` delivery):
//! - the caller's streamed request body is fed with `fetch.write` (the egress upload,
//!   `egress::upload_stream`) and reaches the target as a client's upload does;
//! - the target's streamed response body is answered at once with its head, and the caller reads
//!   the rest with `fetch.read` (`egress::hold_answer`: an empty answer is the end) as it comes;
//!   a body is cut at `MAX_STREAMED_BODY` bytes (1 GiB, `egress/stream.rs`);
//! - `fetch.cancel` drops a body the caller no longer reads, and `fetch.abort` the fetch a
//!   caller's signal aborted before the target answered (`egress::watch_abort`): either way the
//!   target's request is cancelled the way a client that goes away cancels it (its request in
//!   flight gets `Cancel`; an answered one's next `body.write` fails and its stream is
//!   cancelled). A caller's request that ends takes its bodies and outstanding fetches with it
//!   in the same way.
//!
//! Guarantees: a body is held in the caller's request's own `Resources` (no other request can
//! name it); a cut body is an error, never a short body passed off as whole.
//!
//! Trusts: the call context the supervisor attached; nothing in the payloads.

use serde_json::{json, Value};

use super::worker_fetch::{deliver, Callee};
use super::AppState;
use crate::egress::{
    decode_request, encode_response, from_worker, hold_answer, release_untaken_upload,
    upload_stream, watch_abort, ResponseHead, UploadStream,
};
use crate::supervisor::{Chain, Resources};

/// A call's refusal: the head the tenant's runtime throws as a typed error.
fn refusal(name: &str, message: impl Into<String>) -> Value {
    json!({"error": {"name": name, "message": message.into()}})
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

/// A `fetch` to the callee's fetch handler, both bodies streamed; `call` names it for
/// `fetch.abort`.
pub(super) async fn fetch(
    state: &AppState,
    tenant: &str,
    callee: Callee,
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
        answered = deliver(state, tenant, callee, request, upload, chain, who) => answered,
        Ok(()) = abort => return Err(aborted()),
    };
    let answered = answered.map_err(|r| refusal(r.name, r.message))?;
    // Read with `fetch.read` as the target writes it, as a worker's answer to an outbound fetch
    // is; past the request's cap it is dropped here, and the target's request ends.
    let first = answered.body.len();
    let stream = match answered.rest {
        Some(rest) => Some(
            hold_answer(resources, from_worker(rest), first, None).ok_or_else(|| {
                refusal(
                    "RangeError",
                    format!("this request has {} bodies open already", Resources::MAX),
                )
            })?,
        ),
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
