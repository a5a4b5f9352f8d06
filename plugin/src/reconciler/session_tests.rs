//! The two session state machines, phase by phase, without a host: each
//! test feeds a session frames, timer firings and the time, and reads the
//! actions it answers with.

use super::batch_budget::FIRST_BATCH;
use super::known_sets::ReconciledSet;
use super::requester::{self, RETRY_BASE_MS, RequesterEnd, RequesterSession, RequesterSets};
use super::resend_after_ms;
use super::responder::{
    self, Answer, Coded, Request, ResponderEnd, ResponderSession, ResponderSet,
};
use super::session::{Action, Context, SessionKey, SessionTimer, Step};
use super::sets::{Candidates, Origin, RequesterCore};
use crate::config::Config;
use crate::graph::TxIndex;
use crate::id::TxId;
use crate::protocol::{Body, Refusal, SessionId, pack_symbols};
use crate::riblt::{Encoder, RunningDigest};
use crate::root_filter::{RootFilter, RootMatcher};

const PARTY: &str = "O=PartyB, L=London, C=GB";
const SALT: u64 = 0x5eed;
const MAX_MESSAGE: u32 = 10 * 1024 * 1024;

fn id(n: u32) -> TxId {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id[31] = 1;
    id
}

fn ids(range: std::ops::Range<u32>) -> Vec<TxId> {
    range.map(id).collect()
}

fn key() -> SessionKey {
    SessionKey::new(PARTY, SessionId::from_random(1, 2))
}

fn cx(config: &Config, now: u64) -> Context<'_> {
    Context {
        now,
        max_message: MAX_MESSAGE,
        config,
    }
}

/// A requester's sets, fixed: `core` with `candidates` outside it, and
/// `extra` added when a roots filter is applied; `walks` counts the passes
/// over the set (`ids`).
struct FixedSets {
    core: Vec<TxId>,
    candidates: u64,
    extra: Vec<TxId>,
    walks: u32,
}

impl FixedSets {
    fn new(core: Vec<TxId>, candidates: u64, extra: Vec<TxId>) -> Self {
        FixedSets {
            core,
            candidates,
            extra,
            walks: 0,
        }
    }
}

/// A core with `candidates` candidates (their indices do not matter here).
fn core_of(ids: Vec<TxId>, candidates: u64) -> (Option<Vec<TxId>>, RequesterCore) {
    let core = RequesterCore {
        set: ReconciledSet::default(),
        origin: Origin::Pair,
        candidates: Candidates::Listed((0..candidates as u32).map(TxIndex).collect()),
        since: None,
        digest: None,
        base: None,
        gained: Vec::new(),
    };
    (Some(ids), core)
}

impl RequesterSets for FixedSets {
    fn core(&mut self) -> Result<(Option<Vec<TxId>>, RequesterCore), String> {
        Ok(core_of(self.core.clone(), self.candidates))
    }

    fn ids(&mut self, _: &ReconciledSet) -> Vec<TxId> {
        self.walks += 1;
        self.core.clone()
    }

    fn add_roots(
        &mut self,
        _: &mut ReconciledSet,
        _: Candidates,
        _: &RootMatcher,
    ) -> (Vec<TxId>, usize, u64) {
        (self.extra.clone(), self.extra.len(), self.candidates)
    }
}

fn sends<E>(step: &Step<E>) -> Vec<&Body> {
    step.actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(body) | Action::Tell(body) => Some(body),
            _ => None,
        })
        .collect()
}

fn timers<E>(step: &Step<E>) -> Vec<(SessionTimer, u64)> {
    step.actions
        .iter()
        .filter_map(|a| match a {
            Action::SetTimer(t, ms) => Some((*t, *ms)),
            _ => None,
        })
        .collect()
}

