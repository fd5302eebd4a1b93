//! Probe side: what a legitimate warmed worker does, under the full jail.
//! Proves the filter allows real work (it is not just killing everything):
//! every step reports `step <name> ok <detail>` or `step <name> errno=N`.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use crate::probe::say;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// One step: `Ok(detail)` or `Err(errno)`.
type Step = fn(RawFd) -> Result<String, i32>;

/// Runs every step; returns the summary for the outcome line.
pub fn run(ipc: RawFd) -> String {
    let steps: &[(&str, Step)] = &[
        ("alloc", alloc),
        ("jit_wx_flip", jit_wx_flip),
        ("pkey", pkey),
        ("madvise_mincore_mremap", madvise_mincore_mremap),
        ("clock", clock),
        ("getrandom", getrandom),
        ("thread", thread),
        ("signal_self", signal_self),
        ("prctl_name", prctl_name),
        ("membarrier", membarrier),
        ("ipc_roundtrip", ipc_roundtrip),
        ("close_bad_fd", close_bad_fd),
        ("stderr_closed", stderr_closed),
    ];
    let mut failed = 0;
    for (name, step) in steps {
        match step(ipc) {
            Ok(detail) => say(ipc, &format!("step {name} ok {detail}")),
            Err(e) => {
                failed += 1;
                say(ipc, &format!("step {name} errno={e}"));
            }
        }
    }
    format!("harmless steps={} failed={failed}", steps.len())
}

fn alloc(_: RawFd) -> Result<String, i32> {
    let mut v = vec![0u8; 64 << 20];
    for page in v.chunks_mut(4096) {
        page[0] = 1;
    }
    let touched: usize = v.iter().step_by(4096).map(|&b| usize::from(b)).sum();
    drop(v);
    let small: Vec<Box<[u8; 64]>> = (0..10_000).map(|_| Box::new([7u8; 64])).collect();
    Ok(format!("64MiB pages={touched} small={}", small.len()))
}

/// mmap RW, write `mov eax, 42; ret`, flip to RX, call it: what V8's JIT does.
fn jit_wx_flip(_: RawFd) -> Result<String, i32> {
    const CODE: [u8; 6] = [0xb8, 42, 0, 0, 0, 0xc3];
    // SAFETY: a fresh private anonymous page; we write 6 bytes into it, make
    // it RX, call it as `extern "C" fn() -> i32` (it is exactly that
    // function), then unmap it.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if page == libc::MAP_FAILED {
            return Err(errno());
        }
        std::ptr::copy_nonoverlapping(CODE.as_ptr(), page.cast::<u8>(), CODE.len());
        if libc::mprotect(page, 4096, libc::PROT_READ | libc::PROT_EXEC) != 0 {
            return Err(errno());
        }
        let f: extern "C" fn() -> i32 = std::mem::transmute(page);
        let value = f();
        libc::munmap(page, 4096);
        Ok(format!("jitted fn returned {value}"))
    }
}

fn pkey(_: RawFd) -> Result<String, i32> {
    // SAFETY: pkey syscalls on a fresh anonymous page that we own and unmap.
    unsafe {
        let key = libc::syscall(libc::SYS_pkey_alloc, 0, 0);
        if key < 0 {
            // EINVAL: no PKU on this CPU/kernel; the call was still allowed.
            return match errno() {
                libc::EINVAL => Ok("unsupported: pkey_alloc EINVAL".into()),
                e => Err(e),
            };
        }
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if page == libc::MAP_FAILED {
            return Err(errno());
        }
        let rc = libc::syscall(
            libc::SYS_pkey_mprotect,
            page,
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            key,
        );
        let rc_err = errno();
        libc::munmap(page, 4096);
        libc::syscall(libc::SYS_pkey_free, key);
        if rc != 0 {
            return Err(rc_err);
        }
        Ok(format!("pkey {key} alloc/mprotect/free"))
    }
}

fn madvise_mincore_mremap(_: RawFd) -> Result<String, i32> {
    // SAFETY: operations on a fresh anonymous mapping we own and unmap.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if page == libc::MAP_FAILED {
            return Err(errno());
        }
        *(page as *mut u8) = 1;
        let mut resident = [0u8; 2];
        if libc::mincore(page, 8192, resident.as_mut_ptr()) != 0 {
            return Err(errno());
        }
        if resident[0] & 1 == 0 {
            return Err(libc::EINVAL); // the page just written must be resident
        }
        if libc::madvise(page, 8192, libc::MADV_DONTNEED) != 0 {
            return Err(errno());
        }
        let grown = libc::mremap(page, 8192, 65536, libc::MREMAP_MAYMOVE);
        if grown == libc::MAP_FAILED {
            return Err(errno());
        }
        libc::munmap(grown, 65536);
        Ok("resident, dropped, 8KiB -> 64KiB".into())
    }
}

fn clock(_: RawFd) -> Result<String, i32> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let nap = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    // SAFETY: timespec and sched_param out/in pointers to locals.
    unsafe {
        // The raw syscall, not the vDSO, so the filter entry is exercised.
        if libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut ts) != 0 {
            return Err(errno());
        }
        if libc::nanosleep(&nap, std::ptr::null_mut()) != 0 {
            return Err(errno());
        }
        let rc = libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &nap, std::ptr::null_mut());
        if rc != 0 {
            return Err(rc);
        }
        libc::sched_yield();
        // What abseil's contended Mutex asks of a blocking thread (inside libnode's V8).
        let (mut policy, mut param) = (0, libc::sched_param { sched_priority: 0 });
        let rc = libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param);
        if rc != 0 {
            return Err(rc);
        }
        if libc::syscall(libc::SYS_sched_getparam, 0, &mut param) != 0
            || libc::syscall(libc::SYS_sched_getscheduler, 0) < 0
        {
            return Err(errno());
        }
    }
    Ok(format!("monotonic {}s", ts.tv_sec))
}

