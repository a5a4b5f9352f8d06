//! A test guest for the `reconciliation-plugin` world that misbehaves on
//! command, so the integration tests can break each of the sandbox's
//! promises on purpose.
//!
//! `schedule-reconciliation([command, args...])` runs one command:
//! - `spin`: loops forever (the CPU deadline must stop it);
//! - `grow`: allocates until the memory cap stops it;
//! - `panic`: panics;
//! - `log-flood COUNT BYTES`: logs COUNT messages of BYTES bytes each;
//! - `send-flood PEER COUNT BYTES`: sends COUNT messages of BYTES bytes to
//!   PEER, then logs how many the host accepted and its first refusal;
//! - `timer-flood COUNT`: sets COUNT distinct timers, due in a week;
//! - anything else is a party name: the guest records an IN_PROGRESS row
//!   for it, standing in for a reconciliation it runs.
//!
//! Like the real plugin, `start` with a `restart-reason` records every row
//! still IN_PROGRESS as FAILED with that reason. Configured with the line
//! `spin-on-restart`, that `start` loops forever instead.

#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    path: "../../wit/since_v0.3.0",
    world: "reconciliation-plugin",
});

use exports::ledger_sync::plugin::flows::{self, FlowError};
use exports::ledger_sync::plugin::handlers::{self, HostRequirements};
use exports::ledger_sync::plugin::metrics::{self, MetricsSnapshot};
use ledger_sync::plugin::types::{ReconciliationStatus, ReconciliationStatusValue as Value};
use ledger_sync::plugin::{clock, logging, messaging, status_store, timers};
use ledger_sync_vocabulary::ReconciliationStatus as Row;

ledger_sync_vocabulary::wit_conversions!(
    ledger_sync::plugin::types,
    exports::ledger_sync::plugin::flows,
    ledger_sync::plugin::vault
);

struct Hostile;

fn number(args: &[String], at: usize) -> Result<usize, FlowError> {
    args.get(at)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| FlowError::InvalidArgument(format!("argument {at} must be a number")))
}

fn storage(e: String) -> FlowError {
    FlowError::Storage(e)
}

impl handlers::Guest for Hostile {
    fn start(config: String, restart_reason: Option<String>) -> Result<HostRequirements, String> {
        if let Some(reason) = restart_reason {
            if config.lines().any(|l| l.trim() == "spin-on-restart") {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            let reason = format!("the plugin was restarted after it failed: {reason}");
            for row in status_store::load_statuses()? {
                let row = Row::try_from(row)?;
                if let Some(failed) = row.interrupted(&reason, clock::now_ms()) {
                    status_store::save_status(&(&failed).into())?;
                }
            }
        }
        Ok(HostRequirements { vault_readers: 1 })
    }

    fn on_message(_sender: String, _payload: Vec<u8>) {}

    fn on_timer(_id: u64) {}
}

impl flows::Guest for Hostile {
    fn schedule_reconciliation(args: Vec<String>) -> Result<(), FlowError> {
        let command = args.first().map(String::as_str).unwrap_or("");
        match command {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "panic" => panic!("the hostile guest panics on purpose"),
            "log-flood" => {
                let (count, bytes) = (number(&args, 1)?, number(&args, 2)?);
                let message = "x".repeat(bytes);
                for _ in 0..count {
                    logging::log(logging::Level::Info, "flood", &message);
                }
            }
            "send-flood" => {
                let peer = args.get(1).cloned().unwrap_or_default();
                let (count, bytes) = (number(&args, 2)?, number(&args, 3)?);
                let payload = vec![7u8; bytes];
                let (mut sent, mut refused, mut first) = (0, 0, None);
                for _ in 0..count {
                    match messaging::send(&peer, &payload) {
                        Ok(()) => sent += 1,
                        Err(e) => {
                            refused += 1;
                            first.get_or_insert(format!("{e:?}"));
                        }
                    }
                }
                let first = first.unwrap_or_default();
                logging::log(
                    logging::Level::Info,
                    "",
                    &format!("sent {sent}, refused {refused}: {first}"),
                );
            }
            "timer-flood" => {
                for id in 0..number(&args, 1)? as u64 {
                    timers::set_timer(id, 7 * 24 * 3_600_000);
                }
            }
            _ => {
                for party in args {
                    let now = clock::now_ms();
                    let row = Row::started(&party, true, format!("hostile-{now}"), now);
                    status_store::save_status(&(&row).into()).map_err(storage)?;
                }
            }
        }
        Ok(())
    }

    fn get_reconciliation_statuses(
        party: Option<String>,
        status: Option<Value>,
        is_requester: bool,
    ) -> Result<Vec<ReconciliationStatus>, FlowError> {
        Ok(status_store::load_statuses()
            .map_err(storage)?
            .into_iter()
            .filter(|r| r.is_requester == is_requester)
            .filter(|r| party.as_ref().is_none_or(|p| *p == r.party_name))
            .filter(|r| status.is_none_or(|s| s == r.last_reconciliation_status))
            .collect())
    }

    fn get_reconciliation_status_for_party(
        party: String,
        is_requester: bool,
    ) -> Result<Option<ReconciliationStatus>, FlowError> {
        Ok(Self::get_reconciliation_statuses(Some(party), None, is_requester)?.pop())
    }

    fn refresh_reconciliation_statuses() -> Result<(), FlowError> {
        Ok(())
    }

    fn stop_reconciliation_for_party(_party: String) -> Result<(), FlowError> {
        Ok(())
    }

    fn is_reconciliation_scheduled_for_party(_party: String) -> Result<bool, FlowError> {
        Ok(false)
    }

    fn is_responding_to_reconciliation_for_party(_party: String) -> Result<bool, FlowError> {
        Ok(false)
    }
}

impl metrics::Guest for Hostile {
    fn snapshot() -> MetricsSnapshot {
        MetricsSnapshot {
            failed_parties: Vec::new(),
            parties_with_difference: Vec::new(),
            number_of_scheduled_reconciliations: 0,
            number_of_reconciliations_in_progress: 0,
            number_of_failed_reconciliations: 0,
            number_of_reconciliations_with_differences: 0,
            number_of_reconciliations_without_differences: 0,
            ledger_graph_is_initialized: true,
            ledger_graph_is_self_consistent: true,
            ledger_graph_errors: Vec::new(),
            ledger_graph_transactions: 0,
        }
    }

    fn party_reconciliation_status(party: String) -> Option<ReconciliationStatus> {
        <Hostile as flows::Guest>::get_reconciliation_status_for_party(party, true)
            .ok()
            .flatten()
    }
}

export!(Hostile);
