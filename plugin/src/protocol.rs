//! The wire protocol between a requester and a responder: versioned frames,
//! encoded with postcard.
//!
//! ```text
//! requester                                   responder
//!   Request{salt, until, digest,      ──▶  builds its set for the requester
//!           roots_bits, set_size,
//!           since, base}
//!                                     ◀──  Identical{cursor}  (same digest: done)
//!                                     ◀──  Symbols{start: 0, header{changes}}, ...
//!                                           (`base` is the digest of the set it
//!                                           served this requester last: it
//!                                           streams only what it gained since,
//!                                           and the requester peels them against
//!                                           what it gained since; no roots)
//!                                     ◀──  Roots{filter}  (only roots recorded
//!                                           since `since`, when it is given)
//!   (only when the responder's set has roots beyond the pair and the
//!   requester has candidates to test: it adds the ones that pass, with their
//!   back-chains, and always goes on with:)
//!                 Want{0, until}      ──▶
//!                                     ◀──  Symbols{start: 0, header{cursor}}, Symbols, ...
//!   peels each frame as it arrives;        (streams symbols [0, until), never
//!                                           more than a window past what the
//!                                           requester said it received)
//!                 Progress{received}  ──▶  (every quarter of the window)
//!   batch used, not decoded:
//!                 Want{from, until}   ──▶
//!                                     ◀──  Symbols, ...
//!   decoded:                   Done   ──▶  stops streaming, forgets the session
//! ```
//! `until` is credit (how far the requester lets the stream go), `Progress`
//! is flow control: the responder keeps at most
//! `batch_budget::in_flight_window` symbols in flight past the last
//! `Progress`, so a stream stops within that window of the point where the
//! difference decoded on any network, however fast the responder's frames
//! leave (and a re-request after loss re-sends at most that window).
//! The coded-symbol stream is a deterministic function of the responder's
//! set and the salt, so every request names absolute positions: a lost
//! frame shows up as a gap and the requester asks again from the index it
//! holds (`Want{from: received, ..}`); a lost `Request`, `Want` or
//! `Progress` is repaired by asking again after a silence. A responder
//! left waiting (its last frame or the requester's `Done` lost) sends its
//! last symbol again after a silence; a requester that has already
//! decoded answers it with `Done` again. Duplicates are harmless.
//!
//! Each frame is under the network's maximum message size. The responder
//! paces frames (one per timer tick), so `Done` stops the stream within a
//! frame of the point where the difference decoded. Either side may send
//! `Abort`; a responder that cannot serve answers `Refused`.
//!
//! What a responder learns: that a reconciliation ran, how many symbols the
//! requester asked for and when it stopped (so roughly the size of the
//! symmetric difference between the two sets), whether the requester's set
//! equals its own (the digest tests that and nothing else), how many of its
//! own transactions outside the pair's the requester would test against a
//! roots filter, to within a power of two (`roots_bits`), whether the
//! requester starts from the responder's set as last reconciled (its
//! `since` is the responder's own cursor), and nothing else — not which
//! transactions differ, not how many the requester lacks, and nothing about
//! transactions outside the set (`Done` carries no count).

use crate::riblt::{CodedSymbol, WIRE_SYMBOL_LEN};
use crate::root_filter::RootFilter;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The protocol version this plugin speaks. It also speaks
/// [`OLDEST_PROTOCOL_VERSION`] with a party that does (a session answers
/// in the version of the request that opened it); frames of any other
/// version are refused with [`Refusal::UnsupportedProtocol`].
///
/// Version 6 is version 5 with a *cursor* after the body of three frames
/// (see [`Frame::encode`]): a responder's first answer (`Identical`, or
/// the first frame of its stream) carries an opaque token for where its
/// set stood, and a request from the responder's set as last reconciled
/// hands it back (`since`), so that the responder's roots filter names
/// only the roots it gained since.
///
/// Version 7 adds a second field after the cursor of two frames: a
/// request's `base` (the digest of the responder's set as last reconciled)
/// and a stream header's `changes`. A responder that served the requester
/// exactly that set streams only what its set gained since, so that a
/// routine check costs what changed on both sides, not a pass over either
/// set ([`StreamHeader::changes`]).
pub const PROTOCOL_VERSION: u16 = 7;

