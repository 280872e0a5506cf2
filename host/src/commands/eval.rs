//! `rulehost eval`: run the chain once on a request read from a file or stdin.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use rulehost::{request_json, response};

use super::{EXIT_DENY, EXIT_ERROR, RulesDir};

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
    let (name, text) = read_input(&args.input)?;
    let request = request_json::parse(text.as_bytes(), request_json::DEFAULT_MAX_DEPTH)
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

fn read_input(path: &PathBuf) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the request from stdin")?;
        return Ok(("stdin".into(), text));
    }
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
    Ok((name, text))
}
