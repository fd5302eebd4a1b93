//! The MCP server: `POST /mcp`, MCP's streamable-HTTP transport (JSON-RPC 2.0, one message per
//! request, answered with `application/json`), so agent harnesses can run Code Mode against a
//! tenant's capabilities. Methods: `initialize`, `ping`, `tools/list`, `tools/call`;
//! notifications and responses are accepted with `202`. Other methods (`GET`, `DELETE`) are `405`
//! (no server-initiated stream, no sessions; the router's JSON `method_not_allowed`).
//!
//! Tools:
//! - `execute` (`{"code", "arg"?, "env"?}`): runs a TypeScript module whose default export is
//!   called `(arg, env)` (`POST /v1/run` with that `env`; without one, every capability of the
//!   tenant bound under its own name). Its description carries the `.d.ts` of that env. The
//!   result is one text item, the JSON of `{result, logs}`; a script error is a result with
//!   `isError` and the error's code and message.
//! - `types` (`{"env"?}`): that `.d.ts`.
//!
//! Guarantees: authenticated by the tenant's bearer token (401 otherwise) exactly like the rest
//! of the API, and everything runs as that tenant; a request with an `Origin` other than the
//! server's own is refused (403, the transport's DNS-rebinding defence); a malformed message is a JSON-RPC error,
//! never a panic. Trusts: the token check in `AppState`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::loader::body_or_error;
use super::run::{checked_env, execute, LimitsIn};
use super::types::env_types;
use super::AppState;
use crate::supervisor::bindings;

/// Protocol versions this server speaks, newest first.
const VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

fn rpc_error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&headers)?;
    if !same_origin(&headers) {
        return Err(ApiError::Forbidden);
    }
    let body = body_or_error(body)?;
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        let error = rpc_error(&Value::Null, PARSE_ERROR, "the body is not JSON");
        return Ok((StatusCode::BAD_REQUEST, Json(error)).into_response());
    };
    let (id, method) = match classify(&message) {
        Message::Request { id, method } => (id, method),
        // A notification, or a response to a request this server never makes.
        Message::Notification | Message::Response => {
            return Ok(StatusCode::ACCEPTED.into_response())
        }
        Message::Invalid => {
            let error = rpc_error(&Value::Null, INVALID_REQUEST, "not a JSON-RPC 2.0 message");
            return Ok((StatusCode::BAD_REQUEST, Json(error)).into_response());
        }
    };
    let params = message.get("params").cloned().unwrap_or(json!({}));
    let answer = match method {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(tools_list(&state, &tenant).await),
        "tools/call" => tools_call(&state, &tenant, &params).await,
        other => Err((METHOD_NOT_FOUND, format!("no method {other:?}"))),
    };
    let reply = match answer {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err((code, message)) => rpc_error(&id, code, message),
    };
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        reply.to_string(),
    )
        .into_response())
}

/// What one JSON-RPC 2.0 message is (a batch is not one: MCP's streamable HTTP since 2025-06-18
/// sends none).
#[derive(Debug, PartialEq)]
enum Message<'a> {
    /// A method and an id (a string, a number or null) to answer under.
    Request { id: Value, method: &'a str },
    /// A method without an id.
    Notification,
    /// An id with a `result` or an `error`, no method.
    Response,
    /// Anything else: not an object, not version 2.0, a request whose id is neither a string nor
    /// a number nor null, a message with neither a method nor a result.
    Invalid,
}

fn classify(message: &Value) -> Message<'_> {
    if message.get("jsonrpc") != Some(&json!("2.0")) {
        return Message::Invalid;
    }
    let id = message.get("id");
    match (message.get("method"), id) {
        (
            Some(Value::String(method)),
            Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)),
        ) => Message::Request {
            id: id.clone(),
            method,
        },
        (Some(Value::String(_)), None) => Message::Notification,
        (None, Some(_)) if message.get("result").is_some() || message.get("error").is_some() => {
            Message::Response
        }
        _ => Message::Invalid,
    }
}

/// The transport's DNS-rebinding defence: a request that names an `Origin` (a browser's) must come
/// from this very host and port; one without (any other client) is fine.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok());
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let port = origin.port().map(|p| format!(":{p}")).unwrap_or_default();
            origin
                .host_str()
                .is_some_and(|h| format!("{h}{port}").eq_ignore_ascii_case(host))
        }
        _ => false,
    }
}

/// `GET` and `DELETE /mcp`: this server opens no stream and keeps no session.
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

