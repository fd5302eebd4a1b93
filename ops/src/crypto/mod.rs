//! WebCrypto's native half: the operations behind `crypto.subtle` (js/crypto-*.js) and
//! `crypto.DigestStream` (js/streams-transform.js), one module per algorithm family, on the
//! RustCrypto crates (sha1, sha2, md-5, hmac, hkdf, aes, aes-gcm, ghash, cbc, ctr, aes-kw, p256,
//! p384, p521, ed25519-dalek, x25519-dalek, rsa, pkcs8, spki): audited, constant-time
//! where it matters (rsa 0.10 on crypto-bigint, the Marvin-attack fix), pure Rust (no system
//! calls, no C), the library the Rust ecosystem uses.
//! node:crypto's own ops (0x06xx: HMAC and digest copies, Node's KDFs, key encodings, streaming
//! ciphers) are in `node/`, on the same crates and rules.
//!
//! Keys cross as bytes: secret keys raw, asymmetric private keys as PKCS#8 DER and public keys as
//! SubjectPublicKeyInfo DER, canonical (re-encoded on import). The prelude keeps them in a private
//! field of the CryptoKey; tenant code never reaches them except through exportKey.
//!
//! Caps (each op's worst case, so the watchdog's grace holds; see ops/mod.rs):
//! - PBKDF2: at most [`kdf::MAX_PBKDF2_ITERATIONS`] iterations (NotSupportedError above, as
//!   Cloudflare Workers) and [`kdf::MAX_DERIVED_BYTES`] bytes; it checks for termination every
//!   4096 iterations (about 2 ms).
//! - Digest, HMAC: input in 1 MiB steps with a termination check between them; an incremental
//!   digest (DigestStream) holds [`hash::HASHER_COST`] bytes of native state between writes.
//! - RSA: moduli of 1024 to [`rsa::MAX_MODULUS_BITS`] bits (4096; NotSupportedError beyond), public
//!   exponents of at most 33 bits; key generation checks for termination before each prime
//!   candidate's test (one modular exponentiation, a few ms at 2048-bit primes), so an RSA-4096
//!   generateKey ends as the request's CPU limit when its budget is spent, never as a hang. One
//!   private-key operation at 4096 bits costs about 10 ms.
//! - AES modes, elliptic curves, Ed25519, X25519: bounded by the 16 MiB input cap (AES-GCM on
//!   16 MiB: about 20 ms with AES-NI and CLMUL, which the crates detect at run time).

pub(crate) mod aes;
pub(crate) mod ec;
pub(crate) mod hash;
pub(crate) mod kdf;
pub(crate) mod keys;
pub(crate) mod node;
pub(crate) mod okp;
pub(crate) mod rng;
pub(crate) mod rsa;

use super::fields::{self, Fields};
use super::{OpCode, OpCtx, OpError, OpResult};

/// Whether `a` and `b` are equal, compared in constant time (`subtle`; unequal lengths are
/// unequal): tags, MACs.
pub(crate) fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

/// Asymmetric key families (the `family` field of generate, import and export).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    P256 = 1,
    P384 = 2,
    Ed25519 = 3,
    X25519 = 4,
    Rsa = 5,
    P521 = 6,
}

impl Family {
    pub(crate) fn from_u32(v: u32) -> OpResult<Family> {
        Ok(match v {
            1 => Family::P256,
            2 => Family::P384,
            3 => Family::Ed25519,
            4 => Family::X25519,
            5 => Family::Rsa,
            6 => Family::P521,
            _ => return Err(OpError::not_supported(format!("unknown key family {v}"))),
        })
    }
}

/// A boolean answer (verify).
fn verdict(ok: bool) -> Vec<u8> {
    vec![u8::from(ok)]
}

