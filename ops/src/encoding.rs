//! The native half of TextDecoder and TextDecoderStream for the legacy encodings (js/encoding.js
//! keeps its own UTF-8 decoder and calls these only for other labels), on `encoding_rs`, the
//! WHATWG Encoding Standard's implementation (Firefox's): every label, every decoder.
//!
//! Ops:
//! - `EncodingLabel(label)` -> the encoding's name, lower-case as TextDecoder's `encoding`
//!   reports it; a label that names no encoding, or the replacement encoding, is a RangeError.
//! - `Decode(name, flags, handle, input, stream)` -> `[handle u32, UTF-16LE code units]`: decodes
//!   `input` with the decoder `handle` holds (0: a fresh one), without BOM handling (the prelude
//!   strips a leading U+FEFF as the spec's "serialize" does). With `stream` the decoder's state is
//!   kept and its handle answered (a new one if `handle` was 0); without, the stream is flushed,
//!   the handle freed and 0 answered. Flag 1 is `fatal`: malformed input is a TypeError (and the
//!   handle is freed, so the next call starts afresh, as the spec's decoder does).
//!
//! Guarantees: an input piece is at most [`MAX_DECODE_INPUT`] bytes (the prelude cuts longer
//! input), so one call's output is bounded (`encoding_rs`'s own worst case for the decoder, about
//! two UTF-16 units per byte) and takes a few milliseconds; a kept decoder holds a few dozen bytes
//! (declared as [`COST`]).
//!
//! Trusts: `encoding_rs` (no unsafe input handling of ours; its decoders are fuzzed upstream).

use encoding_rs::{CoderResult, Decoder, DecoderResult, Encoding};

use crate::fields::{self, Fields};
use crate::{ErrorKind, OpCode, OpCtx, OpError, OpResult};

/// The largest input one Decode call takes.
pub const MAX_DECODE_INPUT: usize = 4 << 20;
/// What a kept decoder is declared to hold.
pub const COST: usize = 256;

const FATAL: u32 = 1;

fn encoding_for(label: &[u8]) -> OpResult<&'static Encoding> {
    Encoding::for_label_no_replacement(label).ok_or_else(|| {
        OpError::new(
            ErrorKind::RangeError,
            format!(
                "TextDecoder: the encoding \"{}\" is not supported",
                String::from_utf8_lossy(&label[..label.len().min(64)])
            ),
        )
    })
}

pub(crate) fn run(op: OpCode, input: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    let f = Fields::parse(input)?;
    match op {
        OpCode::EncodingLabel => {
            let enc = encoding_for(f.bytes(0)?)?;
            Ok(enc.name().to_ascii_lowercase().into_bytes())
        }
        OpCode::Decode => {
            let enc = encoding_for(f.bytes(0)?)?;
            let fatal = f.u32(1)? & FATAL != 0;
            let handle = f.u32(2)?;
            let data = f.bytes(3)?;
            let stream = f.u32(4)? != 0;
            if data.len() > MAX_DECODE_INPUT {
                return Err(OpError::type_error("a decode input piece is too large"));
            }
            let state = ctx.state()?;
            let mut decoder = if handle == 0 {
                Box::new(enc.new_decoder_without_bom_handling())
            } else {
                state.take::<Decoder>(handle)?
            };
            let decoded = decode(&mut decoder, data, fatal, !stream);
            let kept = match (&decoded, stream) {
                (Ok(_), true) if handle == 0 => state.insert(decoder, COST)?,
                (Ok(_), true) => {
                    state.put(handle, decoder)?;
                    handle
                }
                _ => {
                    if handle != 0 {
                        state.put(handle, decoder)?;
                        state.free(handle)?;
                    }
                    0
                }
            };
            let units = decoded?;
            Ok(fields::encode(&[&kept.to_le_bytes(), &units]))
        }
        _ => Err(OpError::not_supported("not an encoding op")),
    }
}

/// Decodes `data` into UTF-16LE bytes; `last` flushes the decoder.
fn decode(decoder: &mut Decoder, data: &[u8], fatal: bool, last: bool) -> OpResult<Vec<u8>> {
    let cap = decoder
        .max_utf16_buffer_length(data.len())
        .ok_or_else(|| OpError::type_error("the input is too large to decode"))?;
    let mut units = vec![0u16; cap];
    let written = if fatal {
        let (result, _read, written) =
            decoder.decode_to_utf16_without_replacement(data, &mut units, last);
        match result {
            DecoderResult::InputEmpty => written,
            DecoderResult::Malformed(_, _) => {
                return Err(OpError::type_error(format!(
                    "The encoded data was not valid {}",
                    decoder.encoding().name()
                )))
            }
            DecoderResult::OutputFull => {
                return Err(OpError::operation("the decoder's output buffer was short"))
            }
        }
    } else {
        let (result, _read, written, _replaced) = decoder.decode_to_utf16(data, &mut units, last);
        if result == CoderResult::OutputFull {
            return Err(OpError::operation("the decoder's output buffer was short"));
        }
        written
    };
    let mut out = Vec::with_capacity(written * 2);
    for u in &units[..written] {
        out.extend_from_slice(&u.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::OpState;
    use std::sync::atomic::AtomicU32;

    fn utf16(bytes: &[u8]) -> String {
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    }

    fn call(
        ctx: &OpCtx<'_>,
        name: &str,
        fatal: u32,
        h: u32,
        data: &[u8],
        stream: u32,
    ) -> OpResult<(u32, String)> {
        let input = fields::encode(&[
            name.as_bytes(),
            &fatal.to_le_bytes(),
            &h.to_le_bytes(),
            data,
            &stream.to_le_bytes(),
        ]);
        let out = run(OpCode::Decode, &input, ctx)?;
        let f = Fields::parse(&out)?;
        Ok((f.u32(0)?, utf16(f.bytes(1)?)))
    }

    #[test]
    fn labels_decode_and_stream() {
        let flag = AtomicU32::new(0);
        let st = OpState::new();
        let ctx = OpCtx::with_state(&flag, &st);
        let name = run(OpCode::EncodingLabel, &fields::encode(&[b"latin1"]), &ctx).expect("label");
        assert_eq!(name, b"windows-1252");
        let e = run(
            OpCode::EncodingLabel,
            &fields::encode(&[b"iso-2022-kr"]),
            &ctx,
        )
        .expect_err("replacement");
        assert_eq!(e.kind, ErrorKind::RangeError);
        assert_eq!(
            call(&ctx, "windows-1252", 0, 0, b"\x80", 0)
                .expect("1252")
                .1,
            "\u{20ac}"
        );
        // Shift_JIS "\u{3042}" split across two calls.
        let (h, a) = call(&ctx, "shift_jis", 0, 0, b"\x82", 1).expect("first");
        assert_ne!(h, 0);
        assert_eq!(a, "");
        let (h2, b) = call(&ctx, "shift_jis", 0, h, b"\xa0", 0).expect("second");
        assert_eq!((h2, b.as_str()), (0, "\u{3042}"));
        assert_eq!(st.usage().0, 0, "the flush freed the decoder");
        // fatal: a lone lead byte at the end is an error, and frees the handle.
        let (h, _) = call(&ctx, "shift_jis", 1, 0, b"a", 1).expect("kept");
        let e = call(&ctx, "shift_jis", 1, h, b"\x82", 0).expect_err("fatal");
        assert_eq!(e.kind, ErrorKind::TypeError);
        assert_eq!(st.usage().0, 0);
    }
}
