//! Peer-to-peer messaging over mutual TLS (rustls with the ring provider,
//! chosen explicitly).
//!
//! Every node's certificate carries its X.500 legal name as subject and is
//! issued by the network's root CA. A connection is accepted only when the
//! peer's certificate chains to that CA, names a party in the network map,
//! and is the very certificate the map pins for that name (SHA-256); the
//! sender of every message is that name — never anything in a payload.
//! Anything else is refused and logged.
//!
//! Each node dials each peer it sends to once and keeps the connection:
//! messages from A to B travel on A's connection to B, in order. A lost
//! connection is dialled again with back-off; the message whose write failed
//! and those queued meanwhile beyond the queue's bound are dropped, so
//! delivery is at most once and in order per pair, as the WIT promises.
//!
//! A frame ([`frame`]) is a 4-byte big-endian length of the rest, then the
//! name of the plugin it is for (one length byte, then the name), then the
//! plugin's payload: a node runs several plugins, and a plugin's messages
//! reach only the plugin of the same name on the other node. The network's
//! `maxMessageSize` bounds the payload, on send and on receive.
//!
//! What a peer can make this node hold is bounded: for each plugin, each
//! peer may have at most [`INBOX_MESSAGES_PER_PEER`] messages and
//! [`inbox_bytes_per_peer`] bytes waiting for that plugin's thread, all its
//! connections together. Past that, the transport stops reading that
//! peer's connections until the plugin's thread has taken some
//! (back-pressure: TCP makes the peer wait), so a flooding peer slows only
//! itself — each plugin thread takes events in arrival order, and every
//! other peer and operator call has at most one bounded queue ahead of it
//! per peer. A frame for a plugin this node does not run is read, dropped
//! and counted.
//!
//! Sending, every plugin but the first (the reconciliation plugin) may have
//! at most [`SHARE_MESSAGES`] messages and [`SHARE_BYTES`] bytes queued
//! for one peer: a plugin that floods a peer drops its own messages, never
//! the reconciliation plugin's.

