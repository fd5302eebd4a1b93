//! AES-GCM, AES-CBC, AES-CTR and AES-KW (aes, aes-gcm, ghash, cbc, ctr, aes-kw crates). Keys are
//! 128, 192 or 256 bits (the prelude checks; a wrong length here is a DataError). Cost: linear in
//! the input, capped at 16 MiB by the op road; AES-CTR runs in 1 MiB steps with termination checks.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::{U12, U13, U14, U15, U16, U4, U8};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{AesGcm, KeyInit};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher};

use super::hash::STEP;
use crate::{OpCtx, OpError, OpResult};

fn bad_key() -> OpError {
    OpError::data("the AES key must be 128, 192 or 256 bits")
}

fn gcm_with<C: AeadInOut + KeyInit>(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    data: &[u8],
) -> OpResult<Vec<u8>> {
    let cipher = C::new_from_slice(key).map_err(|_| bad_key())?;
    let nonce = aes_gcm::aead::Nonce::<C>::try_from(iv)
        .map_err(|_| OpError::operation("unsupported AES-GCM IV length"))?;
    let tag_len = <C as aes_gcm::aead::AeadCore>::TagSize::to_usize();
    if encrypt {
        let mut buf = data.to_vec();
        let tag = cipher
            .encrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into())
            .map_err(|_| OpError::operation("AES-GCM encryption failed"))?;
        buf.extend_from_slice(&tag);
        Ok(buf)
    } else {
        if data.len() < tag_len {
            return Err(OpError::operation(
                "the AES-GCM ciphertext is shorter than its tag",
            ));
        }
        let (body, tag) = data.split_at(data.len() - tag_len);
        let tag = aes_gcm::aead::Tag::<C>::try_from(tag)
            .map_err(|_| OpError::operation("bad AES-GCM tag"))?;
        let mut buf = body.to_vec();
        cipher
            .decrypt_inout_detached(&nonce, aad, buf.as_mut_slice().into(), &tag)
            .map_err(|_| OpError::operation("AES-GCM decryption failed: the data or tag was altered, or the key, IV or additional data differ"))?;
        Ok(buf)
    }
}

use aes_gcm::aead::array::typenum::Unsigned;

macro_rules! gcm_tag {
    ($A:ty, $N:ty, $tag:expr, $($args:expr),*) => {
        match $tag {
            32 => gcm_with::<AesGcm<$A, $N, U4>>($($args),*),
            64 => gcm_with::<AesGcm<$A, $N, U8>>($($args),*),
            96 => gcm_with::<AesGcm<$A, $N, U12>>($($args),*),
            104 => gcm_with::<AesGcm<$A, $N, U13>>($($args),*),
            112 => gcm_with::<AesGcm<$A, $N, U14>>($($args),*),
            120 => gcm_with::<AesGcm<$A, $N, U15>>($($args),*),
            128 => gcm_with::<AesGcm<$A, $N, U16>>($($args),*),
            _ => Err(OpError::operation("the AES-GCM tag length must be 32, 64, 96, 104, 112, 120 or 128")),
        }
    };
}

