//! Test-only hooks: ways for an end-to-end test to make a worker do what an escaped tenant would,
//! so the supervisor's reaction is tested against a real jail kill instead of a mock.
//!
//! Guarantees: none of this exists in a release build. The module is compiled only with
//! `debug_assertions` (and refuses to compile otherwise), the worker's `--test-hooks` flag exists
//! only then too, and the supervisor passes that flag only when it runs with
//! `STOCKADE_TEST_HOOKS=1`. Trusts: nothing; the caller decides whether hooks are on.

#[cfg(not(debug_assertions))]
compile_error!("worker::test_hooks must never be built into a release binary");

/// A Code Mode snippet whose code is exactly this makes the worker call `mount(2)`, which the
/// jail's seccomp policy does not allow: the filter kills the process with SIGSYS.
pub const FORBIDDEN_SYSCALL: &str = "/* stockade test hook: forbidden syscall */";

/// Makes the forbidden system call. Under the jail it never returns; without it (`--no-jail`)
/// the call fails harmlessly and this says so.
pub fn forbidden_syscall() -> String {
    // SAFETY: mount(2) with null source, target, type and data and no flags: the kernel fails it
    // (EFAULT on the null target, or EPERM) without touching memory through the null pointers;
    // under the jail the seccomp filter kills the process before the kernel runs it at all.
    let rc = unsafe { libc::syscall(libc::SYS_mount, 0usize, 0usize, 0usize, 0usize, 0usize) };
    format!("the forbidden system call returned {rc}: the jail is off")
}
