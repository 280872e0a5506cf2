//! Start-up and reload times: loading 50 rules with a cold and a warm
//! compiled-module cache, and the time from a changed `rules.toml` to the new
//! generation serving, with the default debounce.
//!
//! Run with `./example-rules/build.sh && cargo bench -p rulehost --bench reload`.
//! Prints medians over a few runs; the numbers go into BENCHMARKS.md.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rulehost::sandbox::{Sandbox, SandboxOptions};
use rulehost::watch::{WatchOptions, watch_files};
use rulehost::{LiveRules, RuleSet};

const RULES: usize = 50;
const RUNS: usize = 3;
const RELOADS: usize = 10;

fn load_time(dir: &Path, cache: Option<PathBuf>) -> Duration {
    let started = Instant::now();
    let sandbox = Arc::new(Sandbox::new(&SandboxOptions { cache_dir: cache }).unwrap());
    let rules = RuleSet::load_with(sandbox, dir).unwrap();
    assert_eq!(rules.rules().len(), RULES);
    started.elapsed()
}

fn start_up() {
    let dir = tempfile::tempdir().unwrap();
    support::many_rules(dir.path(), RULES);
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..RUNS {
        let cache = tempfile::tempdir().unwrap();
        cold.push(load_time(dir.path(), Some(cache.path().to_owned())));
        // The cache writes in the background; give it a moment to land.
        std::thread::sleep(Duration::from_millis(500));
        warm.push(load_time(dir.path(), Some(cache.path().to_owned())));
    }
    let uncached = support::median((0..RUNS).map(|_| load_time(dir.path(), None)).collect());
    println!(
        "start-up, {RULES} rules, cold cache: median {:?} ({cold:?})",
        support::median(cold.clone())
    );
    println!(
        "start-up, {RULES} rules, warm cache: median {:?} ({warm:?})",
        support::median(warm.clone())
    );
    println!("start-up, {RULES} rules, no cache:   median {uncached:?}");
}

fn reload_latency() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rule.wasm"),
        support::example_module("deny_client.wasm"),
    )
    .unwrap();
    let manifest = |n: usize| {
        format!(
            "[[rule]]\nname = \"r\"\nmodule = \"rule.wasm\"\n[rule.config]\nclient_id = \"c{n}\"\n"
        )
    };
    std::fs::write(dir.path().join("rules.toml"), manifest(0)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = Arc::new(Sandbox::new(&SandboxOptions::default()).unwrap());
    let live = Arc::new(LiveRules::load(dir.path(), sandbox).unwrap());
    let samples = runtime.block_on(async {
        tokio::spawn(watch_files(live.clone(), WatchOptions::default()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut samples = Vec::new();
        for n in 1..=RELOADS {
            let before = live.current().number;
            let temporary = dir.path().join("rules.toml.tmp");
            std::fs::write(&temporary, manifest(n)).unwrap();
            let started = Instant::now();
            std::fs::rename(&temporary, dir.path().join("rules.toml")).unwrap();
            while live.current().number == before {
                assert!(started.elapsed() < Duration::from_secs(10), "no reload");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            samples.push(started.elapsed());
        }
        samples
    });
    println!(
        "file change to new generation serving (debounce {:?}): median {:?} over {RELOADS}",
        WatchOptions::default().debounce,
        support::median(samples)
    );
}

fn main() {
    start_up();
    reload_latency();
}
