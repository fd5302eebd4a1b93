//! CommonJS modules (Cloudflare's `{"cjs": "..."}` module kind) as ES modules V8 can link.
//!
//! A CommonJS module becomes an ES module that imports the modules its `require("...")` calls
//! name (string literals that resolve to a module of the set) and runs the source inside
//! `function (exports, require, module, __filename, __dirname)` with `this` = `module.exports`,
//! once, the first time it is imported or required. Its namespace is Node's: the default export
//! is `module.exports`, and the names the source visibly exports ([`analyse`]: `exports.x = `,
//! `Object.defineProperty(exports, "x", ...)`, `module.exports = { x, ... }`, and what it
//! re-exports from another CommonJS module with `module.exports = require(...)`) are named
//! exports holding `module.exports[x]` once it ran. No internal name is exported: the function
//! that runs the module is the `default` binding's initial value (a hoisted function, so that a
//! `require` cycle between CommonJS modules gets the partial exports, as in Node), replaced by
//! `module.exports` when the module starts. `require` of an ES module gives its namespace; of a
//! JSON, text, data or wasm module its default export.
//!
//! Differences from Node, documented in the README: the source runs in strict mode (it is
//! compiled as an ES module; V8 has no sloppy-mode functions without `new Function`, which the
//! engine refuses), a required module runs before the module that requires it (ES imports are
//! evaluated first; in a `require` cycle the module reached last by the import order starts
//! first, and the other sees its partial exports), and `require` of anything but a string
//! literal naming a module of the set throws `Cannot find module` when called. An ES module that
//! reads a CommonJS module's `default` in an import cycle before the CommonJS module ran sees the
//! function that runs it (where Node would throw a ReferenceError).
//!
//! Guarantees: the source is inserted verbatim after a one-line prefix, so positions past the
//! first line are the tenant's own; generated names start with `__stockade_` and none is
//! exported; specifiers and export names are written as JSON strings (no injection through a
//! module or export name). Parsing is bounded like [`crate::loader::imports_of`]'s.

use oxc::ast::ast::{
    Argument, AssignmentExpression, AssignmentTarget, CallExpression, Expression, MemberExpression,
    ObjectPropertyKind, PropertyKey,
};
use oxc::ast_visit::{walk, Visit};

/// How the wrapper hands a required module to `require`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    /// Another CommonJS module: its `module.exports` (run on first use).
    CommonJs,
    /// An ES module: its namespace.
    Module,
    /// JSON, text, data or wasm: its default export.
    Default,
}

/// The most named exports one CommonJS module gets (past it, the rest are left out: the default
/// export still holds them all).
pub const MAX_NAMED_EXPORTS: usize = 4096;

/// What a CommonJS source says about itself, read from its syntax (as Node's cjs-module-lexer
/// does, with an AST instead of a tokenizer): the modules it requires and the names it exports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Analysis {
    /// The specifiers of `require("...")` calls with a string-literal argument, sorted, unique.
    pub requires: Vec<String>,
    /// Names assigned as `exports.x = ...`, `module.exports.x = ...`, `exports["x"] = ...`,
    /// defined with `Object.defineProperty(exports, "x", ...)`, or keys of an object literal
    /// assigned to `module.exports` (`module.exports = { a, b: 1, c() {} }`); sorted, unique,
    /// `default` left out (the default export is always `module.exports`).
    pub exports: Vec<String>,
    /// Specifiers whose exports this module re-exports: `module.exports = require("x")`,
    /// `__exportStar(require("x"), exports)`, `__export(require("x"))`; sorted, unique.
    pub reexports: Vec<String>,
}

/// The specifiers of `require("...")` calls with a string-literal argument, sorted, unique.
/// A source that does not parse (or nests too deep) has none: compiling it reports the error.
pub fn requires(source: &str) -> Vec<String> {
    analyse(source).requires
}