/// Every capability of `tenant`, bound under its own name.
async fn default_env(state: &AppState, tenant: &str) -> Vec<(String, Value)> {
    match state.capabilities.list(tenant).await {
        Ok(all) => all
            .into_keys()
            .map(|name| {
                let binding = json!({"binding": "capability", "name": name});
                (name, binding)
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The `.d.ts` of `env` (the tenant's capabilities when `None`).
async fn declarations(
    state: &AppState,
    tenant: &str,
    env: Vec<(String, Value)>,
) -> Result<String, String> {
    let bindings = bindings::parse(&env)?;
    state.capabilities.check_bindings(tenant, &bindings).await?;
    Ok(env_types(state, tenant, &env, &bindings).await)
}

async fn tools_list(state: &AppState, tenant: &str) -> Value {
    let env = default_env(state, tenant).await;
    let dts = declarations(state, tenant, env)
        .await
        .unwrap_or_else(|e| format!("// {e}\n"));
    let env_schema = json!({
        "type": "object",
        "description": "Bindings as in the Loader API (plain values, and objects such as \
                        {\"binding\": \"capability\", \"name\": \"...\"}); default: every \
                        capability of the tenant under its own name",
        "additionalProperties": true,
    });
    json!({"tools": [
        {
            "name": "execute",
            "description": format!(
                "Run a TypeScript module in a fresh sandboxed isolate. Its default export is \
                 called as `export default async (arg, env) => result` and the result must be \
                 JSON. Without an `env` argument, env holds every capability of this tenant:\n\
                 ```ts\n{dts}```"
            ),
            "inputSchema": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "The TypeScript module"},
                    "arg": {"description": "The default export's first argument (JSON)"},
                    "env": env_schema,
                },
                "required": ["code"],
            },
        },
        {
            "name": "types",
            "description": "The TypeScript declarations (`interface Env`) of an env, by default \
                            of every capability of this tenant.",
            "inputSchema": {
                "type": "object",
                "properties": {"env": env_schema},
            },
        },
    ]})
}

fn text_result(text: String, is_error: bool) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": is_error})
}

async fn call_env(
    state: &AppState,
    tenant: &str,
    args: &Value,
) -> Result<Vec<(String, Value)>, (i64, String)> {
    match args.get("env") {
        None | Some(Value::Null) => Ok(default_env(state, tenant).await),
        Some(env) => {
            let map: BTreeMap<String, Value> = serde_json::from_value(env.clone())
                .map_err(|_| (INVALID_PARAMS, "env must be an object".to_owned()))?;
            checked_env(state, map).map_err(|e| (INVALID_PARAMS, e.to_string()))
        }
    }
}

async fn tools_call(
    state: &Arc<AppState>,
    tenant: &str,
    params: &Value,
) -> Result<Value, (i64, String)> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("");
    let args = params.get("arguments").cloned().unwrap_or(json!({}));
    match name {
        "types" => {
            let env = call_env(state, tenant, &args).await?;
            Ok(match declarations(state, tenant, env).await {
                Ok(dts) => text_result(dts, false),
                Err(e) => text_result(e, true),
            })
        }
        "execute" => {
            let Some(code) = args.get("code").and_then(Value::as_str) else {
                return Err((INVALID_PARAMS, "execute needs a string `code`".into()));
            };
            let env = call_env(state, tenant, &args).await?;
            let arg = args.get("arg").cloned().unwrap_or(Value::Null);
            let run = execute(
                state,
                tenant,
                code.to_owned(),
                &arg,
                env,
                &LimitsIn::default(),
            )
            .await;
            Ok(match run {
                Ok(answer) => {
                    let out = json!({"result": answer["result"], "logs": answer["logs"]});
                    text_result(out.to_string(), false)
                }
                Err(e) => {
                    let logs = match &e {
                        ApiError::Script(_, logs) => json!(logs),
                        _ => json!([]),
                    };
                    let out = json!({"error": {"code": e.code(), "message": e.to_string()}, "logs": logs});
                    text_result(out.to_string(), true)
                }
            })
        }
        other => Err((INVALID_PARAMS, format!("no tool {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classified_as_json_rpc_2_0_says() {
        let request = |id: Value| Message::Request { id, method: "ping" };
        for (text, want) in [
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
                request(json!(1)),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#,
                request(json!("a")),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                request(Value::Null),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                Message::Notification,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, Message::Response),
            (
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"x"}}"#,
                Message::Response,
            ),
            (r#"{"jsonrpc":"2.0"}"#, Message::Invalid),
            (r#"{"jsonrpc":"2.0","id":1}"#, Message::Invalid),
            (
                r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                Message::Invalid,
            ),
            (
                r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#,
                Message::Invalid,
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, Message::Invalid),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                Message::Invalid,
            ),
            (r#"{"id":1,"method":"ping"}"#, Message::Invalid),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                Message::Invalid,
            ),
            ("5", Message::Invalid),
        ] {
            let message: Value = serde_json::from_str(text).expect("json");
            assert_eq!(classify(&message), want, "{text}");
        }
    }
}
