//! What a fetch or an RPC task hands the runtime's dispatch (`js/runtime.js`), as JSON text,
//! serialized from the request as it is.
//!
//! Guarantees: a fetch's headers reach the runtime as a flat `[name, value, ...]` list that is
//! already what the Fetch standard's `Headers.append` would have stored: every name a token
//! (RFC 9110's `tchar`s), lower-cased; every value a byte string (no code point above U+00FF)
//! with its leading and trailing HTTP whitespace removed and no NUL, CR or LF left. The runtime
//! takes them as they are (`newHeadersFromHost` in `js/fetch.js`), without running a regular
//! expression per header in the tenant's isolate. A request with a header that is not is refused
//! here with [`RunError::InvalidInput`], naming the header.
//!
//! Trusts: nothing; the headers come from the supervisor, which takes a client's from hyper, but a
//! service binding's are whatever the calling worker's runtime sent.

use std::borrow::Cow;

use serde::ser::{SerializeSeq, Serializer};

use crate::error::RunError;

/// A header as the runtime takes it: borrowed from the request when it needed no change.
pub(super) type Header<'a> = (Cow<'a, str>, Cow<'a, str>);

/// A fetch task's head.
#[derive(serde::Serialize)]
pub(super) struct FetchHead<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// Flat `[name, value, ...]`, normalized (see [`normalize`]).
    #[serde(serialize_with = "flat")]
    pub headers: &'a [Header<'a>],
    pub env: &'a serde_json::Value,
    pub streamed: bool,
    /// The runtime encodes the body as its `Content-Encoding` says (see `FetchRequest`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub encode: bool,
    /// The named export whose `fetch` is called; absent for the default export.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub entrypoint: &'a str,
    /// `ctx.props` (see [`props`]); absent for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub props: Option<&'a serde_json::value::RawValue>,
}

/// `ctx.props` from its JSON text: `None` for none (empty), the object as written (a string in
/// it may hold a lone surrogate, which the runtime parses), or `Err` for anything else.
pub(super) fn props(json: &str) -> Result<Option<&serde_json::value::RawValue>, ()> {
    if json.is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<&serde_json::value::RawValue>(json) {
        Ok(raw) if raw.get().trim_start().starts_with('{') => Ok(Some(raw)),
        _ => Err(()),
    }
}

/// An RPC task's payload (`js/rpc.js`).
#[derive(serde::Serialize)]
pub(super) struct RpcPayload<'a> {
    pub entrypoint: &'a str,
    pub method: &'a str,
    pub args: &'a serde_json::value::RawValue,
    pub env: &'a serde_json::Value,
    /// `ctx.props` (see [`props`]); absent for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub props: Option<&'a serde_json::value::RawValue>,
}

/// A scheduled task's payload (`js/scheduled.js`).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ScheduledPayload<'a> {
    pub cron: &'a str,
    /// Milliseconds since the Unix epoch (a JavaScript number holds it exactly).
    pub scheduled_time: u64,
    pub env: &'a serde_json::Value,
}

/// A queue task's payload (`js/queue.js`): the messages as the supervisor wrote them, whose
/// bodies are ranges of the invocation's bytes.
#[derive(serde::Serialize)]
pub(super) struct QueuePayload<'a> {
    pub queue: &'a str,
    pub messages: &'a serde_json::Value,
    pub env: &'a serde_json::Value,
}

fn flat<S: Serializer>(pairs: &&[Header<'_>], s: S) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(pairs.len() * 2))?;
    for (name, value) in pairs.iter() {
        seq.serialize_element(name)?;
        seq.serialize_element(value)?;
    }
    seq.end()
}

/// A `tchar` of RFC 9110 (the Fetch standard's header name code points).
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// HTTP whitespace (the Fetch standard's, stripped from a value's edges).
fn http_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' ')
}

/// The headers as `Headers.append` would store them, borrowing what needs no change.
pub(super) fn normalize(headers: &[(String, String)]) -> Result<Vec<Header<'_>>, RunError> {
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if name.is_empty() || !name.chars().all(token_char) {
            return Err(RunError::InvalidInput(format!(
                "the request header name {:?} is not a valid header name",
                clip(name)
            )));
        }
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name.as_str())
        };
        let trimmed = value.trim_matches(http_whitespace);
        if trimmed
            .chars()
            .any(|c| c > '\u{FF}' || matches!(c, '\0' | '\r' | '\n'))
        {
            return Err(RunError::InvalidInput(format!(
                "the value of request header {name:?} is not a valid header value"
            )));
        }
        out.push((name, Cow::Borrowed(trimmed)));
    }
    Ok(out)
}

/// At most 64 characters of `s`, for an error message.
fn clip(s: &str) -> &str {
    s.char_indices().nth(64).map_or(s, |(at, _)| &s[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_are_lower_cased_and_values_trimmed_as_headers_append_does() {
        let given = pairs(&[
            ("Content-Type", " text/plain \t"),
            ("x-a", "\r\n v \n"),
            ("x-b", ""),
            ("x-latin", "caf\u{e9}"),
            ("!#$%&'*+-.^_`|~09az", "inner  spaces\tkept"),
        ]);
        let out = normalize(&given).expect("valid headers");
        let got: Vec<(&str, &str)> = out.iter().map(|(n, v)| (&**n, &**v)).collect();
        assert_eq!(
            got,
            [
                ("content-type", "text/plain"),
                ("x-a", "v"),
                ("x-b", ""),
                ("x-latin", "caf\u{e9}"),
                ("!#$%&'*+-.^_`|~09az", "inner  spaces\tkept"),
            ]
        );
        // What needs no change is borrowed, not copied.
        assert!(matches!(out[1].0, Cow::Borrowed(_)));
        assert!(matches!(out[0].0, Cow::Owned(_)));
    }

    #[test]
    fn what_headers_append_would_throw_on_is_refused_with_the_header_named() {
        for (name, value, says) in [
            ("", "v", "name"),
            ("bad name", "v", "name"),
            ("x:y", "v", "name"),
            ("caf\u{e9}", "v", "name"),
            ("x", "a\0b", "x"),
            ("x", "a\r\nset-cookie: y", "x"),
            ("x", "a\nb", "x"),
            ("x", "\u{20ac}", "x"),
        ] {
            let err =
                normalize(&pairs(&[("ok", "fine"), (name, value)])).expect_err("an invalid header");
            let RunError::InvalidInput(message) = err else {
                panic!("not an InvalidInput: {err:?}");
            };
            assert!(message.contains(says), "{message}");
        }
    }

    #[test]
    fn the_head_carries_the_headers_flat() {
        let given = pairs(&[("Accept", "*/*"), ("x-two", "2")]);
        let headers = normalize(&given).expect("valid headers");
        let head = FetchHead {
            method: "GET",
            url: "http://a/",
            headers: &headers,
            env: &serde_json::json!({"K": 1}),
            streamed: false,
            encode: false,
            entrypoint: "",
            props: None,
        };
        let text = serde_json::to_string(&head).expect("serializes");
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            parsed,
            serde_json::json!({
                "method": "GET",
                "url": "http://a/",
                "headers": ["accept", "*/*", "x-two", "2"],
                "env": {"K": 1},
                "streamed": false,
            })
        );
        // A named entrypoint's fetch carries its name.
        let named = FetchHead {
            entrypoint: "Api",
            ..head
        };
        let text = serde_json::to_string(&named).expect("serializes");
        assert!(text.ends_with(r#","entrypoint":"Api"}"#), "{text}");
    }
}
