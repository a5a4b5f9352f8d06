//! `ledger-sync network bootstrap`: the analogue of Corda's Network
//! Bootstrapper in development mode. Given legal names it writes a root CA,
//! one node directory per party (named after its organisation) with its key,
//! certificate, node configuration, plugin configuration directory and an
//! operator account, and the network map listing every node's address and
//! certificate fingerprint with the network parameters. Optionally it fills
//! the first two parties' vaults with a demo ledger, the first restored from
//! a backup that lost its last transactions: it writes each one's ledger as
//! a file (`demo-ledger.jsonl`, the interchange format) and records it with
//! `vault record`, the path an operator's own ledger takes.

use crate::config::{
    NETWORK_MAP, NODE_CONF, NetworkMap, NetworkMapEntry, NetworkParameters, NodeConfFile, RpcUser,
};
use crate::x500::LegalName;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The demo ledger's file in a node directory, as recorded.
pub const DEMO_LEDGER: &str = "demo-ledger.jsonl";

const LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// What to bootstrap.
#[derive(Clone, Debug)]
pub struct BootstrapOptions {
    pub dir: PathBuf,
    pub names: Vec<String>,
    /// Node i listens on base + 3i (peer-to-peer), + 1 (admin), + 2
    /// (metrics).
    pub base_port: u16,
    pub max_message_size: u32,
    /// A demo ledger between the first two parties: (transactions, lost by
    /// the first, seed).
    pub demo_ledger: Option<(usize, usize, u64)>,
    /// The host each node's peer-to-peer address is on, in the order of
    /// `names`: the machine's address that its peers reach it at. Empty:
    /// every node on 127.0.0.1. The admin and metrics addresses stay on
    /// 127.0.0.1 (operated from the node's own machine).
    pub p2p_hosts: Vec<std::net::IpAddr>,
    /// Bytes of data in each output state of the demo ledger: with the
    /// ids and participants, about what a transaction's payload weighs.
    pub state_bytes: usize,
}

/// The demo ledger's data per output state unless asked otherwise.
pub const DEFAULT_STATE_BYTES: usize = 200;

/// What was written.
#[derive(Clone, Debug)]
pub struct Bootstrapped {
    pub node_dirs: Vec<PathBuf>,
    /// With a demo ledger: the ids the first party lost that the second can
    /// supply, sorted — what a reconciliation must find.
    pub expected: Vec<ledger_sync_vocabulary::TxId>,
    /// With a demo ledger: every id the first party held before the
    /// disaster, sorted.
    pub before: Vec<ledger_sync_vocabulary::TxId>,
}

fn io(path: &Path, e: std::io::Error) -> String {
    format!("cannot write {}: {e}", path.display())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| io(path, e))
}

/// Writes a secret readable by its owner only: into a new file created
/// 0600 beside `path` (never an existing one, never through a link), then
/// renamed over `path` — a link at `path` is replaced, not followed, and
/// the secret is never readable by others, not even for a moment.
fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    write_secret_bytes(path, text.as_bytes())
}

/// [`write_secret`] for bytes.
fn write_secret_bytes(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("secret");
    let temporary = path.with_file_name(format!(".{name}.{}.new", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&temporary)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(io(path, e));
    }
    Ok(())
}

/// 32 random bytes from the operating system, as hex.
pub fn random_secret() -> Result<String, String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read randomness from /dev/urandom: {e}"))?;
    Ok(hex::encode(bytes))
}

fn distinguished_name(name: &LegalName) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (attribute, value) in name.parts() {
        let kind = match attribute {
            "CN" => DnType::CommonName,
            "OU" => DnType::OrganizationalUnitName,
            "O" => DnType::OrganizationName,
            "L" => DnType::LocalityName,
            "ST" => DnType::StateOrProvinceName,
            _ => DnType::CountryName,
        };
        dn.push(kind, value);
    }
    dn
}

/// The development root CA's certificate parameters (its key signs every
/// node certificate; with the key in `root-ca-key.pem`, `Issuer::new` of
/// these signs more).
pub fn root_ca_params() -> CertificateParams {
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "ledger-sync development root CA");
    dn.push(DnType::OrganizationName, "ledger-sync");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca
}

