//! `ledger-sync plugin`: for plugin authors. `plugin new NAME` scaffolds a
//! plugin crate written with the SDK (`ledger-sync-plugin-api`) that builds,
//! passes its own unit test and passes `plugin check`; `plugin check FILE`
//! runs any plugin component in the simulated network
//! ([`ledger_sync_sim::plugin_kit`]).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ledger_sync_host::PluginRuntime;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Scaffold a plugin crate in DIR/NAME (a `cdylib` written with the
    /// SDK): a small plugin that answers `ping` with `pong`, its unit test,
    /// and a README saying how to build, check, install and configure it.
    New {
        /// The plugin's name: lower-case letters, digits and `-`, starting
        /// with a letter (it names the crate and the configuration file).
        name: String,
        /// Where to make the crate's directory.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The SDK crate to depend on (default: the `sdk/` of the source
        /// tree this binary was built from).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Load a plugin component in the reference host and run it on two
    /// simulated nodes: it must start, take an unexpected message, start
    /// again after one node crashes, run three virtual minutes without
    /// trapping, and answer its flows and metrics. Exits 0 when it passes,
    /// 1 when it does not, 2 when it is refused.
    Check {
        /// The component (`target/wasm32-wasip2/release/NAME.wasm`).
        file: PathBuf,
        /// The plugin configuration file to start it with.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub fn run(args: PluginArgs) -> Result<ExitCode> {
    match args.command {
        PluginCommand::New { name, dir, sdk } => new(&name, &dir, sdk),
        PluginCommand::Check { file, config } => check(&file, config.as_deref()),
    }
}

fn check(file: &Path, config: Option<&Path>) -> Result<ExitCode> {
    let config = match config {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the plugin configuration {}", path.display()))?,
        None => String::new(),
    };
    let runtime = PluginRuntime::from_file(file)?;
    let report = ledger_sync_sim::plugin_kit::check(runtime, &config)?;
    println!(
        "{} {} (contract ledger-sync:plugin@{}): started on 2 nodes and again after a crash, {} messages between them",
        report.info.name, report.info.version, report.contract, report.messages
    );
    if !report.flows.is_empty() {
        println!("  offers {}", report.flows.join(", "));
    }
    for line in report.logs.iter().rev().take(20).rev() {
        println!("  {line}");
    }
    if report.passed() {
        println!("passed");
        return Ok(ExitCode::SUCCESS);
    }
    for failure in &report.failures {
        println!("FAILED: {failure}");
    }
    Ok(ExitCode::FAILURE)
}

fn new(name: &str, dir: &Path, sdk: Option<PathBuf>) -> Result<ExitCode> {
    use ledger_sync_vocabulary::names::{NAME_RULE, is_component_name};
    if !is_component_name(name) {
        bail!("`{name}` is not a plugin name: give {NAME_RULE}");
    }
    let sdk = match sdk {
        Some(path) => path,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk"),
    };
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the SDK crate is not at {}: give its directory with --sdk",
            sdk.display()
        )
    })?;
    let root = dir.join(name);
    if root.exists() {
        bail!(
            "{} exists already: choose another name or --dir",
            root.display()
        );
    }
    std::fs::create_dir_all(root.join("src"))?;
    let krate = name.replace('-', "_");
    let files = [
        ("Cargo.toml", cargo_toml(name, &sdk)),
        ("src/lib.rs", lib_rs(name)),
        ("README.md", readme(name, &krate)),
        (".gitignore", "/target\n".to_string()),
    ];
    for (file, text) in files {
        std::fs::write(root.join(file), text)?;
    }
    println!(
        "made the plugin crate {} — next:\n  cd {}\n  cargo test\n  cargo build --target wasm32-wasip2 --release\n  ledger-sync plugin check target/wasm32-wasip2/release/{krate}.wasm",
        root.display(),
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# A plugin is built on its own, not as part of a workspace above it.
[workspace]

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
ledger-sync-plugin-api = {{ path = "{}" }}
"#,
        sdk.display()
    )
}

