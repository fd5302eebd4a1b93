//! Worker references (a hex id, or a name) resolved to their definitions ([`find`]; for one
//! request, with a gradual deployment's split: [`find_serving`]), and names' deployments as the
//! API sees them: read from the store (`store::worker_names`) and kept in `AppState::names`,
//! trusted for [`NAME_TTL`] (another daemon sharing the store may make another version current;
//! this daemon's own changes are seen at once, as it records them when it makes them).
//!
//! Guarantees: a name resolves only within its tenant; a resolution is at most [`NAME_TTL`] old.
//! Trusts: the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use super::error::ApiError;
use super::loader::refresh_code_features;
use super::AppState;
use crate::store::worker_names::{self, Deployment};
use crate::store::workers;
use crate::supervisor::WorkerDef;

/// How long a name's current version read from the store is trusted before it is read again
/// (another daemon sharing the store may have made another version current; this daemon's own
/// changes are seen at once).
pub const NAME_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Entries trusted for [`NAME_TTL`] after they were stamped. Expired ones are swept out as the
/// map grows (when it reaches twice what the last sweep kept, at least [`SWEEP_AT_LEAST`]), so it
/// holds about what was used lately, not everything this daemon ever resolved.
struct Fresh<K, V> {
    map: HashMap<K, (V, Instant)>,
    sweep_at: usize,
}

/// The smallest size at which [`Fresh`] sweeps.
const SWEEP_AT_LEAST: usize = 256;

impl<K: std::hash::Hash + Eq, V> Default for Fresh<K, V> {
    fn default() -> Self {
        Fresh {
            map: HashMap::new(),
            sweep_at: SWEEP_AT_LEAST,
        }
    }
}

impl<K: std::hash::Hash + Eq, V> Fresh<K, V> {
    /// `key`'s value, with when it was read, while fresh.
    fn get(&self, key: &K) -> Option<(&V, Instant)> {
        let (value, at) = self.map.get(key)?;
        (at.elapsed() < NAME_TTL).then_some((value, *at))
    }

    /// Keeps `value` for `key`, stamped `at`.
    fn insert(&mut self, key: K, value: V, at: Instant) {
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, (_, at)| at.elapsed() < NAME_TTL);
            self.sweep_at = (self.map.len() * 2).max(SWEEP_AT_LEAST);
        }
        self.map.insert(key, (value, at));
    }

    /// [`Fresh::insert`], unless `key` holds a value stamped later than `at` (read by a lookup
    /// that began after this one's: the older read never replaces the newer).
    fn insert_unless_newer(&mut self, key: K, value: V, at: Instant) {
        if self.map.get(&key).is_some_and(|(_, kept)| *kept > at) {
            return;
        }
        self.insert(key, value, at);
    }

    fn remove(&mut self, key: &K) {
        self.map.remove(key);
    }
}

/// Names' deployments as this daemon last read them, `(tenant, name)` → deployment.
#[derive(Default)]
pub struct NameCache {
    read: RwLock<Fresh<(String, String), Deployment>>,
    /// Bumped by every change this daemon makes to a name: a read of the store that began before
    /// one is not kept (it may be older than the change).
    changes: AtomicU64,
    /// With a shared store: when each definition this daemon serves by id was last found still
    /// stored (another daemon may delete it).
    verified: RwLock<Fresh<String, ()>>,
}

impl NameCache {
    fn get(&self, key: &(String, String)) -> Option<(Deployment, Instant)> {
        let read = self.read.read().unwrap_or_else(|e| e.into_inner());
        read.get(key).map(|(d, at)| (d.clone(), at))
    }
}

/// `tenant`'s name `name` was changed by this daemon (a version made, rolled back or deleted):
/// its next use reads the store.
pub(super) fn name_changed(state: &AppState, tenant: &str, name: &str) {
    state.names.changes.fetch_add(1, Ordering::SeqCst);
    let mut read = state.names.read.write().unwrap_or_else(|e| e.into_inner());
    read.remove(&(tenant.to_owned(), name.to_owned()));
}

/// The definitions `ids` are no longer served here: their store checks are forgotten.
pub(super) fn forget_verified(state: &AppState, ids: &[String]) {
    let mut verified = state
        .names
        .verified
        .write()
        .unwrap_or_else(|e| e.into_inner());
    for id in ids {
        verified.remove(id);
    }
}

