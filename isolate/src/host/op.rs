//! The bridge's `stk_host.op` callback: a native operation ([`crate::ops`]) run inside the
//! entry that asks for it, under `catch_unwind`, its answer written into the isolate's arena, and
//! the JavaScript callback an op may be given.
//! Guarantees and trusts: the parent module's (`host.rs`).

use std::ffi::c_void;

use super::HostState;
use crate::{ffi, ops};

/// `stk_host.op`: runs native operation `code` (see [`crate::ops`]) on the call's input and writes
/// its answer into memory the bridge allocates from the isolate's arena, or its error message
/// into the call. Returns 0, an [`ops::ErrorKind`], or -1 when the isolate was terminated.
pub(super) unsafe extern "C" fn host_op(
    ud: *mut c_void,
    code: u32,
    call: *mut ffi::StkOpCall,
) -> i32 {
    if call.is_null() || ud.is_null() {
        return ops::ErrorKind::Operation as i32;
    }
    // SAFETY: `ud` is the HostState this isolate was created with (see `callbacks`), alive for the
    // isolate's lifetime; the shared borrow ends with this block (the op holds its own `Rc`s).
    let (state, bundle) = unsafe {
        let host = &*ud.cast::<HostState>();
        let bundle = crate::bundle::owns(code).then(|| host.bundle.clone());
        (host.ops.clone(), bundle)
    };
    // SAFETY: the bridge passes a valid, exclusive stk_op_call for the duration of this call.
    let call = unsafe { &mut *call };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if call.cancel.is_null() || (call.input.is_null() && call.input_len != 0) {
            return Err(ops::OpError::operation("malformed op call"));
        }
        let input = if call.input_len == 0 {
            &[][..]
        } else {
            // SAFETY: the bridge passes `input_len` readable bytes that no JavaScript can touch
            // while the op runs (it runs synchronously inside the entry).
            unsafe { std::slice::from_raw_parts(call.input, call.input_len) }
        };
        // SAFETY: `cancel` points to the isolate's std::atomic<uint32_t> (same size and alignment
        // as AtomicU32), alive for the isolate's lifetime; it is only ever accessed atomically.
        let cancel = unsafe { std::sync::atomic::AtomicU32::from_ptr(call.cancel.cast_mut()) };
        let callback = call.callback.map(|f| {
            std::rc::Rc::new(JsCallback {
                f,
                sink: call.sink,
                live: std::cell::Cell::new(true),
            })
        });
        let ctx = ops::OpCtx::with_state(cancel, &state).with_callback(
            callback
                .clone()
                .map(|c| c as std::rc::Rc<dyn ops::Callback>),
        );
        let result = match &bundle {
            Some(bundle) => bundle.run(code, input),
            None => ops::run(code, input, &ctx),
        };
        if let Some(c) = callback {
            c.live.set(false); // whatever kept a clone can no longer call into a finished op
        }
        result
    }));
    let result = outcome.unwrap_or_else(|_| {
        Err(ops::OpError::operation(
            "internal error in a native operation",
        ))
    });
    match result {
        Ok(bytes) => {
            // SAFETY: `alloc` and `sink` come from the bridge for this call; it returns null or
            // `len` writable bytes.
            let out = unsafe { (call.alloc)(call.sink, bytes.len()) };
            if out.is_null() && !bytes.is_empty() {
                set_message(call, "the answer exceeds the memory limit");
                return ops::ErrorKind::RangeError as i32;
            }
            if !bytes.is_empty() {
                // SAFETY: `out` has `bytes.len()` writable bytes (alloc contract), disjoint from
                // `bytes`.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
            }
            call.output = out;
            call.output_len = bytes.len();
            ffi::STK_OP_OK
        }
        Err(e) if e.kind == ops::ErrorKind::Cancelled => ffi::STK_OP_CANCELLED,
        Err(e) => {
            set_message(call, &e.message);
            e.kind as i32
        }
    }
}

/// The JavaScript callback the bridge gave an op (`stk_op_call.callback`), as [`ops::Callback`].
struct JsCallback {
    f: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut *const u8, *mut usize) -> i32,
    sink: *mut c_void,
    /// True while the op it was given to runs; `call` refuses afterwards.
    live: std::cell::Cell<bool>,
}

impl ops::Callback for JsCallback {
    fn call(&self, input: &[u8]) -> ops::OpResult<Vec<u8>> {
        if !self.live.get() {
            return Err(ops::OpError::operation("the op's callback has ended"));
        }
        let mut out: *const u8 = std::ptr::null();
        let mut out_len = 0usize;
        // SAFETY: `f` and `sink` come from the bridge for the op still running (`live`, cleared
        // when `host_op` returns); `input` is readable for its length; `out`/`out_len` are valid
        // for writes.
        let status = unsafe {
            (self.f)(
                self.sink,
                input.as_ptr(),
                input.len(),
                &mut out,
                &mut out_len,
            )
        };
        match status {
            ffi::STK_OP_OK if out_len == 0 || out.is_null() => Ok(Vec::new()),
            // SAFETY: on success the bridge answers `out_len` readable bytes that stay valid
            // until its next callback of this op; they are copied at once.
            ffi::STK_OP_OK => Ok(unsafe { std::slice::from_raw_parts(out, out_len) }.to_vec()),
            ffi::STK_OP_CANCELLED => Err(ops::OpError::cancelled()),
            _ => Err(ops::OpError::operation(
                "a JavaScript callback of a native operation failed",
            )),
        }
    }
}

/// Copies `message` into the call, cut at a character boundary to fit.
fn set_message(call: &mut ffi::StkOpCall, message: &str) {
    let mut end = message.len().min(ffi::STK_OP_MESSAGE_CAP);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    call.message[..end].copy_from_slice(&message.as_bytes()[..end]);
    call.message_len = end;
}
