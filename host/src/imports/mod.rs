//! One module per WIT import. Each defines the state it owns and implements
//! the interface's generated `Host` trait on that state alone; the sandbox
//! links each interface to its own field of [`crate::state::NodeState`], so
//! no import can reach another's state.
//!
//! | WIT interface  | module          | owns                                        |
//! | -------------- | --------------- | ------------------------------------------- |
//! | `vault`        | [`vault`]       | a database connection and the reader pool   |
//! | `reconciliation` | [`reconciliation`] | the reconciliation plugin's answers, if granted |
//! | `recording`    | [`recording`]   | the verified recorder, if granted `record`  |
//! | `recovery-store` | [`recovery_store`] | the recovery tables, if granted `recovery` |
//! | `messaging`    | [`messaging`]   | the outbox and the network's peer directory |
//! | `timers`       | [`timers`]      | pending timer ids and timer commands        |
//! | `clock`        | [`clock`]       | the node's clock                            |
//! | `status-store` | [`status_store`]| a database connection                       |
//! | `identity`     | [`identity`]    | the node's legal name                       |
//! | `logging`      | [`logging`]     | the node's name and captured log lines      |

pub mod clock;
pub mod identity;
pub mod logging;
pub mod messaging;
pub mod reconciliation;
pub mod recording;
pub mod recovery_store;
pub mod status_store;
pub mod timers;
pub mod vault;
