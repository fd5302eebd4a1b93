//! Links this crate's binaries the way a process that maps V8 13.6 must be linked (arguments from
//! stockade-isolate's build script), and records which V8 that is for `stockade --version`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_NODE_LINK_ARGS");
    println!("cargo:rerun-if-env-changed=DEP_NODE_V8_VERSION");
    let v8 = std::env::var("DEP_NODE_V8_VERSION").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=STOCKADE_V8_VERSION={v8}");
    if let Ok(args) = std::env::var("DEP_NODE_LINK_ARGS") {
        for arg in args.split('\x1f').filter(|a| !a.is_empty()) {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
