//! Benchmarks live in benches/benches/; the load-style ones are binaries in `src/bin`, and this
//! library holds what those share: starting a release daemon and waiting until it serves, and
//! reading where a process's memory is ([`memory`]).

pub mod memory;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Starts `bin serve --config config` (quiet) and waits, at most 10 s, until `base`'s admin
/// route answers `operator`. Returns the daemon (killed when dropped) and a client with
/// `timeout`.
pub fn start_daemon(
    bin: &str,
    config: &Path,
    base: &str,
    operator: &str,
    timeout: Duration,
) -> (Daemon, reqwest::blocking::Client) {
    let daemon = Command::new(bin)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {bin}: {e} (build it: cargo build --release -p stockade)")
        });
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client");
    for _ in 0..200 {
        if client
            .get(format!("{base}/v1/admin/workers"))
            .bearer_auth(operator)
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (Daemon(daemon), client)
}

/// A daemon started by [`start_daemon`], killed when dropped (a bench that panics, on a failed
/// request, does not leave it running).
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