/// The responder's stream `[start, start + count)` over `set`.
fn symbols(set: &[TxId], start: u32, count: u32) -> Body {
    let mut encoder = Encoder::new(set.iter().copied(), SALT);
    encoder.rewind(start);
    Body::Symbols {
        start,
        header: None,
        symbols: pack_symbols(&encoder.produce(count)),
    }
}

fn feed(session: &mut RequesterSession, body: Body, config: &Config) -> Step<RequesterEnd> {
    let Body::Symbols {
        start,
        header,
        symbols,
    } = body
    else {
        panic!("not symbols: {body:?}");
    };
    let mut sets = FixedSets::new(Vec::new(), 0, Vec::new());
    session.on_symbols(start, header, &symbols, &mut sets, &cx(config, 10))
}

fn requester(core: Vec<TxId>, candidates: u64, config: &Config) -> RequesterSession {
    let (session, step) = RequesterSession::start(
        key(),
        "O=PartyA, L=London, C=GB".into(),
        core_of(core, candidates),
        (SALT, 0),
        crate::protocol::PROTOCOL_VERSION,
        &cx(config, 0),
    );
    assert_eq!(session.phase(), requester::Phase::Requested);
    assert_eq!(
        timers(&step),
        vec![(SessionTimer::Silence, resend_after_ms(config))]
    );
    let [Body::Request { until, salt, .. }] = sends(&step)[..] else {
        panic!("a request: {step:?}");
    };
    assert_eq!((*until, *salt), (FIRST_BATCH, SALT));
    session
}

#[test]
fn requested_then_identical_ends_decoded_without_done() {
    let config = Config::default();
    let mut session = requester(ids(0..10), 0, &config);
    let step = session.on_identical(Some(3));
    assert_eq!(step.end, Some(RequesterEnd::Decoded { said_done: false }));
    assert!(
        sends(&step).is_empty(),
        "Identical ended it at the responder"
    );
}

/// A routine check starts from a kept digest: its request carries the
/// set's digest without a pass over the set, an `Identical` ends it still
/// without one, and only symbols make it build its decoder (once).
#[test]
fn a_routine_check_from_a_kept_digest_walks_its_set_only_for_symbols() {
    let config = Config::default();
    let mine = ids(0..100);
    let start = |sets: &mut FixedSets| {
        let core = RequesterCore {
            set: ReconciledSet::default(),
            origin: Origin::LastReconciled,
            candidates: Candidates::Counted(0),
            since: None,
            digest: Some(RunningDigest::of(&mine, SALT)),
            base: None,
            gained: Vec::new(),
        };
        let (session, step) = RequesterSession::start(
            key(),
            String::new(),
            (None, core),
            (SALT, 0),
            crate::protocol::PROTOCOL_VERSION,
            &cx(&config, 0),
        );
        let [Body::Request { digest, .. }] = sends(&step)[..] else {
            panic!("a request: {step:?}");
        };
        assert_eq!(*digest, Some(Encoder::new(mine.clone(), SALT).digest()));
        assert_eq!(sets.walks, 0, "no pass over the set for the request");
        session
    };
    let mut sets = FixedSets::new(mine.clone(), 0, Vec::new());
    let mut session = start(&mut sets);
    let step = session.on_identical(None);
    assert_eq!(step.end, Some(RequesterEnd::Decoded { said_done: false }));
    assert_eq!(sets.walks, 0, "nor for an Identical");

    let mut session = start(&mut sets);
    let theirs = ids(0..102);
    let Body::Symbols { symbols, .. } = symbols(&theirs, 0, FIRST_BATCH) else {
        unreachable!()
    };
    let step = session.on_symbols(0, None, &symbols, &mut sets, &cx(&config, 10));
    assert_eq!(step.end, Some(RequesterEnd::Decoded { said_done: true }));
    assert_eq!(sets.walks, 1, "one pass, when the symbols came");
}

