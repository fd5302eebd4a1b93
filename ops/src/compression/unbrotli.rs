//! The brotli decompressor behind DecompressionStream's `brotli` format (js/compression.js) and
//! node:zlib's `brotliDecompress`, `brotliDecompressSync` and `createBrotliDecompress`
//! (js/node-zlib.js).
//!
//! Guarantees: one `write` consumes a prefix of its input and answers at most
//! [`super::MAX_CALL_OUTPUT`] bytes; what does not fit waits in the decoder for the next call
//! (flag `MORE`). Only standard brotli (RFC 7932, windows up to 16 MiB): a large-window stream is
//! corrupt input, so the decoder's ring buffer never exceeds 16 MiB. A new decoder declares its
//! tables ([`TABLES`]); before it reads a stream's first byte, which says the stream's window, it
//! declares that window's ring buffer too
//! ([`window_to_declare`](Decompressor::window_to_declare), at most [`COST`] in all), so a stream
//! of a 4 MiB window costs its isolate 7 MiB rather than the largest window's 19. Bad input
//! (corrupt data, a truncated stream at `finish`, a byte after the end) is a TypeError, sticky as
//! in `inflate.rs`: a call that meets it answers what it produced first.
//!
//! Trusts: the `brotli` crate's decoder (`brotli-decompressor`, Dropbox's port of Google's).

use brotli::{BrotliDecompressStream, BrotliResult, BrotliState, HeapAlloc, HuffmanCode};

use super::{decompress_call, After, Decode, OutBuf, Step};
use crate::{OpError, OpResult};

/// What a decoder holds besides its ring buffer, at most: its three groups of Huffman tables, of
/// up to 256 trees each (`brotli-decompressor`'s `HuffmanTreeGroup::init`: a tree's table is at
/// most its alphabet's size + 376 entries of 4 bytes; literals 256, insert-and-copy codes 704,
/// standard distances at most 520: 256 x 2,608 x 4 bytes = 2.5 MiB), context maps (16 KiB) and
/// its state, kept across metablocks at their largest.
pub const TABLES: usize = 3 << 20;
/// The most native memory one decoder may hold: its tables and the ring buffer of the largest
/// standard window (16 MiB; the decoder allocates it only as large as the stream's window says).
pub const COST: usize = TABLES + (16 << 20);

/// The window a brotli stream declares in its first bits (RFC 7932, section 9.1: `WBITS`, read
/// from the low bits of the first byte), as log2 of its size in bytes: 10 to 24. None for the
/// large-window marker (`0010001`), which is not standard brotli (the decoder refuses it).
pub fn window_bits(first: u8) -> Option<u32> {
    if first & 1 == 0 {
        return Some(16);
    }
    let n = u32::from((first >> 1) & 7);
    if n != 0 {
        return Some(17 + n);
    }
    match u32::from((first >> 4) & 7) {
        0 => Some(17),
        1 => None,
        m => Some(8 + m),
    }
}

type State = BrotliState<HeapAlloc<u8>, HeapAlloc<u32>, HeapAlloc<HuffmanCode>>;

pub struct Decompressor {
    state: Box<State>,
    ended: bool,
    after: After,
    failed: Option<OpError>,
    /// Its stream's window was declared (its first byte seen).
    declared: bool,
}

fn corrupt(what: &str) -> OpError {
    OpError::type_error(format!("the compressed data is invalid: {what}"))
}

impl Decompressor {
    pub fn new(after: After) -> Self {
        Decompressor {
            after,
            state: Box::new(BrotliState::new_strict(
                HeapAlloc::default(),
                HeapAlloc::default(),
                HeapAlloc::default(),
            )),
            ended: false,
            failed: None,
            declared: false,
        }
    }

    /// What this decoder will hold once it reads `input`, if that is the stream's first byte:
    /// [`TABLES`] and the ring buffer of the window that byte declares ([`COST`] for a
    /// large-window stream, which the decoder refuses as it reads it). None once declared, and
    /// for empty input. The caller declares it to the isolate's native state before the write.
    pub fn window_to_declare(&mut self, input: &[u8]) -> Option<usize> {
        if self.declared {
            return None;
        }
        let first = *input.first()?;
        self.declared = true;
        Some(window_bits(first).map_or(COST, |bits| TABLES + (1 << bits)))
    }

    /// Decompresses a prefix of `input`; with `finish`, a stream that has not ended is an error.
    pub fn write(&mut self, input: &[u8], finish: bool) -> OpResult<Step> {
        decompress_call(self, input, finish, || {
            corrupt("the brotli stream is truncated")
        })
    }
}

impl Decode for Decompressor {
    fn ended(&self) -> bool {
        self.ended
    }

    fn failed(&mut self) -> &mut Option<OpError> {
        &mut self.failed
    }

    fn steps(
        &mut self,
        input: &[u8],
        i: &mut usize,
        out: &mut OutBuf,
        more: &mut bool,
    ) -> OpResult<()> {
        loop {
            if self.ended {
                if *i < input.len() {
                    if self.after == After::Node {
                        *i = input.len();
                        return Ok(());
                    }
                    return Err(corrupt("there is data after the end of the stream"));
                }
                return Ok(());
            }
            let len = out.len;
            let space = out.space();
            if space.is_empty() {
                *more = true;
                return Ok(());
            }
            let mut available_in = input.len() - *i;
            let mut input_offset = *i;
            let mut available_out = space.len();
            let mut output_offset = 0;
            let mut total_out = 0;
            let result = BrotliDecompressStream(
                &mut available_in,
                &mut input_offset,
                input,
                &mut available_out,
                &mut output_offset,
                space,
                &mut total_out,
                &mut self.state,
            );
            let progress = input_offset > *i || output_offset > 0;
            *i = input_offset;
            out.len = len + output_offset;
            match result {
                BrotliResult::ResultSuccess => self.ended = true,
                // The output space is full: grow it (the loop) or stop at the cap.
                BrotliResult::NeedsMoreOutput if progress => {}
                BrotliResult::NeedsMoreOutput => {
                    return Err(corrupt("the brotli decoder is stuck"))
                }
                BrotliResult::NeedsMoreInput => return Ok(()),
                BrotliResult::ResultFailure => return Err(corrupt("brotli data")),
            }
        }
    }
}

impl Default for Decompressor {
    fn default() -> Self {
        Self::new(After::Refuse)
    }
}
