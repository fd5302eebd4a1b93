//! A worker's answer to a fetch, checked whatever the worker (and its tenant's prototypes)
//! claimed: what the data plane (`fetch`) and a worker-to-worker fetch (`worker_fetch`) both take
//! from a job's result before anything of it goes on.
//!
//! Guarantees: an [`Answer`] holds a status in 200..=599, and a 204, 205 or 304 (the Fetch
//! standard's null-body statuses in that range, as the worker runtime's `Response` has them)
//! holds no body, neither whole nor streamed; anything else is a [`BadAnswer`] saying what.
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
}

/// Checks a fetch job's result (see the module's guarantees).
pub(super) fn checked(result: Result<Reply, ErrorReply>) -> Result<Answer, BadAnswer> {
    let (status, headers, body, streamed, length) = match result {
        Ok(Reply::Response {
            status,
            headers,
            body,
            streamed,
            length,
        }) => (status, headers, body, streamed, length),
        Ok(_) => return Err(BadAnswer::NotAResponse),
        Err(e) => return Err(BadAnswer::Failed(e)),
    };
    if !(200..=599).contains(&status) {
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
