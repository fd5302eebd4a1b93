//! An `mcp` capability: a client of an upstream MCP server over the streamable-HTTP transport
//! (JSON-RPC 2.0 over `POST`; the answer is `application/json` or a `text/event-stream` whose
//! events carry it), every request through the egress gateway as the calling tenant.
//!
//! Each use is one session: `initialize`, `notifications/initialized`, the request (`tools/list`
//! pages or one `tools/call`), then a `DELETE` of the session when the server gave one.
//!
//! Guarantees: only answers whose `id` matches the request are taken; a JSON-RPC error and a
//! tool result with `isError` are typed errors (`McpError`, `ToolError`) carrying the server's
//! message; at most [`MAX_PAGES`] pages of tools. Trusts: the upstream's answers only as data.

use serde_json::{json, Value};

use super::CapError;
use crate::egress::{Answer, Egress};

/// The MCP protocol version this client speaks.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Pages of `tools/list` read at most.
const MAX_PAGES: usize = 16;

struct Session<'a> {
    egress: &'a Egress,
    tenant: &'a str,
    url: &'a str,
    id: Option<String>,
    next: u64,
}

fn mcp_error(message: impl Into<String>) -> CapError {
    CapError::new("McpError", message)
}

impl<'a> Session<'a> {
    async fn open(egress: &'a Egress, tenant: &'a str, url: &'a str) -> Result<Self, CapError> {
        let mut s = Session {
            egress,
            tenant,
            url,
            id: None,
            next: 1,
        };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "stockade", "version": env!("CARGO_PKG_VERSION")},
        });
        s.request("initialize", params).await?;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = s.post(&note).await?;
        if !(200..300).contains(&answer.status) {
            return Err(mcp_error(format!(
                "the server answered notifications/initialized with status {}",
                answer.status
            )));
        }
        Ok(s)
    }

    async fn post(&mut self, message: &Value) -> Result<Answer, CapError> {
        let session = self.id.clone();
        let mut headers = vec![
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", PROTOCOL_VERSION),
        ];
        if let Some(id) = &session {
            headers.push(("mcp-session-id", id.as_str()));
        }
        let body = message.to_string().into_bytes();
        let answer = self
            .egress
            .request_as(self.tenant, "POST", self.url, &headers, body)
            .await
            .map_err(|e| CapError::new("TypeError", e))?;
        if let Some(id) = answer.header("mcp-session-id") {
            if self.id.is_none() && !id.is_empty() && id.len() <= 256 {
                self.id = Some(id.to_owned());
            }
        }
        Ok(answer)
    }

    /// The result of one JSON-RPC request.
    async fn request(&mut self, method: &str, params: Value) -> Result<Value, CapError> {
        let id = self.next;
        self.next += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = self.post(&message).await?;
        if !(200..300).contains(&answer.status) {
            return Err(mcp_error(format!(
                "{method}: the server answered status {}",
                answer.status
            )));
        }
        let response = find_response(&answer, id)
            .ok_or_else(|| mcp_error(format!("{method}: the server sent no answer to it")))?;
        if let Some(e) = response.get("error") {
            let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
            let text = e.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(mcp_error(format!("{method}: {text} ({code})")));
        }
        Ok(response.get("result").cloned().unwrap_or(Value::Null))
    }

    async fn close(mut self) {
        if let Some(id) = self.id.take() {
            let headers = [
                ("mcp-session-id", id.as_str()),
                ("mcp-protocol-version", PROTOCOL_VERSION),
            ];
            // Best effort: a server that keeps no sessions, or a rule without DELETE, is fine.
            let _ = self
                .egress
                .request_as(self.tenant, "DELETE", self.url, &headers, Vec::new())
                .await;
        }
    }
}

/// The JSON-RPC response numbered `id` in an answer (a JSON body, or an event stream).
fn find_response(answer: &Answer, id: u64) -> Option<Value> {
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

/// The server's tools (`tools/list`, every page).
pub async fn list_tools(egress: &Egress, tenant: &str, url: &str) -> Result<Vec<Value>, CapError> {
    let mut session = Session::open(egress, tenant, url).await?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    let mut result = Ok(());
    for _ in 0..MAX_PAGES {
        let params = match &cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        match session.request("tools/list", params).await {
            Ok(page) => {
                if let Some(list) = page.get("tools").and_then(Value::as_array) {
                    tools.extend(list.iter().filter(|t| t.get("name").is_some()).cloned());
                }
                cursor = page
                    .get("nextCursor")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    session.close().await;
    result.map(|()| tools)
}

/// The result of tool `name` with `arguments`: its structured content if it has some, else its
/// one text item (as JSON when it parses), else its content list.
pub async fn call_tool(
    egress: &Egress,
    tenant: &str,
    url: &str,
    name: &str,
    arguments: Value,
) -> Result<Value, CapError> {
    let mut session = Session::open(egress, tenant, url).await?;
    let answer = session
        .request("tools/call", json!({"name": name, "arguments": arguments}))
        .await;
    session.close().await;
    tool_result(answer?)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(content_type: &str, body: &str) -> Answer {
        Answer {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn responses_are_found_by_id_in_json_and_event_streams() {
        let json = answer(
            "application/json",
            r#"{"jsonrpc":"2.0","id":2,"result":{"a":1}}"#,
        );
        assert_eq!(find_response(&json, 2).expect("found")["result"]["a"], 1);
        assert!(find_response(&json, 3).is_none(), "another id is not taken");
        let sse = answer(
            "text/event-stream",
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}\n\n\
             id: 7\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}\r\n\r\n",
        );
        assert!(find_response(&sse, 5).is_some());
        assert!(find_response(&sse, 6).is_none());
    }

    #[test]
    fn tool_results_prefer_structured_content_and_errors_are_typed() {
        let r = json!({"content": [{"type": "text", "text": "{\"t\":3}"}], "structuredContent": {"t": 4}});
        assert_eq!(tool_result(r).expect("ok"), json!({"t": 4}));
        let r = json!({"content": [{"type": "text", "text": "{\"t\":3}"}]});
        assert_eq!(tool_result(r).expect("ok"), json!({"t": 3}));
        let r = json!({"content": [{"type": "text", "text": "plain"}]});
        assert_eq!(tool_result(r).expect("ok"), json!("plain"));
        let r = json!({"content": [{"type": "text", "text": "bad city"}], "isError": true});
        assert_eq!(tool_result(r), Err(CapError::new("ToolError", "bad city")));
    }
}
