//! The prelude's lazy parts: parts most requests never touch (the `node:*` modules, URLPattern,
//! HTMLRewriter, ...) are kept out of the startup snapshot, so a fresh isolate does not
//! deserialise them, and are compiled and evaluated in an isolate on first use.
//!
//! How: [`assemble`] splits the prelude into the eager script (evaluated into the snapshot) and
//! one source per [`LazyGroup`]. A group's parts become the body of a function compiled natively
//! by the bridge (`compileLazy`, a host primitive only the prelude holds; `v8::ScriptCompiler::
//! CompileFunction` over the source kept outside the V8 heap) whose parameters are every name the
//! parts use from outside themselves: the prelude's own bindings, passed when the group is built,
//! and the globals, captured while the snapshot is made (so a tenant who replaced a global before
//! the first use is not seen). In the eager script a stub (`lazyPart`, js/lazy.js) takes the
//! group's place: it registers the group's globals as lazy data properties and its built-in
//! modules by name (their export names are read here from the source), built on first access.
//!
//! Guarantees, checked here when the engine starts (a violation is an engine error, so a test
//! fails): no eager code uses a name a lazy group declares; a lazy group assigns no outer name;
//! the prelude bindings it uses are not reassigned once the prelude ran (it receives them once,
//! by value); it defines
//! exactly the globals its [`LazyGroup`] lists; and its top level (what runs when it is built,
//! possibly after tenant code) reads no property of an outer object but a constructor's
//! `prototype` or a well-known symbol, and iterates nothing (tenant code may have replaced any
//! method and the array iterator by then). Function bodies are not checked: they run after tenant
//! code whether the part is eager or lazy. Trusts: oxc's parser and scope analysis.

use std::collections::{BTreeMap, BTreeSet};

use oxc::allocator::Allocator;
use oxc::ast::ast::{
    Argument, ArrayPattern, ArrowFunctionExpression, BindingPattern, ComputedMemberExpression,
    Expression, ForOfStatement, Function, SpreadElement, Statement, StaticMemberExpression,
};
use oxc::ast_visit::Visit;
use oxc::parser::Parser;
use oxc::semantic::{Scoping, SemanticBuilder};
use oxc::span::{GetSpan, SourceType};
use oxc::syntax::scope::ScopeFlags;

/// Parts of the prelude built on first use, and the globals each defines.
pub(crate) struct LazyGroup {
    /// A name for stack traces (`stockade:lazy/<name>`).
    pub name: &'static str,
    /// Its parts (file names of `PRELUDE_PARTS`), evaluated in the parts list's order.
    pub parts: &'static [&'static str],
    /// The globals its parts define (`defineGlobal`), lazy data properties until first read.
    pub globals: &'static [&'static str],
}

/// The lazy groups (see the module comment; the figures behind the choice are in issue 8).
pub(crate) const LAZY_GROUPS: &[LazyGroup] = &[
    LazyGroup {
        name: "node",
        parts: &[
            "node-buffer.js",
            "node-buffer-rw.js",
            "node-events.js",
            "node-util.js",
            "node-assert.js",
            "node-path.js",
            "node-process.js",
            "node-hash.js",
            "node-crypto.js",
        ],
        globals: &[],
    },
    LazyGroup {
        name: "urlpattern",
        parts: &["urlpattern.js"],
        globals: &["URLPattern"],
    },
    LazyGroup {
        name: "rewriter",
        parts: &["rewriter.js"],
        globals: &["HTMLRewriter"],
    },
    LazyGroup {
        name: "cache",
        parts: &["cache.js"],
        globals: &["Cache", "CacheStorage", "caches"],
    },
];

/// Globals a lazy group reads live instead of receiving their value from the snapshot: values
/// that cannot change (`undefined`, `NaN`, `Infinity`), the global object itself, what V8 or the
/// worker's configuration installs after the snapshot (`WebAssembly`, `Float16Array`, `Buffer`,
/// `process`), and names strict mode forbids as parameters.
const LIVE_GLOBALS: &[&str] = &[
    "globalThis",
    "undefined",
    "NaN",
    "Infinity",
    "WebAssembly",
    "Float16Array",
    "Buffer",
    "process",
    "eval",
    "arguments",
];

/// Prelude helpers a lazy group receives in a version of its own (js/lazy.js): the first
/// parameters of every group's function.
const OVERRIDDEN: &[&str] = &["defineGlobal", "defineBuiltin", "exposeInterface"];

