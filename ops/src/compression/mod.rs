//! The native half of CompressionStream and DecompressionStream (js/compression.js) for the
//! formats `deflate` (RFC 1950, zlib), `deflate-raw` (RFC 1951) and `gzip` (RFC 1952), on
//! `miniz_oxide` (the pure-Rust deflate that flate2's default backend is) and `crc32fast`, and
//! `brotli` (RFC 7932: `brotli` compresses, `unbrotli` decompresses); also of the runtime's
//! response encoding (js/fetch-body.js: gzip, and `br` in `brotli`) and node:zlib.
//!
//! A stream's compressor or decompressor lives between chunks in the isolate's [`OpState`],
//! behind a handle the prelude holds and frees when the stream ends, errors or is cancelled.
//!
//! Ops (fields in, fields out):
//! - `CompressNew(format)` / `DecompressNew(format[, after])` -> handle (u32); `after` is an
//!   [`After`]: 0 (the default) refuses bytes after the stream's end, 1 reads them as Node's zlib.
//! - `CompressWrite(handle, input, flush)` / `DecompressWrite(handle, input, flush)` ->
//!   `[consumed u32, flags u32, output]`: the call consumes a prefix of `input` and answers at
//!   most [`MAX_CALL_OUTPUT`] bytes; flag [`MORE`] says the output was cut at the cap (call again,
//!   with the rest of the input, possibly none), [`ENDED`] that the stream's end was reached.
//!   The prelude calls with pieces of at most [`MAX_CALL_INPUT`] bytes. `flush` is a [`Flush`]:
//!   0 none, 1 finish (the end of the stream), 2 sync (a compressor makes everything written so
//!   far decodable: a streamed response's chunk reaches its client; a decompressor ignores it).
//! - `Free(handle)` (lib.rs) drops it.
//!
//! Guarantees:
//! - A decompression bomb ends as a limit: one call answers at most [`MAX_CALL_OUTPUT`] bytes,
//!   and every answer is written into the isolate's ArrayBuffer arena, so a stream that inflates
//!   past the tenant's memory limit fails there with a RangeError (and its CPU counts against the
//!   request). Nothing here grows with the output: the decompressor's window is 32 KiB.
//! - Bounded time per call: at most [`MAX_CALL_INPUT`] bytes in and [`MAX_CALL_OUTPUT`] out (and
//!   [`inflate::MEMBERS_PER_CALL`] gzip members begun), a few
//!   milliseconds (deflate at level 6 on 1 MiB of text: about 10 ms optimised).
//! - Bad input is a TypeError (the spec's): corrupt data, a wrong checksum or size, a truncated
//!   stream at `finish`, any byte after the end of the stream (unless [`After::Node`]), a gzip header over
//!   [`inflate::MAX_GZIP_HEADER`] bytes.
//! - The native state is bounded: a compressor holds about [`deflate::COST`] bytes (brotli's
//!   [`brotli::COST`]), a decompressor [`inflate::COST`] (brotli's its tables, then its stream's
//!   window, at most [`unbrotli::COST`]), declared to the [`OpState`] caps.
//!
//! Trusts: `miniz_oxide` (inflate and deflate, pure safe Rust, fuzzed upstream), `crc32fast`, the
//! `brotli` crate (see `brotli.rs`, `unbrotli.rs`).

pub mod brotli;
pub mod deflate;
pub mod inflate;
pub mod unbrotli;

use crate::fields::{self, Fields};
use crate::state::OpState;
use crate::{OpCode, OpCtx, OpError, OpResult};

/// The most output one call answers.
pub const MAX_CALL_OUTPUT: usize = 1 << 20;
/// The largest input piece one call accepts.
pub const MAX_CALL_INPUT: usize = 1 << 20;
/// Answer flag: the output was cut at [`MAX_CALL_OUTPUT`]; more is pending.
pub const MORE: u32 = 1;
/// Answer flag: the end of the stream was reached (decompression) or written (compression).
pub const ENDED: u32 = 2;

