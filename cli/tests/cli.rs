//! The `ledger-sync` command as an operator runs it.

use std::process::Command;

fn ledger_sync(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ledger-sync"))
        .args(args)
        .output()
        .expect("run ledger-sync")
}

/// Runs `ledger-sync`, requires it to succeed, and gives its standard
/// output.
fn ledger_sync_ok(args: &[&str]) -> String {
    let out = ledger_sync(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `demo --config FILE` runs with that file, and a bad file stops it with the
/// plugin's error and a non-zero exit.
#[test]
fn demo_runs_with_a_config_file_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.conf");
    std::fs::write(
        &good,
        "maxNumberOfIbfFilterFlows = 15\ntransactionReaderPageSize = 1000\n",
    )
    .unwrap();
    let out = ledger_sync(&[
        "demo",
        "--transactions",
        "3000",
        "--lost",
        "1200",
        "--config",
        good.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("DIFFERENCES_FOUND"), "{stdout}");
    // Its throw-away network's LedgerRecover limits are raised, and it
    // says so: under Corda's defaults (900 transactions an hour) the
    // thousand or so B can supply here would wait an hour.
    assert!(
        stderr.contains("raised to the top of Corda's ranges"),
        "{stderr}"
    );
    // The whole workflow: recovered, reconciled clean, the vault restored.
    assert!(
        stdout.contains("flow start AutomaticRecoveryFlow")
            && stdout.contains("lastReconciliationStatus=DIFFERENCES_NOT_FOUND")
            && stdout.contains("OK: recovered all"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "transactionReaderPoolSize = 4\n").unwrap();
    let out = ledger_sync(&["demo", "--config", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("transactionReaderPoolSize")
            && stderr.contains("`4`")
            && stderr.contains("5 to 1000"),
        "{stderr}"
    );
    // The demo saw its node exit (it used to wait out 2 minutes first) and
    // does not signal a process that is gone.
    assert!(stderr.contains(" stopped (exit status: "), "{stderr}");
    assert!(!stderr.contains("No such process"), "{stderr}");

    let out = ledger_sync(&["demo", "--config", "/no/such/file.conf"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file.conf"));
}

/// The processes whose parent is `pid` (from /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": the command may hold spaces.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after.split_whitespace().nth(1) == Some(&pid.to_string()) {
            children.push(child);
        }
    }
    children
}

/// Whether process `pid` is gone (or a zombie nobody waits for).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// SIGTERM to `demo` while its nodes run ends it as an error does: the
/// three node processes are stopped and its directory is removed (a demo
/// killed outright used to leave both behind). The nodes' logs are in the
/// failure message if it does not.
#[test]
fn sigterm_to_the_demo_stops_its_nodes_and_removes_its_directory() {
    use std::time::{Duration, Instant};
    let tmp = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_ledger-sync"))
        .args(["demo", "--transactions", "20000", "--lost", "2000"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = demo.id();
    let logs = || -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut dirs = vec![tmp.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.file_name().is_some_and(|n| n == "node.log") {
                    found.push(path);
                }
            }
        }
        found
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    let nodes = loop {
        let nodes = children_of(pid);
        if nodes.len() == 3 && logs().len() == 3 {
            break nodes;
        }
        assert!(
            demo.try_wait().unwrap().is_none(),
            "the demo ended before its nodes ran"
        );
        assert!(Instant::now() < deadline, "the demo's nodes never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        if let Some(exit) = demo.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() >= deadline {
            let _ = demo.kill();
            let logs: Vec<String> = logs()
                .iter()
                .map(|l| std::fs::read_to_string(l).unwrap_or_default())
                .collect();
            panic!("the demo did not end within 60 s of SIGTERM; node logs:\n{logs:#?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut demo.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!exit.success(), "{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    for node in nodes {
        assert!(is_gone(node), "node process {node} still runs: {stderr}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `bench` measures every implementation through the real component and
/// prints one JSON object per line with `--json`; it writes the plot.
#[test]
fn bench_prints_json_rows_for_every_implementation() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("plot.svg");
    let stdout = ledger_sync_ok(&[
        "bench",
        "--n",
        "3000",
        "--d",
        "0,10,100",
        "--runs",
        "1",
        "--json",
        "--plot",
        plot.to_str().unwrap(),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with('{') && l.ends_with('}')),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""case":"graph","n":3000"#))
    );
    for implementation in ["ledger-sync", "negentropy", "ibf-strata", "minisketch"] {
        for d in [0, 10, 100] {
            let row = format!(r#""case":"reconcile","impl":"{implementation}","n":3000,"d":{d},"#);
            assert!(stdout.contains(&row), "no row {row} in {stdout}");
        }
    }
    assert!(stdout.contains(r#""native_wall_s":0."#), "{stdout}");
    // The recurring reconciliations after them (issue 31's rows): each
    // side's CPU, and the cost of keeping up once something was recorded.
    for d in [0, 1, 10, 100, 1000] {
        let row = format!(r#"{{"case":"recurring","n":3000,"d":{d},"bytes":"#);
        let line = lines
            .iter()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no row {row} in {stdout}"));
        assert!(line.contains(r#""requester_cpu_s":"#), "{line}");
        assert!(line.contains(r#""responder_cpu_s":"#), "{line}");
        let keeping_up = if d == 0 { "null" } else { "" };
        assert!(
            line.contains(&format!(r#""maintenance_us_per_tx":{keeping_up}"#)),
            "{line}"
        );
    }
    let svg = std::fs::read_to_string(plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("negentropy") && svg.contains("polyline"));
}

/// `bench multi-party` reconciles party 0 with each counterparty on a
/// ledger whose back-chains cross parties, fails unless each result is
/// exactly what the set definition finds, and reports the ids decoded that
/// the requester already held.
#[test]
fn bench_multi_party_reports_bytes_per_id_found() {
    let stdout = ledger_sync_ok(&[
        "bench",
        "multi-party",
        "--n",
        "2000",
        "--parties",
        "4",
        "--d",
        "0,20",
        "--json",
    ]);
    for d in [0, 20] {
        let row = format!(r#"{{"case":"multi-party","n":2000,"parties":4,"d":{d},"found":"#);
        assert!(stdout.contains(&row), "no row {row} in {stdout}");
    }
    assert!(stdout.contains(r#""already_held":"#), "{stdout}");
}

/// `bench real` reconciles PartyA, restored without its last d
/// transactions, with PartyB on the bootstrap ledger, fails unless the
/// result is exactly what the set definition finds, and reports bytes
/// against the issue's targets.
#[test]
fn bench_real_reports_bytes_against_the_targets() {
    let stdout = ledger_sync_ok(&["bench", "real", "--n", "3000", "--d", "0,30", "--json"]);
    assert_eq!(
        stdout.matches(r#"{"case":"real","n":3000,"#).count(),
        2,
        "{stdout}"
    );
    for d in [0, 30] {
        assert!(
            stdout.contains(&format!(r#""d":{d},"found":"#)),
            "d = {d}: {stdout}"
        );
    }
    assert!(stdout.contains(r#""target_ratio":"#), "{stdout}");
    // The routine checks that fit a ledger of 3,000: a check with nothing
    // changed is `Identical` at the first message, under 100 B.
    assert_eq!(
        stdout
            .matches(r#"{"case":"real-routine","n":3000,"#)
            .count(),
        4,
        "{stdout}"
    );
    let nothing_changed = stdout
        .lines()
        .find(|l| l.starts_with(r#"{"case":"real-routine","n":3000,"since":0,"d":0,"#))
        .unwrap_or_else(|| panic!("no check with nothing changed: {stdout}"));
    let bytes: u64 = nothing_changed
        .split(r#""bytes":"#)
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|b| b.parse().ok())
        .expect("a byte count");
    assert!(
        bytes < 100 && nothing_changed.contains(r#""messages":2,"#),
        "{nothing_changed}"
    );
    for field in [
        r#""requester_cpu_s":"#,
        r#""responder_cpu_s":"#,
        r#""maintenance_us_per_tx":"#,
    ] {
        assert!(
            nothing_changed.contains(field),
            "{field}: {nothing_changed}"
        );
    }
    let refused = ledger_sync(&[
        "bench",
        "real",
        "--n",
        "3000",
        "--d",
        "0",
        "--routine",
        "5000:1",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("needs a ledger of more than 5000"),
        "{stderr}"
    );
}

/// `bench cycle`: the node reconciles with every counterparty, each on
/// the set the seed defines for it, through the real component; every
/// result is checked exactly (the bench fails otherwise), the peers run on
/// the same sets, and counterparties run only while they are needed. A
/// second, routine cycle finds the same from the sets the node kept, in a
/// fraction of the bytes.
#[test]
fn bench_cycle_reconciles_with_every_counterparty() {
    let stdout = ledger_sync_ok(&[
        "bench",
        "cycle",
        "--n",
        "6000",
        "--counterparties",
        "20",
        "--json",
    ]);
    let number = |line: &str, key: &str| -> f64 {
        let at = line.find(&format!(r#""{key}":"#)).expect(key) + key.len() + 3;
        line[at..]
            .split([',', '}'])
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number for {key} in {line}"))
    };
    for implementation in ["ledger-sync", "negentropy", "ibf-strata", "minisketch"] {
        let head = format!(
            r#"{{"case":"cycle","impl":"{implementation}","n":6000,"counterparties":20,"lost":60,"#
        );
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no row {head} in {stdout}"));
        assert!(line.contains(r#""exact":true"#), "{line}");
        assert!(number(line, "found") >= 20.0, "{line}");
        assert!(
            number(line, "set_difference") >= number(line, "found"),
            "{line}"
        );
        assert!(number(line, "bytes") > 0.0, "{line}");
        if implementation == "ledger-sync" {
            assert!(number(line, "node_cpu_s") > 0.0, "{line}");
            assert!(number(line, "counterparties_cpu_s") > 0.0, "{line}");
            let most = number(line, "most_running");
            assert!((1.0..20.0).contains(&most), "{line}");
        }
    }
    // The second cycle, a routine one: every counterparty checked from the
    // set the node kept, the same ids found, in far fewer bytes.
    let row = |implementation: &str| {
        let head = format!(r#"{{"case":"cycle","impl":"{implementation}","n":6000,"#);
        stdout
            .lines()
            .find(|l| l.starts_with(&head))
            .unwrap_or_else(|| panic!("no row {head} in {stdout}"))
    };
    let (first, routine) = (row("ledger-sync"), row("ledger-sync-routine"));
    assert_eq!(
        number(routine, "found"),
        number(first, "found"),
        "{routine}"
    );
    assert!(
        number(routine, "bytes") * 4.0 < number(first, "bytes"),
        "{first}\n{routine}"
    );
}

/// `simulate` runs a few hundred seeded networks with every fault kind and
/// exits 0 only when every invariant held on every seed.
#[test]
fn simulate_passes_a_few_hundred_seeds() {
    let out = ledger_sync(&["simulate", "--seeds", "300"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("300 seeds"), "{stdout}");
    assert!(
        stdout.contains("every invariant held on every seed: 0 wrong, 0 stuck, 0 traps"),
        "{stdout}"
    );
    // The last step of each seed: recovery, then a second reconciliation.
    let recoveries: u64 = stdout
        .split(" recoveries, each followed by a second reconciliation")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(recoveries > 100, "{stdout}");
    for kind in [
        "random loss",
        "crash and restart",
        "partition",
        "storage failure",
        "clock jump",
        "hostile: replay",
    ] {
        assert!(stdout.contains(kind), "no {kind} injected:\n{stdout}");
    }
}

/// The same seed replays byte for byte: every message, in order.
#[test]
fn a_seed_replays_byte_for_byte() {
    let first = ledger_sync(&["simulate", "--seed", "42"]);
    let again = ledger_sync(&["simulate", "--seed", "42"]);
    assert!(first.status.success());
    assert_eq!(first.stdout, again.stdout);
    let other = ledger_sync(&["simulate", "--seed", "43"]);
    assert_ne!(first.stdout, other.stdout);
    assert!(String::from_utf8_lossy(&first.stdout).contains("traffic digest"));
}

/// A plugin that breaks an invariant (this test guest leaves every
/// reconciliation IN_PROGRESS) fails the run, and each failing seed prints
/// the one line that reproduces it.
#[test]
fn a_failing_seed_prints_its_reproduction() {
    let out = ledger_sync(&[
        "simulate",
        "--seeds",
        "3",
        "--plugin",
        ledger_sync_components::HOSTILE_GUEST,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("seeds FAILED"), "{stdout}");
    assert!(
        stderr.contains("reproduce: ledger-sync simulate --seed 1"),
        "{stderr}"
    );
}

/// `network bootstrap` writes a node directory per party and the network
/// map; a bad name stops it with the reason.
#[test]
fn network_bootstrap_writes_node_directories() {
    let dir = tempfile::tempdir().unwrap();
    ledger_sync_ok(&[
        "network",
        "bootstrap",
        "--dir",
        dir.path().to_str().unwrap(),
        "--nodes",
        "O=PartyA, L=London, C=GB",
        "O=PartyB, L=London, C=GB",
        "--transactions",
        "200",
        "--lost",
        "5",
    ]);
    for file in [
        "network-map.toml",
        "root-ca.pem",
        "PartyA/node.conf",
        "PartyB/certificates/node.pem",
        "PartyA/persistence.db",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let bad = ledger_sync(&[
        "network",
        "bootstrap",
        "--dir",
        dir.path().to_str().unwrap(),
        "--nodes",
        "PartyC",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an X.500 legal name"));
}
