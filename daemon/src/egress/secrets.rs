//! Tenants' secrets: values the gateway injects into outbound headers and tenant code never
//! sees. Configured secrets (`[tenants.secrets]`) are loaded at start; the API may set or delete
//! secrets at run time (it also keeps them sealed in the store, `store::secrets`, and `serve`
//! sets them here again at start, at `SIGHUP` and whenever a daemon sharing the store changed
//! them, [`Secrets::replace_from_api`]).
//!
//! Guarantees: a value leaves this module only through [`Secrets::values`] (for injection) and
//! is never part of a `Debug`, `Display` or error text (`scrub` finds them in what comes back).
//! Names are 1-64 of `[A-Za-z0-9_.-]`; values are 1 to [`MAX_SECRET_LEN`] bytes and valid in an
//! HTTP header (visible ASCII, space or tab). Trusts: the config; the API to have authorised the
//! caller.

use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::config::SecretValue;

/// The longest secret value, bytes.
pub const MAX_SECRET_LEN: usize = 4096;
/// The most secrets one tenant may hold.
pub const MAX_SECRETS_PER_TENANT: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a secret name must be 1-64 of [A-Za-z0-9_.-]")]
    BadName,
    #[error("a secret value must be 1 to {MAX_SECRET_LEN} bytes of visible ASCII, space or tab")]
    BadValue,
    #[error("a tenant holds at most {MAX_SECRETS_PER_TENANT} secrets")]
    TooMany,
    #[error("no such tenant")]
    NoTenant,
}

/// Checks a name and a value (the value is never echoed).
pub fn check_secret(name: &str, value: &str) -> Result<(), SecretError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(SecretError::BadName);
    }
    if value.is_empty()
        || value.len() > MAX_SECRET_LEN
        || !value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Err(SecretError::BadValue);
    }
    Ok(())
}

/// Every tenant's secrets, by tenant index (`TenantId`): the values the configuration file gave
/// (a reload replaces those), the values set through the API (stored in the store; they win over
/// the file's of the same name; deleting one brings the file's back) and the two merged, the set
/// in force. All three sit behind one lock, so a change (a file reload, the stored set reloaded
/// from the store, one API call) is seen whole or not at all.
pub struct Secrets {
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    from_file: Vec<BTreeMap<String, SecretValue>>,
    from_api: Vec<BTreeMap<String, SecretValue>>,
    /// `from_file` with `from_api` over it: what the gateway injects.
    merged: Vec<BTreeMap<String, SecretValue>>,
}

impl State {
    fn grow(&mut self, len: usize) {
        for list in [&mut self.from_file, &mut self.from_api, &mut self.merged] {
            while list.len() < len {
                list.push(BTreeMap::new());
            }
        }
    }

    fn merge(&mut self, tenant: usize) {
        let mut merged = self.from_file[tenant].clone();
        for (name, value) in &self.from_api[tenant] {
            merged.insert(name.clone(), value.clone());
        }
        self.merged[tenant] = merged;
    }
}

/// What setting a secret through the API replaced: the value set through the API before it, if
/// any. Handed back to [`Secrets::undo`] when the store refuses the change, so the set in force is
/// the one before it (not the configuration file's, which the earlier value was over).
#[derive(Debug, PartialEq, Eq)]
pub struct Replaced {
    tenant: usize,
    name: String,
    before: Option<SecretValue>,
}

/// What deleting a secret through the API did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// It had a value; it has none now.
    Gone,
    /// Its value set through the API is gone, and the configuration file's is in force again.
    FileValueBack,
    /// It had no value.
    Missing,
}

