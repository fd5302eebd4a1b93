//! SHA-1 and SHA-2 digests and HMAC (sha1, sha2, hmac crates). Inputs are hashed in 1 MiB steps
//! with a termination check between them.

use hmac::{KeyInit, Mac};
use sha2::Digest;

use crate::{OpCtx, OpError, OpResult};

/// How much is hashed between two termination checks (about 1 to 3 ms).
pub(crate) const STEP: usize = 1 << 20;

/// The hash functions WebCrypto names (the `hash` field of ops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1 = 1,
    Sha256 = 2,
    Sha384 = 3,
    Sha512 = 4,
}

impl Hash {
    pub(crate) fn from_u32(v: u32) -> OpResult<Hash> {
        Ok(match v {
            1 => Hash::Sha1,
            2 => Hash::Sha256,
            3 => Hash::Sha384,
            4 => Hash::Sha512,
            _ => return Err(OpError::not_supported(format!("unknown hash {v}"))),
        })
    }

    /// The digest's length in bytes.
    pub(crate) fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
}

/// Runs `$body` with `$D` the digest type of `$hash`.
macro_rules! with_hash {
    ($hash:expr, $D:ident => $body:expr) => {
        match $hash {
            $crate::crypto::hash::Hash::Sha1 => {
                type $D = sha1::Sha1;
                $body
            }
            $crate::crypto::hash::Hash::Sha256 => {
                type $D = sha2::Sha256;
                $body
            }
            $crate::crypto::hash::Hash::Sha384 => {
                type $D = sha2::Sha384;
                $body
            }
            $crate::crypto::hash::Hash::Sha512 => {
                type $D = sha2::Sha512;
                $body
            }
        }
    };
}
pub(crate) use with_hash;

/// The digest of `data`, for signature schemes that take a prehashed message.
pub(crate) fn prehash(hash: Hash, data: &[u8]) -> Vec<u8> {
    with_hash!(hash, D => D::digest(data).to_vec())
}

pub(crate) fn digest(hash: Hash, data: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    with_hash!(hash, D => {
        let mut h = D::new();
        for chunk in data.chunks(STEP) {
            ctx.check()?;
            Digest::update(&mut h, chunk);
        }
        Ok(h.finalize().to_vec())
    })
}

fn hmac_tag(hash: Hash, key: &[u8], data: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    with_hash!(hash, D => {
        let mut mac = hmac::Hmac::<D>::new_from_slice(key)
            .map_err(|_| OpError::data("the HMAC key has an invalid length"))?;
        for chunk in data.chunks(STEP) {
            ctx.check()?;
            mac.update(chunk);
        }
        Ok(mac.finalize().into_bytes().to_vec())
    })
}

pub(crate) fn hmac_sign(hash: Hash, key: &[u8], data: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    hmac_tag(hash, key, data, ctx)
}

/// Whether `sig` is the HMAC of `data`, compared in constant time.
pub(crate) fn hmac_verify(
    hash: Hash,
    key: &[u8],
    data: &[u8],
    sig: &[u8],
    ctx: &OpCtx<'_>,
) -> OpResult<bool> {
    let tag = hmac_tag(hash, key, data, ctx)?;
    if tag.len() != sig.len() {
        return Ok(false);
    }
    let diff = tag.iter().zip(sig).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    Ok(std::hint::black_box(diff) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    use crate::crypto::test_hex as hex;

    #[test]
    fn fips_180_digests_of_abc() {
        // FIPS 180-2 appendix examples ("abc").
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let cases = [
            (Hash::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (Hash::Sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (Hash::Sha384, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
            (Hash::Sha512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        ];
        for (h, want) in cases {
            assert_eq!(digest(h, b"abc", &ctx).expect("digest"), hex(want), "{h:?}");
            assert_eq!(h.len(), want.len() / 2);
        }
    }

    #[test]
    fn rfc_4231_hmac_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let data = b"what do ya want for nothing?";
        let want256 = hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let want512 = hex("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
        assert_eq!(
            hmac_sign(Hash::Sha256, b"Jefe", data, &ctx).expect("mac"),
            want256
        );
        assert_eq!(
            hmac_sign(Hash::Sha512, b"Jefe", data, &ctx).expect("mac"),
            want512
        );
        assert!(hmac_verify(Hash::Sha256, b"Jefe", data, &want256, &ctx).expect("v"));
        let mut bad = want256.clone();
        bad[31] ^= 1;
        assert!(!hmac_verify(Hash::Sha256, b"Jefe", data, &bad, &ctx).expect("v"));
        assert!(!hmac_verify(Hash::Sha256, b"Jefe", data, &want256[..16], &ctx).expect("v"));
    }
}
