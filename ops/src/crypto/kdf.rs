//! PBKDF2 (RFC 8018) and HKDF (RFC 5869). HKDF is the hkdf crate. PBKDF2 is its five-line loop
//! over the hmac crate's HMAC, written here rather than taken from the pbkdf2 crate because that
//! crate runs all iterations in one call: this loop checks for termination every
//! [`CHECK_EVERY`] iterations, so a request at its CPU limit stops within about 2 ms.

use hmac::{KeyInit, Mac};

use super::hash::{with_hash, Hash};
use crate::{OpCtx, OpError, OpResult};

/// The most PBKDF2 iterations (Cloudflare Workers' limit too): about 50 to 100 ms of CPU per
/// output block; more is NotSupportedError.
pub const MAX_PBKDF2_ITERATIONS: u32 = 100_000;
/// The most bytes PBKDF2 derives at once.
pub const MAX_DERIVED_BYTES: usize = 8192;
/// Iterations between two termination checks.
const CHECK_EVERY: u32 = 4096;

/// The byte length of a WebCrypto `length` in bits: a multiple of 8 (OperationError otherwise).
fn byte_len(bits: u32) -> OpResult<usize> {
    if !bits.is_multiple_of(8) {
        return Err(OpError::operation(
            "the length must be a multiple of 8 bits",
        ));
    }
    Ok(bits as usize / 8)
}

pub(crate) fn pbkdf2(
    hash: Hash,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    bits: u32,
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    let len = byte_len(bits)?;
    if iterations == 0 {
        return Err(OpError::operation("PBKDF2 needs at least one iteration"));
    }
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(OpError::not_supported(format!(
            "PBKDF2 with more than {MAX_PBKDF2_ITERATIONS} iterations is not supported (asked for {iterations})"
        )));
    }
    if len > MAX_DERIVED_BYTES {
        return Err(OpError::not_supported(format!(
            "PBKDF2 derives at most {MAX_DERIVED_BYTES} bytes at once"
        )));
    }
    let mut out = vec![0u8; len];
    with_hash!(hash, D => {
        let keyed = hmac::Hmac::<D>::new_from_slice(password)
            .map_err(|_| OpError::operation("invalid PBKDF2 password"))?;
        for (i, block) in out.chunks_mut(hash.len()).enumerate() {
            // T_i = U_1 ^ U_2 ^ ... ^ U_c, U_1 = PRF(P, S || INT(i)), U_j = PRF(P, U_{j-1}).
            let mut mac = keyed.clone();
            mac.update(salt);
            mac.update(&(i as u32 + 1).to_be_bytes());
            let mut u = mac.finalize().into_bytes();
            let mut t = u;
            for j in 1..iterations {
                if j % CHECK_EVERY == 0 {
                    ctx.check()?;
                }
                let mut mac = keyed.clone();
                mac.update(&u);
                u = mac.finalize().into_bytes();
                for (a, b) in t.iter_mut().zip(u.iter()) {
                    *a ^= b;
                }
            }
            block.copy_from_slice(&t[..block.len()]);
        }
    });
    Ok(out)
}

pub(crate) fn hkdf(
    hash: Hash,
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    bits: u32,
) -> OpResult<Vec<u8>> {
    let len = byte_len(bits)?;
    let mut out = vec![0u8; len];
    with_hash!(hash, D => {
        hkdf::Hkdf::<D>::new(Some(salt), ikm)
            .expand(info, &mut out)
            .map_err(|_| OpError::operation("HKDF cannot derive that many bits with this hash"))?;
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    use crate::crypto::test_hex as hex;

    #[test]
    fn rfc_6070_pbkdf2_hmac_sha1() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let cases = [
            (1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
            (2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
            (4096, "4b007901b765489abead49d926f721d065a429c1"),
        ];
        for (c, want) in cases {
            let got = pbkdf2(Hash::Sha1, b"password", b"salt", c, 160, &ctx).expect("pbkdf2");
            assert_eq!(got, hex(want), "c={c}");
        }
        // RFC 6070 case 5: 25 bytes over two blocks.
        let got = pbkdf2(
            Hash::Sha1,
            b"passwordPASSWORDpassword",
            b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            4096,
            200,
            &ctx,
        )
        .expect("pbkdf2");
        assert_eq!(
            got,
            hex("3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038")
        );
    }

    #[test]
    fn pbkdf2_caps_and_cancellation() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let over = pbkdf2(
            Hash::Sha256,
            b"p",
            b"s",
            MAX_PBKDF2_ITERATIONS + 1,
            256,
            &ctx,
        );
        assert_eq!(over.expect_err("cap").kind, crate::ErrorKind::NotSupported);
        assert_eq!(
            pbkdf2(Hash::Sha256, b"p", b"s", 0, 256, &ctx)
                .expect_err("zero")
                .kind,
            crate::ErrorKind::Operation
        );
        let cancelled = AtomicU32::new(1);
        let ctx = OpCtx::new(&cancelled);
        let e = pbkdf2(Hash::Sha256, b"p", b"s", 10_000, 256, &ctx).expect_err("cancel");
        assert_eq!(e.kind, crate::ErrorKind::Cancelled);
    }

    #[test]
    fn rfc_5869_hkdf_case_1() {
        let ikm = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = hex("000102030405060708090a0b0c");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let okm = hkdf(Hash::Sha256, &ikm, &salt, &info, 42 * 8).expect("hkdf");
        assert_eq!(
            okm,
            hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        );
        assert!(hkdf(Hash::Sha256, &ikm, &salt, &info, 255 * 32 * 8 + 8).is_err());
    }
}