use crate::config::{NetworkMap, NodeConfig};
use crate::x500::LegalName;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
#[cfg(test)]
use std::{path::Path, time::Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Messages the first plugin may have queued for one peer while its
/// connection is down; past it the newest are dropped (the plugin repairs
/// loss).
const QUEUE_PER_PEER: usize = 1024;
/// What every other plugin may have queued for one peer: messages, bytes.
pub const SHARE_MESSAGES: usize = 256;
pub const SHARE_BYTES: usize = 4 << 20;
/// The longest plugin name a frame carries (a component name's bound).
pub const MAX_PLUGIN_NAME: usize = 64;

/// A frame for `plugin`: the length of the rest (4 bytes, big-endian), the
/// plugin name's length (1 byte), the name, the payload.
pub fn frame(plugin: &str, payload: &[u8]) -> Vec<u8> {
    debug_assert!(plugin.len() <= MAX_PLUGIN_NAME);
    let rest = 1 + plugin.len() + payload.len();
    let mut frame = Vec::with_capacity(4 + rest);
    frame.extend_from_slice(&(rest as u32).to_be_bytes());
    frame.push(plugin.len() as u8);
    frame.extend_from_slice(plugin.as_bytes());
    frame.extend_from_slice(payload);
    frame
}
/// Redial back-off: from 100 ms, doubling, at most 2 s (a peer that comes
/// back is reached well within any sane inactivity timeout).
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// TLS handshakes that take longer are dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Inbound connections open at once, in all and from one IP address
/// (handshaking or established); past them a connection is closed as soon
/// as it is accepted. A peer keeps one connection to us, so honest use is
/// a handful per address.
pub const MAX_INBOUND_CONNECTIONS: usize = 256;
pub const MAX_INBOUND_PER_ADDRESS: usize = 16;
/// Inbound connections still in their TLS handshake (not yet known to be a
/// peer of the network map) at once. One more evicts the oldest, so
/// strangers that never finish a handshake hold at most this many of the
/// slots above and never keep a mapped peer out: the rest are left for
/// connections that authenticated.
pub const MAX_PENDING_HANDSHAKES: usize = 64;

/// Messages one peer may have waiting for the plugin thread.
pub const INBOX_MESSAGES_PER_PEER: u32 = 64;

/// Payload bytes one peer may have waiting for the plugin thread: twice
/// the network's largest message, at least 1 MiB.
pub fn inbox_bytes_per_peer(max_message_size: u32) -> u32 {
    max_message_size.saturating_mul(2).max(1 << 20)
}

/// One peer's share of the inbox: permits for messages and for bytes,
/// held by each message until the plugin thread has handled it.
struct InboxQuota {
    messages: Arc<tokio::sync::Semaphore>,
    bytes: Arc<tokio::sync::Semaphore>,
    /// Whether a full quota holds the connection until it has room (the
    /// reconciliation plugin's: back-pressure), or drops the message (any
    /// other plugin's: a plugin that cannot keep up loses its own messages
    /// and never holds up the reconciliation plugin's on the same
    /// connection).
    waits: bool,
}

/// What a waiting message holds of its peer's quota; released when the
/// message is dropped (handled).
pub struct QuotaPermit {
    _message: tokio::sync::OwnedSemaphorePermit,
    _bytes: tokio::sync::OwnedSemaphorePermit,
}

impl InboxQuota {
    fn new(max_message_size: u32, waits: bool) -> InboxQuota {
        InboxQuota {
            waits,
            messages: Arc::new(tokio::sync::Semaphore::new(
                INBOX_MESSAGES_PER_PEER as usize,
            )),
            bytes: Arc::new(tokio::sync::Semaphore::new(
                inbox_bytes_per_peer(max_message_size) as usize,
            )),
        }
    }

    /// Room for a message of `len` bytes: waited for when this quota
    /// [`waits`](Self::waits) (counting the pause in `stats`), else taken
    /// now if there is room; `None` when the message must be dropped.
    async fn admit(&self, len: usize, stats: &TransportStats) -> Option<QuotaPermit> {
        if !self.waits {
            return self.try_acquire(len);
        }
        // Nothing more is read from this peer until its quota has room.
        let (permit, waited) = self.acquire(len).await;
        if waited {
            stats
                .inbound_paused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Some(permit)
    }

    /// Room for a message of `len` bytes now, if there is.
    fn try_acquire(&self, len: usize) -> Option<QuotaPermit> {
        let message = self.messages.clone().try_acquire_owned().ok()?;
        let bytes = self
            .bytes
            .clone()
            .try_acquire_many_owned(len.max(1) as u32)
            .ok()?;
        Some(QuotaPermit {
            _message: message,
            _bytes: bytes,
        })
    }

    /// Waits for room for a message of `len` bytes (`len` is at most
    /// `maxMessageSize`, so it always fits an empty quota); true if it had
    /// to wait.
    async fn acquire(&self, len: usize) -> (QuotaPermit, bool) {
        let waited =
            self.messages.available_permits() == 0 || self.bytes.available_permits() < len.max(1);
        let message = self
            .messages
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let bytes = self
            .bytes
            .clone()
            .acquire_many_owned(len.max(1) as u32)
            .await
            .expect("the semaphore is never closed");
        (
            QuotaPermit {
                _message: message,
                _bytes: bytes,
            },
            waited,
        )
    }
}

/// A node's TLS identity and what it trusts.
pub struct Identity {
    pub name: LegalName,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<RootCertStore>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Identity {
    /// Loads the node's certificate, key and root CA, and checks that the
    /// certificate names the configured legal name.
    pub fn load(config: &NodeConfig) -> Result<Identity, String> {
        let paths = config.certificates();
        let read_certs = |path: &std::path::Path| -> Result<Vec<CertificateDer<'static>>, String> {
            let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read the certificate {}: {e}", path.display()))?
                .collect();
            let certs =
                certs.map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{} holds no certificate", path.display()));
            }
            Ok(certs)
        };
        let certs = read_certs(&paths.node_cert)?;
        let key = PrivateKeyDer::from_pem_file(&paths.node_key).map_err(|e| {
            format!(
                "cannot read the node's key {}: {e}",
                paths.node_key.display()
            )
        })?;
        let mut roots = RootCertStore::empty();
        for ca in read_certs(&paths.root_ca)? {
            roots
                .add(ca)
                .map_err(|e| format!("{}: not a usable root CA: {e}", paths.root_ca.display()))?;
        }
        let (_, parsed) = x509_parser::parse_x509_certificate(&certs[0])
            .map_err(|e| format!("{}: {e}", paths.node_cert.display()))?;
        let subject = crate::x500::from_certificate(&parsed)
            .map_err(|e| format!("{}: {e}", paths.node_cert.display()))?;
        if subject != config.legal_name {
            return Err(format!(
                "{}: the certificate names {subject}, but node.conf's myLegalName is {}; a node \
                 is the party its certificate names",
                paths.node_cert.display(),
                config.legal_name
            ));
        }
        Ok(Identity {
            name: subject,
            certs,
            key,
            roots: Arc::new(roots),
        })
    }

    fn server_config(&self) -> Result<ServerConfig, String> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            self.roots.clone(),
            provider(),
        )
        .build()
        .map_err(|e| format!("TLS client verifier: {e}"))?;
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.certs.clone(), self.key.clone_key())
            .map_err(|e| format!("TLS server certificate: {e}"))
    }

    fn client_config(&self) -> Result<ClientConfig, String> {
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.certs.clone(), self.key.clone_key())
            .map_err(|e| format!("TLS client certificate: {e}"))
    }
}

