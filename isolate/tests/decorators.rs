//! TC39 standard decorators (TypeScript 5's default) and `accessor` fields in real isolates,
//! lowered by swc's decorators pass (`isolate/src/typescript/decorators.rs`): the order in which
//! decorators are evaluated and applied, their context objects (`kind`, `name`, `static`,
//! `private`, `access`, `addInitializer`, `metadata`), class replacement, `accessor` with and
//! without decorators, `.ts` and `.js` modules (Code Mode snippets are `main.ts` modules), and
//! errors at the line the tenant wrote.
mod common;

use common::*;
use serde_json::json;
use stockade_isolate::{LimitKind, Limits, RunError};

#[test]
fn decorators_are_evaluated_in_document_order_and_applied_in_the_spec_order() {
    let v = ok(run_ts(
        "const log: string[] = [];
         function tag(label: string) {
           log.push(`eval ${label}`);
           return (_value: unknown, context: DecoratorContext): undefined => {
             const c = context as { kind: string; name?: string | symbol; static?: boolean; private?: boolean };
             log.push(`apply ${label}: ${c.kind} ${String(c.name)} static=${c.static} private=${c.private}`);
             return undefined;
           };
         }
         @tag('class-outer') @tag('class-inner')
         class C {
           @tag('static-m') static sm(): number { return 5; }
           @tag('m-outer') @tag('m-inner') m(): number { return 1; }
           @tag('get') get g(): number { return 2; }
           @tag('set') set g(_v: number) {}
           @tag('field') f: number = 3;
           @tag('accessor') accessor a: number = 4;
           @tag('private-m') #pm(): number { return 6; }
           @tag('private-field') #pf = 7;
           @tag('static-field') static sf = 8;
           pm(): number { return this.#pm() + this.#pf; }
         }
         log.push('defined');
         const c = new C();
         export default () => ({ log, values: [C.sm(), c.m(), c.g, c.f, c.a, c.pm()] });",
    ));
    let eval_order = [
        "class-outer",
        "class-inner",
        "static-m",
        "m-outer",
        "m-inner",
        "get",
        "set",
        "field",
        "accessor",
        "private-m",
        "private-field",
        "static-field",
    ]
    .map(|l| format!("eval {l}"));
    // Applied: static methods and accessors, instance methods and accessors, static fields,
    // instance fields (each group in document order, each element's decorators innermost
    // first), then the class's.
    let mut expected: Vec<String> = eval_order.to_vec();
    expected.extend(
        [
            "apply static-m: method sm static=true private=false",
            "apply m-inner: method m static=false private=false",
            "apply m-outer: method m static=false private=false",
            "apply get: getter g static=false private=false",
            "apply set: setter g static=false private=false",
            "apply accessor: accessor a static=false private=false",
            "apply private-m: method #pm static=false private=true",
            "apply static-field: field sf static=true private=false",
            "apply field: field f static=false private=false",
            "apply private-field: field #pf static=false private=true",
            "apply class-inner: class C static=undefined private=undefined",
            "apply class-outer: class C static=undefined private=undefined",
            "defined",
        ]
        .map(String::from),
    );
    assert_eq!(v["log"], json!(expected));
    assert_eq!(v["values"], json!([5, 1, 2, 3, 4, 13]));
}

#[test]
fn decorators_replace_methods_fields_accessors_and_classes() {
    let v = ok(run_ts(
        "function double<T>(_v: undefined, _c: ClassFieldDecoratorContext<T, number>) {
           return (initial: number) => initial * 2;
         }
         function plusOne<T>(_v: undefined, _c: ClassFieldDecoratorContext<T, number>) {
           return (initial: number) => initial + 1;
         }
         function loud<T, A extends unknown[]>(fn: (this: T, ...a: A) => string, c: ClassMethodDecoratorContext<T>) {
           return function (this: T, ...a: A): string { return `${fn.apply(this, a).toUpperCase()} (${String(c.name)})`; };
         }
         function clamp<T>(target: ClassAccessorDecoratorTarget<T, number>, _c: ClassAccessorDecoratorContext<T, number>): ClassAccessorDecoratorResult<T, number> {
           return {
             get(this: T) { return target.get.call(this); },
             set(this: T, v: number) { target.set.call(this, Math.min(v, 10)); },
             init(v: number) { return Math.min(v, 10); },
           };
         }
         function sealed<C extends new (...a: any[]) => object>(value: C, _c: ClassDecoratorContext<C>) {
           return class extends value { sealedBy = 'decorator'; };
         }
         @sealed
         class Box {
           @double @plusOne size = 4;
           @clamp accessor level = 50;
           @loud hello(who: string): string { return `hi ${who}`; }
         }
         const b = new Box();
         const before = b.level;
         b.level = 7;
         const mid = b.level;
         b.level = 99;
         export default () => ({ size: b.size, before, mid, after: b.level, hello: b.hello('ann'),
           sealedBy: (b as any).sealedBy, name: Box.name, isBox: b instanceof Box });",
    ));
    // `@double @plusOne`: plusOne (inner) is applied first, but the outermost decorator's
    // initializer runs first, as the proposal specifies: 4 * 2 + 1. The replacement class is
    // the decorator's anonymous one.
    assert_eq!(
        v,
        json!({ "size": 9, "before": 10, "mid": 7, "after": 10, "hello": "HI ANN (hello)",
                "sealedBy": "decorator", "name": "", "isBox": true })
    );
}

