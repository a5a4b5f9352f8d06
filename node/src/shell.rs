//! The Corda shell's flow grammar, as the seed's documents print it:
//!
//! ```text
//! flow start ScheduleReconciliationFlow parties: ["O=PartyB, L=London, C=GB"]
//! flow start GetReconciliationStatusesFlow party: "O=PartyA, L=London, C=GB", lastReconciliationStatus: IN_PROGRESS, isRequester: true
//! run killFlow id: c243222b-1940-45df-8828-a8496196d274
//! ```
//!
//! Arguments are `key: value` pairs separated by commas; a value is a quoted
//! string (X.500 names contain commas, so they are quoted), a list in
//! brackets, `true`/`false`, or a bare word (an enum constant such as
//! `IN_PROGRESS`, a UUID). A flow is named by any part of its name that
//! matches one flow only, ignoring case; the exact name always wins. The
//! flows are the seven reconciliation flows and those the node's other
//! plugins offer ([`Catalog`]); an ambiguous name lists the candidates with
//! the plugin offering each. [`parse_in`] turns a line into a [`Command`]
//! or an error that says what was wrong and what is accepted.

use ledger_sync_vocabulary::{CustomFlow, StatusValue};
use std::fmt;

/// The seven flows, by their seed names.
pub const FLOWS: [&str; 7] = ledger_sync_vocabulary::custom_flow::RECONCILIATION_FLOWS;

/// Whether `name` could be a flow another plugin offers (its permission
/// may be given before the plugin is loaded; the node checks it then).
pub fn looks_like_a_flow(name: &str) -> bool {
    ledger_sync_vocabulary::custom_flow::is_flow_name(name)
}

/// Names the seed's documents print that are not a flow's name: accepted so
/// that every example line runs as printed.
const ALIASES: [(&str, &str); 1] = [("ScheduledReconciliationFlow", "ScheduleReconciliationFlow")];

/// A flow call, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    ScheduleReconciliation {
        parties: Vec<String>,
    },
    GetReconciliationStatuses {
        party: Option<String>,
        last_reconciliation_status: Option<StatusValue>,
        is_requester: bool,
    },
    GetReconciliationStatusForParty {
        party: String,
        is_requester: bool,
    },
    RefreshReconciliationStatuses,
    StopReconciliationForParty {
        party: String,
    },
    IsReconciliationScheduledForParty {
        party: String,
    },
    IsRespondingToReconciliationForParty {
        party: String,
    },
    /// `run killFlow id: ...`: stop the reconciliation run by that state
    /// machine (the first of the seed's two steps for a stuck one).
    KillFlow {
        id: String,
    },
    /// A flow another plugin offers: its arguments as typed.
    Custom {
        plugin: String,
        flow: String,
        arguments: Vec<(String, String)>,
    },
}

/// The flows a node's other plugins offer, by plugin: what the shell
/// matches names against beside the seven.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    flows: Vec<(CustomFlow, String)>,
}

impl Catalog {
    /// Adds `plugin`'s flows; a name another plugin already offers is an
    /// error naming both.
    pub fn add(&mut self, plugin: &str, flows: Vec<CustomFlow>) -> Result<(), String> {
        for flow in flows {
            if let Some((_, other)) = self.find(&flow.name) {
                return Err(format!(
                    "the plugins {other} and {plugin} both offer {}; remove one of them from \
                     node.conf",
                    flow.name
                ));
            }
            self.flows.push((flow, plugin.to_string()));
        }
        Ok(())
    }

    /// The flow called exactly `name`, and its plugin.
    pub fn find(&self, name: &str) -> Option<(&CustomFlow, &str)> {
        self.flows
            .iter()
            .find(|(f, _)| f.name == name)
            .map(|(f, p)| (f, p.as_str()))
    }

    /// Every flow, with its plugin.
    pub fn flows(&self) -> impl Iterator<Item = (&CustomFlow, &str)> {
        self.flows.iter().map(|(f, p)| (f, p.as_str()))
    }

