//! Native operations: the one synchronous road from the prelude's JavaScript to Rust code in the
//! isolate's own thread (`__stockade_host.op(code, input[, callback])`, `stk_host.op` in bridge.h).
//!
//! An [`OpCode`] names an op, its input is a list of fields ([`fields`]), its answer is bytes (or
//! several fields) or a typed [`OpError`] the prelude turns into the web's exception (TypeError,
//! RangeError or a DOMException by name). Families live in one module each (`crypto/`,
//! `compression/`, `encoding`, `urlpattern`, `rewriter/`, `domain`), and their codes in one range
//! each of [`OpCode`].
//!
//! Most ops are pure functions of their input. Stateful ones (a compressor between chunks, a
//! streaming legacy decoder, an HTML rewriter) keep their object in the isolate's
//! [`state::OpState`], behind a handle the prelude owns and frees (op `Free`); the table is capped
//! and dropped with the isolate. HTMLRewriter's ops also call JavaScript back while they run
//! ([`Callback`]; why that is safe: `rewriter/mod.rs`).
//!
//! Guarantees:
//! - Bounded memory: an input over [`MAX_OP_INPUT`] bytes is refused before any work, an answer
//!   over [`MAX_OP_OUTPUT`] is refused, and the answer is written straight into memory the bridge
//!   takes from the isolate's ArrayBuffer arena, so it counts against the tenant's memory limit
//!   (a refusal there is a RangeError). Nothing an op allocates outlives the call, except the
//!   objects kept in [`state::OpState`], which is capped in count and declared bytes.
//! - Bounded time: an op runs inside a bridge entry on the isolate's thread, so its CPU time is
//!   the request's (the watchdog reads that thread's CPU clock), but V8's termination cannot stop
//!   native code. So every op either has a worst-case cost bounded by its caps (each family says
//!   its caps and the measured cost at them), or works in steps and checks [`OpCtx::check`]
//!   between them: once the watchdog has terminated the isolate, the op stops within one step
//!   (a few milliseconds), well inside the watchdog's grace (100 ms of CPU past termination, after
//!   which a worker process ends itself). A cancelled op throws nothing: execution is terminating.
//! - No panic crosses the FFI boundary: the host callback (host.rs) runs ops under
//!   `catch_unwind`, and a panic becomes an OperationError.
//! - No new system calls: ops compute in memory; random bytes come from getrandom(2), which the
//!   worker's seccomp policy allows for crypto.getRandomValues ([`crypto::rng`]).
//!
//! Trusts: the crates of each family (the RustCrypto crates, miniz_oxide and crc32fast,
//! encoding_rs, urlpattern, lol_html; see each module's header).

pub mod compression;
pub mod crypto;
pub mod domain;
pub mod encoding;
pub mod fields;
pub mod rewriter;
pub mod state;
pub mod urlpattern;

use std::sync::atomic::{AtomicU32, Ordering};

/// The largest input an op accepts (16 MiB, the same as a host call's payload).
pub const MAX_OP_INPUT: usize = 16 << 20;
/// The largest answer an op gives: its input plus room for a tag, padding or framing.
pub const MAX_OP_OUTPUT: usize = MAX_OP_INPUT + 4096;

