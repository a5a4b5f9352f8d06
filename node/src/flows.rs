//! Runs a parsed shell command on a node and words the outcome as the Corda
//! shell does: `Flow completed with result: ...` with the seed's
//! `ReconciliationStatus(...)` layout, lists of them, `true`/`false` or
//! `kotlin.Unit`; a refused flow with the seed's exception name.

use crate::shell::Command;
use ledger_sync_host::Node;
use ledger_sync_host::node::{FlowResult, PluginFailure};
use ledger_sync_vocabulary::{ReconciliationStatus, StatusValue};

/// How a flow call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The shell's text for the result.
    Completed(String),
    /// The flow refused: the seed's exception name and what to do.
    Refused(String),
    /// The plugin failed (trapped, or is not running).
    Failed(String),
}

impl Outcome {
    pub fn text(&self) -> &str {
        match self {
            Outcome::Completed(t) | Outcome::Refused(t) | Outcome::Failed(t) => t,
        }
    }
}

fn completed(result: impl std::fmt::Display) -> Outcome {
    Outcome::Completed(format!("Flow completed with result: {result}"))
}

fn finish<T>(result: FlowResult<T>, show: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(Ok(value)) => show(value),
        Ok(Err(refusal)) => Outcome::Refused(format!("Flow failed: {refusal}")),
        Err(failure) => failed(failure),
    }
}

fn failed(failure: PluginFailure) -> Outcome {
    Outcome::Failed(format!("Flow failed: {failure}"))
}

