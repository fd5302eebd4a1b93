//! `error.stack` as tenant code reads it, in real isolates: V8's default format, without the
//! runtime's own frames (`stockade:runtime`, `stockade:lazy/...`: workerd's runtime is C++ and
//! shows none), with the positions the tenant wrote in a TypeScript module that had to be
//! transformed (enums, namespaces, parameter properties, decorators), and a tenant's
//! `Error.prepareStackTrace` still honoured (bridge/callbacks.cc, PrepareStackTrace).
mod common;

use common::*;
use stockade_isolate::{FetchRequest, Module, ModuleSet, RunError, Worker};

/// 1-based (line, column) of `needle` in `src`.
fn position(src: &str, needle: &str) -> (usize, usize) {
    let at = src.find(needle).expect("needle in source");
    let line = src[..at].matches('\n').count() + 1;
    let column = src[..at].rfind('\n').map_or(at, |nl| at - nl - 1) + 1;
    (line, column)
}

const TRANSFORMED: &str = "enum Color { Red, Green }
namespace Shapes {
  export const sides = 4;
}
class Box {
  constructor(private readonly label: string, public size: number) {}
  open(): never {
    throw new Error(`cannot open ${this.label}`);
  }
}
function outer(b: Box): string {
  return b.open();
}
export default function (): string {
  const b = new Box(\"crate\" + Color.Green + Shapes.sides, 3);
  try {
    return outer(b);
  } catch (e) {
    return (e as Error).stack ?? \"\";
  }
}
";

#[test]
fn a_transformed_module_stack_has_the_written_positions() {
    let stack = ok(run_ts(TRANSFORMED));
    let stack = stack.as_str().expect("a string");
    let expected = [
        ("open", position(TRANSFORMED, "new Error(`cannot")),
        ("outer", position(TRANSFORMED, "open();")),
        ("default", position(TRANSFORMED, "outer(b);")),
    ]
    .iter()
    .map(|(f, (l, c))| format!("\n    at {f} (main.ts:{l}:{c})"))
    .collect::<String>()
    .replace("at open", "at Box.open");
    assert_eq!(stack, format!("Error: cannot open crate14{expected}"));
}

/// Decorators are lowered (swc) after oxc's transform: both maps, composed.
#[test]
fn a_decorated_module_stack_has_the_written_positions() {
    let src =
        "function logged(target: unknown, _ctx: ClassMethodDecoratorContext) { return target; }
class Svc {
  @logged
  run(): never {
    throw new TypeError(\"decorated\");
  }
}
export default (): string => {
  try { new Svc().run(); } catch (e) { return (e as Error).stack ?? \"\"; }
  return \"\";
};
";
    let stack = ok(run_ts(src));
    let stack = stack.as_str().expect("a string");
    let (l, c) = position(src, "new TypeError");
    let (cl, cc) = position(src, "run(); }");
    assert!(
        stack.starts_with(&format!(
            "TypeError: decorated\n    at Svc.run (main.ts:{l}:{c})\n"
        )),
        "{stack}"
    );
    assert!(stack.contains(&format!("main.ts:{cl}:{cc})")), "{stack}");
    assert!(!stack.contains("stockade:"), "{stack}");
}

/// An uncaught error of a transformed module: its location and its stack are the written ones,
/// mapped once (the stack is the error's own, already mapped).
#[test]
fn an_uncaught_error_of_a_transformed_module_is_where_it_was_written() {
    let src = "enum E { A, B }\nclass P {\n  constructor(\n    public a: number,\n    private b: number,\n  ) {}\n}\nexport default (): number => {\n  const n: number = E.B + new P(1, 2).a;\n  throw new RangeError('r' + n);\n};\n";
    match err(run_ts(src)) {
        RunError::Threw {
            location: Some(loc),
            stack,
            ..
        } => {
            assert_eq!((loc.line, loc.column), (10, 9), "{stack}");
            assert_eq!(stack, "RangeError: r2\n    at default (main.ts:10:9)");
        }
        other => panic!("{other:?}"),
    }
}

const PLAIN: &str = r#"class Thing {
  constructor(f) { if (f) throw new Error("in constructor"); }
  static make() { return new Thing(true); }
  get bad() { return null.x; }
  method() { return [1].map(() => { throw new RangeError("in map"); }); }
}
function named() { throw new Error("named"); }
const arrow = () => named();
async function later() { await null; throw new TypeError("async"); }
class MyError extends Error { constructor(m) { super(m); this.name = "MyError"; } }
const stacks = [];
function grab(f) { try { f(); } catch (e) { stacks.push(e.stack); } }
export default async function () {
  grab(arrow);
  grab(() => Thing.make());
  grab(() => new Thing().bad);
  grab(() => new Thing().method());
  grab(() => { throw new MyError("mine"); });
  grab(() => { const e = new Error("odd"); Object.defineProperty(e, "name", { get() { throw new Error("no name"); } }); throw e; });
  grab(() => { const e = new Error("odder"); Object.defineProperty(e, "name", { get() { throw 5; } }); throw e; });
  grab(() => { const o = {}; Error.captureStackTrace(o); throw o; });
  grab(function () { [3, 1, 2].sort(function cmp() { throw new Error("in sort"); }); });
  try { await later(); } catch (e) { stacks.push(e.stack); }
  try { await Promise.all([later()]); } catch (e) { stacks.push(e.stack); }
  stacks.push(await new Promise((resolve) => setTimeout(function tick() { resolve(new Error("timer").stack); }, 0)));
  stacks.push(await new Promise((resolve) => queueMicrotask(() => resolve(new Error("microtask").stack))));
  const t = new EventTarget(); let ev; t.addEventListener("x", function listener() { ev = new Error("event").stack; }); t.dispatchEvent(new Event("x"));
  stacks.push(ev);
  { const e = new Error("a"); e.message = "b"; stacks.push(e.stack); }
  return stacks;
}
"#;

/// What V8 printed for these stacks before the bridge formatted them, byte for byte, less the
/// runtime's frames it showed then (`at invokeDefault (stockade:runtime:1:4829)`,
/// `at dispatchTimer (...)`, `at EventTarget.dispatchEvent (...)`, ...).
const PLAIN_STACKS: [&str; 15] = [
    "Error: named\n    at named (main.js:7:26)\n    at arrow (main.js:8:21)\n    at grab (main.js:12:26)\n    at default (main.js:14:3)",
    "Error: in constructor\n    at new Thing (main.js:2:33)\n    at Thing.make (main.js:3:26)\n    at main.js:15:20\n    at grab (main.js:12:26)\n    at default (main.js:15:3)",
    "TypeError: Cannot read properties of null (reading 'x')\n    at get bad (main.js:4:27)\n    at main.js:16:26\n    at grab (main.js:12:26)\n    at default (main.js:16:3)",
    "RangeError: in map\n    at main.js:5:43\n    at Array.map (<anonymous>)\n    at Thing.method (main.js:5:25)\n    at main.js:17:26\n    at grab (main.js:12:26)\n    at default (main.js:17:3)",
    "MyError: mine\n    at main.js:18:22\n    at grab (main.js:12:26)\n    at default (main.js:18:3)",
    "<error: Error: no name>\n    at main.js:19:26\n    at grab (main.js:12:26)\n    at default (main.js:19:3)",
    "<error>\n    at main.js:20:26\n    at grab (main.js:12:26)\n    at default (main.js:20:3)",
    "Error\n    at main.js:21:36\n    at grab (main.js:12:26)\n    at default (main.js:21:3)",
    "Error: in sort\n    at cmp (main.js:22:60)\n    at Array.sort (<anonymous>)\n    at main.js:22:32\n    at grab (main.js:12:26)\n    at default (main.js:22:3)",
    "TypeError: async\n    at later (main.js:9:44)\n    at async default (main.js:23:9)",
    "TypeError: async\n    at later (main.js:9:44)\n    at async Promise.all (index 0)\n    at async default (main.js:24:9)",
    "Error: timer\n    at tick (main.js:25:83)",
    "Error: microtask\n    at main.js:26:75",
    "Error: event\n    at EventTarget.listener (main.js:27:91)\n    at default (main.js:27:123)",
    // V8 writes the message the error was made with, not the one it has when `stack` is read.
    "Error: a\n    at default (main.js:29:15)",
];

#[test]
fn a_plain_module_stack_is_what_v8_printed_less_the_runtime() {
    let stacks = ok(run(PLAIN));
    let stacks: Vec<&str> = stacks
        .as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string"))
        .collect();
    assert_eq!(stacks, PLAIN_STACKS);
}

fn get(url: &str) -> FetchRequest {
    FetchRequest {
        method: "GET".into(),
        url: url.into(),
        headers: vec![],
        body: vec![],
        body_streamed: false,
        encode_body: false,
        env: serde_json::json!({}),
    }
}

#[test]
fn a_fetch_handler_stack_shows_no_runtime_frame() {
    let src = "export default {\n  async fetch(request) {\n    const here = new Error('in fetch').stack;\n    await null;\n    const later = new Error('after await').stack;\n    return new Response(JSON.stringify([here, later]));\n  }\n};\n";
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src)]).expect("set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    let (response, inv) = worker.fetch(&get("https://worker.test/"));
    let response = response.unwrap_or_else(|e| panic!("{e:?}; logs: {:?}", inv.logs));
    let stacks: Vec<String> = serde_json::from_slice(&response.body).expect("JSON");
    assert_eq!(
        stacks,
        [
            "Error: in fetch\n    at Object.fetch (main.js:3:18)",
            "Error: after await\n    at Object.fetch (main.js:5:19)",
        ]
    );
}

