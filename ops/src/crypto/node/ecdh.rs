//! node:crypto's `createECDH` on raw keys (P-256, P-384, P-521 through the p256/p384/p521
//! crates): a private key is the scalar's big-endian bytes (the field's length), a public key a
//! SEC1 point, uncompressed (04), compressed (02/03) or hybrid (06/07, OpenSSL's form: the
//! uncompressed point with the y parity in the prefix), as Node reads and writes them.
//!
//! EcdhKeys(family, scalar) -> [scalar, uncompressed point] (an empty scalar: a fresh one);
//! EcdhPoint(family, point, form) -> the point in `form` (0 uncompressed, 1 compressed, 2 hybrid),
//! checked to be on the curve; EcdhCompute(family, scalar, peer point) -> the shared x coordinate.
//! Every input is checked by the curve crates (a scalar in 1..n, a point on the curve, not the
//! identity); a bad one is a DataError the prelude turns into Node's error. Cost: one scalar
//! multiplication (well under a millisecond).
//!
//! Trusts: p256, p384, p521 (elliptic-curve).

use elliptic_curve::sec1::ToSec1Point;

use super::super::{rng, Family};
use crate::{fields, OpError, OpResult};

fn bad_private() -> OpError {
    OpError::data("Private key is not valid for specified curve.")
}
fn bad_point() -> OpError {
    OpError::data("Failed to convert Buffer to EC_POINT")
}

/// `$body` with `$c` the curve crate of `$family`.
macro_rules! with_curve {
    ($family:expr, $c:ident => $body:expr) => {
        match $family {
            Family::P256 => {
                use p256 as $c;
                $body
            }
            Family::P384 => {
                use p384 as $c;
                $body
            }
            Family::P521 => {
                use p521 as $c;
                $body
            }
            _ => Err(OpError::not_supported("not a curve of createECDH")),
        }
    };
}

/// A hybrid point (06/07) as the uncompressed one (04), checking its parity; others as given.
fn unhybrid(point: &[u8]) -> OpResult<std::borrow::Cow<'_, [u8]>> {
    match point.first() {
        Some(6) | Some(7) => {
            let odd = point.last().map(|b| b & 1).unwrap_or(0);
            if odd != point[0] & 1 {
                return Err(bad_point());
            }
            let mut p = point.to_vec();
            p[0] = 4;
            Ok(std::borrow::Cow::Owned(p))
        }
        _ => Ok(std::borrow::Cow::Borrowed(point)),
    }
}

fn form(uncompressed: Vec<u8>, compressed: Vec<u8>, which: u32) -> OpResult<Vec<u8>> {
    Ok(match which {
        0 => uncompressed,
        1 => compressed,
        2 => {
            let mut p = uncompressed;
            let odd = p.last().map(|b| b & 1).unwrap_or(0);
            p[0] = 6 | odd;
            p
        }
        _ => return Err(OpError::type_error("unknown point form")),
    })
}

/// EcdhKeys: see the module comment. A scalar shorter than the field is left-padded.
pub(crate) fn keys(family: Family, scalar: &[u8]) -> OpResult<Vec<u8>> {
    with_curve!(family, c => {
        let secret = if scalar.is_empty() {
            <c::SecretKey as elliptic_curve::Generate>::generate_from_rng(&mut rng::SysRng)
        } else {
            let mut bytes = c::FieldBytes::default();
            let n = bytes.len();
            let trimmed = &scalar[scalar.iter().take_while(|b| **b == 0).count()..];
            if trimmed.len() > n {
                return Err(bad_private());
            }
            bytes[n - trimmed.len()..].copy_from_slice(trimmed);
            c::SecretKey::from_bytes(&bytes).map_err(|_| bad_private())?
        };
        let public = secret.public_key().to_sec1_point(false);
        Ok(fields::encode(&[secret.to_bytes().as_slice(), public.as_bytes()]))
    })
}

/// EcdhPoint: see the module comment.
pub(crate) fn point(family: Family, point: &[u8], which: u32) -> OpResult<Vec<u8>> {
    let point = unhybrid(point)?;
    with_curve!(family, c => {
        let public = c::PublicKey::from_sec1_bytes(&point).map_err(|_| bad_point())?;
        form(
            public.to_sec1_point(false).as_bytes().to_vec(),
            public.to_sec1_point(true).as_bytes().to_vec(),
            which,
        )
    })
}

/// EcdhCompute: see the module comment.
pub(crate) fn compute(family: Family, scalar: &[u8], peer: &[u8]) -> OpResult<Vec<u8>> {
    let peer = unhybrid(peer)?;
    with_curve!(family, c => {
        let secret = c::SecretKey::from_slice(scalar).map_err(|_| bad_private())?;
        let public = c::PublicKey::from_sec1_bytes(&peer)
            .map_err(|_| OpError::data("Public key is not valid for specified curve"))?;
        Ok(secret.diffie_hellman(&public).raw_secret_bytes().to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree_and_forms_round_trip() {
        for family in [Family::P256, Family::P384, Family::P521] {
            let a = fields::Fields::parse(&keys(family, &[]).expect("a"))
                .and_then(|f| Ok((f.bytes(0)?.to_vec(), f.bytes(1)?.to_vec())))
                .expect("a");
            let b = fields::Fields::parse(&keys(family, &[]).expect("b"))
                .and_then(|f| Ok((f.bytes(0)?.to_vec(), f.bytes(1)?.to_vec())))
                .expect("b");
            let ab = compute(family, &a.0, &b.1).expect("ab");
            let compressed = point(family, &b.1, 1).expect("compressed");
            let hybrid = point(family, &b.1, 2).expect("hybrid");
            assert_eq!(compute(family, &b.0, &a.1).expect("ba"), ab);
            assert_eq!(compute(family, &a.0, &compressed).expect("c"), ab);
            assert_eq!(compute(family, &a.0, &hybrid).expect("h"), ab);
            assert_eq!(point(family, &hybrid, 0).expect("back"), b.1);
            let mut off = b.1.clone();
            off[5] ^= 1;
            assert!(point(family, &off, 0).is_err());
            assert!(keys(family, &[0]).is_err());
        }
    }
}
