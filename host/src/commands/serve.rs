//! `rulehost serve`: the HTTP sidecar, stopped by SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rulehost::RuleSet;
use rulehost::server::{self, DEFAULT_MAX_BODY_BYTES, ServerOptions};

use super::RulesDir;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    rules: RulesDir,
    /// Address to listen on. Loopback by default; bind another address only
    /// behind a network policy that admits the callers alone.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Seconds requests in flight get to finish after SIGTERM or SIGINT.
    #[arg(long, value_name = "SECONDS", default_value_t = server::DEFAULT_SHUTDOWN_GRACE.as_secs())]
    shutdown_grace: u64,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let rules = Arc::new(RuleSet::load(&args.rules.dir)?);
    let options = ServerOptions {
        max_body_bytes: args.max_body_bytes,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!(
            address = %listener.local_addr()?,
            rules = rules.rules().len(),
            "serving"
        );
        server::serve(listener, rules, options, shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
    }
}
