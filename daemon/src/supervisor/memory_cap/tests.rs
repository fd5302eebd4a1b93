//! The cgroup path and file logic against a temporary folder standing in for `/sys/fs/cgroup`
//! (the real v1 hierarchy is exercised by `tests/e2e_process_memory.rs`), and the charge rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use stockade_cordon::TenantId;

use super::cgroup::{detect, own_dir, Group, Parent, Version};
use super::{charged, Hit, MemoryCap};
use crate::config::MemoryEnforcement;

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("stockade-cgroup-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const V2_SELF: &str = "0::/system.slice/stockade.service\n";
const V1_SELF: &str = "5:cpu,cpuacct:/\n4:memory:/lxc/box\n1:name=systemd:/\n0::/\n";

#[test]
fn own_group_comes_from_proc_self_cgroup() {
    let root = Path::new("/sys/fs/cgroup");
    assert_eq!(
        own_dir(root, V2_SELF, Version::V2),
        Some(root.join("system.slice/stockade.service"))
    );
    assert_eq!(
        own_dir(root, V1_SELF, Version::V1),
        Some(root.join("memory/lxc/box"))
    );
    assert_eq!(
        own_dir(root, "0::/\n", Version::V2),
        Some(root.to_path_buf())
    );
    assert_eq!(
        own_dir(root, V2_SELF, Version::V1),
        None,
        "no memory hierarchy"
    );
    assert_eq!(
        own_dir(root, "3:cpu,memory:/a\n", Version::V1),
        Some(root.join("memory/a"))
    );
}

#[test]
fn v2_is_the_unified_hierarchy_with_the_memory_controller() {
    let s = Scratch::new("detect");
    assert_eq!(detect(&s.0), None);
    std::fs::write(s.0.join("cgroup.controllers"), "cpuset cpu io pids\n").expect("write");
    assert_eq!(detect(&s.0), None, "no memory controller");
    std::fs::write(
        s.0.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .expect("write");
    assert_eq!(detect(&s.0), Some(Version::V2));
    let v1 = Scratch::new("detect-v1");
    std::fs::create_dir_all(v1.0.join("memory")).expect("mkdir");
    std::fs::write(v1.0.join("memory/memory.limit_in_bytes"), "max").expect("write");
    assert_eq!(detect(&v1.0), Some(Version::V1));
}

#[test]
fn v2_parent_enables_memory_for_its_children_and_caps_memory_and_swap() {
    let s = Scratch::new("v2");
    std::fs::write(s.0.join("cgroup.controllers"), "cpu memory pids\n").expect("write");
    let own = s.0.join("system.slice/stockade.service");
    std::fs::create_dir_all(&own).expect("own");
    let parent = Parent::create(&s.0, V2_SELF, 4242).expect("parent");
    assert_eq!(parent.version, Version::V2);
    assert_eq!(parent.dir, own.join("stockade-4242"));
    // A plain folder accepts the write, so the daemon did not need to leave its group.
    assert_eq!(read(&own.join("cgroup.subtree_control")), "+memory");
    assert_eq!(read(&parent.dir.join("cgroup.subtree_control")), "+memory");
    assert!(!parent.dir.join("supervisor").exists());

    let group = parent.child("w7", 256 << 20).expect("child");
    assert_eq!(group.dir, parent.dir.join("w7"));
    assert_eq!(
        read(&group.dir.join("memory.max")),
        (256u64 << 20).to_string()
    );
    assert!(
        !group.dir.join("memory.swap.max").exists(),
        "an absent interface file (no swap accounting) is not created"
    );
    assert_eq!(group.procs(), group.dir.join("cgroup.procs"));
    // A kernel's swap file exists once the group does: it is set to 0.
    std::fs::create_dir(parent.dir.join("w8")).expect("mkdir");
    std::fs::write(parent.dir.join("w8/memory.swap.max"), "max").expect("write");
    parent.child("w8", 64 << 20).expect("child");
    assert_eq!(read(&parent.dir.join("w8/memory.swap.max")), "0");

    assert_eq!(group.oom_kills(), 0, "no events file yet");
    std::fs::write(
        group.dir.join("memory.events"),
        "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
    )
    .expect("events");
    assert_eq!(group.oom_kills(), 1);

    parent.remove(Duration::from_millis(50));
    assert!(
        !parent.dir.exists(),
        "the parent and its children are removed"
    );
}

#[test]
fn a_v2_group_that_cannot_delegate_memory_is_refused_and_undone() {
    let s = Scratch::new("v2-busy");
    std::fs::write(s.0.join("cgroup.controllers"), "cpu memory pids\n").expect("write");
    let own = s.0.join("system.slice/stockade.service");
    // Its controls cannot be written (a folder stands in for a refusal such as EBUSY).
    std::fs::create_dir_all(own.join("cgroup.subtree_control")).expect("own");
    std::fs::write(own.join("cgroup.controllers"), "cpu pids\n").expect("write");
    let refused = Parent::create(&s.0, V2_SELF, 4243)
        .expect_err("memory not delegated")
        .to_string();
    assert!(refused.contains("not delegated"), "{refused}");
    assert!(!own.join("stockade-4243").exists());
    std::fs::write(own.join("cgroup.controllers"), "cpu memory pids\n").expect("write");
    let refused = Parent::create(&s.0, V2_SELF, 4243)
        .expect_err("no delegation")
        .to_string();
    assert!(refused.contains("cgroup.subtree_control"), "{refused}");
    // It tried to leave its group for a leaf, and came back.
    assert_eq!(
        read(&own.join("cgroup.procs")),
        std::process::id().to_string()
    );
    assert!(
        !own.join("stockade-4243").exists(),
        "nothing is left behind"
    );
}

#[test]
fn v1_caps_memory_then_memory_plus_swap_and_reads_oom_kills() {
    let s = Scratch::new("v1");
    let own = s.0.join("memory/lxc/box");
    std::fs::create_dir_all(&own).expect("own");
    std::fs::write(s.0.join("memory/memory.limit_in_bytes"), "max").expect("write");
    let parent = Parent::create(&s.0, V1_SELF, 99).expect("parent");
    assert_eq!(
        (parent.version, parent.dir.clone()),
        (Version::V1, own.join("stockade-99"))
    );
    std::fs::create_dir(parent.dir.join("w1")).expect("mkdir");
    std::fs::write(parent.dir.join("w1/memory.memsw.limit_in_bytes"), "max").expect("write");
    let group = parent.child("w1", 300 << 20).expect("child");
    let bytes = (300u64 << 20).to_string();
    assert_eq!(read(&group.dir.join("memory.limit_in_bytes")), bytes);
    assert_eq!(read(&group.dir.join("memory.memsw.limit_in_bytes")), bytes);
    std::fs::write(
        group.dir.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    )
    .expect("oom_control");
    assert_eq!(group.oom_kills(), 3);
    let other = Group {
        version: Version::V1,
        dir: s.0.join("nowhere"),
    };
    assert_eq!(other.oom_kills(), 0);
    parent.remove(Duration::from_millis(50));
    assert!(!parent.dir.exists());
}

#[test]
fn stale_groups_of_dead_daemons_are_swept_and_live_ones_kept() {
    let s = Scratch::new("sweep");
    let own = s.0.join("memory/lxc/box");
    std::fs::create_dir_all(own.join("stockade-4000000000/w1")).expect("stale");
    let live = own.join(format!("stockade-{}", std::process::id()));
    std::fs::create_dir_all(&live).expect("live");
    std::fs::create_dir_all(own.join("other")).expect("other");
    std::fs::write(s.0.join("memory/memory.limit_in_bytes"), "max").expect("write");
    let parent = Parent::create(&s.0, V1_SELF, 1).expect("parent");
    assert_eq!(parent.sweep_stale(), 1);
    assert!(!own.join("stockade-4000000000").exists());
    assert!(live.exists() && own.join("other").exists() && parent.dir.exists());
}

#[test]
fn the_mechanism_falls_back_to_polling_unless_a_cgroup_is_required() {
    let s = Scratch::new("choose");
    let auto = MemoryCap::choose(256, MemoryEnforcement::Auto, &s.0, V1_SELF).expect("auto");
    assert_eq!(auto.mechanism_name(), "polling");
    let required = MemoryCap::choose(256, MemoryEnforcement::Cgroup, &s.0, V1_SELF);
    assert!(required.is_err_and(|e| e.to_string().contains("no cgroup can be created")));
    let off = MemoryCap::choose(0, MemoryEnforcement::Cgroup, &s.0, V1_SELF).expect("off");
    assert_eq!(off.mechanism_name(), "off");
    assert!(off.guard(1).hit().is_none());

    std::fs::create_dir_all(s.0.join("memory/lxc/box")).expect("own");
    std::fs::write(s.0.join("memory/memory.limit_in_bytes"), "max").expect("write");
    let poll = MemoryCap::choose(256, MemoryEnforcement::Poll, &s.0, V1_SELF).expect("poll");
    assert_eq!(poll.mechanism_name(), "polling");
    let cap = MemoryCap::choose(256, MemoryEnforcement::Auto, &s.0, V1_SELF).expect("v1");
    assert_eq!(cap.mechanism_name(), "cgroup v1");
    let parent = cap.parent_dir().expect("parent").to_path_buf();
    let guard = cap.guard(5);
    let join = guard
        .join_path()
        .expect("a group to join")
        .to_str()
        .expect("utf8");
    assert_eq!(Path::new(join), parent.join("w5/cgroup.procs"));
    assert!(guard.hit().is_none());
    std::fs::write(parent.join("w5/memory.oom_control"), "oom_kill 1\n").expect("write");
    let hit = guard.hit().expect("an OOM kill is a hit");
    assert!(hit.how.contains("256 MiB (cgroup v1)"), "{}", hit.how);
    assert_eq!((hit.cap, hit.baseline), (256 << 20, 0));
    drop(guard);
    assert!(!parent.join("w5").exists(), "a life's group goes with it");
    drop(cap);
    assert!(!parent.exists(), "the parent goes with the daemon");
}

#[test]
fn a_hit_charges_the_tenant_holding_the_most_memory_as_far_as_reports_and_flight_tell() {
    const MIB: u64 = 1 << 20;
    let (grower, bystander, idle) = (TenantId(1), TenantId(2), TenantId(3));
    let hit = Hit {
        how: String::new(),
        cap: 320 * MIB,
        baseline: 60 * MIB,
    };
    let held = |pairs: &[(TenantId, u64)]| -> BTreeMap<TenantId, u64> {
        pairs.iter().map(|&(t, mib)| (t, mib * MIB)).collect()
    };
    let running =
        |tenants: &[TenantId]| -> BTreeSet<TenantId> { tenants.iter().copied().collect() };
    // One request grew from nothing: its tenant is charged, not the idle holders of little.
    let small = held(&[(grower, 2), (bystander, 3), (idle, 1)]);
    assert_eq!(charged(&hit, &running(&[grower]), &small), [grower]);
    // A tenant that grew request by request and sits idle holding most of the process is
    // charged, not the neighbour whose small request the kill happened to interrupt.
    let kept = held(&[(grower, 240), (bystander, 3), (idle, 1)]);
    assert_eq!(charged(&hit, &running(&[bystander]), &kept), [grower]);
    assert_eq!(
        charged(&hit, &BTreeSet::new(), &kept),
        [grower],
        "killed while idle"
    );
    assert_eq!(charged(&hit, &running(&[grower]), &kept), [grower]);
    // Unless what no report explains could make the running neighbour the larger holder.
    let half = held(&[(grower, 100), (bystander, 3)]);
    assert_eq!(charged(&hit, &running(&[bystander]), &half), [bystander]);
    // Two tenants in flight, neither holding much: they cannot be told apart; idle ones never
    // are charged.
    assert_eq!(
        charged(&hit, &running(&[grower, bystander]), &small),
        [grower, bystander]
    );
    // Nothing in flight and nothing reported: nobody.
    assert!(charged(&hit, &BTreeSet::new(), &BTreeMap::new()).is_empty());
    // An unknown baseline only widens what the running tenants may hold.
    let most = held(&[(grower, 150), (bystander, 3)]);
    assert_eq!(charged(&hit, &running(&[bystander]), &most), [grower]);
    let unknown = Hit {
        baseline: 0,
        ..hit.clone()
    };
    assert_eq!(
        charged(&unknown, &running(&[bystander]), &most),
        [bystander]
    );
    // Several in flight, an idle tenant holding more than any of them could: it alone.
    let hoard = held(&[(grower, 250), (bystander, 2), (idle, 1)]);
    assert_eq!(
        charged(&hit, &running(&[bystander, idle]), &hoard),
        [grower]
    );
    // ... or as much as the largest of them holds at the least: it and they.
    let share = held(&[(grower, 120), (bystander, 2), (idle, 1)]);
    assert_eq!(
        charged(&hit, &running(&[bystander, idle]), &share),
        [grower, bystander, idle]
    );
}
