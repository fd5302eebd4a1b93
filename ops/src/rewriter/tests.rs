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
            out.extend(crate::run(
                OpCode::RewriterWrite as u32,
                &fields::encode(&[&h, c.as_bytes()]),
                &ctx,
            )?);
        }
        out.extend(crate::run(
            OpCode::RewriterEnd as u32,
            &fields::encode(&[&h]),
            &ctx,
        )?);
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
