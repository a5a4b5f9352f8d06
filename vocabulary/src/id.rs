//! Transaction ids: 32-byte SHA-256 hashes, shown as 64 upper-case hex digits
//! as Corda shows them.

/// A transaction id.
pub type TxId = [u8; 32];

/// Length of a transaction id in bytes.
pub const TX_ID_LEN: usize = 32;

/// The id as 64 upper-case hex digits.
pub fn to_hex(id: &TxId) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(64);
    for b in id {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses 64 hex digits (either case) into an id.
pub fn from_hex(text: &str) -> Option<TxId> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut id = [0u8; 32];
    for (i, out) in id.iter_mut().enumerate() {
        *out = (nibble(bytes[2 * i])? << 4) | nibble(bytes[2 * i + 1])?;
    }
    Some(id)
}

/// Splits concatenated 32-byte ids. Returns `None` if the length is not a
/// multiple of 32.
pub fn split_ids(bytes: &[u8]) -> Option<Vec<TxId>> {
    if !bytes.len().is_multiple_of(TX_ID_LEN) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(TX_ID_LEN)
            .map(|c| c.try_into().expect("32-byte chunk"))
            .collect(),
    )
}

/// Concatenates ids into one byte string.
pub fn join_ids<'a>(ids: impl IntoIterator<Item = &'a TxId>) -> Vec<u8> {
    let mut out = Vec::new();
    for id in ids {
        out.extend_from_slice(id);
    }
    out
}

/// Concatenated ids as hex strings; a trailing partial id is ignored.
pub fn ids_hex(bytes: &[u8]) -> Vec<String> {
    bytes
        .chunks_exact(TX_ID_LEN)
        .map(|c| to_hex(c.try_into().expect("32-byte chunk")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let mut id = [0u8; 32];
        id[0] = 0x0b;
        id[31] = 0xfe;
        let text = to_hex(&id);
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("0B") && text.ends_with("FE"));
        assert_eq!(from_hex(&text), Some(id));
        assert_eq!(from_hex(&text.to_lowercase()), Some(id));
        assert_eq!(from_hex("0B"), None);
    }
}
