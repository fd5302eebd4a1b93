//! One hop's plumbing for the gateway: the tenant's headers as they may be sent, client errors
//! as the tenant may read them, and an answer's body read under its cap.
//!
//! Guarantees: headers the HTTP client owns (`Host`, framing, hop-by-hop, proxy) are dropped; an
//! invalid header is a typed error naming it (never its value); a client error's text has the
//! URL replaced by its host; a body is never held beyond `MAX_BODY_LEN` bytes. Trusts: nothing
//! of the tenant's or the upstream's.

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
