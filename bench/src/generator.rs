//! Vaults at the seed's scale, written straight into SQLite for benchmarks.
//!
//! The seed's sizing profile: 100,000 parties; every transaction has three
//! output states with 2, 3 and 3 participants; transactions consume outputs
//! of earlier ones, so back-chains run deep. Here the first output's two
//! participants are always the pair being benchmarked (party 0 and party 1),
//! so their reconciliation set is the whole vault, and the other six are
//! drawn from all 100,000. Each transaction consumes one earlier output
//! (two, one time in five) from the last few thousand transactions; the first
//! few are issuances. Deterministic by seed.
//!
//! The cycle profile ([`crate::cycle`]) is the same ledger seen from one
//! node with many counterparties: party 0 is still in every transaction, but
//! the first output's second participant is drawn from parties
//! `1..=counterparties` (with one counterparty, the pair's profile exactly).
//!
//! A backup is a prefix: [`VaultWriter::extend_to`] appends transactions in
//! order, so the requester of a benchmark holds the first `n - d` and the
//! responder all `n`.

use anyhow::{Context, Result};
use ledger_sync_host::store::vault::OutputsBlob;
use ledger_sync_sim::ledger::{rng, transaction_id};
use ledger_sync_vocabulary::TxId;
use rusqlite::{Connection, params};

/// The seed's profile.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub parties: u32,
    /// How many parties share the first output with party 0 (1: party 1
    /// alone, the benchmarked pair).
    pub counterparties: u32,
    pub seed: u64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            parties: 100_000,
            counterparties: 1,
            seed: 1,
        }
    }
}

/// How far back a transaction may reach for the outputs it consumes.
const INPUT_WINDOW: u64 = 4_096;

impl Profile {
    /// The legal name of party `k`; party 0 and party 1 are the benchmarked
    /// pair.
    pub fn party_name(k: u32) -> String {
        format!("O=Party{k:06}, L=London, C=GB")
    }

    /// Transaction `i`'s dependencies (by number) and its outputs'
    /// participants (by party number: the first output's two, then the
    /// other outputs' three and three), into the given buffers.
    pub fn transaction(&self, i: u64, deps: &mut Vec<u64>, participants: &mut [u32; 8]) {
        let mut rng = rng(self.seed.wrapping_mul(0x9e37_79b9) ^ i);
        deps.clear();
        if i > 0 {
            let inputs = if i > 1 && rng.chance(0.2) { 2 } else { 1 };
            for _ in 0..inputs {
                let back = 1 + rng.below(i.min(INPUT_WINDOW));
                let dep = i - back;
                if !deps.contains(&dep) {
                    deps.push(dep);
                }
            }
        }
        participants[0] = 0;
        participants[1] = 1;
        for p in participants[2..].iter_mut() {
            *p = rng.below(self.parties as u64) as u32;
        }
        if self.counterparties > 1 {
            participants[1] = 1 + rng.below(self.counterparties as u64) as u32;
        }
    }
}

/// Appends seed-profile transactions to one node's vault.
pub struct VaultWriter<'a> {
    conn: &'a Connection,
    profile: Profile,
    /// Transactions written so far (they are numbered 0..written).
    written: u64,
    /// Party number → vault handle.
    handles: Vec<u32>,
}

impl<'a> VaultWriter<'a> {
    /// Prepares to write into an empty vault: records every party.
    pub fn new(conn: &'a Connection, profile: Profile) -> Result<Self> {
        let existing: i64 =
            conn.query_row("SELECT count(*) FROM vault_transaction", [], |r| r.get(0))?;
        anyhow::ensure!(
            existing == 0,
            "the vault already holds {existing} transactions"
        );
        let tx = conn.unchecked_transaction()?;
        let mut handles = Vec::with_capacity(profile.parties as usize);
        {
            let mut add = tx.prepare("INSERT INTO party (name) VALUES (?1)")?;
            for k in 0..profile.parties {
                add.execute([Profile::party_name(k)])?;
                handles.push(tx.last_insert_rowid() as u32);
            }
        }
        tx.commit()?;
        Ok(VaultWriter {
            conn,
            profile,
            written: 0,
            handles,
        })
    }

    /// Transactions written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends transactions until the vault holds `n`.
    pub fn extend_to(&mut self, n: u64) -> Result<()> {
        // A bulk load: durability is the benchmark's least concern, and the
        // vault is rebuilt from the seed if the process dies.
        self.conn.pragma_update(None, "synchronous", "OFF")?;
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut add = tx.prepare(
                "INSERT INTO vault_transaction (tx_id, dependencies, outputs) VALUES (?1, ?2, ?3)",
            )?;
            let mut deps = Vec::new();
            let mut participants = [0u32; 8];
            let mut dep_bytes = Vec::new();
            let mut outputs = OutputsBlob::default();
            let mut handles = Vec::with_capacity(3);
            for i in self.written..n {
                self.profile.transaction(i, &mut deps, &mut participants);
                dep_bytes.clear();
                for d in &deps {
                    dep_bytes.extend_from_slice(&self.id(*d));
                }
                outputs.clear();
                for state in [
                    &participants[0..2],
                    &participants[2..5],
                    &participants[5..8],
                ] {
                    handles.clear();
                    handles.extend(state.iter().map(|p| self.handles[*p as usize]));
                    outputs.push_output(&handles);
                }
                add.execute(params![&self.id(i)[..], &dep_bytes, outputs.as_bytes()])
                    .with_context(|| format!("writing generated transaction {i}"))?;
            }
        }
        tx.commit()?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        self.written = self.written.max(n);
        Ok(())
    }

    /// The id of transaction `i`.
    pub fn id(&self, i: u64) -> TxId {
        transaction_id(self.profile.seed, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_sync_host::store::vault::Vault;

    #[test]
    fn writes_the_seed_profile_deterministically() {
        let dir = tempfile::tempdir().unwrap();
        let conn = ledger_sync_host::store::open(&dir.path().join("v.db")).unwrap();
        let profile = Profile {
            parties: 1_000,
            counterparties: 1,
            seed: 3,
        };
        let mut writer = VaultWriter::new(&conn, profile).unwrap();
        writer.extend_to(500).unwrap();
        writer.extend_to(1_000).unwrap();
        let vault = Vault::new(&conn);
        assert_eq!(vault.count().unwrap(), 1_000);
        let page = vault.read_page(0, 1_000).unwrap();
        assert_eq!(page.output_counts, vec![3; 1_000]);
        assert!(page.participant_counts.chunks(3).all(|c| c == [2, 3, 3]));
        assert_eq!(page.dependency_counts[0], 0, "the first is an issuance");
        assert!(
            page.dependency_counts[1..]
                .iter()
                .all(|c| (1..=2).contains(c))
        );
        assert_eq!(&page.ids[..32], &writer.id(0)[..]);
        let all = vault.all_ids().unwrap();
        assert_eq!(all[999], transaction_id(3, 999));
    }
}
