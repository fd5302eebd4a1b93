//! The egress audit: every outbound request (each redirect hop, and each refusal) as one
//! structured line on stderr and in a bounded in-memory ring per tenant, for the operator.
//!
//! Guarantees: a record holds no header values, no query string and no body, so no secret value
//! can reach it; each tenant's ring keeps its latest [`RING_LEN`] records. Trusts: its callers
//! to pass tenant indexes in range (others are ignored).

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Records kept per tenant.
pub const RING_LEN: usize = 1000;

/// One outbound request, or one refusal.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Unix milliseconds.
    pub at_ms: u64,
    pub tenant: String,
    /// The Loader worker (hex id) whose code made the request; `None` for Code Mode and the
    /// daemon's own requests (a capability call).
    pub worker: Option<String>,
    pub method: String,
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The path only (no query string: it may carry anything).
    pub path: String,
    /// The index (from 0) of the rule that allowed it, when one did.
    pub rule: Option<usize>,
    /// `allowed`, or `denied`.
    pub verdict: &'static str,
    /// Why it was denied, or why it failed after being allowed.
    pub reason: Option<String>,
    pub status: Option<u16>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub ms: u64,
    /// Of `ms`, the time it waited for one of its request's six simultaneous connections.
    pub queued_ms: u64,
}

/// The rings, by tenant index.
pub struct Audit {
    rings: Mutex<Vec<VecDeque<Record>>>,
}

impl Audit {
    pub fn new(tenants: usize) -> Audit {
        Audit {
            rings: Mutex::new(vec![VecDeque::new(); tenants]),
        }
    }

    /// Rings for `tenants` tenants at least (a reload adds tenants).
    pub fn ensure(&self, tenants: usize) {
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        while rings.len() < tenants {
            rings.push(VecDeque::new());
        }
    }

    /// Logs `record` on stderr and keeps it in `tenant`'s ring.
    pub fn record(&self, tenant: usize, record: Record) {
        if let Ok(line) = serde_json::to_string(&record) {
            eprintln!("stockade: egress {line}");
        }
        let mut rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ring) = rings.get_mut(tenant) {
            if ring.len() >= RING_LEN {
                ring.pop_front();
            }
            ring.push_back(record);
        }
    }

    /// `tenant`'s latest `limit` records, oldest first.
    pub fn latest(&self, tenant: usize, limit: usize) -> Vec<Record> {
        let rings = self.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings.get(tenant).map_or_else(Vec::new, |ring| {
            ring.iter()
                .skip(ring.len().saturating_sub(limit))
                .cloned()
                .collect()
        })
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_are_bounded_and_per_tenant() {
        let audit = Audit::new(2);
        let record = |port| Record {
            worker: None,
            at_ms: 0,
            tenant: "t".into(),
            method: "GET".into(),
            scheme: "http".into(),
            host: "h".into(),
            port,
            path: "/".into(),
            rule: None,
            verdict: "denied",
            reason: Some("host not allowed".into()),
            status: None,
            bytes_out: 0,
            bytes_in: 0,
            ms: 0,
            queued_ms: 0,
        };
        for i in 0..(RING_LEN + 5) {
            audit.record(1, record(i as u16));
        }
        assert!(audit.latest(0, 10).is_empty());
        let last = audit.latest(1, 3);
        assert_eq!(
            last.iter().map(|r| r.port).collect::<Vec<_>>(),
            vec![1002, 1003, 1004]
        );
        assert_eq!(audit.latest(1, usize::MAX).len(), RING_LEN);
        audit.record(7, record(1)); // out of range: ignored
    }
}
