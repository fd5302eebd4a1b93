//! JSON-RPC 2.0 as `/mcp` takes it: a body is one message or a batch (an array of them), each
//! message classified on its own, and replies written with the request's id as it came.
//!
//! Guarantees: an id is kept as its JSON text ([`RawValue`]) and echoed byte for byte, so no
//! number is rounded (`123456789012345678901234567890` stays that, not `1.2345678901234568e29`);
//! only a string, a number or `null` is an id; a body that is not JSON is a parse error, anything
//! else that is not a message is [`Message::Invalid`], never a panic.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

/// The most messages a batch may hold; a longer one is refused whole.
pub const MAX_BATCH: usize = 64;

/// A body: one message, or a batch (an array, possibly empty or too long: the caller decides).
#[derive(Debug)]
pub enum Body<'a> {
    One(&'a RawValue),
    Batch(Vec<&'a RawValue>),
}

/// `body` as one message or a batch; `None` when it is not JSON.
pub fn parse(body: &[u8]) -> Option<Body<'_>> {
    let raw: &RawValue = serde_json::from_slice(body).ok()?;
    if raw.get().starts_with('[') {
        serde_json::from_str(raw.get()).ok().map(Body::Batch)
    } else {
        Some(Body::One(raw))
    }
}

/// What one JSON-RPC 2.0 message is.
#[derive(Debug)]
pub enum Message<'a> {
    /// A method and an id (a string, a number or null, as its JSON text) to answer under.
    Request {
        id: &'a RawValue,
        method: String,
        params: Option<&'a RawValue>,
    },
    /// A method without an id.
    Notification,
    /// An id with a `result` or an `error`, no method.
    Response,
    /// Anything else: not an object, not version 2.0, an id that is neither a string nor a number
    /// nor null, a method that is not a string, neither a method nor a result. `id` is the
    /// message's id when it has a valid one (its error is answered under it), else `None` (under
    /// `null`).
    Invalid { id: Option<&'a RawValue> },
}

/// Whether `raw` (valid JSON) may be an id: a string, a number or null.
fn is_id(raw: &RawValue) -> bool {
    let text = raw.get().trim_start();
    matches!(text.as_bytes().first(), Some(b'"' | b'-' | b'0'..=b'9')) || text == "null"
}

fn string(raw: &RawValue) -> Option<String> {
    serde_json::from_str(raw.get()).ok()
}

pub fn classify(message: &RawValue) -> Message<'_> {
    let Ok(fields) = serde_json::from_str::<HashMap<String, &RawValue>>(message.get()) else {
        return Message::Invalid { id: None };
    };
    let id = fields.get("id").copied();
    let invalid = Message::Invalid {
        id: id.filter(|id| is_id(id)),
    };
    if fields.get("jsonrpc").and_then(|v| string(v)).as_deref() != Some("2.0") {
        return invalid;
    }
    match (fields.get("method").map(|m| string(m)), id) {
        (Some(Some(method)), Some(id)) if is_id(id) => Message::Request {
            id,
            method,
            params: fields.get("params").copied(),
        },
        (Some(Some(_)), None) => Message::Notification,
        (None, Some(_)) if fields.contains_key("result") || fields.contains_key("error") => {
            Message::Response
        }
        _ => invalid,
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Serialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
}

/// A response: `result` or `error`, under the request's `id` (`null` when there is none).
#[derive(Debug, Serialize)]
pub struct Reply<'a> {
    jsonrpc: &'static str,
    id: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorObject>,
}

impl<'a> Reply<'a> {
    pub fn result(id: &'a RawValue, result: Value) -> Reply<'a> {
        Reply {
            jsonrpc: "2.0",
            id: Some(id),
            result: Some(result),
            error: None,
        }
    }

    pub fn error(id: Option<&'a RawValue>, code: i64, message: impl Into<String>) -> Reply<'a> {
        Reply {
            jsonrpc: "2.0",
            id,
            result: None,
            error: Some(ErrorObject {
                code,
                message: message.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).expect("json")
    }

    #[test]
    fn messages_are_classified_as_json_rpc_2_0_says() {
        let request = |id: &'static str| Message::Request {
            id: raw(id),
            method: "ping".into(),
            params: None,
        };
        let invalid = |id: Option<&'static str>| Message::Invalid { id: id.map(raw) };
        for (text, want) in [
            (r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, request("1")),
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#,
                request(r#""a""#),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                request("null"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}"#,
                request("123456789012345678901234567890"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":-1.5e400,"method":"ping"}"#,
                request("-1.5e400"),
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
            (r#"{"jsonrpc":"2.0"}"#, invalid(None)),
            (r#"{"jsonrpc":"2.0","id":1}"#, invalid(Some("1"))),
            (
                r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
                invalid(None),
            ),
            (
                r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#,
                invalid(None),
            ),
            (
                r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
                invalid(None),
            ),
            (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, invalid(Some("1"))),
            (r#"{"jsonrpc":"2.0","method":null}"#, invalid(None)),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                invalid(Some("1")),
            ),
            (r#"{"id":1,"method":"ping"}"#, invalid(Some("1"))),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                invalid(None),
            ),
            ("5", invalid(None)),
        ] {
            assert_eq!(
                format!("{:?}", classify(raw(text))),
                format!("{want:?}"),
                "{text}"
            );
        }
    }

    #[test]
    fn replies_echo_the_id_byte_for_byte() {
        for id in [
            "123456789012345678901234567890",
            "18446744073709551616",
            "-0.10",
            "1e400",
            r#""\u0041b""#,
            "null",
        ] {
            let reply = Reply::result(raw(id), serde_json::json!({}));
            assert_eq!(
                serde_json::to_string(&reply).expect("json"),
                format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#)
            );
        }
        let error = Reply::error(None, INVALID_REQUEST, "no");
        assert_eq!(
            serde_json::to_string(&error).expect("json"),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"no"}}"#
        );
    }

    #[test]
    fn bodies_are_one_message_or_a_batch() {
        assert!(matches!(parse(b" {\"a\":1} "), Some(Body::One(_))));
        assert!(matches!(parse(b"[]"), Some(Body::Batch(v)) if v.is_empty()));
        assert!(matches!(parse(b" [1, {\"a\":[2]}]"), Some(Body::Batch(v)) if v.len() == 2));
        assert!(parse(b"[1,").is_none());
        assert!(parse(b"{} {}").is_none());
    }
}
