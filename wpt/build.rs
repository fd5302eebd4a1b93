//! Links this crate's test executables the way a process that maps V8 13.6 must be linked: on the
//! V8 runtime root's loader, with an rpath into it (arguments from stockade-isolate's build script).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_NODE_LINK_ARGS");
    if let Ok(args) = std::env::var("DEP_NODE_LINK_ARGS") {
        for arg in args.split('\x1f').filter(|a| !a.is_empty()) {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