/// The formats, as the prelude numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Deflate = 0,
    DeflateRaw = 1,
    Gzip = 2,
    Brotli = 3,
}

/// What a decompressor does with bytes after its stream's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum After {
    /// They are an error (DecompressionStream, the Compression Streams standard).
    #[default]
    Refuse,
    /// As Node's zlib (node_zlib.cc): after a gzip member, a byte other than 0x00 begins another
    /// member (each decoded in turn, each checked); a 0x00 and everything after it, and whatever
    /// follows the end of any other format, is read and dropped.
    Node,
}

impl After {
    fn from_u32(v: u32) -> OpResult<After> {
        match v {
            0 => Ok(After::Refuse),
            1 => Ok(After::Node),
            _ => Err(OpError::type_error(format!("unknown end policy {v}"))),
        }
    }
}

/// What a write does after its input: nothing more, end the stream, or flush what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    None,
    Finish,
    Sync,
}

impl Flush {
    fn from_u32(v: u32) -> OpResult<Flush> {
        Ok(match v {
            0 => Flush::None,
            1 => Flush::Finish,
            2 => Flush::Sync,
            _ => return Err(OpError::type_error(format!("unknown flush mode {v}"))),
        })
    }
}

/// A decompressor of either kind.
enum Decoder {
    Inflate(inflate::Decompressor),
    Brotli(Box<unbrotli::Decompressor>),
}

/// A compressor of either kind.
enum Encoder {
    Deflate(deflate::Compressor),
    Brotli(Box<brotli::Compressor>),
}

impl Format {
    fn from_u32(v: u32) -> OpResult<Format> {
        Ok(match v {
            0 => Format::Deflate,
            1 => Format::DeflateRaw,
            2 => Format::Gzip,
            3 => Format::Brotli,
            _ => {
                return Err(OpError::type_error(format!(
                    "unknown compression format {v}"
                )))
            }
        })
    }
}

/// What one write step did.
pub struct Step {
    pub consumed: usize,
    pub more: bool,
    pub ended: bool,
    pub output: Vec<u8>,
}

impl Step {
    fn answer(&self) -> Vec<u8> {
        let flags = if self.more { MORE } else { 0 } | if self.ended { ENDED } else { 0 };
        fields::encode(&[
            &(self.consumed as u32).to_le_bytes(),
            &flags.to_le_bytes(),
            &self.output,
        ])
    }
}

/// A decompressor's steps over one call's input, as [`decompress_call`] drives them.
pub trait Decode {
    /// Decodes from `input[*i..]` into `out` until the input is used, `out` is full (`*more`)
    /// or the stream ended; an error is the compressed data's fault.
    fn steps(
        &mut self,
        input: &[u8],
        i: &mut usize,
        out: &mut OutBuf,
        more: &mut bool,
    ) -> OpResult<()>;
    /// The stream's end was decoded.
    fn ended(&self) -> bool;
    /// Where an error waits for the next call (sticky).
    fn failed(&mut self) -> &mut Option<OpError>;
}

/// One call of a decompressor: a prefix of `input` decoded (at most [`MAX_CALL_OUTPUT`] bytes);
/// with `finish`, a stream that has not ended is `truncated`. An error is sticky, and a call
/// that meets it after producing output answers that output first (the error comes next call).
pub fn decompress_call<D: Decode>(
    d: &mut D,
    input: &[u8],
    finish: bool,
    truncated: impl FnOnce() -> OpError,
) -> OpResult<Step> {
    if let Some(e) = d.failed() {
        return Err(e.clone());
    }
    let mut out = OutBuf::new(input.len().saturating_mul(4));
    let mut consumed = 0;
    let mut more = false;
    let mut result = d.steps(input, &mut consumed, &mut out, &mut more);
    if result.is_ok() && finish && !more && !d.ended() {
        result = Err(truncated());
    }
    if let Err(e) = result {
        if out.len == 0 {
            return Err(e);
        }
        *d.failed() = Some(e);
        more = true;
    }
    Ok(Step {
        consumed,
        more,
        ended: d.ended(),
        output: out.into_vec(),
    })
}

