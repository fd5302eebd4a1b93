//! The native half of URLPattern (js/urlpattern.js), on the `urlpattern` crate (the WHATWG URL
//! Pattern Standard's implementation Deno uses), the way Deno uses it: the pattern is parsed here
//! once, into each component's pattern string, ECMAScript regular expression and group names; the
//! prelude compiles those into RegExps (V8's engine, interruptible, in the tenant's heap) and
//! matches in JavaScript. Nothing is kept here between calls, so there is no handle to leak.
//!
//! Ops (input fields: 0 kind (0 a string, 1 an init dict), 1 a mask of present fields (bits 0-7
//! the components protocol, username, password, hostname, port, pathname, search, hash; bit 8
//! baseURL), 2-9 the components (for a string, field 2 is the string), 10 baseURL):
//! - `PatternParse(... , 11 ignoreCase)` -> `[hasRegExpGroups u32, then per component:
//!   pattern string, regexp string, group count u32, that many group names]`; a pattern that
//!   does not parse is a TypeError.
//! - `PatternMatchInput(...)` -> the eight component values of the input to match, or no field
//!   at all when the input is no URL (the pattern then does not match); an init dict with a
//!   separate baseURL is a TypeError.
//!
//! Guarantees: the input is at most [`MAX_PATTERN_INPUT`] bytes, so a parse (linear tokenizer and
//! parser, URL parsing) takes well under a millisecond per KiB; strings cross as UTF-8 (the prelude
//! sends USVStrings).
//!
//! Trusts: the `urlpattern` crate and, under it, `url` (rust-url) and `regex` (which compiles only
//! the protocol component of a constructor string, with its default size limits).

use std::borrow::Cow;

use urlpattern::quirks::{self, StringOrInit, UrlPatternInit};
use urlpattern::{RegexSyntax, UrlPatternOptions};

use crate::fields::{self, Fields};
use crate::{OpCode, OpError, OpResult};

/// The largest input (all fields) a URLPattern op accepts.
pub const MAX_PATTERN_INPUT: usize = 256 << 10;

const BASE_URL_BIT: u32 = 1 << 8;

fn text(f: &Fields<'_>, i: usize) -> OpResult<String> {
    String::from_utf8(f.bytes(i)?.to_vec())
        .map_err(|_| OpError::type_error("URLPattern: a string is not UTF-8"))
}

fn optional(f: &Fields<'_>, mask: u32, bit: u32, i: usize) -> OpResult<Option<String>> {
    if mask & (1 << bit) != 0 {
        text(f, i).map(Some)
    } else {
        Ok(None)
    }
}

/// The pattern (or match) input and the separate base URL.
fn input(f: &Fields<'_>) -> OpResult<(StringOrInit<'static>, Option<String>)> {
    let kind = f.u32(0)?;
    let mask = f.u32(1)?;
    if kind == 0 {
        let base = optional(f, mask, 8, 10)?;
        return Ok((StringOrInit::String(Cow::Owned(text(f, 2)?)), base));
    }
    let init = UrlPatternInit {
        protocol: optional(f, mask, 0, 2)?,
        username: optional(f, mask, 1, 3)?,
        password: optional(f, mask, 2, 4)?,
        hostname: optional(f, mask, 3, 5)?,
        port: optional(f, mask, 4, 6)?,
        pathname: optional(f, mask, 5, 7)?,
        search: optional(f, mask, 6, 8)?,
        hash: optional(f, mask, 7, 9)?,
        base_url: if mask & BASE_URL_BIT != 0 {
            Some(text(f, 10)?)
        } else {
            None
        },
    };
    Ok((StringOrInit::Init(init), None))
}

fn type_error(e: urlpattern::Error) -> OpError {
    OpError::type_error(format!("URLPattern: {e}"))
}

