//! Why a `fetch` host call failed: one variant per cause, whose text is the message of the
//! `TypeError` tenant code gets.
//!
//! Guarantees: no variant carries a secret's value (`gateway.rs` scrubs the text anyway). Trusts
//! nothing.

use stockade_ipc::limits::MAX_BODY_LEN;

use super::MAX_REDIRECTS;
use crate::egress::addr::Refused;
use crate::egress::wire::WireError;

/// Why a fetch failed (the text tenant code's `TypeError` carries; never a secret value).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("invalid URL: {0}")]
    BadUrl(String),
    #[error("fetch supports http and https only, not {0}:")]
    Scheme(String),
    #[error("invalid method {0:?}")]
    BadMethod(String),
    #[error("invalid header {0:?}")]
    BadHeader(String),
    #[error("egress to {host}:{port} denied: {reason}")]
    Denied {
        host: String,
        port: u16,
        reason: &'static str,
    },
    #[error("egress to {host} denied: {refused}")]
    Refused { host: String, refused: Refused },
    #[error("cannot resolve {0}")]
    Unresolvable(String),
    #[error("egress rule needs secret {0:?}, which is not set")]
    SecretMissing(String),
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("redirect refused: the request's redirect mode is \"error\"")]
    RedirectRefused,
    #[error("invalid redirect location")]
    BadLocation,
    #[error("the response body is larger than {MAX_BODY_LEN} bytes")]
    BodyTooLarge,
    #[error("the upstream answered a compressed body ({0}) to a request carrying secrets")]
    Compressed(String),
    #[error(
        "this egress rule injects secrets, which go over https only (or http to a loopback \
         address; the rule's inject_over_http allows more)"
    )]
    CleartextSecret,
    #[error("redirect not followed: its location holds a secret the gateway injected")]
    SecretInLocation,
    #[error("the upstream did not answer within the hop timeout")]
    Timeout,
    #[error("upstream request failed: {0}")]
    Upstream(String),
    #[error("this tenant has no egress configuration")]
    NoTenant,
    #[error("a redirect would send the request's streamed body again, which cannot be done")]
    StreamedRedirect,
    #[error("the worker's response body failed: {0}")]
    WorkerBody(String),
    #[error("a WebSocket handshake is a GET, not {0}")]
    WebSocketMethod(String),
    #[error("the server's WebSocket handshake is not valid: {0}")]
    WebSocketHandshake(&'static str),
    #[error(
        "this request has {} outbound WebSockets open already (the most it may)",
        crate::supervisor::websocket::MAX_OUTBOUND
    )]
    TooManyWebSockets,
    #[error("the fetch was aborted")]
    Aborted,
    #[error("too many response bodies open at once in this request")]
    TooManyStreams,
    #[error(
        "this request streams {} request bodies at once already (the most it may)",
        crate::supervisor::Resources::MAX
    )]
    TooManyUploads,
    #[error("no such response body stream (it ended, or was never opened by this request)")]
    NoStream,
    #[error(
        "the streamed response body is larger than {} bytes",
        crate::egress::stream::MAX_STREAMED_BODY
    )]
    StreamTooLarge,
}
