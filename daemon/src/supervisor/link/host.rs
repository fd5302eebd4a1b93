//! A worker's host calls as the link takes them: each dispatched to the registry (`host_calls`)
//! or answered from the request's own body handles (`body.*`) or WebSocket (`socket.*`,
//! `supervisor/websocket.rs`); its first steps taken in the
//! router's task, the rest (if it waits) in a task of its own; its `HostReply` queued while the
//! request is still in flight.
//!
//! Guarantees: see the link's (`super`): at most [`MAX_HOST_CALLS_PER_REQUEST`] outstanding per
//! request, a call counted from when it is taken up until its reply is queued (before the worker
//! can see the reply, so the call it frees a place for is never refused); their payloads, then their answers until written, counted against the request's,
//! the tenant's and the daemon's shares (`held`; a call past any is refused before any handler
//! sees it, an answer past any is dropped); an answer over the protocol's cap or an error
//! message over its length is cut or refused rather than sent. Trusts: the handlers to bound their own work.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Waker};

use futures_util::FutureExt as _;
use stockade_ipc::host_calls::continues_a_stream;
use stockade_ipc::limits::{MAX_ERROR_MESSAGE_LEN, MAX_HOST_CALL_PAYLOAD};
use stockade_ipc::{encode_to_vec, RequestId, ToWorker};

use super::{lookout, Link, Pending, MAX_HOST_CALLS_PER_REQUEST};
use crate::supervisor::host_calls::{CallContext, HostFuture, HostResult, Spent};
use crate::supervisor::websocket::{self, SocketEnd};

/// Host calls whose payload is at most this big take their first steps in the router's task
/// (see `Link::host_call`); a bigger one (up to the protocol's 16 MiB, whose parsing alone
/// would hold up the other answers of the process) goes to its task at once.
const INLINE_PAYLOAD: usize = 64 << 10;

