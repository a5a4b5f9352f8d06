//! Ledger adapters: components of the WIT `ledger-adapter` world
//! (`wit/since_v0.5.0/adapter.wit`) that turn a ledger's native transaction
//! bytes into what ledger-sync needs — the id, the dependencies, the
//! participants of each output, and (since 0.5.0) who must sign it and the
//! signatures it carries — derived from the bytes by that ledger's rules.
//! An adapter built for 0.4.0 still loads; what it decodes says nothing of
//! signatures ([`Signed::required_signers`] is `None`). An adapter runs in a sandbox of its own: it imports nothing but
//! WASI (locked down as a plugin's is), each call has a CPU deadline and the
//! instance a memory cap, and every answer is checked before it is used. A
//! trap is an error naming the adapter, and the next call gets a fresh
//! instance.

use crate::interchange::MAX_METADATA_BYTES;
use crate::limits::MemoryLimiter;
use crate::sandbox::{self, CONTRACT_PACKAGE};
use crate::store::VaultTransaction;
use anyhow::{Context, Result, bail};
use ledger_sync_vocabulary::x500::LegalName;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The latest `ledger-adapter` world.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.5.0",
        world: "ledger-adapter",
    });
}

/// The 0.4.0 `ledger-adapter` world: no signers, no signatures.
mod bindings_v0_4 {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.4.0",
        world: "ledger-adapter",
    });
}

/// The adapter versions this host loads, oldest first.
pub const SUPPORTED: [&str; 2] = ["0.4.0", "0.5.0"];

/// A compiled adapter of either version, ready to instantiate.
enum AdapterPre {
    V0_4(bindings_v0_4::LedgerAdapterPre<AdapterState>),
    V0_5(bindings::LedgerAdapterPre<AdapterState>),
}

/// One adapter instance of either version.
enum Instance {
    V0_4(bindings_v0_4::LedgerAdapter),
    V0_5(bindings::LedgerAdapter),
}

/// One answer of `decode`, whichever version gave it.
struct DecodedTransaction {
    id: Vec<u8>,
    dependencies: Vec<u8>,
    outputs: Vec<Vec<String>>,
    required_signers: Option<Vec<String>>,
    signatures: Vec<(String, Vec<u8>)>,
}

impl Instance {
    fn describe(
        &self,
        store: &mut Store<AdapterState>,
    ) -> wasmtime::Result<(String, String, String)> {
        Ok(match self {
            Instance::V0_4(i) => {
                let info = i.ledger_sync_plugin_adapter().call_describe(store)?;
                (info.name, info.version, info.format)
            }
            Instance::V0_5(i) => {
                let info = i.ledger_sync_plugin_adapter().call_describe(store)?;
                (info.name, info.version, info.format)
            }
        })
    }

    fn decode(
        &self,
        store: &mut Store<AdapterState>,
        bytes: &[u8],
    ) -> wasmtime::Result<Result<DecodedTransaction, String>> {
        Ok(match self {
            Instance::V0_4(i) => i
                .ledger_sync_plugin_adapter()
                .call_decode(store, bytes)?
                .map(|d| DecodedTransaction {
                    id: d.id,
                    dependencies: d.dependencies,
                    outputs: d.outputs,
                    required_signers: None,
                    signatures: Vec::new(),
                }),
            Instance::V0_5(i) => i
                .ledger_sync_plugin_adapter()
                .call_decode(store, bytes)?
                .map(|d| DecodedTransaction {
                    id: d.id,
                    dependencies: d.dependencies,
                    outputs: d.outputs,
                    required_signers: Some(d.required_signers),
                    signatures: (d.signatures.into_iter())
                        .map(|s| (s.signer, s.signature))
                        .collect(),
                }),
        })
    }
}

/// What a transaction's bytes say of who signed it, as its adapter read
/// them (checked for shape, not verified: see [`crate::verified`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signed {
    /// Whose signatures the ledger's rules require, each once, legal names
    /// in canonical form; `None` when the adapter is built for contract
    /// 0.4.0, which cannot say.
    pub required_signers: Option<Vec<String>>,
    /// (signer's legal name in canonical form, signature) as the bytes
    /// carry them.
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// The most signatures one transaction may carry, and the longest one.
const MAX_SIGNATURES: usize = 1_024;
const MAX_SIGNATURE_BYTES: usize = 512;

/// Memory an adapter instance may use.
const MEMORY_BYTES: usize = 256 << 20;

/// CPU time one `decode` may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Who an adapter is (its `describe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterInfo {
    pub name: String,
    pub version: String,
    pub format: String,
}

