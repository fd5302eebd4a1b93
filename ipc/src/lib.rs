//! The supervisor ↔ worker protocol of Stockade: a versioned, length-prefixed binary framing over
//! one Unix stream socket, with hand-written little-endian encodings of every message.
//!
//! # What it guarantees
//!
//! The worker runs untrusted JavaScript and may be compromised, so the supervisor treats every
//! byte it reads as hostile. For any input, [`decode_frame`] and [`read_frame`]:
//! - never panic, and return a typed [`DecodeError`] / [`ReadError`] for anything malformed;
//! - never allocate more than the bytes actually received (oversize lengths, whether in the
//!   frame header or in a field, are rejected before any allocation);
//! - enforce a documented cap on every field, list and total ([`limits`]); the largest frame a
//!   worker can make the supervisor buffer is [`MAX_TO_SUPERVISOR_PAYLOAD`] bytes;
//! - accept only the canonical encoding: a decoded frame re-encodes to the same bytes.
//!
//! The encoder enforces the same caps, so everything [`encode_frame`] produces decodes.
//! The worker decodes supervisor messages with the same code.
//!
//! # What it trusts
//!
//! Nothing about the peer. It does *not* validate meaning: HTTP header syntax, status ranges,
//! JSON well-formedness, that `main_module` exists, or that a reply's [`RequestId`] was asked
//! for — those checks belong to the integrator. The crate has no async runtime; the async side
//! wraps [`decode_frame`], which works on any byte slice.
//!
//! # Conversation
//!
//! The supervisor sends [`ToWorker::Hello`], the worker answers [`ToSupervisor::Ready`]. Each
//! request carrying a [`RequestId`] gets exactly one answer with the same id: `LoadWorker`,
//! `Invoke` and `RunSnippet` an [`Outcome`], `Dispose` a `Disposed`. `Shutdown` gets none.
//! Several requests may be in flight on one socket at once, and their answers may come in any
//! order; the id is what matches them. `RenewalOverdue` is the worker's own notice, answered by
//! nothing (the supervisor retires the process once its work is done).
//!
//! While a request is in flight:
//! - the worker may ask the supervisor something with [`ToSupervisor::HostCall`] (`request_id`
//!   names the request, `call_id` is the worker's); the supervisor answers each with one
//!   [`ToWorker::HostReply`] carrying both, as long as the request is in flight (calls still
//!   outstanding when the worker answers the request get no reply, and a reply that crosses the
//!   answer on the wire is ignored by the worker);
//! - the supervisor may send [`ToWorker::Cancel`]: the worker stops the request and, if it had
//!   not answered it yet, still answers its one `Outcome` (error kind [`ErrorKind::Cancelled`]).
//!   A `Cancel` for a request the worker does not have is ignored, so it may cross the answer
//!   on the wire.
//!
//! A decode error on either side ends the connection (there is no resynchronisation).
//!
//! Protocol 3 removed `Stats`/`StatsReply` (kind codes `0x06` and `0x83` are unknown kinds now),
//! `RunSnippet`'s `tenant`, and the error kinds 7 and 8; it added `Cancel`, `HostCall`,
//! `HostReply` and `ErrorKind::Cancelled`. Protocol 6 added `Outcome::observed`, protocol 7
//! `Outcome::memory_bytes`, protocol 8 `RenewalOverdue` (kind `0x87`), protocol 9
//! `Call::Fetch::entrypoint`, protocol 10 `Call::Fetch::encode_body`, `Reply::Response::length`,
//! `Finished::logs` and `LogLevel::Log` (`console.log`, apart from `console.info`), protocol 11
//! `Reply::Response::web_socket`, protocol 12 `Call::Scheduled`, protocol 13 `Call::Queue`, protocol 14 the `wall_ms` of
//! `Call::Scheduled` and `Call::Queue` (an event's own wall-clock limit), protocol 15
//! `Call::Alarm` (a Durable Object's alarm under such a limit), protocol 16 `HostCall::cpu_left_us`
//! and `HostReply::cpu_us` (a synchronous call's CPU allowance and the supervisor's CPU spent on
//! it, charged to its request), protocol 17 `Call::Fetch::props_json` and `Call::Rpc::props_json`
//! (`ctx.props`).
//!
//! # Example: a receive loop over any byte source
//!
//! ```
//! use stockade_ipc::{decode_frame, encode_to_vec, Decoded, RequestId, ToWorker};
//!
//! let mut wire = encode_to_vec(&ToWorker::Cancel { request_id: RequestId(1) })?;
//! wire.extend(encode_to_vec(&ToWorker::Shutdown)?);
//!
//! let mut buffer = Vec::new();
//! let mut incoming = wire.chunks(3); // stands in for socket reads
//! let mut received = Vec::new();
//! loop {
//!     match decode_frame::<ToWorker>(&buffer)? {
//!         Decoded::Frame { message, consumed } => {
//!             buffer.drain(..consumed);
//!             received.push(message);
//!         }
//!         // Read at least `n` more bytes (an async caller awaits its socket here).
//!         Decoded::NeedMore(_n) => match incoming.next() {
//!             Some(chunk) => buffer.extend_from_slice(chunk),
//!             None => break,
//!         },
//!     }
//! }
//! assert_eq!(received, [ToWorker::Cancel { request_id: RequestId(1) }, ToWorker::Shutdown]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod common;
mod error;
pub mod exit;
mod frame;
pub mod host_calls;
mod io;
mod kind;
pub mod limits;
pub mod marks;
pub mod pace;
mod to_supervisor;
mod to_worker;
mod wire;

pub use common::{Headers, Limits, Profile, RequestId, WorkerId};
pub use error::{DecodeError, EncodeError, LimitExceeded, ReadError, WriteError};
pub use frame::{decode_frame, encode_frame, encode_to_vec, Decoded, Message};
pub use io::{read_frame, write_frame, READ_CHUNK};
pub use kind::{Direction, MessageKind, MAX_FRAME_PAYLOAD, MAX_TO_SUPERVISOR_PAYLOAD};
pub use limits::{Field, Tag, HEADER_LEN, MAGIC, PROTOCOL_VERSION};
pub use to_supervisor::{
    ErrorKind, ErrorReply, JailReport, LogLevel, LogLine, Observed, Outcome, Reply, ToSupervisor,
};
pub use to_worker::{Call, LoadWorker, Module, ModuleKind, ToWorker, ALARM_METHOD};
