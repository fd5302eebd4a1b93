//! node:crypto's native half (ops 0x06xx; js/node-crypto*.js): what Node's API needs beyond
//! WebCrypto's ops (crypto/mod.rs), on the same crates and under the same rules: a copy of an
//! incremental digest, incremental HMAC, PBKDF2 and HKDF over Node's digests (digest.rs), scrypt
//! (scrypt.rs), the key encodings Node reads and writes (keys.rs) and streaming AES ciphers
//! (cipher.rs, gcm.rs). Signatures, key generation, RSA-OAEP and key agreement reuse the
//! WebCrypto family ops; hashes reuse DigestNew/Update/Finish.
//!
//! Caps: stateful objects (digest copies, HMACs, ciphers) are declared to the isolate's OpState
//! (its caps hold them); PBKDF2 and scrypt check for termination as they go (their cost is the
//! tenant's choice); HKDF, key parsing and one cipher update are linear in their input (16 MiB
//! cap) or bounded by the key sizes the family modules accept.

pub(crate) mod cipher;
pub(crate) mod digest;
mod gcm;
pub(crate) mod keys;
pub(crate) mod scrypt;

use super::Family;
use crate::fields::Fields;
use crate::{OpCode, OpCtx, OpError, OpResult};

pub(crate) fn run(op: OpCode, input: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    let f = Fields::parse(input)?;
    match op {
        OpCode::DigestCopy => super::hash::digest_copy(f.u32(0)?, ctx.state()?),
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
        _ => Err(OpError::not_supported("not a node:crypto op")),
    }
}
