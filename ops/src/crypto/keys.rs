//! Importing and exporting asymmetric keys: raw, SubjectPublicKeyInfo, PKCS#8 and the members of
//! a JWK (the prelude parses the JSON and base64url; here they arrive as bytes). Every imported key
//! is decoded, checked (the algorithm OID and curve, the point on the curve, a private key's
//! public half against the JWK's) and re-encoded, so the DER a CryptoKey holds is canonical.
//!
//! Input of KeyImport: family, format, then the key: one field (raw, spki, pkcs8) or the JWK's
//! members (EC: x, y, d; OKP: x, d; RSA: n, e, d, p, q, dp, dq, qi; empty when absent).
//! Answer: kind (0 public, 1 private), DER, modulus bits and public exponent (RSA; else 0, empty).
//! Input of KeyExport: family, format, kind, DER. Answer: the bytes, or (jwk) the members.

use super::fields::{encode, Fields};
use super::{ec, okp, rsa, Family};
use crate::{OpError, OpResult};

const RAW: u32 = 0;
const SPKI: u32 = 1;
const PKCS8: u32 = 2;
const JWK: u32 = 3;

fn answer(der: Vec<u8>, private: bool) -> Vec<u8> {
    encode(&[
        &u32::from(private).to_le_bytes(),
        &der,
        &0u32.to_le_bytes(),
        &[],
    ])
}

fn rsa_answer(der: &[u8], private: bool) -> OpResult<Vec<u8>> {
    let (der, bits, e) = rsa::canonical(der, private)?;
    Ok(encode(&[
        &u32::from(private).to_le_bytes(),
        &der,
        &bits.to_le_bytes(),
        &e,
    ]))
}

fn unsupported_format() -> OpError {
    OpError::not_supported("this key format is not supported for this algorithm")
}

pub(crate) fn import(f: &Fields<'_>) -> OpResult<Vec<u8>> {
    let family = Family::from_u32(f.u32(0)?)?;
    let format = f.u32(1)?;
    match family {
        Family::P256 | Family::P384 | Family::P521 => match format {
            RAW => Ok(answer(ec::public_from_raw(family, f.bytes(2)?)?, false)),
            SPKI => Ok(answer(ec::public_canonical(family, f.bytes(2)?)?, false)),
            PKCS8 => Ok(answer(ec::private_canonical(family, f.bytes(2)?)?.0, true)),
            JWK => {
                let (der, private) = ec::from_jwk(family, f.bytes(2)?, f.bytes(3)?, f.bytes(4)?)?;
                Ok(answer(der, private))
            }
            _ => Err(unsupported_format()),
        },
        Family::Ed25519 | Family::X25519 => match format {
            RAW => Ok(answer(okp::spki(family, f.bytes(2)?)?, false)),
            SPKI => {
                let public = okp::public_raw(family, f.bytes(2)?)?;
                Ok(answer(okp::spki(family, &public)?, false))
            }
            PKCS8 => {
                let private = okp::private_raw(family, f.bytes(2)?)?;
                Ok(answer(okp::pkcs8(family, &private)?, true))
            }
            JWK => {
                let (x, d) = (f.bytes(2)?, f.bytes(3)?);
                if d.is_empty() {
                    return Ok(answer(okp::spki(family, x)?, false));
                }
                let d: [u8; 32] = d
                    .try_into()
                    .map_err(|_| OpError::data("the JWK's d must be 32 bytes"))?;
                if okp::public_of(family, &d)?.as_slice() != x {
                    return Err(OpError::data("the JWK's d does not match its x"));
                }
                Ok(answer(okp::pkcs8(family, &d)?, true))
            }
            _ => Err(unsupported_format()),
        },
        Family::Rsa => match format {
            SPKI => rsa_answer(f.bytes(2)?, false),
            PKCS8 => rsa_answer(f.bytes(2)?, true),
            JWK => {
                let parts: Vec<&[u8]> = (2..10).map(|i| f.bytes(i)).collect::<OpResult<_>>()?;
                let (der, private) = rsa::from_jwk(&parts)?;
                rsa_answer(&der, private)
            }
            _ => Err(unsupported_format()),
        },
    }
}

pub(crate) fn export(f: &Fields<'_>) -> OpResult<Vec<u8>> {
    let family = Family::from_u32(f.u32(0)?)?;
    let format = f.u32(1)?;
    let private = f.u32(2)? != 0;
    let der = f.bytes(3)?;
    let frame = |parts: Vec<Vec<u8>>| {
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        encode(&refs)
    };
    match (format, private) {
        (SPKI, false) | (PKCS8, true) => Ok(der.to_vec()),
        (RAW, false) => match family {
            Family::P256 | Family::P384 | Family::P521 => ec::public_raw(family, der),
            Family::Ed25519 | Family::X25519 => Ok(okp::public_raw(family, der)?.to_vec()),
            Family::Rsa => Err(unsupported_format()),
        },
        (JWK, _) => match family {
            Family::P256 | Family::P384 | Family::P521 => {
                Ok(frame(ec::jwk_parts(family, der, private)?))
            }
            Family::Ed25519 | Family::X25519 => {
                if private {
                    let d = okp::private_raw(family, der)?;
                    let x = okp::public_of(family, &d)?;
                    Ok(frame(vec![x.to_vec(), d.to_vec()]))
                } else {
                    Ok(frame(vec![okp::public_raw(family, der)?.to_vec()]))
                }
            }
            Family::Rsa => Ok(frame(rsa::jwk_parts(der, private)?)),
        },
        _ => Err(OpError::new(
            crate::ErrorKind::InvalidAccess,
            "this key type cannot be exported in that format",
        )),
    }
}
