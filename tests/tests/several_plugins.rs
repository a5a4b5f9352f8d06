//! Plugins beside the reconciliation plugin, on the reference host: what
//! node.conf grants them is all they reach, they offer their own flows,
//! and they are told when a reconciliation ends. (The real node processes
//! running two plugins side by side are in `cli/tests/several_plugins.rs`.)

use ledger_sync_host::capabilities::{Grants, ReconciliationResults};
use ledger_sync_host::{Node, NodeOptions, PluginFailure, PluginRuntime, Storage, SystemClock};
use ledger_sync_vocabulary::{FlowError, ReconciliationStatus, StatusValue};
use std::sync::{Arc, Mutex};

const A: &str = "O=PartyA, L=London, C=GB";
const B: &str = "O=PartyB, L=London, C=GB";

struct OnlyB;

impl ledger_sync_host::Peers for OnlyB {
    fn is_peer(&self, name: &str) -> bool {
        name == B
    }
}

/// The reconciliation plugin's answers, as a test sets them, and the
/// schedules asked of it.
#[derive(Default)]
struct Results {
    rows: Vec<ReconciliationStatus>,
    scheduled: Mutex<Vec<String>>,
}

impl ReconciliationResults for Results {
    fn statuses(&self) -> Result<Vec<ReconciliationStatus>, FlowError> {
        Ok(self.rows.clone())
    }
    fn schedule(&self, parties: &[String]) -> Result<(), FlowError> {
        if parties.iter().any(|p| p == A) {
            return Err(FlowError::SelfReconciliation(A.into()));
        }
        self.scheduled.lock().unwrap().extend_from_slice(parties);
        Ok(())
    }
    fn refresh(&self) -> Result<(), FlowError> {
        Ok(())
    }
    fn shared_with(&self, _: &str, ids: &[u8]) -> Result<Vec<bool>, FlowError> {
        Ok(vec![false; ids.len() / 32])
    }
}

fn start(component: &str, dir: &std::path::Path, grants: Grants) -> Node {
    let runtime = PluginRuntime::from_file(std::path::Path::new(component)).unwrap();
    let mut options = NodeOptions::new(A, Storage::from(dir.join("node.db")));
    options.grants = grants;
    options.capture_logs = true;
    Node::start(runtime, options, Arc::new(SystemClock), Arc::new(OnlyB)).unwrap()
}

fn run(node: &mut Node, flow: &str, arguments: &[(&str, &str)]) -> Result<String, FlowError> {
    let arguments: Vec<(String, String)> = arguments
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    node.run_flow(flow, &arguments).expect("the call returns")
}

fn row(party: &str, status: StatusValue) -> ReconciliationStatus {
    let mut row = ReconciliationStatus::started(party, true, "run-1".into(), 1);
    row.last_reconciliation_status = status;
    row
}

#[test]
fn a_plugin_reaches_only_what_node_conf_grants_it() {
    let dir = tempfile::tempdir().unwrap();
    let component = ledger_sync_components::NEIGHBOUR_GUEST;
    let mut bare = start(component, dir.path(), Grants::default());
    let flows: Vec<String> = bare
        .custom_flows()
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(flows.contains(&"PingFlow".to_string()), "{flows:?}");

    let vault = run(&mut bare, "VaultFlow", &[]).unwrap_err();
    assert!(vault.to_string().contains("not granted `vault`"), "{vault}");
    let statuses = run(&mut bare, "StatusesFlow", &[]).unwrap_err();
    assert!(
        statuses
            .to_string()
            .contains("not granted `reconciliation`"),
        "{statuses}"
    );
    // Not granted, so not told.
    bare.reconciliation_ended(&row(B, StatusValue::DifferencesFound))
        .unwrap();
    assert!(
        run(&mut bare, "CountsFlow", &[])
            .unwrap()
            .contains("ended=0")
    );
    drop(bare);

    let results = Arc::new(Results {
        rows: vec![row(B, StatusValue::DifferencesFound)],
        ..Results::default()
    });
    let grants = Grants {
        vault: true,
        reconciliation: Some(results.clone()),
        record: None,
        recovery: None,
    };
    let other = tempfile::tempdir().unwrap();
    let mut granted = start(component, other.path(), grants);
    assert_eq!(
        run(&mut granted, "VaultFlow", &[]).unwrap(),
        "0 transactions"
    );
    assert_eq!(
        run(&mut granted, "StatusesFlow", &[]).unwrap(),
        "1 statuses"
    );
    assert_eq!(
        run(&mut granted, "ScheduleFlow", &[("parties", B)]).unwrap(),
        "scheduled"
    );
    assert_eq!(*results.scheduled.lock().unwrap(), vec![B.to_string()]);
    // The reconciliation plugin's refusal reaches the plugin as it was.
    let refused = run(&mut granted, "ScheduleFlow", &[("parties", A)]).unwrap_err();
    assert_eq!(refused, FlowError::SelfReconciliation(A.into()));
    granted
        .reconciliation_ended(&row(B, StatusValue::DifferencesFound))
        .unwrap();
    let counts = run(&mut granted, "CountsFlow", &[]).unwrap();
    assert!(
        counts.contains(&format!("ended=1 last={B}:DIFFERENCES_FOUND")),
        "{counts}"
    );
}

/// The host notices a reconciliation end — a requester's row saved out of
/// IN_PROGRESS — whoever saves it: here the hostile guest, whose row is
/// marked FAILED when it restarts after a trap.
#[test]
fn the_host_notices_when_a_reconciliation_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(
        ledger_sync_components::HOSTILE_GUEST,
        dir.path(),
        Grants::reconciliation_plugin(),
    );
    node.schedule_reconciliation(&[B.to_string()])
        .unwrap()
        .unwrap();
    assert!(
        node.take_effects().ended.is_empty(),
        "IN_PROGRESS has not ended"
    );
    let trapped = node.schedule_reconciliation(&["panic".to_string()]);
    assert!(
        matches!(trapped, Err(PluginFailure::Trapped(_))),
        "{trapped:?}"
    );
    let ended = node.take_effects().ended;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].party_name, B);
    assert_eq!(ended[0].last_reconciliation_status, StatusValue::Failed);
    assert!(node.take_effects().ended.is_empty(), "told once");
}
