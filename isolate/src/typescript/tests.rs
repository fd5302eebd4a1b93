//! The TypeScript pipeline on its own (no isolate): types stripped, positions mapped, bounds.
use super::*;

const MEMORY: usize = 128 << 20;

#[test]
fn strips_types_and_lowers_enums() {
    let out = transpile(
        "main.ts",
        "enum Color { Red, Green }\ninterface P { x: number }\nexport default (p: P): number => p.x + Color.Green;\n",
        MEMORY,
    )
    .result
    .expect("valid TypeScript");
    assert!(!out.code.contains("interface"), "{}", out.code);
    assert!(out.code.contains("Color"), "{}", out.code);
    assert!(!out.code.contains(": number"), "{}", out.code);
}

#[test]
fn syntax_errors_point_at_the_typescript_position() {
    match transpile("bad.ts", "let a: number = 1;\nlet b = ;\n", MEMORY).result {
        Err(RunError::Syntax {
            message,
            location: Some(loc),
        }) => assert_eq!((loc.module.as_str(), loc.line), ("bad.ts", 2), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn positions_map_back_through_removed_types() {
    let src = "type T = {\n  a: string;\n};\nconst x: T = { a: 'q' };\nthrow new Error(x.a);\n";
    let out = transpile("m.ts", src, MEMORY).result.expect("valid");
    let gen_line = out
        .code
        .lines()
        .position(|l| l.contains("throw"))
        .expect("throw kept") as u32
        + 1;
    let col = out
        .code
        .lines()
        .nth(gen_line as usize - 1)
        .and_then(|l| l.find("throw"))
        .expect("col") as u32
        + 1;
    // Erased in place (the map is empty) or transformed (the map says where it came from).
    let at = out.map.original(gen_line, col).unwrap_or((gen_line, col));
    assert_eq!(at, (5, 1));
}

#[test]
fn string_enums_fold_within_the_budget_and_only_there() {
    let small = "enum E { A = \"ab\", B = A + A, C = `${B}-${E.A}` }\nexport default E.C;";
    let out = transpile("m.ts", small, MEMORY).result.expect("folds");
    assert!(out.code.contains("abab-ab"), "{}", out.code);
    // Doubling 40 times would be 2^40 bytes: refused before oxc folds anything.
    let mut members = vec!["A = \"abcdefgh\"".to_string()];
    members.extend((1..40).map(|i| {
        format!(
            "M{i} = {p} + {p}",
            p = if i == 1 {
                "A".into()
            } else {
                format!("M{}", i - 1)
            }
        )
    }));
    let bomb = format!("enum E {{ {} }}", members.join(", "));
    match transpile("m.ts", &bomb, MEMORY).result {
        Err(RunError::Syntax { message, .. }) => assert!(message.contains("fold"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_realistic_module_fits_the_arena_and_the_nesting_bound() {
    let unit = "export interface U$ { id: number; tags?: string[] }\n\
        export enum R$ { A = \"a\", B = \"b\" }\n\
        export class Repo$<T extends { id: number }> {\n\
          private items = new Map<number, T>();\n\
          constructor(private readonly name: string, public limit: number = 100) {}\n\
          add(item: T): this { if (this.items.size >= this.limit) throw new Error(`full: ${this.name}`); this.items.set(item.id, item); return this; }\n\
          find(pred: (t: T) => boolean): T | undefined { for (const v of this.items.values()) if (pred(v)) return v; return undefined; }\n\
        }\n\
        export const f$ = <K extends keyof U$>(u: U$, k: K): string => String(u[k] ?? \"\") + (u.tags?.length ?? 0) / 2;\n";
    let src: String = (0..300)
        .map(|i| unit.replace('$', &i.to_string()))
        .collect();
    let out = transpile("big.ts", &src, MEMORY)
        .result
        .expect("transforms");
    assert!(out.code.contains("class Repo299"));
}

#[test]
fn decorators_and_accessors_are_lowered_only_where_present() {
    let plain = transpile("m.ts", "export class A { x: number = 1; }\n", MEMORY)
        .result
        .expect("plain");
    assert!(!plain.code.contains("_apply_decs"), "{}", plain.code);
    let src = "const d = (v: unknown) => v;\nexport class A {\n  @d m(): number { return 1; }\n  accessor n = 2;\n}\n";
    let out = transpile("m.ts", src, MEMORY).result.expect("lowered");
    assert!(!out.code.contains("@d"), "{}", out.code);
    assert!(!out.code.contains("accessor n"), "{}", out.code);
    assert!(out.code.contains("_apply_decs_2311"), "{}", out.code);
    // The method's body still maps to line 3 of the TypeScript, through both transformations.
    let (line, col) = out
        .code
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("return 1").map(|c| (i as u32 + 1, c as u32 + 1)))
        .expect("body kept");
    assert_eq!(out.map.original(line, col).map(|p| p.0), Some(3));
}

#[test]
fn javascript_is_lowered_only_when_it_has_decorators() {
    let plain = lower_javascript("m.js", "export const mail = 'a@b.c';\n", MEMORY);
    assert!(matches!(plain.result, Ok(None)), "{plain:?}");
    let decorated = lower_javascript(
        "m.js",
        "const d = (v) => v;\nexport class A { @d m() {} }\n",
        MEMORY,
    );
    let out = decorated.result.expect("lowers").expect("decorated");
    assert!(!out.code.contains("@d"), "{}", out.code);
    assert!(may_be_decorated("class A { accessor x = 1 }"));
    assert!(!may_be_decorated("class A { x = 1 }"));
}

/// Decorated modules nested just under swc's bound, in the shapes that take the most stack per
/// level: each is lowered on the helper thread without overflowing its stack.
#[test]
fn a_deep_decorated_module_is_a_syntax_error_not_a_crash() {
    deep_modules(false);
}

/// The same on a thread whose own stack has the room (as a worker's isolate threads do): the
/// transformations run on it (no helper thread: no CPU reported apart), without overflowing.
#[test]
fn on_a_roomy_stack_deep_modules_transform_on_the_calling_thread() {
    std::thread::Builder::new()
        .stack_size(ROOMY_STACK_BYTES)
        .spawn(|| deep_modules(true))
        .expect("thread")
        .join()
        .expect("no overflow, no failure");
    // A thread without the room (a test thread's default stack) hands the work to a helper.
    let done = transpile("m.ts", "export default (x: number) => x;", MEMORY);
    assert!(done.result.is_ok() && done.cpu > Duration::ZERO, "{done:?}");
}

/// Transforms the deepest modules of each costly shape; `inline`: whether they must have run on
/// the calling thread (else on a helper).
fn deep_modules(inline: bool) {
    let check = |done: &Transformation| {
        assert_eq!(done.cpu == Duration::ZERO, inline, "cpu {:?}", done.cpu);
    };
    let deep = |depth: usize, open: &str, close: &str| {
        format!(
            "const d = (v: unknown) => v;\nconst f = (x: unknown) => x;\nclass A {{ @d m() {{ return {}1{}; }} }}\n",
            open.repeat(depth),
            close.repeat(depth)
        )
    };
    let over = deep(decorators::MAX_NESTING as usize + 10, "[", "]");
    match transpile("deep.ts", &over, MEMORY).result {
        Err(RunError::Syntax { message, location }) => {
            assert!(message.contains("nest"), "{message}");
            assert_eq!(location.map(|l| l.line), Some(3));
        }
        other => panic!("{other:?}"),
    }
    let under = decorators::MAX_NESTING as usize - 20;
    for (open, close) in [
        ("[", "]"),
        ("f(", ")"),
        ("{a:", "}"),
        ("(() => { return ", "})()"),
        ("class { @d static m = ", "}"),
        ("`${", "}`"),
    ] {
        // The deepest of this shape the nesting estimate lets through (it counts some
        // constructs as more than one level).
        let levels = (1..=under)
            .rev()
            .step_by(10)
            .find(|&n| nesting::check(&deep(n, open, close), under as u32).is_ok())
            .unwrap_or(1);
        assert!(levels > under / 4, "{open}: {levels}");
        let done = transpile("deep.ts", &deep(levels, open, close), MEMORY);
        check(&done);
        done.result
            .unwrap_or_else(|e| panic!("{open} x{levels}: {e:?}"));
    }
    // Undecorated, as deep as oxc's own bound lets through.
    let plain = |n: usize| format!("export default {}1{};\n", "[".repeat(n), "]".repeat(n));
    let levels = (1..=MAX_NESTING as usize)
        .rev()
        .find(|&n| nesting::check(&plain(n), MAX_NESTING).is_ok())
        .unwrap_or(1);
    assert!(levels > MAX_NESTING as usize / 2, "{levels}");
    let plain = plain(levels);
    let done = transpile("plain.ts", &plain, MEMORY);
    check(&done);
    done.result.expect("transforms");
}

/// A 200-line module of decorated classes, or the same classes without decorators.
fn two_hundred_lines(decorated: bool) -> String {
    let unit = "export class Service$ {\n\
                  @logged @retry(3) async fetch(id: number): Promise<string> { return `item ${id}`; }\n\
                  @observable accessor status: string = 'idle';\n\
                  @inject('db') db: unknown = null;\n\
                  @memo get size(): number { return this.status.length; }\n\
                  static @registry count = 0;\n\
                  private cache = new Map<number, string>();\n\
                  remember(id: number, v: string): void { this.cache.set(id, v); }\n\
                  forget(id: number): boolean { return this.cache.delete(id); }\n\
                }\n";
    let head = "const logged = (v: any, _c: any) => v;\nconst retry = (_n: number) => (v: any, _c: any) => v;\n\
                const observable = (v: any, _c: any) => v;\nconst inject = (_k: string) => (_v: any, _c: any) => {};\n\
                const memo = (v: any, _c: any) => v;\nconst registry = (_v: any, _c: any) => {};\n";
    let mut src = String::from(head);
    for i in 0..19 {
        src.push_str(
            &unit
                .replace('$', &i.to_string())
                .replace("static @registry", "@registry static"),
        );
    }
    src.push_str("export default () => [\n  Service0,\n  Service18,\n];\n");
    if !decorated {
        src = src
            .lines()
            .map(|l| {
                l.split(' ')
                    .filter(|w| !w.starts_with('@'))
                    .collect::<Vec<_>>()
                    .join(" ")
                    .replace("accessor ", "")
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    src
}

/// `cargo test --release -p stockade-isolate --lib compile_time -- --ignored --nocapture`:
/// the median wall time (helper thread included) of transforming a decorated 200-line module
/// and the same module without decorators (oxc alone: the fast path).
#[test]
#[ignore = "a measurement; run in release"]
fn compile_time_of_decorated_and_plain_modules() {
    let tiny = "const d = (v: unknown) => v;\nexport class A { @d m() {} }\n".to_string();
    for (decorated, src) in [
        (false, two_hundred_lines(false)),
        (true, two_hundred_lines(true)),
        (true, tiny),
    ] {
        assert_eq!(src.contains('@'), decorated);
        let mut times: Vec<std::time::Duration> = (0..41)
            .map(|_| {
                let started = std::time::Instant::now();
                transpile("bench.ts", &src, MEMORY)
                    .result
                    .expect("transforms");
                started.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "decorated={decorated} lines={} bytes={} median={:?} min={:?} max={:?}",
            src.lines().count(),
            src.len(),
            times[times.len() / 2],
            times[0],
            times[times.len() - 1]
        );
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `cargo test --release -p stockade-isolate --lib hostile_shapes -- --ignored --nocapture`:
/// what the largest decorated module swc accepts under the default memory limit, and the
/// deepest nesting it accepts, cost in time and peak memory.
#[test]
#[ignore = "a measurement; run in release"]
fn hostile_shapes_cost_of_the_decorators_stage() {
    let budget = MEMORY / decorators::BYTES_PER_BYTE;
    let unit = two_hundred_lines(true);
    let mut big = String::new();
    let mut i = 0;
    while big.len() + unit.len() < budget * 9 / 10 {
        big.push_str(
            &unit
                .replace("Service", &format!("S{i}_"))
                .replace("export default", &format!("export const all{i} =")),
        );
        i += 1;
    }
    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let done = transpile("big.ts", &big, MEMORY);
    done.result.expect("transforms");
    println!(
        "big: {} bytes, {:?} wall, {:?} cpu, peak RSS +{} MiB",
        big.len(),
        started.elapsed(),
        done.cpu,
        (peak_rss_kib().saturating_sub(before)) / 1024
    );
    let depth = decorators::MAX_NESTING as usize / 2 - 10;
    let nested = format!(
        "const d = (v: unknown) => v;\n{}1{};\n",
        "(class { @d static m = ".repeat(depth),
        "})".repeat(depth)
    );
    let started = std::time::Instant::now();
    let done = transpile("nested.ts", &nested, MEMORY);
    println!(
        "nested decorated classes x{depth}: {:?} wall, {:?}",
        started.elapsed(),
        done.result.map(|t| t.code.len())
    );
}

/// The module through the full transform (no erasing), for comparison.
fn transformed(source: &str) -> String {
    let budget = enum_fold_budget(source.len(), MEMORY);
    on_roomy_stack("m.ts", source, MEMORY, |arena| {
        transform(arena, "m.ts", source, budget, MEMORY, false)
    })
    .result
    .expect("valid TypeScript")
    .code
}

/// JavaScript printed by oxc, so that two outputs compare by syntax, not by layout.
fn normalised(js: &str) -> String {
    let arena = Allocator::default();
    let parsed = Parser::new(&arena, js, SourceType::mjs()).parse();
    assert!(parsed.diagnostics.is_empty(), "not JavaScript: {js}");
    let options = CodegenOptions {
        comments: oxc::codegen::CommentOptions::disabled(),
        ..CodegenOptions::default()
    };
    let code = Codegen::new()
        .with_options(options)
        .build(&parsed.program)
        .code;
    // The transform adds `export {}` where it removed every import and export; a module is a
    // module either way; erased statements leave empty ones.
    code.replace("export {};\n", "")
        .lines()
        .filter(|l| l.trim() != ";")
        .collect::<Vec<_>>()
        .join("\n")
}

fn utf16_lines(text: &str) -> Vec<usize> {
    text.split('\n').map(|l| l.encode_utf16().count()).collect()
}

/// Erasable-only modules: stripped in place (same lines, same UTF-16 columns, an empty map) into
/// the same program the transform prints.
#[test]
fn erasable_modules_keep_every_position_and_the_transforms_meaning() {
    let cases = [
        "interface A { a: number }\ntype B = { b: A };\nexport default function f(x: B): number { return x.b.a; }\n",
        "let a = 1\ntype T = string\n(globalThis as any).x = a\nlet b = a\ninterface I {}\n[1, 2].forEach((v: number) => b += v)\nexport { a, b };\n",
        "import type { X } from './x';\nimport { type Y, z } from './y';\nimport { OnlyType } from './t';\nimport D, { used, unused } from './u';\nexport const q: OnlyType = z(used, D) as unknown as OnlyType;\n",
        "export type { X } from './x';\nexport type * from './all';\ntype L = 1;\nconst v = 2;\nexport { type L as LL, v };\nexport { L };\n",
        "declare const g: number;\ndeclare function h(): void;\ndeclare module 'm' { const a: 1 }\ndeclare global { var q: string }\ndeclare class K {}\nexport const r = 1;\n",
        "function over(a: string): string;\nfunction over(a: number): number;\nfunction over(this: Window, a: any): any { return a; }\nexport default over;\n",
        "abstract class Base<T> implements Iterable<T> {\n  abstract size(): number;\n  declare tag: string;\n  [k: string]: unknown;\n  private readonly x?: number = 1;\n  protected y!: string;\n  public static z: number;\n  override toString(): string { return ''; }\n  opt?(): void {}\n  *[Symbol.iterator](): Iterator<T> {}\n}\nexport class C<U extends object = {}> extends Base<U> implements A, B {\n  constructor(a?: number, b: string = 'x') { super(); }\n  size() { return 0 }\n}\n",
        "const a = <T,>(x: T): T => x;\nconst b = async <T>(x: T) => x!;\nconst c = f<string>(1)!.g satisfies object;\nconst d = <number>(<unknown>'é😀');\nconst e = new Map<string, number>;\nconst k = f<string>;\nlet m!: number;\nexport { a, b, c, d, e, k, m };\n",
        "export abstract class Q { abstract m(): void; }\nexport default abstract class /* implements */ R extends Q implements /* x */ I { m() {} }\n",
        "export const o = { m(this: unknown /* , */) { return 1; } };\nimport { a /* , */, type B, } from './ab';\nexport const z = a;\n",
        "const s = 'é😀'; type U = 'é😀' | `x${string}`;\nexport const t: U = s as U; // é😀 as U\n",
        // A line break after `as`/`satisfies` ended the statement: it still does.
        "declare let a: any, b: any;\nlet x = a as any\n(b)\nlet y = b satisfies any /* c */\n[a].length\nx = a as any // c\n`t`\n",
        // U+FEFF is whitespace to JavaScript too.
        "declare let a: any, b: any;\nlet z = a as any\n\u{feff}(b)\n",
    ];
    for source in cases {
        let out = transpile("m.ts", source, MEMORY)
            .result
            .expect("valid TypeScript");
        assert!(out.map.is_empty(), "not erased in place:\n{}", out.code);
        assert_eq!(
            utf16_lines(&out.code),
            utf16_lines(source),
            "positions moved:\n{source}\n---\n{}",
            out.code
        );
        assert_eq!(
            normalised(&out.code),
            normalised(&transformed(source)),
            "meaning differs from the transform's:\n{source}\n---\n{}",
            out.code
        );
    }
}

/// Modules with syntax that is not erasable, or that erasing could not keep valid, take the
/// transform: its output is not the source's layout and it has a map.
#[test]
fn other_modules_take_the_transform() {
    let cases = [
        "enum E { A }\nexport default E.A;\n",
        "namespace N { export const a = 1 }\nexport default N.a;\n",
        "export class P { constructor(private x: number) {} }\n",
        "import fs = require('fs');\nexport default fs;\n",
        "const f = (a: number):\n  number => a;\nexport default f;\n",
        "function g() { return <any>\n 1; }\nexport default g;\n",
    ];
    for source in cases {
        let out = transpile("m.ts", source, MEMORY)
            .result
            .expect("valid TypeScript");
        assert!(!out.map.is_empty(), "erased in place:\n{}", out.code);
        assert_eq!(normalised(&out.code), normalised(&transformed(source)));
    }
}

/// `cargo test --release -p stockade-isolate --lib erase_versus_transform -- --ignored --nocapture`:
/// the median wall time of a module of erasable syntax only, stripped in place (the new path,
/// which parses the output again as JavaScript) and through the full transform (the old path).
#[test]
#[ignore = "a measurement; run in release"]
fn erase_versus_transform_compile_time() {
    let plain = two_hundred_lines(false);
    let big =
        plain.replace("export default", "const unused =") + &plain.replace("Service", "Other");
    for src in [plain, big] {
        let budget = enum_fold_budget(src.len(), MEMORY);
        let median = |erase: bool| {
            let mut times: Vec<std::time::Duration> = (0..61)
                .map(|_| {
                    let started = std::time::Instant::now();
                    let out = on_roomy_stack("bench.ts", &src, MEMORY, |arena| {
                        transform(arena, "bench.ts", &src, budget, MEMORY, erase)
                    })
                    .result
                    .expect("transforms");
                    assert_eq!(out.map.is_empty(), erase);
                    started.elapsed()
                })
                .collect();
            times.sort();
            times[times.len() / 2]
        };
        println!(
            "bytes={} erase={:?} transform={:?}",
            src.len(),
            median(true),
            median(false)
        );
    }
}

/// Statements for the erase-versus-transform property below: `~` is where a separator goes
/// (a space, a line break, comments), `#` the statement's number. Each puts TypeScript-only
/// syntax next to something a line break can make JavaScript read differently.
const PIECES: &[&str] = &[
    "a~as~any",
    "b~satisfies~unknown",
    "let v#~:~number~=~a~as~any",
    "let w#~=~<any>~a",
    "const g# = <T,>(x~:~T)~:~T~=>~x~as~T",
    "f~<~string~>~(a)",
    "f<number>",
    "let i# = f~<~string~>",
    "a!",
    "(b~as~any)~.c = 1",
    "[a, b]~.forEach((v~:~number)~=>~v)",
    "(a)",
    "[b]",
    "`t${a}`",
    "/re/g.test(String(b))",
    "+a",
    "-b",
    "++c",
    "type T# = string~|~number",
    "interface I#~{~x:~number~}",
    "declare const z#~:~number",
    "function h#<T>(this: any, x?: T)~:~T~{~return~x~as~T~}",
    "function r#() { return~a~as~any }",
    "class C#<T>~implements~I~{~declare~p~:~T; q?: number = 1~;~m()~:~void {} }",
    "class D#~{~p~=~a~as~any~[k]() {} }",
    "class K#~{~p~=~a~satisfies~any~`t`; q~:~number }",
    "abstract class E#~{~abstract~m()~:~void }",
    "let o# = { m<T>(x: T)~:~T { return x } }",
    "for (const v of [a]~as~any[]) b = v",
    "if (a~as~boolean) (b)",
    "let n# = f?.<string>(a)",
    "a = b~as~any~as~number",
    "c = a~!~.b",
    "let s# = (a~as~any)~(b)",
    "let x# = a~as~any~?~b : c",
    "let q#: Array<number>~=~[]",
    "let u# = [1, 2]~as~const",
    "throw~a~as~Error",
    "let y# = () =>~a~as~any",
    "let e# = a~!",
    "let t# = f~<~number~>",
    "class A#~implements~I {}",
    "class S# { static~{~b~as~any~} }",
    "class P#~{~m?()~:~void; n() {} }",
    "let d# = a~as~unknown~as~string[]",
    "new~f~<~string~>~(a)",
    "let l# = f~<~string~>~`t`",
    "class M#~{~private~x = 1; public~static~y = 2; readonly~z = 3; protected~w~:~number }",
    "class O#~{~m()~:~void~;~m(x?: any) {}~get g()~:~number { return 1 }~set g(v~:~number) {} }",
    "let type# = 1",
    "type~\nT# = 1",
    "declare~\nlet q# = 1",
    "abstract~\nclass X#~{}",
    "let as# = a~as~any~as~any",
    "let p# = a~?.~b~!~.~c~!",
    "let j# = a~!~?.~b",
    "let m#!~:~number",
    "function as#(x: unknown)~:~asserts~x~is~string {}",
    "let ac# = async~<T,>(x~:~T)~=>~x",
    "a~<~b~>~(c)",
    "export type E# = 1",
    "export interface EI#~{}",
    "export declare const ed#: number",
    "let w#: typeof a~=~a",
    "class G#<T = string>~extends~(b~as~any)<T>~{}",
    "enum N# { A }",
    "import type { X# } from './x'",
    "import { y#, type Y# } from './y'",
];

const SEPARATORS: &[&str] = &[" ", "\n", " /* c */ ", " // c\n", "\n\n"];
const JOINERS: &[&str] = &["\n", ";\n", ";", "\n\n", "\n// c\n"];

fn assembled(statements: &[(usize, usize, Vec<usize>)]) -> String {
    let mut source = String::from("declare let a: any, b: any, c: any, f: any, k: any;\n");
    for (n, (piece, joiner, separators)) in statements.iter().enumerate() {
        let mut slot = 0;
        for ch in PIECES[piece % PIECES.len()].chars() {
            match ch {
                '~' => {
                    let choice = separators.get(slot).copied().unwrap_or(0);
                    source.push_str(SEPARATORS[choice % SEPARATORS.len()]);
                    slot += 1;
                }
                '#' => source.push_str(&n.to_string()),
                _ => source.push(ch),
            }
        }
        source.push_str(JOINERS[joiner % JOINERS.len()]);
    }
    source
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// Whatever TypeScript the pieces make: when the module is stripped in place, its positions
    /// are kept and it is the program the full transform prints (a line break the blanking left
    /// must not join what TypeScript read as two statements).
    #[test]
    fn erasing_means_what_the_transform_means(
        statements in proptest::collection::vec(
            (0..PIECES.len(), 0..JOINERS.len(), proptest::collection::vec(0..SEPARATORS.len(), 0..12)),
            1..8,
        )
    ) {
        let source = assembled(&statements);
        let Ok(out) = transpile("m.ts", &source, MEMORY).result else {
            return Ok(());
        };
        if !out.map.is_empty() {
            return Ok(());
        }
        proptest::prop_assert_eq!(utf16_lines(&out.code), utf16_lines(&source));
        let budget = enum_fold_budget(source.len(), MEMORY);
        let full = on_roomy_stack("m.ts", &source, MEMORY, |arena| {
            transform(arena, "m.ts", &source, budget, MEMORY, false)
        })
        .result;
        let full = match full {
            Ok(full) => full.code,
            Err(e) => return Err(proptest::test_runner::TestCaseError::fail(format!(
                "erased but the transform failed: {e:?}\n{source}"
            ))),
        };
        proptest::prop_assert_eq!(
            normalised(&out.code),
            normalised(&full),
            "meaning differs from the transform's:\n{}\n---\n{}",
            source,
            out.code
        );
    }
}
