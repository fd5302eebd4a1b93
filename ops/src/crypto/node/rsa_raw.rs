//! node:crypto's RSA encryption beyond OAEP (rsa 0.10, the same crate as crypto/rsa.rs):
//! `publicEncrypt` with RSA_PKCS1_PADDING (PKCS#1 v1.5 type 2, random padding) or RSA_NO_PADDING,
//! `privateEncrypt`/`publicDecrypt` with PKCS#1 v1.5 type 1 padding (00 01 FF.. 00 M, the
//! "signature" padding, which OpenSSL's RSA_private_encrypt writes) or none, and `privateDecrypt`
//! with RSA_NO_PADDING. `privateDecrypt` with RSA_PKCS1_PADDING is refused here as Node 20 refuses
//! it (CVE-2023-46809, the Marvin attack: its padding check leaks through timing), and no flag
//! turns it back on.
//!
//! RsaRaw(op, padding, der, data): op 0 publicEncrypt, 1 privateDecrypt, 2 privateEncrypt,
//! 3 publicDecrypt; padding 1 (PKCS#1 v1.5) or 3 (none); `der` SPKI for 0 and 3, PKCS#8 for 1 and 2.
//! Private-key operations are blinded and checked (rsa's `rsa_decrypt_and_check`). Cost: one RSA
//! operation on a key of at most 4096 bits (crypto/rsa.rs's cap; about 10 ms).
//!
//! Trusts: rsa, crypto-bigint.

use rsa::hazmat::{rsa_decrypt_and_check, rsa_encrypt};
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pkcs1v15Encrypt};

use super::super::rng::SysRng;
use super::super::rsa::{private_key, public_key};
use crate::{OpError, OpResult};

const PKCS1: u32 = 1;
const NONE: u32 = 3;

fn too_large() -> OpError {
    OpError::data("data too large for key size")
}
fn padding_error() -> OpError {
    OpError::operation("invalid padding")
}

/// Type 1 padding of `m` to `k` bytes.
fn pad_type1(m: &[u8], k: usize) -> OpResult<Vec<u8>> {
    if m.len() + 11 > k {
        return Err(too_large());
    }
    let mut em = vec![0xffu8; k];
    em[0] = 0;
    em[1] = 1;
    em[k - m.len() - 1] = 0;
    em[k - m.len()..].copy_from_slice(m);
    Ok(em)
}

/// The message of a type 1 block (public data: no secret is involved in this check), with the
/// reason OpenSSL's `RSA_padding_check_PKCS1_type_1` gives for each fault, checked in its order:
/// the leading byte, the block type, the padding bytes, the separator, the padding's length.
fn unpad_type1(em: &[u8]) -> OpResult<Vec<u8>> {
    if em.len() < 11 || em[0] != 0 {
        return Err(padding_error());
    }
    if em[1] != 1 {
        return Err(OpError::operation("block type is not 01"));
    }
    let ones = em[2..].iter().take_while(|b| **b == 0xff).count();
    let at = 2 + ones;
    if at == em.len() {
        return Err(OpError::operation("null before block missing"));
    }
    if em[at] != 0 {
        return Err(OpError::operation("bad fixed header decrypt"));
    }
    if ones < 8 {
        return Err(OpError::operation("bad pad byte count"));
    }
    Ok(em[at + 1..].to_vec())
}

/// `bytes` (exactly `k` long) as a number of the modulus's precision, below the modulus.
fn as_number(bytes: &[u8], k: usize, n: &BoxedUint) -> OpResult<BoxedUint> {
    if bytes.len() != k {
        return Err(if bytes.len() > k {
            too_large()
        } else {
            OpError::data("data too small for key size")
        });
    }
    let x = BoxedUint::from_be_slice(bytes, n.bits_precision()).map_err(|_| too_large())?;
    if x >= *n {
        return Err(OpError::data("data too large for modulus"));
    }
    Ok(x)
}

fn to_k_bytes(x: &BoxedUint, k: usize) -> Vec<u8> {
    let bytes = x.to_be_bytes();
    let bytes = &bytes[bytes.len().saturating_sub(k)..];
    let mut out = vec![0u8; k - bytes.len()];
    out.extend_from_slice(bytes);
    out
}

/// RsaRaw: see the module comment.
pub(crate) fn run(op: u32, padding: u32, der: &[u8], data: &[u8]) -> OpResult<Vec<u8>> {
    if padding != PKCS1 && padding != NONE {
        return Err(OpError::not_supported("unknown padding"));
    }
    match op {
        0 | 3 => {
            let key = public_key(der)?;
            let k = key.size();
            if op == 0 && padding == PKCS1 {
                return key
                    .encrypt(&mut SysRng, Pkcs1v15Encrypt, data)
                    .map_err(|_| too_large());
            }
            let x = as_number(data, k, key.n().as_ref())?;
            let y = rsa_encrypt(&key, &x).map_err(|_| OpError::operation("RSA failed"))?;
            let em = to_k_bytes(&y, k);
            if op == 3 && padding == PKCS1 {
                return unpad_type1(&em);
            }
            Ok(em)
        }
        1 | 2 => {
            let key = private_key(der)?;
            let k = key.size();
            if op == 1 && padding == PKCS1 {
                return Err(OpError::not_supported(
                    "RSA_PKCS1_PADDING is no longer supported for private decryption",
                ));
            }
            let em = if op == 2 && padding == PKCS1 {
                pad_type1(data, k)?
            } else {
                data.to_vec()
            };
            let x = as_number(&em, k, key.n().as_ref())?;
            let y = rsa_decrypt_and_check(&key, Some(&mut SysRng), &x)
                .map_err(|_| OpError::operation("RSA private-key operation failed"))?;
            Ok(to_k_bytes(&y, k))
        }
        _ => Err(OpError::not_supported("unknown RSA operation")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type1_padding_round_trips_and_is_checked() {
        let em = pad_type1(b"hello", 64).expect("pad");
        assert_eq!(&em[..3], &[0, 1, 0xff]);
        assert_eq!(unpad_type1(&em).expect("unpad"), b"hello");
        let reason = |em: &[u8]| match unpad_type1(em) {
            Err(e) if e.kind == crate::ErrorKind::Operation => e.message,
            other => panic!("not an operation error: {other:?}"),
        };
        let with = |at: usize, b: u8| {
            let mut e = em.clone();
            e[at] = b;
            e
        };
        assert_eq!(reason(&with(0, 1)), "invalid padding");
        assert_eq!(reason(&with(1, 2)), "block type is not 01");
        assert_eq!(reason(&with(5, 7)), "bad fixed header decrypt");
        assert_eq!(reason(&with(5, 0)), "bad pad byte count");
        assert_eq!(
            reason(
                &[0, 1]
                    .iter()
                    .chain(&[0xff; 62])
                    .copied()
                    .collect::<Vec<_>>()
            ),
            "null before block missing"
        );
        assert!(pad_type1(&[0; 54], 64).is_err());
    }
}
