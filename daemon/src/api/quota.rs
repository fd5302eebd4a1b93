//! Per-tenant quotas across requests (`[quotas]`, `[tenants.quotas]`): a token bucket for the
//! request rate, a count of requests being served, and the size of the tenant's Loader worker
//! definitions.
//!
//! Guarantees:
//! - a request of a tenant over its rate or its concurrency is refused before any work is done
//!   for it, with `429` and a `Retry-After` (seconds until a token is due; 1 for concurrency);
//! - a request counts against its tenant's concurrency from its admission until its response
//!   body has been sent or dropped ([`Permit`] travels with the body), or, when it became a
//!   WebSocket, until the socket's relay ends (the permit travels with the relay, `api/edge.rs`);
//! - quotas follow the configuration: a tenant's bucket and count survive a reload, with the new
//!   figures applied from then on.
//!
//! Trusts: the configuration. Operates on configured tenant ids only (never on names taken from
//! a request), so its tables hold at most one entry per configured tenant.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::Quotas;

/// Which quota a request exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// `requests_per_second`/`burst`.
    Rate,
    /// `max_concurrent_requests`.
    Concurrency,
    /// `max_workers` or `max_worker_bytes`.
    Workers,
}

impl QuotaKind {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            QuotaKind::Rate => "rate_limited",
            QuotaKind::Concurrency => "too_many_concurrent_requests",
            QuotaKind::Workers => "worker_quota_exceeded",
        }
    }
}

/// A refusal: the kind, seconds to wait, and a message for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub kind: QuotaKind,
    pub retry_after_secs: u64,
    pub message: String,
}

/// A token bucket: `rate` tokens a second, at most `burst` held.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes a token at `now`, or says how many seconds until one is due.
    fn take(&mut self, now: Instant, rate: f64, burst: u32) -> Result<(), u64> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - self.tokens) / rate;
        Err((wait.ceil() as u64).max(1))
    }
}

struct Tenant {
    quotas: Quotas,
    bucket: Bucket,
    serving: Arc<AtomicU32>,
}

/// Every tenant's quotas and usage.
pub struct QuotaBook {
    tenants: Mutex<HashMap<String, Tenant>>,
}

/// A request's place under its tenant's concurrency; released when dropped.
#[derive(Debug)]
pub struct Permit(Arc<AtomicU32>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl QuotaBook {
    /// Quotas of the configured tenants (`(id, quotas)`).
    pub fn new(tenants: impl IntoIterator<Item = (String, Quotas)>) -> QuotaBook {
        let book = QuotaBook {
            tenants: Mutex::new(HashMap::new()),
        };
        book.configure(tenants);
        book
    }

    /// Applies a (re)loaded configuration: new figures for known tenants, entries for new ones,
    /// none for tenants no longer configured.
    pub fn configure(&self, tenants: impl IntoIterator<Item = (String, Quotas)>) {
        let mut book = self.lock();
        let mut next = HashMap::new();
        for (id, quotas) in tenants {
            let entry = match book.remove(&id) {
                Some(mut old) => {
                    old.quotas = quotas;
                    old
                }
                None => Tenant {
                    quotas,
                    bucket: Bucket {
                        tokens: f64::from(quotas.burst),
                        at: Instant::now(),
                    },
                    serving: Arc::new(AtomicU32::new(0)),
                },
            };
            next.insert(id, entry);
        }
        *book = next;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tenant>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The quotas of `tenant` (the defaults for an unknown one).
    pub fn quotas(&self, tenant: &str) -> Quotas {
        self.lock()
            .get(tenant)
            .map_or_else(Quotas::default, |t| t.quotas)
    }

    /// Admits one request of `tenant` now, or refuses it. An unknown tenant is admitted (its
    /// request fails authentication anyway).
    pub fn admit(&self, tenant: &str) -> Result<Option<Permit>, Refusal> {
        self.admit_at(tenant, Instant::now())
    }

    fn admit_at(&self, tenant: &str, now: Instant) -> Result<Option<Permit>, Refusal> {
        let mut book = self.lock();
        let Some(t) = book.get_mut(tenant) else {
            return Ok(None);
        };
        let q = t.quotas;
        if q.max_concurrent_requests > 0
            && t.serving.load(Ordering::Relaxed) >= q.max_concurrent_requests
        {
            return Err(Refusal {
                kind: QuotaKind::Concurrency,
                retry_after_secs: 1,
                message: format!(
                    "tenant {tenant} already has {} requests being served (its quota)",
                    q.max_concurrent_requests
                ),
            });
        }
        if q.requests_per_second > 0.0 {
            if let Err(wait) = t.bucket.take(now, q.requests_per_second, q.burst) {
                return Err(Refusal {
                    kind: QuotaKind::Rate,
                    retry_after_secs: wait,
                    message: format!(
                        "tenant {tenant} is over its rate of {} requests per second",
                        q.requests_per_second
                    ),
                });
            }
        }
        t.serving.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Permit(Arc::clone(&t.serving))))
    }
}

