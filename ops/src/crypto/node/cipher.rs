//! node:crypto's `createCipheriv`/`createDecipheriv` as native streams: AES-128/192/256 in CBC
//! and ECB (PKCS#7 padding unless `setAutoPadding(false)`), CTR and GCM (gcm.rs), and
//! ChaCha20-Poly1305 (chacha.rs, algorithm 5). A cipher is a
//! [`CipherHandle`] in the isolate's [`OpState`] between calls; `update` returns what it can as it
//! goes (a block mode keeps back an incomplete block, and a padded decryption its last whole
//! block, as OpenSSL does); `final` ends it and frees the handle.
//!
//! CipherNew(alg, encrypt, key, iv, tag_len) -> handle; CipherUpdate(handle, data) -> bytes;
//! CipherAad(handle, aad); CipherPadding(handle, on); CipherFinal(handle, tag) -> [bytes, tag]
//! (the tag of an encrypting AEAD; the tag given is checked by a decrypting one).
//!
//! Bounded: a handle is declared at [`CIPHER_COST`] bytes and holds at most one block; an update
//! is linear in its input (16 MiB cap: about 20 ms), so no step needs a termination check.
//! Trusts: aes, ctr, ghash (gcm.rs), chacha20 and poly1305 (chacha.rs).

use aes::cipher::{
    Block, BlockCipherDecrypt, BlockCipherEncrypt, BlockSizeUser, KeyInit, KeyIvInit, StreamCipher,
};
use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::U16;

use super::chacha::ChaChaPoly;
use super::gcm::Gcm;
use crate::state::OpState;
use crate::{ErrorKind, OpError, OpResult};

/// What one cipher is declared to hold (key schedules, counters, buffers).
pub(crate) const CIPHER_COST: usize = 2048;

pub(crate) const CBC: u32 = 1;
pub(crate) const CTR: u32 = 2;
pub(crate) const ECB: u32 = 3;
pub(crate) const GCM: u32 = 4;
pub(crate) const CHACHA20_POLY1305: u32 = 5;

/// OpenSSL's words for a failed check, which Node shows (the prelude adds Node's codes).
pub(crate) fn auth_failed() -> OpError {
    OpError::operation("Unsupported state or unable to authenticate data")
}
fn bad_decrypt() -> OpError {
    OpError::operation("bad decrypt")
}
fn wrong_final_length() -> OpError {
    OpError::new(ErrorKind::RangeError, "wrong final block length")
}

/// One cipher between calls.
pub(crate) trait Mode {
    fn update(&mut self, data: &[u8]) -> OpResult<Vec<u8>>;
    /// The last output and (encrypting GCM) the tag; `tag` is the tag to check (decrypting GCM).
    fn finish(&mut self, tag: &[u8]) -> OpResult<(Vec<u8>, Vec<u8>)>;
    fn set_aad(&mut self, aad: &[u8]) -> OpResult<()>;
    fn set_padding(&mut self, on: bool) -> OpResult<()>;
}

pub(crate) struct CipherHandle(Box<dyn Mode>);

/// CBC or ECB over block cipher `A`, with OpenSSL's buffering and PKCS#7 padding.
struct BlockMode<A> {
    cipher: A,
    encrypt: bool,
    chain: Option<[u8; 16]>,
    pad: bool,
    buf: Vec<u8>,
}

impl<A> BlockMode<A>
where
    A: BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16>,
{
    fn block(&mut self, chunk: &mut [u8]) {
        let mut b = Block::<A>::default();
        b.copy_from_slice(chunk);
        if self.encrypt {
            if let Some(prev) = &self.chain {
                for (x, p) in b.iter_mut().zip(prev) {
                    *x ^= p;
                }
            }
            self.cipher.encrypt_block(&mut b);
            if let Some(prev) = &mut self.chain {
                prev.copy_from_slice(&b);
            }
        } else {
            let mut saved = [0u8; 16];
            saved.copy_from_slice(&b);
            self.cipher.decrypt_block(&mut b);
            if let Some(prev) = &mut self.chain {
                for (x, p) in b.iter_mut().zip(prev.iter()) {
                    *x ^= p;
                }
                *prev = saved;
            }
        }
        chunk.copy_from_slice(&b);
    }

    fn run(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        for chunk in bytes.chunks_exact_mut(16) {
            self.block(chunk);
        }
        bytes
    }
}

