//! A node on PostgreSQL when the server misbehaves (needs
//! `LEDGER_SYNC_TEST_POSTGRES`; without it each test says how to enable it
//! and passes). The node reaches the server through [`Gate`], a TCP relay
//! the test opens and shuts as a server comes up, restarts or goes down.

use ledger_sync_host::store::Database;
use ledger_sync_tests::*;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SHUT: u8 = 0;
const OPEN: u8 = 1;

/// A relay between a node and the real server. Shut, it accepts each
/// connection and closes it at once (a server that is not up); open, it
/// relays bytes both ways. Shutting it cuts every relayed connection.
struct Gate {
    address: SocketAddr,
    state: Arc<AtomicU8>,
    refused: Arc<AtomicUsize>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Gate {
    fn new(server: SocketAddr) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let gate = Gate {
            address: listener.local_addr().unwrap(),
            state: Arc::new(AtomicU8::new(SHUT)),
            refused: Arc::default(),
            live: Arc::default(),
        };
        let (state, refused, live) = (gate.state.clone(), gate.refused.clone(), gate.live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if state.load(Ordering::SeqCst) == SHUT {
                    refused.fetch_add(1, Ordering::SeqCst);
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(upstream) = TcpStream::connect(server) else {
                    continue;
                };
                let mut live = live.lock().unwrap();
                live.push(client.try_clone().unwrap());
                live.push(upstream.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        gate
    }

    fn open(&self) {
        self.state.store(OPEN, Ordering::SeqCst);
    }

    /// Refuses new connections and cuts the relayed ones.
    fn shut(&self) {
        self.state.store(SHUT, Ordering::SeqCst);
        for stream in self.live.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// `url` with its host and port replaced by the gate's.
    fn url_through(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (user, rest) = rest.split_once('@').unwrap();
        let (_, path) = rest.split_once('/').unwrap();
        format!("{scheme}://{user}@{}/{path}", self.address)
    }
}

/// The test server (`LEDGER_SYNC_TEST_POSTGRES`) and a shut gate to it.
fn gated() -> Option<(Backend, Gate)> {
    let backend = Backend::postgres()?;
    let Backend::Postgres(server) = &backend else {
        unreachable!("Backend::postgres names a server")
    };
    // The server's address in a `postgresql://user@host:port/...` URL.
    let rest = server.split_once('@').unwrap().1;
    let address: SocketAddr = rest.split_once('/').unwrap().0.parse().unwrap();
    Some((backend, Gate::new(address)))
}

fn postgres_url(database: &Database) -> String {
    match database {
        Database::Postgres(url) => url.clone(),
        Database::Sqlite(_) => panic!("a PostgreSQL node"),
    }
}

/// A node whose server comes up after the node starts waits for it, then
/// starts and reconciles normally.
#[test]
fn a_node_waits_for_a_server_that_comes_up_later() {
    let Some((backend, gate)) = gated() else {
        return;
    };
    let gate = Arc::new(gate);
    let ab = shared(0, 10, A, B);
    let mut cluster = Cluster::on(backend);
    cluster.add(B, &ab);
    let mut options = cluster.options(A, &ab[..6]);
    let direct = options.storage.database().expect("a database").clone();
    options.storage = Database::Postgres(gate.url_through(&postgres_url(&direct))).into();
    // The server "comes up" once the node has knocked three times.
    let opener = gate.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let watcher = std::thread::spawn(move || {
        while opener.refused.load(Ordering::SeqCst) < 3 {
            assert!(Instant::now() < deadline, "the node did not try again");
            std::thread::sleep(Duration::from_millis(20));
        }
        opener.open();
    });
    cluster
        .net
        .add_node(options)
        .expect("the node starts once the server is up");
    watcher.join().unwrap();
    assert!(gate.refused.load(Ordering::SeqCst) >= 3);
    let row = cluster.reconcile(A, B);
    assert_status(&row, Status::DifferencesFound);
    assert_eq!(result_ids(&row), sorted((6..10).map(id).collect()));
}

/// The server restarts (every connection cut) under a running node: the
/// node makes its connections again and goes on; while the server is down
/// its writes fail, the flows still answer, the stored row stays as it
/// was, and the row is written once the server is back.
#[test]
fn a_server_restart_or_outage_under_a_running_node_loses_nothing() {
    let Some((backend, gate)) = gated() else {
        return;
    };
    gate.open();
    let ab = shared(0, 20, A, B);
    let mut cluster = Cluster::on(backend);
    cluster.add(B, &ab);
    let mut options = cluster.options(A, &ab[..10]);
    let direct = options.storage.database().expect("a database").clone();
    options.storage = Database::Postgres(gate.url_through(&postgres_url(&direct))).into();
    cluster.net.add_node(options).unwrap();
    // What A's database holds, read beside the node (not through the gate).
    let stored = || {
        ledger_sync_host::store::connect(&direct)
            .unwrap()
            .load_statuses()
            .unwrap()
    };

    // A restart: every connection cut, the server back at once.
    let first = cluster.reconcile(A, B);
    assert_status(&first, Status::DifferencesFound);
    gate.shut();
    gate.open();
    cluster.record(A, &ab[10..15]);
    let second = cluster.reconcile(A, B);
    assert_status(&second, Status::DifferencesFound);
    assert_eq!(result_ids(&second), sorted((15..20).map(id).collect()));
    assert_eq!(stored(), vec![second.clone()], "written after the restart");

    // An outage in the middle of a reconciliation: the node keeps serving;
    // what it could not write waits for the server.
    cluster.schedule(A, &[B]);
    cluster.step_until(|net| {
        stored_statuses(net, A)
            .iter()
            .any(|r| r.last_reconciliation_status == Status::InProgress)
    });
    let in_progress = stored();
    gate.shut();
    cluster.net.run_for(5_000);
    let during = cluster
        .status(A, B, true)
        .expect("the flows answer during the outage");
    assert_ne!(during.last_reconciliation_status, Status::InProgress);
    assert_eq!(stored(), in_progress, "the stored row is as it was");
    // A flow that must write is refused with the store's error.
    let refused = cluster
        .net
        .node(A)
        .schedule_reconciliation(&[B.to_string()])
        .unwrap()
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("cannot reach the PostgreSQL server"),
        "{refused}"
    );
    gate.open();
    cluster.net.run_for(120_000);
    assert_eq!(
        stored(),
        vec![during],
        "the row is written once the server is back"
    );
}
