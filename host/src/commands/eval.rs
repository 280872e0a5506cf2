//! `rulehost eval`: run the chain once on a request read from a file or stdin.

use std::fs::File;
use std::io::{Read, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use rulehost::server::DEFAULT_MAX_BODY_BYTES;
use rulehost::{request_json, response};

use super::{EXIT_DENY, EXIT_ERROR, RulesDir};

/// The largest request `eval` reads: the sidecar's default body limit.
const MAX_INPUT_BYTES: usize = DEFAULT_MAX_BODY_BYTES;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    rules: RulesDir,
    /// JSON file holding {"user": {...}, "context": {...}}, or - for stdin.
    #[arg(value_name = "INPUT.json")]
    input: PathBuf,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let rules = args.rules.load()?;
    let (name, bytes) = read_input(&args.input)?;
    let request = request_json::parse(&bytes, request_json::DEFAULT_MAX_DEPTH)
        .with_context(|| format!("parsing {name} as JSON"))?;
    let reply = response::for_evaluation(rules.evaluate(request));
    let printed = writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(&reply.body)?
    );
    // A reader that stops early (`| head`) is not an error of the evaluation.
    if let Err(error) = printed
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(error).context("writing the decision to stdout");
    }
    Ok(match reply.status {
        200 => ExitCode::SUCCESS,
        401 => ExitCode::from(EXIT_DENY),
        _ => ExitCode::from(EXIT_ERROR),
    })
}

/// Reads the request from `path`, or stdin for `-`, refusing one larger than
/// the sidecar would accept, so that an endless input (`/dev/zero`, a pipe
/// that never closes) ends in an error rather than filling memory.
fn read_input(path: &PathBuf) -> anyhow::Result<(String, Vec<u8>)> {
    let (name, source): (String, Box<dyn Read>) = if path.as_os_str() == "-" {
        ("stdin".into(), Box::new(std::io::stdin()))
    } else {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("reading {name}"))?;
        (name, Box::new(file))
    };
    let mut bytes = Vec::new();
    source
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    if bytes.len() > MAX_INPUT_BYTES {
        bail!("{name} holds more than {MAX_INPUT_BYTES} bytes, the most a request may have");
    }
    Ok((name, bytes))
}
