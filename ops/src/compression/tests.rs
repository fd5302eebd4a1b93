//! Round trips through the ops, interop with other compressors' output, and a bomb.

use std::sync::atomic::AtomicU32;

use super::*;
use crate::state::OpState;
use crate::ErrorKind;

const GZIP_SAMPLE: [u8; 35] = [
    31, 139, 8, 0, 0, 0, 0, 0, 0, 3, 75, 173, 40, 72, 77, 46, 73, 77, 81, 200, 47, 45, 41, 40, 45,
    1, 0, 176, 1, 57, 179, 15, 0, 0, 0,
];
const ZLIB_SAMPLE: [u8; 23] = [
    120, 156, 75, 173, 40, 72, 77, 46, 73, 77, 81, 200, 47, 45, 41, 40, 45, 1, 0, 48, 173, 6, 36,
];

fn op(ctx: &OpCtx<'_>, code: OpCode, parts: &[&[u8]]) -> OpResult<Vec<u8>> {
    crate::run(code as u32, &fields::encode(parts), ctx)
}

fn new(ctx: &OpCtx<'_>, code: OpCode, format: Format) -> u32 {
    let out = op(ctx, code, &[&(format as u32).to_le_bytes()]).expect("new");
    u32::from_le_bytes(out.try_into().expect("4 bytes"))
}

/// Feeds `chunks` through handle `h` as the prelude does; returns the output, or the error.
fn pump(
    ctx: &OpCtx<'_>,
    code: OpCode,
    h: u32,
    chunks: &[&[u8]],
    max_out: usize,
) -> OpResult<Vec<u8>> {
    let mut all = Vec::new();
    let n = chunks.len();
    for (k, chunk) in chunks.iter().enumerate() {
        let finish = u32::from(k + 1 == n);
        let mut rest: &[u8] = chunk;
        loop {
            let out = op(ctx, code, &[&h.to_le_bytes(), rest, &finish.to_le_bytes()])?;
            let f = Fields::parse(&out)?;
            let consumed = f.u32(0)? as usize;
            let flags = f.u32(1)?;
            let bytes = f.bytes(2)?;
            assert!(bytes.len() <= MAX_CALL_OUTPUT + 18, "one answer is bounded");
            if all.len() + bytes.len() > max_out {
                return Err(OpError::new(
                    ErrorKind::RangeError,
                    "output over the test's limit",
                ));
            }
            all.extend_from_slice(bytes);
            rest = &rest[consumed..];
            if flags & MORE == 0 && rest.is_empty() {
                break;
            }
        }
    }
    Ok(all)
}

fn text(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| b"the quick brown fox "[i % 20] ^ (i / 977) as u8)
        .collect()
}

#[test]
fn round_trips_in_every_format_and_split() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    let data = text(3 << 20);
    for format in [Format::Deflate, Format::DeflateRaw, Format::Gzip] {
        let c = new(&ctx, OpCode::CompressNew, format);
        let pieces: Vec<&[u8]> = data.chunks(700_001).collect();
        let packed = pump(&ctx, OpCode::CompressWrite, c, &pieces, usize::MAX).expect("compress");
        assert!(packed.len() < data.len() / 2);
        if format == Format::Deflate {
            let plain = miniz_oxide::inflate::decompress_to_vec_zlib(&packed).expect("zlib");
            assert_eq!(plain, data);
        }
        for split in [1, 7, 4096] {
            let d = new(&ctx, OpCode::DecompressNew, format);
            let pieces: Vec<&[u8]> = packed.chunks(packed.len() / split + 1).collect();
            let plain =
                pump(&ctx, OpCode::DecompressWrite, d, &pieces, usize::MAX).expect("decompress");
            assert_eq!(plain.len(), data.len());
            assert!(plain == data, "{format:?} split {split}");
            op(&ctx, OpCode::Free, &[&d.to_le_bytes()]).expect("free");
        }
        op(&ctx, OpCode::Free, &[&c.to_le_bytes()]).expect("free");
    }
    assert_eq!(st.usage(), (0, 0));
}