/// Every op, by family. The numbers are the contract with the prelude (`OP` in
/// `js/crypto-keys.js`, `DIGEST_OP` in `js/streams-transform.js`, `NATIVE` in `js/compression.js`,
/// `NODE_OP` in `js/node-hash.js` and
/// `NODE_OP_EXT` in `js/node-crypto-keys.js`);
/// a family owns one range of 0x100 codes.
/// 0x7fxx belongs to the isolate crate's `/bundle` ops (`isolate/src/bundle.rs`, via `host.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum OpCode {
    // 0x00xx: the handle table (state.rs).
    Free = 0x0001,
    // 0x01xx: WebCrypto (crypto/).
    Digest = 0x0101,
    HmacSign = 0x0102,
    HmacVerify = 0x0103,
    DigestNew = 0x0104,
    DigestUpdate = 0x0105,
    DigestFinish = 0x0106,
    AesGcmEncrypt = 0x0110,
    AesGcmDecrypt = 0x0111,
    AesCbcEncrypt = 0x0112,
    AesCbcDecrypt = 0x0113,
    AesCtr = 0x0114,
    AesKwWrap = 0x0115,
    AesKwUnwrap = 0x0116,
    Pbkdf2 = 0x0120,
    Hkdf = 0x0121,
    EcGenerate = 0x0130,
    EcdsaSign = 0x0131,
    EcdsaVerify = 0x0132,
    Ecdh = 0x0133,
    OkpGenerate = 0x0140,
    Ed25519Sign = 0x0141,
    Ed25519Verify = 0x0142,
    X25519 = 0x0143,
    RsaGenerate = 0x0150,
    RsaSign = 0x0151,
    RsaVerify = 0x0152,
    RsaOaepEncrypt = 0x0153,
    RsaOaepDecrypt = 0x0154,
    KeyImport = 0x0160,
    KeyExport = 0x0161,
    // 0x02xx: compression streams (compression/).
    CompressNew = 0x0201,
    CompressWrite = 0x0202,
    DecompressNew = 0x0203,
    DecompressWrite = 0x0204,
    // 0x03xx: TextDecoder's legacy encodings (encoding.rs).
    EncodingLabel = 0x0301,
    Decode = 0x0302,
    // 0x04xx: URLPattern (urlpattern.rs).
    PatternParse = 0x0401,
    PatternMatchInput = 0x0402,
    // 0x05xx: HTMLRewriter (rewriter/).
    RewriterSelector = 0x0501,
    RewriterNew = 0x0502,
    RewriterWrite = 0x0503,
    RewriterEnd = 0x0504,
    RewriterResume = 0x0505,
    // 0x06xx: node:crypto (crypto/node/).
    DigestCopy = 0x0601,
    HmacNew = 0x0602,
    HmacUpdate = 0x0603,
    HmacFinish = 0x0604,
    NodePbkdf2 = 0x0610,
    NodeHkdf = 0x0611,
    Scrypt = 0x0612,
    KeyParse = 0x0620,
    KeyPublicOf = 0x0621,
    KeyEncode = 0x0622,
    KeyDecrypt = 0x0623,
    KeyEncrypt = 0x0624,
    CipherNew = 0x0630,
    CipherUpdate = 0x0631,
    CipherFinal = 0x0632,
    CipherAad = 0x0633,
    CipherPadding = 0x0634,
    EcdhKeys = 0x0640,
    EcdhPoint = 0x0641,
    EcdhCompute = 0x0642,
    DhGroup = 0x0648,
    DhCheck = 0x0649,
    DhKeys = 0x064A,
    DhCompute = 0x064B,
    DhPrime = 0x064C,
    RsaRaw = 0x0650,
    X509Parse = 0x0660,
    X509Verify = 0x0661,
    X509Check = 0x0662,
    // 0x07xx: the URL parser's domain to ASCII, and node:url's domain to Unicode (domain.rs).
    DomainToAscii = 0x0701,
    DomainToUnicode = 0x0702,
}

