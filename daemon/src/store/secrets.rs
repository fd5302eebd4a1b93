//! Tenants' secrets at rest: sealed with AES-256-GCM under the store key, and the store
//! operations on them.
//!
//! Guarantees: a value is written only sealed (a fresh random 96-bit nonce per value; the tenant
//! and the name are the associated data, so a sealed value moved to another row does not open);
//! a value that does not open is an error, never garbage. The key is 32 bytes, read from the
//! configured key file (32 raw bytes or 64 hex digits) or generated into the data folder, created
//! with mode 0600 and never overwritten. Trusts: the key file and its permissions.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::{StoreError, Tx};

const NONCE_LEN: usize = 12;

/// Seals and opens secret values.
pub struct Sealer {
    cipher: Aes256Gcm,
}

fn parse_key(bytes: &[u8]) -> Option<[u8; 32]> {
    if let Ok(key) = <[u8; 32]>::try_from(bytes) {
        return Some(key);
    }
    let text = std::str::from_utf8(bytes).ok()?.trim();
    if text.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Sealer {
        Sealer {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// The key in `path`; with `generate`, a fresh key is written there (0600) when the file is
    /// missing.
    pub fn from_key_file(path: &Path, generate: bool) -> Result<Sealer, StoreError> {
        let bad = |e: String| StoreError::Open(format!("secret key file {}: {e}", path.display()));
        match std::fs::read(path) {
            Ok(bytes) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map_or(0, |m| m.permissions().mode());
                if mode & 0o077 != 0 {
                    eprintln!(
                        "stockade: WARNING: the secret key file {} is readable by others (mode {:o})",
                        path.display(),
                        mode & 0o777
                    );
                }
                parse_key(&bytes)
                    .map(Sealer::new)
                    .ok_or_else(|| bad("want 32 bytes or 64 hex digits".into()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate => {
                use std::os::unix::fs::OpenOptionsExt;
                let mut key = [0u8; 32];
                getrandom::getrandom(&mut key).map_err(|e| bad(e.to_string()))?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    super::sqlite::create_private_dir(dir)?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| bad(e.to_string()))?;
                file.write_all(&key)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| bad(e.to_string()))?;
                Ok(Sealer::new(key))
            }
            Err(e) => Err(bad(e.to_string())),
        }
    }

    fn aad(tenant: &str, name: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(tenant.len() + name.len() + 9);
        aad.extend_from_slice(b"secret\0");
        aad.extend_from_slice(tenant.as_bytes());
        aad.push(0);
        aad.extend_from_slice(name.as_bytes());
        aad
    }

    /// `value` sealed for `tenant`'s secret `name`: nonce, then ciphertext and tag.
    pub fn seal(&self, tenant: &str, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|e| StoreError::Backend(e.to_string()))?;
        let aad = Sealer::aad(tenant, name);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Backend("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Sealer::seal`] made for the same tenant and name.
    pub fn open(&self, tenant: &str, name: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let fail = || StoreError::Corrupt(format!("secret {name} of {tenant} does not open"));
        if sealed.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let aad = Sealer::aad(tenant, name);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| fail())
    }
}

/// Moves the secrets' change counter (`secrets_generation`), in the transaction that changed
/// them: daemons sharing the store poll it (`serve`). The row's lock also serialises the
/// changes of secrets across daemons.
fn bump(tx: &mut dyn Tx) -> Result<(), StoreError> {
    let moved = tx.exec(
        "UPDATE secrets_generation SET generation = generation + 1 WHERE id = 1",
        &[],
    )?;
    if moved != 1 {
        return Err(StoreError::Corrupt(
            "the secrets' change counter (secrets_generation) is missing".into(),
        ));
    }
    Ok(())
}

/// Sets (or replaces) a sealed secret.
pub fn put(tx: &mut dyn Tx, tenant: &str, name: &str, sealed: Vec<u8>) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO secrets (tenant, name, sealed) VALUES (?1, ?2, ?3) \
         ON CONFLICT (tenant, name) DO UPDATE SET sealed = excluded.sealed",
        &[tenant.into(), name.into(), sealed.into()],
    )?;
    bump(tx)
}

/// Deletes a secret; whether it existed.
pub fn delete(tx: &mut dyn Tx, tenant: &str, name: &str) -> Result<bool, StoreError> {
    let gone = tx.exec(
        "DELETE FROM secrets WHERE tenant = ?1 AND name = ?2",
        &[tenant.into(), name.into()],
    )? > 0;
    if gone {
        bump(tx)?;
    }
    Ok(gone)
}

/// The secrets' change counter: it moves with every change of them (any daemon's).
pub fn generation(tx: &mut dyn Tx) -> Result<i64, StoreError> {
    tx.query(
        "SELECT generation FROM secrets_generation WHERE id = 1",
        &[],
    )?
    .first()
    .ok_or_else(|| {
        StoreError::Corrupt("the secrets' change counter (secrets_generation) is missing".into())
    })?
    .int(0)
}

/// One stored secret: (tenant, name, sealed).
pub type Stored = (String, String, Vec<u8>);

/// Every stored secret: (tenant, name, sealed).
pub fn all(tx: &mut dyn Tx) -> Result<Vec<Stored>, StoreError> {
    tx.query(
        "SELECT tenant, name, sealed FROM secrets ORDER BY tenant, name",
        &[],
    )?
    .into_iter()
    .map(|mut row| Ok((row.text(0)?, row.text(1)?, row.blob(2)?)))
    .collect()
}

/// The change counter, then every stored secret: the set is at least as new as the counter (it
/// is read first; under PostgreSQL's READ COMMITTED each statement sees the latest commits), so
/// a reload keyed on the counter never misses a change, at worst reloads once more.
pub fn snapshot(tx: &mut dyn Tx) -> Result<(i64, Vec<Stored>), StoreError> {
    let generation = generation(tx)?;
    Ok((generation, all(tx)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_tenant_and_name() {
        let sealer = Sealer::new([7; 32]);
        let sealed = sealer.seal("t0", "k", b"value").expect("seal");
        assert!(!sealed.windows(5).any(|w| w == b"value"));
        assert_eq!(sealer.open("t0", "k", &sealed).expect("open"), b"value");
        assert!(sealer.open("t1", "k", &sealed).is_err());
        assert!(sealer.open("t0", "j", &sealed).is_err());
        assert!(Sealer::new([8; 32]).open("t0", "k", &sealed).is_err());
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert!(sealer.open("t0", "k", &flipped).is_err());
        assert_ne!(sealer.seal("t0", "k", b"value").expect("seal"), sealed);
    }

    #[test]
    fn a_generated_key_file_is_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("stockade-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub").join("secret.key");
        assert!(
            Sealer::from_key_file(&path, false).is_err(),
            "not generated"
        );
        let first = Sealer::from_key_file(&path, true).expect("generated");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let sealed = first.seal("t", "n", b"v").expect("seal");
        let again = Sealer::from_key_file(&path, true).expect("read back");
        assert_eq!(again.open("t", "n", &sealed).expect("open"), b"v");
        std::fs::write(&path, "00".repeat(32)).expect("hex key");
        assert!(Sealer::from_key_file(&path, false).is_ok());
        std::fs::write(&path, "short").expect("bad key");
        assert!(Sealer::from_key_file(&path, false).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
