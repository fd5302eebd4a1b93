//! The `r2.*` host calls behind a `{"binding": "r2"}` (isolate/js/r2.js).
//!
//! Wire (framed like the other storage calls; every head names its `binding` but `r2.write`,
//! `r2.read`, `r2.abort` and `r2.cancel`, which name a resource of the request's own):
//! - `r2.head {key}` -> `{object}` (null: none);
//! - `r2.get {key, onlyIf?, range?}` -> `{object, body, stream?}` and the range's first chunk
//!   (`body: false`: the condition failed; `stream`: the rest comes with `r2.read {stream}` ->
//!   `{done}` and a chunk; `r2.cancel {stream}` lets it go);
//! - `r2.upload {hash?}` -> `{upload}`; `r2.write {upload}` and a chunk; `r2.abort {upload}`;
//! - `r2.put {key, upload?, httpMetadata?, customMetadata?, onlyIf?, checksums?}` and the bytes
//!   when no upload -> `{object}` (null: the condition failed);
//! - the multipart uploads' `r2.createMultipart`, `r2.uploadPart`, `r2.completeMultipart`,
//!   `r2.abortMultipart` (`r2_multipart`);
//! - `r2.delete {keys}`; `r2.list {prefix?, limit?, cursor?, delimiter?, startAfter?}` ->
//!   `{objects, truncated, cursor?, delimitedPrefixes}`.
//!
//! An object is `{key, version, size, etag, uploaded, httpMetadata, customMetadata, checksums,
//! expires?, range?}`. Guarantees: a call reaches only a bucket of an R2 binding of the calling
//! worker's stored definition, within the calling tenant; uploads and readers are the request's
//! resources (`Resources`: dropped, and an upload's file removed, when it ends); at most
//! [`CHUNK`] bytes per call each way. Trusts: the call context.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};

use super::r2::{check_key, remove_version, R2Error, Tenant, CHUNK, R2};
use super::r2_args::{
    b64, checksum, custom_metadata, http_metadata, id_of, key_of, list_query, object_json,
    str_field, MAX_DELETE,
};
use super::r2_cond::{OnlyIf, Range};
use super::r2_index::{self, Committed, Meta};
use super::r2_upload::{Check, Reader, Upload};
use super::{frame, split, Storage};
use crate::supervisor::bindings::Binding;
use crate::supervisor::CallContext;

pub const OPS: [&str; 14] = [
    "head",
    "get",
    "read",
    "cancel",
    "upload",
    "write",
    "abort",
    "put",
    "delete",
    "list",
    super::r2_multipart::OPS[0],
    super::r2_multipart::OPS[1],
    super::r2_multipart::OPS[2],
    super::r2_multipart::OPS[3],
];

type Done = Result<(Value, Vec<u8>), R2Error>;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, R2Error> + Send + 'static,
) -> Result<T, R2Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| R2Error::internal("task", e))?
}

impl R2 {
    /// An upload of `t`'s `bucket` holding `body`, the bytes a call carried whole (checked by
    /// `check` as they are written). Blocks a pool thread, not the caller.
    pub(super) async fn upload_whole(
        &self,
        t: &Arc<Tenant>,
        bucket: &str,
        body: &[u8],
        check: Option<Check>,
    ) -> Result<Upload, R2Error> {
        let (settings, t, bucket, bytes) = (
            self.settings.clone(),
            Arc::clone(t),
            bucket.to_owned(),
            body.to_vec(),
        );
        blocking(move || {
            let mut u = Upload::begin(t, &settings, &bucket, check)?;
            u.write(&bytes)?;
            Ok(u)
        })
        .await
    }

    async fn tenant_of(
        self: &Arc<Self>,
        tenant: &str,
        bucket: &str,
    ) -> Result<Arc<Tenant>, R2Error> {
        let (me, tenant, bucket) = (Arc::clone(self), tenant.to_owned(), bucket.to_owned());
        blocking(move || me.tenant(&tenant, &bucket)).await
    }