#[test]
fn streaming_decodes_what_the_responder_holds_and_says_done() {
    let config = Config::default();
    let mine = ids(0..100);
    let theirs = ids(0..103);
    let mut session = requester(mine, 0, &config);
    let step = feed(&mut session, symbols(&theirs, 0, FIRST_BATCH), &config);
    assert_eq!(session.phase(), requester::Phase::Streaming);
    assert_eq!(step.end, Some(RequesterEnd::Decoded { said_done: true }));
    assert!(matches!(sends(&step)[..], [Body::Done]));
    let (_, decoded, _) = session.take_outcome();
    let mut found: Vec<TxId> = decoded
        .iter()
        .filter(|(_, side)| *side == crate::riblt::Side::RemoteOnly)
        .map(|(id, _)| *id)
        .collect();
    found.sort_unstable();
    assert_eq!(found, ids(100..103));
}

#[test]
fn streaming_asks_for_more_when_the_credit_is_spent_undecoded() {
    let config = Config::default();
    let mut session = requester(ids(0..10), 0, &config);
    let theirs = ids(0..200);
    let step = feed(&mut session, symbols(&theirs, 0, FIRST_BATCH), &config);
    assert_eq!(step.end, None);
    let [Body::Want { from, until }] = sends(&step)[..] else {
        panic!("a want: {step:?}");
    };
    assert_eq!(*from, FIRST_BATCH);
    assert!(*until > FIRST_BATCH);
}

#[test]
fn a_gap_asks_again_once_from_the_index_held() {
    let config = Config::default();
    let mut session = requester(ids(0..10), 0, &config);
    let theirs = ids(0..200);
    feed(&mut session, symbols(&theirs, 0, 4), &config);
    let step = feed(&mut session, symbols(&theirs, 8, 4), &config);
    assert!(matches!(
        sends(&step)[..],
        [Body::Want {
            from: 4,
            until: FIRST_BATCH
        }]
    ));
    let again = feed(&mut session, symbols(&theirs, 12, 4), &config);
    assert!(sends(&again).is_empty(), "once per gap");
}

#[test]
fn symbols_past_the_credit_are_a_protocol_violation() {
    let config = Config::default();
    let mut session = requester(ids(0..10), 0, &config);
    let step = feed(
        &mut session,
        symbols(&ids(0..50), 0, FIRST_BATCH + 1),
        &config,
    );
    assert!(matches!(
        sends(&step)[..],
        [Body::Abort {
            to_responder: true,
            ..
        }]
    ));
    let Some(RequesterEnd::Failed(reason)) = step.end else {
        panic!("failed: {step:?}");
    };
    assert!(reason.contains("protocol violation"), "{reason}");
}

#[test]
fn a_roots_filter_moves_requested_to_filtered_and_asks_for_the_stream() {
    let config = Config::default();
    let (mut session, step) = RequesterSession::start(
        key(),
        String::new(),
        core_of(ids(0..10), 3),
        (SALT, 0),
        crate::protocol::PROTOCOL_VERSION,
        &cx(&config, 0),
    );
    let [Body::Request { roots_bits, .. }] = sends(&step)[..] else {
        panic!("a request: {step:?}");
    };
    assert!(*roots_bits > 0, "three candidates ask for a filter");
    let mut sets = FixedSets::new(ids(0..10), 3, ids(10..12));
    let filter = RootFilter::build(&ids(10..12), SALT, *roots_bits, 1 << 20);
    let step = session.on_roots(filter.clone(), &mut sets, &cx(&config, 5));
    assert_eq!(session.phase(), requester::Phase::Filtered);
    assert!(matches!(sends(&step)[..], [Body::Want { from: 0, .. }]));
    // Only once: a second filter is ignored.
    let again = session.on_roots(filter, &mut sets, &cx(&config, 6));
    assert!(again.actions.is_empty() && again.end.is_none());
}

