//! The sandbox: one wasmtime `Engine` and one compiled plugin shared by every
//! node, the contract check, the locked-down WASI context, and the linker.
//!
//! - Compiled once: `Component` → `InstancePre`; a node instantiates in
//!   about a tenth of a millisecond, which is also how a trapped plugin is
//!   replaced.
//! - The contract first: a component built for a version of the
//!   `ledger-sync:plugin` package outside the host's window
//!   ([`crate::bindings::SUPPORTED`]) is refused before anything is linked,
//!   with an error naming its version and the supported ones. Both
//!   versions' imports are linked; a plugin is asked who it is
//!   (`describe`) once, when it is loaded.
//! - No ambient authority: no preopened directories, no environment, no
//!   arguments, no network; WASI clocks read the node's clock and WASI
//!   randomness is either the system's or, for reproducible runs, a per-node
//!   seeded stream.
//! - Bounded: see [`crate::limits`] — memory across the instance, CPU time
//!   per call (epoch interruption, advanced by a ticker thread), and what
//!   the imports will hold for the guest.
//! - Linked per interface: each WIT import is linked to its own field of
//!   [`NodeState`], so no import reaches another's state.

use crate::bindings::ledger_sync::plugin::{
    clock, identity, logging, messaging, reconciliation, recording, recovery_store, status_store,
    timers, types, vault,
};
use crate::bindings::{Plugin, PluginInfo, PluginPre, SUPPORTED, compatible, v0_3, v0_4};
use crate::imports::clock::{Clock, WasiClock};
use crate::imports::{
    clock::ClockImport, identity::IdentityImport, logging::LoggingImport,
    messaging::MessagingImport, reconciliation::ReconciliationImport, recording::RecordingImport,
    recovery_store::RecoveryStoreImport, status_store::StatusStoreImport, timers::TimersImport,
    vault::VaultImport,
};
use crate::limits::MemoryLimiter;
use crate::state::NodeState;
use anyhow::{Context, Result, bail};
use ledger_sync_vocabulary::rng::SplitMix64;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder};

/// The WIT package this host implements.
pub const CONTRACT_PACKAGE: &str = "ledger-sync:plugin";

/// The latest package version this host implements. It supports plugins
/// built for any version compatible with one of [`SUPPORTED`] (the same
/// major version; before 1.0, major and minor).
pub const CONTRACT_VERSION: &str = SUPPORTED[SUPPORTED.len() - 1];

/// How often the epoch ticker advances the engine's epoch.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of a guest's stderr kept (enough for a panic message).
const STDERR_BYTES: usize = 64 * 1024;

/// A compiled plugin, ready to instantiate into any number of nodes.
pub struct PluginRuntime {
    engine: Engine,
    pre: PluginPre,
    version: String,
    info: PluginInfo,
    imports: Vec<String>,
}

/// The engine every plugin runs on.
pub(crate) fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Plugin calls are synchronous; without async support each call is
    // several times cheaper.
    config.concurrency_support(false);
    Ok(Engine::new(&config)?)
}

pub(crate) fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component> {
    Component::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("compiling the plugin component")
}

/// Where a compiled plugin came from (see [`PluginRuntime::cached`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Compiled now (no cache asked for).
    Compiled,
    /// Compiled now and written to the cache.
    Stored,
    /// Loaded from the cache.
    Loaded,
    /// The cached artifact was refused (the reason), compiled again and
    /// stored anew.
    Refused(String),
}

