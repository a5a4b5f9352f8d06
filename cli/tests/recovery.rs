//! Recovery across real node processes: A, restored from a backup,
//! reconciles with B, recovers what it found missing with
//! AutomaticRecoveryFlow — each transaction verified by the merkle ledger
//! adapter before it is recorded — and a second reconciliation finds
//! nothing: A holds again everything it held before the disaster that B
//! could supply.

mod common;

use common::*;
use ledger_sync_node::client::Client;
use std::time::Duration;

fn flow(client: &Client, line: &str) -> String {
    let answer = client.call(line).unwrap();
    assert!(answer.ok(), "{line}: {} {}", answer.status, answer.text);
    answer.text
}

/// The run id of A's status row with B, if any.
fn run_id(a: &Client) -> Option<String> {
    let text = a.call(&status_line(B)).ok()?.text;
    let start = text.find("stateMachineRunId=\"")? + "stateMachineRunId=\"".len();
    Some(text[start..].split('"').next()?.to_string())
}

/// Schedules A's reconciliation with B and waits for that one to end.
fn reconcile(a: &Client) -> String {
    let before = run_id(a);
    flow(
        a,
        &format!("flow start ScheduleReconciliationFlow parties: [\"{B}\"]"),
    );
    poll(
        Duration::from_secs(120),
        "the new reconciliation to end",
        || {
            let text = wait_ended(a);
            (run_id(a) != before).then_some(text)
        },
    )
}

fn ids_of(node: &std::path::Path) -> Vec<[u8; 32]> {
    let mut ids = ledger_sync_host::store::connect(&node.join("persistence.db").into())
        .unwrap()
        .all_ids()
        .unwrap();
    ids.sort_unstable();
    ids
}

#[test]
fn a_restored_node_recovers_what_it_lost_and_reconciles_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        ledger_sync_node::bootstrap::bootstrap(&ledger_sync_node::bootstrap::BootstrapOptions {
            dir: dir.path().to_path_buf(),
            names: vec![A.into(), B.into(), NOTARY.into()],
            base_port: free_base_port(),
            max_message_size: 10 << 20,
            demo_ledger: Some((2_000, 40, 7)),
            p2p_hosts: Vec::new(),
        })
        .unwrap();
    let dirs = &out.node_dirs;
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    for node in dirs {
        edit_conf(node, |f| {
            f.plugin_cache = Some(cache.to_str().unwrap().into())
        });
    }
    let kept = ids_of(&dirs[0]);
    let a_node = NodeProcess::start(&dirs[0]);
    let _b_node = NodeProcess::start(&dirs[1]);
    let a = Client::for_node(&dirs[0]).unwrap();
    wait_up(&a);
    wait_up(&Client::for_node(&dirs[1]).unwrap());

    let found = reconcile(&a);
    assert!(
        found.contains("lastReconciliationStatus=DIFFERENCES_FOUND"),
        "{found}"
    );
    for id in hex_ids(&out.expected) {
        assert!(found.contains(&id), "{id} not found");
    }

    let started = flow(
        &a,
        &format!("flow start AutomaticRecoveryFlow party: \"{B}\""),
    );
    assert!(
        started.contains("RecoveryRequest(") && started.contains("status=IN_PROGRESS"),
        "{started}"
    );
    let listed = format!("flow start GetRecoveryRequestsFlow party: \"{B}\"");
    let done = poll(Duration::from_secs(120), "the recovery to end", || {
        let text = flow(&a, &listed);
        (!text.contains("status=IN_PROGRESS")).then_some(text)
    });
    assert!(done.contains("status=COMPLETED"), "{done}");
    assert!(
        done.contains(&format!("recovered={},", out.expected.len())),
        "{done}"
    );

    let again = reconcile(&a);
    assert!(
        again.contains("lastReconciliationStatus=DIFFERENCES_NOT_FOUND"),
        "{again}"
    );
    drop(a_node);
    // A holds what it held before the disaster, less what B could not
    // supply: what it kept and exactly what was found.
    let held = ids_of(&dirs[0]);
    let mut restored: Vec<[u8; 32]> = kept.iter().chain(&out.expected).copied().collect();
    restored.sort_unstable();
    assert_eq!(held, restored);
    assert!(held.iter().all(|id| out.before.binary_search(id).is_ok()));
    assert_eq!(out.before.len() - kept.len(), 40, "the backup lost 40");
}
