//! Position-preserving type stripping: a TypeScript module that uses only erasable syntax
//! (annotations, interfaces, type aliases, generics, `as`/`satisfies`/`!`, `declare`, overloads,
//! type-only and unused imports...) becomes JavaScript by replacing the TypeScript-only text
//! with spaces, so every line and column V8 reports (in `error.stack`, in console lines) is the
//! one the tenant wrote. This is the approach of Node's type stripping and `ts-blank-space`; it
//! works on oxc's AST, which `typescript.rs` has already built and checked.
//!
//! What is not erasable returns `None` and the module keeps the full transform: enums,
//! namespaces, parameter properties, `import =`, `export =`, `export as namespace`, decorators
//! and `accessor` fields (checked by the caller).
//!
//! Semantics are those of the transform (`oxc_transformer`'s TypeScript annotations pass):
//! imports whose bindings are never used as values are dropped (the whole declaration when no
//! binding is left), so are exports of types; class fields without initialiser stay (define
//! semantics); `declare` fields, index signatures, abstract members and overloads go.
//!
//! Guarantees: the output has the same lines, and the same UTF-16 columns on each line, as the
//! source (every blanked character becomes as many spaces as it has UTF-16 units; line
//! terminators stay). An erased statement or class member starts with `;`, so no automatic
//! semicolon insertion changes (`let x = a \n type T = 1 \n (b)` stays two statements); so does
//! an erased `as T`/`satisfies T` followed by `(`, `[` or a template (`x = a as T \n (b)`). The
//! caller parses the output again as JavaScript and falls back to the transform if that fails
//! (e.g. an arrow function whose return type spans lines, which would leave `)` and `=>` on
//! different lines). A type assertion `<T>` that spans a line end (`return <T>\n x`) is not
//! erased (the line end would end the `return`).
//!
//! Trusts: oxc's spans and its semantic analysis (reference flags, as the transform does).

use oxc::ast::ast::*;
use oxc::ast_visit::{walk, Visit};
use oxc::semantic::Scoping;
use oxc::span::{GetSpan, Span};
use oxc::syntax::scope::ScopeFlags;
use oxc::syntax::symbol::SymbolFlags;

/// The module with its TypeScript-only text blanked, or `None` when it has syntax that is not
/// erasable (or that this stage does not erase).
pub fn strip(source: &str, program: &Program<'_>, scoping: &Scoping) -> Option<String> {
    let mut blank = Blanker {
        source,
        scoping,
        mask: vec![Mark::Keep; source.len()],
        refused: false,
    };
    blank.visit_program(program);
    if blank.refused {
        return None;
    }
    Some(blank.render())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Keep,
    Blank,
    /// Blank, but a `;` in place of the first character.
    Semicolon,
}

struct Blanker<'s> {
    source: &'s str,
    scoping: &'s Scoping,
    mask: Vec<Mark>,
    refused: bool,
}

/// Whether a declaration has no JavaScript (an abstract class has: unlike oxc's
/// `is_typescript_syntax`, only `declare` makes a class TypeScript-only).
fn ts_only(decl: &Declaration<'_>) -> bool {
    match decl {
        Declaration::VariableDeclaration(v) => v.declare,
        Declaration::FunctionDeclaration(f) => f.is_typescript_syntax(),
        Declaration::ClassDeclaration(c) => c.declare,
        _ => true,
    }
}

fn is_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

