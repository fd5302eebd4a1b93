//! Build-time only (a build-dependency of `stockade-isolate` and `stockade`): finds V8 13.6
//! (Debian unstable's `libnode137` + `libnode-dev`) in a *runtime root*, filling that root when
//! absent.
//!
//! Why a runtime root: libnode137 needs glibc 2.43 and GCC 16's libstdc++, newer than bookworm's.
//! Every process that maps it must start on the root's own loader with the root's libc (see
//! `../shared/debian-sid-v8-13.6/README.md`). The packages are unpacked with `dpkg-deb -x` into
//! one folder and never installed into the system.
//!
//! Where the root comes from, in order:
//! 1. `STOCKADE_V8_ROOT=/dir`: an already unpacked root (used as is; nothing is written).
//! 2. A cache folder (`STOCKADE_V8_CACHE`, else `$XDG_CACHE_HOME/stockade/v8-13.6`, else
//!    `$HOME/.cache/stockade/v8-13.6`), filled on first build (under a lock, so two build scripts
//!    never fill it at once) from the `.deb` files of `STOCKADE_V8_DEBS`, or of the steering
//!    repository's `shared/debian-sid-v8-13.6/` beside the checkout (CI, offline builds), after
//!    checking every file against its `SHA256SUMS`; or else from Debian's unstable suite, through
//!    an apt configuration of the build's own (the mirror the system's apt already uses for
//!    Debian, suite `sid`, the system's keyring): `apt-get update` + `apt-get download` of
//!    libnode137's run-time closure. apt checks signatures and hashes. Any libnode137 version
//!    fits (Node 24 stays on V8 13.6); the headers must say 13.6.
//!
//! Guarantees: a returned [`Root`] has the headers, `libnode.so.137` and the loader, and its
//! headers say V8 13.6; anything else is a panic with a message saying what to do (this runs in
//! build scripts). Trusts: `SHA256SUMS` beside the `.deb` files, and apt.

use std::env;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The V8 major.minor the bridge is written against.
pub const SUPPORTED_V8: (u32, u32) = (13, 6);
/// What the bridge links and everything needed to run it on a bookworm host.
const ROOT_PACKAGES: [&str; 5] = [
    "libnode137",
    "libnode-dev",
    "libc6",
    "libstdc++6",
    "libgcc-s1",
];
const MULTIARCH: &str = "usr/lib/x86_64-linux-gnu";
const LOADER: &str = "ld-linux-x86-64.so.2";
/// Written last into a filled root: a root without it is refilled.
const STAMP: &str = ".stockade-root-complete";

/// A runtime root with V8 13.6 in it.
#[derive(Debug, Clone)]
pub struct Root {
    pub root: PathBuf,
    /// `usr/include/node`
    pub include: PathBuf,
    /// `usr/lib/x86_64-linux-gnu`: libnode, libc, libstdc++ and the loader.
    pub libdir: PathBuf,
    /// The root's `ld-linux-x86-64.so.2`.
    pub loader: PathBuf,
    /// e.g. `13.6.233.17`
    pub version: String,
}

impl Root {
    /// What a binary that maps libnode.so.137 needs from the linker (see the shared README).
    /// `executable`: also start on the root's loader (PT_INTERP), which shared objects ignore.
    pub fn link_args(&self, executable: bool) -> Vec<String> {
        let libdir = self.libdir.display();
        let mut args = vec![
            // bookworm's ld would check libnode's new symbol versions against bookworm's libc.
            "-Wl,--allow-shlib-undefined".to_string(),
            // Else ld picks bookworm's copies of libnode's dependencies.
            format!("-Wl,-rpath-link,{libdir}"),
            // DT_RPATH, not RUNPATH: RUNPATH is not searched for indirect dependencies
            // (libicuuc -> libicudata), which would then come from the system.
            format!("-Wl,--disable-new-dtags,-rpath,{libdir}"),
        ];
        if executable {
            args.push(format!("-Wl,--dynamic-linker={}", self.loader.display()));
        }
        args
    }
}

