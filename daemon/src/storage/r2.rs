//! R2 buckets (`{"binding": "r2", "bucket": "b"}`): object storage on local files,
//! `DIR/<tenant>/<bucket>/<version>` for each object's bytes and one SQLite index per tenant,
//! `DIR/<tenant>/index.sqlite3` (`DIR` is `data_dir/r2`, whichever store holds the rest).
//!
//! Why one index per tenant (not per bucket): the quota, `[store] r2_tenant_max_bytes`, is the
//! tenant's over all its buckets, so a put's check of it and the write that replaces an object
//! are one SQLite transaction (`r2_index::commit`), with no count to keep in step across files.
//!
//! Guarantees: a content file is named by a random version id, never by the key (a key is any
//! 1-1024 bytes of UTF-8, kept as a BLOB in the index); tenant and bucket names are checked again
//! here (`[A-Za-z0-9_-]`, 1-64: no separator, no dot), folders are created 0700. Durability: an
//! upload goes to a temporary file, is fsynced, renamed to its version's name and the folder
//! fsynced before the index commits it (WAL, `synchronous=FULL`), so a put that answered survives
//! a `kill -9`; a file no committed row names (a put cut short, an object replaced or deleted
//! just before a crash) is removed when the tenant's index is first opened by this process. An
//! object's bytes are at most `r2_max_object_bytes`, the tenant's objects plus its uploads under
//! way at most `r2_tenant_max_bytes`: a write past either fails and its temporary file is
//! removed at once (`r2_upload`). A get opens its file under the index's lock, and a replaced or
//! deleted object's file is removed only after the commit, so a reader always reads the bytes
//! of the version it was answered. Multipart uploads (`r2_multipart`, `r2_parts`) keep their
//! parts' files in the bucket's folder, named by rows of the same index; an upload older than
//! `r2_multipart_expiry_secs` is removed when the index opens and by the reaper. Blocking work runs on tokio's blocking pool (`r2_calls`).
//! Trusts: the tenant and bucket names its caller resolved from the stored binding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use super::{r2_index, r2_parts};

/// Most bytes of a key (UTF-8), as on R2.
pub const MAX_KEY_BYTES: usize = 1024;
/// Buckets one tenant may have.
pub const MAX_BUCKETS_PER_TENANT: usize = 100;
/// What one host call carries of an object's bytes, each way.
pub const CHUNK: usize = 1 << 20;

/// `[store] r2_*`, resolved.
#[derive(Debug, Clone)]
pub struct R2Settings {
    pub dir: PathBuf,
    pub max_object_bytes: u64,
    pub tenant_max_bytes: u64,
    /// How long a multipart upload may stay neither completed nor aborted.
    pub multipart_expiry: std::time::Duration,
}

/// What went wrong, as the tenant sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum R2Error {
    /// A malformed argument: a `TypeError`.
    Invalid(String),
    /// R2's own error: an `Error` whose message ends with R2's code, `(10039)`.
    Failed(u32, String),
    /// The host failed (details in the operator's log only).
    Internal(String),
}

impl R2Error {
    pub fn internal(what: &str, e: impl std::fmt::Display) -> R2Error {
        tracing::error!("r2: {what}: {e}");
        R2Error::Internal(format!("r2: {what}"))
    }

    /// The error head a tenant sees.
    pub fn head(&self) -> serde_json::Value {
        let (name, message) = match self {
            R2Error::Invalid(m) => ("TypeError", m.clone()),
            R2Error::Failed(code, m) => ("Error", format!("{m} ({code})")),
            R2Error::Internal(_) => (
                "Error",
                "We encountered an internal error. Please try again. (10001)".to_owned(),
            ),
        };
        serde_json::json!({"error": {"name": name, "message": message}})
    }
}

/// The quota error of a put.
pub fn too_large_for_tenant(quota: u64) -> R2Error {
    R2Error::Failed(
        10100,
        format!(
            "this tenant's R2 objects would take more than its quota, [store] r2_tenant_max_bytes = {quota} bytes"
        ),
    )
}

/// One tenant's index and usage.
pub struct Tenant {
    pub dir: PathBuf,
    pub index: Mutex<Connection>,
    /// Bytes of its committed objects (changed only under `index`'s lock).
    pub used: AtomicU64,
    /// Bytes of its uploads under way.
    pub pending: AtomicU64,
}

impl Tenant {
    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        lock(&self.index)
    }

    /// Runs `change` on the index under its lock; `change` answers its result and the tenant's
    /// stored bytes after it, which become [`Tenant::used`] before the lock is let go (the only
    /// way `used` changes).
    pub fn change<T>(
        &self,
        change: impl FnOnce(&mut Connection) -> Result<(T, u64), R2Error>,
    ) -> Result<T, R2Error> {
        let mut conn = self.lock();
        let (result, after) = change(&mut conn)?;
        self.used.store(after, Ordering::SeqCst);
        Ok(result)
    }

    /// The folder of `bucket`'s files.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.dir.join(bucket)
    }

    /// The folder of `bucket`'s files, created (and counted against
    /// [`MAX_BUCKETS_PER_TENANT`]) if it is new.
    pub fn bucket_dir_made(&self, bucket: &str) -> Result<PathBuf, R2Error> {
        let dir = self.bucket_dir(bucket);
        if dir.is_dir() {
            return Ok(dir);
        }
        let count = std::fs::read_dir(&self.dir)
            .map_err(|e| R2Error::internal("list buckets", e))?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .count();
        if count >= MAX_BUCKETS_PER_TENANT {
            return Err(R2Error::Failed(
                10005,
                format!("this tenant has {count} buckets, the most it may have"),
            ));
        }
        make_dir(&dir)?;
        Ok(dir)
    }
}

