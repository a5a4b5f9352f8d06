//! Two plugins per node, in real node processes: the reconciliation plugin
//! and `test-programs/neighbour` beside it, listed in node.conf's
//! `[[plugins]]`. Each plugin's messages reach only its counterpart on the
//! other node; the neighbour's flows are routed to it from the shell; what
//! it is granted is all it reaches; and its trap, its spin and its flood
//! leave the reconciliation plugin's reconciliations untouched.

mod common;

use common::*;
use ledger_sync_node::client::Client;
use ledger_sync_node::config::PluginEntry;
use std::path::Path;
use std::time::Duration;

/// Installs the neighbour plugin in `node` with `grants`; its CPU deadline
/// is short so its spin ends soon.
fn install_neighbour(node: &Path, grants: &[&str]) {
    std::fs::copy(
        ledger_sync_components::NEIGHBOUR_GUEST,
        node.join("plugins/neighbour.wasm"),
    )
    .unwrap();
    edit_conf(node, |file| {
        file.plugins = vec![PluginEntry {
            path: "plugins/neighbour.wasm".into(),
            grants: grants.iter().map(|g| g.to_string()).collect(),
            max_memory_mib: Some(64),
            call_timeout_millis: Some(500),
        }]
    });
}

fn flow(client: &Client, line: &str) -> String {
    let answer = client.call(line).unwrap();
    assert!(answer.ok(), "{line}: {} {}", answer.status, answer.text);
    answer.text
}

fn counts(client: &Client) -> String {
    flow(client, "flow start CountsFlow")
}

/// `key=N` in the neighbour's counts.
fn count(counts: &str, key: &str) -> u64 {
    counts
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {counts}"))
}

fn schedule_b(a: &Client) {
    flow(
        a,
        &format!("flow start ScheduleReconciliationFlow parties: [\"{B}\"]"),
    );
}

/// A's reconciliation with B found exactly `expected`.
fn found_exactly(status: &str, expected: &[[u8; 32]]) {
    assert!(
        status.contains("lastReconciliationStatus=DIFFERENCES_FOUND"),
        "{status}"
    );
    for id in hex_ids(expected) {
        assert!(status.contains(&id), "{id} missing from {status}");
    }
    let listed = status
        .split(|c: char| !c.is_ascii_hexdigit())
        .filter(|word| word.len() == 64)
        .count();
    assert_eq!(listed, expected.len(), "{status}");
}

/// A and B of a network whose A lost 40 of 2,000 transactions, each with
/// the neighbour beside the reconciliation plugin, granted `a_grants` on A
/// and nothing on B; running, with their clients and the lost ids.
struct Pair {
    // Killed (and their logs printed on failure) before the directory goes.
    _nodes: [NodeProcess; 2],
    _dir: tempfile::TempDir,
    a: Client,
    b: Client,
    dirs: Vec<std::path::PathBuf>,
    expected: Vec<[u8; 32]>,
}

fn pair(a_grants: &[&str]) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let (dirs, expected) = network(dir.path(), 2_000, 40);
    install_neighbour(&dirs[0], a_grants);
    install_neighbour(&dirs[1], &[]);
    let nodes = [NodeProcess::start(&dirs[0]), NodeProcess::start(&dirs[1])];
    let a = Client::for_node(&dirs[0]).unwrap();
    let b = Client::for_node(&dirs[1]).unwrap();
    wait_up(&a);
    wait_up(&b);
    Pair {
        _nodes: nodes,
        _dir: dir,
        a,
        b,
        dirs,
        expected,
    }
}