/// One lazy group, ready for the bridge.
pub(crate) struct LazyUnit {
    /// `stockade:lazy/<name>`.
    pub origin: String,
    /// The function body (printed compact, strict).
    pub source: String,
    /// Its parameter names, newline-separated.
    pub params: String,
}

/// The runtime script and its lazy groups.
pub(crate) struct Assembled {
    pub script: String,
    pub lazy: Vec<LazyUnit>,
}

/// The file name a part's header names (`// ---- name.js: ...`).
pub(crate) fn part_name(part: &str) -> &str {
    part.strip_prefix("// ---- ")
        .and_then(|rest| rest.split([':', ' ']).next())
        .unwrap_or("")
}

/// What a lazy group's source declares and uses.
struct GroupFacts {
    free: BTreeSet<String>,
    declared: BTreeSet<String>,
    /// `defineBuiltin(name, names, ...)` at its top level: (name, the names array's source).
    builtins: Vec<(String, String)>,
    /// `defineGlobal("Name", ...)` and `exposeInterface(Class, "Name")` at its top level.
    globals: BTreeSet<String>,
}

fn parse_errors(what: &str, errors: &[oxc::diagnostics::OxcDiagnostic]) -> Result<(), String> {
    match errors.first() {
        None => Ok(()),
        Some(e) => Err(format!("{what} does not parse: {e}")),
    }
}

fn group_facts(name: &str, src: &str) -> Result<GroupFacts, String> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, src, SourceType::cjs()).parse();
    parse_errors(&format!("lazy group {name}"), &parsed.diagnostics)?;
    let semantic = SemanticBuilder::new().build(&parsed.program);
    parse_errors(&format!("lazy group {name}"), &semantic.diagnostics)?;
    let scoping = semantic.semantic.scoping();
    let mut free = BTreeSet::new();
    for (ident, refs) in scoping.root_unresolved_references() {
        if refs.iter().any(|r| scoping.get_reference(*r).is_write()) {
            return Err(format!(
                "lazy group {name} assigns to `{ident}`, an outer name"
            ));
        }
        free.insert(ident.as_str().to_string());
    }
    let declared = scoping
        .get_bindings(scoping.root_scope_id())
        .keys()
        .map(|k| k.as_str().to_string())
        .collect();
    let mut check = TopLevelCheck {
        scoping,
        problems: Vec::new(),
    };
    check.visit_program(&parsed.program);
    if !check.problems.is_empty() {
        return Err(format!("lazy group {name}: {}", check.problems.join("; ")));
    }
    let mut facts = GroupFacts {
        free,
        declared,
        builtins: Vec::new(),
        globals: BTreeSet::new(),
    };
    for stmt in &parsed.program.body {
        let Statement::ExpressionStatement(e) = stmt else {
            continue;
        };
        let Expression::CallExpression(call) = &e.expression else {
            continue;
        };
        let Expression::Identifier(callee) = &call.callee else {
            continue;
        };
        if callee.name == "exposeInterface" {
            if let Some(Argument::StringLiteral(tag)) = call.arguments.get(1) {
                facts.globals.insert(tag.value.to_string());
            }
            continue;
        }
        let Some(Argument::StringLiteral(first)) = call.arguments.first() else {
            continue;
        };
        match callee.name.as_str() {
            "defineGlobal" => {
                facts.globals.insert(first.value.to_string());
            }
            "defineBuiltin" => {
                let names = match call.arguments.get(1) {
                    Some(Argument::ArrayExpression(a)) => a.span.source_text(src).to_string(),
                    Some(Argument::Identifier(id)) => {
                        const_array(&parsed.program.body, src, &id.name).ok_or_else(|| {
                            format!(
                                "lazy group {name}: the names of {} are not a top-level array",
                                first.value
                            )
                        })?
                    }
                    _ => {
                        return Err(format!(
                            "lazy group {name}: the names of {} are not an array",
                            first.value
                        ))
                    }
                };
                facts.builtins.push((first.value.to_string(), names));
            }
            _ => {}
        }
    }
    Ok(facts)
}

/// The source of `const <ident> = [...]` at the top level of `body`.
fn const_array(body: &[Statement<'_>], src: &str, ident: &str) -> Option<String> {
    body.iter().find_map(|stmt| {
        let Statement::VariableDeclaration(decl) = stmt else {
            return None;
        };
        decl.declarations
            .iter()
            .find_map(|d| match (&d.id, &d.init) {
                (BindingPattern::BindingIdentifier(id), Some(Expression::ArrayExpression(a)))
                    if id.name == ident =>
                {
                    Some(a.span.source_text(src).to_string())
                }
                _ => None,
            })
    })
}

/// Finds, outside function bodies, reads of an outer object's properties (but `prototype` and
/// `Symbol.*`) and iteration (spread, `for...of`, array destructuring).
struct TopLevelCheck<'s> {
    scoping: &'s Scoping,
    problems: Vec<String>,
}

