//! The rewriter driven by a Rust stand-in for the prelude's callback.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicU32;

use super::*;
use crate::fields;

/// What a script answers an event (its fields) with.
type Reply = Box<dyn Fn(&[Vec<u8>]) -> Vec<u8>>;

/// Answers each event with the mutations `reply` gives for it; records the events.
struct Script {
    seen: RefCell<Vec<Vec<Vec<u8>>>>,
    reply: Reply,
}

impl Callback for Script {
    fn call(&self, input: &[u8]) -> OpResult<Vec<u8>> {
        let mut r = Reader::new(input);
        let mut event = Vec::new();
        while !r.is_empty() {
            event.push(r.bytes()?.to_vec());
        }
        let out = (self.reply)(&event);
        self.seen.borrow_mut().push(event);
        Ok(out)
    }
}

fn u32f(b: &[u8]) -> u32 {
    u32::from_le_bytes(b.try_into().expect("4 bytes"))
}

/// A Write, End or Resume answer: (status, output).
fn answer(bytes: &[u8]) -> (u32, Vec<u8>) {
    let f = Fields::parse(bytes).expect("fields");
    (
        f.u32(0).expect("status"),
        f.bytes(1).expect("output").to_vec(),
    )
}

/// The output of an answer that consumed its input.
fn consumed(bytes: Vec<u8>) -> Vec<u8> {
    let (status, out) = answer(&bytes);
    assert_eq!(status, 0, "consumed");
    out
}

fn rewrite(
    selectors: &[(&str, u32)],
    docs: &[u32],
    chunks: &[&str],
    reply: impl Fn(&[Vec<u8>]) -> Vec<u8> + 'static,
) -> (OpResult<String>, Vec<Vec<Vec<u8>>>) {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let script = Rc::new(Script {
        seen: RefCell::new(Vec::new()),
        reply: Box::new(reply),
    });
    let ctx = OpCtx::with_state(&flag, &st).with_callback(Some(script.clone() as Rc<dyn Callback>));
    let mut sels = Vec::new();
    for (s, k) in selectors {
        sels.extend_from_slice(&fields::encode(&[s.as_bytes(), &k.to_le_bytes()]));
    }
    let mut dl = Vec::new();
    for k in docs {
        dl.extend_from_slice(&fields::encode(&[&k.to_le_bytes()]));
    }
    let result = (|| {
        let h = crate::run(
            OpCode::RewriterNew as u32,
            &fields::encode(&[&sels, &dl]),
            &ctx,
        )?;
        let mut out = Vec::new();
        for c in chunks {
            out.extend(consumed(crate::run(
                OpCode::RewriterWrite as u32,
                &fields::encode(&[&h, c.as_bytes()]),
                &ctx,
            )?));
        }
        out.extend(consumed(crate::run(
            OpCode::RewriterEnd as u32,
            &fields::encode(&[&h]),
            &ctx,
        )?));
        assert_eq!(st.usage().0, 0, "the end freed the rewriter");
        Ok(String::from_utf8(out).expect("utf-8"))
    })();
    let seen = script.seen.borrow().clone();
    (result, seen)
}

#[test]
fn elements_get_mutated_where_the_handler_says() {
    let (out, seen) = rewrite(
        &[("a[href]", ON_ELEMENT), ("p", ON_ELEMENT | ON_TEXT)],
        &[ON_END],
        &["<p>hi</p><a hr", "ef=\"/x\" id=k>link</a><img src=i>"],
        |ev| {
            let kind = u32f(&ev[0]);
            match (kind, u32f(&ev[1])) {
                (1, 0) => fields::encode(&[
                    &1u32.to_le_bytes(),
                    b"href",
                    b"/y",
                    &6u32.to_le_bytes(),
                    b"<b>!</b>",
                    &1u32.to_le_bytes(),
                ]),
                (1, 1) => fields::encode(&[&12u32.to_le_bytes(), &77u32.to_le_bytes()]),
                (3, _) if ev[3] == b"hi" => {
                    fields::encode(&[&7u32.to_le_bytes(), b"<x>", &0u32.to_le_bytes()])
                }
                (6, 77) => fields::encode(&[&4u32.to_le_bytes(), b"<hr>", &1u32.to_le_bytes()]),
                (5, 0) => {
                    fields::encode(&[&6u32.to_le_bytes(), b"<!-- end -->", &1u32.to_le_bytes()])
                }
                _ => Vec::new(),
            }
        },
    );
    assert_eq!(
        out.expect("rewrites"),
        "<p>&lt;x&gt;</p><hr><a href=\"/y\" id=k>link<b>!</b></a><img src=i><!-- end -->"
    );
    let a = seen
        .iter()
        .find(|e| u32f(&e[0]) == 1 && e[2] == b"a")
        .expect("the a");
    assert_eq!(
        &a[5..],
        [
            b"href".to_vec(),
            b"/x".to_vec(),
            b"id".to_vec(),
            b"k".to_vec()
        ]
    );
}

