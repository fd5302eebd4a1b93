//! ECDSA and ECDH on P-256, P-384 and P-521 (p256, p384, p521 crates: ecdsa with RFC 6979 deterministic
//! nonces, constant-time field arithmetic). Private keys cross as PKCS#8 DER, public keys as
//! SubjectPublicKeyInfo DER (see mod.rs). Signatures are WebCrypto's r || s (IEEE P1363). Cost:
//! one scalar multiplication (well under a millisecond), plus hashing the message (16 MiB cap).

use ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use elliptic_curve::sec1::{FromSec1Point, ToSec1Point};
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};

use super::hash::{prehash, Hash};
use super::{rng, Family};
use crate::{OpError, OpResult};

/// Runs `$body` with `$c` the curve crate (`p256` or `p384`) of `$family`.
macro_rules! with_curve {
    ($family:expr, $c:ident => $body:expr) => {
        match $family {
            Family::P256 => {
                use p256 as $c;
                #[allow(dead_code)]
                type NistCurve = p256::NistP256;
                $body
            }
            Family::P384 => {
                use p384 as $c;
                #[allow(dead_code)]
                type NistCurve = p384::NistP384;
                $body
            }
            Family::P521 => {
                use p521 as $c;
                #[allow(dead_code)]
                type NistCurve = p521::NistP521;
                $body
            }
            _ => Err(OpError::not_supported(
                "not an elliptic curve of ECDSA or ECDH",
            )),
        }
    };
}

pub(crate) fn bad_private() -> OpError {
    OpError::data("the private key is not a valid PKCS#8 key of this curve")
}

pub(crate) fn bad_public() -> OpError {
    OpError::data("the public key is not a valid SubjectPublicKeyInfo of this curve")
}

fn encode_failed() -> OpError {
    OpError::operation("the key could not be encoded")
}

/// A fresh key pair: (PKCS#8, SPKI).
pub(crate) fn generate(family: Family) -> OpResult<(Vec<u8>, Vec<u8>)> {
    with_curve!(family, c => {
        let secret = <c::SecretKey as elliptic_curve::Generate>::generate_from_rng(&mut rng::SysRng);
        let private = secret.to_pkcs8_der().map_err(|_| encode_failed())?;
        let public = secret.public_key().to_public_key_der().map_err(|_| encode_failed())?;
        Ok((private.as_bytes().to_vec(), public.as_bytes().to_vec()))
    })
}

pub(crate) fn sign(family: Family, hash: Hash, pkcs8: &[u8], data: &[u8]) -> OpResult<Vec<u8>> {
    let digest = prehash(hash, data);
    with_curve!(family, c => {
        let secret = c::SecretKey::from_pkcs8_der(pkcs8).map_err(|_| bad_private())?;
        let key = c::ecdsa::SigningKey::from(&secret);
        let sig: c::ecdsa::Signature = key
            .sign_prehash(&digest)
            .map_err(|_| OpError::operation("ECDSA signing failed"))?;
        Ok(sig.to_bytes().to_vec())
    })
}

pub(crate) fn verify(
    family: Family,
    hash: Hash,
    spki: &[u8],
    data: &[u8],
    sig: &[u8],
) -> OpResult<bool> {
    let digest = prehash(hash, data);
    with_curve!(family, c => {
        let public = c::PublicKey::from_public_key_der(spki).map_err(|_| bad_public())?;
        let key = c::ecdsa::VerifyingKey::from(&public);
        let Ok(sig) = c::ecdsa::Signature::from_slice(sig) else {
            return Ok(false);
        };
        Ok(key.verify_prehash(&digest, &sig).is_ok())
    })
}

/// The shared secret (the x coordinate of the shared point).
pub(crate) fn ecdh(family: Family, pkcs8: &[u8], peer_spki: &[u8]) -> OpResult<Vec<u8>> {
    with_curve!(family, c => {
        let secret = c::SecretKey::from_pkcs8_der(pkcs8).map_err(|_| bad_private())?;
        let public = c::PublicKey::from_public_key_der(peer_spki).map_err(|_| bad_public())?;
        let shared = secret.diffie_hellman(&public);
        Ok(shared.raw_secret_bytes().to_vec())
    })
}

/// The uncompressed SEC1 point of a public key.
pub(crate) fn public_raw(family: Family, spki: &[u8]) -> OpResult<Vec<u8>> {
    with_curve!(family, c => {
        let public = c::PublicKey::from_public_key_der(spki).map_err(|_| bad_public())?;
        Ok(public.to_sec1_point(false).as_bytes().to_vec())
    })
}

/// SPKI of a SEC1 point (compressed or not).
pub(crate) fn public_from_raw(family: Family, point: &[u8]) -> OpResult<Vec<u8>> {
    with_curve!(family, c => {
        let public = c::PublicKey::from_sec1_bytes(point)
            .map_err(|_| OpError::data("not a valid point on this curve"))?;
        Ok(public.to_public_key_der().map_err(|_| encode_failed())?.as_bytes().to_vec())
    })
}