#[test]
fn other_compressors_output_and_corruption() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    for (format, sample) in [
        (Format::Gzip, &GZIP_SAMPLE[..]),
        (Format::Deflate, &ZLIB_SAMPLE[..]),
    ] {
        let d = new(&ctx, OpCode::DecompressNew, format);
        let out = pump(&ctx, OpCode::DecompressWrite, d, &[sample], 1 << 20).expect("sample");
        assert_eq!(out, b"expected output");
        // Truncated, padded, a flipped checksum byte: all TypeErrors.
        let mut padded = sample.to_vec();
        padded.push(0);
        let mut flipped = sample.to_vec();
        let last = flipped.len() - 5;
        flipped[last] ^= 1;
        for bad in [&sample[..sample.len() - 1], &padded[..], &flipped[..]] {
            let d = new(&ctx, OpCode::DecompressNew, format);
            let e = pump(&ctx, OpCode::DecompressWrite, d, &[bad], 1 << 20).expect_err("bad");
            assert_eq!(e.kind, ErrorKind::TypeError, "{format:?} {bad:?}");
        }
    }
}

#[test]
fn a_bomb_is_bounded_per_call_and_stops_at_the_callers_limit() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    // 256 MiB of zeros, gzipped in 1 MiB steps: about 256 KiB.
    let c = new(&ctx, OpCode::CompressNew, Format::Gzip);
    let zeros = vec![0u8; 1 << 20];
    let chunks: Vec<&[u8]> = std::iter::repeat_n(&zeros[..], 256).collect();
    let bomb = pump(&ctx, OpCode::CompressWrite, c, &chunks, usize::MAX).expect("bomb");
    assert!(bomb.len() < 400 << 10, "{}", bomb.len());
    let d = new(&ctx, OpCode::DecompressNew, Format::Gzip);
    let e = pump(&ctx, OpCode::DecompressWrite, d, &[&bomb], 64 << 20).expect_err("limit");
    assert_eq!(e.kind, ErrorKind::RangeError);
    // Unbounded by the caller, it inflates in full, one capped answer at a time.
    let d = new(&ctx, OpCode::DecompressNew, Format::Gzip);
    let all = pump(&ctx, OpCode::DecompressWrite, d, &[&bomb], usize::MAX).expect("all");
    assert_eq!(all.len(), 256 << 20);
}

