//! RSASSA-PKCS1-v1_5, RSA-PSS and RSA-OAEP (rsa 0.10 on crypto-bigint: constant-time private-key
//! operations, with blinding, free of the Marvin timing attack of earlier versions). Moduli of
//! 1024 to [`MAX_MODULUS_BITS`] bits; public exponents of at most 33 bits (the rsa crate's
//! bound), and 3 or 65537 for generated keys.
//!
//! Key generation is the rsa crate's own procedure (two primes of half the size with their top
//! two bits set, found by crypto-primes' small-factor sieve and Baillie-PSW test, then
//! `from_p_q`), driven from here so that it checks for termination before every candidate's
//! primality test: its running time is random and, at 4096 bits, often longer than a request's
//! CPU limit; with the check the request ends as that limit instead of running on past the
//! watchdog's grace.

use std::num::NonZeroU32;

use crypto_bigint::{BitOps, BoxedUint, RandomBits};
use crypto_primes::hazmat::SmallFactorsSieve;
use crypto_primes::{is_prime, Flavor};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{Oaep, Pkcs1v15Sign, PrivateKey, Pss, PublicKey};

use super::hash::{prehash, with_hash, Hash};
use super::rng::SysRng;
use crate::{OpCtx, OpError, OpResult};

/// The largest modulus generated or imported: one private-key operation at 4096 bits takes about
/// 10 ms; larger keys are NotSupportedError.
pub const MAX_MODULUS_BITS: usize = 4096;
const MIN_MODULUS_BITS: usize = 1024;

fn bad_private() -> OpError {
    OpError::data("not a valid RSA private key")
}
fn bad_public() -> OpError {
    OpError::data("not a valid RSA public key")
}
fn encode_failed() -> OpError {
    OpError::operation("the key could not be encoded")
}

fn check_size(bits: usize) -> OpResult<()> {
    if bits > MAX_MODULUS_BITS {
        return Err(OpError::not_supported(format!(
            "RSA moduli of more than {MAX_MODULUS_BITS} bits are not supported"
        )));
    }
    if bits < MIN_MODULUS_BITS {
        return Err(OpError::data(format!(
            "RSA moduli of fewer than {MIN_MODULUS_BITS} bits are not supported"
        )));
    }
    Ok(())
}

pub(crate) fn private_key(der: &[u8]) -> OpResult<PrivateKey> {
    let key = PrivateKey::from_pkcs8_der(der).map_err(|_| bad_private())?;
    check_size(key.n().bit_width() as usize)?;
    Ok(key)
}

pub(crate) fn public_key(der: &[u8]) -> OpResult<PublicKey> {
    let key = PublicKey::from_public_key_der(der).map_err(|_| bad_public())?;
    check_size(key.n().bit_width() as usize)?;
    Ok(key)
}

fn to_der(key: &PrivateKey) -> OpResult<(Vec<u8>, Vec<u8>)> {
    let private = key.to_pkcs8_der().map_err(|_| encode_failed())?;
    let public = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|_| encode_failed())?;
    Ok((private.as_bytes().to_vec(), public.as_bytes().to_vec()))
}

/// A prime of `bits` bits with its top two bits set.
fn prime(bits: u32, ctx: &OpCtx<'_>) -> OpResult<BoxedUint> {
    let width = NonZeroU32::new(bits).ok_or_else(|| OpError::operation("bad prime size"))?;
    loop {
        ctx.check()?;
        let Ok(mut start) = BoxedUint::try_random_bits(&mut SysRng, bits) else {
            return Err(OpError::operation("cannot draw a random candidate"));
        };
        BitOps::set_bit_vartime(&mut start, 0, true);
        BitOps::set_bit_vartime(&mut start, bits - 1, true);
        BitOps::set_bit_vartime(&mut start, bits - 2, true);
        let sieve = SmallFactorsSieve::new(start, width, false)
            .map_err(|_| OpError::operation("cannot sieve for a prime"))?;
        for candidate in sieve {
            ctx.check()?;
            if is_prime(Flavor::Any, &candidate) {
                return Ok(candidate);
            }
        }
    }
}