impl TopLevelCheck<'_> {
    /// The outer name a member chain starts from, when every step is a `prototype` read.
    fn outer_root(&self, object: &Expression<'_>) -> Option<String> {
        match object {
            Expression::Identifier(id) => {
                let free = id
                    .reference_id
                    .get()
                    .is_some_and(|r| self.scoping.get_reference(r).symbol_id().is_none());
                free.then(|| id.name.to_string())
            }
            Expression::StaticMemberExpression(m) if m.property.name == "prototype" => {
                self.outer_root(&m.object)
            }
            _ => None,
        }
    }
}

impl<'a> Visit<'a> for TopLevelCheck<'_> {
    fn visit_function(&mut self, _it: &Function<'a>, _flags: ScopeFlags) {}
    fn visit_arrow_function_expression(&mut self, _it: &ArrowFunctionExpression<'a>) {}
    fn visit_static_member_expression(&mut self, it: &StaticMemberExpression<'a>) {
        if it.property.name != "prototype" {
            if let Some(root) = self.outer_root(&it.object) {
                if root != "Symbol" {
                    self.problems.push(format!(
                        "its top level reads `{}` of `{root}`: capture it in an eager part",
                        it.property.name
                    ));
                }
            }
        }
        oxc::ast_visit::walk::walk_static_member_expression(self, it);
    }
    fn visit_computed_member_expression(&mut self, it: &ComputedMemberExpression<'a>) {
        if let Some(root) = self.outer_root(&it.object) {
            self.problems
                .push(format!("its top level reads a computed member of `{root}`"));
        }
        oxc::ast_visit::walk::walk_computed_member_expression(self, it);
    }
    fn visit_spread_element(&mut self, it: &SpreadElement<'a>) {
        self.problems
            .push(format!("its top level spreads (at {})", it.span().start));
        oxc::ast_visit::walk::walk_spread_element(self, it);
    }
    fn visit_for_of_statement(&mut self, it: &ForOfStatement<'a>) {
        self.problems
            .push(format!("its top level iterates (at {})", it.span.start));
        oxc::ast_visit::walk::walk_for_of_statement(self, it);
    }
    fn visit_array_pattern(&mut self, it: &ArrayPattern<'a>) {
        self.problems.push(format!(
            "its top level destructures an array (at {})",
            it.span.start
        ));
        oxc::ast_visit::walk::walk_array_pattern(self, it);
    }
}

/// The bindings of the prelude's function scope (`stockadePrelude`) and whether each may be
/// reassigned after the prelude ran, and the names the eager script leaves unresolved.
struct EagerFacts {
    bindings: BTreeMap<String, bool>,
    unresolved: BTreeSet<String>,
}

fn eager_facts(src: &str) -> Result<EagerFacts, String> {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, src, SourceType::cjs()).parse();
    parse_errors("the eager prelude", &parsed.diagnostics)?;
    let semantic = SemanticBuilder::new().build(&parsed.program);
    parse_errors("the eager prelude", &semantic.diagnostics)?;
    let scoping = semantic.semantic.scoping();
    let prelude = scoping
        .symbol_ids()
        .find(|s| scoping.symbol_name(*s) == "stockadePrelude")
        .ok_or("the prelude's function `stockadePrelude` is missing")?;
    let scope = scoping.symbol_scope_id(prelude);
    // Written inside a function (arrow, method, ...) below the prelude's scope: may change after
    // the prelude ran. Writes at its top level and in class static blocks are done by then.
    let written_later = |symbol| {
        scoping.get_resolved_references(symbol).any(|r| {
            r.is_write()
                && scoping
                    .scope_ancestors(r.scope_id())
                    .take_while(|s| *s != scope)
                    .any(|s| scoping.scope_flags(s).contains(ScopeFlags::Function))
        })
    };
    let bindings = scoping
        .get_bindings(scope)
        .iter()
        .map(|(name, symbol)| (name.as_str().to_string(), written_later(*symbol)))
        .collect();
    let unresolved = scoping
        .root_unresolved_references()
        .keys()
        .map(|k| k.as_str().to_string())
        .collect();
    Ok(EagerFacts {
        bindings,
        unresolved,
    })
}

