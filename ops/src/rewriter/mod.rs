//! The native half of HTMLRewriter (js/rewriter.js), on `lol_html`, Cloudflare's streaming HTML
//! rewriter (the one Workers' own HTMLRewriter is built on).
//!
//! The rewriter lives between chunks in the isolate's [`OpState`], behind a handle. Its content
//! handlers are JavaScript, called back synchronously: `write` and `end` take a callback
//! ([`crate::Callback`]); each event lol_html raises (an element a selector matched, a text chunk,
//! a comment, the doctype, an end tag, the document's end) is encoded ([`events`]) and handed to
//! the callback, which runs the tenant's handler and answers the mutations it asked for, which are
//! applied to the event's token before lol_html goes on. So a handler's changes land exactly where
//! Workers puts them, and the rewriter's parsing state never leaves Rust.
//!
//! Ops:
//! - `RewriterSelector(selector)` -> nothing, or a TypeError when lol_html cannot parse it.
//! - `RewriterNew(element handlers: a list of (selector, kinds u32), document handlers: a list of
//!   kinds u32)` -> handle. Kinds: element 1, comments 2, text 4 (elements); doctype 1, comments
//!   2, text 4, end 8 (documents): only those get events.
//! - `RewriterWrite(handle, chunk)` with a callback -> the rewritten bytes so far.
//! - `RewriterEnd(handle)` with a callback -> the last bytes; frees the handle.
//!
//! Why calling back is safe: the op takes the rewriter out of the table while it runs
//! ([`OpState::take`]), so JavaScript run by a handler that reaches this rewriter again (it cannot
//! from tenant code, but the prelude could) finds it busy (a TypeError), never a second mutable
//! borrow; nothing else is borrowed across a callback (the callback handle itself is cloned out of
//! its cell first). Rewriter writes do not nest: one running in an isolate refuses another
//! ([`REWRITING`]), which bounds the native stack a handler can stack up. A handler that throws
//! stops the write with its exception (the prelude rethrows it); a terminated isolate stops it as
//! cancelled at the next event. The bridge hands the op a private copy of its input, since
//! JavaScript runs while it reads it.
//!
//! Guarantees: one rewriter buffers at most [`MAX_REWRITER_MEMORY`] bytes of pending input
//! (lol_html's own accounting; past it the write fails with a RangeError) and is declared to the
//! table as [`COST`]; one write answers at most [`crate::MAX_OP_OUTPUT`] bytes (more is an error).
//! Documents are read as UTF-8 (Workers follows the response's charset; a gap).
//!
//! Trusts: `lol_html` (pure safe Rust, `forbid(unsafe_code)`, fuzzed upstream).

pub(crate) mod events;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use lol_html::errors::RewritingError;
use lol_html::{
    DocumentContentHandlers, ElementContentHandlers, HtmlRewriter, MemorySettings, OutputSink,
    Selector, Settings,
};

use crate::fields::{Fields, Reader};
use crate::state::OpState;
use crate::{Callback, ErrorKind, OpCode, OpCtx, OpError, OpResult, MAX_OP_OUTPUT};

/// The input lol_html may hold back (a tag or text split across chunks).
pub const MAX_REWRITER_MEMORY: usize = 1 << 20;
/// What one rewriter is declared to hold: its buffers up to the cap, and its selector machine.
pub const COST: usize = MAX_REWRITER_MEMORY + (64 << 10);
/// The most element handlers (selectors) one rewriter takes.
pub const MAX_SELECTORS: usize = 1024;

/// Handler kinds, as the prelude numbers them.
pub(crate) const ON_ELEMENT: u32 = 1;
pub(crate) const ON_COMMENTS: u32 = 2;
pub(crate) const ON_TEXT: u32 = 4;
pub(crate) const ON_DOCTYPE: u32 = 1;
pub(crate) const ON_END: u32 = 8;

thread_local! {
    /// Whether a rewriter write runs on this thread (isolates run one per thread at a time).
    pub static REWRITING: Cell<bool> = const { Cell::new(false) };
}