#[test]
fn add_initializer_runs_per_instance_per_class_and_after_the_class() {
    let v = ok(run_ts(
        "const log: string[] = [];
         function init(label: string) {
           return (_v: unknown, c: DecoratorContext) => {
             c.addInitializer(function (this: unknown) {
               const who = typeof this === 'function' ? `class ${(this as Function).name}` : 'instance';
               log.push(`${label} on ${who}`);
             });
           };
         }
         @init('class')
         class K {
           static s = (log.push('static field'), 1);
           @init('static method') static sm() {}
           @init('method') m() {}
           f = (log.push('instance field'), 2);
           constructor() { log.push('constructor body'); }
         }
         log.push('after class');
         new K();
         new K();
         export default () => log;",
    ));
    assert_eq!(
        v,
        json!([
            "static method on class K",
            "static field",
            "class on class K",
            "after class",
            "method on instance",
            "instance field",
            "constructor body",
            "method on instance",
            "instance field",
            "constructor body",
        ])
    );
}

#[test]
fn context_access_reaches_public_and_private_members() {
    let v = ok(run_ts(
        "type Access = { get(o: object): unknown; set?(o: object, v: unknown): void; has(o: object): boolean };
         const accessors: Record<string, Access> = {};
         function expose(_v: unknown, c: DecoratorContext) {
           const m = c as ClassMemberDecoratorContext;
           accessors[String(m.name)] = m.access as Access;
         }
         class Vault {
           @expose #secret = 's3cret';
           @expose accessor #count = 1;
           @expose #reveal() { return `revealed ${this.#secret}`; }
           @expose open = true;
         }
         const v = new Vault();
         const a = accessors;
         a['#secret'].set!(v, 'changed');
         a['#count'].set!(v, 41);
         const reveal = a['#reveal'].get(v) as (this: Vault) => string;
         let foreign = '';
         try { a['#secret'].get({}); } catch (e) { foreign = (e as Error).constructor.name; }
         export default () => ({
           secret: a['#secret'].get(v), count: a['#count'].get(v), reveal: reveal.call(v),
           open: a['open'].get(v), has: [a['#secret'].has(v), a['#secret'].has({}), a['open'].has({ open: 1 })],
           methodHasNoSetter: a['#reveal'].set === undefined, foreign,
         });",
    ));
    assert_eq!(
        v,
        json!({ "secret": "changed", "count": 41, "reveal": "revealed changed", "open": true,
                "has": [true, false, true], "methodHasNoSetter": true, "foreign": "TypeError" })
    );
}

