//! Deterministic ledgers for the demo, the network bootstrapper, the
//! simulation, the benches and the tests: transactions between parties,
//! with back-chains, and what each party's vault holds. Its own crate so
//! that the node uses it without the simulator.
//!
//! A party's vault holds every transaction it took part in plus each one's
//! whole back-chain (Corda resolves the back-chain before recording), in
//! recording order: a transaction's back-chain is recorded before it. A
//! backup is a prefix of that order.

use hashbrown::{HashMap, HashSet};
use ledger_sync_host::store::vault::VaultTransaction;
use ledger_sync_vocabulary::TxId;
use ledger_sync_vocabulary::rng::SplitMix64;
use sha2::{Digest, Sha256};

/// The generator a seed names a ledger by.
pub fn rng(seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ 0x2545_f491_4f6c_dd1d)
}

/// A transaction id as SHA-256 of the ledger's seed and the transaction's
/// number, like a real id: uniformly random bytes.
pub fn transaction_id(seed: u64, number: u64) -> TxId {
    let mut h = Sha256::new();
    h.update(b"ledger-sync transaction");
    h.update(seed.to_le_bytes());
    h.update(number.to_le_bytes());
    h.finalize().into()
}

/// A whole ledger: every transaction, in the order they happened.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub transactions: Vec<VaultTransaction>,
    index: HashMap<TxId, usize>,
}

impl Ledger {
    pub fn push(&mut self, tx: VaultTransaction) {
        self.index.insert(tx.id, self.transactions.len());
        self.transactions.push(tx);
    }

    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// The vault of `party`, in recording order.
    pub fn vault_of(&self, party: &str) -> Vec<VaultTransaction> {
        let mut recorded: HashSet<usize> = HashSet::new();
        let mut order = Vec::new();
        for (i, tx) in self.transactions.iter().enumerate() {
            if tx.outputs.iter().flatten().any(|p| p == party) {
                self.record_with_back_chain(i, &mut recorded, &mut order);
            }
        }
        order
            .into_iter()
            .map(|i| self.transactions[i].clone())
            .collect()
    }

    fn record_with_back_chain(
        &self,
        root: usize,
        recorded: &mut HashSet<usize>,
        order: &mut Vec<usize>,
    ) {
        // Collect the unrecorded back-chain, then record it oldest first so
        // every transaction follows its dependencies.
        let mut seen: HashSet<usize> = HashSet::new();
        let mut chain = back_chain_closure(
            [root],
            |i| !recorded.contains(&i) && seen.insert(i),
            |i, out| {
                out.extend(
                    self.transactions[i]
                        .dependencies
                        .iter()
                        .map(|d| self.index[d]),
                )
            },
        );
        chain.sort_unstable();
        for i in chain {
            recorded.insert(i);
            order.push(i);
        }
    }
}

/// The back-chain closure every oracle computes, written once: each item
/// reachable from `roots` through `dependencies`, once, in the order first
/// reached (depth first from the last root). `first_visit(n)` says whether
/// `n` is met for the first time, and remembers it; `dependencies(n, out)`
/// appends what `n` depends on.
pub fn back_chain_closure<N: Copy>(
    roots: impl IntoIterator<Item = N>,
    mut first_visit: impl FnMut(N) -> bool,
    mut dependencies: impl FnMut(N, &mut Vec<N>),
) -> Vec<N> {
    let mut stack: Vec<N> = roots.into_iter().filter(|&n| first_visit(n)).collect();
    let (mut closure, mut deps) = (Vec::new(), Vec::new());
    while let Some(n) = stack.pop() {
        closure.push(n);
        deps.clear();
        dependencies(n, &mut deps);
        stack.extend(deps.iter().copied().filter(|&d| first_visit(d)));
    }
    closure
}

/// What `party`'s counterparty should reconcile from `vault`: the
/// transactions in it with `party` among their participants, plus their
/// back-chains. Computed here independently of the plugin, as a reference.
pub fn reconciliation_set(vault: &[VaultTransaction], party: &str) -> HashSet<TxId> {
    let by_id: HashMap<TxId, &VaultTransaction> = vault.iter().map(|t| (t.id, t)).collect();
    let roots = vault
        .iter()
        .filter(|t| t.outputs.iter().flatten().any(|p| p == party))
        .map(|t| t.id);
    let mut seen = HashSet::new();
    back_chain_closure(
        roots,
        |id| seen.insert(id),
        |id, out| out.extend(&by_id[&id].dependencies),
    )
    .into_iter()
    .collect()
}

/// The names used by the demo's two-party network, as in the seed's example.
pub const PARTY_A: &str = "O=PartyA, L=London, C=GB";
pub const PARTY_B: &str = "O=PartyB, L=London, C=GB";
pub const NOTARY: &str = "O=Notary, L=London, C=GB";

/// The seed's example network: A and B transact with each other; each also
/// self-issues now and then. About 70% of transactions involve both parties;
/// a transaction consumes one or two recent outputs, so back-chains run deep.
pub fn two_party_ledger(n: usize, seed: u64) -> Ledger {
    two_party_ledger_between(PARTY_A, PARTY_B, n, seed)
}