/// A node's own key for its compiled-plugin cache. Every artifact is
/// bound by a MAC (HMAC-SHA256 under this key) to the SHA-256 of the
/// component it was compiled from: an artifact copied under another
/// component's name, written by another node, or altered is refused before
/// wasmtime sees it (it would be loaded as native code). Keep the key in
/// the node's own directory, never beside the cache or shared: a cache
/// directory two nodes share only makes each refuse the other's artifacts.
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key in `path` (64 hex digits), created owner-only from the
    /// operating system's randomness if there is none.
    pub fn load_or_create(path: &Path) -> Result<CacheKey> {
        use std::io::{Read, Write};
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = text.trim();
                let key = ledger_sync_vocabulary::id::from_hex(text).with_context(|| {
                    format!(
                        "{}: the plugin cache key must be 64 hexadecimal digits; delete the file \
                         to make a new one (the cache is then compiled again)",
                        path.display()
                    )
                })?;
                Ok(CacheKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut key))
                    .context(
                        "reading the operating system's randomness for the plugin cache key",
                    )?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options
                    .open(path)
                    .with_context(|| format!("creating the plugin cache key {}", path.display()))?;
                file.write_all(ledger_sync_vocabulary::id::to_hex(&key).as_bytes())?;
                file.sync_all()?;
                Ok(CacheKey(key))
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// A key for tests and one-off runs, from its bytes.
    pub fn from_bytes(key: [u8; 32]) -> CacheKey {
        CacheKey(key)
    }

    /// HMAC-SHA256 of `parts`, concatenated, under the key.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let (mut inner_pad, mut outer_pad) = ([0x36u8; 64], [0x5cu8; 64]);
        for (i, b) in self.0.iter().enumerate() {
            inner_pad[i] ^= b;
            outer_pad[i] ^= b;
        }
        let mut inner = Sha256::new();
        inner.update(inner_pad);
        for part in parts {
            inner.update(part);
        }
        let mut outer = Sha256::new();
        outer.update(outer_pad);
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// The cached artifact's name: the component's SHA-256, the engine's
/// compatibility hash and the cache key's fingerprint, so that another
/// plugin, another wasmtime build (version, settings, CPU features) or
/// another node never picks it up by name.
fn artifact_name(engine: &Engine, wasm: &[u8], key: &CacheKey) -> String {
    use sha2::{Digest, Sha256};
    use std::hash::{Hash, Hasher};
    let mut compatibility = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut compatibility);
    let mut hash = Sha256::new();
    hash.update(wasm);
    hash.update(compatibility.finish().to_le_bytes());
    hash.update(key.mac(&[b"artifact name"]));
    let digest = hash.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("plugin-{hex}.cwasm")
}

/// Loads a cached artifact: its first 32 bytes are the MAC, under the
/// node's key, of the component's SHA-256 and the rest, so an artifact of
/// another component, another node's, or a truncated or altered one is
/// refused before wasmtime sees it; wasmtime then refuses an artifact of
/// another engine.
fn load_artifact(
    engine: &Engine,
    (wasm, key): (&[u8], &CacheKey),
    path: &Path,
) -> Result<Option<Component>, String> {
    use sha2::{Digest, Sha256};
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    let component = Sha256::digest(wasm);
    if bytes.len() < 32 || key.mac(&[&component, &bytes[32..]]) != bytes[..32] {
        return Err(
            "its MAC does not match this component and this node's cache key (another \
             component's or another node's artifact, or truncated or altered)"
                .into(),
        );
    }
    // SAFETY: the artifact's MAC under this node's key, which never leaves
    // the node, binds it to this component: only this node wrote it, for
    // this component, and it is whole; wasmtime checks that it was compiled
    // for this engine.
    unsafe { Component::deserialize(engine, &bytes[32..]) }
        .map(Some)
        .map_err(|e| format!("wasmtime refused it: {e}"))
}

