//! The `fetch` host call's payloads: `u32 LE head_len`, a JSON head of `head_len` bytes, then the
//! body bytes (the rest).
//!
//! Guarantees: a request head is at most [`MAX_HEAD_LEN`] bytes of JSON with exactly the known
//! fields (`method`, `url`, `headers` as `[name, value]` pairs, `redirect`, `upload`, `length`
//! (only with `upload`), `call`, `encodeResponseBody`, `websocket`), at most
//! `stockade_ipc::limits::MAX_HEADERS` headers; anything else is a typed [`WireError`], never a
//! panic. Trusts nothing in a request payload (tenant code writes it).

use serde::{Deserialize, Serialize};

/// The largest request head accepted.
pub const MAX_HEAD_LEN: usize = 1 << 20;

/// What `redirect` asks of the gateway (the fetch standard's `RequestRedirect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedirectMode {
    #[default]
    Follow,
    Manual,
    Error,
}

/// What `encodeResponseBody` asks of the gateway (Cloudflare's `RequestInit` option): the
/// answer's body decoded as its `Content-Encoding` says (the default), or as the upstream sent it,
/// its `Content-Encoding` kept. The gateway honours `Manual` only when no secret was injected on
/// any hop (see `gateway`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResponseBodyEncoding {
    #[default]
    Automatic,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestHead {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    redirect: RedirectMode,
    /// The body is not in the payload: the request feeds it with `fetch.write` under this number.
    #[serde(default)]
    upload: Option<u32>,
    /// The upload's length, when the runtime knows it (`upload_length`).
    #[serde(default)]
    length: Option<u64>,
    /// The number `fetch.abort` names this request by (`abort`).
    #[serde(default)]
    call: Option<u32>,
    #[serde(default, rename = "encodeResponseBody")]
    encode_response_body: ResponseBodyEncoding,
    /// A WebSocket handshake (`egress/websocket.rs`).
    #[serde(default)]
    websocket: bool,
}

/// One `fetch` request from tenant code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub redirect: RedirectMode,
    pub body: Vec<u8>,
    /// The body streams in through `fetch.write` under this number (`body` is then empty).
    pub upload: Option<u32>,
    /// The upload's length, when the runtime knows it (a `FixedLengthStream`'s): sent as the
    /// request's `Content-Length`, the upload held to it (`upload_length`).
    pub length: Option<u64>,
    /// The number `fetch.abort` names this request by, if it may be aborted while it waits.
    pub call: Option<u32>,
    /// Whether tenant code asked for the answer's body as the upstream sent it.
    pub encode_response_body: ResponseBodyEncoding,
    /// Whether it asks for a WebSocket (`Upgrade: websocket`): a bodyless `GET` whose 101
    /// answer carries an outbound socket (`egress/websocket.rs`).
    pub websocket: bool,
}

/// The head of the gateway's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseHead {
    pub status: u16,
    pub status_text: String,
    pub headers: Vec<(String, String)>,
    pub url: String,
    pub redirected: bool,
    /// The body goes on past this answer: read it with `fetch.read` naming this number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the fetch request is shorter than its length prefix")]
    Truncated,
    #[error("the fetch request's head is larger than {MAX_HEAD_LEN} bytes")]
    HeadTooLarge,
    #[error("the fetch request's head is not valid: {0}")]
    BadHead(String),
    #[error(
        "the fetch request has more than {} headers",
        stockade_ipc::limits::MAX_HEADERS
    )]
    TooManyHeaders,
}

/// Splits and parses a request payload.
pub fn decode_request(payload: &[u8]) -> Result<FetchRequest, WireError> {
    let prefix: [u8; 4] = payload
        .get(..4)
        .and_then(|p| p.try_into().ok())
        .ok_or(WireError::Truncated)?;
    let head_len =
        usize::try_from(u32::from_le_bytes(prefix)).map_err(|_| WireError::HeadTooLarge)?;
    if head_len > MAX_HEAD_LEN {
        return Err(WireError::HeadTooLarge);
    }
    let head = payload.get(4..4 + head_len).ok_or(WireError::Truncated)?;
    let head: RequestHead =
        serde_json::from_slice(head).map_err(|e| WireError::BadHead(e.to_string()))?;
    if head.headers.len() > stockade_ipc::limits::MAX_HEADERS {
        return Err(WireError::TooManyHeaders);
    }
    if head.length.is_some() && head.upload.is_none() {
        return Err(WireError::BadHead("a length is for an upload".into()));
    }
    if head.websocket && (head.upload.is_some() || payload.len() > 4 + head_len) {
        return Err(WireError::BadHead(
            "a WebSocket handshake has no body".into(),
        ));
    }
    Ok(FetchRequest {
        method: head.method,
        url: head.url,
        headers: head.headers,
        redirect: head.redirect,
        body: payload[4 + head_len..].to_vec(),
        upload: head.upload,
        length: head.length,
        call: head.call,
        encode_response_body: head.encode_response_body,
        websocket: head.websocket,
    })
}