#[test]
fn metadata_is_one_object_per_class_inherited_through_symbol_metadata() {
    let v = ok(run_ts(
        "function meta(key: string, value: unknown) {
           return (_v: unknown, c: DecoratorContext) => { c.metadata[key] = value; };
         }
         @meta('table', 'users')
         class User { @meta('id', 'primary') id = 1; @meta('name', 'column') name = ''; }
         @meta('table', 'admins')
         class Admin extends User { @meta('level', 'column') level = 0; }
         class Plain {}
         const um = User[Symbol.metadata]!;
         const am = Admin[Symbol.metadata]!;
         export default () => ({
           user: { ...um }, admin: { ...am }, inheritedName: am.name,
           chained: Object.getPrototypeOf(am) === um, plain: Plain[Symbol.metadata] ?? null,
           registered: Symbol.metadata === Symbol.for('Symbol.metadata'),
         });",
    ));
    assert_eq!(
        v,
        json!({
            "user": { "table": "users", "id": "primary", "name": "column" },
            "admin": { "table": "admins", "level": "column" },
            "inheritedName": "column", "chained": true, "plain": null, "registered": true,
        })
    );
}

#[test]
fn accessor_fields_without_decorators_are_getter_setter_pairs() {
    let v = ok(run_ts(
        "class Counter {
           accessor count: number = 1;
           static accessor total = 10;
           accessor #hidden = 'h';
           accessor [`computed${1 + 1}`] = 'c';
           bump(): number { this.count++; Counter.total++; return this.count; }
           get hidden(): string { return this.#hidden; }
         }
         const a = new Counter();
         const b = new Counter();
         a.bump(); a.bump(); b.bump();
         const d = Object.getOwnPropertyDescriptor(Counter.prototype, 'count')!;
         export default () => ({
           a: a.count, b: b.count, total: Counter.total, hidden: a.hidden, computed: (a as any).computed2,
           onPrototype: typeof d.get === 'function' && typeof d.set === 'function',
           ownKeys: Object.keys(a),
         });",
    ));
    assert_eq!(
        v,
        json!({ "a": 3, "b": 2, "total": 13, "hidden": "h", "computed": "c",
                "onPrototype": true, "ownKeys": [] })
    );
}

#[test]
fn decorators_run_in_javascript_modules_and_across_imports() {
    let modules = [
        (
            "main.js",
            "import { Store, bound } from './store.ts';
             const seen = [];
             function track(value, context) {
               seen.push(`${context.kind}:${String(context.name)}`);
               return function (...args) { seen.push(`call ${String(context.name)}`); return value.apply(this, args); };
             }
             class Cart extends Store {
               @track add(item) { this.items.push(item); return this.items.length; }
               accessor owner = 'ann';
               @bound describe() { return `${this.owner}: ${this.items.join(',')}`; }
             }
             const cart = new Cart();
             cart.add('pear');
             const { describe } = cart;
             export default () => ({ seen, describe: describe(), owner: cart.owner });",
        ),
        (
            "store.ts",
            "export class Store { accessor items: string[] = []; }
             export function bound<T extends object>(fn: (this: T) => string, c: ClassMethodDecoratorContext<T>) {
               c.addInitializer(function (this: T) { (this as any)[c.name] = fn.bind(this); });
             }",
        ),
    ];
    let v = ok(run_with(limits(), &modules, "null"));
    assert_eq!(
        v,
        json!({ "seen": ["method:add", "call add"], "describe": "ann: pear", "owner": "ann" })
    );
}

fn threw_at(inv: stockade_isolate::Invocation) -> (String, u32, String) {
    match err(inv) {
        RunError::Threw {
            message,
            stack,
            location,
        } => {
            let loc = location.expect("a location");
            (message, loc.line, stack)
        }
        other => panic!("expected a throw, got {other:?}"),
    }
}

