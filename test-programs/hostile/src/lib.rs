//! A test guest that misbehaves on command, so the integration tests can
//! break each of the sandbox's promises on purpose. Written with the plugin
//! SDK (`ledger-sync-plugin-api`), like any plugin.
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
//! still IN_PROGRESS as FAILED with that reason (the vocabulary's rule).
//! Configured with the line `spin-on-restart`, that `start` loops forever
//! instead.

#![cfg(target_arch = "wasm32")]

use ledger_sync_plugin_api::platform::{self, Level};
use ledger_sync_plugin_api::{
    FlowError, Metrics, Plugin, ReconciliationStatus, StatusValue, export_plugin,
};

struct Hostile;

fn number(args: &[String], at: usize) -> Result<usize, FlowError> {
    args.get(at)
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| FlowError::InvalidArgument(format!("argument {at} must be a number")))
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

impl Plugin for Hostile {
    const NAME: &'static str = "hostile";
    const VERSION: &'static str = "0.1.0";

    fn start(config: &str, restart_reason: Option<&str>) -> Result<Self, String> {
        if let Some(reason) = restart_reason {
            if config.lines().any(|l| l.trim() == "spin-on-restart") {
                spin();
            }
            let reason = format!("the plugin was restarted after it failed: {reason}");
            for row in platform::load_statuses()? {
                if let Some(failed) = row.interrupted(&reason, platform::now_ms()) {
                    platform::save_status(&failed)?;
                }
            }
        }
        Ok(Hostile)
    }

    fn schedule_reconciliation(&mut self, args: &[String]) -> Result<(), FlowError> {
        match args.first().map(String::as_str).unwrap_or("") {
            "spin" => spin(),
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "panic" => panic!("the hostile guest panics on purpose"),
            "log-flood" => {
                let (count, bytes) = (number(args, 1)?, number(args, 2)?);
                let message = "x".repeat(bytes);
                for _ in 0..count {
                    platform::log(Level::Info, "flood", &message);
                }
            }
            "send-flood" => {
                let peer = args.get(1).cloned().unwrap_or_default();
                let (count, bytes) = (number(args, 2)?, number(args, 3)?);
                let payload = vec![7u8; bytes];
                let (mut sent, mut refused, mut first) = (0, 0, None);
                for _ in 0..count {
                    match platform::send(&peer, &payload) {
                        Ok(()) => sent += 1,
                        Err(e) => {
                            refused += 1;
                            first.get_or_insert(format!("{e:?}"));
                        }
                    }
                }
                let first = first.unwrap_or_default();
                let line = format!("sent {sent}, refused {refused}: {first}");
                platform::log(Level::Info, "", &line);
            }
            "timer-flood" => {
                for id in 0..number(args, 1)? as u64 {
                    platform::set_timer(id, 7 * 24 * 3_600_000);
                }
            }
            _ => {
                for party in args {
                    let now = platform::now_ms();
                    let row =
                        ReconciliationStatus::started(party, true, format!("hostile-{now}"), now);
                    platform::save_status(&row).map_err(FlowError::Storage)?;
                }
            }
        }
        Ok(())
    }

    fn get_reconciliation_statuses(
        &mut self,
        party: Option<&str>,
        status: Option<StatusValue>,
        is_requester: bool,
    ) -> Result<Vec<ReconciliationStatus>, FlowError> {
        Ok(platform::load_statuses()
            .map_err(FlowError::Storage)?
            .into_iter()
            .filter(|r| r.is_requester == is_requester)
            .filter(|r| party.is_none_or(|p| p == r.party_name))
            .filter(|r| status.is_none_or(|s| s == r.last_reconciliation_status))
            .collect())
    }

    fn get_reconciliation_status_for_party(
        &mut self,
        party: &str,
        is_requester: bool,
    ) -> Result<Option<ReconciliationStatus>, FlowError> {
        Ok(self
            .get_reconciliation_statuses(Some(party), None, is_requester)?
            .pop())
    }

    fn metrics(&mut self) -> Metrics {
        Metrics {
            ledger_graph_is_initialized: true,
            ledger_graph_is_self_consistent: true,
            ..Metrics::default()
        }
    }

    fn party_reconciliation_status(&mut self, party: &str) -> Option<ReconciliationStatus> {
        self.get_reconciliation_status_for_party(party, true)
            .ok()
            .flatten()
    }
}

export_plugin!(Hostile);