/// The hex id of `tenant`'s name `name`'s current version, if it has one.
pub(super) async fn current_version(
    state: &AppState,
    tenant: &str,
    name: &str,
) -> Result<Option<String>, ApiError> {
    Ok(deployment_of(state, tenant, name).await?.map(|d| d.current))
}

/// `tenant`'s name `name`'s deployment, if it has a version.
pub(super) async fn deployment_of(
    state: &AppState,
    tenant: &str,
    name: &str,
) -> Result<Option<Deployment>, ApiError> {
    Ok(deployment_read(state, tenant, name).await?.map(|(d, _)| d))
}

/// [`deployment_of`], with when the store read it returns began (a kept read's, from memory).
async fn deployment_read(
    state: &AppState,
    tenant: &str,
    name: &str,
) -> Result<Option<(Deployment, Instant)>, ApiError> {
    let key = (tenant.to_owned(), name.to_owned());
    if let Some(kept) = state.names.get(&key) {
        return Ok(Some(kept));
    }
    let before = state.names.changes.load(Ordering::SeqCst);
    let began = Instant::now();
    let (who, n) = key.clone();
    let deployment = state
        .store
        .tx(move |tx| worker_names::deployment(tx, &who, &n))
        .await
        .map_err(ApiError::from)?;
    let mut read = state.names.read.write().unwrap_or_else(|e| e.into_inner());
    match &deployment {
        // Kept only when no change of this daemon's came between the read and now, and no read
        // that began later kept its own (another daemon's change it saw, say), stamped with
        // when the read began.
        Some(d) if state.names.changes.load(Ordering::SeqCst) == before => {
            read.insert_unless_newer(key, d.clone(), began);
        }
        _ => {
            read.remove(&key);
        }
    }
    Ok(deployment.map(|d| (d, began)))
}

/// Whether `def`, which this daemon holds, is still stored. Only a shared store can lose one
/// behind this daemon's back: then the store is asked, at most once per [`NAME_TTL`] for each
/// definition, and one another daemon deleted is no longer served here (taken out of memory,
/// its isolates disposed).
async fn still_stored(state: &AppState, def: &Arc<WorkerDef>) -> Result<bool, ApiError> {
    if !state.store.shared() {
        return Ok(true);
    }
    let id = def.id.to_hex();
    let known = {
        let verified = state
            .names
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner());
        verified.get(&id).is_some()
    };
    if known {
        return Ok(true);
    }
    let (who, key) = (def.tenant.clone(), id.clone());
    let stored = state
        .store
        .tx(move |tx| workers::exists(tx, &who, &key))
        .await
        .map_err(ApiError::from)?;
    let mut verified = state
        .names
        .verified
        .write()
        .unwrap_or_else(|e| e.into_inner());
    if stored {
        verified.insert(id, (), Instant::now());
        return Ok(true);
    }
    drop(verified);
    let gone = super::loader::unserve(state, &[id]);
    refresh_code_features(state, &def.tenant);
    state.pool.dispose_workers(&gone);
    Ok(false)
}

/// [`find`] for one request of a client or a service binding: a name under a gradual
/// deployment is resolved to the version `choice` picks (`deployments::pick`).
pub(super) async fn find_serving(
    state: &AppState,
    tenant: &str,
    id: &str,
    choice: &super::deployments::VersionChoice,
) -> Result<Arc<WorkerDef>, ApiError> {
    Ok(find_serving_read(state, tenant, id, choice).await?.0)
}

/// [`find_serving`], with when the read of the name's deployment it used began (kept in memory,
/// that read's time, not now's); for an id, when this lookup began.
pub(super) async fn find_serving_read(
    state: &AppState,
    tenant: &str,
    id: &str,
    choice: &super::deployments::VersionChoice,
) -> Result<(Arc<WorkerDef>, Instant), ApiError> {
    if !worker_names::valid_name(id) {
        let began = Instant::now();
        return Ok((find(state, tenant, id).await?, began));
    }
    let (deployment, read) = deployment_read(state, tenant, id)
        .await?
        .ok_or(ApiError::NotFound("no such worker"))?;
    let version = super::deployments::pick(&deployment, id, choice, random_roll());
    let def = match find(state, tenant, version).await {
        // The split's other version deleted through another daemon, which this one has not
        // read yet: the current version serves.
        Err(ApiError::NotFound(_)) if version != deployment.current => {
            find(state, tenant, &deployment.current).await
        }
        found => found,
    }?;
    Ok((def, read))
}

