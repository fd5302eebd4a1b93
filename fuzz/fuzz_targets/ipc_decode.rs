//! Fuzzes the IPC decoders with arbitrary bytes, in both directions.
//!
//! Checks, for every input: neither `decode_frame` nor `read_frame` panics; they agree; a
//! `NeedMore` is never zero; and every frame that decodes re-encodes to exactly the bytes it came
//! from (canonical encoding) and decodes again to an equal message. Frames are decoded back to
//! back until the input is exhausted or invalid.

#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use stockade_ipc::{
    decode_frame, encode_to_vec, read_frame, Decoded, Message, ReadError, ToSupervisor, ToWorker,
};

fn check<M: Message>(data: &[u8]) {
    let mut rest = data;
    loop {
        let from_slice = decode_frame::<M>(rest);
        let from_reader = read_frame::<M, _>(&mut Cursor::new(rest));
        match from_slice {
            Ok(Decoded::Frame { message, consumed }) => {
                assert!(consumed <= rest.len());
                match &from_reader {
                    Ok(Some(read)) => assert_eq!(read, &message),
                    other => panic!("read_frame disagrees with decode_frame: {other:?}"),
                }
                let encoded = encode_to_vec(&message).expect("a decoded message re-encodes");
                assert_eq!(encoded, &rest[..consumed], "encoding is not canonical");
                match decode_frame::<M>(&encoded) {
                    Ok(Decoded::Frame {
                        message: again,
                        consumed: again_len,
                    }) => {
                        assert_eq!(again, message);
                        assert_eq!(again_len, consumed);
                    }
                    other => panic!("re-encoded frame does not decode: {other:?}"),
                }
                rest = &rest[consumed..];
            }
            Ok(Decoded::NeedMore(n)) => {
                assert!(n > 0, "NeedMore(0)");
                assert!(
                    matches!(from_reader, Ok(None) | Err(ReadError::UnexpectedEof { .. })),
                    "read_frame on a valid prefix: {from_reader:?}"
                );
                return;
            }
            Err(e) => {
                match from_reader {
                    Err(ReadError::Decode(read_err)) => assert_eq!(read_err, e),
                    other => panic!("decode_frame failed with {e:?}, read_frame gave {other:?}"),
                }
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check::<ToWorker>(data);
    check::<ToSupervisor>(data);
});
