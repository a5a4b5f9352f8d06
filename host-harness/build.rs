//! Builds the plugin into a WASI component, so `cargo build` / `cargo test`
//! of the host always load the current plugin.
//!
//! A nested `cargo build --target wasm32-wasip2 --release` of the plugin
//! crate, into its own target directory (`target/plugin-wasm`) so it never
//! contends with the outer build's lock. The path of the component is exposed
//! to the crate as the `LEDGER_SYNC_PLUGIN_WASM` environment variable at
//! compile time.

use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("host-harness is in the workspace");
    for watched in ["plugin/src", "plugin/Cargo.toml", "wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("plugin-wasm");

    ensure_target_installed();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--locked", "-p", "ledger-sync-plugin"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        // Line tables keep guest backtraces readable; full debug info would
        // triple the component's size.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only");
    // The outer build's settings are for the host, not for the guest.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_ENCODED_RUSTFLAGS")
            || key == "RUSTFLAGS"
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_TARGET_")
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "RUSTC_WRAPPER"
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd.status().expect("failed to run cargo for the plugin");
    assert!(
        status.success(),
        "building the ledger-sync plugin for {TARGET} failed (see the output above)"
    );

    let wasm = target_dir
        .join(TARGET)
        .join("release")
        .join("ledger_sync_plugin.wasm");
    assert!(
        wasm.exists(),
        "the plugin build did not produce {}",
        wasm.display()
    );
    println!("cargo:rustc-env=LEDGER_SYNC_PLUGIN_WASM={}", wasm.display());
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("cargo sets {key}"))
}

/// rustup may not install targets on demand (RUSTUP_AUTO_INSTALL=0), so the
/// build adds wasm32-wasip2 itself, or says exactly how to.
fn ensure_target_installed() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let Ok(out) = installed else {
        // No rustup: the toolchain was installed some other way; let cargo
        // report a missing target if it is missing.
        return;
    };
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == TARGET)
    {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        added,
        "the {TARGET} Rust target is missing and `rustup target add {TARGET}` failed; \
         run it by hand, then build again"
    );
}
