//! Compiles a [`SyscallRule`] table into BPF with seccompiler and installs it
//! on every thread (TSYNC).
//!
//! Guarantees:
//! - The main filter allows exactly the table's entries (arguments checked)
//!   and gives everything else the mode's default action: KILL_PROCESS in
//!   `Enforce`, LOG (allow + audit record) in `Log`. seccompiler prefixes it
//!   with an architecture check that kills any non-x86_64 ABI (`int 0x80`);
//!   x32 calls carry bit 30 in their number, match no entry, and get the
//!   default action.
//! - Entries with [`Verdict::Errno`] are passed by the main filter and turned
//!   into an errno by one small extra filter per errno value. The kernel runs
//!   every installed filter and keeps the most severe result
//!   (KILL > TRAP > ERRNO > LOG > ALLOW), so stacking cannot loosen anything.
//!
//! Trusts: seccompiler's code generation, and the kernel's filter semantics.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::policy::{ArgCheck, ArgOp, ArgValue, ArgWidth, PolicyError, SyscallRule, Verdict};

/// Runtime values the table's symbolic arguments resolve to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyContext {
    /// [`ArgValue::KeptFd`].
    pub kept_fd: i32,
    /// [`ArgValue::OwnPid`].
    pub own_pid: i32,
}

/// What an unlisted call gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// `SECCOMP_RET_KILL_PROCESS`: the whole worker dies with SIGSYS.
    KillProcess,
    /// `SECCOMP_RET_LOG`: the call runs and the kernel writes an audit record.
    Log,
}

/// The compiled filters, in installation order.
#[derive(Clone, Debug)]
pub struct CompiledPolicy {
    /// BPF programs; the first is the allow-list.
    pub programs: Vec<BpfProgram>,
}

impl CompiledPolicy {
    /// Total BPF instructions across all programs.
    pub fn instructions(&self) -> usize {
        self.programs.iter().map(Vec::len).sum()
    }
}

/// Per-syscall merge of the table's entries.
struct Merged {
    name: &'static str,
    verdict: Verdict,
    /// `None`: some entry has no conditions, so any arguments match.
    rules: Option<Vec<SeccompRule>>,
}

/// Compiles `table` for the running architecture.
pub fn compile(
    table: &[SyscallRule],
    default: DefaultAction,
    ctx: PolicyContext,
) -> Result<CompiledPolicy, PolicyError> {
    let arch = target_arch()?;
    let merged = merge(table, ctx)?;

    let allow_list: BTreeMap<i64, Vec<SeccompRule>> = merged
        .iter()
        .map(|(nr, m)| (*nr, m.rules.clone().unwrap_or_default()))
        .collect();
    let default_action = match default {
        DefaultAction::KillProcess => SeccompAction::KillProcess,
        DefaultAction::Log => SeccompAction::Log,
    };
    let main = SeccompFilter::new(allow_list, default_action, SeccompAction::Allow, arch)?;
    let mut programs = vec![BpfProgram::try_from(main)?];

    let mut errnos: Vec<i32> = merged
        .values()
        .filter_map(|m| match m.verdict {
            Verdict::Errno(e) => Some(e),
            Verdict::Allow => None,
        })
        .collect();
    errnos.sort_unstable();
    errnos.dedup();
    for errno in errnos {
        let rules: BTreeMap<i64, Vec<SeccompRule>> = merged
            .iter()
            .filter(|(_, m)| m.verdict == Verdict::Errno(errno))
            .map(|(nr, m)| (*nr, m.rules.clone().unwrap_or_default()))
            .collect();
        let errno = match u32::try_from(errno) {
            Ok(e @ 1..=4095) => e,
            _ => return Err(PolicyError::BadErrno(errno)),
        };
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno),
            arch,
        )?;
        programs.push(BpfProgram::try_from(filter)?);
    }
    Ok(CompiledPolicy { programs })
}

/// Installs `policy` on every thread of the process (TSYNC); also sets
/// `no_new_privs` on each of them, which seccomp requires.
///
/// The allow-list goes in last: installing a filter takes `prctl` and
/// `seccomp`, which the allow-list denies but the errno filters pass.
pub fn install(policy: &CompiledPolicy) -> Result<(), seccompiler::Error> {
    for program in policy.programs.iter().rev() {
        seccompiler::apply_filter_all_threads(program)?;
    }
    Ok(())
}