fn status_list(rows: Vec<ReconciliationStatus>) -> String {
    let items: Vec<String> = rows.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// The flow a command starts, for permissions (`StartFlow.<name>`).
pub fn flow_name(command: &Command) -> &str {
    match command {
        Command::Custom { flow, .. } => flow,
        Command::ScheduleReconciliation { .. } => "ScheduleReconciliationFlow",
        Command::GetReconciliationStatuses { .. } => "GetReconciliationStatusesFlow",
        Command::GetReconciliationStatusForParty { .. } => "GetReconciliationStatusForPartyFlow",
        Command::RefreshReconciliationStatuses => "RefreshReconciliationStatusesFlow",
        Command::StopReconciliationForParty { .. } => "StopReconciliationForPartyFlow",
        Command::IsReconciliationScheduledForParty { .. } => {
            "IsReconciliationScheduledForPartyFlow"
        }
        Command::IsRespondingToReconciliationForParty { .. } => {
            "IsRespondingToReconciliationForPartyFlow"
        }
        Command::KillFlow { .. } => "killFlow",
    }
}

/// Runs `command` on `node`.
pub fn execute(node: &mut Node, command: Command) -> Outcome {
    match command {
        Command::ScheduleReconciliation { parties } => {
            finish(node.schedule_reconciliation(&parties), |()| {
                completed("kotlin.Unit")
            })
        }
        Command::GetReconciliationStatuses {
            party,
            last_reconciliation_status,
            is_requester,
        } => finish(
            node.get_reconciliation_statuses(
                party.as_deref(),
                last_reconciliation_status,
                is_requester,
            ),
            |rows| completed(status_list(rows)),
        ),
        Command::GetReconciliationStatusForParty {
            party,
            is_requester,
        } => finish(
            node.get_reconciliation_status_for_party(&party, is_requester),
            |row| match row {
                Some(row) => completed(row),
                None => completed("null"),
            },
        ),
        Command::RefreshReconciliationStatuses => {
            finish(node.refresh_reconciliation_statuses(), |()| {
                completed("kotlin.Unit")
            })
        }
        Command::StopReconciliationForParty { party } => {
            // Whether there was anything to stop, so the answer can say so.
            let busy = matches!(
                node.is_reconciliation_scheduled_for_party(&party),
                Ok(Ok(true))
            ) || matches!(
                node.is_responding_to_reconciliation_for_party(&party),
                Ok(Ok(true))
            );
            finish(node.stop_reconciliation_for_party(&party), |()| {
                if busy {
                    completed("kotlin.Unit")
                } else {
                    completed(format!(
                        "kotlin.Unit (nothing to stop: no reconciliation with {party} was \
                         scheduled or running)"
                    ))
                }
            })
        }
        Command::IsReconciliationScheduledForParty { party } => finish(
            node.is_reconciliation_scheduled_for_party(&party),
            completed,
        ),
        Command::IsRespondingToReconciliationForParty { party } => finish(
            node.is_responding_to_reconciliation_for_party(&party),
            completed,
        ),
        Command::KillFlow { id } => kill_flow(node, &id),
        Command::Custom {
            flow, arguments, ..
        } => finish(node.run_flow(&flow, &arguments), |text| {
            Outcome::Completed(format!("Flow completed with result: {text}"))
        }),
    }
}

/// `run killFlow id: ...`: stops the reconciliation the state machine `id`
/// runs, on whichever side it runs (the seed then has the operator run
/// StopReconciliationForPartyFlow; here the kill records STOPPED itself, so
/// the second step finds nothing left to do).
fn kill_flow(node: &mut Node, id: &str) -> Outcome {
    let mut running = Vec::new();
    for is_requester in [true, false] {
        match node.get_reconciliation_statuses(None, Some(StatusValue::InProgress), is_requester) {
            Ok(Ok(rows)) => running.extend(rows),
            Ok(Err(refusal)) => return Outcome::Refused(format!("Flow failed: {refusal}")),
            Err(failure) => return failed(failure),
        }
    }
    let Some(row) = running.into_iter().find(|r| r.state_machine_id == id) else {
        return Outcome::Refused(format!(
            "No reconciliation is running with state machine id {id} (GetReconciliationStatusesFlow \
             lastReconciliationStatus: IN_PROGRESS lists those that are)"
        ));
    };
    finish(node.stop_reconciliation_for_party(&row.party_name), |()| {
        Outcome::Completed(format!("Killed flow [{id}]"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::parse;
    use ledger_sync_sim::testkit::{Cluster, shared};

    const A: &str = "O=PartyA, L=London, C=GB";
    const B: &str = "O=PartyB, L=London, C=GB";

    fn run(cluster: &mut Cluster, node: &str, line: &str) -> Outcome {
        execute(cluster.net.node(node), parse(line).expect(line))
    }

    /// Every example line of the seed's documents runs on a live node and
    /// answers as the Corda shell would.
    #[test]
    fn every_seed_example_line_runs_on_a_node() {
        let vault = shared(0, 40, A, B);
        let mut cluster = Cluster::new();
        cluster.add(A, &vault[..30]).add(B, &vault).settle();
        let schedule = run(
            &mut cluster,
            A,
            r#"flow start ScheduleReconciliationFlow parties: ["O=PartyB, L=London, C=GB"]"#,
        );
        assert_eq!(
            schedule,
            Outcome::Completed("Flow completed with result: kotlin.Unit".into())
        );
        cluster.settle();
        let status = run(
            &mut cluster,
            A,
            r#"flow start GetReconciliationStatusForPartyFlow party: "O=PartyB, L=London, C=GB", isRequester: true"#,
        );
        let text = status.text();
        assert!(
            text.starts_with("Flow completed with result: ReconciliationStatus("),
            "{text}"
        );
        assert!(
            text.contains("lastReconciliationStatus=DIFFERENCES_FOUND"),
            "{text}"
        );
        let lines = [
            "flow start GetReconciliationStatusesFlow isRequester: true",
            r#"flow start GetReconciliationStatusesFlow party: "O=PartyA, L=London, C=GB", isRequester: true"#,
            r#"flow start GetReconciliationStatusesFlow party: "O=PartyA, L=London, C=GB", lastReconciliationStatus: IN_PROGRESS, isRequester: true"#,
            "flow start GetReconciliationStatusesFlow lastReconciliationStatus: DIFFERENCES_FOUND, isRequester: true",
            r#"flow start GetReconciliationStatusForPartyFlow party: "O=PartyA, L=London, C=GB", isRequester: true"#,
            "flow start RefreshReconciliationStatusesFlow",
            r#"flow start StopReconciliationForPartyFlow party: "O=PartyB, L=London, C=GB""#,
            r#"flow start IsReconciliationScheduledForPartyFlow party: "O=PartyA, L=London, C=GB""#,
            r#"flow start IsRespondingToReconciliationForPartyFlow party: "O=PartyA, L=London, C=GB""#,
            r#"flow start ScheduleReconciliationFlow parties: ["O=PartyA, L=London, C=GB", "O=PartyB, L=Ottawa, C=CA"]"#,
            r#"flow start ScheduledReconciliationFlow parties: ["O=PartyA, L=London, C=GB", "O=PartyB, L=Ottawa, C=CA"]"#,
        ];
        for line in lines {
            let outcome = run(&mut cluster, B, line);
            assert!(
                matches!(outcome, Outcome::Completed(_) | Outcome::Refused(_)),
                "{line}: {outcome:?}"
            );
            assert!(outcome.text().starts_with("Flow "), "{line}: {outcome:?}");
        }
        // Scheduling the same parties twice is refused in the seed's words
        // (the seed's lines above name O=PartyB, L=Ottawa, C=CA, which this
        // network does not list, so they scheduled nothing).
        let once = run(
            &mut cluster,
            B,
            r#"flow start ScheduleReconciliationFlow parties: ["O=PartyA, L=London, C=GB"]"#,
        );
        assert!(matches!(once, Outcome::Completed(_)), "{once:?}");
        let again = run(
            &mut cluster,
            B,
            r#"flow start ScheduleReconciliationFlow parties: ["O=PartyA, L=London, C=GB"]"#,
        );
        assert!(
            again
                .text()
                .contains("ReconciliationAlreadyScheduledException"),
            "{again:?}"
        );
        let kill = run(
            &mut cluster,
            A,
            "run killFlow id: c243222b-1940-45df-8828-a8496196d274",
        );
        assert!(matches!(kill, Outcome::Refused(_)), "{kill:?}");
    }

    /// `run killFlow id:` stops the reconciliation with that state machine
    /// id.
    #[test]
    fn kill_flow_stops_the_reconciliation_with_that_id() {
        let vault = shared(0, 40, A, B);
        let mut cluster = Cluster::new();
        cluster.add(A, &vault[..30]).settle();
        cluster.net.add_external_party(B);
        run(
            &mut cluster,
            A,
            r#"flow start ScheduleReconciliationFlow parties: ["O=PartyB, L=London, C=GB"]"#,
        );
        cluster.net.run_for(100);
        let row = cluster.status(A, B, true).unwrap();
        let kill = run(
            &mut cluster,
            A,
            &format!("run killFlow id: {}", row.state_machine_id),
        );
        assert_eq!(
            kill,
            Outcome::Completed(format!("Killed flow [{}]", row.state_machine_id))
        );
        let row = cluster.status(A, B, true).unwrap();
        assert_eq!(row.last_reconciliation_status, StatusValue::Stopped);
    }
}
