//! Step 2–7: [`close`], the ordered sequence that seals a warmed worker.
//!
//! Guarantees: the steps run in the order below, each either succeeds or
//! returns its own [`JailError`] variant and stops (no step is skipped on
//! error, none is retried). Order matters and is explained inline: anything
//! needing a capability, a path or `/proc` runs before the step that
//! removes it; seccomp is last because it would forbid the earlier steps.
//!
//! Trusts: the caller to have initialised V8 already (nothing after
//! `close()` can open a file), and, with `layers.namespaces`, to have called
//! [`enter_namespaces`](crate::enter_namespaces) in this process.

use crate::config::{JailConfig, JailReport, SeccompMode};
use crate::error::JailError;
use crate::filter::{self, DefaultAction, PolicyContext};
use crate::policy::WORKER_POLICY;
use crate::{landlock_layer, namespaces, privileges, rootfs, sys};

/// Closes the jail around the calling process. See the crate docs for the
/// threat model; on `Err` the process must exit without serving anything.
pub fn close(config: &JailConfig) -> Result<JailReport, JailError> {
    if config.layers.namespaces && !namespaces::namespaces_entered() {
        return Err(JailError::NamespacesNotEntered);
    }
    if !sys::fd_is_open(config.keep_fd) {
        return Err(JailError::KeepFdNotOpen { fd: config.keep_fd });
    }
    // Needs /proc, which step 2 removes. Informational only.
    let threads_at_close = sys::thread_count().ok();

    // 1. Descriptors: V8's, the supervisor's stdio, anything leaked by a
    //    library. Only the IPC socket survives. First, so that no later step
    //    can be confused by an inherited descriptor (e.g. a directory fd that
    //    would outlive the pivot and lead back to the host tree).
    sys::close_all_except(config.keep_fd).map_err(JailError::CloseFds)?;

    // 2. Filesystem: empty read-only root. Needs CAP_SYS_ADMIN in our user
    //    namespace (dropped in step 5) and must precede Landlock, which
    //    forbids mount and pivot_root.
    if config.layers.namespaces {
        rootfs::pivot_to_empty_root()?;
    }

    // 3. Limits, then non-dumpable. RLIMIT_NPROC is set while we still could
    //    raise it, but soft = hard makes that moot once CAP_SYS_RESOURCE is gone.
    privileges::set_rlimits(&config.rlimits)?;
    privileges::make_undumpable()?;

    // 4. no_new_privs: required by Landlock and seccomp for an unprivileged
    //    caller, and closes execve-based privilege gain for good.
    privileges::set_no_new_privs()?;

    // 5. Capabilities: bounding (needs CAP_SETPCAP), then the rest.
    //    Without CAP_SETPCAP (no namespaces, unprivileged caller) the
    //    bounding set stays, harmless under no_new_privs; reported.
    let bounding_set_empty = privileges::drop_all_capabilities()?;

    // 6. Landlock: deny-all domain. Works without capabilities (no_new_privs).
    let landlock = if config.layers.landlock {
        Some(landlock_layer::restrict_everything()?)
    } else {
        None
    };

    // 7. Seccomp, last: it forbids mount, prctl(PR_CAPBSET_DROP), landlock_*.
    //    OwnPid is read now: the filter forbids fork, so it never changes.
    let (seccomp_programs, seccomp_instructions) = match config.layers.seccomp {
        SeccompMode::Off => (0, 0),
        mode => {
            let default = match mode {
                SeccompMode::Log => DefaultAction::Log,
                _ => DefaultAction::KillProcess,
            };
            // SAFETY: getpid has no preconditions and cannot fail.
            let own_pid = unsafe { libc::getpid() };
            let ctx = PolicyContext {
                kept_fd: config.keep_fd,
                own_pid,
            };
            let compiled =
                filter::compile(WORKER_POLICY, default, ctx).map_err(JailError::SeccompCompile)?;
            filter::install(&compiled).map_err(JailError::SeccompInstall)?;
            (compiled.programs.len(), compiled.instructions())
        }
    };

    Ok(JailReport {
        threads_at_close,
        kept_fd: config.keep_fd,
        empty_root: config.layers.namespaces,
        rlimits: config.rlimits,
        non_dumpable: true,
        no_new_privs: true,
        capabilities_dropped: true,
        bounding_set_empty,
        landlock,
        seccomp: config.layers.seccomp,
        seccomp_programs,
        seccomp_instructions,
    })
}
