//! Finds V8 10.2 (Debian's `libnode108` + `libnode-dev`), fetching it when absent, and compiles
//! the one C++ bridge file against it.
//!
//! Order of preference:
//! 1. `STOCKADE_V8_PREFIX=/prefix`: headers in `/prefix/include/node`, library in
//!    `/prefix/lib/x86_64-linux-gnu` (or `/prefix/lib`). Use `/usr` where libnode-dev is installed
//!    system-wide.
//! 2. A cache folder (`STOCKADE_V8_CACHE`, else `$XDG_CACHE_HOME/stockade/libnode108`, else
//!    `$HOME/.cache/stockade/libnode108`), filled on first build with `apt-get download` (apt checks
//!    the packages' hashes) and `dpkg-deb -x`; no version is pinned, so a Debian security update
//!    is picked up rather than breaking the build.
//!
//! The headers in `/usr/include/node` that the `nodejs` package installs are Node 20's V8 11.3 and
//! do not match `libnode.so.108`; they are never used unless the operator points the prefix at
//! them, and then the version check below refuses them.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The V8 major.minor the bridge is written against.
const SUPPORTED_V8: (u32, u32) = (10, 2);
const PACKAGES: [&str; 4] = ["libnode108", "libnode-dev", "libuv1", "libc-ares2"];