pub(crate) fn run(op: OpCode, input: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    let f = Fields::parse(input)?;
    match op {
        OpCode::Digest => hash::digest(f.u32(0)?, f.bytes(1)?, ctx),
        // The second field, a SHAKE's output length, is optional.
        OpCode::DigestNew => hash::digest_new(f.u32(0)?, f.u32(1).ok(), ctx.state()?),
        OpCode::DigestUpdate => hash::digest_update(f.u32(0)?, f.bytes(1)?, ctx.state()?, ctx),
        OpCode::DigestFinish => hash::digest_finish(f.u32(0)?, ctx.state()?),
        OpCode::HmacSign => hash::hmac_sign(
            hash::Hash::from_u32(f.u32(0)?)?,
            f.bytes(1)?,
            f.bytes(2)?,
            ctx,
        ),
        OpCode::HmacVerify => {
            let h = hash::Hash::from_u32(f.u32(0)?)?;
            hash::hmac_verify(h, f.bytes(1)?, f.bytes(2)?, f.bytes(3)?, ctx).map(verdict)
        }
        OpCode::AesGcmEncrypt | OpCode::AesGcmDecrypt => aes::gcm(
            op == OpCode::AesGcmEncrypt,
            f.bytes(0)?,
            f.bytes(1)?,
            f.bytes(2)?,
            f.u32(3)?,
            f.bytes(4)?,
        ),
        OpCode::AesCbcEncrypt | OpCode::AesCbcDecrypt => aes::cbc(
            op == OpCode::AesCbcEncrypt,
            f.bytes(0)?,
            f.bytes(1)?,
            f.bytes(2)?,
        ),
        OpCode::AesCtr => aes::ctr(f.bytes(0)?, f.bytes(1)?, f.u32(2)?, f.bytes(3)?, ctx),
        OpCode::AesKwWrap | OpCode::AesKwUnwrap => {
            aes::kw(op == OpCode::AesKwWrap, f.bytes(0)?, f.bytes(1)?)
        }
        OpCode::Pbkdf2 => kdf::pbkdf2(
            hash::Hash::from_u32(f.u32(0)?)?,
            f.bytes(1)?,
            f.bytes(2)?,
            f.u32(3)?,
            f.u32(4)?,
            ctx,
        ),
        OpCode::Hkdf => kdf::hkdf(
            hash::Hash::from_u32(f.u32(0)?)?,
            f.bytes(1)?,
            f.bytes(2)?,
            f.bytes(3)?,
            f.u32(4)?,
        ),
        OpCode::EcGenerate => {
            let (private, public) = ec::generate(Family::from_u32(f.u32(0)?)?)?;
            Ok(fields::encode(&[&private, &public]))
        }
        OpCode::EcdsaSign => ec::sign(
            Family::from_u32(f.u32(0)?)?,
            hash::Hash::from_u32(f.u32(1)?)?,
            f.bytes(2)?,
            f.bytes(3)?,
        ),
        OpCode::EcdsaVerify => ec::verify(
            Family::from_u32(f.u32(0)?)?,
            hash::Hash::from_u32(f.u32(1)?)?,
            f.bytes(2)?,
            f.bytes(3)?,
            f.bytes(4)?,
        )
        .map(verdict),
        OpCode::Ecdh => ec::ecdh(Family::from_u32(f.u32(0)?)?, f.bytes(1)?, f.bytes(2)?),
        OpCode::OkpGenerate => {
            let (private, public) = okp::generate(Family::from_u32(f.u32(0)?)?)?;
            Ok(fields::encode(&[&private, &public]))
        }
        OpCode::Ed25519Sign => okp::sign(f.bytes(0)?, f.bytes(1)?),
        OpCode::Ed25519Verify => okp::verify(f.bytes(0)?, f.bytes(1)?, f.bytes(2)?).map(verdict),
        OpCode::X25519 => okp::x25519(f.bytes(0)?, f.bytes(1)?),
        OpCode::RsaGenerate => {
            let (private, public) = rsa::generate(f.u32(0)?, f.bytes(1)?, ctx)?;
            Ok(fields::encode(&[&private, &public]))
        }
        OpCode::RsaSign => rsa::sign(
            f.u32(0)?,
            hash::Hash::from_u32(f.u32(1)?)?,
            f.bytes(2)?,
            f.u32(3)?,
            f.bytes(4)?,
        ),
        OpCode::RsaVerify => rsa::verify(
            f.u32(0)?,
            hash::Hash::from_u32(f.u32(1)?)?,
            f.bytes(2)?,
            f.u32(3)?,
            f.bytes(4)?,
            f.bytes(5)?,
        )
        .map(verdict),
        OpCode::RsaOaepEncrypt | OpCode::RsaOaepDecrypt => rsa::oaep(
            op == OpCode::RsaOaepEncrypt,
            hash::Hash::from_u32(f.u32(0)?)?,
            f.bytes(1)?,
            f.bytes(2)?,
            f.bytes(3)?,
        ),
        OpCode::KeyImport => keys::import(&f),
        OpCode::KeyExport => keys::export(&f),
        _ => Err(OpError::not_supported("not a WebCrypto op")),
    }
}

/// Bytes from hex text, for the families' known-answer tests.
#[cfg(test)]
pub(crate) fn test_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
