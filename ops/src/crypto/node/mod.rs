//! node:crypto's native half (ops 0x06xx; js/node-crypto*.js): what Node's API needs beyond
//! WebCrypto's ops (crypto/mod.rs), on the same crates and under the same rules: a copy of an
//! incremental digest, incremental HMAC, PBKDF2 and HKDF over Node's digests (digest.rs), scrypt
//! (scrypt.rs), the key encodings Node reads and writes (keys.rs) and encrypted PKCS#8
//! (pkcs8_encrypted.rs), streaming ciphers (cipher.rs, gcm.rs, chacha.rs), createECDH (ecdh.rs),
//! finite-field Diffie-Hellman (dh.rs, dh_groups.rs), RSA PKCS#1 v1.5 and raw encryption
//! (rsa_raw.rs) and X.509 certificates (x509.rs). Signatures, key generation, RSA-OAEP and key agreement reuse the
//! WebCrypto family ops; hashes reuse DigestNew/Update/Finish.
//!
//! Caps: stateful objects (digest copies, HMACs, ciphers) are declared to the isolate's OpState
//! (its caps hold them); PBKDF2 (also under encrypted PKCS#8), scrypt, DH exponentiations and
//! safe-prime searches check for termination as they go (their cost is the tenant's choice); HKDF, key parsing and one cipher update are linear in their input (16 MiB
//! cap) or bounded by the key sizes the family modules accept.

mod chacha;
pub(crate) mod cipher;
mod dh;
mod dh_groups;
pub(crate) mod digest;
mod ecdh;
mod gcm;
pub(crate) mod keys;
mod pkcs8_encrypted;
mod rsa_raw;
pub(crate) mod scrypt;
mod x509;
mod x509_text;

use super::Family;
use crate::fields::Fields;
use crate::{OpCode, OpCtx, OpError, OpResult};

pub(crate) fn run(op: OpCode, input: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    let f = Fields::parse(input)?;
    match op {
        // The second field, a SHAKE copy's output length, is optional.
        OpCode::DigestCopy => super::hash::digest_copy(f.u32(0)?, f.u32(1).ok(), ctx.state()?),
        OpCode::HmacNew => digest::hmac_new(f.u32(0)?, f.bytes(1)?, ctx.state()?),
        OpCode::HmacUpdate => digest::hmac_update(f.u32(0)?, f.bytes(1)?, ctx.state()?, ctx),
        OpCode::HmacFinish => digest::hmac_finish(f.u32(0)?, ctx.state()?),
        OpCode::NodePbkdf2 => digest::pbkdf2(
            f.u32(0)?,
            f.bytes(1)?,
            f.bytes(2)?,
            f.u32(3)?,
            f.u32(4)?,
            ctx,
        ),
        OpCode::NodeHkdf => {
            digest::hkdf(f.u32(0)?, f.bytes(1)?, f.bytes(2)?, f.bytes(3)?, f.u32(4)?)
        }
        OpCode::Scrypt => scrypt::scrypt(
            f.bytes(0)?,
            f.bytes(1)?,
            f.u32(2)?,
            f.u32(3)?,
            f.u32(4)?,
            f.u32(5)?,
            ctx,
        ),
        OpCode::KeyParse => keys::parse(f.u32(0)?, f.bytes(1)?),
        OpCode::KeyPublicOf => keys::public_of(Family::from_u32(f.u32(0)?)?, f.bytes(1)?),
        OpCode::KeyEncode => keys::encode_as(Family::from_u32(f.u32(0)?)?, f.u32(1)?, f.bytes(2)?),
        OpCode::CipherNew => cipher::new(
            f.u32(0)?,
            f.u32(1)? != 0,
            f.bytes(2)?,
            f.bytes(3)?,
            f.u32(4)?,
            ctx.state()?,
        ),
        OpCode::CipherUpdate => {
            let data = f.bytes(1)?;
            cipher::with(f.u32(0)?, ctx.state()?, |c| c.update(data))
        }
        OpCode::CipherAad => {
            let aad = f.bytes(1)?;
            cipher::with(f.u32(0)?, ctx.state()?, |c| c.set_aad(aad)).map(|()| Vec::new())
        }
        OpCode::CipherPadding => {
            let on = f.u32(1)? != 0;
            cipher::with(f.u32(0)?, ctx.state()?, |c| c.set_padding(on)).map(|()| Vec::new())
        }
        OpCode::CipherFinal => cipher::finish(f.u32(0)?, f.bytes(1)?, ctx.state()?),
        OpCode::KeyDecrypt => pkcs8_encrypted::decrypt(f.bytes(0)?, f.bytes(1)?, ctx),
        OpCode::KeyEncrypt => pkcs8_encrypted::encrypt(f.bytes(0)?, f.u32(1)?, f.bytes(2)?, ctx),
        OpCode::EcdhKeys => ecdh::keys(Family::from_u32(f.u32(0)?)?, f.bytes(1)?),
        OpCode::EcdhPoint => ecdh::point(Family::from_u32(f.u32(0)?)?, f.bytes(1)?, f.u32(2)?),
        OpCode::EcdhCompute => {
            ecdh::compute(Family::from_u32(f.u32(0)?)?, f.bytes(1)?, f.bytes(2)?)
        }
        OpCode::DhGroup => dh::group(f.u32(0)?),
        OpCode::DhCheck => {
            dh::check(f.bytes(0)?, f.bytes(1)?, ctx).map(|v| v.to_le_bytes().to_vec())
        }
        OpCode::DhKeys => dh::keys(f.bytes(0)?, f.bytes(1)?, f.bytes(2)?, ctx),
        OpCode::DhCompute => dh::compute(f.bytes(0)?, f.bytes(1)?, f.bytes(2)?, ctx),
        OpCode::DhPrime => dh::generate_prime(f.u32(0)?, ctx),
        OpCode::RsaRaw => rsa_raw::run(f.u32(0)?, f.u32(1)?, f.bytes(2)?, f.bytes(3)?),
        OpCode::X509Parse => x509::parse(f.bytes(0)?),
        OpCode::X509Verify => x509::verify(f.bytes(0)?, f.bytes(1)?).map(|ok| vec![u8::from(ok)]),
        OpCode::X509Check => x509::check(f.bytes(0)?, f.u32(1)?, f.bytes(2)?, f.u32(3)?),
        _ => Err(OpError::not_supported("not a node:crypto op")),
    }
}
