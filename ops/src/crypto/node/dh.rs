//! node:crypto's finite-field Diffie-Hellman (`createDiffieHellman`, `getDiffieHellman`) on
//! crypto-bigint (the big integers under rsa), with Node's (OpenSSL's) rules: primes of at most
//! [`MAX_PRIME_BITS`] bits (OpenSSL's OPENSSL_DH_MAX_MODULUS_BITS), a peer key in 2..p-2
//! ("Supplied key is too small/large"), keys made and used only with primes of at least 512 bits
//! ("modulus too small", as OpenSSL's DH_MIN_MODULUS_BITS), the shared secret left-padded to the prime's length,
//! public and private keys as minimal big-endian bytes.
//!
//! DhGroup(index) -> prime (dh_groups.rs); DhCheck(prime, generator) -> verifyError (OpenSSL's
//! DH_check flags: 0x01 not prime, 0x02 not a safe prime, 0x08 unsuitable generator, 0x80 too
//! small, 0x100 too large); DhKeys(prime, generator, private) -> [private, public] (an empty
//! private: a fresh one of the prime's bits less one); DhCompute(prime, private, peer) -> secret;
//! DhPrime(bits) -> a fresh safe prime.
//!
//! Bounded time: a modular exponentiation runs 64 exponent bits at a time (about 1 ms at 8192
//! bits) with a termination check between them; a safe-prime search checks before each candidate;
//! DhCheck's primality tests (crypto-primes' Baillie-PSW, one uninterrupted call each) run only on
//! primes of at most [`MAX_CHECKED_BITS`] bits (tens of ms at that size): a larger prime, which no
//! group or generated prime reaches, is reported as one whose primality could not be checked
//! (flag 0x01 is not set, as for the MODP groups whose primality is known).
//!
//! Trusts: crypto-bigint, crypto-primes.

use std::num::NonZeroU32;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BitOps, BoxedUint, RandomBits, Resize};
use crypto_primes::hazmat::SmallFactorsSieve;
use crypto_primes::{is_prime, Flavor};

use super::super::rng::{self, SysRng};
use super::dh_groups::GROUPS;
use crate::{fields, ErrorKind, OpCtx, OpError, OpResult};

/// The largest prime accepted (OpenSSL's limit).
pub const MAX_PRIME_BITS: u32 = 10_000;
/// The largest prime DhCheck tests for primality.
pub const MAX_CHECKED_BITS: u32 = 4096;

fn too_big() -> OpError {
    OpError::new(ErrorKind::RangeError, "modulus too large")
}

/// The prime of MODP group `index` (dh_groups.rs order).
pub(crate) fn group(index: u32) -> OpResult<Vec<u8>> {
    let (_, hex) = GROUPS
        .get(index as usize)
        .ok_or_else(|| OpError::type_error("unknown group"))?;
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&hex[i..i + 2], 16)
                .map_err(|_| OpError::operation("bad group constant"))
        })
        .collect()
}

/// A number of the prime's precision from big-endian bytes.
fn number(bytes: &[u8], bits: u32) -> OpResult<BoxedUint> {
    let trimmed = &bytes[bytes.iter().take_while(|b| **b == 0).count()..];
    if trimmed.len() as u64 * 8 > u64::from(bits) + 7 {
        return Err(OpError::new(
            ErrorKind::RangeError,
            "Supplied key is too large",
        ));
    }
    let wide = BoxedUint::from_be_slice_vartime(trimmed);
    if wide.bit_width() > bits {
        return Err(OpError::new(
            ErrorKind::RangeError,
            "Supplied key is too large",
        ));
    }
    Ok(wide.resize(bits))
}

/// The checked prime: odd, of at most MAX_PRIME_BITS bits, with its Montgomery parameters.
struct Prime {
    p: BoxedUint,
    bits: u32,
    params: BoxedMontyParams,
}

