//! The supervisor's side of the structured-clone encoding capability calls carry (the isolate's
//! `rpcEncode`/`rpcDecode`, `isolate/js/rpc.js`): JSON, with `{"$": tag, ...}` objects for what
//! JSON cannot carry: `"u"` undefined, `"n"` NaN/±Infinity/-0 (`v` its text), `"b"` BigInt (`v`
//! decimal text), `"d"` Date (`v` milliseconds since the epoch, or `null` for an invalid one),
//! `"u8"` Uint8Array and `"ab"` ArrayBuffer (`v` base64), `"m"` Map (`v` `[[key, value], ...]`),
//! `"s"` Set (`v` `[value, ...]`), `"e"` an error (`name`, `message`), `"o"` a plain object that
//! has a `"$"` key of its own (`v` the object).
//!
//! Where the kind decides (the isolate does not know a capability's kind: it is looked up here at
//! every call, and a capability redeclared since the worker was made may have changed kind, so the
//! isolate always speaks the encoding and this side adapts it):
//! - `http`: arguments and results pass through unchanged (the service speaks the encoding;
//!   plain JSON is its own encoding, so a JSON-only service sees plain JSON for plain data);
//! - `mcp`: tool arguments are JSON by protocol, so [`to_json`] turns the arguments into JSON the
//!   way the isolate did before the encoding (a Date as its ISO string, an `undefined` property
//!   left out and an `undefined` element `null`, as `JSON.stringify` does) and refuses what JSON
//!   cannot hold (a Map, Set, bytes, BigInt, NaN, error) with a `TypeError` naming the tool; a
//!   tool's JSON result becomes the encoding with [`from_json`] (an object owning `"$"` wrapped).
//!
//! Guarantees: nothing here fails on any input (a malformed tag is a typed error); recursion is
//! bounded by the JSON it walks, which serde_json parsed with its own depth limit. Trusts:
//! nothing.

use serde_json::{Map, Value};

/// The JSON an MCP tool gets for one encoded argument (`None`: undefined), or what makes it
/// impossible (completing "... cannot be an MCP tool's argument").
pub fn to_json(value: &Value) -> Result<Option<Value>, String> {
    match value {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(to_json(item)?.unwrap_or(Value::Null));
            }
            Ok(Some(Value::Array(out)))
        }
        Value::Object(o) => match o.get("$") {
            None => Ok(Some(Value::Object(fields_to_json(o)?))),
            Some(tag) => tag_to_json(tag, o),
        },
        plain => Ok(Some(plain.clone())),
    }
}

fn fields_to_json(o: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (k, v) in o {
        if let Some(v) = to_json(v)? {
            out.insert(k.clone(), v);
        }
    }
    Ok(out)
}

fn tag_to_json(tag: &Value, o: &Map<String, Value>) -> Result<Option<Value>, String> {
    let v = o.get("v");
    match tag.as_str().unwrap_or("") {
        "u" => Ok(None),
        "o" => match v {
            Some(Value::Object(inner)) => Ok(Some(Value::Object(fields_to_json(inner)?))),
            _ => Err("a malformed object".into()),
        },
        "d" => match v.and_then(Value::as_f64).and_then(iso_date) {
            Some(iso) => Ok(Some(Value::String(iso))),
            None => Err("an invalid Date".into()),
        },
        // -0 is 0 in JSON, as JSON.stringify writes it.
        "n" if v.and_then(Value::as_str) == Some("-0") => Ok(Some(Value::from(0))),
        "n" => Err(format!(
            "{} (not a JSON number)",
            v.and_then(Value::as_str).unwrap_or("NaN")
        )),
        "b" => Err("a BigInt".into()),
        "u8" => Err("a Uint8Array".into()),
        "ab" => Err("an ArrayBuffer".into()),
        "m" => Err("a Map".into()),
        "s" => Err("a Set".into()),
        "e" => Err("an Error".into()),
        _ => Err(format!("an unknown encoded value {tag}")),
    }
}

/// A JSON value (an MCP tool's result) in the encoding: itself, each object that owns a `"$"`
/// key wrapped as `{"$": "o", "v": ...}` so it is not read as a tag.
pub fn from_json(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        Value::Object(o) => {
            let escaped = o.contains_key("$");
            let inner: Map<String, Value> = o.into_iter().map(|(k, v)| (k, from_json(v))).collect();
            if escaped {
                let mut tagged = Map::new();
                tagged.insert("$".into(), Value::from("o"));
                tagged.insert("v".into(), Value::Object(inner));
                Value::Object(tagged)
            } else {
                Value::Object(inner)
            }
        }
        plain => plain,
    }
}

