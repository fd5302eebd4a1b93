//! What an MCP server's answers hold, for `mcp_client`: the JSON-RPC response to a request (in a
//! JSON body or an event stream) and what a tool's result means to the caller.
//!
//! Guarantees: only a response whose `id` matches is taken; a tool result with `isError` is a
//! `ToolError` carrying its text. Trusts: the server's answer only as data.

use serde_json::{json, Value};

use super::CapError;
use crate::egress::Answer;

/// The JSON-RPC response numbered `id` in an answer (a JSON body, or an event stream).
pub(super) fn find_response(answer: &Answer, id: u64) -> Option<Value> {
    let matches = |v: &Value| v.get("id").and_then(Value::as_u64) == Some(id);
    let event_stream = answer
        .header("content-type")
        .is_some_and(|t| t.trim_start().starts_with("text/event-stream"));
    if !event_stream {
        let v: Value = serde_json::from_slice(&answer.body).ok()?;
        return match v {
            Value::Array(items) => items.into_iter().find(matches),
            v if matches(&v) => Some(v),
            _ => None,
        };
    }
    let text = String::from_utf8_lossy(&answer.body);
    let text = text.replace("\r\n", "\n");
    for event in text.split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) {
            if matches(&v) {
                return Some(v);
            }
        }
    }
    None
}

/// What a `tools/call` result means to the caller.
pub fn tool_result(result: Value) -> Result<Value, CapError> {
    let content = result.get("content").cloned().unwrap_or(json!([]));
    let texts: Vec<&str> = content
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|i| i.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    if result.get("isError").and_then(Value::as_bool) == Some(true) {
        return Err(CapError::new("ToolError", texts.join("\n")));
    }
    if let Some(structured) = result.get("structuredContent") {
        return Ok(structured.clone());
    }
    match (content.as_array().map(Vec::len), texts.as_slice()) {
        (Some(1), [text]) => Ok(serde_json::from_str(text).unwrap_or(json!(text))),
        _ => Ok(content),
    }
}