/// Canonical SPKI of an SPKI (checks the algorithm, the curve and the point).
pub(crate) fn public_canonical(family: Family, spki: &[u8]) -> OpResult<Vec<u8>> {
    with_curve!(family, c => {
        let public = c::PublicKey::from_public_key_der(spki).map_err(|_| bad_public())?;
        Ok(public.to_public_key_der().map_err(|_| encode_failed())?.as_bytes().to_vec())
    })
}

/// Canonical PKCS#8 of a PKCS#8 key, and its public key's SPKI.
pub(crate) fn private_canonical(family: Family, pkcs8: &[u8]) -> OpResult<(Vec<u8>, Vec<u8>)> {
    with_curve!(family, c => {
        let secret = c::SecretKey::from_pkcs8_der(pkcs8).map_err(|_| bad_private())?;
        let private = secret.to_pkcs8_der().map_err(|_| encode_failed())?;
        let public = secret.public_key().to_public_key_der().map_err(|_| encode_failed())?;
        Ok((private.as_bytes().to_vec(), public.as_bytes().to_vec()))
    })
}

/// JWK members: x, y (and d of a private key), each exactly the field's length.
pub(crate) fn jwk_parts(family: Family, der: &[u8], private: bool) -> OpResult<Vec<Vec<u8>>> {
    with_curve!(family, c => {
        let (public, d) = if private {
            let secret = c::SecretKey::from_pkcs8_der(der).map_err(|_| bad_private())?;
            (secret.public_key(), Some(secret.to_bytes().to_vec()))
        } else {
            (c::PublicKey::from_public_key_der(der).map_err(|_| bad_public())?, None)
        };
        let point = public.to_sec1_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(encode_failed());
        };
        let mut parts = vec![x.to_vec(), y.to_vec()];
        parts.extend(d);
        Ok(parts)
    })
}

/// A key from JWK members x, y and (for a private key, non-empty) d: (DER, is private). The
/// private scalar must match the public point (DataError otherwise).
pub(crate) fn from_jwk(family: Family, x: &[u8], y: &[u8], d: &[u8]) -> OpResult<(Vec<u8>, bool)> {
    with_curve!(family, c => {
        type Point = elliptic_curve::sec1::Sec1Point<NistCurve>;
        let size = <NistCurve as elliptic_curve::Curve>::FieldBytesSize::to_usize();
        if x.len() != size || y.len() != size {
            return Err(OpError::data("the JWK's x and y must be the curve's field length"));
        }
        let point = Point::from_affine_coordinates(
            x.try_into().map_err(|_| bad_public())?,
            y.try_into().map_err(|_| bad_public())?,
            false,
        );
        let public = Option::<c::PublicKey>::from(c::PublicKey::from_sec1_point(&point))
            .ok_or_else(|| OpError::data("the JWK's x and y are not a point on the curve"))?;
        if d.is_empty() {
            let der = public.to_public_key_der().map_err(|_| encode_failed())?;
            return Ok((der.as_bytes().to_vec(), false));
        }
        if d.len() != size {
            return Err(OpError::data("the JWK's d must be the curve's field length"));
        }
        let secret = c::SecretKey::from_slice(d).map_err(|_| OpError::data("the JWK's d is not a valid scalar"))?;
        if secret.public_key() != public {
            return Err(OpError::data("the JWK's d does not match its x and y"));
        }
        let der = secret.to_pkcs8_der().map_err(|_| encode_failed())?;
        Ok((der.as_bytes().to_vec(), true))
    })
}

use elliptic_curve::array::typenum::Unsigned;

#[cfg(test)]
mod tests {
    use super::*;

    use crate::crypto::test_hex as hex;

    #[test]
    fn rfc_6979_p256_sha256_sample() {
        // RFC 6979 A.2.5: P-256, SHA-256, message "sample" (deterministic nonce).
        let x = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
        let ux = hex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6");
        let uy = hex("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299");
        let (private, is_private) = from_jwk(Family::P256, &ux, &uy, &x).expect("jwk");
        assert!(is_private);
        let (public, _) = from_jwk(Family::P256, &ux, &uy, &[]).expect("jwk public");
        let sig = sign(Family::P256, Hash::Sha256, &private, b"sample").expect("sign");
        let want = hex("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8");
        assert_eq!(sig, want);
        assert!(verify(Family::P256, Hash::Sha256, &public, b"sample", &sig).expect("verify"));
        assert!(!verify(Family::P256, Hash::Sha256, &public, b"sampl", &sig).expect("verify"));
        // A d that does not match x, y is a DataError.
        let mut other = x.clone();
        other[31] ^= 1;
        assert!(from_jwk(Family::P256, &ux, &uy, &other).is_err());
        // ECDH of a key with itself is its public x coordinate times d: both halves agree.
        let a = generate(Family::P384).expect("a");
        let b = generate(Family::P384).expect("b");
        assert_eq!(
            ecdh(Family::P384, &a.0, &b.1).expect("ab"),
            ecdh(Family::P384, &b.0, &a.1).expect("ba")
        );
    }
}
