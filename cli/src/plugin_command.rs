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
    for (file, template) in TEMPLATES {
        std::fs::write(root.join(file), render(template, name, &sdk))?;
    }
    std::fs::write(root.join(".gitignore"), "/target\n")?;
    println!(
        "made the plugin crate {} — next:\n  cd {}\n  cargo test\n  cargo build --target wasm32-wasip2 --release\n  ledger-sync plugin check target/wasm32-wasip2/release/{krate}.wasm",
        root.display(),
        root.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The scaffold's files (`cli/templates/plugin/`), with `{{name}}`,
/// `{{Flow}}` (the name as the start of its flows' names), `{{crate}}` and
/// `{{sdk}}` filled in.
const TEMPLATES: [(&str, &str); 3] = [
    (
        "Cargo.toml",
        include_str!("../templates/plugin/Cargo.toml.template"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/plugin/lib.rs.template"),
    ),
    (
        "README.md",
        include_str!("../templates/plugin/README.md.template"),
    ),
];

fn render(template: &str, name: &str, sdk: &Path) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{Flow}}", &flow_prefix(name))
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{sdk}}", &sdk.display().to_string())
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
