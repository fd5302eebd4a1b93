//! A worker's answer to a fetch, checked whatever the worker (and its tenant's prototypes)
//! claimed: what the data plane (`fetch`) and a worker-to-worker fetch (`worker_fetch`) both take
//! from a job's result before anything of it goes on.
//!
//! Guarantees: an [`Answer`] holds a status in 200..=599, and a 204, 205 or 304 (the Fetch
//! standard's null-body statuses in that range, as the worker runtime's `Response` has them)
//! holds no body, neither whole nor streamed; or it is a 101 with a WebSocket and no body, and
//! only for a client whose request asked to upgrade to a WebSocket ([`checked_upgrade`]; a
//! worker-to-worker fetch cannot take one yet); anything else is a [`BadAnswer`] saying what.
//!
//! Trusts: nothing of the reply.

use stockade_ipc::{ErrorReply, Reply};

/// A fetch's answer that passed the checks.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: u16,
    pub headers: stockade_ipc::Headers,
    /// The whole body, when it does not stream.
    pub body: Vec<u8>,
    /// The body streams after the answer.
    pub streamed: bool,
    /// A streamed body's length, as the runtime vouches for it (a `FixedLengthStream`).
    pub length: Option<u64>,
    /// A 101 handing the client a WebSocket (see the module's guarantees).
    pub web_socket: bool,
}

/// What was wrong with a fetch's result.
#[derive(Debug, thiserror::Error)]
pub(super) enum BadAnswer {
    /// The handler failed (threw, hit a limit...).
    #[error("{}", .0.message)]
    Failed(ErrorReply),
    #[error("did not return a Response")]
    NotAResponse,
    #[error("answered the status {0}, not one a worker may answer (200-599)")]
    Status(u16),
    #[error("answered a {0} with a body")]
    BodyWithoutContent(u16),
    #[error(
        "answered a WebSocket (a 101 with a webSocket) to a request that did not ask for one \
         (a GET with `Upgrade: websocket`)"
    )]
    WebSocketNotAsked,
    #[error(
        "answered a WebSocket (a 101 with a webSocket), which a fetch from another worker \
         cannot take: not supported yet"
    )]
    WebSocketToWorker,
}

/// Checks a worker-to-worker fetch's result (see the module's guarantees).
pub(super) fn checked(result: Result<Reply, ErrorReply>) -> Result<Answer, BadAnswer> {
    match checked_upgrade(result, true)? {
        answer if answer.web_socket => Err(BadAnswer::WebSocketToWorker),
        answer => Ok(answer),
    }
}

/// Checks the result of a client's fetch; `upgrade`: the client asked for a WebSocket.
pub(super) fn checked_upgrade(
    result: Result<Reply, ErrorReply>,
    upgrade: bool,
) -> Result<Answer, BadAnswer> {
    let (status, headers, body, streamed, length, web_socket) = match result {
        Ok(Reply::Response {
            status,
            headers,
            body,
            streamed,
            length,
            web_socket,
        }) => (status, headers, body, streamed, length, web_socket),
        Ok(_) => return Err(BadAnswer::NotAResponse),
        Err(e) => return Err(BadAnswer::Failed(e)),
    };
    if web_socket || status == 101 {
        if status != 101 || !web_socket {
            return Err(BadAnswer::Status(status));
        }
        if streamed || !body.is_empty() {
            return Err(BadAnswer::BodyWithoutContent(status));
        }
        if !upgrade {
            return Err(BadAnswer::WebSocketNotAsked);
        }
    } else if !(200..=599).contains(&status) {
        return Err(BadAnswer::Status(status));
    }
    if matches!(status, 204 | 205 | 304) && (streamed || !body.is_empty()) {
        return Err(BadAnswer::BodyWithoutContent(status));
    }
    Ok(Answer {
        status,
        headers,
        body,
        streamed,
        length: length.filter(|_| streamed),
        web_socket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_ipc::ErrorKind;

    fn response(status: u16, body: &[u8], streamed: bool) -> Result<Reply, ErrorReply> {
        Ok(Reply::Response {
            status,
            headers: vec![("x-a".into(), "1".into())],
            body: body.to_vec(),
            streamed,
            length: None,
            web_socket: false,
        })
    }

    #[test]
    fn only_a_response_with_a_status_a_worker_may_answer_passes() {
        for status in [200, 204, 205, 304, 418, 599] {
            let answer = checked(response(status, b"", false)).expect("passes");
            assert_eq!(answer.status, status);
            assert_eq!(answer.headers, vec![("x-a".to_string(), "1".to_string())]);
        }
        let answer = checked(response(200, b"hi", true)).expect("passes");
        assert_eq!(
            (answer.body.as_slice(), answer.streamed),
            (&b"hi"[..], true)
        );
        for status in [0, 101, 199, 600, 1000, u16::MAX] {
            assert!(matches!(
                checked(response(status, b"", false)),
                Err(BadAnswer::Status(s)) if s == status
            ));
        }
    }

    #[test]
    fn a_null_body_status_with_a_body_whole_or_streamed_is_refused() {
        for status in [204, 205, 304] {
            for (body, streamed) in [(&b"x"[..], false), (&b""[..], true)] {
                assert!(matches!(
                    checked(response(status, body, streamed)),
                    Err(BadAnswer::BodyWithoutContent(s)) if s == status
                ));
            }
        }
        // The statuses around them may have one.
        for status in [200, 206, 303, 305] {
            assert!(checked(response(status, b"x", true)).is_ok());
        }
    }

    #[test]
    fn a_web_socket_is_a_bodiless_101_for_a_client_that_asked_for_one() {
        let ws = |status: u16, body: &[u8], web_socket: bool| {
            Ok(Reply::Response {
                status,
                headers: vec![],
                body: body.to_vec(),
                streamed: false,
                length: None,
                web_socket,
            })
        };
        let answer = checked_upgrade(ws(101, b"", true), true).expect("passes");
        assert!(answer.web_socket && answer.status == 101);
        assert!(matches!(
            checked_upgrade(ws(101, b"", true), false),
            Err(BadAnswer::WebSocketNotAsked)
        ));
        assert!(matches!(
            checked(ws(101, b"", true)),
            Err(BadAnswer::WebSocketToWorker)
        ));
        assert!(matches!(
            checked_upgrade(ws(101, b"", false), true),
            Err(BadAnswer::Status(101))
        ));
        assert!(matches!(
            checked_upgrade(ws(200, b"", true), true),
            Err(BadAnswer::Status(200))
        ));
        assert!(matches!(
            checked_upgrade(ws(101, b"x", true), true),
            Err(BadAnswer::BodyWithoutContent(101))
        ));
        // An upgrade request may still get an ordinary answer.
        assert!(
            !checked_upgrade(ws(200, b"x", false), true)
                .expect("passes")
                .web_socket
        );
    }

    #[test]
    fn a_failure_or_another_reply_is_no_answer() {
        let failed = ErrorReply {
            kind: ErrorKind::ScriptThrew,
            message: "boom".into(),
            stack: None,
        };
        assert!(matches!(checked(Err(failed)), Err(BadAnswer::Failed(e)) if e.message == "boom"));
        let value = Ok(Reply::Json(b"1".to_vec()));
        assert!(matches!(checked(value), Err(BadAnswer::NotAResponse)));
    }
}
