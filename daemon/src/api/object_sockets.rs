//! A Durable Object's accepted WebSockets, end to end: the upgrade a worker forwards to the
//! object (`stub.fetch(request)` with `Upgrade: websocket`), and the delivery of each client's
//! messages and close to the object as calls of its class (`webSocketMessage`,
//! `webSocketClose`, through `isolate/js/durable-websocket.js`).
//!
//! The road of one socket:
//! 1. the object's request gets a socket 0 of its own ([`websocket::adopting_pair`]); its fetch
//!    calls `ctx.acceptWebSocket(server, tags)` (the `ACCEPT` entry of a `do.ws.send`: the
//!    socket is the object's, `objects/sockets.rs`) and answers a 101 with the client end, whose
//!    runtime then names the accepted socket in an `ADOPT` frame;
//! 2. the caller's answer is a 101 naming a placeholder among its request's outbound sockets
//!    ([`websocket::placeholder`]); the caller returns it in its own 101 to its client, and its
//!    runtime splices its client's socket to the object's (`SPLICE`, with the placeholder's
//!    token): from then on the object holds the client's socket, whatever the requests that
//!    carried the handshake do (their wall limits end them, not the socket);
//! 3. every message of the client is a call of the object (its current incarnation, made again
//!    if it was evicted, named as its file keeps, `objects/name.rs`), one at a time per socket,
//!    in order; a text message equal to the object's auto-response request is answered here,
//!    without a call; the client's close (or its going away, 1006) is the last call, after which
//!    the socket is forgotten.
//!
//! A socket the object `accept()`ed itself and answers in its 101 takes the same road (a
//! `LISTEN` entry in place of the `ACCEPT`): its events are dispatched to its listeners in the
//! instance that accepted it, so that incarnation is pinned in the directory (counted in flight,
//! never idle) until the socket ends. One `accept()`ed only after its 101 was returned takes
//! another road: its request drives it (its first use of socket 0 says so, `Handed::Driven`), and
//! the caller's spliced client socket is bridged to that request (`supervisor/websocket_bridge.rs`)
//! for as long as the request lives (its wall limit, as a worker's own socket).
//!
//! Guarantees: a socket counts against its tenant's concurrency as any client socket does (the
//! data plane's relay holds the edge's permit, `api/websocket.rs`); a socket whose client never
//! arrives (the caller did not return the 101) is closed for the object (a 1006 call); only the
//! runtime names the reserved method of these calls (`do.call` refuses it).
//!
//! Trusts: the call context the supervisor attached; the runtime's frames only as far as the
//! object's own sockets go (an `ADOPT` names a socket of the answering object's, checked here).

use std::sync::{Arc, Weak};

use base64::Engine as _;
use serde_json::{json, Value};
use stockade_ipc::{Call, LogLevel, LogLine, Reply};

use crate::api::answer::{checked_upgrade, BadAnswer};
use crate::api::error::error_code;
use crate::api::loader::find;
use crate::api::AppState;
use crate::egress::{decode_request, encode_response, from_worker, hold_answer, ResponseHead};
use crate::objects::directory::ObjectKey;
use crate::objects::Objects;
use crate::supervisor::websocket::{self, Handed, Incoming, OutboundSockets, SocketEnd};
use crate::supervisor::websocket_bridge::bridge;
use crate::supervisor::{body, Chain, Job, Resources, Streams};

/// The RPC method of the calls that carry a socket's events (never a tenant's: a NUL).
pub const EVENT_METHOD: &str = "\u{0}stockade:ws";

fn refusal(name: &str, message: impl Into<String>) -> Value {
    json!({"error": {"name": name, "message": message.into()}})
}

/// Whether a `fetch` request frame asks for a WebSocket.
pub(super) fn asks_for_socket(request: &[u8]) -> bool {
    decode_request(request).is_ok_and(|r| {
        r.websocket
            || r.headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("upgrade")
                    && v.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
            })
    })
}

