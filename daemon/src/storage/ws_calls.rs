//! The `ws.*` host calls on one workspace the caller resolved; the HTTP API runs the same
//! operations through [`call`].
//!
//! | op | head | answer |
//! |---|---|---|
//! | `readFile` | `{path}` | `{size, mtime}` + the bytes |
//! | `writeFile` | `{path}` + the bytes | `{}` |
//! | `list` | `{path?}` | `{entries: [{name, path, type, size, mtime}]}` |
//! | `glob` | `{pattern, pathsOnly?}` | `{entries: [...]}`, or `{paths: [...]}` when `pathsOnly` |
//! | `search` | `{pattern, glob?, ignoreCase?, maxResults?}` | `{matches: [{path, line, text}], truncated}` |
//! | `diff` | `{from, to?}` + new text when no `to` | `{diff}` |
//! | `replace` | `{path, search, replacement, regex?, ignoreCase?, limit?}` | `{count}` |
//! | `delete` | `{path, recursive?}` | `{deleted}` |
//! | `mkdir` | `{path}` | `{}` |
//! | `stat` | `{path}` | `{stat: null | {type, size, mtime}}` |
//! | `move` | `{from, to}` | `{}` |
//!
//! Guarantees: every path is normalised (`store::paths`) before it reaches the store, so `..`,
//! absolute paths, NUL bytes and over-long names are refused as `TypeError`s; the store's thread
//! only reads and writes: matching (`search`, `replace`) and diffing run on blocking threads
//! between transactions, so a costly pattern or diff never holds other tenants' operations; a
//! `list` or `glob` answer is at most [`MAX_LISTING_BYTES`] of JSON (a host call's answer
//! carries 16 MiB), beyond which it is a `TypeError` asking for a narrower directory or pattern.
//! Trusts: the workspace from `storage` or the API.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{parse, Answer};
use crate::store::workspace::{self, normalise, normalise_file, Entry, Ws, MAX_FILE_BYTES};
use crate::store::workspace_ops::{self, Hit, Replace, Replacer, SearchQuery, Searcher};
use crate::store::{now_ms, Quotas, Store, StoreError};

/// Largest `list` or `glob` answer, bytes of JSON (a host call's answer is at most 16 MiB).
pub const MAX_LISTING_BYTES: usize = 15 << 20;

/// Times a `replace` reads, replaces and writes before giving up on a file that keeps changing
/// between its read and its write.
const REPLACE_ATTEMPTS: usize = 3;

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
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Pattern {
    pattern: String,
    /// Answer the matching paths only (what the binding's `glob` returns).
    #[serde(default)]
    paths_only: bool,
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
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplaceArg {
    path: String,
    search: String,
    replacement: String,
    #[serde(default)]
    regex: bool,
    #[serde(default)]
    ignore_case: bool,
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

/// Counts the bytes written through it.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `items` as a JSON array, refused once it passes [`MAX_LISTING_BYTES`] (`too_large` says what
/// and what to do instead, given the limit).
fn listing(
    items: impl Iterator<Item = Value>,
    too_large: impl FnOnce(usize) -> String,
) -> Result<Value, StoreError> {
    let mut size = Count(2);
    let mut out = Vec::new();
    for item in items {
        // Serialising to a counter cannot fail.
        let _ = serde_json::to_writer(&mut size, &item);
        size.0 += 1;
        if size.0 > MAX_LISTING_BYTES {
            return Err(StoreError::Invalid(too_large(MAX_LISTING_BYTES)));
        }
        out.push(item);
    }
    Ok(Value::Array(out))
}

/// Runs `work` on a blocking thread (off the store's and the runtime's).
async fn off_thread<T: Send + 'static>(
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Backend(format!("a {what} failed: {e}")))
}

