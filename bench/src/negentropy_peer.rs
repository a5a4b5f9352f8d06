//! The negentropy peer: range-based set reconciliation (the `negentropy`
//! crate), between two in-memory id lists.

use crate::ibf_strata::Outcome;
use anyhow::Result;
use ledger_sync_vocabulary::TxId;

/// negentropy between two in-memory sets: every item at timestamp 0, so
/// items sort by id — transaction ids carry no shared time order.
pub fn reconcile(requester: &[TxId], responder: &[TxId]) -> Result<Outcome> {
    use negentropy::{Id, Negentropy, NegentropyStorageVector};
    let storage = |ids: &[TxId]| -> Result<NegentropyStorageVector> {
        let mut s = NegentropyStorageVector::with_capacity(ids.len());
        for id in ids {
            s.insert(0, Id::from_byte_array(*id))?;
        }
        s.seal()?;
        Ok(s)
    };
    let (mine, theirs) = (storage(requester)?, storage(responder)?);
    let mut client = Negentropy::borrowed(&mine, 0)?;
    let mut relay = Negentropy::borrowed(&theirs, 0)?;
    let mut message = client.initiate()?;
    let (mut bytes, mut round_trips) = (0u64, 0u32);
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        bytes += message.len() as u64;
        round_trips += 1;
        let answer = relay.reconcile(&message)?;
        bytes += answer.len() as u64;
        match client.reconcile_with_ids(&answer, &mut have, &mut need)? {
            Some(next) => message = next,
            None => break,
        }
    }
    Ok(Outcome {
        missing: need.iter().map(|id| *id.as_bytes()).collect(),
        bytes,
        round_trips,
    })
}
