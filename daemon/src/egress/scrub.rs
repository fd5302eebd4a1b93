//! Finding tenants' secret values in what an upstream hands back, and replacing each with
//! [`REDACTED`], in a body that arrives whole or in pieces.
//!
//! Guarantees:
//! - an occurrence of a value is replaced whole where each of its characters is written
//!   literally, in either ASCII case, percent-encoded (`%2F`, `%2f`), as a JSON escape
//!   (`\u002F`, `\/`, `\"`, `\t`), as an HTML character reference (`&#47;`, `&#x2f;`, `&lt;`), or
//!   as `+` for a space, mixed freely within one occurrence (what Go's, PHP's, Python's and
//!   JavaScript's encoders and URL normalisers produce by default); so is its hex (either case)
//!   and its base64 (standard or URL-safe, padded or not, and at any alignment inside a longer
//!   base64 text, e.g. `Basic` credentials holding it);
//! - a value split across pieces is still caught: the end of what came is held back only while
//!   it may be the start of a value (or an escape not yet complete); nothing else is held, so
//!   an event stream's pieces go out as they come;
//! - overlapping occurrences are replaced as one; no occurrence survives whole;
//! - linear in the input whatever its bytes (`memmem`'s two-way search, and a
//!   Knuth-Morris-Pratt pass over at most a value's length at each piece's end).
//!
//! Does not catch a value transformed otherwise (split, reversed, encrypted, encoded twice):
//! injected secrets are for services the operator trusts not to hand them back on purpose.
//! Trusts nothing in the bytes; values are visible ASCII, space or tab (`secrets::check_secret`).

use base64::Engine as _;

use crate::config::SecretValue;

/// What replaces a secret value.
pub const REDACTED: &[u8] = b"[redacted]";

/// The shortest base64 core (a value's encoding at an alignment, less the characters that
/// depend on its neighbours) searched for: shorter ones would match unrelated base64 text.
const MIN_BASE64_CORE: usize = 8;

/// How much of a body [`scrub`] decodes at a time (its memory is a few times this).
const WHOLE_PIECE: usize = 64 << 10;

/// One byte string to find, and the prefix function of the Knuth-Morris-Pratt search over it
/// (for the partial occurrence at a piece's end).
struct Needle {
    bytes: Vec<u8>,
    prefix: Vec<usize>,
}

impl Needle {
    fn new(bytes: Vec<u8>) -> Needle {
        let mut prefix = vec![0; bytes.len()];
        let mut k = 0;
        for i in 1..bytes.len() {
            while k > 0 && bytes[i] != bytes[k] {
                k = prefix[k - 1];
            }
            if bytes[i] == bytes[k] {
                k += 1;
            }
            prefix[i] = k;
        }
        Needle { bytes, prefix }
    }

    /// The length of the longest end of `text` that is the start, not the whole, of the needle.
    fn partial_at_end(&self, text: &[u8]) -> usize {
        let m = self.bytes.len();
        let mut k = 0;
        for &b in &text[text.len().saturating_sub(m.saturating_sub(1))..] {
            while k > 0 && (k == m || b != self.bytes[k]) {
                k = self.prefix[k - 1];
            }
            if b == self.bytes[k] {
                k += 1;
            }
        }
        if k == m {
            self.prefix[m - 1]
        } else {
            k
        }
    }

    /// Where the needle occurs in `text`: `[start, end)` ranges.
    fn find_all(&self, text: &[u8], found: &mut Vec<(usize, usize)>) {
        let finder = memchr::memmem::Finder::new(&self.bytes);
        let mut from = 0;
        while let Some(at) = finder.find(&text[from..]) {
            found.push((from + at, from + at + self.bytes.len()));
            from += at + 1;
        }
    }
}

/// One unit of the canonical text: the byte an escape (or a plain byte) stands for.
enum Unit {
    /// `byte`, written in `len` bytes.
    Byte(u8, usize),
    /// An escape cut short by the end of what came: more may follow.
    Incomplete,
}

/// What a character above ASCII decodes to: no value holds it, so it matches nothing.
const NOT_ASCII: u8 = 0x80;

fn hex_digit(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// `n` hex digits at `at`: their value, `Err(true)` when `bytes` ends before them with only
/// hex digits so far, `Err(false)` when they are not there.
fn hex_run(bytes: &[u8], at: usize, n: usize) -> Result<u32, bool> {
    let mut v = 0;
    for i in 0..n {
        match bytes.get(at + i) {
            None => return Err(true),
            Some(&b) => v = v * 16 + hex_digit(b).ok_or(false)?,
        }
    }
    Ok(v)
}

/// `byte` in two lower-case hex digits.
fn hex_pair(byte: u8) -> [u8; 2] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    [
        DIGITS[usize::from(byte >> 4)],
        DIGITS[usize::from(byte & 15)],
    ]
}