/// `replace` in the file at `path`: read in one transaction, replaced off the store's thread,
/// written in another if the file is still what was read (else again, a few times).
async fn replace(
    store: &Store,
    ws: Ws,
    path: String,
    r: Replace,
    quotas: Quotas,
) -> Result<usize, StoreError> {
    let mut replacer = off_thread("replace", move || Replacer::new(&r)).await??;
    for _ in 0..REPLACE_ATTEMPTS {
        let (w, p) = (ws.clone(), path.clone());
        let text = store
            .tx(move |tx| workspace_ops::read_text(tx, &w, &p))
            .await?;
        let (back, text, result) = off_thread("replace", move || {
            let result = replacer.apply(&text, MAX_FILE_BYTES);
            (replacer, text, result)
        })
        .await?;
        replacer = back;
        let (out, count) = result?;
        if count == 0 {
            return Ok(0);
        }
        let (w, p, now) = (ws.clone(), path.clone(), now_ms());
        let written = store
            .tx(move |tx| {
                let (current, _) = workspace::read(tx, &w, &p)?;
                if current != text.as_bytes() {
                    return Ok(false);
                }
                workspace::write(tx, &w, &p, out.into_bytes(), quotas, now)?;
                Ok(true)
            })
            .await?;
        if written {
            return Ok(count);
        }
    }
    Err(StoreError::Conflict(format!(
        "{path} kept changing while being replaced"
    )))
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
            let shown = if path.is_empty() {
                "the workspace's root".to_owned()
            } else {
                format!("{path:?}")
            };
            let entries = store.tx(move |tx| workspace::list(tx, &ws, &path)).await?;
            let entries = listing(entries.iter().map(describe), |max| {
                format!("the listing of {shown} is more than {max} bytes: list a directory below it, or glob a narrower pattern")
            })?;
            Ok((json!({"entries": entries}), Vec::new()))
        }
        "glob" => {
            let Pattern {
                pattern,
                paths_only,
            } = parse(head, op)?;
            let shown: String = pattern.chars().take(80).collect();
            let entries = store
                .tx(move |tx| workspace_ops::glob(tx, &ws, &pattern))
                .await?;
            let too_large = |max| {
                format!("what {shown:?} matches is more than {max} bytes: narrow the pattern")
            };
            if paths_only {
                let paths = listing(
                    entries.into_iter().map(|e| Value::String(e.path)),
                    too_large,
                )?;
                return Ok((json!({"paths": paths}), Vec::new()));
            }
            let entries = listing(entries.iter().map(describe), too_large)?;
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
            let old_name = from.clone();
            let to = a.to.as_deref().map(normalise_file).transpose()?;
            if body.len() > MAX_FILE_BYTES {
                return Err(StoreError::Invalid(format!(
                    "the new text is more than {MAX_FILE_BYTES} bytes"
                )));
            }
            let new_text = match &to {
                Some(_) => None,
                None => Some(
                    String::from_utf8(body.to_vec())
                        .map_err(|_| StoreError::Invalid("the new text is not UTF-8".into()))?,
                ),
            };
            let (old, new, new_name) = store
                .tx(move |tx| {
                    let old = workspace_ops::read_text(tx, &ws, &from)?;
                    let (new, new_name) = match (to, new_text) {
                        (Some(to), _) => (workspace_ops::read_text(tx, &ws, &to)?, to),
                        (None, text) => (text.unwrap_or_default(), from.clone()),
                    };
                    Ok((old, new, new_name))
                })
                .await?;
            let diff = off_thread("diff", move || {
                workspace_ops::diff(&old, &new, &old_name, &new_name, workspace_ops::DIFF_TIME)
            })
            .await??;
            Ok((json!({"diff": diff}), Vec::new()))
        }
        "replace" => {
            let a: ReplaceArg = parse(head, op)?;
            let path = normalise_file(&a.path)?;
            let r = Replace {
                search: a.search,
                replacement: a.replacement,
                regex: a.regex,
                ignore_case: a.ignore_case,
                limit: count(a.limit, "limit")?,
            };
            let n = replace(store, ws, path, r, quotas).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreSettings;

    /// A SQLite store in a fresh folder (removed by the caller) with room for `files` entries.
    async fn store(tag: &str, files: i64) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "stockade-ws-calls-{tag}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let settings = StoreSettings {
            url: format!("sqlite://{}", dir.join("store.db").display()),
            key_file: dir.join("key"),
            generate_key: true,
            quotas: Quotas {
                bytes: 1 << 30,
                files,
            },
        };
        (Store::open(&settings).await.expect("store"), dir)
    }

    fn refusal(answer: Answer) -> String {
        match answer {
            Err(StoreError::Invalid(message)) => message,
            Err(e) => panic!("another error: {e}"),
            Ok((head, _)) => panic!("answered {} bytes", head.to_string().len()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn listings_past_what_a_call_carries_are_type_errors() {
        // 18,000 files of ~1000-byte paths in one directory (within the quotas): their paths
        // alone are over 17 MB of JSON, more than a host call answers.
        let (store, dir) = store("listing", 20_000).await;
        let ws = Ws::new("t", "w");
        let parent = format!(
            "{}/{}/{}",
            "a".repeat(250),
            "b".repeat(250),
            "c".repeat(250)
        );
        let name = "n".repeat(235);
        let (w, p, q) = (ws.clone(), parent.clone(), store.quotas);
        store
            .tx(move |tx| {
                for i in 0..18_000 {
                    workspace::write(tx, &w, &format!("{p}/{name}{i:05}"), Vec::new(), q, 1)?;
                }
                Ok(())
            })
            .await
            .expect("files");
        let call = |op: &'static str, head: Value| {
            let (store, ws) = (store.clone(), ws.clone());
            async move { call(&store, ws, op, &head, &[]).await }
        };
        for (op, head, hint) in [
            (
                "glob",
                json!({"pattern": "**", "pathsOnly": true}),
                "narrow the pattern",
            ),
            ("glob", json!({"pattern": "**"}), "narrow the pattern"),
            ("list", json!({"path": parent}), "list a directory below it"),
        ] {
            let message = refusal(call(op, head.clone()).await);
            assert!(message.contains(hint), "{op} {head}: {message}");
            assert!(
                message.contains(&MAX_LISTING_BYTES.to_string()),
                "{message}"
            );
        }
        // A narrower pattern answers, paths only.
        let (answer, _) = call("glob", json!({"pattern": "**/*0000?", "pathsOnly": true}))
            .await
            .expect("narrow glob");
        let paths = answer["paths"].as_array().expect("paths");
        assert_eq!(paths.len(), 10);
        assert_eq!(paths[0], format!("{parent}/{}00000", "n".repeat(235)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