#[test]
fn a_throw_in_decorated_code_reports_the_line_the_tenant_wrote() {
    let ts = "interface Opts { max: number }\n\
              function limit(o: Opts) {\n\
                return (fn: Function, _c: ClassMethodDecoratorContext) => function (this: unknown, n: number) {\n\
                  if (n > o.max) throw new RangeError(`over ${o.max}`);\n\
                  return fn.call(this, n);\n\
                };\n\
              }\n\
              class Meter {\n\
                @limit({ max: 3 }) read(n: number): number { return n; }\n\
                fail(): never { throw new Error('in method'); }\n\
              }\n\
              export default () => new Meter().read(5);\n";
    let (message, line, stack) = threw_at(run_ts(ts));
    assert!(message.contains("over 3"), "{message}");
    assert_eq!(line, 4, "{stack}");
    assert!(stack.contains("main.ts:4:"), "{stack}");
    let ts_fail = ts.replace("new Meter().read(5)", "new Meter().fail()");
    let (_, line, stack) = threw_at(run_ts(&ts_fail));
    assert_eq!(line, 10, "{stack}");
    let js = "function dec(value, context) { return value; }\n\
              class A {\n\
                @dec run() {\n\
                  throw new TypeError('from js');\n\
                }\n\
              }\n\
              export default () => new A().run();\n";
    let (message, line, stack) = threw_at(run_with(limits(), &[("main.js", js)], "null"));
    assert!(message.contains("from js"), "{message}");
    assert_eq!(line, 4, "{stack}");
    assert!(stack.contains("main.js:4:"), "{stack}");
}