#[test]
fn handles_are_typed_and_capped() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    let c = new(&ctx, OpCode::CompressNew, Format::Gzip);
    let e = op(
        &ctx,
        OpCode::DecompressWrite,
        &[&c.to_le_bytes(), b"", &[0; 4]],
    )
    .expect_err("a compressor is no decompressor");
    assert_eq!(e.kind, ErrorKind::TypeError);
    let mut n = 1;
    let e = loop {
        match op(&ctx, OpCode::CompressNew, &[&0u32.to_le_bytes()]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(e.kind, ErrorKind::QuotaExceeded);
    assert_eq!(n, crate::state::MAX_STATE_BYTES / deflate::COST);
    let e = op(&ctx, OpCode::CompressNew, &[&9u32.to_le_bytes()]).expect_err("format");
    assert_eq!(e.kind, ErrorKind::TypeError);
}

/// Writes `chunk` through compressor `h` with `flush` (0 none, 1 finish, 2 sync), as the prelude
/// does (again while the answer says MORE); the output.
fn write_through(ctx: &OpCtx<'_>, h: u32, chunk: &[u8], flush: u32) -> Vec<u8> {
    let mut all = Vec::new();
    let mut rest = chunk;
    loop {
        let out = op(
            ctx,
            OpCode::CompressWrite,
            &[&h.to_le_bytes(), rest, &flush.to_le_bytes()],
        )
        .expect("write");
        let f = Fields::parse(&out).expect("fields");
        let bytes = f.bytes(2).expect("output");
        assert!(bytes.len() <= MAX_CALL_OUTPUT + 18, "one answer is bounded");
        all.extend_from_slice(bytes);
        rest = &rest[f.u32(0).expect("consumed") as usize..];
        if f.u32(1).expect("flags") & MORE == 0 && rest.is_empty() {
            return all;
        }
    }
}

/// What a streaming brotli decoder makes of `packed` so far (it may be a prefix of a stream:
/// the decoder answers what it has, then runs out of input).
fn unbrotli(packed: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut r = ::brotli::Decompressor::new(packed, 4096);
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// What a streaming inflater makes of the raw deflate data in `packed` so far.
fn inflate_prefix(packed: &[u8]) -> Vec<u8> {
    use miniz_oxide::inflate::stream::{inflate, InflateState};
    use miniz_oxide::DataFormat;
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut out = vec![0; 1 << 22];
    let r = inflate(&mut state, packed, &mut out, miniz_oxide::MZFlush::None);
    assert!(
        r.status.is_ok() || r.status == Err(miniz_oxide::MZError::Buf),
        "{r:?}"
    );
    out.truncate(r.bytes_written);
    out
}

#[test]
fn brotli_round_trips_with_bounded_answers_both_ways() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    // Text, then bytes that do not compress: an answer stays within the cap either way.
    let mut data = text(3 << 20);
    let mut x: u32 = 1;
    data.extend((0..(3 << 20)).map(|_| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as u8
    }));
    let c = new(&ctx, OpCode::CompressNew, Format::Brotli);
    let pieces: Vec<&[u8]> = data.chunks(MAX_CALL_INPUT).collect();
    let packed = pump(&ctx, OpCode::CompressWrite, c, &pieces, usize::MAX).expect("compress");
    assert!(packed.len() < data.len() * 3 / 4, "{}", packed.len());
    assert!(unbrotli(&packed) == data, "brotli round trip");
    // Ended: more input is refused.
    let e = op(
        &ctx,
        OpCode::CompressWrite,
        &[&c.to_le_bytes(), b"more", &0u32.to_le_bytes()],
    );
    assert!(e.is_err());
    // The ops' own decoder gives it back, in odd pieces, each answer bounded (`pump`).
    let d = new(&ctx, OpCode::DecompressNew, Format::Brotli);
    let pieces: Vec<&[u8]> = packed.chunks(333_333).collect();
    let plain = pump(&ctx, OpCode::DecompressWrite, d, &pieces, usize::MAX).expect("decompress");
    assert!(plain == data, "brotli decompression round trip");
}

/// A brotli stream of `n` zero bytes, made by the `brotli` crate's encoder at quality 9.
fn brotli_zeros(n: usize) -> Vec<u8> {
    use std::io::Write;
    let mut w = ::brotli::CompressorWriter::new(Vec::new(), 4096, 9, 22);
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..n >> 20 {
        w.write_all(&zeros).expect("compress");
    }
    w.into_inner()
}

#[test]
fn brotli_decompression_bounds_a_bomb_and_refuses_bad_input() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    // 256 MiB of zeros packs into a few hundred bytes; each answer stays within the cap, and the
    // caller stops when it has enough (here at 64 MiB, as the isolate's memory limit would).
    let bomb = brotli_zeros(1 << 28);
    assert!(bomb.len() < 4096, "{}", bomb.len());
    let d = new(&ctx, OpCode::DecompressNew, Format::Brotli);
    let e = pump(&ctx, OpCode::DecompressWrite, d, &[&bomb], 64 << 20).expect_err("stopped");
    assert_eq!(e.kind, ErrorKind::RangeError);
    op(&ctx, OpCode::Free, &[&d.to_le_bytes()]).expect("free");
    // Corrupt, truncated, and trailing data.
    let good = brotli_zeros(1 << 20);
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    bad[1] ^= 0x55;
    for (input, why) in [
        (&bad[..], "corrupt"),
        (&good[..good.len() - 1], "truncated"),
        (&[&good[..], b"x"].concat()[..], "trailing"),
        (
            &[0x11u8, 0x01, 0x8c, 0xc1, 0xc5][..],
            "a large-window header",
        ),
    ] {
        let d = new(&ctx, OpCode::DecompressNew, Format::Brotli);
        let e = pump(&ctx, OpCode::DecompressWrite, d, &[input], usize::MAX).expect_err(why);
        assert_eq!(e.kind, ErrorKind::TypeError, "{why}: {e:?}");
    }
}

