//! Worker names at rest: which definition is a name's *current version* (`worker_names`), and
//! the versions a name has (`workers.name`).
//!
//! A definition made with a `name` is one version of that name. Making one current (creating it,
//! or creating it again: a rollback) moves the name's triggers to it: the other versions' cron
//! triggers and queue consumers are deleted and its own (from its definition) written, in the
//! caller's transaction, so a name's triggers fire for one version only. Deleting the current
//! version makes the newest remaining one current the same way; deleting the last one forgets the
//! name.
//!
//! Cron triggers a `PUT` set on the name (`worker_names.crons`, [`set_crons`]) belong to the name,
//! as Cloudflare's schedules belong to a script: a version made current whose definition has no
//! crons keeps them; one whose definition has crons replaces them (as a deploy whose wrangler
//! configuration lists crons does). Versions beyond a tenant's `max_versions` are deleted when a
//! new one is stored, oldest first, but never one another definition names by id ([`beyond`]).
//!
//! A *gradual deployment* ([`deploy`]) sends a share of the requests that reach a name to one
//! other version besides the current one (`worker_names.split_id`, `split_bp` basis points); the
//! version with the larger share is the current one (triggers and queues follow it;
//! Durable Objects are split by object, `api::objects::version_of`).
//! Making a version current otherwise (a new version, a rollback, a delete) ends the split.
//!
//! Guarantees: a name points at a stored definition of its tenant that has that name, or at
//! nothing; the triggers of a named definition are stored only while it is current. Trusts: the
//! rows (written by this module and `workers`) and its callers' checks of the definitions.

use super::{now_ms, StoreError, Tx};
use crate::supervisor::WorkerDef;

/// Whether `name` may name a worker: 1-63 of `[a-z0-9_-]`, starting with a letter or a digit
/// (Cloudflare's script names). A worker's hex id is 64 characters, so no name is an id; a name
/// is a safe path component (an object's storage lives under it, `objects::db`).
pub fn valid_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'_' || b == b'-'))
        })
}

/// The hex id of `tenant`'s name `name`'s current version, if it has one.
pub fn current(tx: &mut dyn Tx, tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
    Ok(deployment(tx, tenant, name)?.map(|d| d.current))
}

/// [`current`], with the name's row locked for the rest of the transaction (PostgreSQL; SQLite
/// transactions are serialised whole): every change to a name takes this first, so changes to
/// one name are ordered and each sees the ones before.
pub fn current_locked(
    tx: &mut dyn Tx,
    tenant: &str,
    name: &str,
) -> Result<Option<String>, StoreError> {
    Ok(deployment_locked(tx, tenant, name)?.map(|d| d.current))
}

/// The hex ids of the stored versions of `tenant`'s name `name`, newest first.
pub fn versions(tx: &mut dyn Tx, tenant: &str, name: &str) -> Result<Vec<String>, StoreError> {
    let rows = tx.query(
        "SELECT id FROM workers WHERE tenant = ?1 AND name = ?2 ORDER BY created_ms DESC, id DESC",
        &[tenant.into(), name.into()],
    )?;
    rows.iter().map(|row| row.text(0)).collect()
}

/// Makes the stored definition `def` (hex id `id`, which has a name) its name's current version,
/// with the name's triggers (see the module's text). A queue another worker consumes is a
/// `Conflict`, as when an unnamed definition is stored.
pub fn make_current(tx: &mut dyn Tx, id: &str, def: &WorkerDef) -> Result<(), StoreError> {
    let Some(name) = def.name.as_deref() else {
        return Ok(());
    };
    let tenant = def.tenant.as_str();
    // The pointer first: its row lock orders concurrent makers of the name (PostgreSQL), so the
    // versions listed next include every one committed before.
    tx.exec(
        "INSERT INTO worker_names (tenant, name, id, set_ms) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (tenant, name) DO UPDATE SET id = excluded.id, set_ms = excluded.set_ms, \
         split_id = NULL, split_bp = NULL",
        &[tenant.into(), name.into(), id.into(), now_ms().into()],
    )?;
    // A rollback racing the delete of the same version: the delete came first.
    if !super::workers::exists(tx, tenant, id)? {
        return Err(StoreError::NotFound(format!(
            "worker {id} was deleted meanwhile: it is not {name:?}'s current version"
        )));
    }
    for other in versions(tx, tenant, name)? {
        if other != id {
            super::triggers::delete(tx, tenant, &other)?;
            super::queues::delete_consumers(tx, tenant, &other)?;
        }
    }
    if def.crons.is_empty() {
        // The name's own crons (a `PUT`'s), when it has any.
        let kept = name_crons(tx, tenant, name)?.unwrap_or_default();
        super::triggers::put(tx, tenant, id, &kept)?;
    } else {
        set_crons(tx, tenant, name, None)?;
        super::triggers::put(tx, tenant, id, &def.crons)?;
    }
    super::queues::put_consumers(tx, tenant, id, &def.queues)
}

