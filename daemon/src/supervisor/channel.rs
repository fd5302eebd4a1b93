//! Framed, size-capped messages over a worker's socket, for async code: the socket split into a
//! reading half and a writing half, so that one task can read while another writes (a 64 MiB
//! `LoadWorker` going out never holds up an answer coming in).
//!
//! Guarantees: reads never buffer more than one frame's declared size (or [`READ_AHEAD`], when
//! that is more) beyond what is already buffered, and the IPC decoder caps that size
//! (`MAX_TO_SUPERVISOR_PAYLOAD`) before anything is allocated; any malformed byte from the worker is an error that ends the connection;
//! [`FrameReader::recv`] is cancel-safe (a dropped `recv` loses no bytes and leaves no garbage).
//!
//! Trusts: nothing the worker sends.

use stockade_ipc::{decode_frame, encode_to_vec, Decoded, ToSupervisor, ToWorker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
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

/// Largest read asked of the socket at once.
const READ_CHUNK: usize = 1 << 20;
/// Smallest read asked of the socket: one read takes a small frame's header and payload (and
/// the frames behind it) instead of one read for each.
const READ_AHEAD: usize = 64 << 10;
/// An inbox holding more capacity than this after a frame is shrunk back, so a process that once
/// answered 16 MiB does not keep 16 MiB buffered for the rest of its life.
const KEEP_CAPACITY: usize = 1 << 20;

/// The reading half: decodes [`ToSupervisor`] frames.
pub struct FrameReader {
    half: OwnedReadHalf,
    /// Bytes received and not yet decoded (its length is exactly that).
    inbox: Vec<u8>,
}

/// The writing half: encodes and writes [`ToWorker`] frames.
pub struct FrameWriter {
    half: OwnedWriteHalf,
}

/// Splits a worker's socket into its two halves.
pub fn split(stream: UnixStream) -> (FrameReader, FrameWriter) {
    let (read, write) = stream.into_split();
    (
        FrameReader {
            half: read,
            inbox: Vec::with_capacity(64 << 10),
        },
        FrameWriter { half: write },
    )
}

impl FrameReader {
    /// The socket's descriptor (for the supervisor's lookout, `link/lookout.rs`).
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        let stream: &UnixStream = self.half.as_ref();
        stream.as_fd()
    }

    /// The next frame from the worker.
    pub async fn recv(&mut self) -> Result<ToSupervisor, ChannelError> {
        loop {
            match decode_frame::<ToSupervisor>(&self.inbox)? {
                Decoded::Frame { message, consumed } => {
                    self.inbox.drain(..consumed);
                    if self.inbox.capacity() > KEEP_CAPACITY && self.inbox.len() < KEEP_CAPACITY {
                        self.inbox.shrink_to(KEEP_CAPACITY);
                    }
                    return Ok(message);
                }
                Decoded::NeedMore(n) => {
                    let want = n.clamp(READ_AHEAD, READ_CHUNK);
                    self.inbox.reserve(want);
                    // `read_buf` appends only the bytes read, and is cancel-safe.
                    let got = (&mut self.half)
                        .take(want as u64)
                        .read_buf(&mut self.inbox)
                        .await?;
                    if got == 0 {
                        return Err(ChannelError::Closed);
                    }
                }
            }
        }
    }
}

impl FrameWriter {
    /// Encodes and writes one message, `fd` attached to its first bytes (`SCM_RIGHTS`): the
    /// handshake's `Hello` and marks file (`stockade_ipc::marks`); after the handshake the link's
    /// outbox writes to the half itself, see [`FrameWriter::into_half`].
    pub async fn send_with_fd(
        &mut self,
        message: &ToWorker,
        fd: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), ChannelError> {
        use std::os::fd::AsFd;
        let frame = encode_to_vec(message)?;
        let sent = loop {
            self.half.as_ref().writable().await?;
            let socket = self.half.as_ref().as_fd();
            match stockade_ipc::marks::send_with_fd(socket, &frame, fd) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                other => break other?,
            }
        };
        self.write_frame(&frame[sent..]).await?;
        Ok(())
    }

    /// Writes one encoded frame.
    async fn write_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.half.write_all(frame).await
    }

    /// The socket's writing half, for the link's outbox (after the handshake).
    pub fn into_half(self) -> OwnedWriteHalf {
        self.half
    }
}
