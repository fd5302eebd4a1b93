//! AES-GCM, AES-CBC, AES-CTR and AES-KW (aes, aes-gcm, cbc, ctr, aes-kw crates). Keys are 128,
//! 192 or 256 bits (the prelude checks; a wrong length here is a DataError). Cost: linear in the
//! input, capped at 16 MiB by the op road; AES-CTR runs in 1 MiB steps with termination checks.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::consts::{U12, U13, U14, U15, U16, U32, U4, U8};
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

macro_rules! gcm_nonce {
    ($A:ty, $iv:expr, $tag:expr, $($args:expr),*) => {
        match $iv.len() {
            12 => gcm_tag!($A, U12, $tag, $($args),*),
            16 => gcm_tag!($A, U16, $tag, $($args),*),
            32 => gcm_tag!($A, U32, $tag, $($args),*),
            _ => Err(OpError::not_supported("AES-GCM IVs of 12, 16 or 32 bytes are supported")),
        }
    };
}

/// AES-GCM: the ciphertext with its tag appended (encrypt), or the plaintext (decrypt).
pub(crate) fn gcm(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag_bits: u32,
    data: &[u8],
) -> OpResult<Vec<u8>> {
    match key.len() {
        16 => gcm_nonce!(Aes128, iv, tag_bits, encrypt, key, iv, aad, data),
        24 => gcm_nonce!(Aes192, iv, tag_bits, encrypt, key, iv, aad, data),
        32 => gcm_nonce!(Aes256, iv, tag_bits, encrypt, key, iv, aad, data),
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
