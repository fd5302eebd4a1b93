//! `stockade serve` configuration: TOML, every field optional, embedded defaults, so the daemon
//! runs with no file at all on 127.0.0.1.
//!
//! With no tenants configured there is one tenant, `default`, whose bearer token (also the
//! operator's) is `$STOCKADE_TOKEN` when set, else generated and printed once at start.
//!
//! Each tenant's `trust` (and optional account facts) feed its risk score, which decides the
//! tier of worker processes it runs in (see `stockade_cordon` and `[cordon]` below).

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// Warm spares: worker processes kept started, jailed and ready but not yet given to a
    /// tier, so a placement that opens a process does not wait for a start. Processes beyond
    /// these are started on demand, one tier each (see `supervisor`).
    pub workers: usize,
    /// Close the jail around worker processes (only `false` for debugging).
    pub jail: bool,
    /// The operator's bearer token (admin endpoints). Defaults to the default tenant's token.
    pub operator_token: Option<String>,
    /// Limits applied to every worker and snippet unless a request asks for less.
    pub limits: LimitsConfig,
    /// Risk-based placement of tenants into worker processes.
    pub cordon: CordonSettings,
    pub tenants: Vec<TenantConfig>,
}

/// `[cordon]`: how many isolates a process of each shared tier holds, the tighter limits of
/// quarantine processes, and how often scores are re-evaluated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CordonSettings {
    /// Tenants per process in the `trusted` tier.
    pub trusted_capacity: u32,
    /// Tenants per process in the `standard` tier.
    pub standard_capacity: u32,
    /// Tenants per process in the `untrusted` tier.
    pub untrusted_capacity: u32,
    /// Bundles larger than this many bytes carry the `large_bundle` signal.
    pub large_bundle_bytes: u64,
    /// CPU limit (ms) of every request in a quarantine process (a request may ask for less).
    pub quarantine_cpu_ms: u32,
    /// Wall-clock limit (ms) in a quarantine process.
    pub quarantine_wall_ms: u32,
    /// Memory limit (MiB) in a quarantine process.
    pub quarantine_memory_mb: u32,
    /// Every this many milliseconds every tenant is re-scored, so decayed history moves a tenant
    /// out of a tier without waiting for its next request.
    pub reevaluate_ms: u64,
}

impl Default for CordonSettings {
    fn default() -> Self {
        let capacity = stockade_cordon::TierCapacity::default();
        CordonSettings {
            trusted_capacity: capacity.trusted,
            standard_capacity: capacity.standard,
            untrusted_capacity: capacity.untrusted,
            large_bundle_bytes: stockade_cordon::signals::DEFAULT_LARGE_BUNDLE_BYTES,
            quarantine_cpu_ms: 25,
            quarantine_wall_ms: 5_000,
            quarantine_memory_mb: 64,
            reevaluate_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub cpu_ms: u32,
    pub wall_ms: u32,
    pub memory_mb: u32,
    /// Largest request body of `POST /v1/workers` (the code), bytes.
    pub max_code_bytes: usize,
    /// Largest `env` of a worker, bytes.
    pub max_env_bytes: usize,
    /// Largest request body forwarded to a worker's fetch handler, bytes.
    pub max_fetch_body_bytes: usize,
    /// Largest `POST /v1/run` body, bytes.
    pub max_run_bytes: usize,
}

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

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            cpu_ms: 50,
            wall_ms: 30_000,
            memory_mb: 128,
            max_code_bytes: 64 << 20,
            max_env_bytes: 1 << 20,
            max_fetch_body_bytes: 16 << 20,
            max_run_bytes: 1 << 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            workers: 2,
            jail: true,
            operator_token: None,
            limits: LimitsConfig::default(),
            cordon: CordonSettings::default(),
            tenants: Vec::new(),
        }
    }
}

impl Config {
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let mut config = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                toml::from_str::<Config>(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => Config::default(),
        };
        if config.tenants.is_empty() {
            let (token, generated) = match std::env::var("STOCKADE_TOKEN") {
                Ok(t) if !t.is_empty() => (t, false),
                _ => (generate_token()?, true),
            };
            if generated {
                eprintln!("stockade: no tenants configured; tenant `default` and the operator use token {token}");
            }
            config.tenants.push(TenantConfig {
                id: "default".into(),
                token,
                trust: default_trust(),
                verified: false,
                account_age_days: 0,
            });
        }
        if config.operator_token.is_none() {
            config.operator_token = config.tenants.first().map(|t| t.token.clone());
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
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
            if t.token.len() < 16 {
                return Err(format!(
                    "tenant {}: token must be at least 16 characters",
                    t.id
                ));
            }
            if !["trusted", "normal", "low"].contains(&t.trust.as_str()) {
                return Err(format!(
                    "tenant {}: trust must be trusted, normal or low",
                    t.id
                ));
            }
            if !seen_ids.insert(&t.id) || !seen_tokens.insert(&t.token) {
                return Err(format!("tenant {}: duplicate id or token", t.id));
            }
        }
        if self.workers == 0 || self.workers > 256 {
            return Err("workers must be 1 to 256".into());
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
        if c.quarantine_cpu_ms == 0 || c.quarantine_wall_ms == 0 || c.quarantine_memory_mb == 0 {
            return Err("cordon quarantine limits must be at least 1".into());
        }
        if c.reevaluate_ms < 100 {
            return Err("cordon.reevaluate_ms must be at least 100".into());
        }
        Ok(())
    }
}

fn generate_token() -> Result<String, String> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("cannot generate a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
