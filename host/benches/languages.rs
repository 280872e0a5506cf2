//! Measures the example rules written in each language: component size,
//! compile time (`Component::new` on the sandbox's engine) and the time of
//! one evaluation on a fresh instance through `RuleSet::evaluate`, and prints
//! a Markdown table.
//!
//! Run with `cargo bench -p rulehost --bench languages`. It builds the Rust
//! example rules and the JavaScript, Python and C ones into `example-rules/`
//! first (quickly when they are up to date). `RULEHOST_BENCH_EVALUATIONS`
//! sets the number of evaluations per rule (default 2000) and
//! `RULEHOST_BENCH_COMPILES` the number of compilations (default 3); each
//! reported time is the median.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rulehost::RuleSet;
use rulehost::sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use wasmtime::component::Component;

/// One rule to measure: its module, language, configuration and the request
/// it is evaluated on.
struct Subject {
    module: &'static str,
    language: &'static str,
    config: &'static str,
    request: fn() -> Value,
}

const SUBJECTS: [Subject; 6] = [
    Subject {
        module: "deny_audience.wasm",
        language: "Rust",
        config: "audience = \"http://todoapi2.api\"",
        request: allowed_audience,
    },
    Subject {
        module: "deny_audience_js.wasm",
        language: "JavaScript",
        config: "audience = \"http://todoapi2.api\"",
        request: allowed_audience,
    },
    Subject {
        module: "role_scopes.wasm",
        language: "Rust",
        config: SCOPES,
        request: editor_scopes,
    },
    Subject {
        module: "role_scopes_py.wasm",
        language: "Python",
        config: SCOPES,
        request: editor_scopes,
    },
    Subject {
        module: "deny_client.wasm",
        language: "Rust",
        config: "client_id = \"legacy-portal\"",
        request: allowed_audience,
    },
    Subject {
        module: "deny_client_c.wasm",
        language: "C",
        config: "client_id = \"legacy-portal\"",
        request: allowed_audience,
    },
];

const SCOPES: &str = "admin = \"read:todos write:todos delete:todos\"
editor = \"read:todos write:todos\"
viewer = \"read:todos\"";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_owned()
}

/// The allow sample: an audience other than the forbidden one, another client.
fn allowed_audience() -> Value {
    support::example_request("allow")
}

/// The modify sample with the editor asking for four scopes: one edit.
fn editor_scopes() -> Value {
    let mut request = support::example_request("modify");
    request["context"]["authorization"]["roles"] = json!(["editor"]);
    request
}

fn run(script: &str) {
    let status = Command::new("bash")
        .arg(workspace().join(script))
        .status()
        .unwrap_or_else(|error| panic!("running {script}: {error}"));
    assert!(status.success(), "{script} failed");
}

fn compile_time(sandbox: &Sandbox, bytes: &[u8], compiles: usize) -> Duration {
    let samples = (0..compiles)
        .map(|_| {
            let started = Instant::now();
            Component::new(sandbox.engine(), bytes).expect("the module compiles");
            started.elapsed()
        })
        .collect();
    support::median(samples)
}

/// A rules directory holding just `subject`.
fn rules_dir(subject: &Subject, dir: &Path) -> tempfile::TempDir {
    let rules_dir = tempfile::tempdir().expect("a temporary directory");
    let manifest = format!(
        "[[rule]]\nname = \"measured\"\nmodule = \"{}\"\n[rule.config]\n{}\n",
        dir.join(subject.module).display(),
        subject.config
    );
    std::fs::write(rules_dir.path().join("rules.toml"), manifest).expect("writing rules.toml");
    rules_dir
}

/// The time to load `subject` in a new sandbox whose on-disk cache already
/// holds it: what a restart or a second sidecar pays.
fn cached_load_time(subject: &Subject, dir: &Path, loads: usize) -> Duration {
    let rules = rules_dir(subject, dir);
    let cache = tempfile::tempdir().expect("a cache directory");
    let options = SandboxOptions {
        cache_dir: Some(cache.path().to_owned()),
    };
    let load = || {
        let sandbox = Arc::new(Sandbox::new(&options).expect("the sandbox"));
        let started = Instant::now();
        RuleSet::load_with(sandbox, rules.path()).expect("the rule loads");
        started.elapsed()
    };
    load();
    // The cache is written in the background; let it land.
    std::thread::sleep(Duration::from_secs(1));
    support::median((0..loads).map(|_| load()).collect())
}

fn evaluation_time(subject: &Subject, dir: &Path, evaluations: usize) -> Duration {
    let rules_dir = rules_dir(subject, dir);
    let rules = RuleSet::load(rules_dir.path()).expect("the rule loads");
    let request = (subject.request)();
    rules
        .evaluate(request.clone())
        .expect("a warm-up evaluation");
    let samples = (0..evaluations)
        .map(|_| {
            let request = request.clone();
            let started = Instant::now();
            rules.evaluate(request).expect("the rule decides");
            started.elapsed()
        })
        .collect();
    support::median(samples)
}

fn size(bytes: usize) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn main() {
    run("example-rules/build.sh");
    run("example-rules/languages/build.sh");
    let dir = workspace().join("example-rules");
    let evaluations = support::env_count("RULEHOST_BENCH_EVALUATIONS", 2000);
    let compiles = support::env_count("RULEHOST_BENCH_COMPILES", 3);
    let sandbox = Sandbox::new(&SandboxOptions::default()).expect("the sandbox");
    println!(
        "| module | language | size | compile (median of {compiles}) | cached load (median of {compiles}) | evaluation (median of {evaluations}) |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: |");
    for subject in &SUBJECTS {
        let bytes = std::fs::read(dir.join(subject.module)).expect("reading the module");
        let compile = compile_time(&sandbox, &bytes, compiles);
        let cached = cached_load_time(subject, &dir, compiles);
        let evaluation = evaluation_time(subject, &dir, evaluations);
        println!(
            "| `{}` | {} | {} | {:.0} ms | {:.1} ms | {:.0} µs |",
            subject.module,
            subject.language,
            size(bytes.len()),
            compile.as_secs_f64() * 1000.0,
            cached.as_secs_f64() * 1000.0,
            evaluation.as_secs_f64() * 1e6
        );
    }
}
