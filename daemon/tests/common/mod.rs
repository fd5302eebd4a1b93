//! A real `stockade serve` on 127.0.0.1 with real jailed worker processes, for end-to-end tests.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    pub base: String,
    pub dir: PathBuf,
}

pub const OPERATOR: &str = "operator-token-0123456789";

pub fn tenant_token(i: usize) -> String {
    format!("tenant-{i}-token-abcdefghij")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Daemon {
    /// Starts a daemon with `tenants` tenants (`t0`..), `workers` processes, jailed.
    pub fn start(tag: &str, tenants: usize, workers: usize, extra: &str) -> Daemon {
        let dir = std::env::temp_dir().join(format!("stockade-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let port = free_port();
        let mut config = format!("listen = \"127.0.0.1:{port}\"\nworkers = {workers}\noperator_token = \"{OPERATOR}\"\n{extra}\n");
        for i in 0..tenants {
            config.push_str(&format!(
                "[[tenants]]\nid = \"t{i}\"\ntoken = \"{}\"\n",
                tenant_token(i)
            ));
        }
        let path = dir.join("stockade.toml");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(config.as_bytes()))
            .expect("config");
        let child = Command::new(env!("CARGO_BIN_EXE_stockade"))
            .args(["serve", "--config", path.to_str().expect("utf8")])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn daemon");
        let daemon = Daemon {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        daemon.wait_ready(workers);
        daemon
    }

    fn wait_ready(&self, workers: usize) {
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = client
                .get(format!("{}/v1/admin/workers", self.base))
                .bearer_auth(OPERATOR)
                .send()
            {
                if let Ok(v) = r.json::<serde_json::Value>() {
                    let up = v["workers"].as_array().map_or(0, |a| {
                        a.iter()
                            .filter(|w| w["rssBytes"].as_u64().unwrap_or(0) > 0)
                            .count()
                    });
                    if up >= workers {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("daemon did not become ready");
    }

    pub fn admin(&self) -> serde_json::Value {
        client()
            .get(format!("{}/v1/admin/workers", self.base))
            .bearer_auth(OPERATOR)
            .send()
            .expect("admin")
            .json()
            .expect("json")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// POST /v1/workers with one TypeScript module; returns the id.
pub fn load(d: &Daemon, token: &str, main: &str) -> String {
    let body = serde_json::json!({ "mainModule": "main.ts", "modules": { "main.ts": main } });
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("load");
    assert_eq!(r.status().as_u16(), 201);
    r.json::<serde_json::Value>().expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
}
