//! The native half of HTMLRewriter (js/rewriter.js), on `lol_html`, Cloudflare's streaming HTML
//! rewriter (the one Workers' own HTMLRewriter is built on).
//!
//! lol_html calls its content handlers synchronously, in the middle of a write, and wants their
//! mutations before it goes on; a Workers handler may be `async` and change its token after an
//! `await` (`e.setInnerContent(await lookup(...))`). So each rewriter runs on a stack of its own
//! (a [`corosensei`] coroutine, as workerd runs lol_html on a fiber): each event lol_html raises
//! (an element a selector matched, a text chunk, a comment, the doctype, an end tag, the
//! document's end) is encoded ([`events`]) and the coroutine suspends with it; the op, back on the
//! isolate's stack, hands it to the JavaScript callback ([`crate::Callback`]), which runs the
//! tenant's handler and answers either the mutations it made (applied to the token before lol_html
//! goes on) or "await": the handler returned a promise. Then the op returns with the rewriter
//! still suspended inside that handler, the prelude awaits the promise, and `RewriterResume`
//! hands the handler's mutations (made before and after its awaits) to the same token. JavaScript
//! never runs on the coroutine's stack (V8's stack guard knows only the thread's), and the
//! rewriter's parsing state never leaves Rust.
//!
//! Ops (`Write`, `End` and `Resume` answer fields `[status, output]`: status 0 the input is
//! consumed (after `End`: the rewriter is done and freed), 1 suspended in an async handler):
//! - `RewriterSelector(selector)` -> nothing, or a TypeError when lol_html cannot parse it.
//! - `RewriterNew(element handlers: a list of (selector, kinds u32), document handlers: a list of
//!   kinds u32)` -> handle. Kinds: element 1, comments 2, text 4 (elements); doctype 1, comments
//!   2, text 4, end 8 (documents): only those get events.
//! - `RewriterWrite(handle, chunk)` with a callback; `RewriterEnd(handle)` with a callback.
//! - `RewriterResume(handle, mutations)` with a callback: the suspended handler's answer.
//!
//! Why calling back is safe: the op takes the rewriter out of the table while it runs
//! ([`OpState::take`]), so JavaScript run by a handler that reaches this rewriter again (it cannot
//! from tenant code, but the prelude could) finds it busy (a TypeError), never a second mutable
//! borrow; nothing else is borrowed across a callback (the callback handle itself is cloned out of
//! its cell first). Rewriter ops do not nest: one running in an isolate refuses another
//! ([`REWRITING`]), which bounds the native stack a handler can stack up; a suspended rewriter is
//! not running. A Write or End to a rewriter suspended in a handler, or a Resume to one that is
//! not, is a TypeError. A handler that throws (or whose promise rejects) stops the rewrite with its
//! exception (the prelude rethrows it); a terminated isolate stops it as cancelled at the next
//! event. A rewriter freed while suspended (a cancelled body, the isolate's end) unwinds its
//! stack, dropping what lol_html held. The bridge hands the op a private copy of its input, since
//! JavaScript runs while it reads it.
//!
//! Guarantees: one rewriter buffers at most [`MAX_REWRITER_MEMORY`] bytes of pending input
//! (lol_html's own accounting; past it the write fails with a RangeError) and is declared to the
//! table as [`COST`], its stack included (an ended rewriter's stack is kept for the thread's next,
//! [`SPARE_STACKS`] at most); one op answers at most [`crate::MAX_OP_OUTPUT`] bytes
//! (more is an error). Documents are read as UTF-8 (Workers follows the response's charset; a gap).
//!
//! Trusts: `lol_html` (pure safe Rust, `forbid(unsafe_code)`, fuzzed upstream; it keeps open
//! elements in a list, so a document's depth ends as its memory cap, not on the stack; its
//! selector compiler recurses per combinator, so rewriters are built on the isolate thread's
//! stack and selectors are capped at [`MAX_SELECTOR_BYTES`], whose deepest case is tested on the
//! coroutine's [`STACK`]), `corosensei` (the stack switch; Wasmer's).

pub(crate) mod events;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
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
/// The stack a rewriter runs on (reserved; pages are committed as they are touched).
pub const STACK: usize = 256 << 10;
/// What one rewriter is declared to hold: its buffers up to the cap, its selector machine, and
/// its stack.
pub const COST: usize = MAX_REWRITER_MEMORY + (64 << 10) + STACK;
/// The most element handlers (selectors) one rewriter takes.
pub const MAX_SELECTORS: usize = 1024;