fn ascii_or_not(code: u32) -> u8 {
    u8::try_from(code)
        .ok()
        .filter(u8::is_ascii)
        .unwrap_or(NOT_ASCII)
}

/// `&lt;`, `&#60;`, `&#x3c;` ... at `bytes[0] == b'&'`.
fn html_reference(bytes: &[u8], at_end: bool) -> Unit {
    const NAMED: [(&[u8], u8); 5] = [
        (b"lt;", b'<'),
        (b"gt;", b'>'),
        (b"amp;", b'&'),
        (b"quot;", b'"'),
        (b"apos;", b'\''),
    ];
    let rest = &bytes[1..];
    for (name, byte) in NAMED {
        if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
            return Unit::Byte(byte, 1 + name.len());
        }
        if !at_end && rest.len() < name.len() && name[..rest.len()].eq_ignore_ascii_case(rest) {
            return Unit::Incomplete;
        }
    }
    if rest.first() == Some(&b'#') {
        let (radix, digits_at) = match rest.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let mut code: u32 = 0;
        // At most 7 digits: beyond any character (and no overflow).
        for (i, &b) in rest.iter().enumerate().skip(digits_at).take(8) {
            if b == b';' && i > digits_at {
                return Unit::Byte(ascii_or_not(code), 1 + i + 1);
            }
            match (b as char).to_digit(radix) {
                Some(d) if i < digits_at + 7 => code = code * radix + d,
                _ => return Unit::Byte(b'&', 1),
            }
        }
        if !at_end && rest.len() < digits_at + 8 {
            return Unit::Incomplete;
        }
    }
    Unit::Byte(b'&', 1)
}

/// The unit at the start of `bytes` (not empty); `at_end`: nothing follows them.
fn unit(bytes: &[u8], at_end: bool) -> Unit {
    let incomplete = |cut: bool, len_if_not: Unit| {
        if cut && !at_end {
            Unit::Incomplete
        } else {
            len_if_not
        }
    };
    match bytes[0] {
        b'%' => match hex_run(bytes, 1, 2) {
            Ok(v) => Unit::Byte(ascii_or_not(v), 3),
            Err(cut) => incomplete(cut, Unit::Byte(b'%', 1)),
        },
        b'\\' => match bytes.get(1) {
            None => incomplete(true, Unit::Byte(b'\\', 1)),
            Some(b'u') => match hex_run(bytes, 2, 4) {
                Ok(v) => Unit::Byte(ascii_or_not(v), 6),
                Err(cut) => incomplete(cut, Unit::Byte(b'\\', 1)),
            },
            Some(&b @ (b'"' | b'\\' | b'/')) => Unit::Byte(b, 2),
            Some(b't') => Unit::Byte(b'\t', 2),
            Some(b'n') => Unit::Byte(b'\n', 2),
            Some(b'r') => Unit::Byte(b'\r', 2),
            Some(_) => Unit::Byte(b'\\', 1),
        },
        b'&' => html_reference(bytes, at_end),
        b => Unit::Byte(b, 1),
    }
}

/// The canonical form of a decoded byte: lower case, and `+` a space (as a form body has it),
/// so that the value and what echoes it meet whichever way each wrote it.
fn fold(byte: u8) -> u8 {
    match byte {
        b'+' => b' ',
        b => b.to_ascii_lowercase(),
    }
}

/// The canonical text of `bytes` and where each of its units starts in them (one more entry:
/// where the decoding stopped, before an escape cut short when not `at_end`).
fn canonical(bytes: &[u8], at_end: bool) -> (Vec<u8>, Vec<usize>) {
    let mut text = Vec::with_capacity(bytes.len());
    let mut starts = Vec::with_capacity(bytes.len() + 1);
    let mut i = 0;
    while i < bytes.len() {
        match unit(&bytes[i..], at_end) {
            Unit::Byte(b, len) => {
                text.push(fold(b));
                starts.push(i);
                i += len;
            }
            Unit::Incomplete => break,
        }
    }
    starts.push(i);
    (text, starts)
}

/// The base64 texts of `value` searched for: its whole standard encoding, and at each of the
/// three alignments the characters that depend on it alone, in both alphabets.
fn base64_forms(value: &[u8]) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let mut forms = vec![STANDARD.encode(value).into_bytes()];
    for k in 0..3usize {
        let mut aligned = vec![0u8; k];
        aligned.extend_from_slice(value);
        let enc = STANDARD_NO_PAD.encode(&aligned).into_bytes();
        let lead = (8 * k).div_ceil(6);
        let tail = usize::from((8 * aligned.len()) % 6 != 0);
        if enc.len() < lead + tail + MIN_BASE64_CORE {
            continue;
        }
        let core = enc[lead..enc.len() - tail].to_vec();
        let url_safe: Vec<u8> = core
            .iter()
            .map(|&b| match b {
                b'+' => b'-',
                b'/' => b'_',
                b => b,
            })
            .collect();
        forms.push(core);
        forms.push(url_safe);
    }
    forms
}