    /// `r2.{op}` on `bucket` of `tenant`.
    pub async fn call(
        self: &Arc<Self>,
        context: &CallContext,
        tenant: &str,
        bucket: &str,
        op: &str,
        head: &Value,
        body: &[u8],
    ) -> Done {
        let t = self.tenant_of(tenant, bucket).await?;
        let bucket = bucket.to_owned();
        match op {
            "head" => {
                let key = key_of(head)?;
                let found = blocking(move || r2_index::get(&t.lock(), &bucket, &key)).await?;
                Ok((
                    json!({"object": found.map(|m| object_json(&m, None))}),
                    Vec::new(),
                ))
            }
            "get" => {
                let key = key_of(head)?;
                let only_if = OnlyIf::parse(head.get("onlyIf"))?;
                let range = Range::parse(head.get("range"))?;
                self.get(context, t, bucket, key, only_if, range).await
            }
            "upload" => {
                let check = match str_field(head, "hash")? {
                    Some(name) => Check::new(name)?,
                    None => None,
                };
                let settings = self.settings.clone();
                let upload = blocking(move || Upload::begin(t, &settings, &bucket, check)).await?;
                let id = context.resources.insert(upload).ok_or_else(|| {
                    R2Error::Invalid("put: this request holds too many open streams".into())
                })?;
                Ok((json!({"upload": id}), Vec::new()))
            }
            "put" => self.put(context, t, bucket, head, body).await,
            "delete" => {
                let keys: Vec<String> = match head.get("keys") {
                    Some(Value::Array(keys)) => keys
                        .iter()
                        .map(|k| {
                            let k = k.as_str().ok_or_else(|| {
                                R2Error::Invalid("delete: keys must be strings".into())
                            })?;
                            check_key(k)?;
                            Ok(k.to_owned())
                        })
                        .collect::<Result<_, R2Error>>()?,
                    _ => return Err(R2Error::Invalid("delete: keys must be an array".into())),
                };
                if keys.len() > MAX_DELETE {
                    return Err(R2Error::Invalid(format!(
                        "delete: at most {MAX_DELETE} keys at once"
                    )));
                }
                blocking(move || {
                    let gone = t.change(|conn| r2_index::delete(conn, &bucket, &keys))?;
                    for version in gone {
                        remove_version(&t, &bucket, &version);
                    }
                    Ok(())
                })
                .await?;
                Ok((json!({}), Vec::new()))
            }
            "list" => {
                let q = list_query(head)?;
                let page = blocking(move || r2_index::list(&t.lock(), &bucket, &q)).await?;
                let objects: Vec<Value> =
                    page.objects.iter().map(|m| object_json(m, None)).collect();
                Ok((
                    json!({
                        "objects": objects,
                        "truncated": page.cursor.is_some(),
                        "cursor": page.cursor.map(|c| b64().encode(c)),
                        "delimitedPrefixes": page.delimited_prefixes,
                    }),
                    Vec::new(),
                ))
            }
            _ if super::r2_multipart::OPS.contains(&op) => {
                self.multipart(context, t, bucket, op, head, body).await
            }
            _ => Err(R2Error::Invalid(format!("no r2 operation {op}"))),
        }
    }

    async fn get(
        &self,
        context: &CallContext,
        t: Arc<Tenant>,
        bucket: String,
        key: String,
        only_if: OnlyIf,
        range: Option<Range>,
    ) -> Done {
        let opened = blocking(move || {
            let conn = t.lock();
            let Some(m) = r2_index::get(&conn, &bucket, &key)? else {
                return Ok(None);
            };
            if !only_if.holds(Some(&m)) {
                return Ok(Some((m, None)));
            }
            let (offset, length) = match &range {
                Some(r) => r.resolve(m.size)?,
                None => (0, m.size),
            };
            let file = std::fs::File::open(t.bucket_dir(&bucket).join(&m.version))
                .map_err(|e| R2Error::internal("open", e))?;
            drop(conn);
            let mut reader = Reader::new(file, offset, length)?;
            let first = reader.next(CHUNK)?;
            Ok(Some((
                m,
                Some((reader, first, (offset, length), range.is_some())),
            )))
        })
        .await?;
        let Some((m, body)) = opened else {
            return Ok((json!({"object": null}), Vec::new()));
        };
        let Some((reader, first, range, ranged)) = body else {
            return Ok((
                json!({"object": object_json(&m, None), "body": false}),
                Vec::new(),
            ));
        };
        let mut head = json!({"object": object_json(&m, ranged.then_some(range)), "body": true});
        if !reader.done() {
            let id = context.resources.insert(reader).ok_or_else(|| {
                R2Error::Invalid("get: this request holds too many open streams".into())
            })?;
            head["stream"] = json!(id);
        }
        Ok((head, first))
    }

