//! `stockade serve` configuration: TOML, every field optional, embedded defaults, so the daemon
//! runs with no file at all on 127.0.0.1.
//!
//! With no tenants configured there is one tenant, `default`, whose bearer token (also the
//! operator's) is `$STOCKADE_TOKEN` when set, else generated and printed once at start. With
//! tenants configured, the operator is `operator_token` or the tenants marked `operator = true`;
//! a configuration naming neither is refused (no tenant becomes operator by accident).
//!
//! Each tenant's `trust` (and optional account facts) feed its risk score, which decides the
//! tier of worker processes it runs in (see `stockade_cordon` and `[cordon]` below).
//!
//! Outbound network (tenant code's `fetch()`, through the supervisor's gateway in `egress`) is
//! deny by default: a tenant reaches only what its `[[tenants.egress]]` allow rules name (the
//! first matching rule wins; no rule, no network), never a loopback, private, link-local or
//! metadata address unless the operator's `[egress] allow_private` covers it. A rule may inject
//! headers whose values come from the tenant's `[tenants.secrets]`; tenant code never sees those
//! values. For example:
//!
//! ```toml
//! [egress]
//! allow_private = ["127.0.0.0/8"]   # operator only (default: none)
//! [[tenants]]
//! id = "acme"
//! token = "..."
//! [tenants.secrets]
//! api_key = "s3cr3t-value"
//! [[tenants.egress]]
//! host = "api.example.com"          # exact, an IP literal, or "*.example.com"
//! ports = [443]                     # optional: any port when absent
//! methods = ["GET", "POST"]         # optional: any method when absent
//! path_prefix = "/v1/"              # optional: any path when absent
//! inject_headers = { "X-Api-Key" = "api_key" }   # header name -> secret name
//! ```

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