/// [`two_party_ledger`] between two other parties.
pub fn two_party_ledger_between(a: &str, b: &str, n: usize, seed: u64) -> Ledger {
    let mut rng = rng(seed);
    let mut ledger = Ledger::default();
    let mut spendable = Spendable::new(2);
    let names = [a, b];
    for number in 0..n {
        let roll = rng.below(100);
        let (participants, spender): (Vec<usize>, usize) = if roll < 15 {
            (vec![0], 0)
        } else if roll < 30 {
            (vec![1], 1)
        } else {
            (vec![0, 1], rng.below(2) as usize)
        };
        let inputs = if spendable.0[spender].is_empty() {
            0
        } else {
            rng.below(3)
        };
        let dependencies = spendable.pick(&ledger, spender, inputs, 64, &mut rng);
        let outputs: Vec<Vec<String>> = (0..1 + rng.below(3))
            .map(|_| {
                let who = participants[rng.below(participants.len() as u64) as usize];
                if participants.len() == 2 && rng.chance(0.3) {
                    vec![names[0].to_string(), names[1].to_string()]
                } else {
                    vec![names[who].to_string()]
                }
            })
            .collect();
        let id = transaction_id(seed, number as u64);
        spendable.record(&mut ledger, id, (dependencies, outputs), &participants);
    }
    ledger
}

/// Each party's vault (in `parties` order) of the [`multi_party_ledger`]
/// drawn from `seed` alone.
pub fn multi_party_vaults(parties: &[String], n: usize, seed: u64) -> Vec<Vec<VaultTransaction>> {
    let ledger = multi_party_ledger(parties, n, seed, &mut rng(seed));
    parties.iter().map(|p| ledger.vault_of(p)).collect()
}

/// A random ledger among `parties` (the simulation's): each transaction has
/// one to three of them as participants and consumes recent outputs of one
/// of them, so back-chains cross parties.
pub fn multi_party_ledger(parties: &[String], n: usize, seed: u64, r: &mut SplitMix64) -> Ledger {
    let mut ledger = Ledger::default();
    let mut spendable = Spendable::new(parties.len());
    for number in 0..n {
        let count = 1 + r.below(parties.len().min(3) as u64) as usize;
        let mut who: Vec<usize> = Vec::new();
        while who.len() < count {
            let p = r.below(parties.len() as u64) as usize;
            if !who.contains(&p) {
                who.push(p);
            }
        }
        let inputs = r.below(3);
        let dependencies = spendable.pick(&ledger, who[0], inputs, 32, r);
        let outputs = (0..1 + r.below(2))
            .map(|_| who.iter().map(|&p| parties[p].clone()).collect())
            .collect();
        let id = transaction_id(seed, number as u64);
        spendable.record(&mut ledger, id, (dependencies, outputs), &who);
    }
    ledger
}

/// The transactions each party can spend from, most recent last, for the
/// generators.
struct Spendable(Vec<Vec<usize>>);

impl Spendable {
    fn new(parties: usize) -> Self {
        Spendable(vec![Vec::new(); parties])
    }

    /// Up to `inputs` distinct transactions among the last `window`
    /// `spender` can spend.
    fn pick(
        &self,
        ledger: &Ledger,
        spender: usize,
        inputs: u64,
        window: usize,
        r: &mut SplitMix64,
    ) -> Vec<TxId> {
        let pool = &self.0[spender];
        let mut dependencies = Vec::new();
        for _ in 0..inputs {
            if pool.is_empty() {
                break;
            }
            let window = pool.len().min(window) as u64;
            let pick = pool[pool.len() - 1 - r.below(window) as usize];
            let id = ledger.transactions[pick].id;
            if !dependencies.contains(&id) {
                dependencies.push(id);
            }
        }
        dependencies
    }

    /// Records transaction `id` (with its dependencies and outputs, no
    /// payload) and makes it spendable by `owners`.
    fn record(
        &mut self,
        ledger: &mut Ledger,
        id: TxId,
        (dependencies, outputs): (Vec<TxId>, Vec<Vec<String>>),
        owners: &[usize],
    ) {
        let index = ledger.len();
        ledger.push(VaultTransaction {
            id,
            dependencies,
            outputs,
            payload: None,
        });
        for &p in owners {
            self.0[p].push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vaults_hold_back_chains_before_their_transactions() {
        let ledger = two_party_ledger(500, 3);
        let vault = ledger.vault_of(PARTY_A);
        let mut seen: HashSet<TxId> = HashSet::new();
        for tx in &vault {
            for d in &tx.dependencies {
                assert!(seen.contains(d), "dependency recorded after its user");
            }
            seen.insert(tx.id);
        }
        assert!(vault.len() > 300 && vault.len() < 500, "{}", vault.len());
    }

    #[test]
    fn seeds_name_ledgers() {
        let a = two_party_ledger(50, 9);
        let b = two_party_ledger(50, 9);
        assert_eq!(a.transactions, b.transactions);
        assert_ne!(a.transactions, two_party_ledger(50, 10).transactions);
    }
}
