//! With the `mpk` feature, the `mpk_isolates` target links stockade-isolate's libnode.so.108:
//! embed the folder holding it (found or fetched by stockade-isolate's build script) as an
//! rpath, so the fuzzer runs with no LD_LIBRARY_PATH. Nothing happens without the feature.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_NODE_LIBDIR");
    if let Ok(dir) = std::env::var("DEP_NODE_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags,-rpath,{dir}");
    }
}
