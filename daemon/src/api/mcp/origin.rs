//! The streamable-HTTP transport's DNS-rebinding defence: which `Origin` may call `/mcp`.
//!
//! A request without an `Origin` is allowed: browsers always send one on a cross-origin or
//! `POST` `fetch`, other clients (an agent harness, the official SDK under Node) need not, and
//! the bearer token guards them. A request with one is allowed only when
//! - the `Origin` is `http://host[:port]` (the daemon serves plain HTTP: an `https` page is not
//!   this server's), no user, path, query or fragment, and not `null`;
//! - it names the same host and port as the `Host` header (ports defaulting to 80); and
//! - that host cannot be rebound: an IP address literal (`127.0.0.1`, `[::1]`, `10.0.0.5`:
//!   a browser connects to that very address, no name is resolved, so a page of that origin came
//!   from the same address and port as this request, this server) or `localhost` (which
//!   browsers resolve to loopback themselves).
//!
//! So a page on `http://evil.example:8787` whose name an attacker re-points at this daemon is
//! refused although its `Origin` and `Host` agree; so is any domain name, which also refuses a
//! browser page that reaches the daemon by a DNS name (or behind a TLS proxy), by design.

use axum::http::{header, HeaderMap};
use url::{Host, Url};

/// Whether `headers` (their `Origin` and `Host`) may reach `/mcp`: see the module docs.
pub fn allowed(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().ok().and_then(|o| Url::parse(o).ok());
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_url);
    match (origin, host) {
        (Some(origin), Some(host)) => {
            origin.scheme() == "http"
                && origin.username().is_empty()
                && origin.password().is_none()
                && origin.path() == "/"
                && origin.query().is_none()
                && origin.fragment().is_none()
                && origin.host() == host.host()
                && origin.port_or_known_default() == host.port_or_known_default()
                && origin.host().is_some_and(|h| match h {
                    Host::Ipv4(_) | Host::Ipv6(_) => true,
                    Host::Domain(name) => name == "localhost",
                })
        }
        _ => false,
    }
}

/// The `Host` header `host[:port]` as an `http` URL (host normalised as in an `Origin`), or
/// `None` when it is anything more.
fn host_url(host: &str) -> Option<Url> {
    if host.is_empty() || host.contains(['/', '\\', '@', '?', '#']) {
        return None;
    }
    let url = Url::parse(&format!("http://{host}/")).ok()?;
    (url.path() == "/").then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn check(origin: Option<&str>, host: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(origin) = origin {
            headers.insert(
                header::ORIGIN,
                HeaderValue::from_str(origin).expect("origin"),
            );
        }
        if let Some(host) = host {
            headers.insert(header::HOST, HeaderValue::from_str(host).expect("host"));
        }
        allowed(&headers)
    }

    #[test]
    fn only_unrebindable_own_origins_pass() {
        for (origin, host) in [
            (None, None),
            (None, Some("evil.example:8787")),
            (Some("http://127.0.0.1:8787"), Some("127.0.0.1:8787")),
            (Some("http://127.0.0.2:8787"), Some("127.0.0.2:8787")),
            (Some("http://[::1]:8787"), Some("[::1]:8787")),
            (Some("http://localhost:8787"), Some("localhost:8787")),
            (Some("http://LOCALHOST:8787"), Some("localhost:8787")),
            (Some("http://10.0.0.5"), Some("10.0.0.5:80")),
            (Some("http://10.0.0.5:80"), Some("10.0.0.5")),
        ] {
            assert!(check(origin, host), "{origin:?} {host:?}");
        }
        for (origin, host) in [
            (Some("http://evil.example:8787"), Some("evil.example:8787")),
            (Some("http://evil.example:8787"), Some("127.0.0.1:8787")),
            (Some("https://127.0.0.1:8787"), Some("127.0.0.1:8787")),
            (Some("http://127.0.0.1:8788"), Some("127.0.0.1:8787")),
            (Some("http://127.0.0.1"), Some("127.0.0.1:8787")),
            (Some("http://127.0.0.1:8787"), Some("127.0.0.2:8787")),
            (Some("http://localhost.:8787"), Some("localhost.:8787")),
            (Some("http://a.localhost:8787"), Some("a.localhost:8787")),
            (Some("http://127.0.0.1:8787"), None),
            (Some("null"), Some("127.0.0.1:8787")),
            (Some("http://u@127.0.0.1:8787"), Some("127.0.0.1:8787")),
            (Some("http://127.0.0.1:8787/x"), Some("127.0.0.1:8787")),
            (Some("http://127.0.0.1:8787"), Some("127.0.0.1:8787/x")),
            (Some("http://127.0.0.1:8787"), Some("u@127.0.0.1:8787")),
            (Some("http://127.0.0.1:8787"), Some("")),
        ] {
            assert!(!check(origin, host), "{origin:?} {host:?}");
        }
    }
}