/// The tenants' indexes, opened on first use.
pub struct R2 {
    pub settings: R2Settings,
    tenants: Mutex<HashMap<String, Arc<Tenant>>>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn make_dir(dir: &Path) -> Result<(), R2Error> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| R2Error::internal("mkdir", e))
}

/// Fsyncs the folder `dir` (a rename or removal in it made durable).
pub fn sync_dir(dir: &Path) -> Result<(), R2Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| R2Error::internal("fsync folder", e))
}

/// Checks `key` is one R2 takes.
pub fn check_key(key: &str) -> Result<(), R2Error> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(R2Error::Invalid(format!(
            "a key is 1 to {MAX_KEY_BYTES} bytes of UTF-8, this one is {}",
            key.len()
        )));
    }
    Ok(())
}

impl R2 {
    pub fn new(settings: R2Settings) -> Arc<R2> {
        Arc::new(R2 {
            settings,
            tenants: Mutex::new(HashMap::new()),
        })
    }

    /// `tenant`'s index, opened (and its stray files removed) on first use. Blocks.
    pub fn tenant(&self, tenant: &str, bucket: &str) -> Result<Arc<Tenant>, R2Error> {
        if !valid_name(tenant) || !crate::supervisor::bindings::valid_database_name(bucket) {
            return Err(R2Error::Invalid(
                "a bucket name is 1-64 of [A-Za-z0-9_-]".into(),
            ));
        }
        self.open(tenant)
    }

    /// `tenant`'s index (a checked name), opened on first use: its multipart uploads past
    /// `multipart_expiry` removed, then the files no row names. Blocks.
    fn open(&self, tenant: &str) -> Result<Arc<Tenant>, R2Error> {
        let mut tenants = lock(&self.tenants);
        if let Some(t) = tenants.get(tenant) {
            return Ok(Arc::clone(t));
        }
        let dir = self.settings.dir.join(tenant);
        make_dir(&dir)?;
        let mut conn = r2_index::open(&dir.join("index.sqlite3"))?;
        let expiry = self
            .settings
            .multipart_expiry
            .as_millis()
            .min(i64::MAX as u128) as i64;
        // The reaped parts' files are among those the sweep removes.
        r2_parts::reap(&mut conn, crate::store::now_ms().saturating_sub(expiry))?;
        let used = r2_index::usage(&conn)?;
        sweep(&conn, &dir)?;
        let t = Arc::new(Tenant {
            dir,
            index: Mutex::new(conn),
            used: AtomicU64::new(used),
            pending: AtomicU64::new(0),
        });
        tenants.insert(tenant.to_owned(), Arc::clone(&t));
        Ok(t)
    }
}

impl R2 {
    /// Opens every tenant that has R2 files (at start: uploads past their time go). Blocks.
    pub fn open_all(&self) {
        let Ok(dirs) = std::fs::read_dir(&self.settings.dir) else {
            return;
        };
        for d in dirs.filter_map(Result::ok) {
            let name = d.file_name().to_string_lossy().into_owned();
            if valid_name(&name) && d.path().is_dir() {
                if let Err(e) = self.open(&name) {
                    tracing::error!("r2: opening tenant {name}: {e:?}");
                }
            }
        }
    }

    /// The tenants opened so far.
    pub fn opened(&self) -> Vec<Arc<Tenant>> {
        lock(&self.tenants).values().cloned().collect()
    }
}

/// Removes the files under `dir`'s bucket folders that no committed row names.
fn sweep(conn: &Connection, dir: &Path) -> Result<(), R2Error> {
    let buckets = std::fs::read_dir(dir).map_err(|e| R2Error::internal("sweep", e))?;
    for bucket in buckets.filter_map(Result::ok) {
        if !bucket.path().is_dir() {
            continue;
        }
        let name = bucket.file_name().to_string_lossy().into_owned();
        let kept = r2_index::versions(conn, &name)?;
        let mut removed = false;
        let files = std::fs::read_dir(bucket.path()).map_err(|e| R2Error::internal("sweep", e))?;
        for file in files.filter_map(Result::ok) {
            if !kept.contains(&file.file_name().to_string_lossy().into_owned()) {
                let _ = std::fs::remove_file(file.path());
                removed = true;
            }
        }
        if removed {
            sync_dir(&bucket.path())?;
        }
    }
    Ok(())
}

