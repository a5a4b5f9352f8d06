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

/// A node's vault ids, sorted (read-only: the node may be running).
fn ids_of(node: &std::path::Path) -> Vec<[u8; 32]> {
    let mut ids = ledger_sync_host::store::connect_reader(&node.join("persistence.db").into())
        .unwrap()
        .all_ids()
        .unwrap();
    ids.sort_unstable();
    ids
}

/// A, B and the notary; A restored from a backup that lost 40 of 2,000.
fn bootstrapped(dir: &std::path::Path) -> ledger_sync_node::bootstrap::Bootstrapped {
    use ledger_sync_node::bootstrap::{BootstrapOptions, bootstrap};
    let out = bootstrap(&BootstrapOptions {
        dir: dir.to_path_buf(),
        names: vec![A.into(), B.into(), NOTARY.into()],
        base_port: free_base_port(),
        max_message_size: 10 << 20,
        demo_ledger: Some((2_000, 40, 7)),
        p2p_hosts: Vec::new(),
        state_bytes: ledger_sync_node::bootstrap::DEFAULT_STATE_BYTES,
    })
    .unwrap();
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-cache");
    for node in &out.node_dirs {
        edit_conf(node, |f| {
            f.plugin_cache = Some(cache.to_str().unwrap().into())
        });
    }
    out
}

/// Starts A's and B's node processes and waits until both answer; A's
/// client.
fn start_a_and_b(dirs: &[std::path::PathBuf]) -> (NodeProcess, NodeProcess, Client) {
    let a_node = NodeProcess::start(&dirs[0]);
    let b_node = NodeProcess::start(&dirs[1]);
    let a = Client::for_node(&dirs[0]).unwrap();
    wait_up(&a);
    wait_up(&Client::for_node(&dirs[1]).unwrap());
    (a_node, b_node, a)
}

/// Writes a node's recovery configuration.
fn recovery_config(node: &std::path::Path, text: &str) {
    let file = node
        .join("plugins/config")
        .join(ledger_sync_node::RECOVERY_CONFIG_FILE);
    std::fs::write(file, text).unwrap();
}

/// Runs a recovery flow on A and waits for it to end: the request's row.
fn recovered(a: &Client, line: &str) -> String {
    let started = flow(a, line);
    let at = started.find("requestId=\"").unwrap() + "requestId=\"".len();
    let id = started[at..].split('"').next().unwrap().to_string();
    let listed = format!("flow start GetRecoveryRequestsFlow party: \"{B}\"");
    poll(Duration::from_secs(120), "the recovery to end", || {
        let text = flow(a, &listed);
        let row = text
            .split("RecoveryRequest(")
            .find(|r| r.contains(&id))?
            .to_string();
        (!row.contains("status=IN_PROGRESS")).then_some(row)
    })
}

#[test]
fn a_restored_node_recovers_what_it_lost_and_reconciles_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = bootstrapped(dir.path());
    let dirs = &out.node_dirs;
    let kept = ids_of(&dirs[0]);
    let (a_node, _b_node, a) = start_a_and_b(dirs);

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
    // Prometheus sees it on both sides.
    for (node, side) in [(&dirs[0], "requester"), (&dirs[1], "responder")] {
        let config = ledger_sync_node::config::NodeConfig::load(node).unwrap();
        let page = ledger_sync_node::client::scrape_metrics(config.metrics_address).unwrap();
        for line in [
            format!(
                "ledger_sync_recovery_transactions_total{{side=\"{side}\"}} {}",
                out.expected.len()
            ),
            format!("ledger_sync_recovery_requests{{side=\"{side}\",status=\"COMPLETED\"}} "),
        ] {
            assert!(page.contains(&line), "{line} not in\n{page}");
        }
    }
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

