//! Embeds the folder holding libnode.so.108 (found or fetched by stockade-isolate's build
//! script) as an rpath, so this crate's binaries run with no LD_LIBRARY_PATH.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_NODE_LIBDIR");
    if let Ok(dir) = std::env::var("DEP_NODE_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,--disable-new-dtags,-rpath,{dir}");
    }
}
