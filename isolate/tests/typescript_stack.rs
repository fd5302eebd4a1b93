//! `error.stack` of TypeScript modules in real isolates: a module of erasable syntax only is
//! stripped in place (isolate/src/typescript/blank.rs), so the positions V8 puts in a stack, read
//! by the tenant's own code or printed by `console.log(err)`, are the ones the tenant wrote.
mod common;

use common::*;

/// 1-based (line, column) of `needle` in `src`.
fn position(src: &str, needle: &str) -> (usize, usize) {
    let at = src.find(needle).expect("needle in source");
    let line = src[..at].matches('\n').count() + 1;
    let column = src[..at].rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
    (line, column)
}

const ERASABLE: &str = "interface Thing {
  a: number;
  b: string;
}
type Alias = { x: Thing };
import type { Nothing } from './nothing';
export default function (): unknown {
  const t: Alias = { x: { a: 1, b: \"2\" } } as Alias;
  const f = <T,>(v: T): T => { throw new Error(\"where am I\"); };
  let own = '';
  try {
    f<Alias>(t!);
  } catch (e) {
    own = (e as Error).stack ?? \"\";
  }
  const g = (): void => { new Map<string, Thing>().get(\"q\")!.a as number; };
  try { g(); } catch (e) { own += \"\\n\" + (e as Error).stack; }
  (console as Console).trace(\"here\" as string);
  return own;
}
";

#[test]
fn stack_of_an_erasable_module_has_the_written_positions() {
    let inv = run_ts(ERASABLE);
    let logged = format!("{:?}", inv.logs);
    let stack = ok(inv);
    let stack = stack.as_str().expect("a string");
    let (line, column) = position(ERASABLE, "new Error(\"where am I\")");
    let (call_line, call_column) = position(ERASABLE, "f<Alias>");
    assert!(
        stack.contains(&format!("main.ts:{line}:{column}")),
        "throw not at {line}:{column}:\n{stack}"
    );
    assert!(
        stack.contains(&format!("main.ts:{call_line}:{call_column}")),
        "call not at {call_line}:{call_column}:\n{stack}"
    );
    // A TypeError thrown by V8 itself (`.a` of undefined): at the `.`.
    let (type_line, type_column) = position(ERASABLE, ".a as number");
    let at = format!("main.ts:{type_line}:{type_column}");
    assert!(stack.contains(&at), "TypeError not at {at}:\n{stack}");
    // console.trace prints the stack of its call.
    let (trace_line, trace_column) = position(ERASABLE, "trace(");
    let at = format!("main.ts:{trace_line}:{trace_column}");
    assert!(logged.contains(&at), "console.trace not at {at}:\n{logged}");
}

/// An uncaught error's reported location and stack stay right too.
#[test]
fn uncaught_error_of_an_erasable_module_is_where_it_was_written() {
    let src = "type A = { a: number };\ninterface B {}\nexport default (): A => {\n  throw new Error('x' as string);\n};\n";
    match err(run_ts(src)) {
        stockade_isolate::RunError::Threw {
            location: Some(loc),
            stack,
            ..
        } => {
            assert_eq!((loc.line, loc.column), (4, 9), "{stack}");
            assert!(stack.contains("main.ts:4:9"), "{stack}");
        }
        other => panic!("{other:?}"),
    }
}
