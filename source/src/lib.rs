//! `stockade-source`: a tenant's code before it reaches an engine. Module names and kinds, module
//! sets, the import walk over a set or a folder on disk, built-in module specifiers and the
//! compatibility dates and flags that make them available, and the engine's error type, which
//! the walk already speaks.
//!
//! Guarantees: no V8 and no unsafe code here, so the supervisor and the CLI, which use this crate,
//! are ordinary programs that never map V8. Names are normalised and resolved inside the set only
//! ([`modules`]); a folder is never read outside its root ([`loader::DiskSource`]).
//!
//! Trusts: oxc's parser (for the CLI's import scan of the operator's own files).

pub mod builtins;
pub mod cjs;
pub mod compat;
pub mod error;
pub mod loader;
pub mod modules;
pub mod nesting;
pub mod node_dated;
pub mod reserved;

pub use compat::{Compat, Features};
pub use error::{LimitKind, RunError, SourceLocation};
pub use loader::{DiskSource, ImportWalk, ModuleSet, ModuleSource};
pub use modules::{Module, ModuleKind};