/// The runtime root, filled first if needed. Prints cargo's rerun-if lines for what it reads.
pub fn locate() -> Root {
    for var in ["STOCKADE_V8_ROOT", "STOCKADE_V8_CACHE", "STOCKADE_V8_DEBS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let root = match env::var_os("STOCKADE_V8_ROOT") {
        Some(root) => PathBuf::from(root),
        None => cached_root(),
    };
    let include = root.join("usr/include/node");
    let libdir = root.join(MULTIARCH);
    let loader = libdir.join(LOADER);
    for needed in [
        include.join("v8-version.h"),
        libdir.join("libnode.so.137"),
        loader.clone(),
    ] {
        if !needed.exists() {
            fail(&format!(
                "the V8 runtime root {} lacks {}; unset STOCKADE_V8_ROOT (or delete the cache \
                 folder) to let the build fill it",
                root.display(),
                needed.display()
            ));
        }
    }
    let v = read_v8_version(&include);
    if (v.0, v.1) != SUPPORTED_V8 {
        fail(&format!(
            "V8 headers in {} are version {}.{}.{}.{}, but the bridge supports V8 {}.{} \
             (Debian's libnode-dev for libnode137)",
            include.display(),
            v.0,
            v.1,
            v.2,
            v.3,
            SUPPORTED_V8.0,
            SUPPORTED_V8.1
        ));
    }
    Root {
        root,
        include,
        libdir,
        loader,
        version: format!("{}.{}.{}.{}", v.0, v.1, v.2, v.3),
    }
}

fn cache_dir() -> PathBuf {
    if let Some(dir) = env::var_os("STOCKADE_V8_CACHE") {
        return PathBuf::from(dir);
    }
    let base = env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("stockade/v8-13.6")
}

/// The `.deb` folder that travels with the project (`shared/` beside the checkout), if any.
fn shared_debs() -> Option<PathBuf> {
    if let Some(dir) = env::var_os("STOCKADE_V8_DEBS") {
        return Some(PathBuf::from(dir));
    }
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR")?);
    let workspace = manifest.parent()?;
    let candidate = workspace.parent()?.join("shared/debian-sid-v8-13.6");
    println!("cargo:rerun-if-changed={}", candidate.display());
    candidate.join("SHA256SUMS").exists().then_some(candidate)
}

fn cached_root() -> PathBuf {
    let root = cache_dir();
    if root.join(STAMP).exists() {
        return root;
    }
    // Two build scripts (the engine's and the daemon's) may get here at once: one fills, the
    // other waits and then finds the stamp.
    let parent = root
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if let Err(e) = fs::create_dir_all(&parent) {
        fail(&format!("cannot create {}: {e}", parent.display()));
    }
    let lock_path = parent.join(".v8-root.lock");
    let lock = fs::File::create(&lock_path)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", lock_path.display())));
    if let Err(e) = lock.lock() {
        fail(&format!("cannot lock {}: {e}", lock_path.display()));
    }
    if root.join(STAMP).exists() {
        return root;
    }
    let debs = root.join("debs");
    let _ = fs::remove_dir_all(&root);
    if let Err(e) = fs::create_dir_all(&debs) {
        fail(&format!(
            "cannot create the V8 cache folder {}: {e}",
            debs.display()
        ));
    }
    let from = match shared_debs() {
        Some(dir) => {
            copy_checked(&dir, &debs);
            format!("checked .deb files from {}", dir.display())
        }
        None => {
            download_from_unstable(&root, &debs);
            "Debian's unstable suite".to_string()
        }
    };
    unpack(&debs, &root);
    if let Err(e) = fs::write(root.join(STAMP), format!("{from}\n")) {
        fail(&format!("cannot write {}: {e}", root.join(STAMP).display()));
    }
    println!(
        "cargo:warning=V8 runtime root filled in {} from {from}",
        root.display()
    );
    root
}

/// Copies every file `SHA256SUMS` names from `dir` to `debs`, refusing any whose digest differs.
fn copy_checked(dir: &Path, debs: &Path) {
    let sums_path = dir.join("SHA256SUMS");
    let sums = fs::read_to_string(&sums_path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", sums_path.display())));
    let mut count = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let Some((digest, name)) = line.split_once(char::is_whitespace) else {
            fail(&format!("{}: malformed line {line:?}", sums_path.display()));
        };
        let name = name.trim().trim_start_matches('*');
        if name.contains('/') {
            fail(&format!("{}: refusing path {name:?}", sums_path.display()));
        }
        let path = dir.join(name);
        let mut file = fs::File::open(&path)
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file
                .read(&mut buf)
                .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", path.display())));
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let actual: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !actual.eq_ignore_ascii_case(digest.trim()) {
            fail(&format!(
                "{} has SHA-256 {actual}, but SHA256SUMS says {digest}: refusing it",
                path.display()
            ));
        }
        fs::copy(&path, debs.join(name))
            .unwrap_or_else(|e| fail(&format!("cannot copy {}: {e}", path.display())));
        count += 1;
    }
    if count == 0 {
        fail(&format!("{} lists no files", sums_path.display()));
    }
}

