//! An `mcp` capability: a client of an upstream MCP server over the streamable-HTTP transport
//! (JSON-RPC 2.0 over `POST`; the answer is `application/json` or a `text/event-stream` whose
//! events carry it), every request through the egress gateway as the calling tenant.
//!
//! Sessions are reused: a session (`initialize`, `notifications/initialized`, and the
//! `Mcp-Session-Id` the server gave, if any) serves one use at a time and then waits in a
//! [`SessionPool`] for the next use by the *same tenant* of the same URL, for at most
//! [`IDLE_TTL`]; beyond [`MAX_IDLE`] per (tenant, URL), and once expired, a session is ended with
//! a `DELETE`. A reused session the server no longer knows (404, as the transport specifies) is
//! replaced by a new one and the request sent once more.
//!
//! Guarantees: only answers whose `id` matches the request are taken; a JSON-RPC error and a
//! tool result with `isError` are typed errors (`McpError`, `ToolError`) carrying the server's
//! message; at most [`MAX_PAGES`] pages of tools; a session never serves two tenants. Trusts: the
//! upstream's answers only as data.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::CapError;
use crate::egress::{Answer, Egress};

/// The MCP protocol version this client speaks.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Pages of `tools/list` read at most.
const MAX_PAGES: usize = 16;

/// How long an idle session is kept for reuse.
pub const IDLE_TTL: Duration = Duration::from_secs(60);

/// Idle sessions kept per (tenant, URL).
pub const MAX_IDLE: usize = 4;

/// How long [`list_tools`] waits for a server, all of it (a new session's `initialize` and every
/// page): the types of an `env` (`GET /v1/workers/{id}/types`, `POST /v1/types`, the MCP
/// server's `tools/list`) wait for it, so one server that never answers must not hold them for
/// the egress hop timeout (30 s by default). Past it the capability is declared untyped with a
/// `TimeoutError` naming the server. A tool *call* is bounded by the hop timeout only.
pub const LIST_TOOLS_TIMEOUT: Duration = Duration::from_secs(5);

/// An initialised session between uses.
struct Idle {
    /// The server's `Mcp-Session-Id` (`None`: the server keeps no sessions).
    id: Option<String>,
    /// The next JSON-RPC id.
    next: u64,
    since: Instant,
}

/// Idle sessions by (tenant, URL).
#[derive(Default)]
pub struct SessionPool {
    idle: Mutex<HashMap<(String, String), Vec<Idle>>>,
}

impl SessionPool {
    /// The most recently used idle session of `tenant` for `url` that has not expired, and the
    /// expired ones (for the caller to end).
    fn take(&self, tenant: &str, url: &str) -> (Option<Idle>, Vec<Idle>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant.to_owned(), url.to_owned());
        let Some(list) = idle.get_mut(&key) else {
            return (None, Vec::new());
        };
        let (fresh, expired): (Vec<Idle>, Vec<Idle>) =
            list.drain(..).partition(|s| s.since.elapsed() < IDLE_TTL);
        *list = fresh;
        let taken = list.pop();
        if list.is_empty() {
            idle.remove(&key);
        }
        (taken, expired)
    }

    /// Keeps `session` for the next use; gives it back when `MAX_IDLE` are kept already.
    fn put(&self, tenant: &str, url: &str, session: Idle) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry((tenant.to_owned(), url.to_owned())).or_default();
        if list.len() >= MAX_IDLE {
            return Some(session);
        }
        list.push(session);
        None
    }
}

struct Session<'a> {
    egress: &'a Egress,
    tenant: &'a str,
    url: &'a str,
    id: Option<String>,
    next: u64,
    /// Taken from the pool (it may have ended on the server since).
    reused: bool,
}

fn mcp_error(message: impl Into<String>) -> CapError {
    CapError::new("McpError", message)
}

/// Why a request failed.
enum Failed {
    /// The server does not know the session (404): it ended it.
    Gone,
    /// A JSON-RPC error answer: the session is fine.
    Rpc(CapError),
    /// The transport or the server failed: the session is not used again.
    Broken(CapError),
}

