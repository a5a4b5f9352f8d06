//! The hostile peer every simulated network has: known to the network, it
//! runs no plugin and says whatever the seed makes it say.

use super::SeedReport;
use super::faults::FaultState;
use crate::network::Network;
use ledger_sync_plugin::protocol::{Body, Frame, SessionId, StreamHeader};
use ledger_sync_vocabulary::rng::SplitMix64;
use std::cell::RefCell;
use std::rc::Rc;

/// The hostile peer's name.
pub const MALLORY: &str = "O=Mallory, L=Nowhere, C=XX";

/// A name the network does not know, used as a forged sender.
const NOBODY: &str = "O=Nobody, L=Nowhere, C=XX";

/// The hostile peer acts: garbage, a replay, a forged session, an oversize
/// claim, a flood, or a message under a name the network does not know.
pub(super) fn hostile(
    net: &mut Network,
    node: &str,
    r: &mut SplitMix64,
    faults: &Rc<RefCell<FaultState>>,
    report: &mut SeedReport,
) {
    let session = SessionId::from_random(r.next_u64(), r.next_u64());
    match r.below(7) {
        0 => {
            report.fault("hostile: garbage");
            let mut junk = vec![0u8; r.below(200) as usize];
            r.fill_bytes(&mut junk);
            net.inject(MALLORY, node, junk);
        }
        1 => {
            let frame = {
                let captured = &faults.borrow().captured;
                (!captured.is_empty())
                    .then(|| captured[r.below(captured.len() as u64) as usize].clone())
            };
            if let Some(frame) = frame {
                report.fault("hostile: replay");
                net.inject(MALLORY, node, frame);
            }
        }
        2 => {
            report.fault("hostile: forged session");
            let body = forged_body(r);
            net.inject(MALLORY, node, Frame::new(session, body).encode());
        }
        3 => {
            report.fault("hostile: oversize claim");
            let body = oversize_body(r);
            net.inject(MALLORY, node, Frame::new(session, body).encode());
        }
        4 => {
            report.fault("hostile: flood");
            for k in 0..200 {
                let frame = Frame::new(
                    SessionId::from_random(r.next_u64(), k),
                    Body::Request {
                        salt: k,
                        until: 1 << 20,
                        digest: None,
                        roots_bits: 0,
                        set_size: 0,
                        since: None,
                        base: None,
                    },
                );
                net.inject(MALLORY, node, frame.encode());
            }
        }
        5 => {
            report.fault("hostile: unknown sender");
            net.inject(NOBODY, node, plain_request(session));
        }
        _ => {
            report.fault("hostile: sender is the node itself");
            net.inject(node, node, plain_request(session));
        }
    }
}

/// A frame for a session the node never had.
fn forged_body(r: &mut SplitMix64) -> Body {
    match r.below(4) {
        0 => Body::Want {
            from: 0,
            until: u32::MAX,
        },
        1 => Body::Done,
        2 => Body::Abort {
            to_responder: r.chance(0.5),
            reason: "forged".into(),
        },
        _ => Body::Symbols {
            start: 0,
            header: None,
            symbols: vec![0; 37 * 4],
        },
    }
}

/// A request, roots filter or stream claiming far more than any set holds.
fn oversize_body(r: &mut SplitMix64) -> Body {
    if r.chance(0.5) {
        Body::Request {
            salt: r.next_u64(),
            until: u32::MAX,
            digest: Some(r.next_u64()),
            roots_bits: u8::MAX,
            set_size: u64::MAX,
            since: r.chance(0.5).then(|| r.next_u64()),
            base: r.chance(0.5).then(|| r.next_u64()),
        }
    } else if r.chance(0.5) {
        Body::Roots {
            filter: ledger_sync_plugin::root_filter::RootFilter {
                count: u32::MAX,
                bits: 40,
                data: vec![0xff; 4_000],
            },
        }
    } else {
        Body::Symbols {
            start: 0,
            header: Some(StreamHeader {
                responder_set_size: 1 << 31,
                stream_limit: u32::MAX,
                cursor: None,
                changes: r.chance(0.5),
            }),
            symbols: vec![1; 37 * 100],
        }
    }
}

/// An ordinary first request, for the cases where only its sender is wrong.
fn plain_request(session: SessionId) -> Vec<u8> {
    let body = Body::Request {
        salt: 1,
        until: 16,
        digest: None,
        roots_bits: 0,
        set_size: 0,
        since: None,
        base: None,
    };
    Frame::new(session, body).encode()
}