fn target_arch() -> Result<TargetArch, PolicyError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(TargetArch::x86_64),
        other => Err(PolicyError::UnsupportedArch(other)),
    }
}

fn merge(table: &[SyscallRule], ctx: PolicyContext) -> Result<BTreeMap<i64, Merged>, PolicyError> {
    let mut merged: BTreeMap<i64, Merged> = BTreeMap::new();
    for entry in table {
        let rule = if entry.when.is_empty() {
            None
        } else {
            let conditions = entry
                .when
                .iter()
                .map(|check| condition(entry, check, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            Some(SeccompRule::new(conditions)?)
        };
        match merged.get_mut(&entry.nr) {
            None => {
                merged.insert(
                    entry.nr,
                    Merged {
                        name: entry.name,
                        verdict: entry.verdict,
                        rules: rule.map(|r| vec![r]),
                    },
                );
            }
            Some(existing) => {
                if existing.verdict != entry.verdict {
                    return Err(PolicyError::ConflictingVerdicts {
                        name: existing.name,
                        nr: entry.nr,
                    });
                }
                // An unconditional entry absorbs every conditional one.
                match (&mut existing.rules, rule) {
                    (Some(rules), Some(rule)) => rules.push(rule),
                    (rules, None) => *rules = None,
                    (None, Some(_)) => {}
                }
            }
        }
    }
    Ok(merged)
}

fn condition(
    entry: &SyscallRule,
    check: &ArgCheck,
    ctx: PolicyContext,
) -> Result<SeccompCondition, PolicyError> {
    if check.index > 5 {
        return Err(PolicyError::BadArgIndex {
            name: entry.name,
            index: check.index,
        });
    }
    let value = match check.value {
        ArgValue::Const(v) => v,
        // `int` arguments compare on the low 32 bits (Dword), so the
        // two's-complement bit pattern of the i32 is what the kernel sees.
        ArgValue::KeptFd => u64::from(ctx.kept_fd as u32),
        ArgValue::OwnPid => u64::from(ctx.own_pid as u32),
    };
    let width = match check.width {
        ArgWidth::Dword => SeccompCmpArgLen::Dword,
        ArgWidth::Qword => SeccompCmpArgLen::Qword,
    };
    let op = match check.op {
        ArgOp::Eq => SeccompCmpOp::Eq,
        ArgOp::MaskedEq(mask) => SeccompCmpOp::MaskedEq(mask),
    };
    Ok(SeccompCondition::new(check.index, width, op, value)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{allow, allow_when, fail, int_eq, WORKER_POLICY};

    /// x86_64 `map_shadow_stack` (Linux 6.6); the libc crate has no constant for it.
    const SYS_MAP_SHADOW_STACK: libc::c_long = 453;

    const CTX: PolicyContext = PolicyContext {
        kept_fd: 3,
        own_pid: 1,
    };

    #[test]
    fn worker_policy_compiles_to_an_allow_list_and_one_filter_per_errno() {
        let compiled = compile(WORKER_POLICY, DefaultAction::KillProcess, CTX).expect("compiles");
        // One extra filter per errno value: EACCES (open family), ENOENT
        // (path probes), ENOSYS (clone3, openat2, statx).
        assert_eq!(compiled.programs.len(), 4);
        assert!(compiled.instructions() < usize::from(u16::MAX));
    }

    #[test]
    fn every_entry_has_a_reason_and_a_matching_name() {
        for entry in WORKER_POLICY {
            assert!(entry.reason.len() > 10, "{} needs a reason", entry.name);
            assert!(entry.nr >= 0, "{}", entry.name);
        }
        // Spot-check that names are not copy-pasted onto the wrong number.
        let find = |n: &str| WORKER_POLICY.iter().find(|e| e.name == n).map(|e| e.nr);
        assert_eq!(find("read"), Some(libc::SYS_read));
        assert_eq!(find("futex"), Some(libc::SYS_futex));
        assert_eq!(find("clone3"), Some(libc::SYS_clone3));
        for entry in WORKER_POLICY {
            assert_eq!(
                WORKER_POLICY
                    .iter()
                    .find(|e| e.name == entry.name)
                    .map(|e| e.nr),
                Some(entry.nr),
                "two numbers under the name {}",
                entry.name
            );
        }
    }

    /// fd-based stat stays possible: the one path-free stat call is allowed.
    #[test]
    fn fstat_is_allowed_without_conditions() {
        let entries: Vec<_> = WORKER_POLICY
            .iter()
            .filter(|e| e.nr == libc::SYS_fstat)
            .collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].verdict, Verdict::Allow);
        assert!(entries[0].when.is_empty());
    }

    #[test]
    fn dangerous_calls_are_not_in_the_table() {
        let denied = [
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_fork,
            libc::SYS_vfork,
            libc::SYS_socket,
            libc::SYS_socketpair,
            libc::SYS_connect,
            libc::SYS_bind,
            libc::SYS_ptrace,
            libc::SYS_process_vm_writev,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_setuid,
            libc::SYS_bpf,
            libc::SYS_io_uring_setup,
            libc::SYS_userfaultfd,
            libc::SYS_perf_event_open,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_ioctl,
            libc::SYS_memfd_create,
            libc::SYS_pipe2,
            libc::SYS_dup,
            libc::SYS_kcmp,
            // Writes, not probes: they stay a kill.
            libc::SYS_unlink,
            libc::SYS_unlinkat,
            libc::SYS_mkdir,
            libc::SYS_rename,
            libc::SYS_chmod,
            libc::SYS_fchmodat,
            libc::SYS_truncate,
            libc::SYS_fchdir,
            // New in glibc 2.43's libc.so.6 and reviewed: unused by the worker.
            libc::SYS_mseal,
            SYS_MAP_SHADOW_STACK,
            libc::SYS_fchmodat2,
            libc::SYS_sched_setattr,
            libc::SYS_futex_waitv,
        ];
        for nr in denied {
            assert!(
                WORKER_POLICY.iter().all(|e| e.nr != nr),
                "syscall {nr} must stay denied"
            );
        }
    }

    #[test]
    fn probed_calls_are_refused_by_errno_never_allowed() {
        for (nr, errno) in [
            (libc::SYS_openat, libc::EACCES),
            (libc::SYS_open, libc::EACCES),
            (libc::SYS_openat2, libc::ENOSYS),
            (libc::SYS_clone3, libc::ENOSYS),
            (libc::SYS_statx, libc::ENOSYS),
            (libc::SYS_stat, libc::ENOENT),
            (libc::SYS_lstat, libc::ENOENT),
            (libc::SYS_newfstatat, libc::ENOENT),
            (libc::SYS_access, libc::ENOENT),
            (libc::SYS_faccessat, libc::ENOENT),
            (libc::SYS_faccessat2, libc::ENOENT),
            (libc::SYS_readlink, libc::ENOENT),
            (libc::SYS_readlinkat, libc::ENOENT),
            (libc::SYS_getdents64, libc::ENOENT),
            (libc::SYS_chdir, libc::ENOENT),
            (libc::SYS_getcwd, libc::ENOENT),
        ] {
            let entries: Vec<_> = WORKER_POLICY.iter().filter(|e| e.nr == nr).collect();
            assert!(!entries.is_empty(), "syscall {nr} has no entry");
            assert!(entries
                .iter()
                .all(|e| e.verdict == Verdict::Errno(errno) && e.when.is_empty()));
        }
    }

    #[test]
    fn conflicting_verdicts_are_rejected() {
        let table = [
            allow("x", 1000, "reason one"),
            fail("x", 1000, libc::EPERM, "reason two"),
        ];
        assert!(matches!(
            compile(&table, DefaultAction::KillProcess, CTX),
            Err(PolicyError::ConflictingVerdicts { nr: 1000, .. })
        ));
    }

    #[test]
    fn unconditional_entry_absorbs_conditional_ones() {
        const WHEN: &[ArgCheck] = &[int_eq(0, 7)];
        let conditional_only = [allow_when("x", 1000, WHEN, "conditional")];
        let both = [
            allow_when("x", 1000, WHEN, "conditional"),
            allow("x", 1000, "unconditional"),
        ];
        let a = compile(&conditional_only, DefaultAction::KillProcess, CTX).expect("compiles");
        let b = compile(&both, DefaultAction::KillProcess, CTX).expect("compiles");
        // The unconditional version has no argument comparisons, so is shorter.
        assert!(b.instructions() < a.instructions());
    }

    #[test]
    fn bad_arg_index_is_rejected() {
        const WHEN: &[ArgCheck] = &[int_eq(6, 0)];
        let table = [allow_when("x", 1000, WHEN, "bad index")];
        assert!(matches!(
            compile(&table, DefaultAction::KillProcess, CTX),
            Err(PolicyError::BadArgIndex { index: 6, .. })
        ));
    }
}
