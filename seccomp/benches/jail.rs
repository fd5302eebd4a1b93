//! What the jail costs.
//!
//! - `seccomp/compile_worker_policy`: building the BPF from the table.
//! - `seccomp/<call>/{plain,filtered}`: one system call in a helper process
//!   without / with the worker filter installed. `getpid` is an
//!   unconditional allow (served by the kernel's seccomp action cache);
//!   `futex_wake` carries an argument check, so the BPF really runs.
//! - `jail/enter_namespaces` and `jail/close_full`: the one-off cost a
//!   worker pays at start-up, timed inside the worker.
//!
//! Helpers are this bench binary re-executed with `STOCKADE_JAIL_BENCH`
//! set: a fresh single-threaded process, as `enter_namespaces()` requires.
//! They report durations measured with `Instant` over the socket; criterion
//! gets them through `iter_custom`.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use stockade_seccomp::filter::{self, DefaultAction, PolicyContext};
use stockade_seccomp::policy::WORKER_POLICY;
use stockade_seccomp::{close, enter_namespaces, JailConfig};

const MODE_ENV: &str = "STOCKADE_JAIL_BENCH";

fn main() {
    if let Ok(mode) = std::env::var(MODE_ENV) {
        helper_main(&mode);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

criterion_group!(benches, bench_compile, bench_syscalls, bench_jail);

fn bench_compile(c: &mut Criterion) {
    let ctx = PolicyContext {
        kept_fd: 3,
        own_pid: 1,
    };
    c.bench_function("seccomp/compile_worker_policy", |b| {
        b.iter(|| filter::compile(black_box(WORKER_POLICY), DefaultAction::KillProcess, ctx))
    });
}

fn bench_syscalls(c: &mut Criterion) {
    let mut group = c.benchmark_group("seccomp");
    for call in ["getpid", "futex_wake"] {
        for filtered in [false, true] {
            let mode = format!("{call}:{}", if filtered { "filtered" } else { "plain" });
            let (mut child, mut sock) = spawn_helper(&mode);
            let name = format!("{call}/{}", if filtered { "filtered" } else { "plain" });
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    sock.write_all(&iters.to_le_bytes()).expect("send iters");
                    let mut nanos = [0u8; 8];
                    sock.read_exact(&mut nanos).expect("helper result");
                    Duration::from_nanos(u64::from_le_bytes(nanos))
                })
            });
            drop(sock);
            let _ = child.wait();
        }
    }
    group.finish();
}

fn bench_jail(c: &mut Criterion) {
    let mut group = c.benchmark_group("jail");
    group.sample_size(20);
    for (name, index) in [("enter_namespaces", 0), ("close_full", 1)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (mut child, mut sock) = spawn_helper("jail");
                    let mut buf = [0u8; 16];
                    sock.read_exact(&mut buf).expect("jail timings");
                    let field = &buf[index * 8..index * 8 + 8];
                    let nanos = u64::from_le_bytes(field.try_into().expect("8 bytes"));
                    total += Duration::from_nanos(nanos);
                    let _ = child.wait();
                }
                total
            })
        });
    }
    group.finish();
}

fn spawn_helper(mode: &str) -> (Child, UnixStream) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    let fd = theirs.as_raw_fd();
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env(MODE_ENV, mode)
        .env("STOCKADE_JAIL_BENCH_FD", fd.to_string());
    // SAFETY: between fork and exec; fcntl is async-signal-safe and only
    // clears FD_CLOEXEC on the helper's end of the socketpair.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn helper");
    drop(theirs);
    (child, ours)
}

// ---- helper side ------------------------------------------------------------

fn helper_main(mode: &str) -> ! {
    let fd: RawFd = std::env::var("STOCKADE_JAIL_BENCH_FD")
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("STOCKADE_JAIL_BENCH_FD");
    if mode == "jail" {
        jail_helper(fd);
    }
    let (call, filtered) = mode.split_once(':').expect("call:mode");
    if filtered == "filtered" {
        // SAFETY: getpid cannot fail.
        let own_pid = unsafe { libc::getpid() };
        let ctx = PolicyContext {
            kept_fd: fd,
            own_pid,
        };
        let compiled =
            filter::compile(WORKER_POLICY, DefaultAction::KillProcess, ctx).expect("compile");
        filter::install(&compiled).expect("install");
    }
    let word = 0u32;
    loop {
        let mut iters = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `iters`.
        if unsafe { libc::read(fd, iters.as_mut_ptr().cast(), 8) } != 8 {
            std::process::exit(0);
        }
        let iters = u64::from_le_bytes(iters);
        let start = Instant::now();
        for _ in 0..iters {
            // SAFETY: getpid takes nothing; FUTEX_WAKE_PRIVATE on a live
            // word with no waiters only returns 0.
            unsafe {
                match call {
                    "getpid" => black_box(libc::syscall(libc::SYS_getpid)),
                    _ => black_box(libc::syscall(
                        libc::SYS_futex,
                        &word as *const u32,
                        libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                        1,
                    )),
                };
            }
        }
        let nanos = start.elapsed().as_nanos() as u64;
        // SAFETY: writes 8 bytes from a local array.
        unsafe { libc::write(fd, nanos.to_le_bytes().as_ptr().cast(), 8) };
    }
}

/// Times enter_namespaces() and a full close() (all layers, enforcing),
/// reports both from inside the jail, exits.
fn jail_helper(fd: RawFd) -> ! {
    let t0 = Instant::now();
    enter_namespaces().expect("enter_namespaces");
    let entered = t0.elapsed();
    let t1 = Instant::now();
    close(&JailConfig::new(fd)).expect("close");
    let closed = t1.elapsed();
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&(entered.as_nanos() as u64).to_le_bytes());
    out[8..].copy_from_slice(&(closed.as_nanos() as u64).to_le_bytes());
    // SAFETY: `fd` is the kept socket; the stream owns it from here on.
    let mut sock = unsafe { UnixStream::from_raw_fd(fd) };
    let _ = sock.write_all(&out);
    std::process::exit(0)
}