/// The oldest protocol version this plugin still speaks.
pub const OLDEST_PROTOCOL_VERSION: u16 = 5;

/// Identifies one reconciliation (its state machine) on both nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub [u8; 16]);

impl SessionId {
    /// From 128 random bits, shaped as a version-4 UUID.
    pub fn from_random(hi: u64, lo: u64) -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&hi.to_be_bytes());
        b[8..].copy_from_slice(&lo.to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        SessionId(b)
    }
}

impl fmt::Display for SessionId {
    /// The UUID text form, e.g. `c243222b-1940-45df-8828-a8496196d274`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a responder will not serve a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Its pool of parallel reconciliations is full (the seed's
    /// MaxIncomingSessionsExceeded).
    MaxIncomingSessionsExceeded,
    /// It has answered its allowance of requests in the current window, or
    /// this requester's fair share of it.
    RequestLimitReached {
        allowed: u32,
        per_party: u32,
        window_ms: u64,
    },
    /// Its ledger graph is not built yet.
    LedgerGraphNotInitialised,
    /// A reconciliation from this requester is already running.
    AlreadyResponding,
    /// It speaks another protocol version.
    UnsupportedProtocol { supported: u16 },
    /// The requester asked for more batches than it serves.
    BatchLimitReached { max_batches: u32 },
    /// Not even one coded symbol fits in a message of the network's maximum
    /// size (the seed's MaxMessageSizeExceeded; the only size failure left).
    MessageSizeTooSmall { max_message_size: u32 },
    /// The requester asked for symbols past the most this responder streams
    /// in one reconciliation (bounded by its own set and configuration).
    StreamLimitReached { limit: u32 },
    /// The requester asked for the same symbols again more often than the
    /// responder allows (loss repair has a budget of its own).
    ResendLimitReached { sent: u64 },
    /// The responder has no reconciliation with this id from this requester
    /// (it restarted, or already ended it): the requester starts afresh.
    UnknownSession,
    /// A different request from this requester already uses this id.
    SessionIdInUse,
}

impl Refusal {
    /// Whether the refusal is temporary, so that asking again later may
    /// succeed: the requester retries these with back-off.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Refusal::MaxIncomingSessionsExceeded
                | Refusal::LedgerGraphNotInitialised
                | Refusal::AlreadyResponding
        )
    }

    /// Whether the responder lost the session (it restarted), so that the
    /// requester should start the reconciliation again at once.
    pub fn is_lost_session(&self) -> bool {
        matches!(self, Refusal::UnknownSession)
    }

    /// Whether the stream reached one of the responder's bounds before the
    /// difference decoded, so that the requester may start again under a
    /// new salt (a rateless code's rare tail is not the next salt's).
    pub fn is_decoding_bound(&self) -> bool {
        matches!(
            self,
            Refusal::StreamLimitReached { .. } | Refusal::BatchLimitReached { .. }
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::MaxIncomingSessionsExceeded => write!(
                f,
                "MaxIncomingSessionsExceededException: the party is already running its \
                 maximum number of parallel reconciliations; this node asks again with \
                 back-off (try later if it gives up)"
            ),
            Refusal::RequestLimitReached {
                allowed,
                per_party,
                window_ms,
            } => write!(
                f,
                "the party answers at most {allowed} reconciliation requests per {} \
                 (maxAllowedReconciliationRequestsPerTimeWindow per \
                 timeWindowForReconciliationRequestLimit), at most {per_party} of them from \
                 any one party, and this request is past that limit",
                crate::config::format_ms(*window_ms)
            ),
            Refusal::LedgerGraphNotInitialised => {
                write!(f, "the party's ledger graph is not initialised yet")
            }
            Refusal::AlreadyResponding => write!(
                f,
                "the party is already responding to a reconciliation from this node"
            ),
            Refusal::UnsupportedProtocol { supported } => write!(
                f,
                "the party speaks reconciliation protocol version {supported} at most, this \
                 node speaks {OLDEST_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
            ),
            Refusal::MessageSizeTooSmall { max_message_size } => write!(
                f,
                "MaxMessageSizeExceededException: not even one coded symbol fits in the \
                 network's maximum message size of {max_message_size} bytes; raise the \
                 maxMessageSize network parameter"
            ),
            Refusal::StreamLimitReached { limit } => write!(
                f,
                "the party streams at most {limit} coded symbols per reconciliation (a bound \
                 set by its own set for this node and its maxReconciliationDifferences) and \
                 the difference was not decoded within them"
            ),
            Refusal::ResendLimitReached { sent } => write!(
                f,
                "the party stopped after re-sending lost coded symbols too often ({sent} \
                 symbols sent in all); the network between the two nodes is losing too much"
            ),
            Refusal::UnknownSession => write!(
                f,
                "the party has no record of this reconciliation (it may have restarted)"
            ),
            Refusal::SessionIdInUse => write!(
                f,
                "the party is already running another reconciliation from this node with the \
                 same id"
            ),
            Refusal::BatchLimitReached { max_batches } => write!(
                f,
                "the party serves at most {max_batches} coded-symbol batches per reconciliation \
                 (maxNumberOfIbfFilterFlows) and the difference was not decoded within them"
            ),
        }
    }
}