#[test]
fn a_roots_filter_of_another_width_is_refused() {
    let config = Config::default();
    let mut session = requester(ids(0..10), 3, &config);
    let mut sets = FixedSets::new(ids(0..10), 3, vec![]);
    let filter = RootFilter::build(&ids(10..12), SALT, 1, 1 << 20);
    let step = session.on_roots(filter, &mut sets, &cx(&config, 5));
    assert!(matches!(step.end, Some(RequesterEnd::Failed(ref r)) if r.contains("remainder bits")));
}

#[test]
fn a_busy_refusal_backs_off_holding_no_slot_then_asks_again() {
    let config = Config::default();
    let mut session = requester(ids(0..10), 0, &config);
    let mut sets = FixedSets::new(ids(0..10), 0, vec![]);
    let busy = Refusal::MaxIncomingSessionsExceeded;
    let step = session.on_refused(busy, &mut sets, 7, &cx(&config, 100));
    assert_eq!(session.phase(), requester::Phase::BackingOff);
    assert!(!session.holds_slot());
    let [(SessionTimer::Retry, delay)] = timers(&step)[..] else {
        panic!("a retry timer: {step:?}");
    };
    assert!(
        (RETRY_BASE_MS / 2..=RETRY_BASE_MS).contains(&delay),
        "{delay}"
    );
    assert!(step.actions.iter().any(|a| matches!(a, Action::SlotFreed)));
    // Frames are ignored while backing off.
    let ignored = feed(&mut session, symbols(&ids(0..20), 0, 4), &config);
    assert!(ignored.actions.is_empty());
    // Our own pool is full: wait again, without an attempt.
    let full = session.on_retry_timer(true, &cx(&config, 1_000));
    assert_eq!(timers(&full), vec![(SessionTimer::Retry, RETRY_BASE_MS)]);
    let retry = session.on_retry_timer(false, &cx(&config, 2_000));
    assert_eq!(session.phase(), requester::Phase::Requested);
    assert!(matches!(sends(&retry)[..], [Body::Request { .. }]));
}

#[test]
fn a_busy_refusal_past_the_retry_timeout_fails() {
    let config = Config::parse("maxReconciliationRetryAttemptTimeout = 10s").unwrap();
    let mut session = requester(ids(0..10), 0, &config);
    let mut sets = FixedSets::new(ids(0..10), 0, vec![]);
    let busy = Refusal::MaxIncomingSessionsExceeded;
    let step = session.on_refused(busy, &mut sets, 7, &cx(&config, 10_000));
    assert!(matches!(step.end, Some(RequesterEnd::Failed(ref r)) if r.contains("gave up after 1")));
}

#[test]
fn a_lost_session_starts_again_a_bounded_number_of_times() {
    let config = Config::default();
    let mut session = requester(ids(0..10), 0, &config);
    let mut sets = FixedSets::new(ids(0..12), 0, vec![]);
    for _ in 0..3 {
        let step = session.on_refused(Refusal::UnknownSession, &mut sets, 0, &cx(&config, 1));
        let [Body::Request { set_size, .. }] = sends(&step)[..] else {
            panic!("a request: {step:?}");
        };
        assert_eq!(*set_size, 12, "the set is built again");
    }
    let step = session.on_refused(Refusal::UnknownSession, &mut sets, 0, &cx(&config, 1));
    assert!(matches!(step.end, Some(RequesterEnd::Failed(_))));
}

#[test]
fn a_silent_responder_is_asked_again_then_given_up_on() {
    let config = Config::default();
    let resend = resend_after_ms(&config);
    let timeout = config.reconciliation_inactivity_timeout_ms;
    let mut session = requester(ids(0..10), 0, &config);
    let step = session.on_silence_timer(&cx(&config, resend));
    assert!(matches!(sends(&step)[..], [Body::Request { .. }]));
    assert_eq!(timers(&step).len(), 1);
    let step = session.on_silence_timer(&cx(&config, timeout));
    assert!(matches!(sends(&step)[..], [Body::Abort { .. }]));
    assert_eq!(step.end, Some(RequesterEnd::Silent { silent_ms: timeout }));
}