/// The crons a `PUT` set on `tenant`'s name `name`, when one did since a definition's last
/// replaced them.
fn name_crons(
    tx: &mut dyn Tx,
    tenant: &str,
    name: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let rows = tx.query(
        "SELECT crons FROM worker_names WHERE tenant = ?1 AND name = ?2",
        &[tenant.into(), name.into()],
    )?;
    let Some(text) = rows
        .first()
        .map(|row| row.opt_text(0))
        .transpose()?
        .flatten()
    else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("worker name {name:?}'s crons: {e}")))
}

/// Records `crons` as the crons a `PUT` set on `tenant`'s name `name` (`None`: its current
/// version's definition's apply again). The caller replaced the current version's triggers.
pub fn set_crons(
    tx: &mut dyn Tx,
    tenant: &str,
    name: &str,
    crons: Option<&[String]>,
) -> Result<(), StoreError> {
    let text = crons
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("crons: {e}")))?;
    tx.exec(
        "UPDATE worker_names SET crons = ?3 WHERE tenant = ?1 AND name = ?2",
        &[
            tenant.into(),
            name.into(),
            text.map_or(super::Val::Null, super::Val::from),
        ],
    )?;
    Ok(())
}

/// The versions of `tenant`'s name `name` to delete so that a new one makes at most `keep`: their
/// hex ids and stored bytes. The oldest go first and the current version last (it is the one a
/// rollback would most likely want); a version another stored definition names by id is never
/// one of them (so a name may keep more). Locks the name (see [`current_locked`]).
pub fn beyond(
    tx: &mut dyn Tx,
    tenant: &str,
    name: &str,
    keep: u32,
) -> Result<Vec<(String, u64)>, StoreError> {
    let deployed = deployment_locked(tx, tenant, name)?;
    let current = deployed.as_ref().map(|d| d.current.clone());
    let split = deployed.and_then(|d| d.split).map(|(id, _)| id);
    let rows = tx.query(
        "SELECT id, CAST(length(def) AS BIGINT) FROM workers WHERE tenant = ?1 AND name = ?2 \
         ORDER BY created_ms, id",
        &[tenant.into(), name.into()],
    )?;
    let mut all = rows
        .iter()
        .map(|row| Ok((row.text(0)?, u64::try_from(row.int(1)?).unwrap_or(0))))
        .collect::<Result<Vec<_>, StoreError>>()?;
    // Stable: the current one and a gradual deployment's other move last (the new version ends
    // the split, but they are the two a rollback most likely wants), the others stay oldest
    // first.
    all.sort_by_key(|(id, _)| Some(id) == current.as_ref() || Some(id) == split.as_ref());
    let excess = (all.len() + 1).saturating_sub(keep.max(1) as usize);
    if excess == 0 {
        return Ok(Vec::new());
    }
    // A version another definition names by id (a `globalOutbound`, a service binding by id)
    // stays, whatever its age: deleting it would break that worker.
    let named = super::workers::referenced(tx, tenant, &[])?;
    all.retain(|(id, _)| !named.contains(id));
    all.truncate(excess);
    Ok(all)
}

/// After version `id` of `tenant`'s name `name` was deleted: when it was current, the other
/// version of its gradual deployment, else the newest remaining version, becomes current, or
/// the name is forgotten; when it was a deployment's other version, the current one serves
/// everything; otherwise nothing changes.
pub fn after_delete(tx: &mut dyn Tx, tenant: &str, name: &str, id: &str) -> Result<(), StoreError> {
    // Locked: a version made meanwhile is either seen here as current, or made after.
    let deployed = deployment_locked(tx, tenant, name)?;
    if deployed.as_ref().map(|d| d.current.as_str()) != Some(id) {
        // A gradual deployment's other version gone: the current one serves everything.
        tx.exec(
            "UPDATE worker_names SET split_id = NULL, split_bp = NULL \
             WHERE tenant = ?1 AND name = ?2 AND split_id = ?3",
            &[tenant.into(), name.into(), id.into()],
        )?;
        return Ok(());
    }
    // A gradual deployment's other version takes over; else the newest remaining one.
    let split = deployed.and_then(|d| d.split).map(|(id, _)| id);
    let newest = match split {
        Some(split) => Some(split),
        None => versions(tx, tenant, name)?.into_iter().next(),
    };
    let Some(newest) = newest else {
        tx.exec(
            "DELETE FROM worker_names WHERE tenant = ?1 AND name = ?2",
            &[tenant.into(), name.into()],
        )?;
        return Ok(());
    };
    let def = super::workers::get(tx, tenant, &newest)?
        .ok_or_else(|| StoreError::Corrupt(format!("worker {newest}: listed, not stored")))?;
    make_current(tx, &newest, &def)
}

