//! node:crypto's key encodings beyond WebCrypto's: which family a PKCS#8 or SubjectPublicKeyInfo
//! key is (node's `createPrivateKey`/`createPublicKey` are told no algorithm), PKCS#1 (RSA) and
//! SEC1 (EC) keys in and out, and a private key's public half. Every key that comes in is
//! decoded, checked and re-encoded by the family modules (`super::super::{ec, okp, rsa}`), so
//! what the prelude keeps is canonical PKCS#8 or SPKI DER, as for a CryptoKey.
//!
//! KeyParse(kind, der) -> [family, private (0/1), canonical DER, modulus bits, public exponent]
//! (kinds: [`PKCS8`], [`SPKI`], [`PKCS1_PRIVATE`], [`PKCS1_PUBLIC`], [`SEC1`]).
//! KeyPublicOf(family, pkcs8) -> SPKI. KeyEncode(family, kind, der) -> PKCS#1 or SEC1 DER.
//!
//! Trusts: the rsa, pkcs8, spki, p256/p384/p521 (sec1) crates.

use pkcs8::der::Decode;
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::pkcs1::{
    DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey, EncodeRsaPublicKey,
};

use crate::crypto::{ec, okp, rsa as rsa_family, Family};
use crate::fields::encode;
use crate::{OpError, OpResult};

pub(crate) const PKCS8: u32 = 0;
pub(crate) const SPKI: u32 = 1;
pub(crate) const PKCS1_PRIVATE: u32 = 2;
pub(crate) const PKCS1_PUBLIC: u32 = 3;
pub(crate) const SEC1: u32 = 4;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";
const OID_ED25519: &str = "1.3.101.112";
const OID_X25519: &str = "1.3.101.110";

fn unsupported() -> OpError {
    OpError::not_supported("Unsupported key type or curve")
}
fn bad(what: &str) -> OpError {
    OpError::data(format!("Failed to read the {what} key"))
}

/// The family an AlgorithmIdentifier names.
fn family_of(alg: &spki::AlgorithmIdentifierRef<'_>) -> OpResult<Family> {
    let oid = alg.oid.to_string();
    Ok(match oid.as_str() {
        OID_RSA => Family::Rsa,
        OID_ED25519 => Family::Ed25519,
        OID_X25519 => Family::X25519,
        OID_EC => {
            let curve = alg.parameters_oid().map_err(|_| unsupported())?.to_string();
            match curve.as_str() {
                OID_P256 => Family::P256,
                OID_P384 => Family::P384,
                OID_P521 => Family::P521,
                _ => return Err(unsupported()),
            }
        }
        _ => return Err(unsupported()),
    })
}

fn answer(family: Family, private: bool, der: &[u8], bits: u32, e: &[u8]) -> Vec<u8> {
    encode(&[
        &(family as u32).to_le_bytes(),
        &u32::from(private).to_le_bytes(),
        der,
        &bits.to_le_bytes(),
        e,
    ])
}

fn canonical(family: Family, private: bool, der: &[u8]) -> OpResult<Vec<u8>> {
    match family {
        Family::Rsa => {
            let (der, bits, e) = rsa_family::canonical(der, private)?;
            Ok(answer(family, private, &der, bits, &e))
        }
        Family::P256 | Family::P384 | Family::P521 => {
            let der = if private {
                ec::private_canonical(family, der)?.0
            } else {
                ec::public_canonical(family, der)?
            };
            Ok(answer(family, private, &der, 0, &[]))
        }
        Family::Ed25519 | Family::X25519 => {
            let der = if private {
                okp::pkcs8(family, &okp::private_raw(family, der)?)?
            } else {
                okp::spki(family, &okp::public_raw(family, der)?)?
            };
            Ok(answer(family, private, &der, 0, &[]))
        }
    }
}