/// Handler kinds, as the prelude numbers them.
pub(crate) const ON_ELEMENT: u32 = 1;
pub(crate) const ON_COMMENTS: u32 = 2;
pub(crate) const ON_TEXT: u32 = 4;
pub(crate) const ON_DOCTYPE: u32 = 1;
pub(crate) const ON_END: u32 = 8;

/// The reply that says "the handler returned a promise" (the mutation codes end at 14).
pub(crate) const AWAIT: u32 = 15;

/// The most finished rewriters' stacks a thread keeps for the next ones.
const SPARE_STACKS: usize = 4;

thread_local! {
    /// Whether a rewriter op runs on this thread (isolates run one per thread at a time).
    pub static REWRITING: Cell<bool> = const { Cell::new(false) };
    /// Stacks of ended rewriters, reused: a new stack's first page faults cost most of making a
    /// rewriter (`benches/benches/rewriter.rs`). What a stack holds from its last rewriter is what
    /// the isolate thread's own stack holds from every op it ran: native memory no tenant code
    /// reads.
    static STACKS: RefCell<Vec<DefaultStack>> = const { RefCell::new(Vec::new()) };
}

/// What an op hands the rewriter's coroutine.
pub(crate) enum Resume {
    Write(Vec<u8>),
    End,
    /// The callback's answer to the event the coroutine suspended with.
    Reply(OpResult<Vec<u8>>),
}

/// What the coroutine hands back while it is not done.
pub(crate) enum Suspend {
    /// An event for the callback; the coroutine waits inside lol_html's handler.
    Event(Vec<u8>),
    /// The chunk is consumed.
    Written,
}

type Yield = Yielder<Resume, Suspend>;
type Machine = Coroutine<Resume, Suspend, Result<(), RewritingError>, DefaultStack>;

/// What the handlers share with the op that runs them.
pub(crate) struct Shared {
    /// The running coroutine's yielder; null outside its body.
    yielder: Cell<*const Yield>,
    /// Rewritten bytes not yet answered.
    pub out: RefCell<Vec<u8>>,
    /// The output passed [`MAX_OP_OUTPUT`].
    pub overflow: Cell<bool>,
}

impl Shared {
    /// Suspends the coroutine with `event`; the op's answer to it.
    pub(crate) fn suspend(&self, event: Vec<u8>) -> OpResult<Vec<u8>> {
        let y = self.yielder.get();
        if y.is_null() {
            return Err(OpError::operation("a rewriter event outside its coroutine"));
        }
        // `body` sets the pointer to its own yielder before it feeds the rewriter and clears it
        // when it returns or unwinds (`Bound`); handlers run only inside the rewriter's
        // `write`/`end`, which `body` calls, on the coroutine's stack.
        // SAFETY: so the yielder is alive here, and this is the one stack `suspend` may run on.
        let y = unsafe { &*y };
        match y.suspend(Suspend::Event(event)) {
            Resume::Reply(reply) => reply,
            Resume::Write(_) | Resume::End => Err(OpError::operation(
                "HTMLRewriter: the rewriter was fed while a handler ran",
            )),
        }
    }
}

/// Clears [`Shared::yielder`] however the body ends.
struct Bound<'a>(&'a Shared);

impl Drop for Bound<'_> {
    fn drop(&mut self) {
        self.0.yielder.set(std::ptr::null());
    }
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

/// The handlers a rewriter was made with: (selector, kinds) per element handler, kinds per
/// document handler.
struct Spec {
    elements: Vec<(Selector, u32)>,
    documents: Vec<u32>,
}

pub struct Rewriter {
    /// `None` only while it is dropped.
    machine: Option<Machine>,
    shared: Rc<Shared>,
    /// Suspended inside a handler that returned a promise.
    awaiting: bool,
}

impl Drop for Rewriter {
    fn drop(&mut self) {
        if let Some(mut machine) = self.machine.take() {
            // A rewriter suspended in a handler unwinds its stack first (lol_html's buffers, the
            // handlers' references), then its stack goes back to the thread's spares.
            machine.force_unwind();
            if machine.done() {
                let stack = machine.into_stack();
                // Not during the thread's teardown (then the stack is simply unmapped).
                let _ = STACKS.try_with(|s| {
                    let mut s = s.borrow_mut();
                    if s.len() < SPARE_STACKS {
                        s.push(stack);
                    }
                });
            }
        }
    }
}

