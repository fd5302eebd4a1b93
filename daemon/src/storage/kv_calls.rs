//! The `kv.*` host calls (`get`, `put`, `delete`, `list`) on one namespace the caller resolved.
//!
//! Guarantees: expirations follow Cloudflare KV (`expiration` in seconds since the epoch,
//! `expirationTtl` in seconds from now, both at least 60 s ahead); metadata is any JSON value of
//! at most 1024 bytes; cursors are opaque (base64url of the last key) and only ever resume within
//! the same namespace. Trusts: the namespace and tenant from `storage`.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse, Answer};
use crate::store::{kv, now_ms, Store, StoreError};

pub const OPS: [&str; 4] = ["get", "put", "delete", "list"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Put {
    key: String,
    #[serde(default)]
    expiration: Option<f64>,
    #[serde(default)]
    expiration_ttl: Option<f64>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct List {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<f64>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// The expiration of a put, ms since the epoch (0: never).
fn expires_ms(p: &Put, now: i64) -> Result<i64, StoreError> {
    let bad = |m: &str| StoreError::Invalid(m.to_owned());
    let secs = match (p.expiration, p.expiration_ttl) {
        (None, None) => return Ok(0),
        (Some(at), None) => {
            if !at.is_finite() || at < 0.0 {
                return Err(bad("expiration must be seconds since the epoch"));
            }
            at.floor() as i64
        }
        (None, Some(ttl)) => {
            if !ttl.is_finite() || ttl < kv::MIN_TTL_SECS as f64 {
                return Err(bad("expirationTtl must be at least 60 seconds"));
            }
            now / 1000 + ttl.min(1e12).floor() as i64
        }
        (Some(_), Some(_)) => return Err(bad("give expiration or expirationTtl, not both")),
    };
    if secs < now / 1000 + kv::MIN_TTL_SECS {
        return Err(bad("expiration must be at least 60 seconds in the future"));
    }
    Ok(secs.saturating_mul(1000))
}

fn metadata_value(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

pub async fn call(
    store: &Store,
    tenant: &str,
    ns: &str,
    op: &str,
    head: &Value,
    body: &[u8],
) -> Answer {
    let (tenant, ns) = (tenant.to_owned(), ns.to_owned());
    let now = now_ms();
    match op {
        "get" => {
            let Key { key } = parse(head, "get")?;
            let entry = store
                .tx(move |tx| kv::get(tx, &tenant, &ns, &key, now))
                .await?;
            Ok(match entry {
                None => (json!({"found": false}), Vec::new()),
                Some(e) => (
                    json!({"found": true, "metadata": metadata_value(e.metadata), "expiration": e.expiration}),
                    e.value,
                ),
            })
        }
        "put" => {
            let p: Put = parse(head, "put")?;
            let expires = expires_ms(&p, now)?;
            let metadata = match p.metadata {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.to_string()),
            };
            let value = body.to_vec();
            store
                .tx(move |tx| kv::put(tx, &tenant, &ns, &p.key, value, metadata, expires))
                .await?;
            Ok((json!({}), Vec::new()))
        }
        "delete" => {
            let Key { key } = parse(head, "delete")?;
            store
                .tx(move |tx| kv::delete(tx, &tenant, &ns, &key))
                .await?;
            Ok((json!({}), Vec::new()))
        }
        "list" => {
            let l: List = parse(head, "list")?;
            let limit = match l.limit {
                None => kv::MAX_LIST,
                Some(n) if n.is_finite() && n >= 1.0 => (n.floor() as i64).min(kv::MAX_LIST),
                Some(_) => return Err(StoreError::Invalid("limit must be at least 1".into())),
            };
            let cursor = match l.cursor.filter(|c| !c.is_empty()) {
                None => None,
                Some(c) => Some(
                    b64()
                        .decode(c)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| StoreError::Invalid("invalid cursor".into()))?,
                ),
            };
            let prefix = l.prefix.unwrap_or_default();
            let page = store
                .tx(move |tx| kv::list(tx, &tenant, &ns, &prefix, cursor.as_deref(), limit, now))
                .await?;
            let keys: Vec<Value> = page
                .keys
                .into_iter()
                .map(|k| {
                    let mut o = json!({"name": k.name});
                    if let Some(at) = k.expiration {
                        o["expiration"] = json!(at);
                    }
                    if k.metadata.is_some() {
                        o["metadata"] = metadata_value(k.metadata);
                    }
                    o
                })
                .collect();
            Ok((
                json!({
                    "keys": keys,
                    "list_complete": page.cursor.is_none(),
                    "cursor": page.cursor.map(|c| b64().encode(c)),
                }),
                Vec::new(),
            ))
        }
        _ => Err(StoreError::Invalid(format!("no kv operation {op}"))),
    }
}
