//! The ledger-sync reference host: loads the reconciliation plugin (a WASI
//! component) with wasmtime and supplies its imports.
//!
//! Where to look:
//! - [`sandbox`]: the engine, the compiled plugin, and the limits a plugin
//!   runs under.
//! - [`node`]: one node — its store state and typed calls into the exports;
//!   a trapped plugin is replaced here.
//! - One module per import family, each a plain `impl Host for NodeState`:
//!   [`vault`], [`messaging`], [`timers`], [`clock`], [`status_store`],
//!   [`identity`], [`logging`].
//! - [`network`]: several nodes on a virtual clock with deterministic
//!   delivery — what tests and the demo run on.
//! - [`db`]: the SQLite schema and migrations.
//! - [`ledger`] and [`demo`]: generated ledgers and the seed's disaster
//!   workflow.

pub mod bench;
pub mod bindings;
pub mod clock;
pub mod db;
pub mod demo;
pub mod display;
pub mod generator;
pub mod ibf_strata;
pub mod identity;
pub mod ledger;
pub mod logging;
pub mod messaging;
pub mod native;
pub mod network;
pub mod node;
pub mod plot;
pub mod sandbox;
pub mod status_store;
pub mod timers;
pub mod vault;
pub mod vault_reader;
