//! Versioned schema migrations: each version is one SQL file per dialect, applied in order in
//! the transaction that opens the store, and recorded in `stockade_schema`.
//!
//! Guarantees: a store ends at [`LATEST`] or is left unchanged (one transaction); a version is
//! applied once; a store at a version newer than this daemon knows is refused (`TooNew`), never
//! written; PostgreSQL daemons starting together take an advisory lock, so one migrates and the
//! others see its result. Trusts: the SQL files of this folder (no tenant input).

use super::{Dialect, StoreError, Tx};

/// One schema version.
struct Migration {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: include_str!("0001_definitions.sqlite.sql"),
        postgres: include_str!("0001_definitions.postgres.sql"),
    },
    Migration {
        version: 2,
        sqlite: include_str!("0002_kv.sqlite.sql"),
        postgres: include_str!("0002_kv.postgres.sql"),
    },
    Migration {
        version: 3,
        sqlite: include_str!("0003_workspaces.sqlite.sql"),
        postgres: include_str!("0003_workspaces.postgres.sql"),
    },
    Migration {
        version: 4,
        sqlite: include_str!("0004_kv_expiry.sqlite.sql"),
        postgres: include_str!("0004_kv_expiry.postgres.sql"),
    },
    Migration {
        version: 5,
        sqlite: include_str!("0005_risk_history.sqlite.sql"),
        postgres: include_str!("0005_risk_history.postgres.sql"),
    },
    Migration {
        version: 6,
        sqlite: include_str!("0006_capabilities.sqlite.sql"),
        postgres: include_str!("0006_capabilities.postgres.sql"),
    },
    Migration {
        version: 7,
        sqlite: include_str!("0007_secrets_generation.sqlite.sql"),
        postgres: include_str!("0007_secrets_generation.postgres.sql"),
    },
    Migration {
        version: 8,
        sqlite: include_str!("0008_worker_crons.sqlite.sql"),
        postgres: include_str!("0008_worker_crons.postgres.sql"),
    },
    Migration {
        version: 9,
        sqlite: include_str!("0009_queues.sqlite.sql"),
        postgres: include_str!("0009_queues.postgres.sql"),
    },
    Migration {
        version: 10,
        sqlite: include_str!("0010_queue_holder.sqlite.sql"),
        postgres: include_str!("0010_queue_holder.postgres.sql"),
    },
    Migration {
        version: 11,
        sqlite: include_str!("0011_queue_pull_lease.sqlite.sql"),
        postgres: include_str!("0011_queue_pull_lease.postgres.sql"),
    },
    Migration {
        version: 12,
        sqlite: include_str!("0012_queue_pull_consumers.sqlite.sql"),
        postgres: include_str!("0012_queue_pull_consumers.postgres.sql"),
    },
    Migration {
        version: 13,
        sqlite: include_str!("0013_worker_names.sqlite.sql"),
        postgres: include_str!("0013_worker_names.postgres.sql"),
    },
    Migration {
        version: 14,
        sqlite: include_str!("0014_name_crons.sqlite.sql"),
        postgres: include_str!("0014_name_crons.postgres.sql"),
    },
    Migration {
        version: 15,
        sqlite: include_str!("0015_name_split.sqlite.sql"),
        postgres: include_str!("0015_name_split.postgres.sql"),
    },
];

/// The schema version this daemon writes.
pub const LATEST: i64 = 15;

/// An arbitrary constant naming the migration lock among PostgreSQL's advisory locks.
const PG_LOCK: i64 = 0x5354_4f43_4b41;

/// The store's schema version (0 when empty).
pub fn version(tx: &mut dyn Tx) -> Result<i64, StoreError> {
    tx.exec(
        "CREATE TABLE IF NOT EXISTS stockade_schema (version BIGINT NOT NULL)",
        &[],
    )?;
    let rows = tx.query("SELECT version FROM stockade_schema", &[])?;
    rows.iter().try_fold(0, |max, row| Ok(max.max(row.int(0)?)))
}

/// Brings the store to [`LATEST`].
pub fn migrate(tx: &mut dyn Tx) -> Result<(), StoreError> {
    migrate_to(tx, LATEST)
}

/// Brings the store to `target` (tests stop earlier to check upgrades).
pub fn migrate_to(tx: &mut dyn Tx, target: i64) -> Result<(), StoreError> {
    if tx.dialect() == Dialect::Postgres {
        tx.exec("SELECT pg_advisory_xact_lock(?1)", &[PG_LOCK.into()])?;
    }
    let found = version(tx)?;
    if found > LATEST {
        return Err(StoreError::TooNew {
            found,
            known: LATEST,
        });
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > found && m.version <= target)
    {
        let sql = match tx.dialect() {
            Dialect::Sqlite => m.sqlite,
            Dialect::Postgres => m.postgres,
        };
        for statement in statements(sql) {
            tx.exec(&statement, &[])?;
        }
        tx.exec("DELETE FROM stockade_schema", &[])?;
        tx.exec(
            "INSERT INTO stockade_schema (version) VALUES (?1)",
            &[m.version.into()],
        )?;
    }
    Ok(())
}

/// The statements of a migration file: `--` comments dropped, split at `;`.
fn statements(sql: &str) -> Vec<String> {
    let text: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_and_end_at_latest() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert_eq!(
                statements(m.sqlite).len(),
                statements(m.postgres).len(),
                "version {} has as many statements in both dialects",
                m.version
            );
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(LATEST));
    }
}
