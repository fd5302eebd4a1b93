//! Encrypted PKCS#8 (`-----BEGIN ENCRYPTED PRIVATE KEY-----`, RFC 5958's EncryptedPrivateKeyInfo)
//! for node:crypto's createPrivateKey({key, passphrase}) and export({cipher, passphrase}): PBES2
//! (RFC 8018) with PBKDF2 (HMAC-SHA-1/224/256/384/512) and AES-128/192/256-CBC, the scheme
//! OpenSSL 3 and Node write. The pkcs8/pkcs5 crates parse and write the structure; the PBKDF2 is
//! node/digest.rs's, which checks for termination as it goes (an encrypted key names its own
//! iteration count, so its cost is the tenant's choice), and the CBC is crypto/aes.rs's.
//!
//! KeyDecrypt(der, passphrase) -> the PKCS#8 DER inside (not yet checked as a key: the caller
//! parses it); KeyEncrypt(pkcs8 der, cipher, passphrase) -> EncryptedPrivateKeyInfo DER, with
//! OpenSSL's parameters (PBKDF2-HMAC-SHA-256, 2048 iterations, an 8-byte salt, a random IV;
//! cipher 1, 2, 3: AES-128, -192, -256-CBC). A wrong passphrase is, as in OpenSSL, "bad decrypt"
//! when the padding does not check out, and a DataError (OpenSSL's decoder: "unsupported") in the
//! one time in about 256 it does and what comes out is not PKCS#8; other schemes (scrypt, PBES1,
//! DES, AES-GCM) are NotSupportedError.
//!
//! Trusts: pkcs8, pkcs5 (parsing, encoding), aes/cbc and hmac/sha2 through the modules named.

use pkcs8::der::{Decode, Encode};
use pkcs8::pkcs5::pbes2::{self, EncryptionScheme as Cipher, Pbkdf2Prf};
use pkcs8::pkcs5::EncryptionScheme;
use pkcs8::{EncryptedPrivateKeyInfoOwned, EncryptedPrivateKeyInfoRef};

use super::super::{aes, rng};
use super::digest;
use crate::{OpCtx, OpError, OpResult};

const ITERATIONS: u32 = 2048;

fn bad_decrypt() -> OpError {
    OpError::operation("bad decrypt")
}

/// node/digest.rs's digest number of a PBKDF2 PRF (crypto/hash.rs numbering).
fn prf_digest(prf: Pbkdf2Prf) -> OpResult<u32> {
    Ok(match prf {
        Pbkdf2Prf::HmacWithSha1 => 1,
        Pbkdf2Prf::HmacWithSha256 => 2,
        Pbkdf2Prf::HmacWithSha384 => 3,
        Pbkdf2Prf::HmacWithSha512 => 4,
        Pbkdf2Prf::HmacWithSha224 => 9,
        _ => return Err(OpError::not_supported("unsupported PBKDF2 digest")),
    })
}

/// KeyDecrypt: see the module comment.
pub(crate) fn decrypt(der: &[u8], passphrase: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    let info = EncryptedPrivateKeyInfoRef::from_der(der)
        .map_err(|_| OpError::data("not an EncryptedPrivateKeyInfo"))?;
    let unsupported = || OpError::not_supported("unsupported private key encryption");
    let EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        return Err(unsupported());
    };
    let kdf = params.kdf.pbkdf2().ok_or_else(unsupported)?;
    let (iv, key_len) = match params.encryption {
        Cipher::Aes128Cbc { iv } => (iv, 16),
        Cipher::Aes192Cbc { iv } => (iv, 24),
        Cipher::Aes256Cbc { iv } => (iv, 32),
        _ => return Err(unsupported()),
    };
    if kdf.key_length.is_some_and(|n| usize::from(n) != key_len) {
        return Err(bad_decrypt());
    }
    let key = digest::pbkdf2(
        prf_digest(kdf.prf)?,
        passphrase,
        kdf.salt.as_bytes(),
        kdf.iteration_count,
        key_len as u32,
        ctx,
    )?;
    let plain = aes::cbc(false, &key, &iv, info.encrypted_data.as_bytes()).map_err(|e| {
        if e.kind == crate::ErrorKind::Cancelled {
            e
        } else {
            bad_decrypt()
        }
    })?;
    // A wrong passphrase passes the padding check one time in about 256: what comes out is then
    // not PKCS#8, which OpenSSL reports as its decoder's fault, not as "bad decrypt".
    pkcs8::PrivateKeyInfoRef::from_der(&plain)
        .map_err(|_| OpError::data("the decrypted key is not PKCS#8"))?;
    Ok(plain)
}