impl Blanker<'_> {
    fn render(&self) -> String {
        let mut out = String::with_capacity(self.source.len());
        for (i, c) in self.source.char_indices() {
            match self.mask[i] {
                Mark::Keep => out.push(c),
                _ if is_line_terminator(c) => out.push(c),
                mark => {
                    let mut units = c.len_utf16();
                    if mark == Mark::Semicolon {
                        out.push(';');
                        units -= 1;
                    }
                    out.extend(std::iter::repeat_n(' ', units));
                }
            }
        }
        out
    }

    fn range(&self, start: u32, end: u32) -> Option<std::ops::Range<usize>> {
        let (start, end) = (start as usize, (end as usize).min(self.source.len()));
        (start < end).then_some(start..end)
    }

    fn blank(&mut self, start: u32, end: u32) {
        if let Some(r) = self.range(start, end) {
            for m in &mut self.mask[r] {
                if *m == Mark::Keep {
                    *m = Mark::Blank;
                }
            }
        }
    }

    /// Erases a whole statement or class member: `;` then spaces.
    fn erase(&mut self, span: Span) {
        if let Some(r) = self.range(span.start, span.end) {
            let first = r.start;
            for m in &mut self.mask[r] {
                *m = Mark::Blank;
            }
            self.mask[first] = Mark::Semicolon;
        }
    }

    /// Blanks every `?` and `!` between two offsets (an optional or definite marker between a
    /// name and what follows it).
    fn blank_markers(&mut self, start: u32, end: u32) {
        if let Some(r) = self.range(start, end) {
            let offset = r.start;
            for (i, b) in self.source.as_bytes()[r].iter().enumerate() {
                if matches!(b, b'?' | b'!') {
                    self.mask[offset + i] = Mark::Blank;
                }
            }
        }
    }

    /// Blanks the whole words `words` between two offsets (modifiers before a member's key).
    fn blank_words(&mut self, start: u32, end: u32, words: &[&str]) -> usize {
        let Some(r) = self.range(start, end) else {
            return 0;
        };
        let mut found = 0;
        let Some(text) = self.source.get(r.clone()) else {
            return 0;
        };
        let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if ident(bytes[i]) && (i == 0 || !ident(bytes[i - 1])) {
                let mut j = i;
                while j < bytes.len() && ident(bytes[j]) {
                    j += 1;
                }
                if words.contains(&&text[i..j]) {
                    let s = (r.start + i) as u32;
                    self.blank(s, s + (j - i) as u32);
                    found += 1;
                }
                i = j;
            } else {
                i += 1;
            }
        }
        found
    }

    /// Blanks the ` as T` or ` satisfies T` that ends an expression. TypeScript never continues
    /// such an expression with a call, an index or a template, so when one of `(`, `[` or `` ` ``
    /// comes next, a line break stood there and ended the statement (`x = a as T` ⏎ `(b)` is two
    /// statements); blanked to spaces, JavaScript would join them (`x = a(b)`), so the blank
    /// starts with `;`.
    fn blank_type_after(&mut self, start: u32, end: u32) {
        self.blank(start, end);
        if !matches!(self.next_significant(end), Some(b'(' | b'[' | b'`')) {
            return;
        }
        if let Some(r) = self.range(start, end) {
            let first = self.source[r.clone()]
                .char_indices()
                .find(|&(_, c)| !is_line_terminator(c))
                .map(|(i, _)| r.start + i);
            if let Some(first) = first {
                self.mask[first] = Mark::Semicolon;
            }
        }
    }

    /// The first byte at or after `from` that is neither whitespace nor in a comment.
    fn next_significant(&self, from: u32) -> Option<u8> {
        let mut rest = self.source.get(from as usize..)?;
        loop {
            // JavaScript's whitespace: Unicode's, and U+FEFF.
            rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            if let Some(comment) = rest.strip_prefix("//") {
                rest = comment
                    .find(is_line_terminator)
                    .map_or("", |i| &comment[i..]);
            } else if let Some(comment) = rest.strip_prefix("/*") {
                rest = comment.find("*/").map_or("", |i| &comment[i + 2..]);
            } else {
                return rest.as_bytes().first().copied();
            }
        }
    }

    /// The offset of the first non-whitespace byte at or after `from`, if it is `byte`.
    fn next_is(&self, from: u32, byte: u8) -> Option<u32> {
        let rest = self.source.get(from as usize..)?;
        let skipped = rest.len() - rest.trim_start().len();
        (rest.as_bytes().get(skipped) == Some(&byte)).then_some(from + skipped as u32)
    }

    /// The offset of the last non-whitespace byte before `to`, if it is `byte`.
    fn previous_is(&self, to: u32, byte: u8) -> Option<u32> {
        let before = self.source.get(..to as usize)?;
        let trimmed = before.trim_end();
        (trimmed.as_bytes().last() == Some(&byte)).then_some(trimmed.len() as u32 - 1)
    }

    /// Blanks one specifier of an import or export list and the comma that separates it.
    fn blank_specifier(&mut self, span: Span) {
        self.blank(span.start, span.end);
        if let Some(comma) = self.next_is(span.end, b',') {
            self.blank(comma, comma + 1);
        } else if let Some(comma) = self.previous_is(span.start, b',') {
            self.blank(comma, comma + 1);
        }
    }

    /// Whether an imported binding is used as a value (else the transform drops it).
    fn import_is_used(&self, id: &BindingIdentifier<'_>) -> bool {
        let Some(symbol) = id.symbol_id.get() else {
            return true;
        };
        if (self.scoping.symbol_flags(symbol) - SymbolFlags::Import).is_value() {
            return false;
        }
        self.scoping
            .get_resolved_references(symbol)
            .any(|reference| !reference.is_type())
    }

    /// Whether an exported local name is a type (else the transform keeps the export).
    fn export_refers_to_type(&self, name: &ModuleExportName<'_>) -> bool {
        match name {
            ModuleExportName::IdentifierReference(ident) => self.refers_to_type(ident),
            _ => false,
        }
    }

    /// Whether a name refers to a type (or to an ambient declaration only).
    fn refers_to_type(&self, ident: &IdentifierReference<'_>) -> bool {
        let Some(reference_id) = ident.reference_id.get() else {
            return false;
        };
        let reference = self.scoping.get_reference(reference_id);
        reference.symbol_id().is_some_and(|symbol| {
            reference.is_type()
                || self.scoping.symbol_flags(symbol).is_ambient()
                    && self
                        .scoping
                        .symbol_redeclarations(symbol)
                        .iter()
                        .all(|r| r.flags.is_ambient())
        })
    }

    /// A TypeScript-only declaration: erased when it is erasable, else the module is refused.
    fn declaration(&mut self, decl: &Declaration<'_>, span: Span) {
        match decl {
            Declaration::TSEnumDeclaration(e) if !e.declare => self.refused = true,
            Declaration::TSNamespaceDeclaration(n) if !n.declare => self.refused = true,
            Declaration::TSImportEqualsDeclaration(_) => self.refused = true,
            _ => self.erase(span),
        }
    }

    fn import(&mut self, decl: &ImportDeclaration<'_>) {
        if decl.import_kind.is_type() {
            return self.erase(decl.span);
        }
        let Some(specifiers) = &decl.specifiers else {
            return;
        };
        if specifiers.is_empty() {
            return;
        }
        let dropped: Vec<Span> = specifiers
            .iter()
            .filter_map(|s| {
                let kept = match s {
                    ImportDeclarationSpecifier::ImportSpecifier(s) => {
                        !s.import_kind.is_type() && self.import_is_used(&s.local)
                    }
                    ImportDeclarationSpecifier::ImportDefaultSpecifier(s) => {
                        self.import_is_used(&s.local)
                    }
                    ImportDeclarationSpecifier::ImportNamespaceSpecifier(s) => {
                        self.import_is_used(&s.local)
                    }
                };
                (!kept).then(|| s.span())
            })
            .collect();
        if dropped.len() == specifiers.len() {
            self.erase(decl.span);
        } else {
            for span in dropped {
                self.blank_specifier(span);
            }
        }
    }

    fn export_list(&mut self, span: Span, specifiers: &[ExportSpecifier<'_>], local: bool) {
        if specifiers.is_empty() {
            return;
        }
        let dropped: Vec<Span> = specifiers
            .iter()
            .filter(|s| s.export_kind.is_type() || (local && self.export_refers_to_type(&s.local)))
            .map(|s| s.span)
            .collect();
        if dropped.len() == specifiers.len() {
            self.erase(span);
        } else {
            for span in dropped {
                self.blank_specifier(span);
            }
        }
    }
}

