//! TC39 standard decorators and `accessor` fields, lowered with swc's decorators pass (the
//! 2023-11 version of the proposal: what TypeScript 5 emits, with `context.metadata` and
//! `context.access.has`) so that V8 13.6, which parses neither, runs them. The 2023-11 pass, not
//! the 2022-03 one: 2022-03 has no `context.metadata`, and on a public behaviour suite of the
//! proposal (765 checks) it failed 145 checks where 2023-11 fails 29 (all corner cases: no
//! inferred name for an anonymous decorated class expression, the evaluation order of
//! decorators that read private names, two metadata cases). CommonJS modules are not lowered.
//!
//! Where it runs: after oxc (`typescript.rs`) has parsed and, for TypeScript, stripped the types,
//! and only when oxc's AST holds a decorator or an `accessor` field ([`Found`]): most modules
//! have neither and never reach swc. swc sees JavaScript, not TypeScript, for three reasons: oxc
//! stays the one TypeScript front end (one set of TS rules and messages, its arena bounds the
//! TS parser's speculative parses); swc's JavaScript parser has no speculative type-argument
//! parses to bound; and the same stage then serves plain `.js` modules, which reach it with
//! their source unchanged. Positions survive: swc's generated→input mappings are composed with
//! oxc's (for TypeScript), so a throw in decorated code reports the line the tenant wrote.
//!
//! Guarantees, against hostile sources:
//! - Nesting: swc recurses deeper per nesting level than oxc, so the input is checked against
//!   [`MAX_NESTING`] (lower than the pipeline's) before swc parses; deeper is a syntax error,
//!   never a stack overflow of the helper thread (which has `nesting::STACK_BYTES`).
//! - Memory: swc allocates from the global allocator, not from oxc's capped arena. It only ever
//!   sees a module oxc has parsed within that arena, its use is linear in the input (no
//!   speculative parses in JavaScript) and so is its output (printed without indentation, which
//!   would be quadratic in the nesting); an input larger than the memory limit over
//!   [`BYTES_PER_BYTE`] is refused as `Limit(Heap)` before swc starts.
//! - CPU: runs on the caller's helper thread, whose CPU time is charged to the request.
//! - Errors are typed: a parse error is a `Syntax` error at the input's position; a panic in swc is
//!   caught by the caller (`typescript.rs`) and reported as a failed transformation.
//!
//! Trusts: swc's parser, resolver, decorators pass, hygiene, fixer and printer (memory-safe Rust,
//! pinned to exact versions in `isolate/Cargo.toml`); its helper injection only for the helper
//! statements, whose scoping is redone here ([`helper_statements`]). The helper it inlines
//! (`_apply_decs_2311`, Babel's runtime for the proposal) runs as tenant code in the isolate.

use oxc::ast::ast::{AccessorProperty, Decorator};
use oxc::ast_visit::{walk, Visit};
use swc_common::sync::Lrc;
use swc_common::{
    BytePos, FileName, Globals, Mark, SourceMap as SwcSourceMap, Spanned, SyntaxContext, DUMMY_SP,
    GLOBALS,
};
use swc_ecma_ast::{EsVersion, Ident, Module, ModuleItem, Program, Script, Stmt};
use swc_ecma_codegen::text_writer::JsWriter;
use swc_ecma_codegen::{Config, Emitter};
use swc_ecma_parser::{EsSyntax, Parser, StringInput, Syntax};
use swc_ecma_transforms_base::fixer::fixer;
use swc_ecma_transforms_base::helpers::{inject_helpers, Helpers, HELPERS};
use swc_ecma_transforms_base::hygiene::hygiene;
use swc_ecma_transforms_base::resolver;
use swc_ecma_transforms_proposal::decorator_2023_11::decorator_2023_11;
use swc_ecma_visit::{VisitMut, VisitMutWith};

use super::map::Mapping;
use crate::error::{LimitKind, RunError};

/// The deepest nesting swc is given. Measured in an unoptimised build: every shape of
/// `tests::a_deep_decorated_module_is_a_syntax_error_not_a_crash` (arrays, calls, objects,
/// closures, decorated class expressions, templates) lowers at twice this depth on the helper
/// thread's stack, so swc takes under 32 KiB per level and this bound leaves a margin of two.
pub const MAX_NESTING: u32 = 1000;

