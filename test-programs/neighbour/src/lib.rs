//! A test guest that runs beside the reconciliation plugin in one node,
//! written with the SDK like any plugin. It offers its own flows:
//! - `PingFlow party:` sends `ping` to the same plugin on `party`, which
//!   answers `pong`;
//! - `CountsFlow` answers what it has seen:
//!   `pings=P pongs=Q floods=F foreign=X ended=E last=<party>:<status>`,
//!   `foreign` counting payloads it never sends (another plugin's, if the
//!   host mixed them up), `ended` the reconciliations it was told ended;
//! - `StatusesFlow` and `ScheduleFlow parties:` use the `reconciliation`
//!   grant; `VaultFlow` reads the vault (grant `vault`);
//! - `TrapFlow` panics, `SpinFlow` loops forever, and `FloodFlow party:
//!   rounds:` sends to `party` as much as the host takes, every 5 ms, for
//!   `rounds` rounds.
//!
//! Its counts live in memory: a trap starts them again from zero.

#![cfg(target_arch = "wasm32")]

use ledger_sync_plugin_api::platform::{self, Level};
use ledger_sync_plugin_api::{CustomFlow, FlowError, Plugin, ReconciliationStatus, export_plugin};

#[derive(Default)]
struct Neighbour {
    pings: u64,
    pongs: u64,
    floods: u64,
    foreign: u64,
    ended: u64,
    last: String,
    /// The flood in progress: its party and the rounds left.
    flood: Option<(String, u64)>,
}

const FLOOD_TIMER: u64 = 1;

fn flow(name: &str, arguments: &[&str], summary: &str) -> CustomFlow {
    CustomFlow {
        name: name.into(),
        arguments: arguments.iter().map(|a| a.to_string()).collect(),
        summary: summary.into(),
    }
}

fn argument<'a>(arguments: &'a [(String, String)], key: &str) -> Result<&'a str, FlowError> {
    arguments
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| FlowError::InvalidArgument(format!("needs {key}")))
}

impl Neighbour {
    fn flood_round(&mut self) {
        let Some((party, rounds)) = self.flood.take() else {
            return;
        };
        let payload = vec![b'f'; 64 * 1024];
        while platform::send(&party, &payload).is_ok() {}
        if rounds > 1 {
            self.flood = Some((party, rounds - 1));
            platform::set_timer(FLOOD_TIMER, 5);
        }
    }

    fn counts(&self) -> String {
        format!(
            "pings={} pongs={} floods={} foreign={} ended={} last={}",
            self.pings, self.pongs, self.floods, self.foreign, self.ended, self.last
        )
    }
}

impl Plugin for Neighbour {
    const NAME: &'static str = "neighbour";
    const VERSION: &'static str = "0.1.0";

    fn start(_config: &str, _restart_reason: Option<&str>) -> Result<Self, String> {
        Ok(Neighbour::default())
    }

    fn on_message(&mut self, sender: &str, payload: &[u8]) {
        match payload {
            b"ping" => {
                self.pings += 1;
                let _ = platform::send(sender, b"pong");
            }
            b"pong" => self.pongs += 1,
            p if !p.is_empty() && p.iter().all(|b| *b == b'f') => self.floods += 1,
            _ => self.foreign += 1,
        }
    }

    fn on_timer(&mut self, id: u64) {
        if id == FLOOD_TIMER {
            self.flood_round();
        }
    }

    fn custom_flows(&self) -> Vec<CustomFlow> {
        vec![
            flow(
                "PingFlow",
                &["party"],
                "Pings the neighbour plugin of a party",
            ),
            flow("CountsFlow", &[], "What this plugin has seen"),
            flow(
                "StatusesFlow",
                &[],
                "Reconciliation statuses, through the grant",
            ),
            flow(
                "ScheduleFlow",
                &["parties"],
                "Schedules reconciliations, through the grant",
            ),
            flow("VaultFlow", &[], "Reads the vault's first page"),
            flow("TrapFlow", &[], "Panics"),
            flow("SpinFlow", &[], "Loops until the CPU deadline"),
            flow("FloodFlow", &["party", "rounds"], "Floods a party"),
        ]
    }

    fn run_flow(
        &mut self,
        name: &str,
        arguments: &[(String, String)],
    ) -> Result<String, FlowError> {
        match name {
            "PingFlow" => {
                let party = argument(arguments, "party")?;
                platform::send(party, b"ping")
                    .map_err(|e| FlowError::InvalidArgument(format!("{e:?}")))?;
                Ok("sent".into())
            }
            "CountsFlow" => Ok(self.counts()),
            "StatusesFlow" => {
                let rows = platform::reconciliation_statuses()?;
                Ok(format!("{} statuses", rows.len()))
            }
            "ScheduleFlow" => {
                let parties = argument(arguments, "parties")?;
                platform::schedule_reconciliation(&[parties.to_string()])?;
                Ok("scheduled".into())
            }
            "VaultFlow" => {
                let page = platform::read_transactions(0, 10).map_err(FlowError::Storage)?;
                Ok(format!("{} transactions", page.len()))
            }
            "TrapFlow" => panic!("the neighbour plugin panics on purpose"),
            "SpinFlow" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "FloodFlow" => {
                let party = argument(arguments, "party")?.to_string();
                let rounds = argument(arguments, "rounds")?
                    .parse()
                    .map_err(|_| FlowError::InvalidArgument("rounds: a number".into()))?;
                self.flood = Some((party, rounds));
                self.flood_round();
                platform::log(Level::Info, "", "flooding");
                Ok("flooding".into())
            }
            other => Err(FlowError::InvalidArgument(format!("no flow {other}"))),
        }
    }

    fn reconciliation_ended(&mut self, status: &ReconciliationStatus) {
        self.ended += 1;
        self.last = format!(
            "{}:{}",
            status.party_name,
            status.last_reconciliation_status.as_str()
        );
    }
}

export_plugin!(Neighbour);
