//! An operator's PostgreSQL ledger, read in place: a node whose node.conf
//! names a `vaultView` reads its vault from that view (or table) of its
//! `database`, which the operator defines over their own schema. Nothing
//! is copied and nothing is written there: every connection to it is
//! read-only.
//!
//! The view's columns (README, "An existing PostgreSQL ledger"):
//!
//! | column | type | |
//! | --- | --- | --- |
//! | `seq` | `bigint` (or `integer`) | the cursor: unique, and a row committed later has a larger one |
//! | `tx_id` | `bytea`, 32 bytes | the transaction id |
//! | `dependencies` | `bytea[]`, 32 bytes each; NULL for none | ids of the transactions whose outputs it consumes or references |
//! | `outputs` | `jsonb` (or `json`) | one array per output state of its participants' legal names |
//! | `payload` | `bytea`, optional column | the transaction's bytes, for `vault export` and recovery |
//!
//! Party handles are this process's: names are given handles as pages
//! are read (the plugin catches its graph up before it looks a party up,
//! so every party of the graph has one), shared by every reader. An export
//! reads names and gives no handles.

use super::vault::push_row;
use super::{VaultTransaction, redact};
use crate::capabilities::LedgerVault;
use anyhow::{Context, Result, bail};
use ledger_sync_vocabulary::id::{TX_ID_LEN, TxId};
use ledger_sync_vocabulary::page::TransactionPage;
use ledger_sync_vocabulary::x500::LegalName;
use postgres::Client;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

/// A view's name as node.conf gives it: `schema.name` or `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewName {
    pub schema: Option<String>,
    pub name: String,
}

impl ViewName {
    /// Parses `schema.name`: lower-case SQL identifiers (as PostgreSQL
    /// spells unquoted names in its catalog).
    pub fn parse(text: &str) -> Result<ViewName, String> {
        let identifier = |part: &str| {
            let mut chars = part.chars();
            part.len() <= 63
                && chars
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let parts: Vec<&str> = text.split('.').collect();
        let ok = matches!(parts.len(), 1 | 2) && parts.iter().all(|p| identifier(p));
        if !ok {
            return Err(format!(
                "`{}` is not accepted: give the view as schema.name (or name), lower-case \
                 letters, digits and `_`, at most 63 characters each — the spelling PostgreSQL's \
                 catalog gives an unquoted name",
                text.escape_debug()
            ));
        }
        Ok(match parts[..] {
            [name] => ViewName {
                schema: None,
                name: name.to_string(),
            },
            [schema, name] => ViewName {
                schema: Some(schema.to_string()),
                name: name.to_string(),
            },
            _ => unreachable!("checked above"),
        })
    }

    /// The name quoted for SQL.
    fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".\"{}\"", self.name),
            None => format!("\"{}\"", self.name),
        }
    }
}

impl fmt::Display for ViewName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Names given handles, in the order first read.
#[derive(Default)]
struct PartyBook {
    handles: HashMap<String, u32>,
    names: Vec<String>,
    /// Spellings already read, to their canonical name.
    spellings: HashMap<String, String>,
}

impl PartyBook {
    /// The canonical spelling of a legal name as the view spells it.
    fn canonical(&mut self, spelling: &str) -> Result<String, String> {
        if let Some(name) = self.spellings.get(spelling) {
            return Ok(name.clone());
        }
        let name = LegalName::parse(spelling)?.to_string();
        self.spellings.insert(spelling.to_string(), name.clone());
        Ok(name)
    }

    /// The handle of a canonical name, giving a new name the next one.
    fn handle(&mut self, name: String) -> u32 {
        if let Some(h) = self.handles.get(&name) {
            return *h;
        }
        self.names.push(name.clone());
        let h = self.names.len() as u32;
        self.handles.insert(name, h);
        h
    }
}

/// The vault in an operator's view.
pub struct ViewVault {
    url: String,
    view: ViewName,
    /// `SELECT … FROM view` with the optional payload column or NULL.
    payload_column: &'static str,
    idle: Mutex<Vec<Client>>,
    parties: Mutex<PartyBook>,
}

/// How long opening the vault waits for the server.
const CONNECT_WAIT: Duration = Duration::from_secs(30);
/// Idle connections kept for reuse.
const IDLE: usize = 72;