/// Reads what `source` requires and exports (see [`Analysis`]). A source that does not parse (or
/// nests too deep) has nothing: compiling it reports the error.
pub fn analyse(source: &str) -> Analysis {
    if crate::nesting::check(source, crate::nesting::MAX_NESTING).is_err() {
        return Analysis::default();
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("stockade-cjs".into())
            .stack_size(crate::nesting::STACK_BYTES)
            .spawn_scoped(scope, || parse(source))
            .ok()
            .and_then(|helper| helper.join().ok())
            .unwrap_or_default()
    })
}

fn parse(source: &str) -> Analysis {
    let allocator = oxc::allocator::Allocator::default();
    let parsed = oxc::parser::Parser::new(&allocator, source, oxc::span::SourceType::cjs()).parse();
    if parsed.panicked {
        return Analysis::default();
    }
    let mut found = Finder::default();
    found.visit_program(&parsed.program);
    let tidy = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v
    };
    let mut exports = tidy(found.exports);
    exports.retain(|n| n != "default");
    exports.truncate(MAX_NAMED_EXPORTS);
    Analysis {
        requires: tidy(found.requires),
        exports,
        reexports: tidy(found.reexports),
    }
}

#[derive(Default)]
struct Finder {
    requires: Vec<String>,
    exports: Vec<String>,
    reexports: Vec<String>,
}

/// `exports` or `module.exports`.
fn is_exports(e: &Expression<'_>) -> bool {
    e.is_specific_id("exports") || e.is_specific_member_access("module", "exports")
}

