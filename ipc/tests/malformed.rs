//! Hand-crafted hostile payloads, built byte by byte without the encoder: oversize field
//! lengths, overflowing totals, invalid discriminants, bad UTF-8, truncation and trailing bytes
//! are each refused with the precise typed error.

use stockade_ipc::limits::*;
use stockade_ipc::{
    decode_frame, DecodeError, Decoded, Field, LimitExceeded, MessageKind, Tag, ToSupervisor,
    ToWorker,
};

/// A payload under construction, written independently of the crate's encoder.
#[derive(Default)]
struct Raw(Vec<u8>);

impl Raw {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn fill(mut self, n: usize, byte: u8) -> Self {
        self.0.resize(self.0.len() + n, byte);
        self
    }
    /// A length-prefixed string of `n` bytes.
    fn str(self, n: usize) -> Self {
        self.u32(u32::try_from(n).expect("small")).fill(n, b'a')
    }
    fn frame(self, kind: MessageKind) -> Vec<u8> {
        let mut frame = b"SK".to_vec();
        frame.push(PROTOCOL_VERSION);
        frame.push(kind.code());
        let len = u32::try_from(self.0.len()).expect("small");
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&self.0);
        frame
    }
}

fn limit(field: Field, actual: usize) -> DecodeError {
    DecodeError::Limit(LimitExceeded {
        field,
        actual,
        max: field.max(),
    })
}

fn worker_err(frame: &[u8]) -> DecodeError {
    match decode_frame::<ToWorker>(frame) {
        Err(e) => e,
        Ok(other) => panic!("hostile frame accepted: {other:?}"),
    }
}

fn supervisor_err(frame: &[u8]) -> DecodeError {
    match decode_frame::<ToSupervisor>(frame) {
        Err(e) => e,
        Ok(other) => panic!("hostile frame accepted: {other:?}"),
    }
}

#[test]
fn oversize_field_lengths_rejected_before_their_bytes() {
    // LoadWorker whose tenant claims more than its cap, and claims up to 4 GiB: refused on the
    // length prefix, although the bytes it claims are not there.
    for claimed in [MAX_TENANT_LEN as u32 + 1, u32::MAX] {
        let frame = Raw::default()
            .u64(1)
            .fill(32, 0)
            .u32(claimed)
            .frame(MessageKind::LoadWorker);
        assert_eq!(worker_err(&frame), limit(Field::Tenant, claimed as usize));
    }
    // RunSnippet whose code claims one byte over its cap.
    let frame = Raw::default()
        .u64(1)
        .u32(MAX_SNIPPET_LEN as u32 + 1)
        .frame(MessageKind::RunSnippet);
    assert_eq!(
        worker_err(&frame),
        limit(Field::SnippetCode, MAX_SNIPPET_LEN + 1)
    );
    // HostCall whose name claims one byte over its cap, and whose payload claims 4 GiB.
    let frame = Raw::default()
        .u64(1)
        .u32(0)
        .u32(MAX_HOST_CALL_NAME_LEN as u32 + 1)
        .fill(MAX_HOST_CALL_NAME_LEN + 1, b'n')
        .frame(MessageKind::HostCall);
    assert_eq!(
        supervisor_err(&frame),
        limit(Field::HostCallName, MAX_HOST_CALL_NAME_LEN + 1)
    );
    let frame = Raw::default()
        .u64(1)
        .u32(0)
        .str(4)
        .u32(u32::MAX)
        .frame(MessageKind::HostCall);
    assert_eq!(
        supervisor_err(&frame),
        limit(Field::HostCallPayload, u32::MAX as usize)
    );
    // HostReply whose Ok payload, and whose Err message, claim one byte over their caps.
    let frame = Raw::default()
        .u64(1)
        .u32(0)
        .u32(0) // cpu_us
        .u8(1)
        .u32(MAX_HOST_CALL_PAYLOAD as u32 + 1)
        .frame(MessageKind::HostReply);
    assert_eq!(
        worker_err(&frame),
        limit(Field::HostCallPayload, MAX_HOST_CALL_PAYLOAD + 1)
    );
    let frame = Raw::default()
        .u64(1)
        .u32(0)
        .u32(0) // cpu_us
        .u8(2)
        .u32(MAX_ERROR_MESSAGE_LEN as u32 + 1)
        .frame(MessageKind::HostReply);
    assert_eq!(
        worker_err(&frame),
        limit(Field::ErrorMessage, MAX_ERROR_MESSAGE_LEN + 1)
    );
    // Outcome claiming 2^32-1 log lines.
    let frame = Raw::default()
        .u64(1)
        .u8(1) // Ok
        .u8(1) // Loaded
        .u32(u32::MAX)
        .frame(MessageKind::Outcome);
    assert_eq!(
        supervisor_err(&frame),
        limit(Field::Logs, u32::MAX as usize)
    );
    // Response body claiming one byte more than the cap.
    let frame = Raw::default()
        .u64(1)
        .u8(1)
        .u8(3) // Response
        .fill(2, 0) // status
        .u32(0) // no headers
        .u32(MAX_BODY_LEN as u32 + 1)
        .frame(MessageKind::Outcome);
    assert_eq!(supervisor_err(&frame), limit(Field::Body, MAX_BODY_LEN + 1));
    // Modules count over the cap.
    let frame = Raw::default()
        .u64(1)
        .fill(32, 0)
        .str(1)
        .str(1)
        .u32(MAX_MODULES as u32 + 1)
        .frame(MessageKind::LoadWorker);
    assert_eq!(worker_err(&frame), limit(Field::Modules, MAX_MODULES + 1));
}

