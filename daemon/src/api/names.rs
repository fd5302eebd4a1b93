//! Worker references (a hex id, or a name) resolved to their definitions ([`find`]), and names'
//! current versions as the API sees them: read from the store
//! (`store::worker_names`) and kept in `AppState::names`, trusted for [`NAME_TTL`] (another
//! daemon sharing the store may make another version current; this daemon's own changes are
//! seen at once, as it records them when it makes them).
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
use crate::store::{worker_names, workers};
use crate::supervisor::WorkerDef;

/// How long a name's current version read from the store is trusted before it is read again
/// (another daemon sharing the store may have made another version current; this daemon's own
/// changes are seen at once).
pub const NAME_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Names' current versions as this daemon last read them, `(tenant, name)` → (hex id, when read).
#[derive(Default)]
pub struct NameCache {
    read: RwLock<HashMap<(String, String), (String, Instant)>>,
    /// Bumped by every change this daemon makes to a name: a read of the store that began before
    /// one is not kept (it may be older than the change).
    changes: AtomicU64,
}

impl NameCache {
    fn get(&self, key: &(String, String)) -> Option<String> {
        let read = self.read.read().unwrap_or_else(|e| e.into_inner());
        let (id, at) = read.get(key)?;
        (at.elapsed() < NAME_TTL).then(|| id.clone())
    }
}

/// `tenant`'s name `name` was changed by this daemon (a version made, rolled back or deleted):
/// its next use reads the store.
pub(super) fn name_changed(state: &AppState, tenant: &str, name: &str) {
    state.names.changes.fetch_add(1, Ordering::SeqCst);
    let mut read = state.names.read.write().unwrap_or_else(|e| e.into_inner());
    read.remove(&(tenant.to_owned(), name.to_owned()));
}

/// The hex id of `tenant`'s name `name`'s current version, if it has one.
pub(super) async fn current_version(
    state: &AppState,
    tenant: &str,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let key = (tenant.to_owned(), name.to_owned());
    if let Some(id) = state.names.get(&key) {
        return Ok(Some(id));
    }
    let before = state.names.changes.load(Ordering::SeqCst);
    let (who, n) = key.clone();
    let current = state
        .store
        .tx(move |tx| worker_names::current(tx, &who, &n))
        .await
        .map_err(ApiError::from)?;
    let mut read = state.names.read.write().unwrap_or_else(|e| e.into_inner());
    match &current {
        // Kept only when no change of this daemon's came between the read and now.
        Some(id) if state.names.changes.load(Ordering::SeqCst) == before => {
            read.insert(key, (id.clone(), Instant::now()));
        }
        _ => {
            read.remove(&key);
        }
    }
    Ok(current)
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
        return if def.tenant == tenant {
            Ok(def)
        } else {
            Err(MISSING)
        };
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
