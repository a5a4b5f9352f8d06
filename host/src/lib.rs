//! The ledger-sync reference host: loads the reconciliation plugin (a WASI
//! component) with wasmtime, supplies its imports, and hands back what the
//! plugin wants done. It knows nothing of how time passes or how messages
//! travel: a simulation, a networked node or a test drives a [`Node`] by
//! events and carries out its [`Effects`].
//!
//! Where to look:
//! - [`sandbox`]: the engine, the contract-version check, the locked-down
//!   WASI context, and linking every import.
//! - [`limits`]: what one plugin may consume, and the memory limiter.
//! - [`node`]: one plugin instance driven by events; a trapped instance is
//!   replaced here.
//! - [`imports`]: one module per WIT import, each owning its own state.
//! - [`capabilities`]: the vault and the status store a node host hands
//!   the node ([`LedgerVault`], [`StatusStore`]) — its own, or ours.
//! - [`store`]: ledger-sync's tables on SQLite or PostgreSQL — migrations,
//!   the vault tables, the status tables, the vault reader pool — and an
//!   operator's PostgreSQL view read in place.
//! - [`interchange`]: the ledger interchange format (JSON lines).
//! - [`recording`]: a ledger file into a vault, a batch at a time.
//! - [`bindings`]: the generated WIT types of each supported contract
//!   version, their conversions to the shared vocabulary, and [`bindings::Plugin`],
//!   an instance of any of them.
//! - [`adapter`]: ledger adapters — a ledger's native transaction bytes into
//!   an id, dependencies and participants, in a sandbox of their own.

pub mod adapter;
pub mod bindings;
pub mod capabilities;
pub mod imports;
pub mod interchange;
pub mod limits;
pub mod node;
pub mod recording;
pub mod sandbox;
pub mod state;
pub mod store;
pub mod verified;

pub use capabilities::{LedgerVault, StatusStore, Storage};
pub use imports::clock::{Clock, SystemClock};
pub use imports::messaging::{OutboundMessage, Peers};
pub use imports::status_store::WriteFault;
pub use imports::timers::TimerCommand;
pub use limits::Limits;
pub use node::{Effects, Node, NodeOptions, PluginFailure};
pub use sandbox::{CacheKey, CacheOutcome, PluginRuntime};