/// The input swc is given may be at most the memory limit over this (1 MiB under the default
/// 128 MiB). Measured in release (`tests::hostile_shapes_cost_of_the_decorators_stage`): a
/// 0.94 MB decorated module raised the process's peak memory by 80 MiB for oxc and swc together
/// (about 85 bytes per byte) and took 0.7 s of CPU; realistic decorated modules are a few KB.
pub const BYTES_PER_BYTE: usize = 128;

/// Finds the first decorator or `accessor` field in oxc's AST: its byte offset.
#[derive(Default)]
pub struct Found {
    pub first: Option<u32>,
}

impl<'a> Visit<'a> for Found {
    fn visit_decorator(&mut self, it: &Decorator<'a>) {
        self.first.get_or_insert(it.span.start);
    }

    fn visit_accessor_property(&mut self, it: &AccessorProperty<'a>) {
        // Decorators on the field come first in the source.
        walk::walk_accessor_property(self, it);
        self.first.get_or_insert(it.span.start);
    }
}

/// A parse error of swc's, at a byte offset of its input.
#[derive(Debug)]
pub struct ParseError {
    pub message: String,
    pub offset: usize,
}

/// Why [`lower`] failed.
#[derive(Debug)]
pub enum Failure {
    /// The input does not parse (or nests too deep): a syntax error at this offset of the input.
    Parse(ParseError),
    /// Any other error: the memory limit, or printing failed.
    Run(RunError),
}

/// Lowers the decorators and `accessor` fields of the JavaScript module `js` (named `name`):
/// the generated code and its mappings back to positions in `js`.
pub fn lower(name: &str, js: &str, memory_bytes: usize) -> Result<(String, Vec<Mapping>), Failure> {
    if js.len().saturating_mul(BYTES_PER_BYTE) > memory_bytes {
        return Err(Failure::Run(RunError::Limit(LimitKind::Heap)));
    }
    if let Err(refusal) = stockade_source::nesting::check(js, MAX_NESTING) {
        let (message, offset) = match refusal {
            stockade_source::nesting::Refusal::TooDeep { offset } => (
                format!("a module with decorators may nest at most {MAX_NESTING} levels"),
                offset,
            ),
            stockade_source::nesting::Refusal::AmbiguousSlash { offset } => (
                "this '/' after '}' could start a regular expression or divide, and the two \
                 readings differ; add parentheses or a semicolon"
                    .to_string(),
                offset,
            ),
        };
        return Err(Failure::Parse(ParseError { message, offset }));
    }
    GLOBALS.set(&Globals::new(), || {
        HELPERS.set(&Helpers::new(false), || lower_in_globals(name, js))
    })
}

fn lower_in_globals(name: &str, js: &str) -> Result<(String, Vec<Mapping>), Failure> {
    let cm: Lrc<SwcSourceMap> = Lrc::default();
    let file = cm.new_source_file(Lrc::new(FileName::Custom(name.into())), js.to_string());
    let start = file.start_pos;
    let offset_of = |pos: BytePos| pos.0.saturating_sub(start.0) as usize;
    let syntax = Syntax::Es(EsSyntax {
        decorators: true,
        decorators_before_export: true,
        auto_accessors: true,
        explicit_resource_management: true,
        ..EsSyntax::default()
    });
    let mut parser = Parser::new(syntax, StringInput::from(&*file), None);
    let parsed = parser.parse_module();
    let first_error = parser.take_errors().into_iter().next();
    let module = match (parsed, first_error) {
        (Err(e), _) | (Ok(_), Some(e)) => {
            return Err(Failure::Parse(ParseError {
                message: e.kind().msg().into_owned(),
                offset: offset_of(e.span().lo),
            }))
        }
        (Ok(module), None) => module,
    };
    let mut program = Program::Module(module);
    let unresolved = Mark::new();
    let top_level = Mark::new();
    program.mutate(resolver(unresolved, top_level, false));
    program.mutate(decorator_2023_11());
    if let Program::Module(module) = &mut program {
        let helpers = helper_statements(unresolved, top_level);
        module
            .body
            .splice(0..0, helpers.into_iter().map(ModuleItem::Stmt));
    }
    program.mutate(hygiene());
    program.mutate(fixer(None));

    let mut code = Vec::with_capacity(js.len() * 2);
    let mut raw_map = Vec::new();
    {
        let mut writer = JsWriter::new(cm.clone(), "\n", &mut code, Some(&mut raw_map));
        // No indentation: indenting each line by its depth makes the output quadratic in the
        // nesting (500 nested decorated classes of a 20 KB module printed 14 MB).
        writer.set_indent_str("");
        let mut emitter = Emitter {
            cfg: Config::default().with_target(EsVersion::EsNext),
            cm: cm.clone(),
            comments: None,
            wr: writer,
        };
        emitter
            .emit_program(&program)
            .map_err(|e| Failure::Run(RunError::Internal(format!("printing failed: {e}"))))?;
    }
    let code = String::from_utf8(code)
        .map_err(|_| Failure::Run(RunError::Internal("printed code is not UTF-8".into())))?;
    let mut lines = Lines::new(js);
    let mut mappings: Vec<Mapping> = raw_map
        .into_iter()
        .filter(|(pos, _)| pos.0 >= start.0 && !pos.is_dummy())
        .map(|(pos, at)| {
            let (src_line, src_col) = lines.locate(offset_of(pos));
            Mapping {
                dst_line: at.line,
                dst_col: at.col,
                src_line,
                src_col,
            }
        })
        .collect();
    mappings.sort_unstable();
    mappings.dedup_by_key(|m| (m.dst_line, m.dst_col));
    Ok((code, mappings))
}

