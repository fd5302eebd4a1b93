//! Tenants' secrets: values the gateway injects into outbound headers and tenant code never
//! sees. Configured secrets (`[tenants.secrets]`) are loaded at start; the API may set or delete
//! secrets at run time (it also keeps them sealed in the store, `store::secrets`, and `serve`
//! sets them here again at start).
//!
//! Guarantees: a value leaves this module only through [`Secrets::value`] (for injection) and is
//! never part of a `Debug`, `Display` or error text; [`scrub`] replaces every occurrence of given
//! values in bytes. Names are 1-64 of `[A-Za-z0-9_.-]`; values are 1 to [`MAX_SECRET_LEN`] bytes
//! and valid in an HTTP header (visible ASCII, space or tab). Trusts: the config; the API to have
//! authorised the caller.

use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::config::SecretValue;

/// The longest secret value, bytes.
pub const MAX_SECRET_LEN: usize = 4096;
/// The most secrets one tenant may hold.
pub const MAX_SECRETS_PER_TENANT: usize = 256;
/// What replaces a secret value in a response.
pub const REDACTED: &[u8] = b"[redacted]";

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

/// Every tenant's secrets, by tenant index (`TenantId`), and which names the configuration file
/// gave (a reload replaces those; the ones set through the API are set again after it).
pub struct Secrets {
    by_tenant: RwLock<Vec<BTreeMap<String, SecretValue>>>,
    from_file: RwLock<Vec<std::collections::BTreeSet<String>>>,
}

impl Secrets {
    pub fn new(configured: Vec<BTreeMap<String, SecretValue>>) -> Secrets {
        let from_file = configured
            .iter()
            .map(|m| m.keys().cloned().collect())
            .collect();
        Secrets {
            by_tenant: RwLock::new(configured),
            from_file: RwLock::new(from_file),
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
            from_file.push(std::collections::BTreeSet::new());
        }
        for gone in from_file[tenant].iter().filter(|n| !file.contains_key(*n)) {
            all[tenant].remove(gone);
        }
        for (name, value) in file {
            all[tenant].insert(name.clone(), value.clone());
        }
        from_file[tenant] = file.keys().cloned().collect();
    }

    /// The value of `tenant`'s secret `name`, for injection.
    pub fn value(&self, tenant: usize, name: &str) -> Option<SecretValue> {
        let all = self.by_tenant.read().unwrap_or_else(|e| e.into_inner());
        all.get(tenant)?.get(name).cloned()
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

    /// Deletes a secret; whether it existed.
    pub fn delete(&self, tenant: usize, name: &str) -> bool {
        let mut all = self.by_tenant.write().unwrap_or_else(|e| e.into_inner());
        all.get_mut(tenant)
            .is_some_and(|map| map.remove(name).is_some())
    }
}

/// The forms of `value` an echoing upstream commonly hands back: verbatim, JSON-escaped,
/// form-encoded, percent-encoded and base64.
fn forms(value: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let mut forms = vec![value.as_bytes().to_vec()];
    if let Ok(json) = serde_json::to_string(value) {
        forms.push(json.as_bytes()[1..json.len() - 1].to_vec());
    }
    let form: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    forms.push(form.replace('+', "%20").into_bytes());
    forms.push(form.into_bytes());
    forms.push(
        base64::engine::general_purpose::STANDARD
            .encode(value)
            .into_bytes(),
    );
    forms
}

/// `bytes` with every occurrence of each of `values`, in each of its common encodings
/// (verbatim, JSON-escaped, form- or percent-encoded, base64), replaced by [`REDACTED`] (longer
/// forms first, so a value containing another is replaced whole). An upstream that transforms a
/// value otherwise (splits it, changes its case) is not caught.
pub fn scrub(bytes: &[u8], values: &[SecretValue]) -> Vec<u8> {
    Scrubber::new(values).scrub_whole(bytes)
}

/// [`scrub`] over a body that arrives in pieces: a value split across pieces is still caught,
/// because the end of what came, when it is the start of a value's form, is held back until
/// the next piece (or the end) shows whether the value follows. Nothing else is held: an event
/// stream's pieces go out as they come.
pub struct Scrubber {
    /// Every form of every value, longest first.
    values: Vec<Vec<u8>>,
    held: Vec<u8>,
}

impl Scrubber {
    pub fn new(values: &[SecretValue]) -> Scrubber {
        let mut forms: Vec<Vec<u8>> = values
            .iter()
            .flat_map(|v| forms(&v.0))
            .filter(|f| !f.is_empty())
            .collect();
        forms.sort_by_key(|v| std::cmp::Reverse(v.len()));
        forms.dedup();
        Scrubber {
            values: forms,
            held: Vec::new(),
        }
    }