/// Why a transaction could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The adapter read the bytes and refused them: what is wrong.
    #[error("the ledger adapter {adapter} refused the transaction: {why}")]
    Refused { adapter: String, why: String },
    /// The adapter trapped, ran out of CPU or memory, or answered what the
    /// contract rules out: it is broken or hostile, not the transaction.
    #[error("the ledger adapter {adapter} failed: {why}")]
    Broken { adapter: String, why: String },
}

/// The store data of one adapter instance.
struct AdapterState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    stderr: MemoryOutputPipe,
}

impl sandbox::Limited for AdapterState {
    fn limiter(&mut self) -> &mut MemoryLimiter {
        &mut self.limiter
    }
}

impl WasiView for AdapterState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A compiled ledger adapter, ready to instantiate.
pub struct AdapterRuntime {
    engine: Engine,
    pre: AdapterPre,
    info: AdapterInfo,
    contract_version: String,
}

impl AdapterRuntime {
    /// Compiles the adapter component at `path`, links WASI and asks it who
    /// it is.
    pub fn from_file(path: &Path) -> Result<Arc<AdapterRuntime>> {
        let wasm = std::fs::read(path)
            .with_context(|| format!("reading the ledger adapter {}", path.display()))?;
        Self::new(&wasm).with_context(|| format!("loading the ledger adapter {}", path.display()))
    }

    pub fn new(wasm: &[u8]) -> Result<Arc<AdapterRuntime>> {
        let engine = sandbox::engine()?;
        let component = sandbox::compile(&engine, wasm)?;
        let ty = component.component_type();
        let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
        let prefix = format!("{CONTRACT_PACKAGE}/adapter@");
        let Some(version) = exports.iter().find_map(|e| e.strip_prefix(&prefix)) else {
            bail!(
                "this component is not a ledger adapter: it does not export \
                 {CONTRACT_PACKAGE}/adapter (the `ledger-adapter` world); it exports {}",
                exports.join(", ")
            );
        };
        let version = version.to_string();
        let Some(supported) = SUPPORTED
            .iter()
            .find(|s| crate::bindings::compatible(&version, s))
        else {
            bail!(
                "this ledger adapter is built for {CONTRACT_PACKAGE}@{version}; this host loads \
                 adapters built for {}",
                SUPPORTED.join(" or ")
            );
        };
        // `types` declares types only (`party-name`): nothing to call.
        let types = format!("{CONTRACT_PACKAGE}/types@");
        let imports: Vec<String> = ty.imports(&engine).map(|(n, _)| n.to_string()).collect();
        let beyond_wasi: Vec<&String> = (imports.iter())
            .filter(|n| !n.starts_with("wasi:") && !n.starts_with(&types))
            .collect();
        if !beyond_wasi.is_empty() {
            bail!(
                "a ledger adapter imports nothing but WASI; this one imports {}",
                beyond_wasi
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let mut linker: Linker<AdapterState> = Linker::new(&engine);
        for name in imports.iter().filter(|n| n.starts_with(&types)) {
            linker.instance(name)?;
        }
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let instance_pre = linker.instantiate_pre(&component)?;
        let pre = if *supported == SUPPORTED[0] {
            bindings_v0_4::LedgerAdapterPre::new(instance_pre).map(AdapterPre::V0_4)
        } else {
            bindings::LedgerAdapterPre::new(instance_pre).map(AdapterPre::V0_5)
        }
        .map_err(anyhow::Error::from)
        .with_context(|| {
            format!(
                "this component is not a ledger adapter: it does not export \
                 {CONTRACT_PACKAGE}/adapter@{supported} as the `ledger-adapter` world says"
            )
        })?;
        sandbox::spawn_epoch_ticker(&engine);
        let mut runtime = AdapterRuntime {
            engine,
            pre,
            contract_version: version,
            info: AdapterInfo {
                name: String::new(),
                version: String::new(),
                format: String::new(),
            },
        };
        runtime.info = runtime.describe()?;
        Ok(Arc::new(runtime))
    }

    pub fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// The contract version the adapter is built for (`X.Y.Z`).
    pub fn contract_version(&self) -> &str {
        &self.contract_version
    }

    fn instantiate(&self, memory_bytes: usize) -> Result<(Store<AdapterState>, Instance)> {
        let clock: Arc<dyn crate::imports::clock::Clock> =
            Arc::new(crate::imports::clock::SystemClock);
        let (wasi, stderr) = sandbox::wasi_context(&clock, Some(0));
        let state = AdapterState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_bytes),
            stderr,
        };
        let mut store = sandbox::bounded_store(&self.engine, state);
        let instance = match &self.pre {
            AdapterPre::V0_4(pre) => Instance::V0_4(pre.instantiate(&mut store)?),
            AdapterPre::V0_5(pre) => Instance::V0_5(pre.instantiate(&mut store)?),
        };
        Ok((store, instance))
    }

