//! Helpers shared by the engine's integration tests: a real V8 engine, real isolates.
#![allow(dead_code)]

use std::time::Duration;

use stockade_isolate::{
    Engine, Invocation, Limits, Module, ModuleSet, RunError, V8Profile, Worker,
};

pub fn engine() -> &'static Engine {
    Engine::init(V8Profile::Standard).expect("V8 initialises")
}

pub fn limits() -> Limits {
    Limits {
        cpu: Duration::from_millis(500),
        wall: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// Loads `modules` (main first) and calls the default export with `arg`.
pub fn run_with(limits: Limits, modules: &[(&str, &str)], arg: &str) -> Invocation {
    let mut worker = Worker::new(engine(), limits).expect("isolate");
    let mut set = ModuleSet::new(
        modules
            .iter()
            .map(|(n, s)| Module::new(*n, s.as_bytes().to_vec())),
    )
    .expect("module set");
    let loaded = worker.load(modules[0].0, &mut set);
    if loaded.result.is_err() {
        return loaded;
    }
    worker.call(arg)
}

pub fn run(src: &str) -> Invocation {
    run_with(limits(), &[("main.js", src)], "null")
}

pub fn run_ts(src: &str) -> Invocation {
    run_with(limits(), &[("main.ts", src)], "null")
}

pub fn ok(inv: Invocation) -> serde_json::Value {
    match inv.result {
        Ok(json) => serde_json::from_str(&json).expect("result is JSON"),
        Err(e) => panic!("expected success, got {e:?}; logs: {:?}", inv.logs),
    }
}

pub fn err(inv: Invocation) -> RunError {
    match inv.result {
        Ok(json) => panic!("expected an error, got {json}"),
        Err(e) => e,
    }
}
