//! R2's conditions (`onlyIf`) and ranges (`range`), from what the runtime sends: an
//! `R2Conditional`'s fields, or the HTTP headers (`If-Match`, `If-None-Match`,
//! `If-Modified-Since`, `If-Unmodified-Since`, `Range`) of a `Headers` the tenant gave.
//!
//! Guarantees: as HTTP evaluates them (RFC 9110 13.2.2): a failed `etagMatches` fails whatever
//! `uploadedBefore` says and a present one makes `uploadedBefore` ignored; likewise
//! `etagDoesNotMatch` over `uploadedAfter`; `*` matches any object; an etag compares without its
//! quotes or weak marker; a date is ms since the epoch or an HTTP date, compared to the second
//! when `secondsGranularity` (always for headers). A range is one of `{offset, length}`,
//! `{suffix}` or `bytes=a-b` / `bytes=a-` / `bytes=-n`; one starting past the object's end is
//! R2's `InvalidRange` (10039). Trusts: nothing in the request.

use serde_json::Value;

use super::r2::R2Error;
use super::r2_index::Meta;

/// A parsed `onlyIf`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnlyIf {
    pub etag_matches: Option<Vec<String>>,
    pub etag_does_not_match: Option<Vec<String>>,
    pub uploaded_before: Option<i64>,
    pub uploaded_after: Option<i64>,
    pub seconds: bool,
}

fn bad(m: impl Into<String>) -> R2Error {
    R2Error::Invalid(m.into())
}

fn etags(v: &Value, field: &str) -> Result<Vec<String>, R2Error> {
    let one = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|e| {
                let e = e.trim();
                let e = e.strip_prefix("W/").unwrap_or(e);
                e.trim_matches('"').to_owned()
            })
            .filter(|e| !e.is_empty())
            .collect()
    };
    match v {
        Value::String(s) => Ok(one(s)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                let s = item
                    .as_str()
                    .ok_or_else(|| bad(format!("onlyIf.{field} must be a string")))?;
                out.extend(one(s));
            }
            Ok(out)
        }
        _ => Err(bad(format!("onlyIf.{field} must be a string"))),
    }
}

fn date(v: &Value, field: &str) -> Result<i64, R2Error> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
            .ok_or_else(|| bad(format!("onlyIf.{field} must be a Date"))),
        Value::String(s) => httpdate::parse_http_date(s.trim())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as i64)
            .ok_or_else(|| bad(format!("onlyIf.{field} is not an HTTP date"))),
        _ => Err(bad(format!("onlyIf.{field} must be a Date"))),
    }
}

impl OnlyIf {
    /// From the request's `onlyIf` (absent or null: always holds).
    pub fn parse(v: Option<&Value>) -> Result<OnlyIf, R2Error> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(OnlyIf::default());
        };
        let o = v
            .as_object()
            .ok_or_else(|| bad("onlyIf must be an object or Headers"))?;
        let mut out = OnlyIf::default();
        for (field, value) in o {
            if value.is_null() {
                continue;
            }
            match field.as_str() {
                "etagMatches" => out.etag_matches = Some(etags(value, field)?),
                "etagDoesNotMatch" => out.etag_does_not_match = Some(etags(value, field)?),
                "uploadedBefore" => out.uploaded_before = Some(date(value, field)?),
                "uploadedAfter" => out.uploaded_after = Some(date(value, field)?),
                "secondsGranularity" => out.seconds = value.as_bool() == Some(true),
                _ => return Err(bad(format!("onlyIf has no field {field:?}"))),
            }
        }
        Ok(out)
    }

    /// Whether the operation goes ahead on `object` (None: there is none).
    pub fn holds(&self, object: Option<&Meta>) -> bool {
        let matches = |list: &[String], o: &Meta| list.iter().any(|e| e == "*" || *e == o.etag);
        let when = |o: &Meta, t: i64| {
            if self.seconds {
                (o.uploaded_ms.div_euclid(1000), t.div_euclid(1000))
            } else {
                (o.uploaded_ms, t)
            }
        };
        if let Some(list) = &self.etag_matches {
            match object {
                Some(o) if matches(list, o) => {}
                _ => return false,
            }
        } else if let (Some(t), Some(o)) = (self.uploaded_before, object) {
            let (up, t) = when(o, t);
            if up >= t {
                return false;
            }
        }
        if let Some(list) = &self.etag_does_not_match {
            if object.is_some_and(|o| matches(list, o)) {
                return false;
            }
        } else if let (Some(t), Some(o)) = (self.uploaded_after, object) {
            let (up, t) = when(o, t);
            if up <= t {
                return false;
            }
        }
        true
    }
}

/// A requested range, before the object's size is known.
#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    /// From `offset`, at most `length` bytes (None: to the end).
    At { offset: u64, length: Option<u64> },
    /// The last `n` bytes.
    Suffix(u64),
}

fn count(v: &Value, field: &str) -> Result<Option<u64>, R2Error> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => {
                Ok(Some(f as u64))
            }
            _ => Err(bad(format!(
                "range.{field} must be a whole number of bytes"
            ))),
        },
        _ => Err(bad(format!("range.{field} must be a number"))),
    }
}

fn header_range(s: &str) -> Result<Range, R2Error> {
    let refuse = || bad(format!("the Range header {s:?} is not one range of bytes"));
    let spec = s.trim().strip_prefix("bytes=").ok_or_else(refuse)?;
    let (a, b) = spec.split_once('-').ok_or_else(refuse)?;
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| refuse());
    Ok(match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => Range::Suffix(num(b)?),
        (false, true) => Range::At {
            offset: num(a)?,
            length: None,
        },
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(refuse());
            }
            Range::At {
                offset: a,
                length: Some(b - a + 1),
            }
        }
        (true, true) => return Err(refuse()),
    })
}

impl Range {
    /// From the request's `range` (absent or null: the whole object).
    pub fn parse(v: Option<&Value>) -> Result<Option<Range>, R2Error> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        if let Some(s) = v.as_str() {
            return header_range(s).map(Some);
        }
        let o = v
            .as_object()
            .ok_or_else(|| bad("range must be an object or Headers"))?;
        if let Some(extra) = o
            .keys()
            .find(|k| !["offset", "length", "suffix"].contains(&k.as_str()))
        {
            return Err(bad(format!("range has no field {extra:?}")));
        }
        let get = |f: &str| o.get(f).map_or(Ok(None), |v| count(v, f));
        let (offset, length, suffix) = (get("offset")?, get("length")?, get("suffix")?);
        Ok(Some(match (offset, length, suffix) {
            (None, None, Some(n)) => Range::Suffix(n),
            (None, None, None) => return Ok(None),
            (offset, length, None) => Range::At {
                offset: offset.unwrap_or(0),
                length,
            },
            _ => return Err(bad("range takes a suffix, or an offset and a length")),
        }))
    }

    /// `(offset, length)` within an object of `size` bytes.
    pub fn resolve(&self, size: u64) -> Result<(u64, u64), R2Error> {
        match *self {
            Range::Suffix(n) => {
                let n = n.min(size);
                Ok((size - n, n))
            }
            Range::At { offset, length } => {
                if offset > size || (offset == size && size > 0) {
                    return Err(R2Error::Failed(
                        10039,
                        "get: The requested range is not satisfiable".into(),
                    ));
                }
                let left = size - offset;
                Ok((offset, length.map_or(left, |l| l.min(left))))
            }
        }
    }
}
