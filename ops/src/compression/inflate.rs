//! The decompressing half: one [`Decompressor`] per DecompressionStream. zlib and raw deflate are
//! `miniz_oxide`'s inflate (it checks zlib's header and Adler-32); for gzip this file reads the
//! member's header (RFC 1952: FEXTRA, FNAME, FCOMMENT and FHCRC, which is checked) and trailer
//! (CRC-32 and ISIZE, both checked) around a raw inflate. One member per stream, as browsers do,
//! or, for node:zlib ([`After::Node`]), every member, and trailing zeros dropped.
//!
//! Guarantees: one `write` consumes a prefix of its input and answers at most
//! [`super::MAX_CALL_OUTPUT`] bytes; the memory it keeps is fixed (the 32 KiB window, a header of at most
//! [`MAX_GZIP_HEADER`] bytes). An error comes after the output that preceded it: a call that meets
//! bad input answers what it produced first and fails on the next call (the error is sticky).
//!
//! Trusts: `miniz_oxide`'s inflate, `crc32fast`.

use miniz_oxide::inflate::stream::{inflate, InflateState, MinReset};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::{decompress_call, After, Decode, Format, OutBuf, Step};
use crate::{OpError, OpResult};

/// The native memory one decompressor holds (the inflate state with its 32 KiB window and
/// Huffman tables, about 43 KiB), declared to the handle table.
pub const COST: usize = 48 << 10;
/// The most gzip members one call begins ([`After::Node`]): about a millisecond of empty ones.
pub const MEMBERS_PER_CALL: usize = 4096;
/// The longest gzip header accepted (name, comment and extra field included).
pub const MAX_GZIP_HEADER: usize = 64 << 10;

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Fixed,
    ExtraLen,
    Extra(usize),
    Name,
    Comment,
    /// The header CRC, with how many of its two bytes were read.
    Hcrc(u8),
    Body,
    Trailer,
    Ended,
    /// Ended, and what follows is dropped ([`After::Node`]).
    Dropping,
}

pub struct Decompressor {
    format: Format,
    after: After,
    /// Gzip members begun in the current call ([`After::Node`]).
    begun: usize,
    state: Box<InflateState>,
    part: Part,
    header: Vec<u8>,
    trailer: Vec<u8>,
    crc: crc32fast::Hasher,
    size: u32,
    failed: Option<OpError>,
}

fn corrupt(what: &str) -> OpError {
    OpError::type_error(format!("the compressed data is invalid: {what}"))
}

impl Decompressor {
    pub fn new(format: Format, after: After) -> Self {
        let data_format = if format == Format::Deflate {
            DataFormat::Zlib
        } else {
            DataFormat::Raw
        };
        Decompressor {
            format,
            after,
            begun: 0,
            state: InflateState::new_boxed(data_format),
            part: if format == Format::Gzip {
                Part::Fixed
            } else {
                Part::Body
            },
            header: Vec::new(),
            trailer: Vec::new(),
            crc: crc32fast::Hasher::new(),
            size: 0,
            failed: None,
        }
    }

    /// Decompresses a prefix of `input`; with `finish`, a stream that has not ended is an error.
    pub fn write(&mut self, input: &[u8], finish: bool) -> OpResult<Step> {
        self.begun = 0;
        decompress_call(self, input, finish, || corrupt("the stream is truncated"))
    }
}

