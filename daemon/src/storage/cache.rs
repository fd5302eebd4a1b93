//! The Cache API's entries (`caches.default`, `caches.open(name)`): the `cache.match`,
//! `cache.put` and `cache.delete` host calls.
//!
//! Like Cloudflare's, this cache is a cache, not storage: entries live in the supervisor's memory,
//! per tenant, and go when they expire, when the tenant's `[quotas] cache_bytes` is full (least
//! recently used first) or when the daemon stops. Freshness comes from the response:
//! `Cache-Control: s-maxage` or `max-age`, else `Expires`, else [`DEFAULT_TTL`]; a response with
//! `Cache-Control: no-store`, `no-cache` or `private`, a `Set-Cookie` header, or no freshness
//! left is accepted and not kept (as on Workers).
//!
//! Guarantees: a call reaches only its own tenant's entries (the tenant comes from the call
//! context the supervisor attached, never from the payload); a tenant's entries never take more
//! than its `cache_bytes` (URL, headers and body counted); an expired entry is never answered.
//! Trusts: the call context; nothing in the payload (sizes and names are checked here).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lru::LruCache;
use serde::Deserialize;
use serde_json::{json, Value};
use stockade_cordon::TenantId;

use super::{frame, split};
use crate::supervisor::{CallContext, HostCalls};

/// How long a response without freshness information stays (Cloudflare's default edge TTL for
/// a 200).
pub const DEFAULT_TTL: Duration = Duration::from_secs(2 * 60 * 60);
/// Longest cache name, bytes.
const MAX_NAME: usize = 256;
/// Longest URL, bytes.
const MAX_URL: usize = 16 * 1024;

/// One cached response.
struct Entry {
    status: u16,
    status_text: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    expires: Instant,
    bytes: u64,
}

/// One tenant's entries by (cache name, URL), least recently used first out.
struct TenantCache {
    entries: LruCache<(String, String), Entry>,
    bytes: u64,
}

impl TenantCache {
    fn new() -> TenantCache {
        TenantCache {
            entries: LruCache::unbounded(),
            bytes: 0,
        }
    }

    fn remove(&mut self, key: &(String, String)) -> bool {
        match self.entries.pop(key) {
            Some(old) => {
                self.bytes -= old.bytes;
                true
            }
            None => false,
        }
    }
}

/// Every tenant's cache.
pub struct Caches {
    tenants: Mutex<HashMap<TenantId, TenantCache>>,
    /// `cache_bytes` by tenant id (the config's order); [`Caches::default_bytes`] for others.
    budgets: Vec<u64>,
    default_bytes: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    cache: String,
    url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Put {
    cache: String,
    url: String,
    status: u16,
    status_text: String,
    headers: Vec<(String, String)>,
}

/// Why a call was refused, as the tenant sees it (`{"error": {name, message}}`).
fn refuse(name: &str, message: String) -> Value {
    json!({"error": {"name": name, "message": message}})
}

fn check_key(cache: &str, url: &str) -> Result<(), Value> {
    if cache.len() > MAX_NAME {
        return Err(refuse(
            "TypeError",
            format!("a cache name is at most {MAX_NAME} bytes"),
        ));
    }
    if url.is_empty() || url.len() > MAX_URL {
        return Err(refuse(
            "TypeError",
            format!("a cached URL is 1 to {MAX_URL} bytes"),
        ));
    }
    Ok(())
}

/// How long a response with `headers` may be kept; `None`: not at all.
pub fn freshness(headers: &[(String, String)], now: SystemTime) -> Option<Duration> {
    let get = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if get("set-cookie").next().is_some() {
        return None;
    }
    let (mut max_age, mut s_maxage) = (None, None);
    for directive in get("cache-control").flat_map(|v| v.split(',')) {
        let directive = directive.trim().to_ascii_lowercase();
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (
                n.trim().to_owned(),
                Some(v.trim().trim_matches('"').to_owned()),
            ),
            None => (directive.clone(), None),
        };
        let seconds = value.and_then(|v| v.parse::<u64>().ok());
        match name.as_str() {
            "no-store" | "no-cache" | "private" => return None,
            "max-age" => max_age = max_age.or(seconds),
            "s-maxage" => s_maxage = s_maxage.or(seconds),
            _ => {}
        }
    }
    let ttl = match s_maxage.or(max_age) {
        Some(seconds) => Duration::from_secs(seconds),
        None => match get("expires").next() {
            // An unparsable Expires means "already expired" (RFC 9111, 5.3).
            Some(v) => httpdate::parse_http_date(v)
                .ok()
                .and_then(|at| at.duration_since(now).ok())
                .unwrap_or(Duration::ZERO),
            None => DEFAULT_TTL,
        },
    };
    (!ttl.is_zero()).then_some(ttl)
}

