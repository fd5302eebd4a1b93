//! SHA-1 and SHA-2 digests and HMAC (sha1, sha2, hmac crates), MD5 (md-5) for digests only,
//! node:crypto's SHA-3, SHAKE, RIPEMD-160 and BLAKE2 (sha3, ripemd, blake2; never WebCrypto's), and
//! the checksums `crypto.DigestStream` also computes (CRC-32 on crc32fast, CRC-32C and CRC-64/NVME
//! on crc). Inputs are hashed in 1 MiB steps with a termination check between them.
//!
//! Digests come one-shot (`crypto.subtle.digest`) or incremental (`crypto.DigestStream`, a
//! Cloudflare Workers extension: a WritableStream whose bytes are hashed as they come). An
//! incremental digest is a [`Hasher`] kept in the isolate's [`OpState`] between writes:
//! - `DigestNew(alg)` -> handle (u32); `DigestUpdate(handle, data)` -> nothing;
//!   `DigestFinish(handle)` -> the digest, and the handle is freed; `Free(handle)` (lib.rs) drops
//!   an unfinished one (an aborted stream); `DigestCopy(handle)` -> a new handle holding a copy
//!   (node:crypto's `Hash.copy()`).
//! - Bounded: one hasher holds about [`HASHER_COST`] bytes, declared to the [`OpState`] caps; an
//!   update is at most the op road's input cap (16 MiB), hashed in [`STEP`]s with termination
//!   checks between them, like a one-shot digest.
//!
//! MD5 is here because Cloudflare Workers accepts it in `digest` and `DigestStream` (workerd's
//! `lookupDigestAlgorithm`): code written for Workers uses it for ETags and legacy checksums. It is
//! never a key's hash ([`Hash`] has no MD5): HMAC, HKDF, PBKDF2, RSA and ECDSA refuse it.

use hmac::{KeyInit, Mac};
use sha2::Digest;

use crate::state::OpState;
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

/// A digest algorithm's number in the `alg` field of `Digest` and `DigestNew`: a [`Hash`]'s, or
/// one of these: MD5 (`crypto.subtle.digest` and `DigestStream`), and the checksums only
/// `DigestStream` names (CRC-32 as zlib's, CRC-32C, CRC-64/NVME; big-endian, as workerd gives them).
pub(crate) const MD5: u32 = 5;
pub(crate) const CRC32: u32 = 6;
pub(crate) const CRC32C: u32 = 7;
pub(crate) const CRC64_NVME: u32 = 8;
/// Digests only node:crypto names (createHash, createHmac, the Node KDFs; crypto/node/).
pub(crate) const SHA224: u32 = 9;
pub(crate) const SHA512_224: u32 = 10;
pub(crate) const SHA512_256: u32 = 11;
pub(crate) const SHA3_224: u32 = 12;
pub(crate) const SHA3_256: u32 = 13;
pub(crate) const SHA3_384: u32 = 14;
pub(crate) const SHA3_512: u32 = 15;
/// The SHAKE extendable-output functions: `DigestNew`'s second field is the output length in
/// bytes (Node's `outputLength`; its defaults, 16 and 32, are the prelude's).
pub(crate) const SHAKE128: u32 = 16;
pub(crate) const SHAKE256: u32 = 17;
pub(crate) const RIPEMD160: u32 = 18;
pub(crate) const BLAKE2B512: u32 = 19;
pub(crate) const BLAKE2S256: u32 = 20;
/// The longest SHAKE output asked for (the op road's cap on what one op answers).
pub(crate) const MAX_XOF_LEN: usize = crate::MAX_OP_INPUT;

static CRC32C_TABLE: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);
static CRC64_NVME_TABLE: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_NVME);