    /// Every flow name the shell accepts: the seven, then the others.
    pub fn names(&self) -> Vec<&str> {
        FLOWS
            .iter()
            .copied()
            .chain(self.flows.iter().map(|(f, _)| f.name.as_str()))
            .collect()
    }
}

/// Why a line was not accepted, worded for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellError(pub String);

impl fmt::Display for ShellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShellError {}

fn error<T>(message: impl Into<String>) -> Result<T, ShellError> {
    Err(ShellError(message.into()))
}

/// An argument's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A quoted string.
    Text(String),
    /// A bare word: an enum constant, a UUID, a number.
    Word(String),
    Bool(bool),
    List(Vec<Value>),
}

impl Value {
    /// The value as text, as another plugin's flow receives it: a quoted
    /// string without its quotes, a word or `true`/`false` as typed, a
    /// list in brackets with its strings quoted.
    fn as_text(&self) -> String {
        match self {
            Value::Text(t) | Value::Word(t) => t.clone(),
            Value::Bool(b) => b.to_string(),
            Value::List(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        Value::Text(t) => format!("{t:?}"),
                        other => other.as_text(),
                    })
                    .collect();
                format!("[{}]", items.join(", "))
            }
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Value::Text(_) => "a quoted string",
            Value::Word(_) => "a bare word",
            Value::Bool(_) => "true or false",
            Value::List(_) => "a list",
        }
    }
}

/// How deep lists may nest: a flow takes at most a list of names.
const MAX_LIST_DEPTH: usize = 2;

/// The flow a line starts, read from its first words alone (the arguments
/// are not parsed): enough to check a user's permission before the rest of
/// the line costs anything.
pub fn flow_of(line: &str, catalog: &Catalog) -> Result<String, ShellError> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("flow"), Some("start")) => match words.next() {
            Some(name) => match_in(name, catalog).map(|m| m.name().to_string()),
            None => error(format!(
                "flow start needs a flow name; the flows are: {}",
                catalog.names().join(", ")
            )),
        },
        (Some("run"), Some("killFlow")) => Ok("killFlow".to_string()),
        _ => parse_in(line, catalog).map(|c| crate::flows::flow_name(&c).to_string()),
    }
}

/// [`parse_in`] with the seven flows only.
pub fn parse(line: &str) -> Result<Command, ShellError> {
    parse_in(line, &Catalog::default())
}

/// Parses one shell line, in time linear in its length; lists nest at
/// most [`MAX_LIST_DEPTH`] deep.
pub fn parse_in(line: &str, catalog: &Catalog) -> Result<Command, ShellError> {
    let line = line.trim();
    let mut words = line.splitn(3, char::is_whitespace);
    let verb = words.next().unwrap_or("");
    let what = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim();
    match (verb, what) {
        ("flow", "start") => {
            let (name, args) = match rest.split_once(char::is_whitespace) {
                Some((name, args)) => (name, args),
                None => (rest, ""),
            };
            if name.is_empty() {
                return error(format!(
                    "flow start needs a flow name; the flows are: {}",
                    catalog.names().join(", ")
                ));
            }
            let matched = match_in(name, catalog)?;
            let args = Arguments::parse(args)?;
            match matched {
                Matched::Reconciliation(flow) => build(flow, args),
                Matched::Custom(flow, plugin) => custom(flow, plugin, args),
            }
        }
        ("run", "killFlow") => {
            let mut args = Arguments::parse(rest)?;
            let id = args.word_or_text("killFlow", "id")?;
            args.finish("killFlow", flow_arguments("killFlow"))?;
            Ok(Command::KillFlow { id })
        }
        _ => error(format!(
            "`{line}` is not a command this shell knows; it accepts `flow start <Flow> \
             key: value, ...` and `run killFlow id: <state-machine-id>`"
        )),
    }
}

