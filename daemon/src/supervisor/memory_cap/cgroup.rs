//! Control groups for the worker process memory cap: finding whether this daemon may create
//! them (cgroup v2, unified, with the `memory` controller; or cgroup v1's `memory` hierarchy),
//! the daemon's parent group `stockade-<pid>`, and one child group per worker process whose
//! memory (swap included) is capped.
//!
//! Guarantees:
//! - groups are created below the daemon's own cgroup (as `/proc/self/cgroup` names it), never
//!   elsewhere in the hierarchy: a delegated subtree (systemd `Delegate=yes`) or, as root, the
//!   daemon's own place;
//! - a child group has its limit written before any process joins it, and swap is capped too
//!   where the kernel accounts it (`memory.swap.max = 0` in v2; `memory.memsw.limit_in_bytes`
//!   equal to the memory limit in v1), so a worker cannot swap its way past the cap;
//! - in v2 the daemon moves itself into a leaf `stockade-<pid>/supervisor` when its own group
//!   holds processes (the "no internal processes" rule forbids enabling a controller for
//!   children otherwise), and moves back before removing the parent.
//!
//! Trusts: the kernel's cgroup filesystem, and the paths `/proc/self/cgroup` names. Every path
//! is given relative to a root so the path and file logic is tested against a temporary folder.

use std::path::{Path, PathBuf};

/// Which cgroup interface the groups use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V1 => "cgroup v1",
            Version::V2 => "cgroup v2",
        }
    }
}

/// The daemon's parent group, `stockade-<pid>`, below its own cgroup.
#[derive(Debug)]
pub struct Parent {
    pub version: Version,
    /// `<own cgroup>/stockade-<pid>`.
    pub dir: PathBuf,
    /// v2: the daemon moved itself into `dir/supervisor`; this is where it came from.
    moved_from: Option<PathBuf>,
}

/// The daemon's own cgroup directory for `version`, from the text of `/proc/self/cgroup`.
pub fn own_dir(root: &Path, self_cgroup: &str, version: Version) -> Option<PathBuf> {
    self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let base = match version {
            Version::V2 if id == "0" && controllers.is_empty() => root.to_path_buf(),
            Version::V1 if controllers.split(',').any(|c| c == "memory") => root.join("memory"),
            _ => return None,
        };
        Some(base.join(path.trim_start_matches('/')))
    })
}

/// Which interface `root` offers for memory: v2 when it is the unified hierarchy with the
/// `memory` controller, v1 when it has a `memory` hierarchy.
pub fn detect(root: &Path) -> Option<Version> {
    if let Ok(controllers) = std::fs::read_to_string(root.join("cgroup.controllers")) {
        if controllers.split_whitespace().any(|c| c == "memory") {
            return Some(Version::V2);
        }
    }
    root.join("memory")
        .join("memory.limit_in_bytes")
        .is_file()
        .then_some(Version::V1)
}

/// Why a cgroup could not be made or set up.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no cgroup memory controller is mounted")]
    NoController,
    #[error("/proc/self/cgroup names no {} group", .0.name())]
    NoOwnGroup(Version),
    #[error("the memory controller is not delegated to {}", .0.display())]
    NotDelegated(PathBuf),
    #[error("cannot create {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    std::fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn create_dir(path: PathBuf) -> Result<PathBuf, CgroupError> {
    match std::fs::create_dir(&path) {
        Ok(()) => Ok(path),
        Err(source) => Err(CgroupError::Create { path, source }),
    }
}

/// Enables the memory controller for the children of `dir` (v2), unless it already is.
fn enable_memory(dir: &Path) -> Result<(), CgroupError> {
    let control = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&control).unwrap_or_default();
    if enabled.split_whitespace().any(|c| c == "memory") {
        return Ok(());
    }
    write(&control, "+memory")
}

impl Parent {
    /// Creates `stockade-<pid>` below the daemon's own cgroup (`root`: `/sys/fs/cgroup`;
    /// `self_cgroup`: the text of `/proc/self/cgroup`). v2 may move the daemon into a leaf
    /// `supervisor` group of it (see the module documentation).
    pub fn create(root: &Path, self_cgroup: &str, pid: u32) -> Result<Parent, CgroupError> {
        let version = detect(root).ok_or(CgroupError::NoController)?;
        let own = own_dir(root, self_cgroup, version).ok_or(CgroupError::NoOwnGroup(version))?;
        let dir = create_dir(own.join(format!("stockade-{pid}")))?;
        let mut parent = Parent {
            version,
            dir,
            moved_from: None,
        };
        if version == Version::V2 {
            if let Err(e) = parent.delegate_v2(&own, pid) {
                parent.remove(std::time::Duration::ZERO);
                return Err(e);
            }
        }
        Ok(parent)
    }

