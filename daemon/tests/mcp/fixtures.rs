//! Shared fixtures of the capability e2e tests (`e2e_capabilities.rs`, `e2e_capability_data.rs`,
//! `e2e_mcp_server.rs`): the `http` capability's service, the upstream MCP server, a daemon whose
//! tenant t0 may reach both (its secrets injected by its egress rules) and declares `calc` (with
//! 2 s of CPU per request: a debug build spends more than the default 50 ms on 256 capability
//! calls), and request helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use serde_json::{json, Value};

use super::common::*;
use super::mcp;
use super::upstream::{Answer, Seen, Upstream};

pub const RPC_SECRET: &str = "rpc-secret-value-4b1e9d";
pub const WEATHER_KEY: &str = "weather-key-value-8c2a7f";
pub const CALC_TYPES: &str = "interface Methods { add(a: number, b: number): Promise<number>; whoami(): Promise<{ auth: string }>; }";

/// The `http` capability's service: `add`, `whoami` (echoes the Authorization it received, so a
/// leak would show), `echo` (answers its arguments as they came, tags and all), `fail` (an error
/// with a name of its own).
pub fn calc(seen: &Seen) -> Answer {
    let call: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
    let args = call["args"].as_array().cloned().unwrap_or_default();
    let out = match call["method"].as_str() {
        Some("add") => {
            json!({ "result": args[0].as_i64().unwrap_or(0) + args[1].as_i64().unwrap_or(0) })
        }
        Some("whoami") => json!({ "result": { "auth": seen.header("authorization") } }),
        Some("echo") => json!({ "result": args }),
        Some("fail") => json!({ "error": { "name": "ValidationError", "message": "bad input" } }),
        _ => json!({ "error": { "name": "TypeError", "message": "no such method" } }),
    };
    let mut answer = Answer::ok(out.to_string().as_bytes());
    answer
        .headers
        .push(("Content-Type".into(), "application/json".into()));
    answer
}

/// A child process killed when dropped.
pub struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The upstream MCP server (`stateless` or `stateful`) on the port the kernel gave it, once it
/// says it is ready.
pub fn weather_server(mode: &str) -> (Node, u16) {
    let mut child = mcp::node("upstream.mjs", &["0", mode])
        .env("WEATHER_KEY", WEATHER_KEY)
        .stdout(Stdio::piped())
        .spawn()
        .expect("node upstream.mjs");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("ready");
    let port = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the MCP server did not start: {line:?}"));
    (Node(child), port)
}

/// Tenant t0 may reach the calc service (its secret injected as `Authorization`) and the MCP
/// server (its key injected as `X-Weather-Key`) and declares `calc` in the config; t1 has no
/// network.
pub fn daemon(tag: &str, calc_port: u16, mcp_port: u16, env: &[(&str, &str)]) -> Daemon {
    Daemon::start_raw(tag, 1, &config(calc_port, mcp_port), env)
}

pub fn config(calc_port: u16, mcp_port: u16) -> String {
    format!(
        "[limits]\ncpu_ms = 2000\n[egress]\nallow_private = [\"127.0.0.0/8\"]\n\
         [[tenants]]\nid = \"t0\"\ntoken = \"{t0}\"\n\
         [tenants.secrets]\nrpc = \"Bearer {RPC_SECRET}\"\nweather = \"{WEATHER_KEY}\"\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{calc_port}]\nmethods = [\"POST\"]\ninject_headers = {{ \"Authorization\" = \"rpc\" }}\n\
         [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{mcp_port}]\ninject_headers = {{ \"X-Weather-Key\" = \"weather\" }}\n\
         [[tenants.capabilities]]\nname = \"calc\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{calc_port}/rpc\"\ntypes = \"{CALC_TYPES}\"\n\
         [[tenants]]\nid = \"t1\"\ntoken = \"{t1}\"\n",
        t0 = tenant_token(0),
        t1 = tenant_token(1),
    )
}

/// The calc service, the weather MCP server (`mode`: `stateless` or `stateful`) and a daemon
/// whose tenant t0 declared `weather` (an `mcp` capability) through the API. Fields drop in
/// order: the daemon before the servers it reaches.
pub struct WithCapabilities {
    pub d: Daemon,
    pub weather: Node,
    pub service: Upstream,
    pub t0: String,
    pub mcp_port: u16,
}

pub fn with_capabilities(tag: &str, mode: &str) -> WithCapabilities {
    let service = Upstream::start(calc);
    let (weather, mcp_port) = weather_server(mode);
    let d = daemon(tag, service.port, mcp_port, &[]);
    let t0 = tenant_token(0);
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    let (status, body) = declare(
        &d,
        &t0,
        "t0",
        "weather",
        json!({ "kind": "mcp", "url": mcp_url }),
    );
    assert_eq!(status, 200, "{body}");
    WithCapabilities {
        d,
        weather,
        service,
        t0,
        mcp_port,
    }
}

pub fn declare(d: &Daemon, token: &str, tenant: &str, name: &str, body: Value) -> (u16, Value) {
    let r = client()
        .put(format!(
            "{}/v1/tenants/{tenant}/capabilities/{name}",
            d.base
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("put");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

pub fn create(d: &Daemon, token: &str, code: &str, env: Value) -> (u16, Value) {
    let body = json!({ "mainModule": "main.js", "modules": { "main.js": code }, "env": env });
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .expect("create");
    let status = r.status().as_u16();
    (status, r.json().expect("json"))
}

pub fn run_env(d: &Daemon, token: &str, code: &str, arg: Value, env: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(token)
        .json(&json!({ "code": code, "arg": arg, "env": env }))
        .send()
        .expect("run");
    (r.status().as_u16(), r.json().expect("json"))
}

pub fn text(r: reqwest::blocking::RequestBuilder) -> (u16, String) {
    let r = r.send().expect("send");
    (r.status().as_u16(), r.text().expect("text"))
}
