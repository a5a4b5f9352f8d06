//! LedgerRecover, the real component, against a scripted hostile
//! counterparty on the simulated network's virtual clock.

use ledger_sync_host::capabilities::{
    Grants, ReconciliationResults, RecordOutcome, RecoveryStore, VerifiedRecorder,
};
use ledger_sync_host::store::Database;
use ledger_sync_host::store::shared::{DatabaseRecoveryStore, DatabaseStatusStore, DatabaseVault};
use ledger_sync_host::{NodeOptions, PluginRuntime, Storage};
use ledger_sync_recovery::protocol::Message;
use ledger_sync_sim::network::Network;
use ledger_sync_tests::*;
use ledger_sync_vocabulary::recovery::RecoveryStatus;
use ledger_sync_vocabulary::{FlowError, ReconciliationStatus, StatusValue, TxId};
use std::sync::Arc;

const MALLORY: &str = "O=Mallory, L=Nowhere, C=XX";

/// A's last reconciliation with Mallory found `found`.
struct Found(Vec<TxId>);

impl ReconciliationResults for Found {
    fn statuses(&self) -> Result<Vec<ReconciliationStatus>, FlowError> {
        let mut row = ReconciliationStatus::started(MALLORY, true, "s".into(), 0);
        row.last_reconciliation_status = StatusValue::DifferencesFound;
        row.last_successful_reconciliation_status = Some(StatusValue::DifferencesFound);
        row.last_successful_reconciliation_result = self.0.clone();
        Ok(vec![row])
    }
    fn schedule(&self, _: &[String]) -> Result<(), FlowError> {
        Ok(())
    }
    fn refresh(&self) -> Result<(), FlowError> {
        Ok(())
    }
    fn shared_with(&self, _: &str, ids: &[u8]) -> Result<Vec<bool>, FlowError> {
        Ok(vec![false; ids.len() / 32])
    }
}

/// Nothing ever reaches the recorder in these tests.
struct Nothing;

impl VerifiedRecorder for Nothing {
    fn record_verified(&self, txs: &[(Vec<u8>, Vec<u8>)]) -> anyhow::Result<Vec<RecordOutcome>> {
        Ok(txs
            .iter()
            .map(|_| RecordOutcome::Refused("nothing is recorded here".into()))
            .collect())
    }
}

/// Mallory answers every one of A's asks with an empty `Done{}`: nothing
/// sent, deferred or ruled out. A keeps to its own pace window (3 asks an
/// hour here) and after five answers that moved nothing on ends the
/// recovery FAILED with that cause. (A Done{} to every ask made the
/// requester ask again at once — 2,500 asks a second, the whole row saved
/// each time, 6.4 GB written in 20 s — for ever, and again after a
/// restart.)
#[test]
fn a_counterparty_answering_every_ask_with_nothing_is_paced_then_failed() {
    let dir = tempfile::tempdir().unwrap();
    let vault_db = Database::Sqlite(dir.path().join("node.db"));
    ledger_sync_host::store::connect(&vault_db).unwrap();
    let own = Database::Sqlite(dir.path().join("recovery.db"));
    let recovery_store = Arc::new(DatabaseRecoveryStore::open(&own).unwrap());
    let runtime = PluginRuntime::new(ledger_sync_components::RECOVERY_PLUGIN_BYTES).unwrap();
    let mut net = Network::new(runtime);
    let mut options = NodeOptions::new(
        A,
        Storage::Provided {
            vault: Arc::new(DatabaseVault::new(vault_db)),
            statuses: Arc::new(DatabaseStatusStore::open(&own).unwrap()),
        },
    );
    options.config = "maxAllowedRequests = 3\n".into();
    options.grants = Grants {
        vault: true,
        reconciliation: Some(Arc::new(Found((0..40).map(id).collect()))),
        record: Some(Arc::new(Nothing)),
        recovery: Some(recovery_store.clone()),
    };
    net.add_node(options).unwrap();
    net.add_external_party(MALLORY);
    let arguments = [("party".to_string(), MALLORY.to_string())];
    net.node(A)
        .run_flow("AutomaticRecoveryFlow", &arguments)
        .expect("no trap")
        .expect("the flow starts");
    let mut asks = Vec::new();
    let horizon = net.now_ms() + 24 * 3_600_000;
    for _ in 0..100_000 {
        let stepped = net.step_until(horizon);
        for envelope in net.take_mail(MALLORY) {
            let Ok(Message::Ask { request, ask, .. }) = Message::decode(&envelope.payload) else {
                panic!("A sends only asks");
            };
            asks.push(net.now_ms());
            let done = Message::Done {
                request,
                ask,
                sent: 0,
                unavailable: vec![],
                deferred: vec![],
                retry_after_ms: 0,
            };
            net.inject(MALLORY, A, done.encode());
        }
        let ended = recovery_store
            .load_requests(10)
            .unwrap()
            .into_iter()
            .any(|r| r.is_requester && r.status != RecoveryStatus::InProgress);
        if ended || !stepped {
            break;
        }
    }
    let rows = recovery_store.load_requests(10).unwrap();
    let row = rows.iter().find(|r| r.is_requester).expect("A's request");
    assert_eq!(row.status, RecoveryStatus::Failed, "{row}");
    assert!(row.error.contains("5 asks in a row"), "{}", row.error);
    assert_eq!(asks.len(), 5, "asks at {asks:?}");
    assert!(
        asks[3] - asks[0] >= 3_600_000,
        "the fourth ask waits for the window: {asks:?}"
    );
    assert!(net.failures().is_empty(), "no trap");
}
