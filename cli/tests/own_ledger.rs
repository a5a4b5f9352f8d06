//! Bringing one's own ledger to real node processes: a ledger written by
//! hand is recorded with `ledger-sync vault record` (through the admin API
//! of a running node, and directly into a stopped one), reconciled, and
//! `ledger-sync status` prints exactly the lost ids; bad input of each kind
//! is refused with its line and field and stores nothing; a node reads an
//! operator's PostgreSQL view in place, rows appended while it runs
//! included.

mod common;

use common::*;
use ledger_sync_node::client::Client;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// A transaction of the hand-written ledger.
struct Tx {
    name: &'static str,
    deps: &'static [&'static str],
    outputs: &'static [&'static [&'static str]],
    payload: Option<&'static str>,
}

/// Three parties; back-chains that pass through the notary (a third
/// party); payloads on some. A's backup holds t1–t3; t5–t8 came later.
/// t4 involves B alone, so A never held it.
const LEDGER: &[Tx] = &[
    Tx {
        name: "t1",
        deps: &[],
        outputs: &[&[NOTARY]],
        payload: Some("issued by the notary"),
    },
    Tx {
        name: "t2",
        deps: &["t1"],
        outputs: &[&[A]],
        payload: None,
    },
    Tx {
        name: "t3",
        deps: &["t2"],
        outputs: &[&[A, B]],
        payload: Some("A pays B"),
    },
    Tx {
        name: "t4",
        deps: &["t3"],
        outputs: &[&[B]],
        payload: None,
    },
    Tx {
        name: "t5",
        deps: &[],
        outputs: &[&[NOTARY]],
        payload: None,
    },
    Tx {
        name: "t6",
        deps: &["t5"],
        outputs: &[&[B, NOTARY]],
        payload: None,
    },
    Tx {
        name: "t7",
        deps: &["t6"],
        outputs: &[&[A, B], &[B]],
        payload: None,
    },
    Tx {
        name: "t8",
        deps: &["t7", "t3"],
        outputs: &[&[A, B]],
        payload: Some("A and B settle"),
    },
];

/// What A lost and B can supply: t7 and t8 involve A; t6 and t5 are t7's
/// back-chain.
const LOST: [&str; 4] = ["t5", "t6", "t7", "t8"];

fn id(name: &str) -> String {
    hex::encode_upper(Sha256::digest(name.as_bytes()))
}

/// The ledger-file line of a transaction, spelt loosely as a person
/// writing JSON would (lower-case ids, names spaced differently).
fn line(t: &Tx) -> String {
    let deps: Vec<String> = t.deps.iter().map(|d| id(d).to_lowercase()).collect();
    let outputs: Vec<Vec<String>> = t
        .outputs
        .iter()
        .map(|o| o.iter().map(|n| n.replace(", ", ",")).collect())
        .collect();
    let mut object = serde_json::json!({ "id": id(t.name).to_lowercase(), "outputs": outputs });
    if !deps.is_empty() {
        object["dependencies"] = serde_json::json!(deps);
    }
    if let Some(p) = t.payload {
        use base64::Engine;
        object["payload"] = base64::engine::general_purpose::STANDARD.encode(p).into();
    }
    object.to_string()
}

fn ledger_file(dir: &Path, name: &str, names: &[&str]) -> std::path::PathBuf {
    let path = dir.join(name);
    let text: Vec<String> = LEDGER
        .iter()
        .filter(|t| names.contains(&t.name))
        .map(line)
        .collect();
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path
}

