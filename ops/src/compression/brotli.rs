//! The brotli compressor behind CompressionStream's `brotli` format (`js/compression.js`), the
//! runtime's response encoding (a response whose `Content-Encoding` is `br` is encoded here on its
//! way to the client, `js/fetch-body.js`, as Cloudflare's runtime does) and node:zlib's brotli
//! compression. Its decompression is `unbrotli.rs`.
//!
//! Guarantees: one `write` consumes all of its input (at most [`super::MAX_CALL_INPUT`] bytes) and
//! answers at most [`MAX_CALL_OUTPUT`] bytes; what does not fit waits for the next call (flag
//! `MORE`). A flush makes everything written so far decodable by the client; after the end is
//! written, more input is a TypeError. The native state is bounded by the quality and window
//! below, declared as [`COST`].
//!
//! Trusts: the `brotli` crate's encoder (Dropbox's port of Google's, what `async-compression`
//! and reqwest use).

use std::io::Write;

use brotli::CompressorWriter;

use super::{Flush, Step, MAX_CALL_OUTPUT};
use crate::{OpError, OpResult};

/// Quality 5 of 11: near gzip's speed at level 6 with a smaller output (what servers commonly
/// use for dynamic content).
const QUALITY: u32 = 5;
/// A window of 2^18 bytes (256 KiB), not brotli's 4 MiB default: bounds the encoder's memory.
const LG_WINDOW: u32 = 18;
/// The encoder's own output buffer.
const BUFFER: usize = 4096;

/// The native memory one encoder holds at this quality and window, declared to the handle
/// table: its ring buffer, hash table and command buffers peaked at 3.4 MiB while 4 MiB of text
/// went through in 1 MiB writes, each flushed (counted by a global allocator; 6 MiB with a 1 MiB
/// window, 6.5 MiB at quality 4, whose hasher is larger).
pub const COST: usize = 4 << 20;

pub struct Compressor {
    /// `None` once the end was written.
    writer: Option<CompressorWriter<Vec<u8>>>,
    /// Output not yet handed out, from `at`.
    pending: Vec<u8>,
    at: usize,
}

impl Compressor {
    pub fn new() -> Self {
        Compressor {
            writer: Some(CompressorWriter::new(
                Vec::new(),
                BUFFER,
                QUALITY,
                LG_WINDOW,
            )),
            pending: Vec::new(),
            at: 0,
        }
    }

    /// Compresses all of `input`, then flushes or ends the stream as `flush` says.
    pub fn write(&mut self, input: &[u8], flush: Flush) -> OpResult<Step> {
        let failed = |e: std::io::Error| OpError::operation(format!("brotli failed: {e}"));
        match self.writer.as_mut() {
            None if !input.is_empty() => {
                return Err(OpError::type_error("the compression stream has ended"))
            }
            None => {}
            Some(writer) => {
                writer.write_all(input).map_err(failed)?;
                if flush == Flush::Sync {
                    writer.flush().map_err(failed)?;
                }
                let produced = std::mem::take(writer.get_mut());
                self.take(produced);
                if flush == Flush::Finish {
                    if let Some(writer) = self.writer.take() {
                        let rest = writer.into_inner();
                        self.take(rest);
                    }
                }
            }
        }
        let end = self.pending.len().min(self.at + MAX_CALL_OUTPUT);
        let output = self.pending[self.at..end].to_vec();
        self.at = end;
        let more = self.at < self.pending.len();
        if !more {
            self.pending.clear();
            self.at = 0;
        }
        Ok(Step {
            consumed: input.len(),
            more,
            ended: self.writer.is_none() && !more,
            output,
        })
    }

    fn take(&mut self, produced: Vec<u8>) {
        if self.pending.is_empty() {
            self.pending = produced;
            self.at = 0;
        } else {
            self.pending.extend_from_slice(&produced);
        }
    }
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}
