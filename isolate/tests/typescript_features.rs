//! TypeScript features of TypeScript 5 in real isolates: `using` and `await using` (explicit
//! resource management, run by V8 13.6 itself, with DisposableStack and SuppressedError).
//! Standard decorators and `accessor` fields are lowered by swc and tested in `decorators.rs`.
mod common;

use common::*;

#[test]
fn using_and_await_using_dispose_in_reverse_order_even_on_throw() {
    let v = ok(run_ts(
        "class Res implements Disposable { constructor(private log: string[], private name: string) {}
           [Symbol.dispose](): void { this.log.push(`dispose ${this.name}`); } }
         async function main(): Promise<unknown> {
           const log: string[] = [];
           { using a = new Res(log, 'a'); using b = new Res(log, 'b'); log.push('body'); }
           try { using c = new Res(log, 'c'); throw new Error('boom'); } catch (e) { log.push((e as Error).message); }
           {
             await using d = { async [Symbol.asyncDispose]() { await null; log.push('async d'); } };
             const stack = new DisposableStack();
             stack.defer(() => log.push('deferred'));
             stack.dispose();
           }
           let suppressed = '';
           try { using e = { [Symbol.dispose]() { throw new Error('in dispose'); } }; throw new Error('in body'); }
           catch (err) { suppressed = `${(err as SuppressedError).name}: ${(err as SuppressedError).error.message} / ${(err as SuppressedError).suppressed.message}`; }
           return { log, suppressed };
         }
         export default main;",
    ));
    assert_eq!(
        v,
        serde_json::json!({
            "log": ["body", "dispose b", "dispose a", "dispose c", "boom", "deferred", "async d"],
            "suppressed": "SuppressedError: in dispose / in body",
        })
    );
}
