//! The store data of one plugin instance: each import's own state side by
//! side, the WASI context, and the memory limiter. The sandbox links each
//! WIT interface to one field, so imports never see each other.

use crate::imports::clock::ClockImport;
use crate::imports::identity::IdentityImport;
use crate::imports::logging::LoggingImport;
use crate::imports::messaging::MessagingImport;
use crate::imports::status_store::StatusStoreImport;
use crate::imports::timers::TimersImport;
use crate::imports::vault::VaultImport;
use crate::limits::MemoryLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Everything the imports of one instance need.
pub struct NodeState {
    pub vault: VaultImport,
    pub messaging: MessagingImport,
    pub timers: TimersImport,
    pub clock: ClockImport,
    pub status_store: StatusStoreImport,
    pub identity: IdentityImport,
    pub logging: LoggingImport,
    pub limiter: MemoryLimiter,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// The guest's stderr, where a Rust panic prints why.
    pub(crate) stderr: MemoryOutputPipe,
}

impl WasiView for NodeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
