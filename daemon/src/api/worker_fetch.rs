//! A fetch to a worker's fetch handler with both bodies streamed: what a service binding's
//! `fetch` (`service_fetch`) and a `globalOutbound: {"worker": id}` delivery (`outbound`) share.
//!
//! Guarantees: the call is a job of its own under the target's definition (its limits); a
//! streamed request body reaches the target as a client's upload does (`BodyIn`, read with
//! `body.read`, capped at `[limits] max_fetch_body_bytes`); a streamed answer comes back as the
//! receiving end of the target's `body.write`s (`body::QUEUE` chunks at most queued:
//! backpressure), whose dropping cancels the target's request, as dropping this future does
//! before it answered; an answer is checked as the data plane's is (`answer.rs`: a status in
//! 200..=599, and a 204, 205 or 304 has no body). The target's console output goes to its logs.
//!
//! Trusts: the caller to have checked the target may be reached.

use std::sync::Arc;

use stockade_ipc::Call;

use super::answer::{self, BadAnswer};
use super::error::error_code;
use super::AppState;
use crate::egress::{FetchRequest, UploadStream, WorkerAnswer};
use crate::supervisor::body::{self, BodyIn};
use crate::supervisor::{Chain, Job, Streams, WorkerDef};
use crate::supervisor::{Keep, Queued};

/// Why the fetch failed: the name of the error the caller throws, and its message.
pub(super) struct Refused {
    pub name: &'static str,
    pub message: String,
}

fn refused(name: &'static str, message: String) -> Refused {
    Refused { name, message }
}

/// The worker a fetch goes to, and whose `fetch` in it: a named export's (`entrypoint`), or
/// the default's (empty).
pub(super) struct Callee {
    pub def: Arc<WorkerDef>,
    pub entrypoint: String,
    /// Held until the call's work is over (see `Streams::keep`).
    pub keep: Option<Keep>,
    /// Told once the call is queued to its worker process (see `Streams::queued`).
    pub queued: Option<Queued>,
    /// The call's `ctx.props` (JSON text of an object), from the service binding it came
    /// through.
    pub props: Option<String>,
}

/// Calls `callee`'s fetch handler with `request` (its body whole, or streamed by `upload`) as one
/// job of `tenant` in `chain`: its answer, whose body is whole or streams (`rest`); `who` names
/// the target in error messages ("the service's worker").
pub(super) async fn deliver(
    state: &AppState,
    tenant: &str,
    callee: Callee,
    request: FetchRequest,
    upload: Option<UploadStream>,
    chain: Chain,
    who: &str,
) -> Result<WorkerAnswer, Refused> {
    let Callee {
        def,
        entrypoint,
        keep,
        queued,
        props,
    } = callee;
    let body_in = upload.map(|u| BodyIn::new(u, state.config.limits.max_fetch_body_bytes));
    let id = super::objects::log_ring_of(state, &def);
    let call = Call::Fetch {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        body_streamed: body_in.is_some(),
        entrypoint,
        // A worker's fetch gets the body as the handler made it (as a Workers fetch() decodes it).
        encode_body: false,
        props_json: props.map(String::into_bytes).unwrap_or_default(),
    };
    let (out, stream) = body::channel();
    let streams = Streams {
        body_in,
        body_out: Some(out),
        socket: None,
        chain,
        after_logs: Some(state.logs.after_answer(&id)),
        keep,
        session: None,
        queued,
    };
    let outcome = state
        .pool
        .submit(tenant, Job::Call { def, call, streams })
        .await
        .map_err(|e| refused("OperationError", format!("{who}: {e}")))?;
    state.logs.record(&id, &outcome.logs);
    let answer = answer::checked(outcome.result).map_err(|bad| match bad {
        BadAnswer::Failed(e) => refused(
            "OperationError",
            format!("{who} failed ({}): {}", error_code(e.kind), e.message),
        ),
        bad => refused("TypeError", format!("{who} {bad}")),
    })?;
    let mut headers = answer.headers;
    // A streamed body of a length the callee's runtime vouches for (a FixedLengthStream's): the
    // caller's Response says it, as a Workers service binding's does.
    if let Some(n) = answer.length {
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case("content-length"));
        headers.push(("content-length".to_owned(), n.to_string()));
    }
    Ok(WorkerAnswer {
        status: answer.status,
        headers,
        body: answer.body,
        rest: answer.streamed.then_some(stream),
    })
}