impl ViewVault {
    /// Connects to `url` and checks that `view` has the documented columns.
    pub fn open(url: &str, view: ViewName) -> Result<ViewVault> {
        let mut client = read_only(url)?;
        let columns: HashMap<String, (String, String)> = client
            .query(
                "SELECT column_name::text, data_type::text, udt_name::text \
                 FROM information_schema.columns \
                 WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2",
                &[&view.schema, &view.name],
            )
            .with_context(|| format!("reading the columns of vaultView {view}"))?
            .into_iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        if columns.is_empty() {
            bail!(
                "vaultView {view}: no such view or table in {} (as its user sees it); create it \
                 over your ledger with the columns seq, tx_id, dependencies and outputs (see the \
                 README, \"An existing PostgreSQL ledger\")",
                redact(url)
            );
        }
        let expect = |column: &str, accepted: &[&str], what: &str| -> Result<()> {
            match columns.get(column) {
                None => bail!("vaultView {view} has no column `{column}`; it needs {what}"),
                Some((_, udt)) if !accepted.contains(&udt.as_str()) => {
                    bail!("vaultView {view}: column `{column}` is {udt}; it must be {what}")
                }
                Some(_) => Ok(()),
            }
        };
        expect(
            "seq",
            &["int8", "int4"],
            "a bigint, increasing in commit order",
        )?;
        expect("tx_id", &["bytea"], "bytea, the 32-byte transaction id")?;
        expect(
            "dependencies",
            &["_bytea"],
            "bytea[], the 32-byte ids of the transactions it depends on",
        )?;
        expect(
            "outputs",
            &["jsonb", "json"],
            "jsonb, one array of participants' legal names per output state",
        )?;
        let payload_column = match columns.get("payload") {
            None => "NULL::bytea",
            Some(_) => {
                expect("payload", &["bytea"], "bytea, the transaction's bytes")?;
                "payload"
            }
        };
        Ok(ViewVault {
            url: url.to_string(),
            view,
            payload_column,
            idle: Mutex::new(vec![client]),
            parties: Mutex::new(PartyBook::default()),
        })
    }

    fn with<T>(&self, op: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let taken = self.idle.lock().expect("idle connections").pop();
        let mut client = match taken {
            Some(client) if !client.is_closed() => client,
            _ => read_only(&self.url)?,
        };
        let result = op(&mut client);
        if !client.is_closed() {
            let mut idle = self.idle.lock().expect("idle connections");
            if idle.len() < IDLE {
                idle.push(client);
            }
        }
        result.with_context(|| format!("reading vaultView {}", self.view))
    }

    fn select(&self, payload: bool) -> String {
        format!(
            "SELECT seq::bigint, tx_id, dependencies, outputs::text{} FROM {} \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
            if payload {
                format!(", {}", self.payload_column)
            } else {
                String::new()
            },
            self.view.quoted()
        )
    }

    /// A row's outputs: each state's participants, by canonical name.
    fn outputs(&self, seq: i64, json: &str) -> Result<Vec<Vec<String>>> {
        let states: Vec<Vec<String>> = serde_json::from_str(json).with_context(|| {
            format!(
                "vaultView {} row seq {seq}: `outputs` is not an array of arrays of legal names",
                self.view
            )
        })?;
        let mut book = self.parties.lock().expect("party book");
        states
            .iter()
            .enumerate()
            .map(|(i, state)| {
                state
                    .iter()
                    .enumerate()
                    .map(|(j, name)| {
                        book.canonical(name).map_err(|e| {
                            anyhow::anyhow!(
                                "vaultView {} row seq {seq}: outputs[{i}][{j}]: {e}",
                                self.view
                            )
                        })
                    })
                    .collect()
            })
            .collect()
    }

    /// At most `limit` whole transactions after `after` (parties by name),
    /// and the cursor of the last: `vault export`'s read.
    pub fn read_records(&self, after: u64, limit: u32) -> Result<(Vec<VaultTransaction>, u64)> {
        let sql = self.select(true);
        let rows = self.with(|c| Ok(c.query(&sql, &[&cursor(after), &(limit as i64)])?))?;
        let mut txs = Vec::with_capacity(rows.len());
        let mut last = after;
        for row in rows {
            let seq: i64 = row.get(0);
            txs.push(VaultTransaction {
                id: id_of(seq, row.get(1))?,
                dependencies: dependencies(seq, row.get(2))?,
                outputs: self.outputs(seq, row.get(3))?,
                payload: row.get(4),
            });
            last = seq as u64;
        }
        Ok((txs, last))
    }

    /// How many rows the view has.
    pub fn count(&self) -> Result<u64> {
        let sql = format!("SELECT count(*) FROM {}", self.view.quoted());
        self.with(|c| Ok(c.query_one(&sql, &[])?.get::<_, i64>(0) as u64))
    }
}

