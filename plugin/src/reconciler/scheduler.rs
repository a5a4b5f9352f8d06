//! The scheduler: the pool of parallel reconciliations
//! (maxNumberOfParallelReconciliationRequests), starting queued jobs while it
//! has room, and recurring reconciliation. (A requester backing off from a
//! busy party holds no slot; its back-off is the requester session's.)

use super::{Reconciler, timer};
use crate::host::{Host, Level};
use hashbrown::HashSet;
use ledger_sync_vocabulary::marker;
use ledger_sync_vocabulary::text::bounded;
use std::collections::VecDeque;

/// Names the recurring reconciliation skipped as off the network map are
/// logged once each, for at most this many names.
pub(super) const MAX_OFF_MAP_LOGGED: usize = 64;

impl<H: Host> Reconciler<H> {
    /// Reconciliations holding a pool slot: a requester waiting to retry a
    /// busy party holds none.
    pub(super) fn running(&self) -> usize {
        self.outgoing
            .values()
            .filter(|live| live.session.holds_slot())
            .count()
            + self.incoming.len()
    }

    /// Starts queued jobs while the pool has room — none while the status
    /// store refuses writes (a job starts only once its IN_PROGRESS row is
    /// stored; the store retry wakes the scheduler when it takes them).
    pub(super) fn scheduler_tick(&mut self) {
        if !self.graph_initialised || self.store_retry_ms != 0 {
            return;
        }
        let limit = self.config.max_number_of_parallel_reconciliation_requests as usize;
        let mut changed = false;
        while self.running() < limit {
            let Some(party) = self.queue.pop_front() else {
                break;
            };
            changed = true;
            self.start_outgoing(party);
            if self.store_retry_ms != 0 {
                break;
            }
        }
        if changed && let Err(e) = self.save_queue() {
            self.log(Level::Error, marker::SCHEDULE_RECONCILIATION, &e);
        }
    }

    /// Recurring reconciliation: schedule every known counterparty, or a
    /// random `recurringReconciliationParties` of them, then wait for the
    /// next interval. Parties already scheduled, running or reconciling with
    /// us are left alone.
    pub(super) fn recurring_tick(&mut self) {
        let every = self.config.recurring_reconciliation_interval_ms;
        if every == 0 {
            return;
        }
        self.host.set_timer(timer::RECURRING, every);
        let handles: Vec<u32> = self.graph.parties().iter().map(|p| p.0).collect();
        let names = match self.host.party_names(&handles) {
            Ok(names) => names,
            Err(e) => {
                self.log(
                    Level::Error,
                    marker::SCHEDULE_RECONCILIATION,
                    &format!("recurring reconciliation skipped: could not read party names: {e}"),
                );
                return;
            }
        };
        let mut candidates: Vec<String> = names
            .into_iter()
            .filter(|p| *p != self.me && !self.is_scheduled(p) && !self.is_responding(p))
            .collect();
        // A party the vault names but the network map does not (it left
        // the network, or a transaction names it wrongly) is skipped, said
        // once per name: it must not hold up every other party's run.
        candidates.retain(|p| {
            let known = self.host.is_network_party(p);
            if !known
                && self.off_map_logged.len() < MAX_OFF_MAP_LOGGED
                && self.off_map_logged.insert(p.clone())
            {
                let line = format!(
                    "recurring reconciliation skips {}: the vault names it but the network \
                     map does not (further runs skip it without a log line)",
                    bounded(p, 256)
                );
                self.host
                    .log(Level::Warn, marker::SCHEDULE_RECONCILIATION, &line);
            }
            known
        });
        let k = self.config.recurring_reconciliation_parties as usize;
        if k > 0 && k < candidates.len() {
            // A partial Fisher-Yates shuffle picks k uniformly.
            for i in 0..k {
                let j = i + (self.host.random_u64() % (candidates.len() - i) as u64) as usize;
                candidates.swap(i, j);
            }
            candidates.truncate(k);
        }
        if candidates.is_empty() {
            return;
        }
        match self.schedule_reconciliation(&candidates) {
            Ok(()) => self.log(
                Level::Info,
                marker::SCHEDULE_RECONCILIATION,
                &format!(
                    "recurring reconciliation scheduled {} counterparties",
                    candidates.len()
                ),
            ),
            Err(e) => self.log(
                Level::Warn,
                marker::SCHEDULE_RECONCILIATION,
                &format!("recurring reconciliation skipped: {e}"),
            ),
        }
    }
}

/// The scheduled reconciliations, in order, with a set beside the queue so
/// that "is this party queued?" is one lookup however long the queue is.
#[derive(Default)]
pub(super) struct JobQueue {
    order: VecDeque<String>,
    members: HashSet<String>,
}

impl JobQueue {
    pub(super) fn from(parties: Vec<String>) -> Self {
        let mut queue = JobQueue::default();
        for party in parties {
            queue.push_back(party);
        }
        queue
    }

    /// Adds a party at the back, unless it is queued already.
    pub(super) fn push_back(&mut self, party: String) {
        if self.members.insert(party.clone()) {
            self.order.push_back(party);
        }
    }

    pub(super) fn pop_front(&mut self) -> Option<String> {
        let party = self.order.pop_front()?;
        self.members.remove(&party);
        Some(party)
    }

    pub(super) fn contains(&self, party: &str) -> bool {
        self.members.contains(party)
    }

    /// Takes a party out of the queue; whether it was there.
    pub(super) fn remove(&mut self, party: &str) -> bool {
        if !self.members.remove(party) {
            return false;
        }
        self.order.retain(|p| p != party);
        true
    }

    /// Where a party is in the queue.
    pub(super) fn position(&self, party: &str) -> Option<usize> {
        if !self.members.contains(party) {
            return None;
        }
        self.order.iter().position(|p| p == party)
    }

    /// Puts a party back at `index` (after a removal that could not be
    /// saved), unless it is queued already.
    pub(super) fn insert_at(&mut self, index: usize, party: String) {
        if self.members.insert(party.clone()) {
            self.order.insert(index.min(self.order.len()), party);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &String> {
        self.order.iter()
    }
}