    fn describe(&self) -> Result<AdapterInfo> {
        let (mut store, instance) = self.instantiate(MEMORY_BYTES)?;
        sandbox::arm_deadline(&mut store, CALL_TIMEOUT);
        let (name, version, format) = instance
            .describe(&mut store)
            .map_err(anyhow::Error::from)
            .context("the ledger adapter failed to say who it is (adapter.describe)")?;
        let info = AdapterInfo {
            name,
            version,
            format,
        };
        use ledger_sync_vocabulary::names::{NAME_RULE, is_component_name, is_version};
        if !is_component_name(&info.name) || !is_version(&info.version) || info.format.len() > 1024
        {
            bail!(
                "the ledger adapter calls itself `{}` version `{}`: a name is {NAME_RULE}, a \
                 version is X.Y.Z, and a format is at most 1024 bytes",
                ledger_sync_vocabulary::text::bounded(&info.name, 80),
                ledger_sync_vocabulary::text::bounded(&info.version, 40)
            );
        }
        Ok(AdapterInfo {
            name: info.name,
            version: info.version,
            format: info.format,
        })
    }

    /// A decoder: one instance, replaced after a trap, with the default
    /// limits (256 MiB, 10 s of CPU per call).
    pub fn decoder(self: &Arc<Self>) -> Decoder {
        Decoder {
            runtime: self.clone(),
            instance: None,
            memory_bytes: MEMORY_BYTES,
            call_timeout: CALL_TIMEOUT,
        }
    }
}

/// Decodes transactions with one adapter instance.
pub struct Decoder {
    runtime: Arc<AdapterRuntime>,
    instance: Option<(Store<AdapterState>, Instance)>,
    memory_bytes: usize,
    call_timeout: Duration,
}

impl Decoder {
    /// The same decoder with other limits: memory per instance, CPU per
    /// call.
    pub fn with_limits(mut self, memory_bytes: usize, call_timeout: Duration) -> Decoder {
        self.memory_bytes = memory_bytes;
        self.call_timeout = call_timeout;
        self.instance = None;
        self
    }

    /// The transaction in `bytes`, with `bytes` as its payload.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<VaultTransaction, AdapterError> {
        self.decode_within(bytes, self.call_timeout)
    }

    /// [`Self::decode`] with at most `limit` of CPU (and never more than
    /// the decoder's own limit per call): what is left of a caller's
    /// budget.
    pub fn decode_within(
        &mut self,
        bytes: &[u8],
        limit: Duration,
    ) -> Result<VaultTransaction, AdapterError> {
        self.decode_signed_within(bytes, limit).map(|(tx, _)| tx)
    }

    /// [`Self::decode_within`], with who must sign the transaction and the
    /// signatures its bytes carry.
    pub fn decode_signed_within(
        &mut self,
        bytes: &[u8],
        limit: Duration,
    ) -> Result<(VaultTransaction, Signed), AdapterError> {
        let call_timeout = limit.min(self.call_timeout);
        let adapter = self.runtime.info.name.clone();
        let broken = |why: String| AdapterError::Broken {
            adapter: adapter.clone(),
            why,
        };
        if self.instance.is_none() {
            let instance = self.runtime.instantiate(self.memory_bytes);
            self.instance = Some(instance.map_err(|e| broken(format!("{e:#}")))?);
        }
        let (store, instance) = self.instance.as_mut().expect("instantiated above");
        sandbox::arm_deadline(store, call_timeout);
        let answer = instance.decode(&mut *store, bytes);
        sandbox::disarm_deadline(store);
        match answer {
            Ok(Ok(decoded)) => checked(decoded, bytes).map_err(broken),
            Ok(Err(why)) => Err(AdapterError::Refused {
                adapter,
                why: ledger_sync_vocabulary::text::bounded(&why, 1024),
            }),
            Err(trap) => {
                let (store, _) = self.instance.take().expect("instantiated above");
                let stderr = store.data().stderr.contents();
                let why = sandbox::trap_reason(&trap, call_timeout, &stderr);
                Err(broken(format!("it trapped: {why}")))
            }
        }
    }
}

