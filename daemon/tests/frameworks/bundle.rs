//! Real frameworks from npm, bundled with esbuild at test time, for `e2e_frameworks.rs` and
//! `e2e_partyserver.rs`.
//!
//! `daemon/tests/frameworks/package.json` and `package-lock.json` pin the packages; `npm ci`
//! installs them once per lockfile into `CARGO_TARGET_TMPDIR/frameworks-<hash>` (node_modules is
//! never in the repository), and esbuild bundles each app there (`--format=esm
//! --platform=neutral`, as for Workers; an app that imports `cloudflare:workers` or packages with
//! export conditions is bundled as Wrangler does, [`WRANGLER`]) on every run. Without Node.js
//! and npm the tests fail with a message saying so: they never skip. [`installed`] does the
//! same for any sibling folder of fixtures (`e2e_npm_streams.rs`: `daemon/tests/npm-streams/`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The apps of `daemon/tests/frameworks/` (entry file names).
pub const APPS: &[&str] = &["hono-app.js", "hono-jwt.js", "itty-app.js", "party-app.js"];

/// The apps bundled with Wrangler's resolution (its export conditions and main fields, so that
/// `nanoid` takes its `browser` build on `crypto.getRandomValues`), `cloudflare:*` left to the
/// runtime.
const WRANGLER: &[&str] = &["party-app.js"];

/// `daemon/tests/<folder>`.
pub fn fixtures_of(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(folder)
}

fn fixtures() -> PathBuf {
    fixtures_of("frameworks")
}

/// Runs `cmd` to success; its output in the error otherwise.
pub fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| {
        format!(
            "{what}: cannot start {:?} ({e}); the framework tests need Node.js and npm on PATH \
             (.ci/run installs them)",
            cmd.get_program()
        )
    })?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// `npm ci` of `daemon/tests/<folder>` into a folder named by the hash of the manifest and
/// lockfile (reused while they stay the same; a fresh install goes to a temporary folder first,
/// renamed when complete).
pub fn installed(folder: &str) -> Result<PathBuf, String> {
    let dir = fixtures_of(folder);
    let mut hash = Sha256::new();
    for file in ["package.json", "package-lock.json"] {
        let bytes = std::fs::read(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
        hash.update(&bytes);
    }
    let hex: String = hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{folder}-{hex}"));
    if root.join("node_modules/.bin/esbuild").exists() {
        return Ok(root);
    }
    // Its own staging folder per call, also between threads of one test binary.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = root.with_extension(format!("tmp{}-{call}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(dir.join(file), staging.join(file)).map_err(|e| format!("{file}: {e}"))?;
    }
    run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&staging),
        "npm ci",
    )?;
    if std::fs::rename(&staging, &root).is_err() {
        // Another run installed it meanwhile.
        let _ = std::fs::remove_dir_all(&staging);
    }
    Ok(root)
}

/// Bundles every app; (entry name, bundled ES module source).
fn build() -> Result<Vec<(String, String)>, String> {
    let root = installed("frameworks")?;
    let esbuild = root.join("node_modules/.bin/esbuild");
    let mut out = Vec::new();
    for app in APPS {
        std::fs::copy(fixtures().join(app), root.join(app)).map_err(|e| format!("{app}: {e}"))?;
        let bundle = root.join(format!("{app}.bundle.mjs"));
        run(
            Command::new(&esbuild)
                .arg(app)
                .args([
                    "--bundle",
                    "--format=esm",
                    "--platform=neutral",
                    "--log-level=warning",
                ])
                .args(if WRANGLER.contains(app) {
                    &[
                        "--conditions=workerd,worker,browser",
                        "--main-fields=browser,module,main",
                        "--external:cloudflare:*",
                    ][..]
                } else {
                    &[][..]
                })
                .arg(format!("--outfile={}", bundle.display()))
                .current_dir(&root),
            &format!("esbuild {app}"),
        )?;
        let code = std::fs::read_to_string(&bundle).map_err(|e| format!("{app}: {e}"))?;
        out.push((app.to_string(), code));
    }
    Ok(out)
}

/// The bundle of `app` (one of [`APPS`]); panics with the reason when Node.js, npm or the build
/// is missing.
pub fn bundle(app: &str) -> String {
    static BUILT: OnceLock<Result<Vec<(String, String)>, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(all) => all
            .iter()
            .find(|(name, _)| name == app)
            .map(|(_, code)| code.clone())
            .unwrap_or_else(|| panic!("no app {app}")),
        Err(why) => panic!("cannot bundle the framework apps: {why}"),
    }
}

/// `apps` of `daemon/tests/<folder>` installed (`npm ci`) and bundled by `daemon/tests/npm/build.mjs`
/// (`node build.mjs <app>...`, as Wrangler bundles for `nodejs_compat`): each bundle's source, in
/// the order given, or why not.
#[allow(dead_code)] // the npm fixtures' tests use it, the framework apps are bundled by `build`
pub fn built_by_folder(folder: &str, apps: &[&str]) -> Result<Vec<String>, String> {
    let root = installed(folder)?;
    for file in apps {
        std::fs::copy(fixtures_of(folder).join(file), root.join(file))
            .map_err(|e| format!("{file}: {e}"))?;
    }
    std::fs::copy(fixtures_of("npm").join("build.mjs"), root.join("build.mjs"))
        .map_err(|e| format!("build.mjs: {e}"))?;
    run(
        Command::new("node")
            .arg("build.mjs")
            .args(apps)
            .env_remove("NODE_EXTRA_CA_CERTS")
            .current_dir(&root),
        "node build.mjs",
    )?;
    apps.iter()
        .map(|app| {
            std::fs::read_to_string(root.join(format!("{app}.bundle.mjs")))
                .map_err(|e| format!("{app}: bundle: {e}"))
        })
        .collect()
}