/// The argument keys a flow accepts, in the order the seed prints them.
pub fn flow_arguments(flow: &str) -> &'static [&'static str] {
    match flow {
        "ScheduleReconciliationFlow" => &["parties"],
        "GetReconciliationStatusesFlow" => &["party", "lastReconciliationStatus", "isRequester"],
        "GetReconciliationStatusForPartyFlow" => &["party", "isRequester"],
        "StopReconciliationForPartyFlow"
        | "IsReconciliationScheduledForPartyFlow"
        | "IsRespondingToReconciliationForPartyFlow" => &["party"],
        "killFlow" => &["id"],
        _ => &[],
    }
}

/// A flow a name stands for: one of the seven, or another plugin's.
enum Matched<'a> {
    Reconciliation(&'static str),
    Custom(&'a CustomFlow, &'a str),
}

impl Matched<'_> {
    fn name(&self) -> &str {
        match self {
            Matched::Reconciliation(flow) => flow,
            Matched::Custom(flow, _) => &flow.name,
        }
    }

    /// The flow as an ambiguity lists it: another plugin's names its plugin.
    fn shown(&self) -> String {
        match self {
            Matched::Reconciliation(flow) => flow.to_string(),
            Matched::Custom(flow, plugin) => format!("{} (plugin {plugin})", flow.name),
        }
    }
}

/// The seven flows, among the seven only (see [`match_in`]).
pub fn match_flow(name: &str) -> Result<&'static str, ShellError> {
    match match_in(name, &Catalog::default())? {
        Matched::Reconciliation(flow) => Ok(flow),
        Matched::Custom(..) => unreachable!("an empty catalog offers no other flow"),
    }
}