pub(crate) fn run(op: OpCode, input_bytes: &[u8]) -> OpResult<Vec<u8>> {
    if input_bytes.len() > MAX_PATTERN_INPUT {
        return Err(OpError::type_error("URLPattern: the input is too long"));
    }
    let f = Fields::parse(input_bytes)?;
    match op {
        OpCode::PatternParse => {
            let (what, base) = input(&f)?;
            let ignore_case = f.u32(11)? != 0;
            let init = quirks::process_construct_pattern_input(what, base.as_deref())
                .map_err(type_error)?;
            let options = UrlPatternOptions {
                regex_syntax: RegexSyntax::EcmaScript,
                ignore_case,
            };
            let p =
                quirks::parse_pattern::<quirks::EcmaRegexp>(init, options).map_err(type_error)?;
            let mut owned: Vec<Vec<u8>> =
                vec![u32::from(p.has_regexp_groups).to_le_bytes().to_vec()];
            for c in [
                &p.protocol,
                &p.username,
                &p.password,
                &p.hostname,
                &p.port,
                &p.pathname,
                &p.search,
                &p.hash,
            ] {
                owned.push(c.pattern_string.clone().into_bytes());
                owned.push(c.regexp_string.clone().into_bytes());
                owned.push((c.group_name_list.len() as u32).to_le_bytes().to_vec());
                owned.extend(c.group_name_list.iter().map(|g| g.clone().into_bytes()));
            }
            let parts: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            Ok(fields::encode(&parts))
        }
        OpCode::PatternMatchInput => {
            let (what, base) = input(&f)?;
            let Some((processed, _)) =
                quirks::process_match_input(what, base.as_deref()).map_err(type_error)?
            else {
                return Ok(Vec::new());
            };
            let Some(v) = quirks::parse_match_input(processed) else {
                return Ok(Vec::new());
            };
            Ok(fields::encode(&[
                v.protocol.as_bytes(),
                v.username.as_bytes(),
                v.password.as_bytes(),
                v.hostname.as_bytes(),
                v.port.as_bytes(),
                v.pathname.as_bytes(),
                v.search.as_bytes(),
                v.hash.as_bytes(),
            ]))
        }
        _ => Err(OpError::not_supported("not a URLPattern op")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(
        op: OpCode,
        kind: u32,
        mask: u32,
        comps: &[&str],
        base: &str,
        ic: u32,
    ) -> OpResult<Vec<String>> {
        let mut parts: Vec<&[u8]> = Vec::new();
        let k = kind.to_le_bytes();
        let m = mask.to_le_bytes();
        let i = ic.to_le_bytes();
        parts.push(&k);
        parts.push(&m);
        for n in 0..8 {
            parts.push(comps.get(n).map_or(&b""[..], |s| s.as_bytes()));
        }
        parts.push(base.as_bytes());
        parts.push(&i);
        let out = run(op, &fields::encode(&parts))?;
        // An answer may have more fields than an input may: read them by hand.
        let mut v = Vec::new();
        let mut rest = &out[..];
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let (b, tail) = tail.split_at(u32::from_le_bytes(*len) as usize);
            v.push(String::from_utf8_lossy(b).into_owned());
            rest = tail;
        }
        Ok(v)
    }

    #[test]
    fn parses_and_processes_inputs() {
        let p = call(
            OpCode::PatternParse,
            0,
            BASE_URL_BIT,
            &["/books/:id"],
            "https://example.com",
            0,
        )
        .expect("parse");
        // protocol: pattern "https"; pathname (the sixth component) has the group "id".
        assert_eq!(p[1], "https");
        let path = p.iter().position(|s| s == "/books/:id").expect("pathname");
        assert_eq!(p[path + 2], "\u{1}\0\0\0", "one group");
        assert_eq!(p[path + 3], "id");
        let e = call(OpCode::PatternParse, 0, 0, &["/books/(("], "", 0).expect_err("bad");
        assert_eq!(e.kind, crate::ErrorKind::TypeError);
        let v = call(
            OpCode::PatternMatchInput,
            0,
            0,
            &["https://example.com/books/7?x#y"],
            "",
            0,
        )
        .expect("input");
        assert_eq!(
            v,
            ["https", "", "", "example.com", "", "/books/7", "x", "y"]
        );
        let none = call(OpCode::PatternMatchInput, 0, 0, &["not a url"], "", 0).expect("no url");
        assert!(none.is_empty());
        let e = call(
            OpCode::PatternMatchInput,
            1,
            BASE_URL_BIT,
            &[],
            "https://a/",
            0,
        );
        assert!(e.is_ok(), "an init's own baseURL is fine");
    }
}
