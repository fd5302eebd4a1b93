//! The systemd units in `dist/systemd/`: the service's sandboxing leaves the workers what their
//! jail needs, its commands are this binary's, and `systemd-analyze verify` accepts it and the
//! socket unit.
use std::collections::BTreeMap;
use std::process::Command;

fn unit() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dist/systemd/stockade.service"
    );
    std::fs::read_to_string(path).expect("the unit")
}

fn socket_unit() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dist/systemd/stockade.socket"
    );
    std::fs::read_to_string(path).expect("the socket unit")
}

/// `Key=value` lines of the unit (the last one of each key).
fn directives(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn the_unit_sandboxes_the_daemon_and_leaves_the_workers_their_jail() {
    let d = directives(&unit());
    // The workers create all seven namespace kinds (see e2e_jail.rs) and JIT code.
    let namespaces: Vec<&str> = d["RestrictNamespaces"].split_whitespace().collect();
    for ns in ["user", "pid", "net", "mnt", "ipc", "uts", "cgroup"] {
        assert!(namespaces.contains(&ns), "RestrictNamespaces lacks {ns}");
    }
    assert_eq!(d["MemoryDenyWriteExecute"], "no");
    assert!(
        !d.contains_key("SystemCallFilter"),
        "would bind the workers' jail setup"
    );
    // And confines the supervisor.
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        // The memory cap's cgroups: the service's subtree delegated (only it is the stockade
        // user's), so the hierarchy is not made read-only.
        ("Delegate", "memory"),
        ("ProtectControlGroups", "no"),
        ("RestrictSUIDSGID", "yes"),
        ("User", "stockade"),
    ] {
        assert_eq!(d.get(key).map(String::as_str), Some(value), "{key}");
    }
    // The commands are this binary's: check-config first, serve, reload by SIGHUP.
    assert!(d["ExecStartPre"].ends_with("stockade check-config /etc/stockade/stockade.toml"));
    assert!(d["ExecStart"].ends_with("stockade serve --config /etc/stockade/stockade.toml"));
    assert_eq!(d["ExecReload"], "/bin/kill -HUP $MAINPID");
    // With the file system read-only, the default store (data_dir = ./stockade-data, relative)
    // must land in the state directory: it is the working directory.
    assert_eq!(d["StateDirectory"], "stockade");
    assert_eq!(d["WorkingDirectory"], "/var/lib/stockade");
    assert_eq!(d["RuntimeDirectory"], "stockade");
    // The daemon says when it is ready (e2e_ops.rs proves what it sends).
    assert_eq!(d["Type"], "notify");
    // The socket unit passes the API's socket under a name that is not the metrics'.
    let s = directives(&socket_unit());
    assert!(s["ListenStream"].parse::<std::net::SocketAddr>().is_ok());
    assert_ne!(s["FileDescriptorName"], "metrics");
}

#[test]
fn systemd_analyze_verifies_the_unit() {
    // Required (CI installs systemd for it): a missing tool fails rather than skips.
    let probe = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .expect("systemd-analyze (package systemd) is needed to verify the unit");
    assert!(probe.status.success());
    // The unit as installed, with this build's binary in place of /usr/local/bin/stockade.
    let dir = std::env::temp_dir().join(format!("stockade-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("stockade.service");
    let text = unit().replace("/usr/local/bin/stockade", env!("CARGO_BIN_EXE_stockade"));
    std::fs::write(&path, text).expect("write");
    // And the socket unit beside it (socket activation, daemon/src/serve/listeners.rs).
    let socket = dir.join("stockade.socket");
    std::fs::write(&socket, socket_unit()).expect("write");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .arg(&socket)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Only complaints about this unit count (the host's own units may have theirs); systemd
    // reports unknown keys and unparsable values there and still exits 0.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("stockade.service") || l.contains("stockade.socket"))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ours.is_empty(), "systemd-analyze verify:\n{stderr}");
}