mod cordon;
mod egress;
mod http;
mod limits;
mod listen;
mod objects;
mod quotas;
pub use cordon::CordonSettings;
pub use egress::{BadPrivateNet, EgressRuleConfig, EgressSettings, SecretValue};
pub use http::{HttpSettings, LogFormat};
pub use limits::{LimitsConfig, MemoryEnforcement};
pub use listen::ListenAddr;
pub use objects::ObjectsConfig;
pub use quotas::{QuotaOverrides, Quotas};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the HTTP API listens: `ip:port`, or `unix:/absolute/path` (a Unix stream socket).
    pub listen: ListenAddr,
    /// Warm spares: worker processes kept started, jailed and ready but not yet given to a
    /// tier, so a placement that opens a process (a tier growing to its `[cordon]`
    /// `*_min_processes`, or a full tier) takes one instead of waiting for a start; the spare is
    /// then replaced. Processes beyond these are started on demand, one tier each (see
    /// `supervisor`).
    pub workers: usize,
    /// Requests one worker process is given at once, at most (default 256, 1 to 65536). The
    /// supervisor multiplexes them over the process's socket; more wait in the supervisor, and
    /// are placed elsewhere if the process dies. A request whose client went away is cancelled
    /// but keeps its place until the worker answers it. When a process dies, every request it
    /// had fails with it (a `502`), and with requests of several tenants in flight the death is
    /// blamed on none of them; 1 gives each request a process to itself, for exact blame, at the
    /// cost of concurrency.
    pub max_in_flight_per_worker: usize,
    /// Isolate threads in each worker process (default 0: one per CPU the process may use, at
    /// most 16). Each thread runs an event loop over its isolates; a request waiting on a timer
    /// or a host call holds no thread. A tenant lives in one process per tier, so its concurrent
    /// requests use these threads to run in parallel. Where memory protection keys separate the
    /// isolates, a worker runs one isolate thread whatever this says (V8's page pool hands pages
    /// between isolates, which the key tagging can only follow on one thread).
    pub worker_threads: usize,
    /// Microseconds a worker's isolate thread looks for a host call's reply, or for a binding
    /// caller's next method call after answering one, before it sleeps (default 150, at most
    /// 1000; 0: it sleeps at once). On a virtual machine whose idle CPUs
    /// halt at once, a sleep costs a wake-up longer than the reply; the thread stops looking
    /// when its CPU is wanted by another thread. Bare metal or a host with halt polling may
    /// want 0.
    pub worker_reply_spin_us: u32,
    /// Microseconds a supervisor runtime thread keeps looking at the worker sockets before it
    /// sleeps, after a host call came in or was answered (default 150, at most 1000; 0: it
    /// sleeps at once). The same trade as `worker_reply_spin_us`, for the supervisor's side of a
    /// host call: the answer a call waits for (another worker's, for a binding) and the next
    /// call of a caller making them in sequence are caught without a wake-up. Only around host
    /// calls: a daemon serving plain requests never looks.
    pub supervisor_spin_us: u32,
    /// Isolates a worker process creates between renewals of V8's shared heap (default 20,000,
    /// 50 to 1,000,000). V8 13.6 as Debian builds it grows a process by about 450 bytes for
    /// every isolate until the heap is renewed, which needs a moment when no isolate lives; a
    /// process that cannot renew for twice this many (a Loader worker's isolate always lives
    /// there), or for 1,000 more without a Loader worker (it never pauses: some request is
    /// always in flight), is replaced once its work is done (its Loader workers are loaded
    /// afresh in the replacement). Lower: a smaller sawtooth of memory, more renewals and
    /// replacements.
    pub worker_renew_after: u64,
    /// Threads of the supervisor's async runtime (HTTP, IPC, storage, egress; default 2). The
    /// supervisor's work on a request is a chain of short tasks handing off to each other: on a
    /// small machine one thread saves the cross-thread wake-ups, on a large one more threads
    /// serve more connections.
    pub supervisor_threads: usize,
    /// Close the jail around worker processes (only `false` for debugging).
    pub jail: bool,
    /// The operator's bearer token (admin endpoints, `/metrics`, risk overrides). Without it,
    /// the tenants marked `operator = true` are the operator; with neither (and tenants
    /// configured) the daemon refuses to start. With no tenants configured, the embedded
    /// `default` tenant is the operator. It may not be a tenant's token too (that would make the
    /// tenant operator without saying so: mark it `operator = true` instead).
    pub operator_token: Option<String>,
    /// The time zone tenant code sees (`new Date().getHours()`, `Intl`), as an IANA name or a
    /// POSIX `TZ` string; `UTC` by default, whatever the host's zone.
    pub timezone: String,
    /// Limits applied to every worker and snippet unless a request asks for less.
    pub limits: LimitsConfig,
    /// Risk-based placement of tenants into worker processes.
    pub cordon: CordonSettings,
    /// The outbound gateway's operator settings.
    pub egress: EgressSettings,
    /// Per-tenant quotas across requests (each tenant may override them).
    pub quotas: Quotas,
    /// The HTTP server's own limits: timeouts and open connections.
    pub http: HttpSettings,
    /// Log lines as text (default) or JSON objects (`"json"`; also `STOCKADE_LOG_FORMAT=json`).
    pub log_format: LogFormat,
    /// Serve `GET /metrics` without authentication on this address too (e.g. a port only the
    /// monitoring network reaches, or `unix:/path`); on `listen` it always needs the operator
    /// token.
    pub metrics_listen: Option<ListenAddr>,
    /// Where the embedded store (SQLite) and the generated secret key live (default
    /// `./stockade-data`, created 0700).
    pub data_dir: std::path::PathBuf,
    /// The durable store: worker definitions, secrets set through the API, key-value data and
    /// workspaces.
    pub store: StoreConfig,
    /// Durable Objects: idle eviction, live caps, storage caps (`[durable_objects]`).
    pub durable_objects: ObjectsConfig,
    pub tenants: Vec<TenantConfig>,
}

