//! `[http]`: the HTTP server's own limits, which hold before any token is checked, and the log
//! format.
//!
//! ```toml
//! [http]
//! header_read_timeout_ms = 10000   # a request's head must arrive within this
//! idle_timeout_ms = 60000          # nothing read or written for this long: closed (at least wall_ms + 5 s)
//! max_connections = 4096           # open connections at most (capped by the file limit)
//! ```

use serde::Deserialize;

/// `[http]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// A request's head (request line and headers) must arrive whole within this many
    /// milliseconds of the connection's start, or of the previous response on a keep-alive
    /// connection; else the connection is closed.
    pub header_read_timeout_ms: u64,
    /// A connection on which nothing is read or written for this many milliseconds is closed;
    /// at start it is raised to the wall-clock limit (`[limits] wall_ms`) plus 5 s if lower, as
    /// a request may be silent for its whole wall limit.
    pub idle_timeout_ms: u64,
    /// Connections open at once, at most; more wait in the listen backlog. The daemon also keeps
    /// this below its file-descriptor limit, less what the workers need.
    pub max_connections: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 4096,
        }
    }
}

impl HttpSettings {
    /// The idle timeout in force with a wall-clock limit of `wall_ms` (see `idle_timeout_ms`).
    pub fn idle_timeout_ms(&self, wall_ms: u32) -> u64 {
        self.idle_timeout_ms
            .max(u64::from(wall_ms).saturating_add(5_000))
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(100..=600_000).contains(&self.header_read_timeout_ms)
            || !(100..=3_600_000).contains(&self.idle_timeout_ms)
        {
            return Err(
                "http.header_read_timeout_ms must be 100 to 600000 and http.idle_timeout_ms \
                 100 to 3600000"
                    .into(),
            );
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err("http.max_connections must be 1 to 1000000".into());
        }
        Ok(())
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}