/// A plugin name as the start of its flows' names: `my-plugin` is
/// `MyPlugin`.
fn flow_prefix(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn lib_rs(name: &str) -> String {
    let flow = flow_prefix(name);
    format!(
        r#"//! {name}: a ledger-sync plugin. The operator's `{flow}PingFlow party:
//! "..."` sends `ping` to the {name} plugin of that party, which answers
//! `pong`; `{flow}CountFlow` says how many pongs came back. Replace the
//! logic; keep the shape: a `Plugin` impl and `export_plugin!`.

use ledger_sync_plugin_api::platform::{{self, Level}};
use ledger_sync_plugin_api::{{CustomFlow, FlowError, Plugin}};

/// What the plugin keeps between calls (in memory: a restart starts it
/// again; keep what must last in the status store).
pub struct App {{
    pongs: u32,
}}

/// The answer to a payload, if any: the plugin's logic as a plain
/// function, so that it is unit-tested natively.
pub fn answer(payload: &[u8]) -> Option<&'static [u8]> {{
    (payload == b"ping").then_some(b"pong")
}}

impl Plugin for App {{
    const NAME: &'static str = "{name}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn start(config: &str, restart_reason: Option<&str>) -> Result<Self, String> {{
        if let Some(line) = config.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')) {{
            return Err(format!("{name} takes no configuration yet; `{{line}}` is not accepted"));
        }}
        if let Some(why) = restart_reason {{
            platform::log(Level::Warn, "", &format!("restarted after: {{why}}"));
        }}
        Ok(App {{ pongs: 0 }})
    }}

    fn on_message(&mut self, sender: &str, payload: &[u8]) {{
        if payload == b"pong" {{
            self.pongs += 1;
        }} else if let Some(reply) = answer(payload) {{
            let _ = platform::send(sender, reply);
        }}
    }}

    fn custom_flows(&self) -> Vec<CustomFlow> {{
        let flow = |name: &str, arguments: &[&str], summary: &str| CustomFlow {{
            name: name.to_string(),
            arguments: arguments.iter().map(|a| a.to_string()).collect(),
            summary: summary.to_string(),
        }};
        vec![
            flow("{flow}PingFlow", &["party"], "Sends ping to the {name} plugin of a party"),
            flow("{flow}CountFlow", &[], "How many pongs came back"),
        ]
    }}

    fn run_flow(&mut self, name: &str, arguments: &[(String, String)]) -> Result<String, FlowError> {{
        match name {{
            "{flow}PingFlow" => {{
                let party = arguments
                    .iter()
                    .find(|(key, _)| key == "party")
                    .map(|(_, value)| value.as_str())
                    .ok_or_else(|| FlowError::InvalidArgument(
                        "{flow}PingFlow needs party: \"O=PartyB, L=London, C=GB\"".to_string(),
                    ))?;
                platform::send(party, b"ping")
                    .map_err(|e| FlowError::InvalidArgument(format!("{{party}}: {{e:?}}")))?;
                Ok("kotlin.Unit".to_string())
            }}
            "{flow}CountFlow" => Ok(self.pongs.to_string()),
            other => Err(FlowError::InvalidArgument(format!("{name} offers no flow {{other}}"))),
        }}
    }}
}}

#[cfg(target_arch = "wasm32")]
ledger_sync_plugin_api::export_plugin!(App);

#[cfg(test)]
mod tests {{
    use super::*;

    #[test]
    fn a_ping_is_answered_and_anything_else_is_not() {{
        assert_eq!(answer(b"ping"), Some(&b"pong"[..]));
        assert_eq!(answer(b"pong"), None);
        assert_eq!(answer(&[0xff; 100]), None);
    }}

    #[test]
    fn its_flows_keep_to_the_shells_names() {{
        let app = App {{ pongs: 0 }};
        let flows = app.custom_flows();
        ledger_sync_plugin_api::vocabulary::custom_flow::check_custom_flows(flows).unwrap();
    }}
}}
"#
    )
}

fn readme(name: &str, krate: &str) -> String {
    let flow = flow_prefix(name);
    format!(
        r#"# {name}

A ledger-sync plugin, written with the SDK (`ledger-sync-plugin-api`).

```sh
cargo test                                   # the plugin's logic, natively
cargo build --target wasm32-wasip2 --release # the component
ledger-sync plugin check target/wasm32-wasip2/release/{krate}.wasm
```

`plugin check` loads the component in the reference host and runs it on
two simulated nodes: it must start, start again from what it stored after
one node crashes, take a message it cannot expect, run three virtual
minutes without trapping, and answer its flows and metrics.

To run it in a node beside ledger-sync, copy the component to the node's
`plugins/` and list it in `node.conf`:

```toml
[[plugins]]
path = "plugins/{krate}.wasm"
grants = []            # "vault", "reconciliation": only what it needs
```

Its flows are then started like ledger-sync's, from the shell or the
admin API (`flow start {flow}PingFlow party: "O=PartyB, L=London, C=GB"`),
and its messages reach only the {name} plugin of other nodes. Its
configuration file is `plugins/config/{name}-0.1.0.conf`
(`<name>-<version>.conf`).
"#
    )
}
