//! The arguments of the `r2.*` host calls, checked (`r2_calls`): keys, resource numbers,
//! httpMetadata, customMetadata, the checksum a put is checked against, a list's options; and an
//! object as the runtime takes it.
//!
//! Guarantees: what R2 refuses is refused here as a `TypeError` (or R2's own error, for
//! customMetadata past 2 KiB); a cursor is only ever a key to start from. Trusts: nothing in the
//! request.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::r2::{check_key, R2Error};
use super::r2_index::{ListQuery, Meta, MAX_LIST};

/// Most bytes of customMetadata (keys and values), as on R2.
pub const MAX_CUSTOM_METADATA: usize = 2048;
/// Most bytes of httpMetadata's values together.
pub const MAX_HTTP_METADATA: usize = 8192;
/// Most keys one delete names.
pub const MAX_DELETE: usize = 1000;

const HTTP_FIELDS: [&str; 6] = [
    "contentType",
    "contentLanguage",
    "contentDisposition",
    "contentEncoding",
    "cacheControl",
    "cacheExpiry",
];

pub fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

pub fn str_field<'a>(head: &'a Value, field: &str) -> Result<Option<&'a str>, R2Error> {
    match head.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(R2Error::Invalid(format!("{field} must be a string"))),
    }
}

pub fn key_of(head: &Value) -> Result<String, R2Error> {
    let key = str_field(head, "key")?.ok_or_else(|| R2Error::Invalid("a key is needed".into()))?;
    check_key(key)?;
    Ok(key.to_owned())
}

pub fn id_of(head: &Value, field: &str) -> Result<u32, R2Error> {
    head.get(field)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| R2Error::Invalid(format!("{field} must be a resource number")))
}

/// An object as the runtime takes it.
pub fn object_json(m: &Meta, range: Option<(u64, u64)>) -> Value {
    let mut o = json!({
        "key": m.key, "version": m.version, "size": m.size, "etag": m.etag,
        "uploaded": m.uploaded_ms, "httpMetadata": m.http, "customMetadata": m.custom,
        "checksums": m.checksums,
    });
    if let Some(at) = m.http.get("cacheExpiry").and_then(Value::as_i64) {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.max(0) as u64);
        o["expires"] = json!(httpdate::fmt_http_date(when));
    }
    if let Some((offset, length)) = range {
        o["range"] = json!({"offset": offset, "length": length});
    }
    o
}

/// The httpMetadata of a put, checked.
pub fn http_metadata(v: Option<&Value>) -> Result<Value, R2Error> {
    let Some(o) = v.filter(|v| !v.is_null()) else {
        return Ok(json!({}));
    };
    let o = o
        .as_object()
        .ok_or_else(|| R2Error::Invalid("httpMetadata must be an object or Headers".into()))?;
    let mut out = Map::new();
    let mut bytes = 0;
    for (field, value) in o {
        if !HTTP_FIELDS.contains(&field.as_str()) {
            return Err(R2Error::Invalid(format!(
                "httpMetadata has no field {field:?}"
            )));
        }
        match value {
            Value::Null => {}
            Value::Number(n) if field == "cacheExpiry" && n.as_i64().is_some() => {
                out.insert(field.clone(), value.clone());
            }
            // A Headers' `Expires`.
            Value::String(s) if field == "cacheExpiry" => {
                let at = httpdate::parse_http_date(s.trim())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .ok_or_else(|| {
                        R2Error::Invalid("httpMetadata's Expires is not an HTTP date".into())
                    })?;
                out.insert(field.clone(), json!(at.as_millis() as i64));
            }
            Value::String(s) if field != "cacheExpiry" => {
                bytes += s.len();
                out.insert(field.clone(), value.clone());
            }
            _ => {
                return Err(R2Error::Invalid(format!(
                    "httpMetadata.{field} is malformed"
                )))
            }
        }
    }
    if bytes > MAX_HTTP_METADATA {
        return Err(R2Error::Invalid(format!(
            "httpMetadata is at most {MAX_HTTP_METADATA} bytes"
        )));
    }
    Ok(Value::Object(out))
}

/// The customMetadata of a put, checked.
pub fn custom_metadata(v: Option<&Value>) -> Result<Value, R2Error> {
    let Some(o) = v.filter(|v| !v.is_null()) else {
        return Ok(json!({}));
    };
    let o = o
        .as_object()
        .ok_or_else(|| R2Error::Invalid("customMetadata must be an object".into()))?;
    let mut bytes = 0;
    for (k, v) in o {
        let s = v
            .as_str()
            .ok_or_else(|| R2Error::Invalid(format!("customMetadata[{k:?}] must be a string")))?;
        bytes += k.len() + s.len();
    }
    if bytes > MAX_CUSTOM_METADATA {
        return Err(R2Error::Failed(
            10012,
            format!("put: customMetadata is at most {MAX_CUSTOM_METADATA} bytes, this is {bytes}"),
        ));
    }
    Ok(Value::Object(o.clone()))
}