/// A fresh key pair of `bits` bits with public exponent `exponent` (big-endian): (PKCS#8, SPKI).
pub(crate) fn generate(
    bits: u32,
    exponent: &[u8],
    ctx: &OpCtx<'_>,
) -> OpResult<(Vec<u8>, Vec<u8>)> {
    let trimmed: Vec<u8> = exponent.iter().copied().skip_while(|b| *b == 0).collect();
    let e: u64 = match trimmed.as_slice() {
        [3] => 3,
        [1, 0, 1] => 65537,
        _ => return Err(OpError::operation("the public exponent must be 3 or 65537")),
    };
    if bits as usize > MAX_MODULUS_BITS {
        return Err(OpError::not_supported(format!(
            "RSA moduli of more than {MAX_MODULUS_BITS} bits are not supported"
        )));
    }
    if (bits as usize) < MIN_MODULUS_BITS || !bits.is_multiple_of(8) {
        return Err(OpError::operation(format!(
            "the modulus length must be a multiple of 8 from {MIN_MODULUS_BITS} to {MAX_MODULUS_BITS}"
        )));
    }
    loop {
        let p = prime(bits / 2, ctx)?;
        let q = prime(bits - bits / 2, ctx)?;
        ctx.check()?;
        if p == q {
            continue;
        }
        // from_p_q refuses a pair whose totient shares a factor with e: draw again.
        if let Ok(key) = PrivateKey::from_p_q(p, q, BoxedUint::from(e)) {
            if key.n().bit_width() == bits {
                return to_der(&key);
            }
        }
    }
}

/// scheme 0: RSASSA-PKCS1-v1_5; 1: RSA-PSS with `salt_len` (verify: 2, RSA-PSS with the salt's
/// length read from the signature, as node:crypto's RSA_PSS_SALTLEN_AUTO).
pub(crate) fn sign(
    scheme: u32,
    hash: Hash,
    der: &[u8],
    salt_len: u32,
    data: &[u8],
) -> OpResult<Vec<u8>> {
    let key = private_key(der)?;
    let hashed = prehash(hash, data);
    let failed = |_| OpError::operation("RSA signing failed (is the salt too long for the key?)");
    with_hash!(hash, D => match scheme {
        0 => key.sign(Pkcs1v15Sign::new::<D>(), &hashed).map_err(failed),
        _ => key.sign_with_rng(&mut SysRng, Pss::<D>::new_with_salt(salt_len as usize), &hashed).map_err(failed),
    })
}

pub(crate) fn verify(
    scheme: u32,
    hash: Hash,
    der: &[u8],
    salt_len: u32,
    data: &[u8],
    sig: &[u8],
) -> OpResult<bool> {
    let key = public_key(der)?;
    let hashed = prehash(hash, data);
    with_hash!(hash, D => Ok(match scheme {
        0 => key.verify(Pkcs1v15Sign::new::<D>(), &hashed, sig).is_ok(),
        // node:crypto's RSA_PSS_SALTLEN_AUTO: the salt's length read from the signature.
        2 => {
            let mut pss = Pss::<D>::new();
            pss.salt_len = None;
            key.verify(pss, &hashed, sig).is_ok()
        }
        _ => key.verify(Pss::<D>::new_with_salt(salt_len as usize), &hashed, sig).is_ok(),
    }))
}

pub(crate) fn oaep(
    encrypt: bool,
    hash: Hash,
    der: &[u8],
    label: &[u8],
    data: &[u8],
) -> OpResult<Vec<u8>> {
    with_hash!(hash, D => {
        let padding = Oaep::<D>::new_with_label(label.to_vec());
        if encrypt {
            public_key(der)?
                .encrypt(&mut SysRng, padding, data)
                .map_err(|_| OpError::operation("RSA-OAEP encryption failed (is the message too long for the key?)"))
        } else {
            private_key(der)?
                .decrypt_blinded(&mut SysRng, padding, data)
                .map_err(|_| OpError::operation("RSA-OAEP decryption failed"))
        }
    })
}

/// (canonical DER, modulus bits, public exponent) of a PKCS#8 (`private`) or SPKI key.
pub(crate) fn canonical(der: &[u8], private: bool) -> OpResult<(Vec<u8>, u32, Vec<u8>)> {
    if private {
        let key = private_key(der)?;
        let (p8, _) = to_der(&key)?;
        Ok((
            p8,
            key.n().bit_width(),
            key.e().to_be_bytes_trimmed_vartime().to_vec(),
        ))
    } else {
        let key = public_key(der)?;
        let spki = key.to_public_key_der().map_err(|_| encode_failed())?;
        Ok((
            spki.as_bytes().to_vec(),
            key.n().bit_width(),
            key.e().to_be_bytes_trimmed_vartime().to_vec(),
        ))
    }
}

