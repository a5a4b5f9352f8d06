//! The ledger interchange format, version 1: how transactions go into a
//! node (`ledger-sync vault record`, the admin API's `POST /vault/record`,
//! `network bootstrap`) and come out of one (`ledger-sync vault export`).
//!
//! JSON lines, one transaction per line, in recording order (a transaction
//! after the ones it depends on):
//!
//! ```text
//! {"format":"ledger-sync-ledger","version":1}
//! {"id":"6A1F…(64 hex digits)","outputs":[["O=PartyA, L=London, C=GB","O=PartyB, L=New York, C=US"]]}
//! {"id":"…","dependencies":["6A1F…"],"outputs":[["O=PartyB, L=New York, C=US"]],"payload":"AAEC…"}
//! ```
//!
//! | field | | |
//! | --- | --- | --- |
//! | `id` | required | 64 hex digits, either case |
//! | `dependencies` | optional, default none | ids of the transactions whose outputs this one consumes or references |
//! | `outputs` | required | one list per output state of its participants' X.500 legal names (none: `[]`) |
//! | `payload` | optional | the transaction's bytes, base64 (standard alphabet, padded); at most the configured size |
//!
//! The first line may be the header `{"format":"ledger-sync-ledger",
//! "version":1}`; a file without one is read as version 1. Blank lines are
//! skipped. Any other field, a header elsewhere than on the first line, or
//! another version is an error. Names are read as X.500 legal names and
//! kept in their canonical spelling (`O=…, L=…, C=…`), the one the network
//! map uses, so that two spellings of one party are one party.
//!
//! Every error names the line, the field and what is accepted
//! ([`LineError`]). A line is read in memory bounded by [`max_line_bytes`],
//! whatever the input holds.

use crate::store::VaultTransaction;
use base64::Engine;
use hashbrown::HashMap;
use ledger_sync_vocabulary::id::{TxId, from_hex, to_hex};
use ledger_sync_vocabulary::x500::LegalName;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, Write};

/// The `format` the header names.
pub const FORMAT: &str = "ledger-sync-ledger";
/// The version this build reads and writes.
pub const VERSION: u32 = 1;
/// The largest payload accepted unless configured otherwise (node.conf
/// `maxPayloadBytes`, `vault record --max-payload-bytes`).
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 10 << 20;
/// What a line may hold besides its payload (ids, names, punctuation);
/// a ledger adapter's answer is held to it too.
pub const MAX_METADATA_BYTES: usize = 1 << 20;
/// Distinct spellings of names remembered while reading, so each is
/// parsed once (the seed's profile has 100,000 parties; this bounds the
/// cache at a few tens of MB).
const NAME_CACHE: usize = 262_144;

/// The length of the longest JSON string literal in `text`, quotes
/// included (a payload, on a transaction's line); 0 if there is none.
fn longest_string(text: &str) -> usize {
    string_spans(text).map(|(a, b)| b - a).max().unwrap_or(0)
}

/// `text` with its longest string literal replaced by `""` when it is
/// long enough to be a payload (keys, ids and names are far shorter), so
/// that explaining a refused line never holds its payload twice.
fn without_longest_string(text: &str) -> std::borrow::Cow<'_, str> {
    const PAYLOAD_SIZED: usize = 4096;
    match string_spans(text).max_by_key(|(a, b)| b - a) {
        Some((a, b)) if b - a > PAYLOAD_SIZED => format!("{}\"\"{}", &text[..a], &text[b..]).into(),
        _ => text.into(),
    }
}

/// The byte spans of the JSON string literals in `text`, quotes included
/// (an unterminated one runs to the end).
fn string_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && bytes[i] != b'"' {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        i = (i + 1).min(bytes.len());
        Some((start, i))
    })
}

/// The longest line read with payloads of at most `max_payload_bytes`.
pub fn max_line_bytes(max_payload_bytes: usize) -> usize {
    max_payload_bytes.div_ceil(3) * 4 + MAX_METADATA_BYTES
}

/// Why a line was refused: where, which field, what was wrong and what is
/// accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the input.
    pub line: u64,
    /// The field at fault (`dependencies[2]`, `outputs[0][1]`), if one is.
    pub field: Option<String>,
    pub problem: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: `{field}`: {}", self.line, self.problem),
            None => write!(f, "line {}: {}", self.line, self.problem),
        }
    }
}

impl std::error::Error for LineError {}