impl Link {
    pub(super) fn host_call(
        self: &Arc<Self>,
        request_id: RequestId,
        call_id: u32,
        name: &str,
        payload: Vec<u8>,
        cpu_left: Option<std::time::Duration>,
    ) -> Result<(), String> {
        if let Some(lookout) = lookout::get() {
            lookout.noted();
        }
        let payload_len = payload.len();
        // A call that continues a stream of the request takes no place (see
        // `stockade_ipc::host_calls`).
        let counted = !continues_a_stream(name);
        let held;
        // Measured for a synchronous call only: its request is charged with it.
        let spent = if cpu_left.is_some() {
            Spent::measured()
        } else {
            Spent::default()
        };
        let answer: HostFuture = {
            let mut table = self.table();
            let Some(pending) = table.pending.get_mut(&request_id) else {
                return Err(format!(
                    "made host call `{name}` for request {}, which is not in flight",
                    request_id.0
                ));
            };
            if !pending.runs_code {
                return Err(format!(
                    "made host call `{name}` for request {}, which runs no tenant code",
                    request_id.0
                ));
            }
            pending.host_calls.retain(|call| !call.is_finished());
            let refusal = if pending.waiter.is_none() && !pending.open {
                Some("the request was cancelled")
            } else if counted && pending.outstanding >= MAX_HOST_CALLS_PER_REQUEST {
                Some("too many host calls in flight")
            } else {
                None
            };
            if let Some(refusal) = refusal {
                cut_on_refused_write(pending, name, refusal);
                drop(table);
                self.send_reply(request_id, call_id, Err(refusal.into()), 0);
                return Ok(());
            }
            let budget = self.host_calls.budget();
            held = match budget.take(pending.tenant, &pending.held, payload_len) {
                Ok(held) => held,
                Err(refused) => {
                    let refused = refused.to_string();
                    cut_on_refused_write(pending, name, &refused);
                    drop(table);
                    self.send_reply(request_id, call_id, Err(refused), 0);
                    return Ok(());
                }
            };
            // Taken up: from here on the call may act outside the isolate, and it is
            // outstanding until its reply is queued (`reply`).
            pending.called = true;
            if counted {
                pending.outstanding += 1;
            }
            match body_call(pending, name, payload) {
                Ok(answer) => answer,
                Err(payload) => {
                    let context = CallContext {
                        tenant: pending.tenant,
                        outbound: pending.outbound.clone(),
                        resources: Arc::clone(&pending.resources),
                        bindings: Arc::clone(&pending.bindings),
                        caller: pending.caller.clone(),
                        life: self.life(),
                        cpu_left,
                        spent: spent.clone(),
                    };
                    drop(table);
                    match self.host_calls.call(name, context, payload) {
                        Some(answer) => answer,
                        None => {
                            self.reply(
                                request_id,
                                call_id,
                                counted,
                                Err(format!("unknown host call `{name}`")),
                                0,
                            );
                            return Ok(());
                        }
                    }
                }
            }
        };
        let link: Weak<Link> = Arc::downgrade(self);
        // A callback of an RPC callee is queued for its caller in these first steps, which must
        // come before the request's next frames (its answer) whatever its size
        // (`api/rpc_targets.rs`); so is a pipe's chunk before the next (`api/rpc_pipes.rs`, at
        // most 256 KiB), and a response body's chunk (at most 1 MiB, several in flight: its
        // place in the client's queue is taken in order, `supervisor/body.rs`).
        let small = payload_len <= INLINE_PAYLOAD
            || matches!(name, "service.callback" | "pipe.write" | "body.write");
        let mut call: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            // The payload's bytes stay counted while the handler lives (it owns the payload),
            // then the answer's are, until written.
            let payload = held;
            // A handler that panics is answered with an error, so its call is outstanding no
            // more (and the worker is not left waiting).
            let result = AssertUnwindSafe(answer)
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err("the host call failed".into()));
            drop(payload);
            if let Some(link) = link.upgrade() {
                link.reply(request_id, call_id, counted, result, spent.micros());
            }
        });
        // Its first steps run here, in the router's task, as far as its first wait: a call
        // answered at once is answered without a task, and one that waits (for another worker,
        // the store, the network) has sent what it waits for before its task is started. A
        // spawned task is always polled again, with its own waker, so nothing the first look
        // registered is missed. A handler that panics there is answered with an error, as its
        // task's panic would leave it unanswered: it never takes the router (and so the
        // process's other requests) down with it.
        if small {
            let first = std::panic::catch_unwind(AssertUnwindSafe(|| {
                call.as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_ready()
            }));
            match first {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(_) => {
                    self.reply(
                        request_id,
                        call_id,
                        counted,
                        Err("the host call failed".into()),
                        0,
                    );
                    return Ok(());
                }
            }
        }
        let task = tokio::spawn(call);
        match self.table().pending.get_mut(&request_id) {
            Some(pending) if pending.waiter.is_some() || pending.open => {
                pending.host_calls.push(task.abort_handle())
            }
            _ => task.abort(), // over or cancelled meanwhile
        }
        Ok(())
    }

    /// Queues the `HostReply` of a call taken up (counted outstanding): it is outstanding no
    /// more from this moment, before the worker can see the reply, so the worker's next call,
    /// which the reply may free a place for, is never refused as one too many.
    fn reply(
        &self,
        request_id: RequestId,
        call_id: u32,
        counted: bool,
        result: HostResult,
        cpu_us: u32,
    ) {
        if let (true, Some(pending)) = (counted, self.table().pending.get_mut(&request_id)) {
            pending.outstanding = pending.outstanding.saturating_sub(1);
        }
        self.send_reply(request_id, call_id, result, cpu_us);
    }

    /// Queues the `HostReply` of a call, if its request is still in flight. An answer's bytes
    /// are counted against the request's, the tenant's and the daemon's shares until written
    /// to the worker (which may read slowly, or not at all); one that does not fit is dropped
    /// and the call fails.
    /// `cpu_us`: what the handler measured it spent (`Spent`), sent with the answer.
    fn send_reply(&self, request_id: RequestId, call_id: u32, result: HostResult, cpu_us: u32) {
        let Some((tenant, share)) = self
            .table()
            .pending
            .get(&request_id)
            .map(|pending| (pending.tenant, Arc::clone(&pending.held)))
        else {
            return;
        };
        let mut held = None;
        let result = match result {
            Ok(payload) if payload.len() > MAX_HOST_CALL_PAYLOAD => Err(format!(
                "the host call's answer is larger than {MAX_HOST_CALL_PAYLOAD} bytes"
            )),
            Ok(payload) => match self.host_calls.budget().take(tenant, &share, payload.len()) {
                Ok(counted) => {
                    held = Some(counted);
                    Ok(payload)
                }
                Err(refused) => Err(format!("the host call's answer was dropped: {refused}")),
            },
            Err(message) => Err(clip(message, MAX_ERROR_MESSAGE_LEN)),
        };
        let reply = ToWorker::HostReply {
            request_id,
            call_id,
            cpu_us,
            result,
        };
        match encode_to_vec(&reply) {
            Ok(frame) => {
                let _ = self.outbox.push_held(frame, held);
                if let Some(lookout) = lookout::get() {
                    lookout.noted();
                }
            }
            Err(e) => eprintln!("stockade: cannot encode a host reply: {e}"),
        }
    }
}