/// Deletes every version of `tenant`'s name `name` and the name: their hex ids.
pub fn delete_all(tx: &mut dyn Tx, tenant: &str, name: &str) -> Result<Vec<String>, StoreError> {
    tx.exec(
        "DELETE FROM worker_names WHERE tenant = ?1 AND name = ?2",
        &[tenant.into(), name.into()],
    )?;
    let ids = versions(tx, tenant, name)?;
    for id in &ids {
        // With the name gone, no other version is made current.
        super::workers::delete(tx, tenant, id)?;
    }
    Ok(ids)
}

/// Basis points of a name's requests: 10,000 are all of them.
pub const ALL_BP: u32 = 10_000;

/// A name's deployment: its current version and, in a gradual deployment, the other version and
/// the share of the name's requests it serves, in basis points (1 to 9,999).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub current: String,
    pub split: Option<(String, u32)>,
}

/// `tenant`'s name `name`'s deployment, if the name has a version.
pub fn deployment(
    tx: &mut dyn Tx,
    tenant: &str,
    name: &str,
) -> Result<Option<Deployment>, StoreError> {
    read_deployment(tx, tenant, name, "")
}

/// [`deployment`], with the name's row locked (see [`current_locked`]).
fn deployment_locked(
    tx: &mut dyn Tx,
    tenant: &str,
    name: &str,
) -> Result<Option<Deployment>, StoreError> {
    let lock = tx.for_update();
    read_deployment(tx, tenant, name, lock)
}

fn read_deployment(
    tx: &mut dyn Tx,
    tenant: &str,
    name: &str,
    lock: &str,
) -> Result<Option<Deployment>, StoreError> {
    let sql = format!(
        "SELECT id, split_id, split_bp FROM worker_names WHERE tenant = ?1 AND name = ?2{lock}"
    );
    let rows = tx.query(&sql, &[tenant.into(), name.into()])?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let split = match (row.opt_text(1)?, row.0.get(2)) {
        (Some(id), Some(super::Val::Int(bp))) => {
            let bp = u32::try_from(*bp)
                .ok()
                .filter(|bp| (1..ALL_BP).contains(bp))
                .ok_or_else(|| StoreError::Corrupt(format!("{name:?}'s split: {bp}")))?;
            Some((id, bp))
        }
        _ => None,
    };
    Ok(Some(Deployment {
        current: row.text(0)?,
        split,
    }))
}

/// Deploys `tenant`'s name `name` as `versions` say: one or two of its versions with their
/// shares in basis points, which add up to [`ALL_BP`]. The one with the larger share (on a tie,
/// the current one if it is among them, else the first given) becomes the current version (see
/// [`make_current`]); the other, if any, serves its share. A version that is not the name's is
/// `NotFound`; shares that do not add up are `Invalid`.
pub fn deploy(
    tx: &mut dyn Tx,
    tenant: &str,
    name: &str,
    versions: &[(String, u32)],
) -> Result<Deployment, StoreError> {
    let total: u32 = versions.iter().map(|(_, bp)| *bp).sum();
    let shaped = matches!(versions.len(), 1 | 2)
        && total == ALL_BP
        && versions.iter().all(|(_, bp)| *bp > 0)
        && versions.first().map(|(id, _)| id) != versions.get(1).map(|(id, _)| id);
    if !shaped {
        return Err(StoreError::Invalid(
            "a deployment is one or two versions whose shares add up to 100%".into(),
        ));
    }
    let now = current_locked(tx, tenant, name)?
        .ok_or_else(|| StoreError::NotFound(format!("no worker is named {name:?}")))?;
    let all = self::versions(tx, tenant, name)?;
    for (id, _) in versions {
        if !all.contains(id) {
            return Err(StoreError::NotFound(format!(
                "worker {id} is not a version of {name:?}"
            )));
        }
    }
    let largest = versions.iter().map(|(_, bp)| *bp).max().unwrap_or(ALL_BP);
    let primary = versions
        .iter()
        .find(|(id, bp)| *bp == largest && *id == now)
        .or_else(|| versions.iter().find(|(_, bp)| *bp == largest))
        .map(|(id, _)| id.clone())
        .unwrap_or(now.clone());
    if primary != now {
        let def = super::workers::get(tx, tenant, &primary)?
            .ok_or_else(|| StoreError::Corrupt(format!("worker {primary}: listed, not stored")))?;
        make_current(tx, &primary, &def)?;
    }
    let split = versions.iter().find(|(id, _)| *id != primary).cloned();
    let (split_id, split_bp) = match &split {
        Some((id, bp)) => (
            super::Val::from(id.as_str()),
            super::Val::Int(i64::from(*bp)),
        ),
        None => (super::Val::Null, super::Val::Null),
    };
    tx.exec(
        "UPDATE worker_names SET split_id = ?3, split_bp = ?4 WHERE tenant = ?1 AND name = ?2",
        &[tenant.into(), name.into(), split_id, split_bp],
    )?;
    Ok(Deployment {
        current: primary,
        split,
    })
}