/// The network as the map describes it: canonical name → (address,
/// certificate fingerprint).
#[derive(Clone, Debug)]
pub struct Directory {
    pub me: String,
    pub peers: BTreeMap<String, (SocketAddr, String)>,
    pub max_message_size: u32,
}

impl Directory {
    pub fn new(map: &NetworkMap, me: &LegalName) -> Directory {
        let peers = map
            .nodes
            .iter()
            .filter_map(|e| {
                let name = LegalName::parse(&e.legal_name).ok()?;
                let address = e.address.parse().ok()?;
                Some((
                    name.to_string(),
                    (address, e.certificate_sha256.to_lowercase()),
                ))
            })
            .filter(|(name, _)| *name != me.to_string())
            .collect();
        Directory {
            me: me.to_string(),
            peers,
            max_message_size: map.parameters.max_message_size,
        }
    }

    /// Who a verified peer certificate belongs to, if the map pins it.
    fn identify(&self, cert: &CertificateDer<'_>) -> Result<String, String> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert)
            .map_err(|e| format!("unreadable certificate: {e}"))?;
        let name = crate::x500::from_certificate(&parsed)?.to_string();
        let Some((_, pinned)) = self.peers.get(&name) else {
            return Err(format!("{name} is not in the network map"));
        };
        let seen = crate::bootstrap::fingerprint(cert);
        if *pinned != seen {
            return Err(format!(
                "the certificate presented as {name} is not the one the network map pins for it \
                 (SHA-256 {seen}, the map says {pinned})"
            ));
        }
        Ok(name)
    }
}

impl ledger_sync_host::Peers for Directory {
    fn is_peer(&self, name: &str) -> bool {
        self.peers.contains_key(name)
    }
}

/// A message that arrived: its sender, from the verified certificate, and
/// the plugin it is for.
pub struct Inbound {
    pub from: String,
    pub plugin: String,
    pub payload: Vec<u8>,
    /// The sender's inbox quota this message holds until it is dropped.
    pub permit: Option<QuotaPermit>,
}

/// Hands an inbound message to the node; false once the node is shutting
/// down.
pub type Deliver = Arc<dyn Fn(Inbound) -> bool + Send + Sync>;

/// What the transport has seen, for metrics and tests.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Inbound connections refused: a failed handshake (another CA, no
    /// certificate), a certificate the network map does not pin, a party
    /// missing from it, an oversize frame.
    pub refused_connections: std::sync::atomic::AtomicU64,
    /// Messages received and handed to the node.
    pub delivered: std::sync::atomic::AtomicU64,
    /// Times a peer's connection was left unread because it had its whole
    /// inbox quota waiting for the plugin thread (back-pressure).
    pub inbound_paused: std::sync::atomic::AtomicU64,
    /// Inbound connections closed on arrival: past the caps in all or for
    /// their address.
    pub over_capacity: std::sync::atomic::AtomicU64,
    /// Payload bytes received from peers, and written to them.
    pub received_bytes: std::sync::atomic::AtomicU64,
    pub sent_bytes: std::sync::atomic::AtomicU64,
    /// Messages for a plugin this node does not run, dropped.
    pub unknown_plugin: std::sync::atomic::AtomicU64,
    /// Messages a plugin sent past its share of a peer's queue, dropped.
    pub over_share: std::sync::atomic::AtomicU64,
    /// Messages for a plugin other than the reconciliation plugin that
    /// arrived while its inbox quota for the peer was full, dropped.
    pub over_inbox_quota: std::sync::atomic::AtomicU64,
    /// Inbound connections closed in their handshake to make room for a
    /// newer one ([`MAX_PENDING_HANDSHAKES`]).
    pub evicted_handshakes: std::sync::atomic::AtomicU64,
}

/// The inbound connections still in their handshake, oldest first, each
/// with the signal that ends it.
#[derive(Default)]
struct PendingHandshakes {
    next: u64,
    pending: std::collections::VecDeque<(u64, Arc<tokio::sync::Notify>)>,
}

impl PendingHandshakes {
    /// Admits a new handshake: its id and its eviction signal, and the
    /// oldest's signal when that one must make room.
    fn admit(
        &mut self,
    ) -> (
        u64,
        Arc<tokio::sync::Notify>,
        Option<Arc<tokio::sync::Notify>>,
    ) {
        let evicted = (self.pending.len() >= MAX_PENDING_HANDSHAKES)
            .then(|| self.pending.pop_front().map(|(_, signal)| signal))
            .flatten();
        let id = self.next;
        self.next += 1;
        let signal = Arc::new(tokio::sync::Notify::new());
        self.pending.push_back((id, signal.clone()));
        (id, signal, evicted)
    }

    /// The handshake `id` ended, one way or another.
    fn done(&mut self, id: u64) {
        self.pending.retain(|(i, _)| *i != id);
    }