/// What the first frame of a stream (the one starting at index 0) tells the
/// requester about the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHeader {
    /// Size of the set the stream codes: the responder's set, or what it
    /// gained since the request's `base` when `changes` is set.
    pub responder_set_size: u64,
    /// The most symbols the responder will stream in this reconciliation.
    pub stream_limit: u32,
    /// Version 6: where the responder's set stood (see [`Body::Identical`]).
    #[serde(skip)]
    pub cursor: Option<u64>,
    /// Version 7: the stream codes only the transactions the responder's
    /// set gained since the set whose digest was the request's `base` (the
    /// set it served this requester last), so the requester peels it
    /// against only what its own set gained since that set was learnt.
    /// Never set for a request without a `base`.
    #[serde(skip)]
    pub changes: bool,
}

/// What a frame says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Requester → responder: start a reconciliation, streaming symbols
    /// `[0, until)`. Sent again, unchanged, when nothing came back.
    Request {
        /// Keys the symbol checksums and mapping for this session.
        salt: u64,
        /// End of the first batch.
        until: u32,
        /// The digest of the requester's set under `salt` (see
        /// `riblt::Encoder::digest`): a responder whose set has the same
        /// digest answers [`Body::Identical`] instead of streaming. `None`
        /// asks for the stream regardless.
        digest: Option<u64>,
        /// The remainder width of the roots filter the requester asks for
        /// (`root_filter::bits_for` of how many of its own transactions lie
        /// outside its set for the responder, so it tells only their order
        /// of magnitude); 0 when it has none, and then no filter is sent.
        roots_bits: u8,
        /// How many transactions the requester's set holds: the responder
        /// streams enough symbols for a difference as large as both sets,
        /// within its own maxReconciliationDifferences.
        set_size: u64,
        /// Version 6: the responder's cursor from the reconciliation the
        /// requester's set was learnt from. A roots filter then names only
        /// the roots the responder recorded since; `None` asks for all.
        #[serde(skip)]
        since: Option<u64>,
        /// Version 7: the digest under `salt` of the responder's set as
        /// last reconciled, which `digest` covers together with what our
        /// set for the pair gained since. A responder that served us
        /// exactly that set may stream only what it gained since
        /// ([`StreamHeader::changes`]). `None` from a set of our own.
        #[serde(skip)]
        base: Option<u64>,
    },
    /// Responder → requester, instead of the first symbols: the
    /// transactions in the responder's set that involve the requester but
    /// not the responder, outside the back-chains of their dealings with
    /// each other (see [`crate::root_filter`]). The requester adds the ones
    /// it holds to its set, then asks for the stream with `Want{from: 0,
    /// ..}` whatever passed: what it sends next never depends on which of
    /// its transactions the filter named, so a filter cannot probe its
    /// vault. Its `bits` must be the request's `roots_bits`, and it codes
    /// at most `root_filter::max_roots` of them.
    Roots { filter: RootFilter },
    /// Responder → requester: the request's digest is the responder's own,
    /// so the two sets are identical and there is nothing to stream. It ends
    /// the reconciliation on both sides.
    Identical {
        /// Version 6: an opaque token for where the responder's set stood
        /// (its own, sealed under a key only it holds): the requester hands
        /// it back in its next request, as `since`. The first frame of a
        /// stream carries one in its [`StreamHeader`].
        #[serde(skip)]
        cursor: Option<u64>,
    },
    /// Responder → requester: consecutive coded symbols (one frame of a
    /// batch), paced so that `Done` stops a stream part-way.
    Symbols {
        /// Index of the first symbol carried.
        start: u32,
        /// On every frame that starts at index 0.
        header: Option<StreamHeader>,
        /// [`WIRE_SYMBOL_LEN`] bytes per symbol.
        symbols: Vec<u8>,
    },
    /// Requester → responder: stream symbols `[from, until)`. `until` past
    /// what was asked before is the next batch; `from` before what was sent
    /// asks again for symbols that were lost.
    Want { from: u32, until: u32 },
    /// Requester → responder: symbols `[0, received)` have arrived. Lets
    /// the responder stream a window past it (flow control; `Want` gives
    /// credit).
    Progress { received: u32 },
    /// Requester → responder: decoded. It says nothing else: the responder
    /// learns neither which nor how many transactions the requester lacks.
    Done,
    /// Responder → requester: the request is refused.
    Refused(Refusal),
    /// Either way: the reconciliation is abandoned, for the reason given.
    /// `to_responder` says which side's session it ends, so that two
    /// reconciliations between the same pair with the same id (one each way)
    /// never mix.
    Abort { to_responder: bool, reason: String },
}

