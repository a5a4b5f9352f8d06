//! `ledger-sync shell --node NODE_DIR`: the interactive shell. Lines are
//! read with line editing (rustyline: arrows, Ctrl-A/E/W/R, ...), Tab
//! completes commands, flow names, argument keys and status values, and the
//! history is kept in `NODE_DIR/shell-history` (0600) across sessions. Each
//! line goes to the node's admin API as `ledger-sync flow start` sends it;
//! the answer is printed as the Corda shell prints it.
//!
//! Besides the flow grammar of [`crate::shell`] the shell knows `flow list`
//! (the flows the node's plugins offer, asked of the node, as in Corda's
//! shell), `help`, and `exit` (also `bye`, `quit`, Ctrl-D). Tab completes
//! the seven reconciliation flows' names and keys; other plugins' flows
//! are typed (any unambiguous part of the name will do).

use crate::client::Client;
use crate::shell::{FLOWS, flow_arguments};
use ledger_sync_vocabulary::StatusValue;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::path::Path;

/// The history file in a node directory.
pub const HISTORY_FILE: &str = "shell-history";
/// Lines kept in the history.
const HISTORY_LINES: usize = 1000;

const HELP: &str = "Commands:
  flow start <Flow> key: value, ...   start a flow; any unambiguous part of its name will do
  flow list                           the flows this node's plugins offer
  run killFlow id: <id>               stop the reconciliation with that state-machine id
  exit                                leave the shell (also bye, quit, Ctrl-D)
Values: \"O=PartyB, L=London, C=GB\" (quoted names), [\"...\", \"...\"] (lists), true/false, IN_PROGRESS.
Tab completes commands, flow names, argument keys, statuses and (inside quotes) the network's legal names;
the history is kept across sessions. Piped, the shell exits 1 if any flow failed.";

/// What Tab offers for the text before the cursor: where the replaced word
/// starts, and the candidates, each a whole replacement for that word.
/// Inside quotes it offers the network's `parties` (legal names hold
/// spaces and commas, so the word is all since the quote).
pub fn completions(before: &str, parties: &[String]) -> (usize, Vec<String>) {
    if in_quotes(before) {
        let start = before.rfind('"').map_or(0, |i| i + 1);
        let typed = before[start..].to_ascii_lowercase();
        let names = parties
            .iter()
            .filter(|p| p.to_ascii_lowercase().starts_with(&typed))
            .map(|p| format!("{p}\""))
            .collect();
        return (start, names);
    }
    let word_start = before
        .rfind(|c: char| c.is_whitespace() || c == ',' || c == '[')
        .map_or(0, |i| i + 1);
    let word = &before[word_start..];
    let head = before[..word_start].trim_start();
    let lower = word.to_ascii_lowercase();
    let matching = |options: &mut dyn Iterator<Item = String>| -> Vec<String> {
        options
            .filter(|o| o.to_ascii_lowercase().starts_with(&lower))
            .collect()
    };
    let candidates = if head.is_empty() {
        matching(
            &mut ["flow", "run", "help", "exit"]
                .iter()
                .map(|c| format!("{c} ")),
        )
    } else if head == "flow " {
        matching(&mut ["start", "list"].iter().map(|c| format!("{c} ")))
    } else if head == "run " {
        matching(&mut std::iter::once("killFlow id: ".to_string()))
    } else if let Some(rest) = head.strip_prefix("flow start ") {
        let mut words = rest.split_whitespace();
        match words.next() {
            // The flow's name: any part of it, as the grammar accepts.
            None => FLOWS
                .iter()
                .filter(|f| f.to_ascii_lowercase().contains(&lower))
                .map(|f| format!("{f} "))
                .collect(),
            Some(flow) => {
                let flow = crate::shell::match_flow(flow).unwrap_or("");
                if head.trim_end().ends_with("lastReconciliationStatus:") {
                    matching(&mut StatusValue::ALL.iter().map(|s| s.as_str().to_string()))
                } else if word.contains(':') || in_quotes(before) {
                    Vec::new()
                } else {
                    matching(&mut flow_arguments(flow).iter().map(|k| format!("{k}: ")))
                }
            }
        }
    } else {
        Vec::new()
    };
    (word_start, candidates)
}

/// Whether the text ends inside a quoted string.
fn in_quotes(text: &str) -> bool {
    text.chars().filter(|c| *c == '"').count() % 2 == 1
}

/// rustyline's view of the shell: completion only, with the network's
/// legal names.
struct ShellHelper {
    parties: Vec<String>,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, candidates) = completions(&line[..pos], &self.parties);
        Ok((
            start,
            candidates
                .into_iter()
                .map(|c| Pair {
                    display: c.trim_end().to_string(),
                    replacement: c,
                })
                .collect(),
        ))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Runs the shell against the node in `node_dir` until `exit` or the end of
