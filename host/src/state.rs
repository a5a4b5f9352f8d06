//! The store data of one plugin instance: each import's own state side by
//! side, the WASI context, and the memory limiter. The sandbox links each
//! WIT interface to one field, so imports never see each other.

use crate::imports::clock::ClockImport;
use crate::imports::identity::IdentityImport;
use crate::imports::logging::LoggingImport;
use crate::imports::messaging::MessagingImport;
use crate::imports::reconciliation::ReconciliationImport;
use crate::imports::recording::RecordingImport;
use crate::imports::recovery_store::RecoveryStoreImport;
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
    pub reconciliation: ReconciliationImport,
    pub recording: RecordingImport,
    pub recovery_store: RecoveryStoreImport,
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

/// The peers of an instance that is only asked who it is: none.
struct Nothing;

const DESCRIBING: &str = "the plugin is only being described: it has no vault or status store";

impl crate::imports::messaging::Peers for Nothing {
    fn is_peer(&self, _: &str) -> bool {
        false
    }
}

impl NodeState {
    /// The state of an instance that is only asked `describe`: no vault,
    /// no status store, no peers, no timers, nothing logged, a small memory.
    pub(crate) fn inert() -> anyhow::Result<NodeState> {
        let nothing = std::sync::Arc::new(crate::capabilities::Denied(DESCRIBING.to_string()));
        let clock: std::sync::Arc<dyn crate::imports::clock::Clock> =
            std::sync::Arc::new(crate::imports::clock::SystemClock);
        let (wasi, stderr) = crate::sandbox::wasi_context(&clock, Some(0));
        Ok(NodeState {
            vault: VaultImport::new(nothing.clone())?,
            reconciliation: ReconciliationImport::new("", None),
            recording: RecordingImport::new("", None),
            recovery_store: RecoveryStoreImport::new("", None),
            messaging: MessagingImport::new("", std::sync::Arc::new(Nothing), 0, 0),
            timers: TimersImport::new(0),
            clock: ClockImport::new(clock.clone()),
            status_store: StatusStoreImport::new(nothing),
            identity: IdentityImport::new(""),
            logging: LoggingImport::new("", 0, None, clock, 0),
            limiter: MemoryLimiter::new(crate::limits::Limits::default().memory_bytes),
            wasi,
            table: ResourceTable::new(),
            stderr,
        })
    }
}
