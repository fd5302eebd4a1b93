//! ChaCha20-Poly1305 (RFC 8439) as a stream (node:crypto's `chacha20-poly1305`): the Poly1305
//! key is the first 32 bytes of ChaCha20's keystream at block 0, the text is en/decrypted from
//! block 1 on, and Poly1305 runs over the AAD (zero-padded), the ciphertext (zero-padded) and the
//! two lengths (64-bit little-endian), exactly what the chacha20poly1305 crate does in one call,
//! kept here between updates (a partial Poly1305 block waits in `pending`). Output is given as it
//! goes; a decryption's plaintext is released before the tag is checked (as Node and OpenSSL
//! do), and `final()` then fails if the tag does not match (compared in constant time). Tags of 1
//! to 16 bytes (their prefix of the full tag), as OpenSSL allows.
//!
//! Trusts: chacha20, poly1305.

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20::ChaCha20;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use poly1305::Poly1305;

use super::cipher::{auth_failed, Mode};
use crate::{OpError, OpResult};

pub(crate) struct ChaChaPoly {
    encrypt: bool,
    cipher: ChaCha20,
    mac: Poly1305,
    aad_len: u64,
    started: bool,
    pending: Vec<u8>,
    text_len: u64,
    tag_len: usize,
}

impl ChaChaPoly {
    pub(crate) fn new(
        encrypt: bool,
        key: &[u8],
        iv: &[u8],
        tag_len: usize,
    ) -> OpResult<ChaChaPoly> {
        if key.len() != 32 {
            return Err(OpError::type_error("Invalid key length"));
        }
        if iv.len() != 12 {
            return Err(OpError::type_error("Invalid initialization vector"));
        }
        if !(1..=16).contains(&tag_len) {
            return Err(OpError::type_error("Invalid authentication tag length"));
        }
        let mut cipher = ChaCha20::new_from_slices(key, iv)
            .map_err(|_| OpError::type_error("Invalid key length"))?;
        let mut mac_key = poly1305::Key::default();
        cipher.apply_keystream(&mut mac_key);
        let mac = Poly1305::new(&mac_key);
        zeroize::Zeroize::zeroize(mac_key.as_mut_slice());
        cipher.seek(64u64);
        Ok(ChaChaPoly {
            encrypt,
            cipher,
            mac,
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
            self.mac.update_padded(&self.pending);
            self.pending.clear();
        }
    }

    /// MACs AAD or ciphertext, keeping a partial block (at most 15 bytes) for the next call.
    fn absorb(&mut self, mut text: &[u8]) {
        if !self.pending.is_empty() {
            let take = (16 - self.pending.len()).min(text.len());
            self.pending.extend_from_slice(&text[..take]);
            text = &text[take..];
            if self.pending.len() < 16 {
                return;
            }
            self.mac.update_padded(&self.pending);
            self.pending.clear();
        }
        let whole = text.len() / 16 * 16;
        self.mac.update_padded(&text[..whole]);
        self.pending.extend_from_slice(&text[whole..]);
    }

    fn keystream(&mut self, out: &mut [u8]) -> OpResult<()> {
        self.cipher
            .try_apply_keystream(out)
            .map_err(|_| OpError::operation("the ChaCha20 counter is exhausted"))
    }

    fn tag(&mut self) -> [u8; 16] {
        self.start();
        let mut mac = self.mac.clone();
        mac.update_padded(&self.pending);
        let mut lengths = poly1305::Block::default();
        lengths[..8].copy_from_slice(&self.aad_len.to_le_bytes());
        lengths[8..].copy_from_slice(&self.text_len.to_le_bytes());
        mac.update(&[lengths]);
        mac.finalize().into()
    }
}

impl Mode for ChaChaPoly {
    fn update(&mut self, data: &[u8]) -> OpResult<Vec<u8>> {
        self.start();
        let mut out = data.to_vec();
        if self.encrypt {
            self.keystream(&mut out)?;
            self.text_len += out.len() as u64;
            self.absorb(&out);
        } else {
            self.text_len += data.len() as u64;
            self.absorb(data);
            self.keystream(&mut out)?;
        }
        Ok(out)
    }

    fn finish(&mut self, given: &[u8]) -> OpResult<(Vec<u8>, Vec<u8>)> {
        let tag = self.tag();
        if self.encrypt {
            return Ok((Vec::new(), tag[..self.tag_len].to_vec()));
        }
        if given.len() != self.tag_len {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::aead::AeadInOut;

    /// The stream, fed in uneven pieces, gives what the one-shot AEAD crate gives.
    #[test]
    fn pieces_match_the_chacha20poly1305_crate() {
        let key = [7u8; 32];
        let nonce = [9u8; 12];
        let aad: Vec<u8> = (0..37u8).collect();
        let msg: Vec<u8> = (0..300u32).map(|i| (i * 31) as u8).collect();
        let mut expect = msg.clone();
        let aead = chacha20poly1305::ChaCha20Poly1305::new(&key.into());
        let tag = aead
            .encrypt_inout_detached(&nonce.into(), &aad, expect.as_mut_slice().into())
            .expect("encrypt");

        let mut s = ChaChaPoly::new(true, &key, &nonce, 16).expect("new");
        s.set_aad(&aad[..5]).expect("aad");
        s.set_aad(&aad[5..]).expect("aad");
        let mut out = Vec::new();
        for piece in [&msg[..1], &msg[1..70], &msg[70..71], &msg[71..]] {
            out.extend(s.update(piece).expect("update"));
        }
        let (_, got) = s.finish(&[]).expect("final");
        assert_eq!(out, expect);
        assert_eq!(got, tag.to_vec());

        let mut d = ChaChaPoly::new(false, &key, &nonce, 16).expect("new");
        d.set_aad(&aad).expect("aad");
        let back = [
            d.update(&out[..17]).expect("u"),
            d.update(&out[17..]).expect("u"),
        ]
        .concat();
        assert_eq!(back, msg);
        d.finish(&got).expect("tag checks");

        let mut bad = ChaChaPoly::new(false, &key, &nonce, 16).expect("new");
        bad.update(&out).expect("u");
        let mut wrong = got.clone();
        wrong[0] ^= 1;
        assert!(bad.finish(&wrong).is_err());
    }
}