/// Totals are charged from the claimed length, before the bytes of the field that overflows.
#[test]
fn totals_enforced_on_decode() {
    // 64 lines of 16 KiB fill the log budget exactly; a 65th claiming one byte overflows it.
    let mut raw = Raw::default().u64(1).u8(1).u8(1).u32(65);
    for _ in 0..64 {
        raw = raw.u8(2).str(MAX_LOG_LINE_LEN);
    }
    let frame = raw.u8(2).u32(1).frame(MessageKind::Outcome);
    assert_eq!(
        supervisor_err(&frame),
        limit(Field::LogTotal, MAX_LOG_TOTAL + 1)
    );

    // 32 headers of 256 + 7936 bytes fill the header budget; a 33rd name overflows it.
    let mut raw = Raw::default().u64(1).u8(1).u8(3).fill(2, 0).u32(33);
    for _ in 0..32 {
        raw = raw
            .str(MAX_HEADER_NAME_LEN)
            .str(MAX_HEADER_TOTAL / 32 - MAX_HEADER_NAME_LEN);
    }
    let frame = raw.u32(1).frame(MessageKind::Outcome);
    assert_eq!(
        supervisor_err(&frame),
        limit(Field::HeaderTotal, MAX_HEADER_TOTAL + 1)
    );

    // Two full-size modules fill the code budget; a third claiming one byte overflows it.
    let lw = Raw::default().u64(1).fill(32, 0).str(1).str(1).u32(3);
    let frame = lw
        .str(0)
        .u8(1)
        .str(MAX_MODULE_LEN)
        .str(0)
        .u8(1)
        .str(MAX_MODULE_LEN)
        .str(0)
        .u8(1)
        .u32(1)
        .frame(MessageKind::LoadWorker);
    assert_eq!(
        worker_err(&frame),
        limit(Field::TotalCode, MAX_TOTAL_CODE + 1)
    );

    // One binding whose value alone fills the env budget, plus a one-byte name.
    let frame = Raw::default()
        .u64(1)
        .fill(32, 0)
        .str(1)
        .str(1)
        .u32(0)
        .u32(1)
        .str(1)
        .u32(MAX_ENV_TOTAL as u32)
        .frame(MessageKind::LoadWorker);
    assert_eq!(
        worker_err(&frame),
        limit(Field::EnvTotal, MAX_ENV_TOTAL + 1)
    );
}

fn invalid(tag: Tag, value: u8) -> DecodeError {
    DecodeError::InvalidTag { tag, value }
}

