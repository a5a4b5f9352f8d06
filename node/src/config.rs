//! A node directory's files: the node configuration (`node.conf`, TOML, keys
//! named as in Corda's `node.conf`) and the network map it points to
//! (`network-map.toml`). Every problem stops start-up with an error naming
//! the file, the key and what is accepted.
//!
//! ```toml
//! myLegalName = "O=PartyA, L=London, C=GB"
//! p2pAddress = "127.0.0.1:10000"
//! adminAddress = "127.0.0.1:10001"
//! metricsAddress = "127.0.0.1:10002"
//! database = "persistence.db"        # SQLite, relative to the node directory;
//!                                     # or "postgresql://user:pw@host:5432/db"
//! networkMap = "../network-map.toml"
//! plugin = "builtin"                 # or a path to a component
//!
//! [[plugins]]                         # more plugins, beside the first
//! path = "plugins/alerts.wasm"        # relative to the node directory
//! grants = ["reconciliation"]         # and/or "vault"; default none
//!
//! [[rpcUsers]]
//! username = "admin"
//! password = "..."
//! permissions = ["ALL"]             # or ["StartFlow.ScheduleReconciliationFlow", ...]
//! ```

use crate::x500::LegalName;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The node configuration file's name in a node directory.
pub const NODE_CONF: &str = "node.conf";
/// The network map's file name, as the bootstrapper writes it.
pub const NETWORK_MAP: &str = "network-map.toml";

/// `node.conf` as written.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeConfFile {
    pub my_legal_name: String,
    pub p2p_address: String,
    pub admin_address: String,
    pub metrics_address: String,
    pub database: String,
    pub network_map: String,
    #[serde(default = "builtin")]
    pub plugin: String,
    /// Where the compiled plugin is kept between starts (relative to the
    /// node directory; default `plugins/cache`). Nodes on one machine may
    /// share one: an artifact is keyed by the component and the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_cache: Option<String>,
    /// More plugins, each in its own sandbox beside the reconciliation
    /// plugin (`plugin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginEntry>,
    #[serde(default)]
    pub rpc_users: Vec<RpcUser>,
    /// The largest transaction payload `vault record` accepts, in bytes
    /// (default [`DEFAULT_MAX_PAYLOAD_BYTES`], at most [`MAX_PAYLOAD_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload_bytes: Option<u64>,
    /// Read the vault in place from this view (or table) of the PostgreSQL
    /// `database` — `schema.name` — instead of ledger-sync's own tables
    /// (see the README, "An existing PostgreSQL ledger").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_view: Option<String>,
    /// The ledger adapter that verifies transactions a counterparty sends
    /// (recovery): `builtin:merkle`, a name in `adapters/`, or a path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_adapter: Option<String>,
}

/// The payload bound unless node.conf sets `maxPayloadBytes`.
pub const DEFAULT_MAX_PAYLOAD_BYTES: u64 =
    ledger_sync_host::interchange::DEFAULT_MAX_PAYLOAD_BYTES as u64;
/// The largest `maxPayloadBytes` accepted.
pub const MAX_PAYLOAD_BYTES: u64 = 64 << 20;

/// The permission to record transactions through the admin API.
pub const RECORD_PERMISSION: &str = "RecordTransactions";

fn builtin() -> String {
    "builtin".to_string()
}

/// One more plugin (`[[plugins]]`): its component and what it is granted
/// beyond what every plugin has.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    /// The component, relative to the node directory, or
    /// `builtin:ledger-recover` for the recovery plugin built in.
    pub path: String,
    /// Of `vault` (read the node's vault), `reconciliation` (the
    /// reconciliation plugin's results and flows), `record` (record
    /// transactions verified by the `ledgerAdapter`) and `recovery`
    /// (CR_RECOVERY_REQUEST, CR_RECOVERY_LOG).
    #[serde(default)]
    pub grants: Vec<String>,
    /// Its linear memory cap, in MiB ([`PLUGIN_MEMORY_MIB`]).
    #[serde(
        default,
        rename = "maxMemoryMiB",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_memory_mib: Option<u64>,
    /// Its CPU deadline per call, in milliseconds ([`PLUGIN_CALL_MILLIS`]).
    #[serde(
        default,
        rename = "callTimeoutMillis",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_timeout_millis: Option<u64>,
}

