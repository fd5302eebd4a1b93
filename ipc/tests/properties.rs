//! Property tests over arbitrary valid messages of both directions: round trip, canonical
//! encoding, every truncation, trailing bytes, wrong direction, single-byte corruption.

mod strategy;

use std::io::Cursor;

use proptest::prelude::*;
use stockade_ipc::{
    decode_frame, encode_to_vec, read_frame, DecodeError, Decoded, Direction, Message,
    ToSupervisor, ToWorker, HEADER_LEN, MAGIC, PROTOCOL_VERSION,
};

fn encode<M: Message>(message: &M) -> Vec<u8> {
    match encode_to_vec(message) {
        Ok(bytes) => bytes,
        Err(e) => panic!("a generated message must encode: {e}"),
    }
}

fn set_payload_len(frame: &mut [u8], len: usize) {
    let len = u32::try_from(len).expect("test payloads are small");
    frame[4..8].copy_from_slice(&len.to_le_bytes());
}

fn round_trip<M: Message>(message: &M) -> Result<(), TestCaseError> {
    let frame = encode(message);
    prop_assert_eq!(&frame[..2], &MAGIC[..]);
    prop_assert_eq!(frame[2], PROTOCOL_VERSION);
    prop_assert_eq!(frame[3], message.kind().code());
    let payload_len = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]) as usize;
    prop_assert_eq!(payload_len, frame.len() - HEADER_LEN);
    prop_assert!(payload_len <= message.kind().max_payload());

    let decoded = decode_frame::<M>(&frame);
    prop_assert_eq!(
        decoded,
        Ok(Decoded::Frame {
            message: message.clone(),
            consumed: frame.len()
        })
    );
    let via_reader = read_frame::<M, _>(&mut Cursor::new(&frame)).map_err(|e| e.to_string());
    prop_assert_eq!(via_reader, Ok(Some(message.clone())));
    Ok(())
}

/// Every proper prefix of a valid frame asks for exactly the missing bytes.
fn prefixes_need_more<M: Message>(message: &M) -> Result<(), TestCaseError> {
    let frame = encode(message);
    for cut in 0..frame.len() {
        let expected = if cut < HEADER_LEN {
            HEADER_LEN - cut
        } else {
            frame.len() - cut
        };
        prop_assert_eq!(
            decode_frame::<M>(&frame[..cut]),
            Ok(Decoded::NeedMore(expected)),
            "prefix of {} bytes",
            cut
        );
        let eof = read_frame::<M, _>(&mut Cursor::new(&frame[..cut]));
        prop_assert!(
            matches!(
                eof,
                Ok(None) | Err(stockade_ipc::ReadError::UnexpectedEof { .. })
            ),
            "read_frame on {} bytes: {:?}",
            cut,
            eof
        );
    }
    Ok(())
}

/// A frame whose header is honest about a payload cut short is malformed, at every cut.
fn short_payloads_rejected<M: Message>(message: &M) -> Result<(), TestCaseError> {
    let frame = encode(message);
    for cut in HEADER_LEN..frame.len() {
        let mut short = frame[..cut].to_vec();
        set_payload_len(&mut short, cut - HEADER_LEN);
        let result = decode_frame::<M>(&short);
        prop_assert!(
            result.is_err(),
            "payload cut to {} bytes decoded: {:?}",
            cut,
            result
        );
    }
    Ok(())
}

fn trailing_byte_rejected<M: Message>(message: &M) -> Result<(), TestCaseError> {
    let mut frame = encode(message);
    frame.push(0);
    let len = frame.len() - HEADER_LEN;
    set_payload_len(&mut frame, len);
    let kind = message.kind();
    let expected = if len > kind.max_payload() {
        // Fixed-size messages at their bound are refused from the header alone.
        DecodeError::FrameTooLarge {
            kind,
            len: len as u32,
            max: kind.max_payload(),
        }
    } else {
        DecodeError::TrailingBytes { extra: 1 }
    };
    prop_assert_eq!(decode_frame::<M>(&frame), Err(expected));
    Ok(())
}

/// Decoding a frame back to back with another yields both, in order.
fn back_to_back<M: Message>(a: &M, b: &M) -> Result<(), TestCaseError> {
    let first = encode(a);
    let mut stream = first.clone();
    stream.extend_from_slice(&encode(b));
    let Ok(Decoded::Frame { message, consumed }) = decode_frame::<M>(&stream) else {
        return Err(TestCaseError::fail("first frame did not decode"));
    };
    prop_assert_eq!(&message, a);
    prop_assert_eq!(consumed, first.len());
    let Ok(Decoded::Frame { message, consumed }) = decode_frame::<M>(&stream[consumed..]) else {
        return Err(TestCaseError::fail("second frame did not decode"));
    };
    prop_assert_eq!(&message, b);
    prop_assert_eq!(first.len() + consumed, stream.len());
    Ok(())
}

/// Overwriting any one byte never panics, and whatever still decodes is canonical.
fn corrupted_byte<M: Message>(
    message: &M,
    index: prop::sample::Index,
    value: u8,
) -> Result<(), TestCaseError> {
    let mut frame = encode(message);
    let at = index.index(frame.len());
    frame[at] = value;
    if let Ok(Decoded::Frame { message, consumed }) = decode_frame::<M>(&frame) {
        prop_assert_eq!(encode(&message), &frame[..consumed]);
    }
    Ok(())
}

proptest! {
    #[test]
    fn to_worker_round_trips(message in strategy::to_worker()) {
        round_trip(&message)?;
    }

    #[test]
    fn to_supervisor_round_trips(message in strategy::to_supervisor()) {
        round_trip(&message)?;
    }

    #[test]
    fn to_worker_prefixes_need_more(message in strategy::to_worker()) {
        prefixes_need_more(&message)?;
    }

    #[test]
    fn to_supervisor_prefixes_need_more(message in strategy::to_supervisor()) {
        prefixes_need_more(&message)?;
    }

    #[test]
    fn to_worker_short_payloads_rejected(message in strategy::to_worker()) {
        short_payloads_rejected(&message)?;
    }

    #[test]
    fn to_supervisor_short_payloads_rejected(message in strategy::to_supervisor()) {
        short_payloads_rejected(&message)?;
    }

    #[test]
    fn trailing_bytes_rejected(a in strategy::to_worker(), b in strategy::to_supervisor()) {
        trailing_byte_rejected(&a)?;
        trailing_byte_rejected(&b)?;
    }

    #[test]
    fn frames_decode_back_to_back(
        a in strategy::to_worker(),
        b in strategy::to_worker(),
        c in strategy::to_supervisor(),
        d in strategy::to_supervisor(),
    ) {
        back_to_back(&a, &b)?;
        back_to_back(&c, &d)?;
    }

    #[test]
    fn wrong_direction_rejected(a in strategy::to_worker(), b in strategy::to_supervisor()) {
        let err = decode_frame::<ToSupervisor>(&encode(&a));
        prop_assert_eq!(err, Err(DecodeError::WrongDirection {
            kind: a.kind(),
            expected: Direction::ToSupervisor,
        }));
        let err = decode_frame::<ToWorker>(&encode(&b));
        prop_assert_eq!(err, Err(DecodeError::WrongDirection {
            kind: b.kind(),
            expected: Direction::ToWorker,
        }));
    }

    #[test]
    fn corrupted_bytes_never_panic(
        a in strategy::to_worker(),
        b in strategy::to_supervisor(),
        index in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        corrupted_byte(&a, index, value)?;
        corrupted_byte(&b, index, value)?;
    }
}
