//! Frame-header faults: each is refused with its typed error from the header bytes alone, as
//! soon as the faulty byte is present, before any payload arrives.

use stockade_ipc::{
    decode_frame, DecodeError, Decoded, Direction, MessageKind, ToSupervisor, ToWorker, HEADER_LEN,
    PROTOCOL_VERSION,
};

fn worker_err(frame: &[u8]) -> DecodeError {
    match decode_frame::<ToWorker>(frame) {
        Err(e) => e,
        Ok(other) => panic!("hostile header accepted: {other:?}"),
    }
}

fn supervisor_err(frame: &[u8]) -> DecodeError {
    match decode_frame::<ToSupervisor>(frame) {
        Err(e) => e,
        Ok(other) => panic!("hostile header accepted: {other:?}"),
    }
}

#[test]
fn wrong_version_rejected_from_third_byte() {
    for version in [0, PROTOCOL_VERSION + 1, 0xFF] {
        let frame = [b'S', b'K', version, MessageKind::Ready.code(), 9, 0, 0, 0];
        for len in 3..=frame.len() {
            assert_eq!(
                supervisor_err(&frame[..len]),
                DecodeError::UnsupportedVersion { got: version }
            );
        }
    }
}

#[test]
fn bad_magic_rejected_from_first_byte() {
    assert_eq!(
        supervisor_err(b"X"),
        DecodeError::BadMagic {
            offset: 0,
            got: b'X'
        }
    );
    assert_eq!(
        supervisor_err(b"SX"),
        DecodeError::BadMagic {
            offset: 1,
            got: b'X'
        }
    );
    assert_eq!(
        decode_frame::<ToSupervisor>(b"S"),
        Ok(Decoded::NeedMore(HEADER_LEN - 1))
    );
    assert_eq!(
        decode_frame::<ToSupervisor>(b""),
        Ok(Decoded::NeedMore(HEADER_LEN))
    );
}

#[test]
fn unknown_and_wrong_direction_kinds_rejected_from_fourth_byte() {
    for code in 0..=u8::MAX {
        let header = [b'S', b'K', PROTOCOL_VERSION, code];
        let Some(kind) = MessageKind::from_code(code) else {
            assert_eq!(worker_err(&header), DecodeError::UnknownKind(code));
            assert_eq!(supervisor_err(&header), DecodeError::UnknownKind(code));
            continue;
        };
        assert_eq!(kind.code(), code);
        let (ok, wrong) = match kind.direction() {
            Direction::ToWorker => (
                decode_frame::<ToWorker>(&header).map(|_| ()),
                decode_frame::<ToSupervisor>(&header).map(|_| ()),
            ),
            Direction::ToSupervisor => (
                decode_frame::<ToSupervisor>(&header).map(|_| ()),
                decode_frame::<ToWorker>(&header).map(|_| ()),
            ),
        };
        assert_eq!(ok, Ok(()));
        let expected = match kind.direction() {
            Direction::ToWorker => Direction::ToSupervisor,
            Direction::ToSupervisor => Direction::ToWorker,
        };
        assert_eq!(wrong, Err(DecodeError::WrongDirection { kind, expected }));
    }
}

/// An announced length one past the kind's bound is refused on the header alone; the bound
/// itself only asks for the payload.
#[test]
fn oversize_length_rejected_from_header() {
    for &kind in MessageKind::ALL {
        let max = kind.max_payload();
        for (len, expect_ok) in [(max, true), (max + 1, false), (u32::MAX as usize, false)] {
            let len32 = u32::try_from(len).expect("bounds fit u32");
            let mut header = vec![b'S', b'K', PROTOCOL_VERSION, kind.code()];
            header.extend_from_slice(&len32.to_le_bytes());
            let result = match kind.direction() {
                Direction::ToWorker => decode_frame::<ToWorker>(&header).map(|_| ()),
                Direction::ToSupervisor => decode_frame::<ToSupervisor>(&header).map(|_| ()),
            };
            if expect_ok {
                assert_eq!(result, Ok(()), "{kind:?}");
            } else {
                assert_eq!(
                    result,
                    Err(DecodeError::FrameTooLarge {
                        kind,
                        len: len32,
                        max
                    })
                );
            }
        }
    }
    let lw = MessageKind::LoadWorker;
    let mut header = vec![b'S', b'K', PROTOCOL_VERSION, lw.code()];
    header.extend_from_slice(&u32::try_from(lw.max_payload()).expect("fits").to_le_bytes());
    assert_eq!(
        decode_frame::<ToWorker>(&header),
        Ok(Decoded::NeedMore(lw.max_payload()))
    );
}
