//! Links the worker's shared object against V8 13.6 in the runtime root (the arguments come
//! from stockade-isolate's build script). The shared object needs no loader of its own: the
//! process that loads it was started on the root's loader (see the `stockade` binary's
//! `worker.rs`).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_NODE_LINK_ARGS");
    let args = std::env::var("DEP_NODE_LINK_ARGS")
        .unwrap_or_else(|_| panic!("DEP_NODE_LINK_ARGS is not set by stockade-isolate"));
    // Every target gets the same arguments: the shared object (its `PT_INTERP` is ignored by
    // dlopen) and the unit-test executable (`cargo test -p stockade-worker`: pure conversions),
    // which must start on the root's loader.
    for arg in args.split('\x1f').filter(|a| !a.is_empty()) {
        println!("cargo:rustc-link-arg={arg}");
    }
}