#[test]
fn a_handler_that_throws_or_a_bad_mutation_stops_the_rewrite() {
    let (out, _) = rewrite(&[("p", ON_ELEMENT)], &[], &["<p>x</p>"], |_| {
        fields::encode(&[&14u32.to_le_bytes()])
    });
    assert_eq!(out.expect_err("stopped").kind, ErrorKind::Operation);
    let (out, _) = rewrite(&[("p", ON_ELEMENT)], &[], &["<p>x</p>"], |_| {
        fields::encode(&[&1u32.to_le_bytes(), b"bad name", b"v"])
    });
    assert_eq!(out.expect_err("refused").kind, ErrorKind::TypeError);
    let (out, _) = rewrite(&[("br", ON_ELEMENT)], &[], &["<br>"], |_| {
        fields::encode(&[&12u32.to_le_bytes(), &1u32.to_le_bytes()])
    });
    assert_eq!(out.expect_err("no end tag").kind, ErrorKind::TypeError);
}

#[test]
fn selectors_are_checked_and_memory_is_capped() {
    let flag = AtomicU32::new(0);
    let ctx = OpCtx::new(&flag);
    let bad = crate::run(
        OpCode::RewriterSelector as u32,
        &fields::encode(&[b"p[[["]),
        &ctx,
    );
    assert_eq!(bad.expect_err("invalid").kind, ErrorKind::TypeError);
    assert!(crate::run(
        OpCode::RewriterSelector as u32,
        &fields::encode(&[b"div > p.x:not(.y)"]),
        &ctx
    )
    .is_ok());
    // A start tag that never ends, over the cap, in small chunks.
    let big = format!("<p data-x=\"{}", "a".repeat(MAX_REWRITER_MEMORY + 10));
    let pieces: Vec<&str> = big
        .as_bytes()
        .chunks(4096)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    let (out, _) = rewrite(&[("p", ON_ELEMENT)], &[], &pieces, |_| Vec::new());
    assert_eq!(out.expect_err("capped").kind, ErrorKind::RangeError);
}

/// Mutations as the prelude packs them: numbers as 4-byte fields, strings as bytes.
enum M<'a> {
    N(u32),
    S(&'a str),
}

