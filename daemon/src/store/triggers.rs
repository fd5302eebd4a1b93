//! Cron triggers at rest: which stored worker has which `triggers.crons` (`worker_crons`, kept
//! with the definition by `workers::put` and `workers::delete`), and the claims daemons sharing a
//! store take on each run (`scheduled_claims`).
//!
//! Guarantees: a definition's triggers are listed exactly while the definition is stored (they
//! are written with it, replaced by [`replace`] in one transaction that first finds it stored,
//! and deleted in its transactions); a run `(tenant, worker, cron, time)` is claimed by one caller
//! only, however many daemons ask. Trusts: the rows (written by this module) and its callers'
//! checks of the expressions.

use super::{StoreError, Tx};

/// One stored trigger: a worker of a tenant and one of its cron expressions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredTrigger {
    pub tenant: String,
    pub worker: String,
    pub cron: String,
}

/// Records `crons` as the triggers of `tenant`'s worker `id` (kept when already there).
pub fn put(tx: &mut dyn Tx, tenant: &str, id: &str, crons: &[String]) -> Result<(), StoreError> {
    for cron in crons {
        tx.exec(
            "INSERT INTO worker_crons (tenant, id, cron) VALUES (?1, ?2, ?3) \
             ON CONFLICT (tenant, id, cron) DO NOTHING",
            &[tenant.into(), id.into(), cron.as_str().into()],
        )?;
    }
    Ok(())
}

/// Makes `crons` the triggers of `tenant`'s worker `id` in place of those it had; false (nothing
/// written) when the worker is not stored.
pub fn replace(
    tx: &mut dyn Tx,
    tenant: &str,
    id: &str,
    crons: &[String],
) -> Result<bool, StoreError> {
    if !super::workers::exists(tx, tenant, id)? {
        return Ok(false);
    }
    tx.exec(
        "DELETE FROM worker_crons WHERE tenant = ?1 AND id = ?2",
        &[tenant.into(), id.into()],
    )?;
    put(tx, tenant, id, crons)?;
    Ok(true)
}

/// The triggers of `tenant`'s worker `id`, in the expressions' order (none for a worker not
/// stored).
pub fn of(tx: &mut dyn Tx, tenant: &str, id: &str) -> Result<Vec<String>, StoreError> {
    let rows = tx.query(
        "SELECT cron FROM worker_crons WHERE tenant = ?1 AND id = ?2 ORDER BY cron",
        &[tenant.into(), id.into()],
    )?;
    rows.iter().map(|row| row.text(0)).collect()
}

/// Forgets the triggers of `tenant`'s worker `id`.
pub fn delete(tx: &mut dyn Tx, tenant: &str, id: &str) -> Result<(), StoreError> {
    tx.exec(
        "DELETE FROM worker_crons WHERE tenant = ?1 AND id = ?2",
        &[tenant.into(), id.into()],
    )?;
    tx.exec(
        "DELETE FROM scheduled_claims WHERE tenant = ?1 AND id = ?2",
        &[tenant.into(), id.into()],
    )?;
    Ok(())
}

/// Every stored trigger of every tenant, in order.
pub fn list(tx: &mut dyn Tx) -> Result<Vec<StoredTrigger>, StoreError> {
    let rows = tx.query(
        "SELECT tenant, id, cron FROM worker_crons ORDER BY tenant, id, cron",
        &[],
    )?;
    rows.iter()
        .map(|row| {
            Ok(StoredTrigger {
                tenant: row.text(0)?,
                worker: row.text(1)?,
                cron: row.text(2)?,
            })
        })
        .collect()
}

/// Claims the run of `trigger` due at `scheduled_ms`: true for the first caller only.
pub fn claim(
    tx: &mut dyn Tx,
    trigger: &StoredTrigger,
    scheduled_ms: i64,
) -> Result<bool, StoreError> {
    let inserted = tx.exec(
        "INSERT INTO scheduled_claims (tenant, id, cron, scheduled_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (tenant, id, cron, scheduled_ms) DO NOTHING",
        &[
            trigger.tenant.as_str().into(),
            trigger.worker.as_str().into(),
            trigger.cron.as_str().into(),
            scheduled_ms.into(),
        ],
    )?;
    Ok(inserted > 0)
}

/// Deletes the claims of runs due before `before_ms` (no daemon asks for them any more).
pub fn forget_claims(tx: &mut dyn Tx, before_ms: i64) -> Result<u64, StoreError> {
    tx.exec(
        "DELETE FROM scheduled_claims WHERE scheduled_ms < ?1",
        &[before_ms.into()],
    )
}
