//! Blocking helpers over [`std::io::Read`] / [`std::io::Write`], for the worker side and tests.
//! (The supervisor's async side wraps [`crate::decode_frame`] instead.)
//!
//! Guarantees of [`read_frame`]: reads exactly one frame and nothing past it; validates each
//! header byte as it arrives; grows its payload buffer only as bytes actually arrive (in steps of
//! at most [`READ_CHUNK`] or doubling), never past the announced length, which is itself capped
//! by the kind's limit — so a peer that announces a large frame and then stalls or hangs up
//! costs at most what it really sent, plus one chunk. Never panics.
//!
//! Trusts: nothing about the bytes read.

use std::io::{ErrorKind, Read, Write};

use crate::error::{ReadError, WriteError};
use crate::frame::{decode_payload, encode_frame, parse_header, Message};
use crate::limits::HEADER_LEN;

/// Payload buffer growth step of [`read_frame`], bytes.
pub const READ_CHUNK: usize = 64 * 1024;

/// Reads one frame from `reader`.
///
/// Returns `Ok(None)` if the stream ends cleanly before the first byte of a frame, and
/// [`ReadError::UnexpectedEof`] if it ends inside one. Retries reads interrupted by signals.
pub fn read_frame<M: Message, R: Read + ?Sized>(reader: &mut R) -> Result<Option<M>, ReadError> {
    let mut header_buf = [0u8; HEADER_LEN];
    let mut filled = 0;
    let header = loop {
        if let Some(header) = parse_header::<M>(&header_buf[..filled])? {
            break header;
        }
        match reader.read(&mut header_buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => {
                return Err(ReadError::UnexpectedEof {
                    got: filled,
                    expected: HEADER_LEN,
                })
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    };

    let len = header.payload_len;
    let mut payload: Vec<u8> = Vec::new();
    let mut got = 0;
    while got < len {
        if got == payload.len() {
            // Grow to the next step: double what arrived (at least one chunk), capped at `len`.
            let target = len.min(got.saturating_mul(2).max(READ_CHUNK));
            payload.reserve_exact(target - payload.len());
            payload.resize(target, 0);
        }
        match reader.read(&mut payload[got..]) {
            Ok(0) => {
                return Err(ReadError::UnexpectedEof {
                    got: HEADER_LEN + got,
                    expected: HEADER_LEN + len,
                })
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(decode_payload(header, &payload)?))
}

/// Encodes `message` and writes the whole frame to `writer`. Returns the frame length.
///
/// Nothing is written if encoding fails. Does not flush.
pub fn write_frame<M: Message, W: Write + ?Sized>(
    writer: &mut W,
    message: &M,
) -> Result<usize, WriteError> {
    let mut frame = Vec::new();
    let len = encode_frame(message, &mut frame)?;
    writer.write_all(&frame)?;
    Ok(len)
}
