//! How many coded symbols to ask for and to send at a time: the first
//! batch, the next batch from what the last one showed, the most a stream
//! may carry on each side (bounded by this node's own set and
//! configuration, never by a peer's claim), the frame size that lets `Done`
//! stop a stream within a few percent, and how many symbols fit in one
//! message.

use crate::protocol::{Body, Frame, SessionId, StreamHeader};
use crate::riblt::{CountMoments, WIRE_SYMBOL_LEN};

/// Coded symbols in a reconciliation's first batch: enough to settle a small
/// difference in one round trip while keeping an identical pair of ledgers
/// under one kilobyte of traffic.
pub(super) const FIRST_BATCH: u32 = 16;

/// Symbols needed per difference, with margin, when sizing the next batch.
/// Generous, because a stream stops as soon as the difference decodes.
const SYMBOLS_PER_DIFFERENCE: f64 = 1.6;

/// A stream frame carries about 1/32 of the symbols sent so far (at least 8),
/// so stopping a stream wastes at most ~3% of it.
const FRAME_FRACTION: u32 = 32;
const MIN_FRAME: u32 = 8;

/// The most symbols a stream between sets of these sizes can usefully carry,
/// agreed by both sides: beyond twice both sets' sizes the stream can no
/// longer help, since a difference is at most their sum and 1.35 symbols per
/// difference decode it with near certainty well before twice.
pub(super) fn useful_symbols(responder_set_size: u64, requester_set_size: u64) -> u32 {
    responder_set_size
        .saturating_add(requester_set_size)
        .saturating_mul(2)
        .saturating_add(64)
        .min(u32::MAX as u64) as u32
}

/// The most symbols a responder streams for its set of `own` transactions
/// to a requester whose set has `requester` (its claim): enough to decode a
/// difference as large as both sets (and at least three times its own),
/// so that a node that lost far more than it kept is still reconciled
/// with — and never more than this node's `maxReconciliationDifferences`
/// allows, whatever the claim.
pub(super) fn responder_stream_limit(own: u64, requester: u64, max_differences: u32) -> u32 {
    useful_symbols(own, requester.max(own.saturating_mul(2)))
        .min(useful_symbols(max_differences as u64, 0))
}

/// How many symbols a responder streams past the last index the requester
/// said it received (`Progress` or a `Want`'s `from`): at least eight first
/// batches, and half of what was received. Credit (`until`) says how far a
/// stream may go; this window keeps it from running far ahead of the
/// requester on a fast sender or a slow network, so a stream stops within
/// half again the symbols that decoded it (plus 64) on any network, and a
/// re-request after a loss re-sends at most one window.
pub(super) fn in_flight_window(received: u32) -> u32 {
    (received / 2).max(8 * FIRST_BATCH)
}

/// Whether a requester that last reported `reported` symbols and now holds
/// `received` says so (`Progress`): every quarter window, so the
/// responder's window reopens before it runs dry on a network whose round
/// trip is shorter than sending three quarters of a window — and a lost
/// `Progress` (even two in a row) is covered by the next one before the
/// stream stalls, instead of waiting for a silence to ask again.
pub(super) fn progress_due(reported: u32, received: u32) -> bool {
    received >= reported.saturating_add(in_flight_window(reported) / 4)
}

/// How many symbols a responder re-sends in all, on top of its stream, when
/// the requester asks again for symbols it lost.
pub(super) fn resend_budget(stream_limit: u32) -> u64 {
    stream_limit as u64 * 3 + 1024
}

/// The most symbols a requester with `own` transactions asks for and keeps:
/// what `maxReconciliationDifferences` allows, and — once the responder's
/// first frame has said — no more than both sets can use or the responder
/// will stream.
pub(super) fn requester_symbol_cap(
    own: u64,
    header: Option<StreamHeader>,
    max_differences: u32,
) -> u32 {
    let ours = useful_symbols(max_differences as u64, 0);
    match header {
        Some(h) => ours
            .min(h.stream_limit)
            .min(useful_symbols(h.responder_set_size, own)),
        None => ours,
    }
}

pub(super) fn merge(a: CountMoments, b: CountMoments) -> CountMoments {
    CountMoments {
        sum: a.sum + b.sum,
        sum_sq: a.sum_sq + b.sum_sq,
        rho: a.rho + b.rho,
        rho_sq: a.rho_sq + b.rho_sq,
        max_abs: a.max_abs.max(b.max_abs),
        samples: a.samples + b.samples,
    }
}

/// How many symbols to ask for next, given what the last batch showed.
///
/// While residual counts may have wrapped (the difference is large compared
/// with the symbols seen) the credit quadruples. Once they are readable, the
/// moments estimate the undecoded difference and the credit reaches past the
/// symbols that should decode it, with margin: the stream stops when the
/// difference decodes, so a generous credit costs round trips nothing and
/// bytes at most one frame. The last allowed batch asks for everything that
/// could still help.
pub fn next_batch(
    received: u32,
    moments: &CountMoments,
    decoded: usize,
    batches_left: u32,
    cap: u32,
) -> u32 {
    let remaining = cap.saturating_sub(received).max(1);
    if batches_left <= 1 {
        return remaining;
    }
    let want = if moments.saturated() {
        received.saturating_mul(4)
    } else {
        let difference = moments.estimate() + decoded as f64;
        let target = (difference * SYMBOLS_PER_DIFFERENCE).ceil() as u64 + 4;
        let step = (target.saturating_sub(received as u64)).max(received as u64 + 4);
        step.min(u32::MAX as u64) as u32
    };
    want.clamp(1, remaining)
}

