//! `ledger-sync node --dir NODE_DIR`: the node process. It reads the node
//! directory, takes the node's lock (`store::lock`: one process per node),
//! checks its identity against the network map, starts the
//! plugin on the reference host with the wall clock, the TLS transport and
//! the admin API, and serves until SIGTERM or SIGINT; then it stops taking
//! messages, lets the plugin thread finish what arrived and report what
//! stays in progress (`runtime::stop`), and exits 0.

use crate::config::{NetworkMap, NodeConfig, PluginSource, VaultSource};
use crate::plugins::{Neighbour, Plugins, Started};
use crate::shell::Catalog;
use crate::transport::{self, Directory, Identity};
use ledger_sync_host::{CacheOutcome, NodeOptions, PluginRuntime, Storage};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs the node in `dir` until it is told to stop.
pub fn serve(dir: &Path) -> Result<(), String> {
    let config = NodeConfig::load(dir)?;
    owner_only(&dir.join(crate::config::NODE_CONF))?;
    owner_only(&config.certificates().node_key)?;
    // One process per node, before its database is touched.
    let _lock = ledger_sync_host::store::lock::lock_node(
        dir,
        &config.legal_name.to_string(),
        &config.database,
        ledger_sync_host::store::lock::LOCK_WAIT,
    )
    .map_err(|e| format!("{e:#}"))?;
    let map = NetworkMap::load(&config.network_map)?;
    let identity = Identity::load(&config)?;
    check_on_the_map(&config, &map)?;
    let directory = Arc::new(Directory::new(&map, &config.legal_name));
    let peers = directory.clone() as Arc<dyn ledger_sync_host::Peers>;
    let (reconciliation, mut others) = start_plugins(&config, &map, &peers)?;
    let catalog = crate::plugins::catalog(&mut others)?;
    check_flow_permissions(&config, &catalog)?;
    let plugins = Arc::new(Plugins::new(&reconciliation, &others, catalog));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // Set on SIGTERM/SIGINT: the transport stops handing messages over.
    let stopping = Arc::new(AtomicBool::new(false));
    let deliver_stopping = stopping.clone();
    let routes = plugins.clone();
    let deliver: transport::Deliver = Arc::new(move |inbound| {
        !deliver_stopping.load(Ordering::Relaxed) && routes.deliver(inbound)
    });
    let outbox = tokio.block_on(transport::start(
        &identity,
        directory,
        config.p2p_address,
        &plugins.names,
        deliver,
    ))?;
    serve_admin_and_metrics(&tokio, &config, &plugins, &outbox)?;
    let threads = crate::plugins::spawn(reconciliation, others, &outbox)?;
    tracing::info!(
        target: "ledger_sync::node",
        "{} serving: peer-to-peer {}, admin {}",
        config.legal_name,
        config.p2p_address,
        config.admin_address
    );
    println!(
        "{} is running (peer-to-peer {}, admin {}, metrics {})",
        config.legal_name, config.p2p_address, config.admin_address, config.metrics_address
    );
    tokio.block_on(until_told_to_stop());
    tracing::info!(target: "ledger_sync::node", "{} stopping", config.legal_name);
    stopping.store(true, Ordering::Relaxed);
    plugins.shutdown();
    for thread in threads {
        let _ = thread.join();
    }
    tokio.shutdown_timeout(std::time::Duration::from_secs(2));
    println!("{} stopped", config.legal_name);
    Ok(())
}

