//! Worker definitions at rest: the Loader API's `WorkerDef`, as JSON, by tenant and hex id.
//!
//! Guarantees: a definition read back equals the one written (modules byte for byte, env values
//! as JSON, limits (`eventWallMs` too), compatibility date and flags, `globalOutbound`, cron triggers); its code features are recomputed from
//! the modules; a row that does not parse is `Corrupt`, never a half definition. A definition is
//! only ever found under its own tenant. Trusts: the store's rows (written by this module).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use stockade_ipc::{ModuleKind, WorkerId};

use super::{now_ms, StoreError, Tx, Val};
use crate::supervisor::{bindings, CodeFeatures, Outbound, WorkerDef};

#[derive(Serialize, Deserialize)]
struct StoredModule {
    name: String,
    kind: u8,
    /// Base64.
    bytes: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredDef {
    /// Its tenant-scoped name, if made with one (`worker_names`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    main_module: String,
    modules: Vec<StoredModule>,
    env: Vec<(String, serde_json::Value)>,
    /// cpu, wall, memory, stack, sub-requests, result bytes, log bytes.
    limits: [u32; 7],
    /// `limits.eventWallMs`; absent: the daemon's `[limits] event_wall_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_wall_ms: Option<u32>,
    compatibility_date: Option<String>,
    #[serde(default)]
    compatibility_flags: Vec<String>,
    /// `policy`, `blocked`, `worker:<hex id>`, or `worker:<hex id>:{"entrypoint", "props"}`.
    outbound: String,
    /// `triggers.crons`, as given (validated when the definition was made); absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    crons: Vec<String>,
    /// `triggers.queues`, as checked when the definition was made; absent: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    queues: Vec<crate::queues::Consumer>,
}

/// `def` as its row's `def` column holds it.
pub(super) fn encode(def: &WorkerDef) -> Result<Vec<u8>, StoreError> {
    let stored = StoredDef {
        name: def.name.clone(),
        main_module: def.main_module.clone(),
        modules: def
            .modules
            .iter()
            .map(|m| StoredModule {
                name: m.name.clone(),
                kind: m.kind.code(),
                bytes: base64::engine::general_purpose::STANDARD.encode(&m.bytes),
            })
            .collect(),
        env: def.env.clone(),
        limits: def.limits.to_array(),
        event_wall_ms: def.event_wall_ms,
        compatibility_date: def.compatibility_date.clone(),
        compatibility_flags: def.compatibility_flags.clone(),
        outbound: match &def.outbound {
            Outbound::Policy => "policy".into(),
            Outbound::Blocked => "blocked".into(),
            // `worker:<id>`, then `:` and the rest as JSON only when there is a rest (what was
            // stored before entrypoints and props reads as it always did).
            Outbound::Worker(target) => match (&target.entrypoint, &target.props) {
                (None, None) => format!("worker:{}", target.worker),
                (entrypoint, props) => format!(
                    "worker:{}:{}",
                    target.worker,
                    serde_json::json!({ "entrypoint": entrypoint, "props": props })
                ),
            },
        },
        crons: def.crons.clone(),
        queues: def.queues.clone(),
    };
    serde_json::to_vec(&stored).map_err(|e| StoreError::Backend(e.to_string()))
}

/// What a stored outbound carries past its id.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredTarget {
    entrypoint: Option<String>,
    /// Canonical JSON text of an object.
    props: Option<String>,
}

/// A stored `worker:` outbound's rest: `<id>`, or `<id>:{"entrypoint", "props"}`; `None` for
/// anything else (a corrupt row).
fn stored_outbound(rest: &str) -> Option<crate::supervisor::OutboundTarget> {
    let Some((id, more)) = rest.split_once(':') else {
        return parse_id(rest).map(|_| crate::supervisor::OutboundTarget::to(rest));
    };
    parse_id(id)?;
    let more: StoredTarget = serde_json::from_str(more).ok()?;
    if more
        .entrypoint
        .as_deref()
        .is_some_and(|e| !bindings::valid_name(e))
    {
        return None;
    }
    if let Some(props) = &more.props {
        serde_json::from_str::<serde_json::Value>(props)
            .ok()
            .filter(serde_json::Value::is_object)?;
    }
    Some(crate::supervisor::OutboundTarget {
        worker: id.to_owned(),
        entrypoint: more.entrypoint,
        props: more.props,
    })
}

/// What of a stored definition names other workers (its modules skipped, not decoded).
#[derive(Deserialize)]
struct StoredRefs {
    env: Vec<(String, serde_json::Value)>,
    outbound: String,
}

