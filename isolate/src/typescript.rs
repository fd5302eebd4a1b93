//! TypeScript → JavaScript with oxc: types stripped, enums, namespaces, parameter properties and
//! the other TS-only syntax lowered; nothing else changed (the target is V8 13.6's ES2024, so no
//! down-levelling; `using` and `await using` pass through to V8, which runs them). Decorators
//! and `accessor` fields are refused with a clear error (`unsupported`). Each transformed module
//! keeps a line/column map back to its TypeScript source, so errors point at the file, line and
//! column the tenant wrote.
//!
//! Guarantees, against hostile sources (oxc has no depth guard, no allocation limit and no way to
//! be interrupted):
//! - Nesting: [`stockade_source::nesting::check`] bounds the recursion depth to [`MAX_NESTING`] before oxc
//!   parses, and oxc runs on a helper thread whose stack ([`STACK_BYTES`]) holds several times
//!   that depth (measured: at most 3.3 KiB per level, unoptimised build), so a deep module is a
//!   syntax error, never a stack overflow.
//! - Memory: oxc's arena is one fixed block of at most the memory limit (and [`ARENA_PER_BYTE`]
//!   times the source, at least [`ARENA_FLOOR`]); allocating past it panics inside oxc, which
//!   ends as `Limit(Heap)`. This also bounds oxc's TypeScript parser, whose speculative parses
//!   (type arguments whose type literals hold computed keys: `a<{[a<{[...]:x}>1]:x}>1`) are
//!   exponential in the nesting depth but allocate every time.
//! - Enum folding: string enum members are folded by oxc into literals (`B = A + A`), which can
//!   double per member; a module whose members could fold to more than [`enum_fold_budget`]
//!   bytes is refused as a syntax error before oxc folds anything.
//! - CPU: the helper thread's CPU time is returned ([`Transformation::cpu`]) for the caller to charge
//!   to the request. The transformation itself cannot be interrupted: the memory bound above is
//!   what ends a runaway parse, and the request ends when it returns.
//!
//! Trusts: oxc's parser and transformer (memory-safe Rust; a panic inside them is caught and
//! reported as a syntax error).

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::ManuallyDrop;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Duration;

use oxc::allocator::Allocator;
use oxc::ast::ast::{Expression, TSEnumDeclaration, TSEnumMemberName};
use oxc::ast_visit::{walk, Visit};
use oxc::codegen::{Codegen, CodegenOptions};
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use oxc::transformer::{TransformOptions, Transformer};

mod unsupported;

use crate::error::{LimitKind, RunError, SourceLocation};
use stockade_source::nesting::{self, MAX_NESTING, STACK_BYTES};

/// oxc's arena may take this many bytes per source byte (a realistic TypeScript module needs
/// about 16 to parse and as much again to transform)...
pub const ARENA_PER_BYTE: usize = 64;
/// ...and at least this many, whatever the source's size; never more than the memory limit.
pub const ARENA_FLOOR: usize = 4 << 20;

/// One generated-position → source-position pair (all 0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Mapping {
    dst_line: u32,
    dst_col: u32,
    src_line: u32,
    src_col: u32,
}

/// Maps positions in generated JavaScript back to the TypeScript source.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    mappings: Vec<Mapping>,
}

impl SourceMap {
    /// Maps a 1-based generated (line, column) to the 1-based source (line, column): the
    /// nearest mapping at or before the position on the same line.
    pub fn original(&self, line: u32, column: u32) -> Option<(u32, u32)> {
        let (line0, col0) = (line.checked_sub(1)?, column.saturating_sub(1));
        let idx = self
            .mappings
            .partition_point(|m| (m.dst_line, m.dst_col) <= (line0, col0));
        let m = self.mappings.get(idx.checked_sub(1)?)?;
        (m.dst_line == line0).then_some((m.src_line + 1, m.src_col + 1 + (col0 - m.dst_col)))
    }
}

/// The transformed module.
#[derive(Debug)]
pub struct Transpiled {
    pub code: String,
    pub map: SourceMap,
}