/// A growing output buffer capped at [`MAX_CALL_OUTPUT`]: starts near `hint` and doubles.
pub struct OutBuf {
    pub buf: Vec<u8>,
    pub len: usize,
}

impl OutBuf {
    pub fn new(hint: usize) -> Self {
        let size = hint.clamp(4096, MAX_CALL_OUTPUT);
        OutBuf {
            buf: vec![0; size],
            len: 0,
        }
    }
    /// The free space, grown first if it is full and the cap allows; empty at the cap.
    pub fn space(&mut self) -> &mut [u8] {
        if self.len == self.buf.len() && self.buf.len() < MAX_CALL_OUTPUT {
            let grown = (self.buf.len() * 2).min(MAX_CALL_OUTPUT);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.len..]
    }
    pub fn full(&self) -> bool {
        self.len == MAX_CALL_OUTPUT
    }
    pub fn into_vec(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf
    }
}

pub(crate) fn run(op: OpCode, input: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    let f = Fields::parse(input)?;
    let state: &OpState = ctx.state()?;
    match op {
        OpCode::CompressNew => {
            let (c, cost) = match Format::from_u32(f.u32(0)?)? {
                Format::Brotli => (Encoder::Brotli(Box::default()), brotli::COST),
                format => (
                    Encoder::Deflate(deflate::Compressor::new(format)),
                    deflate::COST,
                ),
            };
            let id = state.insert(Box::new(c), cost)?;
            Ok(id.to_le_bytes().to_vec())
        }
        OpCode::DecompressNew => {
            let after = match f.bytes(1) {
                Ok(_) => After::from_u32(f.u32(1)?)?,
                Err(_) => After::Refuse,
            };
            let (d, cost) = match Format::from_u32(f.u32(0)?)? {
                // Its window's ring buffer is declared at the first write (see DecompressWrite).
                Format::Brotli => (
                    Decoder::Brotli(Box::new(unbrotli::Decompressor::new(after))),
                    unbrotli::TABLES,
                ),
                format => (
                    Decoder::Inflate(inflate::Decompressor::new(format, after)),
                    inflate::COST,
                ),
            };
            let id = state.insert(Box::new(d), cost)?;
            Ok(id.to_le_bytes().to_vec())
        }
        OpCode::CompressWrite => {
            let (id, data, flush) = write_args(&f)?;
            let mut c = state.take::<Encoder>(id)?;
            let step = match c.as_mut() {
                Encoder::Deflate(c) => c.write(data, flush),
                Encoder::Brotli(c) => c.write(data, flush),
            };
            state.put(id, c)?;
            Ok(step?.answer())
        }
        OpCode::DecompressWrite => {
            let (id, data, flush) = write_args(&f)?;
            let mut d = state.take::<Decoder>(id)?;
            let finish = flush == Flush::Finish;
            let step = match d.as_mut() {
                Decoder::Inflate(d) => d.write(data, finish),
                // Before it reads the stream's first byte, which sets how large its ring buffer
                // grows.
                Decoder::Brotli(d) => match d.window_to_declare(data) {
                    Some(cost) => state.recost(id, cost).and_then(|()| d.write(data, finish)),
                    None => d.write(data, finish),
                },
            };
            match step {
                Ok(step) => {
                    state.put(id, d)?;
                    Ok(step.answer())
                }
                Err(e) => {
                    // A failed decompressor is of no further use.
                    state.put(id, d)?;
                    state.free(id)?;
                    Err(e)
                }
            }
        }
        _ => Err(OpError::not_supported("not a compression op")),
    }
}

fn write_args<'a>(f: &Fields<'a>) -> OpResult<(u32, &'a [u8], Flush)> {
    let data = f.bytes(1)?;
    if data.len() > MAX_CALL_INPUT {
        return Err(OpError::type_error(
            "a compression input piece is too large",
        ));
    }
    Ok((f.u32(0)?, data, Flush::from_u32(f.u32(2)?)?))
}

#[cfg(test)]
mod tests;