/// An incremental digest of any algorithm `crypto.subtle.digest` accepts.
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    Md5(md5::Md5),
    Sha224(sha2::Sha224),
    Sha512_224(sha2::Sha512_224),
    Sha512_256(sha2::Sha512_256),
    Sha3_224(sha3::Sha3_224),
    Sha3_256(sha3::Sha3_256),
    Sha3_384(sha3::Sha3_384),
    Sha3_512(sha3::Sha3_512),
    /// SHAKE and its output length in bytes.
    Shake128(sha3::Shake128, usize),
    Shake256(sha3::Shake256, usize),
    Ripemd160(ripemd::Ripemd160),
    Blake2b512(blake2::Blake2b512),
    Blake2s256(blake2::Blake2s256),
    Crc32(crc32fast::Hasher),
    Crc32c(crc::Digest<'static, u32, crc::Table<16>>),
    Crc64Nvme(crc::Digest<'static, u64, crc::Table<16>>),
}

/// What one [`Hasher`] is declared to hold in the [`OpState`] (its state and block buffer are at
/// most about 400 bytes, SHAKE128's 200-byte state and 168-byte block the largest; the rest is the
/// box and the table's entry).
pub(crate) const HASHER_COST: usize = 512;

impl Hasher {
    /// A fresh hasher of digest algorithm `alg` ([`Hash`]'s numbers, or [`MD5`]).
    pub(crate) fn new(alg: u32) -> OpResult<Hasher> {
        Hasher::with_output(alg, None)
    }

    /// A fresh hasher of `alg`; `out` is a SHAKE's output length (at most [`MAX_XOF_LEN`];
    /// without one, SHAKE128 gives 16 bytes and SHAKE256 32, as Node's defaults).
    pub(crate) fn with_output(alg: u32, out: Option<u32>) -> OpResult<Hasher> {
        let xof_len = |default: usize| -> OpResult<usize> {
            let n = out.map_or(default, |n| n as usize);
            if n > MAX_XOF_LEN {
                return Err(OpError::new(
                    crate::ErrorKind::RangeError,
                    "the output length is too large",
                ));
            }
            Ok(n)
        };
        match alg {
            SHA3_224 => return Ok(Hasher::Sha3_224(sha3::Sha3_224::new())),
            SHA3_256 => return Ok(Hasher::Sha3_256(sha3::Sha3_256::new())),
            SHA3_384 => return Ok(Hasher::Sha3_384(sha3::Sha3_384::new())),
            SHA3_512 => return Ok(Hasher::Sha3_512(sha3::Sha3_512::new())),
            SHAKE128 => return Ok(Hasher::Shake128(sha3::Shake128::default(), xof_len(16)?)),
            SHAKE256 => return Ok(Hasher::Shake256(sha3::Shake256::default(), xof_len(32)?)),
            RIPEMD160 => return Ok(Hasher::Ripemd160(ripemd::Ripemd160::new())),
            BLAKE2B512 => return Ok(Hasher::Blake2b512(blake2::Blake2b512::new())),
            BLAKE2S256 => return Ok(Hasher::Blake2s256(blake2::Blake2s256::new())),
            _ => {}
        }
        match alg {
            MD5 => return Ok(Hasher::Md5(md5::Md5::new())),
            SHA224 => return Ok(Hasher::Sha224(sha2::Sha224::new())),
            SHA512_224 => return Ok(Hasher::Sha512_224(sha2::Sha512_224::new())),
            SHA512_256 => return Ok(Hasher::Sha512_256(sha2::Sha512_256::new())),
            CRC32 => return Ok(Hasher::Crc32(crc32fast::Hasher::new())),
            CRC32C => return Ok(Hasher::Crc32c(CRC32C_TABLE.digest())),
            CRC64_NVME => return Ok(Hasher::Crc64Nvme(CRC64_NVME_TABLE.digest())),
            _ => {}
        }
        Ok(match Hash::from_u32(alg)? {
            Hash::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Hash::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Hash::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            Hash::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        })
    }

    /// Hashes `data` in [`STEP`]s, checking for termination before each.
    pub(crate) fn update(&mut self, data: &[u8], ctx: &OpCtx<'_>) -> OpResult<()> {
        for chunk in data.chunks(STEP) {
            ctx.check()?;
            match self {
                Hasher::Sha1(h) => Digest::update(h, chunk),
                Hasher::Sha256(h) => Digest::update(h, chunk),
                Hasher::Sha384(h) => Digest::update(h, chunk),
                Hasher::Sha512(h) => Digest::update(h, chunk),
                Hasher::Md5(h) => Digest::update(h, chunk),
                Hasher::Sha224(h) => Digest::update(h, chunk),
                Hasher::Sha512_224(h) => Digest::update(h, chunk),
                Hasher::Sha512_256(h) => Digest::update(h, chunk),
                Hasher::Sha3_224(h) => Digest::update(h, chunk),
                Hasher::Sha3_256(h) => Digest::update(h, chunk),
                Hasher::Sha3_384(h) => Digest::update(h, chunk),
                Hasher::Sha3_512(h) => Digest::update(h, chunk),
                Hasher::Shake128(h, _) => sha3::digest::Update::update(h, chunk),
                Hasher::Shake256(h, _) => sha3::digest::Update::update(h, chunk),
                Hasher::Ripemd160(h) => Digest::update(h, chunk),
                Hasher::Blake2b512(h) => Digest::update(h, chunk),
                Hasher::Blake2s256(h) => Digest::update(h, chunk),
                Hasher::Crc32(h) => h.update(chunk),
                Hasher::Crc32c(h) => h.update(chunk),
                Hasher::Crc64Nvme(h) => h.update(chunk),
            }
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha512_224(h) => h.finalize().to_vec(),
            Hasher::Sha512_256(h) => h.finalize().to_vec(),
            Hasher::Sha3_224(h) => h.finalize().to_vec(),
            Hasher::Sha3_256(h) => h.finalize().to_vec(),
            Hasher::Sha3_384(h) => h.finalize().to_vec(),
            Hasher::Sha3_512(h) => h.finalize().to_vec(),
            Hasher::Shake128(h, n) => xof_output(h, n),
            Hasher::Shake256(h, n) => xof_output(h, n),
            Hasher::Ripemd160(h) => h.finalize().to_vec(),
            Hasher::Blake2b512(h) => h.finalize().to_vec(),
            Hasher::Blake2s256(h) => h.finalize().to_vec(),
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc64Nvme(h) => h.finalize().to_be_bytes().to_vec(),
        }
    }
}

/// The first `n` bytes of a SHAKE's output.
fn xof_output<X: sha3::digest::ExtendableOutput>(h: X, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    h.finalize_xof_into(&mut out);
    out
}

/// The one-shot digest of `data` with algorithm `alg` (`crypto.subtle.digest`).
pub(crate) fn digest(alg: u32, data: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    let mut h = Hasher::new(alg)?;
    h.update(data, ctx)?;
    Ok(h.finish())
}

/// `DigestNew(alg, [output length])`: a hasher in the isolate's state; its handle.
pub(crate) fn digest_new(alg: u32, out: Option<u32>, state: &OpState) -> OpResult<Vec<u8>> {
    let h = Hasher::with_output(alg, out)?;
    Ok(state
        .insert(Box::new(h), HASHER_COST)?
        .to_le_bytes()
        .to_vec())
}

/// `DigestUpdate(handle, data)`: hashes `data` into the handle's hasher.
pub(crate) fn digest_update(
    id: u32,
    data: &[u8],
    state: &OpState,
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    let mut h = state.take::<Hasher>(id)?;
    let done = h.update(data, ctx);
    state.put(id, h)?;
    done.map(|()| Vec::new())
}

/// `DigestFinish(handle)`: the digest of everything the handle's hasher was given; frees it.
pub(crate) fn digest_finish(id: u32, state: &OpState) -> OpResult<Vec<u8>> {
    let h = state.take::<Hasher>(id)?;
    state.free(id)?;
    Ok(h.finish())
}

/// `DigestCopy(handle, [output length])`: a new handle holding a copy of the handle's hasher
/// (node:crypto's `Hash.copy()`, whose `outputLength` a SHAKE copy takes); the original stays as
/// it was.
pub(crate) fn digest_copy(id: u32, out: Option<u32>, state: &OpState) -> OpResult<Vec<u8>> {
    let h = state.take::<Hasher>(id)?;
    let mut copy = Box::new((*h).clone());
    state.put(id, h)?;
    if let Some(n) = out {
        if n as usize > MAX_XOF_LEN {
            return Err(OpError::new(
                crate::ErrorKind::RangeError,
                "the output length is too large",
            ));
        }
        if let Hasher::Shake128(_, len) | Hasher::Shake256(_, len) = copy.as_mut() {
            *len = n as usize;
        }
    }
    Ok(state.insert(copy, HASHER_COST)?.to_le_bytes().to_vec())
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
    Ok(super::equal_in_constant_time(&tag, sig))
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
            assert_eq!(
                digest(h as u32, b"abc", &ctx).expect("digest"),
                hex(want),
                "{h:?}"
            );
            assert_eq!(h.len(), want.len() / 2);
        }
    }

    #[test]
    fn node_only_digests_of_abc_and_shake_lengths() {
        // FIPS 202 (SHA3-256 "abc", SHAKE128 of nothing), the RIPEMD-160 and BLAKE2 authors' "abc".
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let cases = [
            (
                SHA3_256,
                "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
            ),
            (RIPEMD160, "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
            (
                BLAKE2S256,
                "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982",
            ),
        ];
        for (alg, want) in cases {
            assert_eq!(
                digest(alg, b"abc", &ctx).expect("digest"),
                hex(want),
                "{alg}"
            );
        }
        // SHAKE128's default length is Node's 16 bytes; an asked one is taken, up to the cap.
        assert_eq!(
            digest(SHAKE128, b"", &ctx).expect("shake"),
            hex("7f9c2ba4e88f827d616045507605853e")
        );
        let mut h = Hasher::with_output(SHAKE256, Some(8)).expect("shake256");
        h.update(b"abc", &ctx).expect("update");
        assert_eq!(h.finish(), hex("483366601360a877"));
        assert!(Hasher::with_output(SHAKE256, Some(MAX_XOF_LEN as u32 + 1)).is_err());
    }

    #[test]
    fn rfc_1321_md5_test_suite() {
        // RFC 1321 appendix A.5.
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let cases: [(&[u8], &str); 5] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (data, want) in cases {
            assert_eq!(digest(MD5, data, &ctx).expect("md5"), hex(want));
        }
        // Digest-only: no key operation takes MD5 as its hash.
        assert_eq!(
            Hash::from_u32(MD5).expect_err("not a key hash").kind,
            crate::ErrorKind::NotSupported
        );
        assert!(digest(99, b"", &ctx).is_err());
    }

    #[test]
    fn digest_stream_checksums_as_workerd_gives_them() {
        // The CRC catalogue's check values (of "123456789"), and the cases workerd's DigestStream
        // test takes from the AWS SDK, big-endian.
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let cases: [(u32, &[u8], &str); 12] = [
            (CRC32, b"123456789", "cbf43926"),
            (CRC32C, b"123456789", "e3069283"),
            (CRC64_NVME, b"123456789", "ae8b14860a799888"),
            (CRC32, b"", "00000000"),
            (CRC32, b"abc", "352441c2"),
            (CRC32, b"Hello world", "8bd69e52"),
            (CRC32C, b"", "00000000"),
            (CRC32C, b"abc", "364b3fb7"),
            (CRC32C, b"Hello world", "72b51f78"),
            (CRC64_NVME, b"", "0000000000000000"),
            (CRC64_NVME, b"abc", "05e5cabb3fc1faeb"),
            (CRC64_NVME, b"Hello world", "38e259d03f312adb"),
        ];
        for (alg, data, want) in cases {
            assert_eq!(
                digest(alg, data, &ctx).expect("crc"),
                hex(want),
                "{alg} {data:?}"
            );
        }
    }

    #[test]
    fn incremental_digests_match_one_shot_and_free_their_state() {
        let flag = AtomicU32::new(0);
        let state = OpState::new();
        let ctx = OpCtx::with_state(&flag, &state);
        let data: Vec<u8> = (0..(3 * STEP + 17)).map(|i| (i * 31 % 251) as u8).collect();
        for alg in [
            1, 2, 3, 4, MD5, CRC32, CRC32C, CRC64_NVME, SHA224, SHA512_224, SHA512_256, SHA3_224,
            SHA3_256, SHA3_384, SHA3_512, SHAKE128, SHAKE256, RIPEMD160, BLAKE2B512, BLAKE2S256,
        ] {
            let id = u32::from_le_bytes(
                digest_new(alg, None, &state)
                    .expect("new")
                    .try_into()
                    .expect("u32"),
            );
            assert_eq!(state.usage(), (1, HASHER_COST));
            // Uneven pieces, one of them empty and one over a step.
            for piece in [
                &data[..5],
                &data[5..5],
                &data[5..STEP + 9],
                &data[STEP + 9..],
            ] {
                assert!(digest_update(id, piece, &state, &ctx)
                    .expect("update")
                    .is_empty());
            }
            let got = digest_finish(id, &state).expect("finish");
            assert_eq!(
                got,
                digest(alg, &data, &ctx).expect("one shot"),
                "alg {alg}"
            );
            assert_eq!(state.usage(), (0, 0), "finishing frees the state");
            assert!(
                digest_update(id, b"x", &state, &ctx).is_err(),
                "a finished handle is gone"
            );
            assert!(digest_finish(id, &state).is_err());
        }
        assert!(digest_new(99, None, &state).is_err());
        assert_eq!(state.usage(), (0, 0));
        // A terminated isolate stops an update between steps, and the state stays usable to free.
        let id = u32::from_le_bytes(
            digest_new(2, None, &state)
                .expect("new")
                .try_into()
                .expect("u32"),
        );
        let stopped = AtomicU32::new(1);
        let cancelled = OpCtx::with_state(&stopped, &state);
        let e = digest_update(id, &data, &state, &cancelled).expect_err("cancelled");
        assert_eq!(e.kind, crate::ErrorKind::Cancelled);
        assert!(state.free(id).expect("free"));
    }

    #[test]
    fn sha224_family_and_copies_are_independent() {
        let flag = AtomicU32::new(0);
        let state = OpState::new();
        let ctx = OpCtx::with_state(&flag, &state);
        // FIPS 180-4 examples ("abc").
        for (alg, want) in [
            (
                SHA224,
                "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            ),
            (
                SHA512_224,
                "4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa",
            ),
            (
                SHA512_256,
                "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23",
            ),
        ] {
            assert_eq!(digest(alg, b"abc", &ctx).expect("digest"), hex(want));
        }
        let id = u32::from_le_bytes(
            digest_new(2, None, &state)
                .expect("new")
                .try_into()
                .expect("u32"),
        );
        digest_update(id, b"ab", &state, &ctx).expect("update");
        let copy = u32::from_le_bytes(
            digest_copy(id, None, &state)
                .expect("copy")
                .try_into()
                .expect("u32"),
        );
        assert_eq!(state.usage(), (2, 2 * HASHER_COST));
        digest_update(id, b"c", &state, &ctx).expect("update");
        digest_update(copy, b"x", &state, &ctx).expect("update");
        assert_eq!(
            digest_finish(id, &state).expect("finish"),
            digest(2, b"abc", &ctx).expect("abc")
        );
        assert_eq!(
            digest_finish(copy, &state).expect("finish"),
            digest(2, b"abx", &ctx).expect("abx")
        );
        assert_eq!(state.usage(), (0, 0));
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
