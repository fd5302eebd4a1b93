//! The brotli decompressor behind node:zlib's `brotliDecompress`, `brotliDecompressSync` and
//! `createBrotliDecompress` (js/node-zlib.js). Not a DecompressionStream format (the Compression
//! Streams standard has no `br`; js/compression.js refuses it).
//!
//! Guarantees: one `write` consumes a prefix of its input and answers at most
//! [`super::MAX_CALL_OUTPUT`] bytes; what does not fit waits in the decoder for the next call (flag
//! `MORE`). Only standard brotli (RFC 7932, windows up to 16 MiB): a large-window stream is
//! corrupt input, so the decoder's ring buffer never exceeds 16 MiB, declared with its tables as
//! [`COST`]. Bad input (corrupt data, a truncated stream at `finish`, a byte after the end) is a
//! TypeError, sticky as in `inflate.rs`: a call that meets it answers what it produced first.
//!
//! Trusts: the `brotli` crate's decoder (`brotli-decompressor`, Dropbox's port of Google's).

use brotli::{BrotliDecompressStream, BrotliResult, BrotliState, HeapAlloc, HuffmanCode};

use super::{decompress_call, Decode, OutBuf, Step};
use crate::{OpError, OpResult};

/// The native memory one decoder may hold: the ring buffer of the largest standard window
/// (16 MiB, allocated only as large as the stream's window says) and about 1 MiB of Huffman
/// tables and block-type state.
pub const COST: usize = 17 << 20;

type State = BrotliState<HeapAlloc<u8>, HeapAlloc<u32>, HeapAlloc<HuffmanCode>>;

pub struct Decompressor {
    state: Box<State>,
    ended: bool,
    failed: Option<OpError>,
}

fn corrupt(what: &str) -> OpError {
    OpError::type_error(format!("the compressed data is invalid: {what}"))
}

impl Decompressor {
    pub fn new() -> Self {
        Decompressor {
            state: Box::new(BrotliState::new_strict(
                HeapAlloc::default(),
                HeapAlloc::default(),
                HeapAlloc::default(),
            )),
            ended: false,
            failed: None,
        }
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
        Self::new()
    }
}