/// The hex ids of workers that `tenant`'s stored definitions, other than `except`, name: their
/// service bindings by id and their `globalOutbound`s. (A service binding by name follows the
/// name, and names no version.)
pub fn referenced(
    tx: &mut dyn Tx,
    tenant: &str,
    except: &[String],
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    let rows = tx.query(
        "SELECT id, def FROM workers WHERE tenant = ?1",
        &[tenant.into()],
    )?;
    let mut named = std::collections::BTreeSet::new();
    for mut row in rows {
        let id = row.text(0)?;
        if except.contains(&id) {
            continue;
        }
        let corrupt = |e: String| StoreError::Corrupt(format!("worker {id}: {e}"));
        let refs: StoredRefs =
            serde_json::from_slice(&row.blob(1)?).map_err(|e| corrupt(e.to_string()))?;
        if let Some(rest) = refs.outbound.strip_prefix("worker:") {
            let target = stored_outbound(rest).ok_or_else(|| corrupt("globalOutbound".into()))?;
            named.insert(target.worker);
        }
        for binding in bindings::parse(&refs.env).map_err(corrupt)?.into_values() {
            if let bindings::Binding::Service { worker, .. } = binding {
                if parse_id(&worker).is_some() {
                    named.insert(worker);
                }
            }
        }
    }
    Ok(named)
}

fn decode(tenant: &str, id: &str, bytes: &[u8]) -> Result<WorkerDef, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("worker {id}: {e}"));
    let stored: StoredDef = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut modules = Vec::with_capacity(stored.modules.len());
    for m in stored.modules {
        modules.push(stockade_ipc::Module {
            name: m.name,
            kind: ModuleKind::from_code(m.kind).ok_or_else(|| corrupt("module kind".into()))?,
            bytes: base64::engine::general_purpose::STANDARD
                .decode(m.bytes)
                .map_err(|e| corrupt(e.to_string()))?,
        });
    }
    let outbound = match stored.outbound.as_str() {
        "policy" => Outbound::Policy,
        "blocked" => Outbound::Blocked,
        other => match other.strip_prefix("worker:") {
            Some(rest) => Outbound::Worker(
                stored_outbound(rest).ok_or_else(|| corrupt("globalOutbound".into()))?,
            ),
            None => return Err(corrupt("globalOutbound".into())),
        },
    };
    let bindings = bindings::parse(&stored.env).map_err(corrupt)?;
    Ok(WorkerDef {
        id: parse_id(id).ok_or_else(|| corrupt("id".into()))?,
        tenant: tenant.to_owned(),
        name: stored.name,
        main_module: stored.main_module,
        features: CodeFeatures::of(&modules),
        modules,
        env: stored.env,
        bindings: std::sync::Arc::new(bindings),
        limits: stockade_ipc::Limits::from_array(stored.limits),
        event_wall_ms: stored.event_wall_ms,
        compatibility_date: stored.compatibility_date,
        compatibility_flags: stored.compatibility_flags,
        outbound,
        crons: stored.crons,
        queues: stored.queues,
        deleted: Default::default(),
    })
}

/// A hex worker id (64 lower-case hex digits) as bytes.
pub fn parse_id(hex: &str) -> Option<WorkerId> {
    if hex.len() != 64 {
        return None;
    }
    let mut id = [0u8; 32];
    for (i, b) in id.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2)?;
        if pair.bytes().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        *b = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(WorkerId(id))
}

/// Stores `def` under its tenant and `id` (the same id is the same definition: kept as is), with
/// its triggers; a named one becomes its name's current version (`worker_names`).
pub fn put(tx: &mut dyn Tx, id: &str, def: &WorkerDef) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO workers (tenant, id, def, created_ms, name) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (tenant, id) DO NOTHING",
        &[
            def.tenant.as_str().into(),
            id.into(),
            encode(def)?.into(),
            now_ms().into(),
            def.name.as_deref().map_or(Val::Null, Val::from),
        ],
    )?;
    if def.name.is_some() {
        return super::worker_names::make_current(tx, id, def);
    }
    super::triggers::put(tx, &def.tenant, id, &def.crons)?;
    super::queues::put_consumers(tx, &def.tenant, id, &def.queues)
}

/// How many worker definitions `tenant` has stored and their stored bytes (the tenant's quota).
pub fn usage(tx: &mut dyn Tx, tenant: &str) -> Result<(usize, u64), StoreError> {
    let rows = tx.query(
        "SELECT CAST(count(*) AS BIGINT), CAST(coalesce(sum(length(def)), 0) AS BIGINT) \
         FROM workers WHERE tenant = ?1",
        &[tenant.into()],
    )?;
    match rows.first() {
        Some(row) => Ok((
            usize::try_from(row.int(0)?).unwrap_or(0),
            u64::try_from(row.int(1)?).unwrap_or(0),
        )),
        None => Ok((0, 0)),
    }
}