/// The URIs and keyring of the system's own Debian source (deb822 or one-line format), so the
/// build's private configuration uses the mirror this machine is set up for.
fn system_debian_source() -> (Vec<String>, Option<String>) {
    let mut uris = Vec::new();
    let mut keyring = None;
    let parts = fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    for path in parts
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sources"))
    {
        let text = fs::read_to_string(&path).unwrap_or_default();
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza.lines().find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|r| r.strip_prefix(':'))
                        .map(|v| v.trim().to_string())
                })
            };
            let (Some(u), Some(suites)) = (field("URIs"), field("Suites")) else {
                continue;
            };
            let signed = field("Signed-By");
            let is_debian = signed
                .as_deref()
                .is_some_and(|s| s.contains("debian-archive"));
            let main_suite = suites
                .split_whitespace()
                .any(|s| !s.contains('-') && !s.contains("security"));
            if is_debian && main_suite {
                uris.extend(u.split_whitespace().map(String::from));
                keyring = signed;
            }
        }
    }
    if uris.is_empty() {
        let text = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
        for line in text.lines().map(str::trim) {
            let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
            if words.next() != Some("deb") {
                continue;
            }
            if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                if uri.ends_with("/debian") && !suite.contains('-') {
                    uris.push(uri.to_string());
                }
            }
        }
    }
    (uris, keyring)
}

fn download_from_unstable(root: &Path, debs: &Path) {
    let (uris, keyring) = system_debian_source();
    if uris.is_empty() {
        fail(
            "cannot fetch V8 13.6: no .deb folder (set STOCKADE_V8_DEBS, or put the steering \
             repository's shared/debian-sid-v8-13.6 beside the checkout) and no Debian source in \
             the system's apt configuration to take the mirror from",
        );
    }
    let apt = root.join("apt");
    let lists = apt.join("lists");
    let cache = apt.join("cache");
    for dir in [&lists.join("partial"), &cache.join("archives/partial")] {
        if let Err(e) = fs::create_dir_all(dir) {
            fail(&format!("cannot create {}: {e}", dir.display()));
        }
    }
    let mut sources = format!(
        "Types: deb\nURIs: {}\nSuites: sid\nComponents: main\n",
        uris.join(" ")
    );
    if let Some(k) = keyring {
        sources.push_str(&format!("Signed-By: {k}\n"));
    }
    let source_file = apt.join("sid.sources");
    if let Err(e) = fs::write(&source_file, sources) {
        fail(&format!("cannot write {}: {e}", source_file.display()));
    }
    let options = [
        format!("-oDir::Etc::SourceList={}", apt.join("none.list").display()),
        format!("-oDir::Etc::SourceParts={}", apt.display()),
        format!("-oDir::State::Lists={}", lists.display()),
        format!("-oDir::Cache={}", cache.display()),
        "-oDir::State::Status=/dev/null".into(),
        "-oAPT::Architecture=amd64".into(),
        "-oAPT::Architectures=amd64".into(),
    ];
    let run = |args: &[&str]| -> Option<String> {
        let output = Command::new(args[0])
            .args(&options)
            .args(&args[1..])
            .current_dir(debs)
            .output()
            .ok()?;
        if !output.status.success() {
            println!(
                "cargo:warning={} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return None;
        }
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    if run(&["apt-get", "-qq", "update"]).is_none() {
        fail("apt-get update for Debian's unstable suite failed (see the warning above)");
    }
    // libnode137's run-time closure, without the packages a shared library never needs.
    let closure = run(&[
        "apt-cache",
        "depends",
        "--recurse",
        "--no-recommends",
        "--no-suggests",
        "--no-conflicts",
        "--no-breaks",
        "--no-replaces",
        "--no-enhances",
        "--no-pre-depends",
        "libnode137",
    ])
    .unwrap_or_else(|| fail("apt-cache depends libnode137 failed (see the warning above)"));
    let mut packages: Vec<String> = ROOT_PACKAGES.iter().map(|s| s.to_string()).collect();
    for line in closure.lines() {
        let name = line.trim();
        let name = name.strip_prefix("Depends:").map(str::trim).unwrap_or(name);
        if name.is_empty() || name.starts_with('<') || name.contains(' ') || name.contains(':') {
            continue;
        }
        // Tools, configuration and Node's own JavaScript, not libraries libnode needs to load.
        let not_a_library = [
            "debconf",
            "perl-base",
            "dpkg",
            "tzdata",
            "base-files",
            "nodejs",
        ]
        .contains(&name)
            || name.starts_with("node-");
        if not_a_library {
            continue;
        }
        if !packages.iter().any(|p| p == name) {
            packages.push(name.to_string());
        }
    }
    let mut args = vec!["apt-get", "-qq", "download"];
    args.extend(packages.iter().map(String::as_str));
    if run(&args).is_none() {
        fail("apt-get download from Debian's unstable suite failed (see the warning above)");
    }
}

fn unpack(debs: &Path, root: &Path) {
    let entries = fs::read_dir(debs).unwrap_or_else(|e| fail(&format!("{}: {e}", debs.display())));
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
    panic!("V8 runtime root: {message}");
}