/// Starts the reconciliation plugin and every other plugin node.conf
/// lists, each in its own sandbox; a plugin named twice is refused.
fn start_plugins(
    config: &NodeConfig,
    map: &NetworkMap,
    peers: &Arc<dyn ledger_sync_host::Peers>,
) -> Result<(Started, Vec<Started>), String> {
    let wasm = match &config.plugin {
        PluginSource::Builtin => std::borrow::Cow::Borrowed(ledger_sync_components::PLUGIN_BYTES),
        PluginSource::File(path) => std::borrow::Cow::Owned(read_component(path)?),
    };
    let key = ledger_sync_host::CacheKey::load_or_create(&config.plugin_cache_key())
        .map_err(|e| format!("{e:#}"))?;
    let runtime = load_plugin(&wasm, &config.plugin_cache, &key)?;
    let storage = open_storage(config)?;
    let vault = storage.vault();
    let mut options = NodeOptions::new(&config.legal_name.to_string(), storage);
    options.plugin_config_dir = Some(config.plugin_config_dir());
    options.max_message_size = map.parameters.max_message_size;
    let reconciliation = Started::start(runtime, options.clone(), peers.clone())?;
    let mut others: Vec<Started> = Vec::new();
    let capabilities = OtherCapabilities::open(config, map)?;
    for other in &config.plugins {
        let path = &other.path;
        let wasm = if path.as_os_str() == crate::config::BUILTIN_RECOVERY {
            std::borrow::Cow::Borrowed(ledger_sync_components::RECOVERY_PLUGIN_BYTES)
        } else {
            std::borrow::Cow::Owned(read_component(path)?)
        };
        let runtime = load_plugin(&wasm, &config.plugin_cache, &key)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let name = &runtime.info().name;
        if name == reconciliation.name() || others.iter().any(|o| o.name() == name) {
            return Err(format!(
                "{}: the plugin {name} is already loaded; a node runs each plugin once",
                path.display()
            ));
        }
        let neighbour = Neighbour {
            runtime,
            plugin: other,
            recorder: capabilities.recorder.clone(),
            recovery: capabilities.recovery.clone(),
            vault: vault.clone(),
            reconciliation: &reconciliation,
            node_dir: &config.dir,
        };
        others.push(crate::plugins::start_neighbour(
            neighbour,
            &options,
            peers.clone(),
        )?);
    }
    Ok((reconciliation, others))
}

/// What the `record` and `recovery` grants open, made once for every
/// plugin granted them: the verified recorder over the node's
/// `ledgerAdapter` and database, and the recovery tables.
struct OtherCapabilities {
    recorder: Arc<dyn ledger_sync_host::capabilities::VerifiedRecorder>,
    recovery: Arc<dyn ledger_sync_host::capabilities::RecoveryStore>,
}

impl OtherCapabilities {
    fn open(config: &NodeConfig, network_map: &NetworkMap) -> Result<OtherCapabilities, String> {
        use ledger_sync_host::capabilities::{RecordOutcome, VerifiedRecorder};
        /// The recorder of a node that cannot record what a peer sends,
        /// and why.
        struct Cannot(String);
        impl VerifiedRecorder for Cannot {
            fn record_verified(
                &self,
                _: &[(Vec<u8>, Vec<u8>)],
            ) -> anyhow::Result<Vec<RecordOutcome>> {
                anyhow::bail!("{}", self.0)
            }
        }
        let recorder: Arc<dyn VerifiedRecorder> = match (&config.ledger_adapter, &config.vault) {
            _ if !config.grants_any(ledger_sync_host::capabilities::GRANT_RECORD) => {
                Arc::new(Cannot("no plugin is granted record".into()))
            }
            (None, _) => Arc::new(Cannot(
                "node.conf names no ledgerAdapter, so what a counterparty sends cannot be \
                 verified: set ledgerAdapter = \"builtin:merkle\" (or the adapter of your \
                 ledger's format)"
                    .into(),
            )),
            (Some(_), VaultSource::View(view)) => Arc::new(Cannot(format!(
                "the vault is the view {view}, read in place: record recovered transactions \
                 into your own ledger"
            ))),
            (Some(name), VaultSource::Tables) => {
                let adapter = crate::ledger::load_adapter(&config.dir, name)
                    .map_err(|e| format!("ledgerAdapter: {e}"))?;
                Arc::new(ledger_sync_host::verified::VerifiedRecording::new(
                    &adapter,
                    network_map.signer_keys(),
                    config.database.clone(),
                ))
            }
        };
        let recovery =
            ledger_sync_host::store::shared::DatabaseRecoveryStore::open(&config.database)
                .map_err(|e| {
                    format!(
                        "cannot open the recovery tables in {}: {e:#}",
                        config.database
                    )
                })?;
        Ok(OtherCapabilities {
            recorder,
            recovery: Arc::new(recovery),
        })
    }
}

