//! The host's window of contract versions: plugins built for 0.3.0 and
//! 0.4.0 (kept as test artifacts, `tests/artifacts/`) run beside today's
//! 0.5.0 one, each through its own version's bindings.

use ledger_sync_host::PluginRuntime;
use ledger_sync_tests::*;
use ledger_sync_vocabulary::FlowError;
use std::path::Path;

/// The reconciliation plugin as it was built for contract `version`.
fn plugin_at(version: &str) -> std::sync::Arc<PluginRuntime> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("artifacts/ledger-sync-plugin-{version}.wasm"));
    PluginRuntime::from_file(&path).unwrap_or_else(|e| panic!("a {version} plugin loads: {e:#}"))
}

fn old_plugin() -> std::sync::Arc<PluginRuntime> {
    plugin_at("0.3.0")
}

#[test]
fn each_plugin_is_known_by_its_contract_version_and_its_own_name() {
    let old = old_plugin();
    assert_eq!(old.contract_version(), "0.3.0");
    assert_eq!(old.info().name, "ledger-sync");
    assert_eq!(
        old.info().version,
        "0.3.0",
        "0.3.0 had no describe: the host answers"
    );
    assert_eq!(old.config_file_name(), "ledger-sync-0.3.0.conf");
    let new = ledger_sync_sim::builtin_plugin().unwrap();
    assert_eq!(new.contract_version(), "0.5.0");
    assert_eq!(new.info().name, "ledger-sync");
    assert_eq!(
        new.info().version,
        env!("CARGO_PKG_VERSION"),
        "from describe"
    );
    assert_eq!(new.config_file_name(), ledger_sync_node_config_file());
    assert!(
        old.imports()
            .iter()
            .any(|i| i == "ledger-sync:plugin/vault@0.3.0")
            && new
                .imports()
                .iter()
                .any(|i| i == "ledger-sync:plugin/vault@0.5.0"),
        "each imports its own version: {:?} / {:?}",
        old.imports(),
        new.imports()
    );
}

/// The file the node writes for the built-in plugin.
fn ledger_sync_node_config_file() -> String {
    format!("ledger-sync-{}.conf", env!("CARGO_PKG_VERSION"))
}

#[test]
fn a_0_3_0_plugin_and_a_0_5_0_plugin_reconcile_with_each_other() {
    an_old_plugin_and_todays_reconcile_with_each_other("0.3.0");
}

#[test]
fn a_0_4_0_plugin_and_a_0_5_0_plugin_reconcile_with_each_other() {
    an_old_plugin_and_todays_reconcile_with_each_other("0.4.0");
}

/// A runs the plugin built for `version`, B today's: each reconciles with
/// the other and finds exactly what it lost (today's in the old plugin's
/// protocol, 5, after its refusal of 6), and the flows, statuses and
/// metrics of the old one come back through its version's adapter.
fn an_old_plugin_and_todays_reconcile_with_each_other(version: &str) {
    let mut cluster = Cluster::new();
    // Both hold 0..20; A lost 20..25, B lost 25..28.
    let mut a_vault = shared(0, 20, A, B);
    a_vault.extend(shared(25, 3, A, B));
    let mut b_vault = shared(0, 20, A, B);
    b_vault.extend(shared(20, 5, A, B));
    let options = cluster.options(A, &a_vault);
    cluster
        .net
        .add_node_running(plugin_at(version), options)
        .unwrap();
    cluster.add(B, &b_vault).settle();
    assert_eq!(cluster.net.node(A).contract_version(), version);
    assert_eq!(cluster.net.node(B).contract_version(), "0.5.0");

    // Today's asks first, in protocol 6; the old plugin speaks 5, says so,
    // and is asked again in it.
    let b_found = cluster.reconcile(B, A);
    assert_status(&b_found, Status::DifferencesFound);
    assert_eq!(result_ids(&b_found), sorted((25..28).map(id).collect()));
    assert!(
        cluster.net.node(B).logs().iter().any(|r| r
            .message
            .contains("speaks reconciliation protocol 5; asking again in it")),
        "B fell back to protocol 5"
    );
    let a_found = cluster.reconcile(A, B);
    assert_status(&a_found, Status::DifferencesFound);
    assert_eq!(result_ids(&a_found), sorted((20..25).map(id).collect()));
    // And again, each from the other's set as last reconciled.
    assert_status(&cluster.reconcile(B, A), Status::DifferencesFound);
    assert_status(&cluster.reconcile(A, B), Status::DifferencesFound);

    // The old plugin's flows and metrics, through the adapter.
    let node = cluster.net.node(A);
    let rows = node
        .get_reconciliation_statuses(None, None, true)
        .unwrap()
        .unwrap();
    assert_eq!(rows.len(), 1);
    let metrics = node.metrics().unwrap();
    assert_eq!(metrics.number_of_reconciliations_with_differences, 1);
    assert!(metrics.ledger_graph_is_initialized);
    let error = node.schedule_reconciliation(&[A.to_string()]).unwrap();
    assert!(
        matches!(error, Err(FlowError::SelfReconciliation(_))),
        "the old plugin's flow error, in the vocabulary: {error:?}"
    );
}

