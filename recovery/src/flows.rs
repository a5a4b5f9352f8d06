//! The operator's flows, answered in the shell's style:
//!
//! | flow | arguments | what |
//! | --- | --- | --- |
//! | `AutomaticRecoveryFlow` | `party` | recovers what the last successful reconciliation with `party` found missing, less what is recorded since |
//! | `InitiateManualRecoveryFlow` | `party`, `transactionIds` | recovers the ids given (64 hex digits each) from `party` |
//! | `GetRecoveryRequestsFlow` | `party`, `status` (both optional) | the rows of CR_RECOVERY_REQUEST, newest first |
//! | `GetRecoveryLogsFlow` | `requestId` | a request's lines of CR_RECOVERY_LOG |
//! | `StopRecoveryFlow` | `requestId` | stops a recovery this node runs (STOPPED) |

use crate::Recoverer;
use crate::node::Node;
use crate::protocol::parse_uuid;
use ledger_sync_plugin_api::CustomFlow;
use ledger_sync_vocabulary::recovery::{RecoveryRequest, RecoveryStatus};
use ledger_sync_vocabulary::{FlowError, StatusValue, TxId};

/// The most ids a manual recovery may name.
pub const MAX_MANUAL_IDS: usize = 100_000;
/// Rows GetRecoveryRequestsFlow lists, at most.
const LISTED: u32 = 100;
/// Log lines GetRecoveryLogsFlow shows, at most (the newest).
const LOG_LINES: u32 = 1_000;

/// The flows, as `custom-flows` lists them.
pub fn offered() -> Vec<CustomFlow> {
    let flow = |name: &str, arguments: &[&str], summary: &str| CustomFlow {
        name: name.into(),
        arguments: arguments.iter().map(|a| a.to_string()).collect(),
        summary: summary.into(),
    };
    vec![
        flow(
            "AutomaticRecoveryFlow",
            &["party"],
            "Recovers from a party what the last reconciliation with it found missing",
        ),
        flow(
            "InitiateManualRecoveryFlow",
            &["party", "transactionIds"],
            "Recovers the transactions named from a party",
        ),
        flow(
            "GetRecoveryRequestsFlow",
            &["party", "status"],
            "Lists recovery requests, newest first",
        ),
        flow(
            "GetRecoveryLogsFlow",
            &["requestId"],
            "A recovery request's log",
        ),
        flow(
            "StopRecoveryFlow",
            &["requestId"],
            "Stops a recovery this node runs",
        ),
    ]
}

fn argument<'a>(arguments: &'a [(String, String)], key: &str) -> Option<&'a str> {
    arguments
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn required<'a>(
    arguments: &'a [(String, String)],
    flow: &str,
    key: &str,
    example: &str,
) -> Result<&'a str, FlowError> {
    argument(arguments, key)
        .ok_or_else(|| FlowError::InvalidArgument(format!("{flow} needs {key}: {example}")))
}

const PARTY: &str = "\"O=PartyB, L=London, C=GB\" (a quoted X.500 name)";