/// [`scrub`] over a body that arrives in pieces (see the module's guarantees).
pub struct Scrubber {
    /// Searched in the canonical text: each value's canonical form, and its hex.
    canonical: Vec<Needle>,
    /// Searched in the bytes as they are: each value verbatim, and its base64 forms.
    raw: Vec<Needle>,
    held: Vec<u8>,
}

impl Scrubber {
    pub fn new(values: &[SecretValue]) -> Scrubber {
        let mut canonical_forms = Vec::new();
        let mut raw_forms = Vec::new();
        for value in values.iter().map(|v| v.0.as_bytes()) {
            if value.is_empty() {
                continue;
            }
            canonical_forms.push(canonical(value, true).0);
            canonical_forms.push(value.iter().flat_map(|b| hex_pair(*b)).collect());
            raw_forms.push(value.to_vec());
            raw_forms.extend(base64_forms(value));
        }
        let needles = |mut forms: Vec<Vec<u8>>| {
            forms.retain(|f| !f.is_empty());
            forms.sort();
            forms.dedup();
            forms.into_iter().map(Needle::new).collect()
        };
        Scrubber {
            canonical: needles(canonical_forms),
            raw: needles(raw_forms),
            held: Vec::new(),
        }
    }

    /// What of the body so far can go out, scrubbed.
    pub fn push(&mut self, piece: &[u8]) -> Vec<u8> {
        if self.canonical.is_empty() && self.raw.is_empty() {
            return piece.to_vec();
        }
        let mut buf = std::mem::take(&mut self.held);
        buf.extend_from_slice(piece);
        let (out, cut) = self.scrub_buffer(&buf, false);
        self.held = buf.split_off(cut);
        out
    }

    /// The rest, at the end of the body.
    pub fn finish(&mut self) -> Vec<u8> {
        let buf = std::mem::take(&mut self.held);
        self.scrub_buffer(&buf, true).0
    }

    /// `buf` up to the cut, scrubbed, and the cut: where what may continue in the next piece
    /// starts (`buf.len()` when `at_end`).
    fn scrub_buffer(&self, buf: &[u8], at_end: bool) -> (Vec<u8>, usize) {
        let (text, starts) = canonical(buf, at_end);
        let mut found = Vec::new();
        for needle in &self.canonical {
            let mut units = Vec::new();
            needle.find_all(&text, &mut units);
            found.extend(units.into_iter().map(|(s, e)| (starts[s], starts[e])));
        }
        for needle in &self.raw {
            needle.find_all(buf, &mut found);
        }
        let mut cut = buf.len();
        if !at_end {
            cut = starts[text.len()];
            for needle in &self.canonical {
                let k = needle.partial_at_end(&text);
                cut = cut.min(starts[text.len() - k]);
            }
            for needle in &self.raw {
                cut = cut.min(buf.len() - needle.partial_at_end(buf));
            }
        }
        found.sort_unstable();
        let mut out = Vec::with_capacity(cut);
        let mut at = 0;
        for (start, end) in found {
            if start >= cut {
                break; // found again with the next piece
            }
            if end <= at {
                continue; // within the last replacement
            }
            if start >= at {
                out.extend_from_slice(&buf[at..start]);
                out.extend_from_slice(REDACTED);
            }
            // An occurrence that overlaps the held end goes out replaced, and the hold starts
            // after it: what of a value begins inside it can never follow it whole.
            at = end;
            cut = cut.max(end);
        }
        out.extend_from_slice(&buf[at.min(cut)..cut]);
        (out, cut)
    }
}

/// `bytes` with every occurrence of each of `values` replaced (see the module's guarantees).
pub fn scrub(bytes: &[u8], values: &[SecretValue]) -> Vec<u8> {
    let mut scrubber = Scrubber::new(values);
    let mut out = Vec::with_capacity(bytes.len());
    for piece in bytes.chunks(WHOLE_PIECE) {
        out.extend(scrubber.push(piece));
    }
    out.extend(scrubber.finish());
    out
}

/// [`scrub`] for text.
pub fn scrub_str(text: &str, values: &[SecretValue]) -> String {
    String::from_utf8_lossy(&scrub(text.as_bytes(), values)).into_owned()
}

/// Whether `text` holds one of `values` in any of the forms [`scrub`] replaces.
pub fn holds_any(text: &str, values: &[SecretValue]) -> bool {
    !values.is_empty() && scrub(text.as_bytes(), values) != text.as_bytes()
}

#[cfg(test)]
#[path = "scrub_tests.rs"]
mod tests;