    /// A newly accepted connection's place among `pending`: it is admitted,
    /// the oldest evicted (and counted in `stats`) when they are too many.
    fn begin(pending: &Arc<std::sync::Mutex<Self>>, stats: &TransportStats) -> Handshake {
        let (id, evict, evicted) = pending.lock().expect("pending handshakes").admit();
        if let Some(oldest) = evicted {
            // notify_one keeps the signal if the task is not waiting yet.
            oldest.notify_one();
            stats
                .evicted_handshakes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let pending = pending.clone();
        Handshake {
            evict,
            ended: Box::new(move || pending.lock().expect("pending handshakes").done(id)),
        }
    }
}

/// What one plugin has queued for one peer ([`SHARE_MESSAGES`],
/// [`SHARE_BYTES`]).
#[derive(Default)]
struct Share {
    messages: std::sync::atomic::AtomicUsize,
    bytes: std::sync::atomic::AtomicUsize,
}

impl Share {
    /// Takes room for a message of `len` bytes, if there is some.
    fn take(self: &Arc<Share>, len: usize) -> Option<Held> {
        use std::sync::atomic::Ordering::SeqCst;
        let messages = self.messages.fetch_add(1, SeqCst);
        let bytes = self.bytes.fetch_add(len, SeqCst);
        let held = Held {
            share: self.clone(),
            len,
        };
        (messages < SHARE_MESSAGES && bytes + len <= SHARE_BYTES).then_some(held)
    }
}

/// A queued message's room in its plugin's share, given back when the
/// message is written or dropped.
struct Held {
    share: Arc<Share>,
    len: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.share.messages.fetch_sub(1, SeqCst);
        self.share.bytes.fetch_sub(self.len, SeqCst);
    }
}

/// A frame queued for a peer.
struct Outgoing {
    frame: Vec<u8>,
    payload_len: usize,
    _held: Option<Held>,
}

/// Sends to peers; the receiving side runs on its own.
#[derive(Clone)]
pub struct Outbox {
    queues: BTreeMap<String, mpsc::Sender<Outgoing>>,
    /// The shares of every plugin but the first, by peer, then plugin
    /// (looked up by `&str`: no allocation per message).
    shares: Arc<BTreeMap<String, BTreeMap<String, Arc<Share>>>>,
    max_message_size: u32,
    stats: Arc<TransportStats>,
}

impl Outbox {
    pub fn stats(&self) -> &Arc<TransportStats> {
        &self.stats
    }

    /// Queues `payload` for `plugin` on `to`; false if `to` is unknown,
    /// the payload is too large, the plugin has used its share of the
    /// peer's queue or the queue is full (the message is dropped).
    pub fn send(&self, to: &str, plugin: &str, payload: Vec<u8>) -> bool {
        if payload.len() > self.max_message_size as usize || plugin.len() > MAX_PLUGIN_NAME {
            return false;
        }
        let held = match self.shares.get(to).and_then(|of_peer| of_peer.get(plugin)) {
            None => None,
            Some(share) => match share.take(payload.len()) {
                Some(held) => Some(held),
                None => {
                    self.stats
                        .over_share
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return false;
                }
            },
        };
        let outgoing = Outgoing {
            frame: frame(plugin, &payload),
            payload_len: payload.len(),
            _held: held,
        };
        self.queues
            .get(to)
            .is_some_and(|queue| queue.try_send(outgoing).is_ok())
    }
}