/// AES-GCM with an IV of any length but 96 bits (NIST SP 800-38D, section 7.1): the pre-counter
/// block J0 is GHASH_H(IV || 0^(s+64) || [len(IV)]_64) rather than IV || 0^31 || 1; the rest is
/// what the aes-gcm crate does (its `init_ctr` and `compute_tag`), on the crates it uses: the tag
/// mask is E_K(J0), the data is CTR-encrypted from inc32(J0) with a 32-bit big-endian counter, and
/// the tag is GHASH_H(A || 0^v || C || 0^u || [len(A)]_64 || [len(C)]_64) xor the mask, cut to
/// `tag_len` bytes. The crate serves a 96-bit IV (every common use); it fixes the IV's length at
/// compile time, while WebCrypto and Workers accept any non-empty IV. Checked against the GCM
/// specification's test cases 5 (64-bit IV) and 6 (480-bit IV) and against the crate's own
/// 128- and 256-bit nonces (the tests below).
fn gcm_any_iv<A>(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag_len: usize,
    data: &[u8],
) -> OpResult<Vec<u8>>
where
    A: aes::cipher::BlockCipherEncrypt + KeyInit + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    use ghash::universal_hash::UniversalHash;

    let cipher = A::new_from_slice(key).map_err(|_| bad_key())?;
    let mut h = ghash::Block::default();
    aes::cipher::BlockCipherEncrypt::encrypt_block(&cipher, &mut h);
    let ghash = ghash::GHash::new(&h);
    let lengths = |a: usize, b: usize| {
        let mut block = ghash::Block::default();
        block[..8].copy_from_slice(&((a as u64) * 8).to_be_bytes());
        block[8..].copy_from_slice(&((b as u64) * 8).to_be_bytes());
        block
    };
    let mut g = ghash.clone();
    g.update_padded(iv);
    g.update(&[lengths(0, iv.len())]);
    let j0 = g.finalize();
    // The counter's first block is E_K(J0), the tag's mask; the data's keystream follows.
    let mut ctr = ctr::Ctr32BE::<A>::new_from_slices(key, &j0).map_err(|_| bad_key())?;
    let mut mask = [0u8; 16];
    ctr.apply_keystream(&mut mask);
    let tag = |ciphertext: &[u8]| {
        let mut g = ghash.clone();
        g.update_padded(aad);
        g.update_padded(ciphertext);
        g.update(&[lengths(aad.len(), ciphertext.len())]);
        let mut full = g.finalize();
        for (t, m) in full.iter_mut().zip(mask) {
            *t ^= m;
        }
        full
    };
    if encrypt {
        let mut out = data.to_vec();
        ctr.apply_keystream(&mut out);
        let t = tag(&out);
        out.extend_from_slice(&t[..tag_len]);
        Ok(out)
    } else {
        if data.len() < tag_len {
            return Err(OpError::operation(
                "the AES-GCM ciphertext is shorter than its tag",
            ));
        }
        let (body, given) = data.split_at(data.len() - tag_len);
        let expected = tag(body);
        // Compared in constant time, as the crate does, before anything is decrypted.
        if !super::equal_in_constant_time(&expected[..tag_len], given) {
            return Err(OpError::operation("AES-GCM decryption failed: the data or tag was altered, or the key, IV or additional data differ"));
        }
        let mut out = body.to_vec();
        ctr.apply_keystream(&mut out);
        Ok(out)
    }
}

/// The tag lengths WebCrypto allows, in bits (the spec's AES-GCM encrypt and decrypt, step
/// "tagLength"); anything else is an OperationError.
const GCM_TAG_BITS: [u32; 7] = [32, 64, 96, 104, 112, 120, 128];

/// AES-GCM: the ciphertext with its tag appended (encrypt), or the plaintext (decrypt). The IV may
/// have any non-zero length (OperationError for an empty one, as Workers): 96 bits through the
/// aes-gcm crate, any other through [`gcm_any_iv`].
pub(crate) fn gcm(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag_bits: u32,
    data: &[u8],
) -> OpResult<Vec<u8>> {
    if iv.is_empty() {
        return Err(OpError::operation("the AES-GCM IV must not be empty"));
    }
    if !GCM_TAG_BITS.contains(&tag_bits) {
        return Err(OpError::operation(
            "the AES-GCM tag length must be 32, 64, 96, 104, 112, 120 or 128",
        ));
    }
    if iv.len() == 12 {
        return match key.len() {
            16 => gcm_tag!(Aes128, U12, tag_bits, encrypt, key, iv, aad, data),
            24 => gcm_tag!(Aes192, U12, tag_bits, encrypt, key, iv, aad, data),
            32 => gcm_tag!(Aes256, U12, tag_bits, encrypt, key, iv, aad, data),
            _ => Err(bad_key()),
        };
    }
    let tag_len = (tag_bits / 8) as usize;
    match key.len() {
        16 => gcm_any_iv::<Aes128>(encrypt, key, iv, aad, tag_len, data),
        24 => gcm_any_iv::<Aes192>(encrypt, key, iv, aad, tag_len, data),
        32 => gcm_any_iv::<Aes256>(encrypt, key, iv, aad, tag_len, data),
        _ => Err(bad_key()),
    }
}

fn cbc_with<A>(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> OpResult<Vec<u8>>
where
    A: aes::cipher::BlockCipherEncrypt + aes::cipher::BlockCipherDecrypt + KeyInit,
    A: aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    if iv.len() != 16 {
        return Err(OpError::operation("the AES-CBC IV must be 16 bytes"));
    }
    if encrypt {
        let e = cbc::Encryptor::<A>::new_from_slices(key, iv).map_err(|_| bad_key())?;
        Ok(e.encrypt_padded_vec::<Pkcs7>(data))
    } else {
        let d = cbc::Decryptor::<A>::new_from_slices(key, iv).map_err(|_| bad_key())?;
        d.decrypt_padded_vec::<Pkcs7>(data)
            .map_err(|_| OpError::operation("AES-CBC decryption failed: bad length or padding"))
    }
}