fn getrandom(_: RawFd) -> Result<String, i32> {
    let mut buf = [0u8; 32];
    // SAFETY: the kernel writes at most 32 bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != 32 {
        return Err(errno());
    }
    Ok(format!("32 bytes, nonzero={}", buf.iter().any(|&b| b != 0)))
}

/// std::thread: clone3 (ENOSYS) -> clone, rseq (ENOSYS), set_robust_list,
/// sigaltstack, mprotect guard page, futex join, madvise/munmap of the stack.
fn thread(_: RawFd) -> Result<String, i32> {
    let handle = std::thread::Builder::new()
        .name("jailed-worker".into())
        .spawn(|| (1..=1000u64).sum::<u64>())
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let sum = handle.join().map_err(|_| -1)?;
    Ok(format!("thread summed {sum}"))
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);
extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}

/// V8-style self-signalling: kill(self) and tgkill(self, own tid).
fn signal_self(_: RawFd) -> Result<String, i32> {
    // SAFETY: installs an async-signal-safe handler (one atomic add) and
    // signals only this process/thread.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_signal as *const () as usize;
        if libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()) != 0 {
            return Err(errno());
        }
        if libc::kill(libc::getpid(), libc::SIGUSR1) != 0 {
            return Err(errno());
        }
        if libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            libc::gettid(),
            libc::SIGUSR1,
        ) != 0
        {
            return Err(errno());
        }
    }
    Ok(format!(
        "handler ran {} times",
        SIGNALS.load(Ordering::SeqCst)
    ))
}

fn prctl_name(_: RawFd) -> Result<String, i32> {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of <= 16 bytes.
    if unsafe { libc::prctl(libc::PR_SET_NAME, c"stockade-w".as_ptr()) } != 0 {
        return Err(errno());
    }
    Ok("named stockade-w".into())
}

fn membarrier(_: RawFd) -> Result<String, i32> {
    // SAFETY: MEMBARRIER_CMD_QUERY takes no pointer.
    let cmds = unsafe { libc::syscall(libc::SYS_membarrier, 0, 0) };
    if cmds < 0 {
        return Err(errno());
    }
    Ok(format!("supported commands {cmds:#x}"))
}

/// poll, recvmsg, writev, sendto and sendmsg on the kept socket: the test
/// side sends "ping" and expects "pong-writev", "pong-sendto", "pong-sendmsg".
fn ipc_roundtrip(ipc: RawFd) -> Result<String, i32> {
    let mut pfd = libc::pollfd {
        fd: ipc,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd; 10 s timeout.
    if unsafe { libc::poll(&mut pfd, 1, 10_000) } != 1 {
        return Err(errno());
    }
    let mut buf = [0u8; 5];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr points at one iovec over `buf`; no control buffer.
    let received = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        libc::recvmsg(ipc, &mut msg, libc::MSG_WAITALL)
    };
    if received != 5 || &buf != b"ping\n" {
        return Err(errno());
    }
    let parts: [&[u8]; 2] = [b"pong-", b"writev\n"];
    let iovs = parts.map(|p| libc::iovec {
        iov_base: p.as_ptr() as *mut _,
        iov_len: p.len(),
    });
    let sendto_line = b"pong-sendto\n";
    let sendmsg_line = b"pong-sendmsg\n";
    let mut iov = libc::iovec {
        iov_base: sendmsg_line.as_ptr() as *mut _,
        iov_len: sendmsg_line.len(),
    };
    // SAFETY: every pointer references a live local buffer of the given length.
    unsafe {
        if libc::writev(ipc, iovs.as_ptr(), 2) < 0 {
            return Err(errno());
        }
        if libc::send(
            ipc,
            sendto_line.as_ptr().cast(),
            sendto_line.len(),
            libc::MSG_NOSIGNAL,
        ) < 0
        {
            return Err(errno());
        }
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if libc::sendmsg(ipc, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(errno());
        }
    }
    Ok("ping/pong over poll+recvmsg+writev+sendto+sendmsg".into())
}

fn close_bad_fd(_: RawFd) -> Result<String, i32> {
    // SAFETY: closing a descriptor number that is not open.
    let rc = unsafe { libc::close(1000) };
    Ok(format!("close(1000) = {rc}, errno {}", errno()))
}

/// eprintln! after the jail: fd 2 is closed (EBADF, ignored by std), and
/// the write must not be what kills the worker.
fn stderr_closed(_: RawFd) -> Result<String, i32> {
    eprintln!("this goes nowhere");
    // SAFETY: writes one byte from a static literal.
    let rc = unsafe { libc::write(2, b"x".as_ptr().cast(), 1) };
    Ok(format!("write(2) = {rc}, errno {}", errno()))
}

static SIGTERM_FD: AtomicI32 = AtomicI32::new(-1);
extern "C" fn on_sigterm(_: libc::c_int) {
    let fd = SIGTERM_FD.load(Ordering::SeqCst);
    let line = b"got SIGTERM\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        libc::write(fd, line.as_ptr().cast(), line.len());
        libc::_exit(7);
    }
}

/// A worker that handles SIGTERM: report it and exit 7.
pub fn exit_7_on_sigterm(ipc: RawFd) {
    SIGTERM_FD.store(ipc, Ordering::SeqCst);
    // SAFETY: installs an async-signal-safe handler.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigterm as *const () as usize;
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
    }
}