/// Encodes an answer: prefix, JSON head, body.
pub fn encode_response(head: &ResponseHead, body: &[u8]) -> Vec<u8> {
    // A struct of strings, numbers and a bool always serialises.
    let json = serde_json::to_vec(head).unwrap_or_else(|_| b"{}".to_vec());
    let mut out = Vec::with_capacity(4 + json.len() + body.len());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    out
}

/// Encodes a request (tests, and the reference for the worker's side).
#[cfg(test)]
pub fn encode_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    redirect: &str,
    body: &[u8],
) -> Vec<u8> {
    let head = serde_json::json!({
        "method": method, "url": url, "headers": headers, "redirect": redirect,
    })
    .to_string();
    let mut out = (head.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_bad_ones_are_typed_errors() {
        let payload = encode_request("POST", "http://a/", &[("x", "1")], "manual", b"body");
        let request = decode_request(&payload).expect("valid");
        assert_eq!(request.method, "POST");
        assert_eq!(request.headers, vec![("x".to_string(), "1".to_string())]);
        assert_eq!(request.redirect, RedirectMode::Manual);
        assert_eq!(request.body, b"body");
        assert_eq!(decode_request(b"\x01\0"), Err(WireError::Truncated));
        assert_eq!(decode_request(b"\xff\0\0\0{}"), Err(WireError::Truncated));
        assert_eq!(
            decode_request(b"\xff\xff\xff\xff"),
            Err(WireError::HeadTooLarge)
        );
        assert!(matches!(
            decode_request(b"\x02\0\0\0{}"),
            Err(WireError::BadHead(_))
        ));
        let wrong = encode_request("GET", "http://a/", &[], "sometimes", b"");
        assert!(matches!(decode_request(&wrong), Err(WireError::BadHead(_))));
    }

    /// A head with `extra` fields after the method and URL.
    fn head_with(extra: &str) -> Vec<u8> {
        let head = format!("{{\"method\":\"GET\",\"url\":\"http://a/\"{extra}}}");
        let mut out = (head.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(head.as_bytes());
        out
    }

    #[test]
    fn a_length_comes_with_an_upload_only() {
        let request = decode_request(&head_with(",\"upload\":3,\"length\":11")).expect("valid");
        assert_eq!((request.upload, request.length), (Some(3), Some(11)));
        let request = decode_request(&head_with(",\"upload\":3")).expect("valid");
        assert_eq!(request.length, None);
        for bad in [
            ",\"length\":11",
            ",\"upload\":3,\"length\":-1",
            ",\"upload\":3,\"length\":1.5",
        ] {
            assert!(
                matches!(decode_request(&head_with(bad)), Err(WireError::BadHead(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_response_body_encoding_is_automatic_unless_asked_and_a_bad_one_is_a_typed_error() {
        let plain = decode_request(&head_with("")).expect("valid");
        assert_eq!(plain.encode_response_body, ResponseBodyEncoding::Automatic);
        let manual =
            decode_request(&head_with(",\"encodeResponseBody\":\"manual\"")).expect("valid");
        assert_eq!(manual.encode_response_body, ResponseBodyEncoding::Manual);
        let automatic =
            decode_request(&head_with(",\"encodeResponseBody\":\"automatic\"")).expect("valid");
        assert_eq!(
            automatic.encode_response_body,
            ResponseBodyEncoding::Automatic
        );
        for bad in ["\"Manual\"", "\"raw\"", "1", "null", "true"] {
            let payload = head_with(&format!(",\"encodeResponseBody\":{bad}"));
            assert!(
                matches!(decode_request(&payload), Err(WireError::BadHead(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_websocket_handshake_is_flagged_and_has_no_body() {
        assert!(!decode_request(&head_with("")).expect("valid").websocket);
        let asked = decode_request(&head_with(",\"websocket\":true")).expect("valid");
        assert!(asked.websocket);
        let mut with_body = head_with(",\"websocket\":true");
        with_body.push(b'x');
        assert!(matches!(
            decode_request(&with_body),
            Err(WireError::BadHead(_))
        ));
        let upload = head_with(",\"websocket\":true,\"upload\":1");
        assert!(matches!(
            decode_request(&upload),
            Err(WireError::BadHead(_))
        ));
    }

    #[test]
    fn responses_carry_a_prefixed_head_and_the_body() {
        let head = ResponseHead {
            status: 200,
            status_text: "OK".into(),
            headers: vec![("a".into(), "b".into())],
            url: "http://a/".into(),
            redirected: false,
            stream: None,
        };
        let out = encode_response(&head, b"hi");
        let len = u32::from_le_bytes([out[0], out[1], out[2], out[3]]) as usize;
        let json: serde_json::Value = serde_json::from_slice(&out[4..4 + len]).expect("json");
        assert_eq!(json["statusText"], "OK");
        assert_eq!(json["headers"], serde_json::json!([["a", "b"]]));
        assert_eq!(&out[4 + len..], b"hi");
    }
}