/// `["AB..", "CD.."]` (or one id without brackets): 64 hex digits each.
fn parse_ids(text: &str) -> Result<Vec<TxId>, FlowError> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    let mut ids = Vec::new();
    for word in inner
        .split(',')
        .map(|w| w.trim().trim_matches('"'))
        .filter(|w| !w.is_empty())
    {
        let id = ledger_sync_vocabulary::id::from_hex(word).ok_or_else(|| {
            FlowError::InvalidArgument(format!(
                "transactionIds: `{}` is not a transaction id; an id is 64 hex digits",
                ledger_sync_vocabulary::text::bounded(word, 80)
            ))
        })?;
        ids.push(id);
        if ids.len() > MAX_MANUAL_IDS {
            return Err(FlowError::InvalidArgument(format!(
                "transactionIds: at most {MAX_MANUAL_IDS} ids a recovery"
            )));
        }
    }
    if ids.is_empty() {
        return Err(FlowError::InvalidArgument(
            "transactionIds is empty: give the ids to recover, [\"<64 hex digits>\", ...]".into(),
        ));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

impl<N: Node> Recoverer<N> {
    /// Runs the flow `name`.
    pub fn run_flow(
        &mut self,
        name: &str,
        arguments: &[(String, String)],
    ) -> Result<String, FlowError> {
        match name {
            "AutomaticRecoveryFlow" => {
                let party = required(arguments, name, "party", PARTY)?;
                self.automatic(party)
            }
            "InitiateManualRecoveryFlow" => {
                let party = required(arguments, name, "party", PARTY)?;
                let ids = parse_ids(required(
                    arguments,
                    name,
                    "transactionIds",
                    "[\"<id>\", ...]",
                )?)?;
                self.check_party(party)?;
                Ok(self.recover(party, name, ids).to_string())
            }
            "GetRecoveryRequestsFlow" => {
                self.list(argument(arguments, "party"), argument(arguments, "status"))
            }
            "GetRecoveryLogsFlow" => {
                let id = required(arguments, name, "requestId", "<the request's UUID>")?;
                let lines = self
                    .node
                    .load_log(id, LOG_LINES)
                    .map_err(FlowError::Storage)?;
                let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
                Ok(format!("[{}]", lines.join(",\n")))
            }
            "StopRecoveryFlow" => {
                let id = required(arguments, name, "requestId", "<the request's UUID>")?;
                self.stop(id)
            }
            other => Err(FlowError::InvalidArgument(format!(
                "{} offers no flow {other}",
                crate::NAME
            ))),
        }
    }

    /// A party a recovery may run with: on the network, not this node, not
    /// already recovering from.
    fn check_party(&mut self, party: &str) -> Result<(), FlowError> {
        if party == self.me {
            return Err(FlowError::InvalidArgument(format!(
                "{party} is this node; recover from a counterparty"
            )));
        }
        if !self.node.is_network_party(party) {
            return Err(FlowError::InvalidArgument(format!(
                "{party} is not a party of this network"
            )));
        }
        if let Some(running) = self.running_with(party) {
            return Err(FlowError::InvalidArgument(format!(
                "RecoveryAlreadyInProgressException: recovery {} from {party} is running; wait \
                 for it (GetRecoveryRequestsFlow) or stop it (StopRecoveryFlow)",
                running.request_id
            )));
        }
        Ok(())
    }

    /// AutomaticRecoveryFlow: the last successful reconciliation's result
    /// with `party`, less what the vault holds now.
    fn automatic(&mut self, party: &str) -> Result<String, FlowError> {
        self.check_party(party)?;
        let statuses = self.node.reconciliation_statuses()?;
        let row = statuses
            .into_iter()
            .find(|r| r.is_requester && r.party_name == party)
            .filter(|r| r.last_successful_reconciliation_status.is_some());
        let Some(row) = row else {
            return Err(FlowError::InvalidArgument(format!(
                "no reconciliation with {party} has succeeded yet, so there is no list of \
                 missing transactions to recover: run ScheduleReconciliationFlow parties: \
                 [\"{party}\"] first"
            )));
        };
        let found = row.last_successful_reconciliation_result;
        let held = self.node.contains(&found).map_err(FlowError::Storage)?;
        let missing: Vec<TxId> = (found.iter().zip(held))
            .filter(|(_, held)| !held)
            .map(|(id, _)| *id)
            .collect();
        if missing.is_empty() {
            let status = row
                .last_successful_reconciliation_status
                .map_or("", StatusValue::as_str);
            return Ok(format!(
                "nothing to recover from {party}: the last reconciliation ({status}) found \
                 nothing this node does not now hold"
            ));
        }
        Ok(self
            .recover(party, "AutomaticRecoveryFlow", missing)
            .to_string())
    }

    fn list(&mut self, party: Option<&str>, status: Option<&str>) -> Result<String, FlowError> {
        let status = match status {
            None => None,
            Some(s) => Some(RecoveryStatus::from_name(s).ok_or_else(|| {
                FlowError::InvalidArgument(format!(
                    "status `{s}` is not one of IN_PROGRESS, COMPLETED, FAILED, STOPPED"
                ))
            })?),
        };
        let rows = self
            .node
            .load_requests(LISTED)
            .map_err(FlowError::Storage)?;
        let rows: Vec<String> = rows
            .iter()
            .filter(|r| party.is_none_or(|p| r.party_name == p))
            .filter(|r| status.is_none_or(|s| r.status == s))
            .map(RecoveryRequest::to_string)
            .collect();
        Ok(format!("[{}]", rows.join(", ")))
    }

    fn stop(&mut self, id: &str) -> Result<String, FlowError> {
        let Some(request) = parse_uuid(id).filter(|r| self.outgoing.contains_key(r)) else {
            return Err(FlowError::InvalidArgument(format!(
                "no recovery is running with request id {id} (GetRecoveryRequestsFlow status: \
                 IN_PROGRESS lists those that are)"
            )));
        };
        self.end(request, RecoveryStatus::Stopped, "stopped by the operator");
        Ok("kotlin.Unit".into())
    }
}
