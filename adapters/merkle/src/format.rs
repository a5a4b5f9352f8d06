//! The `merkle-v1` transaction format.
//!
//! A transaction is four component groups, in this order: inputs, outputs,
//! references, commands. On the wire: for each group, a u32 count of its
//! components, then each component as a u32 length and its bytes (integers
//! little-endian). An input or a reference is a state reference: the 32-byte
//! id of the transaction that made the state, and a u32 output index. An
//! output is a u16 count of participants, each a u16 length and its UTF-8
//! legal name, then the state's data (the rest of the component).
//!
//! The id: each component's leaf is SHA-256 of its bytes; a group's hash
//! is the Merkle root over its leaves (an empty group hashes to 32 zero
//! bytes); the id is the Merkle root over the four groups' hashes. A Merkle
//! root pads its leaves with zero hashes to a power of two and hashes each
//! pair as SHA-256(left ‖ right).
//!
//! The signatures follow the groups, outside what the id covers (as a
//! Corda transaction's do): a u32 count, then each as a u16 length and the
//! signer's UTF-8 legal name, and its 64-byte Ed25519 signature over the
//! id. Bytes without the section have no signatures (and the same id). The
//! required signers are every participant of every output: every party a
//! transaction names must have agreed to it.

use ledger_sync_plugin_api::TxId;
use sha2::{Digest, Sha256};

/// The component groups, in their order.
pub const GROUPS: usize = 4;

/// The bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// At most this many components in a group, and bytes in a transaction:
/// a decoder never allocates past what the bytes can hold anyway, this
/// only says what is refused as absurd.
pub const MAX_COMPONENTS: u32 = 1 << 16;

/// A state: made by transaction `tx` as its output `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateRef {
    pub tx: TxId,
    pub index: u32,
}

/// An output state: its participants and its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub participants: Vec<String>,
    pub data: Vec<u8>,
}

/// One signature over a transaction's id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub signer: String,
    pub signature: [u8; SIGNATURE_LEN],
}

/// A transaction of this ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    pub inputs: Vec<StateRef>,
    pub outputs: Vec<Output>,
    pub references: Vec<StateRef>,
    pub commands: Vec<Vec<u8>>,
    /// Not covered by the id.
    pub signatures: Vec<Signature>,
}

impl Transaction {
    /// Whose signatures this ledger's rules require: every participant of
    /// every output, each once, in order of appearance.
    pub fn required_signers(&self) -> Vec<String> {
        let mut signers: Vec<String> = Vec::new();
        for name in self.outputs.iter().flat_map(|o| &o.participants) {
            if !signers.contains(name) {
                signers.push(name.clone());
            }
        }
        signers
    }
}

fn state_ref(s: &StateRef) -> Vec<u8> {
    let mut out = s.tx.to_vec();
    out.extend_from_slice(&s.index.to_le_bytes());
    out
}

fn output(o: &Output) -> Vec<u8> {
    let mut out = (o.participants.len() as u16).to_le_bytes().to_vec();
    for name in &o.participants {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(&o.data);
    out
}

/// The transaction's groups as component bytes.
fn groups(tx: &Transaction) -> [Vec<Vec<u8>>; GROUPS] {
    [
        tx.inputs.iter().map(state_ref).collect(),
        tx.outputs.iter().map(output).collect(),
        tx.references.iter().map(state_ref).collect(),
        tx.commands.clone(),
    ]
}

/// The transaction's bytes.
pub fn encode(tx: &Transaction) -> Vec<u8> {
    let mut out = Vec::new();
    for group in groups(tx) {
        out.extend_from_slice(&(group.len() as u32).to_le_bytes());
        for component in group {
            out.extend_from_slice(&(component.len() as u32).to_le_bytes());
            out.extend_from_slice(&component);
        }
    }
    append_signatures(&mut out, &tx.signatures);
    out
}

/// `bytes` (a transaction's, without signatures) with `signatures`
/// appended: the id is unchanged.
pub fn append_signatures(bytes: &mut Vec<u8>, signatures: &[Signature]) {
    if signatures.is_empty() {
        return;
    }
    bytes.extend_from_slice(&(signatures.len() as u32).to_le_bytes());
    for s in signatures {
        bytes.extend_from_slice(&(s.signer.len() as u16).to_le_bytes());
        bytes.extend_from_slice(s.signer.as_bytes());
        bytes.extend_from_slice(&s.signature);
    }
}

/// Reads the bytes, refusing anything malformed with what is wrong.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "{what} needs {n} bytes at offset {}, but the transaction has {}",
                self.at,
                self.bytes.len()
            ));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The components of each group, as they are on the wire, and the
/// signatures after them.
type Split<'a> = ([Vec<&'a [u8]>; GROUPS], Vec<Signature>);

fn split(bytes: &[u8]) -> Result<Split<'_>, String> {
    let mut cursor = Cursor { bytes, at: 0 };
    let mut out: [Vec<&[u8]>; GROUPS] = Default::default();
    for (g, group) in out.iter_mut().enumerate() {
        let count = cursor.u32("a group's component count")?;
        if count > MAX_COMPONENTS {
            return Err(format!(
                "group {g} claims {count} components; at most {MAX_COMPONENTS} are accepted"
            ));
        }
        for _ in 0..count {
            let len = cursor.u32("a component's length")? as usize;
            group.push(cursor.take(len, "a component")?);
        }
    }
    let mut signatures = Vec::new();
    if cursor.at != bytes.len() {
        let count = cursor.u32("the signature count")?;
        if count > MAX_COMPONENTS {
            return Err(format!(
                "the transaction claims {count} signatures; at most {MAX_COMPONENTS} are accepted"
            ));
        }
        for k in 0..count {
            let len = cursor.take(2, "a signer's name length")?;
            let len = u16::from_le_bytes([len[0], len[1]]) as usize;
            let name = cursor.take(len, "a signer's name")?;
            let signer = std::str::from_utf8(name)
                .map_err(|_| format!("signature {k}: the signer's name is not UTF-8"))?;
            let signature = cursor.take(SIGNATURE_LEN, "a signature")?;
            signatures.push(Signature {
                signer: signer.to_string(),
                signature: signature.try_into().expect("taken whole"),
            });
        }
    }
    if cursor.at != bytes.len() {
        return Err(format!(
            "{} bytes follow the signatures",
            bytes.len() - cursor.at
        ));
    }
    Ok((out, signatures))
}