/// Writes an artifact owner-only, atomically (a new file renamed into
/// place), so a concurrent reader sees the old file or the whole new one.
fn store_artifact(engine: &Engine, (wasm, key): (&[u8], &CacheKey), path: &Path) -> Result<()> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let artifact = engine
        .precompile_component(wasm)
        .map_err(anyhow::Error::from)
        .context("precompiling the plugin")?;
    let dir = path.parent().context("a cache path has a directory")?;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("creating the plugin cache {}", dir.display()))?;
    let temporary = path.with_extension(format!("{}.new", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(&key.mac(&[&Sha256::digest(wasm), &artifact]))?;
    file.write_all(&artifact)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

impl PluginRuntime {
    /// Compiles a plugin component, checks that it was built for a contract
    /// this host supports, and links its imports.
    pub fn new(wasm: &[u8]) -> Result<Arc<Self>> {
        let engine = engine()?;
        let component = compile(&engine, wasm)?;
        Self::link(engine, component)
    }

    /// [`PluginRuntime::new`], keeping the compiled plugin in `cache_dir`
    /// so that the next start loads it instead of compiling (Cranelift
    /// takes seconds; loading, milliseconds). An artifact is used only for
    /// the same component on the same engine, and only if its checksum
    /// holds under the node's `key` (see [`CacheKey`]); any other is
    /// refused (saying why), compiled again and replaced.
    pub fn cached(
        wasm: &[u8],
        cache_dir: &Path,
        key: &CacheKey,
    ) -> Result<(Arc<Self>, CacheOutcome)> {
        let engine = engine()?;
        let path = cache_dir.join(artifact_name(&engine, wasm, key));
        let refused = match load_artifact(&engine, (wasm, key), &path) {
            Ok(Some(component)) => {
                return Ok((Self::link(engine, component)?, CacheOutcome::Loaded));
            }
            Ok(None) => None,
            Err(why) => Some(why),
        };
        let component = compile(&engine, wasm)?;
        let outcome = match (store_artifact(&engine, (wasm, key), &path), refused) {
            (Ok(()), None) => CacheOutcome::Stored,
            (Ok(()), Some(why)) => CacheOutcome::Refused(why),
            (Err(e), why) => CacheOutcome::Refused(format!(
                "{}could not write {}: {e:#}",
                why.map(|w| format!("{w}; ")).unwrap_or_default(),
                path.display()
            )),
        };
        Ok((Self::link(engine, component)?, outcome))
    }

    fn link(engine: Engine, component: Component) -> Result<Arc<Self>> {
        let version = contract_version(&engine, &component)?;
        let imports = component
            .component_type()
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let mut linker: Linker<NodeState> = Linker::new(&engine);
        link(&mut linker)?;
        let pre =
            PluginPre::new(&version, linker.instantiate_pre(&component)?).with_context(|| {
                format!(
                    "the plugin says it implements {CONTRACT_PACKAGE}@{version} but does not \
                     match the world this host links"
                )
            })?;
        spawn_epoch_ticker(&engine);
        let info = describe(&engine, &pre)?;
        Ok(Arc::new(PluginRuntime {
            engine,
            pre,
            version,
            info,
            imports,
        }))
    }

    /// Reads and compiles the component at `path`.
    pub fn from_file(path: &Path) -> Result<Arc<Self>> {
        let wasm = std::fs::read(path)
            .with_context(|| format!("reading the plugin component {}", path.display()))?;
        Self::new(&wasm).with_context(|| format!("loading the plugin {}", path.display()))
    }

    /// The contract version the component was built for.
    pub fn contract_version(&self) -> &str {
        &self.version
    }

    /// The names of the interfaces the component imports, as it declares
    /// them (`wasi:io/streams@0.2.6`, `ledger-sync:plugin/vault@0.3.0`...).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// Who the plugin is (`handlers.describe`).
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The plugin configuration file's name: `<name>-<version>.conf`, after
    /// the plugin's name and version (the WIT `handlers.start` says so).
    pub fn config_file_name(&self) -> String {
        format!("{}-{}.conf", self.info.name, self.info.version)
    }

    /// A store over `state` and, unless instantiation fails, a fresh
    /// instance in it, with no CPU deadline armed (see [`arm_deadline`]).
    /// The store comes back either way, so the node's state is never lost.
    pub(crate) fn instantiate(&self, state: NodeState) -> (Store<NodeState>, Result<Plugin>) {
        let mut store = bounded_store(&self.engine, state);
        let plugin = self.pre.instantiate(&mut store);
        (store, plugin)
    }
}

/// The store data of a sandboxed instance: it holds the instance's memory
/// limiter.
pub(crate) trait Limited: 'static {
    fn limiter(&mut self) -> &mut MemoryLimiter;
}

impl Limited for NodeState {
    fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.limiter
    }
}