/// A `[[plugins]]` path naming the recovery plugin built into the binary.
pub const BUILTIN_RECOVERY: &str = "builtin:ledger-recover";

/// `maxMemoryMiB` of a `[[plugins]]` entry: (default, least, most).
pub const PLUGIN_MEMORY_MIB: (u64, u64, u64) = (256, 16, 4096);
/// `callTimeoutMillis` of a `[[plugins]]` entry: (default, least, most).
pub const PLUGIN_CALL_MILLIS: (u64, u64, u64) = (10_000, 100, 120_000);

/// A `[[plugins]]` entry, checked, its path resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtherPlugin {
    pub path: PathBuf,
    pub grants: Vec<String>,
    pub memory_bytes: usize,
    pub call_timeout: std::time::Duration,
}

/// An operator account on the admin API (Corda's `rpcUsers`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RpcUser {
    pub username: String,
    pub password: String,
    /// `ALL`, `StartFlow.<FlowName>` per flow, or `RecordTransactions`.
    pub permissions: Vec<String>,
}

/// Where a node's vault is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultSource {
    /// ledger-sync's own tables, recorded into with `vault record`.
    Tables,
    /// The operator's view over their own schema, read in place.
    View(ledger_sync_host::store::view::ViewName),
}

/// Which plugin component the node runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// The one built into the `ledger-sync` binary.
    Builtin,
    File(PathBuf),
}

/// A node's configuration, checked, with paths resolved against its
/// directory.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub dir: PathBuf,
    pub legal_name: LegalName,
    pub p2p_address: SocketAddr,
    pub admin_address: SocketAddr,
    pub metrics_address: SocketAddr,
    pub database: ledger_sync_host::store::Database,
    /// Where the vault is read from: ledger-sync's own tables in
    /// `database`, or the operator's view there.
    pub vault: VaultSource,
    /// `maxPayloadBytes`.
    pub max_payload_bytes: usize,
    pub network_map: PathBuf,
    pub plugin: PluginSource,
    /// The other plugins, with their grants and limits checked.
    pub plugins: Vec<OtherPlugin>,
    /// The compiled plugin's cache directory.
    pub plugin_cache: PathBuf,
    pub rpc_users: Vec<RpcUser>,
    /// `ledgerAdapter`, as given.
    pub ledger_adapter: Option<String>,
}

/// The node's certificate files in `certificates/`.
pub struct CertificatePaths {
    pub root_ca: PathBuf,
    pub node_cert: PathBuf,
    pub node_key: PathBuf,
}

/// Every rpcUser's permissions are ones the node knows.
fn check_permissions(users: &[RpcUser]) -> Result<(), String> {
    for user in users {
        for permission in &user.permissions {
            let known = permission == "ALL"
                || permission == RECORD_PERMISSION
                || permission.strip_prefix("StartFlow.").is_some_and(|f| {
                    crate::shell::FLOWS.contains(&f)
                        || f == "killFlow"
                        || crate::shell::looks_like_a_flow(f)
                });
            if !known {
                return Err(format!(
                    "`{permission}` (user {}) is not accepted: give ALL, {RECORD_PERMISSION} or \
                     StartFlow.<Flow>, the flows being {}, killFlow and those the node's other \
                     plugins offer",
                    user.username,
                    crate::shell::FLOWS.join(", ")
                ));
            }
        }
    }
    Ok(())
}