impl Outbox {
    /// Waits until every peer's queue has been written out, or `limit` has
    /// passed (a peer that is down keeps its queue).
    pub fn flush(&self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline
            && self
                .queues
                .values()
                .any(|queue| queue.capacity() < queue.max_capacity())
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Starts the transport for the node's `plugins` (the reconciliation
/// plugin first): listens on `listen`, delivers what arrives to `deliver`,
/// and returns the outbox with one dialling task per peer.
pub async fn start(
    identity: &Identity,
    directory: Arc<Directory>,
    listen: SocketAddr,
    plugins: &[String],
    deliver: Deliver,
) -> Result<Outbox, String> {
    let acceptor = TlsAcceptor::from(Arc::new(identity.server_config()?));
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on p2pAddress {listen}: {e}"))?;
    let stats = Arc::new(TransportStats::default());
    tokio::spawn(accept_loop(
        listener,
        acceptor,
        directory.clone(),
        plugins.to_vec(),
        deliver,
        stats.clone(),
    ));
    let connector = TlsConnector::from(Arc::new(identity.client_config()?));
    let mut queues = BTreeMap::new();
    let mut shares = BTreeMap::new();
    let others = plugins.len().saturating_sub(1);
    for (name, (address, _)) in &directory.peers {
        let (tx, rx) = mpsc::channel(QUEUE_PER_PEER + SHARE_MESSAGES * others);
        queues.insert(name.clone(), tx);
        let of_peer: BTreeMap<String, Arc<Share>> = (plugins.iter().skip(1))
            .map(|plugin| (plugin.clone(), Arc::default()))
            .collect();
        shares.insert(name.clone(), of_peer);
        tokio::spawn(dial(
            connector.clone(),
            directory.clone(),
            name.clone(),
            *address,
            rx,
            stats.clone(),
        ));
    }
    Ok(Outbox {
        queues,
        shares: Arc::new(shares),
        max_message_size: directory.max_message_size,
        stats,
    })
}

/// Accepts inbound connections while there are slots, each served on a
/// task of its own; a refused one is counted and logged (rate-limited per
/// source address and kind).
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    directory: Arc<Directory>,
    plugins: Vec<String>,
    deliver: Deliver,
    stats: Arc<TransportStats>,
) {
    let accept_dir = directory.clone();
    let accept_stats = stats;
    let quotas = Arc::new(inbox_quotas(&directory, &plugins));
    let slots = crate::connection_slots::ConnectionSlots::new(
        MAX_INBOUND_CONNECTIONS,
        MAX_INBOUND_PER_ADDRESS,
    );
    // One refusal line a minute per source address and kind of refusal,
    // saying how many more.
    let refused_log = Arc::new(std::sync::Mutex::new(crate::log_limit::LogLimit::new(
        Duration::from_secs(60),
    )));
    let over_capacity = accept_stats.clone();
    let mut listener = crate::connection_slots::CappedListener::new(
        listener,
        slots,
        "p2pAddress",
        |line| tracing::warn!(target: "ledger_sync::transport", "{line}"),
        move || {
            over_capacity
                .over_capacity
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        },
    );
    let pending = Arc::new(std::sync::Mutex::new(PendingHandshakes::default()));
    // One line a minute per peer and kind of dropped message, across all
    // of a peer's connections (a peer reconnecting does not reset it).
    let dropped_log = Arc::new(std::sync::Mutex::new(crate::log_limit::LogLimit::new(
        Duration::from_secs(60),
    )));
    loop {
        let (stream, remote, slot) = listener.accept().await;
        let handshake = PendingHandshakes::begin(&pending, &accept_stats);
        let acceptor = acceptor.clone();
        let directory = accept_dir.clone();
        let deliver = deliver.clone();
        let stats = accept_stats.clone();
        let quotas = quotas.clone();
        let refused_log = refused_log.clone();
        let dropped_log = dropped_log.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let served = serve(
                (acceptor, handshake),
                stream,
                directory,
                (&quotas, &dropped_log),
                deliver,
                &stats,
            )
            .await;
            if let Err(why) = served {
                stats
                    .refused_connections
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let key = format!("{} {}", remote.ip(), refusal_kind(&why));
                let unlogged = refused_log.lock().expect("log limit").allow(&key);
                if let Some(unlogged) = unlogged {
                    tracing::warn!(target: "ledger_sync::transport", %remote, "refused or closed an inbound connection: {why}{unlogged}");
                }
            }
        });
    }
}

/// What kind of refusal `why` is, for rate-limiting its log lines per
/// source and kind (the text itself may hold names a stranger chose).
fn refusal_kind(why: &str) -> &'static str {
    if why.contains("is not in the network map") {
        "unmapped"
    } else if why.contains("is not the one the network map pins") {
        "unpinned"
    } else if why.contains("timed out") {
        "timeout"
    } else if why.starts_with("TLS handshake") {
        "handshake"
    } else if why.contains("maxMessageSize") {
        "oversize"
    } else {
        "other"
    }
}

/// The certificate the other end of a TLS connection presented.
fn peer_certificate(connection: &rustls::CommonState) -> Result<&CertificateDer<'static>, String> {
    connection
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| "the peer presented no certificate".to_string())
}

/// The inbox quotas, by peer and then by plugin.
type Quotas = BTreeMap<String, BTreeMap<String, InboxQuota>>;

/// Reads a frame's header: the payload's length and the plugin it is for.
/// `None` when the peer closed the connection.
async fn read_header(
    tls: &mut tokio_rustls::server::TlsStream<TcpStream>,
    from: &str,
    max: usize,
) -> Result<Option<(usize, String)>, String> {
    let Ok(rest) = tls.read_u32().await else {
        return Ok(None);
    };
    let Ok(name_len) = tls.read_u8().await else {
        return Ok(None);
    };
    let name_len = name_len as usize;
    let rest = rest as usize;
    if name_len > MAX_PLUGIN_NAME || rest < 1 + name_len || rest - 1 - name_len > max {
        return Err(format!(
            "{from} sent a malformed or oversize frame ({rest} bytes, a plugin name of \
             {name_len}); a frame names a plugin in at most {MAX_PLUGIN_NAME} bytes and carries \
             at most the network's maxMessageSize of {max}; connection closed"
        ));
    }
    let mut name = vec![0u8; name_len];
    if tls.read_exact(&mut name).await.is_err() {
        return Ok(None);
    }
    Ok(Some((
        rest - 1 - name_len,
        String::from_utf8_lossy(&name).into_owned(),
    )))
}