fn muts(list: &[M<'_>]) -> Vec<u8> {
    let nums: Vec<[u8; 4]> = list
        .iter()
        .map(|m| match m {
            M::N(n) => n.to_le_bytes(),
            M::S(_) => [0; 4],
        })
        .collect();
    let parts: Vec<&[u8]> = list
        .iter()
        .zip(&nums)
        .map(|(m, n)| match m {
            M::N(_) => &n[..],
            M::S(s) => s.as_bytes(),
        })
        .collect();
    fields::encode(&parts)
}

/// A rewriter made in `st` with element handlers for `selectors`; its handle.
fn make(st: &OpState, flag: &AtomicU32, selectors: &[(&str, u32)]) -> Vec<u8> {
    let mut sels = Vec::new();
    for (s, k) in selectors {
        sels.extend_from_slice(&fields::encode(&[s.as_bytes(), &k.to_le_bytes()]));
    }
    crate::run(
        OpCode::RewriterNew as u32,
        &fields::encode(&[&sels, &[]]),
        &OpCtx::with_state(flag, st),
    )
    .expect("made")
}

#[test]
fn an_async_handler_suspends_the_rewrite_and_its_later_mutations_land_on_its_token() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    // Every element event is answered "await"; every end tag gets `after("<hr>")` at once.
    let script = Rc::new(Script {
        seen: RefCell::new(Vec::new()),
        reply: Box::new(|ev| match u32f(&ev[0]) {
            1 => muts(&[M::N(AWAIT)]),
            _ => muts(&[M::N(4), M::S("<hr>"), M::N(1)]),
        }),
    });
    let ctx = OpCtx::with_state(&flag, &st).with_callback(Some(script.clone() as Rc<dyn Callback>));
    let h = make(&st, &flag, &[("p", ON_ELEMENT)]);
    let op = |code: OpCode, parts: &[&[u8]]| crate::run(code as u32, &fields::encode(parts), &ctx);

    // The write stops inside the first <p>'s handler, having answered what came before it.
    let (status, out) = answer(
        &op(
            OpCode::RewriterWrite,
            &[&h, b"<div>x</div><p>a</p><p>b</p>"],
        )
        .expect("wrote"),
    );
    assert_eq!((status, out.as_slice()), (1, &b"<div>x</div>"[..]));
    assert_eq!(script.seen.borrow().len(), 1);
    // While it waits, it takes no input and no end.
    let busy = op(OpCode::RewriterWrite, &[&h, b"<p>c</p>"]).expect_err("waiting");
    assert_eq!(busy.kind, ErrorKind::TypeError);
    assert!(
        busy.message.contains("waits for an async handler"),
        "{}",
        busy.message
    );
    assert_eq!(
        op(OpCode::RewriterEnd, &[&h]).expect_err("waiting").kind,
        ErrorKind::TypeError
    );
    // The handler's answer, made after its await: an attribute and an end-tag handler, applied
    // to the same <p>; the rewrite goes on to the second <p>, which suspends in turn.
    let late = muts(&[M::N(1), M::S("data-late"), M::S("1"), M::N(12), M::N(9)]);
    let (status, out) = answer(&op(OpCode::RewriterResume, &[&h, &late]).expect("resumed"));
    assert_eq!(
        (status, out.as_slice()),
        (1, &b"<p data-late=\"1\">a</p><hr>"[..])
    );
    let (status, out) = answer(
        &op(
            OpCode::RewriterResume,
            &[&h, &muts(&[M::N(8), M::S("<i>B</i>"), M::N(1)])],
        )
        .expect("resumed"),
    );
    assert_eq!((status, out.as_slice()), (0, &b"<p><i>B</i></p>"[..]));
    // Not waiting now: a Resume is refused, and the rewriter goes on.
    let idle = op(OpCode::RewriterResume, &[&h, &[]]).expect_err("not waiting");
    assert!(
        idle.message.contains("no handler is waiting"),
        "{}",
        idle.message
    );
    let (status, out) = answer(&op(OpCode::RewriterEnd, &[&h]).expect("ended"));
    assert_eq!((status, out.as_slice()), (0, &b""[..]));
    assert_eq!(st.usage().0, 0, "the end freed the rewriter");
}

/// A context whose script answers every event "await".
fn awaiting_ctx<'a>(flag: &'a AtomicU32, st: &'a OpState) -> OpCtx<'a> {
    let script = Rc::new(Script {
        seen: RefCell::new(Vec::new()),
        reply: Box::new(|_| muts(&[M::N(AWAIT)])),
    });
    OpCtx::with_state(flag, st).with_callback(Some(script as Rc<dyn Callback>))
}

/// A rewriter on `p` elements, suspended inside the handler of `<p>a</p>`; its handle.
fn suspended(ctx: &OpCtx<'_>, st: &OpState, flag: &AtomicU32) -> Vec<u8> {
    let h = make(st, flag, &[("p", ON_ELEMENT)]);
    let out = crate::run(
        OpCode::RewriterWrite as u32,
        &fields::encode(&[&h, b"<p>a</p>"]),
        ctx,
    )
    .expect("wrote");
    assert_eq!(answer(&out).0, 1, "suspended");
    h
}

#[test]
fn a_rewriter_freed_inside_an_async_handler_unwinds_its_stack() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = awaiting_ctx(&flag, &st);
    let id = u32f(&suspended(&ctx, &st, &flag));
    let r = st.take::<Rewriter>(id).expect("held");
    let shared = r.shared.clone();
    st.put(id, r).expect("put back");
    // The coroutine's stack holds the handlers' and the sink's references to `shared`.
    assert!(Rc::strong_count(&shared) > 2);
    assert!(st.free(id).expect("freed"));
    assert_eq!(
        Rc::strong_count(&shared),
        1,
        "the suspended stack was unwound and dropped"
    );
    assert_eq!(st.usage().0, 0);
}

#[test]
fn a_failing_answer_to_a_suspended_handler_stops_the_rewrite() {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ctx = awaiting_ctx(&flag, &st);
    let h = suspended(&ctx, &st, &flag);
    // The promise rejected: the prelude answers "stop".
    let e = crate::run(
        OpCode::RewriterResume as u32,
        &fields::encode(&[&h, &muts(&[M::N(14)])]),
        &ctx,
    )
    .expect_err("stopped");
    assert_eq!(e.kind, ErrorKind::Operation);
    assert_eq!(st.usage().0, 0, "a failed rewrite frees the rewriter");
}