/// `flow list`: every flow a node offers, one a line, with its argument
/// keys; another plugin's names the plugin and says what it does.
pub fn list(catalog: &Catalog) -> String {
    let mut lines: Vec<String> = FLOWS
        .iter()
        .map(|f| format!("{f} {}", flow_arguments(f).join(", ")))
        .collect();
    for (flow, plugin) in catalog.flows() {
        lines.push(format!(
            "{} {} (plugin {plugin}: {})",
            flow.name,
            flow.arguments.join(", "),
            flow.summary
        ));
    }
    lines
        .iter()
        .map(|l| l.replace("  (", " (").trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The flow a name (or any unambiguous part of one) stands for, among the
/// seven and the catalog's.
fn match_in<'a>(name: &str, catalog: &'a Catalog) -> Result<Matched<'a>, ShellError> {
    if let Some((_, flow)) = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
    {
        return Ok(Matched::Reconciliation(flow));
    }
    let every = FLOWS
        .iter()
        .map(|f| Matched::Reconciliation(f))
        .chain(catalog.flows().map(|(f, p)| Matched::Custom(f, p)));
    let lower = name.to_ascii_lowercase();
    let mut candidates = Vec::new();
    for flow in every {
        if flow.name().eq_ignore_ascii_case(name) {
            return Ok(flow);
        }
        if flow.name().to_ascii_lowercase().contains(&lower) {
            candidates.push(flow);
        }
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => error(format!(
            "no flow is called `{name}`; the flows are: {}",
            catalog.names().join(", ")
        )),
        _ => error(format!(
            "`{name}` is ambiguous: it could be {}; give more of the name",
            candidates
                .iter()
                .map(Matched::shown)
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// A call of another plugin's flow: every key one it takes, each value
/// passed on as typed.
fn custom(flow: &CustomFlow, plugin: &str, args: Arguments) -> Result<Command, ShellError> {
    let mut arguments = Vec::with_capacity(args.0.len());
    for (key, value) in args.0 {
        if !flow.arguments.contains(&key) {
            let accepted: Vec<&str> = flow.arguments.iter().map(String::as_str).collect();
            return Err(no_such_argument(&flow.name, &key, &accepted));
        }
        arguments.push((key, value.as_text()));
    }
    Ok(Command::Custom {
        plugin: plugin.to_string(),
        flow: flow.name.clone(),
        arguments,
    })
}

/// `key: value` pairs, in order.
struct Arguments(Vec<(String, Value)>);

impl Arguments {
    fn parse(text: &str) -> Result<Self, ShellError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            at: 0,
        };
        let mut pairs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        parser.skip_space();
        while !parser.done() {
            let key = parser.key()?;
            if !seen.insert(key.clone()) {
                return error(format!("argument `{key}` is given twice"));
            }
            parser.skip_space();
            let value = parser.value(&key, 0)?;
            pairs.push((key, value));
            parser.skip_space();
            if parser.done() {
                break;
            }
            parser.expect(',', "a comma between arguments")?;
            parser.skip_space();
        }
        Ok(Arguments(pairs))
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    fn party(&mut self, flow: &str, key: &str) -> Result<Option<String>, ShellError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Text(name)) => Ok(Some(name)),
            Some(other) => error(format!(
                "{flow}: {key} must be a quoted X.500 name such as \"O=PartyB, L=London, C=GB\", \
                 not {}",
                other.describe()
            )),
        }
    }

    fn required_party(&mut self, flow: &str, key: &str) -> Result<String, ShellError> {
        self.party(flow, key)?.map_or_else(
            || {
                error(format!(
                    "{flow} needs {key}: \"O=PartyB, L=London, C=GB\" (a quoted X.500 name)"
                ))
            },
            Ok,
        )
    }

    fn flag(&mut self, flow: &str, key: &str) -> Result<bool, ShellError> {
        match self.take(key) {
            Some(Value::Bool(b)) => Ok(b),
            None => error(format!("{flow} needs {key}: true or {key}: false")),
            Some(other) => error(format!(
                "{flow}: {key} must be true or false, not {}",
                other.describe()
            )),
        }
    }

    fn word_or_text(&mut self, flow: &str, key: &str) -> Result<String, ShellError> {
        match self.take(key) {
            Some(Value::Word(w) | Value::Text(w)) => Ok(w),
            None => error(format!("{flow} needs {key}: <value>")),
            Some(other) => error(format!("{flow}: {key} cannot be {}", other.describe())),
        }
    }

    /// Refuses what is left: an argument the flow does not take.
    fn finish(self, flow: &str, accepted: &[&str]) -> Result<(), ShellError> {
        match self.0.first() {
            None => Ok(()),
            Some((key, _)) => Err(no_such_argument(flow, key, accepted)),
        }
    }
}

/// The refusal of an argument `flow` does not take.
fn no_such_argument(flow: &str, key: &str, accepted: &[&str]) -> ShellError {
    ShellError(format!(
        "{flow} takes no argument `{key}`; it takes {}",
        if accepted.is_empty() {
            "no arguments".to_string()
        } else {
            accepted.join(", ")
        }
    ))
}

fn build(flow: &'static str, mut args: Arguments) -> Result<Command, ShellError> {
    let command = match flow {
        "ScheduleReconciliationFlow" => {
            let parties = args.parties(flow)?;
            args.finish(flow, flow_arguments(flow))?;
            Command::ScheduleReconciliation { parties }
        }
        "GetReconciliationStatusesFlow" => {
            let party = args.party(flow, "party")?;
            let last_reconciliation_status = args.status(flow, "lastReconciliationStatus")?;
            let is_requester = args.flag(flow, "isRequester")?;
            args.finish(flow, flow_arguments(flow))?;
            Command::GetReconciliationStatuses {
                party,
                last_reconciliation_status,
                is_requester,
            }
        }
        "GetReconciliationStatusForPartyFlow" => {
            let party = args.required_party(flow, "party")?;
            let is_requester = args.flag(flow, "isRequester")?;
            args.finish(flow, flow_arguments(flow))?;
            Command::GetReconciliationStatusForParty {
                party,
                is_requester,
            }
        }
        "RefreshReconciliationStatusesFlow" => {
            args.finish(flow, flow_arguments(flow))?;
            Command::RefreshReconciliationStatuses
        }
        "StopReconciliationForPartyFlow" => {
            let party = args.required_party(flow, "party")?;
            args.finish(flow, flow_arguments(flow))?;
            Command::StopReconciliationForParty { party }
        }
        "IsReconciliationScheduledForPartyFlow" => {
            let party = args.required_party(flow, "party")?;
            args.finish(flow, flow_arguments(flow))?;
            Command::IsReconciliationScheduledForParty { party }
        }
        "IsRespondingToReconciliationForPartyFlow" => {
            let party = args.required_party(flow, "party")?;
            args.finish(flow, flow_arguments(flow))?;
            Command::IsRespondingToReconciliationForParty { party }
        }
        _ => unreachable!("every flow in FLOWS is built"),
    };
    Ok(command)
}

