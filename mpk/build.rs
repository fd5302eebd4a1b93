//! Chooses between the real MPK implementation (`enabled.rs`, x86_64 Linux)
//! and the stub (`disabled.rs`) by setting `cfg(stockade_mpk_enabled)`.
//! `STOCKADE_MPK_FORCE_DISABLED=1` at build time selects the stub on x86_64
//! Linux too, so the stub can be compiled and tested here; the resulting
//! binary reports MPK as unavailable, it never claims protection.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(stockade_mpk_enabled)");
    println!("cargo::rerun-if-env-changed=STOCKADE_MPK_FORCE_DISABLED");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let forced_off = std::env::var_os("STOCKADE_MPK_FORCE_DISABLED").is_some_and(|v| v != "0");
    if arch == "x86_64" && os == "linux" && !forced_off {
        println!("cargo::rustc-cfg=stockade_mpk_enabled");
    }
}