/// KeyParse: see the module comment.
pub(crate) fn parse(kind: u32, der: &[u8]) -> OpResult<Vec<u8>> {
    match kind {
        PKCS8 => {
            let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| bad("private"))?;
            canonical(family_of(&info.algorithm)?, true, der)
        }
        SPKI => {
            let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| bad("public"))?;
            canonical(family_of(&info.algorithm)?, false, der)
        }
        PKCS1_PRIVATE => {
            let key = rsa::PrivateKey::from_pkcs1_der(der).map_err(|_| bad("private"))?;
            let p8 = key.to_pkcs8_der().map_err(|_| bad("private"))?;
            canonical(Family::Rsa, true, p8.as_bytes())
        }
        PKCS1_PUBLIC => {
            let key = rsa::PublicKey::from_pkcs1_der(der).map_err(|_| bad("public"))?;
            let spki = key.to_public_key_der().map_err(|_| bad("public"))?;
            canonical(Family::Rsa, false, spki.as_bytes())
        }
        SEC1 => {
            macro_rules! try_curve {
                ($c:ident, $family:expr) => {
                    if let Ok(secret) = $c::SecretKey::from_sec1_der(der) {
                        let p8 = secret.to_pkcs8_der().map_err(|_| bad("private"))?;
                        return canonical($family, true, p8.as_bytes());
                    }
                };
            }
            try_curve!(p256, Family::P256);
            try_curve!(p384, Family::P384);
            try_curve!(p521, Family::P521);
            Err(bad("private"))
        }
        _ => Err(OpError::type_error("unknown key encoding")),
    }
}

/// KeyPublicOf: the SPKI of a (canonical) private key's public half.
pub(crate) fn public_of(family: Family, pkcs8: &[u8]) -> OpResult<Vec<u8>> {
    match family {
        Family::Rsa => {
            let key = rsa_family::private_key(pkcs8)?;
            let spki = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|_| bad("public"))?;
            Ok(spki.as_bytes().to_vec())
        }
        Family::P256 | Family::P384 | Family::P521 => Ok(ec::private_canonical(family, pkcs8)?.1),
        Family::Ed25519 | Family::X25519 => {
            let d = okp::private_raw(family, pkcs8)?;
            okp::spki(family, &okp::public_of(family, &d)?)
        }
    }
}

/// KeyEncode: a canonical key as PKCS#1 (RSA) or SEC1 (an EC private key).
pub(crate) fn encode_as(family: Family, kind: u32, der: &[u8]) -> OpResult<Vec<u8>> {
    let failed = || OpError::operation("the key could not be encoded");
    match (family, kind) {
        (Family::Rsa, PKCS1_PRIVATE) => Ok(rsa_family::private_key(der)?
            .to_pkcs1_der()
            .map_err(|_| failed())?
            .as_bytes()
            .to_vec()),
        (Family::Rsa, PKCS1_PUBLIC) => Ok(rsa_family::public_key(der)?
            .to_pkcs1_der()
            .map_err(|_| failed())?
            .as_bytes()
            .to_vec()),
        (Family::P256, SEC1) => sec1_of::<p256::NistP256>(der),
        (Family::P384, SEC1) => sec1_of::<p384::NistP384>(der),
        (Family::P521, SEC1) => sec1_of::<p521::NistP521>(der),
        _ => Err(OpError::type_error(
            "this key cannot be exported in that type",
        )),
    }
}

fn sec1_of<C>(der: &[u8]) -> OpResult<Vec<u8>>
where
    C: elliptic_curve::CurveArithmetic + pkcs8::AssociatedOid,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromSec1Point<C> + elliptic_curve::sec1::ToSec1Point<C>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
{
    let secret =
        elliptic_curve::SecretKey::<C>::from_pkcs8_der(der).map_err(|_| ec::bad_private())?;
    Ok(secret
        .to_sec1_der()
        .map_err(|_| OpError::operation("the key could not be encoded"))?
        .to_vec())
}