/// `[store]`: where durable state lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite:///path/to/file.db` or `postgres://user:password@host/database` (no TLS: a
    /// database on this host or a network the operator trusts). Default: SQLite in `data_dir`.
    pub url: Option<String>,
    /// The 32-byte key (raw, or 64 hex digits) sealing secrets at rest. Default:
    /// `data_dir/secret.key`, generated (mode 0600) on first start. Daemons sharing a
    /// PostgreSQL store must share this key.
    pub secret_key_file: Option<std::path::PathBuf>,
    /// Quota of one workspace: bytes of file contents (default 1 GiB).
    pub workspace_max_bytes: u64,
    /// Quota of one workspace: files and directories (default 100000).
    pub workspace_max_files: u64,
    /// Size cap of one D1 database (`{"binding": "d1"}`), bytes (default 100 MiB, 1 MiB to
    /// 10 GiB): SQLite's `max_page_count`, set by the supervisor; a write past it fails with
    /// `D1_ERROR: database or disk is full`. D1 databases are SQLite files under
    /// `data_dir/d1/<tenant>/` whatever `url` says (with PostgreSQL too).
    pub d1_max_bytes: u64,
    /// Quota of one tenant's D1 databases together, bytes (default 256 MiB, 1 MiB to 1 TiB):
    /// the files of all its databases, WAL included, counted before each call, whose database
    /// may then grow only into what is left (`D1_ERROR: database or disk is full: this
    /// tenant's D1 databases ... d1_tenant_max_bytes`); no new database when it is used up.
    /// A tenant's temporary files (sorts, temporary tables) are capped at `d1_max_bytes`.
    pub d1_tenant_max_bytes: u64,
    /// Time budget of one D1 call (a statement, a batch, an `exec`), milliseconds (default
    /// 30000, as on Cloudflare; 10 to 300000): a query still running past it is interrupted.
    pub d1_query_ms: u64,
    /// Size cap of one R2 object (`{"binding": "r2"}`), bytes (default 100 MiB, 1 byte to
    /// 5 GiB): a `put` past it fails and leaves nothing. R2 buckets are files under
    /// `data_dir/r2/<tenant>/` whatever `url` says (with PostgreSQL too).
    pub r2_max_object_bytes: u64,
    /// Quota of one tenant's R2 objects together, bytes (default 1 GiB, 1 byte to 1 PiB): the
    /// stored objects plus the uploads under way; a `put` past it fails and leaves nothing.
    pub r2_tenant_max_bytes: u64,
    /// How long an R2 multipart upload may stay neither completed nor aborted, seconds (default
    /// 604800, 7 days, as on R2; 1 to 31536000): then it and its parts are removed (checked
    /// every quarter of it, at most every 10 minutes, and when the daemon starts).
    pub r2_multipart_expiry_secs: u64,
    /// With a PostgreSQL store, how often each daemon checks whether any daemon sharing it set
    /// or deleted a secret through the API (one read of a change counter), reloading the stored
    /// secrets when one did: the longest such a change takes to reach this daemon's egress, plus
    /// the reload. Milliseconds, 100 to 600000 (default 2000). Unused with SQLite.
    pub secrets_poll_ms: u64,
}

/// The range of `[store] secrets_poll_ms`.
pub const SECRETS_POLL_MS: std::ops::RangeInclusive<u64> = 100..=600_000;

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            secret_key_file: None,
            workspace_max_bytes: 1 << 30,
            workspace_max_files: 100_000,
            d1_max_bytes: 100 << 20,
            d1_tenant_max_bytes: 256 << 20,
            d1_query_ms: 30_000,
            r2_max_object_bytes: 100 << 20,
            r2_tenant_max_bytes: 1 << 30,
            r2_multipart_expiry_secs: 7 * 24 * 3600,
            secrets_poll_ms: 2_000,
        }
    }
}

