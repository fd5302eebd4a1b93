//! With the `mpk` feature, the `mpk_isolates` target maps V8 13.6 (stockade-isolate): link it the
//! way every such binary is linked, on the V8 runtime root's loader with an rpath into the root
//! (arguments from stockade-isolate's build script). Nothing happens without the feature.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_NODE_LINK_ARGS");
    if let Ok(args) = std::env::var("DEP_NODE_LINK_ARGS") {
        for arg in args.split('\x1f').filter(|a| !a.is_empty()) {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
