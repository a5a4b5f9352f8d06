//! Builds the workspace's WebAssembly components — the plugin and the test
//! guests — so that `cargo build` / `cargo test` always load components built
//! from the current sources.
//!
//! One nested `cargo build --target wasm32-wasip2 --release` of every
//! component package, into its own target directory (`target/plugin-wasm`)
//! so it never contends with the outer build's lock. Each component's path
//! is exposed to the crate as a `LEDGER_SYNC_COMPONENT_*` environment
//! variable at compile time.
//!
//! A test guest exists to break a promise in a test; the build refuses one
//! that no file under `tests/tests/` names.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// (package, artifact file stem, constant in src/lib.rs, is a test guest)
type Component = (&'static str, &'static str, &'static str, bool);

/// The components, in builds of their own: cargo unifies a dependency's
/// features across the packages of one build, and the SDK's `plugin` and
/// `adapter` features each embed their world in the component.
const BUILDS: &[&[Component]] = &[
    &[
        ("ledger-sync-plugin", "ledger_sync_plugin", "PLUGIN", false),
        (
            "ledger-sync-recovery",
            "ledger_sync_recovery",
            "RECOVERY_PLUGIN",
            false,
        ),
        ("test-hostile", "test_hostile", "HOSTILE_GUEST", true),
        (
            "test-old-contract",
            "test_old_contract",
            "OLD_CONTRACT_GUEST",
            true,
        ),
        ("test-neighbour", "test_neighbour", "NEIGHBOUR_GUEST", true),
    ],
    &[
        (
            "ledger-sync-adapter-merkle",
            "ledger_sync_adapter_merkle",
            "MERKLE_ADAPTER",
            false,
        ),
        (
            "test-hostile-adapter",
            "test_hostile_adapter",
            "HOSTILE_ADAPTER",
            true,
        ),
    ],
];

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("components/ is in the workspace");
    for watched in [
        "plugin/src",
        "plugin/Cargo.toml",
        "recovery/src",
        "recovery/Cargo.toml",
        "sdk/src",
        "sdk/Cargo.toml",
        "vocabulary/src",
        "vocabulary/Cargo.toml",
        "test-programs",
        "adapters",
        "tests/tests",
        "wit",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    refuse_unused_guests(workspace);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("plugin-wasm");

    ensure_target_installed();

    for build in BUILDS {
        build_components(workspace, &target_dir, build);
    }
}

/// One nested cargo build of `components`; each one's path is exported.
fn build_components(workspace: &Path, target_dir: &Path, components: &[Component]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--locked"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir)
        // Line tables keep guest backtraces readable; full debug info would
        // triple the component's size.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only");
    for (package, ..) in components {
        cmd.args(["-p", package]);
    }
    // The outer build's settings are for the host, not for the guests.
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
    let status = cmd
        .status()
        .expect("failed to run cargo for the components");
    assert!(
        status.success(),
        "building the WebAssembly components for {TARGET} failed (see the output above)"
    );

    for (_, stem, constant, _) in components {
        let wasm = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{stem}.wasm"));
        assert!(
            wasm.exists(),
            "the component build did not produce {}",
            wasm.display()
        );
        println!(
            "cargo:rustc-env=LEDGER_SYNC_COMPONENT_{constant}={}",
            wasm.display()
        );
    }
}

/// Every test guest must be named by some integration test.
fn refuse_unused_guests(workspace: &Path) {
    let tests_dir = workspace.join("tests").join("tests");
    let mut sources = String::new();
    if let Ok(entries) = std::fs::read_dir(&tests_dir) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
    }
    for (package, _, constant, is_guest) in BUILDS.iter().copied().flatten() {
        assert!(
            !is_guest || sources.contains(constant),
            "the test guest {package} ({constant}) is used by no test in {}; \
             a test guest exists only to be used by a test — use it or remove it",
            tests_dir.display()
        );
    }
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