impl QuotaBook {
    /// Takes one token of `tenant`'s rate for a request within a request already admitted (the
    /// further requests of an MCP batch), or refuses it. No place under the concurrency quota:
    /// the request admitted holds one.
    pub fn take_rate(&self, tenant: &str) -> Result<(), Refusal> {
        let mut book = self.lock();
        let Some(t) = book.get_mut(tenant) else {
            return Ok(());
        };
        let q = t.quotas;
        if q.requests_per_second <= 0.0 {
            return Ok(());
        }
        t.bucket
            .take(Instant::now(), q.requests_per_second, q.burst)
            .map_err(|wait| Refusal {
                kind: QuotaKind::Rate,
                retry_after_secs: wait,
                message: format!(
                    "tenant {tenant} is over its rate of {} requests per second",
                    q.requests_per_second
                ),
            })
    }
}

/// Checks a new worker definition of `bytes` against `quotas`, given what the tenant holds.
pub fn check_workers(
    quotas: &Quotas,
    held: usize,
    held_bytes: u64,
    bytes: u64,
) -> Result<(), Refusal> {
    let refuse = |message: String| Refusal {
        kind: QuotaKind::Workers,
        retry_after_secs: 60,
        message,
    };
    if held >= quotas.max_workers as usize {
        return Err(refuse(format!(
            "the tenant holds {held} worker definitions, its quota (delete some first)"
        )));
    }
    if held_bytes.saturating_add(bytes) > quotas.max_worker_bytes {
        return Err(refuse(format!(
            "the tenant's worker definitions would take {} bytes, over its quota of {} \
             (delete some first)",
            held_bytes.saturating_add(bytes),
            quotas.max_worker_bytes
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn book_of(quotas: Quotas) -> QuotaBook {
        QuotaBook::new([("t".to_string(), quotas)])
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate_and_says_when_to_retry() {
        let q = Quotas {
            requests_per_second: 2.0,
            burst: 3,
            max_concurrent_requests: 0,
            ..Quotas::default()
        };
        let book = book_of(q);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(book.admit_at("t", t0).is_ok());
        }
        let refused = book.admit_at("t", t0).expect_err("over the burst");
        assert_eq!(
            (refused.kind, refused.retry_after_secs),
            (QuotaKind::Rate, 1)
        );
        // Half a second later one token is due; then none again.
        let later = t0 + Duration::from_millis(500);
        assert!(book.admit_at("t", later).is_ok());
        assert!(book.admit_at("t", later).is_err());
        // Never more than the burst, however long the quiet.
        let much_later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(book.admit_at("t", much_later).is_ok());
        }
        assert!(book.admit_at("t", much_later).is_err());
        // A slow rate says so in Retry-After.
        let slow = book_of(Quotas {
            requests_per_second: 0.1,
            burst: 1,
            ..q
        });
        assert!(slow.admit_at("t", t0).is_ok());
        assert_eq!(
            slow.admit_at("t", t0).expect_err("slow").retry_after_secs,
            10
        );
    }

    #[test]
    fn concurrency_is_held_until_the_permit_goes_and_unknown_tenants_pass() {
        let book = book_of(Quotas {
            max_concurrent_requests: 2,
            requests_per_second: 0.0,
            ..Quotas::default()
        });
        let a = book.admit("t").expect("1");
        let _b = book.admit("t").expect("2");
        let refused = book.admit("t").expect_err("3");
        assert_eq!(refused.kind, QuotaKind::Concurrency);
        drop(a);
        assert!(book.admit("t").expect("again").is_some());
        assert!(book.admit("nobody").expect("unknown").is_none());
    }

    #[test]
    fn a_reload_keeps_usage_and_applies_new_figures() {
        let book = book_of(Quotas {
            max_concurrent_requests: 1,
            requests_per_second: 0.0,
            ..Quotas::default()
        });
        let held = book.admit("t").expect("1");
        book.configure([(
            "t".to_string(),
            Quotas {
                max_concurrent_requests: 2,
                requests_per_second: 0.0,
                ..Quotas::default()
            },
        )]);
        let _second = book.admit("t").expect("the new figure");
        assert!(book.admit("t").is_err(), "the held request still counts");
        drop(held);
        book.configure([]);
        assert!(book.admit("t").expect("gone").is_none());
    }

    #[test]
    fn worker_definitions_are_capped_by_count_and_bytes() {
        let q = Quotas {
            max_workers: 2,
            max_worker_bytes: 100,
            ..Quotas::default()
        };
        assert!(check_workers(&q, 1, 50, 50).is_ok());
        assert!(check_workers(&q, 2, 0, 1).is_err());
        assert!(check_workers(&q, 1, 50, 51).is_err());
    }
}