impl Config {
    /// `[store]` resolved against `data_dir`.
    pub fn store_settings(&self) -> crate::store::StoreSettings {
        let url =
            self.store.url.clone().unwrap_or_else(|| {
                format!("sqlite://{}", self.data_dir.join("stockade.db").display())
            });
        let (key_file, generate_key) = match &self.store.secret_key_file {
            Some(file) => (file.clone(), false),
            None => (self.data_dir.join("secret.key"), true),
        };
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        crate::store::StoreSettings {
            url,
            key_file,
            generate_key,
            quotas: crate::store::Quotas {
                bytes: clamp(self.store.workspace_max_bytes),
                files: clamp(self.store.workspace_max_files),
            },
        }
    }
}

impl Config {
    /// Where and how D1 databases are kept (`[store] d1_*`, under `data_dir`).
    pub fn d1_settings(&self) -> crate::storage::d1::D1Settings {
        crate::storage::d1::D1Settings {
            dir: self.data_dir.join("d1"),
            max_bytes: self.store.d1_max_bytes,
            tenant_max_bytes: self.store.d1_tenant_max_bytes,
            query_ms: self.store.d1_query_ms,
        }
    }
}

impl Config {
    /// Where and how R2 buckets are kept (`[store] r2_*`, under `data_dir`).
    pub fn r2_settings(&self) -> crate::storage::r2::R2Settings {
        crate::storage::r2::R2Settings {
            dir: self.data_dir.join("r2"),
            max_object_bytes: self.store.r2_max_object_bytes,
            tenant_max_bytes: self.store.r2_tenant_max_bytes,
            multipart_expiry: std::time::Duration::from_secs(self.store.r2_multipart_expiry_secs),
        }
    }
}

/// The range of `[store] r2_max_object_bytes`.
pub const R2_MAX_OBJECT_BYTES: std::ops::RangeInclusive<u64> = 1..=(5 << 30);

/// The range of `[store] r2_tenant_max_bytes`.
pub const R2_TENANT_MAX_BYTES: std::ops::RangeInclusive<u64> = 1..=(1 << 50);

/// The range of `[store] r2_multipart_expiry_secs`.
pub const R2_MULTIPART_EXPIRY_SECS: std::ops::RangeInclusive<u64> = 1..=31_536_000;

/// The range of `[store] d1_max_bytes`.
pub const D1_MAX_BYTES: std::ops::RangeInclusive<u64> = (1 << 20)..=(10 << 30);

/// The range of `[store] d1_tenant_max_bytes`.
pub const D1_TENANT_MAX_BYTES: std::ops::RangeInclusive<u64> = (1 << 20)..=(1 << 40);

/// The range of `[store] d1_query_ms`.
pub const D1_QUERY_MS: std::ops::RangeInclusive<u64> = 10..=300_000;

/// The largest `max_in_flight_per_worker` accepted.
const MAX_IN_FLIGHT_PER_WORKER: usize = 65_536;

/// The largest `*_min_processes` accepted (and the default's cap on a machine with more cores).
const MAX_MIN_PROCESSES: u32 = 256;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    pub token: String,
    /// `trusted`, `normal` or `low`: the operator's trust in this account.
    #[serde(default = "default_trust")]
    pub trust: String,
    /// The account is verified (payment, identity, ...): lowers the risk score.
    #[serde(default)]
    pub verified: bool,
    /// Account age in days; younger than 30 days raises the risk score. Unknown counts as new.
    #[serde(default)]
    pub account_age_days: u32,
    /// Secrets by name, for the egress rules' `inject_headers` (more may be set at run time
    /// through the API, kept sealed in the store). Values are never shown by any API, log or
    /// error.
    #[serde(default)]
    pub secrets: std::collections::BTreeMap<String, SecretValue>,
    /// Outbound allow rules, in order: the first match wins; none, no network at all.
    #[serde(default)]
    pub egress: Vec<EgressRuleConfig>,
    /// This tenant's token is also the operator's (admin endpoints, overrides of any tenant).
    #[serde(default)]
    pub operator: bool,
    /// Overrides of `[quotas]` for this tenant.
    #[serde(default)]
    pub quotas: QuotaOverrides,
    /// Capabilities this tenant declares (`[[tenants.capabilities]]`: `name`, `kind` = `http`
    /// or `mcp`, `url`, and for `http` optionally `types`), which its workers' `env` may bind
    /// (`crate::capabilities`); more may be declared at run time through the API.
    #[serde(default)]
    pub capabilities: Vec<crate::capabilities::Declared>,
}

