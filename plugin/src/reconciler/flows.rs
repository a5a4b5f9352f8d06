//! The seven operator flows, named as in the seed, and the checks on their
//! arguments.

use super::*;

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
        for party in parties {
            self.queue.push_back(party.clone());
        }
        self.save_queue().map_err(FlowError::Storage)?;
        self.log(
            Level::Info,
            marker::SCHEDULE_RECONCILIATION,
            &format!("scheduled reconciliation with {}", parties.join("; ")),
        );
        self.host.set_timer(timer::SCHEDULER, 0);
        Ok(())
    }

    pub(super) fn check_schedule(&self, parties: &[String]) -> Result<(), FlowError> {
        if parties.is_empty() {
            return Err(FlowError::InvalidArgument(
                "parties is empty: give at least one party's legal name, such as \
                 \"O=PartyB, L=London, C=GB\""
                    .into(),
            ));
        }
        for (i, party) in parties.iter().enumerate() {
            check_party_name(party)?;
            if parties[..i].contains(party) {
                return Err(FlowError::InvalidArgument(format!(
                    "party \"{party}\" is listed twice"
                )));
            }
            if *party == self.me {
                return Err(FlowError::SelfReconciliation(party.clone()));
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
        self.queue.iter().any(|p| p == party) || self.outgoing.values().any(|s| s.party == party)
    }

    pub(super) fn is_responding(&self, party: &str) -> bool {
        self.incoming.values().any(|s| s.party == party)
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
            .statuses
            .values()
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
        Ok(self
            .statuses
            .get(&(party.to_string(), is_requester))
            .cloned())
    }

    /// RefreshReconciliationStatusesFlow.
    pub fn refresh_reconciliation_statuses(&mut self) -> Result<(), FlowError> {
        let mut refreshed = 0;
        let keys: Vec<(String, bool)> = self
            .statuses
            .iter()
            .filter(|(_, row)| !row.last_successful_reconciliation_result.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let mut row = self.statuses[&key].clone();
            let held = self
                .host
                .contains_transactions(&row.last_successful_reconciliation_result)
                .map_err(|e| FlowError::Storage(format!("could not read the vault: {e}")))?;
            let before = row.last_successful_reconciliation_result.len();
            let mut held = held.into_iter();
            row.last_successful_reconciliation_result
                .retain(|_| !held.next().unwrap_or(false));
            let after = row.last_successful_reconciliation_result.len();
            if after == before {
                continue;
            }
            if after == 0 {
                row.last_successful_reconciliation_status = Some(StatusValue::DifferencesNotFound);
                if row.last_reconciliation_status == StatusValue::DifferencesFound {
                    row.last_reconciliation_status = StatusValue::DifferencesNotFound;
                }
            }
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
            self.statuses.insert(key, row);
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
        let queued_before = self.queue.len();
        self.queue.retain(|p| p != party);
        let mut outgoing_stopped = self.queue.len() != queued_before;
        if outgoing_stopped {
            self.save_queue().map_err(FlowError::Storage)?;
        }
        let sessions: Vec<(SessionId, bool)> = self
            .outgoing
            .iter()
            .filter(|(_, s)| s.party == party)
            .map(|(id, _)| (*id, true))
            .chain(
                self.incoming
                    .iter()
                    .filter(|(_, s)| s.party == party)
                    .map(|(id, _)| (*id, false)),
            )
            .collect();
        let mut stopped = outgoing_stopped;
        for (session, outgoing) in sessions {
            let reason = format!("{} stopped the reconciliation", self.me);
            let _ = self.send(party, session, Body::Abort { reason });
            if outgoing {
                self.remove_outgoing(session);
                outgoing_stopped = true;
            } else {
                self.remove_incoming(session);
            }
            stopped = true;
        }
        let now = self.host.now_ms();
        for is_requester in [true, false] {
            let Some(mut row) = self
                .statuses
                .get(&(party.to_string(), is_requester))
                .cloned()
            else {
                continue;
            };
            // Every row that was running, and the outgoing row when an
            // outgoing job was dropped; never an incoming stop's old
            // outgoing result.
            if row.last_reconciliation_status == StatusValue::InProgress
                || (outgoing_stopped && is_requester)
            {
                row.last_reconciliation_status = StatusValue::Stopped;
                row.last_reconciliation_time_finished = Some(now);
                self.save(&row).map_err(FlowError::Storage)?;
                self.statuses.insert((party.to_string(), is_requester), row);
                stopped = true;
            }
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