/// A store over `state` that bounds its instance: memory by the state's
/// limiter, CPU by the epoch deadline (disarmed until a call arms it).
pub(crate) fn bounded_store<T: Limited>(engine: &Engine, state: T) -> Store<T> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| s.limiter());
    store.epoch_deadline_trap();
    disarm_deadline(&mut store);
    store
}

/// Arms the CPU deadline for one call of at most `timeout`.
pub(crate) fn arm_deadline<T>(store: &mut Store<T>, timeout: Duration) {
    let ticks = (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
}

/// Leaves the deadline far away between calls.
pub(crate) fn disarm_deadline<T>(store: &mut Store<T>) {
    store.set_epoch_deadline(u64::MAX / 2);
}

/// The version of `ledger-sync:plugin` a component exports, checked against
/// [`CONTRACT_VERSION`].
fn contract_version(engine: &Engine, component: &Component) -> Result<String> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let prefix = format!("{CONTRACT_PACKAGE}/");
    let Some(version) = exports
        .iter()
        .filter_map(|name| name.strip_prefix(&prefix))
        .find_map(|rest| rest.split_once('@').map(|(_, v)| v.to_string()))
    else {
        bail!(
            "this component is not a ledger-sync plugin: it exports no {CONTRACT_PACKAGE} \
             interface (it exports: {})",
            if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            }
        );
    };
    if !SUPPORTED.iter().any(|ours| compatible(&version, ours)) {
        let supported: Vec<String> = SUPPORTED
            .iter()
            .map(|v| format!("{CONTRACT_PACKAGE}@{v} ({})", compatible_range(v)))
            .collect();
        bail!(
            "the plugin was built for {CONTRACT_PACKAGE}@{version}, but this host supports {}; \
             use a plugin built for one of these, or a host built for the plugin's",
            supported.join(" and ")
        );
    }
    Ok(version)
}

/// Asks a plugin who it is, on an instance with nothing to reach
/// ([`NodeState::inert`]), and checks the answer: the name names its
/// configuration file, log lines and metrics.
fn describe(engine: &Engine, pre: &PluginPre) -> Result<PluginInfo> {
    let mut store = bounded_store(engine, NodeState::inert()?);
    arm_deadline(&mut store, Duration::from_secs(10));
    let plugin = pre.instantiate(&mut store)?;
    let info = plugin
        .describe(&mut store)
        .map_err(anyhow::Error::from)
        .context("the plugin failed to say who it is (handlers.describe)")?;
    use ledger_sync_vocabulary::names::{NAME_RULE, is_component_name, is_version};
    if !is_component_name(&info.name) || !is_version(&info.version) {
        bail!(
            "the plugin calls itself `{}` version `{}`: a name is {NAME_RULE}, and a version is \
             X.Y.Z",
            ledger_sync_vocabulary::text::bounded(&info.name, 80),
            ledger_sync_vocabulary::text::bounded(&info.version, 40)
        );
    }
    Ok(info)
}

fn compatible_range(ours: &str) -> String {
    let mut it = ours.split('.');
    match (it.next(), it.next()) {
        (Some("0"), Some(minor)) => format!("0.{minor}.x"),
        (Some(major), _) => format!("{major}.x.y"),
        _ => ours.to_string(),
    }
}

