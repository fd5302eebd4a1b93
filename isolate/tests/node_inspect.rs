//! util.inspect (and so console.log) in real isolates against real Node 20: the same values
//! formatted in both must read the same (node_crypto_support runs one body in each). Covers what
//! Node's formatter does beyond one-entry-per-line: arrays grouped in aligned columns, the
//! function kinds, `class B extends A`, an error's `[cause]` and `[errors]` and the brackets of an
//! error without frames, and a promise's state.
mod common;
mod node_crypto_support;
use node_crypto_support::*;

#[test]
fn values_print_as_in_node() {
    same(
        "const util = await import('node:util');
         class A { constructor() { this.x = 1; } }
         class B extends A {}
         const noFrames = (e) => { e.stack = `${e.name}: ${e.message}`; return e; };
         const values = [
           Array.from({ length: 120 }, (_, i) => i),
           Array.from({ length: 27 }, (_, i) => i + 1),
           Array.from({ length: 30 }, (_, i) => 'item' + i),
           [1.5, -2, 300000, 4, 5, 6, 7, 8n, 9],
           [true, false, true, false, true, false, true],
           ['a', 'bb', 'ccc', 'dddd', 'eeeee', 'ffffff', 'ggggggg', 'hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh'],
           { nested: Array.from({ length: 12 }, (_, i) => i * 1000) },
           new Uint8Array(40),
           [1, 2, 3, 4, 5, 6],
           A, B, class {}, async function f() {}, function* g() {}, async function* ag() {}, () => 1,
           [function () {}, async () => {}],
           new B(),
           noFrames(new Error('outer', { cause: noFrames(new Error('inner')) })),
           noFrames(new AggregateError([noFrames(new TypeError('one')), 2], 'many')),
           { e: noFrames(new RangeError('deep', { cause: 'text' })) },
           noFrames(new Error('plain')),
           Promise.resolve(1),
           Promise.resolve({ a: [1, 2] }),
           new Promise(() => {}),
           { p: Promise.resolve('in') },
         ];
         const rejected = Promise.reject(noFrames(new Error('no')));
         rejected.catch(() => {});
         values.push(rejected);
         return values.map((v) => util.inspect(v));",
    );
}

#[test]
fn console_log_shows_a_pending_promise_and_a_thenable_is_not_one() {
    let v = stockade(
        "const util = await import('node:util');
         let resolve; const p = new Promise((r) => { resolve = r; });
         const before = util.inspect(p);
         resolve(5);
         await p;
         const thenable = { then() {} };
         return [before, util.inspect(p), util.inspect(thenable)];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "Promise { <pending> }",
            "Promise { 5 }",
            "{ then: [Function: then] }"
        ])
    );
}
