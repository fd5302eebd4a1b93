//! Links the worker's shared object against V8 13.6 in the runtime root (the arguments come
//! from stockade-isolate's build script). A shared object needs no loader of its own: the process
//! that loads it was started on the root's loader (see the `stockade` binary's `worker.rs`).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_NODE_LINK_ARGS");
    let args = std::env::var("DEP_NODE_LINK_ARGS")
        .unwrap_or_else(|_| panic!("DEP_NODE_LINK_ARGS is not set by stockade-isolate"));
    for arg in args
        .split('\x1f')
        .filter(|a| !a.is_empty() && !a.contains("--dynamic-linker"))
    {
        println!("cargo:rustc-cdylib-link-arg={arg}");
    }
}