/// Every mapped peer's inbox quotas, one per plugin; the first plugin is
/// the reconciliation plugin, whose quota waits (see [`InboxQuota`]).
fn inbox_quotas(directory: &Directory, plugins: &[String]) -> Quotas {
    directory
        .peers
        .keys()
        .map(|name| {
            let per_plugin = plugins
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let quota = InboxQuota::new(directory.max_message_size, i == 0);
                    (p.clone(), quota)
                })
                .collect();
            (name.clone(), per_plugin)
        })
        .collect()
}

/// An inbound connection's place among the pending handshakes: the signal
/// that evicts it, and what to call once its handshake has ended.
struct Handshake {
    evict: Arc<tokio::sync::Notify>,
    ended: Box<dyn FnOnce() + Send>,
}

impl Handshake {
    /// The TLS handshake, within [`HANDSHAKE_TIMEOUT`] unless a newer
    /// connection evicts it first; either way it leaves the pending ones.
    async fn accept(
        self,
        acceptor: &TlsAcceptor,
        stream: TcpStream,
    ) -> Result<tokio_rustls::server::TlsStream<TcpStream>, String> {
        let accepted = tokio::select! {
            accepted = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => accepted,
            () = self.evict.notified() => {
                (self.ended)();
                return Err(format!(
                    "closed in its TLS handshake to make room for a newer connection (at most \
                     {MAX_PENDING_HANDSHAKES} handshakes at once)"
                ));
            }
        };
        (self.ended)();
        accepted
            .map_err(|_| "the TLS handshake timed out".to_string())?
            .map_err(|e| format!("TLS handshake: {e}"))
    }
}

/// Reads past a frame's `len` payload bytes and drops it, counting it in
/// `counter` and logging `why` at most once a minute per `kind` (a peer
/// and a reason, across all the peer's connections); false if the
/// connection closed meanwhile.
async fn drop_frame(
    tls: &mut tokio_rustls::server::TlsStream<TcpStream>,
    len: usize,
    (counter, dropped_log): (
        &std::sync::atomic::AtomicU64,
        &std::sync::Mutex<crate::log_limit::LogLimit>,
    ),
    kind: String,
    why: impl FnOnce() -> String,
) -> bool {
    let mut skip = tls.take(len as u64);
    if tokio::io::copy(&mut skip, &mut tokio::io::sink())
        .await
        .is_err()
    {
        return false;
    }
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let unlogged = dropped_log.lock().expect("log limit").allow(&kind);
    if let Some(unlogged) = unlogged {
        tracing::warn!(target: "ledger_sync::transport", "{}; dropped{unlogged}", why());
    }
    true
}

async fn serve(
    (acceptor, handshake): (TlsAcceptor, Handshake),
    stream: TcpStream,
    directory: Arc<Directory>,
    (quotas, dropped_log): (&Quotas, &std::sync::Mutex<crate::log_limit::LogLimit>),
    deliver: Deliver,
    stats: &TransportStats,
) -> Result<(), String> {
    keep_alive(&stream);
    let mut tls = handshake.accept(&acceptor, stream).await?;
    let from = directory.identify(peer_certificate(tls.get_ref().1)?)?;
    let quotas = quotas
        .get(&from)
        .ok_or_else(|| format!("{from} has no inbox quota"))?;
    let max = directory.max_message_size as usize;
    loop {
        let Some((len, plugin)) = read_header(&mut tls, &from, max).await? else {
            return Ok(()); // closed
        };
        let permit = match quotas.get(&plugin) {
            Some(quota) => quota.admit(len, stats).await,
            None => None,
        };
        let Some(permit) = permit else {
            // Read past it: the peer runs a plugin this node does not, or
            // another plugin's quota is full (delivery is at most once);
            // the connection goes on for the rest.
            let full = quotas.contains_key(&plugin);
            let (counter, kind) = match full {
                true => (&stats.over_inbox_quota, format!("{from} quota {plugin}")),
                false => (&stats.unknown_plugin, format!("{from} unknown")),
            };
            let why = || {
                let shown = ledger_sync_vocabulary::text::bounded(&plugin, MAX_PLUGIN_NAME);
                match full {
                    true => format!(
                        "{from} sent the plugin `{shown}` more than its inbox quota holds while \
                         it is busy"
                    ),
                    false => format!(
                        "{from} sent a message for the plugin `{shown}`, which this node does not \
                         run"
                    ),
                }
            };
            if !drop_frame(&mut tls, len, (counter, dropped_log), kind, why).await {
                return Ok(());
            }
            continue;
        };
        let mut payload = vec![0u8; len];
        if let Err(e) = tls.read_exact(&mut payload).await {
            // A peer that stops mid-frame (killed, restarted) is not a
            // refusal: the frame is lost, as a closed connection loses it.
            tracing::debug!(target: "ledger_sync::transport", "{from} closed the connection mid-message: {e}");
            return Ok(());
        }
        if !deliver(Inbound {
            from: from.clone(),
            plugin,
            payload,
            permit: Some(permit),
        }) {
            return Ok(()); // the node is shutting down
        }
        stats
            .delivered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        stats
            .received_bytes
            .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// TCP keep-alive probes after 30 s idle, every 10 s: a peer whose host
/// vanished without closing is found dead within a minute or so.
fn keep_alive(stream: &TcpStream) {
    let probes = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(30))
        .with_interval(Duration::from_secs(10));
    let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&probes);
}

