//! The seed's vocabulary, written once.
//!
//! The plugin (inside the sandbox) and every host (outside it) speak the same
//! words: status spellings, flow errors with the seed's exception names, how
//! ids are shown, what a vault page is. Each is defined here and nowhere
//! else, so the two sides can never drift. No dependencies; builds for any
//! target, `wasm32-wasip2` included.
//!
//! - [`id`]: transaction ids, their hex form, lists of them.
//! - [`status`]: status values and CR_RECONCILIATION_STATUS rows, and the
//!   seed's `ReconciliationStatus(...)` text layout.
//! - [`flow_error`]: why a flow was refused, in the seed's words, with what
//!   the operator should do.
//! - [`page`]: a page of vault metadata, as `vault.read-transactions` returns
//!   it.
//! - [`marker`]: the log markers naming each flow.
//! - [`metrics`]: the seed's metrics, as a plugin reports them.
//! - [`names`]: the names and versions plugins and adapters give
//!   themselves.
//! - [`rng`]: splitmix64, the one seeded generator everything deterministic
//!   uses.
//! - [`text`]: untrusted text bounded and escaped for storing and logging.
//! - [`timers`]: the timer table every runtime keeps for a plugin, and
//!   the order timers fire in.
//! - [`x500`]: X.500 legal names, parsed and spelt canonically.
//! - [`wit`]: the conversions to and from the contract's WIT types, for
//!   every binding ([`wit_conversions!`]).

pub mod config;
pub mod custom_flow;
pub mod flow_error;
pub mod id;
pub mod marker;
pub mod metrics;
pub mod names;
pub mod page;
pub mod recovery;
pub mod rng;
pub mod status;
pub mod text;
pub mod timers;
pub mod wit;
pub mod x500;

pub use custom_flow::CustomFlow;
pub use flow_error::FlowError;
pub use id::{TX_ID_LEN, TxId};
pub use page::TransactionPage;
pub use status::{ReconciliationStatus, StatusValue};