fn cli(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ledger-sync"))
        .args(args)
        .output()
        .expect("run ledger-sync")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn record(node: &Path, file: &Path) -> Output {
    cli(&[
        "vault",
        "record",
        "--node",
        node.to_str().unwrap(),
        file.to_str().unwrap(),
    ])
}

/// The ids of a node's vault, from `vault export`.
fn exported(node: &Path) -> Vec<serde_json::Value> {
    let out = cli(&["vault", "export", "--node", node.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn schedule(a: &Client, party: &str) {
    let answer = a
        .call(&format!(
            "flow start ScheduleReconciliationFlow parties: [\"{party}\"]"
        ))
        .unwrap();
    assert!(answer.ok(), "{}", answer.text);
}

/// `ledger-sync status --party B` on A: the ids, one per line.
fn found_by(a: &Path) -> BTreeSet<String> {
    let out = cli(&["status", "--node", a.to_str().unwrap(), "--party", B]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until A's reconciliation with B has ended after `before` ended
/// ones; returns the row's text.
fn wait_for_a_new_end(a: &Client, before: &str) -> String {
    poll(Duration::from_secs(60), "the reconciliation to end", || {
        let answer = a.call(&status_line(B)).ok()?;
        (answer.ok()
            && answer.text != before
            && answer.text.contains("ReconciliationStatus(")
            && !answer.text.contains("lastReconciliationStatus=IN_PROGRESS"))
        .then_some(answer.text)
    })
}

#[test]
fn a_hand_written_ledger_recorded_into_running_nodes_reconciles_to_exactly_the_lost_ids() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = empty_network(dir.path());
    let (a_dir, b_dir) = (&dirs[0], &dirs[1]);
    let _a = NodeProcess::start(a_dir);
    let _b = NodeProcess::start(b_dir);
    let a = Client::for_node(a_dir).unwrap();
    wait_up(&a);
    wait_up(&Client::for_node(b_dir).unwrap());
    // B holds everything; A's backup lacks its newest transactions.
    let every: Vec<&str> = LEDGER.iter().map(|t| t.name).collect();
    let b_file = ledger_file(dir.path(), "b.jsonl", &every);
    let a_file = ledger_file(dir.path(), "a.jsonl", &["t1", "t2", "t3"]);
    for (node, file, new) in [(b_dir, &b_file, 8), (a_dir, &a_file, 3)] {
        let out = record(node, file);
        let said = text(&out);
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains(&format!(
                "recorded {new} new transactions (0 already recorded)"
            )) && said.contains("through the running node's admin API"),
            "{said}"
        );
    }
    // The same file again is a no-op.
    let again = text(&record(b_dir, &b_file));
    assert!(
        again.contains("recorded 0 new transactions (8 already recorded)"),
        "{again}"
    );

    // The graph follows what was recorded without a restart.
    schedule(&a, B);
    let done = wait_for_a_new_end(&a, "");
    assert!(
        done.contains("lastReconciliationStatus=DIFFERENCES_FOUND"),
        "{done}"
    );
    let expected: BTreeSet<String> = LOST.iter().map(|n| id(n)).collect();
    assert_eq!(
        found_by(a_dir),
        expected,
        "status prints exactly the lost ids"
    );
    let json = cli(&["status", "--node", a_dir.to_str().unwrap(), "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["partyName"], B);
    assert_eq!(
        rows[0]["lastSuccessfulReconciliationStatus"],
        "DIFFERENCES_FOUND"
    );
    let from_json: BTreeSet<String> = rows[0]["lastSuccessfulReconciliationResult"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(from_json, expected);

    // B's vault comes back out as recorded: canonical names, upper-case
    // ids, payloads kept.
    let b_vault = exported(b_dir);
    assert_eq!(b_vault.len(), 8);
    assert_eq!(b_vault[7]["id"], id("t8"));
    assert_eq!(b_vault[7]["outputs"], serde_json::json!([[A, B]]));
    assert_eq!(b_vault[7]["payload"], "QSBhbmQgQiBzZXR0bGU=");
    assert!(b_vault[1].get("payload").is_none());

    // Recording what A lost (as recovery will) closes the gap.
    let rest = ledger_file(dir.path(), "rest.jsonl", &LOST);
    let out = record(a_dir, &rest);
    assert!(out.status.success(), "{}", text(&out));
    schedule(&a, B);
    let again = wait_for_a_new_end(&a, &done);
    assert!(
        again.contains("lastReconciliationStatus=DIFFERENCES_NOT_FOUND"),
        "{again}"
    );
    assert!(found_by(a_dir).is_empty());
}

/// Every kind of bad input, through the admin API of a running node and
/// directly into a stopped one: refused with its line and field, exit 1,
/// nothing stored.
#[test]
fn bad_input_is_refused_with_its_line_and_field_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = empty_network(dir.path());
    let (a_dir, b_dir) = (&dirs[0], &dirs[1]);
    for node in [a_dir, b_dir] {
        edit_conf(node, |c| c.max_payload_bytes = Some(64));
    }
    let first = ledger_file(dir.path(), "first.jsonl", &["t1", "t2"]);
    let good = line(&LEDGER[2]);
    let t3 = id("t3");
    let conflict = format!(
        "transaction {} is already recorded with other outputs",
        id("t2")
    );
    let cases: Vec<(String, &str)> = vec![
        ("{\"id\": ".into(), "line 2: is not JSON"),
        (
            good.replace("\"outputs\"", "\"participants\""),
            "line 2: `participants`: is not a field of a transaction; the fields are `id`, `dependencies`, `outputs` and `payload`",
        ),
        (
            good.replace(&t3.to_lowercase(), "not-an-id"),
            "line 2: `id`: `not-an-id` is not a transaction id: give 64 hex digits",
        ),
        (
            good.replace(&id("t2").to_lowercase(), "12ab"),
            "line 2: `dependencies[0]`: `12ab` is not a transaction id",
        ),
        (
            good.replace("O=PartyB,L=London,C=GB", "PartyB"),
            "line 2: `outputs[0][1]`: `PartyB` is not an X.500 legal name",
        ),
        (
            good.replace("O=PartyB,L=London,C=GB", "O=PartyB,L=London,C=XX"),
            "line 2: `outputs[0][1]`: `O=PartyB,L=London,C=XX`: C=XX is not an ISO 3166-1 alpha-2 country code",
        ),
        (
            good.replace("QSBwYXlzIEI=", "not base64!"),
            "line 2: `payload`: is not base64",
        ),
        (
            good.replace("QSBwYXlzIEI=", &"QUFB".repeat(30)),
            "line 2: `payload`: holds about 90 bytes, more than the 64 a payload may have here",
        ),
        // t2 again with other outputs: ids are immutable.
        (
            line(&Tx {
                name: "t2",
                deps: &["t1"],
                outputs: &[&[B]],
                payload: None,
            }),
            &conflict,
        ),
    ];
    let bad_file = dir.path().join("bad.jsonl");
    let check = |node: &Path, how: &str| {
        for (bad, expected) in &cases {
            // A good line, then the bad one: the batch holds both.
            std::fs::write(&bad_file, format!("{}\n{bad}\n", line(&LEDGER[3]))).unwrap();
            let out = record(node, &bad_file);
            let said = text(&out);
            assert_eq!(out.status.code(), Some(1), "{how}: {said}");
            assert!(
                said.contains(expected),
                "{how}: expected `{expected}` in\n{said}"
            );
            assert!(
                said.contains("line 2") && said.contains("nothing of that batch"),
                "{how}: {said}"
            );
        }
    };
    // B stopped: recorded directly, under the node's lock.
    let out = record(b_dir, &first);
    assert!(
        text(&out).contains("directly: the node is not running"),
        "{}",
        text(&out)
    );
    check(b_dir, "stopped");
    assert_eq!(
        exported(b_dir).len(),
        2,
        "nothing of a refused batch is stored"
    );
    // A running: through its admin API.
    let _a = NodeProcess::start(a_dir);
    let a = Client::for_node(a_dir).unwrap();
    wait_up(&a);
    let out = record(a_dir, &first);
    assert!(text(&out).contains("admin API"), "{}", text(&out));
    check(a_dir, "running");
    assert_eq!(
        exported(a_dir).len(),
        2,
        "nothing of a refused batch is stored"
    );

    // Recording needs RecordTransactions or ALL; a user without it, or no
    // user at all, is refused and nothing is stored.
    let config = ledger_sync_node::config::NodeConfig::load(a_dir).unwrap();
    let body = format!("{}\n", line(&LEDGER[2]));
    let stranger = Client::new(config.admin_address, "nobody", "wrong");
    assert_eq!(
        stranger
            .post("/vault/record", "application/x-ndjson", body.as_bytes())
            .unwrap()
            .status,
        401
    );
    let user = &config.rpc_users[0];
    drop(_a);
    edit_conf(a_dir, |c| {
        c.rpc_users.push(ledger_sync_node::config::RpcUser {
            username: "reader".into(),
            password: "reader-password".into(),
            permissions: vec!["StartFlow.GetReconciliationStatusesFlow".into()],
        })
    });
    let _a = NodeProcess::start(a_dir);
    wait_up(&a);
    let reader = Client::new(config.admin_address, "reader", "reader-password");
    let refused = reader
        .post("/vault/record", "application/x-ndjson", body.as_bytes())
        .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(
        refused
            .text
            .contains("needs the permission RecordTransactions or ALL"),
        "{}",
        refused.text
    );
    let admin = Client::new(config.admin_address, &user.username, &user.password);
    let accepted = admin
        .post("/vault/record", "application/x-ndjson", body.as_bytes())
        .unwrap();
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(exported(a_dir).len(), 3);
}

/// The operator's own ledger, shaped their way: transactions, their
/// inputs and their holders in three tables, ids as hex text.
fn operator_schema(url: &str, schema: &str) -> postgres::Client {
    let mut db = postgres::Client::connect(url, postgres::NoTls).unwrap();
    db.batch_execute(&format!(
        "CREATE TABLE {schema}.ledger_tx (tx_no bigserial PRIMARY KEY, hash text NOT NULL UNIQUE, \
             body bytea, recorded_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE {schema}.ledger_input (tx_no bigint NOT NULL REFERENCES {schema}.ledger_tx, \
             parent_hash text NOT NULL);
         CREATE TABLE {schema}.ledger_holder (tx_no bigint NOT NULL REFERENCES {schema}.ledger_tx, \
             output_index int NOT NULL, holder text NOT NULL);
         CREATE INDEX ON {schema}.ledger_tx (decode(hash, 'hex'));
         CREATE VIEW {schema}.ledger_sync_vault AS
         SELECT t.tx_no AS seq,
                decode(t.hash, 'hex') AS tx_id,
                ARRAY(SELECT decode(i.parent_hash, 'hex') FROM {schema}.ledger_input i
                      WHERE i.tx_no = t.tx_no) AS dependencies,
                coalesce((SELECT jsonb_agg(o.holders ORDER BY o.output_index)
                          FROM (SELECT output_index, jsonb_agg(holder) AS holders
                                FROM {schema}.ledger_holder h WHERE h.tx_no = t.tx_no
                                GROUP BY output_index) o), '[]'::jsonb) AS outputs,
                t.body AS payload
         FROM {schema}.ledger_tx t;"
    ))
    .unwrap();
    db
}

/// Appends transactions to the operator's tables, each in one database
/// transaction, as their ledger would.
fn operator_appends(db: &mut postgres::Client, schema: &str, names: &[&str]) {
    for t in LEDGER.iter().filter(|t| names.contains(&t.name)) {
        let mut tx = db.transaction().unwrap();
        let body = t.payload.map(|p| p.as_bytes().to_vec());
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO {schema}.ledger_tx (hash, body) VALUES ($1, $2) RETURNING tx_no"
                ),
                &[&id(t.name).to_lowercase(), &body],
            )
            .unwrap();
        let no: i64 = row.get(0);
        for d in t.deps {
            tx.execute(
                &format!("INSERT INTO {schema}.ledger_input VALUES ($1, $2)"),
                &[&no, &id(d)],
            )
            .unwrap();
        }
        for (i, holders) in t.outputs.iter().enumerate() {
            for h in *holders {
                tx.execute(
                    &format!("INSERT INTO {schema}.ledger_holder VALUES ($1, $2, $3)"),
                    &[&no, &(i as i32), &h.replace(", ", ",")],
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
}

/// A node reads its vault in place from a view over an operator's own,
/// differently shaped tables: it reconciles on what the view shows, sees
/// rows appended while it runs, exports the view, refuses to record into
/// it, and writes nothing there.
#[test]
fn a_node_reads_its_vault_in_place_from_a_postgresql_view() {
    let Some(ledger_sync_sim::testkit::Backend::Postgres(server)) =
        ledger_sync_sim::testkit::Backend::postgres()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dirs = empty_network(dir.path());
    let (a_dir, b_dir) = (&dirs[0], &dirs[1]);
    let every: Vec<&str> = LEDGER.iter().map(|t| t.name).collect();
    let out = record(b_dir, &ledger_file(dir.path(), "b.jsonl", &every));
    assert!(out.status.success(), "{}", text(&out));

    let node_url = ledger_sync_sim::testkit::fresh_postgres_schema(&server, "viewnode").unwrap();
    let ledger_url = ledger_sync_sim::testkit::fresh_postgres_schema(&server, "acme").unwrap();
    let schema = ledger_url
        .rsplit("search_path%3D")
        .next()
        .unwrap()
        .to_string();
    let mut ledger = operator_schema(&server, &schema);
    operator_appends(&mut ledger, &schema, &["t1", "t2", "t3"]);

    // A view without the columns the node needs stops it at start.
    ledger
        .batch_execute(&format!(
            "CREATE VIEW {schema}.wrong AS SELECT tx_no AS seq, hash AS tx_id FROM {schema}.ledger_tx"
        ))
        .unwrap();
    edit_conf(a_dir, |c| {
        c.database = node_url.clone();
        c.vault_view = Some(format!("{schema}.wrong"));
    });
    let refused = refused_start(a_dir);
    assert!(
        refused.contains(&format!(
            "vaultView {schema}.wrong: column `tx_id` is text; it must be bytea"
        )),
        "{refused}"
    );
    edit_conf(a_dir, |c| {
        c.vault_view = Some(format!("{schema}.ledger_sync_vault"))
    });

    let _a = NodeProcess::start(a_dir);
    let _b = NodeProcess::start(b_dir);
    let a = Client::for_node(a_dir).unwrap();
    wait_up(&a);
    schedule(&a, B);
    let done = wait_for_a_new_end(&a, "");
    assert!(
        done.contains("lastReconciliationStatus=DIFFERENCES_FOUND"),
        "{done}"
    );
    let expected: BTreeSet<String> = LOST.iter().map(|n| id(n)).collect();
    assert_eq!(found_by(a_dir), expected);

    // Recording goes into the operator's own tables, not through us.
    let refused = record(a_dir, &ledger_file(dir.path(), "rest.jsonl", &LOST));
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains(&format!(
            "reads its vault in place from vaultView {schema}.ledger_sync_vault"
        )),
        "{}",
        text(&refused)
    );
    // The view exports like any vault: canonical names, payloads.
    let vault = exported(a_dir);
    assert_eq!(vault.len(), 3);
    assert_eq!(vault[2]["outputs"], serde_json::json!([[A, B]]));
    assert_eq!(vault[2]["payload"], "QSBwYXlzIEI=");

    // The operator's ledger grows while the node runs.
    operator_appends(&mut ledger, &schema, &LOST);
    schedule(&a, B);
    let again = wait_for_a_new_end(&a, &done);
    assert!(
        again.contains("lastReconciliationStatus=DIFFERENCES_NOT_FOUND"),
        "{again}"
    );
    let rows: i64 = ledger
        .query_one(&format!("SELECT count(*) FROM {schema}.ledger_tx"), &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 7, "the node wrote nothing into the operator's tables");
    drop(_a);
    drop(_b);
    ledger_sync_sim::testkit::drop_postgres_schema(&node_url);
    ledger_sync_sim::testkit::drop_postgres_schema(&ledger_url);
}

/// A large file shows its progress on a terminal (`script` gives
/// `vault record` one), and none when its output is a pipe.
#[test]
fn a_large_file_shows_its_progress_on_a_terminal_only() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let dirs = empty_network(dir.path());
    let file = dir.path().join("large.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for n in 0..300_000u32 {
        let id = hex::encode_upper(Sha256::digest(n.to_le_bytes()));
        writeln!(out, r#"{{"id":"{id}","outputs":[["{A}"]]}}"#).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let command = format!(
        "{} vault record --node {} {}",
        env!("CARGO_BIN_EXE_ledger-sync"),
        dirs[0].display(),
        file.display()
    );
    let terminal = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script(1) from util-linux gives vault record a terminal");
    let screen = String::from_utf8_lossy(&terminal.stdout);
    assert!(terminal.status.success(), "{screen}");
    assert!(
        screen.contains(" transactions, ") && screen.contains(" MiB of ") && screen.contains("%"),
        "no progress on the terminal: {screen}"
    );
    assert!(
        screen.contains("recorded 300000 new transactions"),
        "{screen}"
    );
    // Again, into the other node, through a pipe: the summary only.
    let piped = record(&dirs[1], &file);
    let said = text(&piped);
    assert!(piped.status.success(), "{said}");
    assert!(!said.contains(" MiB of "), "progress in a pipe: {said}");
}

/// `n` native merkle-v1 transactions between A and B, each spending the
/// one before: their bytes, and their ids as the ledger's rules give them.
fn merkle_chain(n: usize) -> Vec<(Vec<u8>, String)> {
    use ledger_sync_adapter_merkle::format::{self, Output, StateRef, Transaction};
    let mut out: Vec<(Vec<u8>, String)> = Vec::new();
    for k in 0..n {
        let tx = Transaction {
            inputs: out
                .last()
                .map(|(bytes, _)| StateRef {
                    tx: format::id(bytes).unwrap(),
                    index: 0,
                })
                .into_iter()
                .collect(),
            outputs: vec![Output {
                participants: vec![A.to_string(), B.to_string()],
                data: format!("{k} GBP").into_bytes(),
            }],
            references: vec![],
            commands: vec![b"Move".to_vec()],
            signatures: vec![],
        };
        let bytes = format::encode(&tx);
        let id = hex::encode_upper(format::id(&bytes).unwrap());
        out.push((bytes, id));
    }
    out
}

fn native_file(dir: &Path, name: &str, txs: &[(Vec<u8>, String)]) -> std::path::PathBuf {
    use base64::Engine;
    let path = dir.join(name);
    let lines: String = txs
        .iter()
        .map(|(bytes, _)| base64::engine::general_purpose::STANDARD.encode(bytes) + "\n")
        .collect();
    std::fs::write(&path, lines).unwrap();
    path
}

fn record_native(node: &Path, adapter: &str, file: &Path) -> Output {
    let (node, file) = (node.to_str().unwrap(), file.to_str().unwrap());
    cli(&[
        "vault",
        "record",
        "--node",
        node,
        "--adapter",
        adapter,
        file,
    ])
}

/// The done-when test of the ledger adapter: a ledger in its own format
/// (merkle-v1), recorded through the adapter into two nodes — A's backup
/// lacks the last five — reconciles to exactly those five, by the ids the
/// ledger's own rules give them.
#[test]
fn a_native_ledger_recorded_through_its_adapter_reconciles_to_the_lost_ids() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = empty_network(dir.path());
    let (a_dir, b_dir) = (&dirs[0], &dirs[1]);
    for node in [a_dir, b_dir] {
        std::fs::create_dir_all(node.join("adapters")).unwrap();
        std::fs::copy(
            ledger_sync_components::MERKLE_ADAPTER,
            node.join("adapters/merkle.wasm"),
        )
        .unwrap();
    }
    let ledger = merkle_chain(30);
    let b_file = native_file(dir.path(), "b.native", &ledger);
    let a_file = native_file(dir.path(), "a.native", &ledger[..25]);
    for (node, file, new) in [(b_dir, &b_file, 30), (a_dir, &a_file, 25)] {
        let out = record_native(node, "merkle", file);
        let said = text(&out);
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains(&format!("recorded {new} new transactions")),
            "{said}"
        );
    }
    // A line the adapter cannot read: its line and the adapter's reason,
    // and nothing of the batch recorded.
    let mut bad = ledger[25..27].to_vec();
    bad[1].0.truncate(7);
    let bad_file = native_file(dir.path(), "bad.native", &bad);
    let out = record_native(a_dir, "merkle", &bad_file);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("line 2: the ledger adapter merkle refused the transaction")
            && said.contains("nothing of that batch"),
        "{said}"
    );
    let missing = record_native(a_dir, "corda", &bad_file);
    assert!(
        text(&missing).contains("adapters/corda.wasm does not exist"),
        "{}",
        text(&missing)
    );

    let _a = NodeProcess::start(a_dir);
    let _b = NodeProcess::start(b_dir);
    let a = Client::for_node(a_dir).unwrap();
    wait_up(&a);
    wait_up(&Client::for_node(b_dir).unwrap());
    schedule(&a, B);
    let done = wait_for_a_new_end(&a, "");
    assert!(
        done.contains("lastReconciliationStatus=DIFFERENCES_FOUND"),
        "{done}"
    );
    let lost: BTreeSet<String> = ledger[25..].iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(found_by(a_dir), lost);
}

/// A batch trickled into `POST /vault/record` (an rpcUser's headers, a
/// few bytes, then silence) is dropped with 408 once it falls behind the
/// slowest rate a batch may arrive at, and holds no other recording back:
/// an operator's `vault record` meanwhile completes. (Round 4: the
/// recording turn was taken before the body was read, and a slow body kept
/// every other recording waiting for as long as it liked.)
#[test]
fn a_trickled_batch_is_dropped_and_holds_no_other_recording_back() {
    use base64::Engine;
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let dirs = empty_network(dir.path());
    let a_dir = dirs[0].clone();
    let _a = NodeProcess::start(&a_dir);
    wait_up(&Client::for_node(&a_dir).unwrap());
    let config = ledger_sync_node::config::NodeConfig::load(&a_dir).unwrap();
    let user = &config.rpc_users[0];
    let credentials = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", user.username, user.password));
    let mut slow = std::net::TcpStream::connect(config.admin_address).unwrap();
    write!(
        slow,
        "POST /vault/record HTTP/1.1\r\nHost: node\r\nAuthorization: Basic {credentials}\r\n\
         Content-Length: 1000000\r\n\r\n{{\"ledger\": "
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let answer = std::thread::spawn(move || {
        let mut answer = vec![0u8; 4096];
        let n = slow.read(&mut answer).unwrap_or(0);
        String::from_utf8_lossy(&answer[..n]).to_string()
    });
    // The slow batch holds the turn now; an honest recording waits for it.
    let file = ledger_file(dir.path(), "a.jsonl", &["t1", "t2", "t3"]);
    let honest = std::thread::spawn({
        let a_dir = a_dir.clone();
        move || record(&a_dir, &file)
    });
    poll(Duration::from_secs(90), "the honest recording", || {
        honest.is_finished().then_some(())
    });
    let out = honest.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("recorded 3 new transactions"),
        "{}",
        text(&out)
    );
    let answer = answer.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("arrived too slowly"),
        "{answer}"
    );
    assert!(NodeProcess::log(&a_dir).contains("arrived too slowly"));
}