/// What one transformation produced, and the CPU time it took on its helper thread (for the
/// caller to charge to the request, whatever the result).
#[derive(Debug)]
pub struct Transformation {
    pub result: Result<Transpiled, RunError>,
    pub cpu: Duration,
}

/// The most bytes of string the enum members of a source of `source_len` bytes may fold to.
pub fn enum_fold_budget(source_len: usize, memory_bytes: usize) -> usize {
    (source_len.saturating_mul(4))
        .max(1 << 20)
        .min(memory_bytes / 4)
}

/// Transforms one TypeScript module under a memory limit of `memory_bytes`. Errors carry the
/// TypeScript position; see the module documentation for what bounds the work.
pub fn transpile(name: &str, source: &str, memory_bytes: usize) -> Transformation {
    let (result, cpu) = transpile_on_helper(name, source, memory_bytes);
    Transformation { result, cpu }
}

fn transpile_on_helper(
    name: &str,
    source: &str,
    memory_bytes: usize,
) -> (Result<Transpiled, RunError>, Duration) {
    if let Err(refusal) = nesting::check(source, MAX_NESTING) {
        let (message, offset) = match refusal {
            nesting::Refusal::TooDeep { offset } => (
                format!("the module nests deeper than {MAX_NESTING} levels"),
                offset,
            ),
            nesting::Refusal::AmbiguousSlash { offset } => (
                "this '/' after '}' could start a regular expression or divide, and the two \
                 readings differ; add parentheses or a semicolon"
                    .to_string(),
                offset,
            ),
        };
        let (line, column) = line_column(source, offset);
        let error = RunError::Syntax {
            message,
            location: Some(SourceLocation {
                module: name.to_string(),
                line,
                column,
            }),
        };
        return (Err(error), Duration::ZERO);
    }
    let arena = source
        .len()
        .saturating_mul(ARENA_PER_BYTE)
        .max(ARENA_FLOOR)
        .min(memory_bytes);
    let fold_budget = enum_fold_budget(source.len(), memory_bytes);
    std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("stockade-typescript".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || {
                let started = crate::watchdog::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
                let result = std::panic::catch_unwind(|| {
                    let arena = CappedArena::new(arena)?;
                    transform(&arena.allocator, name, source, fold_budget)
                });
                let cpu = crate::watchdog::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)
                    .saturating_sub(started);
                (result, cpu)
            });
        let helper = match helper {
            Ok(h) => h,
            Err(e) => {
                let error = RunError::Internal(format!("cannot start the TypeScript thread: {e}"));
                return (Err(error), Duration::ZERO);
            }
        };
        let Ok((result, cpu)) = helper.join() else {
            let error = RunError::Internal("the TypeScript thread failed".into());
            return (Err(error), Duration::ZERO);
        };
        let result = match result {
            Ok(Ok((code, map))) => Ok(Transpiled { code, map }),
            Ok(Err(e)) => Err(e),
            Err(panic) => Err(from_panic(panic.as_ref())),
        };
        (result, cpu)
    })
}

/// A panic inside oxc: the arena running out is the memory limit; anything else is reported as a
/// failed transformation.
fn from_panic(panic: &(dyn std::any::Any + Send)) -> RunError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    if message.contains("out of memory") || message.contains("allocation error") {
        RunError::Limit(LimitKind::Heap)
    } else {
        RunError::Syntax {
            message: "the TypeScript transformer failed".into(),
            location: None,
        }
    }
}

/// An oxc arena of one fixed block: past it, allocation panics ("out of memory"). The block is
/// reserved, not touched: pages are committed as oxc uses them. It is freed here: oxc's own drop
/// frees a fixed block through the global allocator (and refuses to in debug builds), so the
/// allocator is never dropped.
struct CappedArena {
    allocator: ManuallyDrop<Allocator>,
    block: NonNull<u8>,
    layout: Layout,
}