impl Decode for Decompressor {
    fn ended(&self) -> bool {
        matches!(self.part, Part::Ended | Part::Dropping)
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
            match self.part {
                Part::Body => {
                    let space = out.space();
                    if space.is_empty() {
                        *more = true;
                        return Ok(());
                    }
                    let room = space.len();
                    let r = inflate(&mut self.state, &input[*i..], space, MZFlush::None);
                    if self.format == Format::Gzip {
                        self.crc.update(&space[..r.bytes_written]);
                        self.size = self.size.wrapping_add(r.bytes_written as u32);
                    }
                    *i += r.bytes_consumed;
                    out.len += r.bytes_written;
                    match r.status {
                        Ok(MZStatus::StreamEnd) => {
                            self.part = if self.format == Format::Gzip {
                                Part::Trailer
                            } else {
                                Part::Ended
                            };
                        }
                        Ok(_) => {
                            let progress = r.bytes_consumed > 0 || r.bytes_written > 0;
                            // Input used up and output not full: wait for the next chunk.
                            if !progress || (*i == input.len() && r.bytes_written < room) {
                                return Ok(());
                            }
                        }
                        Err(MZError::Buf) => return Ok(()),
                        Err(_) => return Err(corrupt("deflate data or checksum")),
                    }
                }
                Part::Trailer => {
                    let take = (8 - self.trailer.len()).min(input.len() - *i);
                    self.trailer.extend_from_slice(&input[*i..*i + take]);
                    *i += take;
                    if self.trailer.len() < 8 {
                        return Ok(());
                    }
                    let crc = std::mem::take(&mut self.crc).finalize();
                    if self.trailer[..4] != crc.to_le_bytes() {
                        return Err(corrupt("the gzip CRC-32 does not match"));
                    }
                    if self.trailer[4..] != self.size.to_le_bytes() {
                        return Err(corrupt("the gzip size does not match"));
                    }
                    self.part = Part::Ended;
                }
                Part::Ended => {
                    if *i == input.len() {
                        return Ok(());
                    }
                    match self.after {
                        After::Refuse => {
                            return Err(corrupt("there is data after the end of the stream"))
                        }
                        // Another gzip member: decoded from its header on, as the first.
                        After::Node if self.format == Format::Gzip && input[*i] != 0 => {
                            // A bounded number per call: the caller calls again for the rest.
                            if self.begun >= MEMBERS_PER_CALL {
                                *more = true;
                                return Ok(());
                            }
                            self.begun += 1;
                            // Without zeroing the window (a memset of 32 KiB per member made a
                            // stream of small members cost 300 times Node's): what a corrupt
                            // member could read back from it is this same stream's earlier output.
                            self.state.reset_as(MinReset);
                            self.part = Part::Fixed;
                            self.header.clear();
                            self.trailer.clear();
                            self.crc = crc32fast::Hasher::new();
                            self.size = 0;
                        }
                        After::Node => {
                            *i = input.len();
                            self.part = Part::Dropping;
                        }
                    }
                }
                Part::Dropping => {
                    *i = input.len();
                    return Ok(());
                }
                _ => {
                    // The gzip header, a byte at a time.
                    let Some(&b) = input.get(*i) else {
                        return Ok(());
                    };
                    self.header_byte(b)?;
                    *i += 1;
                }
            }
        }
    }
}

impl Decompressor {
    fn header_byte(&mut self, b: u8) -> OpResult<()> {
        if self.header.len() >= MAX_GZIP_HEADER {
            return Err(corrupt("the gzip header is too long"));
        }
        self.header.push(b);
        let h = &self.header;
        match self.part {
            // The magic number is checked as it arrives: input that is not gzip is said so
            // even when it is shorter than a header. Node's zlib reads both bytes first (one
            // stray byte is a truncated stream there).
            Part::Fixed
                if h.len() <= 2
                    && self.after == After::Refuse
                    && h[h.len() - 1] != [0x1f, 0x8b][h.len() - 1] =>
            {
                return Err(corrupt("not gzip (bad magic number)"));
            }
            Part::Fixed if h.len() == 2 && h[..] != [0x1f, 0x8b] => {
                return Err(corrupt("not gzip (bad magic number)"));
            }
            Part::Fixed if h.len() == 10 => {
                if h[0] != 0x1f || h[1] != 0x8b {
                    return Err(corrupt("not gzip (bad magic number)"));
                }
                if h[2] != 8 {
                    return Err(corrupt("the gzip compression method is not deflate"));
                }
                if h[3] & 0xe0 != 0 {
                    return Err(corrupt("reserved gzip flags are set"));
                }
                self.part = self.after(Part::Fixed);
            }
            Part::ExtraLen if h.len() == 12 => {
                let n = usize::from(u16::from_le_bytes([h[10], h[11]]));
                self.part = if n == 0 {
                    self.after(Part::Extra(0))
                } else {
                    Part::Extra(n)
                };
            }
            Part::Extra(n) => {
                self.part = if n <= 1 {
                    self.after(Part::Extra(0))
                } else {
                    Part::Extra(n - 1)
                };
            }
            Part::Name if b == 0 => self.part = self.after(Part::Name),
            Part::Comment if b == 0 => self.part = self.after(Part::Comment),
            Part::Hcrc(0) => self.part = Part::Hcrc(1),
            Part::Hcrc(_) => {
                let n = h.len();
                let want = crc32fast::hash(&h[..n - 2]) & 0xffff;
                if u32::from(u16::from_le_bytes([h[n - 2], h[n - 1]])) != want {
                    return Err(corrupt("the gzip header CRC does not match"));
                }
                self.part = Part::Body;
            }
            _ => {}
        }
        Ok(())
    }

    /// The header part after `part`, skipping the fields FLG says are absent.
    fn after(&self, part: Part) -> Part {
        let flg = self.header.get(3).copied().unwrap_or(0);
        let order = [
            (FEXTRA, Part::ExtraLen),
            (FNAME, Part::Name),
            (FCOMMENT, Part::Comment),
            (FHCRC, Part::Hcrc(0)),
        ];
        let start = match part {
            Part::Fixed => 0,
            Part::Extra(_) => 1,
            Part::Name => 2,
            Part::Comment => 3,
            _ => 4,
        };
        order[start..]
            .iter()
            .find(|(bit, _)| flg & bit != 0)
            .map_or(Part::Body, |(_, p)| *p)
    }
}
