//! The MCP server: `POST /mcp`, MCP's streamable-HTTP transport (JSON-RPC 2.0, answered with
//! `application/json`), so agent harnesses can run Code Mode against a tenant's capabilities.
//! Methods: `initialize`, `ping`, `tools/list`, `tools/call`; notifications and responses are
//! accepted with `202`. Other methods (`GET`, `DELETE`) are `405` (no server-initiated stream, no
//! sessions; the router's JSON `method_not_allowed`).
//!
//! A body is one message or, as JSON-RPC 2.0 and MCP 2025-03-26 have it (a version `initialize`
//! still agrees to), a batch: an array of up to [`MAX_BATCH`] messages, answered `200` with the
//! array of the requests' responses in order (an invalid element gets its own error;
//! notifications and responses get none, and a batch of only those is a `202`). An empty or
//! longer batch is one `-32600` error (`400`), and so, before any of its elements runs, is a
//! batch holding an `initialize` (2025-03-26: it "MUST NOT be part of a JSON-RPC batch"; the
//! official SDK's server refuses it the same way) and any batch from a client that says
//! `MCP-Protocol-Version: 2025-06-18` (that revision removed batches). A `MCP-Protocol-Version`
//! this server does not speak is a `400` too, as 2025-06-18's transport says (but for an
//! `initialize` alone, which negotiates the version in its body). The elements run one
//! after another, so a batch never runs more at once (no more `execute`s) than one request; each
//! of its requests after the first takes a token of the tenant's rate, as a request of its own
//! would (one over it gets the error `-32029` with the quota's message). Ids are echoed as they
//! came, byte for byte (`jsonrpc.rs`).
//!
//! Tools (`tools.rs`):
//! - `execute` (`{"code", "arg"?, "env"?}`): runs a TypeScript module whose default export is
//!   called `(arg, env)` (`POST /v1/run` with that `env`; without one, every capability of the
//!   tenant bound under its own name). Its description carries the `.d.ts` of that env. The
//!   result is one text item, the JSON of `{result, logs}`; a script error is a result with
//!   `isError` and the error's code and message.
//! - `types` (`{"env"?}`): that `.d.ts`.
//!
//! Guarantees: authenticated by the tenant's bearer token (401 otherwise) exactly like the rest
//! of the API, and everything runs as that tenant; a request with an `Origin` is refused (403,
//! the transport's DNS-rebinding defence) unless that is `http://` and the `Host`, and the host
//! an IP address or `localhost`, a name no one can re-point (`origin.rs` has the rule and why);
//! a malformed message is a JSON-RPC error, never a panic. Trusts: the token check of `edge`
//! (the `Caller` it hands over).

mod jsonrpc;
mod origin;
mod tools;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::loader::body_or_error;
use super::AppState;
use jsonrpc::{
    Body, Message, Reply, INVALID_PARAMS, INVALID_REQUEST, MAX_BATCH, METHOD_NOT_FOUND, PARSE_ERROR,
};

/// Protocol versions this server speaks, newest first.
const VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];

/// The header in which a client names the MCP revision it speaks.
const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// The error of a batch's request over the tenant's rate (a server error code, JSON-RPC's
/// -32000 to -32099).
const RATE_LIMITED: i64 = -32029;

