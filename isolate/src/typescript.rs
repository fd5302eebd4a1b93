//! TypeScript → JavaScript with oxc: types stripped, enums, namespaces, parameter properties and
//! the other TS-only syntax lowered; nothing else changed (the target is V8 13.6's ES2024, so no
//! down-levelling; `using` and `await using` pass through to V8, which runs them). Standard
//! decorators and `accessor` fields, which V8 13.6 cannot parse, are then lowered by swc
//! (`decorators`), in TypeScript and in JavaScript modules alike, only when the module has one.
//! A module of erasable syntax only (no enum, namespace, parameter property, `import =`,
//! decorator...) is not transformed: its TypeScript-only text becomes spaces (`blank`), so every
//! line and column V8 reports, in `error.stack` too, is the one the tenant wrote. Each
//! transformed module keeps a line/column map back to its source (`map`), so errors point at the
//! file, line and column the tenant wrote (its `error.stack`, read by the tenant's own code, still
//! shows the transformed positions).
//!
//! Two entries: [`transpile`] for every TypeScript module; [`lower_javascript`] for a
//! JavaScript module that V8 refused and that may hold decorators ([`may_be_decorated`]): V8
//! compiles every JavaScript module first, so the common module pays nothing.
//!
//! Guarantees, against hostile sources (oxc and swc have no depth guard and no way to be
//! interrupted; oxc has no allocation limit of its own):
//! - Nesting: [`stockade_source::nesting::check`] bounds the recursion depth to [`MAX_NESTING`] before oxc
//!   parses, and oxc runs where [`STACK_BYTES`] of stack are free below it, which holds several
//!   times that depth (measured: at most 3.3 KiB per level, unoptimised build), so a deep module
//!   is a syntax error, never a stack overflow: on the calling thread when its own stack has that
//!   room left (a worker's isolate threads are made so, see [`ROOMY_STACK_BYTES`]; no thread to
//!   start, about 0.2 ms a module), else on a helper thread with a stack of that size. swc, which needs more stack per level, gets a lower
//!   bound of its own (`decorators::MAX_NESTING`).
//! - Memory: oxc's arena is one fixed block of at most the memory limit (and [`ARENA_PER_BYTE`]
//!   times the source, at least [`ARENA_FLOOR`]); allocating past it panics inside oxc, which
//!   ends as `Limit(Heap)`. This also bounds oxc's TypeScript parser, whose speculative parses
//!   (type arguments whose type literals hold computed keys: `a<{[a<{[...]:x}>1]:x}>1`) are
//!   exponential in the nesting depth but allocate every time. swc only sees what oxc parsed
//!   and is bounded as `decorators` describes.
//! - Enum folding: bounded by [`enum_fold_budget`] (`enums`), checked before oxc folds anything.
//! - CPU: a helper thread's CPU time is returned ([`Transformation::cpu`]) for the caller to charge
//!   to the request (on the calling thread, the request's own CPU clock counts it). The transformation itself cannot be interrupted: the memory bound above is
//!   what ends a runaway parse, and the request ends when it returns.
//!
//! Trusts: oxc's parser and transformer and swc's decorators stage (memory-safe Rust; a panic
//! inside them is caught and reported as a syntax error).

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::ManuallyDrop;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Duration;

use oxc::allocator::Allocator;
use oxc::ast_visit::Visit;
use oxc::codegen::{Codegen, CodegenOptions};
use oxc::parser::Parser;
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use oxc::transformer::{TransformOptions, Transformer};

mod blank;
mod decorators;
mod enums;
mod map;
#[cfg(test)]
mod tests;

pub use map::{line_column, SourceMap};

use crate::error::{LimitKind, RunError, SourceLocation};
use map::Mapping;
use stockade_source::nesting::{self, MAX_NESTING, STACK_BYTES};

/// oxc's arena may take this many bytes per source byte (a realistic TypeScript module needs
/// about 16 to parse and as much again to transform)...
pub const ARENA_PER_BYTE: usize = 64;
/// ...and at least this many, whatever the source's size; never more than the memory limit.
pub const ARENA_FLOOR: usize = 4 << 20;

/// The transformed module.
#[derive(Debug)]
pub struct Transpiled {
    pub code: String,
    pub map: SourceMap,
}