fn syntax(inv: stockade_isolate::Invocation) -> (String, String, u32) {
    match err(inv) {
        RunError::Syntax {
            message,
            location: Some(at),
        } => (message, at.module, at.line),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn a_syntax_error_in_decorated_code_is_a_compile_error_at_its_line() {
    let (message, module, line) = syntax(run_ts(
        "function d(v: unknown) { return v; }\n@d\nclass A {\n  @d m() { return 1 +; }\n}\nexport default () => 1;",
    ));
    assert_eq!((module.as_str(), line), ("main.ts", 4), "{message}");
    let (message, module, line) = syntax(run_with(
        limits(),
        &[(
            "main.js",
            "function d(v) { return v; }\nclass A {\n  @d accessor x = 1;\n  @d m() { return (; }\n}\nexport default () => 1;",
        )],
        "null",
    ));
    assert_eq!((module.as_str(), line), ("main.js", 4), "{message}");
    // A decorator where the proposal allows none: on a function.
    let (message, _, line) = syntax(run_ts(
        "const d = (v: unknown) => v;\n\n@d function f() {}\nexport default () => 1;",
    ));
    assert_eq!(line, 3, "{message}");
    // A JavaScript module that only mentions '@' and does not parse: still an error at its line.
    let (message, module, line) = syntax(run_with(
        limits(),
        &[(
            "main.js",
            "const mail = 'a@b.c';\nexport default () => (;\n",
        )],
        "null",
    ));
    assert_eq!((module.as_str(), line), ("main.js", 2), "{message}");
}

#[test]
fn a_decorator_must_return_a_function_or_undefined() {
    let v = ok(run_ts(
        "let error = '';
         try {
           const bad = (() => 42) as unknown as (v: unknown, c: ClassMethodDecoratorContext) => void;
           class X { @bad m() {} }
           new X();
         } catch (e) { error = `${(e as Error).constructor.name}: ${(e as Error).message}`; }
         export default () => error;",
    ));
    let text = v.as_str().unwrap_or("");
    assert!(text.starts_with("TypeError:"), "{text}");
}

#[test]
fn exported_classes_take_decorators_before_or_after_export() {
    let modules = [
        (
            "main.ts",
            "import Anon, { Before, After } from './lib.ts';
             export default () => [Before.tag, After.tag, Anon.tag, new Before().v];",
        ),
        (
            "lib.ts",
            "const tag = (label: string) => (c: any, _ctx: ClassDecoratorContext) => { c.tag = label; };
             @tag('before') export class Before { v = 1; }
             export @tag('after') class After {}
             export default @tag('anon') class {}",
        ),
    ];
    let v = ok(run_with(limits(), &modules, "null"));
    assert_eq!(v, json!(["before", "after", "anon", 1]));
}

#[test]
fn legacy_parameter_decorators_are_a_syntax_error_at_their_line() {
    let (message, module, line) = syntax(run_ts(
        "const Inject = (_k: string) => (_t: unknown, _p: unknown, _i: number) => {};\n\
         class Api {\n\
           constructor(@Inject('db') private db: unknown) {}\n\
         }\n\
         export default () => new Api(1);",
    ));
    assert_eq!((module.as_str(), line), ("main.ts", 3), "{message}");
}

#[test]
fn a_decorated_module_too_big_for_the_memory_limit_ends_as_a_heap_limit() {
    // The decorators stage takes at most memory/128 bytes of input: 128 KiB under 16 MiB.
    let class = "class C$ { @d m() { return $; } accessor a = '$'; }\n";
    let body: String = (0..4000)
        .map(|i| class.replace('$', &i.to_string()))
        .collect();
    let src =
        format!("const d = (v: unknown) => v;\n{body}export default () => new C3999().m();\n");
    assert!(src.len() > 128 << 10, "{}", src.len());
    // CPU enough for an unoptimised build to lower 4000 classes.
    let small = Limits {
        memory_bytes: 16 << 20,
        cpu: std::time::Duration::from_secs(30),
        wall: std::time::Duration::from_secs(60),
        ..limits()
    };
    match err(run_with(small.clone(), &[("main.ts", &src)], "null")) {
        RunError::Limit(LimitKind::Heap) => {}
        other => panic!("expected the heap limit, got {other:?}"),
    }
    // The same module without decorators is within the limit, and with them under a larger one.
    let plain = src.replace("@d ", "").replace("accessor ", "");
    assert_eq!(
        ok(run_with(small.clone(), &[("main.ts", &plain)], "null")),
        3999
    );
    let larger = Limits {
        memory_bytes: 64 << 20,
        ..small
    };
    assert_eq!(ok(run_with(larger, &[("main.ts", &src)], "null")), 3999);
}

#[test]
fn the_lowering_helpers_do_not_take_the_modules_own_names() {
    let modules = [
        (
            "main.ts",
            "import { toPrimitive, setFunctionName, checkInRHS, _apply_decs_2311, A } from './lib.ts';
             export default () => [toPrimitive(), setFunctionName, checkInRHS, _apply_decs_2311, new A().m()];",
        ),
        (
            "lib.ts",
            "export function toPrimitive(): string { return 'mine'; }
             export const setFunctionName = 1;
             export let checkInRHS = 'x';
             export const _apply_decs_2311 = true;
             const d = (v: any, _c: any) => function (this: any) { return 'decorated ' + v.call(this); };
             export class A { @d m() { return toPrimitive(); } }",
        ),
    ];
    let v = ok(run_with(limits(), &modules, "null"));
    assert_eq!(v, json!(["mine", 1, "x", true, "decorated mine"]));
}

#[test]
fn using_declarations_survive_the_lowering() {
    let v = ok(run_ts(
        "const log: string[] = [];
         const d = (v: any, _c: ClassMethodDecoratorContext) => v;
         class Res { constructor(private n: string) {} @d [Symbol.dispose]() { log.push(`dispose ${this.n}`); } }
         export default () => { { using a = new Res('a'); using b = new Res('b'); log.push('body'); } return log; };",
    ));
    assert_eq!(v, json!(["body", "dispose b", "dispose a"]));
}
