//! The `rulehost` command: evaluate a request, check a rules directory, or
//! serve the sidecar. Each subcommand lives in its own module.

mod commands;

use std::process::ExitCode;

use clap::Parser;

/// Each evaluation allocates and frees a few hundred small blocks (the
/// request's JSON, the records, the reply). With glibc's allocator that was
/// about a sixth of the sidecar's CPU time; mimalloc raised its throughput
/// by about a quarter (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    init_logging();
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(commands::EXIT_ERROR)
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colours)
        .init();
}