/// Links WASI and every ledger-sync import, each interface to its own
/// field of [`NodeState`].
fn link(linker: &mut Linker<NodeState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    vault::add_to_linker::<_, HasSelf<VaultImport>>(linker, |s| &mut s.vault)?;
    reconciliation::add_to_linker::<_, HasSelf<ReconciliationImport>>(linker, |s| {
        &mut s.reconciliation
    })?;
    recording::add_to_linker::<_, HasSelf<RecordingImport>>(linker, |s| &mut s.recording)?;
    recovery_store::add_to_linker::<_, HasSelf<RecoveryStoreImport>>(linker, |s| {
        &mut s.recovery_store
    })?;
    messaging::add_to_linker::<_, HasSelf<MessagingImport>>(linker, |s| &mut s.messaging)?;
    timers::add_to_linker::<_, HasSelf<TimersImport>>(linker, |s| &mut s.timers)?;
    clock::add_to_linker::<_, HasSelf<ClockImport>>(linker, |s| &mut s.clock)?;
    status_store::add_to_linker::<_, HasSelf<StatusStoreImport>>(linker, |s| &mut s.status_store)?;
    identity::add_to_linker::<_, HasSelf<IdentityImport>>(linker, |s| &mut s.identity)?;
    logging::add_to_linker::<_, HasSelf<LoggingImport>>(linker, |s| &mut s.logging)?;
    types::add_to_linker::<_, HasSelf<NodeState>>(linker, |s| s)?;
    link_v0_4(linker)?;
    link_v0_3(linker)
}

/// The 0.4.0 imports, served by the same state (see [`v0_4`]). Its `types`
/// is the latest module, so its instance is added by name.
fn link_v0_4(linker: &mut Linker<NodeState>) -> Result<()> {
    use v0_4::ledger_sync::plugin as old;
    old::vault::add_to_linker::<_, HasSelf<VaultImport>>(linker, |s| &mut s.vault)?;
    old::reconciliation::add_to_linker::<_, HasSelf<ReconciliationImport>>(linker, |s| {
        &mut s.reconciliation
    })?;
    old::recording::add_to_linker::<_, HasSelf<RecordingImport>>(linker, |s| &mut s.recording)?;
    old::recovery_store::add_to_linker::<_, HasSelf<RecoveryStoreImport>>(linker, |s| {
        &mut s.recovery_store
    })?;
    old::messaging::add_to_linker::<_, HasSelf<MessagingImport>>(linker, |s| &mut s.messaging)?;
    old::timers::add_to_linker::<_, HasSelf<TimersImport>>(linker, |s| &mut s.timers)?;
    old::clock::add_to_linker::<_, HasSelf<ClockImport>>(linker, |s| &mut s.clock)?;
    old::status_store::add_to_linker::<_, HasSelf<StatusStoreImport>>(linker, |s| {
        &mut s.status_store
    })?;
    old::identity::add_to_linker::<_, HasSelf<IdentityImport>>(linker, |s| &mut s.identity)?;
    old::logging::add_to_linker::<_, HasSelf<LoggingImport>>(linker, |s| &mut s.logging)?;
    linker.instance(&format!("{CONTRACT_PACKAGE}/types@{}", SUPPORTED[1]))?;
    Ok(())
}

/// The 0.3.0 imports, served by the same state (see [`v0_3`]). Its `types`
/// is the latest module, so its instance is added by name.
fn link_v0_3(linker: &mut Linker<NodeState>) -> Result<()> {
    use v0_3::ledger_sync::plugin as old;
    old::vault::add_to_linker::<_, HasSelf<VaultImport>>(linker, |s| &mut s.vault)?;
    old::messaging::add_to_linker::<_, HasSelf<MessagingImport>>(linker, |s| &mut s.messaging)?;
    old::timers::add_to_linker::<_, HasSelf<TimersImport>>(linker, |s| &mut s.timers)?;
    old::clock::add_to_linker::<_, HasSelf<ClockImport>>(linker, |s| &mut s.clock)?;
    old::status_store::add_to_linker::<_, HasSelf<StatusStoreImport>>(linker, |s| {
        &mut s.status_store
    })?;
    old::identity::add_to_linker::<_, HasSelf<IdentityImport>>(linker, |s| &mut s.identity)?;
    old::logging::add_to_linker::<_, HasSelf<LoggingImport>>(linker, |s| &mut s.logging)?;
    linker.instance(&format!("{CONTRACT_PACKAGE}/types@{}", SUPPORTED[0]))?;
    Ok(())
}

