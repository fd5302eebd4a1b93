//! node:crypto's keyed and derived digests: incremental HMAC (`createHmac`), PBKDF2 and HKDF
//! over every digest node:crypto names here (MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512,
//! SHA-512/224, SHA-512/256, SHA3-224/256/384/512, RIPEMD-160, BLAKE2b-512, BLAKE2s-256; the
//! numbers of `hash.rs`; SHAKE has no HMAC, as in Node). Unkeyed hashes (`createHash`) are
//! `hash.rs`'s `Hasher`, through DigestNew/Update/Finish/Copy.
//!
//! Guarantees: an HMAC between updates is a [`MacHandle`] in the isolate's [`OpState`], declared
//! at [`MAC_COST`] bytes, freed on finish; updates are hashed in [`STEP`]s with termination checks.
//! PBKDF2 checks for termination before each output block and every [`CHECK_EVERY`] iterations,
//! so Node's unbounded iteration counts end as the request's CPU limit. HKDF's output is at most
//! 255 hash lengths (RFC 5869), so it is cheap.
//!
//! Trusts: the hmac, hkdf, sha1, sha2, sha3, ripemd, blake2 and md-5 crates.

use hmac::{KeyInit, Mac};

use crate::crypto::hash::{
    BLAKE2B512, BLAKE2S256, MD5, RIPEMD160, SHA224, SHA3_224, SHA3_256, SHA3_384, SHA3_512,
    SHA512_224, SHA512_256, STEP,
};
use crate::state::OpState;
use crate::{OpCtx, OpError, OpResult};

/// Iterations between two termination checks (about 2 ms with SHA-256).
const CHECK_EVERY: u32 = 4096;
/// What one HMAC is declared to hold in the [`OpState`] (two hash states and the key's pads).
pub(crate) const MAC_COST: usize = 1024;

pub(crate) fn invalid_digest() -> OpError {
    OpError::type_error("Invalid digest")
}

/// Runs `$body` with `$D` the type the number `$alg` matches among `$n => $T`, `$other` for none.
macro_rules! dispatch_digest {
    ($alg:expr, $D:ident => $body:expr, $other:expr; $($n:pat => $T:ty),* $(,)?) => {
        match $alg {
            $($n => {
                type $D = $T;
                $body
            })*
            _ => $other,
        }
    };
}

/// Runs `$body` with `$D` the digest type of node digest number `$alg`; an unknown one is a
/// TypeError. BLAKE2, whose block API the `Hmac` type does not take, goes through
/// [`with_blake2`] and `SimpleHmac` instead.
macro_rules! with_digest {
    ($alg:expr, $D:ident => $body:expr) => {
        dispatch_digest!($alg, $D => $body, Err(invalid_digest());
            1 => sha1::Sha1,
            2 => sha2::Sha256,
            3 => sha2::Sha384,
            4 => sha2::Sha512,
            MD5 => md5::Md5,
            SHA224 => sha2::Sha224,
            SHA512_224 => sha2::Sha512_224,
            SHA512_256 => sha2::Sha512_256,
            SHA3_224 => sha3::Sha3_224,
            SHA3_256 => sha3::Sha3_256,
            SHA3_384 => sha3::Sha3_384,
            SHA3_512 => sha3::Sha3_512,
            RIPEMD160 => ripemd::Ripemd160,
        )
    };
}

/// Runs `$body` with `$D` BLAKE2b-512 or BLAKE2s-256 for their numbers; `$other` for any other.
macro_rules! with_blake2 {
    ($alg:expr, $D:ident => $body:expr, $other:expr) => {
        dispatch_digest!($alg, $D => $body, $other;
            BLAKE2B512 => blake2::Blake2b512,
            BLAKE2S256 => blake2::Blake2s256,
        )
    };
}

/// An HMAC of any digest, between updates.
trait NodeMac {
    fn feed(&mut self, data: &[u8]);
    fn tag(self: Box<Self>) -> Vec<u8>;
}

impl<M: Mac> NodeMac for M {
    fn feed(&mut self, data: &[u8]) {
        Mac::update(self, data);
    }
    fn tag(self: Box<Self>) -> Vec<u8> {
        self.finalize().into_bytes().to_vec()
    }
}

/// The object behind an HMAC handle.
pub(crate) struct MacHandle(Box<dyn NodeMac>);

/// `HmacNew(alg, key)`: an HMAC in the isolate's state; its handle.
pub(crate) fn hmac_new(alg: u32, key: &[u8], state: &OpState) -> OpResult<Vec<u8>> {
    let bad_key = |_| OpError::type_error("invalid HMAC key");
    let mac: Box<dyn NodeMac> = with_blake2!(alg, D => {
        let m: Box<dyn NodeMac> = Box::new(hmac::SimpleHmac::<D>::new_from_slice(key).map_err(bad_key)?);
        Ok(m)
    }, with_digest!(alg, D => {
        let m: Box<dyn NodeMac> = Box::new(hmac::Hmac::<D>::new_from_slice(key).map_err(bad_key)?);
        Ok(m)
    }))?;
    Ok(state
        .insert(Box::new(MacHandle(mac)), MAC_COST)?
        .to_le_bytes()
        .to_vec())
}

