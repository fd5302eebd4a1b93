//! The official MCP TypeScript SDK from npm, for `e2e_capabilities.rs`: `package.json` and
//! `package-lock.json` (in this folder) pin it; `npm ci` installs it once per lockfile into
//! `CARGO_TARGET_TMPDIR/mcp-<hash>` (node_modules is never in the repository), and the scripts
//! (`upstream.mjs`, an MCP server; `client.mjs`, an MCP client) are copied there on every run.
//! Without Node.js and npm the tests fail with a message saying so: they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

const SCRIPTS: &[&str] = &["upstream.mjs", "client.mjs"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp")
}

fn install() -> Result<PathBuf, String> {
    let dir = fixtures();
    let mut hash = Sha256::new();
    for file in ["package.json", "package-lock.json"] {
        hash.update(std::fs::read(dir.join(file)).map_err(|e| format!("{file}: {e}"))?);
    }
    let hex: String = hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("mcp-{hex}"));
    if !root
        .join("node_modules/@modelcontextprotocol/sdk/package.json")
        .exists()
    {
        let staging = root.with_extension(format!("tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(dir.join(file), staging.join(file))
                .map_err(|e| format!("{file}: {e}"))?;
        }
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&staging)
            .output()
            .map_err(|e| {
                format!("cannot start npm ({e}); the MCP tests need Node.js and npm on PATH")
            })?;
        if !out.status.success() {
            return Err(format!(
                "npm ci failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if std::fs::rename(&staging, &root).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    for script in SCRIPTS {
        // Each process copies to a name of its own, then renames: never a half-written file.
        let tmp = root.join(format!("{script}.{}", std::process::id()));
        std::fs::copy(dir.join(script), &tmp).map_err(|e| format!("{script}: {e}"))?;
        std::fs::rename(&tmp, root.join(script)).map_err(|e| format!("{script}: {e}"))?;
    }
    Ok(root)
}

/// The folder holding `node_modules` and the scripts; panics with the reason when it cannot be
/// made.
pub fn root() -> PathBuf {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match ROOT.get_or_init(install) {
        Ok(root) => root.clone(),
        Err(why) => panic!("cannot install the MCP SDK: {why}"),
    }
}

/// `node <script> <args>` in [`root`].
pub fn node(script: &str, args: &[&str]) -> Command {
    let root = root();
    let mut cmd = Command::new("node");
    cmd.arg(root.join(script)).args(args).current_dir(&root);
    cmd
}