/// A random roll among a name's basis points (the last one when the system cannot give a
/// random number: the current version serves).
fn random_roll() -> u32 {
    let mut bytes = [0u8; 4];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => u32::from_le_bytes(bytes) % worker_names::ALL_BP,
        Err(_) => worker_names::ALL_BP - 1,
    }
}

/// `tenant`'s worker `id`, or its name's current version when `id` is a name (a worker id is 64
/// hex digits, a name at most 63 characters): from memory, else from the store (after a restart,
/// or created by another daemon sharing the store), then kept in memory.
pub(super) async fn find(
    state: &AppState,
    tenant: &str,
    id: &str,
) -> Result<Arc<WorkerDef>, ApiError> {
    const MISSING: ApiError = ApiError::NotFound("no such worker");
    if worker_names::valid_name(id) {
        let current = current_version(state, tenant, id).await?.ok_or(MISSING)?;
        return Box::pin(find(state, tenant, &current)).await;
    }
    let cached = state.workers.read().map_err(|_| MISSING)?.get(id).cloned();
    if let Some(def) = cached {
        if def.tenant != tenant || !still_stored(state, &def).await? {
            return Err(MISSING);
        }
        return Ok(def);
    }
    if workers::parse_id(id).is_none() {
        return Err(MISSING);
    }
    let (who, key) = (tenant.to_owned(), id.to_owned());
    let stored = state
        .store
        .tx(move |tx| workers::get(tx, &who, &key))
        .await
        .map_err(ApiError::from)?
        .ok_or(MISSING)?;
    let def = Arc::new(stored);
    if let Ok(mut workers) = state.workers.write() {
        workers.entry(id.to_owned()).or_insert(Arc::clone(&def));
    }
    refresh_code_features(state, tenant);
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_swept_out_as_the_map_grows_and_fresh_ones_stay() {
        let mut fresh: Fresh<usize, ()> = Fresh::default();
        let old = Instant::now()
            .checked_sub(NAME_TTL * 2)
            .expect("an instant two TTLs ago");
        for key in 0..SWEEP_AT_LEAST {
            fresh.insert(key, (), old);
        }
        assert!(fresh.get(&0).is_none(), "expired");
        assert_eq!(fresh.map.len(), SWEEP_AT_LEAST);
        // The next insert sweeps: only it is left.
        fresh.insert(SWEEP_AT_LEAST, (), Instant::now());
        assert_eq!(fresh.map.len(), 1);
        assert!(fresh.get(&SWEEP_AT_LEAST).is_some());
        // Fresh entries are never swept, and the next sweep waits for the map to double.
        for key in 1..=4 * SWEEP_AT_LEAST {
            fresh.insert(SWEEP_AT_LEAST + key, (), Instant::now());
        }
        assert_eq!(fresh.map.len(), 4 * SWEEP_AT_LEAST + 1);
        assert!(fresh.sweep_at > fresh.map.len() / 2, "{}", fresh.sweep_at);
    }

    /// Reviewer M3 of session 31: with a shared store, a read that began before another
    /// daemon's deployment and ended after a later read's kept its older deployment for a TTL.
    #[test]
    fn an_older_read_never_replaces_a_newer_ones_value() {
        let mut fresh: Fresh<&str, &str> = Fresh::default();
        let older = Instant::now();
        let newer = older + std::time::Duration::from_millis(1);
        fresh.insert_unless_newer("name", "v2", newer);
        fresh.insert_unless_newer("name", "v1", older);
        // A kept value comes with when its read began, not when it is found (version_of stamps
        // a Durable Object's version with it: last note's finding).
        assert_eq!(fresh.get(&"name"), Some((&"v2", newer)));
        // A read that began later still replaces it.
        let latest = newer + std::time::Duration::from_millis(1);
        fresh.insert_unless_newer("name", "v3", latest);
        assert_eq!(fresh.get(&"name"), Some((&"v3", latest)));
    }
}
