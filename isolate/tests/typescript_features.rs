//! TypeScript features of TypeScript 5 in real isolates: `using` and `await using` (explicit
//! resource management, run by V8 13.6 itself, with DisposableStack and SuppressedError), and
//! what is refused with a clear error at the line the tenant wrote: standard decorators and
//! `accessor` fields (oxc 0.146 cannot lower them, V8 13.6 cannot run them; see
//! `isolate/src/typescript/unsupported.rs`).
mod common;

use common::*;
use stockade_isolate::RunError;

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

fn syntax(src: &str) -> (String, u32, u32) {
    match err(run_ts(src)) {
        RunError::Syntax {
            message,
            location: Some(at),
        } => {
            assert_eq!(at.module, "main.ts");
            (message, at.line, at.column)
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn standard_decorators_are_a_clear_error_at_their_line() {
    let (message, line, column) = syntax(
        "function logged(value: Function, context: ClassMethodDecoratorContext) { return value; }\n\
         class A {\n  @logged m() { return 1; }\n}\nexport default () => new A().m();",
    );
    assert!(
        message.starts_with("decorators are not supported"),
        "{message}"
    );
    assert!(message.contains("oxc 0.146"), "{message}");
    assert_eq!((line, column), (3, 3));
    let (message, line, _) =
        syntax("const d = (c: any) => c;\n@d\nexport class B {}\nexport default () => 1;");
    assert!(
        message.starts_with("decorators are not supported"),
        "{message}"
    );
    assert_eq!(line, 2);
}

#[test]
fn accessor_fields_are_a_clear_error_at_their_line() {
    let (message, line, column) =
        syntax("class C {\n  static x = 1;\n  accessor count: number = 0;\n}\nexport default () => new C().count;");
    assert!(
        message.starts_with("`accessor` class fields are not supported"),
        "{message}"
    );
    assert_eq!((line, column), (3, 3));
}
