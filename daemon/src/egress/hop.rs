//! One hop's plumbing for the gateway: the tenant's headers as they may be sent, the encodings
//! the hop asks for, client errors as the tenant may read them, and an answer's body read under
//! its cap.
//!
//! Guarantees: headers the HTTP client owns (`Host`, framing, hop-by-hop, proxy) are dropped; an
//! invalid header is a typed error naming it (never its value); a client error's text has the
//! URL replaced by its host; a body is never held beyond `MAX_BODY_LEN` bytes; a hop of a chain
//! that injected a secret asks for an uncompressed, whole answer and has it decoded, whatever
//! the tenant asked (see [`negotiate`]). Trusts: nothing of the tenant's or the upstream's.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::gateway::FetchError;
use super::resolver::{refusal_in, unresolvable_in};

/// Headers tenant code may not set: the HTTP client's own, and the expectations and proxy
/// credentials the gateway owns.
fn dropped(name: &str) -> bool {
    super::CLIENT_OWNED.contains(&name)
        || matches!(name, "expect" | "proxy-authorization" | "proxy-connection")
}

/// The tenant's headers, minus those the gateway owns.
pub fn tenant_headers(pairs: &[(String, String)]) -> Result<HeaderMap, FetchError> {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FetchError::BadHeader(name.clone()))?;
        if dropped(header.as_str()) {
            continue;
        }
        // A header value is bytes: JavaScript gives each as one character (a ByteString, below
        // U+0100), which goes out as that one byte, as `fetch()` sends it.
        let bytes = isomorphic_encode(value).ok_or_else(|| FetchError::BadHeader(name.clone()))?;
        let value =
            HeaderValue::from_bytes(&bytes).map_err(|_| FetchError::BadHeader(name.clone()))?;
        headers.append(header, value);
    }
    Ok(headers)
}

/// `text`'s characters as bytes, if each is below U+0100 (the Fetch standard's isomorphic
/// encoding of a ByteString).
pub fn isomorphic_encode(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// `bytes` as characters, each byte one (the Fetch standard's isomorphic decoding): what
/// JavaScript sees of a header value.
pub fn isomorphic_decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The encodings the gateway asks for when the tenant names none: exactly those its decoding
/// client decodes (and would ask for itself), so that `encodeResponseBody: "manual"` changes
/// what tenant code gets, never what the upstream is asked.
pub const DECODED_ENCODINGS: &str = "gzip, deflate, br";

/// Sets one hop's `Accept-Encoding` (and drops its ranges) in `sent`, and says whether its
/// answer goes to tenant code as the upstream sent it (`true`: the client that does not decode
/// sends it) or decoded. `secrets` is whether any hop of the chain, this one included, injected
/// a value: then the answer must be whole and uncompressed (or decoded) to be scrubbed, so the
/// hop asks for `identity`, drops `Range`/`If-Range`, and is decoded even when `manual` asked
/// otherwise (tenant code then gets it without `Content-Encoding`, as an automatic fetch does).
/// Otherwise the tenant's `Accept-Encoding` stands, or [`DECODED_ENCODINGS`] when it set none.
pub fn negotiate(sent: &mut HeaderMap, secrets: bool, manual: bool) -> bool {
    use reqwest::header::{ACCEPT_ENCODING, IF_RANGE, RANGE};
    if secrets {
        sent.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        sent.remove(RANGE);
        sent.remove(IF_RANGE);
        return false;
    }
    if !sent.contains_key(ACCEPT_ENCODING) {
        sent.insert(ACCEPT_ENCODING, HeaderValue::from_static(DECODED_ENCODINGS));
    }
    manual
}

/// What a client error means for the tenant.
pub fn classify(error: &reqwest::Error, url: &Url) -> FetchError {
    let host = url.host_str().unwrap_or("").to_owned();
    if let Some(refused) = refusal_in(error) {
        return FetchError::Refused { host, refused };
    }
    if unresolvable_in(error) {
        return FetchError::Unresolvable(host);
    }
    if error.is_timeout() {
        return FetchError::Timeout;
    }
    let mut text = String::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&e.to_string());
        next = e.source();
    }
    FetchError::Upstream(text.replace(url.as_str(), &host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        tenant_headers(&pairs).expect("valid")
    }

    fn accept(sent: &HeaderMap) -> Option<&str> {
        sent.get("accept-encoding").and_then(|v| v.to_str().ok())
    }

    #[test]
    fn a_manual_hop_without_secrets_is_raw_and_asks_what_an_automatic_one_asks() {
        for manual in [false, true] {
            let mut sent = headers(&[("range", "bytes=0-3")]);
            assert_eq!(negotiate(&mut sent, false, manual), manual);
            assert_eq!(accept(&sent), Some(DECODED_ENCODINGS), "manual={manual}");
            assert!(sent.contains_key("range"), "a range is the tenant's to ask");
            let mut sent = headers(&[("accept-encoding", "zstd")]);
            assert_eq!(negotiate(&mut sent, false, manual), manual);
            assert_eq!(accept(&sent), Some("zstd"), "the tenant's own stands");
        }
    }

    #[test]
    fn a_hop_after_a_secret_asks_identity_whole_and_is_decoded_even_when_manual() {
        for manual in [false, true] {
            let mut sent = headers(&[
                ("accept-encoding", "gzip"),
                ("range", "bytes=0-3"),
                ("if-range", "\"e\""),
            ]);
            assert!(!negotiate(&mut sent, true, manual), "manual={manual}");
            assert_eq!(accept(&sent), Some("identity"));
            assert!(!sent.contains_key("range") && !sent.contains_key("if-range"));
        }
    }
}