impl Body {
    /// The cursor a version-6 frame carries after this body: a request's
    /// `since`, an `Identical`'s or a stream header's `cursor`.
    pub fn cursor(&self) -> Option<u64> {
        match self {
            Body::Request { since, .. } => *since,
            Body::Identical { cursor } => *cursor,
            Body::Symbols {
                header: Some(header),
                ..
            } => header.cursor,
            _ => None,
        }
    }

    /// Version 7's field after the cursor, for the bodies that carry one.
    fn extension(&self) -> Extension {
        match self {
            Body::Request { base, .. } => Extension::Base(*base),
            Body::Symbols {
                header: Some(header),
                ..
            } => Extension::Changes(header.changes),
            _ => Extension::None,
        }
    }

    /// Puts a decoded cursor in its place; false if this body has none
    /// (and the cursor is not `None`).
    fn set_cursor(&mut self, cursor: Option<u64>) -> bool {
        match self {
            Body::Request { since, .. } => *since = cursor,
            Body::Identical { cursor: slot } => *slot = cursor,
            Body::Symbols {
                header: Some(header),
                ..
            } => header.cursor = cursor,
            _ => return cursor.is_none(),
        }
        true
    }
}

/// What a version-7 frame carries after its cursor: a request's `base`,
/// a stream header's `changes`, or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Extension {
    Base(Option<u64>),
    Changes(bool),
    None,
}

/// A protocol frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    pub protocol: u16,
    pub session: SessionId,
    pub body: Body,
}

/// Why an inbound payload was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Too short or not a frame at all.
    Malformed(String),
    /// A frame of another protocol version (its session id, when readable).
    UnsupportedVersion {
        version: u16,
        session: Option<SessionId>,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Malformed(why) => write!(f, "malformed reconciliation message: {why}"),
            DecodeError::UnsupportedVersion { version, .. } => write!(
                f,
                "reconciliation message of protocol version {version}; this node speaks \
                 {OLDEST_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
            ),
        }
    }
}

impl Frame {
    pub fn new(session: SessionId, body: Body) -> Self {
        Frame {
            protocol: PROTOCOL_VERSION,
            session,
            body,
        }
    }