#[test]
fn a_sync_flush_makes_everything_written_so_far_decodable() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    for format in [Format::Gzip, Format::Brotli] {
        let c = new(&ctx, OpCode::CompressNew, format);
        let mut packed = Vec::new();
        let mut plain = Vec::new();
        for i in 0..5 {
            let event = format!("data: event {i}\n\n");
            plain.extend_from_slice(event.as_bytes());
            packed.extend(write_through(&ctx, c, event.as_bytes(), 2));
            let so_far = match format {
                Format::Brotli => unbrotli(&packed),
                _ => inflate_prefix(&packed[10..]),
            };
            assert_eq!(so_far, plain, "{format:?}: event {i} is decodable at once");
        }
        // A flush of a large piece is whole too, whatever it takes.
        let big = text(3 << 20);
        for piece in big.chunks(MAX_CALL_INPUT) {
            plain.extend_from_slice(piece);
            packed.extend(write_through(&ctx, c, piece, 2));
        }
        let so_far = match format {
            Format::Brotli => unbrotli(&packed),
            _ => inflate_prefix(&packed[10..]),
        };
        assert!(
            so_far == plain,
            "{format:?}: a large flushed piece is decodable: {} of {}",
            so_far.len(),
            plain.len()
        );
        packed.extend(write_through(&ctx, c, b"", 1));
        match format {
            Format::Brotli => assert!(unbrotli(&packed) == plain),
            _ => {
                let whole = miniz_oxide::inflate::decompress_to_vec(&packed[10..packed.len() - 8])
                    .expect("gzip body");
                assert!(whole == plain);
            }
        }
    }
}

/// `n` bytes of `text` brotli-compressed by the `brotli` crate's encoder with window `lgwin`.
fn brotli_window(n: usize, lgwin: u32) -> Vec<u8> {
    use std::io::Write;
    let mut w = ::brotli::CompressorWriter::new(Vec::new(), 4096, 5, lgwin);
    w.write_all(&text(n)).expect("compress");
    w.into_inner()
}

#[test]
fn a_streams_first_byte_says_the_window_its_encoder_used() {
    for lgwin in 10..=24 {
        let packed = brotli_window(1000, lgwin);
        assert_eq!(
            unbrotli::window_bits(packed[0]),
            Some(lgwin),
            "window 2^{lgwin}"
        );
    }
    // The large-window marker (the header of the refused sample above).
    assert_eq!(unbrotli::window_bits(0x11), None);
}

#[test]
fn a_brotli_decoder_declares_its_streams_window_before_reading_it() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    let data = text(1 << 20);
    let small = brotli_window(1 << 20, 22); // a 4 MiB window, quality 11's default
    let large = brotli_window(1 << 20, 24);
    // Made: its tables only.
    let a = new(&ctx, OpCode::DecompressNew, Format::Brotli);
    assert_eq!(st.usage(), (1, unbrotli::TABLES));
    // An empty write declares nothing; the first byte declares the window, once.
    pump(
        &ctx,
        OpCode::DecompressWrite,
        a,
        &[&[][..], &small[..1]],
        usize::MAX,
    )
    .expect_err("truncated at the finish");
    assert_eq!(st.usage(), (0, 0), "a failed decoder is freed");
    let mut held = Vec::new();
    for k in 1..=4 {
        let d = new(&ctx, OpCode::DecompressNew, Format::Brotli);
        let out = op(
            &ctx,
            OpCode::DecompressWrite,
            &[
                &d.to_le_bytes(),
                &small[..small.len() / 2],
                &0u32.to_le_bytes(),
            ],
        )
        .expect("half a stream");
        let first = Fields::parse(&out)
            .expect("fields")
            .bytes(2)
            .expect("out")
            .to_vec();
        assert!(!first.is_empty());
        assert_eq!(st.usage(), (k, k * (unbrotli::TABLES + (4 << 20))));
        held.push((d, first));
    }
    // Four streams of a 4 MiB window are open at once (at the largest window's cost, only one
    // was); a stream of the largest window does not fit beside them, and fails before the
    // decoder reads it.
    let d = new(&ctx, OpCode::DecompressNew, Format::Brotli);
    let e = pump(&ctx, OpCode::DecompressWrite, d, &[&large], usize::MAX).expect_err("no room");
    assert_eq!(e.kind, ErrorKind::QuotaExceeded, "{e:?}");
    for (d, first) in held.drain(..) {
        let rest = pump(
            &ctx,
            OpCode::DecompressWrite,
            d,
            &[&small[small.len() / 2..]],
            usize::MAX,
        )
        .expect("the rest");
        assert!([first, rest].concat() == data, "each stream decodes whole");
        op(&ctx, OpCode::Free, &[&d.to_le_bytes()]).expect("free");
    }
    assert_eq!(st.usage(), (0, 0));
    // Alone, the largest window fits, declared at its full cost.
    let d = new(&ctx, OpCode::DecompressNew, Format::Brotli);
    let plain = pump(&ctx, OpCode::DecompressWrite, d, &[&large], usize::MAX).expect("alone");
    assert!(plain == data);
    assert_eq!(st.usage(), (1, unbrotli::COST));
}

