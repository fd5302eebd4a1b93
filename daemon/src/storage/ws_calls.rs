//! The `ws.*` host calls on one workspace the caller resolved; the HTTP API runs the same
//! operations through [`call`].
//!
//! | op | head | answer |
//! |---|---|---|
//! | `readFile` | `{path}` | `{size, mtime}` + the bytes |
//! | `writeFile` | `{path}` + the bytes | `{}` |
//! | `list` | `{path?}` | `{entries: [{name, path, type, size, mtime}]}` |
//! | `glob` | `{pattern}` | `{entries: [...]}` |
//! | `search` | `{pattern, glob?, ignoreCase?, maxResults?}` | `{matches: [{path, line, text}], truncated}` |
//! | `diff` | `{from, to?}` + new text when no `to` | `{diff}` |
//! | `replace` | `{path, search, replacement, regex?, limit?}` | `{count}` |
//! | `delete` | `{path, recursive?}` | `{deleted}` |
//! | `mkdir` | `{path}` | `{}` |
//! | `stat` | `{path}` | `{stat: null | {type, size, mtime}}` |
//! | `move` | `{from, to}` | `{}` |
//!
//! Guarantees: every path is normalised (`store::paths`) before it reaches the store, so `..`,
//! absolute paths, NUL bytes and over-long names are refused as `TypeError`s. Trusts: the
//! workspace from `storage` or the API.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse, Answer};
use crate::store::workspace::{self, normalise, normalise_file, Entry, Ws};
use crate::store::workspace_ops::{self, Hit, Replace, SearchQuery, Searcher};
use crate::store::{now_ms, Store, StoreError};