/// What one transformation produced, and the CPU time it took off the calling thread, on a helper
/// thread (for the caller to charge to the request, whatever the result; zero when it ran on the
/// calling thread, whose own CPU clock counted it).
#[derive(Debug)]
pub struct Transformation<T = Transpiled> {
    pub result: Result<T, RunError>,
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
    let fold_budget = enum_fold_budget(source.len(), memory_bytes);
    on_roomy_stack(name, source, memory_bytes, |arena| {
        transform(arena, name, source, fold_budget, memory_bytes, true)
    })
}

/// Whether a JavaScript module can hold a decorator or an `accessor` field at all (a cheap
/// test of the text; [`lower_javascript`] looks at the syntax).
pub fn may_be_decorated(source: &str) -> bool {
    source.contains('@') || source.contains("accessor")
}

/// Lowers the decorators and `accessor` fields of one JavaScript module: `None` when it has
/// neither (the caller keeps V8's own verdict on it), else the lowered module or the error (a
/// syntax error at the position the tenant wrote).
pub fn lower_javascript(
    name: &str,
    source: &str,
    memory_bytes: usize,
) -> Transformation<Option<Transpiled>> {
    on_roomy_stack(name, source, memory_bytes, |arena| {
        let parsed = Parser::new(arena, source, SourceType::mjs()).parse();
        if let Some(first) = parsed.diagnostics.first() {
            return Err(syntax_error(name, source, first));
        }
        let mut found = decorators::Found::default();
        found.visit_program(&parsed.program);
        if found.first.is_none() {
            return Ok(None);
        }
        let (code, mappings) = decorators::lower(name, source, memory_bytes)
            .map_err(|failure| decorators_failed(name, source, None, failure))?;
        Ok(Some(Transpiled {
            code,
            map: SourceMap::new(mappings),
        }))
    })
}

/// A thread started with a stack of at least this many bytes can run transformations on itself:
/// [`STACK_BYTES`] for oxc, and this much more for whatever is below the call (a worker's isolate
/// threads; V8's own frames take at most its stack limit, 512 KiB by default).
pub const ROOMY_STACK_BYTES: usize = STACK_BYTES + (16 << 20);

/// The lowest usable address of the calling thread's stack (above its guard), looked up once per
/// thread; `None` when it cannot be (the main thread of a jailed process, whose bounds glibc
/// reads from `/proc`).
fn stack_floor() -> Option<usize> {
    thread_local! {
        static FLOOR: std::cell::Cell<Option<Option<usize>>> = const { std::cell::Cell::new(None) };
    }
    FLOOR.with(|floor| {
        if let Some(known) = floor.get() {
            return known;
        }
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        // SAFETY: `attr` is initialised by pthread_getattr_np when it returns 0, read only then,
        // and destroyed once; the out-pointers are valid locals.
        let found = unsafe {
            if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
                None
            } else {
                let mut low: *mut libc::c_void = std::ptr::null_mut();
                let mut size: libc::size_t = 0;
                let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut low, &mut size);
                libc::pthread_attr_destroy(attr.as_mut_ptr());
                (rc == 0 && size > 0).then_some(low as usize)
            }
        };
        floor.set(Some(found));
        found
    })
}

/// Whether [`STACK_BYTES`] of the calling thread's stack are free below this frame.
fn room_here() -> bool {
    let marker = 0u8;
    let here = std::hint::black_box(std::ptr::addr_of!(marker)) as usize;
    stack_floor().is_some_and(|floor| here.saturating_sub(floor) >= STACK_BYTES)
}

