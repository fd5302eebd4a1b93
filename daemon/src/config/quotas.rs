//! `[quotas]` and `[tenants.quotas]`: what one tenant may hold and ask of the daemon across its
//! requests (per-request limits are `[limits]`). Defaults apply to every tenant; a tenant's own
//! `[tenants.quotas]` overrides any of them:
//!
//! ```toml
//! [quotas]
//! max_workers = 100                 # Loader worker definitions held at once
//! max_worker_bytes = 134217728      # their total size (modules and env), bytes
//! max_versions = 10                 # versions kept per worker name (the oldest go first)
//! max_concurrent_requests = 512     # requests of the tenant being served at once (0: no cap)
//! requests_per_second = 1000        # sustained rate, a token bucket (0: no cap)
//! burst = 2000                      # the bucket's size
//! cache_bytes = 33554432            # the Cache API's entries held in memory (URL, headers, body)
//! [[tenants]]
//! id = "acme"
//! token = "..."
//! [tenants.quotas]
//! requests_per_second = 50
//! ```
//!
//! A request over a quota is answered `429` with `Retry-After` (see `api::quota`).

use serde::Deserialize;

/// One tenant's quotas, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Loader worker definitions the tenant may hold at once.
    pub max_workers: u32,
    /// Their total size in bytes (module names and bytes, env names and values).
    pub max_worker_bytes: u64,
    /// Versions of one worker name kept (each counts toward `max_workers`): storing one more
    /// deletes the oldest, the current version last. At least 1.
    pub max_versions: u32,
    /// Requests of the tenant (Code Mode runs, calls of its workers, its other API requests)
    /// being served at once, response bodies included; 0: no cap.
    pub max_concurrent_requests: u32,
    /// Requests per second, sustained; 0: no cap.
    pub requests_per_second: f64,
    /// Requests that may arrive at once after a quiet spell (the token bucket's size).
    pub burst: u32,
    /// Bytes of the tenant's Cache API entries (URL, headers and body), held in memory; the
    /// least recently used go first.
    pub cache_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            max_workers: 100,
            max_worker_bytes: 128 << 20,
            max_versions: 10,
            max_concurrent_requests: 512,
            requests_per_second: 1000.0,
            burst: 2000,
            cache_bytes: 32 << 20,
        }
    }
}

/// `[tenants.quotas]`: any of [`Quotas`], overriding `[quotas]` for one tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverrides {
    pub max_workers: Option<u32>,
    pub max_worker_bytes: Option<u64>,
    pub max_versions: Option<u32>,
    pub max_concurrent_requests: Option<u32>,
    pub requests_per_second: Option<f64>,
    pub burst: Option<u32>,
    pub cache_bytes: Option<u64>,
}

impl Quotas {
    /// These defaults with `overrides` applied.
    pub fn with(self, overrides: &QuotaOverrides) -> Quotas {
        Quotas {
            max_workers: overrides.max_workers.unwrap_or(self.max_workers),
            max_worker_bytes: overrides.max_worker_bytes.unwrap_or(self.max_worker_bytes),
            max_versions: overrides.max_versions.unwrap_or(self.max_versions),
            max_concurrent_requests: overrides
                .max_concurrent_requests
                .unwrap_or(self.max_concurrent_requests),
            requests_per_second: overrides
                .requests_per_second
                .unwrap_or(self.requests_per_second),
            burst: overrides.burst.unwrap_or(self.burst),
            cache_bytes: overrides.cache_bytes.unwrap_or(self.cache_bytes),
        }
    }

    pub fn validate(&self, whose: &str) -> Result<(), String> {
        if self.max_versions == 0 {
            return Err(format!(
                "{whose}: max_versions must be at least 1 (the current version is one)"
            ));
        }
        if !self.requests_per_second.is_finite() || self.requests_per_second < 0.0 {
            return Err(format!(
                "{whose}: requests_per_second must be a number, 0 (no cap) or more"
            ));
        }
        if self.requests_per_second > 0.0 && self.burst == 0 {
            return Err(format!(
                "{whose}: burst must be at least 1 when requests_per_second caps the rate"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name_and_nonsense_is_refused() {
        let overrides = QuotaOverrides {
            requests_per_second: Some(5.0),
            max_workers: Some(2),
            ..QuotaOverrides::default()
        };
        let q = Quotas::default().with(&overrides);
        assert_eq!((q.requests_per_second, q.max_workers), (5.0, 2));
        assert_eq!(q.burst, Quotas::default().burst);
        assert!(q.validate("t").is_ok());
        for bad in [
            Quotas {
                requests_per_second: -1.0,
                ..q
            },
            Quotas {
                requests_per_second: f64::NAN,
                ..q
            },
            Quotas { burst: 0, ..q },
            Quotas {
                max_versions: 0,
                ..q
            },
        ] {
            assert!(bad.validate("t").is_err(), "{bad:?}");
        }
    }
}