fn read_state_ref(c: &[u8], what: &str) -> Result<StateRef, String> {
    if c.len() != 36 {
        return Err(format!(
            "{what} is {} bytes, not 36 (an id and an index)",
            c.len()
        ));
    }
    let mut tx = [0u8; 32];
    tx.copy_from_slice(&c[..32]);
    Ok(StateRef {
        tx,
        index: u32::from_le_bytes([c[32], c[33], c[34], c[35]]),
    })
}

fn read_output(c: &[u8], k: usize) -> Result<Output, String> {
    let what = format!("output {k}");
    let mut cursor = Cursor { bytes: c, at: 0 };
    let count = cursor.take(2, &what)?;
    let count = u16::from_le_bytes([count[0], count[1]]);
    let mut participants = Vec::new();
    for _ in 0..count {
        let len = cursor.take(2, &what)?;
        let len = u16::from_le_bytes([len[0], len[1]]) as usize;
        let name = cursor.take(len, &what)?;
        let name = std::str::from_utf8(name)
            .map_err(|_| format!("{what}: a participant's name is not UTF-8"))?;
        participants.push(name.to_string());
    }
    Ok(Output {
        participants,
        data: c[cursor.at..].to_vec(),
    })
}

/// The transaction in `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Transaction, String> {
    let ([inputs, outputs, references, commands], signatures) = split(bytes)?;
    let refs = |group: Vec<&[u8]>, what: &str| -> Result<Vec<StateRef>, String> {
        (group.iter().enumerate())
            .map(|(k, c)| read_state_ref(c, &format!("{what} {k}")))
            .collect()
    };
    Ok(Transaction {
        inputs: refs(inputs, "input")?,
        outputs: (outputs.iter().enumerate())
            .map(|(k, c)| read_output(c, k))
            .collect::<Result<_, _>>()?,
        references: refs(references, "reference")?,
        commands: commands.into_iter().map(<[u8]>::to_vec).collect(),
        signatures,
    })
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// The Merkle root over `leaves` (32 zero bytes for none).
fn merkle_root(mut level: Vec<[u8; 32]>) -> [u8; 32] {
    if level.is_empty() {
        return [0; 32];
    }
    level.resize(level.len().next_power_of_two(), [0; 32]);
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|pair| sha256(&[&pair[0], &pair[1]]))
            .collect();
    }
    level[0]
}

/// The id of the transaction in `bytes`: the Merkle root over its groups.
pub fn id(bytes: &[u8]) -> Result<TxId, String> {
    let (groups, _) = split(bytes)?;
    let hashes = groups
        .iter()
        .map(|group| merkle_root(group.iter().map(|c| sha256(&[c])).collect()))
        .collect();
    Ok(merkle_root(hashes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transaction {
        Transaction {
            inputs: vec![StateRef {
                tx: [7; 32],
                index: 1,
            }],
            outputs: vec![Output {
                participants: vec!["O=PartyA, L=London, C=GB".into()],
                data: b"100 GBP".to_vec(),
            }],
            references: vec![],
            commands: vec![b"Move".to_vec()],
            signatures: vec![],
        }
    }

    #[test]
    fn a_transaction_round_trips_and_its_id_covers_every_byte() {
        let bytes = encode(&sample());
        assert_eq!(decode(&bytes).unwrap(), sample());
        let id = id(&bytes).unwrap();
        let mut other = sample();
        other.outputs[0].data = b"101 GBP".to_vec();
        assert_ne!(
            super::id(&encode(&other)).unwrap(),
            id,
            "the data is hashed"
        );
        let mut moved = sample();
        moved.references = moved.inputs.clone();
        moved.inputs.clear();
        assert_ne!(super::id(&encode(&moved)).unwrap(), id, "groups are apart");
    }

    #[test]
    fn malformed_bytes_are_refused_with_what_is_wrong() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.extend_from_slice(&0u32.to_le_bytes());
        extra.push(0);
        assert!(
            decode(&extra)
                .unwrap_err()
                .contains("follow the signatures")
        );
        let huge = u32::MAX.to_le_bytes();
        assert!(decode(&huge).unwrap_err().contains("at most 65536"));
    }

    #[test]
    fn signatures_round_trip_outside_the_id() {
        let unsigned = encode(&sample());
        let mut signed = sample();
        signed.signatures = vec![Signature {
            signer: "O=PartyA, L=London, C=GB".into(),
            signature: [9; SIGNATURE_LEN],
        }];
        let bytes = encode(&signed);
        assert_eq!(decode(&bytes).unwrap(), signed);
        assert_eq!(id(&bytes).unwrap(), id(&unsigned).unwrap(), "not in the id");
        assert_eq!(signed.required_signers(), vec!["O=PartyA, L=London, C=GB"]);
        for cut in unsigned.len() + 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