/// B's copy of one lost transaction is another transaction's bytes: A's
/// recovery records the rest, refuses that one and ends FAILED naming it.
/// Then a privacy probe: A asks for B's transactions that do not involve
/// it, and gets the answer a made-up id gets.
#[test]
fn forged_bytes_fail_the_recovery_and_a_probe_learns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = bootstrapped(dir.path());
    let dirs = &out.node_dirs;
    let (forged, other) = (out.expected[0], out.before[0]);
    let hex = |id: &[u8; 32]| id.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let b_db = ledger_sync_host::store::open(&dirs[1].join("persistence.db")).unwrap();
    b_db.execute(
        &format!(
            "UPDATE vault_transaction SET payload = (SELECT payload FROM vault_transaction \
             WHERE tx_id = x'{}') WHERE tx_id = x'{}'",
            hex(&other),
            hex(&forged)
        ),
        [],
    )
    .unwrap();
    drop(b_db);
    let b_only: Vec<[u8; 32]> = ids_of(&dirs[1])
        .into_iter()
        .filter(|id| out.before.binary_search(id).is_err())
        .take(5)
        .collect();
    assert_eq!(b_only.len(), 5, "B has transactions A never saw");
    let (_a_node, _b_node, a) = start_a_and_b(dirs);
    reconcile(&a);

    let row = recovered(
        &a,
        &format!("flow start AutomaticRecoveryFlow party: \"{B}\""),
    );
    assert!(row.contains("status=FAILED"), "{row}");
    let forged_hex = hex_ids(&[forged]).remove(0);
    assert!(
        row.contains(&format!("sent {forged_hex} and it was refused"))
            && row.contains("forged or mistaken"),
        "{row}"
    );
    assert!(row.contains("refused=1,"), "{row}");
    let held = ids_of(&dirs[0]);
    assert!(
        !held.contains(&forged),
        "the forged transaction was not recorded"
    );

    // The probe: B's own transactions and made-up ids, asked for alike.
    let made_up: Vec<[u8; 32]> = (0..5u8).map(|k| [k + 1; 32]).collect();
    for ids in [&b_only, &made_up] {
        let listed: Vec<String> = hex_ids(ids).iter().map(|h| format!("\"{h}\"")).collect();
        let line = format!(
            "flow start InitiateManualRecoveryFlow party: \"{B}\", transactionIds: [{}]",
            listed.join(", ")
        );
        let row = recovered(&a, &line);
        assert!(
            row.contains("status=COMPLETED")
                && row.contains("recovered=0,")
                && row.contains("unavailable=5,")
                && row.contains("bytes=0,"),
            "{row}"
        );
    }
    let held = ids_of(&dirs[0]);
    assert!(b_only.iter().all(|id| !held.contains(id)));
}

