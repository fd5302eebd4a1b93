//! Finds V8 13.6 in its runtime root (filling the root when absent; see `stockade-v8-root`) and
//! compiles the C++ bridge (`src/bridge/`) against it.
//!
//! Exports to dependent build scripts (`links = "node"`): `DEP_NODE_ROOT`, `DEP_NODE_LIBDIR`,
//! `DEP_NODE_LOADER`, `DEP_NODE_V8_VERSION`, and `DEP_NODE_LINK_ARGS` (the linker arguments an
//! executable that maps V8 needs, `\x1f`-separated).

use std::env;

fn main() {
    for file in [
        "bridge.cc",
        "bridge.h",
        "internal.h",
        "engine.cc",
        "snapshot.cc",
        "isolate.cc",
        "isolate.h",
        "host_functions.cc",
        "ops.cc",
        "callbacks.cc",
        "modules.cc",
        "invoke.cc",
        "memory.cc",
        "arena.cc",
        "memory.h",
        "attack.cc",
        "lazy.cc",
        "lazy.h",
    ] {
        println!("cargo:rerun-if-changed=src/bridge/{file}");
    }
    let root = stockade_v8_root::locate();
    println!("cargo:rustc-env=STOCKADE_V8_VERSION={}", root.version);
    println!("cargo:rustc-env=STOCKADE_V8_ROOT={}", root.root.display());
    // The test-only attack hooks (feature `mpk-attack`) must never reach a release build.
    let attack = env::var_os("CARGO_FEATURE_MPK_ATTACK").is_some();
    let debug_assertions =
        env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_some() || rustflags_enable_debug_assertions();
    if attack && !debug_assertions {
        fail("the `mpk-attack` feature gives tenant JavaScript arbitrary memory access and is for tests only; it cannot be built without debug assertions");
    }
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("src/bridge/bridge.cc")
        .file("src/bridge/engine.cc")
        .file("src/bridge/snapshot.cc")
        .file("src/bridge/isolate.cc")
        .file("src/bridge/host_functions.cc")
        .file("src/bridge/ops.cc")
        .file("src/bridge/callbacks.cc")
        .file("src/bridge/modules.cc")
        .file("src/bridge/invoke.cc")
        .file("src/bridge/memory.cc")
        .file("src/bridge/arena.cc")
        .file("src/bridge/lazy.cc");
    if attack {
        build
            .file("src/bridge/attack.cc")
            .define("STOCKADE_MPK_ATTACK", None)
            .define("STOCKADE_DEBUG_ASSERTIONS", None);
    }
    build
        .flag("-isystem")
        .flag(root.include.to_string_lossy().as_ref())
        .flag("-std=c++20")
        .flag("-fno-rtti")
        .flag("-Wno-unused-parameter")
        // Must match libnode137's build (include/node/config.gypi): no pointer compression, no
        // V8 sandbox, WebAssembly on. Defining V8_COMPRESS_POINTERS or V8_ENABLE_SANDBOX makes
        // V8::Initialize fail its build-configuration check.
        .define("V8_ENABLE_WEBASSEMBLY", None)
        .define("V8_DEPRECATION_WARNINGS", None)
        .warnings(true)
        .compile("stockade_bridge");

    println!("cargo:rustc-link-search=native={}", root.libdir.display());
    println!("cargo:rustc-link-lib=dylib=node");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    let args = root.link_args(true);
    // This crate's own tests and benches are executables that map V8.
    for arg in &args {
        println!("cargo:rustc-link-arg={arg}");
    }
    println!("cargo:root={}", root.root.display());
    println!("cargo:libdir={}", root.libdir.display());
    println!("cargo:loader={}", root.loader.display());
    println!("cargo:v8_version={}", root.version);
    println!("cargo:link_args={}", args.join("\x1f"));
}

/// Whether RUSTFLAGS turn debug assertions on for the crate being built (cargo fuzz builds a
/// release profile with `-Cdebug-assertions`, which `CARGO_CFG_DEBUG_ASSERTIONS` does not show).
fn rustflags_enable_debug_assertions() -> bool {
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let mut enabled = false;
    let mut after_c = false;
    for flag in flags.split('\x1f') {
        let option = match flag.strip_prefix("-C") {
            Some("") => {
                after_c = true;
                continue;
            }
            Some(rest) => rest,
            None if after_c => flag,
            None => "",
        };
        after_c = false;
        if let Some(value) = option.strip_prefix("debug-assertions") {
            let value = value.trim_start_matches('=');
            enabled = matches!(value, "" | "y" | "yes" | "on" | "true");
        }
    }
    enabled
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    panic!("stockade-isolate build: {message}");
}
