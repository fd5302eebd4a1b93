//! AES-GCM as a stream (node:crypto's `aes-*-gcm` ciphers): CTR32 from the counter block after
//! J0 and GHASH over the AAD and the ciphertext as they come, the construction `aes.rs` uses for
//! IVs of other lengths than 96 bits, kept between updates. Output is given as it goes; a
//! decryption's plaintext is released before the tag is checked (as Node and OpenSSL do), and
//! `final()` then fails if the tag does not match (compared in constant time).
//!
//! Trusts: aes, ctr, ghash.

use aes::cipher::{BlockCipherEncrypt, BlockSizeUser, KeyInit, KeyIvInit, StreamCipher};
use aes_gcm::aead::consts::U16;
use ghash::universal_hash::UniversalHash;

use super::cipher::{auth_failed, Mode};
use crate::{OpError, OpResult};

pub(crate) struct Gcm<A: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16>> {
    encrypt: bool,
    ctr: ctr::Ctr32BE<A>,
    ghash: ghash::GHash,
    mask: [u8; 16],
    aad_len: u64,
    started: bool,
    pending: Vec<u8>,
    text_len: u64,
    tag_len: usize,
}

fn lengths(a: u64, b: u64) -> ghash::Block {
    let mut block = ghash::Block::default();
    block[..8].copy_from_slice(&(a.wrapping_mul(8)).to_be_bytes());
    block[8..].copy_from_slice(&(b.wrapping_mul(8)).to_be_bytes());
    block
}

impl<A> Gcm<A>
where
    A: BlockCipherEncrypt + KeyInit + BlockSizeUser<BlockSize = U16> + 'static,
{
    pub(crate) fn new(encrypt: bool, key: &[u8], iv: &[u8], tag_len: usize) -> OpResult<Gcm<A>> {
        let bad_key = || OpError::type_error("Invalid key length");
        let cipher = A::new_from_slice(key).map_err(|_| bad_key())?;
        let mut h = ghash::Block::default();
        cipher.encrypt_block(&mut h);
        let ghash = ghash::GHash::new(&h);
        let j0 = if iv.len() == 12 {
            let mut j = [0u8; 16];
            j[..12].copy_from_slice(iv);
            j[15] = 1;
            j
        } else {
            let mut g = ghash.clone();
            g.update_padded(iv);
            g.update(&[lengths(0, iv.len() as u64)]);
            g.finalize().into()
        };
        let mut ctr = ctr::Ctr32BE::<A>::new_from_slices(key, &j0).map_err(|_| bad_key())?;
        let mut mask = [0u8; 16];
        ctr.apply_keystream(&mut mask);
        Ok(Gcm {
            encrypt,
            ctr,
            ghash,
            mask,
            aad_len: 0,
            started: false,
            pending: Vec::new(),
            text_len: 0,
            tag_len,
        })
    }

    /// Ends the AAD: its last partial block is padded with zeros.
    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.ghash.update_padded(&self.pending);
            self.pending.clear();
        }
    }

    /// GHASHes AAD or ciphertext, keeping a partial block (at most 15 bytes) for the next call.
    fn absorb(&mut self, mut text: &[u8]) {
        if !self.pending.is_empty() {
            let take = (16 - self.pending.len()).min(text.len());
            self.pending.extend_from_slice(&text[..take]);
            text = &text[take..];
            if self.pending.len() < 16 {
                return;
            }
            let block = ghash::Block::try_from(self.pending.as_slice()).unwrap_or_default();
            self.ghash.update(&[block]);
            self.pending.clear();
        }
        let whole = text.len() / 16 * 16;
        for block in text[..whole].chunks_exact(16) {
            let block = ghash::Block::try_from(block).unwrap_or_default();
            self.ghash.update(&[block]);
        }
        self.pending.extend_from_slice(&text[whole..]);
    }

    fn tag(&mut self) -> [u8; 16] {
        self.start();
        let mut g = self.ghash.clone();
        g.update_padded(&self.pending);
        g.update(&[lengths(self.aad_len, self.text_len)]);
        let mut full: [u8; 16] = g.finalize().into();
        for (t, m) in full.iter_mut().zip(self.mask) {
            *t ^= m;
        }
        full
    }
}

impl<A> Mode for Gcm<A>
where
    A: BlockCipherEncrypt + KeyInit + BlockSizeUser<BlockSize = U16> + 'static,
{
    fn update(&mut self, data: &[u8]) -> OpResult<Vec<u8>> {
        self.start();
        let mut out = data.to_vec();
        if self.encrypt {
            self.ctr
                .try_apply_keystream(&mut out)
                .map_err(|_| OpError::operation("the GCM counter is exhausted"))?;
            self.text_len += out.len() as u64;
            self.absorb(&out);
        } else {
            self.text_len += data.len() as u64;
            self.absorb(data);
            self.ctr
                .try_apply_keystream(&mut out)
                .map_err(|_| OpError::operation("the GCM counter is exhausted"))?;
        }
        Ok(out)
    }

    fn finish(&mut self, given: &[u8]) -> OpResult<(Vec<u8>, Vec<u8>)> {
        let tag = self.tag();
        if self.encrypt {
            return Ok((Vec::new(), tag[..self.tag_len].to_vec()));
        }
        if given.is_empty() || given.len() > 16 {
            return Err(auth_failed());
        }
        if !crate::crypto::equal_in_constant_time(&tag[..given.len()], given) {
            return Err(auth_failed());
        }
        Ok((Vec::new(), Vec::new()))
    }

    fn set_aad(&mut self, aad: &[u8]) -> OpResult<()> {
        if self.started {
            return Err(OpError::operation("setAAD must come before update"));
        }
        self.aad_len += aad.len() as u64;
        self.absorb(aad);
        Ok(())
    }

    fn set_padding(&mut self, _on: bool) -> OpResult<()> {
        Ok(())
    }
}
