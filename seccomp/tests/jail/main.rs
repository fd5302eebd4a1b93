//! Jail proofs with real processes and real system calls.
//!
//! This binary is both the test runner and, re-executed with
//! `STOCKADE_JAIL_PROBE=1`, the probe: a stand-in for a worker whose V8 is
//! fully compromised. The probe enters the namespaces, closes the jail with
//! the configured layers, then tries ONE attack and reports the exact
//! outcome; the test asserts the errno, or death by SIGSYS in the wait
//! status. Test code only: nothing here is part of any release build.

mod attacks;
mod driver;
mod full_jail;
mod harmless;
mod harness;
mod layers;
mod probe;
mod probing;
mod process;
mod spec;

use std::process::ExitCode;

use harness::Test;

const TESTS: &[Test] = &[
    // Production jail: every attack dies of SIGSYS, or EACCES for openat.
    (
        "full_jail_open_etc_passwd_eacces",
        full_jail::open_etc_passwd,
    ),
    ("full_jail_list_root_eacces", full_jail::list_root),
    ("full_jail_create_file_eacces", full_jail::create_file),
    ("full_jail_tcp_connect_dies_sigsys", full_jail::tcp_connect),
    ("full_jail_execve_sh_dies_sigsys", full_jail::execve_sh),
    ("full_jail_fork_dies_sigsys", full_jail::fork),
    (
        "full_jail_ptrace_supervisor_dies_sigsys",
        full_jail::ptrace_supervisor,
    ),
    (
        "full_jail_kill_supervisor_dies_sigsys",
        full_jail::kill_supervisor,
    ),
    (
        "full_jail_kill_process_group_dies_sigsys",
        full_jail::kill_process_group,
    ),
    ("full_jail_mount_dies_sigsys", full_jail::mount),
    (
        "full_jail_unshare_userns_dies_sigsys",
        full_jail::unshare_userns,
    ),
    ("full_jail_setuid_root_dies_sigsys", full_jail::setuid_root),
    (
        "full_jail_write_proc_self_mem_eacces",
        full_jail::write_proc_self_mem,
    ),
    ("full_jail_bpf_dies_sigsys", full_jail::bpf),
    (
        "full_jail_io_uring_setup_dies_sigsys",
        full_jail::io_uring_setup,
    ),
    ("full_jail_userfaultfd_dies_sigsys", full_jail::userfaultfd),
    (
        "full_jail_perf_event_open_dies_sigsys",
        full_jail::perf_event_open,
    ),
    ("full_jail_keyctl_dies_sigsys", full_jail::keyctl),
    (
        "full_jail_ioctl_on_ipc_fd_dies_sigsys",
        full_jail::ioctl_on_ipc_fd,
    ),
    (
        "full_jail_write_to_other_fd_dies_sigsys",
        full_jail::write_to_other_fd,
    ),
    ("full_jail_ia32_int80_dies_sigsys", full_jail::ia32_int80),
    ("full_jail_x32_syscall_dies_sigsys", full_jail::x32_syscall),
    (
        "full_jail_unlisted_syscall_dies_sigsys",
        full_jail::unlisted_syscall,
    ),
    // File probes from library code: an errno, never SIGSYS; fd-based stat runs.
    ("full_jail_open_eacces", probing::open),
    ("full_jail_openat2_enosys", probing::openat2),
    ("full_jail_stat_enoent", probing::stat),
    ("full_jail_lstat_enoent", probing::lstat),
    ("full_jail_newfstatat_enoent", probing::newfstatat),
    (
        "full_jail_newfstatat_empty_path_on_fd_enoent",
        probing::newfstatat_empty_path_on_fd,
    ),
    ("full_jail_statx_enosys", probing::statx),
    (
        "full_jail_statx_empty_path_on_fd_enosys",
        probing::statx_empty_path_on_fd,
    ),
    ("full_jail_access_enoent", probing::access),
    ("full_jail_faccessat_enoent", probing::faccessat),
    ("full_jail_faccessat2_enoent", probing::faccessat2),
    ("full_jail_readlink_enoent", probing::readlink),
    ("full_jail_readlinkat_enoent", probing::readlinkat),
    ("full_jail_getdents64_enoent", probing::getdents64),
    ("full_jail_chdir_enoent", probing::chdir),
    ("full_jail_getcwd_enoent", probing::getcwd),
    ("full_jail_fstat_ipc_fd_works", probing::fstat_ipc_fd),
    ("full_jail_fstat_closed_fd_ebadf", probing::fstat_closed_fd),
    ("full_jail_clone3_enosys", probing::clone3),
    (
        "full_jail_tzset_localtime_survives",
        probing::tzset_localtime,
    ),
    (
        "seccomp_alone_stat_host_root_enoent",
        probing::seccomp_alone_stat,
    ),
    (
        "seccomp_alone_readlink_host_root_enoent",
        probing::seccomp_alone_readlink,
    ),
    (
        "seccomp_alone_access_host_root_enoent",
        probing::seccomp_alone_access,
    ),
    ("seccomp_alone_getcwd_enoent", probing::seccomp_alone_getcwd),
    ("no_seccomp_stat_root_succeeds", probing::no_seccomp_stat),
    (
        "no_seccomp_readlink_root_einval",
        probing::no_seccomp_readlink,
    ),
    ("no_seccomp_getcwd_succeeds", probing::no_seccomp_getcwd),
    (
        "no_seccomp_getdents64_on_socket_enotdir",
        probing::no_seccomp_getdents64,
    ),
    ("no_seccomp_statx_root_succeeds", probing::no_seccomp_statx),
    (
        "landlock_alone_stat_root_succeeds",
        probing::landlock_alone_stat,
    ),
    (
        "namespaces_alone_stat_root_succeeds",
        probing::namespaces_alone_stat,
    ),
    // Seccomp off: namespaces + Landlock.
    (
        "no_seccomp_open_etc_passwd_enoent",
        layers::no_seccomp_open_etc_passwd,
    ),
    ("no_seccomp_list_root_eacces", layers::no_seccomp_list_root),
    (
        "no_seccomp_create_file_erofs",
        layers::no_seccomp_create_file,
    ),
    (
        "no_seccomp_tcp_connect_eacces",
        layers::no_seccomp_tcp_connect,
    ),
    ("no_seccomp_execve_sh_enoent", layers::no_seccomp_execve_sh),
    (
        "no_seccomp_ptrace_supervisor_esrch",
        layers::no_seccomp_ptrace_supervisor,
    ),
    (
        "no_seccomp_kill_supervisor_esrch",
        layers::no_seccomp_kill_supervisor,
    ),
    ("no_seccomp_mount_eperm", layers::no_seccomp_mount),
    (
        "no_seccomp_unshare_userns_enospc",
        layers::no_seccomp_unshare_userns,
    ),
    (
        "no_seccomp_setuid_root_einval",
        layers::no_seccomp_setuid_root,
    ),
    (
        "no_seccomp_write_proc_self_mem_enoent",
        layers::no_seccomp_write_proc_self_mem,
    ),
    (
        "no_seccomp_fork_over_nproc_eagain",
        layers::no_seccomp_fork_over_nproc,
    ),
    (
        "no_seccomp_fork_under_nproc_succeeds",
        layers::no_seccomp_fork_under_nproc,
    ),
    // Namespaces alone.
    (
        "namespaces_alone_open_etc_passwd_enoent",
        layers::namespaces_alone_open_etc_passwd,
    ),
    (
        "namespaces_alone_list_root_is_empty",
        layers::namespaces_alone_list_root,
    ),
    (
        "namespaces_alone_create_file_erofs",
        layers::namespaces_alone_create_file,
    ),
    (
        "namespaces_alone_tcp_connect_enetunreach",
        layers::namespaces_alone_tcp_connect,
    ),
    (
        "namespaces_alone_execve_sh_enoent",
        layers::namespaces_alone_execve_sh,
    ),
    (
        "namespaces_alone_ptrace_supervisor_esrch",
        layers::namespaces_alone_ptrace_supervisor,
    ),
    (
        "namespaces_alone_kill_supervisor_esrch",
        layers::namespaces_alone_kill_supervisor,
    ),
    (
        "namespaces_alone_mount_eperm",
        layers::namespaces_alone_mount,
    ),
    (
        "namespaces_alone_unshare_userns_enospc",
        layers::namespaces_alone_unshare_userns,
    ),
    // Landlock alone.
    (
        "landlock_alone_open_etc_passwd_eacces",
        layers::landlock_alone_open_etc_passwd,
    ),
    (
        "landlock_alone_list_root_eacces",
        layers::landlock_alone_list_root,
    ),
    (
        "landlock_alone_create_file_eacces",
        layers::landlock_alone_create_file,
    ),
    (
        "landlock_alone_tcp_connect_eacces",
        layers::landlock_alone_tcp_connect,
    ),
    (
        "landlock_alone_execve_sh_eacces",
        layers::landlock_alone_execve_sh,
    ),
    (
        "landlock_alone_ptrace_supervisor_eperm",
        layers::landlock_alone_ptrace_supervisor,
    ),
    (
        "landlock_alone_kill_supervisor_eperm",
        layers::landlock_alone_kill_supervisor,
    ),
    ("landlock_alone_mount_eperm", layers::landlock_alone_mount),
    // Seccomp alone / Landlock off.
    (
        "seccomp_alone_open_etc_passwd_eacces",
        layers::seccomp_alone_open_etc_passwd,
    ),
    (
        "seccomp_alone_execve_sh_dies_sigsys",
        layers::seccomp_alone_execve_sh,
    ),
    (
        "seccomp_alone_ptrace_supervisor_dies_sigsys",
        layers::seccomp_alone_ptrace_supervisor,
    ),
    (
        "seccomp_alone_kill_supervisor_dies_sigsys",
        layers::seccomp_alone_kill_supervisor,
    ),
    ("seccomp_alone_fork_dies_sigsys", layers::seccomp_alone_fork),
    (
        "seccomp_alone_tcp_connect_dies_sigsys",
        layers::seccomp_alone_tcp_connect,
    ),
    (
        "no_landlock_open_etc_passwd_eacces",
        layers::no_landlock_open_etc_passwd,
    ),
    (
        "no_landlock_tcp_connect_dies_sigsys",
        layers::no_landlock_tcp_connect,
    ),
    // Whole-process properties.
    (
        "harmless_program_runs_under_full_jail",
        process::harmless_program_runs_under_full_jail,
    ),
    (
        "proc_status_shows_the_jail",
        process::proc_status_shows_the_jail,
    ),
    (
        "report_claims_exactly_the_kernels_landlock_abi",
        process::report_claims_exactly_the_kernels_landlock_abi,
    ),
    (
        "log_mode_runs_unlisted_syscall_and_audits_it",
        process::log_mode_runs_unlisted_syscall_and_audits_it,
    ),
    (
        "reaper_forwards_exit_code",
        process::reaper_forwards_exit_code,
    ),
    (
        "reaper_forwards_exit_code_even_if_sigchld_was_ignored",
        process::reaper_forwards_exit_code_even_if_sigchld_was_ignored,
    ),
    (
        "reaper_forwards_sigterm_to_a_handling_worker",
        process::reaper_forwards_sigterm_to_a_handling_worker,
    ),
    (
        "pid1_worker_without_handler_survives_sigterm",
        process::pid1_worker_without_handler_survives_sigterm,
    ),
    (
        "killing_the_reaper_kills_the_worker",
        process::killing_the_reaper_kills_the_worker,
    ),
    (
        "enter_namespaces_refuses_a_threaded_process",
        process::enter_namespaces_refuses_a_threaded_process,
    ),
    (
        "close_refuses_namespace_layer_without_enter",
        process::close_refuses_namespace_layer_without_enter,
    ),
    (
        "close_refuses_a_closed_keep_fd",
        process::close_refuses_a_closed_keep_fd,
    ),
    (
        "seccomp_covers_threads_started_before_close",
        process::seccomp_covers_threads_started_before_close,
    ),
    (
        "landlock_covers_earlier_threads_only_with_tsync",
        process::landlock_covers_earlier_threads_only_with_tsync,
    ),
];

fn main() -> ExitCode {
    if std::env::var_os("STOCKADE_JAIL_PROBE").is_some() {
        probe::main();
    }
    harness::run(TESTS)
}
