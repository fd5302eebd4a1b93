//! What the lazy groups' sources declare and use, read with oxc's parser and scope analysis
//! (see the parent module for why each fact matters): a group's free names, its top-level
//! declarations, built-in modules and globals, what its top level reads of outer objects, and
//! which of the prelude's bindings may change after the prelude ran.

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

/// What a lazy group's source declares and uses.
pub(super) struct GroupFacts {
    pub free: BTreeSet<String>,
    pub declared: BTreeSet<String>,
    /// `defineBuiltin(name, names, ...)` at its top level: (name, the source of the names array
    /// or of the arrow function that lists them).
    pub builtins: Vec<(String, String)>,
    /// `defineGlobal("Name", ...)` and `exposeInterface(Class, "Name")` at its top level.
    pub globals: BTreeSet<String>,
}

fn parse_errors(what: &str, errors: &[oxc::diagnostics::OxcDiagnostic]) -> Result<(), String> {
    match errors.first() {
        None => Ok(()),
        Some(e) => Err(format!("{what} does not parse: {e}")),
    }
}

pub(super) fn group_facts(name: &str, src: &str) -> Result<GroupFacts, String> {
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
                    // Names listed at first import (builtins.js's builtinNames): the arrow is
                    // copied into the eager stub, so it may use only the prelude's bindings.
                    Some(Argument::ArrowFunctionExpression(f)) => {
                        f.span.source_text(src).to_string()
                    }
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
pub(super) struct EagerFacts {
    pub bindings: BTreeMap<String, bool>,
    pub unresolved: BTreeSet<String>,
}

pub(super) fn eager_facts(src: &str) -> Result<EagerFacts, String> {
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