/// An adapter's answer, checked: a 32-byte id, whole dependency ids, and
/// outputs within the interchange format's bounds whose participants are
/// legal names (kept in canonical form).
fn checked(
    decoded: DecodedTransaction,
    bytes: &[u8],
) -> Result<(VaultTransaction, Signed), String> {
    let id: [u8; 32] = decoded
        .id
        .as_slice()
        .try_into()
        .map_err(|_| format!("it gave an id of {} bytes, not 32", decoded.id.len()))?;
    let dependencies =
        ledger_sync_vocabulary::id::split_ids(&decoded.dependencies).ok_or_else(|| {
            format!(
                "it gave dependencies of {} bytes, not a whole number of 32-byte ids",
                decoded.dependencies.len()
            )
        })?;
    let metadata = decoded.dependencies.len()
        + (decoded.outputs.iter().flatten())
            .map(|name| name.len() + 8)
            .sum::<usize>();
    if metadata > MAX_METADATA_BYTES {
        return Err(format!(
            "it gave {metadata} bytes of dependencies and participants; at most \
             {MAX_METADATA_BYTES} are accepted"
        ));
    }
    let legal = |name: &String, what: &str| {
        LegalName::parse(name)
            .map(|n| n.to_string())
            .map_err(|why| {
                format!(
                    "it gave a {what} `{}` that is not a legal name: {why}",
                    ledger_sync_vocabulary::text::bounded(name, 256)
                )
            })
    };
    let outputs = decoded
        .outputs
        .into_iter()
        .map(|participants| {
            (participants.iter())
                .map(|name| legal(name, "participant"))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    if decoded.signatures.len() > MAX_SIGNATURES
        || (decoded.required_signers.iter().flatten().count()) > MAX_SIGNATURES
    {
        return Err(format!(
            "it gave more than {MAX_SIGNATURES} signers or signatures for one transaction"
        ));
    }
    let required_signers = match decoded.required_signers {
        None => None,
        Some(names) => Some(
            (names.iter())
                .map(|name| legal(name, "required signer"))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let signatures = (decoded.signatures.into_iter())
        .map(|(signer, signature)| {
            if signature.len() > MAX_SIGNATURE_BYTES {
                return Err(format!(
                    "it gave a signature of {} bytes; at most {MAX_SIGNATURE_BYTES} are accepted",
                    signature.len()
                ));
            }
            Ok((legal(&signer, "signer")?, signature))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((
        VaultTransaction {
            id,
            dependencies,
            outputs,
            payload: Some(bytes.to_vec()),
        },
        Signed {
            required_signers,
            signatures,
        },
    ))
}

/// A ledger's native transactions — one per line, base64 (standard
/// alphabet) — read through an adapter as the ledger interchange format
/// ([`crate::interchange`]), one line for one line, so that an error names
/// the native file's line. One transaction is held at a time; a line
/// longer than `max_line_bytes` is refused without holding more.
pub struct NativeLines<R> {
    input: R,
    decoder: Decoder,
    max_line_bytes: usize,
    line: u64,
    native: Vec<u8>,
    translated: Vec<u8>,
    at: usize,
}

impl<R: std::io::BufRead> NativeLines<R> {
    pub fn new(input: R, decoder: Decoder, max_line_bytes: usize) -> Self {
        NativeLines {
            input,
            decoder,
            max_line_bytes,
            line: 0,
            native: Vec::new(),
            translated: Vec::new(),
            at: 0,
        }
    }

    /// Translates the next native line into `translated`; false at the end.
    fn refill(&mut self) -> std::io::Result<bool> {
        use base64::Engine;
        use std::io::BufRead as _;
        self.native.clear();
        self.translated.clear();
        self.at = 0;
        let limit = self.max_line_bytes as u64 + 1;
        let read =
            std::io::Read::take(&mut self.input, limit).read_until(b'\n', &mut self.native)?;
        if read == 0 {
            return Ok(false);
        }
        self.line += 1;
        let line = self.line;
        let fail = |why: String| std::io::Error::other(format!("line {line}: {why}"));
        if self.native.len() as u64 >= limit && !self.native.ends_with(b"\n") {
            return Err(fail(format!(
                "longer than {} bytes, the most a line may hold (maxPayloadBytes)",
                self.max_line_bytes
            )));
        }
        let text = self.native.trim_ascii();
        if text.is_empty() {
            self.translated.push(b'\n');
            return Ok(true);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| {
                fail(format!(
                    "is not a base64 transaction ({e}); give one per line"
                ))
            })?;
        let transaction = self
            .decoder
            .decode(&bytes)
            .map_err(|e| fail(e.to_string()))?;
        crate::interchange::write_transaction(&mut self.translated, &transaction)?;
        Ok(true)
    }
}

impl<R: std::io::BufRead> std::io::Read for NativeLines<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead;
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for NativeLines<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.at == self.translated.len() {
            if !self.refill()? {
                break;
            }
        }
        Ok(&self.translated[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.translated.len());
    }
}
