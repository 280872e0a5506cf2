//! `rulehost serve`: the HTTP sidecar, stopped by SIGINT or SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rulehost::server::{self, DEFAULT_MAX_BODY_BYTES, ServerOptions};
use rulehost::watch::{self, WatchOptions};
use rulehost::{LiveRules, request_json};

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
    #[arg(long, value_parser = parse_positive, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Seconds requests in flight get to finish after SIGTERM or SIGINT.
    #[arg(long, value_name = "SECONDS", default_value_t = server::DEFAULT_SHUTDOWN_GRACE.as_secs())]
    shutdown_grace: u64,
    /// Deepest JSON nesting accepted in a request body (1 to 100).
    #[arg(long, value_parser = parse_depth, value_name = "LEVELS", default_value_t = request_json::DEFAULT_MAX_DEPTH)]
    max_json_depth: usize,
    /// Milliseconds a client may take to send a request's headers before the
    /// connection is closed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "MS", default_value_t = server::DEFAULT_HEADER_READ_TIMEOUT.as_millis() as u64)]
    header_read_timeout_ms: u64,
    /// Milliseconds a client may take to send a request's body (then 408).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), value_name = "MS", default_value_t = server::DEFAULT_BODY_READ_TIMEOUT.as_millis() as u64)]
    body_read_timeout_ms: u64,
    /// Evaluations allowed at once; more get 503 with Retry-After.
    #[arg(long, value_parser = parse_concurrency, value_name = "N", default_value_t = server::DEFAULT_MAX_CONCURRENT_EVALUATIONS)]
    max_concurrent_evaluations: usize,
    /// Do not watch the rules directory (for immutable deployments); SIGHUP
    /// still reloads.
    #[arg(long)]
    no_watch: bool,
    /// Milliseconds the files must be quiet before a reload starts.
    #[arg(long, value_name = "MS", default_value_t = watch::DEFAULT_DEBOUNCE.as_millis() as u64)]
    reload_debounce_ms: u64,
    /// Milliseconds between metadata polls that catch changes the file
    /// watcher missed.
    #[arg(long, value_parser = clap::value_parser!(u64).range(100..), value_name = "MS", default_value_t = watch::DEFAULT_POLL_INTERVAL.as_millis() as u64)]
    poll_interval_ms: u64,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let live = Arc::new(LiveRules::load(&args.rules.dir, args.rules.sandbox()?)?);
    let watch_options = WatchOptions {
        debounce: Duration::from_millis(args.reload_debounce_ms),
        poll_interval: Duration::from_millis(args.poll_interval_ms),
    };
    let options = ServerOptions {
        max_body_bytes: args.max_body_bytes,
        max_json_depth: args.max_json_depth,
        header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
        body_read_timeout: Duration::from_millis(args.body_read_timeout_ms),
        max_concurrent_evaluations: args.max_concurrent_evaluations,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        tracing::info!(
            address = %listener.local_addr()?,
            rules = live.current().rules.rules().len(),
            watching = !args.no_watch,
            "serving"
        );
        let hangups = tokio::spawn(log_failure(
            "SIGHUP reloads",
            watch::reload_on_hangup(live.clone()),
        ));
        let watcher = (!args.no_watch).then(|| {
            tokio::spawn(log_failure(
                "watching files",
                watch::watch_files(live.clone(), watch_options),
            ))
        });
        let served = server::serve(listener, live, options, shutdown_signal()).await;
        hangups.abort();
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        served
    });
    // Evaluations still running on the workers are dropped at their next
    // yield, and those on blocking threads end by their time limits; the
    // process does not wait for them past the grace period.
    runtime.shutdown_timeout(Duration::from_millis(100));
    served?;
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

/// Runs a background task and logs why it stopped, if it failed.
async fn log_failure(task: &'static str, work: impl Future<Output = anyhow::Result<()>>) {
    if let Err(error) = work.await {
        tracing::error!(task, error = %format!("{error:#}"), "background task stopped");
    }
}

/// A whole number of at least 1.
fn parse_positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(value) => Ok(value),
        Err(error) => Err(error.to_string()),
    }
}

/// A number of evaluations at once that the instance pool has room for.
fn parse_concurrency(text: &str) -> Result<usize, String> {
    let evaluations = parse_positive(text)?;
    if evaluations > server::MAX_CONCURRENT_EVALUATIONS {
        return Err(format!(
            "must be at most {} (the instance pool's room for running evaluations)",
            server::MAX_CONCURRENT_EVALUATIONS
        ));
    }
    Ok(evaluations)
}

/// A JSON nesting depth the parser supports.
fn parse_depth(text: &str) -> Result<usize, String> {
    let depth = parse_positive(text)?;
    if depth > request_json::MAX_DEPTH_LIMIT {
        return Err(format!("must be at most {}", request_json::MAX_DEPTH_LIMIT));
    }
    Ok(depth)
}