/// Runs `work` where [`STACK_BYTES`] of stack are free (the calling thread when its stack has
/// that room left, else a helper thread with a stack of that size) with an oxc arena capped by
/// the memory limit, after the nesting check; returns its result and a helper thread's CPU time.
fn on_roomy_stack<T: Send>(
    name: &str,
    source: &str,
    memory_bytes: usize,
    work: impl FnOnce(&Allocator) -> Result<T, RunError> + Send,
) -> Transformation<T> {
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
        let error = syntax_at(name, source, offset, message);
        return Transformation {
            result: Err(error),
            cpu: Duration::ZERO,
        };
    }
    let arena = source
        .len()
        .saturating_mul(ARENA_PER_BYTE)
        .max(ARENA_FLOOR)
        .min(memory_bytes);
    let run = || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let arena = CappedArena::new(arena)?;
            work(&arena.allocator)
        }));
        match result {
            Ok(result) => result,
            Err(panic) => Err(from_panic(panic.as_ref())),
        }
    };
    if room_here() {
        return Transformation {
            result: run(),
            cpu: Duration::ZERO,
        };
    }
    let (result, cpu) = std::thread::scope(|scope| {
        let helper = std::thread::Builder::new()
            .name("stockade-typescript".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || {
                let started = crate::watchdog::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
                let result = run();
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
        (result, cpu)
    });
    Transformation { result, cpu }
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

/// Parses, checks enum folding, transforms and prints one module in `allocator`; lowers its
/// decorators and `accessor` fields if it has any. With `erase`, a module of erasable syntax only
/// is stripped in place instead (`blank`).
fn transform(
    allocator: &Allocator,
    name: &str,
    source: &str,
    fold_budget: usize,
    memory_bytes: usize,
    erase: bool,
) -> Result<Transpiled, RunError> {
    let path = Path::new(name);
    let source_type = SourceType::ts().with_module(true);
    let parsed = Parser::new(allocator, source, source_type).parse();
    if let Some(first) = parsed.diagnostics.first() {
        return Err(syntax_error(name, source, first));
    }
    let mut program = parsed.program;
    let mut found = decorators::Found::default();
    found.visit_program(&program);
    let mut folding = enums::EnumFolding::new(fold_budget);
    folding.visit_program(&program);
    if let Some(span) = folding.exceeded {
        let message =
            format!("enum member values would fold to more than {fold_budget} bytes of strings");
        return Err(syntax_at(name, source, span as usize, message));
    }
    let semantic = SemanticBuilder::new().with_enum_eval(true).build(&program);
    let scoping = semantic.semantic.into_scoping();
    // Only erasable syntax: the types become spaces, every position stays where it was written
    // (and `error.stack` needs no map). The result must parse as JavaScript, else the module
    // takes the transform below (see `blank`).
    if erase && found.first.is_none() {
        if let Some(code) = blank::strip(source, &program, &scoping) {
            let check = Parser::new(allocator, &code, SourceType::mjs()).parse();
            if check.diagnostics.is_empty() && !check.panicked {
                return Ok(Transpiled {
                    code,
                    map: SourceMap::default(),
                });
            }
        }
    }
    // The defaults keep enums as objects: no const-enum or enum inlining, so a folded value is
    // printed once, where its member is declared. Decorators are left as they are (the legacy
    // transform is off) for the decorators stage below.
    let options = TransformOptions::default();
    let transformed =
        Transformer::new(allocator, path, &options).build_with_scoping(scoping, &mut program);
    if let Some(first) = transformed.diagnostics.first() {
        return Err(syntax_error(name, source, first));
    }
    let generated = Codegen::new()
        .with_options(CodegenOptions {
            source_map_path: Some(path.to_path_buf()),
            ..CodegenOptions::default()
        })
        .build(&program);
    let mappings: Vec<Mapping> = generated
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
    let map = SourceMap::new(mappings);
    if found.first.is_none() {
        return Ok(Transpiled {
            code: generated.code,
            map,
        });
    }
    match decorators::lower(name, &generated.code, memory_bytes) {
        Ok((code, later)) => Ok(Transpiled {
            code,
            map: map.then(later),
        }),
        Err(failure) => Err(decorators_failed(
            name,
            &generated.code,
            Some(&map),
            failure,
        )),
    }
}

/// A failure of the decorators stage on `input` (oxc's output when `map` is given, else the
/// tenant's source), as the tenant's error: a syntax error is placed in the tenant's source.
fn decorators_failed(
    name: &str,
    input: &str,
    map: Option<&SourceMap>,
    failure: decorators::Failure,
) -> RunError {
    let parse = match failure {
        decorators::Failure::Run(error) => return error,
        decorators::Failure::Parse(parse) => parse,
    };
    let (line, column) = line_column(input, parse.offset);
    let at = match map {
        None => Some((line, column)),
        Some(map) => map.original(line, column),
    };
    RunError::Syntax {
        message: parse.message,
        location: at.map(|(line, column)| SourceLocation {
            module: name.to_string(),
            line,
            column,
        }),
    }
}

fn syntax_error(name: &str, source: &str, diag: &oxc::diagnostics::OxcDiagnostic) -> RunError {
    RunError::Syntax {
        message: diag.message.to_string(),
        location: locate(name, source, diag),
    }
}

/// A syntax error at a byte offset of `source`.
fn syntax_at(name: &str, source: &str, offset: usize, message: String) -> RunError {
    let (line, column) = line_column(source, offset);
    RunError::Syntax {
        message,
        location: Some(SourceLocation {
            module: name.to_string(),
            line,
            column,
        }),
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