/// Splits `head` (the runtime's wrapper) followed by `parts` (the prelude, in order) into the
/// eager script and the lazy groups of `groups`; see the module comment for what is checked.
/// Both come out printed compact by `print`.
pub(crate) fn assemble(
    head: &str,
    parts: &[&str],
    groups: &[LazyGroup],
    print: impl Fn(String) -> String,
) -> Result<Assembled, String> {
    let group_of = |part: &str| {
        let name = part_name(part);
        groups.iter().position(|g| g.parts.contains(&name))
    };
    let mut sources = vec![String::new(); groups.len()];
    let (mut before, mut end) = (head.to_string(), String::new());
    for part in parts {
        match group_of(part) {
            Some(g) => {
                sources[g].push_str(part);
                sources[g].push('\n');
            }
            None if part_name(part) == "prelude-end.js" => end.push_str(part),
            None => {
                before.push_str(part);
                before.push('\n');
            }
        }
    }
    if end.is_empty() {
        return Err("the prelude has no prelude-end.js".into());
    }
    for group in groups {
        let found = group
            .parts
            .iter()
            .filter(|p| parts.iter().any(|q| part_name(q) == **p));
        if found.count() != group.parts.len() {
            return Err(format!(
                "lazy group {} names a part the prelude lacks",
                group.name
            ));
        }
    }
    let eager = eager_facts(&format!("{before}{end}"))?;
    let facts: Vec<GroupFacts> = groups
        .iter()
        .zip(&sources)
        .map(|(g, src)| group_facts(g.name, src))
        .collect::<Result<_, _>>()?;
    let lazy_globals: BTreeSet<&str> = groups
        .iter()
        .flat_map(|g| g.globals.iter().copied())
        .collect();
    let mut stubs = String::new();
    let mut lazy = Vec::new();
    for (index, (group, facts)) in groups.iter().zip(&facts).enumerate() {
        let used: Vec<&String> = facts
            .declared
            .iter()
            .filter(|n| eager.unresolved.contains(*n))
            .collect();
        if !used.is_empty() {
            return Err(format!(
                "eager code uses {used:?}, which lazy group {} declares",
                group.name
            ));
        }
        let listed: BTreeSet<String> = group.globals.iter().map(|s| s.to_string()).collect();
        if listed != facts.globals {
            return Err(format!(
                "lazy group {} defines the globals {:?}, its LazyGroup lists {listed:?}",
                group.name, facts.globals
            ));
        }
        let mut globals = Vec::new();
        let mut prelude = Vec::new();
        for name in &facts.free {
            if OVERRIDDEN.contains(&name.as_str()) {
                continue;
            }
            match eager.bindings.get(name) {
                Some(true) => {
                    return Err(format!(
                        "lazy group {} uses `{name}`, which the prelude may reassign later",
                        group.name
                    ))
                }
                Some(false) => prelude.push(name.as_str()),
                None if LIVE_GLOBALS.contains(&name.as_str()) => {}
                None if lazy_globals.contains(name.as_str()) => {
                    return Err(format!(
                        "lazy group {} uses `{name}`, another lazy group's global",
                        group.name
                    ))
                }
                None => globals.push(name.as_str()),
            }
        }
        let quoted = |names: &[&str]| {
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let builtins = facts
            .builtins
            .iter()
            .map(|(name, names)| format!("[{name:?},{names}]"))
            .collect::<Vec<_>>()
            .join(",");
        let args: Vec<String> = OVERRIDDEN
            .iter()
            .map(|s| s.to_string())
            .chain((0..globals.len()).map(|i| format!("g[{i}]")))
            .chain(prelude.iter().map(|s| s.to_string()))
            .collect();
        stubs.push_str(&format!(
            "lazyPart({index},[{}],[{builtins}],[{}],(f,g,{}) => f({}));\n",
            quoted(group.globals),
            globals.join(","),
            OVERRIDDEN.join(","),
            args.join(","),
        ));
        let params: Vec<&str> = OVERRIDDEN
            .iter()
            .copied()
            .chain(globals.iter().copied())
            .chain(prelude.iter().copied())
            .collect();
        lazy.push(LazyUnit {
            origin: format!("stockade:lazy/{}", group.name),
            source: print(format!("'use strict';\n{}", sources[index])),
            params: params.join("\n"),
        });
    }
    Ok(Assembled {
        script: print(format!("{before}{stubs}{end}")),
        lazy,
    })
}
