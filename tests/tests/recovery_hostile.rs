//! LedgerRecover, the real component, against a scripted hostile
//! counterparty on the simulated network's virtual clock.

use ledger_sync_host::adapter::AdapterRuntime;
use ledger_sync_host::capabilities::{
    Grants, ReconciliationResults, RecordOutcome, RecoveryStore, VerifiedRecorder,
};
use ledger_sync_host::store::shared::{DatabaseRecoveryStore, DatabaseStatusStore, DatabaseVault};
use ledger_sync_host::store::{Database, VaultTransaction};
use ledger_sync_host::verified::VerifiedRecording;
use ledger_sync_host::{NodeOptions, PluginRuntime, Storage};
use ledger_sync_recovery::protocol::{Message, RequestId};
use ledger_sync_sim::network::Network;
use ledger_sync_tests::*;
use ledger_sync_vocabulary::recovery::{RecoveryRequest, RecoveryStatus};
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

/// A running the real LedgerRecover on the simulated network, its
/// AutomaticRecoveryFlow with Mallory (an external party the test
/// scripts) started.
struct Recovering {
    net: Network,
    requests: Arc<DatabaseRecoveryStore>,
    vault: Database,
    own: Database,
    _dir: tempfile::TempDir,
}

impl Recovering {
    /// A holding `vault`, whose last reconciliation with Mallory found
    /// `found`, recording through what `recorder` makes of its vault
    /// database, with plugin configuration `config`.
    fn start(
        vault: &[VaultTransaction],
        found: Vec<TxId>,
        config: &str,
        recorder: impl FnOnce(&Database) -> Arc<dyn VerifiedRecorder>,
    ) -> Recovering {
        let dir = tempfile::tempdir().unwrap();
        let vault_db = Database::Sqlite(dir.path().join("node.db"));
        ledger_sync_host::store::connect(&vault_db)
            .unwrap()
            .record(vault)
            .unwrap();
        let own = Database::Sqlite(dir.path().join("recovery.db"));
        let requests = Arc::new(DatabaseRecoveryStore::open(&own).unwrap());
        let runtime = PluginRuntime::new(ledger_sync_components::RECOVERY_PLUGIN_BYTES).unwrap();
        let mut net = Network::new(runtime);
        let mut options = NodeOptions::new(
            A,
            Storage::Provided {
                vault: Arc::new(DatabaseVault::new(vault_db.clone())),
                statuses: Arc::new(DatabaseStatusStore::open(&own).unwrap()),
            },
        );
        options.config = config.into();
        options.grants = Grants {
            vault: true,
            reconciliation: Some(Arc::new(Found(found))),
            record: Some(recorder(&vault_db)),
            recovery: Some(requests.clone()),
        };
        net.add_node(options).unwrap();
        net.add_external_party(MALLORY);
        let arguments = [("party".to_string(), MALLORY.to_string())];
        net.node(A)
            .run_flow("AutomaticRecoveryFlow", &arguments)
            .expect("no trap")
            .expect("the flow starts");
        Recovering {
            net,
            requests,
            vault: vault_db,
            own,
            _dir: dir,
        }
    }

    /// Steps the network for at most `horizon_ms`, handing each ask A
    /// sends Mallory to `answer` (which injects Mallory's replies), until
    /// A's request ends; returns its row. A sends Mallory only asks.
    fn run(
        &mut self,
        horizon_ms: u64,
        mut answer: impl FnMut(&mut Network, RequestId, u32, Vec<TxId>),
    ) -> RecoveryRequest {
        let horizon = self.net.now_ms() + horizon_ms;
        for _ in 0..100_000 {
            let stepped = self.net.step_until(horizon);
            for envelope in self.net.take_mail(MALLORY) {
                let Ok(Message::Ask { request, ask, ids }) = Message::decode(&envelope.payload)
                else {
                    panic!("A sends only asks");
                };
                answer(&mut self.net, request, ask, ids);
            }
            if self.request().status != RecoveryStatus::InProgress || !stepped {
                break;
            }
        }
        assert!(self.net.failures().is_empty(), "no trap");
        self.request()
    }

