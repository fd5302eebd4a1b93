//! An object's bytes on their way in (an [`Upload`]: a temporary file, written a chunk at a time,
//! hashed as it goes) and on their way out (a [`Reader`]: an open file and what is left of the
//! range). Both are kept in the request's `Resources` between host calls, so neither ever holds
//! more than one chunk in memory.
//!
//! Guarantees: an upload's bytes never pass `r2_max_object_bytes`, nor the tenant's stored plus
//! uploading bytes `r2_tenant_max_bytes` (reserved as they are written, given back when the
//! upload ends either way); an upload dropped before it is stored (a failed write, a request
//! that ended, a put refused) removes its temporary file; a stored one is fsynced, renamed to its
//! version's name and its folder fsynced before the index is told. Trusts: the tenant handle and
//! settings it is given.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use md5::{Digest, Md5};
use sha2::{Sha256, Sha384, Sha512};

use super::r2::{new_version, reserve, sync_dir, R2Error, R2Settings, Tenant};
use crate::egress::connections::Slot;

/// A digest an upload is checked against (besides its MD5, its etag).
pub enum Check {
    Sha1(sha1::Sha1),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Check {
    /// The hasher for `name`, or None for `md5` (always computed).
    pub fn new(name: &str) -> Result<Option<Check>, R2Error> {
        Ok(match name {
            "md5" => None,
            "sha1" => Some(Check::Sha1(sha1::Sha1::new())),
            "sha256" => Some(Check::Sha256(Sha256::new())),
            "sha384" => Some(Check::Sha384(Sha384::new())),
            "sha512" => Some(Check::Sha512(Sha512::new())),
            _ => return Err(R2Error::Invalid(format!("no checksum {name:?}"))),
        })
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Check::Sha1(h) => h.update(bytes),
            Check::Sha256(h) => h.update(bytes),
            Check::Sha384(h) => h.update(bytes),
            Check::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> (&'static str, String) {
        match self {
            Check::Sha1(h) => ("sha1", hex(&h.finalize())),
            Check::Sha256(h) => ("sha256", hex(&h.finalize())),
            Check::Sha384(h) => ("sha384", hex(&h.finalize())),
            Check::Sha512(h) => ("sha512", hex(&h.finalize())),
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// An object's bytes being written.
pub struct Upload {
    tenant: Arc<Tenant>,
    pub bucket: String,
    version: String,
    temp: PathBuf,
    file: Option<File>,
    size: u64,
    /// Bytes reserved among the tenant's pending ones.
    reserved: u64,
    md5: Md5,
    check: Option<Check>,
    max_object: u64,
    quota: u64,
    /// Renamed to its version's name: the file is the index's to keep or this upload's to
    /// remove (`stored`).
    stored: bool,
    /// The request's open-connection place it holds from its first `r2.write` on, handed to the
    /// call that names it (`connections`: a streamed put is one connection, its feed included).
    slot: Option<Slot>,
}

/// What an upload became: its file under its version's name, not yet in the index.
pub struct Stored {
    pub tenant: Arc<Tenant>,
    pub version: String,
    pub size: u64,
    pub md5: String,
    pub check: Option<(&'static str, String)>,
    path: PathBuf,
    kept: bool,
    reserved: u64,
}

impl Stored {
    /// The index has it: the file stays.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        self.tenant
            .pending
            .fetch_sub(self.reserved, Ordering::SeqCst);
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Upload {
    /// Holds `slot`, one of its request's open connections, until [`Upload::take_slot`] or its
    /// end.
    pub fn hold(&mut self, slot: Slot) {
        self.slot = Some(slot);
    }

    /// Whether it holds one of its request's open connections (from its first bytes on).
    pub fn holds_slot(&self) -> bool {
        self.slot.is_some()
    }

    /// The place it holds, for the call that consumes it to hold until that call ends.
    pub fn take_slot(&mut self) -> Option<Slot> {
        self.slot.take()
    }

    /// A new upload into `bucket` (its folder made if new), checked against `check` too. Blocks.
    pub fn begin(
        tenant: Arc<Tenant>,
        settings: &R2Settings,
        bucket: &str,
        check: Option<Check>,
    ) -> Result<Upload, R2Error> {
        let dir = tenant.bucket_dir_made(bucket)?;
        let version = new_version()?;
        let temp = dir.join(format!("tmp-{version}"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| R2Error::internal("create", e))?;
        Ok(Upload {
            tenant,
            bucket: bucket.to_owned(),
            version,
            temp,
            file: Some(file),
            size: 0,
            reserved: 0,
            md5: Md5::new(),
            check,
            max_object: settings.max_object_bytes,
            quota: settings.tenant_max_bytes,
            stored: false,
            slot: None,
        })
    }

    /// Appends `bytes`. Blocks. An error leaves the upload to be dropped.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), R2Error> {
        let n = bytes.len() as u64;
        if self.size.saturating_add(n) > self.max_object {
            return Err(R2Error::Failed(
                10100,
                format!(
                    "put: Your proposed upload exceeds the maximum allowed object size, [store] r2_max_object_bytes = {} bytes",
                    self.max_object
                ),
            ));
        }
        reserve(&self.tenant, n, self.quota)?;
        self.reserved += n;
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| R2Error::Internal("the upload is over".into()))?;
        file.write_all(bytes)
            .map_err(|e| R2Error::internal("write", e))?;
        self.size += n;
        self.md5.update(bytes);
        if let Some(c) = self.check.as_mut() {
            c.update(bytes);
        }
        Ok(())
    }

    /// Makes the bytes durable under the version's name. Blocks.
    pub fn store(mut self) -> Result<Stored, R2Error> {
        let file = self
            .file
            .take()
            .ok_or_else(|| R2Error::Internal("the upload is over".into()))?;
        file.sync_all().map_err(|e| R2Error::internal("fsync", e))?;
        drop(file);
        let dir = self.tenant.bucket_dir(&self.bucket);
        let path = dir.join(&self.version);
        std::fs::rename(&self.temp, &path).map_err(|e| R2Error::internal("rename", e))?;
        self.stored = true;
        let reserved = std::mem::take(&mut self.reserved);
        let stored = Stored {
            tenant: Arc::clone(&self.tenant),
            version: std::mem::take(&mut self.version),
            size: self.size,
            md5: hex(&std::mem::take(&mut self.md5).finalize()),
            check: self.check.take().map(Check::finish),
            path,
            kept: false,
            reserved,
        };
        sync_dir(&dir)?;
        Ok(stored)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.tenant
            .pending
            .fetch_sub(self.reserved, Ordering::SeqCst);
        if !self.stored {
            self.file = None;
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// An object's bytes being read.
pub struct Reader {
    file: File,
    left: u64,
}

impl Reader {
    /// `file` from `offset`, `length` bytes. Blocks.
    pub fn new(mut file: File, offset: u64, length: u64) -> Result<Reader, R2Error> {
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| R2Error::internal("seek", e))?;
        Ok(Reader { file, left: length })
    }

    /// The next at most `max` bytes (fewer only at the end). Blocks.
    pub fn next(&mut self, max: usize) -> Result<Vec<u8>, R2Error> {
        let n = (self.left.min(max as u64)) as usize;
        let mut out = vec![0; n];
        self.file
            .read_exact(&mut out)
            .map_err(|e| R2Error::internal("read", e))?;
        self.left -= n as u64;
        Ok(out)
    }

    pub fn done(&self) -> bool {
        self.left == 0
    }
}