/// SHA-256 of a certificate's DER bytes, lower-case hex: how the network
/// map pins each node's certificate.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The network's root CA as a certificate issuer, from the key the
/// bootstrapper wrote to `network_dir/root-ca-key.pem`.
pub fn network_issuer(network_dir: &Path) -> Result<Issuer<'static, KeyPair>, String> {
    let path = network_dir.join("root-ca-key.pem");
    let pem = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the root CA's key {}: {e}", path.display()))?;
    let key = KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Issuer::new(root_ca_params(), key))
}

/// A node certificate naming `name` (its subject is the legal name), with a
/// fresh key, issued by `issuer`: valid for both ends of a TLS connection.
pub fn issue_node_certificate(
    name: &LegalName,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(rcgen::Certificate, KeyPair), String> {
    let rcgen = |e: rcgen::Error| format!("cannot make a certificate: {e}");
    let key = KeyPair::generate().map_err(rcgen)?;
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(rcgen)?;
    params.distinguished_name = distinguished_name(name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, issuer).map_err(rcgen)?;
    Ok((cert, key))
}

/// Writes the network.
pub fn bootstrap(options: &BootstrapOptions) -> Result<Bootstrapped, String> {
    let names = check_names(options)?;
    std::fs::create_dir_all(&options.dir).map_err(|e| io(&options.dir, e))?;
    let rcgen = |e: rcgen::Error| format!("cannot make a certificate: {e}");
    let ca_key = KeyPair::generate().map_err(rcgen)?;
    let ca = root_ca_params();
    let ca_cert = ca.self_signed(&ca_key).map_err(rcgen)?;
    write(&options.dir.join("root-ca.pem"), &ca_cert.pem())?;
    write_secret(
        &options.dir.join("root-ca-key.pem"),
        &ca_key.serialize_pem(),
    )?;
    let issuer = Issuer::new(ca, ca_key);
    let mut entries = Vec::new();
    let mut node_dirs = Vec::new();
    let mut ledger_keys = LedgerKeys::new();
    for (i, name) in names.iter().enumerate() {
        let (dir, entry, key) = write_node(options, i, name, &issuer, &ca_cert.pem())?;
        entries.push(entry);
        node_dirs.push(dir);
        ledger_keys.insert(name.to_string(), key);
    }
    let map = NetworkMap {
        parameters: NetworkParameters {
            max_message_size: options.max_message_size,
        },
        nodes: entries,
    };
    let text = toml::to_string(&map).map_err(|e| format!("cannot write the network map: {e}"))?;
    write(&options.dir.join(NETWORK_MAP), &text)?;
    let (expected, before) = match options.demo_ledger {
        Some((transactions, lost, seed)) if names.len() >= 2 => demo_vaults(
            &names,
            &node_dirs,
            (transactions, lost, seed),
            (options.state_bytes, &ledger_keys),
        )?,
        Some(_) => return Err("--transactions needs at least two parties".into()),
        None => (Vec::new(), Vec::new()),
    };
    Ok(Bootstrapped {
        before,
        node_dirs,
        expected,
    })
}

/// The parties' legal names, checked: organisations distinct (they name
/// the node directories), room for the ports, one host per party if any.
fn check_names(options: &BootstrapOptions) -> Result<Vec<LegalName>, String> {
    let names: Vec<LegalName> = options
        .names
        .iter()
        .map(|n| LegalName::parse(n))
        .collect::<Result<_, _>>()?;
    let mut organisations = std::collections::HashSet::new();
    for name in &names {
        // Directory names differ only in case on some file systems.
        if !organisations.insert(name.organisation().to_lowercase()) {
            return Err(format!(
                "two parties share the organisation `{}` (compared ignoring case); each node \
                 directory is named after its organisation, so they must differ",
                name.organisation()
            ));
        }
    }
    if names.len() * 3 + options.base_port as usize > u16::MAX as usize {
        return Err(format!(
            "--base-port {} leaves no room for the ports",
            options.base_port
        ));
    }
    if !options.p2p_hosts.is_empty() && options.p2p_hosts.len() != names.len() {
        return Err(format!(
            "--p2p-hosts gives {} hosts for {} parties: give one per party, in the order of \
             --nodes, or none for 127.0.0.1",
            options.p2p_hosts.len(),
            names.len()
        ));
    }
    Ok(names)
}

/// Each party's ledger key pair, by legal name: what signs its
/// transactions (the network map pins the public half).
pub type LedgerKeys = std::collections::HashMap<String, ring::signature::Ed25519KeyPair>;

/// A new Ed25519 ledger key pair, and its PKCS#8 document.
fn ledger_key() -> Result<(ring::signature::Ed25519KeyPair, Vec<u8>), String> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| "cannot make a ledger key: no randomness".to_string())?;
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| "cannot read the ledger key just made".to_string())?;
    Ok((pair, pkcs8.as_ref().to_vec()))
}