pub async fn post(
    State(state): State<Arc<AppState>>,
    who: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    if !origin::allowed(&headers) {
        return Err(ApiError::Forbidden);
    }
    let body = body_or_error(body)?;
    let Some(body) = jsonrpc::parse(&body) else {
        let error = Reply::error(None, PARSE_ERROR, "the body is not JSON");
        return Ok(json_response(StatusCode::BAD_REQUEST, &error));
    };
    // The revision the client says it speaks (none: 2025-03-26, as the transport specifies),
    // once it has agreed to one: an `initialize` alone negotiates it in its body.
    let version = headers
        .get(PROTOCOL_VERSION_HEADER)
        .map(|v| v.to_str().unwrap_or(""));
    let negotiating = matches!(body, Body::One(m) if is_initialize(m));
    if let Some(version) = version.filter(|v| !negotiating && !VERSIONS.contains(v)) {
        let error = Reply::error(
            None,
            INVALID_REQUEST,
            format!(
                "unsupported MCP-Protocol-Version {version:?}; this server speaks {}",
                VERSIONS.join(", ")
            ),
        );
        return Ok(json_response(StatusCode::BAD_REQUEST, &error));
    }
    let messages = match body {
        Body::One(message) => {
            return Ok(match answer(&state, &tenant, message).await {
                Answer::Reply(reply) => json_response(StatusCode::OK, &reply),
                Answer::Invalid(reply) => json_response(StatusCode::BAD_REQUEST, &reply),
                Answer::Accepted => StatusCode::ACCEPTED.into_response(),
            });
        }
        Body::Batch(messages) => messages,
    };
    if messages.is_empty() || messages.len() > MAX_BATCH {
        let error = Reply::error(
            None,
            INVALID_REQUEST,
            format!(
                "a batch holds 1 to {MAX_BATCH} messages, not {}",
                messages.len()
            ),
        );
        return Ok(json_response(StatusCode::BAD_REQUEST, &error));
    }
    if let Some(refusal) = batch_refusal(version, &messages) {
        let error = Reply::error(None, INVALID_REQUEST, refusal);
        return Ok(json_response(StatusCode::BAD_REQUEST, &error));
    }
    // One after another: a batch runs no more at once (no more `execute`s) than one request.
    // The batch was admitted as one request; each of its requests after the first is charged
    // to the tenant's rate as one of its own.
    let mut replies = Vec::new();
    let mut first = true;
    for message in messages {
        if let Message::Request { id, .. } = jsonrpc::classify(message) {
            if !std::mem::take(&mut first) {
                if let Err(refusal) = state.quotas.take_rate(&tenant) {
                    replies.push(Reply::error(Some(id), RATE_LIMITED, refusal.message));
                    continue;
                }
            }
        }
        match answer(&state, &tenant, message).await {
            Answer::Reply(reply) | Answer::Invalid(reply) => replies.push(reply),
            Answer::Accepted => {}
        }
    }
    Ok(if replies.is_empty() {
        StatusCode::ACCEPTED.into_response()
    } else {
        json_response(StatusCode::OK, &replies)
    })
}

/// Why the MCP revision the client speaks (`version`, from its `MCP-Protocol-Version`) does not
/// allow the batch `messages`, if it does not.
fn batch_refusal(version: Option<&str>, messages: &[&RawValue]) -> Option<&'static str> {
    if version == Some("2025-06-18") {
        return Some(
            "MCP 2025-06-18 has no JSON-RPC batches: send each message in a request of its own",
        );
    }
    messages.iter().any(|m| is_initialize(m)).then_some(
        "initialize must not be part of a JSON-RPC batch (MCP 2025-03-26): send it alone, \
         before any other request",
    )
}

fn is_initialize(message: &RawValue) -> bool {
    matches!(jsonrpc::classify(message), Message::Request { method, .. } if method == "initialize")
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| {
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"unserialisable"}}"#
            .to_owned()
    });
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// What one message gets.
enum Answer<'a> {
    /// A request's response.
    Reply(Reply<'a>),
    /// The error of a message that is none (a `400` when alone).
    Invalid(Reply<'a>),
    /// A notification or a response: nothing.
    Accepted,
}

async fn answer<'a>(state: &Arc<AppState>, tenant: &str, message: &'a RawValue) -> Answer<'a> {
    let (id, method, params) = match jsonrpc::classify(message) {
        Message::Request { id, method, params } => (id, method, params),
        // A notification, or a response to a request this server never makes.
        Message::Notification | Message::Response => return Answer::Accepted,
        Message::Invalid { id } => {
            let error = Reply::error(id, INVALID_REQUEST, "not a JSON-RPC 2.0 message");
            return Answer::Invalid(error);
        }
    };
    let params = match params.map(|p| (p, serde_json::from_str::<Value>(p.get()))) {
        None => json!({}),
        Some((_, Ok(params))) => params,
        Some((raw, Err(e))) => {
            let explained = super::json::explain(&e, raw.get().as_bytes());
            let error = Reply::error(Some(id), INVALID_PARAMS, format!("params: {explained}"));
            return Answer::Reply(error);
        }
    };
    let result = match method.as_str() {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(tools::tools_list(state, tenant).await),
        "tools/call" => tools::tools_call(state, tenant, &params).await,
        other => Err((METHOD_NOT_FOUND, format!("no method {other:?}"))),
    };
    Answer::Reply(match result {
        Ok(result) => Reply::result(id, result),
        Err((code, message)) => Reply::error(Some(id), code, message),
    })
}

fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| VERSIONS.contains(v))
        .unwrap_or(VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "stockade", "version": env!("CARGO_PKG_VERSION")},
        "instructions": "Run TypeScript against this tenant's capabilities with the `execute` tool; \
                         `types` declares what its `env` holds.",
    })
}
