//! `[durable_objects]`: how long an idle Durable Object stays live, how many may be, and the
//! caps on their storage. Checked at load (`Config::validate`).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    /// An object with no call in flight for this long is evicted (its isolate disposed: its
    /// memory is gone, its storage stays), milliseconds (default 30000, 100 to 3600000).
    pub idle_ms: u64,
    /// Objects one tenant may have live at once (default 100, 1 to 100000): a call for another
    /// fails at once with a `QuotaExceededError` until one is evicted. Each live object is an
    /// isolate of its own in the tenant's worker process.
    pub max_live_per_tenant: usize,
    /// Objects live at once in the daemon, all tenants (default 1000, 1 to 1000000).
    pub max_live: usize,
    /// Size cap of one object's storage (its SQLite file), bytes (default 100 MiB, 1 MiB to
    /// 10 GiB). Files live under `data_dir/do/<tenant>/<worker>/<class>/<id>.sqlite3`.
    pub max_bytes: u64,
    /// Quota of one tenant's objects' storage together, bytes (default 1 GiB, 1 MiB to 1 TiB).
    pub tenant_max_bytes: u64,
    /// Time budget of one storage operation (a `sql.exec`, a `put`...), milliseconds (default
    /// 30000, 10 to 300000).
    pub query_ms: u64,
    /// The first wait before an alarm whose `alarm()` threw runs again, milliseconds (default
    /// 2000, as Cloudflare's, 10 to 60000); each retry waits twice the last, up to 6 retries.
    pub alarm_retry_ms: u64,
}

impl Default for ObjectsConfig {
    fn default() -> Self {
        ObjectsConfig {
            idle_ms: 30_000,
            max_live_per_tenant: 100,
            max_live: 1000,
            max_bytes: 100 << 20,
            tenant_max_bytes: 1 << 30,
            query_ms: 30_000,
            alarm_retry_ms: 2_000,
        }
    }
}

impl ObjectsConfig {
    /// Why the settings cannot be used, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        let checks: [(bool, &str); 7] = [
            (
                (100..=3_600_000).contains(&self.idle_ms),
                "durable_objects.idle_ms must be 100 to 3600000",
            ),
            (
                (1..=100_000).contains(&self.max_live_per_tenant),
                "durable_objects.max_live_per_tenant must be 1 to 100000",
            ),
            (
                (1..=1_000_000).contains(&self.max_live),
                "durable_objects.max_live must be 1 to 1000000",
            ),
            (
                super::D1_MAX_BYTES.contains(&self.max_bytes),
                "durable_objects.max_bytes must be 1 MiB to 10 GiB",
            ),
            (
                super::D1_TENANT_MAX_BYTES.contains(&self.tenant_max_bytes),
                "durable_objects.tenant_max_bytes must be 1 MiB to 1 TiB",
            ),
            (
                super::D1_QUERY_MS.contains(&self.query_ms),
                "durable_objects.query_ms must be 10 to 300000",
            ),
            (
                (10..=60_000).contains(&self.alarm_retry_ms),
                "durable_objects.alarm_retry_ms must be 10 to 60000",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err((*why).to_owned()),
            None => Ok(()),
        }
    }

    /// The settings resolved against `data_dir`.
    pub fn settings(&self, data_dir: &std::path::Path) -> crate::objects::ObjectsSettings {
        crate::objects::ObjectsSettings {
            db: crate::objects::db::DbSettings {
                dir: data_dir.join("do"),
                max_bytes: self.max_bytes,
                tenant_max_bytes: self.tenant_max_bytes,
                query_ms: self.query_ms,
            },
            idle: std::time::Duration::from_millis(self.idle_ms),
            max_live_per_tenant: self.max_live_per_tenant,
            max_live: self.max_live,
            alarm_retry: std::time::Duration::from_millis(self.alarm_retry_ms),
        }
    }
}