/// Writes the `i`th node's directory — its certificates (issued by the
/// root CA `issuer`, whose certificate is `ca_pem`), its ledger key
/// (`certificates/ledger-key.pk8`, owner-only), node.conf with a random
/// admin password, and an empty plugin configuration — and returns it with
/// its network-map entry and its ledger key pair.
fn write_node(
    options: &BootstrapOptions,
    i: usize,
    name: &LegalName,
    issuer: &Issuer<'_, KeyPair>,
    ca_pem: &str,
) -> Result<(PathBuf, NetworkMapEntry, ring::signature::Ed25519KeyPair), String> {
    let dir = options.dir.join(name.organisation());
    let certs = dir.join("certificates");
    let plugin_config = dir.join("plugins").join("config");
    for d in [&certs, &plugin_config] {
        std::fs::create_dir_all(d).map_err(|e| io(d, e))?;
    }
    let (cert, key) = issue_node_certificate(name, issuer)?;
    write(&certs.join("root-ca.pem"), ca_pem)?;
    write(&certs.join("node.pem"), &cert.pem())?;
    write_secret(&certs.join("node-key.pem"), &key.serialize_pem())?;
    let (ledger, pkcs8) = ledger_key()?;
    write_secret_bytes(&certs.join("ledger-key.pk8"), &pkcs8)?;
    let port = options.base_port + 3 * i as u16;
    let conf = NodeConfFile {
        my_legal_name: name.to_string(),
        p2p_address: std::net::SocketAddr::new(
            options.p2p_hosts.get(i).copied().unwrap_or(LOOPBACK),
            port,
        )
        .to_string(),
        admin_address: format!("127.0.0.1:{}", port + 1),
        metrics_address: format!("127.0.0.1:{}", port + 2),
        database: "persistence.db".into(),
        network_map: format!("../{NETWORK_MAP}"),
        plugin: "builtin".into(),
        plugin_cache: None,
        max_payload_bytes: None,
        vault_view: None,
        ledger_adapter: Some(crate::ledger::BUILTIN_MERKLE.into()),
        plugins: vec![crate::config::PluginEntry {
            path: crate::config::BUILTIN_RECOVERY.into(),
            grants: ["vault", "reconciliation", "record", "recovery"]
                .map(String::from)
                .to_vec(),
            max_memory_mib: None,
            call_timeout_millis: None,
        }],
        rpc_users: vec![RpcUser {
            username: "admin".into(),
            password: random_secret()?,
            permissions: vec!["ALL".into()],
        }],
    };
    let text = toml::to_string(&conf).map_err(|e| format!("cannot write node.conf: {e}"))?;
    write_secret(&dir.join(NODE_CONF), &text)?;
    write(
        &plugin_config.join(crate::PLUGIN_CONFIG_FILE),
        "# ledger-sync plugin configuration: `key = value` lines (see the README).\n",
    )?;
    use ring::signature::KeyPair as _;
    let entry = NetworkMapEntry {
        legal_name: name.to_string(),
        address: conf.p2p_address.clone(),
        certificate_sha256: fingerprint(cert.der()),
        ledger_key: Some(hex::encode(ledger.public_key().as_ref())),
    };
    Ok((dir, entry, ledger))
}