pub const OPS: [&str; 11] = [
    "readFile",
    "writeFile",
    "list",
    "glob",
    "search",
    "diff",
    "replace",
    "delete",
    "mkdir",
    "stat",
    "move",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PathArg {
    #[serde(default)]
    path: String,
    #[serde(default)]
    recursive: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pattern {
    pattern: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Search {
    pattern: String,
    #[serde(default)]
    glob: Option<String>,
    #[serde(default)]
    ignore_case: bool,
    #[serde(default)]
    max_results: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromTo {
    from: String,
    #[serde(default)]
    to: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceArg {
    path: String,
    search: String,
    replacement: String,
    #[serde(default)]
    regex: bool,
    #[serde(default)]
    limit: Option<f64>,
}

fn describe(e: &Entry) -> Value {
    let name = e.path.rsplit('/').next().unwrap_or("");
    json!({
        "name": name,
        "path": e.path,
        "type": if e.dir { "directory" } else { "file" },
        "size": e.size,
        "mtime": e.mtime_ms,
    })
}

fn count(n: Option<f64>, what: &str) -> Result<Option<usize>, StoreError> {
    match n {
        None => Ok(None),
        Some(n) if n.is_finite() && n >= 1.0 => Ok(Some(n.min(1e9) as usize)),
        Some(_) => Err(StoreError::Invalid(format!("{what} must be at least 1"))),
    }
}

fn empty() -> Answer {
    Ok((json!({}), Vec::new()))
}

/// `search` a batch of files per transaction, matching off the store's thread, so a long search
/// never holds the store (other operations run between its batches).
async fn search(store: &Store, ws: Ws, q: &SearchQuery) -> Result<(Vec<Hit>, bool), StoreError> {
    let mut searcher = Searcher::new(q)?;
    let mut after = String::new();
    loop {
        let (w, from) = (ws.clone(), after.clone());
        let batch = store
            .tx(move |tx| workspace::files_after(tx, &w, &from, workspace_ops::SEARCH_BATCH))
            .await?;
        let Some((last, _)) = batch.last() else {
            return Ok(searcher.finish());
        };
        after = last.clone();
        let (back, more) = tokio::task::spawn_blocking(move || {
            let more = batch.iter().all(|(path, data)| searcher.file(path, data));
            (searcher, more)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("a search failed: {e}")))?;
        searcher = back;
        if !more {
            return Ok(searcher.finish());
        }
    }
}

pub async fn call(store: &Store, ws: Ws, op: &str, head: &Value, body: &[u8]) -> Answer {
    let quotas = store.quotas;
    let now = now_ms();
    match op {
        "readFile" => {
            let a: PathArg = parse(head, op)?;
            let path = normalise_file(&a.path)?;
            let (bytes, e) = store.tx(move |tx| workspace::read(tx, &ws, &path)).await?;
            Ok((json!({"size": e.size, "mtime": e.mtime_ms}), bytes))
        }
        "writeFile" => {
            let a: PathArg = parse(head, op)?;
            let path = normalise_file(&a.path)?;
            let data = body.to_vec();
            store
                .tx(move |tx| workspace::write(tx, &ws, &path, data, quotas, now))
                .await?;
            empty()
        }
        "list" => {
            let a: PathArg = parse(head, op)?;
            let path = normalise(&a.path)?;
            let entries = store.tx(move |tx| workspace::list(tx, &ws, &path)).await?;
            let entries: Vec<Value> = entries.iter().map(describe).collect();
            Ok((json!({"entries": entries}), Vec::new()))
        }
        "glob" => {
            let a: Pattern = parse(head, op)?;
            let entries = store
                .tx(move |tx| workspace_ops::glob(tx, &ws, &a.pattern))
                .await?;
            let entries: Vec<Value> = entries.iter().map(describe).collect();
            Ok((json!({"entries": entries}), Vec::new()))
        }
        "search" => {
            let a: Search = parse(head, op)?;
            let q = SearchQuery {
                pattern: a.pattern,
                glob: a.glob,
                ignore_case: a.ignore_case,
                max_results: count(a.max_results, "maxResults")?,
            };
            let (hits, truncated) = search(store, ws, &q).await?;
            let matches: Vec<Value> = hits
                .into_iter()
                .map(|h| json!({"path": h.path, "line": h.line, "text": h.text}))
                .collect();
            Ok((
                json!({"matches": matches, "truncated": truncated}),
                Vec::new(),
            ))
        }
        "diff" => {
            let a: FromTo = parse(head, op)?;
            let from = normalise_file(&a.from)?;
            let to = a.to.as_deref().map(normalise_file).transpose()?;
            let new_text = match &to {
                Some(_) => None,
                None => Some(
                    String::from_utf8(body.to_vec())
                        .map_err(|_| StoreError::Invalid("the new text is not UTF-8".into()))?,
                ),
            };
            let diff: String = store
                .tx(move |tx| {
                    let old = workspace_ops::read_text(tx, &ws, &from)?;
                    let (new, new_name) = match (to, new_text) {
                        (Some(to), _) => (workspace_ops::read_text(tx, &ws, &to)?, to),
                        (None, text) => (text.unwrap_or_default(), from.clone()),
                    };
                    Ok(workspace_ops::diff(&old, &new, &from, &new_name))
                })
                .await?;
            Ok((json!({"diff": diff}), Vec::new()))
        }
        "replace" => {
            let a: ReplaceArg = parse(head, op)?;
            let path = normalise_file(&a.path)?;
            let r = Replace {
                search: a.search,
                replacement: a.replacement,
                regex: a.regex,
                limit: count(a.limit, "limit")?,
            };
            let n = store
                .tx(move |tx| workspace_ops::replace(tx, &ws, &path, &r, quotas, now))
                .await?;
            Ok((json!({"count": n}), Vec::new()))
        }
        "delete" => {
            let a: PathArg = parse(head, op)?;
            let path = normalise_file(&a.path)?;
            let deleted = store
                .tx(move |tx| workspace::delete(tx, &ws, &path, a.recursive))
                .await?;
            Ok((json!({"deleted": deleted}), Vec::new()))
        }
        "mkdir" => {
            let a: PathArg = parse(head, op)?;
            let path = normalise_file(&a.path)?;
            store
                .tx(move |tx| workspace::mkdir(tx, &ws, &path, quotas, now))
                .await?;
            empty()
        }
        "stat" => {
            let a: PathArg = parse(head, op)?;
            let path = normalise(&a.path)?;
            let e = store.tx(move |tx| workspace::stat(tx, &ws, &path)).await?;
            let stat = e.map(|e| {
                json!({"type": if e.dir { "directory" } else { "file" }, "size": e.size, "mtime": e.mtime_ms})
            });
            Ok((json!({"stat": stat}), Vec::new()))
        }
        "move" => {
            let a: FromTo = parse(head, op)?;
            let from = normalise_file(&a.from)?;
            let to = normalise_file(a.to.as_deref().unwrap_or(""))?;
            store
                .tx(move |tx| workspace::rename(tx, &ws, &from, &to, quotas, now))
                .await?;
            empty()
        }
        _ => Err(StoreError::Invalid(format!("no workspace operation {op}"))),
    }
}