impl OpCode {
    pub const ALL: [OpCode; 75] = [
        OpCode::Free,
        OpCode::Digest,
        OpCode::HmacSign,
        OpCode::HmacVerify,
        OpCode::DigestNew,
        OpCode::DigestUpdate,
        OpCode::DigestFinish,
        OpCode::AesGcmEncrypt,
        OpCode::AesGcmDecrypt,
        OpCode::AesCbcEncrypt,
        OpCode::AesCbcDecrypt,
        OpCode::AesCtr,
        OpCode::AesKwWrap,
        OpCode::AesKwUnwrap,
        OpCode::Pbkdf2,
        OpCode::Hkdf,
        OpCode::EcGenerate,
        OpCode::EcdsaSign,
        OpCode::EcdsaVerify,
        OpCode::Ecdh,
        OpCode::OkpGenerate,
        OpCode::Ed25519Sign,
        OpCode::Ed25519Verify,
        OpCode::X25519,
        OpCode::RsaGenerate,
        OpCode::RsaSign,
        OpCode::RsaVerify,
        OpCode::RsaOaepEncrypt,
        OpCode::RsaOaepDecrypt,
        OpCode::KeyImport,
        OpCode::KeyExport,
        OpCode::CompressNew,
        OpCode::CompressWrite,
        OpCode::DecompressNew,
        OpCode::DecompressWrite,
        OpCode::EncodingLabel,
        OpCode::Decode,
        OpCode::PatternParse,
        OpCode::PatternMatchInput,
        OpCode::RewriterSelector,
        OpCode::RewriterNew,
        OpCode::RewriterWrite,
        OpCode::RewriterEnd,
        OpCode::RewriterResume,
        OpCode::DigestCopy,
        OpCode::HmacNew,
        OpCode::HmacUpdate,
        OpCode::HmacFinish,
        OpCode::NodePbkdf2,
        OpCode::NodeHkdf,
        OpCode::Scrypt,
        OpCode::KeyParse,
        OpCode::KeyPublicOf,
        OpCode::KeyEncode,
        OpCode::KeyDecrypt,
        OpCode::KeyEncrypt,
        OpCode::CipherNew,
        OpCode::CipherUpdate,
        OpCode::CipherFinal,
        OpCode::CipherAad,
        OpCode::CipherPadding,
        OpCode::EcdhKeys,
        OpCode::EcdhPoint,
        OpCode::EcdhCompute,
        OpCode::DhGroup,
        OpCode::DhCheck,
        OpCode::DhKeys,
        OpCode::DhCompute,
        OpCode::DhPrime,
        OpCode::RsaRaw,
        OpCode::X509Parse,
        OpCode::X509Verify,
        OpCode::X509Check,
        OpCode::DomainToAscii,
        OpCode::DomainToUnicode,
    ];

    pub fn from_u32(code: u32) -> Option<OpCode> {
        OpCode::ALL.iter().copied().find(|c| *c as u32 == code)
    }
}

/// What went wrong, as the exception the tenant sees. The numbers are the contract with the bridge
/// and the prelude (`stk_host.op`'s answer; 0 is success, -1 cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ErrorKind {
    TypeError = 1,
    RangeError = 2,
    NotSupported = 3,
    Syntax = 4,
    InvalidAccess = 5,
    Data = 6,
    Operation = 7,
    QuotaExceeded = 8,
    /// The isolate was terminated while the op ran; nothing is thrown.
    Cancelled = -1,
}

/// A failed op: the exception's kind and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub kind: ErrorKind,
    pub message: String,
}

impl OpError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        OpError {
            kind,
            message: message.into(),
        }
    }
    pub fn data(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Data, message)
    }
    pub fn operation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Operation, message)
    }
    pub fn not_supported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotSupported, message)
    }
    pub fn type_error(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::TypeError, message)
    }
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "the isolate was terminated")
    }
}

pub type OpResult<T> = Result<T, OpError>;

/// A JavaScript function an op may call back while it runs (HTMLRewriter's handlers): it gets
/// bytes and answers bytes. JavaScript runs meanwhile, and may run other ops: an op that calls
/// back holds no borrow of shared state across the call (see [`state`]). An error of kind
/// Cancelled means execution is terminating: the op gives up at once.
pub trait Callback {
    fn call(&self, input: &[u8]) -> OpResult<Vec<u8>>;
}

/// What an op may consult while it runs: whether its isolate has been terminated, the isolate's
/// native objects, and the JavaScript callback it was given.
pub struct OpCtx<'a> {
    cancel: &'a AtomicU32,
    state: Option<&'a state::OpState>,
    callback: Option<std::rc::Rc<dyn Callback>>,
}