fn prime(bytes: &[u8]) -> OpResult<Prime> {
    let trimmed = &bytes[bytes.iter().take_while(|b| **b == 0).count()..];
    if trimmed.len() as u64 * 8 > u64::from(MAX_PRIME_BITS) + 7 {
        return Err(too_big());
    }
    let p = BoxedUint::from_be_slice_vartime(trimmed);
    let bits = p.bit_width();
    if bits > MAX_PRIME_BITS {
        return Err(too_big());
    }
    if bits < 3 {
        return Err(OpError::new(ErrorKind::RangeError, "bits too small"));
    }
    let odd = Option::<crypto_bigint::Odd<BoxedUint>>::from(p.to_odd())
        .ok_or_else(|| OpError::operation("the prime is even"))?;
    Ok(Prime {
        params: BoxedMontyParams::new(odd),
        bits: p.bits_precision(),
        p,
    })
}

/// `base^exp mod p`, 64 exponent bits at a time with a termination check between them.
fn pow(p: &Prime, base: &BoxedUint, exp: &BoxedUint, ctx: &OpCtx<'_>) -> OpResult<BoxedUint> {
    let base = BoxedMontyForm::new(base.clone(), &p.params);
    let mut acc = BoxedMontyForm::one(&p.params);
    let limbs = exp.as_words();
    for (i, word) in limbs.iter().enumerate().rev() {
        ctx.check()?;
        if i + 1 < limbs.len() {
            for _ in 0..64 {
                acc = acc.square();
            }
        }
        let chunk = BoxedUint::from(*word);
        acc = acc.mul(&base.pow_bounded_exp(&chunk, 64));
    }
    Ok(acc.retrieve())
}

fn trimmed(n: &BoxedUint) -> Vec<u8> {
    let bytes = n.to_be_bytes_trimmed_vartime().to_vec();
    if bytes.is_empty() {
        vec![0]
    } else {
        bytes
    }
}

/// DhCheck: see the module comment.
pub(crate) fn check(prime_bytes: &[u8], generator: &[u8], ctx: &OpCtx<'_>) -> OpResult<u32> {
    let p = prime(prime_bytes)?;
    let g = BoxedUint::from_be_slice_vartime(
        &generator[generator.iter().take_while(|b| **b == 0).count()..],
    );
    let mut flags = 0;
    let p_minus_1 = p.p.wrapping_sub(BoxedUint::one());
    if g.bit_width() <= 1 || g.bit_width() > p.p.bit_width() || g.resize(p.bits) >= p_minus_1 {
        flags |= 0x08;
    }
    if p.p.bit_width() < 512 {
        flags |= 0x80;
    }
    if group_index(&p.p).is_some() || p.p.bit_width() > MAX_CHECKED_BITS {
        return Ok(flags);
    }
    ctx.check()?;
    if !is_prime(Flavor::Any, &p.p) {
        return Ok(flags | 0x01);
    }
    ctx.check()?;
    if !is_prime(Flavor::Safe, &p.p) {
        flags |= 0x02;
    }
    Ok(flags)
}

fn group_index(p: &BoxedUint) -> Option<usize> {
    let bytes = p.to_be_bytes_trimmed_vartime();
    (0..GROUPS.len()).find(|i| group(*i as u32).is_ok_and(|g| g[..] == bytes[..]))
}

/// A prime keys are made with: at least 512 bits (OpenSSL's DH_MIN_MODULUS_BITS).
fn usable_prime(bytes: &[u8]) -> OpResult<Prime> {
    let p = prime(bytes)?;
    if p.p.bit_width() < 512 {
        return Err(OpError::new(ErrorKind::RangeError, "modulus too small"));
    }
    Ok(p)
}

/// DhKeys: see the module comment.
pub(crate) fn keys(
    prime_bytes: &[u8],
    generator: &[u8],
    private: &[u8],
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    let p = usable_prime(prime_bytes)?;
    let g = number(generator, p.bits)?;
    let x = if private.is_empty() {
        // A random exponent of the prime's bits less one, not zero or one.
        loop {
            let mut bytes = vec![0u8; (p.p.bit_width() as usize).div_ceil(8)];
            rng::fill(&mut bytes);
            let mut x = BoxedUint::from_be_slice_vartime(&bytes).resize(p.bits);
            for bit in p.p.bit_width().saturating_sub(1)..p.bits {
                BitOps::set_bit_vartime(&mut x, bit, false);
            }
            if x.bit_width() > 1 {
                break x;
            }
        }
    } else {
        number(private, p.bits)?
    };
    let y = pow(&p, &g, &x, ctx)?;
    Ok(fields::encode(&[&trimmed(&x), &trimmed(&y)]))
}

