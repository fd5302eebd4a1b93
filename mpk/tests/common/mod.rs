//! Test support for this crate's tests: the shared child-process harness
//! (`stockade_mpk::testing`), plus test pages and canaries.
#![allow(dead_code)]

pub use stockade_mpk::testing::*;

pub const PAGE: usize = 4096;

/// A value the child cannot guess: nanoseconds since the epoch mixed with
/// the pid, never zero.
pub fn fresh_canary() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// Child side: the canary the parent chose.
pub fn canary_from_env() -> u64 {
    std::env::var("STOCKADE_MPK_CANARY")
        .ok()
        .and_then(|v| parse_num(&v))
        .expect("STOCKADE_MPK_CANARY")
}

/// Two adjacent private read-write pages, unmapped on drop.
pub struct TwoPages {
    base: *mut u8,
}

impl TwoPages {
    pub fn map() -> TwoPages {
        // SAFETY: anonymous private mapping at a kernel-chosen address.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap");
        TwoPages { base: base.cast() }
    }
    pub fn a(&self) -> *mut u64 {
        self.base.cast()
    }
    pub fn b(&self) -> *mut u64 {
        self.base.wrapping_add(PAGE).cast()
    }
}

impl Drop for TwoPages {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `map` with this length.
        unsafe { libc::munmap(self.base.cast(), 2 * PAGE) };
    }
}