    /// The length of the longest end of `out` that is the start (not the whole) of a form.
    fn partial_at_end(&self, out: &[u8]) -> usize {
        self.values
            .iter()
            .filter_map(|form| (1..form.len()).rev().find(|&k| out.ends_with(&form[..k])))
            .max()
            .unwrap_or(0)
    }

    fn scrub_whole(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for value in &self.values {
            out = replace_all(&out, value);
        }
        out
    }

    /// What of the body so far can go out, scrubbed.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        if self.values.is_empty() {
            return piece.to_vec();
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(piece);
        let mut out = self.scrub_whole(&buf);
        let cut = out.len() - self.partial_at_end(&out);
        self.held = out.split_off(cut);
        out
    }

    /// The rest, at the end of the body.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// Linear in `haystack` whatever the bytes (`memmem`'s two-way search), so an upstream cannot
/// make scrubbing slow.
fn replace_all(haystack: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    let finder = memchr::memmem::Finder::new(needle);
    while let Some(at) = finder.find(rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(REDACTED);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// [`scrub`] for text.
pub fn scrub_str(text: &str, values: &[SecretValue]) -> String {
    String::from_utf8_lossy(&scrub(text.as_bytes(), values)).into_owned()
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
        secrets.configure(2, &file(&[("c", "3")]));
        assert_eq!(
            value(2, "c").as_deref(),
            Some("3"),
            "a tenant the reload added"
        );
        assert_eq!(secrets.names(1), Some(Vec::new()));
    }

    #[test]
    fn a_value_split_across_pieces_is_still_scrubbed() {
        let values = [SecretValue("s3cr3t-value".into())];
        let body = b"before s3cr3t-value middle czNjcjN0LXZhbHVl after s3cr3t-value";
        let whole = scrub(body, &values);
        // Every way of cutting the body into two or three pieces gives the same result.
        for a in 0..=body.len() {
            for b in a..=body.len() {
                let mut scrubber = Scrubber::new(&values);
                let mut out = scrubber.push(&body[..a]);
                out.extend(scrubber.push(&body[a..b]));
                out.extend(scrubber.push(&body[b..]));
                out.extend(scrubber.finish());
                assert_eq!(out, whole, "cut at {a} and {b}");
            }
        }
        assert!(!String::from_utf8_lossy(&whole).contains("s3cr3t"));
    }

    #[test]
    fn only_the_start_of_a_value_is_held_back() {
        let mut scrubber = Scrubber::new(&[SecretValue("s3cr3t-value".into())]);
        assert_eq!(scrubber.push(b"data: 1\n\n"), b"data: 1\n\n");
        assert_eq!(scrubber.push(b"x s3cr"), b"x ");
        assert_eq!(scrubber.push(b"3t-value y"), b"[redacted] y");
        assert_eq!(scrubber.push(b" s3"), b" ");
        assert_eq!(scrubber.finish(), b"s3");
    }

    #[test]
    fn scrub_replaces_every_occurrence_longest_first() {
        let values = [SecretValue("abc".into()), SecretValue("abcdef".into())];
        assert_eq!(scrub(b"xabcdefyabcz", &values), b"x[redacted]y[redacted]z");
        assert_eq!(scrub(b"nothing", &values), b"nothing");
        assert_eq!(scrub(b"abcab", &values), b"[redacted]ab");
        let odd = [SecretValue("a\"b c/+".into())];
        for echoed in [
            &b"a\"b c/+"[..],
            b"a\\\"b c/+",
            b"a%22b+c%2F%2B",
            b"a%22b%20c%2F%2B",
            b"YSJiIGMvKw==",
        ] {
            assert_eq!(
                scrub(echoed, &odd),
                b"[redacted]",
                "{}",
                String::from_utf8_lossy(echoed)
            );
        }
        // Adversarial bytes stay linear: 16 MiB of near-misses of a 4 KiB value.
        let long = SecretValue(format!("{}b", "a".repeat(4095)));
        let body = vec![b'a'; 16 << 20];
        let start = std::time::Instant::now();
        assert_eq!(scrub(&body, &[long]).len(), body.len());
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(scrub_str("abcabc", &values[..1]), "[redacted][redacted]");
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
        assert!(secrets.delete(1, "k"));
        assert!(!secrets.delete(1, "k"));
        assert_eq!(format!("{:?}", SecretValue("v".into())), "[redacted]");
    }
}