fn read_component(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path)
        .map_err(|e| format!("cannot load the plugin: reading {}: {e}", path.display()))
}

/// Refuses an rpcUser permission for a flow no plugin offers: node.conf
/// is read before the plugins say which flows they offer.
fn check_flow_permissions(config: &NodeConfig, catalog: &Catalog) -> Result<(), String> {
    for user in &config.rpc_users {
        for permission in &user.permissions {
            let Some(flow) = permission.strip_prefix("StartFlow.") else {
                continue;
            };
            if flow != "killFlow" && !catalog.names().contains(&flow) {
                return Err(format!(
                    "{}: rpcUsers.permissions: `{permission}` (user {}) names a flow no plugin \
                     offers; the flows are {} and killFlow",
                    config.dir.join(crate::config::NODE_CONF).display(),
                    user.username,
                    catalog.names().join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// The admin API and the metrics endpoint, each on its address.
fn serve_admin_and_metrics(
    tokio: &tokio::runtime::Runtime,
    config: &NodeConfig,
    plugins: &Arc<Plugins>,
    outbox: &transport::Outbox,
) -> Result<(), String> {
    let recorder = match &config.vault {
        VaultSource::Tables => {
            crate::admin::Recorder::tables(config.database.clone(), config.max_payload_bytes)
        }
        VaultSource::View(view) => crate::admin::Recorder::View(view.to_string()),
    };
    serve_http(
        tokio,
        "adminAddress",
        config.admin_address,
        crate::admin::router(config.rpc_users.clone(), plugins.clone(), recorder),
    )?;
    serve_http(
        tokio,
        "metricsAddress",
        config.metrics_address,
        crate::metrics::router(
            {
                let metrics =
                    crate::metrics::Metrics::new(outbox.stats().clone(), plugins.health.clone());
                if config.grants_any(ledger_sync_host::capabilities::GRANT_RECOVERY) {
                    metrics.with_recovery(config.database.clone())
                } else {
                    metrics
                }
            },
            plugins.reconciliation.clone(),
        ),
    )
}

/// Until SIGTERM or SIGINT.
async fn until_told_to_stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Refuses to run a node the network map does not list.
fn check_on_the_map(config: &NodeConfig, map: &NetworkMap) -> Result<(), String> {
    if map.find(&config.legal_name).is_some() {
        return Ok(());
    }
    Err(format!(
        "{}: {} is not in the network map; the map lists {}",
        config.network_map.display(),
        config.legal_name,
        map.nodes
            .iter()
            .map(|n| n.legal_name.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

/// A plugin component, compiled or loaded from the plugin cache, saying
/// which and how long it took.
fn load_plugin(
    wasm: &[u8],
    cache: &Path,
    key: &ledger_sync_host::CacheKey,
) -> Result<Arc<PluginRuntime>, String> {
    let started = std::time::Instant::now();
    let (plugin, cache_outcome) = PluginRuntime::cached(wasm, cache, key)
        .map_err(|e| format!("cannot load the plugin: {e:#}"))?;
    let took = started.elapsed();
    let cache_dir = cache.display();
    let cache = cache_outcome;
    let name = &plugin.info().name;
    match cache {
        CacheOutcome::Loaded => {
            tracing::info!(target: "ledger_sync::node", "loaded the compiled plugin {name} from {cache_dir} in {took:.2?}")
        }
        CacheOutcome::Stored | CacheOutcome::Compiled => {
            tracing::info!(target: "ledger_sync::node", "compiled the plugin {name} in {took:.2?} and kept it in {cache_dir}")
        }
        CacheOutcome::Refused(why) => {
            tracing::warn!(target: "ledger_sync::node", "refused the compiled plugin {name} in {cache_dir}: {why}; compiled it again in {took:.2?}")
        }
    }
    Ok(plugin)
}

/// The node's vault and status store: ledger-sync's tables in `database`,
/// or the operator's view there with the status tables beside it. A vault
/// that holds nothing is worth a warning: every reconciliation would then
/// report all of its counterparties' transactions missing.
fn open_storage(config: &NodeConfig) -> Result<Storage, String> {
    use ledger_sync_host::store::{self, shared::DatabaseStatusStore, view::ViewVault};
    let cannot =
        |e: anyhow::Error| format!("cannot open the node database {}: {e:#}", config.database);
    let (storage, count) = match (&config.vault, &config.database) {
        (VaultSource::View(view), store::Database::Postgres(url)) => {
            let statuses = DatabaseStatusStore::open(&config.database).map_err(cannot)?;
            let vault = ViewVault::open(url, view.clone()).map_err(|e| format!("{e:#}"))?;
            let count = vault.count().map_err(|e| format!("{e:#}"))?;
            tracing::info!(target: "ledger_sync::node", "reading the vault in place from vaultView {view} ({count} transactions now)");
            let storage = Storage::Provided {
                vault: Arc::new(vault),
                statuses: Arc::new(statuses),
            };
            (storage, count)
        }
        _ => {
            let count = store::connect(&config.database)
                .and_then(|mut db| db.count())
                .map_err(cannot)?;
            (Storage::Database(config.database.clone()), count)
        }
    };
    if count == 0 {
        tracing::warn!(
            target: "ledger_sync::node",
            "the vault of {} holds no transactions: record the node's ledger with `ledger-sync \
             vault record --node {}` (or, if it has one, `database` in node.conf points \
             elsewhere); a reconciliation would find every shared transaction missing",
            config.legal_name,
            config.dir.display()
        );
    }
    Ok(storage)
}

/// Refuses a secret that others may read (node.conf holds the rpcUsers'
/// passwords; node-key.pem is the node's identity), as ssh refuses an
/// unprotected key: the operator fixes the mode, nothing is guessed.
fn owner_only(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is readable or writable by others (mode {:o}); it holds secrets and must be \
                 the owner's alone: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    Ok(())
}

/// Admin and metrics connections open at once, in all and from one
/// address; past either a connection is closed as soon as it is accepted.
const MAX_HTTP_CONNECTIONS: usize = 64;
const MAX_HTTP_PER_ADDRESS: usize = 16;
/// A request's headers must arrive within this, and a whole connection
/// (its body, the answer) ends within `HTTP_CONNECTION_LIMIT`: a client
/// that sends slowly cannot hold a connection open.
const HTTP_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const HTTP_CONNECTION_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Listens on `address` (the node.conf key `key`) and serves `router` there
/// on the node's async runtime, within the bounds above.
fn serve_http(
    tokio: &tokio::runtime::Runtime,
    key: &str,
    address: std::net::SocketAddr,
    router: axum::Router,
) -> Result<(), String> {
    let listener = tokio
        .block_on(tokio::net::TcpListener::bind(address))
        .map_err(|e| format!("cannot listen on {key} {address}: {e}"))?;
    let slots =
        crate::connection_slots::ConnectionSlots::new(MAX_HTTP_CONNECTIONS, MAX_HTTP_PER_ADDRESS);
    let mut listener = crate::connection_slots::CappedListener::new(
        listener,
        slots,
        key,
        |line| tracing::warn!(target: "ledger_sync::node", "{line}"),
        || {},
    );
    tokio.spawn(async move {
        loop {
            let (stream, _, permit) = listener.accept().await;
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HTTP_HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let _ = tokio::time::timeout(HTTP_CONNECTION_LIMIT, connection).await;
            });
        }
    });
    Ok(())
}
