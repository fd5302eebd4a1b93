//! R2 multipart uploads, the host side of `createMultipartUpload` / `resumeMultipartUpload`
//! (isolate/js/r2.js): `r2.createMultipart {key, httpMetadata?, customMetadata?}` ->
//! `{uploadId}`; `r2.uploadPart {key, uploadId, partNumber, upload?}` and the bytes when no
//! upload -> `{partNumber, etag}`; `r2.completeMultipart {key, uploadId, parts: [{partNumber,
//! etag}]}` -> `{object}`; `r2.abortMultipart {key, uploadId}`; and the reaper of uploads left
//! neither completed nor aborted.
//!
//! Why the parts are concatenated into one file at completion (not kept as parts and read in
//! sequence): every other path (get, ranges, delete, replace, the sweep) then keeps its one
//! invariant, one object = one file named by its version; the copy is `std::io::copy` between
//! files (Linux's `copy_file_range`, done in the kernel, a reflink on filesystems that have them),
//! never the object in memory; its cost, one more write of the object once, is paid by the
//! completing request, and the disk holds the parts and the object together only until the
//! completing transaction (at most `r2_max_object_bytes` more per completion under way).
//!
//! Guarantees: part numbers 1..=10000; every part but the last at least [`MIN_PART`] bytes;
//! the object at most `r2_max_object_bytes`; a part's bytes stream in as a put's do and count
//! against `r2_tenant_max_bytes` while the upload is under way (`r2_parts`); the etag given for
//! each part is checked; the object's etag is R2's multipart etag, the MD5 of the parts' MD5s
//! then `-N`; the assembled file is fsynced, renamed, its folder fsynced before the index
//! commits it, and the commit checks the parts are still the ones assembled (a part replaced or
//! an abort meanwhile fails the completion, and its file is removed); a part is durable when
//! answered, so an upload resumes after a restart. An upload is looked up in the calling tenant's
//! own index by id, bucket and key: another tenant's id reaches nothing. Trusts: the tenant and
//! bucket its caller resolved from the stored binding.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::r2::{new_version, remove_version, sync_dir, R2Error, Tenant, R2};
use super::r2_args::{custom_metadata, http_metadata, id_of, key_of, object_json, str_field};
use super::r2_index::Meta;
use super::r2_parts::{self, no_such_upload, Completed, Part};
use super::r2_upload::{hex, Upload};
use crate::supervisor::CallContext;

/// The host calls, `r2.{op}`.
pub const OPS: [&str; 4] = [
    "createMultipart",
    "uploadPart",
    "completeMultipart",
    "abortMultipart",
];
/// Smallest part but the last, as on R2.
pub const MIN_PART: u64 = 5 << 20;
/// Most parts of one upload, as on R2.
pub const MAX_PARTS: u32 = 10_000;

type Done = Result<(Value, Vec<u8>), R2Error>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, R2Error> + Send + 'static,
) -> Result<T, R2Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| R2Error::internal("task", e))?
}

/// The upload id of `head`: one [`new_version`] made (anything else names no upload).
fn upload_id(head: &Value, method: &str) -> Result<String, R2Error> {
    let id = str_field(head, "uploadId")?.unwrap_or("");
    if id.len() != 32 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(no_such_upload(method));
    }
    Ok(id.to_owned())
}

fn part_number(v: Option<&Value>, method: &str) -> Result<u32, R2Error> {
    v.and_then(Value::as_f64)
        .filter(|n| n.fract() == 0.0 && *n >= 1.0 && *n <= MAX_PARTS as f64)
        .map(|n| n as u32)
        .ok_or_else(|| {
            R2Error::Invalid(format!(
                "{method}: a part number is an integer from 1 to {MAX_PARTS}"
            ))
        })
}

/// The parts a completion names: (number, etag), by number, each once.
fn named_parts(head: &Value) -> Result<Vec<(u32, String)>, R2Error> {
    const M: &str = "complete";
    let list = head
        .get("parts")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty() && l.len() <= MAX_PARTS as usize)
        .ok_or_else(|| {
            R2Error::Invalid(format!("{M}: give the uploaded parts, 1 to {MAX_PARTS}"))
        })?;
    let mut out = Vec::with_capacity(list.len());
    for p in list {
        let number = part_number(p.get("partNumber"), M)?;
        let etag = p
            .get("etag")
            .and_then(Value::as_str)
            .ok_or_else(|| R2Error::Invalid(format!("{M}: each part needs its etag")))?;
        out.push((number, etag.trim_matches('"').to_owned()));
    }
    out.sort_by_key(|p| p.0);
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(R2Error::Invalid(format!("{M}: a part is named twice")));
    }
    Ok(out)
}

