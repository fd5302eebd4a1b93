//! The probe: this test binary re-executed with `STOCKADE_JAIL_PROBE=1`.
//! It plays a worker whose V8 is fully compromised: it enters the
//! namespaces, closes the jail with the configured layers, reports, waits
//! for "go", then makes ONE attack and reports the exact result.
//!
//! Protocol (lines over the inherited socket `--ipc-fd N`):
//! `jailed k=v ...` | `error <step> <JailError>`, then after `go`:
//! `attempt <name>`, optional `step ...` lines, `outcome errno=N` or
//! `outcome ok <detail>`. A seccomp kill shows up as no outcome line and a
//! SIGSYS wait status (forwarded by the reaper).

use std::os::fd::RawFd;
use std::sync::mpsc;

use stockade_seccomp::{close, enter_namespaces, JailConfig, JailReport, Layers};

use crate::attacks::{self, Outcome};
use crate::spec::ProbeSpec;

/// Entry point in probe mode; never returns.
pub fn main() -> ! {
    let args: Vec<String> = std::env::args().collect();
    let (ipc, spec) = match parse_args(&args) {
        Some(parsed) => parsed,
        None => {
            eprintln!("jail probe: bad arguments {args:?}");
            std::process::exit(2);
        }
    };
    if spec.as_nobody {
        become_nobody(ipc);
    }
    let _early_threads: Vec<_> = (0..spec.threads_before_enter)
        .map(|_| {
            std::thread::spawn(|| loop {
                std::thread::park()
            })
        })
        .collect();

    if spec.sigchld_ignored {
        // SAFETY: sets a signal disposition; no handler code involved.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    }
    if spec.skip_enter {
        // Guard test: close() must refuse the namespace layer. Should the
        // guard ever break, it would pivot this process's mount namespace,
        // so give it a private, throwaway one first.
        // SAFETY: unshare takes only flags.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) } != 0 {
            fail(ipc, "error setup unshare");
        }
    } else if spec.namespaces {
        if let Err(e) = enter_namespaces() {
            fail(ipc, &format!("error enter {e:?}"));
        }
    }

    // A thread started after the namespaces but before the jail: what V8's
    // platform threads look like to close().
    let v8_thread = spec.attack_from_preexisting_thread.then(|| {
        let (to_thread, commands) = mpsc::channel::<ProbeSpec>();
        let (results, from_thread) = mpsc::channel::<Outcome>();
        std::thread::spawn(move || {
            if let Ok(spec) = commands.recv() {
                let _ = results.send(attacks::run(&spec, ipc));
            }
        });
        (to_thread, from_thread)
    });

    attacks::before_close(&spec);
    let mut config = JailConfig::new(spec.keep_fd_override.unwrap_or(ipc));
    config.layers = Layers {
        namespaces: spec.namespaces,
        landlock: spec.landlock,
        seccomp: spec.seccomp,
    };
    if let Some(nproc) = spec.nproc {
        config.rlimits.nproc = nproc;
    }
    match close(&config) {
        Ok(report) => say(ipc, &format!("jailed {}", describe(&report))),
        Err(e) => fail(ipc, &format!("error close {e:?}")),
    }

    read_line(ipc); // "go"
    say(ipc, &format!("attempt {}", spec.attack.name()));
    let outcome = match v8_thread {
        Some((to_thread, from_thread)) => {
            let _ = to_thread.send(spec.clone());
            from_thread
                .recv()
                .unwrap_or(Outcome::Ok("thread vanished".into()))
        }
        None => attacks::run(&spec, ipc),
    };
    say(ipc, &format!("outcome {outcome}"));
    std::process::exit(0)
}

fn parse_args(args: &[String]) -> Option<(RawFd, ProbeSpec)> {
    match args {
        [_, flag_fd, fd, flag_spec, spec, ..] if flag_fd == "--ipc-fd" && flag_spec == "--spec" => {
            Some((fd.parse().ok()?, ProbeSpec::parse(spec)?))
        }
        _ => None,
    }
}

/// `key=value` summary of the report, parsed by the test side.
fn describe(r: &JailReport) -> String {
    let ll = r.landlock.as_ref();
    let opt = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    format!(
        "threads={} empty_root={} nofile={} nproc={} non_dumpable={} nnp={} caps_dropped={} bounding_empty={} \
         landlock={} landlock_kernel_abi={} landlock_abi={} landlock_all_threads={} \
         seccomp={:?} programs={} insns={}",
        r.threads_at_close
            .map_or_else(|| "-".into(), |t| t.to_string()),
        u8::from(r.empty_root),
        r.rlimits.nofile,
        r.rlimits.nproc,
        u8::from(r.non_dumpable),
        u8::from(r.no_new_privs),
        u8::from(r.capabilities_dropped),
        u8::from(r.bounding_set_empty),
        ll.map_or_else(|| "off".to_string(), |l| format!("{:?}", l.enforcement)),
        opt(ll.and_then(|l| l.kernel_abi)),
        opt(ll.and_then(|l| l.enforced_abi)),
        ll.map_or(0, |l| u8::from(l.all_threads)),
        r.seccomp,
        r.seccomp_programs,
        r.seccomp_instructions,
    )
}

/// Root → uid/gid 65534, as a supervisor would spawn its workers.
fn become_nobody(ipc: RawFd) {
    // SAFETY: plain credential syscalls with integer arguments; the process
    // is single-threaded here, so raw syscalls affect the whole process.
    unsafe {
        if libc::geteuid() != 0 {
            return; // already unprivileged
        }
        let ok = libc::setgroups(0, std::ptr::null()) == 0
            && libc::setresgid(65534, 65534, 65534) == 0
            && libc::setresuid(65534, 65534, 65534) == 0
            // An exec would reset this; we do not exec, and a non-dumpable
            // process cannot write its own /proc/self/uid_map.
            && libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) == 0;
        if !ok {
            fail(ipc, "error setup become_nobody");
        }
    }
}

/// Writes one line to the socket (raw write(2): allowed by the policy).
pub fn say(fd: RawFd, line: &str) {
    let mut buf = line.as_bytes().to_vec();
    buf.push(b'\n');
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer/length pair stays within `buf`.
        let n = unsafe { libc::write(fd, buf[done..].as_ptr().cast(), buf.len() - done) };
        if n <= 0 {
            return;
        }
        done += n as usize;
    }
}

/// Reads one line byte by byte, so no following message is consumed.
pub fn read_line(fd: RawFd) -> String {
    let mut line = Vec::new();
    loop {
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into `byte`.
        let n = unsafe { libc::read(fd, (&mut byte as *mut u8).cast(), 1) };
        if n <= 0 || byte == b'\n' {
            return String::from_utf8_lossy(&line).into_owned();
        }
        line.push(byte);
    }
}

fn fail(ipc: RawFd, line: &str) -> ! {
    say(ipc, line);
    std::process::exit(3)
}