/// A failure to read the input: the input itself, or one of its lines.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading the input: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Line(#[from] LineError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    dependencies: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    outputs: Vec<Vec<Cow<'a, str>>>,
    #[serde(default, borrow)]
    payload: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<'a> {
    #[serde(borrow)]
    format: Cow<'a, str>,
    version: u32,
}

const FIELDS: &str = "`id`, `dependencies`, `outputs` and `payload`";

/// Reads transactions from JSON lines.
pub struct Reader<R> {
    input: R,
    line: u64,
    bytes: u64,
    buffer: Vec<u8>,
    max_payload_bytes: usize,
    names: HashMap<String, String>,
}

impl<R: BufRead> Reader<R> {
    /// Reads `input`, refusing payloads over `max_payload_bytes`.
    pub fn new(input: R, max_payload_bytes: usize) -> Self {
        Reader {
            input,
            line: 0,
            bytes: 0,
            buffer: Vec::new(),
            max_payload_bytes,
            names: HashMap::new(),
        }
    }

    /// Lines read so far (the number of the last one).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The next transaction and its line number, or `None` at the end.
    pub fn next_transaction(&mut self) -> Result<Option<(u64, VaultTransaction)>, ReadError> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            let text = match std::str::from_utf8(&self.buffer) {
                Ok(text) => text.trim(),
                Err(e) => {
                    return Err(self
                        .error(
                            None,
                            format!("is not UTF-8 text ({e}); the format is JSON lines"),
                        )
                        .into());
                }
            };
            if text.is_empty() {
                continue;
            }
            let line = self.line;
            let text = text.to_string();
            if let Some(t) = self.parse(&text)? {
                return Ok(Some((line, t)));
            }
        }
    }

    /// Reads one line into the buffer, without its end; `false` at the end
    /// of the input. A line longer than [`max_line_bytes`] is an error,
    /// found without holding more than that in memory.
    fn read_line(&mut self) -> Result<bool, ReadError> {
        self.buffer.clear();
        let limit = max_line_bytes(self.max_payload_bytes);
        let mut any = false;
        loop {
            let available = self.input.fill_buf()?;
            if available.is_empty() {
                if any {
                    self.line += 1;
                }
                return Ok(any);
            }
            any = true;
            let (take, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let end = if done { take - 1 } else { take };
            if self.buffer.len() + end > limit {
                self.line += 1;
                return Err(self
                    .error(
                        None,
                        format!(
                            "is longer than {limit} bytes, the most a line may be with payloads \
                             of at most {} bytes (raise the payload limit to record larger \
                             transactions)",
                            self.max_payload_bytes
                        ),
                    )
                    .into());
            }
            self.buffer.extend_from_slice(&available[..end]);
            self.input.consume(take);
            self.bytes += take as u64;
            if done {
                self.line += 1;
                return Ok(true);
            }
        }
    }

    fn error(&self, field: Option<String>, problem: impl Into<String>) -> LineError {
        LineError {
            line: self.line,
            field,
            problem: problem.into(),
        }
    }

    /// One non-blank line: a transaction, or `None` for the header.
    fn parse(&mut self, text: &str) -> Result<Option<VaultTransaction>, LineError> {
        // What a line holds besides its longest string (the payload) is
        // bounded before anything is parsed: a line of a million tiny
        // names or nested lists would cost far more memory parsed than read.
        let metadata = text.len() - longest_string(text);
        if metadata > MAX_METADATA_BYTES {
            return Err(self.error(
                None,
                format!(
                    "holds {metadata} bytes besides its payload, more than the \
                     {MAX_METADATA_BYTES} a transaction's id, dependencies and outputs may take"
                ),
            ));
        }
        let line: Line = match serde_json::from_str(text) {
            Ok(line) => line,
            Err(e) => {
                if let Ok(header) = serde_json::from_str::<Header>(text) {
                    self.check_header(&header)?;
                    return Ok(None);
                }
                return Err(self.explain(text, e));
            }
        };
        let id = self.id(&line.id, "id".into())?;
        let mut dependencies = Vec::with_capacity(line.dependencies.len());
        for (i, d) in line.dependencies.iter().enumerate() {
            let field = format!("dependencies[{i}]");
            let d = self.id(d, field.clone())?;
            if d == id {
                return Err(self.error(
                    Some(field),
                    "is the transaction's own id; a transaction cannot depend on itself",
                ));
            }
            dependencies.push(d);
        }
        let mut outputs = Vec::with_capacity(line.outputs.len());
        for (i, state) in line.outputs.iter().enumerate() {
            let mut participants = Vec::with_capacity(state.len());
            for (j, name) in state.iter().enumerate() {
                participants.push(self.name(name, || format!("outputs[{i}][{j}]"))?);
            }
            outputs.push(participants);
        }
        let payload = match &line.payload {
            None => None,
            Some(text) => Some(self.payload(text)?),
        };
        Ok(Some(VaultTransaction {
            id,
            dependencies,
            outputs,
            payload,
        }))
    }

    fn check_header(&self, header: &Header) -> Result<(), LineError> {
        if self.line != 1 {
            return Err(self.error(Some("format".into()), "a header may only be the first line"));
        }
        if header.format != FORMAT {
            return Err(self.error(
                Some("format".into()),
                format!("is `{}`; this reads `{FORMAT}`", header.format),
            ));
        }
        if header.version != VERSION {
            return Err(self.error(
                Some("version".into()),
                format!(
                    "is {}; this ledger-sync reads version {VERSION} of the ledger interchange \
                     format",
                    header.version
                ),
            ));
        }
        Ok(())
    }

    fn id(&self, text: &str, field: String) -> Result<TxId, LineError> {
        from_hex(text).ok_or_else(|| {
            self.error(
                Some(field),
                format!(
                    "`{}` is not a transaction id: give 64 hex digits (a SHA-256 hash), either case",
                    shorten(text)
                ),
            )
        })
    }

    fn name(&mut self, text: &str, field: impl Fn() -> String) -> Result<String, LineError> {
        if let Some(canonical) = self.names.get(text) {
            return Ok(canonical.clone());
        }
        let canonical = LegalName::parse(text)
            .map_err(|e| self.error(Some(field()), e))?
            .to_string();
        if self.names.len() >= NAME_CACHE {
            self.names.clear();
        }
        self.names.insert(text.to_string(), canonical.clone());
        Ok(canonical)
    }

    fn payload(&self, text: &str) -> Result<Vec<u8>, LineError> {
        let field = || Some("payload".to_string());
        let most = self.max_payload_bytes;
        if text.len() > most.div_ceil(3) * 4 {
            return Err(self.error(
                field(),
                format!(
                    "holds about {} bytes, more than the {most} a payload may have here",
                    text.len() / 4 * 3
                ),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| {
                self.error(
                    field(),
                    format!("is not base64 ({e}); give the bytes in the standard, padded alphabet"),
                )
            })?;
        if bytes.len() > most {
            return Err(self.error(
                field(),
                format!(
                    "holds {} bytes, more than the {most} a payload may have here",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// Words a line serde refused: which field, what it should be. Only
    /// a line whose metadata is bounded gets here, and only such a line is
    /// parsed again as a JSON value (of its metadata's size, plus one
    /// string): its payload is cut from the value first.
    fn explain(&self, text: &str, e: serde_json::Error) -> LineError {
        let value: serde_json::Value = match serde_json::from_str(&without_longest_string(text)) {
            Ok(value) => value,
            Err(_) => {
                return self.error(
                    None,
                    format!("is not JSON ({e}); each line is one JSON object"),
                );
            }
        };
        let Some(object) = value.as_object() else {
            return self.error(
                None,
                format!(
                    "is JSON but not an object; each line is one transaction: an object with \
                     {FIELDS}"
                ),
            );
        };
        if let Some(key) = object
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "dependencies" | "outputs" | "payload"))
        {
            return self.error(
                Some(shorten(key)),
                format!("is not a field of a transaction; the fields are {FIELDS}"),
            );
        }
        let expect = |field: &str, what: &str| self.error(Some(field.into()), what.to_string());
        match object.get("id") {
            None => return expect("id", "is missing; give the transaction id as 64 hex digits"),
            Some(v) if !v.is_string() => {
                return expect("id", "must be a string of 64 hex digits");
            }
            _ => {}
        }
        if let Some(error) = self.explain_outputs(object.get("outputs")) {
            return error;
        }
        match object.get("dependencies") {
            Some(serde_json::Value::Array(ids)) => {
                if let Some(i) = ids.iter().position(|d| !d.is_string()) {
                    return expect(
                        &format!("dependencies[{i}]"),
                        "must be a string of 64 hex digits",
                    );
                }
            }
            Some(serde_json::Value::Null) | None => {}
            Some(_) => {
                return expect(
                    "dependencies",
                    "must be a list of transaction ids (64 hex digits each)",
                );
            }
        }
        if let Some(v) = object.get("payload")
            && !v.is_string()
            && !v.is_null()
        {
            return expect("payload", "must be a string of base64");
        }
        self.error(
            None,
            format!("is not a transaction ({e}); the fields are {FIELDS}"),
        )
    }

    /// What is wrong with a line's `outputs`, if anything is.
    fn explain_outputs(&self, outputs: Option<&serde_json::Value>) -> Option<LineError> {
        let expect =
            |field: &str, what: &str| Some(self.error(Some(field.into()), what.to_string()));
        let Some(v) = outputs else {
            return expect(
                "outputs",
                "is missing; give one list of participants' legal names per output state \
                 (`[]` for none)",
            );
        };
        let Some(states) = v.as_array() else {
            return expect(
                "outputs",
                "must be a list with one list of participants' legal names per output state",
            );
        };
        for (i, state) in states.iter().enumerate() {
            let Some(names) = state.as_array() else {
                return expect(
                    &format!("outputs[{i}]"),
                    "must be a list of the state's participants' legal names",
                );
            };
            if let Some(j) = names.iter().position(|n| !n.is_string()) {
                return expect(
                    &format!("outputs[{i}][{j}]"),
                    "must be a legal name in a string, such as \"O=PartyA, L=London, C=GB\"",
                );
            }
        }
        None
    }
}

/// At most 80 characters of untrusted text, for a message.
fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(80).collect();
    let head = head.escape_debug().to_string();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Writes the header line.
pub fn write_header(out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
    writeln!(out, "{{\"format\":\"{FORMAT}\",\"version\":{VERSION}}}")
}

#[derive(serde::Serialize)]
struct LineOut<'a> {
    id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dependencies: Vec<String>,
    outputs: &'a [Vec<String>],
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
}

/// Writes one transaction as a line (ids in upper case, as Corda shows
/// them).
pub fn write_transaction(
    out: &mut (impl Write + ?Sized),
    t: &VaultTransaction,
) -> std::io::Result<()> {
    let line = LineOut {
        id: to_hex(&t.id),
        dependencies: t.dependencies.iter().map(to_hex).collect(),
        outputs: &t.outputs,
        payload: t
            .payload
            .as_ref()
            .map(|p| base64::engine::general_purpose::STANDARD.encode(p)),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "O=PartyA, L=London, C=GB";

    fn read(text: &str) -> Result<Vec<VaultTransaction>, String> {
        let mut reader = Reader::new(text.as_bytes(), 16);
        let mut out = Vec::new();
        while let Some((_, t)) = reader.next_transaction().map_err(|e| e.to_string())? {
            out.push(t);
        }
        Ok(out)
    }

    fn id(n: u8) -> String {
        to_hex(&[n; 32])
    }

    /// A line's metadata (all but its payload) is bounded before it is
    /// parsed, and a refused line is explained without holding its
    /// payload twice: a 14 MB line of metadata raised a node's peak memory
    /// by 230 MB on the error path.
    #[test]
    fn metadata_is_bounded_before_parsing_and_a_big_line_explained_cheaply() {
        let read_with = |text: &str| {
            let mut reader = Reader::new(text.as_bytes(), 4 << 20);
            let mut out = Vec::new();
            while let Some((_, t)) = reader.next_transaction().map_err(|e| e.to_string())? {
                out.push(t);
            }
            Ok::<_, String>(out)
        };
        let names = vec![format!("\"{A}\""); (MAX_METADATA_BYTES / A.len()) + 10].join(",");
        let many = format!(r#"{{"id":"{}","outputs":[[{names}]]}}"#, id(1));
        let error = read_with(&many).unwrap_err();
        assert!(error.contains("besides its payload"), "{error}");
        let payload = "QUJD".repeat(700_000);
        let big = format!(
            r#"{{"id":"{}","outputs":[["{A}"]],"payload":"{payload}"}}"#,
            id(2)
        );
        assert_eq!(
            read_with(&big).unwrap()[0].payload.as_ref().unwrap().len(),
            2_100_000
        );
        let wrong = format!(r#"{{"id":"{}","outputs":7,"payload":"{payload}"}}"#, id(3));
        let error = read_with(&wrong).unwrap_err();
        assert!(error.contains("outputs"), "{error}");
        assert_eq!(longest_string(r#"{"a":"xy\"z","b":"q"}"#), 7);
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let txs = vec![
            VaultTransaction {
                id: [1; 32],
                dependencies: vec![],
                outputs: vec![vec![A.into()]],
                payload: Some(vec![0, 1, 2, 255]),
            },
            VaultTransaction {
                id: [2; 32],
                dependencies: vec![[1; 32]],
                outputs: vec![],
                payload: None,
            },
        ];
        let mut out = Vec::new();
        write_header(&mut out).unwrap();
        for t in &txs {
            write_transaction(&mut out, t).unwrap();
        }
        assert_eq!(read(std::str::from_utf8(&out).unwrap()).unwrap(), txs);
    }

    #[test]
    fn names_are_kept_in_their_canonical_spelling_and_ids_in_either_case() {
        let line = format!(
            r#"{{"id":"{}","outputs":[["c=GB,o=PartyA , L=London"]]}}"#,
            id(0xab).to_lowercase()
        );
        let t = &read(&line).unwrap()[0];
        assert_eq!(t.id, [0xab; 32]);
        assert_eq!(t.outputs, vec![vec![A.to_string()]]);
    }

    #[test]
    fn each_kind_of_bad_line_names_its_line_field_and_what_is_accepted() {
        let good = format!(r#"{{"id":"{}","outputs":[]}}"#, id(1));
        let cases = [
            ("{", "line 2: is not JSON"),
            ("[1]", "line 2: is JSON but not an object"),
            (
                &format!(r#"{{"id":"{}","outputs":[],"fee":1}}"#, id(2)),
                "line 2: `fee`: is not a field",
            ),
            (r#"{"outputs":[]}"#, "line 2: `id`: is missing"),
            (
                r#"{"id":"12","outputs":[]}"#,
                "line 2: `id`: `12` is not a transaction id: give 64 hex digits",
            ),
            (
                &format!(r#"{{"id":"{}"}}"#, id(2)),
                "line 2: `outputs`: is missing",
            ),
            (
                &format!(r#"{{"id":"{}","outputs":[[7]]}}"#, id(2)),
                "line 2: `outputs[0][0]`: must be a legal name",
            ),
            (
                &format!(r#"{{"id":"{}","outputs":[["PartyA"]]}}"#, id(2)),
                "line 2: `outputs[0][0]`: `PartyA` is not an X.500 legal name",
            ),
            (
                &format!(r#"{{"id":"{}","dependencies":["zz"],"outputs":[]}}"#, id(2)),
                "line 2: `dependencies[0]`: `zz` is not a transaction id",
            ),
            (
                &format!(
                    r#"{{"id":"{}","dependencies":["{}"],"outputs":[]}}"#,
                    id(2),
                    id(2)
                ),
                "cannot depend on itself",
            ),
            (
                &format!(r#"{{"id":"{}","outputs":[],"payload":"!!"}}"#, id(2)),
                "line 2: `payload`: is not base64",
            ),
            (
                &format!(
                    r#"{{"id":"{}","outputs":[],"payload":"{}"}}"#,
                    id(2),
                    "A".repeat(40)
                ),
                "line 2: `payload`: holds about 30 bytes, more than the 16",
            ),
            (
                r#"{"format":"ledger-sync-ledger","version":1}"#,
                "line 2: `format`: a header may only be the first line",
            ),
        ];
        for (bad, expected) in cases {
            let err = read(&format!("{good}\n{bad}\n")).unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
        }
        let err = read(r#"{"format":"ledger-sync-ledger","version":2}"#).unwrap_err();
        assert!(
            err.contains("`version`: is 2; this ledger-sync reads version 1"),
            "{err}"
        );
    }

    #[test]
    fn a_line_longer_than_the_bound_is_refused_without_reading_it_whole() {
        let long = format!("{}\n", " ".repeat(max_line_bytes(16) + 10));
        let err = read(&long).unwrap_err();
        assert!(err.contains("line 1: is longer than"), "{err}");
    }
}

#[cfg(test)]
mod readme {
    /// The README's complete example is a file this reader accepts.
    #[test]
    fn the_readme_example_reads() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("```json\n{\"format\"")
            .expect("the README shows a ledger file")
            + "```json\n".len();
        let end = start + readme[start..].find("```").expect("closed");
        let mut reader = super::Reader::new(&readme.as_bytes()[start..end], 1024);
        let mut txs = Vec::new();
        while let Some((_, t)) = reader.next_transaction().unwrap() {
            txs.push(t);
        }
        assert_eq!(txs.len(), 3);
        assert_eq!(txs[2].dependencies, vec![txs[1].id]);
        assert_eq!(txs[1].dependencies, vec![txs[0].id]);
        assert_eq!(
            txs[0].payload.as_deref(),
            Some(&b"issued by the notary"[..])
        );
    }
}