    /// A's request's row.
    fn request(&self) -> RecoveryRequest {
        let rows = self.requests.load_requests(10).unwrap();
        rows.into_iter()
            .find(|r| r.is_requester)
            .expect("A's request")
    }

    /// A's request's log lines.
    fn log(&self) -> Vec<String> {
        let row = self.request();
        let log = self.requests.load_log(&row.request_id, 50).unwrap();
        log.into_iter().map(|e| e.message).collect()
    }
}

/// Mallory's `Done` for an ask: `sent` transactions sent, `unavailable`
/// ruled out.
fn done(request: RequestId, ask: u32, sent: u32, unavailable: Vec<TxId>) -> Vec<u8> {
    Message::Done {
        request,
        ask,
        sent,
        unavailable,
        deferred: vec![],
        retry_after_ms: 0,
    }
    .encode()
}

/// The merkle adapter's verified recorder over `vault`, with the test
/// keys of A, B and C pinned.
fn merkle_recorder(vault: &Database) -> Arc<dyn VerifiedRecorder> {
    let adapter =
        AdapterRuntime::from_file(std::path::Path::new(ledger_sync_components::MERKLE_ADAPTER))
            .unwrap();
    Arc::new(VerifiedRecording::new(
        &adapter,
        signer_keys(&[A, B, C]),
        vault.clone(),
    ))
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
    let found = (0..40).map(id).collect();
    let mut a = Recovering::start(&[], found, "maxAllowedRequests = 3\n", |_| {
        Arc::new(Nothing)
    });
    let mut asks = Vec::new();
    let row = a.run(24 * 3_600_000, |net, request, ask, _| {
        asks.push(net.now_ms());
        net.inject(MALLORY, A, done(request, ask, 0, vec![]));
    });
    assert_eq!(row.status, RecoveryStatus::Failed, "{row}");
    assert!(row.error.contains("5 asks in a row"), "{}", row.error);
    assert_eq!(asks.len(), 5, "asks at {asks:?}");
    assert!(
        asks[3] - asks[0] >= 3_600_000,
        "the fourth ask waits for the window: {asks:?}"
    );
}

