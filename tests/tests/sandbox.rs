//! The sandbox's promises, each broken on purpose: hostile peers against the
//! real plugin, and a purpose-built hostile guest (`test-programs/hostile`)
//! that spins, allocates without end, panics, and floods logs, sends and
//! timers. In every case the host lives, the instance is re-made, what it
//! was running is recorded FAILED with the reason, other nodes carry on,
//! and what the guest can make the host hold stays bounded.

use ledger_sync_host::{NodeOptions, PluginFailure};
use ledger_sync_sim::network::Network;
use ledger_sync_tests::*;
use std::time::Duration;

/// Garbage, truncated frames, future protocol versions and symbols for a
/// reconciliation that does not exist: all dropped or refused; the node keeps
/// working and its stored statuses are untouched.
#[test]
fn hostile_messages_do_not_disturb_a_node() {
    let vault = vec![tx(1, &[], &[&[A, B]]), tx(2, &[1], &[&[A, B]])];
    let mut cluster = Cluster::new();
    cluster.add(A, &vault[..1]).add(B, &vault);
    let before = cluster.reconcile(A, B);
    assert_status(&before, Status::DifferencesFound);

    let mut hostile: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        vec![1, 0, 0],
        (0..=255u8).collect(),
        vec![0x01; 10_000],
    ];
    // A frame of a protocol version from the future.
    hostile.push([vec![0x09], vec![0x42; 16], vec![0x02, 0x00]].concat());
    // Well-formed symbols for a session nobody started.
    hostile.push([vec![0x01], vec![0x17; 16], vec![0x01, 0x00, 0x00, 0x00]].concat());
    for payload in hostile {
        cluster.net.inject(B, A, payload.clone());
        cluster.net.inject(A, B, payload);
    }
    cluster.settle();
    assert!(
        cluster.net.failures().is_empty(),
        "{:?}",
        cluster.net.failures()
    );
    assert_eq!(cluster.status(A, B, true).as_ref(), Some(&before));
    // Both still reconcile.
    let after = cluster.reconcile(A, B);
    assert_eq!(result_ids(&after), vec![id(2)]);
    let warned = cluster
        .net
        .node(A)
        .logs()
        .iter()
        .any(|l| l.message.contains("dropped a message from"));
    assert!(warned, "garbage is logged");
}

/// The hostile guest on node `H`, beside two real plugins A and B that share
/// a ledger in which A lost its last transaction.
const H: &str = "O=Hostile, L=Nowhere, C=XX";

fn cluster_with_hostile(limits: impl FnOnce(&mut NodeOptions)) -> Cluster {
    let vault = shared(1, 20, A, B);
    let mut cluster = Cluster::new();
    cluster.add(A, &vault[..19]).add(B, &vault);
    let mut options = cluster.options(H, &[]);
    options.limits.call_timeout = Duration::from_millis(300);
    limits(&mut options);
    let guest = ledger_sync_sim::component(ledger_sync_components::HOSTILE_GUEST).unwrap();
    cluster.net.add_node_running(guest, options).unwrap();
    cluster.settle();
    cluster
}

/// Runs one hostile command on `H`.
fn command(cluster: &mut Cluster, words: &[&str]) -> Result<(), PluginFailure> {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    cluster
        .net
        .node(H)
        .schedule_reconciliation(&words)
        .map(|answer| answer.expect("the guest accepts its commands"))
}

/// `H` "runs" a reconciliation with C, then traps with `words`: the host
/// lives, replaces the instance, and C's row is FAILED with the reason;
/// A and B reconcile undisturbed meanwhile. Returns the reason.
fn trap_while_running(cluster: &mut Cluster, words: &[&str]) -> String {
    command(cluster, &[C]).unwrap();
    cluster.schedule(A, &[B]);
    let Err(PluginFailure::Trapped(reason)) = command(cluster, words) else {
        panic!("{words:?} should trap");
    };
    let node = cluster.net.node(H);
    assert_eq!(node.restarts(), 1, "the instance was re-made");
    assert!(node.dead().is_none());
    let row = cluster.status(H, C, true).expect("C's row");
    assert_status(&row, Status::Failed);
    assert!(
        row.last_reconciliation_error.contains(&reason),
        "the row names the trap: {}",
        row.last_reconciliation_error
    );
    cluster.settle();
    let ab = cluster.status(A, B, true).unwrap();
    assert_eq!(result_ids(&ab), vec![id(20)], "A and B are unaffected");
    // The new instance answers.
    command(cluster, &[D]).unwrap();
    reason
}