fn uint(b: &BoxedUint) -> Vec<u8> {
    b.to_be_bytes_trimmed_vartime().to_vec()
}

/// JWK members n, e (and d, p, q, dp, dq, qi of a private key), big-endian without leading zeros.
pub(crate) fn jwk_parts(der: &[u8], private: bool) -> OpResult<Vec<Vec<u8>>> {
    if !private {
        let key = public_key(der)?;
        return Ok(vec![uint(key.n().as_ref()), uint(key.e())]);
    }
    let key = private_key(der)?;
    let [p, q] = key.primes() else {
        return Err(OpError::not_supported(
            "multi-prime RSA keys cannot be exported as JWK",
        ));
    };
    let (Some(dp), Some(dq), Some(qi)) = (key.dp(), key.dq(), key.crt_coefficient()) else {
        return Err(encode_failed());
    };
    Ok(vec![
        uint(key.n().as_ref()),
        uint(key.e()),
        uint(key.d()),
        uint(p.as_ref()),
        uint(q.as_ref()),
        uint(dp),
        uint(dq),
        uint(&qi),
    ])
}

/// A key from JWK members (n, e, then d, p, q, dp, dq, qi, empty for a public key): (DER, is
/// private). The CRT members must agree with the key (DataError otherwise).
pub(crate) fn from_jwk(parts: &[&[u8]]) -> OpResult<(Vec<u8>, bool)> {
    let [n, e, d, p, q, dp, dq, qi] = parts else {
        return Err(OpError::type_error("an RSA JWK import has eight fields"));
    };
    let big = |b: &[u8]| BoxedUint::from_be_slice_vartime(b);
    if n.is_empty() || e.is_empty() {
        return Err(OpError::data("the JWK lacks n or e"));
    }
    check_size(big(n).bit_width() as usize)?;
    if d.is_empty() {
        let key = PublicKey::new(big(n), big(e)).map_err(|_| bad_public())?;
        let der = key.to_public_key_der().map_err(|_| encode_failed())?;
        return Ok((der.as_bytes().to_vec(), false));
    }
    let crt = [p, q, dp, dq, qi];
    let primes = if crt.iter().all(|v| v.is_empty()) {
        Vec::new()
    } else if crt.iter().any(|v| v.is_empty()) {
        return Err(OpError::data(
            "the JWK has some but not all of p, q, dp, dq and qi",
        ));
    } else {
        vec![big(p), big(q)]
    };
    let key =
        PrivateKey::from_components(big(n), big(e), big(d), primes).map_err(|_| bad_private())?;
    if !p.is_empty() {
        let parts = jwk_parts(&to_der(&key)?.0, true)?;
        let given = [dp, dq, qi];
        let strip = |v: &[u8]| {
            v.iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect::<Vec<u8>>()
        };
        if (5..8).any(|i| strip(&parts[i]) != strip(given[i - 5])) {
            return Err(OpError::data("the JWK's dp, dq or qi do not match its key"));
        }
    }
    Ok((to_der(&key)?.0, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn generation_round_trips_and_stops_when_cancelled() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let (private, public) = generate(1024, &[1, 0, 1], &ctx).expect("generate");
        let (_, bits, e) = canonical(&public, false).expect("public");
        assert_eq!((bits, e), (1024, vec![1, 0, 1]));
        let sig = sign(0, Hash::Sha256, &private, 0, b"m").expect("sign");
        assert!(verify(0, Hash::Sha256, &public, 0, b"m", &sig).expect("verify"));
        assert!(!verify(0, Hash::Sha256, &public, 0, b"n", &sig).expect("verify"));
        let ct = oaep(true, Hash::Sha1, &public, b"", b"secret").expect("encrypt");
        assert_eq!(
            oaep(false, Hash::Sha1, &private, b"", &ct).expect("decrypt"),
            b"secret"
        );
        // JWK members back to the same key.
        let parts = jwk_parts(&private, true).expect("jwk");
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        assert_eq!(from_jwk(&refs).expect("from jwk").0, private);
        assert!(generate(8192, &[1, 0, 1], &ctx).is_err());
        assert!(generate(2048, &[5], &ctx).is_err());
        let cancelled = AtomicU32::new(1);
        let e = generate(2048, &[1, 0, 1], &OpCtx::new(&cancelled)).expect_err("cancelled");
        assert_eq!(e.kind, crate::ErrorKind::Cancelled);
    }
}