#[test]
fn after_its_end_a_node_decoder_reads_members_and_drops_trailers_a_bounded_number_per_call() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = OpCtx::with_state(&flag, &st);
    let node = |format: Format| {
        let out = op(
            &ctx,
            OpCode::DecompressNew,
            &[&(format as u32).to_le_bytes(), &1u32.to_le_bytes()],
        )
        .expect("new");
        u32::from_le_bytes(out.try_into().expect("4 bytes"))
    };
    // Members past MEMBERS_PER_CALL in one write: each call begins at most that many of them.
    let count = 2 * inflate::MEMBERS_PER_CALL + 5;
    let many: Vec<u8> = GZIP_SAMPLE.repeat(count);
    let h = node(Format::Gzip);
    let mut rest: &[u8] = &many;
    let mut calls = 0;
    let mut all = Vec::new();
    loop {
        let out = op(
            &ctx,
            OpCode::DecompressWrite,
            &[&h.to_le_bytes(), rest, &1u32.to_le_bytes()],
        )
        .expect("decoded");
        let f = Fields::parse(&out).expect("fields");
        rest = &rest[f.u32(0).expect("consumed") as usize..];
        all.extend_from_slice(f.bytes(2).expect("output"));
        calls += 1;
        if f.u32(1).expect("flags") & MORE == 0 && rest.is_empty() {
            break;
        }
    }
    assert_eq!(all, b"expected output".repeat(count));
    assert!(calls >= 3, "{calls} calls");
    // A 0x00 after a member: it and everything after are dropped; so is what follows a zlib or
    // brotli stream.
    let zeros = [&GZIP_SAMPLE[..], &[0, 0x1f, 0x8b, 9, 9]].concat();
    let h = node(Format::Gzip);
    assert_eq!(
        pump(&ctx, OpCode::DecompressWrite, h, &[&zeros], 1 << 20).expect("ok"),
        b"expected output"
    );
    let trailing = [&ZLIB_SAMPLE[..], b"xyz"].concat();
    let h = node(Format::Deflate);
    assert_eq!(
        pump(&ctx, OpCode::DecompressWrite, h, &[&trailing], 1 << 20).expect("ok"),
        b"expected output"
    );
    // Another member that is not gzip, or cut short, is an error as the first would be.
    let bad = [&GZIP_SAMPLE[..], b"no"].concat();
    let h = node(Format::Gzip);
    let e = pump(&ctx, OpCode::DecompressWrite, h, &[&bad], 1 << 20).expect_err("not gzip");
    assert!(e.message.contains("bad magic number"), "{}", e.message);
    let cut = [&GZIP_SAMPLE[..], &GZIP_SAMPLE[..20]].concat();
    let h = node(Format::Gzip);
    let e = pump(&ctx, OpCode::DecompressWrite, h, &[&cut], 1 << 20).expect_err("truncated");
    assert!(e.message.contains("truncated"), "{}", e.message);
    // The default refuses any of it.
    let h = new(&ctx, OpCode::DecompressNew, Format::Gzip);
    let e = pump(&ctx, OpCode::DecompressWrite, h, &[&zeros], 1 << 20).expect_err("refused");
    assert!(e.message.contains("after the end"), "{}", e.message);
}
