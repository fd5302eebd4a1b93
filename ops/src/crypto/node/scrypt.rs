//! scrypt (RFC 7914) for node:crypto's `scrypt`/`scryptSync`: PBKDF2-HMAC-SHA256, then ROMix on
//! each of the p lanes with Salsa20/8 (the salsa20 crate's core, as the scrypt crate uses it),
//! then PBKDF2 again. ROMix is the scrypt crate's loop, written here so that it can stop: it
//! checks for termination every [`CHECK_EVERY`] BlockMix calls (well under a millisecond at
//! Node's default r = 8), so a huge N or p ends as the request's CPU limit, never a hang.
//! Checked against the scrypt crate and RFC 7914's vectors (tests below).
//!
//! Memory: the prelude applies Node's `maxmem` rule first (ERR_CRYPTO_INVALID_SCRYPT_PARAMS);
//! here V (128 * N * r bytes) is refused above [`MAX_V_BYTES`] whatever maxmem says.
//!
//! Trusts: salsa20, hmac, sha2.

use salsa20::cipher::typenum::U4;
use salsa20::cipher::StreamCipherCore;
use salsa20::SalsaCore;

use super::digest::pbkdf2;
use crate::{ErrorKind, OpCtx, OpError, OpResult};

/// The largest V one call may allocate (it counts against the worker process's memory, not the
/// isolate's heap): 256 MiB, eight times Node's default maxmem.
pub const MAX_V_BYTES: u64 = 256 << 20;
/// BlockMix calls between two termination checks.
const CHECK_EVERY: usize = 1024;
const SHA256: u32 = 2;

fn params_error(m: &str) -> OpError {
    OpError::new(ErrorKind::RangeError, format!("Invalid scrypt params: {m}"))
}

fn block_mix(input: &[u8], output: &mut [u8]) {
    let mut x = [0u8; 64];
    x.copy_from_slice(&input[input.len() - 64..]);
    let half = input.len() / 2;
    for (i, chunk) in input.chunks(64).enumerate() {
        let mut words = [0u32; 16];
        for (k, w) in words.iter_mut().enumerate() {
            let at = 4 * k;
            *w = u32::from_le_bytes([
                x[at] ^ chunk[at],
                x[at + 1] ^ chunk[at + 1],
                x[at + 2] ^ chunk[at + 2],
                x[at + 3] ^ chunk[at + 3],
            ]);
        }
        SalsaCore::<U4>::from_raw_state(words).write_keystream_block((&mut x).into());
        let pos = if i % 2 == 0 {
            (i / 2) * 64
        } else {
            (i / 2) * 64 + half
        };
        output[pos..pos + 64].copy_from_slice(&x);
    }
}

fn ro_mix(b: &mut [u8], v: &mut [u8], t: &mut [u8], n: usize, ctx: &OpCtx<'_>) -> OpResult<()> {
    let len = b.len();
    for (i, chunk) in v.chunks_mut(len).enumerate() {
        if i % CHECK_EVERY == 0 {
            ctx.check()?;
        }
        chunk.copy_from_slice(b);
        block_mix(chunk, b);
    }
    for i in 0..n {
        if i % CHECK_EVERY == 0 {
            ctx.check()?;
        }
        let at = len - 64;
        let j = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize & (n - 1);
        for ((o, x), y) in t.iter_mut().zip(b.iter()).zip(&v[j * len..(j + 1) * len]) {
            *o = x ^ y;
        }
        block_mix(t, b);
    }
    Ok(())
}

/// scrypt of `password` and `salt` with cost `n` (a power of two above 1), block size `r` and
/// parallelism `p`, `len` bytes.
pub(crate) fn scrypt(
    password: &[u8],
    salt: &[u8],
    n: u32,
    r: u32,
    p: u32,
    len: u32,
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    if n < 2 || !n.is_power_of_two() {
        return Err(params_error("N must be a power of 2 greater than 1"));
    }
    if r == 0 || p == 0 || u64::from(r) * u64::from(p) >= 1 << 30 {
        return Err(params_error("r and p must be positive and r * p < 2^30"));
    }
    let v_bytes = 128 * u64::from(n) * u64::from(r);
    let b_bytes = 128 * u64::from(r) * u64::from(p);
    if v_bytes > MAX_V_BYTES || b_bytes > MAX_V_BYTES {
        return Err(params_error("memory limit exceeded"));
    }
    let lane = 128 * r as usize;
    let mut b = pbkdf2(SHA256, password, salt, 1, b_bytes as u32, ctx)?;
    let mut v = vec![0u8; v_bytes as usize];
    let mut t = vec![0u8; lane];
    for chunk in b.chunks_mut(lane) {
        ro_mix(chunk, &mut v, &mut t, n as usize, ctx)?;
    }
    pbkdf2(SHA256, password, &b, 1, len, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_hex as hex;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn rfc_7914_vectors_and_the_scrypt_crate_agree() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        assert_eq!(
            scrypt(b"", b"", 16, 1, 1, 64, &ctx).expect("scrypt"),
            hex("77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906")
        );
        assert_eq!(
            scrypt(b"password", b"NaCl", 1024, 8, 16, 64, &ctx).expect("scrypt"),
            hex("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
        );
        for (log_n, r, p) in [(4u8, 1u32, 1u32), (5, 2, 3), (10, 8, 1), (3, 4, 2)] {
            let want = {
                let mut out = [0u8; 40];
                let params = ::scrypt::Params::new(log_n, r, p).expect("params");
                ::scrypt::scrypt(b"pw", b"salty", &params, &mut out).expect("crate");
                out.to_vec()
            };
            assert_eq!(
                scrypt(b"pw", b"salty", 1 << log_n, r, p, 40, &ctx).expect("ours"),
                want
            );
        }
    }

    #[test]
    fn bad_params_and_cancellation() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        for (n, r, p) in [
            (3, 1, 1),
            (1, 1, 1),
            (16, 0, 1),
            (16, 1, 0),
            (1 << 30, 8, 1),
        ] {
            assert_eq!(
                scrypt(b"", b"", n, r, p, 8, &ctx).expect_err("bad").kind,
                ErrorKind::RangeError
            );
        }
        let stopped = AtomicU32::new(1);
        let e = scrypt(b"", b"", 1 << 16, 8, 1, 8, &OpCtx::new(&stopped)).expect_err("cancelled");
        assert_eq!(e.kind, ErrorKind::Cancelled);
    }
}
