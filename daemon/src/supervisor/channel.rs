//! Framed, size-capped messages over a worker's socket, for async code.
//!
//! Guarantees: reads never buffer more than one frame's declared size, which the IPC decoder caps
//! (`MAX_TO_SUPERVISOR_PAYLOAD`) before anything is allocated; any malformed byte from the
//! worker is an error that ends the connection.

use stockade_ipc::{decode_frame, encode_frame, Decoded, ToSupervisor, ToWorker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the worker closed its socket")]
    Closed,
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the worker sent a malformed frame: {0}")]
    Decode(#[from] stockade_ipc::DecodeError),
    #[error("cannot encode a request: {0}")]
    Encode(#[from] stockade_ipc::EncodeError),
}

pub struct Channel {
    stream: UnixStream,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
}

impl Channel {
    pub fn new(stream: UnixStream) -> Self {
        Channel {
            stream,
            inbox: Vec::with_capacity(64 << 10),
            outbox: Vec::new(),
        }
    }

    pub async fn send(&mut self, message: &ToWorker) -> Result<(), ChannelError> {
        self.outbox.clear();
        encode_frame(message, &mut self.outbox)?;
        self.stream.write_all(&self.outbox).await?;
        if self.outbox.capacity() > (1 << 20) {
            self.outbox = Vec::new(); // do not keep a 64 MiB LoadWorker buffer around
        }
        Ok(())
    }

    pub async fn recv(&mut self) -> Result<ToSupervisor, ChannelError> {
        loop {
            match decode_frame::<ToSupervisor>(&self.inbox)? {
                Decoded::Frame { message, consumed } => {
                    self.inbox.drain(..consumed);
                    return Ok(message);
                }
                Decoded::NeedMore(n) => {
                    let start = self.inbox.len();
                    let want = n.clamp(1, 1 << 20);
                    self.inbox.resize(start + want, 0);
                    let got = self.stream.read(&mut self.inbox[start..]).await;
                    let got = match got {
                        Ok(g) => g,
                        Err(e) => {
                            self.inbox.truncate(start);
                            return Err(e.into());
                        }
                    };
                    self.inbox.truncate(start + got);
                    if got == 0 {
                        return Err(ChannelError::Closed);
                    }
                }
            }
        }
    }
}