impl Secrets {
    pub fn new(configured: Vec<BTreeMap<String, SecretValue>>) -> Secrets {
        let len = configured.len();
        let mut state = State {
            from_file: configured.clone(),
            from_api: Vec::new(),
            merged: configured,
        };
        state.grow(len);
        Secrets {
            state: RwLock::new(state),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// A reloaded file's secrets for `tenant`: its names the file no longer gives are gone, the
    /// file's values set, the values set through the API kept over them.
    pub fn configure(&self, tenant: usize, file: &BTreeMap<String, SecretValue>) {
        let mut state = self.write();
        state.grow(tenant + 1);
        state.from_file[tenant] = file.clone();
        state.merge(tenant);
    }

    /// The values set through the API, every tenant's at once (`stored[i]` is tenant `i`'s; a
    /// tenant past its end has none): what the store holds, reloaded. Names and values were
    /// checked when set; one that does not check now is skipped, and so is one past the
    /// per-tenant count: their names are returned, `(tenant, name, why)`.
    pub fn replace_from_api(
        &self,
        mut stored: Vec<BTreeMap<String, SecretValue>>,
    ) -> Vec<(usize, String, SecretError)> {
        let mut skipped = Vec::new();
        let mut state = self.write();
        let len = state.merged.len();
        stored.resize_with(len, BTreeMap::new);
        for (tenant, api) in stored.iter_mut().enumerate() {
            let file = &state.from_file[tenant];
            let mut count = file.len();
            api.retain(|name, value| {
                let new_name = !file.contains_key(name);
                let why = match check_secret(name, &value.0) {
                    Err(e) => Some(e),
                    Ok(()) if new_name && count >= MAX_SECRETS_PER_TENANT => {
                        Some(SecretError::TooMany)
                    }
                    Ok(()) => None,
                };
                match why {
                    Some(why) => {
                        skipped.push((tenant, name.clone(), why));
                        false
                    }
                    None => {
                        count += usize::from(new_name);
                        true
                    }
                }
            });
        }
        state.from_api = stored;
        for tenant in 0..len {
            state.merge(tenant);
        }
        skipped
    }

    /// The value of `tenant`'s secret `name`.
    #[cfg(test)]
    pub fn value(&self, tenant: usize, name: &str) -> Option<SecretValue> {
        self.read().merged.get(tenant)?.get(name).cloned()
    }

    /// The values of `tenant`'s secrets `names`, for one request's injection: all read at once,
    /// so a reload never gives a request some old values and some new.
    pub fn values<'a>(
        &self,
        tenant: usize,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Option<SecretValue>> {
        let state = self.read();
        let map = state.merged.get(tenant);
        names
            .into_iter()
            .map(|name| map.and_then(|m| m.get(name)).cloned())
            .collect()
    }

    /// Whether the configuration file gives `tenant` a secret `name`.
    pub fn in_file(&self, tenant: usize, name: &str) -> bool {
        self.read()
            .from_file
            .get(tenant)
            .is_some_and(|f| f.contains_key(name))
    }

    /// The names of `tenant`'s secrets, sorted.
    pub fn names(&self, tenant: usize) -> Option<Vec<String>> {
        Some(self.read().merged.get(tenant)?.keys().cloned().collect())
    }

    /// Sets (or replaces) a secret through the API; what it replaced, for [`Secrets::undo`].
    pub fn set(&self, tenant: usize, name: &str, value: String) -> Result<Replaced, SecretError> {
        check_secret(name, &value)?;
        let mut state = self.write();
        let map = state.merged.get(tenant).ok_or(SecretError::NoTenant)?;
        if !map.contains_key(name) && map.len() >= MAX_SECRETS_PER_TENANT {
            return Err(SecretError::TooMany);
        }
        let value = SecretValue(value);
        let before = state.from_api[tenant].insert(name.to_owned(), value.clone());
        state.merged[tenant].insert(name.to_owned(), value);
        Ok(Replaced {
            tenant,
            name: name.to_owned(),
            before,
        })
    }

    /// Undoes a [`Secrets::set`] the store refused: the value set through the API before it is
    /// in force again, or, when there was none, the configuration file's (or none).
    pub fn undo(&self, replaced: Replaced) {
        let Replaced {
            tenant,
            name,
            before,
        } = replaced;
        let mut state = self.write();
        if tenant >= state.merged.len() {
            return;
        }
        match before {
            Some(value) => state.from_api[tenant].insert(name, value),
            None => state.from_api[tenant].remove(&name),
        };
        state.merge(tenant);
    }

    /// Deletes the value set through the API of a secret: the file's comes back if it gives
    /// one.
    pub fn delete(&self, tenant: usize, name: &str) -> Deleted {
        let mut state = self.write();
        if tenant >= state.merged.len() {
            return Deleted::Missing;
        }
        state.from_api[tenant].remove(name);
        let had = state.merged[tenant].remove(name).is_some();
        match state.from_file[tenant].get(name).cloned() {
            Some(value) => {
                state.merged[tenant].insert(name.to_owned(), value);
                Deleted::FileValueBack
            }
            None if had => Deleted::Gone,
            None => Deleted::Missing,
        }
    }
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
