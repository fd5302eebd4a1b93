//! Key-value namespaces (Cloudflare KV's model): per tenant and namespace, UTF-8 keys of at most
//! [`MAX_KEY_BYTES`] bytes, values of at most [`MAX_VALUE_BYTES`], optional JSON metadata of at
//! most [`MAX_METADATA_BYTES`], optional expiration.
//!
//! Guarantees: every operation is confined to one (tenant, namespace): no key, prefix or cursor
//! reaches another's rows (they are bound parameters of an equality on both columns); an
//! expired entry is never returned (it is as good as deleted; [`sweep`] removes them); `list`
//! is in key order (bytewise: UTF-8 order is code point order) and resumes strictly after its
//! cursor. Limits are checked here, whoever the caller. Trusts: the tenant and namespace its
//! caller resolved (the supervisor, from the stored worker definition).

use super::{StoreError, Tx};

/// Longest key, bytes (Cloudflare's limit).
pub const MAX_KEY_BYTES: usize = 512;
/// Largest value, bytes: a host call carries at most 16 MiB (Cloudflare allows 25 MiB).
pub const MAX_VALUE_BYTES: usize = 15 << 20;
/// Largest metadata, as JSON text (Cloudflare's limit).
pub const MAX_METADATA_BYTES: usize = 1024;
/// Most keys one `list` returns (and the default).
pub const MAX_LIST: i64 = 1000;
/// Shortest time to live, seconds (Cloudflare's).
pub const MIN_TTL_SECS: i64 = 60;

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
    /// JSON text.
    pub metadata: Option<String>,
    /// Seconds since the epoch.
    pub expiration: Option<i64>,
}

/// One key of a `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub metadata: Option<String>,
    pub expiration: Option<i64>,
}

/// A page of `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub keys: Vec<Listed>,
    /// Where the next page starts (the last key of this one) unless the listing is complete.
    pub cursor: Option<String>,
}

pub fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "a key must be 1 to {MAX_KEY_BYTES} bytes of UTF-8"
        )));
    }
    if key == "." || key == ".." {
        return Err(StoreError::Invalid(
            "a key cannot be \".\" or \"..\"".into(),
        ));
    }
    Ok(())
}

fn metadata(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn expiration(ms: i64) -> Option<i64> {
    (ms != 0).then_some(ms / 1000)
}

/// The value of `key`, unless missing or expired at `now_ms`.
pub fn get(
    tx: &mut dyn Tx,
    tenant: &str,
    ns: &str,
    key: &str,
    now_ms: i64,
) -> Result<Option<Entry>, StoreError> {
    check_key(key)?;
    let mut rows = tx.query(
        "SELECT value, metadata, expires_ms FROM kv \
         WHERE tenant = ?1 AND namespace = ?2 AND key = ?3",
        &[tenant.into(), ns.into(), key.into()],
    )?;
    let Some(row) = rows.first_mut() else {
        return Ok(None);
    };
    let expires = row.int(2)?;
    if expires != 0 && expires <= now_ms {
        return Ok(None);
    }
    Ok(Some(Entry {
        value: row.blob(0)?,
        metadata: metadata(row.text(1)?),
        expiration: expiration(expires),
    }))
}

/// Sets `key`. `expires_ms` 0 means never.
pub fn put(
    tx: &mut dyn Tx,
    tenant: &str,
    ns: &str,
    key: &str,
    value: Vec<u8>,
    metadata: Option<String>,
    expires_ms: i64,
) -> Result<(), StoreError> {
    check_key(key)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::Invalid(format!(
            "a value is at most {MAX_VALUE_BYTES} bytes"
        )));
    }
    let metadata = metadata.unwrap_or_default();
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(StoreError::Invalid(format!(
            "metadata is at most {MAX_METADATA_BYTES} bytes of JSON"
        )));
    }
    tx.exec(
        "INSERT INTO kv (tenant, namespace, key, value, metadata, expires_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (tenant, namespace, key) DO UPDATE SET value = excluded.value, \
         metadata = excluded.metadata, expires_ms = excluded.expires_ms",
        &[
            tenant.into(),
            ns.into(),
            key.into(),
            value.into(),
            metadata.into(),
            expires_ms.into(),
        ],
    )?;
    Ok(())
}

/// Deletes `key` (nothing if missing).
pub fn delete(tx: &mut dyn Tx, tenant: &str, ns: &str, key: &str) -> Result<(), StoreError> {
    check_key(key)?;
    tx.exec(
        "DELETE FROM kv WHERE tenant = ?1 AND namespace = ?2 AND key = ?3",
        &[tenant.into(), ns.into(), key.into()],
    )?;
    Ok(())
}

/// The least string greater than every string starting with `prefix` (`None`: no bound).
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Up to `limit` keys starting with `prefix`, after `cursor`, live at `now_ms`.
pub fn list(
    tx: &mut dyn Tx,
    tenant: &str,
    ns: &str,
    prefix: &str,
    cursor: Option<&str>,
    limit: i64,
    now_ms: i64,
) -> Result<Page, StoreError> {
    if prefix.len() > MAX_KEY_BYTES {
        return Err(StoreError::Invalid(
            "the prefix is longer than a key".into(),
        ));
    }
    let limit = limit.clamp(1, MAX_LIST);
    let start = match cursor {
        Some(c) if c >= prefix => c.to_owned(),
        _ => String::new(),
    };
    let end = prefix_end(prefix).unwrap_or_default();
    let rows = tx.query(
        "SELECT key, metadata, expires_ms FROM kv \
         WHERE tenant = ?1 AND namespace = ?2 AND key >= ?3 AND key > ?4 \
         AND (?5 = '' OR key < ?5) AND (expires_ms = 0 OR expires_ms > ?7) \
         ORDER BY key LIMIT ?6",
        &[
            tenant.into(),
            ns.into(),
            prefix.into(),
            start.into(),
            end.into(),
            (limit + 1).into(),
            now_ms.into(),
        ],
    )?;
    let mut keys = Vec::with_capacity(rows.len());
    for row in &rows {
        keys.push(Listed {
            name: row.text(0)?,
            metadata: metadata(row.text(1)?),
            expiration: expiration(row.int(2)?),
        });
    }
    let more = keys.len() as i64 > limit;
    keys.truncate(limit as usize);
    let cursor = more.then(|| keys.last().map(|k| k.name.clone())).flatten();
    Ok(Page { keys, cursor })
}

/// Deletes every entry expired at `now_ms` (all tenants); how many.
pub fn sweep(tx: &mut dyn Tx, now_ms: i64) -> Result<u64, StoreError> {
    tx.exec(
        "DELETE FROM kv WHERE expires_ms <> 0 AND expires_ms <= ?1",
        &[now_ms.into()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_bound_every_extension() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        for s in ["ab", "ab\u{10FFFF}\u{10FFFF}", "ab/zz", "abé"] {
            assert!(s < prefix_end("ab").expect("bound").as_str());
        }
    }
}
