//! The command line: arguments and the dispatch to each subcommand.

mod check;
mod eval;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rulehost::RuleSet;
use rulehost::sandbox::{Sandbox, SandboxOptions};

/// Exit code of `eval` when a rule denied.
pub const EXIT_DENY: u8 = 1;
/// Exit code of any command that failed.
pub const EXIT_ERROR: u8 = 2;

/// Runs access rules compiled to WebAssembly components on login requests.
#[derive(Debug, Parser)]
#[command(name = "rulehost", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate one request and print the decision as JSON.
    ///
    /// Exits 0 on allow or modify, 1 on deny, 2 on error (bad input, a rule
    /// that failed, rules that do not load).
    Eval(eval::EvalArgs),
    /// Load and type-check every rule of a rules directory and report.
    ///
    /// Exits 0 when every enabled rule loads, 2 otherwise.
    Check(check::CheckArgs),
    /// Serve decisions over HTTP, reloading the rules when their files change.
    ///
    /// Routes: POST /v1/evaluate, GET /v1/rules, GET /healthz, GET /readyz.
    /// SIGHUP forces a reload; SIGINT and SIGTERM stop after requests in flight.
    Serve(serve::ServeArgs),
}

/// The options every subcommand shares: where the rules are and where
/// compiled modules are cached.
#[derive(Debug, clap::Args)]
struct RulesDir {
    /// Directory holding rules.toml and the modules it names.
    #[arg(long = "rules", value_name = "DIR")]
    dir: PathBuf,
    /// Where compiled modules are cached across runs [default:
    /// $XDG_CACHE_HOME/rulehost, else ~/.cache/rulehost].
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    cache_dir: Option<PathBuf>,
    /// Compile every module afresh and keep nothing on disk.
    #[arg(long)]
    no_cache: bool,
}

impl RulesDir {
    /// The sandbox these options describe.
    fn sandbox(&self) -> anyhow::Result<Arc<Sandbox>> {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        Ok(Arc::new(Sandbox::new(&SandboxOptions { cache_dir })?))
    }

    /// Loads the rule set once.
    fn load(&self) -> anyhow::Result<RuleSet> {
        RuleSet::load_with(self.sandbox()?, &self.dir)
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("rulehost"))
}

/// Runs the chosen subcommand and returns its exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Eval(args) => eval::run(args),
        Command::Check(args) => check::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
