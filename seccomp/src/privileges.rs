//! Steps 3–5: resource limits, non-dumpable, `no_new_privs`, capabilities.
//!
//! Guarantees, once these return `Ok`:
//! - the configured rlimits are in force with soft = hard;
//! - the process is non-dumpable: no core dump even through a piped
//!   `core_pattern` (which ignores `RLIMIT_CORE`), and same-uid
//!   unprivileged processes can no longer ptrace it or read its /proc files;
//! - `no_new_privs` is set (read back): no execve can ever grant privilege;
//! - on the calling thread, the ambient, inheritable, effective and
//!   permitted sets are empty (read back), and so is the bounding set
//!   (every index the kernel knows, not only those the caps crate lists)
//!   whenever the thread held `CAP_SETPCAP` — always true after
//!   `enter_namespaces()`.
//!   Capabilities are per-thread: threads started before `close()` keep
//!   theirs (in the worker's own user namespace only); seccomp denies them
//!   every call that would use one.
//!
//! Trusts: the kernel's prctl/capset semantics and the caps crate.

use caps::CapSet;

use crate::config::Rlimits;
use crate::error::JailError;
use crate::sys;

/// Step 3: rlimits, soft = hard.
pub(crate) fn set_rlimits(limits: &Rlimits) -> Result<(), JailError> {
    let table: [(libc::__rlimit_resource_t, &'static str, u64); 4] = [
        (libc::RLIMIT_CORE, "RLIMIT_CORE", limits.core),
        (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE", limits.fsize),
        (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE", limits.nofile),
        (libc::RLIMIT_NPROC, "RLIMIT_NPROC", limits.nproc),
    ];
    for (resource, name, value) in table {
        sys::set_rlimit(resource, value).map_err(|source| JailError::Rlimit {
            resource: name,
            source,
        })?;
    }
    Ok(())
}

/// Step 3b: `PR_SET_DUMPABLE 0`.
pub(crate) fn make_undumpable() -> Result<(), JailError> {
    sys::prctl(libc::PR_SET_DUMPABLE, 0).map_err(JailError::Undumpable)?;
    Ok(())
}

/// Step 4: `PR_SET_NO_NEW_PRIVS 1`, read back.
pub(crate) fn set_no_new_privs() -> Result<(), JailError> {
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).map_err(JailError::NoNewPrivs)?;
    match sys::prctl(libc::PR_GET_NO_NEW_PRIVS, 0) {
        Ok(1) => Ok(()),
        Ok(other) => Err(JailError::NoNewPrivs(std::io::Error::other(format!(
            "PR_GET_NO_NEW_PRIVS reads {other}"
        )))),
        Err(e) => Err(JailError::NoNewPrivs(e)),
    }
}

/// Step 5: empty every capability set of the calling thread, then verify.
///
/// Returns whether the bounding set was emptied. Dropping from it needs
/// `CAP_SETPCAP`, which the worker holds in its own user namespace (the
/// production path). A caller without it (namespaces layer off, spawned
/// unprivileged) has empty capability sets already and `no_new_privs` set,
/// so no execve can ever grant it anything: then the bounding set is left
/// alone and the report says so.
pub(crate) fn drop_all_capabilities() -> Result<bool, JailError> {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| JailError::DropCapabilities(format!("{what}: {e}"));
    let can_drop_bounding = caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP)
        .map_err(|e| fail("reading effective set", &e))?;
    if can_drop_bounding {
        // Bounding first: it needs CAP_SETPCAP in the effective set.
        caps::clear(None, CapSet::Bounding).map_err(|e| fail("bounding", &e))?;
        // The kernel may know capabilities newer than the caps crate's list.
        for index in 0..64 {
            match sys::prctl(libc::PR_CAPBSET_READ, index) {
                Ok(1) => {
                    sys::prctl(libc::PR_CAPBSET_DROP, index)
                        .map_err(|e| fail(&format!("bounding cap {index}"), &e))?;
                }
                Ok(_) => {}
                Err(_) => break, // EINVAL: past the kernel's last capability
            }
        }
    }
    for (name, set) in [
        ("ambient", CapSet::Ambient),
        ("inheritable", CapSet::Inheritable),
        ("effective", CapSet::Effective),
        ("permitted", CapSet::Permitted),
    ] {
        caps::clear(None, set).map_err(|e| fail(name, &e))?;
    }
    verify_no_capabilities(can_drop_bounding).map_err(JailError::DropCapabilities)?;
    Ok(can_drop_bounding)
}

/// Reads every set back; `Err` names the first non-empty one.
fn verify_no_capabilities(bounding_too: bool) -> Result<(), String> {
    for (name, set) in [
        ("effective", CapSet::Effective),
        ("permitted", CapSet::Permitted),
        ("inheritable", CapSet::Inheritable),
        ("ambient", CapSet::Ambient),
    ] {
        match caps::read(None, set) {
            Ok(found) if found.is_empty() => {}
            Ok(found) => return Err(format!("{name} still holds {found:?}")),
            Err(e) => return Err(format!("reading {name}: {e}")),
        }
    }
    if !bounding_too {
        return Ok(());
    }
    for index in 0..64 {
        match sys::prctl(libc::PR_CAPBSET_READ, index) {
            Ok(0) => {}
            Ok(_) => return Err(format!("bounding still holds cap {index}")),
            Err(_) => break,
        }
    }
    Ok(())
}