impl<A> Mode for BlockMode<A>
where
    A: BlockCipherEncrypt + BlockCipherDecrypt + BlockSizeUser<BlockSize = U16>,
{
    fn update(&mut self, data: &[u8]) -> OpResult<Vec<u8>> {
        self.buf.extend_from_slice(data);
        let mut whole = self.buf.len() / 16 * 16;
        // A padded decryption keeps its last whole block for final(), which strips the padding.
        if !self.encrypt && self.pad && whole == self.buf.len() && whole > 0 {
            whole -= 16;
        }
        let rest = self.buf.split_off(whole);
        let ready = std::mem::replace(&mut self.buf, rest);
        Ok(self.run(ready))
    }

    fn finish(&mut self, _tag: &[u8]) -> OpResult<(Vec<u8>, Vec<u8>)> {
        let buf = std::mem::take(&mut self.buf);
        if !self.pad {
            if !buf.is_empty() {
                return Err(wrong_final_length());
            }
            return Ok((Vec::new(), Vec::new()));
        }
        if self.encrypt {
            let n = 16 - buf.len() % 16;
            let mut last = buf;
            last.resize(last.len() + n, n as u8);
            return Ok((self.run(last), Vec::new()));
        }
        if buf.len() != 16 {
            return Err(wrong_final_length());
        }
        let mut last = self.run(buf);
        let n = usize::from(last[15]);
        if n == 0 || n > 16 || last[16 - n..].iter().any(|b| usize::from(*b) != n) {
            return Err(bad_decrypt());
        }
        last.truncate(16 - n);
        Ok((last, Vec::new()))
    }

    fn set_aad(&mut self, _aad: &[u8]) -> OpResult<()> {
        Err(OpError::type_error("this cipher takes no additional data"))
    }

    fn set_padding(&mut self, on: bool) -> OpResult<()> {
        self.pad = on;
        Ok(())
    }
}

struct Ctr<A: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16>>(ctr::Ctr128BE<A>);

impl<A> Mode for Ctr<A>
where
    A: BlockCipherEncrypt + KeyInit + BlockSizeUser<BlockSize = U16>,
{
    fn update(&mut self, data: &[u8]) -> OpResult<Vec<u8>> {
        let mut out = data.to_vec();
        self.0
            .try_apply_keystream(&mut out)
            .map_err(|_| OpError::operation("the CTR counter is exhausted"))?;
        Ok(out)
    }
    fn finish(&mut self, _tag: &[u8]) -> OpResult<(Vec<u8>, Vec<u8>)> {
        Ok((Vec::new(), Vec::new()))
    }
    fn set_aad(&mut self, _aad: &[u8]) -> OpResult<()> {
        Err(OpError::type_error("this cipher takes no additional data"))
    }
    fn set_padding(&mut self, _on: bool) -> OpResult<()> {
        Ok(())
    }
}

fn make<A>(
    alg: u32,
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    tag_len: usize,
) -> OpResult<Box<dyn Mode>>
where
    A: BlockCipherEncrypt + BlockCipherDecrypt + KeyInit + BlockSizeUser<BlockSize = U16> + 'static,
{
    let bad_iv = || OpError::type_error("Invalid initialization vector");
    let bad_key = || OpError::type_error("Invalid key length");
    Ok(match alg {
        CBC | ECB => {
            let chain = if alg == CBC {
                Some(<[u8; 16]>::try_from(iv).map_err(|_| bad_iv())?)
            } else {
                if !iv.is_empty() {
                    return Err(bad_iv());
                }
                None
            };
            Box::new(BlockMode {
                cipher: A::new_from_slice(key).map_err(|_| bad_key())?,
                encrypt,
                chain,
                pad: true,
                buf: Vec::new(),
            })
        }
        CTR => {
            if iv.len() != 16 {
                return Err(bad_iv());
            }
            Box::new(Ctr(
                ctr::Ctr128BE::<A>::new_from_slices(key, iv).map_err(|_| bad_key())?
            ))
        }
        GCM => {
            if iv.is_empty() {
                return Err(bad_iv());
            }
            if !(tag_len == 4 || tag_len == 8 || (12..=16).contains(&tag_len)) {
                return Err(OpError::type_error("Invalid authentication tag length"));
            }
            Box::new(Gcm::<A>::new(encrypt, key, iv, tag_len)?)
        }
        _ => return Err(OpError::type_error("Invalid cipher type")),
    })
}

/// CipherNew: see the module comment. The key's length picks AES-128, -192 or -256.
pub(crate) fn new(
    alg: u32,
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    tag_len: u32,
    state: &OpState,
) -> OpResult<Vec<u8>> {
    let tag_len = tag_len as usize;
    let mode: Box<dyn Mode> = if alg == CHACHA20_POLY1305 {
        Box::new(ChaChaPoly::new(encrypt, key, iv, tag_len)?)
    } else {
        match key.len() {
            16 => make::<Aes128>(alg, encrypt, key, iv, tag_len)?,
            24 => make::<Aes192>(alg, encrypt, key, iv, tag_len)?,
            32 => make::<Aes256>(alg, encrypt, key, iv, tag_len)?,
            _ => return Err(OpError::type_error("Invalid key length")),
        }
    };
    Ok(state
        .insert(Box::new(CipherHandle(mode)), CIPHER_COST)?
        .to_le_bytes()
        .to_vec())
}

/// Runs `f` on cipher `id`, putting it back after.
pub(crate) fn with<T>(
    id: u32,
    state: &OpState,
    f: impl FnOnce(&mut dyn Mode) -> OpResult<T>,
) -> OpResult<T> {
    let mut c = state.take::<CipherHandle>(id)?;
    let done = f(c.0.as_mut());
    state.put(id, c)?;
    done
}

/// CipherFinal: the last bytes and the tag; the handle is freed whatever the outcome.
pub(crate) fn finish(id: u32, tag: &[u8], state: &OpState) -> OpResult<Vec<u8>> {
    let mut c = state.take::<CipherHandle>(id)?;
    state.free(id)?;
    let (out, tag) = c.0.finish(tag)?;
    Ok(crate::fields::encode(&[&out, &tag]))
}