/// What the handlers share with the op that runs them.
#[derive(Default)]
pub(crate) struct Shared {
    /// The running op's callback; `None` between ops.
    pub callback: RefCell<Option<Rc<dyn Callback>>>,
    /// Rewritten bytes not yet answered.
    pub out: RefCell<Vec<u8>>,
    /// The output passed [`MAX_OP_OUTPUT`].
    pub overflow: Cell<bool>,
}

struct Sink(Rc<Shared>);

impl OutputSink for Sink {
    fn handle_chunk(&mut self, chunk: &[u8]) {
        let mut out = self.0.out.borrow_mut();
        if out.len() + chunk.len() > MAX_OP_OUTPUT {
            self.0.overflow.set(true);
        } else {
            out.extend_from_slice(chunk);
        }
    }
}

pub struct Rewriter {
    inner: HtmlRewriter<'static, Sink>,
    shared: Rc<Shared>,
}

fn selector(text: &str) -> OpResult<Selector> {
    text.parse::<Selector>().map_err(|e| {
        OpError::type_error(format!(
            "HTMLRewriter: the selector \"{text}\" is invalid: {e}"
        ))
    })
}

fn build(f: &Fields<'_>) -> OpResult<Rewriter> {
    let shared = Rc::new(Shared::default());
    let mut settings = Settings::new().with_memory_settings(
        MemorySettings::new()
            .with_preallocated_parsing_buffer_size(4096)
            .with_max_allowed_memory_usage(MAX_REWRITER_MEMORY),
    );
    let mut list = Reader::new(f.bytes(0)?);
    let mut index = 0u32;
    while !list.is_empty() {
        if index as usize >= MAX_SELECTORS {
            return Err(OpError::type_error("HTMLRewriter: too many handlers"));
        }
        let sel = selector(list.str()?)?;
        let kinds = list.u32()?;
        let mut h = ElementContentHandlers::default();
        if kinds & ON_ELEMENT != 0 {
            let sh = shared.clone();
            h = h.element(move |el: &mut lol_html::html_content::Element<'_, '_>| {
                events::element(&sh, index, el)
            });
        }
        if kinds & ON_COMMENTS != 0 {
            let sh = shared.clone();
            h = h.comments(move |c: &mut lol_html::html_content::Comment<'_>| {
                events::comment(&sh, index, false, c)
            });
        }
        if kinds & ON_TEXT != 0 {
            let sh = shared.clone();
            h = h.text(move |t: &mut lol_html::html_content::TextChunk<'_>| {
                events::text(&sh, index, false, t)
            });
        }
        settings = settings.append_element_content_handler((Cow::Owned(sel), h));
        index += 1;
    }
    let mut list = Reader::new(f.bytes(1)?);
    let mut index = 0u32;
    while !list.is_empty() {
        if index as usize >= MAX_SELECTORS {
            return Err(OpError::type_error("HTMLRewriter: too many handlers"));
        }
        let kinds = list.u32()?;
        let mut h = DocumentContentHandlers::default();
        if kinds & ON_DOCTYPE != 0 {
            let sh = shared.clone();
            h = h.doctype(move |d: &mut lol_html::html_content::Doctype<'_>| {
                events::doctype(&sh, index, d)
            });
        }
        if kinds & ON_COMMENTS != 0 {
            let sh = shared.clone();
            h = h.comments(move |c: &mut lol_html::html_content::Comment<'_>| {
                events::comment(&sh, index, true, c)
            });
        }
        if kinds & ON_TEXT != 0 {
            let sh = shared.clone();
            h = h.text(move |t: &mut lol_html::html_content::TextChunk<'_>| {
                events::text(&sh, index, true, t)
            });
        }
        if kinds & ON_END != 0 {
            let sh = shared.clone();
            h = h.end(move |e: &mut lol_html::html_content::DocumentEnd<'_>| {
                events::end(&sh, index, e)
            });
        }
        settings = settings.append_document_content_handler(h);
        index += 1;
    }
    let inner = HtmlRewriter::new(settings, Sink(shared.clone()));
    Ok(Rewriter { inner, shared })
}

