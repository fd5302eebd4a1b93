//! Tenants' risk histories at rest: each tenant's latest `stockade_cordon::TenantSnapshot` (its
//! decayed signal counts, quarantine latch and operator pin) as JSON, with when it was taken.
//!
//! Guarantees: one row per tenant; a snapshot never replaces a newer one (daemons sharing a
//! PostgreSQL store may write out of order: the later `taken_ms` wins); a row that does not
//! parse is reported, never read as an empty history. Trusts: the rows (written by this module).

use stockade_cordon::TenantSnapshot;

use super::{StoreError, Tx};

/// Stores `tenant`'s snapshot taken at Unix ms `taken_ms`, unless a newer one is stored.
pub fn put(
    tx: &mut dyn Tx,
    tenant: &str,
    snapshot: &TenantSnapshot,
    taken_ms: u64,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(snapshot).map_err(|e| StoreError::Backend(e.to_string()))?;
    let taken = i64::try_from(taken_ms).unwrap_or(i64::MAX);
    tx.exec(
        "INSERT INTO risk_history (tenant, snapshot, taken_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant) DO UPDATE SET snapshot = excluded.snapshot, \
         taken_ms = excluded.taken_ms WHERE risk_history.taken_ms <= excluded.taken_ms",
        &[tenant.into(), json.into(), taken.into()],
    )?;
    Ok(())
}

/// Every stored snapshot: (tenant, snapshot, taken at Unix ms).
pub fn all(tx: &mut dyn Tx) -> Result<Vec<(String, TenantSnapshot, u64)>, StoreError> {
    tx.query(
        "SELECT tenant, snapshot, taken_ms FROM risk_history ORDER BY tenant",
        &[],
    )?
    .into_iter()
    .map(|mut row| {
        let tenant = row.text(0)?;
        let snapshot = serde_json::from_slice(&row.blob(1)?)
            .map_err(|e| StoreError::Corrupt(format!("risk history of {tenant}: {e}")))?;
        let taken = u64::try_from(row.int(2)?).unwrap_or(0);
        Ok((tenant, snapshot, taken))
    })
    .collect()
}
