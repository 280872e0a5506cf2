//! Start-up and reload times: loading 50 rules with a cold and a warm
//! compiled-module cache, and the time from a changed `rules.toml` to the new
//! generation serving, with the default debounce.
//!
//! Run with `./example-rules/build.sh && cargo bench -p rulehost --bench reload`.
//! Prints medians over a few runs; the numbers go into BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rulehost::sandbox::{Sandbox, SandboxOptions};
use rulehost::watch::{WatchOptions, watch_files};
use rulehost::{LiveRules, RuleSet};

const RULES: usize = 50;
const RUNS: usize = 3;
const RELOADS: usize = 10;

fn example_module() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-rules/deny_client.wasm");
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run ./example-rules/build.sh first",
            path.display()
        )
    })
}

/// `module` with a custom section appended, so that each copy has its own
/// content hash and is compiled on its own.
fn distinct(module: &[u8], index: usize) -> Vec<u8> {
    let name = format!("rulehost-bench-{index}");
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name.as_bytes());
    let mut bytes = module.to_vec();
    bytes.push(0);
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    bytes
}

/// A rules directory of `RULES` deny-client rules, each its own module.
fn fifty_rules(dir: &Path) {
    let module = example_module();
    let mut manifest = String::new();
    for index in 0..RULES {
        std::fs::write(
            dir.join(format!("rule{index}.wasm")),
            distinct(&module, index),
        )
        .unwrap();
        manifest.push_str(&format!(
            "[[rule]]\nname = \"rule{index}\"\nmodule = \"rule{index}.wasm\"\n[rule.config]\nclient_id = \"c{index}\"\n"
        ));
    }
    std::fs::write(dir.join("rules.toml"), manifest).unwrap();
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn load_time(dir: &Path, cache: Option<PathBuf>) -> Duration {
    let started = Instant::now();
    let sandbox = Arc::new(Sandbox::new(&SandboxOptions { cache_dir: cache }).unwrap());
    let rules = RuleSet::load_with(sandbox, dir).unwrap();
    assert_eq!(rules.rules().len(), RULES);
    started.elapsed()
}

fn start_up() {
    let dir = tempfile::tempdir().unwrap();
    fifty_rules(dir.path());
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..RUNS {
        let cache = tempfile::tempdir().unwrap();
        cold.push(load_time(dir.path(), Some(cache.path().to_owned())));
        // The cache writes in the background; give it a moment to land.
        std::thread::sleep(Duration::from_millis(500));
        warm.push(load_time(dir.path(), Some(cache.path().to_owned())));
    }
    let uncached = median((0..RUNS).map(|_| load_time(dir.path(), None)).collect());
    println!(
        "start-up, {RULES} rules, cold cache: median {:?} ({cold:?})",
        median(cold.clone())
    );
    println!(
        "start-up, {RULES} rules, warm cache: median {:?} ({warm:?})",
        median(warm.clone())
    );
    println!("start-up, {RULES} rules, no cache:   median {uncached:?}");
}

fn reload_latency() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rule.wasm"), example_module()).unwrap();
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
        median(samples)
    );
}

fn main() {
    start_up();
    reload_latency();
}
