//! A wasm module in the quarantine profile (`--jitless`, no WebAssembly) is a clear error at load,
//! naming the module. A process runs one V8 profile, so this is a test binary of its own.
use std::time::Duration;

use stockade_isolate::{Engine, Limits, Module, ModuleSet, RunError, V8Profile, Worker};

#[test]
fn a_wasm_module_is_refused_where_webassembly_is_off() {
    let engine = Engine::init(V8Profile::Strict).expect("V8 initialises");
    let limits = Limits {
        cpu: Duration::from_millis(500),
        wall: Duration::from_secs(5),
        ..Limits::default()
    };
    let mut worker = Worker::new(engine, limits.clone()).expect("isolate");
    let wasm = vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    let mut set = ModuleSet::new([
        Module::new(
            "main.js",
            "import m from './lib.wasm'; export default () => 1;",
        ),
        Module::new("lib.wasm", wasm),
    ])
    .expect("set");
    match worker.load("main.js", &mut set).result {
        Err(RunError::InvalidInput(message)) => {
            assert!(message.contains("\"lib.wasm\" is WebAssembly"), "{message}");
            assert!(message.contains("quarantine"), "{message}");
        }
        other => panic!("expected a clear refusal, got {other:?}"),
    }
    // CommonJS still works there.
    let mut worker = Worker::new(engine, limits).expect("isolate");
    let mut set = ModuleSet::new([
        Module::new(
            "main.js",
            "import m from './m.cjs'; export default () => m.v;",
        ),
        Module::new("m.cjs", "exports.v = 7;"),
    ])
    .expect("set");
    assert!(worker.load("main.js", &mut set).result.is_ok());
    assert_eq!(worker.call("null").result.expect("runs"), "7");
}
