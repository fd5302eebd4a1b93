//! The worker's modules as node:fs shows them under `/bundle` (workerd's bundle directory,
//! `io/bundle-fs.c++`): each module under its name, with the bytes it was given as (a JavaScript,
//! TypeScript or CommonJS module's source as uploaded, a text or JSON module's text, a data or
//! wasm module's bytes).
//!
//! How: while a worker whose flags give it node:fs loads, `compile_all` keeps each module's bytes
//! here, one copy per isolate (a worker without node:fs keeps nothing). The runtime's node:fs
//! (js/node-fs-vfs.js) reaches them through two native ops in a range of codes this crate owns,
//! dispatched by `host/op.rs` before the op table: [`LIST`] when a request first touches `/bundle` in
//! the isolate (names and sizes, no bytes), and [`READ`] for the bytes a read asks for. Nothing
//! is copied into JavaScript until a read, and a read's answer is a fresh buffer from the
//! isolate's arena (the tenant's memory budget), never kept by the runtime.
//!
//! Guarantees: the files are read-only (the ops have no write); a read is bounded by
//! [`MAX_READ`] and by the file, any index or range outside them is a RangeError; names are those
//! `stockade_source::modules::normalise_name` accepted (relative, no `.`/`..`, no NUL), so the
//! runtime places them without resolving anything. Trusts: the module walk to hand each module
//! once.

use crate::ops::fields::{self, Fields};
use crate::ops::{ErrorKind, OpError, OpResult};

/// Op code: the list of the bundle's files, `[name, size (u32 LE)]` per file, in name order.
pub(crate) const LIST: u32 = 0x7f01;
/// Op code: bytes of file `index` from `position`, at most `length` (each a u32 field).
pub(crate) const READ: u32 = 0x7f02;
/// The most bytes one [`READ`] answers (the runtime reads larger files in steps).
pub(crate) const MAX_READ: usize = 8 << 20;

/// Whether op `code` is one of this module's (the 0x7fxx range).
pub(crate) fn owns(code: u32) -> bool {
    code >> 8 == 0x7f
}

/// One module's bytes under its name.
struct File {
    name: String,
    bytes: Box<[u8]>,
}

/// The modules a worker was loaded with, by name.
#[derive(Default)]
pub(crate) struct Bundle {
    files: Vec<File>,
}

impl Bundle {
    /// Keeps module `name`'s `bytes`.
    pub(crate) fn add(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.push(File {
            name: name.to_string(),
            bytes: bytes.into_boxed_slice(),
        });
    }

    /// Sorts the files by name (the listing's order); of a name given twice, the first stays.
    pub(crate) fn finish(&mut self) {
        self.files.sort_by(|a, b| a.name.cmp(&b.name));
        self.files.dedup_by(|later, kept| later.name == kept.name);
    }

    /// Runs op `code` (one [`owns`] accepts) on `input`.
    pub(crate) fn run(&self, code: u32, input: &[u8]) -> OpResult<Vec<u8>> {
        match code {
            LIST => Ok(self.list()),
            READ => {
                let f = Fields::parse(input)?;
                let (index, position, length) = (f.u32(0)?, f.u32(1)?, f.u32(2)?);
                self.read(index as usize, position as usize, length as usize)
            }
            _ => Err(OpError::not_supported(format!(
                "unknown operation {code:#x}"
            ))),
        }
    }

    fn list(&self) -> Vec<u8> {
        let sizes: Vec<[u8; 4]> = self
            .files
            .iter()
            .map(|f| {
                u32::try_from(f.bytes.len())
                    .unwrap_or(u32::MAX)
                    .to_le_bytes()
            })
            .collect();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.files.len() * 2);
        for (file, size) in self.files.iter().zip(&sizes) {
            parts.push(file.name.as_bytes());
            parts.push(size);
        }
        fields::encode(&parts)
    }

    fn read(&self, index: usize, position: usize, length: usize) -> OpResult<Vec<u8>> {
        let range = |why: &str| OpError::new(ErrorKind::RangeError, why.to_string());
        let file = self
            .files
            .get(index)
            .ok_or_else(|| range("no such bundle file"))?;
        if length > MAX_READ {
            return Err(range("a bundle read is limited to 8 MiB"));
        }
        let start = position.min(file.bytes.len());
        let end = start.saturating_add(length).min(file.bytes.len());
        Ok(file.bytes[start..end].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        let mut b = Bundle::default();
        b.add("main.js", b"export default 1;".to_vec());
        b.add("lib/util.js", vec![1, 2, 3]);
        b.add("main.js", b"ignored".to_vec());
        b.finish();
        b
    }

    #[test]
    fn lists_names_and_sizes_in_name_order() {
        let list = bundle().run(LIST, &[]).expect("list");
        let mut r = fields::Reader::new(&list);
        assert_eq!(r.str().expect("name"), "lib/util.js");
        assert_eq!(r.u32().expect("size"), 3);
        assert_eq!(r.str().expect("name"), "main.js");
        assert_eq!(r.u32().expect("size"), 17);
        assert!(r.is_empty());
    }

    #[test]
    fn reads_are_bounded_by_the_file_and_the_cap() {
        let b = bundle();
        let read = |i: u32, p: u32, n: u32| {
            b.run(
                READ,
                &fields::encode(&[&i.to_le_bytes(), &p.to_le_bytes(), &n.to_le_bytes()]),
            )
        };
        assert_eq!(read(0, 1, 10).expect("read"), vec![2, 3]);
        assert_eq!(read(1, 7, 100).expect("read"), b"default 1;".to_vec());
        assert_eq!(read(1, 99, 5).expect("past the end"), Vec::<u8>::new());
        assert_eq!(
            read(2, 0, 1).err().map(|e| e.kind),
            Some(ErrorKind::RangeError)
        );
        assert_eq!(
            read(0, 0, MAX_READ as u32 + 1).err().map(|e| e.kind),
            Some(ErrorKind::RangeError)
        );
        assert!(b.run(READ, &[1, 2]).is_err(), "malformed input");
    }
}