/// The latest time a Date holds, ms from the epoch either way (ECMAScript's TimeClip).
const MAX_TIME: f64 = 8.64e15;

/// `Date.prototype.toISOString` of the time `ms` (`None` for an invalid Date):
/// `YYYY-MM-DDTHH:mm:ss.sssZ`, the year as `±YYYYYY` outside 0..=9999.
pub fn iso_date(ms: f64) -> Option<String> {
    if !ms.is_finite() || ms.abs() > MAX_TIME {
        return None;
    }
    // TimeClip truncates; within ±8.64e15 the value is an exact integer in i64.
    let ms = ms.trunc() as i64;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    Some(format!(
        "{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"
    ))
}

/// The proleptic Gregorian (year, month 1..=12, day 1..=31) of `days` since 1970-01-01, by the
/// 400-year era arithmetic of the civil calendar (eras of 146 097 days starting on March 1st).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // the month, March = 0
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_print_as_javascript_prints_them() {
        // Each expected text is what V8's Date.prototype.toISOString gives for that time.
        for (ms, want) in [
            (0.0, "1970-01-01T00:00:00.000Z"),
            (-1.0, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000.0, "2000-02-29T00:00:00.000Z"),
            (1_709_164_799_999.0, "2024-02-28T23:59:59.999Z"),
            (253_402_300_799_999.0, "9999-12-31T23:59:59.999Z"),
            (253_402_300_800_000.0, "+010000-01-01T00:00:00.000Z"),
            (-62_167_219_200_000.0, "0000-01-01T00:00:00.000Z"),
            (-62_167_219_200_001.0, "-000001-12-31T23:59:59.999Z"),
            (8.64e15, "+275760-09-13T00:00:00.000Z"),
            (-8.64e15, "-271821-04-20T00:00:00.000Z"),
            (1.9, "1970-01-01T00:00:00.001Z"),
        ] {
            assert_eq!(iso_date(ms).as_deref(), Some(want), "{ms}");
        }
        for bad in [f64::NAN, f64::INFINITY, 8.64e15 + 1.0] {
            assert_eq!(iso_date(bad), None);
        }
    }

    #[test]
    fn mcp_arguments_become_json_or_a_reason() {
        let encoded = json!({
            "city": "Oslo", "n": [1, null, {"$": "u"}], "skip": {"$": "u"},
            "when": {"$": "d", "v": 0}, "zero": {"$": "n", "v": "-0"},
            "own": {"$": "o", "v": {"$": 1, "d": {"$": "d", "v": -1}}},
        });
        assert_eq!(
            to_json(&encoded),
            Ok(Some(json!({
                "city": "Oslo", "n": [1, null, null], "when": "1970-01-01T00:00:00.000Z",
                "zero": 0, "own": {"$": 1, "d": "1969-12-31T23:59:59.999Z"},
            })))
        );
        assert_eq!(to_json(&json!({"$": "u"})), Ok(None));
        for (bad, why) in [
            (json!({"$": "m", "v": []}), "a Map"),
            (json!({"$": "s", "v": []}), "a Set"),
            (json!({"$": "u8", "v": ""}), "a Uint8Array"),
            (json!({"$": "ab", "v": ""}), "an ArrayBuffer"),
            (json!({"$": "b", "v": "1"}), "a BigInt"),
            (json!({"$": "n", "v": "NaN"}), "NaN (not a JSON number)"),
            (json!({"$": "e", "name": "E"}), "an Error"),
            (json!({"$": "d", "v": null}), "an invalid Date"),
            (json!({"$": "o", "v": 1}), "a malformed object"),
            (json!({"$": 7}), "an unknown encoded value 7"),
            (json!({"$": "zz"}), "an unknown encoded value \"zz\""),
        ] {
            assert_eq!(to_json(&json!({ "deep": [bad] })), Err(why.to_owned()));
        }
    }

    #[test]
    fn json_results_gain_tags_only_where_an_object_owns_a_dollar_key() {
        let plain = json!({"a": [1, "x", null, true, {"b": 2.5}], "$ref": "#/x"});
        assert_eq!(from_json(plain.clone()), plain);
        assert_eq!(
            from_json(json!([{"$": "d", "v": {"$": 1}}])),
            json!([{"$": "o", "v": {"$": "d", "v": {"$": "o", "v": {"$": 1}}}}])
        );
    }
}