/// KeyEncrypt: see the module comment.
pub(crate) fn encrypt(
    pkcs8_der: &[u8],
    cipher: u32,
    passphrase: &[u8],
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    let mut salt = [0u8; 8];
    let mut iv = [0u8; 16];
    rng::fill(&mut salt);
    rng::fill(&mut iv);
    let (encryption, key_len) = match cipher {
        1 => (Cipher::Aes128Cbc { iv }, 16),
        2 => (Cipher::Aes192Cbc { iv }, 24),
        3 => (Cipher::Aes256Cbc { iv }, 32),
        _ => return Err(OpError::not_supported("unsupported private key cipher")),
    };
    let failed = || OpError::operation("the key could not be encrypted");
    let kdf = pbes2::Pbkdf2Params::hmac_sha256(ITERATIONS, &salt).map_err(|_| failed())?;
    let key = digest::pbkdf2(2, passphrase, &salt, ITERATIONS, key_len, ctx)?;
    let data = aes::cbc(true, &key, &iv, pkcs8_der)?;
    let info = EncryptedPrivateKeyInfoOwned {
        encryption_algorithm: EncryptionScheme::Pbes2(pbes2::Parameters {
            kdf: kdf.into(),
            encryption,
        }),
        encrypted_data: pkcs8::der::asn1::OctetString::new(data).map_err(|_| failed())?,
    };
    info.to_der().map_err(|_| failed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn round_trips_and_a_wrong_passphrase_is_bad_decrypt() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let (p8, _) =
            super::super::super::ec::generate(super::super::super::Family::P256).expect("key");
        let enc = encrypt(&p8, 3, b"pass", &ctx).expect("encrypt");
        assert_eq!(decrypt(&enc, b"pass", &ctx).expect("decrypt"), p8);
        assert_eq!(
            decrypt(&enc, b"nope", &ctx).expect_err("wrong").message,
            "bad decrypt"
        );
        // A passphrase whose padding checks out but whose bytes are not PKCS#8 (made here
        // directly: for a wrong passphrase it is chance): a DataError, not "bad decrypt".
        let mut not_p8 = enc.clone();
        let info = EncryptedPrivateKeyInfoRef::from_der(&enc).expect("parse");
        let EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
            panic!("PBES2")
        };
        let (Some(kdf), Cipher::Aes256Cbc { iv }) = (params.kdf.pbkdf2(), params.encryption) else {
            panic!("PBKDF2, AES-256-CBC")
        };
        let key =
            digest::pbkdf2(2, b"nope", kdf.salt.as_bytes(), ITERATIONS, 32, &ctx).expect("kdf");
        let garbage = aes::cbc(true, &key, &iv, &vec![0x42; p8.len()]).expect("cbc");
        let data = info.encrypted_data.as_bytes();
        assert_eq!(garbage.len(), data.len());
        let at = not_p8.len() - data.len();
        assert_eq!(&not_p8[at..], data);
        not_p8[at..].copy_from_slice(&garbage);
        let e = decrypt(&not_p8, b"nope", &ctx).expect_err("not PKCS#8");
        assert_eq!(e.kind, crate::ErrorKind::Data, "{e:?}");
        // The pkcs8 crate's own decryption reads what was written.
        let info = EncryptedPrivateKeyInfoRef::from_der(&enc).expect("parse");
        assert_eq!(info.decrypt(b"pass").expect("pkcs8").as_bytes(), &p8[..]);
    }
}
