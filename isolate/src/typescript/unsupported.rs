//! TypeScript (and JavaScript) syntax that parses but that neither V8 13.6 nor oxc 0.146's
//! transformer can run, found before transforming so the tenant gets an error that says what and
//! why at the right line, rather than V8's "Invalid or unexpected token" in generated code.
//!
//! - Decorators (`@dec class`, `@dec method()`, ...): TC39's standard decorators (TypeScript 5's
//!   default) need a transform that oxc 0.146 does not have (its `DecoratorOptions` offers only the
//!   `legacy` experimentalDecorators transform, whose semantics differ: applying it to standard
//!   decorators would run them with the wrong arguments), and V8 13.6 does not parse decorators
//!   (its `--js-decorators` is unfinished and off). A newer oxc needs a newer rustc than the pinned
//!   toolchain.
//! - `accessor` class fields (auto-accessors, from the same proposal): V8 13.6 does not parse them
//!   and oxc 0.146 only strips their types.
//!
//! Guarantees: read-only over the AST; reports the first such node in source order.

use oxc::ast::ast::{AccessorProperty, Decorator};
use oxc::ast_visit::{walk, Visit};

/// What is refused, and why (the message the tenant reads).
pub const DECORATORS: &str = "decorators are not supported: TypeScript is compiled with oxc \
    0.146, which lowers only legacy (experimentalDecorators) decorators, and V8 13.6 cannot run \
    standard decorators itself; compile them away before loading (esbuild or tsc, target ES2022)";
pub const ACCESSOR: &str = "`accessor` class fields are not supported: V8 13.6 does not parse \
    them and oxc 0.146 does not lower them; use a private field with a getter and a setter";

/// Finds the first decorator or `accessor` field: (byte offset, message).
#[derive(Default)]
pub struct Unsupported {
    pub found: Option<(u32, &'static str)>,
}

impl<'a> Visit<'a> for Unsupported {
    fn visit_decorator(&mut self, it: &Decorator<'a>) {
        if self.found.is_none() {
            self.found = Some((it.span.start, DECORATORS));
        }
    }

    fn visit_accessor_property(&mut self, it: &AccessorProperty<'a>) {
        // Decorators on the field come first in the source.
        walk::walk_accessor_property(self, it);
        if self.found.is_none() {
            self.found = Some((it.span.start, ACCESSOR));
        }
    }
}
