//! One daemon per `data_dir` (`serve/data_dir_lock.rs`): a second `stockade serve` on a folder a
//! running daemon holds exits 4 naming the folder and the holder's pid, and the first daemon
//! keeps serving; once the holder is killed with SIGKILL (its workers possibly still ending), a
//! successor takes the folder at once, so a crash leaves no stale lock.
mod common;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const TAIL: &str = "[[tenants]]\nid = \"t0\"\ntoken = \"t0-token-0123456789abcdef\"\n";

#[test]
fn a_second_daemon_on_a_held_data_dir_exits_4_and_a_killed_holders_successor_starts() {
    let d = Daemon::start_raw("data-dir", 1, TAIL, &[]);
    let mut second = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["serve", "--config"])
        .arg(d.config_path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("second serve");
    // A second daemon that starts serves until stopped: bound the wait (a hang guard, not a
    // timing assert), then stop it so the test fails instead of hanging.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = second.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status =
        status.unwrap_or_else(|| panic!("a second daemon served the held data_dir: {stderr}"));
    assert_eq!(status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("another stockade daemon (pid {})", d.pid()))
            && stderr.contains("one daemon per data_dir"),
        "{stderr}"
    );
    // The holder is untouched.
    let (status, _) = get_json(&d, Some(OPERATOR), "/v1/admin/workers");
    assert_eq!(status, 200);

    let dir = d.kill9();
    let successor = Daemon::start_in(dir, 1, TAIL, &[]);
    let (status, _) = get_json(&successor, Some(OPERATOR), "/v1/admin/workers");
    assert_eq!(status, 200);
}
