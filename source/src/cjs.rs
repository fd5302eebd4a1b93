//! CommonJS modules (Cloudflare's `{"cjs": "..."}` module kind) as ES modules V8 can link.
//!
//! A CommonJS module becomes an ES module that imports the modules its `require("...")` calls
//! name (string literals that resolve to a module of the set) and runs the source inside
//! `function (exports, require, module, __filename, __dirname)` with `this` = `module.exports`,
//! once, the first time it is imported or required. Its default export is `module.exports`. It
//! also exports the function `__stockade_cjs` that runs it (a hoisted function, so a `require`
//! cycle between CommonJS modules gets the partial exports, as in Node). `require` of an ES module
//! gives its namespace; of a JSON, text, data or wasm module its default export.
//!
//! Differences from Node, documented in the README: the source runs in strict mode (it is
//! compiled as an ES module; V8 has no sloppy-mode functions without `new Function`, which the
//! engine refuses), a required module runs before the module that requires it (ES imports are
//! evaluated first; in a `require` cycle the module reached last by the import order starts
//! first, and the other sees its partial exports), and `require` of anything but a string
//! literal naming a module of the set throws `Cannot find module` when called.
//!
//! Guarantees: the source is inserted verbatim after a one-line prefix, so positions past the
//! first line are the tenant's own; generated names start with `__stockade_`; specifiers are
//! written as JSON strings (no injection through a module name). Parsing is bounded like
//! [`crate::loader::imports_of`]'s.

use oxc::ast::ast::{Argument, CallExpression, Expression};
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

/// The specifiers of `require("...")` calls with a string-literal argument, sorted, unique.
/// A source that does not parse (or nests too deep) has none: compiling it reports the error.
pub fn requires(source: &str) -> Vec<String> {
    if crate::nesting::check(source, crate::nesting::MAX_NESTING).is_err() {
        return Vec::new();
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("stockade-cjs".into())
            .stack_size(crate::nesting::STACK_BYTES)
            .spawn_scoped(scope, || parse_requires(source))
            .ok()
            .and_then(|helper| helper.join().ok())
            .unwrap_or_default()
    })
}

fn parse_requires(source: &str) -> Vec<String> {
    let allocator = oxc::allocator::Allocator::default();
    let parsed = oxc::parser::Parser::new(&allocator, source, oxc::span::SourceType::cjs()).parse();
    let mut found = RequireCalls(Vec::new());
    found.visit_program(&parsed.program);
    let mut names = found.0;
    names.sort();
    names.dedup();
    names
}

struct RequireCalls(Vec<String>);

impl<'a> Visit<'a> for RequireCalls {
    fn visit_call_expression(&mut self, call: &CallExpression<'a>) {
        if let (Expression::Identifier(callee), [Argument::StringLiteral(arg)]) =
            (&call.callee, call.arguments.as_slice())
        {
            if callee.name == "require" {
                self.0.push(arg.value.to_string());
            }
        }
        walk::walk_call_expression(self, call);
    }
}

/// The ES module for CommonJS module `name` (normalised) with `source`; `deps` are the required
/// specifiers that name modules of the set: (specifier as written, resolved name, kind).
pub fn wrap(name: &str, source: &str, deps: &[(String, String, Required)]) -> String {
    let json = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = String::with_capacity(source.len() + 1024);
    let mut cases = String::new();
    for (i, (specifier, resolved, kind)) in deps.iter().enumerate() {
        out.push_str(&format!(
            "import * as __stockade_dep{i} from {}; ",
            json(&format!("/{resolved}"))
        ));
        let value = match kind {
            Required::CommonJs => format!("__stockade_dep{i}.__stockade_cjs()"),
            Required::Module => format!("__stockade_dep{i}"),
            Required::Default => format!("__stockade_dep{i}.default"),
        };
        cases.push_str(&format!("case {}: return {value}; ", json(specifier)));
    }
    out.push_str(
        "var __stockade_module; export function __stockade_cjs() { \
         if (__stockade_module !== undefined) return __stockade_module.exports; \
         const module = { exports: {} }; __stockade_module = module; \
         (function (exports, require, module, __filename, __dirname) {",
    );
    out.push_str(source);
    out.push_str(&format!(
        "\n}}).call(module.exports, module.exports, __stockade_require, module, {}, {});\n\
         return module.exports;\n}}\n\
         function __stockade_require(specifier) {{\n\
         switch (specifier) {{ {cases}}}\n\
         throw new Error(`Cannot find module '${{specifier}}' from {}: require() finds the \
         worker's own modules, named by a string literal`);\n}}\n\
         export default __stockade_cjs();\n",
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
    fn wrapped_source_keeps_its_lines_and_quotes_names() {
        let deps = [(
            "./x\"y.js".to_string(),
            "lib/x\"y.js".to_string(),
            Required::Module,
        )];
        let out = wrap("lib/m.cjs", "line1\nline2", &deps);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("line1"));
        assert_eq!(lines[1], "line2");
        assert!(out.contains(r#"import * as __stockade_dep0 from "/lib/x\"y.js";"#));
        assert!(out.contains(r#"case "./x\"y.js": return __stockade_dep0;"#));
        assert!(out.contains(r#""/lib/m.cjs", "/lib""#));
    }
}
