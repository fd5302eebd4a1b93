//! Runs one async JavaScript body in a real Stockade isolate (with `nodejs_compat`) and in real
//! Node (`node` on PATH, NODE_EXTRA_CA_CERTS unset; the test fails if it is missing), both with
//! `crypto` (node:crypto) and `Buffer` in scope, and gives each one's JSON answer, so a test
//! can compare Stockade's node:crypto with Node's own, or hand values from one to the other.
#![allow(dead_code)]

use std::process::Command;

use super::common::*;
use stockade_isolate::{Compat, Invocation, Limits, LoadOptions, Module, ModuleSet, Worker};

fn options() -> LoadOptions {
    LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("compat"),
        env: serde_json::json!({}),
    }
}

/// What running `body` (an async function body) in a Stockade isolate with `limits` gives.
pub fn stockade_with(limits: Limits, body: &str) -> Invocation {
    let src = format!(
        "import * as crypto from 'node:crypto'; import {{ Buffer }} from 'node:buffer';\n\
         export default async () => {{ {body} }};"
    );
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", src.as_bytes())]).expect("module set");
    let loaded = worker.load_with("main.js", &mut set, &options());
    assert!(loaded.result.is_ok(), "load: {:?}", loaded.result);
    worker.call("null")
}

/// The JSON value `body` returns (an async function body) in a Stockade isolate.
pub fn stockade(body: &str) -> serde_json::Value {
    ok(stockade_with(limits(), body))
}

/// The JSON value `body` returns in Node.
pub fn node(body: &str) -> serde_json::Value {
    let src = format!(
        "import * as crypto from 'node:crypto'; import {{ Buffer }} from 'node:buffer';\n\
         const out = await (async () => {{ {body} }})();\n\
         process.stdout.write(JSON.stringify(out));"
    );
    let run = Command::new("node")
        .args(["--input-type=module", "-e", &src])
        .env_remove("NODE_EXTRA_CA_CERTS")
        .output()
        .expect("node must be installed to compare node:crypto with it");
    assert!(
        run.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).expect("node's JSON")
}

/// Runs `body` in both and asserts the answers are equal.
pub fn same(body: &str) -> serde_json::Value {
    same_with(limits(), body)
}

/// [`same`], with the isolate under `limits` (for a body whose cost is chance, such as a prime
/// search: a generous CPU limit, so that only a hang fails it).
pub fn same_with(limits: Limits, body: &str) -> serde_json::Value {
    let ours = ok(stockade_with(limits, body));
    let theirs = node(body);
    if let (Some(a), Some(b)) = (ours.as_array(), theirs.as_array()) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert_eq!(x, y, "item {i} differs: Stockade (left), Node (right)");
        }
    }
    assert_eq!(
        ours, theirs,
        "Stockade (left) and Node (right) differ for:\n{body}"
    );
    ours
}

/// [`same`] for a generated comparison: `setup`, then `count` times `step` (a statement that
/// pushes its answers to `out`; an exception pushes its `code`, or its name), then `after`, with
/// the seeded `rand(n)` (0 to n - 1, from the high bits of a 32-bit LCG started at `seed`) and
/// `pick(list)` in scope; the same draws in both, so the answers must be equal item by item.
pub fn same_generated(
    seed: u32,
    count: u32,
    setup: &str,
    step: &str,
    after: &str,
) -> serde_json::Value {
    same(&format!(
        "let seed = {seed};
         const rand = (n) => {{ seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff; return Math.floor((seed / 0x80000000) * n); }};
         const pick = (list) => list[rand(list.length)];
         const out = [];
         {setup}
         for (let i = 0; i < {count}; i++) {{
           try {{ {step} }} catch (e) {{ out.push(e.code ?? e.name); }}
         }}
         {after}
         return out;"
    ))
}
