//! For plugin authors: `ledger-sync plugin new` scaffolds a crate that
//! builds, passes its own test and passes `ledger-sync plugin check`, which
//! runs a component on two simulated nodes.

use std::path::Path;
use std::process::{Command, Output};

fn ledger_sync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger-sync"))
        .args(args)
        .output()
        .expect("ledger-sync runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Cargo in the scaffolded crate, with a target directory of its own (the
/// outer build holds its own) and none of the outer build's settings.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (key, _) in std::env::vars() {
        let outer = key.starts_with("CARGO_") && key != "CARGO_HOME";
        if outer || key == "RUSTFLAGS" || key == "RUSTC_WRAPPER" {
            command.env_remove(&key);
        }
    }
    command
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .expect("cargo runs")
}

#[test]
fn a_scaffolded_plugin_builds_passes_its_test_and_passes_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let at = dir.path().to_str().unwrap();
    let made = ledger_sync(&["plugin", "new", "first-plugin", "--dir", at]);
    assert!(made.status.success(), "{}", text(&made));
    let krate = dir.path().join("first-plugin");
    let tested = cargo(&krate, &["test", "--release"]);
    assert!(tested.status.success(), "{}", text(&tested));
    assert!(
        text(&tested).contains("a_ping_is_answered_and_anything_else_is_not ... ok"),
        "{}",
        text(&tested)
    );
    let built = cargo(&krate, &["build", "--release", "--target", "wasm32-wasip2"]);
    assert!(built.status.success(), "{}", text(&built));
    let component = krate.join("target/wasm32-wasip2/release/first_plugin.wasm");
    let checked = ledger_sync(&["plugin", "check", component.to_str().unwrap()]);
    let said = text(&checked);
    assert!(checked.status.success(), "{said}");
    assert!(
        said.contains("first-plugin 0.1.0 (contract ledger-sync:plugin@0.4.0)")
            && said.contains("1 messages received")
            && said.trim_end().ends_with("passed"),
        "{said}"
    );
    // A configuration it does not accept stops it, named.
    let config = dir.path().join("bad.conf");
    std::fs::write(&config, "colour = blue\n").unwrap();
    let refused = ledger_sync(&[
        "plugin",
        "check",
        component.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("`colour = blue` is not accepted"),
        "{}",
        text(&refused)
    );
}

#[test]
fn a_bad_name_or_an_old_contract_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = ledger_sync(&[
        "plugin",
        "new",
        "My Plugin",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).contains("is not a plugin name"),
        "{}",
        text(&bad)
    );
    let old = ledger_sync(&[
        "plugin",
        "check",
        ledger_sync_components::OLD_CONTRACT_GUEST,
    ]);
    assert_eq!(old.status.code(), Some(2));
    assert!(
        text(&old).contains("ledger-sync:plugin@0.1.0"),
        "{}",
        text(&old)
    );
}