fn main() {
    for file in [
        "bridge.cc",
        "bridge.h",
        "isolate.h",
        "memory.cc",
        "memory.h",
        "attack.cc",
    ] {
        println!("cargo:rerun-if-changed=src/bridge/{file}");
    }
    println!("cargo:rerun-if-env-changed=STOCKADE_V8_PREFIX");
    println!("cargo:rerun-if-env-changed=STOCKADE_V8_CACHE");

    let (include, libdir) = match env::var_os("STOCKADE_V8_PREFIX") {
        Some(prefix) => from_prefix(Path::new(&prefix)),
        None => from_cache(),
    };
    let version = read_v8_version(&include);
    if (version.0, version.1) != SUPPORTED_V8 {
        fail(&format!(
            "V8 headers in {} are version {}.{}.{}.{}, but the bridge supports V8 {}.{} \
             (Debian's libnode-dev for libnode108). Point STOCKADE_V8_PREFIX at a libnode-dev \
             of that version, or unset it to let the build fetch one.",
            include.display(),
            version.0,
            version.1,
            version.2,
            version.3,
            SUPPORTED_V8.0,
            SUPPORTED_V8.1
        ));
    }
    let version_string = format!("{}.{}.{}.{}", version.0, version.1, version.2, version.3);
    println!("cargo:rustc-env=STOCKADE_V8_VERSION={version_string}");
    println!("cargo:rustc-env=STOCKADE_V8_LIBDIR={}", libdir.display());
    println!(
        "cargo:warning=linking V8 {version_string} from {}",
        libdir.display()
    );

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
        .file("src/bridge/memory.cc");
    if attack {
        build
            .file("src/bridge/attack.cc")
            .define("STOCKADE_MPK_ATTACK", None)
            .define("STOCKADE_DEBUG_ASSERTIONS", None);
    }
    build
        .include(&include)
        .flag("-std=c++17")
        .flag("-fno-rtti")
        .flag("-Wno-unused-parameter")
        // Must match libnode108's build: no pointer compression, no V8 sandbox.
        .define("V8_DEPRECATION_WARNINGS", None)
        .warnings(true)
        .compile("stockade_bridge");

    println!("cargo:rustc-link-search=native={}", libdir.display());
    println!("cargo:rustc-link-lib=dylib=node");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    // The rpath lets this crate's tests find libnode.so.108 in the cache with no
    // LD_LIBRARY_PATH. DT_RPATH (not RUNPATH) so that libnode's own dependencies (libuv,
    // libcares) are found there too. Dependent crates' binaries get the folder as
    // DEP_NODE_LIBDIR and emit the same argument from their build scripts.
    println!(
        "cargo:rustc-link-arg=-Wl,--disable-new-dtags,-rpath,{}",
        libdir.display()
    );
    println!("cargo:libdir={}", libdir.display());
    println!("cargo:v8_version={version_string}");
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

fn from_prefix(prefix: &Path) -> (PathBuf, PathBuf) {
    let include = prefix.join("include/node");
    let libdir = [prefix.join("lib/x86_64-linux-gnu"), prefix.join("lib")]
        .into_iter()
        .find(|d| d.join("libnode.so.108").exists())
        .unwrap_or_else(|| {
            fail(&format!(
                "STOCKADE_V8_PREFIX={} has no lib/x86_64-linux-gnu/libnode.so.108 or \
                 lib/libnode.so.108. Install Debian's libnode108 and libnode-dev there, or unset \
                 STOCKADE_V8_PREFIX to let the build fetch them into a cache folder.",
                prefix.display()
            ))
        });
    if !include.join("v8-version.h").exists() {
        fail(&format!(
            "STOCKADE_V8_PREFIX={} has no include/node/v8-version.h: install libnode-dev.",
            prefix.display()
        ));
    }
    (include, libdir)
}

fn cache_dir() -> PathBuf {
    if let Some(dir) = env::var_os("STOCKADE_V8_CACHE") {
        return PathBuf::from(dir);
    }
    let base = env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("stockade/libnode108")
}

fn from_cache() -> (PathBuf, PathBuf) {
    let root = cache_dir();
    let include = root.join("usr/include/node");
    let libdir = root.join("usr/lib/x86_64-linux-gnu");
    let complete = include.join("v8-version.h").exists()
        && libdir.join("libnode.so.108").exists()
        && libdir.join("libuv.so.1").exists()
        && libdir.join("libcares.so.2").exists();
    if !complete {
        fetch_into(&root);
    }
    (include, libdir)
}

/// `apt-get download` the packages into `root/debs`, then unpack each with `dpkg-deb -x`.
fn fetch_into(root: &Path) {
    let debs = root.join("debs");
    if let Err(e) = fs::create_dir_all(&debs) {
        fail(&format!(
            "cannot create the V8 cache folder {}: {e}",
            debs.display()
        ));
    }
    let download = || {
        Command::new("apt-get")
            .arg("download")
            .args(PACKAGES)
            .current_dir(&debs)
            .status()
    };
    let mut ok = matches!(download(), Ok(s) if s.success());
    if !ok {
        // A fresh machine may have no package lists yet; refreshing them needs root.
        let refreshed = Command::new("apt-get").arg("update").status();
        ok =
            matches!(refreshed, Ok(s) if s.success()) && matches!(download(), Ok(s) if s.success());
    }
    if !ok {
        fail(&format!(
            "could not fetch V8. Either run `apt-get update && cd {} && apt-get download {}` \
             (Debian bookworm's libnode108 is V8 10.2), or install libnode-dev system-wide and \
             set STOCKADE_V8_PREFIX=/usr.",
            debs.display(),
            PACKAGES.join(" ")
        ));
    }
    let entries = fs::read_dir(&debs).unwrap_or_else(|e| fail(&format!("{}: {e}", debs.display())));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "deb") {
            let status = Command::new("dpkg-deb")
                .arg("-x")
                .arg(&path)
                .arg(root)
                .status();
            if !matches!(status, Ok(s) if s.success()) {
                fail(&format!(
                    "dpkg-deb -x {} failed; is dpkg installed?",
                    path.display()
                ));
            }
        }
    }
}

fn read_v8_version(include: &Path) -> (u32, u32, u32, u32) {
    let header = include.join("v8-version.h");
    let text = fs::read_to_string(&header)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", header.display())));
    let field = |name: &str| -> u32 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| fail(&format!("{} lacks {name}", header.display())))
    };
    (
        field("V8_MAJOR_VERSION"),
        field("V8_MINOR_VERSION"),
        field("V8_BUILD_NUMBER"),
        field("V8_PATCH_LEVEL"),
    )
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    panic!("stockade-isolate build: {message}");
}