/// `HmacUpdate(handle, data)`.
pub(crate) fn hmac_update(
    id: u32,
    data: &[u8],
    state: &OpState,
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    let mut m = state.take::<MacHandle>(id)?;
    let mut done = Ok(());
    for chunk in data.chunks(STEP) {
        if let Err(e) = ctx.check() {
            done = Err(e);
            break;
        }
        m.0.feed(chunk);
    }
    state.put(id, m)?;
    done.map(|()| Vec::new())
}

/// `HmacFinish(handle)`: the tag; frees the handle.
pub(crate) fn hmac_finish(id: u32, state: &OpState) -> OpResult<Vec<u8>> {
    let m = state.take::<MacHandle>(id)?;
    state.free(id)?;
    Ok(m.0.tag())
}

fn pbkdf2_with<M: Mac + KeyInit + Clone>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    out: &mut [u8],
    ctx: &OpCtx<'_>,
) -> OpResult<()> {
    let keyed = M::new_from_slice(password).map_err(|_| OpError::type_error("invalid password"))?;
    let mut i: u32 = 0;
    let mut at = 0;
    while at < out.len() {
        ctx.check()?;
        i = i.wrapping_add(1);
        // T_i = U_1 ^ ... ^ U_c, U_1 = PRF(P, S || INT(i)), U_j = PRF(P, U_{j-1}).
        let mut mac = keyed.clone();
        mac.update(salt);
        mac.update(&i.to_be_bytes());
        let mut u = mac.finalize().into_bytes();
        let mut t = u.clone();
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
        let n = (out.len() - at).min(t.len());
        out[at..at + n].copy_from_slice(&t[..n]);
        at += n;
    }
    Ok(())
}

/// Node's PBKDF2: any iteration count of at least 1 and any length up to the op road's cap
/// (the prelude checks Node's argument ranges first).
pub(crate) fn pbkdf2(
    alg: u32,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    len: u32,
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    let len = len as usize;
    if iterations == 0 || len > crate::MAX_OP_INPUT {
        return Err(OpError::new(
            crate::ErrorKind::RangeError,
            "PBKDF2 parameters out of range",
        ));
    }
    let mut out = vec![0u8; len];
    with_blake2!(alg, D => pbkdf2_with::<hmac::SimpleHmac<D>>(password, salt, iterations, &mut out, ctx),
        with_digest!(alg, D => pbkdf2_with::<hmac::Hmac<D>>(password, salt, iterations, &mut out, ctx)))?;
    Ok(out)
}

/// Node's HKDF: at most 255 digest lengths (a RangeError beyond, as Node's ERR_CRYPTO_INVALID_KEYLEN).
pub(crate) fn hkdf(alg: u32, ikm: &[u8], salt: &[u8], info: &[u8], len: u32) -> OpResult<Vec<u8>> {
    let mut out = vec![0u8; len as usize];
    let too_long = |_| OpError::new(crate::ErrorKind::RangeError, "Invalid key length");
    with_blake2!(alg, D => hkdf::SimpleHkdf::<D>::new(Some(salt), ikm).expand(info, &mut out).map_err(too_long),
        with_digest!(alg, D => hkdf::Hkdf::<D>::new(Some(salt), ikm).expand(info, &mut out).map_err(too_long)))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::test_hex as hex;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn hmac_incremental_matches_rfc_4231_and_frees() {
        let flag = AtomicU32::new(0);
        let state = OpState::new();
        let ctx = OpCtx::with_state(&flag, &state);
        let id = u32::from_le_bytes(
            hmac_new(2, b"Jefe", &state)
                .expect("new")
                .try_into()
                .expect("u32"),
        );
        hmac_update(id, b"what do ya want ", &state, &ctx).expect("update");
        hmac_update(id, b"for nothing?", &state, &ctx).expect("update");
        assert_eq!(
            hmac_finish(id, &state).expect("finish"),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(state.usage(), (0, 0));
        assert!(hmac_new(99, b"k", &state).is_err());
    }

    #[test]
    fn pbkdf2_rfc_6070_and_cancellation() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        // RFC 6070 case 2 (SHA-1, 2 iterations).
        assert_eq!(
            pbkdf2(1, b"password", b"salt", 2, 20, &ctx).expect("pbkdf2"),
            hex("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957")
        );
        let stopped = AtomicU32::new(1);
        let e = pbkdf2(2, b"p", b"s", 1 << 30, 32, &OpCtx::new(&stopped)).expect_err("cancelled");
        assert_eq!(e.kind, crate::ErrorKind::Cancelled);
    }
}