#[test]
fn two_plugins_talk_to_their_own_counterparts_and_reach_only_their_grants() {
    let Pair {
        a,
        b,
        expected,
        _nodes,
        _dir,
        ..
    } = pair(&["reconciliation"]);

    // Pings cross while A reconciles with B: two plugins' messages on one
    // connection, each to its own plugin.
    schedule_b(&a);
    for _ in 0..3 {
        assert_eq!(
            flow(&a, &format!("flow start PingFlow party: \"{B}\"")),
            "Flow completed with result: sent"
        );
    }
    let seen = poll(Duration::from_secs(60), "A's three pongs", || {
        let c = counts(&a);
        (count(&c, "pongs") == 3).then_some(c)
    });
    found_exactly(&wait_ended(&a), &expected);
    let b_seen = counts(&b);
    assert_eq!(count(&b_seen, "pings"), 3, "{b_seen}");
    // Neither neighbour saw a reconciliation message; the reconciliation
    // found exactly the lost ids, so it saw no ping.
    assert_eq!(count(&seen, "foreign"), 0, "{seen}");
    assert_eq!(count(&b_seen, "foreign"), 0, "{b_seen}");

    // A's neighbour is granted `reconciliation`: told, and answered.
    let told = poll(Duration::from_secs(30), "A's neighbour to be told", || {
        let c = counts(&a);
        (count(&c, "ended") == 1).then_some(c)
    });
    assert!(
        told.contains(&format!("last={B}:DIFFERENCES_FOUND")),
        "{told}"
    );
    let statuses = flow(&a, "flow start StatusesFlow");
    assert!(statuses.contains("statuses"), "{statuses}");
    // B's is granted nothing: refused, naming the grant; never told.
    for (line, grant) in [
        ("flow start StatusesFlow", "reconciliation"),
        ("flow start VaultFlow", "vault"),
    ] {
        let refused = b.call(line).unwrap();
        assert_eq!(refused.status, 409, "{}", refused.text);
        assert!(
            refused.text.contains(&format!("not granted `{grant}`")),
            "{}",
            refused.text
        );
    }
    assert_eq!(count(&counts(&b), "ended"), 0);

    // The shell spans both plugins: `flow list` and an ambiguity name the
    // plugin.
    let list = a.call("flow list").unwrap().text;
    assert!(
        list.contains("ScheduleReconciliationFlow parties")
            && list.contains("PingFlow party (plugin neighbour: Pings the neighbour plugin"),
        "{list}"
    );
    let ambiguous = a.call("flow start Status").unwrap();
    assert_eq!(ambiguous.status, 400);
    assert!(
        ambiguous.text.contains("StatusesFlow (plugin neighbour)"),
        "{}",
        ambiguous.text
    );
}

#[test]
fn a_trap_a_spin_and_a_flood_in_one_plugin_leave_reconciliations_untouched() {
    let pair = pair(&[]);
    let (a, b, expected, dirs) = (&pair.a, &pair.b, &pair.expected, &pair.dirs);

    // Both neighbours flood each other for a few seconds, and A's traps
    // and spins to its deadline, while A reconciles with B.
    let rounds = "rounds: 400";
    flow(a, &format!("flow start FloodFlow party: \"{B}\", {rounds}"));
    flow(b, &format!("flow start FloodFlow party: \"{A}\", {rounds}"));
    schedule_b(a);
    let trapped = a.call("flow start TrapFlow").unwrap();
    assert_eq!(trapped.status, 500, "{}", trapped.text);
    assert!(
        trapped.text.contains("panics on purpose"),
        "{}",
        trapped.text
    );
    let spun = a.call("flow start SpinFlow").unwrap();
    assert_eq!(spun.status, 500, "{}", spun.text);
    assert!(spun.text.contains("deadline"), "{}", spun.text);
    found_exactly(&wait_ended(a), expected);

    // The floods were real, and the neighbour came back after its trap.
    let flooded = poll(
        Duration::from_secs(30),
        "B's neighbour to be flooded",
        || {
            let c = counts(b);
            (count(&c, "floods") > 0).then_some(c)
        },
    );
    assert_eq!(count(&flooded, "foreign"), 0, "{flooded}");
    let after = counts(a);
    assert_eq!(count(&after, "foreign"), 0, "{after}");

    // And the reconciliation plugin runs again as if nothing happened.
    schedule_b(a);
    let again = poll(Duration::from_secs(60), "the second reconciliation", || {
        let t = a.call(&status_line(B)).ok()?.text;
        (t.contains("lastReconciliationStatus=DIFFERENCES_FOUND") && !t.contains("IN_PROGRESS"))
            .then_some(t)
    });
    found_exactly(&again, expected);
    let log = NodeProcess::log(&dirs[0]);
    assert!(log.contains("the plugin neighbour trapped"), "{log}");
    assert!(!log.contains("the plugin ledger-sync trapped"), "{log}");

    // The metrics page says so, per plugin.
    let config = ledger_sync_node::config::NodeConfig::load(&dirs[0]).unwrap();
    let page = ledger_sync_node::client::scrape_metrics(config.metrics_address).unwrap();
    for line in [
        "ledger_sync_plugin_restarts_total{plugin=\"neighbour\"} 2",
        "ledger_sync_plugin_restarts_total{plugin=\"ledger-sync\"} 0",
        "ledger_sync_plugin_up{plugin=\"neighbour\"} 1",
        "ledger_sync_plugin_up{plugin=\"ledger-sync\"} 1",
        // B's flood for A's neighbour, busy spinning, never held up the
        // connection the reconciliation's frames come on: past its inbox
        // quota the neighbour's messages are dropped, not waited for (an
        // honest reconciliation took 18.5 s instead of 0.34 s before).
        "ledger_sync_transport_inbound_paused_total 0",
    ] {
        assert!(page.contains(line), "{line} not in\n{page}");
    }
}
