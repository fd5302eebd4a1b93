//! A WPT script (a classic script in a browser) turned into an ES module the engine can load.
//!
//! The engine evaluates ES modules only, and a new classic-script entry into the C++ bridge is out
//! of reach for this crate, so every script (testharness.js, each `// META: script=` include, the
//! test) becomes one module. What that changes, and what this module does about it:
//! - **Strict mode** everywhere: sloppy-only code fails (a syntax error, or a TypeError at run
//!   time), and top-level `this` is `undefined`. Not emulated; the curated files need neither.
//! - **Top-level declarations are module bindings**, invisible to the other scripts, where a
//!   classic script's `var`/`function` land on the global object and its `let`/`const`/`class` in
//!   the global lexical scope every later script sees. Each module therefore opens (on its first
//!   line, so line numbers hold) with a call that mirrors its top-level bindings on `globalThis` as
//!   accessors: reads and writes reach the module binding (live, the temporal dead zone kept).
//!   Unlike a classic script, a script that redeclares a name another script declared gets its
//!   own binding (the global then follows the later script).
//! - **Assigning an undeclared name** creates a global in sloppy mode and throws in strict mode:
//!   names a script assigns without declaring anywhere in it are created on `globalThis` (as
//!   `undefined`) before it runs, unless they exist.
//!
//! Guarantees: the module's source is the script's, byte for byte, after a prologue with no line
//! break; a script oxc cannot parse is passed through unchanged (V8 reports its syntax error).
//! Trusts: oxc's parser and scope analysis on the curated WPT files.

use oxc::allocator::Allocator;
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;

/// The global function (defined by `js/main.js`) each module's prologue calls.
pub const GLOBALS_HOOK: &str = "__stockadeWptGlobals";

/// What a script declares at its top level and assigns without declaring.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Top-level bindings (`var`, `let`, `const`, `function`, `class`), in declaration order.
    pub declared: Vec<String>,
    /// Names written somewhere in the script and declared nowhere in it.
    pub implicit: Vec<String>,
}

/// The top-level bindings and implicit globals of `source`, parsed as a module; empty when it
/// does not parse.
pub fn shape(source: &str) -> Shape {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, source, SourceType::mjs()).parse();
    if parsed.panicked || !parsed.diagnostics.is_empty() {
        return Shape::default();
    }
    let semantic = SemanticBuilder::new().build(&parsed.program);
    let scoping = semantic.semantic.scoping();
    let root = scoping.root_scope_id();
    let mut declared: Vec<(u32, String)> = scoping
        .iter_bindings_in(root)
        .map(|symbol| {
            let span = scoping.symbol_span(symbol);
            (span.start, scoping.symbol_name(symbol).to_string())
        })
        .collect();
    declared.sort();
    let mut implicit: Vec<String> = scoping
        .root_unresolved_references()
        .iter()
        .filter(|(_, ids)| ids.iter().any(|id| scoping.get_reference(*id).is_write()))
        .map(|(name, _)| name.as_str().to_string())
        .collect();
    implicit.sort();
    Shape {
        declared: declared.into_iter().map(|(_, n)| n).collect(),
        implicit,
    }
}

/// The module text for `source`: the prologue (see the module docs) on the script's first line.
pub fn as_module(source: &str) -> String {
    let shape = shape(source);
    if shape.declared.is_empty() && shape.implicit.is_empty() {
        return source.to_string();
    }
    let mut prologue = format!("globalThis.{GLOBALS_HOOK}([");
    for name in &shape.declared {
        // `name` is an identifier from the parser: safe to splice as code. The setter of a
        // `const` throws a TypeError when called, as assigning the binding would.
        prologue.push_str(&format!(
            "[\"{name}\", () => {name}, (v) => {{ {name} = v; }}], "
        ));
    }
    prologue.push_str("], ");
    prologue.push_str(&serde_json::Value::from(shape.implicit).to_string());
    prologue.push_str("); ");
    prologue + source
}

#[cfg(test)]
mod tests {
    use super::{as_module, shape};

    #[test]
    fn top_level_bindings_and_undeclared_writes_are_found() {
        let s = shape(
            "var a = 1, { b, c: [d] } = x; let e; const f = 2; function g() { h = 3; let i; } \
             class J {} k++; for (l of []) {} m.n = 1; if (x) { var o; let p; }",
        );
        assert_eq!(s.declared, ["a", "b", "d", "e", "f", "g", "J", "o"]);
        assert_eq!(s.implicit, ["h", "k", "l"]);
    }

    #[test]
    fn the_prologue_keeps_line_numbers_and_unparsable_scripts_pass_through() {
        let m = as_module("// first\nfunction f() {}\n");
        assert!(m.starts_with("globalThis.__stockadeWptGlobals([[\"f\", () => f"));
        assert_eq!(m.lines().count(), 2);
        assert_eq!(as_module("let x = ;"), "let x = ;");
        assert_eq!(as_module("x.y();"), "x.y();");
    }
}
