//! Embeds the folder holding libnode.so.108 (found or fetched by stockade-isolate's build
//! script) as an rpath, so this crate's binaries run with no LD_LIBRARY_PATH, and records which
//! V8 that is for `stockade --version`.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_NODE_LIBDIR");
    println!("cargo:rerun-if-env-changed=DEP_NODE_V8_VERSION");
    let v8 = std::env::var("DEP_NODE_V8_VERSION").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=STOCKADE_V8_VERSION={v8}");
    if let Ok(dir) = std::env::var("DEP_NODE_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags,-rpath,{dir}");
    }
}