fn request(set_size: u64, roots_bits: u8, digest: Option<u64>) -> Request {
    Request {
        salt: SALT,
        until: FIRST_BATCH,
        digest,
        roots_bits,
        set_size,
        since: None,
        base: None,
    }
}

fn set(ids: Vec<TxId>, roots: Vec<TxId>) -> ResponderSet {
    ResponderSet {
        ids,
        roots,
        cursor: Some(11),
        coded: Coded::WholeSet,
    }
}

fn responder(
    ours: Vec<TxId>,
    roots: Vec<TxId>,
    request: Request,
    config: &Config,
) -> (ResponderSession, Step<ResponderEnd>) {
    match ResponderSession::answer(key(), request, set(ours, roots), &cx(config, 0)) {
        Answer::Session(session, step) => (*session, step),
        Answer::Identical { .. } => panic!("not identical"),
    }
}

#[test]
fn a_request_holding_our_set_is_answered_identical() {
    let config = Config::default();
    let digest = Encoder::new(ids(0..10), SALT).digest();
    let answer = ResponderSession::answer(
        key(),
        request(10, 0, Some(digest)),
        set(ids(0..10), vec![]),
        &cx(&config, 0),
    );
    assert!(matches!(
        answer,
        Answer::Identical {
            set_size: 10,
            cursor: Some(11),
            ..
        }
    ));
}

#[test]
fn without_roots_the_responder_streams_at_once() {
    let config = Config::default();
    let (session, step) = responder(ids(0..50), vec![], request(40, 0, None), &config);
    assert_eq!(session.phase(), responder::Phase::Streaming);
    let bodies = sends(&step);
    let [
        Body::Symbols {
            start: 0, header, ..
        },
        ..,
    ] = bodies[..]
    else {
        panic!("symbols: {step:?}");
    };
    assert_eq!(header.expect("the first frame").responder_set_size, 50);
}

#[test]
fn with_roots_the_responder_waits_for_the_want_and_repeats_its_roots() {
    let config = Config::default();
    let (mut session, step) = responder(ids(0..50), ids(50..52), request(40, 8, None), &config);
    assert_eq!(session.phase(), responder::Phase::RootsSent);
    assert!(matches!(sends(&step)[..], [Body::Roots { .. }]));
    let again = session.on_repeated_request(SALT, FIRST_BATCH, &cx(&config, 1));
    assert!(matches!(sends(&again)[..], [Body::Roots { .. }]));
    let other = session.on_repeated_request(SALT + 1, FIRST_BATCH, &cx(&config, 1));
    assert!(matches!(
        sends(&other)[..],
        [Body::Refused(Refusal::SessionIdInUse)]
    ));
    assert!(other.end.is_none(), "the session goes on");
    let want = session.on_want(0, FIRST_BATCH, &cx(&config, 2));
    assert_eq!(session.phase(), responder::Phase::Streaming);
    assert!(matches!(
        sends(&want)[..],
        [Body::Symbols { start: 0, .. }, ..]
    ));
}

/// A `Want` from past anything this session sent holds an earlier
/// session's stream (this node restarted and a copy of the request opened
/// this one): the requester is told to start again, and the session goes
/// on. An empty range is a violation.
#[test]
fn a_want_from_past_what_was_sent_restarts_the_requester() {
    let config = Config::default();
    let (mut session, _) = responder(ids(0..50), vec![], request(50, 0, None), &config);
    let step = session.on_want(10_000, 10_001, &cx(&config, 1));
    assert!(matches!(
        sends(&step)[..],
        [Body::Refused(Refusal::UnknownSession)]
    ));
    assert!(step.end.is_none(), "the session goes on");
    let step = session.on_want(20, 10, &cx(&config, 1));
    assert!(
        matches!(step.end, Some(ResponderEnd::Failed(ref r)) if r.contains("protocol violation"))
    );
}

