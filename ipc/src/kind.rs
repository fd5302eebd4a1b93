//! The message-kind byte of the frame header: which message a frame holds, which way it travels,
//! and the largest payload a frame of that kind can validly carry.
//!
//! Guarantees: [`MessageKind::max_payload`] is an upper bound on the payload of every encodable
//! message of the kind (the encoder double-checks it; tests build a maximal message of each kind
//! and check the bound is exact). Trusts: nothing.

use crate::{to_supervisor, to_worker};

/// Which way a message travels on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Supervisor → worker ([`crate::ToWorker`]).
    ToWorker,
    /// Worker → supervisor ([`crate::ToSupervisor`]).
    ToSupervisor,
}

/// The message kind of a frame. Codes below `0x80` travel to the worker, codes from `0x80` up
/// travel to the supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// [`crate::ToWorker::Hello`].
    Hello = 0x01,
    /// [`crate::ToWorker::LoadWorker`].
    LoadWorker = 0x02,
    /// [`crate::ToWorker::Invoke`].
    Invoke = 0x03,
    /// [`crate::ToWorker::RunSnippet`].
    RunSnippet = 0x04,
    /// [`crate::ToWorker::Dispose`].
    Dispose = 0x05,
    /// [`crate::ToWorker::Shutdown`]. (Code `0x06` was `Stats` before protocol 3; it is unused.)
    Shutdown = 0x07,
    /// [`crate::ToWorker::Cancel`].
    Cancel = 0x08,
    /// [`crate::ToWorker::HostReply`].
    HostReply = 0x09,
    /// [`crate::ToSupervisor::Ready`].
    Ready = 0x81,
    /// [`crate::ToSupervisor::Outcome`].
    Outcome = 0x82,
    /// [`crate::ToSupervisor::Disposed`]. (Code `0x83` was `StatsReply` before protocol 3; it
    /// is unused.)
    Disposed = 0x84,
    /// [`crate::ToSupervisor::HostCall`].
    HostCall = 0x85,
    /// [`crate::ToSupervisor::Finished`].
    Finished = 0x86,
    /// [`crate::ToSupervisor::RenewalOverdue`].
    RenewalOverdue = 0x87,
}

impl MessageKind {
    /// Every kind, in code order.
    pub const ALL: &'static [MessageKind] = &[
        MessageKind::Hello,
        MessageKind::LoadWorker,
        MessageKind::Invoke,
        MessageKind::RunSnippet,
        MessageKind::Dispose,
        MessageKind::Shutdown,
        MessageKind::Cancel,
        MessageKind::HostReply,
        MessageKind::Ready,
        MessageKind::Outcome,
        MessageKind::Disposed,
        MessageKind::HostCall,
        MessageKind::Finished,
        MessageKind::RenewalOverdue,
    ];

    /// The header byte of this kind.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind with header byte `code`, if any.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x01 => MessageKind::Hello,
            0x02 => MessageKind::LoadWorker,
            0x03 => MessageKind::Invoke,
            0x04 => MessageKind::RunSnippet,
            0x05 => MessageKind::Dispose,
            0x07 => MessageKind::Shutdown,
            0x08 => MessageKind::Cancel,
            0x09 => MessageKind::HostReply,
            0x81 => MessageKind::Ready,
            0x82 => MessageKind::Outcome,
            0x84 => MessageKind::Disposed,
            0x85 => MessageKind::HostCall,
            0x86 => MessageKind::Finished,
            0x87 => MessageKind::RenewalOverdue,
            _ => return None,
        })
    }

    /// Which way messages of this kind travel.
    pub const fn direction(self) -> Direction {
        if self.code() & 0x80 == 0 {
            Direction::ToWorker
        } else {
            Direction::ToSupervisor
        }
    }

    /// The largest payload, in bytes, of any valid message of this kind. A header announcing
    /// more is rejected before the payload is read.
    pub const fn max_payload(self) -> usize {
        match self {
            MessageKind::Hello => to_worker::HELLO_MAX,
            MessageKind::LoadWorker => to_worker::LOAD_WORKER_MAX,
            MessageKind::Invoke => to_worker::INVOKE_MAX,
            MessageKind::RunSnippet => to_worker::RUN_SNIPPET_MAX,
            MessageKind::Dispose => to_worker::DISPOSE_MAX,
            MessageKind::Shutdown => to_worker::SHUTDOWN_MAX,
            MessageKind::Cancel => to_worker::CANCEL_MAX,
            MessageKind::HostReply => to_worker::HOST_REPLY_MAX,
            MessageKind::Ready => to_supervisor::READY_MAX,
            MessageKind::Outcome => to_supervisor::OUTCOME_MAX,
            MessageKind::Disposed => to_supervisor::DISPOSED_MAX,
            MessageKind::HostCall => to_supervisor::HOST_CALL_MAX,
            MessageKind::Finished => to_supervisor::FINISHED_MAX,
            MessageKind::RenewalOverdue => to_supervisor::RENEWAL_OVERDUE_MAX,
        }
    }
}

/// The largest payload of any frame in either direction (a maximal `LoadWorker`).
pub const MAX_FRAME_PAYLOAD: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < MessageKind::ALL.len() {
        let bound = MessageKind::ALL[i].max_payload();
        if bound > max {
            max = bound;
        }
        i += 1;
    }
    max
};

/// The largest payload of any frame a worker may send: what the supervisor may have to buffer.
pub const MAX_TO_SUPERVISOR_PAYLOAD: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < MessageKind::ALL.len() {
        let kind = MessageKind::ALL[i];
        if matches!(kind.direction(), Direction::ToSupervisor) && kind.max_payload() > max {
            max = kind.max_payload();
        }
        i += 1;
    }
    max
};

// Every payload length must be representable in the header's u32.
const _: () = assert!(MAX_FRAME_PAYLOAD <= u32::MAX as usize);