impl From<CapError> for Failed {
    fn from(e: CapError) -> Failed {
        Failed::Broken(e)
    }
}

impl<'a> Session<'a> {
    /// A session of `tenant` for `url`: an idle one from `pool`, else a new one.
    async fn get(
        pool: &SessionPool,
        egress: &'a Egress,
        tenant: &'a str,
        url: &'a str,
    ) -> Result<Self, CapError> {
        let (taken, expired) = pool.take(tenant, url);
        for old in expired {
            Session::resumed(egress, tenant, url, old).close().await;
        }
        match taken {
            Some(idle) => Ok(Session::resumed(egress, tenant, url, idle)),
            None => Session::open(egress, tenant, url).await,
        }
    }

    fn resumed(egress: &'a Egress, tenant: &'a str, url: &'a str, idle: Idle) -> Self {
        Session {
            egress,
            tenant,
            url,
            id: idle.id,
            next: idle.next,
            reused: true,
        }
    }

    async fn open(egress: &'a Egress, tenant: &'a str, url: &'a str) -> Result<Self, CapError> {
        let mut s = Session {
            egress,
            tenant,
            url,
            id: None,
            next: 1,
            reused: false,
        };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "stockade", "version": env!("CARGO_PKG_VERSION")},
        });
        s.request("initialize", params).await.map_err(|e| match e {
            Failed::Gone => mcp_error("initialize: the server answered status 404"),
            Failed::Rpc(e) | Failed::Broken(e) => e,
        })?;
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
    async fn request(&mut self, method: &str, params: Value) -> Result<Value, Failed> {
        let id = self.next;
        self.next += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = self.post(&message).await?;
        if answer.status == 404 && self.id.is_some() {
            return Err(Failed::Gone);
        }
        if !(200..300).contains(&answer.status) {
            return Err(mcp_error(format!(
                "{method}: the server answered status {}",
                answer.status
            ))
            .into());
        }
        let response = find_response(&answer, id)
            .ok_or_else(|| mcp_error(format!("{method}: the server sent no answer to it")))?;
        if let Some(e) = response.get("error") {
            let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
            let text = e.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(Failed::Rpc(mcp_error(format!("{method}: {text} ({code})"))));
        }
        Ok(response.get("result").cloned().unwrap_or(Value::Null))
    }

    /// One request on a session from `pool`: a reused session the server has ended is replaced
    /// once. The session goes back to the pool unless the request failed on the transport.
    async fn use_once(
        pool: &SessionPool,
        egress: &'a Egress,
        tenant: &'a str,
        url: &'a str,
        method: &str,
        params: Value,
    ) -> Result<(Self, Value), CapError> {
        let mut session = Session::get(pool, egress, tenant, url).await?;
        match session.request(method, params.clone()).await {
            Ok(v) => Ok((session, v)),
            Err(Failed::Gone) if session.reused => {
                let mut fresh = Session::open(egress, tenant, url).await?;
                match fresh.request(method, params).await {
                    Ok(v) => Ok((fresh, v)),
                    Err(e) => Err(fresh.settle(pool, e).await),
                }
            }
            Err(e) => Err(session.settle(pool, e).await),
        }
    }

    /// After a failed request: a JSON-RPC error leaves the session usable (it goes back to the
    /// pool); anything else ends it. The error for the caller.
    async fn settle(self, pool: &SessionPool, failed: Failed) -> CapError {
        match failed {
            Failed::Gone => mcp_error("the server ended the session (404)"),
            Failed::Rpc(e) => {
                self.release(pool).await;
                e
            }
            Failed::Broken(e) => {
                self.close().await;
                e
            }
        }
    }

    /// Back to the pool for the next use, or ended when the pool is full.
    async fn release(self, pool: &SessionPool) {
        let idle = Idle {
            id: self.id.clone(),
            next: self.next,
            since: Instant::now(),
        };
        if let Some(extra) = pool.put(self.tenant, self.url, idle) {
            Session::resumed(self.egress, self.tenant, self.url, extra)
                .close()
                .await;
        }
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

/// The server's tools (`tools/list`, every page), within [`LIST_TOOLS_TIMEOUT`]: a server that
/// takes longer is a `TimeoutError` naming it (the session it was using is dropped, not pooled).
pub async fn list_tools(
    pool: &SessionPool,
    egress: &Egress,
    tenant: &str,
    url: &str,
) -> Result<Vec<Value>, CapError> {
    let listed = tokio::time::timeout(LIST_TOOLS_TIMEOUT, all_tools(pool, egress, tenant, url));
    match listed.await {
        Ok(listed) => listed,
        Err(_) => Err(CapError::new(
            "TimeoutError",
            format!(
                "the MCP server {url} did not answer tools/list within {} ms",
                LIST_TOOLS_TIMEOUT.as_millis()
            ),
        )),
    }
}

async fn all_tools(
    pool: &SessionPool,
    egress: &Egress,
    tenant: &str,
    url: &str,
) -> Result<Vec<Value>, CapError> {
    let (mut session, mut page) =
        Session::use_once(pool, egress, tenant, url, "tools/list", json!({})).await?;
    let mut tools = Vec::new();
    let mut pages = 1;
    loop {
        if let Some(list) = page.get("tools").and_then(Value::as_array) {
            tools.extend(list.iter().filter(|t| t.get("name").is_some()).cloned());
        }
        let Some(cursor) = page.get("nextCursor").and_then(Value::as_str) else {
            break;
        };
        if pages == MAX_PAGES {
            break;
        }
        let params = json!({ "cursor": cursor });
        page = match session.request("tools/list", params).await {
            Ok(next) => next,
            Err(e) => return Err(session.settle(pool, e).await),
        };
        pages += 1;
    }
    session.release(pool).await;
    Ok(tools)
}

/// The result of tool `name` with `arguments`: its structured content if it has some, else its
/// one text item (as JSON when it parses), else its content list.
pub async fn call_tool(
    pool: &SessionPool,
    egress: &Egress,
    tenant: &str,
    url: &str,
    name: &str,
    arguments: Value,
) -> Result<Value, CapError> {
    let params = json!({"name": name, "arguments": arguments});
    let (session, result) =
        Session::use_once(pool, egress, tenant, url, "tools/call", params).await?;
    session.release(pool).await;
    tool_result(result)
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

    fn idle(id: &str, age: Duration) -> Idle {
        Idle {
            id: Some(id.into()),
            next: 7,
            since: Instant::now()
                .checked_sub(age)
                .expect("an instant that long ago"),
        }
    }

    #[test]
    fn the_pool_keeps_sessions_per_tenant_and_url_drops_expired_ones_and_caps_idle_ones() {
        let pool = SessionPool::default();
        assert!(pool.take("a", "u").0.is_none());
        assert!(pool.put("a", "u", idle("old", IDLE_TTL * 2)).is_none());
        assert!(pool.put("a", "u", idle("fresh", Duration::ZERO)).is_none());
        // Another tenant, or another URL, never gets a's sessions.
        assert!(pool.take("b", "u").0.is_none());
        assert!(pool.take("a", "v").0.is_none());
        let (taken, expired) = pool.take("a", "u");
        assert_eq!(taken.and_then(|s| s.id), Some("fresh".into()));
        assert_eq!(expired.len(), 1);
        assert!(
            pool.take("a", "u").0.is_none(),
            "each session serves one use at a time"
        );
        for i in 0..MAX_IDLE {
            assert!(pool
                .put("a", "u", idle(&i.to_string(), Duration::ZERO))
                .is_none());
        }
        let extra = pool.put("a", "u", idle("extra", Duration::ZERO));
        assert_eq!(
            extra.and_then(|s| s.id),
            Some("extra".into()),
            "beyond MAX_IDLE: ended"
        );
    }

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