impl Arguments {
    /// `parties`: a list of quoted X.500 names (or one name).
    fn parties(&mut self, flow: &str) -> Result<Vec<String>, ShellError> {
        Ok(match self.take("parties") {
            Some(Value::List(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::Text(name) => Ok(name),
                    other => error(format!(
                        "{flow}: each of parties must be a quoted X.500 name, not {}",
                        other.describe()
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(Value::Text(name)) => vec![name],
            Some(other) => {
                return error(format!(
                    "{flow}: parties must be a list such as [\"O=PartyB, L=London, C=GB\"], \
                     not {}",
                    other.describe()
                ));
            }
            None => {
                return error(format!(
                    "{flow} needs parties: [\"O=PartyB, L=London, C=GB\", ...]"
                ));
            }
        })
    }

    /// An optional status argument `key`, by the seed's name.
    fn status(&mut self, flow: &str, key: &str) -> Result<Option<StatusValue>, ShellError> {
        Ok(match self.take(key) {
            None => None,
            Some(Value::Word(w)) => Some(StatusValue::from_seed_name(&w).ok_or_else(|| {
                ShellError(format!(
                    "{flow}: {key} `{w}` is not a status; the statuses \
                     are {}",
                    StatusValue::ALL.map(StatusValue::as_str).join(", ")
                ))
            })?),
            Some(other) => {
                return error(format!(
                    "{flow}: {key} must be a status such as IN_PROGRESS, \
                     not {}",
                    other.describe()
                ));
            }
        })
    }
}

/// A cursor over an argument string.
struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn done(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), ShellError> {
        match self.peek() {
            Some(found) if found == c => {
                self.at += 1;
                Ok(())
            }
            Some(found) => error(format!(
                "expected {what} at character {}, found `{found}`",
                self.at + 1
            )),
            None => error(format!("expected {what} at the end of the line")),
        }
    }

    fn key(&mut self) -> Result<String, ShellError> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.at += 1;
        }
        if self.at == start {
            return error(format!(
                "expected an argument name (`key: value`) at character {}",
                self.at + 1
            ));
        }
        let key: String = self.chars[start..self.at].iter().collect();
        self.skip_space();
        self.expect(':', &format!("`:` after `{key}`"))?;
        Ok(key)
    }

    fn value(&mut self, key: &str, depth: usize) -> Result<Value, ShellError> {
        match self.peek() {
            Some('"') => self.quoted().map(Value::Text),
            Some('[') if depth >= MAX_LIST_DEPTH => error(format!(
                "the value of `{key}` nests lists more than {MAX_LIST_DEPTH} deep; a flow \
                 takes at most a list of names, such as [\"O=PartyB, L=London, C=GB\"]"
            )),
            Some('[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.peek() == Some(']') {
                        self.at += 1;
                        return Ok(Value::List(items));
                    }
                    if self.done() {
                        return error(format!("the list for `{key}` is missing its `]`"));
                    }
                    if !items.is_empty() {
                        self.expect(',', "a comma between list items")?;
                        self.skip_space();
                    }
                    if self.done() {
                        return error(format!("the list for `{key}` is missing its `]`"));
                    }
                    items.push(self.value(key, depth + 1)?);
                }
            }
            Some(_) => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | ']' | '[' | '"') && !c.is_whitespace())
                {
                    self.at += 1;
                }
                let word: String = self.chars[start..self.at].iter().collect();
                Ok(match word.as_str() {
                    "" => return error(format!("`{key}` has no value")),
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::Word(word),
                })
            }
            None => error(format!("`{key}` has no value")),
        }
    }

    fn quoted(&mut self) -> Result<String, ShellError> {
        let opened = self.at + 1;
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return error(format!(
                        "the string opened at character {opened} is not closed with `\"`"
                    ));
                }
                Some('"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.at += 1;
                    match self.peek() {
                        Some(c @ ('"' | '\\')) => out.push(c),
                        _ => return error("only \\\" and \\\\ may follow a backslash in a string"),
                    }
                    self.at += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "O=PartyA, L=London, C=GB";
    const B_LONDON: &str = "O=PartyB, L=London, C=GB";

    fn party(name: &str) -> String {
        name.to_string()
    }

    /// Every example line of the seed's documents, as printed there.
    #[test]
    fn every_seed_example_line_parses() {
        let cases = [
            (
                r#"flow start ScheduleReconciliationFlow parties: ["O=PartyB, L=London, C=GB"]"#,
                Command::ScheduleReconciliation {
                    parties: vec![party(B_LONDON)],
                },
            ),
            (
                r#"flow start ScheduleReconciliationFlow parties: ["O=PartyA, L=London, C=GB", "O=PartyB, L=Ottawa, C=CA"]"#,
                Command::ScheduleReconciliation {
                    parties: vec![party(A), party("O=PartyB, L=Ottawa, C=CA")],
                },
            ),
            (
                r#"flow start ScheduledReconciliationFlow parties: ["O=PartyA, L=London, C=GB", "O=PartyB, L=Ottawa, C=CA"]"#,
                Command::ScheduleReconciliation {
                    parties: vec![party(A), party("O=PartyB, L=Ottawa, C=CA")],
                },
            ),
            (
                "flow start GetReconciliationStatusesFlow isRequester: true",
                Command::GetReconciliationStatuses {
                    party: None,
                    last_reconciliation_status: None,
                    is_requester: true,
                },
            ),
            (
                r#"flow start GetReconciliationStatusesFlow party: "O=PartyA, L=London, C=GB", isRequester: true"#,
                Command::GetReconciliationStatuses {
                    party: Some(party(A)),
                    last_reconciliation_status: None,
                    is_requester: true,
                },
            ),
            (
                r#"flow start GetReconciliationStatusesFlow party: "O=PartyA, L=London, C=GB", lastReconciliationStatus: IN_PROGRESS, isRequester: true"#,
                Command::GetReconciliationStatuses {
                    party: Some(party(A)),
                    last_reconciliation_status: Some(StatusValue::InProgress),
                    is_requester: true,
                },
            ),
            (
                "flow start GetReconciliationStatusesFlow lastReconciliationStatus: DIFFERENCES_FOUND, isRequester: true",
                Command::GetReconciliationStatuses {
                    party: None,
                    last_reconciliation_status: Some(StatusValue::DifferencesFound),
                    is_requester: true,
                },
            ),
            (
                r#"flow start GetReconciliationStatusForPartyFlow party: "O=PartyA, L=London, C=GB", isRequester: true"#,
                Command::GetReconciliationStatusForParty {
                    party: party(A),
                    is_requester: true,
                },
            ),
            (
                r#"flow start GetReconciliationStatusForPartyFlow party: "O=PartyB, L=London, C=GB", isRequester: true"#,
                Command::GetReconciliationStatusForParty {
                    party: party(B_LONDON),
                    is_requester: true,
                },
            ),
            (
                "flow start RefreshReconciliationStatusesFlow",
                Command::RefreshReconciliationStatuses,
            ),
            (
                r#"flow start StopReconciliationForPartyFlow party: "O=PartyB, L=London, C=GB""#,
                Command::StopReconciliationForParty {
                    party: party(B_LONDON),
                },
            ),
            (
                r#"flow start IsReconciliationScheduledForPartyFlow party: "O=PartyA, L=London, C=GB""#,
                Command::IsReconciliationScheduledForParty { party: party(A) },
            ),
            (
                r#"flow start IsRespondingToReconciliationForPartyFlow party: "O=PartyA, L=London, C=GB""#,
                Command::IsRespondingToReconciliationForParty { party: party(A) },
            ),
            (
                "run killFlow id: c243222b-1940-45df-8828-a8496196d274",
                Command::KillFlow {
                    id: "c243222b-1940-45df-8828-a8496196d274".into(),
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), Ok(want), "{line}");
        }
    }

    /// The seed prints `flow start StopReconciliationForPartyFlow` alone as
    /// the flow's heading; run as printed it says what it needs.
    #[test]
    fn a_flow_without_its_argument_says_what_it_needs() {
        let e = parse("flow start StopReconciliationForPartyFlow").unwrap_err();
        assert!(e.0.contains("needs party: \"O=PartyB"), "{e}");
        let e = parse("flow start GetReconciliationStatusForPartyFlow party: \"O=A\"").unwrap_err();
        assert!(
            e.0.contains("isRequester: true or isRequester: false"),
            "{e}"
        );
    }

    #[test]
    fn flows_are_named_by_any_unambiguous_part() {
        assert_eq!(
            match_flow("refresh"),
            Ok("RefreshReconciliationStatusesFlow")
        );
        assert_eq!(
            match_flow("IsResponding"),
            Ok("IsRespondingToReconciliationForPartyFlow")
        );
        assert_eq!(
            match_flow("schedulereconciliationflow"),
            Ok("ScheduleReconciliationFlow")
        );
        let ambiguous = match_flow("Schedule").unwrap_err();
        assert!(
            ambiguous
                .0
                .contains("ScheduleReconciliationFlow or IsReconciliationScheduledForPartyFlow"),
            "{ambiguous}"
        );
        let status = match_flow("GetReconciliationStatus").unwrap_err();
        assert!(status.0.contains("ambiguous"), "{status}");
        let unknown = match_flow("Reconsile").unwrap_err();
        assert!(
            unknown
                .0
                .contains("the flows are: ScheduleReconciliationFlow"),
            "{unknown}"
        );
    }

    #[test]
    fn bad_arguments_say_what_was_wrong_and_what_is_accepted() {
        let cases = [
            (
                "flow start Refresh party: \"O=A\"",
                "takes no argument `party`; it takes no arguments",
            ),
            (
                "flow start IsResponding party: O=A",
                "must be a quoted X.500 name",
            ),
            (
                "flow start GetReconciliationStatusesFlow isRequester: maybe",
                "must be true or false",
            ),
            (
                "flow start GetReconciliationStatusesFlow lastReconciliationStatus: DONE, isRequester: true",
                "the statuses are DIFFERENCES_FOUND",
            ),
            (
                "flow start ScheduleReconciliationFlow parties: [\"O=A\"",
                "missing its `]`",
            ),
            (
                "flow start ScheduleReconciliationFlow parties: [\"O=A]",
                "is not closed",
            ),
            ("flow start IsResponding party \"O=A\"", "`:` after `party`"),
            (
                "flow start IsResponding party: \"O=A\" party: \"O=B\"",
                "a comma between arguments",
            ),
            (
                "flow start IsResponding party: \"O=A\", party: \"O=B\"",
                "given twice",
            ),
            ("flow start Schedule parties: []", "ambiguous"),
            ("flow list", "not a command this shell knows"),
            ("flow start", "needs a flow name"),
        ];
        for (line, want) in cases {
            let e = parse(line).unwrap_err();
            assert!(e.0.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn deep_lists_and_repeated_keys_are_refused_in_linear_time() {
        let deep = format!(
            "flow start ScheduleReconciliationFlow parties: {}",
            "[".repeat(100_000)
        );
        let e = parse(&deep).unwrap_err();
        assert!(e.0.contains("nests lists more than 2 deep"), "{e}");
        let keys: Vec<String> = (0..64_000).map(|n| format!("k{n}: 1")).collect();
        let wide = format!(
            "flow start ScheduleReconciliationFlow {}, k5: 2",
            keys.join(", ")
        );
        let e = parse(&wide).unwrap_err();
        assert!(e.0.contains("`k5` is given twice"), "{e}");
        assert_eq!(
            flow_of(&deep, &Catalog::default()).unwrap(),
            "ScheduleReconciliationFlow"
        );
    }

    #[test]
    fn quoted_names_may_hold_escaped_quotes() {
        assert_eq!(
            parse(r#"flow start IsResponding party: "O=Quote \"Q\" Ltd, L=London, C=GB""#),
            Ok(Command::IsRespondingToReconciliationForParty {
                party: "O=Quote \"Q\" Ltd, L=London, C=GB".into()
            })
        );
    }

    fn offered(name: &str, arguments: &[&str]) -> CustomFlow {
        CustomFlow {
            name: name.into(),
            arguments: arguments.iter().map(|a| a.to_string()).collect(),
            summary: String::new(),
        }
    }

    #[test]
    fn other_plugins_flows_are_matched_and_an_ambiguity_names_the_plugin() {
        let mut catalog = Catalog::default();
        catalog
            .add(
                "recovery",
                vec![offered("AutomaticRecoveryFlow", &["party", "limit"])],
            )
            .unwrap();
        catalog
            .add("alerts", vec![offered("AlertReconciliationFlow", &[])])
            .unwrap();
        let clash = catalog.add("other", vec![offered("AlertReconciliationFlow", &[])]);
        assert!(clash.unwrap_err().contains("alerts and other both offer"));

        let line = format!(
            "flow start automaticrecovery party: \"{}\", limit: 5",
            party("PartyB")
        );
        assert_eq!(
            parse_in(&line, &catalog).unwrap(),
            Command::Custom {
                plugin: "recovery".into(),
                flow: "AutomaticRecoveryFlow".into(),
                arguments: vec![
                    ("party".into(), party("PartyB")),
                    ("limit".into(), "5".into())
                ],
            }
        );
        assert_eq!(flow_of(&line, &catalog).unwrap(), "AutomaticRecoveryFlow");
        let list = "flow start AutomaticRecoveryFlow party: [\"a\", b, true]";
        match parse_in(list, &catalog).unwrap() {
            Command::Custom { arguments, .. } => {
                assert_eq!(arguments[0].1, "[\"a\", b, true]")
            }
            other => panic!("{other:?}"),
        }
        let ambiguous = parse_in("flow start Reconciliation", &catalog).unwrap_err();
        assert!(
            ambiguous
                .0
                .contains("AlertReconciliationFlow (plugin alerts)"),
            "{ambiguous}"
        );
        let unknown = parse_in("flow start AutomaticRecoveryFlow count: 1", &catalog);
        assert!(
            unknown
                .unwrap_err()
                .0
                .contains("takes no argument `count`; it takes party, limit")
        );
        let none = parse_in("flow start Nothing", &catalog).unwrap_err();
        assert!(
            none.0
                .contains("AutomaticRecoveryFlow, AlertReconciliationFlow")
        );
        // Without the catalog, the seven only.
        assert!(parse("flow start AutomaticRecoveryFlow").is_err());
    }
}
