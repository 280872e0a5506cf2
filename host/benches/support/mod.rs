//! What the benchmarks share: the example rules and requests, rule
//! directories made from them, and summaries of timing samples.

#![allow(dead_code, reason = "each benchmark uses part of this module")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

/// The `example-rules` folder, where `./example-rules/build.sh` puts the
/// modules.
pub fn example_rules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-rules")
}

/// The bytes of the example module `name`, or a panic saying how to build it.
pub fn example_module(name: &str) -> Vec<u8> {
    let path = example_rules().join(name);
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run ./example-rules/build.sh first",
            path.display()
        )
    })
}

/// The sample request `name` (`allow`, `modify` or `deny`) from
/// `example-rules/requests`.
pub fn example_request(name: &str) -> Value {
    let path = example_rules().join(format!("requests/{name}.json"));
    let text = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// A temporary rules directory holding `manifest` as `rules.toml` and a copy
/// of each example module it names.
pub fn rules_dir(manifest: &str, modules: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().expect("creating a temporary rules directory");
    for module in modules {
        std::fs::write(dir.path().join(module), example_module(module)).unwrap();
    }
    std::fs::write(dir.path().join("rules.toml"), manifest).unwrap();
    dir
}

/// Whether the benchmark was started by `cargo bench`, which passes
/// `--bench`; under `cargo test` it runs briefly, as a smoke check.
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// A count from the environment variable `name`, or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a count")),
        Err(_) => default,
    }
}

/// The `quantile` (0 to 1) of `samples`, which must be sorted.
pub fn quantile<T: Copy>(sorted: &[T], quantile: f64) -> T {
    let index = ((sorted.len() - 1) as f64 * quantile).round() as usize;
    sorted[index]
}

/// The median of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    quantile(&samples, 0.5)
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("starting a tokio runtime");
}

/// Polls `future` to its end on this thread, as a worker of the sidecar
/// polls an evaluation.
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// `duration` in microseconds with two decimals.
pub fn micros(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1e6)
}

/// Three access-restriction rules of the example set, as a manifest.
pub const CHAIN_3: &str = r#"
[[rule]]
name = "deny-todo-api"
module = "deny_audience.wasm"
[rule.config]
audience = "http://todoapi2.api"

[[rule]]
name = "deny-legacy-portal"
module = "deny_client.wasm"
[rule.config]
client_id = "legacy-portal"

[[rule]]
name = "scopes-by-role"
module = "role_scopes.wasm"
[rule.config]
admin = "read:todos write:todos delete:todos read:billing"
editor = "read:todos write:todos"
viewer = "read:todos"
"#;

/// The example modules, by file name.
pub const EXAMPLE_MODULES: [&str; 6] = [
    "deny_audience.wasm",
    "deny_client.wasm",
    "require_verified_email.wasm",
    "ip_allowlist.wasm",
    "role_scopes.wasm",
    "roles_claim.wasm",
];

/// `module` with a custom section appended, so that each copy has its own
/// content hash and is compiled on its own.
pub fn distinct(module: &[u8], index: usize) -> Vec<u8> {
    let name = format!("rulehost-bench-{index}");
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name.as_bytes());
    let mut bytes = module.to_vec();
    bytes.push(0);
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    bytes
}

/// Writes into `dir` a rule set of `count` rules, each its own module (a
/// distinct copy of the example deny-client rule) and configured to allow
/// the sample requests.
pub fn many_rules(dir: &Path, count: usize) {
    let module = example_module("deny_client.wasm");
    let mut manifest = String::new();
    for index in 0..count {
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