/// The object `key`'s fetch of an upgrade request (its incarnation `def`): the fetch answer
/// frame for the caller.
#[allow(clippy::too_many_arguments)]
pub(super) async fn fetch(
    state: &Arc<AppState>,
    objects: &Arc<Objects>,
    callee: crate::api::worker_fetch::Callee,
    key: &ObjectKey,
    request: &[u8],
    chain: Chain,
    resources: &Resources,
) -> Result<(Value, Vec<u8>), Value> {
    let crate::api::worker_fetch::Callee {
        def, keep, queued, ..
    } = callee;
    let incarnation = def.id;
    let request = decode_request(request).map_err(|e| refusal("TypeError", e.to_string()))?;
    if request.upload.is_some() {
        return Err(refusal(
            "TypeError",
            "a WebSocket upgrade request has no body",
        ));
    }
    let (socket, client, adopted) = websocket::adopting_pair();
    let call = Call::Fetch {
        method: request.method,
        url: request.url.clone(),
        headers: request.headers,
        body: request.body,
        body_streamed: false,
        entrypoint: key.class.clone(),
        encode_body: false,
        props_json: Vec::new(),
    };
    let (out, stream) = body::channel();
    let streams = Streams {
        body_in: None,
        body_out: Some(out),
        socket: Some(socket),
        chain,
        after_logs: Some(state.logs.after_answer(&key.log_ring())),
        keep,
        session: None,
        queued,
    };
    let who = "the Durable Object";
    let outcome = state
        .pool
        .submit(&key.tenant, Job::Call { def, call, streams })
        .await
        .map_err(|e| refusal("OperationError", format!("{who}: {e}")))?;
    state.logs.record(&key.log_ring(), &outcome.logs);
    let answer = checked_upgrade(outcome.result, true).map_err(|bad| match bad {
        BadAnswer::Failed(e) => refusal(
            "OperationError",
            format!("{who} failed ({}): {}", error_code(e.kind), e.message),
        ),
        bad => refusal("TypeError", format!("{who} {bad}")),
    })?;
    if !answer.web_socket {
        let first = answer.body.len();
        let stream = match answer.streamed {
            true => Some(
                hold_answer(resources, from_worker(stream), first, None).ok_or_else(|| {
                    refusal(
                        "RangeError",
                        format!("this request has {} bodies open already", Resources::MAX),
                    )
                })?,
            ),
            false => None,
        };
        let head = ResponseHead {
            status: answer.status,
            status_text: String::new(),
            headers: answer.headers,
            url: request.url,
            redirected: false,
            stream,
        };
        return Ok((Value::Null, encode_response(&head, &answer.body)));
    }
    let not_accepted = || {
        refusal(
            "TypeError",
            "the Durable Object answered a 101 with a WebSocket it did not accept with \
             ctx.acceptWebSocket (only an accepted one can go to its caller)",
        )
    };
    let too_many = || {
        refusal(
            "RangeError",
            format!(
                "this request has {} WebSockets open already",
                websocket::MAX_OUTBOUND
            ),
        )
    };
    let id = match adopted.await.map_err(|_| not_accepted())? {
        Handed::Adopted(id) => id,
        Handed::Driven => {
            // The object `accept()`ed the socket itself: its request drives it (within that
            // request's wall limit, as a worker's own socket), bridged to the caller's client.
            let (placeholder, spliced) =
                websocket::placeholder().map_err(|e| refusal("Error", e))?;
            let number = resources.shared(|s: &mut OutboundSockets| s.insert(placeholder));
            let number = number.ok_or_else(too_many)?;
            tokio::spawn(async move {
                if let Ok(end) = spliced.await {
                    bridge(client, end).await;
                }
            });
            return Ok((Value::Null, upgraded(answer.headers, request.url, number)));
        }
    };
    // The object's request has no client of its own: the socket is the object's now.
    drop(client);
    if !objects.sockets.is_waiting(key, id) {
        return Err(not_accepted());
    }
    // A socket the object accept()ed itself has listeners in this instance's memory only: the
    // instance stays live (not evicted as idle) while the socket is open, as on Cloudflare.
    let pin = match objects.sockets.is_listening(key, id) {
        true => super::InFlight::pinned(objects, key, &incarnation),
        false => None,
    };
    let (placeholder, spliced) = websocket::placeholder().map_err(|e| refusal("Error", e))?;
    let number = resources.shared(|s: &mut OutboundSockets| s.insert(placeholder));
    let Some(number) = number else {
        objects.sockets.remove(key, id);
        return Err(too_many());
    };
    let (weak, objects, key) = (Arc::downgrade(state), Arc::clone(objects), key.clone());
    tokio::spawn(async move {
        match spliced.await {
            Ok(end) if objects.sockets.link(&key, id, end.clone()) => {
                // Its worker deleted while the object's call that accepted it was under way:
                // the delete's `close_worker` may have come before the accept, so it is closed
                // here as it would have been there. (The delete removes the worker before it
                // closes sockets, and `link` and `close_worker` take the same lock, so one of
                // the two sees the other.)
                if let Some(app) = weak.upgrade() {
                    let gone = find(&app, &key.tenant, &key.worker).await;
                    if matches!(gone, Err(crate::api::error::ApiError::NotFound(_))) {
                        let reason = crate::api::loader::DELETED_REASON;
                        objects
                            .sockets
                            .close_worker(&key.tenant, &key.worker, 1001, reason);
                    }
                }
                pump(weak, objects, key, id, end).await;
                drop(pin);
            }
            _ => {
                objects.sockets.remove(&key, id);
                let why = "the WebSocket never reached a client";
                deliver(
                    &weak,
                    &objects,
                    &key,
                    json!(["close", id, 1006, why, false]),
                )
                .await;
            }
        }
    });
    Ok((Value::Null, upgraded(answer.headers, request.url, number)))
}

