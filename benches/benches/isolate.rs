//! The engine's two hot paths on real V8:
//! - cold: new isolate + context + runtime, load a hello module, call it, dispose;
//! - cold with `nodejs_compat` (as of the newest date): the same, its built-in modules created;
//! - warm: one call into a live isolate.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use stockade_isolate::{Compat, Engine, Limits, LoadOptions, Module, ModuleSet, V8Profile, Worker};

const HELLO: &str = "export default (arg) => ({ hello: arg.name });";

fn limits() -> Limits {
    Limits {
        cpu: Duration::from_secs(1),
        ..Limits::default()
    }
}

fn hello_set() -> ModuleSet {
    ModuleSet::new([Module::new("main.js", HELLO)]).expect("module set")
}

fn bench(c: &mut Criterion) {
    let engine = Engine::init(V8Profile::Standard).expect("engine");
    let mut group = c.benchmark_group("isolate");

    group.bench_function("cold_create_run_dispose", |b| {
        b.iter(|| {
            let mut worker = Worker::new(engine, limits()).expect("isolate");
            let mut set = hello_set();
            assert!(worker.load("main.js", &mut set).result.is_ok());
            let out = worker.call(r#"{"name":"bench"}"#);
            assert!(out.result.is_ok());
        })
    });

    let node = LoadOptions {
        compat: Compat::parse("", &["nodejs_compat".to_string()]).expect("compat"),
        env: serde_json::json!({}),
    };
    group.bench_function("cold_create_run_dispose_nodejs_compat", |b| {
        b.iter(|| {
            let mut worker = Worker::new(engine, limits()).expect("isolate");
            let mut set = hello_set();
            assert!(worker.load_with("main.js", &mut set, &node).result.is_ok());
            let out = worker.call(r#"{"name":"bench"}"#);
            assert!(out.result.is_ok());
        })
    });

    group.bench_function("create_dispose_only", |b| {
        b.iter(|| drop(Worker::new(engine, limits()).expect("isolate")))
    });

    let mut worker = Worker::new(engine, limits()).expect("isolate");
    let mut set = hello_set();
    assert!(worker.load("main.js", &mut set).result.is_ok());
    group.bench_function("warm_call", |b| {
        b.iter(|| {
            let out = worker.call(r#"{"name":"bench"}"#);
            assert!(out.result.is_ok());
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
