//! Request bodies as JSON (serde_json), with the one refusal serde words unhelpfully said
//! plainly: a lone UTF-16 surrogate escape.
//!
//! A JSON string may spell a lone surrogate (`"\ud800"`: a high surrogate with no low one after
//! it, or a low one alone); JavaScript strings can hold one, but Unicode text cannot, and the API
//! takes every string as Unicode: a module's source travels to the isolate as UTF-8, and a
//! `String` here is UTF-8. There is no lossless path for one (it would need the source as UTF-16
//! end to end), so such a body is refused, `400 bad_request`, with a message that says which
//! escape, where, and what to send instead: the escape itself inside the JavaScript string
//! literal (`\\ud800` in the JSON), which is the same string once the code runs. serde's own
//! message ("unexpected end of hex escape") names neither.

use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `body` as a `T`; a body that is not one is a `400` saying why (`what`: what was expected).
pub fn from_body<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid {what}: {}", explain(&e, body))))
}

/// serde's message for `e` (an error parsing `text`), or, when a lone surrogate escape is what
/// failed, what that is and what to write instead.
pub fn explain(e: &serde_json::Error, text: &[u8]) -> String {
    // Both errors serde_json gives a lone surrogate ("lone leading surrogate in hex escape",
    // "unexpected end of hex escape") and only those say "hex escape".
    let message = e.to_string();
    if !e.is_syntax() || !message.contains("hex escape") {
        return message;
    }
    let failed_at = offset(text, e.line(), e.column());
    let Some(at) = lone_surrogates(text)
        .into_iter()
        .take_while(|&at| at < failed_at)
        .last()
    else {
        return message;
    };
    let escape = String::from_utf8_lossy(&text[at..(at + 6).min(text.len())]).into_owned();
    let (line, column) = line_and_column(text, at);
    format!(
        "the escape {escape} at line {line} column {column} is a lone UTF-16 surrogate (half \
         of a pair without the other half), which is not a Unicode character; JSON strings \
         here must be Unicode text (code travels as UTF-8). To put a lone surrogate in a \
         JavaScript string, write the escape in the code itself: \\{escape} in the JSON"
    )
}

/// The byte offset of serde's `line` and `column` (both from 1; the column counts bytes).
fn offset(text: &[u8], line: usize, column: usize) -> usize {
    let start = if line <= 1 {
        0
    } else {
        text.iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1)
    };
    start.saturating_add(column).min(text.len())
}

/// The line and column (from 1, the column in bytes) of byte `at`.
fn line_and_column(text: &[u8], at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(at, |nl| at - nl - 1);
    (line, column)
}

/// The 4 hex digits after `\u` at `text[i..]`, if they are that.
fn hex4(text: &[u8], i: usize) -> Option<u16> {
    let digits = text.get(i..i + 4)?;
    let s = std::str::from_utf8(digits).ok()?;
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(s, 16).ok()
}

/// Where (the `\` of) each `\uXXXX` escape inside a JSON string of `text` that is a lone
/// surrogate, in order. Anything else malformed is skipped: serde reports it.
fn lone_surrogates(text: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut in_string = false;
    let mut i = 0;
    while i < text.len() {
        match (in_string, text[i]) {
            (false, b'"') => in_string = true,
            (false, _) => {}
            (true, b'"') => in_string = false,
            (true, b'\\') if text.get(i + 1) == Some(&b'u') => {
                let Some(unit) = hex4(text, i + 2) else {
                    i += 2;
                    continue;
                };
                match unit {
                    0xD800..=0xDBFF => {
                        let low = (text.get(i + 6..i + 8) == Some(b"\\u".as_slice()))
                            .then(|| hex4(text, i + 8))
                            .flatten();
                        if low.is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) {
                            i += 12;
                            continue;
                        }
                        found.push(i);
                    }
                    0xDC00..=0xDFFF => found.push(i),
                    _ => {}
                }
                i += 6;
                continue;
            }
            // Any other escape: its next byte is not the string's end.
            (true, b'\\') => i += 1,
            (true, _) => {}
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Code {
        code: String,
    }

    #[test]
    fn lone_surrogates_are_found_and_pairs_are_not() {
        assert_eq!(lone_surrogates(br#"{"a":"\ud800"}"#), vec![6]);
        assert_eq!(lone_surrogates(br#"{"a":"\udc00x"}"#), vec![6]);
        assert_eq!(
            lone_surrogates(br#"{"a":"\ud83d\ude00"}"#),
            Vec::<usize>::new()
        );
        assert_eq!(lone_surrogates(br#"{"a":"\ud800\u0041"}"#), vec![6]);
        assert_eq!(lone_surrogates(br#"{"a":"\ud800\ud800\udc00"}"#), vec![6]);
        // An escaped backslash before `u` is no escape; outside a string nothing counts.
        assert_eq!(lone_surrogates(br#"{"a":"\\ud800"}"#), Vec::<usize>::new());
        assert_eq!(lone_surrogates(br#"{"\"":"\"\ud800"}"#), vec![9]);
        assert_eq!(lone_surrogates(br#"\ud800"#), Vec::<usize>::new());
    }

    #[test]
    fn a_lone_surrogate_is_refused_with_a_message_that_says_what_it_is() {
        for (body, escape, line, column) in [
            (r#"{"code": "\ud800"}"#, r"\ud800", 1, 11),
            (r#"{"code": "x\udfff y"}"#, r"\udfff", 1, 12),
            ("{\n  \"code\": \"a\\uD83D!\"}", r"\uD83D", 2, 13),
        ] {
            let e = from_body::<Code>(body.as_bytes(), "JSON").expect_err(body);
            let message = e.to_string();
            assert_eq!(e.code(), "bad_request");
            assert!(
                message.contains(&format!(
                    "the escape {escape} at line {line} column {column} is a lone UTF-16 surrogate"
                )),
                "{body}: {message}"
            );
            assert!(
                message.contains(&format!(r"\{escape} in the JSON")),
                "{message}"
            );
        }
        // A pair, and the escape itself, are fine; other errors keep serde's words.
        let ok: Code = from_body(br#"{"code": "\ud83d\ude00 \\ud800"}"#, "JSON").expect("ok");
        assert_eq!(ok.code, "\u{1F600} \\ud800");
        let e = from_body::<Code>(br#"{"code": 5}"#, "JSON").expect_err("a number");
        assert!(
            e.to_string().starts_with("invalid JSON: invalid type"),
            "{e}"
        );
        let e = from_body::<Code>(br#"{"code": "\u12"}"#, "JSON").expect_err("short");
        assert!(!e.to_string().contains("surrogate"), "{e}");
    }
}