#[test]
fn an_endless_loop_meets_the_cpu_deadline() {
    let mut cluster = cluster_with_hostile(|_| {});
    let reason = trap_while_running(&mut cluster, &["spin"]);
    assert!(reason.contains("CPU deadline of 300ms"), "{reason}");
}

#[test]
fn an_allocation_past_the_memory_cap_traps() {
    let mut cluster = cluster_with_hostile(|o| o.limits.memory_bytes = 16 << 20);
    let reason = trap_while_running(&mut cluster, &["grow"]);
    assert!(reason.contains("memory allocation"), "{reason}");
    let node = cluster.net.node(H);
    assert!(node.peak_memory_bytes() <= 16 << 20, "the cap held");
}

#[test]
fn a_panic_traps_with_its_message() {
    let mut cluster = cluster_with_hostile(|_| {});
    let reason = trap_while_running(&mut cluster, &["panic"]);
    assert!(
        reason.contains("the hostile guest panics on purpose"),
        "{reason}"
    );
}

/// The restart's `start` runs under the CPU deadline too: a guest that
/// spins there is given up on, and the host goes on.
#[test]
fn a_guest_that_spins_while_restarting_is_given_up_on() {
    let mut cluster = cluster_with_hostile(|o| o.config = "spin-on-restart\n".into());
    assert!(matches!(
        command(&mut cluster, &["panic"]),
        Err(PluginFailure::Trapped(_))
    ));
    let node = cluster.net.node(H);
    let why = node.dead().expect("given up on").to_string();
    assert!(why.contains("CPU deadline"), "{why}");
    assert!(matches!(
        command(&mut cluster, &[C]),
        Err(PluginFailure::NotRunning(_))
    ));
    assert_eq!(cluster.net.pending_timers(H), 0);
    assert_eq!(result_ids(&cluster.reconcile(A, B)), vec![id(20)]);
}

#[test]
fn a_log_flood_is_cut_and_its_capture_bounded() {
    let mut cluster = cluster_with_hostile(|o| {
        o.limits.max_captured_logs = 100;
        o.limits.max_log_message_bytes = 1024;
    });
    command(&mut cluster, &["log-flood", "2000", "65536"]).expect("no trap");
    let logs = cluster.net.node(H).logs();
    assert_eq!(logs.len(), 100, "only the newest lines are kept");
    for line in &logs {
        assert!(line.message.len() <= 1024 + 40, "{}", line.message.len());
        assert!(line.message.ends_with("(64512 more bytes cut)"));
    }
}

/// The host, not each plugin, bounds how many lines a plugin writes: a
/// guest logging 20,000 lines at one instant gets its burst (the rate per
/// minute) written and the rest dropped and counted; a minute later of the
/// node's clock it may write again, and that line says how many were
/// dropped. (LedgerRecover logged a line per undecodable message: 605,000
/// lines, 125 MB, in 10 s.)
#[test]
fn a_log_flood_is_bounded_in_lines_per_minute_by_the_host() {
    let mut cluster = cluster_with_hostile(|o| {
        o.limits.max_captured_logs = 100_000;
        o.limits.max_log_lines_per_minute = 500;
    });
    let before = cluster.net.node(H).logs().len();
    command(&mut cluster, &["log-flood", "20000", "10"]).expect("no trap");
    let node = cluster.net.node(H);
    let written = node.logs().len() - before;
    assert!(written <= 500, "{written} lines written at once");
    assert!(
        node.dropped_log_lines() >= 19_500,
        "{}",
        node.dropped_log_lines()
    );
    cluster.net.run_for(60_000);
    command(&mut cluster, &["log-flood", "1", "10"]).expect("no trap");
    let logs = cluster.net.node(H).logs();
    let note = logs
        .iter()
        .rev()
        .find(|l| l.message.contains("were dropped before this one"))
        .expect("the next line written says how many were dropped");
    assert!(
        note.message.contains("it may write 500 a minute"),
        "{}",
        note.message
    );
}