/// `[[plugins]]`: each grant one the node knows, each limit in its range.
fn plugin_entries(entries: &[PluginEntry], dir: &Path) -> Result<Vec<OtherPlugin>, String> {
    use ledger_sync_host::capabilities::GRANTS;
    let mut checked = Vec::new();
    for entry in entries {
        if entry.path.trim().is_empty() {
            return Err("a plugin's `path` is empty: give its component's path".to_string());
        }
        let mut grants = entry.grants.clone();
        grants.sort();
        grants.dedup();
        if let Some(bad) = grants.iter().find(|g| !GRANTS.contains(&g.as_str())) {
            return Err(format!(
                "{}: the grant `{bad}` is not accepted; the grants are {}",
                entry.path,
                GRANTS.join(" and ")
            ));
        }
        let in_range = |key: &str, value: Option<u64>, (default, least, most): (u64, u64, u64)| {
            let value = value.unwrap_or(default);
            if (least..=most).contains(&value) {
                Ok(value)
            } else {
                Err(format!(
                    "{}: {key} = {value} is not accepted: give {least} to {most} (default \
                     {default})",
                    entry.path
                ))
            }
        };
        let memory = in_range("maxMemoryMiB", entry.max_memory_mib, PLUGIN_MEMORY_MIB)?;
        let millis = in_range(
            "callTimeoutMillis",
            entry.call_timeout_millis,
            PLUGIN_CALL_MILLIS,
        )?;
        checked.push(OtherPlugin {
            path: if entry.path == BUILTIN_RECOVERY {
                PathBuf::from(BUILTIN_RECOVERY)
            } else {
                dir.join(&entry.path)
            },
            grants,
            memory_bytes: (memory << 20) as usize,
            call_timeout: std::time::Duration::from_millis(millis),
        });
    }
    Ok(checked)
}

/// `vaultView`: a view's name, only on a PostgreSQL database.
fn vault_view(
    view: &str,
    database: &ledger_sync_host::store::Database,
) -> Result<VaultSource, String> {
    let view = ledger_sync_host::store::view::ViewName::parse(view)?;
    if !matches!(database, ledger_sync_host::store::Database::Postgres(_)) {
        return Err(
            "reads a view of a PostgreSQL database; set `database` to a postgresql:// \
                    URL (an SQLite vault is recorded into with `ledger-sync vault record`)"
                .to_string(),
        );
    }
    Ok(VaultSource::View(view))
}

impl NodeConfig {
    /// Reads and checks `NODE_DIR/node.conf`.
    pub fn load(dir: &Path) -> Result<NodeConfig, String> {
        let path = dir.join(NODE_CONF);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the node configuration {}: {e}", path.display()))?;
        let file: NodeConfFile = toml::from_str(&text)
            .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?;
        let at = |key: &str, why: String| format!("{}: {key}: {why}", path.display());
        let legal_name = LegalName::parse(&file.my_legal_name).map_err(|e| at("myLegalName", e))?;
        let address = |key: &str, value: &str| -> Result<SocketAddr, String> {
            value.parse().map_err(|_| {
                at(
                    key,
                    format!(
                        "`{value}` is not accepted: give an IP address and port such as \
                         127.0.0.1:10000"
                    ),
                )
            })
        };
        let p2p_address = address("p2pAddress", &file.p2p_address)?;
        let admin_address = address("adminAddress", &file.admin_address)?;
        let metrics_address = address("metricsAddress", &file.metrics_address)?;
        check_permissions(&file.rpc_users).map_err(|why| at("rpcUsers.permissions", why))?;
        let max_payload_bytes = file.max_payload_bytes.unwrap_or(DEFAULT_MAX_PAYLOAD_BYTES);
        if max_payload_bytes > MAX_PAYLOAD_BYTES {
            return Err(at(
                "maxPayloadBytes",
                format!(
                    "{max_payload_bytes} is not accepted: give at most {MAX_PAYLOAD_BYTES} bytes \
                     (default {DEFAULT_MAX_PAYLOAD_BYTES})"
                ),
            ));
        }
        let database = ledger_sync_host::store::Database::parse(&file.database, dir)
            .map_err(|e| at("database", e))?;
        let vault = match &file.vault_view {
            None => VaultSource::Tables,
            Some(view) => vault_view(view, &database).map_err(|e| at("vaultView", e))?,
        };
        let plugin = match file.plugin.as_str() {
            "builtin" => PluginSource::Builtin,
            other => PluginSource::File(dir.join(other)),
        };
        let plugins = plugin_entries(&file.plugins, dir).map_err(|e| at("plugins", e))?;
        Ok(NodeConfig {
            dir: dir.to_path_buf(),
            legal_name,
            p2p_address,
            admin_address,
            metrics_address,
            database,
            vault,
            max_payload_bytes: max_payload_bytes as usize,
            network_map: dir.join(&file.network_map),
            plugin,
            plugins,
            plugin_cache: dir.join(file.plugin_cache.as_deref().unwrap_or("plugins/cache")),
            rpc_users: file.rpc_users,
            ledger_adapter: file.ledger_adapter,
        })
    }

