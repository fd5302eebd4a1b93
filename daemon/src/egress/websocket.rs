//! Outbound WebSockets: tenant code's `fetch(url, { headers: { Upgrade: "websocket" } })` (and
//! the runtime's `new WebSocket(url)`, which makes the same call) is a `fetch` host call with
//! `websocket: true`. Its hop goes through the gateway as any fetch's does (`gateway_hops.rs`:
//! the tenant's rules, the address checks and the checked resolver, secrets injected into its
//! headers, the audit; a denied host is the same error as a denied fetch), over HTTP/1.1 with the
//! gateway's TLS (reqwest's rustls and webpki roots). A 101 that completes the handshake becomes
//! an outbound socket of the request: the connection is upgraded, relayed by
//! `websocket_relay.rs`, and the worker's end kept in the request's
//! `supervisor::websocket::OutboundSockets` under a number the answer carries (`socket` in its
//! head); tenant code then drives it with the `socket.*` host calls naming that number. Any other
//! answer (a 200, a 3xx, a 4xx) is an ordinary fetch answer, its body read as any other.
//!
//! Guarantees:
//! - the handshake's `Upgrade`, `Connection`, `Sec-WebSocket-Key`, `-Version` and `-Extensions`
//!   are the gateway's (tenant values dropped); `Sec-WebSocket-Protocol` is the tenant's; the
//!   101 counts only with `Upgrade: websocket` and the `Sec-WebSocket-Accept` of the key sent,
//!   and without extensions (none were offered); anything else fails the fetch, audited;
//! - a request has at most `MAX_OUTBOUND` outbound sockets open (checked before its hop and again
//!   when kept); each is closed when the request ends (its `Resources` dropped: 1001);
//! - the handshake is audited once, with its status (101), when the socket is kept;
//! - its handshake held a place among the request's open connections (`connections`) until
//!   the 101 arrived; the open socket holds none (`MAX_OUTBOUND` bounds them).
//!
//! Trusts: the gateway's hop (`gateway_hops.rs`) to have admitted and audited the request; the
//! upstream's answer only as far as it is checked here.

use reqwest::header::{HeaderMap, HeaderValue};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::hops::Ran;
use super::*;
use crate::supervisor::websocket::{pair, OutboundSockets};

/// The handshake headers the gateway owns (any the tenant set are dropped).
const OWNED: [&str; 4] = [
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
];

/// A fresh `Sec-WebSocket-Key`.
pub(super) fn new_key() -> String {
    tokio_tungstenite::tungstenite::handshake::client::generate_key()
}

/// Drops the handshake headers the gateway owns from the tenant's.
pub(super) fn drop_handshake_headers(headers: &mut HeaderMap) {
    for name in OWNED {
        headers.remove(name);
    }
}

/// Sets one handshake hop's own headers. Its answer is read raw (a non-101 is an ordinary
/// answer), so it asks for no encoding.
pub(super) fn handshake_headers(sent: &mut HeaderMap, key: &str) {
    use reqwest::header::{ACCEPT_ENCODING, CONNECTION, SEC_WEBSOCKET_KEY};
    use reqwest::header::{SEC_WEBSOCKET_VERSION, UPGRADE};
    sent.insert(UPGRADE, HeaderValue::from_static("websocket"));
    sent.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    sent.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    if let Ok(key) = HeaderValue::from_str(key) {
        sent.insert(SEC_WEBSOCKET_KEY, key);
    }
    sent.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
}

/// Whether `resources`' request may open another outbound socket.
pub(super) fn has_room(resources: Option<&Resources>) -> bool {
    resources.is_none_or(|r| r.shared(|sockets: &mut OutboundSockets| !sockets.is_full()))
}

/// The answer to a handshake the server accepted: its head with the socket's number, no body.
pub(super) fn encode_answer(head: &ResponseHead, socket: u32) -> Vec<u8> {
    let mut json = serde_json::to_value(head).unwrap_or_default();
    if let Some(fields) = json.as_object_mut() {
        fields.insert("socket".into(), socket.into());
    }
    let json = json.to_string();
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out
}