impl CappedArena {
    fn new(bytes: usize) -> Result<CappedArena, RunError> {
        let align = Allocator::RAW_MIN_ALIGN;
        let size = bytes
            .max(Allocator::RAW_MIN_SIZE)
            .checked_next_multiple_of(align)
            .ok_or(RunError::Limit(LimitKind::Heap))?;
        let layout =
            Layout::from_size_align(size, align).map_err(|_| RunError::Limit(LimitKind::Heap))?;
        // SAFETY: `layout` has a non-zero size (at least RAW_MIN_SIZE).
        let block = unsafe { System.alloc(layout) };
        let block = NonNull::new(block).ok_or(RunError::Limit(LimitKind::Heap))?;
        // The chunk is the whole allocation, so it lies inside it; it is aligned to RAW_MIN_ALIGN
        // (the layout's alignment) and its size is a multiple of RAW_MIN_ALIGN and at least
        // RAW_MIN_SIZE. The allocator is never dropped (ManuallyDrop), so it never frees the
        // block itself; Drop below does, with the layout it was allocated with.
        // SAFETY: `block` is a fresh, writable allocation of `layout`, shaped as described above.
        let allocator = unsafe { Allocator::from_raw_parts(block, size, block, layout) };
        Ok(CappedArena {
            allocator: ManuallyDrop::new(allocator),
            block,
            layout,
        })
    }
}

impl Drop for CappedArena {
    fn drop(&mut self) {
        // SAFETY: `block` was allocated by System with `layout` in `new` and is freed once, here;
        // nothing allocated from the arena outlives it (everything oxc built borrows `self`).
        unsafe { System.dealloc(self.block.as_ptr(), self.layout) };
    }
}

