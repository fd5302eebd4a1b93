//! Ed25519 (ed25519-dalek: RFC 8032, strict verification that refuses small-order keys and
//! non-canonical signatures) and X25519 (x25519-dalek: RFC 7748). Keys cross as PKCS#8 (version 1,
//! the 48-byte form other runtimes export) and SubjectPublicKeyInfo DER with the RFC 8410 OIDs.
//! Cost: one scalar multiplication, plus the message for Ed25519 (16 MiB cap).

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use pkcs8::der::Decode;

use super::{rng, Family};
use crate::{OpError, OpResult};

const OID_X25519: [u8; 3] = [0x2b, 0x65, 0x6e];
const OID_ED25519: [u8; 3] = [0x2b, 0x65, 0x70];

fn oid(family: Family) -> OpResult<&'static [u8; 3]> {
    match family {
        Family::Ed25519 => Ok(&OID_ED25519),
        Family::X25519 => Ok(&OID_X25519),
        _ => Err(OpError::not_supported("not an RFC 8410 key family")),
    }
}

/// SubjectPublicKeyInfo DER of a 32-byte public key.
pub(crate) fn spki(family: Family, public: &[u8]) -> OpResult<Vec<u8>> {
    if public.len() != 32 {
        return Err(OpError::data("the public key must be 32 bytes"));
    }
    let mut out = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03];
    out.extend_from_slice(oid(family)?);
    out.extend_from_slice(&[0x03, 0x21, 0x00]);
    out.extend_from_slice(public);
    Ok(out)
}

/// PKCS#8 (v1) DER of a 32-byte private key.
pub(crate) fn pkcs8(family: Family, private: &[u8]) -> OpResult<Vec<u8>> {
    if private.len() != 32 {
        return Err(OpError::data("the private key must be 32 bytes"));
    }
    let mut out = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03];
    out.extend_from_slice(oid(family)?);
    out.extend_from_slice(&[0x04, 0x22, 0x04, 0x20]);
    out.extend_from_slice(private);
    Ok(out)
}

/// The 32-byte public key in an SPKI of `family`.
pub(crate) fn public_raw(family: Family, der: &[u8]) -> OpResult<[u8; 32]> {
    let bad = || OpError::data("not a valid SubjectPublicKeyInfo of this algorithm");
    let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|_| bad())?;
    if info.algorithm.oid.as_bytes() != oid(family)? || info.algorithm.parameters.is_some() {
        return Err(bad());
    }
    info.subject_public_key
        .as_bytes()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(bad)
}

/// The 32-byte private key in a PKCS#8 of `family` (version 1 or 2).
pub(crate) fn private_raw(family: Family, der: &[u8]) -> OpResult<[u8; 32]> {
    let bad = || OpError::data("not a valid PKCS#8 key of this algorithm");
    let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| bad())?;
    if info.algorithm.oid.as_bytes() != oid(family)? || info.algorithm.parameters.is_some() {
        return Err(bad());
    }
    // RFC 8410: the privateKey OCTET STRING holds a CurvePrivateKey, itself an OCTET STRING.
    match info.private_key.as_bytes() {
        [0x04, 0x20, rest @ ..] => <[u8; 32]>::try_from(rest).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// The public key of a private key.
pub(crate) fn public_of(family: Family, private: &[u8; 32]) -> OpResult<[u8; 32]> {
    match family {
        Family::Ed25519 => Ok(SigningKey::from_bytes(private).verifying_key().to_bytes()),
        Family::X25519 => {
            let secret = x25519_dalek::StaticSecret::from(*private);
            Ok(x25519_dalek::PublicKey::from(&secret).to_bytes())
        }
        _ => Err(OpError::not_supported("not an RFC 8410 key family")),
    }
}

/// A fresh key pair: (PKCS#8, SPKI).
pub(crate) fn generate(family: Family) -> OpResult<(Vec<u8>, Vec<u8>)> {
    let mut seed = [0u8; 32];
    rng::fill(&mut seed);
    let public = public_of(family, &seed)?;
    Ok((pkcs8(family, &seed)?, spki(family, &public)?))
}

pub(crate) fn sign(der: &[u8], data: &[u8]) -> OpResult<Vec<u8>> {
    let seed = private_raw(Family::Ed25519, der)?;
    Ok(SigningKey::from_bytes(&seed).sign(data).to_bytes().to_vec())
}

pub(crate) fn verify(der: &[u8], data: &[u8], sig: &[u8]) -> OpResult<bool> {
    let public = public_raw(Family::Ed25519, der)?;
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return Ok(false);
    };
    let Ok(key) = VerifyingKey::from_bytes(&public) else {
        return Ok(false);
    };
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    Ok(key.verify_strict(data, &sig).is_ok())
}

/// X25519: the shared secret; an all-zero result (a small-order peer key) is an OperationError
/// (RFC 7748 section 6.1, the WebCrypto specification).
pub(crate) fn x25519(der: &[u8], peer_spki: &[u8]) -> OpResult<Vec<u8>> {
    let secret = x25519_dalek::StaticSecret::from(private_raw(Family::X25519, der)?);
    let peer = x25519_dalek::PublicKey::from(public_raw(Family::X25519, peer_spki)?);
    let shared = secret.diffie_hellman(&peer);
    if shared.as_bytes().iter().all(|b| *b == 0) {
        return Err(OpError::operation(
            "X25519: the peer's public key is of small order",
        ));
    }
    Ok(shared.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::crypto::test_hex as hex;

    #[test]
    fn rfc_8032_test_1() {
        // RFC 8032 7.1 TEST 1: the empty message.
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
        let private = pkcs8(Family::Ed25519, &seed).expect("pkcs8");
        let spki_der = spki(Family::Ed25519, &public).expect("spki");
        assert_eq!(sign(&private, b"").expect("sign"), sig);
        assert!(verify(&spki_der, b"", &sig).expect("verify"));
        assert!(!verify(&spki_der, b"x", &sig).expect("verify"));
        let seed: [u8; 32] = seed.try_into().expect("32");
        assert_eq!(
            public_of(Family::Ed25519, &seed).expect("pub").to_vec(),
            public
        );
    }

    #[test]
    fn rfc_7748_x25519_exchange() {
        // RFC 7748 6.1: Alice's and Bob's keys and their shared secret.
        let a = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let b_pub = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let a_pub = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let k = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        let a32: [u8; 32] = a.clone().try_into().expect("32");
        assert_eq!(
            public_of(Family::X25519, &a32).expect("pub").to_vec(),
            a_pub
        );
        let shared = x25519(
            &pkcs8(Family::X25519, &a).expect("p8"),
            &spki(Family::X25519, &b_pub).expect("spki"),
        );
        assert_eq!(shared.expect("dh"), k);
        // A small-order peer key (the zero point) gives an all-zero secret: refused.
        let zero = spki(Family::X25519, &[0u8; 32]).expect("spki");
        assert!(x25519(&pkcs8(Family::X25519, &a).expect("p8"), &zero).is_err());
    }
}