    /// A frame in `protocol` (a version this plugin speaks): in version 5
    /// the body's cursor is not sent.
    pub fn in_version(protocol: u16, session: SessionId, body: Body) -> Self {
        Frame {
            protocol,
            session,
            body,
        }
    }

    /// The frame's bytes: its postcard encoding; from version 6 on, the
    /// cursor of its body ([`Body::cursor`]) as a postcard `Option<u64>`
    /// after it; from version 7 on, after that, a request's `base` (a
    /// postcard `Option<u64>`) or a stream header's `changes` (a postcard
    /// `bool`).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = postcard::to_allocvec(self).expect("frames always serialise");
        if self.protocol >= 6 {
            let cursor = postcard::to_allocvec(&self.body.cursor()).expect("a cursor serialises");
            bytes.extend_from_slice(&cursor);
        }
        if self.protocol >= 7 {
            let extension = match self.body.extension() {
                Extension::Base(base) => postcard::to_allocvec(&base),
                Extension::Changes(changes) => postcard::to_allocvec(&changes),
                Extension::None => Ok(Vec::new()),
            };
            bytes.extend_from_slice(&extension.expect("an extension serialises"));
        }
        bytes
    }

    /// Decodes a payload from a peer, which may be anything at all.
    pub fn decode(payload: &[u8]) -> Result<Frame, DecodeError> {
        let (version, rest) = postcard::take_from_bytes::<u16>(payload)
            .map_err(|e| DecodeError::Malformed(format!("no protocol version ({e})")))?;
        if !(OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&version) {
            let session = postcard::take_from_bytes::<SessionId>(rest)
                .ok()
                .map(|(s, _)| s);
            return Err(DecodeError::UnsupportedVersion { version, session });
        }
        let (mut frame, mut rest) = postcard::take_from_bytes::<Frame>(payload)
            .map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if version >= 6 {
            let (cursor, after) = postcard::take_from_bytes::<Option<u64>>(rest)
                .map_err(|e| DecodeError::Malformed(format!("no cursor after the body ({e})")))?;
            rest = after;
            if !frame.body.set_cursor(cursor) {
                return Err(DecodeError::Malformed(
                    "a cursor after a body that carries none".to_string(),
                ));
            }
        }
        if version >= 7 {
            rest = frame.body.take_extension(rest)?;
        }
        if !rest.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "{} unexpected bytes after the frame",
                rest.len()
            )));
        }
        if let Body::Symbols { symbols, .. } = &frame.body
            && symbols.len() % WIRE_SYMBOL_LEN != 0
        {
            return Err(DecodeError::Malformed(format!(
                "{} symbol bytes is not a whole number of {WIRE_SYMBOL_LEN}-byte coded symbols",
                symbols.len()
            )));
        }
        Ok(frame)
    }
}

impl Body {
    /// Reads version 7's field after the cursor into its place, for a body
    /// that carries one; the bytes after it.
    fn take_extension<'a>(&mut self, rest: &'a [u8]) -> Result<&'a [u8], DecodeError> {
        let malformed =
            |what: &str, e: postcard::Error| DecodeError::Malformed(format!("no {what} ({e})"));
        Ok(match self {
            Body::Request { base, .. } => {
                let (value, after) = postcard::take_from_bytes::<Option<u64>>(rest)
                    .map_err(|e| malformed("base digest after the request's cursor", e))?;
                *base = value;
                after
            }
            Body::Symbols {
                header: Some(header),
                ..
            } => {
                let (value, after) = postcard::take_from_bytes::<bool>(rest)
                    .map_err(|e| malformed("changes flag after the stream header's cursor", e))?;
                header.changes = value;
                after
            }
            _ => rest,
        })
    }
}

/// Packs symbols for a `Symbols` body.
pub fn pack_symbols(symbols: &[CodedSymbol]) -> Vec<u8> {
    let mut out = Vec::with_capacity(symbols.len() * WIRE_SYMBOL_LEN);
    for s in symbols {
        s.write_to(&mut out);
    }
    out
}

