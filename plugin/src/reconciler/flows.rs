//! The seven operator flows, named as in the seed, and the checks on their
//! arguments.

use super::metrics::Cycle;
use super::session::{Role, SessionKey};
use super::status_book::Transition;
use super::{Reconciler, timer};
use crate::host::{Host, Level};
use crate::id::TxId;
use crate::protocol::Body;
use crate::status::{ReconciliationStatus, StatusValue};
use hashbrown::HashSet;
use ledger_sync_vocabulary::{FlowError, marker};

/// The most parties one ScheduleReconciliation call may name.
const MAX_PARTIES_PER_CALL: usize = 10_000;

/// The most reconciliations the queue holds.
const MAX_QUEUED: usize = 100_000;

/// The most ids one `shared-with` question may name.
pub const MAX_SHARED_WITH: usize = 10_000;

impl<H: Host> Reconciler<H> {
    /// ScheduleReconciliationFlow.
    pub fn schedule_reconciliation(&mut self, parties: &[String]) -> Result<(), FlowError> {
        let result = self.check_schedule(parties);
        if let Err(e) = &result {
            let message = format!("ScheduleReconciliation refused: {e}");
            self.log(Level::Warn, marker::SCHEDULE_RECONCILIATION, &message);
            return result;
        }
        if self.queue.is_empty() && self.outgoing.is_empty() {
            // The scheduler was idle: this starts a new reconciliation cycle,
            // and the per-cycle counters describe it alone.
            self.cycle = Cycle::default();
        }
        let unsaved_before = self.queue_unsaved;
        for party in parties {
            self.queue.push_back(party.clone());
        }
        if let Err(e) = self.save_queue() {
            // All or nothing: the parties leave the queue again, so asking
            // again once the store takes writes schedules them.
            for party in parties {
                self.queue.remove(party);
            }
            self.queue_unsaved = unsaved_before;
            return Err(FlowError::Storage(e));
        }
        self.log(
            Level::Info,
            marker::SCHEDULE_RECONCILIATION,
            &format!("scheduled reconciliation with {}", parties.join("; ")),
        );
        self.host.set_timer(timer::SCHEDULER, 0);
        Ok(())
    }

    pub(super) fn check_schedule(&mut self, parties: &[String]) -> Result<(), FlowError> {
        if parties.is_empty() {
            return Err(FlowError::InvalidArgument(
                "parties is empty: give at least one party's legal name, such as \
                 \"O=PartyB, L=London, C=GB\""
                    .into(),
            ));
        }
        if parties.len() > MAX_PARTIES_PER_CALL {
            return Err(FlowError::InvalidArgument(format!(
                "{} parties were given; one ScheduleReconciliation call takes at most \
                 {MAX_PARTIES_PER_CALL} (call it again for the rest)",
                parties.len()
            )));
        }
        if self.queue.len() + parties.len() > MAX_QUEUED {
            return Err(FlowError::InvalidArgument(format!(
                "{} reconciliations are queued and {} more were asked for; the queue holds at \
                 most {MAX_QUEUED}",
                self.queue.len(),
                parties.len()
            )));
        }
        let mut listed: HashSet<&str> = HashSet::with_capacity(parties.len());
        for party in parties {
            check_party_name(party)?;
            if !listed.insert(party.as_str()) {
                return Err(FlowError::InvalidArgument(format!(
                    "party \"{party}\" is listed twice"
                )));
            }
            if *party == self.me {
                return Err(FlowError::SelfReconciliation(party.clone()));
            }
            if !self.host.is_network_party(party) {
                return Err(FlowError::InvalidArgument(format!(
                    "party \"{party}\" is not on the network: the network map lists no node \
                     with that legal name (check its spelling, and that the node has joined \
                     the network); nothing was scheduled"
                )));
            }
            if self.is_scheduled(party) {
                return Err(FlowError::ReconciliationAlreadyScheduled(party.clone()));
            }
            if self.is_responding(party) {
                return Err(FlowError::IncomingReconciliationInProgress(party.clone()));
            }
        }
        self.readiness()
    }

    pub(super) fn is_scheduled(&self, party: &str) -> bool {
        self.queue.contains(party) || self.outgoing.keys().any(|k| k.party == party)
    }

    pub(super) fn is_responding(&self, party: &str) -> bool {
        self.incoming.keys().any(|k| k.party == party)
    }

    /// GetReconciliationStatusesFlow.
    pub fn get_reconciliation_statuses(
        &self,
        party: Option<&str>,
        status: Option<StatusValue>,
        is_requester: bool,
    ) -> Result<Vec<ReconciliationStatus>, FlowError> {
        if let Some(p) = party {
            check_party_name(p)?;
        }
        Ok(self
            .book
            .rows()
            .filter(|row| row.is_requester == is_requester)
            .filter(|row| party.is_none_or(|p| row.party_name == p))
            .filter(|row| status.is_none_or(|s| row.last_reconciliation_status == s))
            .cloned()
            .collect())
    }

    /// GetReconciliationStatusForPartyFlow.
    pub fn get_reconciliation_status_for_party(
        &self,
        party: &str,
        is_requester: bool,
    ) -> Result<Option<ReconciliationStatus>, FlowError> {
        check_party_name(party)?;
        Ok(self.book.get(party, is_requester).cloned())
    }