/// The longest selector accepted: lol_html's compiler and matcher recurse with a selector's
/// combinators; real selectors are far shorter.
pub const MAX_SELECTOR_BYTES: usize = 1024;

fn selector(text: &str) -> OpResult<Selector> {
    if text.len() > MAX_SELECTOR_BYTES {
        return Err(OpError::type_error(format!(
            "HTMLRewriter: a selector of {} bytes is longer than the {MAX_SELECTOR_BYTES} accepted",
            text.len()
        )));
    }
    text.parse::<Selector>().map_err(|e| {
        OpError::type_error(format!(
            "HTMLRewriter: the selector \"{text}\" is invalid: {e}"
        ))
    })
}

fn spec(f: &Fields<'_>) -> OpResult<Spec> {
    let mut elements = Vec::new();
    let mut list = Reader::new(f.bytes(0)?);
    while !list.is_empty() {
        if elements.len() >= MAX_SELECTORS {
            return Err(OpError::type_error("HTMLRewriter: too many handlers"));
        }
        let sel = selector(list.str()?)?;
        elements.push((sel, list.u32()?));
    }
    let mut documents = Vec::new();
    let mut list = Reader::new(f.bytes(1)?);
    while !list.is_empty() {
        if documents.len() >= MAX_SELECTORS {
            return Err(OpError::type_error("HTMLRewriter: too many handlers"));
        }
        documents.push(list.u32()?);
    }
    Ok(Spec {
        elements,
        documents,
    })
}

/// lol_html's settings for `spec`, its handlers suspending through `shared`.
fn settings(spec: Spec, shared: &Rc<Shared>) -> Settings<'static, 'static> {
    let mut settings = Settings::new().with_memory_settings(
        MemorySettings::new()
            .with_preallocated_parsing_buffer_size(4096)
            .with_max_allowed_memory_usage(MAX_REWRITER_MEMORY),
    );
    for (index, (sel, kinds)) in (0u32..).zip(spec.elements) {
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
    }
    for (index, kinds) in (0u32..).zip(spec.documents) {
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
    }
    settings
}

/// The coroutine: a rewriter fed chunks until `End` (or an error) finishes it.
fn body(
    y: &Yield,
    first: Resume,
    mut rewriter: Box<HtmlRewriter<'static, Sink>>,
    shared: Rc<Shared>,
) -> Result<(), RewritingError> {
    shared.yielder.set(y);
    let _bound = Bound(&shared);
    let mut input = first;
    loop {
        match input {
            Resume::Write(chunk) => rewriter.write(&chunk)?,
            Resume::End => return rewriter.end(),
            Resume::Reply(_) => {
                return Err(RewritingError::ContentHandlerError(Box::new(events::Stop(
                    OpError::operation("HTMLRewriter: an answer with no handler waiting"),
                ))))
            }
        }
        input = y.suspend(Suspend::Written);
    }
}