/// A tenant's `Error.prepareStackTrace` gets V8's CallSites (the tenant's frames only) and its
/// answer, whatever it is, is the stack. (V8 formats a stack read while it runs by itself, with
/// no callback: that one still shows the runtime's frames.)
#[test]
fn a_tenant_prepare_stack_trace_gets_call_sites_and_its_answer_is_the_stack() {
    let src = "function inner() { return new Error('mine').stack; }
export default function () {
  let nested;
  Error.prepareStackTrace = (error, sites) => {
    nested = new Error('nested').stack;
    return {
      message: error.message,
      sites: sites.map((s) => [s.getFileName(), s.getFunctionName(), s.getLineNumber(), s.getColumnNumber()]),
      callSites: sites.every((s) => typeof s.getThis === 'function' && typeof s.isNative === 'function'),
    };
  };
  const answer = inner();
  Error.prepareStackTrace = undefined;
  return { answer, nested: nested.split('\\n').slice(0, 3).join('\\n'), after: new Error('after').stack };
}
";
    assert_eq!(
        ok(run(src)),
        serde_json::json!({
            "answer": {
                "message": "mine",
                "sites": [["main.js", "inner", 1, 27], ["main.js", "default", 12, 18]],
                "callSites": true,
            },
            "nested": "Error: nested\n    at Error.prepareStackTrace (main.js:5:14)\n    at inner (main.js:1:45)",
            "after": "Error: after\n    at default (main.js:14:78)",
        })
    );
}

