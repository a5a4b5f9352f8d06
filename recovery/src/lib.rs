//! LedgerRecover: the stage after reconciliation. A node restored from a
//! backup reconciles with a counterparty and learns exactly which
//! transactions it lacks; this plugin gets them back from that
//! counterparty, each verified before it is recorded.
//!
//! | module | what |
//! | --- | --- |
//! | [`config`] | `ledger-recover-<version>.conf`: Corda's keys, defaults and ranges |
//! | [`protocol`] | the messages between two nodes' recovery plugins |
//! | [`requester`] | a recovery this node runs: asking, recording, re-asking, ending |
//! | [`responder`] | answering another node's asks, within the limits and its set |
//! | [`flows`] | the operator's flows |
//! | [`window`] | the sliding windows the limits are counted in |
//! | [`node`] | what the plugin needs of its node (the grants) |
//!
//! The plugin needs four grants in node.conf: `reconciliation` (the last
//! reconciliation's result, `shared-with`, a refresh at the end),
//! `vault` (what is held already; the bytes to send), `record` (verified
//! recording) and `recovery` (CR_RECOVERY_REQUEST, CR_RECOVERY_LOG).

pub mod config;
pub mod flows;
pub mod node;
pub mod protocol;
pub mod requester;
pub mod responder;
pub mod window;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(test)]
mod tests;

use config::Config;
use ledger_sync_plugin_api::platform::Level;
use ledger_sync_vocabulary::recovery::{RecoveryLogEntry, RecoveryRequest};
use node::Node;
use protocol::{Message, RequestId};
use std::collections::{BTreeMap, HashMap};

/// The plugin's name, as `describe` gives it: its configuration file is
/// `ledger-recover-<version>.conf`.
pub const NAME: &str = "ledger-recover";

/// The one timer: every second while a recovery runs.
const TICK: u64 = 1;
const TICK_MS: u64 = 1_000;

/// The recovery plugin, over its node.
pub struct Recoverer<N: Node> {
    node: N,
    config: Config,
    me: String,
    /// Recoveries this node runs, by request id.
    outgoing: BTreeMap<RequestId, requester::Outgoing>,
    /// What this node has given each party that asked it.
    served: responder::Served,
    /// This node's own asks, per party: it never asks faster than a
    /// responder configured as it is would answer.
    asks: HashMap<String, window::Window>,
    ticking: bool,
}

impl<N: Node> Recoverer<N> {
    /// Starts with `config` text; recoveries left IN_PROGRESS by an earlier
    /// run are resumed, asking again for what they still lack.
    pub fn start(mut node: N, config: &str, restart_reason: Option<&str>) -> Result<Self, String> {
        let config = Config::parse(config).map_err(|e| e.to_string())?;
        let me = node.our_name();
        let mut recoverer = Recoverer {
            node,
            config,
            me,
            outgoing: BTreeMap::new(),
            served: responder::Served::default(),
            asks: HashMap::new(),
            ticking: false,
        };
        if let Some(why) = restart_reason {
            recoverer.log(Level::Warn, &format!("restarted after a failure: {why}"));
        }
        recoverer.resume()?;
        recoverer.restore_windows()?;
        Ok(recoverer)
    }

    /// A message from `sender`'s recovery plugin.
    pub fn on_message(&mut self, sender: &str, payload: &[u8]) {
        let message = match Message::decode(payload) {
            Ok(message) => message,
            Err(why) => {
                let line = format!("dropped a message from {sender}: {why}");
                self.log(Level::Warn, &line);
                return;
            }
        };
        match message {
            Message::Ask { request, ask, ids } => self.answer(sender, (request, ask), ids),
            other => self.on_answer(sender, other),
        }
    }

    /// The tick: re-asks after silence, asks again after a wait.
    pub fn on_timer(&mut self, id: u64) {
        if id == TICK {
            self.ticking = false;
            self.tick();
        }
    }

    #[cfg(test)]
    pub(crate) fn node_mut(&mut self) -> &mut N {
        &mut self.node
    }

    fn keep_ticking(&mut self) {
        if !self.ticking && !self.outgoing.is_empty() {
            self.node.set_timer(TICK, TICK_MS);
            self.ticking = true;
        }
    }

    fn log(&mut self, level: Level, message: &str) {
        self.node.log(level, message);
    }

    /// Appends to CR_RECOVERY_LOG (and the node's log).
    fn journal(&mut self, row: &RecoveryRequest, level: Level, message: &str) {
        let entry = RecoveryLogEntry {
            request_id: row.request_id.clone(),
            party_name: row.party_name.clone(),
            is_requester: row.is_requester,
            time: self.node.now_ms(),
            level: format!("{level:?}").to_uppercase(),
            message: message.to_string(),
        };
        if let Err(e) = self.node.append_log(&entry) {
            self.log(
                Level::Warn,
                &format!("could not write CR_RECOVERY_LOG: {e}"),
            );
        }
        let line = format!(
            "recovery {} with {}: {message}",
            row.request_id, row.party_name
        );
        self.log(level, &line);
    }

    fn save(&mut self, row: &RecoveryRequest) {
        if let Err(e) = self.node.save_request(row) {
            let line = format!(
                "could not save recovery {} in CR_RECOVERY_REQUEST: {e}",
                row.request_id
            );
            self.log(Level::Error, &line);
        }
    }
}
