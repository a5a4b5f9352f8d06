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

/// A vault and a status store that hold nothing and refuse every call: the
/// capabilities of an instance that is only asked who it is.
struct Nothing;

const DESCRIBING: &str = "the plugin is only being described: it has no vault or status store";

impl crate::capabilities::LedgerVault for Nothing {
    fn read_page(&self, _: u64, _: u32) -> anyhow::Result<ledger_sync_vocabulary::TransactionPage> {
        anyhow::bail!(DESCRIBING)
    }
    fn contains(&self, _: &[u8]) -> anyhow::Result<Vec<bool>> {
        anyhow::bail!(DESCRIBING)
    }
    fn find_party(&self, _: &str) -> anyhow::Result<Option<u32>> {
        anyhow::bail!(DESCRIBING)
    }
    fn party_names(&self, _: &[u32]) -> anyhow::Result<Vec<String>> {
        anyhow::bail!(DESCRIBING)
    }
}

impl crate::capabilities::StatusStore for Nothing {
    fn load_statuses(&self) -> anyhow::Result<Vec<ledger_sync_vocabulary::ReconciliationStatus>> {
        anyhow::bail!(DESCRIBING)
    }
    fn save_status(&self, _: &ledger_sync_vocabulary::ReconciliationStatus) -> anyhow::Result<()> {
        anyhow::bail!(DESCRIBING)
    }
    fn load_scheduled(&self) -> anyhow::Result<Vec<String>> {
        anyhow::bail!(DESCRIBING)
    }
    fn save_scheduled(&self, _: &[String]) -> anyhow::Result<()> {
        anyhow::bail!(DESCRIBING)
    }
}

impl crate::imports::messaging::Peers for Nothing {
    fn is_peer(&self, _: &str) -> bool {
        false
    }
}

impl NodeState {
    /// The state of an instance that is only asked `describe`: no vault,
    /// no status store, no peers, no timers, nothing logged, a small memory.
    pub(crate) fn inert() -> anyhow::Result<NodeState> {
        let nothing = std::sync::Arc::new(Nothing);
        let clock: std::sync::Arc<dyn crate::imports::clock::Clock> =
            std::sync::Arc::new(crate::imports::clock::SystemClock);
        let (wasi, stderr) = crate::sandbox::wasi_context(&clock, Some(0));
        Ok(NodeState {
            vault: VaultImport::new(nothing.clone())?,
            messaging: MessagingImport::new("", nothing.clone(), 0, 0),
            timers: TimersImport::new(0),
            clock: ClockImport::new(clock),
            status_store: StatusStoreImport::new(nothing),
            identity: IdentityImport::new(""),
            logging: LoggingImport::new("", 0, None),
            limiter: MemoryLimiter::new(crate::limits::Limits::default().memory_bytes),
            wasi,
            table: ResourceTable::new(),
            stderr,
        })
    }
}