impl TenantConfig {
    /// The facts the cordon scores this tenant by (code features are added as code is loaded).
    pub fn profile(&self) -> stockade_cordon::TenantProfile {
        use stockade_cordon::TrustLevel;
        stockade_cordon::TenantProfile {
            trust: match self.trust.as_str() {
                "trusted" => TrustLevel::Trusted,
                "low" => TrustLevel::Low,
                _ => TrustLevel::Normal,
            },
            account_age_days: self.account_age_days,
            verified: self.verified,
            ..stockade_cordon::TenantProfile::default()
        }
    }
}

fn default_trust() -> String {
    "normal".into()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 8787))),
            workers: 2,
            max_in_flight_per_worker: 256,
            worker_threads: 0,
            worker_reply_spin_us: 150,
            supervisor_spin_us: 150,
            worker_renew_after: 20_000,
            supervisor_threads: 2,
            jail: true,
            operator_token: None,
            timezone: "UTC".into(),
            limits: LimitsConfig::default(),
            cordon: CordonSettings::default(),
            egress: EgressSettings::default(),
            quotas: Quotas::default(),
            http: HttpSettings::default(),
            log_format: LogFormat::default(),
            metrics_listen: None,
            data_dir: std::path::PathBuf::from("./stockade-data"),
            store: StoreConfig::default(),
            durable_objects: ObjectsConfig::default(),
            tenants: Vec::new(),
        }
    }
}