#[test]
fn a_send_flood_is_refused_past_the_queued_bytes_cap() {
    let mut cluster = cluster_with_hostile(|o| o.limits.max_queued_bytes = 8 << 20);
    cluster.net.reset_traffic();
    command(&mut cluster, &["send-flood", A, "100", "1048576"]).expect("no trap");
    let said = cluster.net.node(H).logs().last().unwrap().message.clone();
    assert!(
        said.starts_with(
            "sent 8, refused 92: Unavailable(\"the host holds at most 8388608 queued bytes"
        ),
        "{said}"
    );
    cluster.settle();
    let route = (H.to_string(), A.to_string());
    assert_eq!(cluster.net.traffic().bytes_by_route[&route], 8 << 20);
    // Sending to itself or to a stranger is refused too.
    command(&mut cluster, &["send-flood", H, "1", "1"]).unwrap();
    let said = cluster.net.node(H).logs().last().unwrap().message.clone();
    assert!(said.contains("UnknownParty"), "{said}");
}

#[test]
fn a_timer_flood_traps_at_the_pending_timers_cap() {
    let mut cluster = cluster_with_hostile(|o| o.limits.max_pending_timers = 1000);
    command(&mut cluster, &["timer-flood", "500"]).expect("within the cap");
    cluster.settle();
    assert_eq!(cluster.net.node(H).pending_timers(), 500);
    assert_eq!(cluster.net.pending_timers(H), 500, "the network holds them");
    let reason = trap_while_running(&mut cluster, &["timer-flood", "5000"]);
    assert!(reason.contains("more than 1000 pending timers"), "{reason}");
    assert_eq!(
        cluster.net.pending_timers(H),
        0,
        "the old instance's timers are gone"
    );
}

/// A plugin built for another version of the contract is refused before it
/// is linked, with both versions named.
#[test]
fn a_plugin_built_for_another_contract_is_refused() {
    let error = ledger_sync_host::PluginRuntime::from_file(std::path::Path::new(
        ledger_sync_components::OLD_CONTRACT_GUEST,
    ))
    .err()
    .expect("refused");
    let text = format!("{error:#}");
    assert!(text.contains("ledger-sync:plugin@0.1.0"), "{text}");
    for supported in ledger_sync_host::bindings::SUPPORTED {
        assert!(
            text.contains(&format!("ledger-sync:plugin@{supported}")),
            "names every supported version: {text}"
        );
    }
}

/// The WASI interfaces the component imports are exactly those the WIT
/// documentation lists for host implementers, and every other plugin the
/// workspace builds (LedgerRecover) imports only interfaces the WASI
/// section tells a host to link.
#[test]
fn the_plugin_imports_exactly_the_documented_wasi_interfaces() {
    let wasi_of = |runtime: &ledger_sync_host::PluginRuntime| {
        let mut imported: Vec<String> = runtime
            .imports()
            .iter()
            .filter(|n| n.starts_with("wasi:"))
            .map(|n| n.split('@').next().unwrap().to_string())
            .collect();
        imported.sort();
        imported
    };
    let named = |text: &str| {
        let mut names: Vec<String> = text
            .split('`')
            .filter(|w| w.starts_with("wasi:") && w.contains('/'))
            .map(str::to_string)
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let runtime = ledger_sync_sim::builtin_plugin().unwrap();
    let world = include_str!("../../wit/since_v0.5.0/world.wit");
    let section = world.split("/// # WASI").nth(1).unwrap();
    let section = section.split("/// # Limits").next().unwrap();
    let (own_list, rest) = section
        .split_once("(a reference test checks")
        .expect("the reconciliation plugin's list, then the rest");
    assert_eq!(wasi_of(&runtime), named(own_list));
    let to_link = named(section);
    let recovery = ledger_sync_sim::component(ledger_sync_components::RECOVERY_PLUGIN).unwrap();
    for name in wasi_of(&recovery) {
        assert!(
            to_link.contains(&name),
            "LedgerRecover imports {name}, which the WASI section does not tell a host to link"
        );
    }
    assert!(named(rest).contains(&"wasi:random/insecure-seed".to_string()));
    let own = runtime
        .imports()
        .iter()
        .filter(|n| n.starts_with("ledger-sync:plugin/"));
    assert_eq!(own.count(), 8, "seven imported interfaces and their types");
}

/// A configuration the plugin rejects stops the node from starting, with the
/// key, the value and what is accepted in the error.
#[test]
fn a_bad_configuration_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = Network::new(ledger_sync_sim::builtin_plugin().unwrap());
    let mut options = NodeOptions::new(A, dir.path().join("a.db"));
    options.config = "maxNumberOfParallelReconciliationRequests = 11\n".into();
    let error = format!("{:#}", net.add_node(options).unwrap_err());
    assert!(
        error.contains("maxNumberOfParallelReconciliationRequests"),
        "{error}"
    );
    assert!(error.contains("11") && error.contains("1 to 10"), "{error}");
}

