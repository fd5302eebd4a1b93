//! An `http` capability's call: `POST url` with JSON `{"method": "m", "args": [...]}`, answered
//! `{"result": ...}` or `{"error": {"name", "message"}}`, through the egress gateway as the
//! calling tenant. `args` and `result` are structured-clone data in the tagged encoding
//! (`super::tagged`), passed through as they are: the isolate encodes and decodes them.
//!
//! Guarantees: the request goes out only if the tenant's egress rules allow it (with the secrets
//! the matching rule injects, scrubbed from the answer); any other answer (a status other than
//! 2xx, a body that is not one of the two shapes) is a typed error, never passed on as a result.
//! Trusts: nothing in the answer beyond its shape.

use serde_json::{json, Value};

use super::CapError;
use crate::egress::Egress;

/// The longest error name or message passed on, bytes (longer ones are cut).
const MAX_ERROR_TEXT: usize = 4096;

fn cut(text: &str) -> String {
    let mut end = text.len().min(MAX_ERROR_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// The result of `method(...args)`, or the error it raised.
pub async fn call(
    egress: &Egress,
    tenant: &str,
    url: &str,
    method: &str,
    args: Vec<Value>,
) -> Result<Value, CapError> {
    let body = json!({ "method": method, "args": args })
        .to_string()
        .into_bytes();
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json"),
    ];
    let answer = egress
        .request_as(tenant, "POST", url, &headers, body)
        .await
        .map_err(|e| CapError::new("TypeError", e))?;
    let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
    match parsed {
        Some(Value::Object(mut o)) if o.contains_key("error") => {
            let e = o.remove("error").unwrap_or(Value::Null);
            let name = e.get("name").and_then(Value::as_str).unwrap_or("Error");
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            let name = if name.is_empty() || name.chars().any(char::is_control) {
                "Error"
            } else {
                name
            };
            Err(CapError::new(&cut(name), cut(message)))
        }
        Some(Value::Object(mut o)) if (200..300).contains(&answer.status) => {
            match o.remove("result") {
                Some(result) => Ok(result),
                None => Ok(Value::Null),
            }
        }
        _ => Err(CapError::new(
            "OperationError",
            format!(
                "{method}: the capability answered status {} without a result",
                answer.status
            ),
        )),
    }
}