/// Whether `headers` has `name` with `token` among its comma-separated values.
fn has_token(headers: &HeaderMap, name: reqwest::header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

/// Why a 101 does not complete the handshake of `key`, if it does not.
fn invalid(headers: &HeaderMap, key: &str) -> Option<&'static str> {
    use reqwest::header::{SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, UPGRADE};
    if !has_token(headers, UPGRADE, "websocket") {
        return Some("its 101 does not say Upgrade: websocket");
    }
    let accept = headers.get(SEC_WEBSOCKET_ACCEPT).map(HeaderValue::as_bytes);
    if accept != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
        return Some("its Sec-WebSocket-Accept does not match the key sent");
    }
    if headers.contains_key(SEC_WEBSOCKET_EXTENSIONS) {
        return Some("it names extensions, and none were offered");
    }
    None
}

impl Gateway {
    /// A handshake the server answered with 101: checked, upgraded, its relay started and its
    /// worker's end kept in the request's sockets. The head and the socket's number.
    pub(super) async fn upgraded(
        &self,
        ran: Ran,
        key: &str,
        resources: Option<&Resources>,
        injected: &[SecretValue],
    ) -> Result<(ResponseHead, u32), FetchError> {
        let Ran {
            head,
            response,
            index,
            hop,
            ..
        } = ran;
        let Some(resources) = resources else {
            let error = FetchError::WebSocketHandshake("no request holds the socket");
            return Err(self.fail(index, hop, error, injected));
        };
        if let Some(why) = invalid(response.headers(), key) {
            let error = FetchError::WebSocketHandshake(why);
            return Err(self.fail(index, hop, error, injected));
        }
        let upgraded = match response.upgrade().await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                let error = FetchError::Upstream(e.to_string());
                return Err(self.fail(index, hop, error, injected));
            }
        };
        let (end, peer) = pair();
        let Some(socket) = resources.shared(|sockets: &mut OutboundSockets| sockets.insert(end))
        else {
            return Err(self.fail(index, hop, FetchError::TooManyWebSockets, injected));
        };
        let mut record = hop.record;
        record.status = Some(101);
        record.ms = hop.started.elapsed().as_millis() as u64;
        self.log(index, record, injected);
        tokio::spawn(crate::egress::websocket_relay::relay(
            upgraded,
            peer,
            injected.to_vec(),
        ));
        Ok((head, socket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_101_counts_only_with_the_upgrade_and_the_keys_accept() {
        let key = new_key();
        let mut headers = HeaderMap::new();
        assert!(invalid(&headers, &key).is_some());
        headers.insert("upgrade", HeaderValue::from_static("WebSocket"));
        assert!(invalid(&headers, &key).is_some(), "no accept");
        let wrong = derive_accept_key(b"another key");
        headers.insert("sec-websocket-accept", wrong.parse().expect("value"));
        assert!(invalid(&headers, &key).is_some(), "another key's accept");
        let right = derive_accept_key(key.as_bytes());
        headers.insert("sec-websocket-accept", right.parse().expect("value"));
        assert_eq!(invalid(&headers, &key), None);
        headers.insert(
            "sec-websocket-extensions",
            HeaderValue::from_static("permessage-deflate"),
        );
        assert!(
            invalid(&headers, &key).is_some(),
            "an extension not offered"
        );
    }

    #[test]
    fn the_gateway_owns_the_handshake_headers_but_the_protocol() {
        let mut headers = HeaderMap::new();
        for name in OWNED {
            headers.insert(name, HeaderValue::from_static("tenant"));
        }
        headers.insert("sec-websocket-protocol", HeaderValue::from_static("chat"));
        drop_handshake_headers(&mut headers);
        handshake_headers(&mut headers, "k");
        assert_eq!(headers["sec-websocket-key"], "k");
        assert_eq!(headers["sec-websocket-version"], "13");
        assert_eq!(headers["upgrade"], "websocket");
        assert_eq!(headers["sec-websocket-protocol"], "chat");
        assert!(!headers.contains_key("sec-websocket-extensions"));
    }
}