/// Parses, checks enum folding, transforms and prints one module in `allocator`.
fn transform(
    allocator: &Allocator,
    name: &str,
    source: &str,
    fold_budget: usize,
) -> Result<(String, SourceMap), RunError> {
    let syntax = |first: &oxc::diagnostics::OxcDiagnostic| RunError::Syntax {
        message: first.message.to_string(),
        location: locate(name, source, first),
    };
    let path = Path::new(name);
    let source_type = SourceType::ts().with_module(true);
    let parsed = Parser::new(allocator, source, source_type).parse();
    if let Some(first) = parsed.diagnostics.first() {
        return Err(syntax(first));
    }
    let mut program = parsed.program;
    let mut unsupported = unsupported::Unsupported::default();
    unsupported.visit_program(&program);
    if let Some((offset, message)) = unsupported.found {
        let (line, column) = line_column(source, offset as usize);
        return Err(RunError::Syntax {
            message: message.to_string(),
            location: Some(SourceLocation {
                module: name.to_string(),
                line,
                column,
            }),
        });
    }
    let mut folding = EnumFolding::new(fold_budget);
    folding.visit_program(&program);
    if let Some(span) = folding.exceeded {
        let (line, column) = line_column(source, span as usize);
        return Err(RunError::Syntax {
            message: format!(
                "enum member values would fold to more than {fold_budget} bytes of strings"
            ),
            location: Some(SourceLocation {
                module: name.to_string(),
                line,
                column,
            }),
        });
    }
    let semantic = SemanticBuilder::new().with_enum_eval(true).build(&program);
    let scoping = semantic.semantic.into_scoping();
    // The defaults keep enums as objects: no const-enum or enum inlining, so a folded value is
    // printed once, where its member is declared.
    let options = TransformOptions::default();
    let transformed =
        Transformer::new(allocator, path, &options).build_with_scoping(scoping, &mut program);
    if let Some(first) = transformed.diagnostics.first() {
        return Err(syntax(first));
    }
    let generated = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(path.to_path_buf()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let mut mappings: Vec<Mapping> = generated
        .map
        .map(|m| {
            m.get_tokens()
                .map(|t| Mapping {
                    dst_line: t.get_dst_line(),
                    dst_col: t.get_dst_col(),
                    src_line: t.get_src_line(),
                    src_col: t.get_src_col(),
                })
                .collect()
        })
        .unwrap_or_default();
    mappings.sort_unstable();
    Ok((generated.code, SourceMap { mappings }))
}

/// An upper bound of the string bytes oxc's enum evaluation (`with_enum_eval`) folds, computed
/// over the AST in the order oxc evaluates enums: literals count their length, `+` and template
/// literals the sum of their parts, a reference to a member (`A`, `E.A`, `E["A"]`) the largest
/// value of any member of that name seen so far, numbers 32 bytes, anything else nothing (oxc
/// does not fold it).
struct EnumFolding {
    budget: usize,
    total: usize,
    by_name: std::collections::HashMap<String, usize>,
    /// Where the budget ran out (a byte offset).
    exceeded: Option<u32>,
}

impl EnumFolding {
    const NUMBER: usize = 32;

    fn new(budget: usize) -> EnumFolding {
        EnumFolding {
            budget,
            total: 0,
            by_name: std::collections::HashMap::new(),
            exceeded: None,
        }
    }

    fn named(&self, name: &str) -> usize {
        self.by_name.get(name).copied().unwrap_or(0)
    }

    fn bound(&self, expr: &Expression<'_>) -> usize {
        match expr {
            Expression::StringLiteral(lit) => lit.value.len(),
            Expression::NumericLiteral(_) | Expression::UnaryExpression(_) => Self::NUMBER,
            Expression::TemplateLiteral(lit) => {
                let text: usize = lit
                    .quasis
                    .iter()
                    .map(|q| q.value.cooked.as_ref().unwrap_or(&q.value.raw).len())
                    .sum();
                lit.expressions
                    .iter()
                    .fold(text, |sum, e| sum.saturating_add(self.bound(e)))
            }
            Expression::Identifier(ident) => self.named(ident.name.as_str()).max(Self::NUMBER),
            Expression::StaticMemberExpression(member) => {
                self.named(member.property.name.as_str()).max(Self::NUMBER)
            }
            Expression::ComputedMemberExpression(member) => match &member.expression {
                Expression::StringLiteral(lit) => self.named(lit.value.as_str()).max(Self::NUMBER),
                _ => 0,
            },
            Expression::BinaryExpression(binary) => self
                .bound(&binary.left)
                .saturating_add(self.bound(&binary.right))
                .max(Self::NUMBER),
            Expression::ParenthesizedExpression(paren) => self.bound(&paren.expression),
            _ => 0,
        }
    }
}

impl<'a> Visit<'a> for EnumFolding {
    fn visit_ts_enum_declaration(&mut self, decl: &TSEnumDeclaration<'a>) {
        for member in &decl.body.members {
            let value = member
                .initializer
                .as_ref()
                .map_or(Self::NUMBER, |init| self.bound(init));
            self.total = self.total.saturating_add(value);
            if self.total > self.budget && self.exceeded.is_none() {
                self.exceeded = Some(member.span.start);
            }
            let name = match &member.id {
                TSEnumMemberName::Identifier(ident) => Some(ident.name.as_str()),
                TSEnumMemberName::String(lit) | TSEnumMemberName::ComputedString(lit) => {
                    Some(lit.value.as_str())
                }
                TSEnumMemberName::ComputedTemplateString(_) => None,
            };
            if let Some(name) = name {
                let entry = self.by_name.entry(name.to_string()).or_insert(0);
                *entry = (*entry).max(value);
            }
        }
        walk::walk_ts_enum_declaration(self, decl);
    }
}

fn locate(
    name: &str,
    source: &str,
    diag: &oxc::diagnostics::OxcDiagnostic,
) -> Option<SourceLocation> {
    let offset = diag.labels.first()?.offset() as usize;
    let (line, column) = line_column(source, offset);
    Some(SourceLocation {
        module: name.to_string(),
        line,
        column,
    })
}

/// 1-based line and column (in UTF-16 units, as V8 counts) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() as u32 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].encode_utf16().count() as u32 + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
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
        assert_eq!(out.map.original(gen_line, col), Some((5, 1)));
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
}