/// One stored definition as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub name: Option<String>,
    pub created_ms: i64,
    pub bytes: i64,
}

/// `tenant`'s stored worker definitions (its own and its workers' Loader children), oldest
/// first.
pub fn list(tx: &mut dyn Tx, tenant: &str) -> Result<Vec<Listed>, StoreError> {
    let rows = tx.query(
        "SELECT id, CAST(created_ms AS BIGINT), CAST(length(def) AS BIGINT), name FROM workers \
         WHERE tenant = ?1 ORDER BY created_ms, id",
        &[tenant.into()],
    )?;
    rows.iter()
        .map(|row| {
            Ok(Listed {
                id: row.text(0)?,
                created_ms: row.int(1)?,
                bytes: row.int(2)?,
                name: row.opt_text(3)?,
            })
        })
        .collect()
}

/// Whether `tenant`'s worker `id` is stored.
pub fn exists(tx: &mut dyn Tx, tenant: &str, id: &str) -> Result<bool, StoreError> {
    let rows = tx.query(
        "SELECT 1 FROM workers WHERE tenant = ?1 AND id = ?2",
        &[tenant.into(), id.into()],
    )?;
    Ok(!rows.is_empty())
}

/// The bytes `def` takes in the store.
pub fn stored_bytes(def: &WorkerDef) -> Result<u64, StoreError> {
    Ok(encode(def)?.len() as u64)
}

/// `tenant`'s worker `id`, if stored.
pub fn get(tx: &mut dyn Tx, tenant: &str, id: &str) -> Result<Option<WorkerDef>, StoreError> {
    let mut rows = tx.query(
        "SELECT def FROM workers WHERE tenant = ?1 AND id = ?2",
        &[tenant.into(), id.into()],
    )?;
    match rows.first_mut() {
        Some(row) => decode(tenant, id, &row.blob(0)?).map(Some),
        None => Ok(None),
    }
}

/// Deletes `tenant`'s worker `id`; whether it existed. A named one's name then points at its
/// newest remaining version, or is forgotten with its last (`worker_names::after_delete`).
pub fn delete(tx: &mut dyn Tx, tenant: &str, id: &str) -> Result<bool, StoreError> {
    let name = tx
        .query(
            "SELECT name FROM workers WHERE tenant = ?1 AND id = ?2",
            &[tenant.into(), id.into()],
        )?
        .first()
        .map(|row| row.opt_text(0))
        .transpose()?
        .flatten();
    if let Some(name) = &name {
        // Ordered with the name's other changes (a version made current meanwhile).
        super::worker_names::current_locked(tx, tenant, name)?;
    }
    super::triggers::delete(tx, tenant, id)?;
    super::queues::delete_consumers(tx, tenant, id)?;
    let deleted = tx.exec(
        "DELETE FROM workers WHERE tenant = ?1 AND id = ?2",
        &[tenant.into(), id.into()],
    )? > 0;
    if let Some(name) = name {
        super::worker_names::after_delete(tx, tenant, &name, id)?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod outbound_tests {
    use super::stored_outbound;
    use crate::supervisor::OutboundTarget;

    #[test]
    fn a_stored_outbound_reads_back_in_both_forms_and_nothing_else_does() {
        let id = "ab".repeat(32);
        // The form stored before entrypoints and props, as it always read.
        assert_eq!(stored_outbound(&id), Some(OutboundTarget::to(id.clone())));
        assert_eq!(
            stored_outbound(&format!(
                r#"{id}:{{"entrypoint":"Gate","props":"{{\"k\":1}}"}}"#
            )),
            Some(OutboundTarget {
                worker: id.clone(),
                entrypoint: Some("Gate".into()),
                props: Some(r#"{"k":1}"#.into()),
            })
        );
        for corrupt in [
            "not-an-id".to_owned(),
            format!("{id}:"),
            format!("{id}:[1]"),
            format!(r#"{id}:{{"entrypoint":3,"props":null}}"#),
            format!(r#"{id}:{{"entrypoint":"a/b","props":null}}"#),
            format!(r#"{id}:{{"entrypoint":null,"props":"[1]"}}"#),
            format!(r#"{id}:{{"entrypoint":null,"props":null,"more":1}}"#),
        ] {
            assert_eq!(stored_outbound(&corrupt), None, "{corrupt}");
        }
    }
}