/// `types` declares no functions; its generated `Host` trait is empty.
impl types::Host for NodeState {}

/// A WASI random source from a seed: reproducible per seed.
struct SeededRandom(SplitMix64);

impl rand_core::TryRng for SeededRandom {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.0.next_u64() as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

/// The locked-down WASI context: no files, no environment, no arguments, no
/// sockets; the node's clock; seeded randomness when `seed` is given (the
/// system's otherwise); stderr captured so a guest panic's message can be
/// reported.
pub(crate) fn wasi_context(
    clock: &Arc<dyn Clock>,
    seed: Option<u64>,
) -> (WasiCtx, MemoryOutputPipe) {
    let stderr = MemoryOutputPipe::new(STDERR_BYTES);
    let mut builder = WasiCtxBuilder::new();
    builder
        .stderr(stderr.clone())
        .wall_clock(WasiClock(clock.clone()))
        .monotonic_clock(WasiClock(clock.clone()))
        .allow_blocking_current_thread(false);
    if let Some(seed) = seed {
        builder
            .secure_random(SeededRandom(SplitMix64::new(seed)))
            .insecure_random(SeededRandom(SplitMix64::new(seed ^ 0x5555_5555_5555_5555)))
            .insecure_random_seed(seed as u128);
    }
    (builder.build(), stderr)
}

/// Why a call trapped, in words: the CPU deadline (`call_timeout`) or the
/// trap's own reason, with what a Rust guest printed last to `stderr`
/// (its panic, or a failed allocation).
pub(crate) fn trap_reason(trap: &wasmtime::Error, call_timeout: Duration, stderr: &[u8]) -> String {
    let mut reason = match trap.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => {
            format!("the call exceeded its CPU deadline of {call_timeout:?}")
        }
        Some(t) => t.to_string(),
        None => format!("{trap:#}"),
    };
    if let Some(said) = last_words(&String::from_utf8_lossy(stderr)) {
        reason = format!(
            "{reason} ({})",
            crate::imports::logging::bounded(&said, 1024)
        );
    }
    reason
}

/// What a Rust guest printed last before trapping: its panic (location and
/// message) or its last line, without the standard library's hints.
fn last_words(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: "))
        .collect();
    let from = lines
        .iter()
        .rposition(|l| l.contains(" panicked at "))
        .unwrap_or(lines.len().checked_sub(1)?);
    Some(lines[from..].join(" "))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the engine
/// lives.
pub(crate) fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("ledger-sync-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_compatible_as_semver_promises() {
        assert!(compatible("0.2.0", "0.2.0"));
        assert!(compatible("0.2.7", "0.2.0"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(!compatible("1.0.0", "0.2.0"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("2.0.0", "1.0.0"));
        assert!(!compatible("x", "0.2.0"));
    }

    #[test]
    fn every_supported_version_is_kept_in_its_own_wit_directory() {
        let worlds = [
            include_str!("../../wit/since_v0.3.0/world.wit"),
            include_str!("../../wit/since_v0.4.0/world.wit"),
            include_str!("../../wit/since_v0.5.0/world.wit"),
        ];
        assert_eq!(worlds.len(), SUPPORTED.len());
        for (world, version) in worlds.iter().zip(SUPPORTED) {
            assert!(
                world.contains(&format!("package {CONTRACT_PACKAGE}@{version};")),
                "wit/since_v{version}/world.wit is not {CONTRACT_PACKAGE}@{version}"
            );
        }
        assert_eq!(CONTRACT_VERSION, SUPPORTED[SUPPORTED.len() - 1]);
    }
}