fn cursor(after: u64) -> i64 {
    after.min(i64::MAX as u64) as i64
}

fn id_of(seq: i64, id: &[u8]) -> Result<TxId> {
    TxId::try_from(id).map_err(|_| {
        anyhow::anyhow!(
            "row seq {seq}: `tx_id` has {} bytes; a transaction id has 32",
            id.len()
        )
    })
}

fn dependencies(seq: i64, deps: Option<Vec<Option<&[u8]>>>) -> Result<Vec<TxId>> {
    deps.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, d)| match d {
            Some(d) if d.len() == TX_ID_LEN => Ok(d.try_into().expect("32 bytes")),
            _ => bail!("row seq {seq}: dependencies[{i}] is not a 32-byte transaction id"),
        })
        .collect()
}

/// A connection whose transactions are all read-only.
fn read_only(url: &str) -> Result<Client> {
    let mut client = super::postgres::PostgresStore::connect_plain(url, CONNECT_WAIT)?;
    client
        .batch_execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        .context("making the vault connection read-only")?;
    Ok(client)
}

impl LedgerVault for ViewVault {
    fn read_page(&self, after: u64, limit: u32) -> Result<TransactionPage> {
        let sql = self.select(false);
        let rows = self.with(|c| Ok(c.query(&sql, &[&cursor(after), &(limit as i64)])?))?;
        let mut page = TransactionPage::empty(after);
        let (mut deps, mut blob) = (Vec::new(), super::vault::OutputsBlob::default());
        for row in rows {
            let seq: i64 = row.get(0);
            if seq <= 0 || (seq as u64) <= page.cursor {
                bail!(
                    "vaultView {}: row seq {seq} is not after {}; `seq` must be positive and \
                     unique",
                    self.view,
                    page.cursor
                );
            }
            let id = id_of(seq, row.get(1))?;
            deps.clear();
            for d in dependencies(seq, row.get(2))? {
                deps.extend_from_slice(&d);
            }
            blob.clear();
            let states = self.outputs(seq, row.get(3))?;
            let mut book = self.parties.lock().expect("party book");
            for state in states {
                let handles: Vec<u32> = state.into_iter().map(|n| book.handle(n)).collect();
                blob.push_output(&handles);
            }
            push_row(&mut page, seq, &id, &deps, blob.as_bytes())?;
        }
        Ok(page)
    }

    fn transaction_bytes(&self, ids: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
        super::vault::check_ids(ids)?;
        let wanted: Vec<&[u8]> = ids.chunks_exact(TX_ID_LEN).collect();
        let sql = format!(
            "SELECT tx_id, {} FROM {} WHERE tx_id = ANY($1)",
            self.payload_column,
            self.view.quoted()
        );
        let mut found: HashMap<Vec<u8>, Option<Vec<u8>>> = HashMap::new();
        for chunk in wanted.chunks(10_000) {
            let rows = self.with(|c| Ok(c.query(&sql, &[&chunk])?))?;
            found.extend(rows.into_iter().map(|r| (r.get(0), r.get(1))));
        }
        Ok(wanted
            .iter()
            .map(|id| found.get(*id).cloned().flatten())
            .collect())
    }

    fn contains(&self, ids: &[u8]) -> Result<Vec<bool>> {
        super::vault::check_ids(ids)?;
        let wanted: Vec<&[u8]> = ids.chunks_exact(TX_ID_LEN).collect();
        let sql = format!(
            "SELECT tx_id FROM {} WHERE tx_id = ANY($1)",
            self.view.quoted()
        );
        let mut found: HashSet<Vec<u8>> = HashSet::new();
        for chunk in wanted.chunks(10_000) {
            let rows = self.with(|c| Ok(c.query(&sql, &[&chunk])?))?;
            found.extend(rows.into_iter().map(|r| r.get::<_, Vec<u8>>(0)));
        }
        Ok(wanted.iter().map(|id| found.contains(*id)).collect())
    }

    fn find_party(&self, name: &str) -> Result<Option<u32>> {
        let book = self.parties.lock().expect("party book");
        let canonical = LegalName::parse(name)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| name.to_string());
        Ok(book.handles.get(&canonical).copied())
    }

    fn party_names(&self, handles: &[u32]) -> Result<Vec<String>> {
        let book = self.parties.lock().expect("party book");
        handles
            .iter()
            .map(|&h| {
                book.names
                    .get((h as usize).wrapping_sub(1))
                    .cloned()
                    .with_context(|| format!("no party has handle {h}"))
            })
            .collect()
    }
}
