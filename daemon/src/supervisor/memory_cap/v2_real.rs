//! The cgroup v2 memory cap against a real cgroup2 hierarchy: the module's own functions create
//! the daemon's parent group (moving the test process into the `supervisor` leaf when its own
//! group holds processes, as the daemon does), one group per process with a small `memory.max`;
//! a real process joins it between fork and exec the way workers do (`spawn::join_cgroup`), and
//! the kernel's OOM killer, `memory.events`' `oom_kill` and the removal (with the leaf undone)
//! are checked for real.
//!
//! Runs where `/sys/fs/cgroup` is cgroup2 with the memory controller and the process may create
//! groups below its own (root, or a delegated group): the QEMU guest of
//! `mpk/tests/qemu/run-in-vm.sh` mounts one and sets `STOCKADE_CGROUP2_REQUIRE=1`, which makes
//! its absence a failure. Elsewhere (a cgroup v1 host, an unprivileged user) the test says why
//! and returns.
//!
//! The process that allocates is this test binary itself, run again with
//! `STOCKADE_CGROUP2_TEST_ALLOCATE_MB` set: it prints its cgroup, allocates and touches that
//! many MiB, and says when it is done.

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::cgroup::{detect, own_dir, Version};
use super::{Guard, MemoryCap};
use crate::config::MemoryEnforcement;
use crate::supervisor::spawn::join_cgroup;

const REQUIRE: &str = "STOCKADE_CGROUP2_REQUIRE";
const ALLOCATE: &str = "STOCKADE_CGROUP2_TEST_ALLOCATE_MB";
const TEST: &str =
    "supervisor::memory_cap::v2_real::a_real_cgroup_v2_caps_a_process_the_oom_kill_is_seen_and_the_groups_go";
const CAP_MB: u64 = 32;

/// The allocating process's part: prints its cgroup, then allocates and touches `mb` MiB.
fn allocate(mb: &str) {
    let mb: usize = mb.parse().expect("a number of MiB");
    let mut out = std::io::stdout();
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let _ = writeln!(out, "cgroup {cgroup}allocating {mb} MiB");
    let _ = out.flush();
    let mut held: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mb {
        // Non-zero bytes: every page is written, so every page is charged.
        held.push(std::hint::black_box(vec![0x5a; 1 << 20]));
    }
    let _ = writeln!(out, "allocated {} MiB", std::hint::black_box(&held).len());
    let _ = out.flush();
}

/// Runs this test again as a process in the group of `guard`, allocating `mb` MiB.
fn run_in(guard: &Guard, mb: u64) -> Output {
    let procs = guard.join_path().expect("a cgroup to join").clone();
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new(exe);
    command
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALLOCATE, mb.to_string())
        .env_remove(REQUIRE)
        .stdin(Stdio::null());
    // SAFETY: the closure runs between fork and exec and only calls join_cgroup (open, write and
    // close: async-signal-safe) on a path allocated before the fork; the daemon does the same.
    unsafe {
        command.pre_exec(move || join_cgroup(&procs));
    }
    command.output().expect("spawn the allocating process")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_real_cgroup_v2_caps_a_process_the_oom_kill_is_seen_and_the_groups_go() {
    if let Ok(mb) = std::env::var(ALLOCATE) {
        return allocate(&mb);
    }
    let required = std::env::var(REQUIRE).is_ok_and(|v| v == "1");
    let skip = |why: String| {
        assert!(!required, "{REQUIRE}=1, but {why}");
        eprintln!("skipped: the real cgroup v2 memory cap test needs {why}");
    };
    let root = Path::new("/sys/fs/cgroup");
    let self_cgroup = read(Path::new("/proc/self/cgroup"));
    match detect(root) {
        Some(Version::V2) => {}
        other => {
            return skip(format!(
                "cgroup2 with the memory controller at /sys/fs/cgroup (found: {})",
                other.map_or("no memory controller", Version::name)
            ))
        }
    }
    let own = own_dir(root, &self_cgroup, Version::V2).expect("a v2 line in /proc/self/cgroup");
    let cap = match MemoryCap::choose(CAP_MB, MemoryEnforcement::Cgroup, root, &self_cgroup) {
        Ok(cap) => cap,
        Err(why) => return skip(format!("a cgroup it may create: {why}")),
    };
    assert_eq!(cap.mechanism_name(), "cgroup v2");
    let parent = cap.parent_dir().expect("a parent group").to_path_buf();
    assert_eq!(parent, own.join(format!("stockade-{}", std::process::id())));
    // Below the root, this process's own group holds it, so it had to move into a leaf.
    let moved = own != root;
    let now = read(Path::new("/proc/self/cgroup"));
    let leaf = parent.join("supervisor");
    assert_eq!(
        now.trim_end()
            .strip_prefix("0::")
            .map(|p| root.join(&p[1..])),
        Some(if moved { leaf.clone() } else { own.clone() }),
        "where this process is now (own group {})",
        own.display()
    );
    eprintln!(
        "cgroup v2: parent {}, moved into the supervisor leaf: {moved}",
        parent.display()
    );
    let subtree = |dir: &Path| read(&dir.join("cgroup.subtree_control"));
    assert!(subtree(&own).contains("memory") && subtree(&parent).contains("memory"));

    // Under the cap: the process runs to its end, in its group, and no hit is reported.
    let small = cap.guard(1);
    let w1 = parent.join("w1");
    assert_eq!(
        read(&w1.join("memory.max")).trim(),
        (CAP_MB << 20).to_string()
    );
    if w1.join("memory.swap.max").exists() {
        assert_eq!(read(&w1.join("memory.swap.max")).trim(), "0");
    }
    let out = run_in(&small, 8);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}: {text}", out.status);
    let relative = w1.strip_prefix(root).expect("below the root");
    assert!(
        text.contains(&format!("cgroup 0::/{}\n", relative.display())),
        "the process ran in its group: {text}"
    );
    assert!(text.contains("allocated 8 MiB"), "{text}");
    assert!(small.hit().is_none(), "no OOM kill under the cap");

    // Over the cap: the kernel kills it (SIGKILL) while it allocates, and the hit is seen.
    let big = cap.guard(2);
    let out = run_in(&big, 256);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "{:?}: {text}",
        out.status
    );
    assert!(
        text.contains("allocating 256 MiB"),
        "it got to allocate: {text}"
    );
    assert!(
        !text.contains("allocated"),
        "it was killed before the end: {text}"
    );
    let events = read(&parent.join("w2/memory.events"));
    eprintln!(
        "w2 memory.events: {}",
        events.trim_end().replace('\n', ", ")
    );
    let hit = big
        .hit()
        .unwrap_or_else(|| panic!("no hit; memory.events: {events}"));
    assert!(hit.how.contains("32 MiB (cgroup v2)"), "{}", hit.how);
    assert_eq!(hit.cap, CAP_MB << 20);
    assert!(small.hit().is_none(), "the other group saw no kill");

    // Each group goes with its guard; the parent with the cap, which undoes the move.
    drop(small);
    drop(big);
    assert!(
        !w1.exists() && !parent.join("w2").exists(),
        "the process groups are removed"
    );
    drop(cap);
    assert!(!parent.exists(), "the parent is removed");
    assert_eq!(
        read(Path::new("/proc/self/cgroup")),
        self_cgroup,
        "this process is back in its own group"
    );
    if moved {
        assert!(
            !subtree(&own).contains("memory"),
            "the memory controller enabled for the move is disabled again"
        );
    }
}
