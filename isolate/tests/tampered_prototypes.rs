//! The runtime's JavaScript against tenant code that replaced built-in methods, accessors and
//! globals first (isolate/tests/tampered/harness.js): structuredClone, crypto, MessageChannel,
//! EventTarget and node:events give the same answers as untampered, and no replaced builtin is
//! ever called with one of the runtime's own objects (a listener record, the clone's memory, a
//! message queue, ...): they must never reach tenant code.
mod common;

use std::time::Duration;

use common::*;
use stockade_isolate::{Compat, Limits, LoadOptions, Module, ModuleSet, Worker};

const HARNESS: &str = include_str!("tampered/harness.js");
const SCENARIOS: &str = include_str!("tampered/scenarios.js");

/// Runs the scenarios of `group` under every tampering; `skip` is a JS predicate
/// `(tampering, scenario) => boolean`. Returns the failures and the untampered answers
/// (scenario name -> JSON text).
fn probe_all(group: &str, skip: &str) -> (Vec<String>, serde_json::Value) {
    let main = format!(
        "{HARNESS}\n{SCENARIOS}\nexport default async () => probe(SCENARIOS[{group:?}], {skip});\n"
    );
    let limits = Limits {
        cpu: Duration::from_secs(20),
        wall: Duration::from_secs(60),
        ..limits()
    };
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", main.as_bytes())]).expect("module set");
    let options = LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("valid compat"),
        env: serde_json::Value::Null,
    };
    let loaded = worker.load_with("main.js", &mut set, &options);
    assert!(loaded.result.is_ok(), "load: {:?}", loaded.result);
    let v = ok(worker.call("null"));
    eprintln!("{group} baselines: {}", v["baselines"]);
    assert!(v["tamperings"].as_u64().unwrap_or(0) > 100, "{v}");
    let failures = v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| f.as_str().unwrap_or_default().to_string())
        .collect();
    (failures, v["baselines"].clone())
}

fn probe(group: &str, skip: &str) -> Vec<String> {
    probe_all(group, skip).0
}

/// The untampered answer of scenario `name`, parsed.
fn baseline(baselines: &serde_json::Value, name: &str) -> serde_json::Value {
    let text = baselines
        .as_array()
        .and_then(|all| all.iter().find(|b| b[0] == name))
        .and_then(|b| b[1].as_str())
        .unwrap_or_else(|| panic!("no baseline for {name}: {baselines}"));
    serde_json::from_str(text).unwrap_or_else(|_| panic!("{name}: not JSON: {text}"))
}

fn assert_none(group: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{group}: {} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn structured_clone_and_crypto_ignore_tampering() {
    let (failures, baselines) = probe_all("clone", "() => false");
    assert_none("clone", failures);
    // The answers themselves (the RegExp's `v` flag was lost before the flags were read
    // through captured getters).
    let nested = baseline(&baselines, "structuredClone nested");
    assert_eq!(nested["a"], serde_json::json!([1, "two", 1, true, true]));
    assert_eq!(nested["m"], serde_json::json!([true, 2, true, [2]]));
    assert_eq!(nested["s"], serde_json::json!([true, true, true]));
    assert_eq!(nested["re"], serde_json::json!(["a.b", "gsy", 0]));
    assert_eq!(nested["rv"], "v");
    assert_eq!(
        nested["dom"],
        serde_json::json!([true, "DataCloneError", "m", 25])
    );
    assert_eq!(nested["cyc"], true);
    assert_eq!(
        baseline(&baselines, "structuredClone transfer"),
        serde_json::json!([0, 9, 8, true, true, ["via the copy"]])
    );
}

#[test]
fn message_channels_ignore_tampering() {
    // Map.prototype's methods included: timers.js's timer table (which a message's delivery and
    // the harness's waits go through) is read through captured ones.
    assert_none("messaging", probe("messaging", "() => false"));
}

#[test]
fn event_targets_ignore_tampering() {
    let (failures, baselines) = probe_all("events", "() => false");
    assert_none("events", failures);
    assert_eq!(
        baseline(&baselines, "EventTarget"),
        serde_json::json!([
            [
                "cap:2:x:true",
                "a:2:x:true",
                "once:2:x:true",
                "obj:true",
                "sig:2:x:true",
                "cap:2:x:true",
                "obj:true",
                "onabort:2:abort:false",
                "global:2:y:false"
            ],
            false,
            true
        ])
    );
}

#[test]
fn node_events_ignore_tampering() {
    assert_none("node", probe("node", "() => false"));
}

/// What the console writes for a Map, a Set, a WeakMap, a `v`-flag RegExp, a Request (shown
/// through its original getters) and a Buffer, after `tamper` ran; the log lines' texts.
fn console_of(tamper: &str) -> Vec<String> {
    let main = format!(
        "import {{ Buffer }} from 'node:buffer';
         export default () => {{
           const m = new Map([['k', 1]]), s = new Set([2]), w = new WeakMap(), re = /a/giv;
           const req = new Request('https://example.test/x', {{ method: 'POST' }});
           const b = Buffer.from('hi');
           {tamper}
           console.log(m, s, w, re, req, b);
           return 1;
         }};"
    );
    let mut worker = Worker::new(engine(), limits()).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", main.as_bytes())]).expect("module set");
    let options = LoadOptions {
        compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()]).expect("valid compat"),
        env: serde_json::Value::Null,
    };
    let loaded = worker.load_with("main.js", &mut set, &options);
    assert!(loaded.result.is_ok(), "load: {:?}", loaded.result);
    let inv = worker.call("null");
    assert!(inv.result.is_ok(), "{tamper}: {:?}", inv.result);
    inv.logs.iter().map(|l| l.text.clone()).collect()
}

#[test]
fn the_console_shows_the_same_whatever_was_tampered() {
    let plain = console_of("");
    assert!(plain[0].contains("/a/giv"), "{plain:?}");
    let mut failed = Vec::new();
    for tamper in [
        "Map.prototype.get = () => { throw new Error('tampered'); };",
        "Map.prototype.has = () => { throw new Error('tampered'); };",
        "Map.prototype.set = () => { throw new Error('tampered'); };",
        "Set.prototype.has = () => { throw new Error('tampered'); };",
        "WeakMap.prototype.has = () => { throw new Error('tampered'); };",
        "Array.prototype.map = () => { throw new Error('tampered'); };",
        "Array.prototype[Symbol.iterator] = function* () { throw new Error('tampered'); };",
        "Object.defineProperty(RegExp.prototype, 'global', { get() { throw new Error('tampered'); } });",
        "Object.defineProperty(Array.prototype, '0', { set() { throw new Error('tampered'); }, configurable: true });",
    ] {
        if console_of(tamper) != plain { failed.push(tamper); }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