    /// RefreshReconciliationStatusesFlow.
    pub fn refresh_reconciliation_statuses(&mut self) -> Result<(), FlowError> {
        let mut refreshed = 0;
        let rows: Vec<ReconciliationStatus> = self
            .book
            .rows()
            .filter(|row| !row.last_successful_reconciliation_result.is_empty())
            .cloned()
            .collect();
        for row in rows {
            let found = row.last_successful_reconciliation_result;
            let held = self
                .host
                .contains_transactions(&found)
                .map_err(|e| FlowError::Storage(format!("could not read the vault: {e}")))?;
            let mut held = held.into_iter();
            let still_missing: Vec<TxId> = found
                .iter()
                .filter(|_| !held.next().unwrap_or(false))
                .copied()
                .collect();
            let (before, after) = (found.len(), still_missing.len());
            let now = self.host.now_ms();
            let refreshed_row = Transition::Refreshed { still_missing };
            let Some(row) = self
                .book
                .next(&row.party_name, row.is_requester, refreshed_row, now)
            else {
                continue;
            };
            // Stored first: a refresh the store refuses changes nothing.
            self.save(&row).map_err(FlowError::Storage)?;
            self.log(
                Level::Info,
                marker::REFRESH_RECONCILIATION_STATUSES,
                &format!(
                    "{}: {} of {before} missing transactions have since reached the vault",
                    row.party_name,
                    before - after
                ),
            );
            self.book.put(row);
            refreshed += 1;
        }
        self.log(
            Level::Info,
            marker::REFRESH_RECONCILIATION_STATUSES,
            &format!("refreshed the reconciliation statuses: {refreshed} changed"),
        );
        Ok(())
    }

    /// StopReconciliationForPartyFlow.
    pub fn stop_reconciliation_for_party(&mut self, party: &str) -> Result<(), FlowError> {
        check_party_name(party)?;
        // Whether an outgoing job (queued, waiting or running) was dropped.
        let mut outgoing_stopped = false;
        if let Some(at) = self.queue.position(party) {
            let unsaved_before = self.queue_unsaved;
            self.queue.remove(party);
            if let Err(e) = self.save_queue() {
                // All or nothing: the job stays where it was.
                self.queue.insert_at(at, party.to_string());
                self.queue_unsaved = unsaved_before;
                return Err(FlowError::Storage(e));
            }
            outgoing_stopped = true;
        }
        let sessions: Vec<(SessionKey, Role)> = self
            .outgoing
            .keys()
            .filter(|k| k.party == party)
            .map(|k| (k.clone(), Role::Requester))
            .chain(
                self.incoming
                    .keys()
                    .filter(|k| k.party == party)
                    .map(|k| (k.clone(), Role::Responder)),
            )
            .collect();
        let mut stopped = outgoing_stopped;
        for (key, role) in sessions {
            let reason = format!("{} stopped the reconciliation", self.me);
            let body = Body::Abort {
                to_responder: role == Role::Requester,
                reason,
            };
            let _ = self.send(party, key.id, body);
            match role {
                Role::Requester => {
                    self.remove_outgoing(&key, false);
                    outgoing_stopped = true;
                }
                Role::Responder => {
                    self.remove_incoming(&key);
                }
            }
            stopped = true;
        }
        // Every row that was running, and the outgoing row when an outgoing
        // job was dropped. The sessions are gone already: the rows must
        // follow, so a failed write is retried rather than left
        // IN_PROGRESS.
        for role in [Role::Requester, Role::Responder] {
            let dropped_job = outgoing_stopped;
            stopped |= self.transition(party, role, Transition::Stopped { dropped_job });
        }
        self.log(
            Level::Info,
            marker::STOP_RECONCILIATION_FOR_PARTY,
            &if stopped {
                format!("stopped the reconciliation with {party}")
            } else {
                format!("no reconciliation with {party} to stop")
            },
        );
        self.host.set_timer(timer::SCHEDULER, 0);
        Ok(())
    }

    /// IsReconciliationScheduledForPartyFlow.
    pub fn is_reconciliation_scheduled_for_party(&self, party: &str) -> Result<bool, FlowError> {
        check_party_name(party)?;
        Ok(self.is_scheduled(party))
    }

    /// IsRespondingToReconciliationForPartyFlow.
    pub fn is_responding_to_reconciliation_for_party(
        &self,
        party: &str,
    ) -> Result<bool, FlowError> {
        check_party_name(party)?;
        Ok(self.is_responding(party))
    }
}

impl<H: Host> Reconciler<H> {
    /// `flows.shared-with`: whether each of `ids` is in this node's
    /// reconciliation set for `party`, for a recovery responder.
    pub fn shared_with(&mut self, party: &str, ids: &[TxId]) -> Result<Vec<bool>, FlowError> {
        check_party_name(party)?;
        if ids.len() > MAX_SHARED_WITH {
            return Err(FlowError::InvalidArgument(format!(
                "{} ids were asked about; one shared-with question takes at most \
                 {MAX_SHARED_WITH}",
                ids.len()
            )));
        }
        if !self.graph_initialised {
            return Err(FlowError::LedgerGraphNotInitialised);
        }
        let handles = self
            .pair_sets(party)
            .pair_handles()
            .map_err(FlowError::Storage)?;
        if ids.is_empty() {
            // Asks nothing: the catch-up alone.
            return Ok(Vec::new());
        }
        Ok(self.served.contains_each(party, handles, &self.graph, ids))
    }
}

fn check_party_name(party: &str) -> Result<(), FlowError> {
    if party.trim().is_empty() {
        return Err(FlowError::InvalidArgument(
            "a party must be named by its legal name, such as \"O=PartyB, L=London, C=GB\"; \
             an empty name was given"
                .into(),
        ));
    }
    if party.len() > 1024 {
        return Err(FlowError::InvalidArgument(format!(
            "a party's legal name is at most 1024 bytes; {} were given",
            party.len()
        )));
    }
    Ok(())
}