/// Unpacks a `Symbols` body (its length was checked by [`Frame::decode`]).
pub fn unpack_symbols(bytes: &[u8]) -> Vec<CodedSymbol> {
    bytes
        .chunks_exact(WIRE_SYMBOL_LEN)
        .map(CodedSymbol::read_from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_garbage_is_rejected() {
        let session = SessionId::from_random(1, 2);
        let frame = Frame::new(session, Body::Want { from: 3, until: 7 });
        assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
        assert!(matches!(Frame::decode(&[]), Err(DecodeError::Malformed(_))));
        assert!(matches!(
            Frame::decode(&[PROTOCOL_VERSION as u8, 0xff, 0xff, 0xff]),
            Err(DecodeError::Malformed(_))
        ));
        let mut future = Frame::new(session, Body::Done);
        future.protocol = 9;
        assert!(Frame::decode(&Frame::in_version(4, session, Body::Done).encode()).is_err());
        assert_eq!(
            Frame::decode(&future.encode()),
            Err(DecodeError::UnsupportedVersion {
                version: 9,
                session: Some(session)
            })
        );
    }

    #[test]
    fn version_6_carries_cursors_and_version_5_frames_still_decode() {
        let session = SessionId::from_random(5, 6);
        let identical = Frame::new(session, Body::Identical { cursor: Some(77) });
        assert_eq!(Frame::decode(&identical.encode()), Ok(identical.clone()));
        // Version 5 has no cursor: the same body, its cursor dropped.
        let old = Frame::in_version(5, session, Body::Identical { cursor: Some(77) });
        let mut bytes = vec![5u8];
        bytes.extend_from_slice(&session.0);
        bytes.push(2); // `Identical`, the third variant, as version 5 wrote it
        assert_eq!(old.encode(), bytes);
        assert_eq!(
            Frame::decode(&bytes).map(|f| f.body),
            Ok(Body::Identical { cursor: None })
        );
        // A cursor after a body that carries none is refused.
        let mut want = Frame::new(session, Body::Want { from: 0, until: 1 }).encode();
        *want.last_mut().unwrap() = 1;
        want.push(9);
        assert!(matches!(
            Frame::decode(&want),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn version_7_carries_a_base_and_a_stream_of_changes_and_version_6_drops_them() {
        let session = SessionId::from_random(7, 8);
        let request = Body::Request {
            salt: 1,
            until: 16,
            digest: Some(2),
            roots_bits: 0,
            set_size: 3,
            since: Some(4),
            base: Some(u64::MAX),
        };
        let header = StreamHeader {
            responder_set_size: 5,
            stream_limit: 6,
            cursor: Some(7),
            changes: true,
        };
        let symbols = Body::Symbols {
            start: 0,
            header: Some(header),
            symbols: vec![1; WIRE_SYMBOL_LEN],
        };
        for body in [request, symbols] {
            let frame = Frame::new(session, body.clone());
            assert_eq!(Frame::decode(&frame.encode()), Ok(frame.clone()));
            let old = Frame::in_version(6, session, body).encode();
            let decoded = Frame::decode(&old).expect("a version-6 frame").body;
            assert_eq!(
                decoded.extension(),
                match decoded {
                    Body::Request { .. } => Extension::Base(None),
                    _ => Extension::Changes(false),
                }
            );
            // A version-7 frame without its extension is malformed.
            let mut cut = frame.encode();
            cut.pop();
            assert!(matches!(
                Frame::decode(&cut),
                Err(DecodeError::Malformed(_))
            ));
        }
    }

    #[test]
    fn ragged_symbol_bytes_are_rejected() {
        let frame = Frame::new(
            SessionId::from_random(3, 4),
            Body::Symbols {
                start: 0,
                header: None,
                symbols: vec![0; WIRE_SYMBOL_LEN + 1],
            },
        );
        assert!(Frame::decode(&frame.encode()).is_err());
    }

    #[test]
    fn session_ids_print_as_uuids() {
        let text = SessionId::from_random(u64::MAX, 0).to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
    }
}
