//! HTMLRewriter's native half (`stockade_ops`'s rewriter ops) with a Rust stand-in for the
//! prelude's callback that answers no mutation: what a rewriter costs to make, feed and end
//! (lol_html's setup, the coroutine's stack), and what one element event costs (lol_html's
//! match, the event's encoding, the two stack switches of a suspension and resumption). The
//! JavaScript handler's own cost is not in it.

use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::AtomicU32;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stockade_ops::fields::encode;
use stockade_ops::state::OpState;
use stockade_ops::{Callback, OpCode, OpCtx, OpResult};

/// Answers every event with no mutation.
struct Nothing;

impl Callback for Nothing {
    fn call(&self, _input: &[u8]) -> OpResult<Vec<u8>> {
        Ok(Vec::new())
    }
}

/// Makes a rewriter with one element handler on `p`, writes `doc`, ends it.
fn rewrite(st: &OpState, flag: &AtomicU32, doc: &[u8]) -> usize {
    let ctx = OpCtx::with_state(flag, st).with_callback(Some(Rc::new(Nothing) as Rc<dyn Callback>));
    let sels = encode(&[b"p", &1u32.to_le_bytes()]);
    let h =
        stockade_ops::run(OpCode::RewriterNew as u32, &encode(&[&sels, &[]]), &ctx).expect("made");
    let w =
        stockade_ops::run(OpCode::RewriterWrite as u32, &encode(&[&h, doc]), &ctx).expect("wrote");
    let e = stockade_ops::run(OpCode::RewriterEnd as u32, &encode(&[&h]), &ctx).expect("ended");
    w.len() + e.len()
}

fn bench(c: &mut Criterion) {
    let flag = AtomicU32::new(0);
    let st = OpState::new();
    let mut g = c.benchmark_group("rewriter");
    g.bench_function("make_write_end_two_elements", |b| {
        b.iter(|| rewrite(&st, &flag, black_box(b"<div><p>x</p><p>y</p></div>")))
    });
    let doc = "<p>x</p>".repeat(10_000);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("ten_thousand_element_events", |b| {
        b.iter(|| rewrite(&st, &flag, black_box(doc.as_bytes())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
