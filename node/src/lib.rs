//! The networked ledger-sync node and its operator interface.
//!
//! - [`shell`]: the Corda shell's flow grammar — `flow start <Flow> key:
//!   value, ...` and `run killFlow id: ...` — parsed into typed flow calls,
//!   with flow names matched by any unambiguous part.
//! - [`console`]: `ledger-sync shell`, the interactive shell (line
//!   editing, completion, history).
//! - [`serve`]: `ledger-sync node`, the node process.
//! - [`admin`]: the admin API (`POST /flow` with a shell line, `POST
//!   /vault/record` with a batch of a ledger file), authenticated.
//! - [`ledger`]: `vault record`, `vault export` and `status` on a node
//!   directory.
//! - [`client`]: the CLI's side of the admin API.
//! - [`bootstrap`]: `ledger-sync network bootstrap`, the development-mode
//!   network bootstrapper (root CA, node directories, network map).
//! - [`flows`]: runs a shell command on a node and words the outcome as the
//!   Corda shell does.
//! - [`metrics`]: `GET /metrics` for Prometheus.
//! - [`demo`]: the seed's workflow on three real node processes.
//! - [`config`]: a node directory's `node.conf` and the network map.
//! - [`runtime`]: the plugin thread: events in, effects out, wall-clock
//!   timers.
//! - [`transport`]: peer-to-peer messages over mutual TLS, identities from
//!   certificates pinned by the network map.
//! - [`x500`]: legal names such as `O=PartyA, L=London, C=GB`.

pub mod admin;
pub mod bootstrap;
pub mod client;
pub mod config;
pub mod connection_slots;
pub mod console;
pub mod demo;
pub mod flows;
pub mod ledger;
pub mod log_limit;
pub mod metrics;
pub mod plugins;
pub mod runtime;
pub mod serve;
pub mod shell;
pub mod transport;
pub mod x500;

/// The built-in reconciliation plugin's configuration file, named after the
/// plugin and its version as its `handlers.describe` gives them (a test
/// holds the two to each other).
pub const PLUGIN_CONFIG_FILE: &str = concat!("ledger-sync-", env!("CARGO_PKG_VERSION"), ".conf");

/// The recovery plugin's configuration file (`plugins/config/`): it is
/// built from this workspace, so it has this version.
pub const RECOVERY_CONFIG_FILE: &str =
    concat!("ledger-recover-", env!("CARGO_PKG_VERSION"), ".conf");
