//! Where a process's resident memory is: `/proc/<pid>/smaps` split by kind of mapping, and (for
//! this process) glibc malloc's own view. Read-only observation for the load tools; trusts the
//! kernel's smaps format and glibc's `malloc_info` XML.

use std::fmt;

/// Resident KiB of one kind of mapping, and how many mappings of that kind there are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kind {
    pub mappings: usize,
    pub rss_kib: u64,
}

/// A process's RSS split by mapping kind. Anonymous mappings are classed by their size, which
/// tells their owners apart: glibc's thread arenas are 64 MiB-aligned heaps (one mapping of up
/// to 64 MiB), V8's heap pages are 256 KiB, and malloc's large blocks are single mmaps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Smaps {
    pub total_kib: u64,
    /// The brk heap (glibc's main arena).
    pub brk: Kind,
    /// Anonymous mappings up to 256 KiB, up to 4 MiB, up to 64 MiB, and larger.
    pub anon: [Kind; 4],
    /// Mappings of files (the binary, libnode, ICU data, ...).
    pub file: Kind,
    /// The rest: stacks, vdso, ...
    pub other: Kind,
}

/// The upper bounds (KiB) of the anonymous size classes in [`Smaps::anon`].
pub const ANON_CLASSES_KIB: [u64; 3] = [256, 4 << 10, 64 << 10];

impl Smaps {
    /// Reads `/proc/<pid>/smaps` (`pid` "self" for this process); `None` when it cannot be read.
    pub fn of(pid: &str) -> Option<Smaps> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
        let mut out = Smaps::default();
        let mut current: Option<&mut Kind> = None;
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let first = fields.next().unwrap_or("");
            if let Some((a, b)) = first.split_once('-') {
                if let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
                    let name = fields.nth(4).unwrap_or("");
                    let kind = if name.is_empty() {
                        let kib = (b - a) >> 10;
                        let class = ANON_CLASSES_KIB.iter().take_while(|c| kib > **c).count();
                        &mut out.anon[class]
                    } else if name == "[heap]" {
                        &mut out.brk
                    } else if name.starts_with('/') {
                        &mut out.file
                    } else {
                        &mut out.other
                    };
                    kind.mappings += 1;
                    current = Some(kind);
                    continue;
                }
            }
            if first == "Rss:" {
                let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                out.total_kib += kib;
                if let Some(kind) = current.as_deref_mut() {
                    kind.rss_kib += kib;
                }
            }
        }
        Some(out)
    }

    /// One line of column headers matching [`fmt::Display`].
    pub fn header() -> &'static str {
        "rss_kib  brk(n/kib)  anon<=256K  anon<=4M  anon<=64M  anon>64M  file(n/kib)  other"
    }
}

impl fmt::Display for Smaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = |k: &Kind| format!("{}/{}", k.mappings, k.rss_kib);
        write!(
            f,
            "{:>7}  {:>10}  {:>10}  {:>8}  {:>9}  {:>8}  {:>11}  {}",
            self.total_kib,
            k(&self.brk),
            k(&self.anon[0]),
            k(&self.anon[1]),
            k(&self.anon[2]),
            k(&self.anon[3]),
            k(&self.file),
            k(&self.other)
        )
    }
}

/// glibc malloc's view of this process: bytes in use, free inside its arenas, and in its own
/// mmaps, and how many arenas it has.
#[derive(Clone, Copy, Debug, Default)]
pub struct Malloc {
    pub in_use_kib: u64,
    pub free_kib: u64,
    pub mmapped_kib: u64,
    pub arenas: usize,
}

impl Malloc {
    pub fn now() -> Malloc {
        // SAFETY: mallinfo2 only reads malloc's counters.
        let info = unsafe { libc::mallinfo2() };
        Malloc {
            in_use_kib: (info.uordblks as u64) >> 10,
            free_kib: (info.fordblks as u64) >> 10,
            mmapped_kib: (info.hblkhd as u64) >> 10,
            arenas: malloc_info_xml().matches("<heap nr=").count(),
        }
    }
}

impl fmt::Display for Malloc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malloc in-use {} KiB, free {} KiB, mmapped {} KiB, arenas {}",
            self.in_use_kib, self.free_kib, self.mmapped_kib, self.arenas
        )
    }
}

/// glibc's `malloc_info(0, ...)` XML for this process (empty if it cannot be produced).
fn malloc_info_xml() -> String {
    let mut buf: *mut libc::c_char = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: open_memstream writes the buffer pointer and length into our two locals, which
    // outlive the stream; the buffer is malloc'd by glibc, copied out, then freed once.
    unsafe {
        let stream = libc::open_memstream(&mut buf, &mut len);
        if stream.is_null() {
            return String::new();
        }
        libc::malloc_info(0, stream);
        libc::fclose(stream);
        if buf.is_null() {
            return String::new();
        }
        let bytes = std::slice::from_raw_parts(buf.cast::<u8>(), len);
        let text = String::from_utf8_lossy(bytes).into_owned();
        libc::free(buf.cast());
        text
    }
}