/// The stored parts `named` picks, checked: each there with its etag, every one but the last at
/// least [`MIN_PART`], together at most `max_object`.
fn pick(stored: &[Part], named: &[(u32, String)], max_object: u64) -> Result<Vec<Part>, R2Error> {
    let mut out = Vec::with_capacity(named.len());
    let mut total = 0u64;
    for (i, (number, etag)) in named.iter().enumerate() {
        let part = stored
            .iter()
            .find(|p| p.number == *number && p.md5 == *etag)
            .ok_or_else(|| {
                R2Error::Failed(
                    10025,
                    format!("complete: One or more of the specified parts could not be found (part {number})"),
                )
            })?;
        if i + 1 < named.len() && part.size < MIN_PART {
            return Err(R2Error::Failed(
                10011,
                format!("complete: Your proposed upload is smaller than the minimum allowed object size: part {number} is {} bytes, every part but the last is at least {MIN_PART}", part.size),
            ));
        }
        total = total.saturating_add(part.size);
        out.push(part.clone());
    }
    if total > max_object {
        return Err(R2Error::Failed(
            10100,
            format!("complete: Your proposed upload exceeds the maximum allowed object size, [store] r2_max_object_bytes = {max_object} bytes"),
        ));
    }
    Ok(out)
}

/// R2's multipart etag: the MD5 of the parts' MD5s, then `-N`.
pub fn multipart_etag(parts: &[Part]) -> String {
    let mut h = Md5::new();
    for p in parts {
        let bytes: Vec<u8> = (0..p.md5.len() / 2)
            .filter_map(|i| u8::from_str_radix(p.md5.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        h.update(&bytes);
    }
    format!("{}-{}", hex(&h.finalize()), parts.len())
}

/// An assembled object's file, removed when dropped unless kept.
struct Assembled {
    path: PathBuf,
    kept: bool,
}

impl Drop for Assembled {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Concatenates `parts`' files into a new version's file (fsynced, renamed, folder fsynced).
/// Blocks; `None` when a part's file is gone (an abort or a replaced part meanwhile).
fn assemble(
    t: &Tenant,
    bucket: &str,
    parts: &[Part],
) -> Result<Option<(String, Assembled)>, R2Error> {
    let dir = t.bucket_dir(bucket);
    let version = new_version()?;
    let mut temp = Assembled {
        path: dir.join(format!("tmp-{version}")),
        kept: false,
    };
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp.path)
        .map_err(|e| R2Error::internal("create", e))?;
    for p in parts {
        let Ok(mut from) = File::open(dir.join(&p.version)) else {
            return Ok(None);
        };
        let n = std::io::copy(&mut from, &mut out).map_err(|e| R2Error::internal("copy", e))?;
        if n != p.size {
            return Err(R2Error::internal(
                "copy",
                format!("part {} is {n} bytes, not {}", p.number, p.size),
            ));
        }
    }
    out.flush().map_err(|e| R2Error::internal("write", e))?;
    out.sync_all().map_err(|e| R2Error::internal("fsync", e))?;
    drop(out);
    let path = dir.join(&version);
    std::fs::rename(&temp.path, &path).map_err(|e| R2Error::internal("rename", e))?;
    temp.kept = true;
    let done = Assembled { path, kept: false };
    sync_dir(&dir)?;
    Ok(Some((version, done)))
}

impl R2 {
    /// `r2.{op}` for one of [`OPS`], on `bucket` of tenant `t`.
    pub(super) async fn multipart(
        &self,
        context: &CallContext,
        t: Arc<Tenant>,
        bucket: String,
        op: &str,
        head: &Value,
        body: &[u8],
    ) -> Done {
        let key = key_of(head)?;
        match op {
            "createMultipart" => {
                let upload = r2_parts::Upload {
                    http: http_metadata(head.get("httpMetadata"))?,
                    custom: custom_metadata(head.get("customMetadata"))?,
                };
                let id = new_version()?;
                let now = crate::store::now_ms();
                let answer = json!({"uploadId": id});
                blocking(move || {
                    t.bucket_dir_made(&bucket)?;
                    r2_parts::create(&t.lock(), &id, &bucket, &key, &upload, now)
                })
                .await?;
                Ok((answer, Vec::new()))
            }
            "uploadPart" => self.upload_part(context, t, bucket, key, head, body).await,
            "completeMultipart" => {
                let id = upload_id(head, "complete")?;
                let named = named_parts(head)?;
                let max_object = self.settings.max_object_bytes;
                let now = crate::store::now_ms();
                blocking(move || complete(&t, &bucket, &key, &id, &named, max_object, now)).await
            }
            "abortMultipart" => {
                let Ok(id) = upload_id(head, "abort") else {
                    return Ok((json!({}), Vec::new()));
                };
                blocking(move || {
                    let files = t.change(|conn| r2_parts::abort(conn, &id, &bucket, &key))?;
                    for v in files {
                        remove_version(&t, &bucket, &v);
                    }
                    Ok(())
                })
                .await?;
                Ok((json!({}), Vec::new()))
            }
            _ => Err(R2Error::Invalid(format!("no r2 operation {op}"))),
        }
    }

    async fn upload_part(
        &self,
        context: &CallContext,
        t: Arc<Tenant>,
        bucket: String,
        key: String,
        head: &Value,
        body: &[u8],
    ) -> Done {
        const M: &str = "uploadPart";
        // The upload it names first: whatever fails below drops it, and the place it holds.
        let named = match head.get("upload").filter(|v| !v.is_null()) {
            Some(_) => Some(
                context
                    .resources
                    .take::<Upload>(id_of(head, "upload")?)
                    .ok_or_else(|| R2Error::Invalid(format!("{M}: no such upload stream")))?,
            ),
            None => None,
        };
        let id = upload_id(head, M)?;
        let number = part_number(head.get("partNumber"), M)?;
        // The part is one open connection: its upload's place, or one of its own.
        let (upload, _slot) = match named {
            Some(mut upload) => {
                if upload.bucket != bucket || !body.is_empty() {
                    return Err(R2Error::Invalid(format!(
                        "{M}: a stream of another bucket's, or bytes and a stream both"
                    )));
                }
                let slot = match upload.take_slot() {
                    Some(slot) => slot,
                    None => super::r2_calls::open_connection(context).await?,
                };
                (upload, slot)
            }
            None => {
                let slot = super::r2_calls::open_connection(context).await?;
                (self.upload_whole(&t, &bucket, body, None).await?, slot)
            }
        };
        let quota = self.settings.tenant_max_bytes;
        blocking(move || store_part(&t, &bucket, &key, &id, number, upload, quota)).await
    }
}

/// Stores `upload` as part `number` of upload `id` of `key`. Blocks.
fn store_part(
    t: &Tenant,
    bucket: &str,
    key: &str,
    id: &str,
    number: u32,
    upload: Upload,
    quota: u64,
) -> Done {
    let stored = upload.store()?;
    let part = Part {
        number,
        version: stored.version.clone(),
        size: stored.size,
        md5: stored.md5.clone(),
    };
    // On an error `stored` is dropped: the part's file goes.
    let replaced = t.change(|conn| r2_parts::put_part(conn, id, bucket, key, &part, quota))?;
    stored.keep();
    if let Some(old) = replaced {
        remove_version(t, bucket, &old);
    }
    Ok((json!({"partNumber": number, "etag": part.md5}), Vec::new()))
}

/// Completes upload `id` of `key` from the `named` parts. Blocks.
fn complete(
    t: &Tenant,
    bucket: &str,
    key: &str,
    id: &str,
    named: &[(u32, String)],
    max_object: u64,
    now_ms: i64,
) -> Done {
    const M: &str = "complete";
    let (upload, parts) = {
        let conn = t.lock();
        let Some(upload) = r2_parts::find(&conn, id, bucket, key)? else {
            return Err(no_such_upload(M));
        };
        let stored = r2_parts::parts(&conn, id)?;
        (upload, pick(&stored, named, max_object)?)
    };
    let Some((version, mut file)) = assemble(t, bucket, &parts)? else {
        return Err(no_such_upload(M));
    };
    let object = Meta {
        key: key.to_owned(),
        version,
        size: parts.iter().map(|p| p.size).sum(),
        etag: multipart_etag(&parts),
        uploaded_ms: now_ms,
        http: upload.http,
        custom: upload.custom,
        checksums: json!({}),
    };
    let files = match t.change(|conn| r2_parts::complete(conn, id, bucket, &object, &parts))? {
        Completed::Changed => return Err(no_such_upload(M)),
        Completed::Written(files) => files,
    };
    file.kept = true;
    for v in files {
        remove_version(t, bucket, &v);
    }
    Ok((json!({"object": object_json(&object, None)}), Vec::new()))
}

/// Removes `t`'s uploads started more than `expiry` ago. Blocks.
pub fn reap(t: &Tenant, expiry: Duration) -> Result<(), R2Error> {
    let before =
        crate::store::now_ms().saturating_sub(expiry.as_millis().min(i64::MAX as u128) as i64);
    let files = t.change(|conn| r2_parts::reap(conn, before))?;
    for (bucket, v) in files {
        remove_version(t, &bucket, &v);
    }
    Ok(())
}

/// Starts the reaper of `r2`: at once, every tenant with R2 files is opened (which removes the
/// uploads past their time, `R2::open`); then, as long as `r2` lives, the opened tenants' uploads
/// past their time are removed every `expiry / 4` (1 s to 10 min).
pub fn start_reaper(r2: &Arc<R2>) {
    let weak: Weak<R2> = Arc::downgrade(r2);
    let every =
        (r2.settings.multipart_expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let spawned = std::thread::Builder::new()
        .name("r2-reaper".into())
        .spawn(move || {
            if let Some(r2) = weak.upgrade() {
                r2.open_all();
            }
            loop {
                std::thread::sleep(every);
                let Some(r2) = weak.upgrade() else { return };
                for t in r2.opened() {
                    if let Err(e) = reap(&t, r2.settings.multipart_expiry) {
                        tracing::error!("r2: reaping multipart uploads: {e:?}");
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("r2: no reaper thread: {e}");
    }
}

#[cfg(test)]
#[path = "r2_multipart_tests.rs"]
mod tests;
