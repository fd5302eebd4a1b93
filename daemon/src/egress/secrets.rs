//! Tenants' secrets: values the gateway injects into outbound headers and tenant code never
//! sees. Configured secrets (`[tenants.secrets]`) are loaded at start; the API may set or delete
//! secrets at run time (it also keeps them sealed in the store, `store::secrets`, and `serve`
//! sets them here again at start).
//!
//! Guarantees: a value leaves this module only through [`Secrets::value`] (for injection) and is
//! never part of a `Debug`, `Display` or error text (`scrub` finds them in what comes back).
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

/// Every tenant's secrets, by tenant index (`TenantId`), and the values the configuration file
/// gave (a reload replaces those; the ones set through the API are set again after it, over the
/// file's of the same name; deleting one set through the API brings the file's back).
pub struct Secrets {
    by_tenant: RwLock<Vec<BTreeMap<String, SecretValue>>>,
    from_file: RwLock<Vec<BTreeMap<String, SecretValue>>>,
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
        Secrets {
            from_file: RwLock::new(configured.clone()),
            by_tenant: RwLock::new(configured),
        }
    }

    /// A reloaded file's secrets for `tenant`: its names the file no longer gives are deleted,
    /// the file's values set (the caller then sets the API's stored ones again).
    pub fn configure(&self, tenant: usize, file: &BTreeMap<String, SecretValue>) {
        let mut all = self.by_tenant.write().unwrap_or_else(|e| e.into_inner());
        let mut from_file = self.from_file.write().unwrap_or_else(|e| e.into_inner());
        while all.len() <= tenant {
            all.push(BTreeMap::new());
        }
        while from_file.len() <= tenant {
            from_file.push(BTreeMap::new());
        }
        for gone in from_file[tenant].keys().filter(|n| !file.contains_key(*n)) {
            all[tenant].remove(gone);
        }
        for (name, value) in file {
            all[tenant].insert(name.clone(), value.clone());
        }
        from_file[tenant] = file.clone();
    }

    /// The value of `tenant`'s secret `name`, for injection.
    pub fn value(&self, tenant: usize, name: &str) -> Option<SecretValue> {
        let all = self.by_tenant.read().unwrap_or_else(|e| e.into_inner());
        all.get(tenant)?.get(name).cloned()
    }

    /// Whether the configuration file gives `tenant` a secret `name`.
    pub fn in_file(&self, tenant: usize, name: &str) -> bool {
        let file = self.from_file.read().unwrap_or_else(|e| e.into_inner());
        file.get(tenant).is_some_and(|f| f.contains_key(name))
    }

    /// The names of `tenant`'s secrets, sorted.
    pub fn names(&self, tenant: usize) -> Option<Vec<String>> {
        let all = self.by_tenant.read().unwrap_or_else(|e| e.into_inner());
        Some(all.get(tenant)?.keys().cloned().collect())
    }

    /// Sets (or replaces) a secret.
    pub fn set(&self, tenant: usize, name: &str, value: String) -> Result<(), SecretError> {
        check_secret(name, &value)?;
        let mut all = self.by_tenant.write().unwrap_or_else(|e| e.into_inner());
        let map = all.get_mut(tenant).ok_or(SecretError::NoTenant)?;
        if !map.contains_key(name) && map.len() >= MAX_SECRETS_PER_TENANT {
            return Err(SecretError::TooMany);
        }
        map.insert(name.to_owned(), SecretValue(value));
        Ok(())
    }

    /// Deletes the value set through the API of a secret: the file's comes back if it gives
    /// one.
    pub fn delete(&self, tenant: usize, name: &str) -> Deleted {
        let file = self.from_file.read().unwrap_or_else(|e| e.into_inner());
        let mut all = self.by_tenant.write().unwrap_or_else(|e| e.into_inner());
        let Some(map) = all.get_mut(tenant) else {
            return Deleted::Missing;
        };
        let had = map.remove(name).is_some();
        match file.get(tenant).and_then(|f| f.get(name)) {
            Some(value) => {
                map.insert(name.to_owned(), value.clone());
                Deleted::FileValueBack
            }
            None if had => Deleted::Gone,
            None => Deleted::Missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_replaces_the_files_secrets_and_keeps_the_apis() {
        let file = |pairs: &[(&str, &str)]| -> BTreeMap<String, SecretValue> {
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), SecretValue(v.to_string())))
                .collect()
        };
        let secrets = Secrets::new(vec![file(&[("a", "1"), ("b", "2")])]);
        secrets.set(0, "api", "x".into()).expect("set");
        secrets.configure(0, &file(&[("a", "1b")]));
        let value = |t: usize, n: &str| secrets.value(t, n).map(|v| v.0);
        assert_eq!(value(0, "a").as_deref(), Some("1b"), "changed in the file");
        assert_eq!(value(0, "b"), None, "dropped from the file");
        assert_eq!(value(0, "api").as_deref(), Some("x"), "set through the API");
        // A value set through the API over the file's: deleting it brings the file's back.
        secrets.set(0, "a", "over".into()).expect("set");
        assert_eq!(value(0, "a").as_deref(), Some("over"));
        assert!(secrets.in_file(0, "a") && !secrets.in_file(0, "api"));
        assert_eq!(secrets.delete(0, "a"), Deleted::FileValueBack);
        assert_eq!(value(0, "a").as_deref(), Some("1b"));
        secrets.configure(2, &file(&[("c", "3")]));
        assert_eq!(
            value(2, "c").as_deref(),
            Some("3"),
            "a tenant the reload added"
        );
        assert_eq!(secrets.names(1), Some(Vec::new()));
    }

    #[test]
    fn secrets_are_set_listed_and_deleted_by_name() {
        let secrets = Secrets::new(vec![BTreeMap::new(), BTreeMap::new()]);
        secrets.set(1, "k", "value-1".into()).expect("set");
        assert_eq!(secrets.names(1), Some(vec!["k".to_string()]));
        assert_eq!(secrets.names(0), Some(vec![]));
        assert_eq!(secrets.value(1, "k"), Some(SecretValue("value-1".into())));
        assert_eq!(
            secrets.set(1, "bad name", "v".into()),
            Err(SecretError::BadName)
        );
        assert_eq!(
            secrets.set(1, "k", "line\nbreak".into()),
            Err(SecretError::BadValue)
        );
        assert_eq!(secrets.set(5, "k", "v".into()), Err(SecretError::NoTenant));
        assert_eq!(secrets.delete(1, "k"), Deleted::Gone);
        assert_eq!(secrets.delete(1, "k"), Deleted::Missing);
        assert_eq!(format!("{:?}", SecretValue("v".into())), "[redacted]");
    }
}
