//! The engine initialised by many threads at once (as a test binary's parallel tests, or a
//! worker's isolate threads, do): one snapshot, one set of lazy parts, and every thread's
//! isolates build every lazy group correctly.
//!
//! One test function in its own binary: the race is only there while no engine exists yet.
mod common;
use common::limits;
use std::sync::{Arc, Barrier};
use stockade_isolate::{Compat, Engine, LoadOptions, Module, ModuleSet, V8Profile, Worker};

const THREADS: usize = 8;

/// Builds every lazy group (node, URLPattern, HTMLRewriter, the Cache API) and uses each.
const USES_EVERY_GROUP: &str = r#"
export default async () => {
  const { join } = await import("node:path");
  const { Buffer } = await import("node:buffer");
  return [
    join("/a", "b", "../c"),
    Buffer.from("hi").toString("hex"),
    new URLPattern({ pathname: "/x/:id" }).exec("https://h.test/x/7").pathname.groups.id,
    typeof new HTMLRewriter().on,
    Object.prototype.toString.call(caches.default),
  ];
};
"#;

#[test]
fn threads_initialising_the_engine_at_once_share_one_working_engine() {
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let engine = Engine::init(V8Profile::Standard).expect("V8 initialises");
                let mut worker = Worker::new(engine, limits()).expect("isolate");
                let mut set = ModuleSet::new([Module::new("main.js", USES_EVERY_GROUP.as_bytes())])
                    .expect("module set");
                let options = LoadOptions {
                    compat: Compat::parse("2025-06-01", &["nodejs_compat".to_string()])
                        .expect("valid compat"),
                    env: serde_json::Value::Null,
                };
                let loaded = worker.load_with("main.js", &mut set, &options);
                loaded.result.map_err(|e| format!("load: {e:?}"))?;
                worker
                    .call("null")
                    .result
                    .map_err(|e| format!("call: {e:?}"))
                    .map(|json| (engine as *const Engine as usize, json))
            })
        })
        .collect();
    let results: Vec<Result<(usize, String), String>> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let expected = r#"["/a/c","6869","7","function","[object Cache]"]"#;
    let first = results[0].as_ref().map(|(e, _)| *e).unwrap_or(0);
    for r in &results {
        let (engine, json) = r
            .as_ref()
            .unwrap_or_else(|e| panic!("a thread failed: {e}"));
        assert_eq!(*engine, first, "one engine for the process");
        assert_eq!(json, expected);
    }
}