    async fn put(
        &self,
        context: &CallContext,
        t: Arc<Tenant>,
        bucket: String,
        head: &Value,
        body: &[u8],
    ) -> Done {
        // The upload it names first: whatever fails below drops it, and the place it holds.
        let named = match head.get("upload").filter(|v| !v.is_null()) {
            Some(_) => Some(
                context
                    .resources
                    .take::<Upload>(id_of(head, "upload")?)
                    .ok_or_else(|| R2Error::Invalid("put: no such upload".into()))?,
            ),
            None => None,
        };
        let key = key_of(head)?;
        let http = http_metadata(head.get("httpMetadata"))?;
        let custom = custom_metadata(head.get("customMetadata"))?;
        let only_if = OnlyIf::parse(head.get("onlyIf"))?;
        let wanted = checksum(head)?;
        // The put is one open connection: its upload's place, or one of its own.
        let (upload, _slot) = match named {
            Some(mut upload) => {
                if upload.bucket != bucket {
                    return Err(R2Error::Invalid(
                        "put: the upload is another bucket's".into(),
                    ));
                }
                if !body.is_empty() {
                    return Err(R2Error::Invalid("put: bytes and an upload both".into()));
                }
                let slot = match upload.take_slot() {
                    Some(slot) => slot,
                    None => open_connection(context).await?, // an upload of no bytes
                };
                (upload, slot)
            }
            None => {
                let slot = open_connection(context).await?;
                let check = match &wanted {
                    Some((name, _)) => Check::new(name)?,
                    None => None,
                };
                (self.upload_whole(&t, &bucket, body, check).await?, slot)
            }
        };
        let quota = self.settings.tenant_max_bytes;
        let now = crate::store::now_ms();
        blocking(move || {
            let stored = upload.store()?;
            let mut checksums = json!({"md5": stored.md5});
            if let Some((name, hex)) = &stored.check {
                checksums[*name] = json!(hex);
            }
            if let Some((name, want)) = &wanted {
                if checksums.get(name).and_then(Value::as_str) != Some(want.as_str()) {
                    return Err(R2Error::Failed(
                        10037,
                        format!(
                            "put: The {name} checksum you specified did not match what we received"
                        ),
                    ));
                }
            }
            let meta = Meta {
                key,
                version: stored.version.clone(),
                size: stored.size,
                etag: stored.md5.clone(),
                uploaded_ms: now,
                http,
                custom,
                checksums,
            };
            let committed = stored
                .tenant
                .change(|conn| r2_index::commit(conn, &bucket, &meta, &only_if, quota))?;
            let (done, replaced) = match committed {
                Committed::ConditionFailed => (false, None),
                Committed::Written(old) => (true, old),
            };
            if !done {
                return Ok((json!({"object": null}), Vec::new()));
            }
            let tenant = Arc::clone(&stored.tenant);
            stored.keep();
            if let Some(old) = replaced {
                remove_version(&tenant, &bucket, &old);
            }
            Ok((json!({"object": object_json(&meta, None)}), Vec::new()))
        })
        .await
    }
}

/// `r2.read`, `r2.cancel`, `r2.write`, `r2.abort`: on a resource of the request's.
async fn on_resource(context: &CallContext, op: &str, head: &Value, body: &[u8]) -> Done {
    let resources = Arc::clone(&context.resources);
    match op {
        "read" => {
            let id = id_of(head, "stream")?;
            let mut reader = resources
                .take::<Reader>(id)
                .ok_or_else(|| R2Error::Invalid("get: no such body stream".into()))?;
            let (reader, chunk) = blocking(move || {
                let chunk = reader.next(CHUNK)?;
                Ok((reader, chunk))
            })
            .await?;
            let done = reader.done();
            if !done {
                resources.put_back(id, reader);
            }
            Ok((json!({"done": done}), chunk))
        }
        "cancel" => {
            drop(resources.take::<Reader>(id_of(head, "stream")?));
            Ok((json!({}), Vec::new()))
        }
        "write" => {
            let id = id_of(head, "upload")?;
            let mut upload = resources
                .take::<Upload>(id)
                .ok_or_else(|| R2Error::Invalid("put: no such upload".into()))?;
            if body.len() > CHUNK {
                return Err(R2Error::Invalid(format!(
                    "put: a chunk is at most {CHUNK} bytes"
                )));
            }
            if !upload.holds_slot() {
                // Its first bytes: one of the request's open connections from now until the
                // call that names the upload (its put or part) has ended, which takes no other.
                upload.hold(open_connection(context).await?);
            }
            let bytes = body.to_vec();
            // On an error the upload is dropped here: its temporary file goes at once.
            let upload = blocking(move || {
                upload.write(&bytes)?;
                Ok(upload)
            })
            .await?;
            resources.put_back(id, upload);
            Ok((json!({}), Vec::new()))
        }
        _ => {
            let id = id_of(head, "upload")?;
            let upload = resources.take::<Upload>(id);
            blocking(move || {
                drop(upload);
                Ok(())
            })
            .await?;
            Ok((json!({}), Vec::new()))
        }
    }
}

impl Storage {
    /// An `r2.{op}` call: the binding it names resolved against the caller's stored bindings.
    pub(super) async fn answer_r2(
        &self,
        r2: Arc<R2>,
        context: CallContext,
        payload: Vec<u8>,
        op: &'static str,
    ) -> Result<Vec<u8>, String> {
        let (head, body) = split(&payload)?;
        let done = if matches!(op, "read" | "cancel" | "write" | "abort") {
            on_resource(&context, op, &head, body).await
        } else {
            let (tenant, name) = context.binding_caller(self.tenants.get(), &head)?;
            let Some(Binding::R2 { bucket }) = context.bindings.get(name) else {
                return Err(format!("this worker has no R2 binding named {name:?}"));
            };
            r2.call(&context, &tenant, bucket, op, &head, body).await
        };
        Ok(match done {
            Ok((head, bytes)) => frame(&head, &bytes),
            Err(e) => frame(&e.head(), &[]),
        })
    }
}

/// One of the calling request's open connections (`egress::connections`), waited for in turn.
pub(super) async fn open_connection(
    context: &CallContext,
) -> Result<crate::egress::connections::Slot, R2Error> {
    crate::egress::connections::open(&context.resources)
        .await
        .map_err(|closed| R2Error::Invalid(closed.to_string()))
}