/// A new version id: 32 hex digits of randomness.
pub fn new_version() -> Result<String, R2Error> {
    let mut id = [0u8; 16];
    getrandom::getrandom(&mut id).map_err(|e| R2Error::internal("random", e))?;
    Ok(hex::encode(id))
}

/// Removes `bucket`'s file of `version` (a replaced or deleted object's, after its commit).
pub fn remove_version(tenant: &Tenant, bucket: &str, version: &str) {
    let dir = tenant.bucket_dir(bucket);
    if std::fs::remove_file(dir.join(version)).is_ok() {
        let _ = sync_dir(&dir);
    }
}

/// Reserves `more` bytes among `tenant`'s pending ones if its stored and pending bytes stay within
/// `quota`, else refuses (reserving nothing).
pub fn reserve(tenant: &Tenant, more: u64, quota: u64) -> Result<(), R2Error> {
    let before = tenant.pending.fetch_add(more, Ordering::SeqCst);
    let used = tenant.used.load(Ordering::SeqCst);
    if used.saturating_add(before).saturating_add(more) > quota {
        tenant.pending.fetch_sub(more, Ordering::SeqCst);
        return Err(too_large_for_tenant(quota));
    }
    Ok(())
}

#[cfg(test)]
#[path = "r2_tests.rs"]
mod tests;

/// The TypeScript of an `r2` binding (`GET /v1/workers/{id}/types`).
pub const DECLARATIONS: &str = "interface R2HTTPMetadata {
  contentType?: string; contentLanguage?: string; contentDisposition?: string;
  contentEncoding?: string; cacheControl?: string; cacheExpiry?: Date;
}
interface R2Checksums {
  readonly md5?: ArrayBuffer; readonly sha1?: ArrayBuffer; readonly sha256?: ArrayBuffer;
  readonly sha384?: ArrayBuffer; readonly sha512?: ArrayBuffer;
  toJSON(): Record<string, string>;
}
type R2Range = { offset: number; length?: number } | { offset?: number; length: number } | { suffix: number };
interface R2Conditional {
  etagMatches?: string; etagDoesNotMatch?: string; uploadedBefore?: Date; uploadedAfter?: Date;
  secondsGranularity?: boolean;
}
interface R2Object {
  readonly key: string; readonly version: string; readonly size: number; readonly etag: string;
  readonly httpEtag: string; readonly uploaded: Date; readonly httpMetadata: R2HTTPMetadata;
  readonly customMetadata: Record<string, string>; readonly range?: R2Range;
  readonly checksums: R2Checksums; readonly storageClass: string;
  writeHttpMetadata(headers: Headers): void;
}
interface R2ObjectBody extends R2Object {
  readonly body: ReadableStream<Uint8Array>; readonly bodyUsed: boolean;
  arrayBuffer(): Promise<ArrayBuffer>; bytes(): Promise<Uint8Array>; text(): Promise<string>;
  json<T>(): Promise<T>; blob(): Promise<Blob>;
}
interface R2Objects {
  objects: R2Object[]; truncated: boolean; cursor?: string; delimitedPrefixes: string[];
}
interface R2Bucket {
  head(key: string): Promise<R2Object | null>;
  /** Without its body when `onlyIf` fails; null when there is no such object. */
  get(key: string, options?: { onlyIf?: R2Conditional | Headers; range?: R2Range | Headers }): Promise<R2ObjectBody | R2Object | null>;
  /** null when `onlyIf` fails. One of md5/sha1/sha256/sha384/sha512 (hex or bytes) is checked. */
  put(key: string, value: ReadableStream | ArrayBuffer | ArrayBufferView | string | null | Blob, options?: {
    onlyIf?: R2Conditional | Headers; httpMetadata?: R2HTTPMetadata | Headers;
    customMetadata?: Record<string, string>; md5?: ArrayBuffer | string; sha1?: ArrayBuffer | string;
    sha256?: ArrayBuffer | string; sha384?: ArrayBuffer | string; sha512?: ArrayBuffer | string;
  }): Promise<R2Object | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: { limit?: number; prefix?: string; cursor?: string; delimiter?: string;
    startAfter?: string; include?: ('httpMetadata' | 'customMetadata')[] }): Promise<R2Objects>;
  createMultipartUpload(key: string, options?: { httpMetadata?: R2HTTPMetadata | Headers;
    customMetadata?: Record<string, string> }): Promise<R2MultipartUpload>;
  /** No call: an id that names no upload fails at the upload's first use. */
  resumeMultipartUpload(key: string, uploadId: string): R2MultipartUpload;
}
interface R2UploadedPart { partNumber: number; etag: string; }
interface R2MultipartUpload {
  readonly key: string; readonly uploadId: string;
  /** 1 to 10000; every part but the last at least 5 MiB. */
  uploadPart(partNumber: number, value: ReadableStream | ArrayBuffer | ArrayBufferView | string | Blob): Promise<R2UploadedPart>;
  abort(): Promise<void>;
  complete(uploadedParts: R2UploadedPart[]): Promise<R2Object>;
}
";