/// A depth inside the memory cap (about 4,000 elements with end-tag handlers fit).
const DEEP: usize = 3_000;

#[test]
fn deep_documents_fit_the_rewriters_stack() {
    // lol_html keeps open elements in a list (counted against its memory cap), not on the stack:
    // nested elements, each matched and each with an end-tag handler, run on the rewriter's fixed
    // stack until the memory cap refuses the depth, never past the stack.
    let nest = |depth: usize| {
        let doc = format!("{}{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let pieces: Vec<String> = doc
            .as_bytes()
            .chunks(64 << 10)
            .map(|c| String::from_utf8(c.to_vec()).expect("ascii"))
            .collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (out, seen) = rewrite(&[("div", ON_ELEMENT)], &[], &pieces, |ev| {
            match u32f(&ev[0]) {
                1 => muts(&[M::N(12), M::N(1)]),
                _ => Vec::new(),
            }
        });
        (out.map(|o| o.len() == doc.len()), seen.len())
    };
    let depth = DEEP;
    assert_eq!(nest(depth), (Ok(true), 2 * depth));
    let (out, _) = nest(20 * depth);
    assert_eq!(out.expect_err("too deep").kind, ErrorKind::RangeError);
}

#[test]
fn ended_rewriters_leave_their_stacks_to_the_next() {
    let spares = || STACKS.with(|s| s.borrow().len());
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let ids: Vec<Vec<u8>> = (0..SPARE_STACKS + 2)
        .map(|_| make(&st, &flag, &[("p", ON_ELEMENT)]))
        .collect();
    let before = spares();
    for h in &ids {
        st.free(u32f(h)).expect("freed");
    }
    assert_eq!(spares(), SPARE_STACKS, "kept up to the cap");
    assert!(before < SPARE_STACKS);
    let h = make(&st, &flag, &[("p", ON_ELEMENT)]);
    assert_eq!(spares(), SPARE_STACKS - 1, "the next rewriter took one");
    // A reused stack runs a rewrite as a new one does (the unwound one above left it whole).
    let (out, _) = rewrite(&[("p", ON_ELEMENT)], &[], &["<p>x</p>"], |_| {
        muts(&[M::N(1), M::S("a"), M::S("b")])
    });
    assert_eq!(out.expect("rewrote"), "<p a=\"b\">x</p>");
    st.free(u32f(&h)).expect("freed");
}

#[test]
fn the_longest_selectors_compile_and_match_on_the_rewriters_stack() {
    // lol_html's selector compiler recurses once per combinator: the rewriter is built on the
    // calling thread, selectors are capped at MAX_SELECTOR_BYTES, and matching the deepest one
    // accepted runs on the coroutine's stack. (A 2,001-byte "a>a>..." built
    // on the coroutine crashed the process.)
    let depth = MAX_SELECTOR_BYTES / 2; // "a>" per level
    let doc = format!("{}{}", "<a>".repeat(depth + 50), "</a>".repeat(depth + 50));
    // (lol_html has the child and descendant combinators, not the sibling ones.)
    for (joiner, document) in [(">", &doc), (" ", &doc)] {
        let sel = format!("{}a", format!("a{joiner}").repeat(depth - 1));
        assert!(sel.len() <= MAX_SELECTOR_BYTES, "{}", sel.len());
        let pieces: Vec<&str> = document
            .as_bytes()
            .chunks(4096)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        let (out, seen) = rewrite(&[(&sel, ON_ELEMENT)], &[], &pieces, |_| Vec::new());
        assert_eq!(out.expect("rewrote").len(), document.len(), "{joiner:?}");
        assert!(!seen.is_empty(), "{joiner:?}: the selector matched");
    }
    // One byte over: refused by both ops, as a TypeError.
    let long = "a".repeat(MAX_SELECTOR_BYTES + 1);
    let flag = AtomicU32::new(0);
    let ctx = OpCtx::new(&flag);
    let e = crate::run(
        OpCode::RewriterSelector as u32,
        &fields::encode(&[long.as_bytes()]),
        &ctx,
    )
    .expect_err("too long");
    assert_eq!(e.kind, ErrorKind::TypeError);
    let (out, _) = rewrite(&[(&long, ON_ELEMENT)], &[], &["<a></a>"], |_| Vec::new());
    assert_eq!(out.expect_err("too long").kind, ErrorKind::TypeError);
}
