//! Tests only: the worker's end of a socket pair, driven by hand, speaking the protocol with
//! the same codec as a real worker.

use std::time::Duration;

use stockade_ipc::{
    decode_frame, encode_to_vec, Decoded, ErrorKind, ErrorReply, Outcome, Reply, RequestId,
    ToSupervisor, ToWorker,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::channel::{split, FrameReader, FrameWriter};

pub struct FakeWorker {
    stream: UnixStream,
    inbox: Vec<u8>,
}

/// A connected pair: the supervisor's halves, and the fake worker.
pub fn pair() -> (FrameReader, FrameWriter, FakeWorker) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    let (reader, writer) = split(ours);
    (
        reader,
        writer,
        FakeWorker {
            stream: theirs,
            inbox: Vec::new(),
        },
    )
}

impl FakeWorker {
    /// The next message from the supervisor; `None` once it closed the socket.
    pub async fn recv(&mut self) -> Option<ToWorker> {
        loop {
            match decode_frame::<ToWorker>(&self.inbox).expect("the supervisor sends valid frames")
            {
                Decoded::Frame { message, consumed } => {
                    self.inbox.drain(..consumed);
                    return Some(message);
                }
                Decoded::NeedMore(_) => {
                    let mut chunk = [0u8; 4096];
                    let got = self.stream.read(&mut chunk).await.ok()?;
                    if got == 0 {
                        return None;
                    }
                    self.inbox.extend_from_slice(&chunk[..got]);
                }
            }
        }
    }

    /// The next message, which must come within two seconds.
    pub async fn expect(&mut self) -> ToWorker {
        tokio::time::timeout(Duration::from_secs(2), self.recv())
            .await
            .expect("a message within 2 s")
            .expect("the socket is open")
    }

    /// Whether nothing arrives for `wait`.
    pub async fn silent_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.recv()).await.is_err()
    }

    /// Writes `bytes` as they are (garbage, say).
    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    pub async fn send(&mut self, message: &ToSupervisor) {
        let frame = encode_to_vec(message).expect("encodes");
        self.stream.write_all(&frame).await.expect("write");
    }

    /// Answers `id` with JSON `json`.
    pub async fn answer(&mut self, id: RequestId, json: &str) {
        self.send(&outcome(id, Ok(Reply::Json(json.as_bytes().to_vec()))))
            .await;
    }

    /// Answers `id` with an error of `kind`.
    pub async fn fail(&mut self, id: RequestId, kind: ErrorKind) {
        let error = ErrorReply {
            kind,
            message: format!("{kind:?}"),
            stack: None,
        };
        self.send(&outcome(id, Err(error))).await;
    }
}

pub fn outcome(request_id: RequestId, result: Result<Reply, ErrorReply>) -> ToSupervisor {
    ToSupervisor::Outcome(Outcome {
        request_id,
        result,
        logs: vec![],
        cpu_us: 0,
        wall_us: 0,
        open: false,
        observed: Default::default(),
        memory_bytes: 0,
    })
}