#[test]
fn invalid_discriminants_rejected() {
    let ready = |seccomp: u8, userns: u8, mpk: u8| {
        Raw::default()
            .u8(1)
            .u32(1)
            .u8(seccomp)
            .u8(0)
            .u8(userns)
            .u8(mpk)
            .frame(MessageKind::Ready)
    };
    assert_eq!(supervisor_err(&ready(2, 0, 0)), invalid(Tag::Bool, 2));
    assert_eq!(supervisor_err(&ready(0, 0xFF, 0)), invalid(Tag::Bool, 0xFF));
    assert_eq!(supervisor_err(&ready(1, 1, 7)), invalid(Tag::Bool, 7));

    let outcome = |result: u8, next: u8| {
        Raw::default()
            .u64(1)
            .u8(result)
            .u8(next)
            .fill(64, 0)
            .frame(MessageKind::Outcome)
    };
    for bad in [0, 3, 0xFF] {
        assert_eq!(
            supervisor_err(&outcome(bad, 1)),
            invalid(Tag::OutcomeResult, bad)
        );
    }
    for bad in [0, 4] {
        assert_eq!(supervisor_err(&outcome(1, bad)), invalid(Tag::Reply, bad));
    }
    // 7 and 8 were removed in protocol 3; 15 (`Cancelled`) is the last.
    for bad in [0, 7, 8, 16] {
        assert_eq!(
            supervisor_err(&outcome(2, bad)),
            invalid(Tag::ErrorKind, bad)
        );
    }
    // HostReply with a result tag of 0 and 3.
    for bad in [0, 3] {
        let frame = Raw::default()
            .u64(1)
            .u32(0)
            .u32(0) // cpu_us
            .u8(bad)
            .str(0)
            .frame(MessageKind::HostReply);
        assert_eq!(worker_err(&frame), invalid(Tag::HostReplyResult, bad));
    }
    // Error with a stack presence byte of 2.
    let frame = Raw::default()
        .u64(1)
        .u8(2)
        .u8(1)
        .str(0)
        .u8(2)
        .frame(MessageKind::Outcome);
    assert_eq!(supervisor_err(&frame), invalid(Tag::Option, 2));
    // A log line with level 6 (5 is `LogLevel::Log` since protocol 10).
    let frame = Raw::default()
        .u64(1)
        .u8(1)
        .u8(1)
        .u32(1)
        .u8(6)
        .str(0)
        .fill(16, 0)
        .frame(MessageKind::Outcome);
    assert_eq!(supervisor_err(&frame), invalid(Tag::LogLevel, 6));

    // Invoke with call tag 200 (4 is `Call::Scheduled` since protocol 12, 5 `Call::Queue` since
    // protocol 13, 6 `Call::Alarm` since protocol 15).
    let frame = Raw::default()
        .u64(1)
        .fill(32, 0)
        .u8(200)
        .frame(MessageKind::Invoke);
    assert_eq!(worker_err(&frame), invalid(Tag::Call, 200));
    // A module of kind 6, and a profile of 3.
    let lw = |module_kind: u8, profile: u8| {
        Raw::default()
            .u64(1)
            .fill(32, 0)
            .str(1)
            .str(1)
            .u32(1)
            .str(1)
            .u8(module_kind)
            .str(1)
            .u32(0)
            .fill(28, 0)
            .u8(profile)
            .str(0) // compatibility date
            .u32(0) // compatibility flags
            .frame(MessageKind::LoadWorker)
    };
    assert_eq!(worker_err(&lw(8, 1)), invalid(Tag::ModuleKind, 8));
    assert_eq!(worker_err(&lw(1, 3)), invalid(Tag::Profile, 3));
    assert_eq!(worker_err(&lw(0, 0)), invalid(Tag::ModuleKind, 0));
    assert!(matches!(
        decode_frame::<ToWorker>(&lw(5, 2)),
        Ok(Decoded::Frame { .. })
    ));
}

