//! `rulehost check`: load every rule of a directory and report what loaded.

use std::process::ExitCode;

use super::RulesDir;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    rules: RulesDir,
}

pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let rules = args.rules.load()?;
    let manifest = rules.manifest();
    println!(
        "{}: {} rules",
        manifest.path.display(),
        manifest.rules.len()
    );
    for spec in &manifest.rules {
        let state = if spec.enabled { "ok      " } else { "disabled" };
        println!("  {state} {:<28} {}", spec.name, spec.module.display());
    }
    Ok(ExitCode::SUCCESS)
}
