//! The daemon's counters and histograms, and their rendering in the Prometheus text format
//! (version 0.0.4) for `GET /metrics`.
//!
//! Guarantees: label values are configured tenant ids, fixed route names and stable error codes
//! only (never text from a request), so the number of series is bounded by the configuration;
//! label values are escaped as the format requires all the same.
//!
//! Trusts: nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, seconds.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Per bucket (not cumulative), plus +Inf last.
    counts: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Default)]
struct Tables {
    /// (tenant, route, outcome) -> requests.
    requests: BTreeMap<(String, &'static str, &'static str), u64>,
    /// (tenant, route) -> latency to the response head.
    latency: BTreeMap<(String, &'static str), Histogram>,
    /// (tenant, kind) -> limit and quota hits.
    limit_hits: BTreeMap<(String, &'static str), u64>,
}

/// Request counters of the API.
#[derive(Default)]
pub struct Metrics {
    tables: Mutex<Tables>,
}

/// The outcome codes that are a limit or a quota hit, and the kind each is counted as.
fn limit_kind(outcome: &str) -> Option<&'static str> {
    Some(match outcome {
        "cpu_limit" => "cpu",
        "memory_limit" => "memory",
        "wall_limit" => "wall",
        "output_too_large" => "output",
        "result_too_large" => "result",
        "too_large" => "body_size",
        "rate_limited" => "rate",
        "too_many_concurrent_requests" => "concurrency",
        "worker_quota_exceeded" => "worker_quota",
        _ => return None,
    })
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One request answered: its tenant (`-` when none), route, outcome (`ok` or the error's
    /// stable code) and the time to its response head.
    pub fn request(
        &self,
        tenant: &str,
        route: &'static str,
        outcome: &'static str,
        took: Duration,
    ) {
        let mut t = self.lock();
        *t.requests
            .entry((tenant.to_string(), route, outcome))
            .or_default() += 1;
        t.latency
            .entry((tenant.to_string(), route))
            .or_default()
            .observe(took.as_secs_f64());
        if let Some(kind) = limit_kind(outcome) {
            *t.limit_hits.entry((tenant.to_string(), kind)).or_default() += 1;
        }
    }

    /// Renders the request series.
    pub fn render(&self, out: &mut String) {
        let t = self.lock();
        header(
            out,
            "stockade_requests_total",
            "counter",
            "API requests answered, by tenant, route and outcome (ok or the error code).",
        );
        for ((tenant, route, outcome), n) in &t.requests {
            let labels = [
                ("tenant", tenant.as_str()),
                ("route", route),
                ("outcome", outcome),
            ];
            sample(out, "stockade_requests_total", &labels, *n as f64);
        }
        header(
            out,
            "stockade_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its response head, by tenant and route.",
        );
        for ((tenant, route), h) in &t.latency {
            let mut cumulative = 0;
            for (i, bound) in LATENCY_BUCKETS
                .iter()
                .map(|b| b.to_string())
                .chain(["+Inf".to_string()])
                .enumerate()
            {
                cumulative += h.counts[i];
                let labels = [
                    ("tenant", tenant.as_str()),
                    ("route", route),
                    ("le", bound.as_str()),
                ];
                sample(
                    out,
                    "stockade_request_duration_seconds_bucket",
                    &labels,
                    cumulative as f64,
                );
            }
            let labels = [("tenant", tenant.as_str()), ("route", route)];
            sample(out, "stockade_request_duration_seconds_sum", &labels, h.sum);
            sample(
                out,
                "stockade_request_duration_seconds_count",
                &labels,
                h.count as f64,
            );
        }
        header(
            out,
            "stockade_limit_hits_total",
            "counter",
            "Requests refused or ended by a limit or quota, by tenant and kind.",
        );
        for ((tenant, kind), n) in &t.limit_hits {
            sample(
                out,
                "stockade_limit_hits_total",
                &[("tenant", tenant.as_str()), ("kind", kind)],
                *n as f64,
            );
        }
    }
}

/// How this daemon follows the secrets other daemons sharing its PostgreSQL store change
/// (`serve::follow_stored_secrets`, every `[store] secrets_poll_ms`): rendered only once it
/// follows them (never with SQLite, which no other daemon shares).
#[derive(Default)]
pub struct SecretsFollow {
    following: AtomicBool,
    /// The stored secrets' change counter as last read.
    generation: AtomicI64,
    /// Reloads of the stored set because the counter moved.
    reloads: AtomicU64,
    /// Polls that could not read the counter or reload the set (the set in force stayed).
    failures: AtomicU64,
}

impl SecretsFollow {
    /// Following starts, with the set in force read at `generation`.
    pub fn start(&self, generation: i64) {
        self.generation.store(generation, Ordering::Relaxed);
        self.following.store(true, Ordering::Relaxed);
    }

    /// A poll read the counter at `generation`; `reloaded`: it had moved and the set was
    /// reloaded.
    pub fn polled(&self, generation: i64, reloaded: bool) {
        self.generation.store(generation, Ordering::Relaxed);
        if reloaded {
            self.reloads.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A poll failed.
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Renders the series, if this daemon follows the stored secrets.
    pub fn render(&self, out: &mut String) {
        if !self.following.load(Ordering::Relaxed) {
            return;
        }
        for (name, kind, help, value) in [
            (
                "stockade_secrets_reloads_total",
                "counter",
                "Reloads of the stored secrets because a daemon sharing the store changed them.",
                self.reloads.load(Ordering::Relaxed) as f64,
            ),
            (
                "stockade_secrets_poll_failures_total",
                "counter",
                "Polls of the stored secrets' change counter that failed (the secrets in force stay).",
                self.failures.load(Ordering::Relaxed) as f64,
            ),
            (
                "stockade_secrets_generation",
                "gauge",
                "The stored secrets' change counter as this daemon last read it.",
                self.generation.load(Ordering::Relaxed) as f64,
            ),
        ] {
            header(out, name, kind, help);
            sample(out, name, &[], value);
        }
    }
}

/// Writes `# HELP` and `# TYPE` lines.
pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_render_as_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.request("acme", "run", "ok", Duration::from_millis(3));
        m.request("acme", "run", "cpu_limit", Duration::from_millis(60));
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains(
                "stockade_requests_total{tenant=\"acme\",route=\"run\",outcome=\"ok\"} 1\n"
            ),
            "{out}"
        );
        assert!(out.contains("stockade_request_duration_seconds_bucket{tenant=\"acme\",route=\"run\",le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("stockade_request_duration_seconds_bucket{tenant=\"acme\",route=\"run\",le=\"0.1\"} 2\n"), "{out}");
        assert!(out.contains("stockade_request_duration_seconds_bucket{tenant=\"acme\",route=\"run\",le=\"+Inf\"} 2\n"), "{out}");
        assert!(
            out.contains(
                "stockade_request_duration_seconds_count{tenant=\"acme\",route=\"run\"} 2\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("stockade_limit_hits_total{tenant=\"acme\",kind=\"cpu\"} 1\n"),
            "{out}"
        );
        let mut escaped = String::new();
        sample(&mut escaped, "x", &[("l", "a\"b\\c\nd")], 1.0);
        assert_eq!(escaped, "x{l=\"a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn following_the_stored_secrets_renders_once_it_starts() {
        let follow = SecretsFollow::default();
        let rendered = |f: &SecretsFollow| {
            let mut out = String::new();
            f.render(&mut out);
            out
        };
        assert_eq!(rendered(&follow), "", "nothing to follow (SQLite)");
        follow.start(3);
        follow.polled(3, false);
        follow.polled(5, true);
        follow.failed();
        let out = rendered(&follow);
        assert!(
            out.contains("# TYPE stockade_secrets_reloads_total counter\n"),
            "{out}"
        );
        assert!(
            out.contains("\nstockade_secrets_reloads_total 1\n"),
            "{out}"
        );
        assert!(
            out.contains("\nstockade_secrets_poll_failures_total 1\n"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE stockade_secrets_generation gauge\n"),
            "{out}"
        );
        assert!(out.contains("\nstockade_secrets_generation 5\n"), "{out}");
    }
}