impl Caches {
    /// `budgets[i]` is the `cache_bytes` of tenant id `i`; `default_bytes` for tenants added
    /// later.
    pub fn new(budgets: Vec<u64>, default_bytes: u64) -> Arc<Caches> {
        Arc::new(Caches {
            tenants: Mutex::new(HashMap::new()),
            budgets,
            default_bytes,
        })
    }

    /// Registers `cache.match`, `cache.put` and `cache.delete`.
    pub fn register(self: &Arc<Caches>, calls: &mut HostCalls) {
        for op in ["match", "put", "delete"] {
            let me = Arc::clone(self);
            calls.register_in_context(&format!("cache.{op}"), move |context, payload| {
                let me = Arc::clone(&me);
                async move { me.answer(&context, op, &payload) }
            });
        }
    }

    fn budget(&self, tenant: TenantId) -> u64 {
        usize::try_from(tenant.0)
            .ok()
            .and_then(|i| self.budgets.get(i).copied())
            .unwrap_or(self.default_bytes)
    }

    fn answer(&self, context: &CallContext, op: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
        let (head, body) = split(payload)?;
        let result = match op {
            "match" => self.lookup(context.tenant, head),
            "put" => self.put(context.tenant, head, body),
            _ => self.delete(context.tenant, head),
        };
        Ok(match result {
            Ok((head, bytes)) => frame(&head, &bytes),
            Err(head) => frame(&head, &[]),
        })
    }

