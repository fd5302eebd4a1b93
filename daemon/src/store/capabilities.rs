//! Tenant capabilities declared through the API (`PUT /v1/tenants/{id}/capabilities/{name}`),
//! at rest: one row per (tenant, name), the declaration as JSON text.
//!
//! Guarantees: every operation is scoped to one tenant (a bound parameter); a row that does not
//! parse back is reported as `Corrupt`, never guessed at. Trusts: declarations were checked
//! (`Capability::check`) before they were written.

use super::{StoreError, Tx};
use crate::capabilities::Capability;

/// The largest number of capabilities one tenant may declare through the API.
pub const MAX_PER_TENANT: i64 = 64;

fn parse(spec: &str) -> Result<Capability, StoreError> {
    serde_json::from_str(spec).map_err(|e| StoreError::Corrupt(format!("a capability: {e}")))
}

/// Stores (or replaces) `tenant`'s capability `name`; refuses a new one past [`MAX_PER_TENANT`].
pub fn put(tx: &mut dyn Tx, tenant: &str, name: &str, cap: &Capability) -> Result<(), StoreError> {
    let spec = serde_json::to_string(cap).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if get(tx, tenant, name)?.is_none() {
        let held = tx.query(
            "SELECT COUNT(*) FROM capabilities WHERE tenant = ?1",
            &[tenant.into()],
        )?;
        if held.first().map_or(Ok(0), |r| r.int(0))? >= MAX_PER_TENANT {
            return Err(StoreError::Quota(format!(
                "a tenant declares at most {MAX_PER_TENANT} capabilities"
            )));
        }
    }
    tx.exec(
        "INSERT INTO capabilities (tenant, name, spec) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant, name) DO UPDATE SET spec = excluded.spec",
        &[tenant.into(), name.into(), spec.into()],
    )?;
    Ok(())
}

/// `tenant`'s capability `name`, if declared through the API.
pub fn get(tx: &mut dyn Tx, tenant: &str, name: &str) -> Result<Option<Capability>, StoreError> {
    let rows = tx.query(
        "SELECT spec FROM capabilities WHERE tenant = ?1 AND name = ?2",
        &[tenant.into(), name.into()],
    )?;
    rows.first().map(|r| parse(&r.text(0)?)).transpose()
}

/// `tenant`'s capabilities declared through the API, by name.
pub fn list(tx: &mut dyn Tx, tenant: &str) -> Result<Vec<(String, Capability)>, StoreError> {
    tx.query(
        "SELECT name, spec FROM capabilities WHERE tenant = ?1 ORDER BY name",
        &[tenant.into()],
    )?
    .into_iter()
    .map(|row| Ok((row.text(0)?, parse(&row.text(1)?)?)))
    .collect()
}

/// Deletes `tenant`'s capability `name`; whether it existed.
pub fn delete(tx: &mut dyn Tx, tenant: &str, name: &str) -> Result<bool, StoreError> {
    Ok(tx.exec(
        "DELETE FROM capabilities WHERE tenant = ?1 AND name = ?2",
        &[tenant.into(), name.into()],
    )? > 0)
}
