//! `stockade-wpt`: runs the curated web-platform-tests (`../shared/wpt`, beside the repository)
//! inside Stockade isolates and checks the outcome against `wpt/expectations.toml`.
//!
//! Why a crate of its own: the run needs the engine (`stockade-isolate`'s public task API, as the
//! worker process drives it), the WPT folder and the expectations; as a workspace member its
//! integration test (`tests/wpt.rs`) is part of `cargo test --workspace`, and the engine's own
//! test suite stays fast.
//!
//! The pieces: [`collect`] (which files are tests, their META lines), [`script`] (a classic
//! script as an ES module), [`bundle`] (one test's module set), [`serve`] (the host calls: the
//! folder's files over `fetch()`), [`run`] (a fresh isolate per file, on a few threads),
//! [`expect`] (the expectations file), [`report`] (the per-directory table).
//!
//! Guarantees: a run compares every subtest both ways (unexpected failures and unexpected passes
//! both fail it); a missing WPT folder is an error, never a skip.
//! Trusts: the engine's limits (a test is tenant code like any other) and the curated folder.

use std::path::{Path, PathBuf};

pub mod bundle;
pub mod collect;
pub mod expect;
pub mod report;
pub mod run;
pub mod script;
pub mod serve;

#[cfg(test)]
mod expect_tests;

/// What can go wrong before a test runs.
#[derive(Debug, thiserror::Error)]
pub enum WptError {
    #[error(
        "the WPT folder is missing: {0} (clone the repository next to `shared/`, or set \
         STOCKADE_WPT_DIR)"
    )]
    Missing(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Meta { file: String, message: String },
    #[error("expectations: {0}")]
    Expectations(String),
}

impl WptError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> WptError {
        WptError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
