//! LedgerRecover's messages, between the recovery plugins of two nodes.
//! One direction: the requester asks for ids, the responder answers with
//! the transactions' bytes it may send, then says which it will not send
//! (never why: "not held", "held without bytes" and "not shared with you"
//! are one answer, so a requester learns nothing of the responder's vault
//! beyond what reconciliation already told it) and which it defers under
//! its size limit.
//!
//! A message is a version byte and a postcard-encoded [`Message`]. Every
//! message names the request it belongs to (16 random bytes, chosen by the
//! requester) and the ask it answers (numbered by the requester, a new
//! number for every ask, re-asks included): an answer to an earlier ask
//! that arrives late — after a silence made the requester ask again — is
//! recognised as such, not taken for the answer to the current one.

use ledger_sync_vocabulary::TxId;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const VERSION: u8 = 1;

/// A request's id: 16 random bytes, printed as a UUID.
pub type RequestId = [u8; 16];

/// What a responder will not do for a whole ask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The ask named more transactions than the responder's
    /// `maxAllowedTransactions`.
    TooManyTransactions { max: u32 },
    /// The party has used its `maxAllowedRequests` for the window: ask
    /// again after this long.
    RequestLimit { retry_after_ms: u64 },
    /// The responder cannot answer yet (its ledger graph is being built,
    /// its vault is unavailable): ask again after this long.
    NotReady { retry_after_ms: u64 },
}

/// A message between two recovery plugins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Requester → responder: send these transactions.
    Ask {
        request: RequestId,
        ask: u32,
        ids: Vec<TxId>,
    },
    /// Responder → requester: some of them, with their bytes.
    Transactions {
        request: RequestId,
        ask: u32,
        transactions: Vec<(TxId, Vec<u8>)>,
    },
    /// Responder → requester: the answer to an ask is complete. It sent
    /// `sent` transactions; it will not send `unavailable`; it sends
    /// `deferred` only after `retry_after_ms` (its size limit).
    Done {
        request: RequestId,
        ask: u32,
        sent: u32,
        unavailable: Vec<TxId>,
        deferred: Vec<TxId>,
        retry_after_ms: u64,
    },
    /// Responder → requester: the ask is refused whole.
    Refused {
        request: RequestId,
        ask: u32,
        refusal: Refusal,
    },
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        out.extend(postcard::to_allocvec(self).expect("a message always encodes"));
        out
    }

    /// The message in `bytes`, or why it is not one.
    pub fn decode(bytes: &[u8]) -> Result<Message, String> {
        match bytes.split_first() {
            Some((&VERSION, rest)) => {
                postcard::from_bytes(rest).map_err(|e| format!("not a recovery message: {e}"))
            }
            Some((v, _)) => Err(format!(
                "recovery protocol version {v}; this node speaks {VERSION}"
            )),
            None => Err("an empty message".into()),
        }
    }

    pub fn request(&self) -> &RequestId {
        match self {
            Message::Ask { request, .. }
            | Message::Transactions { request, .. }
            | Message::Done { request, .. }
            | Message::Refused { request, .. } => request,
        }
    }

    /// The ask it is or answers.
    pub fn ask(&self) -> u32 {
        match self {
            Message::Ask { ask, .. }
            | Message::Transactions { ask, .. }
            | Message::Done { ask, .. }
            | Message::Refused { ask, .. } => *ask,
        }
    }
}

/// The bytes one transaction adds to a `Transactions` message, at most.
pub fn transaction_overhead() -> usize {
    32 + 10
}

/// A request id printed as a UUID (8-4-4-4-12 hex digits).
pub fn request_uuid(id: &RequestId) -> String {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The request id a UUID prints, if it is one.
pub fn parse_uuid(text: &str) -> Option<RequestId> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || text.len() != 36 {
        return None;
    }
    let mut id = [0u8; 16];
    for (k, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).ok()?;
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let request = [7u8; 16];
        for message in [
            Message::Ask {
                request,
                ask: 1,
                ids: vec![[1; 32], [2; 32]],
            },
            Message::Transactions {
                request,
                ask: 1,
                transactions: vec![([1; 32], vec![9; 100])],
            },
            Message::Done {
                request,
                ask: 1,
                sent: 1,
                unavailable: vec![[2; 32]],
                deferred: vec![],
                retry_after_ms: 0,
            },
            Message::Refused {
                request,
                ask: 2,
                refusal: Refusal::RequestLimit {
                    retry_after_ms: 1000,
                },
            },
        ] {
            assert_eq!(Message::decode(&message.encode()).unwrap(), message);
        }
        assert!(Message::decode(&[]).is_err());
        assert!(Message::decode(&[2, 0]).unwrap_err().contains("version 2"));
        assert!(Message::decode(&[1, 0xff, 0xff, 0xff]).is_err());
        let uuid = request_uuid(&request);
        assert_eq!(uuid, "07070707-0707-0707-0707-070707070707");
        assert_eq!(parse_uuid(&uuid), Some(request));
        assert_eq!(parse_uuid("07070707"), None);
    }
}
