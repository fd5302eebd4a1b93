//! The native half of the URL Standard's "domain to ASCII" (js/url-host.js), for the domains its
//! fast path does not cover (one with a non-ASCII code point or a label starting `xn--`): Unicode
//! IDNA Compatibility Processing (UTS #46) with the URL Standard's settings (CheckHyphens off,
//! CheckBidi and CheckJoiners on, nontransitional, no DNS length check, the forbidden domain code
//! points refused), by the `idna` crate, the implementation rust-url (and so servo and
//! Deno's URL) uses.
//!
//! Ops:
//! - `DomainToAscii(domain)` -> the ASCII domain (UTF-8 in, ASCII out); a domain UTS #46 refuses
//!   (a disallowed code point, bad Punycode in an `xn--` label, a bidi or joiner rule broken, a
//!   forbidden code point) is a TypeError, which the URL parser turns into its failure.
//! - `DomainToUnicode(domain)` -> UTS #46 ToUnicode of a domain ToASCII took (node:url's
//!   `domainToUnicode`, which runs the host parser first): its `xn--` labels decoded; a domain
//!   ToASCII refuses is the same TypeError.
//!
//! Guarantees: the domain is at most [`MAX_DOMAIN`] bytes, and the processing is linear in it
//! (mapping, normalisation, Punycode with the crate's own overflow checks), so a call takes well
//! under a millisecond per KiB. Nothing is kept between calls.
//!
//! Trusts: the `idna` crate (its mapping table is Unicode's IdnaMappingTable).

use idna::AsciiDenyList;

use crate::fields::Fields;
use crate::{OpCode, OpError, OpResult};

/// The longest domain taken (longer ones are refused, as no resolver takes them either).
pub const MAX_DOMAIN: usize = 64 << 10;

pub(crate) fn run(op: OpCode, input: &[u8]) -> OpResult<Vec<u8>> {
    let f = Fields::parse(input)?;
    match op {
        OpCode::DomainToAscii => to_ascii(f.bytes(0)?).map(String::into_bytes),
        OpCode::DomainToUnicode => to_unicode(f.bytes(0)?).map(String::into_bytes),
        _ => Err(OpError::not_supported("not a domain op")),
    }
}

/// UTS #46 ToASCII of `domain` (UTF-8) as the URL Standard's host parser runs it.
pub fn to_ascii(domain: &[u8]) -> OpResult<String> {
    if domain.len() > MAX_DOMAIN {
        return Err(OpError::type_error("the domain is too long"));
    }
    idna::domain_to_ascii_cow(domain, AsciiDenyList::URL)
        .map(|ascii| ascii.into_owned())
        .map_err(|_| OpError::type_error("the domain is not a valid internationalized domain name"))
}

/// UTS #46 ToUnicode of `domain` once ToASCII (as [`to_ascii`]) accepted it.
pub fn to_unicode(domain: &[u8]) -> OpResult<String> {
    let ascii = to_ascii(domain)?;
    let (unicode, checked) = idna::domain_to_unicode(&ascii);
    checked
        .map(|()| unicode)
        .map_err(|_| OpError::type_error("the domain is not a valid internationalized domain name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascii(domain: &str) -> Option<String> {
        to_ascii(domain.as_bytes()).ok()
    }

    #[test]
    fn unicode_domains_map_as_uts_46_says() {
        // Punycode of a mapped, case-folded label; full-width dots are label separators.
        assert_eq!(
            ascii("Bücher.EXAMPLE").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(ascii("ｅｘａｍｐｌｅ。com").as_deref(), Some("example.com"));
        // Nontransitional: ß and ς are kept, not mapped to ss and σ.
        assert_eq!(ascii("faß.de").as_deref(), Some("xn--fa-hia.de"));
        // Ignored code points go (soft hyphen, zero-width joiners between letters are refused).
        assert_eq!(ascii("a\u{ad}b").as_deref(), Some("ab"));
        assert_eq!(ascii("\u{ad}"), Some(String::new()));
        // Valid xn-- labels are kept; broken ones are refused.
        assert_eq!(
            ascii("xn--bcher-kva.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(ascii("xn--"), None);
        assert_eq!(ascii("a.b.c.xn--pokxncvks"), None);
        // Forbidden domain code points and disallowed ones.
        assert_eq!(ascii("exa mple.com"), None);
        assert_eq!(ascii("a\u{fffd}b"), None);
        assert!(to_ascii(&vec![b'a'; MAX_DOMAIN + 1]).is_err());
    }

    #[test]
    fn ascii_domains_decode_to_unicode_after_the_same_checks() {
        let unicode = |d: &str| to_unicode(d.as_bytes()).ok();
        assert_eq!(unicode("xn--mnchen-3ya.de").as_deref(), Some("münchen.de"));
        assert_eq!(unicode("XN--MNCHEN-3YA.DE").as_deref(), Some("münchen.de"));
        assert_eq!(unicode("Bücher.example").as_deref(), Some("bücher.example"));
        assert_eq!(unicode("example.com").as_deref(), Some("example.com"));
        assert_eq!(unicode("xn--"), None);
        assert_eq!(unicode("a.b.c.xn--pokxncvks"), None);
        assert!(to_unicode(&vec![b'a'; MAX_DOMAIN + 1]).is_err());
    }
}