/// A floods B with recovery asks, as a rogue holding A's key: B answers
/// its `maxAllowedRequests` and refuses the rest, logging the refusal
/// once (what arrives while LedgerRecover's inbox quota is full is dropped
/// by the transport, counted); its memory and tables stay bounded.
#[test]
fn a_flood_of_recovery_asks_is_answered_only_up_to_the_limit() {
    use ledger_sync_recovery::protocol::Message;
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let out = bootstrapped(dir.path());
    let dirs = &out.node_dirs;
    recovery_config(&dirs[1], "maxAllowedRequests = 5\n");
    let b_node = NodeProcess::start(&dirs[1]);
    wait_up(&Client::for_node(&dirs[1]).unwrap());
    let config = ledger_sync_node::config::NodeConfig::load(&dirs[0]).unwrap();
    let asks = 500u32;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // The connection stays open until B has read it all: closing it with
    // B's session tickets unread would reset it and lose what B has not
    // read yet.
    let _connection = runtime.block_on(async {
        let identity = ledger_sync_node::transport::Identity::load(&config).unwrap();
        let map = ledger_sync_node::config::NetworkMap::load(&config.network_map).unwrap();
        let directory = ledger_sync_node::transport::Directory::new(&map, &config.legal_name);
        let mut tls = ledger_sync_node::transport::connect(&identity, &directory, B)
            .await
            .unwrap();
        for k in 0..asks {
            let ask = Message::Ask {
                request: [(k % 250) as u8; 16],
                ask: 1,
                ids: out.expected.clone(),
            };
            let frame = ledger_sync_node::transport::frame("ledger-recover", &ask.encode());
            tls.write_all(&frame).await.unwrap();
        }
        tls.flush().await.unwrap();
        tls
    });
    let b_config = ledger_sync_node::config::NodeConfig::load(&dirs[1]).unwrap();
    // Every ask is either handled or, past LedgerRecover's inbox quota
    // while it is busy, dropped by the transport (only the reconciliation
    // plugin's quota pauses a connection).
    let value = |page: &str, prefix: &str| -> Option<f64> {
        page.lines()
            .find(|l| l.starts_with(prefix))?
            .rsplit(' ')
            .next()?
            .parse::<f64>()
            .ok()
    };
    poll(
        Duration::from_secs(60),
        "B to take or drop every ask",
        || {
            let page = ledger_sync_node::client::scrape_metrics(b_config.metrics_address).ok()?;
            let events = value(
                &page,
                "ledger_sync_plugin_events_total{plugin=\"ledger-recover\"}",
            )?;
            let dropped = value(
                &page,
                "ledger_sync_transport_over_inbox_quota_messages_total ",
            )?;
            (events + dropped >= f64::from(asks) && events > 5.0).then_some(())
        },
    );
    drop(b_node);
    let served = ledger_sync_host::store::connect(&dirs[1].join("persistence.db").into())
        .unwrap()
        .load_recovery_requests(10_000)
        .unwrap();
    assert_eq!(served.len(), 5, "{served:?}");
    assert!(served.iter().all(|r| !r.is_requester));
    let log = NodeProcess::log(&dirs[1]);
    assert_eq!(
        log.matches("refused a recovery request from").count(),
        1,
        "{log}"
    );
}

/// A starts its recovery while B is down, and is killed before B comes
/// back. Restarted, A resumes the request from its row; B, started, answers
/// the asks A repeats after its silence; the recovery completes with
/// nothing recorded twice.
#[test]
fn a_recovery_resumes_after_either_side_was_down() {
    let dir = tempfile::tempdir().unwrap();
    let out = bootstrapped(dir.path());
    let dirs = &out.node_dirs;
    recovery_config(&dirs[0], "recoveryInactivityTimeout = 1S\n");
    let kept = ids_of(&dirs[0]);
    let (a_node, b_node, a) = start_a_and_b(dirs);
    reconcile(&a);
    drop(b_node);
    let started = flow(
        &a,
        &format!("flow start AutomaticRecoveryFlow party: \"{B}\""),
    );
    assert!(started.contains("status=IN_PROGRESS"), "{started}");
    drop(a_node);
    let _b_node = NodeProcess::start(&dirs[1]);
    let _a_node = NodeProcess::start(&dirs[0]);
    wait_up(&a);
    let listed = format!("flow start GetRecoveryRequestsFlow party: \"{B}\"");
    let done = poll(
        Duration::from_secs(120),
        "the resumed recovery to end",
        || {
            let text = flow(&a, &listed);
            (!text.contains("status=IN_PROGRESS")).then_some(text)
        },
    );
    assert!(done.contains("status=COMPLETED"), "{done}");
    assert!(
        done.contains(&format!("recovered={},", out.expected.len())),
        "{done}"
    );
    let logs = flow(
        &a,
        &format!("flow start GetRecoveryLogsFlow requestId: \"{}\"", {
            let at = started.find("requestId=\"").unwrap() + "requestId=\"".len();
            started[at..].split('"').next().unwrap().to_string()
        }),
    );
    assert!(logs.contains("resumed after the node restarted"), "{logs}");
    let mut restored: Vec<[u8; 32]> = kept.iter().chain(&out.expected).copied().collect();
    restored.sort_unstable();
    assert_eq!(ids_of(&dirs[0]), restored);
}