impl Config {
    /// The configuration in `path` (the embedded defaults when `None`), completed and checked.
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let mut config = match path {
            Some(p) => Config::parse(p)?,
            None => Config::default(),
        };
        if config.tenants.is_empty() {
            let token = match std::env::var("STOCKADE_TOKEN") {
                Ok(t) if !t.is_empty() => t,
                _ => generated_token()?,
            };
            config.tenants.push(TenantConfig {
                id: "default".into(),
                token,
                trust: default_trust(),
                verified: false,
                account_age_days: 0,
                secrets: Default::default(),
                egress: Vec::new(),
                operator: true,
                quotas: QuotaOverrides::default(),
                capabilities: Vec::new(),
            });
        }
        config.validate()?;
        Ok(config)
    }

    /// `path` parsed, without the embedded default tenant and without checks.
    fn parse(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::parse_text(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// `text` parsed; an error says where (line and column) and what, never quoting the text:
    /// any line may hold a token or a secret (`[tenants.secrets]`), and this error is printed by
    /// `check-config`, by `serve` at start and in the log by a refused reload.
    fn parse_text(text: &str) -> Result<Config, String> {
        toml::from_str::<Config>(text).map_err(|e| redacted_parse_error(text, &e))
    }

    /// `tenant`'s quotas: `[quotas]` with its own overrides.
    pub fn quotas_for(&self, tenant: &TenantConfig) -> Quotas {
        self.quotas.with(&tenant.quotas)
    }

    fn validate(&self) -> Result<(), String> {
        if self.operator_token.is_none() && !self.tenants.iter().any(|t| t.operator) {
            return Err(
                "no operator: set operator_token, or mark the operator's tenant \
                        `operator = true` (no tenant is made operator by default)"
                    .into(),
            );
        }
        if let Some(op) = &self.operator_token {
            check_token(op).map_err(|e| format!("operator_token {e}"))?;
            if let Some(t) = self.tenants.iter().find(|t| t.token == *op) {
                return Err(format!(
                    "operator_token is also the token of tenant {}, which would make that tenant \
                     the operator without saying so: give the operator a token of its own, or \
                     mark the tenant `operator = true` and drop operator_token",
                    t.id
                ));
            }
        }
        // Port 0 is the kernel's choice, a different port for each.
        let fixed = !matches!(&self.listen, ListenAddr::Tcp(a) if a.port() == 0);
        if fixed && self.metrics_listen.as_ref() == Some(&self.listen) {
            return Err(
                "metrics_listen must differ from listen (both would bind one address)".into(),
            );
        }
        self.quotas.validate("quotas")?;
        self.http.validate()?;
        self.limits.validate()?;
        if self.limits.max_binding_calls == 0 || !(1..=64).contains(&self.limits.max_binding_depth)
        {
            return Err(
                "limits.max_binding_calls must be at least 1 and limits.max_binding_depth 1-64"
                    .into(),
            );
        }
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_tokens = std::collections::HashSet::new();
        for t in &self.tenants {
            if t.id.is_empty()
                || t.id.len() > 64
                || !t
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(format!(
                    "tenant id {:?} must be 1-64 of [A-Za-z0-9_-]",
                    t.id
                ));
            }
            if t.id == "-" {
                // The metrics' and logs' word for "no tenant".
                return Err(
                    "tenant id \"-\" is reserved (it stands for no tenant in metrics and logs)"
                        .into(),
                );
            }
            check_token(&t.token).map_err(|e| format!("tenant {}: token {e}", t.id))?;
            if !["trusted", "normal", "low"].contains(&t.trust.as_str()) {
                return Err(format!(
                    "tenant {}: trust must be trusted, normal or low",
                    t.id
                ));
            }
            if !seen_ids.insert(&t.id) || !seen_tokens.insert(&t.token) {
                return Err(format!("tenant {}: duplicate id or token", t.id));
            }
            for (name, value) in &t.secrets {
                crate::egress::check_secret(name, &value.0)
                    .map_err(|e| format!("tenant {}: secret {name:?}: {e}", t.id))?;
            }
            for (i, rule) in t.egress.iter().enumerate() {
                crate::egress::check_rule(rule)
                    .map_err(|e| format!("tenant {}: egress rule {}: {e}", t.id, i + 1))?;
            }
            crate::capabilities::check_declared(&t.capabilities)
                .map_err(|e| format!("tenant {}: {e}", t.id))?;
            self.quotas_for(t)
                .validate(&format!("tenant {}: quotas", t.id))?;
        }
        if self.workers == 0 || self.workers > 256 {
            return Err("workers must be 1 to 256".into());
        }
        if !(1..=MAX_IN_FLIGHT_PER_WORKER).contains(&self.max_in_flight_per_worker) {
            return Err(format!(
                "max_in_flight_per_worker must be 1 to {MAX_IN_FLIGHT_PER_WORKER}"
            ));
        }
        if self.worker_threads > 16 {
            return Err("worker_threads must be 0 (one per CPU) to 16".into());
        }
        if self.worker_reply_spin_us > 1000 {
            return Err("worker_reply_spin_us must be 0 to 1000".into());
        }
        if self.supervisor_spin_us > 1000 {
            return Err("supervisor_spin_us must be 0 to 1000".into());
        }
        if !(50..=1_000_000).contains(&self.worker_renew_after) {
            return Err("worker_renew_after must be 50 to 1000000".into());
        }
        if !(1..=64).contains(&self.supervisor_threads) {
            return Err("supervisor_threads must be 1 to 64".into());
        }
        if self.timezone.is_empty()
            || self.timezone.len() > 64
            || !self
                .timezone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+-/:,.<>".contains(c))
            || self.timezone.contains("..")
        {
            return Err(format!(
                "timezone {:?} must be an IANA zone name such as UTC or Europe/Berlin",
                self.timezone
            ));
        }
        known_zone(&self.timezone, Path::new(ZONEINFO))?;
        if let Some(url) = &self.store.url {
            if !crate::store::URL_SCHEMES
                .iter()
                .any(|scheme| url.starts_with(scheme))
            {
                return Err("store.url must start with sqlite:// or postgres://".into());
            }
        }
        if !SECRETS_POLL_MS.contains(&self.store.secrets_poll_ms) {
            return Err(format!(
                "store.secrets_poll_ms must be {} to {}",
                SECRETS_POLL_MS.start(),
                SECRETS_POLL_MS.end()
            ));
        }
        if !D1_MAX_BYTES.contains(&self.store.d1_max_bytes) {
            return Err("store.d1_max_bytes must be 1 MiB (1048576) to 10 GiB".into());
        }
        if !D1_TENANT_MAX_BYTES.contains(&self.store.d1_tenant_max_bytes) {
            return Err("store.d1_tenant_max_bytes must be 1 MiB (1048576) to 1 TiB".into());
        }
        self.durable_objects.validate()?;
        if !D1_QUERY_MS.contains(&self.store.d1_query_ms) {
            return Err(format!(
                "store.d1_query_ms must be {} to {}",
                D1_QUERY_MS.start(),
                D1_QUERY_MS.end()
            ));
        }
        if !R2_MAX_OBJECT_BYTES.contains(&self.store.r2_max_object_bytes) {
            return Err("store.r2_max_object_bytes must be 1 to 5 GiB (5368709120)".into());
        }
        if !R2_TENANT_MAX_BYTES.contains(&self.store.r2_tenant_max_bytes) {
            return Err("store.r2_tenant_max_bytes must be 1 to 1 PiB".into());
        }
        if !R2_MULTIPART_EXPIRY_SECS.contains(&self.store.r2_multipart_expiry_secs) {
            return Err("store.r2_multipart_expiry_secs must be 1 to 31536000 (a year)".into());
        }
        let min_mb = crate::api::MIN_MEMORY_MB;
        if self.limits.memory_mb < min_mb || self.cordon.quarantine_memory_mb < min_mb {
            return Err(format!(
                "limits.memory_mb and cordon.quarantine_memory_mb must be at least {min_mb}"
            ));
        }
        if !(64..=1 << 20).contains(&self.limits.host_call_memory_mb)
            || !(64..=self.limits.host_call_memory_mb)
                .contains(&self.limits.host_call_memory_per_tenant_mb)
        {
            return Err("limits.host_call_memory_mb must be 64 to 1048576, and \
                        limits.host_call_memory_per_tenant_mb 64 to host_call_memory_mb"
                .into());
        }
        let process_mb = self.limits.worker_process_memory_mb;
        if process_mb != 0 && !(64..=1 << 30).contains(&process_mb) {
            return Err("limits.worker_process_memory_mb must be 0 (no cap) or at least 64".into());
        }
        let c = &self.cordon;
        if [
            c.trusted_capacity,
            c.standard_capacity,
            c.untrusted_capacity,
        ]
        .iter()
        .any(|&n| n == 0 || n > 4096)
        {
            return Err("cordon capacities must be 1 to 4096".into());
        }
        if [
            c.trusted_min_processes,
            c.standard_min_processes,
            c.untrusted_min_processes,
        ]
        .iter()
        .any(|&n| n == 0 || n > MAX_MIN_PROCESSES)
        {
            return Err(format!(
                "cordon min_processes must be 1 to {MAX_MIN_PROCESSES}"
            ));
        }
        if c.quarantine_cpu_ms == 0 || c.quarantine_wall_ms == 0 || c.quarantine_memory_mb == 0 {
            return Err("cordon quarantine limits must be at least 1".into());
        }
        if c.reevaluate_ms < 100 {
            return Err("cordon.reevaluate_ms must be at least 100".into());
        }
        self.egress
            .allow_private_nets()
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Why `token` could never authenticate a request, or is too easy to guess (the error says
/// what, never the token): at least 16 characters, printable ASCII (an HTTP header carries
/// nothing else), no space or tab at either end (a presented token is trimmed before it is
/// looked up, so such a token would never match).
fn check_token(token: &str) -> Result<(), String> {
    if token.len() < 16 {
        return Err("must be at least 16 characters".into());
    }
    if token.trim() != token {
        return Err("begins or ends with whitespace, so no request could present it".into());
    }
    if !token.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(
            "must be printable ASCII (an HTTP header carries nothing else), so no request \
             could present it"
                .into(),
        );
    }
    Ok(())
}

/// `error` (of parsing `text`) as `line L, column C: message`, without toml's excerpt of the
/// source and without a value serde's message would quote (`invalid type: string "..."`).
fn redacted_parse_error(text: &str, error: &toml::de::Error) -> String {
    // One line: toml's message may span several (`invalid string` / `expected ...`).
    let message = redacted_message(&error.message().trim().replace('\n', "; "));
    match error.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let before = text.get(..start).unwrap_or("");
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("TOML parse error at line {line}, column {column}: {message}")
        }
        None => format!("TOML parse error: {message}"),
    }
}