/// DhCompute: see the module comment.
pub(crate) fn compute(
    prime_bytes: &[u8],
    private: &[u8],
    peer: &[u8],
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    let p = usable_prime(prime_bytes)?;
    let x = number(private, p.bits)?;
    let y = number(peer, p.bits)?;
    let p_minus_1 = p.p.wrapping_sub(BoxedUint::one());
    if y.bit_width() <= 1 {
        return Err(OpError::new(
            ErrorKind::RangeError,
            "Supplied key is too small",
        ));
    }
    if y >= p_minus_1 {
        return Err(OpError::new(
            ErrorKind::RangeError,
            "Supplied key is too large",
        ));
    }
    let z = pow(&p, &y, &x, ctx)?;
    let len = (p.p.bit_width() as usize).div_ceil(8);
    let bytes = trimmed(&z);
    let mut out = vec![0u8; len.saturating_sub(bytes.len())];
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// DhPrime: a safe prime of `bits` bits (2..=MAX_PRIME_BITS), checking for termination before
/// each candidate's test.
pub(crate) fn generate_prime(bits: u32, ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    if !(16..=MAX_PRIME_BITS).contains(&bits) {
        return Err(OpError::new(ErrorKind::RangeError, "bits too small"));
    }
    let width = NonZeroU32::new(bits).ok_or_else(|| OpError::operation("bad prime size"))?;
    loop {
        ctx.check()?;
        let Ok(mut start) = BoxedUint::try_random_bits(&mut SysRng, bits) else {
            return Err(OpError::operation("cannot draw a random candidate"));
        };
        BitOps::set_bit_vartime(&mut start, bits - 1, true);
        let sieve = SmallFactorsSieve::new(start, width, true)
            .map_err(|_| OpError::operation("cannot sieve for a prime"))?;
        for candidate in sieve {
            ctx.check()?;
            if is_prime(Flavor::Safe, &candidate) {
                return Ok(trimmed(&candidate));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn pair(out: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let f = fields::Fields::parse(out).expect("fields");
        (
            f.bytes(0).expect("x").to_vec(),
            f.bytes(1).expect("y").to_vec(),
        )
    }

    #[test]
    fn both_sides_agree_on_a_group_and_bad_peers_are_refused() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let p = group(3).expect("modp14");
        assert_eq!(p.len(), 256);
        let (a, a_pub) = pair(&keys(&p, &[2], &[], &ctx).expect("a"));
        let (b, b_pub) = pair(&keys(&p, &[2], &[], &ctx).expect("b"));
        let s = compute(&p, &a, &b_pub, &ctx).expect("ab");
        assert_eq!(s.len(), 256);
        assert_eq!(s, compute(&p, &b, &a_pub, &ctx).expect("ba"));
        assert!(compute(&p, &a, &[1], &ctx).is_err());
        assert!(compute(&p, &a, &p, &ctx).is_err());
        // 2^10 mod p is 1024: the exponentiation is right.
        assert_eq!(pair(&keys(&p, &[2], &[10], &ctx).expect("k")).1, vec![4, 0]);
        assert_eq!(check(&p, &[2], &ctx).expect("check"), 0);
        assert_eq!(check(&[23], &[5], &ctx).expect("23"), 0x80);
        assert_eq!(check(&[21], &[2], &ctx).expect("21"), 0x81);
    }

    #[test]
    fn a_terminated_isolate_stops_an_exponentiation() {
        let flag = AtomicU32::new(1);
        let ctx = OpCtx::new(&flag);
        let p = group(7).expect("modp18");
        let e = keys(&p, &[2], &[], &ctx).expect_err("cancelled");
        assert_eq!(e.kind, ErrorKind::Cancelled);
    }
}