/// The caller's answer: a 101 whose socket is its outbound socket `number`.
fn upgraded(headers: Vec<(String, String)>, url: String, number: u32) -> Vec<u8> {
    let head = json!({
        "status": 101, "statusText": "", "headers": headers, "url": url,
        "redirected": false, "socket": number,
    });
    // A JSON value of strings and numbers always serialises.
    let head = serde_json::to_vec(&head).unwrap_or_default();
    let mut frame = (head.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&head);
    frame
}

/// Delivers socket `id`'s messages and close to the object, one call at a time.
async fn pump(
    state: Weak<AppState>,
    objects: Arc<Objects>,
    key: ObjectKey,
    id: u32,
    end: SocketEnd,
) {
    loop {
        let (event, last) = match end.next_incoming().await {
            Some(Incoming::Text(text)) => {
                if objects.sockets.auto_answer(&key, id, &text).is_some() {
                    continue;
                }
                (
                    json!(["message", id, text, objects.sockets.stamp(&key, id)]),
                    false,
                )
            }
            Some(Incoming::Binary(bytes)) => {
                let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                let data = json!({"$": "ab", "v": data});
                (
                    json!(["message", id, data, objects.sockets.stamp(&key, id)]),
                    false,
                )
            }
            Some(Incoming::Close {
                code,
                reason,
                clean,
            }) => (json!(["close", id, code, reason, clean]), true),
            None => {
                let why = "WebSocket disconnected without sending Close frame.";
                (json!(["close", id, 1006, why, false]), true)
            }
        };
        if last {
            objects.sockets.remove(&key, id);
        }
        deliver(&state, &objects, &key, event).await;
        if last {
            return;
        }
    }
}

/// One event as a call of the object's class (its live incarnation, or a new one). A failure
/// goes to the worker's log ring: a socket's events have no caller to answer.
async fn deliver(state: &Weak<AppState>, objects: &Arc<Objects>, key: &ObjectKey, event: Value) {
    let Some(app) = state.upgrade() else {
        return;
    };
    let failed = |why: String| {
        let text = format!(
            "a WebSocket event of Durable Object {} {} failed: {why}",
            key.class, key.id
        );
        app.logs.record(
            &key.log_ring(),
            &[LogLine {
                level: LogLevel::Error,
                text,
            }],
        );
    };
    let parent = match super::version_of(&app, key).await {
        Ok(version)
            if !version
                .def
                .deleted
                .load(std::sync::atomic::Ordering::Relaxed) =>
        {
            version
        }
        Ok(_) | Err(crate::api::error::ApiError::NotFound(_)) => return,
        // Not silence: the worker's log ring says the event was lost.
        Err(e) => return failed(format!("its worker could not be read: {e}")),
    };
    let settings = &objects.settings;
    let caps = (settings.max_live_per_tenant, settings.max_live);
    let entered = objects.enter_unnamed(key, &parent, caps).await;
    let def = match entered {
        Ok(def) => def,
        Err(full) => return failed(full.0),
    };
    let in_flight = super::InFlight::held(objects, key, &def);
    let call = Call::Rpc {
        entrypoint: key.class.clone(),
        method: EVENT_METHOD.to_owned(),
        args_json: json!([event]).to_string().into_bytes(),
        props_json: Vec::new(),
    };
    let streams = Streams {
        after_logs: Some(app.logs.after_answer(&key.log_ring())),
        keep: Some(in_flight),
        ..Streams::default()
    };
    match app
        .pool
        .submit(&key.tenant, Job::Call { def, call, streams })
        .await
    {
        Ok(outcome) => {
            app.logs.record(&key.log_ring(), &outcome.logs);
            match outcome.result {
                Ok(Reply::Json(answer)) => {
                    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
                    if let Some(e) = answer.get("error") {
                        let part = |f: &str| {
                            e.get(f)
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned()
                        };
                        failed(format!("{}: {}", part("name"), part("message")));
                    }
                }
                Ok(_) => failed("the object gave no RPC answer".into()),
                Err(e) => failed(format!("{}: {}", error_code(e.kind), e.message)),
            }
        }
        Err(e) => failed(e.to_string()),
    }
}