/// The op's error for a failed rewrite.
fn rewrite_error(e: RewritingError) -> OpError {
    match e {
        RewritingError::ContentHandlerError(inner) => match inner.downcast::<events::Stop>() {
            Ok(stop) => stop.0,
            Err(other) => OpError::type_error(format!("HTMLRewriter: {other}")),
        },
        RewritingError::MemoryLimitExceeded(e) => OpError::new(
            ErrorKind::RangeError,
            format!("HTMLRewriter: {e} (a tag or text split across chunks is too long)"),
        ),
        other => OpError::type_error(format!("HTMLRewriter: {other}")),
    }
}

/// Runs `work` on rewriter `id` with the op's callback installed, answering the output.
fn with_rewriter(
    state: &OpState,
    id: u32,
    callback: Rc<dyn Callback>,
    end: bool,
    work: impl FnOnce(&mut Option<Rewriter>) -> Result<(), RewritingError>,
) -> OpResult<Vec<u8>> {
    if REWRITING.with(Cell::get) {
        return Err(OpError::type_error(
            "HTMLRewriter: a rewriter cannot run inside another's handler",
        ));
    }
    let rewriter = *state.take::<Rewriter>(id)?;
    let shared = rewriter.shared.clone();
    *shared.callback.borrow_mut() = Some(callback);
    let mut slot = Some(rewriter);
    /// Clears [`REWRITING`] however the write ends (a panic is caught by the host).
    struct Running;
    impl Drop for Running {
        fn drop(&mut self) {
            REWRITING.with(|r| r.set(false));
        }
    }
    REWRITING.with(|r| r.set(true));
    let running = Running;
    let result = work(&mut slot);
    drop(running);
    *shared.callback.borrow_mut() = None;
    let out = std::mem::take(&mut *shared.out.borrow_mut());
    let overflow = shared.overflow.get();
    match (result, slot) {
        (Ok(()), Some(r)) if !end && !overflow => {
            state.put(id, Box::new(r))?;
        }
        (result, slot) => {
            if let Some(r) = slot {
                state.put(id, Box::new(r))?;
            }
            state.free(id)?;
            result.map_err(rewrite_error)?;
            if overflow {
                return Err(OpError::new(
                    ErrorKind::RangeError,
                    "HTMLRewriter: the rewritten chunk is too large",
                ));
            }
        }
    }
    Ok(out)
}

pub(crate) fn run(op: OpCode, input: &[u8], ctx: &OpCtx<'_>) -> OpResult<Vec<u8>> {
    let f = Fields::parse(input)?;
    match op {
        OpCode::RewriterSelector => {
            let text = std::str::from_utf8(f.bytes(0)?)
                .map_err(|_| OpError::type_error("HTMLRewriter: the selector is not UTF-8"))?;
            selector(text).map(|_| Vec::new())
        }
        OpCode::RewriterNew => {
            let r = build(&f)?;
            let id = ctx.state()?.insert(Box::new(r), COST)?;
            Ok(id.to_le_bytes().to_vec())
        }
        OpCode::RewriterWrite => {
            let chunk = f.bytes(1)?;
            with_rewriter(
                ctx.state()?,
                f.u32(0)?,
                ctx.callback()?,
                false,
                |slot| match slot {
                    Some(r) => r.inner.write(chunk),
                    None => Ok(()),
                },
            )
        }
        OpCode::RewriterEnd => {
            with_rewriter(ctx.state()?, f.u32(0)?, ctx.callback()?, true, |slot| {
                match slot.take() {
                    Some(r) => {
                        // `end` consumes the rewriter; its handlers still reach `shared`.
                        let Rewriter { inner, shared } = r;
                        let result = inner.end();
                        drop(shared);
                        result
                    }
                    None => Ok(()),
                }
            })
        }
        _ => Err(OpError::not_supported("not an HTMLRewriter op")),
    }
}

#[cfg(test)]
mod tests;