#[test]
fn invalid_utf8_rejected() {
    // A log line holding a lone continuation byte, and one holding an encoded surrogate.
    for bad in [&[0x80][..], &[0xED, 0xA0, 0x80][..]] {
        let mut raw = Raw::default().u64(1).u8(1).u8(1).u32(1).u8(2);
        raw = raw.u32(bad.len() as u32);
        raw.0.extend_from_slice(bad);
        let frame = raw.fill(16, 0).frame(MessageKind::Outcome);
        assert_eq!(
            supervisor_err(&frame),
            DecodeError::InvalidUtf8 {
                field: Field::LogText
            }
        );
    }
}

#[test]
fn truncated_and_trailing_payloads_rejected() {
    // Cancel needs 8 bytes of request id; give 7 with an honest header.
    let frame = Raw::default().fill(7, 0).frame(MessageKind::Cancel);
    assert_eq!(worker_err(&frame), DecodeError::Truncated { offset: 0 });
    // A snippet's code claiming 10 bytes where 3 remain.
    let frame = Raw::default()
        .u64(1)
        .u32(10)
        .fill(3, 0)
        .frame(MessageKind::RunSnippet);
    assert_eq!(worker_err(&frame), DecodeError::Truncated { offset: 12 });
    // Disposed with one byte too many is refused from the header (its size is fixed)...
    let frame = Raw::default().fill(41, 0).frame(MessageKind::Disposed);
    assert!(matches!(
        supervisor_err(&frame),
        DecodeError::FrameTooLarge { .. }
    ));
    // ...and a variable-size message with a byte after its end is refused as trailing.
    let frame = Raw::default()
        .u64(1)
        .fill(32, 0)
        .u8(1)
        .str(2)
        .u8(0)
        .frame(MessageKind::Invoke);
    assert_eq!(worker_err(&frame), DecodeError::TrailingBytes { extra: 1 });
}

#[test]
fn an_event_wall_over_its_cap_is_refused_both_ways() {
    // Call::Scheduled (tag 4), Call::Queue (tag 5) and Call::Alarm (tag 6) whose wall_ms is one
    // past the cap, and u32::MAX: refused by the decoder; the cap itself decodes.
    for wall in [MAX_CALL_WALL_MS + 1, u32::MAX] {
        let scheduled = Raw::default()
            .u64(1)
            .fill(32, 0)
            .u8(4)
            .str(9)
            .u64(0)
            .u32(wall)
            .frame(MessageKind::Invoke);
        assert_eq!(
            worker_err(&scheduled),
            limit(Field::CallWallMs, wall as usize)
        );
        let queue = Raw::default()
            .u64(1)
            .fill(32, 0)
            .u8(5)
            .str(4)
            .str(2)
            .str(0)
            .u32(wall)
            .frame(MessageKind::Invoke);
        assert_eq!(worker_err(&queue), limit(Field::CallWallMs, wall as usize));
        let alarm = Raw::default()
            .u64(1)
            .fill(32, 0)
            .u8(6)
            .str(5)
            .str(2)
            .u32(wall)
            .frame(MessageKind::Invoke);
        assert_eq!(worker_err(&alarm), limit(Field::CallWallMs, wall as usize));
    }
    let at_cap = Raw::default()
        .u64(1)
        .fill(32, 0)
        .u8(4)
        .str(9)
        .u64(0)
        .u32(MAX_CALL_WALL_MS)
        .frame(MessageKind::Invoke);
    assert!(matches!(
        decode_frame::<ToWorker>(&at_cap),
        Ok(Decoded::Frame { .. })
    ));
    // The encoder refuses what the decoder would.
    let over = ToWorker::Invoke {
        request_id: stockade_ipc::RequestId(1),
        worker_id: stockade_ipc::WorkerId([0; 32]),
        call: stockade_ipc::Call::Queue {
            queue: "q".into(),
            messages_json: b"[]".to_vec(),
            bodies: Vec::new(),
            wall_ms: MAX_CALL_WALL_MS + 1,
        },
    };
    let refused = stockade_ipc::encode_to_vec(&over).expect_err("over the cap");
    assert!(refused.to_string().contains("CallWallMs"), "{refused}");
}
