//! The command line: arguments and the dispatch to each subcommand.

mod check;
mod eval;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Serve decisions over HTTP: POST /v1/evaluate, GET /healthz.
    Serve(serve::ServeArgs),
}

/// The rules directory option shared by every subcommand.
#[derive(Debug, clap::Args)]
struct RulesDir {
    /// Directory holding rules.toml and the modules it names.
    #[arg(long = "rules", value_name = "DIR")]
    dir: PathBuf,
}

/// Runs the chosen subcommand and returns its exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Eval(args) => eval::run(args),
        Command::Check(args) => check::run(args),
        Command::Serve(args) => serve::run(args),
    }
}