/// serde's `invalid type: <what> <value>, expected ...` and `invalid value: ...` quote the value
/// (`string "s3cret"`, ``integer `42` ``): keep what kind it was, drop the value.
fn redacted_message(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        let Some(rest) = message.strip_prefix(prefix) else {
            continue;
        };
        let (unexpected, expected) = match rest.rfind(", expected ") {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let kind = unexpected
            .split(['"', '`', '\''])
            .next()
            .unwrap_or("")
            .trim_end();
        return format!("{prefix}{kind}{expected}");
    }
    message.to_string()
}

/// The token of the default tenant when no tenants are configured and `STOCKADE_TOKEN` is unset:
/// generated and printed once per process, so a `SIGHUP` reload keeps it (a new one would lock
/// every client out).
fn generated_token() -> Result<String, String> {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(token) = TOKEN.get() {
        return Ok(token.clone());
    }
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("cannot generate a token: {e}"))?;
    let made = hex::encode(bytes);
    let token = TOKEN.get_or_init(|| made);
    if !QUIET_TOKEN.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "stockade: no tenants configured; tenant `default` and the operator use token {token}"
        );
    }
    Ok(token.clone())
}

/// Set by `check-config`, whose generated token nobody will use: it is not printed.
static QUIET_TOKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A generated token is not printed by this process (`check-config`).
pub fn keep_generated_token_quiet() {
    QUIET_TOKEN.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The host's time-zone database, the names tenant code may be given as its zone.
const ZONEINFO: &str = "/usr/share/zoneinfo";

/// `zone` names a zone of the host's database in `zoneinfo` (V8's ICU knows those; it ignores a
/// POSIX rule string and leaves a name it does not know undefined, which tenant code sees as
/// `resolvedOptions().timeZone === undefined`). UTC always; anything on a host without the
/// database (the name's shape is checked above).
fn known_zone(zone: &str, zoneinfo: &Path) -> Result<(), String> {
    if zone == "UTC" || !zoneinfo.is_dir() {
        return Ok(());
    }
    let alias_tree = zone.starts_with("posix/") || zone.starts_with("right/");
    // A name inside the database (not an absolute path, no `..`) of a compiled zone file: the
    // folder also holds tables (`zone.tab`), `localtime` and `posixrules`, which ICU does not
    // know as zones.
    let inside = !zone.starts_with('/') && !zone.split('/').any(|part| part == "..");
    let is_zone = || {
        let mut magic = [0u8; 4];
        std::fs::File::open(zoneinfo.join(zone))
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok_and(|()| &magic == b"TZif")
    };
    let not_a_name = matches!(zone, "localtime" | "posixrules" | "Factory");
    if alias_tree || !inside || not_a_name || !zoneinfo.join(zone).is_file() || !is_zone() {
        return Err(format!(
            "timezone {zone:?} is not a zone of {} (an IANA name such as Europe/Berlin; \
             POSIX rule strings are not supported)",
            zoneinfo.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