fn build(f: &Fields<'_>) -> OpResult<Rewriter> {
    let spec = spec(f)?;
    let shared = Rc::new(Shared {
        yielder: Cell::new(std::ptr::null()),
        out: RefCell::new(Vec::new()),
        overflow: Cell::new(false),
    });
    let stack = match STACKS.with(|s| s.borrow_mut().pop()) {
        Some(stack) => stack,
        None => DefaultStack::new(STACK)
            .map_err(|e| OpError::new(ErrorKind::RangeError, format!("HTMLRewriter: {e}")))?,
    };
    // Built here, on the isolate thread's stack: compiling the selectors recurses once per
    // combinator (lol_html's selectors_vm compiler), which the coroutine's stack is not sized for.
    // Boxed: the coroutine's closure is moved onto its stack, which takes small values only.
    let rewriter = Box::new(HtmlRewriter::new(
        settings(spec, &shared),
        Sink(shared.clone()),
    ));
    let sh = shared.clone();
    let machine = Coroutine::with_stack(stack, move |y: &Yield, first: Resume| {
        body(y, first, rewriter, sh)
    });
    Ok(Rewriter {
        machine: Some(machine),
        shared,
        awaiting: false,
    })
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

/// How one op's run of the coroutine ended.
enum Outcome {
    /// The input is consumed; the rewriter waits for more.
    Written,
    /// A handler returned a promise; the rewriter waits for `RewriterResume`.
    Awaiting,
    /// The coroutine finished: the document ended, or the rewrite failed.
    Done(Result<(), RewritingError>),
}

/// Whether `reply` is the prelude's "the handler returned a promise".
fn is_await(reply: &[u8]) -> bool {
    let mut r = Reader::new(reply);
    matches!(r.u32(), Ok(AWAIT)) && r.is_empty()
}

/// Feeds `input` to rewriter `id`, calling `callback` for each event, until the rewriter has
/// consumed it, suspends in an async handler, or finishes. Answers `[status, output]`.
fn drive(state: &OpState, id: u32, callback: Rc<dyn Callback>, input: Resume) -> OpResult<Vec<u8>> {
    if REWRITING.with(Cell::get) {
        return Err(OpError::type_error(
            "HTMLRewriter: a rewriter cannot run inside another's handler",
        ));
    }
    let mut rewriter = *state.take::<Rewriter>(id)?;
    if rewriter.awaiting != matches!(input, Resume::Reply(_)) {
        let what = if rewriter.awaiting {
            "HTMLRewriter: the rewriter waits for an async handler"
        } else {
            "HTMLRewriter: no handler is waiting"
        };
        state.put(id, Box::new(rewriter))?;
        return Err(OpError::type_error(what));
    }
    rewriter.awaiting = false;
    /// Clears [`REWRITING`] however the op ends (a panic is caught by the host).
    struct Running;
    impl Drop for Running {
        fn drop(&mut self) {
            REWRITING.with(|r| r.set(false));
        }
    }
    REWRITING.with(|r| r.set(true));
    let running = Running;
    let mut input = input;
    let Some(machine) = rewriter.machine.as_mut() else {
        return Err(OpError::operation("HTMLRewriter: the rewriter is gone"));
    };
    let outcome = loop {
        match machine.resume(input) {
            CoroutineResult::Yield(Suspend::Event(event)) => {
                if rewriter.shared.overflow.get() {
                    input = Resume::Reply(Err(OpError::new(
                        ErrorKind::RangeError,
                        "HTMLRewriter: the rewritten chunk is too large",
                    )));
                    continue;
                }
                match callback.call(&event) {
                    Ok(reply) if is_await(&reply) => break Outcome::Awaiting,
                    reply => input = Resume::Reply(reply),
                }
            }
            CoroutineResult::Yield(Suspend::Written) => break Outcome::Written,
            CoroutineResult::Return(result) => break Outcome::Done(result),
        }
    };
    drop(running);
    let out = std::mem::take(&mut *rewriter.shared.out.borrow_mut());
    let overflow = rewriter.shared.overflow.get();
    let status: u32 = match outcome {
        Outcome::Written | Outcome::Awaiting if !overflow => {
            let status = u32::from(matches!(outcome, Outcome::Awaiting));
            rewriter.awaiting = status == 1;
            state.put(id, Box::new(rewriter))?;
            status
        }
        Outcome::Done(Ok(())) if !overflow => {
            state.put(id, Box::new(rewriter))?;
            state.free(id)?;
            0
        }
        outcome => {
            // A failed rewrite frees the rewriter (a suspended one unwinds its stack).
            state.put(id, Box::new(rewriter))?;
            state.free(id)?;
            if let Outcome::Done(Err(e)) = outcome {
                return Err(rewrite_error(e));
            }
            return Err(OpError::new(
                ErrorKind::RangeError,
                "HTMLRewriter: the rewritten chunk is too large",
            ));
        }
    };
    Ok(crate::fields::encode(&[&status.to_le_bytes(), &out]))
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
        OpCode::RewriterWrite => drive(
            ctx.state()?,
            f.u32(0)?,
            ctx.callback()?,
            Resume::Write(f.bytes(1)?.to_vec()),
        ),
        OpCode::RewriterEnd => drive(ctx.state()?, f.u32(0)?, ctx.callback()?, Resume::End),
        OpCode::RewriterResume => drive(
            ctx.state()?,
            f.u32(0)?,
            ctx.callback()?,
            Resume::Reply(Ok(f.bytes(1)?.to_vec())),
        ),
        _ => Err(OpError::not_supported("not an HTMLRewriter op")),
    }
}

#[cfg(test)]
mod tests;
