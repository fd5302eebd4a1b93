//! An `mcp` capability: a client of an upstream MCP server over the streamable-HTTP transport
//! (JSON-RPC 2.0 over `POST`; the answer is `application/json` or a `text/event-stream` whose
//! events carry it), every request through the egress gateway as the calling tenant.
//!
//! Sessions are reused: a session (`initialize`, `notifications/initialized`, and the
//! `Mcp-Session-Id` the server gave, if any) serves one use at a time and then waits in a
//! [`SessionPool`] for the next use by the *same tenant* of the same URL, for at most
//! [`IDLE_TTL`]; beyond [`MAX_IDLE`] per (tenant, URL), and once expired, a session is ended with
//! a `DELETE`. A reused session the server no longer knows (404, as the transport specifies) is
//! replaced by a new one and the request sent once more. A session dropped while open (its
//! caller gave up on it: [`list_tools`]'s bound, a request that ended mid-call, an `initialize`
//! whose next step failed) is ended too, in the background, so the caller never waits on it.
//! Every `DELETE` waits at most [`CLOSE_TIMEOUT`].
//!
//! Guarantees: only answers whose `id` matches the request are taken; a JSON-RPC error and a
//! tool result with `isError` are typed errors (`McpError`, `ToolError`) carrying the server's
//! message; at most [`MAX_PAGES`] pages of tools; a session never serves two tenants. Trusts: the
//! upstream's answers only as data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::CapError;
use crate::egress::{Answer, Egress};

#[path = "mcp_answer.rs"]
mod answer;
use answer::find_response;
pub use answer::tool_result;

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

/// How long the `DELETE` that ends a session may take (it is best effort).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

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

/// A session in use. Dropped while it still has an id (neither released nor closed nor known
/// gone), it is ended in the background.
struct Session<'a> {
    egress: &'a Arc<Egress>,
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
        egress: &'a Arc<Egress>,
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

    fn resumed(egress: &'a Arc<Egress>, tenant: &'a str, url: &'a str, idle: Idle) -> Self {
        Session {
            egress,
            tenant,
            url,
            id: idle.id,
            next: idle.next,
            reused: true,
        }
    }

    async fn open(
        egress: &'a Arc<Egress>,
        tenant: &'a str,
        url: &'a str,
    ) -> Result<Self, CapError> {
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
        egress: &'a Arc<Egress>,
        tenant: &'a str,
        url: &'a str,
        method: &str,
        params: Value,
    ) -> Result<(Self, Value), CapError> {
        let mut session = Session::get(pool, egress, tenant, url).await?;
        match session.request(method, params.clone()).await {
            Ok(v) => Ok((session, v)),
            Err(Failed::Gone) if session.reused => {
                session.forget();
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
            Failed::Gone => {
                self.forget();
                mcp_error("the server ended the session (404)")
            }
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
    async fn release(mut self, pool: &SessionPool) {
        let idle = Idle {
            id: self.id.take(),
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
            end(self.egress, self.tenant, self.url, &id).await;
        }
    }

    /// The server has ended it already: nothing to end.
    fn forget(mut self) {
        self.id = None;
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        // Outside a runtime (never, in the daemon) there is nothing to end it with.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (egress, tenant, url) = (
            Arc::clone(self.egress),
            self.tenant.to_owned(),
            self.url.to_owned(),
        );
        runtime.spawn(async move { end(&egress, &tenant, &url, &id).await });
    }
}

/// Ends session `id` with a `DELETE`, waiting at most [`CLOSE_TIMEOUT`]. Best effort: a server
/// that keeps no sessions, or a rule without DELETE, is fine.
async fn end(egress: &Egress, tenant: &str, url: &str, id: &str) {
    let headers = [
        ("mcp-session-id", id),
        ("mcp-protocol-version", PROTOCOL_VERSION),
    ];
    let delete = egress.request_as(tenant, "DELETE", url, &headers, Vec::new());
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, delete).await;
}

/// The server's tools (`tools/list`, every page), within [`LIST_TOOLS_TIMEOUT`]: a server that
/// takes longer is a `TimeoutError` naming it (the session it was using is not pooled: it is
/// ended in the background, `Session`'s drop).
pub async fn list_tools(
    pool: &SessionPool,
    egress: &Arc<Egress>,
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
    egress: &Arc<Egress>,
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
    egress: &Arc<Egress>,
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

#[cfg(test)]
#[path = "mcp_client_tests.rs"]
mod tests;
