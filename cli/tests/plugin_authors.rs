//! For plugin authors: `ledger-sync plugin new` scaffolds a crate that
//! builds, passes its own test and passes `ledger-sync plugin check`, which
//! runs a component on two simulated nodes; installed beside ledger-sync in
//! two real node processes, its flow runs from the admin API and its
//! messages reach its counterpart.

mod common;

use common::*;
use ledger_sync_node::client::Client;
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
        said.contains("first-plugin 0.1.0 (contract ledger-sync:plugin@0.5.0)")
            && said.contains("offers FirstPluginPingFlow, FirstPluginCountFlow")
            && said.trim_end().ends_with("passed"),
        "{said}"
    );
    installed_in_two_nodes(&component, &dir.path().join("net"));
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

/// The guide's last steps: the component in two nodes' `plugins/`, listed
/// in their node.conf, its ping answered across the network.
fn installed_in_two_nodes(component: &Path, net: &Path) {
    let (dirs, _) = network(net, 200, 5);
    for node in &dirs[..2] {
        std::fs::copy(component, node.join("plugins/first_plugin.wasm")).unwrap();
        edit_conf(node, |file| {
            file.plugins = vec![ledger_sync_node::config::PluginEntry {
                path: "plugins/first_plugin.wasm".into(),
                grants: Vec::new(),
                max_memory_mib: None,
                call_timeout_millis: None,
            }]
        });
    }
    let _a_node = NodeProcess::start(&dirs[0]);
    let _b_node = NodeProcess::start(&dirs[1]);
    let a = Client::for_node(&dirs[0]).unwrap();
    wait_up(&a);
    wait_up(&Client::for_node(&dirs[1]).unwrap());
    let ping = a
        .call(&format!("flow start FirstPluginPing party: \"{B}\""))
        .unwrap();
    assert_eq!(ping.text, "Flow completed with result: kotlin.Unit");
    poll(std::time::Duration::from_secs(30), "the pong", || {
        let count = a.call("flow start FirstPluginCountFlow").ok()?;
        (count.text == "Flow completed with result: 1").then_some(())
    });
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