pub(crate) fn cbc(encrypt: bool, key: &[u8], iv: &[u8], data: &[u8]) -> OpResult<Vec<u8>> {
    match key.len() {
        16 => cbc_with::<Aes128>(encrypt, key, iv, data),
        24 => cbc_with::<Aes192>(encrypt, key, iv, data),
        32 => cbc_with::<Aes256>(encrypt, key, iv, data),
        _ => Err(bad_key()),
    }
}

fn ctr_with<A>(
    key: &[u8],
    counter: &[u8; 16],
    bits: u32,
    data: &[u8],
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>>
where
    A: aes::cipher::BlockCipherEncrypt + KeyInit + aes::cipher::BlockSizeUser<BlockSize = U16>,
{
    // WebCrypto's counter is the low `bits` bits of the block; they wrap without carrying into
    // the nonce part. Ctr128BE carries, so the keystream is made in two runs: up to the wrap,
    // then from the block with the counter bits cleared. More blocks than 2^bits would reuse
    // a counter: OperationError.
    let blocks = data.len().div_ceil(16) as u128;
    let full = u128::from_be_bytes(*counter);
    let mask = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    if bits < 128 && blocks > (1u128 << bits) {
        return Err(OpError::operation(
            "AES-CTR: the data needs more blocks than the counter has values",
        ));
    }
    let low = full & mask;
    let until_wrap = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - low
    };
    let split = if blocks > until_wrap {
        (until_wrap * 16) as usize
    } else {
        data.len()
    };
    let mut out = data.to_vec();
    let (first, second) = out.split_at_mut(split);
    let run = |start: u128, buf: &mut [u8]| -> OpResult<()> {
        let mut c = ctr::Ctr128BE::<A>::new_from_slices(key, &start.to_be_bytes())
            .map_err(|_| bad_key())?;
        for chunk in buf.chunks_mut(STEP) {
            ctx.check()?;
            c.apply_keystream(chunk);
        }
        Ok(())
    };
    run(full, first)?;
    if !second.is_empty() {
        run(full & !mask, second)?;
    }
    Ok(out)
}

pub(crate) fn ctr(
    key: &[u8],
    counter: &[u8],
    bits: u32,
    data: &[u8],
    ctx: &OpCtx<'_>,
) -> OpResult<Vec<u8>> {
    let counter: &[u8; 16] = counter
        .try_into()
        .map_err(|_| OpError::operation("the AES-CTR counter must be 16 bytes"))?;
    if bits == 0 || bits > 128 {
        return Err(OpError::operation(
            "the AES-CTR length must be between 1 and 128",
        ));
    }
    match key.len() {
        16 => ctr_with::<Aes128>(key, counter, bits, data, ctx),
        24 => ctr_with::<Aes192>(key, counter, bits, data, ctx),
        32 => ctr_with::<Aes256>(key, counter, bits, data, ctx),
        _ => Err(bad_key()),
    }
}

