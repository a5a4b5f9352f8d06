//! The networked ledger-sync node and its operator interface.
//!
//! - [`shell`]: the Corda shell's flow grammar — `flow start <Flow> key:
//!   value, ...` and `run killFlow id: ...` — parsed into typed flow calls,
//!   with flow names matched by any unambiguous part.

pub mod shell;