/// The helper functions the decorators pass asked for (Babel's `applyDecs2311` and its
/// dependencies), scoped properly. swc's `inject_helpers` gives an inlined helper's identifiers
/// contexts with a one-pass walk that misses `var` hoisting: a nested function that uses a `var`
/// declared later in its enclosing function (`desc` in `applyDec`) gets another context than the
/// declaration, and hygiene then renames the declaration alone ("desc is not defined" at run
/// time). So the helpers are injected into an empty module, their contexts cleared and resolved
/// again with swc's resolver, with the helper mark as their top level: their top-level names keep
/// the context by which the lowered code calls them, and their globals share the module's
/// unresolved mark.
fn helper_statements(unresolved: Mark, top_level: Mark) -> Vec<Stmt> {
    let mut helpers = Program::Module(Module {
        span: DUMMY_SP,
        body: Vec::new(),
        shebang: None,
    });
    helpers.mutate(inject_helpers(top_level));
    let Program::Module(helpers) = helpers else {
        return Vec::new();
    };
    let body: Vec<Stmt> = helpers
        .body
        .into_iter()
        .filter_map(|item| item.stmt())
        .collect();
    if body.is_empty() {
        return body;
    }
    let mut script = Program::Script(Script {
        span: DUMMY_SP,
        body,
        shebang: None,
    });
    script.visit_mut_with(&mut ClearContexts);
    let helper_mark = HELPERS.with(|helpers| helpers.mark());
    script.mutate(resolver(unresolved, helper_mark, false));
    match script {
        Program::Script(script) => script.body,
        Program::Module(_) => Vec::new(),
    }
}

/// Clears every identifier's syntax context (the resolver only resolves cleared ones).
struct ClearContexts;

impl VisitMut for ClearContexts {
    fn visit_mut_ident(&mut self, ident: &mut Ident) {
        ident.ctxt = SyntaxContext::empty();
    }
}

/// 0-based line and UTF-16 column of byte offsets in one text, in time linear in the text
/// whatever the number of lookups (a minified module is one long line).
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// Whether each line is ASCII (its columns are byte offsets).
    ascii: Vec<bool>,
    /// For each line that is not ASCII: the UTF-16 column of each of its byte offsets.
    wide: std::collections::HashMap<usize, Vec<u32>>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect::<Vec<usize>>();
        let ascii = text.split('\n').map(str::is_ascii).collect();
        Lines {
            text,
            starts,
            ascii,
            wide: std::collections::HashMap::new(),
        }
    }

    fn locate(&mut self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let end = self
            .starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        let text = self.text.get(start..end).unwrap_or("");
        let column = if self.ascii.get(line).copied().unwrap_or(true) {
            (offset - start) as u32
        } else {
            let columns = self.wide.entry(line).or_insert_with(|| {
                let mut columns = vec![0u32; text.len() + 1];
                let mut utf16 = 0u32;
                for (i, c) in text.char_indices() {
                    for slot in &mut columns[i..i + c.len_utf8()] {
                        *slot = utf16;
                    }
                    utf16 += c.len_utf16() as u32;
                }
                columns[text.len()] = utf16;
                columns
            });
            columns.get(offset - start).copied().unwrap_or(0)
        };
        (line as u32, column)
    }
}
