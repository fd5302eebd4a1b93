//! The random source of key generation and randomized padding: getrandom(2), the system call the
//! worker's seccomp policy allows for crypto.getRandomValues (host.rs uses the same). No file is
//! opened (a jailed worker has no /dev/urandom), no user-space generator is kept.

use std::convert::Infallible;

/// Fills `buf` from the kernel's CSPRNG. getrandom(2) without flags blocks only until the pool
/// is first seeded and never fails for a valid buffer; a failure would be a broken kernel, so it
/// panics (the op boundary turns that into an OperationError).
pub(crate) fn fill(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            panic!("getrandom failed: {}", std::io::Error::last_os_error());
        }
        filled += n as usize;
    }
}

/// getrandom(2) as a `rand_core` generator, for the crates that take one.
pub(crate) struct SysRng;

impl rand_core::TryRng for SysRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        fill(&mut b);
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        fill(&mut b);
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for SysRng {}