/// Dials `peer` at `address` and checks, as every connection is checked,
/// that it is the certificate the network map pins for that name.
async fn handshake(
    connector: &TlsConnector,
    directory: &Directory,
    peer: &str,
    address: SocketAddr,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("cannot connect to {peer} at {address}: {e}"))?;
    keep_alive(&stream);
    let server = ServerName::try_from("localhost").expect("a valid name");
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(server, stream))
        .await
        .map_err(|_| format!("the TLS handshake with {peer} timed out"))?
        .map_err(|e| format!("TLS handshake with {peer}: {e}"))?;
    let who = directory.identify(peer_certificate(tls.get_ref().1)?)?;
    if who != peer {
        return Err(format!("{address} answered as {who}, not {peer}"));
    }
    Ok(tls)
}

/// A mutual-TLS connection to `peer` as `identity`, checked as the
/// transport checks its own, on which the caller writes frames ([`frame`])
/// itself: for load generators and attack rehearsals against a node.
pub async fn connect(
    identity: &Identity,
    directory: &Directory,
    peer: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let (address, _) = directory
        .peers
        .get(peer)
        .ok_or_else(|| format!("{peer} is not in the network map"))?;
    let connector = TlsConnector::from(Arc::new(identity.client_config()?));
    handshake(&connector, directory, peer, *address).await
}