/// `ledger` as merkle-v1 transactions (`adapters/merkle`): each one's
/// inputs are its dependencies' first outputs, its outputs the same
/// participants, its id the Merkle root of its bytes, and each signed over
/// its id by every participant with a key in `keys` — so that what a
/// counterparty sends in recovery can be verified. Dependencies come
/// before their dependants, so each is renamed before it is spent.
fn as_merkle(
    ledger: ledger_sync_ledgers::Ledger,
    state_bytes: usize,
    keys: &LedgerKeys,
) -> ledger_sync_ledgers::Ledger {
    use ledger_sync_adapter_merkle::format::{self, Output, Signature, StateRef, Transaction};
    let mut renamed = std::collections::HashMap::new();
    let mut merkle = ledger_sync_ledgers::Ledger::default();
    for (n, mut t) in ledger.transactions.into_iter().enumerate() {
        let dependencies: Vec<_> = t.dependencies.iter().map(|d| renamed[d]).collect();
        let native = Transaction {
            inputs: dependencies
                .iter()
                .map(|&tx| StateRef { tx, index: 0 })
                .collect(),
            outputs: t
                .outputs
                .iter()
                .map(|participants| Output {
                    participants: participants.clone(),
                    data: format!("{n:>width$}", width = state_bytes).into_bytes(),
                })
                .collect(),
            references: Vec::new(),
            commands: vec![b"Move".to_vec()],
            signatures: Vec::new(),
        };
        let mut bytes = format::encode(&native);
        let id = format::id(&bytes).expect("a transaction just encoded decodes");
        let signatures: Vec<Signature> = (native.required_signers().into_iter())
            .filter_map(|signer| {
                let signature = keys.get(&signer)?.sign(&id);
                Some(Signature {
                    signer,
                    signature: signature.as_ref().try_into().expect("64 bytes"),
                })
            })
            .collect();
        format::append_signatures(&mut bytes, &signatures);
        renamed.insert(t.id, id);
        t.id = id;
        t.dependencies = dependencies;
        t.payload = Some(bytes);
        merkle.push(t);
    }
    merkle
}

/// Fills the first two parties' vaults with a shared ledger in the
/// merkle-v1 format; the first is restored from a backup that lacks its
/// last `lost` transactions. Returns what a reconciliation must find and
/// what the first party held before the disaster.
fn demo_vaults(
    names: &[LegalName],
    dirs: &[PathBuf],
    (transactions, lost, seed): (usize, usize, u64),
    (state_bytes, keys): (usize, &LedgerKeys),
) -> Result<
    (
        Vec<ledger_sync_vocabulary::TxId>,
        Vec<ledger_sync_vocabulary::TxId>,
    ),
    String,