    fn tenants(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, TenantCache>> {
        self.tenants.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, tenant: TenantId, head: Value) -> Result<(Value, Vec<u8>), Value> {
        let key: Key = parse(head)?;
        check_key(&key.cache, &key.url)?;
        let key = (key.cache, key.url);
        let mut tenants = self.tenants();
        let Some(cache) = tenants.get_mut(&tenant) else {
            return Ok((json!({"hit": false}), Vec::new()));
        };
        let fresh = cache
            .entries
            .peek(&key)
            .is_some_and(|e| e.expires > Instant::now());
        if !fresh {
            cache.remove(&key);
            return Ok((json!({"hit": false}), Vec::new()));
        }
        let Some(entry) = cache.entries.get(&key) else {
            return Ok((json!({"hit": false}), Vec::new()));
        };
        Ok((
            json!({"hit": true, "status": entry.status, "statusText": entry.status_text,
                   "headers": entry.headers}),
            entry.body.clone(),
        ))
    }

    fn put(&self, tenant: TenantId, head: Value, body: &[u8]) -> Result<(Value, Vec<u8>), Value> {
        let put: Put = parse(head)?;
        check_key(&put.cache, &put.url)?;
        if !(200..=599).contains(&put.status) || put.status == 206 {
            return Err(refuse(
                "TypeError",
                format!(
                    "Cache.put: a response of status {} cannot be cached",
                    put.status
                ),
            ));
        }
        let Some(ttl) = freshness(&put.headers, SystemTime::now()) else {
            let mut tenants = self.tenants();
            if let Some(cache) = tenants.get_mut(&tenant) {
                cache.remove(&(put.cache, put.url));
            }
            return Ok((json!({"stored": false}), Vec::new()));
        };
        let header_bytes: usize = put.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        let bytes = (put.cache.len() + put.url.len() + header_bytes + body.len()) as u64;
        let budget = self.budget(tenant);
        if bytes > budget {
            return Err(refuse(
                "QuotaExceededError",
                format!("Cache.put: the response takes {bytes} bytes, more than the tenant's cache holds ({budget})"),
            ));
        }
        let entry = Entry {
            status: put.status,
            status_text: put.status_text,
            headers: put.headers,
            body: body.to_vec(),
            expires: Instant::now() + ttl,
            bytes,
        };
        let key = (put.cache, put.url);
        let mut tenants = self.tenants();
        let cache = tenants.entry(tenant).or_insert_with(TenantCache::new);
        cache.remove(&key);
        while cache.bytes + bytes > budget {
            match cache.entries.pop_lru() {
                Some((_, old)) => cache.bytes -= old.bytes,
                None => break,
            }
        }
        cache.bytes += bytes;
        cache.entries.put(key, entry);
        Ok((json!({"stored": true}), Vec::new()))
    }

    fn delete(&self, tenant: TenantId, head: Value) -> Result<(Value, Vec<u8>), Value> {
        let key: Key = parse(head)?;
        check_key(&key.cache, &key.url)?;
        let key = (key.cache, key.url);
        let mut tenants = self.tenants();
        let deleted = tenants.get_mut(&tenant).is_some_and(|cache| {
            let fresh = cache
                .entries
                .peek(&key)
                .is_some_and(|e| e.expires > Instant::now());
            cache.remove(&key) && fresh
        });
        Ok((json!({ "deleted": deleted }), Vec::new()))
    }

    /// Bytes held for `tenant`.
    #[cfg(test)]
    fn held(&self, tenant: TenantId) -> u64 {
        self.tenants().get(&tenant).map_or(0, |c| c.bytes)
    }
}

fn parse<T: serde::de::DeserializeOwned>(head: Value) -> Result<T, Value> {
    serde_json::from_value(head).map_err(|e| refuse("TypeError", format!("a cache call: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn freshness_follows_cache_control_then_expires_then_the_default() {
        let now = SystemTime::now();
        assert_eq!(
            freshness(&h(&[("Cache-Control", "public, max-age=60")]), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            freshness(&h(&[("cache-control", "max-age=60, s-maxage=5")]), now),
            Some(Duration::from_secs(5))
        );
        for refused in ["no-store", "private", "no-cache", "max-age=0"] {
            assert_eq!(freshness(&h(&[("cache-control", refused)]), now), None);
        }
        assert_eq!(freshness(&h(&[("set-cookie", "a=b")]), now), None);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(100));
        let ttl = freshness(&h(&[("expires", &later)]), now).expect("fresh");
        assert!(ttl <= Duration::from_secs(100) && ttl >= Duration::from_secs(98));
        assert_eq!(freshness(&h(&[("expires", "yesterday")]), now), None);
        assert_eq!(freshness(&[], now), Some(DEFAULT_TTL));
    }

    fn put_head(url: &str, body_headers: &[(&str, &str)]) -> Value {
        json!({"cache": "", "url": url, "status": 200, "statusText": "OK", "headers": h(body_headers)})
    }

    #[test]
    fn a_tenant_never_holds_more_than_its_budget_and_the_least_recently_used_goes_first() {
        let caches = Caches::new(vec![1000], 1000);
        let t = TenantId(0);
        for i in 0..5 {
            let url = format!("https://a/{i}");
            caches
                .put(t, put_head(&url, &[]), &[0u8; 300])
                .expect("stored");
            assert!(caches.held(t) <= 1000, "{}", caches.held(t));
        }
        // Only the latest three fit (each takes a little over 300 bytes).
        let hit = |i: usize| {
            let (head, _) = caches
                .lookup(t, json!({"cache": "", "url": format!("https://a/{i}")}))
                .expect("answer");
            head["hit"] == json!(true)
        };
        assert!(!hit(0) && !hit(1));
        assert!(hit(2) && hit(3) && hit(4));
        // Touching 2 makes 3 the least recently used.
        assert!(hit(2));
        caches
            .put(t, put_head("https://a/5", &[]), &[0u8; 300])
            .expect("stored");
        assert!(hit(2) && !hit(3));
        let refused = caches
            .put(t, put_head("https://a/big", &[]), &[0u8; 2000])
            .expect_err("too big");
        assert_eq!(refused["error"]["name"], "QuotaExceededError");
    }

    #[test]
    fn tenants_never_see_each_others_entries() {
        let caches = Caches::new(vec![1 << 20, 1 << 20], 0);
        caches
            .put(TenantId(0), put_head("https://x/", &[]), b"secret")
            .expect("stored");
        let (head, body) = caches
            .lookup(TenantId(1), json!({"cache": "", "url": "https://x/"}))
            .expect("answer");
        assert_eq!((head["hit"].clone(), body.len()), (json!(false), 0));
        let (head, _) = caches
            .delete(TenantId(1), json!({"cache": "", "url": "https://x/"}))
            .expect("answer");
        assert_eq!(head["deleted"], false);
        let (head, body) = caches
            .lookup(TenantId(0), json!({"cache": "", "url": "https://x/"}))
            .expect("answer");
        assert_eq!(
            (head["hit"].clone(), body),
            (json!(true), b"secret".to_vec())
        );
    }

    #[test]
    fn hostile_heads_get_typed_errors() {
        let caches = Caches::new(vec![], 1 << 20);
        let t = TenantId(3);
        for bad in [
            json!({"cache": "", "url": ""}),
            json!({"cache": "x".repeat(MAX_NAME + 1), "url": "https://a/"}),
            json!({"cache": "", "url": "u".repeat(MAX_URL + 1)}),
            json!({"cache": "", "url": "https://a/", "more": 1}),
            json!({"url": "https://a/"}),
        ] {
            let e = caches.lookup(t, bad).expect_err("refused");
            assert_eq!(e["error"]["name"], "TypeError");
        }
        let mut partial = put_head("https://a/", &[]);
        partial["status"] = json!(206);
        assert!(caches.put(t, partial, b"").is_err());
    }
}