/// input; whether every flow it ran succeeded (a script piping lines in
/// learns of a failure by the exit code).
pub fn run(node_dir: &Path, login: Option<(String, String)>) -> Result<bool, String> {
    let config_file = crate::config::NodeConfig::load(node_dir)?;
    let (client, from_conf) = match &login {
        Some((user, password)) => (
            Client::new(config_file.admin_address, user, password),
            false,
        ),
        None => (Client::for_node(node_dir)?, true),
    };
    let parties = crate::config::NetworkMap::load(&config_file.network_map)
        .map(|map| map.nodes.into_iter().map(|n| n.legal_name).collect())
        .unwrap_or_default();
    let user = match &login {
        Some((user, _)) => user.clone(),
        None => config_file
            .rpc_users
            .first()
            .map(|u| u.username.clone())
            .unwrap_or_default(),
    };
    let history = node_dir.join(HISTORY_FILE);
    let mut editor = editor(parties, &history)?;
    let mut all_ok = true;
    println!(
        "ledger-sync shell for {} — `help` for the commands, `exit` to leave",
        node_dir.display()
    );
    loop {
        let line = match editor.readline(">>> ") {
            Ok(line) => line,
            // Ctrl-C drops the line being typed, as in a terminal.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(format!("shell: {e}")),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        save_history(&mut editor, &history);
        match line {
            "exit" | "bye" | "quit" => break,
            "help" => println!("{HELP}"),
            _ => all_ok &= call(&client, line, &user, from_conf),
        }
    }
    Ok(all_ok)
}

/// The line editor, with completion of flows and `parties`, and the
/// history kept in `history`.
fn editor(
    parties: Vec<String>,
    history: &Path,
) -> Result<Editor<ShellHelper, FileHistory>, String> {
    let config = rustyline::Config::builder()
        .max_history_size(HISTORY_LINES)
        .map_err(|e| format!("shell: {e}"))?
        .history_ignore_dups(true)
        .map_err(|e| format!("shell: {e}"))?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> =
        Editor::with_config(config).map_err(|e| format!("cannot start the shell: {e}"))?;
    editor.set_helper(Some(ShellHelper { parties }));
    match editor.load_history(history) {
        Ok(()) => {}
        Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => eprintln!(
            "(the shell history {} is unreadable: {e})",
            history.display()
        ),
    }
    Ok(editor)
}

/// Runs one line on the node as `user` and prints its answer; whether it
/// succeeded. `from_conf`: the account is node.conf's, so a refusal means
/// the file changed after the node started.
fn call(client: &Client, line: &str, user: &str, from_conf: bool) -> bool {
    match client.call(line) {
        Ok(answer) if answer.status == 401 => {
            if from_conf {
                println!(
                    "the node refused node.conf's rpcUsers account `{user}` (401): its \
                     password is not the one the running node has (was node.conf \
                     changed after the node started?)"
                );
            } else {
                println!("the node refused the user `{user}` or its password (401)");
            }
            false
        }
        Ok(answer) => {
            println!("{}", answer.text);
            answer.ok()
        }
        Err(e) => {
            println!("{e}");
            false
        }
    }
}

/// Reads a password from standard input after `prompt` (on standard
/// error), without echoing it when standard input is a terminal.
pub fn read_password(prompt: &str) -> std::io::Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let terminal = std::io::stdin().is_terminal();
    let stty = |setting: &str| {
        let _ = std::process::Command::new("stty")
            .arg(setting)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    if terminal {
        stty("-echo");
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if terminal {
        stty("echo");
        eprintln!();
    }
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Writes the history, readable by its owner only: the lines name parties.
fn save_history(editor: &mut Editor<ShellHelper, FileHistory>, path: &Path) {
    if let Err(e) = editor.save_history(path) {
        eprintln!("(cannot save the shell history {}: {e})", path.display());
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(before: &str) -> Vec<String> {
        completions(before, &[]).1
    }

    #[test]
    fn tab_completes_the_networks_legal_names_inside_quotes() {
        let parties = vec![
            "O=PartyA, L=London, C=GB".to_string(),
            "O=PartyB, L=London, C=GB".to_string(),
            "O=Notary, L=London, C=GB".to_string(),
        ];
        let line = "flow start ScheduleReconciliationFlow parties: [\"O=Party";
        let (start, names) = completions(line, &parties);
        assert_eq!(start, line.len() - "O=Party".len());
        assert_eq!(
            names,
            ["O=PartyA, L=London, C=GB\"", "O=PartyB, L=London, C=GB\""]
        );
        let line = "flow start GetReconciliationStatusForPartyFlow party: \"o=n";
        assert_eq!(
            completions(line, &parties).1,
            ["O=Notary, L=London, C=GB\""]
        );
    }

    #[test]
    fn tab_completes_commands_flows_keys_and_statuses() {
        assert_eq!(offered("fl"), ["flow "]);
        assert_eq!(offered("flow s"), ["start "]);
        assert_eq!(offered("run k"), ["killFlow id: "]);
        // A flow name from any part of it, as the grammar matches names.
        assert_eq!(
            offered("flow start Schedule"),
            [
                "ScheduleReconciliationFlow ",
                "IsReconciliationScheduledForPartyFlow "
            ]
        );
        assert_eq!(
            offered("flow start Refresh"),
            ["RefreshReconciliationStatusesFlow "]
        );
        assert_eq!(
            completions("flow start Refresh", &[]).0,
            "flow start ".len(),
            "the word replaced starts after the command"
        );
        // Argument keys of the flow named, even by part of its name.
        assert_eq!(
            offered("flow start GetReconciliationStatusesFlow "),
            ["party: ", "lastReconciliationStatus: ", "isRequester: "]
        );
        assert_eq!(
            offered("flow start ForPartyFlow party: \"O=A, L=B, C=GB\", is"),
            Vec::<String>::new(),
            "ForPartyFlow is ambiguous: no keys to offer"
        );
        assert_eq!(
            offered("flow start GetReconciliationStatusFor party: \"O=A, L=B, C=GB\", is"),
            ["isRequester: "]
        );
        assert_eq!(
            offered("flow start GetReconciliationStatusesFlow lastReconciliationStatus: IN"),
            ["IN_PROGRESS"]
        );
        // Nothing inside a quoted name.
        assert!(offered("flow start StopReconciliationForPartyFlow party: \"O=Pa").is_empty());
    }
}