/// Keeps a connection to one peer and writes its queue to it.
async fn dial(
    connector: TlsConnector,
    directory: Arc<Directory>,
    peer: String,
    address: SocketAddr,
    mut queue: mpsc::Receiver<Outgoing>,
    stats: Arc<TransportStats>,
) {
    let mut backoff = BACKOFF_FIRST;
    let mut failures = 0u64;
    let mut unreachable = crate::log_limit::LogLimit::new(Duration::from_secs(60));
    // The first message waits for the first connection.
    let Some(mut next) = queue.recv().await else {
        return;
    };
    loop {
        let connected = handshake(&connector, &directory, &peer, address).await;
        let mut tls = match connected {
            Ok(tls) => {
                if failures > 0 {
                    tracing::info!(target: "ledger_sync::transport", "connected to {peer} after {failures} failed attempts");
                }
                failures = 0;
                backoff = BACKOFF_FIRST;
                tls
            }
            Err(why) => {
                failures += 1;
                // What an operator acts on, once a minute while it lasts.
                if let Some(unlogged) = unreachable.allow("dial") {
                    tracing::warn!(target: "ledger_sync::transport", "{why}; the party may be down or unreachable; retrying every {BACKOFF_MAX:?} at most{unlogged}");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        loop {
            if let Err(e) = tls.write_all(&next.frame).await {
                // At most once: the message whose write failed is dropped.
                tracing::info!(target: "ledger_sync::transport", "lost the connection to {peer}: {e}");
                break;
            }
            let _ = tls.flush().await;
            stats.sent_bytes.fetch_add(
                next.payload_len as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            // Wait for the next message while watching the connection: a
            // peer never writes on a connection we dialled, so anything
            // readable is its end (it stopped or restarted). Dial again with
            // the next message rather than write it into a dead socket,
            // where it would be lost and the one after it fail.
            let mut probe = [0u8; 1];
            tokio::select! {
                message = queue.recv() => match message {
                    Some(message) => next = message,
                    None => return,
                },
                _ = tls.read(&mut probe) => {
                    tracing::info!(target: "ledger_sync::transport", "{peer} closed the connection; dialling again for the next message");
                    break;
                }
            }
        }
        match queue.recv().await {
            Some(message) => next = message,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::{BootstrapOptions, bootstrap};
    use std::sync::Mutex;
    use std::sync::atomic::Ordering;

    const A: &str = "O=PartyA, L=London, C=GB";
    const B: &str = "O=PartyB, L=London, C=GB";
    const C: &str = "O=PartyC, L=Paris, C=FR";

    fn plugins() -> Vec<String> {
        vec!["ledger-sync".to_string()]
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn network(dir: &Path, names: &[&str]) -> Vec<NodeConfig> {
        let out = bootstrap(&BootstrapOptions {
            dir: dir.to_path_buf(),
            names: names.iter().map(|n| n.to_string()).collect(),
            base_port: free_port().min(60_000),
            max_message_size: 4096,
            demo_ledger: None,
            p2p_hosts: Vec::new(),
            state_bytes: crate::bootstrap::DEFAULT_STATE_BYTES,
        })
        .unwrap();
        out.node_dirs
            .iter()
            .map(|d| NodeConfig::load(d).unwrap())
            .collect()
    }

    fn map_of(config: &NodeConfig) -> NetworkMap {
        NetworkMap::load(&config.network_map).unwrap()
    }

    /// A's transport accepts only what its network map pins: a foreign CA,
    /// another key under a pinned name, and a party missing from the map
    /// are refused and nothing of theirs is delivered; the real B is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_pinned_certificates_from_the_network_ca_get_through() {
        let here = tempfile::tempdir().unwrap();
        let net = network(&here.path().join("net"), &[A, B, C]);
        let foreign = network(&here.path().join("foreign"), &[B]);
        let (a, b, c) = (&net[0], &net[1], &net[2]);
        // The foreign node trusts A's CA as well as its own, so that the
        // handshake gets as far as A checking the foreign certificate.
        let foreign_roots = foreign[0].certificates().root_ca;
        let mut roots = std::fs::read_to_string(&foreign_roots).unwrap();
        roots.push_str(&std::fs::read_to_string(here.path().join("net/root-ca.pem")).unwrap());
        std::fs::write(&foreign_roots, roots).unwrap();

        // A's map leaves C out.
        let mut a_map = map_of(a);
        a_map.nodes.retain(|n| n.legal_name != C);
        let a_directory = Arc::new(Directory::new(&a_map, &a.legal_name));
        /// (sender, payload) of every delivered message.
        type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
        let got: Received = Arc::default();
        let sink = got.clone();
        let deliver: Deliver = Arc::new(move |m: Inbound| {
            sink.lock().unwrap().push((m.from, m.payload));
            true
        });
        let a_out = start(
            &Identity::load(a).unwrap(),
            a_directory,
            a.p2p_address,
            &plugins(),
            deliver,
        )
        .await
        .unwrap();

        // Another key under B's name, issued by the network's own CA.
        let impostor_dir = here.path().join("impostor");
        copy_dir(&b.dir, &impostor_dir);
        let issuer = crate::bootstrap::network_issuer(&here.path().join("net")).unwrap();
        let (cert, key) = crate::bootstrap::issue_node_certificate(&b.legal_name, &issuer).unwrap();
        std::fs::write(impostor_dir.join("certificates/node.pem"), cert.pem()).unwrap();
        std::fs::write(
            impostor_dir.join("certificates/node-key.pem"),
            key.serialize_pem(),
        )
        .unwrap();
        let impostor = NodeConfig::load(&impostor_dir).unwrap();

        let nobody: Deliver = Arc::new(|_| true);
        // B listens before the rogues pick free ports: none of them can be
        // handed B's port before B has bound it.
        let b_out = start(
            &Identity::load(b).unwrap(),
            Arc::new(Directory::new(&map_of(b), &b.legal_name)),
            b.p2p_address,
            &plugins(),
            nobody.clone(),
        )
        .await
        .unwrap();
        assert!(b_out.send(&a.legal_name.to_string(), "ledger-sync", b"from B".to_vec()));
        assert!(
            !b_out.send(&a.legal_name.to_string(), "ledger-sync", vec![0; 4097]),
            "over maxMessageSize"
        );
        let mut senders = Vec::new();
        // The rogues dial A at its real address, with their own maps that
        // pin A's real certificate.
        for (config, payload) in [
            (&foreign[0], b"foreign CA".as_slice()),
            (&impostor, b"impostor".as_slice()),
            (c, b"not in the map".as_slice()),
        ] {
            let mut map = map_of(b);
            map.nodes.retain(|n| n.legal_name == A);
            let directory = Arc::new(Directory::new(&map, &config.legal_name));
            let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let out = start(
                &Identity::load(config).unwrap(),
                directory,
                listen,
                &plugins(),
                nobody.clone(),
            )
            .await
            .unwrap();
            assert!(out.send(&a.legal_name.to_string(), "ledger-sync", payload.to_vec()));
            senders.push(out);
        }

        let deadline = Instant::now() + Duration::from_secs(30);
        while a_out.stats().refused_connections.load(Ordering::Relaxed) < 3
            || got.lock().unwrap().is_empty()
        {
            assert!(Instant::now() < deadline, "refused {:?}", a_out.stats());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            *got.lock().unwrap(),
            vec![(B.to_string(), b"from B".to_vec())]
        );
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
        // node.conf names the network map relatively: point it back.
        let conf = to.join("node.conf");
        if conf.exists() {
            let text = std::fs::read_to_string(&conf).unwrap();
            let map = from.join("../network-map.toml");
            std::fs::write(
                &conf,
                text.replace("../network-map.toml", map.to_str().unwrap()),
            )
            .unwrap();
        }
    }
}