/// AES-KW (RFC 3394): wraps or unwraps `data`, a multiple of 8 bytes (at least 16).
pub(crate) fn kw(wrap: bool, key: &[u8], data: &[u8]) -> OpResult<Vec<u8>> {
    if !data.len().is_multiple_of(8) || data.len() < if wrap { 16 } else { 24 } {
        return Err(OpError::operation(
            "AES-KW works on a multiple of 8 bytes, at least 16",
        ));
    }
    let mut buf = vec![0u8; if wrap { data.len() + 8 } else { data.len() - 8 }];
    let failed = || {
        OpError::operation(if wrap {
            "AES-KW wrapping failed"
        } else {
            "AES-KW unwrapping failed: the data was altered or the key differs"
        })
    };
    let n = match key.len() {
        16 => {
            let k = aes_kw::KwAes128::new_from_slice(key).map_err(|_| bad_key())?;
            if wrap {
                k.wrap_key(data, &mut buf)
            } else {
                k.unwrap_key(data, &mut buf)
            }
            .map_err(|_| failed())?
            .len()
        }
        24 => {
            let k = aes_kw::KwAes192::new_from_slice(key).map_err(|_| bad_key())?;
            if wrap {
                k.wrap_key(data, &mut buf)
            } else {
                k.unwrap_key(data, &mut buf)
            }
            .map_err(|_| failed())?
            .len()
        }
        32 => {
            let k = aes_kw::KwAes256::new_from_slice(key).map_err(|_| bad_key())?;
            if wrap {
                k.wrap_key(data, &mut buf)
            } else {
                k.unwrap_key(data, &mut buf)
            }
            .map_err(|_| failed())?
            .len()
        }
        _ => return Err(bad_key()),
    };
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    use crate::crypto::test_hex as hex;

    #[test]
    fn gcm_spec_test_case_3_and_tamper() {
        // The GCM specification (McGrew & Viega), test case 3 (AES-128, 96-bit IV, no AAD).
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let iv = hex("cafebabefacedbaddecaf888");
        let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
        let ct = hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f59854d5c2af327cd64a62cf35abd2ba6fab4");
        assert_eq!(gcm(true, &key, &iv, &[], 128, &pt).expect("enc"), ct);
        assert_eq!(gcm(false, &key, &iv, &[], 128, &ct).expect("dec"), pt);
        // A truncated tag is the prefix of the full one (NIST SP 800-38D 5.2.1.2).
        let short = gcm(true, &key, &iv, &[], 96, &pt).expect("enc96");
        assert_eq!(short[..], ct[..ct.len() - 4]);
        assert_eq!(gcm(false, &key, &iv, &[], 96, &short).expect("dec96"), pt);
        let mut bad = ct.clone();
        bad[3] ^= 1;
        assert_eq!(
            gcm(false, &key, &iv, &[], 128, &bad)
                .expect_err("tamper")
                .kind,
            crate::ErrorKind::Operation
        );
        assert!(gcm(false, &key, &iv, b"aad", 128, &ct).is_err());
    }

    #[test]
    fn gcm_spec_test_cases_5_and_6_iv_of_any_length() {
        // The GCM specification (McGrew & Viega), test cases 5 (64-bit IV) and 6 (480-bit IV):
        // AES-128, 60 bytes of plaintext, 20 bytes of additional data. OpenSSL agrees (Node's
        // createCipheriv('aes-128-gcm') with these IVs).
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let pt = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let cases = [
            ("cafebabefacedbad", "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598", "3612d2e79e3b0785561be14aaca2fccb"),
            ("9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b", "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5", "619cc5aefffe0bfa462af43c1699d050"),
            // One byte of IV (OpenSSL's answer).
            ("01", "45070d9db906b4164182b7419b019dc70a556d0084c65c0083c5e04649d35ede76a00b44e5efb025ef1eaa538eea2cd45937f3eda3529fe42afba20b", "25763a0d1c9a65d523c78b513d86b4cb"),
        ];
        for (iv, ct, tag) in cases {
            let iv = hex(iv);
            let sealed = [hex(ct), hex(tag)].concat();
            assert_eq!(gcm(true, &key, &iv, &aad, 128, &pt).expect("enc"), sealed);
            assert_eq!(gcm(false, &key, &iv, &aad, 128, &sealed).expect("dec"), pt);
            // Short tags are the full tag's prefix; each decrypts, and a flipped bit anywhere fails.
            for bits in GCM_TAG_BITS {
                let n = pt.len() + bits as usize / 8;
                let short = gcm(true, &key, &iv, &aad, bits, &pt).expect("enc short");
                assert_eq!(short[..], sealed[..n], "{bits}-bit tag");
                assert_eq!(
                    gcm(false, &key, &iv, &aad, bits, &short).expect("dec short"),
                    pt
                );
                for at in [0, pt.len() - 1, n - 1] {
                    let mut bad = short.clone();
                    bad[at] ^= 0x80;
                    let e = gcm(false, &key, &iv, &aad, bits, &bad).expect_err("tamper");
                    assert_eq!(e.kind, crate::ErrorKind::Operation);
                }
            }
            assert!(gcm(false, &key, &iv, b"other", 128, &sealed).is_err());
            let e = gcm(false, &key, &iv, &aad, 128, &sealed[..15]).expect_err("short");
            assert_eq!(e.kind, crate::ErrorKind::Operation);
        }
    }

    #[test]
    fn gcm_other_iv_lengths_agree_with_the_crate_and_bad_parameters_are_operation_errors() {
        use aes_gcm::aead::consts::U32;
        let pt: Vec<u8> = (0u8..77).collect();
        let aad = b"header";
        for key in [vec![7u8; 16], vec![8u8; 24], vec![9u8; 32]] {
            for iv_len in [16usize, 32] {
                let iv: Vec<u8> = (0..iv_len as u8).map(|b| b.wrapping_mul(13)).collect();
                let crate_sealed = match (key.len(), iv_len) {
                    (16, 16) => gcm_with::<AesGcm<Aes128, U16>>(true, &key, &iv, aad, &pt),
                    (16, 32) => gcm_with::<AesGcm<Aes128, U32>>(true, &key, &iv, aad, &pt),
                    (24, 16) => gcm_with::<AesGcm<Aes192, U16>>(true, &key, &iv, aad, &pt),
                    (24, 32) => gcm_with::<AesGcm<Aes192, U32>>(true, &key, &iv, aad, &pt),
                    (32, 16) => gcm_with::<AesGcm<Aes256, U16>>(true, &key, &iv, aad, &pt),
                    _ => gcm_with::<AesGcm<Aes256, U32>>(true, &key, &iv, aad, &pt),
                }
                .expect("crate");
                assert_eq!(
                    gcm(true, &key, &iv, aad, 128, &pt).expect("ours"),
                    crate_sealed
                );
                assert_eq!(
                    gcm(false, &key, &iv, aad, 128, &crate_sealed).expect("dec"),
                    pt
                );
            }
            // Empty data and additional data: the tag alone.
            let iv = [1u8; 7];
            let sealed = gcm(true, &key, &iv, &[], 128, &[]).expect("empty");
            assert_eq!(sealed.len(), 16);
            assert_eq!(
                gcm(false, &key, &iv, &[], 128, &sealed).expect("dec"),
                Vec::<u8>::new()
            );
        }
        let key = [0u8; 16];
        for (iv, tag) in [
            (&[][..], 128),
            (&[0u8; 12][..], 0),
            (&[0u8; 12][..], 100),
            (&[0u8; 8][..], 136),
        ] {
            for encrypt in [true, false] {
                let e = gcm(encrypt, &key, iv, &[], tag, &[0u8; 32]).expect_err("refused");
                assert_eq!(
                    e.kind,
                    crate::ErrorKind::Operation,
                    "iv {} tag {tag}",
                    iv.len()
                );
            }
        }
    }

    #[test]
    fn sp800_38a_cbc_and_ctr() {
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let pt = hex("6bc1bee22e409f96e93d7e117393172a");
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        // F.2.1 CBC-AES128.Encrypt, first block (then PKCS#7 adds a block of its own).
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let ct = cbc(true, &key, &iv, &pt).expect("cbc");
        assert_eq!(ct[..16], hex("7649abac8119b246cee98e9b12e9197d")[..]);
        assert_eq!(cbc(false, &key, &iv, &ct).expect("dec"), pt);
        // F.5.1 CTR-AES128.Encrypt, first block.
        let counter = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        assert_eq!(
            ctr(&key, &counter, 128, &pt, &ctx).expect("ctr"),
            hex("874d6191b620e3261bef6864990db6ce")
        );
        // A 1-bit counter at 1 wraps to 0 for the second block without touching the rest.
        let two = [pt.clone(), pt.clone()].concat();
        let c1 = ctr(
            &key,
            &hex("00000000000000000000000000000001"),
            1,
            &two,
            &ctx,
        );
        assert!(c1.is_ok());
        assert!(ctr(&key, &counter, 1, &[two.clone(), pt.clone()].concat(), &ctx).is_err());
    }

    #[test]
    fn rfc_3394_key_wrap() {
        // RFC 3394 4.1: 128-bit KEK wraps 128 bits of key data.
        let kek = hex("000102030405060708090a0b0c0d0e0f");
        let data = hex("00112233445566778899aabbccddeeff");
        let wrapped = hex("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
        assert_eq!(kw(true, &kek, &data).expect("wrap"), wrapped);
        assert_eq!(kw(false, &kek, &wrapped).expect("unwrap"), data);
        let mut bad = wrapped.clone();
        bad[0] ^= 1;
        assert!(kw(false, &kek, &bad).is_err());
    }
}
