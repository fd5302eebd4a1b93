//! The backlog gauge of each consumed queue (`stockade_queue_backlog` on `/metrics`): messages
//! waiting (stored, not held by a delivery of this daemon: deliverable now or later, after a
//! delay or a retry's delay) and in flight (claimed by a batch this daemon is delivering).
//!
//! Cost: nothing per scrape but a copy of this table. The stored count is the one the dispatcher
//! already reads for each consumer when it looks whether a batch is due (`store::queues::backlog`,
//! an index range count, four times a second), so it is as old as that look (a consumer at its
//! `max_concurrency` is not looked at until a batch ends); in flight is counted here as batches
//! are claimed and settled. Daemons sharing a PostgreSQL store each count their own deliveries in
//! flight (another daemon's show as waiting). Only queues with a consumer are listed; a consumer
//! gone is forgotten at the dispatcher's next read of the consumers. Trusts: its callers' counts.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::metrics::{header, sample};

#[derive(Default, Clone, Copy)]
struct Gauge {
    /// Messages stored in the queue (claimed ones included), at the dispatcher's last look.
    stored: i64,
    /// Messages claimed by this daemon's batches in flight.
    in_flight: i64,
}

/// (tenant, queue) -> its gauge.
#[derive(Default)]
pub struct Backlog {
    queues: Mutex<BTreeMap<(String, String), Gauge>>,
}

impl Backlog {
    fn with<R>(&self, f: impl FnOnce(&mut BTreeMap<(String, String), Gauge>) -> R) -> R {
        f(&mut self.queues.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// `tenant`'s `queue` holds `stored` messages (claimed ones included).
    pub fn stored(&self, tenant: &str, queue: &str, stored: i64) {
        self.with(|q| {
            q.entry((tenant.to_owned(), queue.to_owned()))
                .or_default()
                .stored = stored;
        });
    }

    /// `n` messages of `tenant`'s `queue` claimed (positive) or settled (negative).
    pub fn in_flight(&self, tenant: &str, queue: &str, n: i64) {
        self.with(|q| {
            let g = q.entry((tenant.to_owned(), queue.to_owned())).or_default();
            g.in_flight = g.in_flight.saturating_add(n).max(0);
        });
    }

    /// Forgets the queues not in `keep` (consumers deleted) that have nothing in flight.
    pub fn retain(&self, keep: &[(String, String)]) {
        self.with(|q| q.retain(|k, g| g.in_flight > 0 || keep.contains(k)));
    }

    pub fn render(&self, out: &mut String) {
        header(
            out,
            "stockade_queue_backlog",
            "gauge",
            "Messages of each consumed queue: waiting (stored, deliverable now or after a delay) \
             and in_flight (in a batch this daemon is delivering).",
        );
        let queues = self.with(|q| q.clone());
        for ((tenant, queue), g) in &queues {
            let waiting = g.stored.saturating_sub(g.in_flight).max(0);
            for (state, n) in [("waiting", waiting), ("in_flight", g.in_flight)] {
                sample(
                    out,
                    "stockade_queue_backlog",
                    &[("tenant", tenant), ("queue", queue), ("state", state)],
                    n as f64,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_is_stored_less_in_flight_and_deleted_consumers_go() {
        let b = Backlog::default();
        b.stored("t", "q", 5);
        b.in_flight("t", "q", 2);
        b.stored("t", "gone", 1);
        let mut out = String::new();
        b.render(&mut out);
        assert!(out.contains(r#"stockade_queue_backlog{tenant="t",queue="q",state="waiting"} 3"#));
        assert!(out.contains(r#"stockade_queue_backlog{tenant="t",queue="q",state="in_flight"} 2"#));
        b.in_flight("t", "q", -2);
        b.retain(&[("t".into(), "q".into())]);
        let mut out = String::new();
        b.render(&mut out);
        assert!(!out.contains("gone"), "{out}");
        assert!(out.contains(r#"queue="q",state="in_flight"} 0"#), "{out}");
    }
}
