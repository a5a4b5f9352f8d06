//! Where the workspace's WebAssembly components are, built by this crate's
//! build script (a nested `cargo build --target wasm32-wasip2`), so every
//! `cargo build` or `cargo test` loads components built from the current
//! sources.
//!
//! - [`PLUGIN`]: the ledger-sync plugin (`plugin/`).
//! - [`RECOVERY_PLUGIN`]: LedgerRecover, the recovery plugin (`recovery/`).
//! - [`MERKLE_ADAPTER`]: a ledger adapter (`adapters/merkle`).
//! - The test guests (`test-programs/`), each built to break one promise on
//!   purpose. The build refuses a guest that no integration test uses.

/// The ledger-sync plugin component.
pub const PLUGIN: &str = env!("LEDGER_SYNC_COMPONENT_PLUGIN");

/// The plugin component's bytes, built into whatever links this crate (the
/// `ledger-sync node` default plugin).
pub const PLUGIN_BYTES: &[u8] = include_bytes!(env!("LEDGER_SYNC_COMPONENT_PLUGIN"));

/// LedgerRecover, the recovery plugin (`recovery/`).
pub const RECOVERY_PLUGIN: &str = env!("LEDGER_SYNC_COMPONENT_RECOVERY_PLUGIN");

/// The recovery plugin's bytes, built into the `ledger-sync` binary
/// (`[[plugins]] path = "builtin:ledger-recover"`).
pub const RECOVERY_PLUGIN_BYTES: &[u8] =
    include_bytes!(env!("LEDGER_SYNC_COMPONENT_RECOVERY_PLUGIN"));

/// The merkle adapter's bytes, built into the `ledger-sync` binary
/// (`ledgerAdapter = "builtin:merkle"`).
pub const MERKLE_ADAPTER_BYTES: &[u8] =
    include_bytes!(env!("LEDGER_SYNC_COMPONENT_MERKLE_ADAPTER"));

/// The `merkle` ledger adapter (`adapters/merkle`), written with the SDK.
pub const MERKLE_ADAPTER: &str = env!("LEDGER_SYNC_COMPONENT_MERKLE_ADAPTER");

/// A ledger adapter that misbehaves on command: spins, allocates without
/// end, panics, answers a name that is not one (`test-programs/hostile-adapter`).
pub const HOSTILE_ADAPTER: &str = env!("LEDGER_SYNC_COMPONENT_HOSTILE_ADAPTER");

/// A guest that misbehaves on command: spins, allocates without end,
/// panics, floods logs, sends and timers (`test-programs/hostile`).
pub const HOSTILE_GUEST: &str = env!("LEDGER_SYNC_COMPONENT_HOSTILE_GUEST");

/// A guest built against the previous contract, `ledger-sync:plugin@0.1.0`
/// (`test-programs/old-contract`).
pub const OLD_CONTRACT_GUEST: &str = env!("LEDGER_SYNC_COMPONENT_OLD_CONTRACT_GUEST");

/// A plugin that runs beside the reconciliation plugin: pings its
/// counterparts, reads reconciliation results through its grant, and
/// traps, spins or floods on command (`test-programs/neighbour`).
pub const NEIGHBOUR_GUEST: &str = env!("LEDGER_SYNC_COMPONENT_NEIGHBOUR_GUEST");