#[test]
fn credit_past_the_batch_limit_is_refused() {
    let config = Config::parse("maxNumberOfIbfFilterFlows = 2").unwrap();
    let (mut session, _) = responder(ids(0..500), vec![], request(10, 0, None), &config);
    let mut until = FIRST_BATCH;
    let mut end = None;
    for _ in 0..3 {
        until += 16;
        let step = session.on_want(0, until, &cx(&config, 1));
        if step.end.is_some() {
            end = step.end;
            break;
        }
    }
    let refusal = Refusal::BatchLimitReached { max_batches: 2 };
    assert_eq!(end, Some(ResponderEnd::Failed(refusal.to_string())));
}

#[test]
fn a_message_size_too_small_for_a_symbol_is_refused() {
    let config = Config::default();
    let tiny = Context {
        now: 0,
        max_message: 8,
        config: &config,
    };
    let Answer::Session(_, step) =
        ResponderSession::answer(key(), request(10, 0, None), set(ids(0..50), vec![]), &tiny)
    else {
        panic!("a session");
    };
    assert!(matches!(
        sends(&step)[..],
        [Body::Refused(Refusal::MessageSizeTooSmall { .. })]
    ));
    assert!(matches!(step.end, Some(ResponderEnd::Failed(_))));
}

#[test]
fn a_silent_requester_is_nudged_with_the_last_symbol_then_given_up_on() {
    let config = Config::default();
    let resend = resend_after_ms(&config);
    let timeout = config.reconciliation_inactivity_timeout_ms;
    let (mut session, _) = responder(ids(0..50), vec![], request(50, 0, None), &config);
    let (sent_before, ..) = session.effort();
    let nudge = session.on_silence_timer("O=PartyA, L=London, C=GB", &cx(&config, resend));
    let [Body::Symbols { header: None, .. }] = sends(&nudge)[..] else {
        panic!("the last symbol again: {nudge:?}");
    };
    assert_eq!(session.effort().0, sent_before + 1);
    let end = session.on_silence_timer("O=PartyA, L=London, C=GB", &cx(&config, timeout));
    assert!(matches!(sends(&end)[..], [Body::Abort { .. }]));
    assert_eq!(end.end, Some(ResponderEnd::Silent { silent_ms: timeout }));
}

/// A requester that starts from the party's set as last reconciled (`K`)
/// and has gained `G` since, for a `base` of `K`'s digest.
fn from_last_reconciled(
    known: &[TxId],
    gained: &[TxId],
    config: &Config,
) -> (RequesterSession, Step<RequesterEnd>) {
    let mut digest = RunningDigest::of(known, SALT);
    let base = digest.value();
    for id in gained {
        digest.insert(id);
    }
    let core = RequesterCore {
        set: ReconciledSet::default(),
        origin: Origin::LastReconciled,
        candidates: Candidates::Counted(0),
        since: Some(7),
        digest: Some(digest),
        base: Some(base),
        gained: gained.to_vec(),
    };
    RequesterSession::start(
        key(),
        String::new(),
        (None, core),
        (SALT, 0),
        crate::protocol::PROTOCOL_VERSION,
        &cx(config, 0),
    )
}

