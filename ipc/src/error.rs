//! Error types of the codec. Every way a frame can be malformed has its own variant, so a
//! supervisor can log exactly why it dropped a worker.
//!
//! Guarantees: errors are small values (no payload bytes are copied into them), so building one
//! from hostile input costs nothing. Trusts: nothing.

use std::io;

use crate::kind::{Direction, MessageKind};
use crate::limits::{Field, Tag, PROTOCOL_VERSION};

/// A value is larger than the protocol allows. Raised identically by the encoder (refusing to
/// produce the frame) and by the decoder (refusing the frame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} is {actual}, over the limit of {max}")]
pub struct LimitExceeded {
    /// Which capped quantity.
    pub field: Field,
    /// Its size (bytes or items). When decoding, this is the length the peer *claimed*.
    pub actual: usize,
    /// The cap, [`Field::max`].
    pub max: usize,
}

/// Why bytes could not be decoded into a message. The decoder returns this; it never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A header byte that must be the magic `"SK"` is not.
    #[error("bad magic byte {got:#04x} at offset {offset}")]
    BadMagic {
        /// Offset in the frame (0 or 1).
        offset: usize,
        /// The byte found.
        got: u8,
    },
    /// The frame was written by another version of the protocol.
    #[error("unsupported protocol version {got}, this build speaks {PROTOCOL_VERSION}")]
    UnsupportedVersion {
        /// The version byte found.
        got: u8,
    },
    /// The message-kind byte names no message.
    #[error("unknown message kind {0:#04x}")]
    UnknownKind(u8),
    /// The message kind exists but travels the other way.
    #[error("{kind:?} travels {:?}, not {expected:?}", kind.direction())]
    WrongDirection {
        /// The kind found.
        kind: MessageKind,
        /// The direction the decoder was asked for.
        expected: Direction,
    },
    /// The header announces a payload longer than any valid message of its kind.
    #[error("{kind:?} frame announces {len} payload bytes, limit {max}")]
    FrameTooLarge {
        /// The kind in the header.
        kind: MessageKind,
        /// The announced payload length.
        len: u32,
        /// [`MessageKind::max_payload`] of that kind.
        max: usize,
    },
    /// The payload ends in the middle of a field.
    #[error("payload ends inside a field at offset {offset}")]
    Truncated {
        /// Payload offset of the field that did not fit.
        offset: usize,
    },
    /// The payload holds bytes after the end of the message.
    #[error("{extra} bytes after the end of the message")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A length or count exceeds its cap.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// A string field is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// Which field.
        field: Field,
    },
    /// A one-byte discriminant holds a value with no meaning.
    #[error("invalid {tag} discriminant {value}")]
    InvalidTag {
        /// Which discriminant.
        tag: Tag,
        /// The byte found.
        value: u8,
    },
}

/// Why a message could not be encoded. The output buffer is left as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A length or count exceeds its cap.
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// The payload exceeds the kind's bound. The field caps make this unreachable; it is checked
    /// anyway so a mistake in a bound can never put an undecodable frame on the wire.
    #[error("{kind:?} payload of {len} bytes exceeds its limit of {max}")]
    FrameTooLarge {
        /// The message kind.
        kind: MessageKind,
        /// The payload length produced.
        len: usize,
        /// [`MessageKind::max_payload`] of that kind.
        max: usize,
    },
}

/// Failure of [`crate::read_frame`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("reading frame: {0}")]
    Io(#[from] io::Error),
    /// The bytes are not a valid frame.
    #[error("decoding frame: {0}")]
    Decode(#[from] DecodeError),
    /// The stream ended in the middle of a frame.
    #[error("stream ended after {got} of {expected} frame bytes")]
    UnexpectedEof {
        /// Frame bytes received.
        got: usize,
        /// Frame bytes needed (a lower bound while the header is incomplete).
        expected: usize,
    },
}

/// Failure of [`crate::write_frame`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The message could not be encoded; nothing was written.
    #[error("encoding frame: {0}")]
    Encode(#[from] EncodeError),
    /// The underlying writer failed; part of the frame may have been written.
    #[error("writing frame: {0}")]
    Io(#[from] io::Error),
}