/// A published contract version's text is frozen: every file of every
/// `wit/since_vX.Y.Z/` is exactly what `wit/PUBLISHED.sha256` records, and
/// every version directory is listed there — but the one version
/// `wit/UNRELEASED` names, which is being written and may still change. A
/// change to a published version — even to a doc comment — belongs in a
/// new version; a new version's files are added to the list (and
/// `wit/UNRELEASED` emptied) when it is published. (0.3.0's handlers, status-store, timers
/// and vault were edited after publication without a version change; this
/// test stops that from happening again.)
#[test]
fn published_contract_versions_are_frozen() {
    use sha2::{Digest, Sha256};
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let listed = std::fs::read_to_string(wit.join("PUBLISHED.sha256")).expect("the list");
    let mut recorded = std::collections::BTreeMap::new();
    for line in listed.lines().filter(|l| !l.trim().is_empty()) {
        let (hash, file) = line.split_once("  ").expect("`<sha256>  <path>` lines");
        recorded.insert(file.to_string(), hash.to_string());
    }
    let unreleased = std::fs::read_to_string(wit.join("UNRELEASED")).unwrap_or_default();
    let unreleased: Vec<&str> = unreleased.split_whitespace().collect();
    assert!(
        unreleased.len() <= 1,
        "one version at a time is unreleased: {unreleased:?}"
    );
    let mut found = std::collections::BTreeMap::new();
    for dir in std::fs::read_dir(&wit).expect("wit/") {
        let dir = dir.expect("an entry").path();
        if !dir.is_dir() {
            continue;
        }
        let version = dir.file_name().unwrap().to_string_lossy().to_string();
        if unreleased.contains(&version.as_str()) {
            assert!(
                !recorded
                    .keys()
                    .any(|f: &String| f.starts_with(&format!("{version}/"))),
                "wit/{version} is listed as published and as unreleased"
            );
            continue;
        }
        for file in std::fs::read_dir(&dir).expect("a version directory") {
            let path = file.expect("an entry").path();
            let text = std::fs::read(&path).expect("a WIT file");
            let name = format!("{version}/{}", path.file_name().unwrap().to_string_lossy());
            found.insert(name, format!("{:x}", Sha256::digest(&text)));
        }
    }
    for (file, hash) in &found {
        match recorded.get(file) {
            Some(h) => assert_eq!(
                h, hash,
                "wit/{file} changed after it was published: put the change in a new version"
            ),
            None => panic!("wit/{file} is not in wit/PUBLISHED.sha256"),
        }
    }
    for file in recorded.keys() {
        assert!(
            found.contains_key(file),
            "wit/{file} was published and is gone"
        );
    }
}