    pub fn certificates(&self) -> CertificatePaths {
        let certs = self.dir.join("certificates");
        CertificatePaths {
            root_ca: certs.join("root-ca.pem"),
            node_cert: certs.join("node.pem"),
            node_key: certs.join("node-key.pem"),
        }
    }

    /// Whether any plugin of `[[plugins]]` is granted `grant`.
    pub fn grants_any(&self, grant: &str) -> bool {
        self.plugins
            .iter()
            .any(|p| p.grants.iter().any(|g| g == grant))
    }

    /// The plugin configuration directory (Corda's `cordapps/config`).
    pub fn plugin_config_dir(&self) -> PathBuf {
        self.dir.join("plugins").join("config")
    }

    /// The node's own key for its compiled-plugin cache (in the node's
    /// directory, never in the cache: see `ledger_sync_host::CacheKey`).
    pub fn plugin_cache_key(&self) -> PathBuf {
        self.dir.join("certificates").join("plugin-cache.key")
    }
}

/// The network map: who is on the network, where, and with which
/// certificate; and the network parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkMap {
    pub parameters: NetworkParameters,
    #[serde(default)]
    pub nodes: Vec<NetworkMapEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkParameters {
    /// The largest message payload any node sends or accepts, in bytes.
    pub max_message_size: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkMapEntry {
    pub legal_name: String,
    pub address: String,
    /// SHA-256 of the node's certificate (DER), lower-case hex.
    pub certificate_sha256: String,
    /// The party's ledger key: the Ed25519 public key (32 bytes, hex) its
    /// transactions' signatures verify against. Recovery records a
    /// transaction only if every party its ledger's rules require signed
    /// it with this key; a party without one cannot vouch for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_key: Option<String>,
}

impl NetworkMapEntry {
    /// The ledger key as bytes, if the entry pins one.
    pub fn ledger_key_bytes(&self) -> Option<[u8; 32]> {
        // 64 hex digits, as a transaction id is written.
        ledger_sync_vocabulary::id::from_hex(self.ledger_key.as_deref()?)
    }
}

impl NetworkMap {
    pub fn load(path: &Path) -> Result<NetworkMap, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the network map {}: {e}", path.display()))?;
        let map: NetworkMap = toml::from_str(&text)
            .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?;
        for entry in &map.nodes {
            LegalName::parse(&entry.legal_name)
                .map_err(|e| format!("{}: nodes.legalName: {e}", path.display()))?;
            entry.address.parse::<SocketAddr>().map_err(|_| {
                format!(
                    "{}: nodes.address: `{}` is not an IP address and port",
                    path.display(),
                    entry.address
                )
            })?;
            if entry.ledger_key.is_some() && entry.ledger_key_bytes().is_none() {
                return Err(format!(
                    "{}: nodes.ledgerKey of {}: not an Ed25519 public key; 64 hexadecimal \
                     digits are accepted",
                    path.display(),
                    entry.legal_name
                ));
            }
        }
        if map.parameters.max_message_size < 1024 {
            return Err(format!(
                "{}: parameters.maxMessageSize = {} is not accepted: at least 1024 bytes",
                path.display(),
                map.parameters.max_message_size
            ));
        }
        Ok(map)
    }

    /// Every party's pinned ledger key, for verifying what a counterparty
    /// sends in recovery.
    pub fn signer_keys(&self) -> ledger_sync_host::verified::SignerKeys {
        ledger_sync_host::verified::SignerKeys::new(
            (self.nodes.iter()).filter_map(|e| Some((e.legal_name.clone(), e.ledger_key_bytes()?))),
        )
    }

    /// The entry for a legal name (compared as names, not as text).
    pub fn find(&self, name: &LegalName) -> Option<&NetworkMapEntry> {
        self.nodes
            .iter()
            .find(|e| LegalName::parse(&e.legal_name).is_ok_and(|n| n == *name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        std::fs::write(dir.join(NODE_CONF), text).unwrap();
    }

    const GOOD: &str = r#"
myLegalName = "O=PartyA, L=London, C=GB"
p2pAddress = "127.0.0.1:10000"
adminAddress = "127.0.0.1:10001"
metricsAddress = "127.0.0.1:10002"
database = "persistence.db"
networkMap = "../network-map.toml"

[[rpcUsers]]
username = "admin"
password = "secret"
permissions = ["ALL"]
"#;

    #[test]
    fn a_good_configuration_loads_with_paths_resolved() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), GOOD);
        let config = NodeConfig::load(dir.path()).unwrap();
        assert_eq!(config.legal_name.to_string(), "O=PartyA, L=London, C=GB");
        assert_eq!(config.p2p_address.port(), 10000);
        assert_eq!(
            config.database,
            ledger_sync_host::store::Database::Sqlite(dir.path().join("persistence.db"))
        );
        assert_eq!(config.plugin, PluginSource::Builtin);
        let url = "postgresql://ledger:secret@db.example:5432/partya";
        write(dir.path(), &GOOD.replace("persistence.db", url));
        let config = NodeConfig::load(dir.path()).unwrap();
        assert_eq!(
            config.database,
            ledger_sync_host::store::Database::Postgres(url.into())
        );
        assert_eq!(
            config.database.to_string(),
            "postgresql://ledger:***@db.example:5432/partya",
            "shown without its password"
        );
    }

    #[test]
    fn bad_configuration_names_the_file_the_key_and_what_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                GOOD.replace("p2pAddress = \"127.0.0.1:10000\"\n", ""),
                "missing field `p2pAddress`",
            ),
            (format!("{GOOD}\nfoo = 1\n"), "unknown field `foo`"),
            (
                GOOD.replace("127.0.0.1:10001", "localhost"),
                "adminAddress: `localhost` is not accepted",
            ),
            (
                GOOD.replace("O=PartyA, L=London, C=GB", "PartyA"),
                "myLegalName",
            ),
            (
                GOOD.replace("\"persistence.db\"", "\"mysql://db.example/ledger\""),
                "database: `mysql://db.example/ledger` is not a database this node knows",
            ),
            (
                GOOD.replace("\"persistence.db\"", "\"postgresql://u@h:notaport/db\""),
                "database: `postgresql://u@h:notaport/db` is not a PostgreSQL URL",
            ),
            (
                GOOD.replace("[\"ALL\"]", "[\"StartFlow.Nope\"]"),
                "`StartFlow.Nope` (user admin) is not accepted",
            ),
        ];
        for (text, want) in cases {
            write(dir.path(), &text);
            let e = NodeConfig::load(dir.path()).unwrap_err();
            assert!(e.contains(want) && e.contains("node.conf"), "{want}: {e}");
        }
        std::fs::remove_file(dir.path().join(NODE_CONF)).unwrap();
        let e = NodeConfig::load(dir.path()).unwrap_err();
        assert!(e.contains("cannot read the node configuration"), "{e}");
    }
}
