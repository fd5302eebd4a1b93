//! Framing: the 8-byte header, and the slice encoder/decoder built on it.
//!
//! ```text
//! offset 0  magic    [u8; 2] = "SK"
//! offset 2  version  u8      = PROTOCOL_VERSION
//! offset 3  kind     u8      (MessageKind code; high bit set = worker → supervisor)
//! offset 4  length   u32 LE  (payload bytes, at most kind.max_payload())
//! offset 8  payload
//! ```
//!
//! Guarantees of [`decode_frame`]: never panics and never allocates more than the bytes of the
//! payload it decodes (allocation is bounded by the input, not by any length the input claims).
//! Header bytes are checked as soon as they are present, so bad magic, a wrong version, an
//! unknown or wrong-direction kind, and an oversize length are all rejected before the payload
//! arrives. A valid prefix of a frame always yields [`Decoded::NeedMore`]. The encoding is
//! canonical: a decoded frame re-encodes to exactly the bytes it was decoded from.
//!
//! Trusts: nothing about the input bytes.

use crate::error::{DecodeError, EncodeError, LimitExceeded};
use crate::kind::{Direction, MessageKind};
use crate::limits::{HEADER_LEN, MAGIC, PROTOCOL_VERSION};
use crate::wire::{Reader, Writer};
use crate::{ToSupervisor, ToWorker};

mod sealed {
    use super::{DecodeError, LimitExceeded, MessageKind, Reader, Writer};

    /// Payload codec of a message enum; private so the set of messages stays closed.
    pub trait Codec: Sized {
        fn encode_payload(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded>;
        fn decode_payload(kind: MessageKind, r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    }
}

/// A message enum of one direction: [`ToWorker`] or [`ToSupervisor`]. Sealed.
pub trait Message: sealed::Codec + std::fmt::Debug + Clone + PartialEq + Eq {
    /// The direction this enum's messages travel.
    const DIRECTION: Direction;
    /// The frame kind of this message.
    fn kind(&self) -> MessageKind;
}

impl sealed::Codec for ToWorker {
    fn encode_payload(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded> {
        ToWorker::encode_payload(self, w)
    }
    fn decode_payload(kind: MessageKind, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        ToWorker::decode_payload(kind, r)
    }
}

impl Message for ToWorker {
    const DIRECTION: Direction = Direction::ToWorker;
    fn kind(&self) -> MessageKind {
        ToWorker::kind(self)
    }
}

impl sealed::Codec for ToSupervisor {
    fn encode_payload(&self, w: &mut Writer<'_>) -> Result<(), LimitExceeded> {
        ToSupervisor::encode_payload(self, w)
    }
    fn decode_payload(kind: MessageKind, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        ToSupervisor::decode_payload(kind, r)
    }
}

impl Message for ToSupervisor {
    const DIRECTION: Direction = Direction::ToSupervisor;
    fn kind(&self) -> MessageKind {
        ToSupervisor::kind(self)
    }
}

/// Result of [`decode_frame`] on a buffer that is not (yet) known to be invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<M> {
    /// The buffer holds a valid prefix of a frame; at least this many more bytes are needed
    /// before anything more can be decided. Never zero.
    NeedMore(usize),
    /// A whole frame: the message, and how many bytes of the buffer it used (the next frame, if
    /// any, starts there).
    Frame {
        /// The decoded message.
        message: M,
        /// Header plus payload length.
        consumed: usize,
    },
}

/// A validated frame header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) kind: MessageKind,
    pub(crate) payload_len: usize,
}

/// Checks whatever header bytes `buf` holds. `Ok(None)` if fewer than [`HEADER_LEN`] bytes are
/// present and those present are valid.
pub(crate) fn parse_header<M: Message>(buf: &[u8]) -> Result<Option<Header>, DecodeError> {
    for (offset, (&got, &want)) in buf.iter().zip(MAGIC.iter()).enumerate() {
        if got != want {
            return Err(DecodeError::BadMagic { offset, got });
        }
    }
    if let Some(&got) = buf.get(2) {
        if got != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion { got });
        }
    }
    let Some(&code) = buf.get(3) else {
        return Ok(None);
    };
    let kind = MessageKind::from_code(code).ok_or(DecodeError::UnknownKind(code))?;
    if kind.direction() != M::DIRECTION {
        return Err(DecodeError::WrongDirection {
            kind,
            expected: M::DIRECTION,
        });
    }
    let Some(len_bytes) = buf.get(4..HEADER_LEN) else {
        return Ok(None);
    };
    let mut len = [0u8; 4];
    len.copy_from_slice(len_bytes);
    let len = u32::from_le_bytes(len);
    let max = kind.max_payload();
    match usize::try_from(len) {
        Ok(payload_len) if payload_len <= max => Ok(Some(Header { kind, payload_len })),
        _ => Err(DecodeError::FrameTooLarge { kind, len, max }),
    }
}

/// Decodes a complete payload of the kind named by `header`.
pub(crate) fn decode_payload<M: Message>(header: Header, payload: &[u8]) -> Result<M, DecodeError> {
    let mut reader = Reader::new(payload);
    let message = M::decode_payload(header.kind, &mut reader)?;
    reader.finish()?;
    Ok(message)
}

/// Decodes the frame at the start of `buf`, for messages travelling in `M`'s direction.
///
/// Bytes after the first frame are ignored (see [`Decoded::Frame::consumed`]). Call it again
/// with more bytes after `NeedMore`; an `Err` means the stream is corrupt or hostile and must be
/// dropped (there is no resynchronisation).
pub fn decode_frame<M: Message>(buf: &[u8]) -> Result<Decoded<M>, DecodeError> {
    let Some(header) = parse_header::<M>(buf)? else {
        return Ok(Decoded::NeedMore(HEADER_LEN - buf.len()));
    };
    let frame_len = HEADER_LEN + header.payload_len;
    let Some(payload) = buf.get(HEADER_LEN..frame_len) else {
        return Ok(Decoded::NeedMore(frame_len - buf.len()));
    };
    let message = decode_payload(header, payload)?;
    Ok(Decoded::Frame {
        message,
        consumed: frame_len,
    })
}

/// Appends one frame holding `message` to `out` and returns its length.
///
/// Fails if any field exceeds its limit; `out` is then left as it was. Every frame this returns
/// `Ok` for is accepted by [`decode_frame`].
pub fn encode_frame<M: Message>(message: &M, out: &mut Vec<u8>) -> Result<usize, EncodeError> {
    let start = out.len();
    let result = encode_at(message, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_at<M: Message>(
    message: &M,
    out: &mut Vec<u8>,
    start: usize,
) -> Result<usize, EncodeError> {
    let kind = message.kind();
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(kind.code());
    out.extend_from_slice(&[0; 4]);
    message.encode_payload(&mut Writer::new(out))?;
    let payload_len = out.len() - start - HEADER_LEN;
    let max = kind.max_payload();
    let too_large = EncodeError::FrameTooLarge {
        kind,
        len: payload_len,
        max,
    };
    if payload_len > max {
        return Err(too_large);
    }
    let len = u32::try_from(payload_len).map_err(|_| too_large)?;
    out[start + 4..start + HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    Ok(HEADER_LEN + payload_len)
}

/// Encodes one frame into a new buffer.
pub fn encode_to_vec<M: Message>(message: &M) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_frame(message, &mut out)?;
    Ok(out)
}