/// What tenant code can throw at the formatting: a prepareStackTrace that throws (the read of
/// `stack` throws it, as in V8), an attempt to rewrite CallSite's prototype through a site it was
/// handed (V8 keeps its methods read-only; the formatting calls the ones it took first anyway),
/// and a deep recursion's stack with Error.stackTraceLimit = Infinity (every frame, none of the
/// runtime's). A name getter that throws is in `PLAIN` (V8's "<error: ...>").
#[test]
fn hostile_stacks_are_formatted_or_throw_as_in_v8() {
    let src = "function deep(n) { return n === 0 ? new Error('deep') : deep(n - 1); }
export default function () {
  Error.prepareStackTrace = () => { throw new SyntaxError('no stack for you'); };
  let thrown;
  try { new Error('x').stack; } catch (e) { thrown = e.message; }
  Error.prepareStackTrace = (e, sites) => {
    const proto = Object.getPrototypeOf(sites[0]);
    let changed = 0;
    for (const k of ['toString', 'getScriptNameOrSourceURL', 'getLineNumber', 'getColumnNumber']) {
      const evil = () => { throw new Error('tampered ' + k); };
      try { Object.defineProperty(proto, k, { value: evil }); } catch {}
      try { Object.setPrototypeOf(proto, { [k]: evil }); } catch {}
      try { delete proto[k]; } catch {}
      if (proto[k] === evil) changed++;
    }
    return 'tampered ' + changed;
  };
  const tampered = new Error('t').stack;
  Error.prepareStackTrace = undefined;
  const after = new Error('after').stack;
  Error.stackTraceLimit = Infinity;
  const big = deep(2000).stack.split('\\n');
  return { thrown, tampered, after, big: [big.length, big[0], big[1], big[big.length - 1]], runtime: big.some((l) => l.includes('stockade:')) };
}
";
    assert_eq!(
        ok(run(src)),
        serde_json::json!({
            "thrown": "no stack for you",
            "tampered": "tampered 0",
            "after": "Error: after\n    at default (main.js:20:17)",
            "big": [2003, "Error: deep", "    at deep (main.js:1:37)", "    at default (main.js:22:15)"],
            "runtime": false,
        })
    );
}