/// The one checksum a put asks to check: (algorithm, lowercase hex).
pub fn checksum(head: &Value) -> Result<Option<(String, String)>, R2Error> {
    let Some(o) = head.get("checksums").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let o = o
        .as_object()
        .ok_or_else(|| R2Error::Invalid("checksums must be an object".into()))?;
    if o.len() > 1 {
        return Err(R2Error::Invalid(
            "put: give at most one of md5, sha1, sha256, sha384, sha512".into(),
        ));
    }
    let Some((name, value)) = o.iter().next() else {
        return Ok(None);
    };
    let hex_len = match name.as_str() {
        "md5" => 32,
        "sha1" => 40,
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(R2Error::Invalid(format!("no checksum {name:?}"))),
    };
    let hex = value
        .as_str()
        .filter(|s| s.len() == hex_len && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| R2Error::Invalid(format!("put: {name} must be {} bytes", hex_len / 2)))?;
    Ok(Some((name.clone(), hex.to_ascii_lowercase())))
}

pub fn list_query(head: &Value) -> Result<ListQuery, R2Error> {
    let limit = match head.get("limit") {
        None | Some(Value::Null) => MAX_LIST,
        Some(v) => match v.as_f64() {
            Some(n) if n >= 1.0 && n <= MAX_LIST as f64 => n as usize,
            _ => {
                return Err(R2Error::Invalid(format!(
                    "list: limit must be 1 to {MAX_LIST}"
                )))
            }
        },
    };
    let mut from = Vec::new();
    if let Some(c) = str_field(head, "cursor")?.filter(|c| !c.is_empty()) {
        from = b64()
            .decode(c)
            .map_err(|_| R2Error::Invalid("list: invalid cursor".into()))?;
    }
    if let Some(s) = str_field(head, "startAfter")? {
        let mut after = s.as_bytes().to_vec();
        after.push(0);
        from = from.max(after);
    }
    Ok(ListQuery {
        prefix: str_field(head, "prefix")?.unwrap_or("").to_owned(),
        limit,
        from,
        delimiter: str_field(head, "delimiter")?
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_checksums_are_checked() {
        assert_eq!(http_metadata(None).expect("none"), json!({}));
        let ok = json!({"contentType": "text/plain", "cacheExpiry": 1700000000000i64});
        assert_eq!(http_metadata(Some(&ok)).expect("valid"), ok);
        for bad in [
            json!({"contentType": 3}),
            json!({"other": "x"}),
            json!({"cacheExpiry": "soon"}),
            json!({"cacheExpiry": true}),
            json!("text"),
        ] {
            assert!(http_metadata(Some(&bad)).is_err(), "{bad}");
        }
        assert!(custom_metadata(Some(&json!({"a": "b"}))).is_ok());
        assert!(custom_metadata(Some(&json!({"a": 1}))).is_err());
        let big = json!({"a": "x".repeat(MAX_CUSTOM_METADATA)});
        assert!(matches!(
            custom_metadata(Some(&big)),
            Err(R2Error::Failed(10012, _))
        ));
        let md5 = "0123456789abcdefABCDEF0123456789";
        assert_eq!(
            checksum(&json!({"checksums": {"md5": md5}})).expect("valid"),
            Some(("md5".into(), md5.to_ascii_lowercase()))
        );
        for bad in [
            json!({"checksums": {"md5": "00"}}),
            json!({"checksums": {"sha256": "zz".repeat(32)}}),
            json!({"checksums": {"crc": "00"}}),
            json!({"checksums": {"md5": md5, "sha1": "0".repeat(40)}}),
        ] {
            assert!(checksum(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_options_are_checked_and_start_after_is_exclusive() {
        let q = list_query(&json!({"startAfter": "b", "prefix": "p", "limit": 5})).expect("ok");
        assert_eq!(
            (q.from, q.prefix.as_str(), q.limit),
            (b"b\0".to_vec(), "p", 5)
        );
        for bad in [
            json!({"limit": 0}),
            json!({"limit": 1001}),
            json!({"cursor": "!!"}),
            json!({"prefix": 3}),
        ] {
            assert!(list_query(&bad).is_err(), "{bad}");
        }
    }
}