/// The compiled plugin is kept between starts and loaded instead of
/// compiled again; the loaded plugin reconciles like a compiled one. An
/// artifact that was altered is refused with the reason, compiled again and
/// replaced; another component never picks up this one's artifact — not
/// even copied under its name — and another node's key refuses it.
#[test]
fn the_compiled_plugin_is_cached_and_an_altered_artifact_is_refused() {
    use ledger_sync_host::{CacheKey, CacheOutcome, PluginRuntime};
    let cache = tempfile::tempdir().unwrap();
    let node_dir = tempfile::tempdir().unwrap();
    let key_path = node_dir.path().join("plugin-cache.key");
    let key = CacheKey::load_or_create(&key_path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is the node's alone");
    }
    let plugin = ledger_sync_components::PLUGIN_BYTES;
    let (_, first) = PluginRuntime::cached(plugin, cache.path(), &key).unwrap();
    assert_eq!(first, CacheOutcome::Stored);
    let (loaded, second) = PluginRuntime::cached(plugin, cache.path(), &key).unwrap();
    assert_eq!(second, CacheOutcome::Loaded);

    // The loaded plugin runs a reconciliation.
    let vault = shared(0, 20, A, B);
    let mut cluster = Cluster::new();
    let options = cluster.options(A, &vault[..15]);
    cluster.net.add_node_running(loaded, options).unwrap();
    cluster.add(B, &vault).settle();
    let row = cluster.reconcile(A, B);
    assert_eq!(result_ids(&row), (15..20).map(id).collect::<Vec<_>>());

    // One byte altered: refused, compiled again, and good once more.
    let artifact = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("the artifact");
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&artifact, bytes).unwrap();
    let (_, altered) = PluginRuntime::cached(plugin, cache.path(), &key).unwrap();
    assert!(
        matches!(&altered, CacheOutcome::Refused(why) if why.contains("MAC")),
        "{altered:?}"
    );
    let (_, again) = PluginRuntime::cached(plugin, cache.path(), &key).unwrap();
    assert_eq!(again, CacheOutcome::Loaded);

    // Another component has an artifact of its own.
    let hostile = std::fs::read(ledger_sync_components::HOSTILE_GUEST).unwrap();
    let (_, other) = PluginRuntime::cached(&hostile, cache.path(), &key).unwrap();
    assert_eq!(other, CacheOutcome::Stored);

    // The other component's artifact copied under this one's name: it is
    // self-consistent and compiled for this engine, but bound to the other
    // component, so it is refused, never loaded as this plugin's code.
    let artifacts: Vec<std::path::PathBuf> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    assert_eq!(artifacts.len(), 2);
    let (ours, theirs) = if artifacts[0] == artifact {
        (&artifacts[0], &artifacts[1])
    } else {
        (&artifacts[1], &artifacts[0])
    };
    std::fs::copy(theirs, ours).unwrap();
    let (_, swapped) = PluginRuntime::cached(plugin, cache.path(), &key).unwrap();
    assert!(
        matches!(&swapped, CacheOutcome::Refused(why) if why.contains("another component")),
        "{swapped:?}"
    );

    // Another node's key: its artifacts are its own.
    let other_node = CacheKey::from_bytes([7; 32]);
    let (_, elsewhere) = PluginRuntime::cached(plugin, cache.path(), &other_node).unwrap();
    assert_eq!(
        elsewhere,
        CacheOutcome::Stored,
        "another name, another artifact"
    );
    let theirs_named_ours = cache.path().join(
        std::fs::read_dir(cache.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "cwasm") && p != ours && p != theirs)
            .unwrap(),
    );
    std::fs::copy(&theirs_named_ours, ours).unwrap();
    let (_, foreign) = PluginRuntime::cached(plugin, cache.path(), &key).unwrap();
    assert!(
        matches!(&foreign, CacheOutcome::Refused(why) if why.contains("another node")),
        "{foreign:?}"
    );
}
