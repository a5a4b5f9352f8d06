//! Integration tests only (in `tests/`); their shared kit is
//! `ledger_sync_sim::testkit`, re-exported here.

pub use ledger_sync_sim::testkit::*;