/// The back-chain attack (issue "Reliability, fourth round", high 2):
/// Mallory answers A's recovery with a transaction naming A that spends a
/// state of Z, then calls Z unavailable. The vault never takes the
/// transaction without Z: it is held aside (the request's log says so,
/// and the request still ends COMPLETED, because the vault is
/// consistent), and the real reconciliation plugin, on the same vault
/// afterwards, still schedules reconciliations — its ledger graph is
/// self-consistent. Before hold-aside the transaction was recorded with Z
/// missing, and every ScheduleReconciliationFlow was refused for good.
#[test]
fn a_transaction_whose_back_chain_is_withheld_is_held_aside_not_recorded() {
    let z: TxId = [7; 32];
    // Genuinely signed: the back-chain, not the signatures, is withheld.
    let made_up = merkle_transaction(Some(z), &[A, C], "1,000,000 GBP");
    let made_up_id = merkle_id(&made_up);
    let before = shared(0, 5, A, B);
    let mut a = Recovering::start(&before, vec![made_up_id], "", merkle_recorder);
    let mut asked_for_z = false;
    let row = a.run(24 * 3_600_000, |net, request, ask, ids| {
        let (sent, unavailable): (Vec<TxId>, Vec<TxId>) =
            ids.iter().partition(|t| **t == made_up_id);
        asked_for_z |= unavailable.contains(&z);
        if !sent.is_empty() {
            let transactions = Message::Transactions {
                request,
                ask,
                transactions: vec![(made_up_id, made_up.clone())],
            };
            net.inject(MALLORY, A, transactions.encode());
        }
        net.inject(
            MALLORY,
            A,
            done(request, ask, sent.len() as u32, unavailable),
        );
    });
    let log = a.log();
    assert!(
        asked_for_z,
        "A asked Mallory for the missing dependency: {row} {log:#?}"
    );
    assert_eq!(row.status, RecoveryStatus::Completed, "{row}");
    assert_eq!(row.recovered, 0, "nothing entered the vault: {row}");
    assert!(
        log.iter()
            .any(|l| l.contains("held aside, waiting for dependencies")),
        "{log:#?}"
    );
    let held_lines = (log.iter())
        .filter(|l| l.starts_with("held 1 aside until the vault has"))
        .count();
    assert_eq!(
        held_lines, 1,
        "one line per message, however many held: {log:#?}"
    );

    let mut store = ledger_sync_host::store::connect(&a.vault).unwrap();
    assert_eq!(
        store.count().unwrap(),
        before.len() as u64,
        "the vault is as it was"
    );
    let (held, listed) = store.held_aside(10).unwrap();
    assert_eq!(held, 1);
    assert_eq!(listed[0].transaction.id, made_up_id);
    assert_eq!(listed[0].missing, vec![z]);

    // The reconciliation plugin, on this vault, still schedules.
    let mut cluster = Cluster::new();
    let mut options = cluster.options(A, &[]);
    options.storage = Storage::Provided {
        vault: Arc::new(DatabaseVault::new(a.vault.clone())),
        statuses: Arc::new(DatabaseStatusStore::open(&a.own).unwrap()),
    };
    cluster.net.add_node(options).unwrap();
    cluster.net.add_external_party(B);
    cluster.settle();
    let scheduled = cluster
        .net
        .node(A)
        .schedule_reconciliation(&[B.to_string()]);
    assert_eq!(scheduled.expect("no trap"), Ok(()), "not locked out");
    let metrics = cluster.net.node(A).metrics().unwrap();
    assert!(metrics.ledger_graph_is_self_consistent);
}

/// The made-up transaction attack (issue "Reliability, fourth round",
/// high 1), through the real LedgerRecover: Mallory's reconciliation
/// answer names a transaction between A and C that Mallory made up and
/// signed in A's and C's names with its own key. A's node refuses it —
/// A's signature does not verify against the key the network map pins for
/// A — the recovery ends FAILED naming the signer, and nothing is recorded
/// or held aside, so nothing can spread to C. Before, A recorded it, and C
/// recorded it from A at their next reconciliation.
#[test]
fn a_made_up_transaction_is_refused_naming_the_signer_it_lacks() {
    use ledger_sync_adapter_merkle::format;
    let made_up = {
        let mut tx = format::decode(&merkle_unsigned(None, &[A, C], "1,000,000 GBP")).unwrap();
        let id = merkle_id(&format::encode(&tx));
        for signer in [A, C] {
            tx.signatures.push(format::Signature {
                signer: signer.to_string(),
                signature: ledger_key(MALLORY).sign(&id).as_ref().try_into().unwrap(),
            });
        }
        format::encode(&tx)
    };
    let made_up_id = merkle_id(&made_up);
    let mut a = Recovering::start(&[], vec![made_up_id], "", merkle_recorder);
    let row = a.run(3_600_000, |net, request, ask, _| {
        let transactions = Message::Transactions {
            request,
            ask,
            transactions: vec![(made_up_id, made_up.clone())],
        };
        net.inject(MALLORY, A, transactions.encode());
    });
    assert_eq!(row.status, RecoveryStatus::Failed, "{row}");
    assert!(
        row.error.contains("the signature of O=PartyA") && row.error.contains("does not verify"),
        "{}",
        row.error
    );
    assert_eq!((row.recovered, row.refused), (0, 1), "{row}");
    let mut store = ledger_sync_host::store::connect(&a.vault).unwrap();
    assert_eq!(store.count().unwrap(), 0, "nothing recorded");
    assert_eq!(store.held_aside(1).unwrap().0, 0, "nothing held aside");
}