    /// Makes the memory controller available to the children of `self.dir`.
    fn delegate_v2(&mut self, own: &Path, pid: u32) -> Result<(), CgroupError> {
        if let Ok(available) = std::fs::read_to_string(own.join("cgroup.controllers")) {
            if !available.split_whitespace().any(|c| c == "memory") {
                return Err(CgroupError::NotDelegated(own.to_path_buf()));
            }
        }
        if enable_memory(own).is_err() {
            // The daemon's group holds processes: move the daemon into a leaf of its own.
            let leaf = create_dir(self.dir.join("supervisor"))?;
            self.moved_from = Some(own.to_path_buf());
            write(&leaf.join("cgroup.procs"), &pid.to_string())?;
            enable_memory(own)?;
        }
        enable_memory(&self.dir)
    }

    /// A child group `name` whose processes may use `bytes` of memory and no swap.
    pub fn child(&self, name: &str, bytes: u64) -> Result<Group, CgroupError> {
        let dir = self.dir.join(name);
        // A group left by an earlier life of the same name (none should be) is reused.
        if let Err(source) = std::fs::create_dir(&dir) {
            if source.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(CgroupError::Create { path: dir, source });
            }
        }
        let group = Group {
            version: self.version,
            dir,
        };
        let limit = bytes.to_string();
        match self.version {
            Version::V2 => {
                write(&group.dir.join("memory.max"), &limit)?;
                let swap = group.dir.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
            }
            Version::V1 => {
                // memsw (memory + swap) may not be below the memory limit: memory first.
                write(&group.dir.join("memory.limit_in_bytes"), &limit)?;
                let memsw = group.dir.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write(&memsw, &limit)?;
                }
            }
        }
        Ok(group)
    }

    /// Removes the parent (its children first, each once empty); gives processes still exiting
    /// up to `patience`. A daemon that had moved into `supervisor` (v2) undoes what that took,
    /// in reverse: the memory controller is disabled below the parent and below its own group
    /// (which may hold processes again only then), and the daemon moves back.
    pub fn remove(&self, patience: std::time::Duration) {
        let leaf = self.dir.join("supervisor");
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) && path != leaf {
                    remove_dir(&path, patience);
                }
            }
        }
        if let Some(own) = &self.moved_from {
            let _ = write(&self.dir.join("cgroup.subtree_control"), "-memory");
            let _ = write(&own.join("cgroup.subtree_control"), "-memory");
            if let Err(e) = write(&own.join("cgroup.procs"), &std::process::id().to_string()) {
                tracing::warn!("the daemon cannot move back to its own cgroup: {e}");
            }
        }
        remove_dir(&leaf, patience);
        remove_dir(&self.dir, patience);
    }

    /// Removes the groups of daemons that are gone (`stockade-<pid>` with no such process),
    /// left by a daemon that was killed; returns how many.
    pub fn sweep_stale(&self) -> usize {
        let Some(own) = self.dir.parent() else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(own) else {
            return 0;
        };
        let mut swept = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("stockade-"))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let stale = Parent {
                version: self.version,
                dir: entry.path(),
                moved_from: None,
            };
            stale.remove(std::time::Duration::ZERO);
            swept += usize::from(!stale.dir.exists());
        }
        swept
    }
}

/// Removes an (empty) cgroup directory, retrying for up to `patience` while its processes
/// finish exiting (the kernel answers `EBUSY` until then); whether it is gone. Only the
/// directory itself: a cgroup's interface files cannot be, and need not be, deleted (a plain
/// folder standing in for one in the tests is removed with what was written into it).
pub fn remove_dir(dir: &Path, patience: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return true,
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                return std::fs::remove_dir_all(dir).is_ok();
            }
            Err(e) => {
                if std::time::Instant::now() >= deadline {
                    if !patience.is_zero() {
                        tracing::warn!("cannot remove the cgroup {}: {e}", dir.display());
                    }
                    return false;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// One worker process's group.
#[derive(Debug)]
pub struct Group {
    pub version: Version,
    pub dir: PathBuf,
}

impl Group {
    /// The file a process writes `0` to in order to join the group.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    /// How many processes of the group the kernel's OOM killer has killed for its limit.
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = match self.version {
            Version::V2 => ("memory.events", "oom_kill"),
            Version::V1 => ("memory.oom_control", "oom_kill"),
        };
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        text.lines()
            .find_map(|line| {
                let (k, v) = line.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok()).flatten()
            })
            .unwrap_or(0)
    }
}
