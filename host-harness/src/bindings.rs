//! The one `bindgen!` for the plugin's WIT world: generated Rust types for
//! every WIT type, a `Host` trait per imported interface (implemented on
//! [`crate::node::NodeState`], one module per interface), and typed calls
//! into the exports.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "reconciliation-plugin",
    additional_derives: [PartialEq],
});

pub use exports::ledger_sync::plugin::{flows, handlers, metrics};
pub use ledger_sync::plugin::types;
