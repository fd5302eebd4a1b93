//! What memory protection keys cost the engine, side by side in one run:
//! - cold start (new isolate + load a hello module + one call + dispose) with every page and
//!   ArrayBuffer tagged with the isolate's key (`keyed`) vs untagged (`unkeyed`);
//! - warm call into a live isolate with PKRU switched around every bridge call (`keyed`) vs
//!   not (`unkeyed`).
//!
//! Without PKU (CPU, hypervisor or kernel) only the `unkeyed` variants run, and the bench says
//! why: a "keyed" worker would have no key and measure nothing. In the QEMU VM
//! (`mpk/tests/qemu/run-in-vm.sh --bench`) both run, but TCG emulates WRPKRU and page tables:
//! compare ratios there, not absolute times.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use stockade_isolate::{Engine, Limits, Module, ModuleSet, MpkMode, V8Profile, Worker};

const HELLO: &str =
    "export default (arg) => ({ hello: arg.name, bytes: new Uint8Array(64).length });";

fn limits() -> Limits {
    Limits {
        cpu: Duration::from_secs(5),
        wall: Duration::from_secs(10),
        ..Limits::default()
    }
}

fn loaded(engine: &'static Engine, mode: MpkMode) -> Worker {
    let mut worker = Worker::with_mpk(engine, limits(), mode).expect("isolate");
    let mut set = ModuleSet::new([Module::new("main.js", HELLO)]).expect("module set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    if mode == MpkMode::Pooled {
        assert!(worker.mpk_key().is_some(), "a keyed worker must have a key");
    }
    worker
}

fn bench(c: &mut Criterion) {
    let engine = Engine::init(V8Profile::Standard).expect("engine");
    let status = engine.mpk_status();
    let mut modes = vec![("unkeyed", MpkMode::Off)];
    if status.is_available() {
        modes.push(("keyed", MpkMode::Pooled));
    } else {
        eprintln!("mpk_isolate: keyed variants skipped: {status}");
    }

    let mut group = c.benchmark_group("mpk_isolate");
    for &(name, mode) in &modes {
        group.bench_function(format!("cold_start/{name}"), |b| {
            b.iter(|| {
                let mut worker = loaded(engine, mode);
                assert!(worker.call(r#"{"name":"bench"}"#).result.is_ok());
            })
        });
    }
    for &(name, mode) in &modes {
        let mut worker = loaded(engine, mode);
        group.bench_function(format!("warm_call/{name}"), |b| {
            b.iter(|| assert!(worker.call(r#"{"name":"bench"}"#).result.is_ok()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