/// The next frame of a stream that has sent `start` symbols, may send
/// `left` more, and fits `per_message` in a message: about 1/32 of what was
/// sent so far (at least 8), so stopping the stream wastes at most ~3%.
pub(super) fn frame_size(start: u32, per_message: u32, left: u32) -> u32 {
    (start / FRAME_FRACTION)
        .max(MIN_FRAME)
        .min(per_message)
        .min(left)
}

/// The smallest network maximum message size a reconciliation runs
/// under: one coded symbol with the widest frame header (the WIT's
/// `messaging.max-message-size` states it). Below it a responder refuses
/// with `MessageSizeTooSmall`.
pub const SMALLEST_MAX_MESSAGE_SIZE: u32 = 93;

/// How many symbols fit in one `Symbols` message under `max_message_size`,
/// or 0 if not even one does.
pub fn symbols_per_message(session: SessionId, max_message_size: u32) -> usize {
    let header = Frame::new(
        session,
        Body::Symbols {
            start: u32::MAX,
            header: Some(StreamHeader {
                responder_set_size: u64::MAX,
                stream_limit: u32::MAX,
                cursor: Some(u64::MAX),
                changes: false,
            }),
            symbols: Vec::new(),
        },
    )
    .encode()
    .len();
    // The symbols' length prefix grows from 1 byte to at most 5.
    let room = (max_message_size as usize).saturating_sub(header + 4);
    room / WIRE_SYMBOL_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_message_size_fits_exactly_one_symbol() {
        let session = SessionId([0xff; 16]);
        assert_eq!(symbols_per_message(session, SMALLEST_MAX_MESSAGE_SIZE), 1);
        assert_eq!(
            symbols_per_message(session, SMALLEST_MAX_MESSAGE_SIZE - 1),
            0
        );
    }

    #[test]
    fn messages_respect_the_size_limit() {
        let session = SessionId::from_random(5, 6);
        let per = symbols_per_message(session, 1024);
        assert!(per > 20);
        let frame = Frame::new(
            session,
            Body::Symbols {
                start: u32::MAX,
                header: Some(StreamHeader {
                    responder_set_size: u64::MAX,
                    stream_limit: u32::MAX,
                    cursor: Some(u64::MAX),
                    changes: false,
                }),
                symbols: vec![0; per * WIRE_SYMBOL_LEN],
            },
        );
        assert!(frame.encode().len() <= 1024);
        assert_eq!(symbols_per_message(session, 40), 0);
    }

    #[test]
    fn frames_grow_with_the_stream_within_the_message() {
        assert_eq!(frame_size(0, 100, 1000), MIN_FRAME);
        assert_eq!(frame_size(3200, 1000, 1000), 100);
        assert_eq!(frame_size(3200, 50, 1000), 50, "never past a message");
        assert_eq!(frame_size(3200, 1000, 7), 7, "never past the credit");
    }

    #[test]
    fn the_next_batch_stays_within_the_useful_stream() {
        let quiet = CountMoments::default();
        assert_eq!(
            next_batch(16, &quiet, 0, 1, 100),
            84,
            "the last batch asks for the rest"
        );
        let more = next_batch(16, &quiet, 0, 4, u32::MAX);
        assert!(more >= 20, "{more}");
        assert!(next_batch(90, &quiet, 0, 4, 100) <= 10);
        assert_eq!(useful_symbols(u64::MAX, u64::MAX), u32::MAX, "no overflow");
    }

    #[test]
    fn the_window_keeps_a_stream_near_what_the_requester_received() {
        assert_eq!(in_flight_window(0), 128);
        assert_eq!(in_flight_window(1000), 500);
        assert!(!progress_due(0, 31));
        assert!(progress_due(0, 32));
        assert!(progress_due(1000, 1125));
        // Two Progress lost in a row: the third is due before the stream
        // stops at the window the responder last heard of.
        let mut reported = 1000;
        for _ in 0..3 {
            reported += in_flight_window(reported) / 4;
        }
        assert!(reported < 1000 + in_flight_window(1000), "{reported}");
        assert!(
            progress_due(u32::MAX, u32::MAX),
            "saturates, never overflows"
        );
    }

    #[test]
    fn stream_bounds_follow_our_own_set_and_configuration_not_claims() {
        assert_eq!(responder_stream_limit(10, 0, 1_000_000), 124);
        assert_eq!(responder_stream_limit(10, 5_000, 1_000_000), 10_084);
        assert_eq!(responder_stream_limit(10, u64::MAX, 1000), 2064);
        assert_eq!(responder_stream_limit(u64::MAX, 0, 1000), 2064);
        let claim = StreamHeader {
            responder_set_size: 1 << 31,
            stream_limit: u32::MAX,
            cursor: None,
            changes: false,
        };
        assert_eq!(requester_symbol_cap(10, Some(claim), 1000), 2064);
        assert_eq!(requester_symbol_cap(10, None, 1000), 2064);
        let honest = StreamHeader {
            responder_set_size: 20,
            stream_limit: 184,
            cursor: None,
            changes: false,
        };
        assert_eq!(requester_symbol_cap(10, Some(honest), 1000), 124);
    }
}