/// Protocol 7: a responder that served the requester `K` streams only what
/// its set gained since (`A`), and the requester peels that against only
/// what its own set gained (`G`): the difference decodes from a few
/// symbols, with no pass over either whole set, and is the true difference
/// between the party's set now (`K ∪ A`) and ours (`K ∪ G`).
#[test]
fn a_stream_of_changes_is_peeled_against_what_we_gained_alone() {
    let config = Config::default();
    let known = ids(0..5_000);
    let gained = ids(5_000..5_010);
    let theirs_gained = ids(5_005..5_030);
    let (mut requester, step) = from_last_reconciled(&known, &gained, &config);
    let [
        Body::Request {
            base: Some(base),
            set_size,
            ..
        },
    ] = sends(&step)[..]
    else {
        panic!("a request with a base: {step:?}");
    };
    assert_eq!(*base, RunningDigest::of(&known, SALT).value());
    let mut request = request(*set_size, 0, None);
    request.base = Some(*base);
    let served = ResponderSet {
        ids: theirs_gained.clone(),
        roots: vec![],
        cursor: Some(11),
        coded: Coded::ChangesSince {
            served_size: known.len() as u64,
        },
    };
    let Answer::Session(mut responder, mut step) =
        ResponderSession::answer(key(), request, served, &cx(&config, 0))
    else {
        panic!("a stream of changes is never Identical");
    };
    let mut sets = FixedSets::new(Vec::new(), 0, Vec::new());
    let mut received = 0;
    let mut decoded = false;
    for _round in 0..100 {
        let frames: Vec<Body> = sends(&step).into_iter().cloned().collect();
        let mut replies = Vec::new();
        for body in frames {
            let Body::Symbols {
                start,
                header,
                symbols,
            } = body
            else {
                panic!("only symbols from the responder: {body:?}");
            };
            if start == 0 {
                let header = header.expect("the first frame's header");
                assert!(header.changes, "the header says it streams changes");
                assert_eq!(header.responder_set_size, theirs_gained.len() as u64);
            }
            received += symbols.len() / crate::riblt::WIRE_SYMBOL_LEN;
            let answer = requester.on_symbols(start, header, &symbols, &mut sets, &cx(&config, 1));
            match answer.end {
                Some(RequesterEnd::Decoded { said_done: true }) => decoded = true,
                None => replies.extend(sends(&answer).into_iter().cloned()),
                other => panic!("ended {other:?}"),
            }
            if decoded {
                break;
            }
        }
        if decoded {
            break;
        }
        step = Step::default();
        for body in replies {
            let next = match body {
                Body::Want { from, until } => responder.on_want(from, until, &cx(&config, 2)),
                Body::Progress { received } => responder.on_progress(received, &cx(&config, 2)),
                other => panic!("unexpected {other:?}"),
            };
            step.actions.extend(next.actions);
        }
        if sends(&step).is_empty() {
            step = responder.on_stream_timer(&cx(&config, 3));
        }
    }
    assert!(decoded, "decoded within 100 rounds");
    assert_eq!(sets.walks, 0, "no pass over our set");
    assert!(received < 100, "{received} symbols for 25 changes");
    let (_, decoded, digest) = requester.take_outcome();
    let side = |wanted| {
        let mut found: Vec<TxId> = decoded
            .iter()
            .filter(|(_, side)| *side == wanted)
            .map(|(id, _)| *id)
            .collect();
        found.sort_unstable();
        found
    };
    assert_eq!(side(crate::riblt::Side::RemoteOnly), ids(5_010..5_030));
    assert_eq!(side(crate::riblt::Side::LocalOnly), ids(5_000..5_005));
    let ours: Vec<TxId> = known.iter().chain(&gained).copied().collect();
    assert_eq!(digest.value(), RunningDigest::of(&ours, SALT).value());
}

/// A stream of changes is only for a requester that sent a `base`: one
/// that did not (it starts from its own set) takes it as a violation.
#[test]
fn a_stream_of_changes_without_a_base_is_a_violation() {
    let config = Config::default();
    let mut session = requester(ids(0..10), 0, &config);
    let mut encoder = Encoder::new(ids(10..12), SALT);
    let header = crate::protocol::StreamHeader {
        responder_set_size: 2,
        stream_limit: 100,
        cursor: None,
        changes: true,
    };
    let mut sets = FixedSets::new(ids(0..10), 0, Vec::new());
    let step = session.on_symbols(
        0,
        Some(header),
        &pack_symbols(&encoder.produce(4)),
        &mut sets,
        &cx(&config, 1),
    );
    let Some(RequesterEnd::Failed(reason)) = &step.end else {
        panic!("a violation: {step:?}");
    };
    assert!(reason.contains("a stream of its changes"), "{reason}");
}
