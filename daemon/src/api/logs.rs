//! Console output of Loader workers' fetch handlers: a bounded ring per worker, read by its
//! tenant at `GET /v1/workers/{id}/logs`.
//!
//! Why a ring the tenant reads, rather than the daemon's stderr: console output is tenant data
//! (it may hold its users' requests), so it goes to the tenant that wrote it and to nobody else,
//! and a chatty or hostile tenant cannot flood the operator's log. Why not a response header:
//! the response belongs to the app's client, not to its author. Each request's lines arrive with
//! its outcome (a failed request also returns them in its error body).
//!
//! Guarantees: at most [`MAX_LINES`] lines and [`MAX_BYTES`] bytes of text per worker (the oldest
//! go first); a worker's ring is dropped with the worker; a tenant only reads its own workers'
//! rings (the route checks ownership like every worker route). In memory only: lost on restart.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use stockade_ipc::LogLine;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Api, ApiPath, ApiQuery};
use super::loader::find;
use super::run::logs_json;
use super::AppState;
use crate::supervisor::LogSink;

/// Lines kept per worker.
pub const MAX_LINES: usize = 1000;
/// Bytes of text kept per worker.
pub const MAX_BYTES: usize = 1 << 20;

struct Entry {
    time_ms: u64,
    line: LogLine,
}

#[derive(Default)]
struct Ring {
    lines: VecDeque<Entry>,
    bytes: usize,
}

/// The rings of all workers, by worker id.
#[derive(Default)]
pub struct LogRings {
    rings: Mutex<HashMap<String, Ring>>,
}

impl LogRings {
    /// Where the lines a request of `worker` makes after its answer go: its ring.
    pub fn after_answer(self: &Arc<Self>, worker: &str) -> LogSink {
        let rings = Arc::clone(self);
        let worker = worker.to_owned();
        Arc::new(move |lines| rings.record(&worker, &lines))
    }

    /// Appends one request's lines to `worker`'s ring.
    pub fn record(&self, worker: &str, lines: &[LogLine]) {
        if lines.is_empty() {
            return;
        }
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let Ok(mut rings) = self.rings.lock() else {
            return;
        };
        let ring = rings.entry(worker.to_string()).or_default();
        for line in lines {
            let mut line = line.clone();
            if line.text.len() > MAX_BYTES {
                let mut end = MAX_BYTES;
                while !line.text.is_char_boundary(end) {
                    end -= 1;
                }
                line.text.truncate(end);
            }
            ring.bytes += line.text.len();
            ring.lines.push_back(Entry { time_ms, line });
            while ring.lines.len() > MAX_LINES || ring.bytes > MAX_BYTES {
                match ring.lines.pop_front() {
                    Some(old) => ring.bytes -= old.line.text.len(),
                    None => break,
                }
            }
        }
    }

    /// Drops `worker`'s ring.
    pub fn forget(&self, worker: &str) {
        if let Ok(mut rings) = self.rings.lock() {
            rings.remove(worker);
        }
    }

    /// The latest `limit` lines of `worker`, oldest first, as JSON.
    fn latest(&self, worker: &str, limit: usize) -> Vec<serde_json::Value> {
        let Ok(rings) = self.rings.lock() else {
            return Vec::new();
        };
        let Some(ring) = rings.get(worker) else {
            return Vec::new();
        };
        let skip = ring.lines.len().saturating_sub(limit);
        ring.lines
            .iter()
            .skip(skip)
            .map(|e| {
                let mut v = logs_json(std::slice::from_ref(&e.line))
                    .pop()
                    .unwrap_or_default();
                v["timeMs"] = e.time_ms.into();
                v
            })
            .collect()
    }
}

#[derive(Deserialize)]
pub struct LogsQuery {
    limit: Option<usize>,
}

/// `GET /v1/workers/{id}/logs?limit=N`: `{"logs": [{"level", "message", "timeMs"}]}`.
pub async fn logs(
    State(state): State<Arc<AppState>>,
    who: Caller,
    Api(id): ApiPath<String>,
    Api(query): ApiQuery<LogsQuery>,
) -> Result<Response, ApiError> {
    let tenant = who.tenant()?;
    let ring = find(&state, &tenant, &id).await?.log_ring();
    let limit = query.limit.unwrap_or(MAX_LINES).min(MAX_LINES);
    Ok(Json(serde_json::json!({ "logs": state.logs.latest(&ring, limit) })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_ipc::LogLevel;

    fn line(text: &str) -> LogLine {
        LogLine {
            level: LogLevel::Info,
            text: text.into(),
        }
    }

    #[test]
    fn rings_are_bounded_by_lines_and_bytes_and_per_worker() {
        let rings = LogRings::default();
        let many: Vec<LogLine> = (0..MAX_LINES + 5).map(|i| line(&i.to_string())).collect();
        rings.record("a", &many);
        let a = rings.latest("a", MAX_LINES);
        assert_eq!(a.len(), MAX_LINES);
        assert_eq!(a[0]["message"], "5");
        assert!(rings.latest("b", 10).is_empty());
        let big = "x".repeat(MAX_BYTES / 2 + 1);
        rings.record("b", &[line(&big), line(&big), line("last")]);
        let b = rings.latest("b", 10);
        assert_eq!(b.len(), 2);
        assert_eq!(b[1]["message"], "last");
        rings.forget("a");
        assert!(rings.latest("a", 10).is_empty());
    }
}