> {
    use ledger_sync_ledgers::{reconciliation_set, two_party_ledger_between};
    let (a, b) = (names[0].to_string(), names[1].to_string());
    let ledger = as_merkle(
        two_party_ledger_between(&a, &b, transactions, seed),
        state_bytes,
        keys,
    );
    let a_vault = ledger.vault_of(&a);
    let b_vault = ledger.vault_of(&b);
    let kept = a_vault.len() - lost.min(a_vault.len());
    let b_holds = reconciliation_set(&b_vault, &a);
    let mut expected: Vec<_> = a_vault[kept..]
        .iter()
        .map(|t| t.id)
        .filter(|id| b_holds.contains(id))
        .collect();
    expected.sort_unstable();
    // The operator's path: a ledger file per node, recorded with `vault
    // record` (the node is not running, so directly, under its lock).
    for (dir, vault) in [(&dirs[0], &a_vault[..kept]), (&dirs[1], &b_vault[..])] {
        let path = dir.join(DEMO_LEDGER);
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| io(&path, e))?);
        ledger_sync_host::interchange::write_header(&mut out).map_err(|e| io(&path, e))?;
        for t in vault {
            ledger_sync_host::interchange::write_transaction(&mut out, t)
                .map_err(|e| io(&path, e))?;
        }
        std::io::Write::flush(&mut out).map_err(|e| io(&path, e))?;
        drop(out);
        crate::ledger::record(dir, crate::ledger::Input::open(&path)?)
            .map_err(|e| format!("cannot record {}: {e}", path.display()))?;
    }
    let mut before: Vec<_> = a_vault.iter().map(|t| t.id).collect();
    before.sort_unstable();
    Ok((expected, before))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;

    #[test]
    fn a_bootstrapped_network_loads_and_pins_every_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let out = bootstrap(&BootstrapOptions {
            dir: dir.path().to_path_buf(),
            names: vec![
                "O=PartyA, L=London, C=GB".into(),
                "O=PartyB, L=London, C=GB".into(),
                "O=Notary, L=London, C=GB".into(),
            ],
            base_port: 20_000,
            max_message_size: 10 << 20,
            demo_ledger: Some((300, 10, 1)),
            p2p_hosts: Vec::new(),
            state_bytes: super::DEFAULT_STATE_BYTES,
        })
        .unwrap();
        assert_eq!(out.node_dirs[1], dir.path().join("PartyB"));
        assert!(!out.expected.is_empty() && out.expected.len() <= 10);
        let map = NetworkMap::load(&dir.path().join(NETWORK_MAP)).unwrap();
        assert_eq!(map.nodes.len(), 3);
        for (node_dir, entry) in out.node_dirs.iter().zip(&map.nodes) {
            let config = NodeConfig::load(node_dir).unwrap();
            assert_eq!(config.legal_name.to_string(), entry.legal_name);
            let pem = std::fs::read_to_string(config.certificates().node_cert).unwrap();
            let der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
                .unwrap()
                .1
                .contents;
            assert_eq!(fingerprint(&der), entry.certificate_sha256);
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            let subject = crate::x500::from_certificate(&cert).unwrap();
            assert_eq!(subject, config.legal_name);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(config.certificates().node_key)
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "the key is the owner's alone");
                let db = node_dir.join("persistence.db");
                let secrets = [node_dir.join(NODE_CONF), db.clone()];
                for secret in secrets.iter().filter(|p| **p != db || db.exists()) {
                    let mode = std::fs::metadata(secret).unwrap().permissions().mode();
                    assert_eq!(mode & 0o777, 0o600, "{} is owner-only", secret.display());
                }
            }
        }
        // A secret's path that is a link is replaced, never followed.
        #[cfg(unix)]
        {
            let target = dir.path().join("elsewhere");
            std::fs::write(&target, "untouched").unwrap();
            let link = dir.path().join("linked-secret");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            write_secret(&link, "secret").unwrap();
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
            assert!(
                !std::fs::symlink_metadata(&link)
                    .unwrap()
                    .file_type()
                    .is_symlink()
            );
        }
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let options = |names: &[&str]| BootstrapOptions {
            dir: dir.path().to_path_buf(),
            names: names.iter().map(|n| n.to_string()).collect(),
            base_port: 20_000,
            max_message_size: 10 << 20,
            demo_ledger: None,
            p2p_hosts: Vec::new(),
            state_bytes: super::DEFAULT_STATE_BYTES,
        };
        assert!(
            bootstrap(&options(&["PartyA"]))
                .unwrap_err()
                .contains("not ATTRIBUTE=value")
        );
        let twice = bootstrap(&options(&["O=A, L=X, C=GB", "O=A, L=Y, C=GB"])).unwrap_err();
        assert!(twice.contains("share the organisation"), "{twice}");
        let case = bootstrap(&options(&["O=Dup, L=X, C=GB", "O=DUP, L=Y, C=GB"])).unwrap_err();
        assert!(case.contains("ignoring case"), "{case}");
        for (name, why) in [
            ("O=../escape, L=X, C=GB", "slashes"),
            ("O=/abs, L=X, C=GB", "slashes"),
            ("O=A/B, L=X, C=GB", "slashes"),
            ("O=.hidden, L=X, C=GB", "may not start with `.`"),
            ("O=A, L=X, C=XX", "not an ISO 3166-1 alpha-2 country code"),
        ] {
            let e = bootstrap(&options(&[name])).unwrap_err();
            assert!(e.contains(why), "{name}: {e}");
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written outside or inside --dir"
        );
    }
}