impl<'a> OpCtx<'a> {
    /// A context without native objects (stateful ops fail in it).
    pub fn new(cancel: &'a AtomicU32) -> Self {
        OpCtx {
            cancel,
            state: None,
            callback: None,
        }
    }

    pub fn with_state(cancel: &'a AtomicU32, state: &'a state::OpState) -> Self {
        OpCtx {
            cancel,
            state: Some(state),
            callback: None,
        }
    }

    /// The same context with a JavaScript callback.
    pub fn with_callback(mut self, callback: Option<std::rc::Rc<dyn Callback>>) -> Self {
        self.callback = callback;
        self
    }

    /// The op's JavaScript callback; a TypeError when it was given none.
    pub fn callback(&self) -> OpResult<std::rc::Rc<dyn Callback>> {
        self.callback
            .clone()
            .ok_or_else(|| OpError::type_error("this op needs a callback"))
    }

    /// The isolate's native objects.
    pub fn state(&self) -> OpResult<&'a state::OpState> {
        self.state
            .ok_or_else(|| OpError::operation("this op needs the isolate's native state"))
    }

    /// `Err(cancelled)` once the watchdog has terminated the isolate; ops call it between steps.
    pub fn check(&self) -> OpResult<()> {
        if self.cancel.load(Ordering::Relaxed) != 0 {
            Err(OpError::cancelled())
        } else {
            Ok(())
        }
    }
}

/// Runs op `code` on `input`.
pub fn run(code: u32, input: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    if input.len() > MAX_OP_INPUT {
        return Err(OpError::new(
            ErrorKind::QuotaExceeded,
            format!("the input is larger than {MAX_OP_INPUT} bytes"),
        ));
    }
    let Some(op) = OpCode::from_u32(code) else {
        return Err(OpError::not_supported(format!(
            "unknown operation {code:#x}"
        )));
    };
    ctx.check()?;
    let out = match (op as u32) >> 8 {
        0x00 => {
            let f = fields::Fields::parse(input)?;
            ctx.state()?.free(f.u32(0)?)?;
            Vec::new()
        }
        0x01 => crypto::run(op, input, ctx)?,
        0x02 => compression::run(op, input, ctx)?,
        0x03 => encoding::run(op, input, ctx)?,
        0x04 => urlpattern::run(op, input)?,
        0x05 => rewriter::run(op, input, ctx)?,
        0x06 => crypto::node::run(op, input, ctx)?,
        0x07 => domain::run(op, input)?,
        _ => {
            return Err(OpError::not_supported(format!(
                "unknown operation {code:#x}"
            )))
        }
    };
    if out.len() > MAX_OP_OUTPUT {
        return Err(OpError::new(
            ErrorKind::QuotaExceeded,
            format!("the answer is larger than {MAX_OP_OUTPUT} bytes"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for op in OpCode::ALL {
            assert_eq!(OpCode::from_u32(op as u32), Some(op));
        }
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let e = run(0xdead, &[], &ctx).expect_err("unknown");
        assert_eq!(e.kind, ErrorKind::NotSupported);
    }

    #[test]
    fn oversized_input_is_refused_before_work() {
        let flag = AtomicU32::new(0);
        let ctx = OpCtx::new(&flag);
        let big = vec![0u8; MAX_OP_INPUT + 1];
        let e = run(OpCode::Digest as u32, &big, &ctx).expect_err("too big");
        assert_eq!(e.kind, ErrorKind::QuotaExceeded);
    }

    #[test]
    fn a_terminated_isolate_cancels_the_op() {
        let flag = AtomicU32::new(1);
        let ctx = OpCtx::new(&flag);
        let input = fields::encode(&[&[1], b"abc"]);
        let e = run(OpCode::Digest as u32, &input, &ctx).expect_err("cancelled");
        assert_eq!(e.kind, ErrorKind::Cancelled);
    }
}
