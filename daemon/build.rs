//! Records where the V8 runtime root and the worker's shared object are, for starting worker
//! processes, and which V8 that is for `stockade --version`. This package's binaries do not link
//! V8: they are ordinary programs on the system's libc.
use std::path::PathBuf;

fn main() {
    let root = stockade_v8_root::locate();
    println!("cargo:rustc-env=STOCKADE_V8_VERSION={}", root.version);
    println!(
        "cargo:rustc-env=STOCKADE_V8_LIBDIR={}",
        root.libdir.display()
    );
    println!(
        "cargo:rustc-env=STOCKADE_V8_LOADER={}",
        root.loader.display()
    );
    // Cargo puts a dependency's cdylib in the profile's deps folder; OUT_DIR is
    // <profile>/build/<package>-<hash>/out.
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let profile = out
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is <profile>/build/<package>/out");
    println!(
        "cargo:rustc-env=STOCKADE_WORKER_SO={}",
        profile.join("deps/libstockade_worker.so").display()
    );
}