impl<'a> Visit<'a> for Blanker<'_> {
    fn visit_statement(&mut self, stmt: &Statement<'a>) {
        if self.refused {
            return;
        }
        match stmt {
            Statement::ImportDeclaration(decl) => self.import(decl),
            Statement::ExportNamedDeclaration(decl) => {
                if decl.export_kind.is_type() {
                    self.erase(decl.span);
                } else {
                    self.export_list(decl.span, &decl.specifiers, true);
                }
            }
            Statement::ExportFromDeclaration(decl) => {
                if decl.export_kind.is_type() {
                    self.erase(decl.span);
                } else {
                    self.export_list(decl.span, &decl.specifiers, false);
                }
            }
            Statement::ExportAllDeclaration(decl) if decl.export_kind.is_type() => {
                self.erase(decl.span)
            }
            Statement::ExportDeclaration(decl) => {
                if ts_only(&decl.declaration) {
                    self.declaration(&decl.declaration, decl.span);
                } else {
                    walk::walk_export_declaration(self, decl);
                }
            }
            Statement::ExportDefaultDeclaration(decl) => {
                let type_name = matches!(&decl.declaration,
                    ExportDefaultDeclarationKind::Identifier(ident) if self.refers_to_type(ident));
                let ts_only = match &decl.declaration {
                    ExportDefaultDeclarationKind::FunctionDeclaration(f) => {
                        f.is_typescript_syntax()
                    }
                    ExportDefaultDeclarationKind::ClassDeclaration(c) => c.declare,
                    ExportDefaultDeclarationKind::TSInterfaceDeclaration(_) => true,
                    _ => false,
                };
                if ts_only || type_name {
                    self.erase(decl.span);
                } else {
                    walk::walk_export_default_declaration(self, decl);
                }
            }
            Statement::TSExportAssignment(_) | Statement::TSNamespaceExportDeclaration(_) => {
                self.refused = true;
            }
            _ => match stmt.as_declaration() {
                Some(decl) if ts_only(decl) => self.declaration(decl, stmt.span()),
                _ => walk::walk_statement(self, stmt),
            },
        }
    }

    fn visit_ts_type_annotation(&mut self, it: &TSTypeAnnotation<'a>) {
        self.blank(it.span.start, it.span.end);
    }

    fn visit_ts_type_parameter_declaration(&mut self, it: &TSTypeParameterDeclaration<'a>) {
        self.blank(it.span.start, it.span.end);
    }

    fn visit_ts_type_parameter_instantiation(&mut self, it: &TSTypeParameterInstantiation<'a>) {
        self.blank(it.span.start, it.span.end);
    }

    fn visit_ts_as_expression(&mut self, it: &TSAsExpression<'a>) {
        self.blank_type_after(it.expression.span().end, it.span.end);
        self.visit_expression(&it.expression);
    }

    fn visit_ts_satisfies_expression(&mut self, it: &TSSatisfiesExpression<'a>) {
        self.blank_type_after(it.expression.span().end, it.span.end);
        self.visit_expression(&it.expression);
    }

    fn visit_ts_non_null_expression(&mut self, it: &TSNonNullExpression<'a>) {
        self.blank(it.expression.span().end, it.span.end);
        self.visit_expression(&it.expression);
    }

    fn visit_ts_type_assertion(&mut self, it: &TSTypeAssertion<'a>) {
        let start = it.expression.span().start;
        let prefix = self
            .source
            .get(it.span.start as usize..start as usize)
            .unwrap_or("\n");
        if prefix.contains(is_line_terminator) {
            self.refused = true;
            return;
        }
        self.blank(it.span.start, start);
        self.visit_expression(&it.expression);
    }

    fn visit_formal_parameter(&mut self, it: &FormalParameter<'a>) {
        if it.accessibility.is_some() || it.readonly || it.r#override {
            self.refused = true;
            return;
        }
        if it.optional {
            let end = it.type_annotation.as_ref().map_or_else(
                || {
                    it.initializer
                        .as_ref()
                        .map_or(it.span.end, |i| i.span().start)
                },
                |t| t.span.start,
            );
            self.blank_markers(it.pattern.span().end, end);
        }
        walk::walk_formal_parameter(self, it);
    }

    fn visit_function(&mut self, it: &Function<'a>, flags: ScopeFlags) {
        if let Some(this) = &it.this_param {
            match it.params.items.first() {
                Some(first) => self.blank(this.span.start, first.span.start),
                None => {
                    self.blank(this.span.start, this.span.end);
                    if let Some(comma) = self.next_is(this.span.end, b',') {
                        self.blank(comma, comma + 1);
                    }
                }
            }
        }
        walk::walk_function(self, it, flags);
    }

    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        if it.definite {
            let end = it
                .type_annotation
                .as_ref()
                .map_or(it.span.end, |t| t.span.start);
            self.blank_markers(it.id.span().end, end);
        }
        walk::walk_variable_declarator(self, it);
    }

    fn visit_class(&mut self, it: &Class<'a>) {
        if it.r#abstract {
            let end = it
                .id
                .as_ref()
                .map_or(it.body.span.start, |id| id.span.start);
            if self.blank_words(it.span.start, end, &["abstract"]) == 0 {
                self.refused = true;
            }
        }
        if let (Some(first), Some(last)) = (it.implements.first(), it.implements.last()) {
            let head = self.source.get(..first.span.start as usize).unwrap_or("");
            match head.rfind("implements") {
                Some(at) if at as u32 >= it.span.start => self.blank(at as u32, last.span.end),
                _ => self.refused = true,
            }
        }
        walk::walk_class(self, it);
    }

    fn visit_class_element(&mut self, it: &ClassElement<'a>) {
        const MODIFIERS: &[&str] = &["public", "private", "protected", "readonly", "override"];
        match it {
            ClassElement::TSIndexSignature(sig) => self.erase(sig.span),
            ClassElement::MethodDefinition(m) => {
                if m.r#type.is_abstract() || m.value.body.is_none() {
                    return self.erase(m.span);
                }
                self.blank_words(m.span.start, m.key.span().start, MODIFIERS);
                if m.optional {
                    let end = m
                        .value
                        .type_parameters
                        .as_ref()
                        .map_or(m.value.params.span.start, |t| t.span.start);
                    self.blank_markers(m.key.span().end, end);
                }
                walk::walk_method_definition(self, m);
            }
            ClassElement::PropertyDefinition(p) => {
                if p.r#type.is_abstract() || p.declare {
                    return self.erase(p.span);
                }
                self.blank_words(p.span.start, p.key.span().start, MODIFIERS);
                if p.optional || p.definite {
                    let end = p.type_annotation.as_ref().map_or_else(
                        || p.value.as_ref().map_or(p.span.end, |v| v.span().start),
                        |t| t.span.start,
                    );
                    self.blank_markers(p.key.span().end, end);
                }
                walk::walk_property_definition(self, p);
            }
            ClassElement::AccessorProperty(_) => self.refused = true,
            ClassElement::StaticBlock(_) => walk::walk_class_element(self, it),
        }
    }
}