/// A response body loses a chunk its refused `body.write` carried: the body is cut there (after
/// the writes before it), and the writes after it, which the runtime may have in flight already,
/// find no body and fail, so no chunk after the hole reaches the client.
fn cut_on_refused_write(pending: &mut Pending, name: &str, why: &str) {
    if name != "body.write" {
        return;
    }
    if let Some(out) = pending.body_out.take() {
        let why = format!("a chunk of the body was refused: {why}");
        tokio::spawn(async move { out.cut(why).await });
    }
}

/// The streamed-body calls, answered by the link from the request's own body handles:
/// `body.read` (the next chunk of the upload, empty at the end), `body.write` (a chunk of the
/// response, answered once queued to the client), `body.end` (empty payload: the body is
/// complete; otherwise its text says why the body is cut), and the WebSockets' `socket.send`,
/// `socket.recv` and `socket.close` (see `supervisor/websocket.rs`: the payload names the
/// socket, the client's or an outbound one). Any other name is handed back.
fn body_call(pending: &mut Pending, name: &str, payload: Vec<u8>) -> Result<HostFuture, Vec<u8>> {
    let missing = |what: &'static str| -> HostFuture { Box::pin(async move { Err(what.into()) }) };
    Ok(match name {
        "body.read" => match pending.body_in.clone() {
            Some(body) => Box::pin(async move { body.read().await }),
            None => missing("this request has no streamed body"),
        },
        "body.write" => match pending.body_out.clone() {
            Some(out) => Box::pin(async move { out.write(payload).await.map(|()| Vec::new()) }),
            None => missing("this request has no streamed response body"),
        },
        "socket.send" | "socket.recv" | "socket.close" => {
            let Some((socket, frame)) = socket_of(pending, payload) else {
                return Ok(missing("this request has no such WebSocket"));
            };
            match name {
                "socket.send" => Box::pin(async move { socket.send(frame).await }),
                "socket.recv" => Box::pin(async move { socket.recv().await }),
                _ => Box::pin(async move { socket.close(frame).await }),
            }
        }
        "body.end" => match pending.body_out.take() {
            Some(out) if !payload.is_empty() => {
                let why = clip(
                    String::from_utf8_lossy(&payload).into_owned(),
                    MAX_ERROR_MESSAGE_LEN,
                );
                Box::pin(async move {
                    out.cut(why).await;
                    Ok(Vec::new())
                })
            }
            Some(out) => {
                out.end(); // the client's body ends once the writes in flight are queued
                Box::pin(async { Ok(Vec::new()) })
            }
            None => missing("this request has no streamed response body"),
        },
        _ => return Err(payload),
    })
}

/// The socket a `socket.*` payload names (0: the request's client's; any other: an outbound
/// one the request opened, `websocket::OutboundSockets`) and the frame after its number.
fn socket_of(pending: &Pending, mut payload: Vec<u8>) -> Option<(SocketEnd, Vec<u8>)> {
    let (id, _) = websocket::split_id(&payload)?;
    let socket = match id {
        0 => pending.socket.clone()?,
        id => pending
            .resources
            .shared(|sockets: &mut websocket::OutboundSockets| sockets.get(id))?,
    };
    payload.drain(..4);
    Some((socket, payload))
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
