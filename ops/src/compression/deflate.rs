//! The compressing half: one [`Compressor`] per CompressionStream, deflate at level 6 (zlib's
//! default, what browsers use), framed as zlib, raw deflate or a gzip member.
//!
//! Guarantees: one `write` consumes a prefix of its input and answers at most
//! [`MAX_CALL_OUTPUT`] bytes of compressed data (plus a gzip header or trailer, 18 bytes at most);
//! after the end is written, more input is a TypeError.
//!
//! Trusts: `miniz_oxide`'s deflate, `crc32fast` for the gzip trailer.

use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::deflate::stream::deflate;
use miniz_oxide::{MZError, MZFlush, MZStatus};

use super::{Flush, Format, OutBuf, Step, MAX_CALL_OUTPUT};
use crate::{OpError, OpResult};

/// The native memory one compressor holds (measured: the LZ buffer, the hash chains, the
/// Huffman tables and the 32 KiB window, about 300 KiB), declared to the handle table.
pub const COST: usize = 320 << 10;

/// The deflate level, as zlib's default.
const LEVEL: i32 = 6;

/// A gzip member's header: magic, CM = deflate, no flags, no time, XFL 0, OS unknown (255).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

pub struct Compressor {
    format: Format,
    comp: Box<CompressorOxide>,
    header_written: bool,
    crc: crc32fast::Hasher,
    size: u32,
    ended: bool,
}

impl Compressor {
    pub fn new(format: Format) -> Self {
        let window_bits = if format == Format::Deflate { 15 } else { -15 };
        let flags = create_comp_flags_from_zip_params(LEVEL, window_bits, 0);
        Compressor {
            format,
            comp: Box::new(CompressorOxide::new(flags)),
            header_written: false,
            crc: crc32fast::Hasher::new(),
            size: 0,
            ended: false,
        }
    }

    /// Compresses a prefix of `input`; with [`Flush::Finish`], ends the stream once `input` is
    /// consumed; with [`Flush::Sync`], makes all of it decodable (a sync flush: an empty stored
    /// block ends what was written).
    pub fn write(&mut self, input: &[u8], mode: Flush) -> OpResult<Step> {
        let finish = mode == Flush::Finish;
        if self.ended {
            if input.is_empty() {
                return Ok(Step {
                    consumed: 0,
                    more: false,
                    ended: true,
                    output: Vec::new(),
                });
            }
            return Err(OpError::type_error("the compression stream has ended"));
        }
        let mut out = OutBuf::new(input.len() / 2 + 64);
        if self.format == Format::Gzip && !self.header_written {
            out.buf[..GZIP_HEADER.len()].copy_from_slice(&GZIP_HEADER);
            out.len = GZIP_HEADER.len();
            self.header_written = true;
        }
        let flush = match mode {
            Flush::Finish => MZFlush::Finish,
            Flush::Sync => MZFlush::Sync,
            Flush::None => MZFlush::None,
        };
        let mut consumed = 0;
        let mut more = false;
        loop {
            let space = out.space();
            if space.is_empty() {
                more = true;
                break;
            }
            let room = space.len();
            let r = deflate(&mut self.comp, &input[consumed..], space, flush);
            let taken = &input[consumed..consumed + r.bytes_consumed];
            self.crc.update(taken);
            self.size = self.size.wrapping_add(taken.len() as u32);
            consumed += r.bytes_consumed;
            out.len += r.bytes_written;
            match r.status {
                Ok(MZStatus::StreamEnd) => {
                    self.ended = true;
                    if self.format == Format::Gzip {
                        let crc = std::mem::take(&mut self.crc).finalize();
                        out.buf.truncate(out.len);
                        out.buf.extend_from_slice(&crc.to_le_bytes());
                        out.buf.extend_from_slice(&self.size.to_le_bytes());
                        out.len = out.buf.len();
                    }
                    break;
                }
                Ok(_) => {
                    let progress = r.bytes_consumed > 0 || r.bytes_written > 0;
                    // A sync flush is whole once a call with all the input taken had room left.
                    let flushed = mode != Flush::Sync || r.bytes_written < room;
                    if !finish && (consumed == input.len() && flushed || !progress) {
                        break;
                    }
                    if finish && !progress && !out.full() && !out.space().is_empty() {
                        return Err(OpError::operation("the compressor made no progress"));
                    }
                }
                // No progress for lack of input: wait for the next chunk.
                Err(MZError::Buf) if !finish => break,
                Err(e) => return Err(OpError::operation(format!("deflate failed: {e:?}"))),
            }
        }
        debug_assert!(out.len <= MAX_CALL_OUTPUT + 18);
        Ok(Step {
            consumed,
            more,
            ended: self.ended,
            output: out.into_vec(),
        })
    }
}