/// The argument of `require("x")`, if `e` is one.
fn required<'e>(e: &'e Expression<'_>) -> Option<&'e str> {
    match e.get_inner_expression() {
        Expression::CallExpression(call) if call.callee.is_specific_id("require") => {
            match call.arguments.as_slice() {
                [Argument::StringLiteral(arg)] => Some(arg.value.as_str()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A string literal's value, unless it holds lone surrogates (no export name can).
fn string_value<'e>(e: &'e Expression<'_>) -> Option<&'e str> {
    match e {
        Expression::StringLiteral(lit) if !lit.lone_surrogates => Some(lit.value.as_str()),
        _ => None,
    }
}

impl Finder {
    /// `exports.x` / `module.exports["x"]`: the name `x`.
    fn export_member(&mut self, member: &MemberExpression<'_>) {
        match member {
            MemberExpression::StaticMemberExpression(m) if is_exports(&m.object) => {
                self.exports.push(m.property.name.to_string());
            }
            MemberExpression::ComputedMemberExpression(m) if is_exports(&m.object) => {
                if let Some(name) = string_value(&m.expression) {
                    self.exports.push(name.to_string());
                }
            }
            _ => {}
        }
    }
}

impl<'a> Visit<'a> for Finder {
    fn visit_call_expression(&mut self, call: &CallExpression<'a>) {
        if let (Expression::Identifier(callee), [Argument::StringLiteral(arg)]) =
            (&call.callee, call.arguments.as_slice())
        {
            if callee.name == "require" {
                self.requires.push(arg.value.to_string());
            }
        }
        let args = call.arguments.as_slice();
        if call
            .callee
            .is_specific_member_access("Object", "defineProperty")
        {
            if let [target, name, ..] = args {
                if let (Some(target), Some(name)) = (target.as_expression(), name.as_expression()) {
                    if let (true, Some(name)) = (is_exports(target), string_value(name)) {
                        self.exports.push(name.to_string());
                    }
                }
            }
        }
        // TypeScript's and tslib's re-export helpers.
        let helper = match call.callee.get_inner_expression() {
            Expression::Identifier(id) => Some(id.name.as_str()),
            Expression::StaticMemberExpression(m) => Some(m.property.name.as_str()),
            _ => None,
        };
        if matches!(helper, Some("__exportStar" | "__export")) {
            if let Some(spec) = args
                .first()
                .and_then(Argument::as_expression)
                .and_then(required)
            {
                self.reexports.push(spec.to_string());
            }
        }
        walk::walk_call_expression(self, call);
    }

    fn visit_assignment_expression(&mut self, assign: &AssignmentExpression<'a>) {
        if let Some(member) = assign.left.as_member_expression() {
            let whole = matches!(&assign.left, AssignmentTarget::StaticMemberExpression(m)
                if m.object.is_specific_id("module") && m.property.name == "exports");
            if whole {
                if let Some(spec) = required(&assign.right) {
                    self.reexports.push(spec.to_string());
                }
                if let Expression::ObjectExpression(object) = assign.right.get_inner_expression() {
                    for property in &object.properties {
                        let ObjectPropertyKind::ObjectProperty(p) = property else {
                            continue;
                        };
                        match &p.key {
                            _ if p.computed => {}
                            PropertyKey::StaticIdentifier(id) => {
                                self.exports.push(id.name.to_string())
                            }
                            PropertyKey::StringLiteral(lit) if !lit.lone_surrogates => {
                                self.exports.push(lit.value.to_string())
                            }
                            _ => {}
                        }
                    }
                }
            } else {
                self.export_member(member);
            }
        }
        walk::walk_assignment_expression(self, assign);
    }
}

/// The ES module for CommonJS module `name` (normalised) with `source`; `deps` are the required
/// specifiers that name modules of the set: (specifier as written, resolved name, kind);
/// `exports` the names it exports besides `default` (its [`Analysis`], re-exports included).
///
/// The module's namespace is what Node's is: `default` (`module.exports`) and the named exports
/// (each `module.exports[name]` once the module has run). Nothing else: the function that runs
/// the module (so that a `require` cycle between CommonJS modules gets the partial exports, as in
/// Node, before the module's own evaluation) is the initial value of the `default` binding, a
/// hoisted function, replaced by `module.exports` the moment the module starts.
pub fn wrap(
    name: &str,
    source: &str,
    deps: &[(String, String, Required)],
    exports: &[String],
) -> String {
    let json = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = String::with_capacity(source.len() + 1024 + exports.len() * 64);
    let mut cases = String::new();
    for (i, (specifier, resolved, kind)) in deps.iter().enumerate() {
        out.push_str(&format!(
            "import * as __stockade_dep{i} from {}; ",
            json(&format!("/{resolved}"))
        ));
        let value = match kind {
            Required::CommonJs => format!("__stockade_commonjs(__stockade_dep{i})"),
            Required::Module => format!("__stockade_dep{i}"),
            Required::Default => format!("__stockade_dep{i}.default"),
        };
        cases.push_str(&format!("case {}: return {value}; ", json(specifier)));
    }
    let exports: Vec<&String> = exports.iter().filter(|n| *n != "default").collect();
    out.push_str("export { __stockade_cjs as default");
    for (i, export) in exports.iter().enumerate() {
        out.push_str(&format!(", __stockade_n{i} as {}", json(export)));
    }
    out.push_str(" }; var __stockade_module");
    for i in 0..exports.len() {
        out.push_str(&format!(", __stockade_n{i}"));
    }
    out.push_str(
        "; function __stockade_cjs() { return __stockade_run(); } \
         function __stockade_run() { \
         if (__stockade_module !== undefined) return __stockade_module.exports; \
         const module = { exports: {} }; __stockade_module = module; \
         __stockade_cjs = module.exports; \
         (function (exports, require, module, __filename, __dirname) {",
    );
    // A hashbang may only open a source, which a wrapped one no longer does: it becomes a line
    // comment of the same length (Node's CommonJS loader accepts it too; npm's `bin` files have one).
    match source.strip_prefix("#!") {
        Some(rest) => {
            out.push_str("//");
            out.push_str(rest);
        }
        None => out.push_str(source),
    }
    let mut named = String::new();
    for (i, export) in exports.iter().enumerate() {
        named.push_str(&format!("__stockade_n{i} = e[{}]; ", json(export)));
    }
    out.push_str(&format!(
        "\n}}).call(module.exports, module.exports, __stockade_require, module, {}, {});\n\
         __stockade_cjs = module.exports; __stockade_named(module.exports);\n\
         return module.exports;\n}}\n\
         function __stockade_named(e) {{\n\
         if (e === null || (typeof e !== \"object\" && typeof e !== \"function\")) return;\n\
         {named}\n}}\n\
         function __stockade_commonjs(ns) {{\n\
         const value = ns.default;\n\
         return typeof value === \"function\" && value.name === \"__stockade_cjs\" ? value() : value;\n}}\n\
         function __stockade_require(specifier) {{\n\
         if (__stockade_module !== undefined) __stockade_cjs = __stockade_module.exports;\n\
         switch (specifier) {{ {cases}}}\n\
         throw new Error(`Cannot find module '${{specifier}}' from {}: require() finds the \
         worker's own modules, named by a string literal`);\n}}\n\
         __stockade_run();\n",
        json(&format!("/{name}")),
        json(&format!("/{dir}")),
        json(name).replace('`', "\\u0060").replace("${", "$\\{"),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_are_string_literal_calls_of_require() {
        let src = "const a = require('./a.js'); const { b } = require(\"b.cjs\");\n\
                   if (x) { return; } require(name); foo.require('no'); require('./a.js');\n\
                   function f() { return require('./nested.json'); }";
        assert_eq!(requires(src), ["./a.js", "./nested.json", "b.cjs"]);
        assert!(requires("this is not ( javascript").is_empty());
    }

    #[test]
    fn exports_are_read_from_assignments_define_property_and_object_literals() {
        let src = "exports.a = 1; module.exports.b = 2; exports['c-d'] = 3; exports.default = 4;\n\
                   Object.defineProperty(exports, 'e', { value: 5 });\n\
                   Object.defineProperty(module.exports, '__esModule', { value: true });\n\
                   function later() { exports.inner = 6; }\n\
                   other.x = 7; exports[name] = 8; exports[`t`] = 9; notexports.y = 1;\n\
                   module.exports = { f, g: 1, 'h i': 2, j() {}, get k() { return 1; }, [m]: 3, ...rest };\n\
                   module.exports = require('./base.cjs');\n\
                   __exportStar(require('./star.cjs'), exports); tslib.__exportStar(require('./ts.cjs'), exports);";
        let a = analyse(src);
        assert_eq!(
            a.exports,
            [
                "__esModule",
                "a",
                "b",
                "c-d",
                "e",
                "f",
                "g",
                "h i",
                "inner",
                "j",
                "k"
            ]
        );
        assert_eq!(a.reexports, ["./base.cjs", "./star.cjs", "./ts.cjs"]);
        assert_eq!(a.requires, ["./base.cjs", "./star.cjs", "./ts.cjs"]);
        // A lone surrogate cannot be an export name; it is left out, not mangled.
        assert_eq!(
            analyse("exports['\\uD800'] = 1; exports.ok = 2;").exports,
            ["ok"]
        );
        assert_eq!(
            analyse("this is not ( javascript").exports,
            Vec::<String>::new()
        );
    }

    #[test]
    fn wrapped_source_keeps_its_lines_and_quotes_names() {
        let deps = [(
            "./x\"y.js".to_string(),
            "lib/x\"y.js".to_string(),
            Required::Module,
        )];
        let names = ["a\"b".to_string(), "default".to_string(), "c".to_string()];
        let out = wrap("lib/m.cjs", "line1\nline2", &deps, &names);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("line1"));
        assert_eq!(lines[1], "line2");
        assert!(out.contains(r#"import * as __stockade_dep0 from "/lib/x\"y.js";"#));
        assert!(out.contains(r#"case "./x\"y.js": return __stockade_dep0;"#));
        assert!(out.contains(r#""/lib/m.cjs", "/lib""#));
        // The only exports: default and the named ones (never `default` twice, no internal name).
        assert!(lines[0].contains(
            r#"export { __stockade_cjs as default, __stockade_n0 as "a\"b", __stockade_n1 as "c" };"#
        ));
        assert_eq!(out.matches("export ").count(), 1, "{out}");
    }
}
