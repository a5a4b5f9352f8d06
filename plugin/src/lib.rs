//! ledger-sync's reconciliation plugin.
//!
//! Everything here but `component` is plain Rust that runs and is tested
//! natively; `component` is the thin wit-bindgen adapter that turns it into a
//! WASI component (built with `cargo build --target wasm32-wasip2`).
//!
//! Where to look:
//! - [`reconciler`]: the scheduler, both sides of a reconciliation, statuses
//!   and flows — the plugin's behaviour.
//! - [`riblt`]: the rateless IBLT codec that finds the difference.
//! - [`keyed_hash`]: the salted hash of an id that the codec, the graph's
//!   index and the roots filter share.
//! - [`protocol`]: the messages two nodes exchange.
//! - [`graph`]: the ledger graph built from the vault, and each side's set.
//! - [`root_filter`]: the responder's roots beyond the pair, coded for the
//!   requester (multi-party ledgers).
//! - [`config`]: the configuration keys.
//! - [`host`]: what the plugin needs from its host, as a trait.
//! - `fake` and `fuzzing` (feature `fake-host`): an in-memory host, and the
//!   bodies of the fuzz targets in `fuzz/`.

pub mod chunked;
pub mod config;
#[cfg(any(test, feature = "fake-host"))]
pub mod fake;
#[cfg(any(test, feature = "fake-host"))]
pub mod fuzzing;
pub mod graph;
pub mod host;
pub mod keyed_hash;
pub mod protocol;
pub mod reconciler;
pub mod riblt;
pub mod root_filter;

/// The shared vocabulary's ids and status rows, under the paths the core
/// uses.
pub use ledger_sync_vocabulary::{id, status};

#[cfg(target_arch = "wasm32")]
mod component;
