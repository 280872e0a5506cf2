//! Hot reload: each way operators change files, bad changes that keep the
//! old generation serving, recovery, and a bounded load test across reloads.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rulehost::LiveRules;
use rulehost::live::Reloaded;
use rulehost::sandbox::Sandbox;
use rulehost::server::ServerOptions;
use rulehost::watch::{self, WatchOptions};
use serde_json::{Value, json};

use crate::sidecar::{Sidecar, start};
use crate::support::{RulesDir, evaluate, guest_dir, http, sample, test_rule};

/// A manifest of one test rule that sets the ID-token claim `set` to `value`.
fn marker(value: &str) -> String {
    test_rule(
        "marker",
        "claim",
        &format!("claim = \"set\"\nvalue = \"{value}\""),
    )
}

/// `manifest` with `{guests}` resolved, ready to write over `rules.toml`.
fn resolved(manifest: &str) -> String {
    manifest.replace("{guests}", &guest_dir().display().to_string())
}

/// Writes `text` to `path` the way editors do: a temporary file renamed over it.
fn replace_file(path: &Path, text: &str) {
    let temporary = path.with_extension("swp");
    std::fs::write(&temporary, text).unwrap();
    std::fs::rename(&temporary, path).unwrap();
}

fn live(dir: &Path) -> LiveRules {
    LiveRules::load(dir, Arc::new(Sandbox::new(&Default::default()).unwrap())).unwrap()
}

/// Starts a sidecar on `dir` and watches it with short timings.
async fn watched(dir: &Path) -> Sidecar {
    let sidecar = start(dir, ServerOptions::default()).await;
    let options = WatchOptions {
        debounce: Duration::from_millis(100),
        poll_interval: Duration::from_millis(300),
    };
    tokio::spawn(watch::watch_files(sidecar.live.clone(), options));
    // Let the watcher register before the test changes anything.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sidecar
}

/// Waits up to 10 s for `live` to serve a generation past `number`.
async fn next_generation(live: &LiveRules, number: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let serving = live.current().number;
        if serving > number {
            return serving;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no generation after {number} within 10 s; last failure: {:?}",
        live.last_failure()
    );
}

async fn marker_served(sidecar: &Sidecar) -> Value {
    let reply = evaluate(sidecar.addr, &sample("allow")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["context"]["idToken"]["set"].clone()
}

#[test]
fn a_reload_swaps_in_a_new_generation_only_when_something_changed() {
    let dir = RulesDir::new(&marker("A"));
    let live = live(dir.path());
    assert_eq!(live.reload(false).unwrap(), Reloaded::Unchanged);
    assert_eq!(live.current().number, 1);
    dir.write("rules.toml", resolved(&marker("B")));
    assert_eq!(live.reload(false).unwrap(), Reloaded::Swapped(2));
    assert_eq!(
        live.reload(true).unwrap(),
        Reloaded::Swapped(3),
        "a forced reload always swaps"
    );
}

#[test]
fn a_bad_module_keeps_the_old_generation_until_fixed() {
    let dir = RulesDir::new(
        "[[rule]]\nname = \"m\"\nmodule = \"m.wasm\"\n[rule.config]\nmode = \"counter\"\n",
    );
    let good = std::fs::read(guest_dir().join("test_rule.wasm")).unwrap();
    dir.write("m.wasm", &good);
    let live = live(dir.path());
    dir.write("m.wasm", &good[..good.len() / 2]);
    let error = format!("{:#}", live.reload(false).unwrap_err());
    assert!(
        error.contains("\"m\"") && error.contains("m.wasm"),
        "{error}"
    );
    assert_eq!(live.current().number, 1);
    assert!(
        live.current().rules.evaluate(sample("allow")).is_ok(),
        "generation 1 still serves"
    );
    assert!(live.last_failure().unwrap().error.contains("m.wasm"));
    dir.write("m.wasm", &good);
    assert_eq!(
        live.reload(false).unwrap(),
        Reloaded::Unchanged,
        "the fixed module is serving"
    );
    assert!(
        live.last_failure().is_none(),
        "a good reload clears the failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_rename_over_the_manifest_is_picked_up() {
    let dir = RulesDir::new(&marker("A"));
    let sidecar = watched(dir.path()).await;
    assert_eq!(marker_served(&sidecar).await, "A");
    replace_file(&dir.path().join("rules.toml"), &resolved(&marker("B")));
    next_generation(&sidecar.live, 1).await;
    assert_eq!(marker_served(&sidecar).await, "B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_written_in_slow_chunks_is_never_loaded_truncated() {
    let dir = RulesDir::new(&resolved(
        "[[rule]]\nname = \"m\"\nmodule = \"m.wasm\"\n[rule.config]\nmode = \"claim\"\nclaim = \"set\"\nvalue = \"A\"\nclient_id = \"mobile-app\"\n",
    ));
    let test_rule = std::fs::read(guest_dir().join("test_rule.wasm")).unwrap();
    let deny_client = std::fs::read(guest_dir().join("deny_client.wasm")).unwrap();
    dir.write("m.wasm", &test_rule);
    let sidecar = watched(dir.path()).await;
    // Overwrite in place with another module, pausing past the debounce
    // between chunks so that the watcher sees each truncated state.
    {
        use std::io::Write as _;
        let mut file = std::fs::File::create(dir.path().join("m.wasm")).unwrap();
        for chunk in deny_client.chunks(deny_client.len() / 3 + 1) {
            file.write_all(chunk).unwrap();
            file.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(400)).await;
            let reply = evaluate(sidecar.addr, &sample("allow")).await;
            let body = reply.json();
            let whole_module = reply.status == 401 && body["generation"] == 2;
            assert!(
                reply.status == 200 && body["generation"] == 1 || whole_module,
                "a partial module must never serve: {body}"
            );
        }
    }
    next_generation(&sidecar.live, 1).await;
    let reply = evaluate(sidecar.addr, &sample("allow")).await;
    assert_eq!(
        reply.status, 401,
        "the whole new module serves: {}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_data_symlink_swap_is_picked_up() {
    use std::os::unix::fs::symlink;
    let root = tempfile::tempdir().unwrap();
    let version = |name: &str, value: &str| {
        let folder = root.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("rules.toml"), resolved(&marker(value))).unwrap();
    };
    version("..2026_12_04_10_00_00.1", "A");
    symlink("..2026_12_04_10_00_00.1", root.path().join("..data")).unwrap();
    symlink("..data/rules.toml", root.path().join("rules.toml")).unwrap();
    let sidecar = watched(root.path()).await;
    assert_eq!(marker_served(&sidecar).await, "A");
    version("..2026_12_04_10_05_00.2", "B");
    symlink("..2026_12_04_10_05_00.2", root.path().join("..data_tmp")).unwrap();
    std::fs::rename(root.path().join("..data_tmp"), root.path().join("..data")).unwrap();
    std::fs::remove_dir_all(root.path().join("..2026_12_04_10_00_00.1")).unwrap();
    next_generation(&sidecar.live, 1).await;
    assert_eq!(marker_served(&sidecar).await, "B");
}

fn rule_names(sidecar: &Sidecar) -> Vec<String> {
    sidecar
        .live
        .current()
        .rules
        .rules()
        .iter()
        .map(|rule| rule.name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_added_disabled_reordered_and_removed_are_picked_up() {
    let one = test_rule("one", "claim", "claim = \"one\"\nvalue = \"1\"");
    let two = test_rule("two", "claim", "claim = \"two\"\nvalue = \"2\"");
    let one_disabled = one.replace("[rule.config]", "enabled = false\n[rule.config]");
    let dir = RulesDir::new(&one);
    let sidecar = watched(dir.path()).await;
    let mut generation = 1;
    let steps: [(String, &[&str]); 4] = [
        (format!("{one}{two}"), &["one", "two"]),
        (format!("{two}{one}"), &["two", "one"]),
        (format!("{two}{one_disabled}"), &["two"]),
        (two.clone(), &["two"]),
    ];
    for (manifest, expected) in steps {
        replace_file(&dir.path().join("rules.toml"), &resolved(&manifest));
        generation = next_generation(&sidecar.live, generation).await;
        assert_eq!(rule_names(&sidecar), expected);
    }
    let body = http(sidecar.addr, "GET", "/v1/rules", &[], b"")
        .await
        .json();
    assert_eq!(body["generation"]["number"], generation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_manifest_keeps_serving_and_recovers_once_fixed() {
    let dir = RulesDir::new(&marker("A"));
    let sidecar = watched(dir.path()).await;
    replace_file(
        &dir.path().join("rules.toml"),
        "[[rule]]\nname = \"broken\"\nmodule = \n",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while sidecar.live.last_failure().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rules = http(sidecar.addr, "GET", "/v1/rules", &[], b"")
        .await
        .json();
    let error = rules["last_failed_reload"]["error"]
        .as_str()
        .expect("the failure is reported");
    assert!(
        error.contains("rules.toml") && error.contains("line 3"),
        "{error}"
    );
    assert_eq!(rules["generation"]["number"], 1);
    assert_eq!(marker_served(&sidecar).await, "A");
    let ready = http(sidecar.addr, "GET", "/readyz", &[], b"").await;
    assert_eq!(
        (ready.status, ready.json()["last_reload_failed"].clone()),
        (200, json!(true))
    );
    replace_file(&dir.path().join("rules.toml"), &resolved(&marker("C")));
    next_generation(&sidecar.live, 1).await;
    assert_eq!(marker_served(&sidecar).await, "C");
    assert!(sidecar.live.last_failure().is_none());
}

/// Two rule sets whose decisions differ: A modifies with two markers, B
/// sets one marker and then denies.
fn alternating_set(kind: char) -> String {
    let manifest = match kind {
        'A' => [
            test_rule("a-first", "claim", "claim = \"first\"\nvalue = \"A\""),
            test_rule("a-second", "claim", "claim = \"second\"\nvalue = \"A\""),
        ]
        .concat(),
        _ => [
            test_rule("b-first", "claim", "claim = \"first\"\nvalue = \"B\""),
            "[[rule]]\nname = \"b-deny\"\nmodule = \"{guests}/deny_client.wasm\"\n[rule.config]\nclient_id = \"mobile-app\"\n".to_owned(),
        ]
        .concat(),
    };
    resolved(&manifest)
}

/// Which rule set produced a response; panics on one that mixes them.
fn rule_set_of(status: u16, body: &Value) -> char {
    let names: Vec<&str> = body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["name"].as_str().unwrap())
        .collect();
    match (status, names.as_slice()) {
        (200, ["a-first", "a-second"]) => {
            let token = &body["context"]["idToken"];
            assert_eq!(
                token,
                &json!({"first": "A", "second": "A"}),
                "a mixed response: {body}"
            );
            'A'
        }
        (401, ["b-first", "b-deny"]) => 'B',
        _ => panic!("a response that matches no whole generation: {status} {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_fail_while_rule_sets_are_replaced() {
    const RELOADS: u64 = 60;
    const CLIENTS: usize = 4;
    let dir = RulesDir::new(&alternating_set('A'));
    let sidecar = start(dir.path(), ServerOptions::default()).await;
    let done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (addr, done) = (sidecar.addr, done.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let started = Instant::now();
            while !done.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(120) {
                let reply = evaluate(addr, &sample("allow")).await;
                let body = reply.json();
                seen.push((
                    body["generation"].as_u64().unwrap(),
                    rule_set_of(reply.status, &body),
                ));
            }
            seen
        }));
    }
    let live = sidecar.live.clone();
    let manifest = dir.path().join("rules.toml");
    let last = tokio::task::spawn_blocking(move || {
        for round in 0..RELOADS {
            let kind = if round % 2 == 0 { 'B' } else { 'A' };
            replace_file(&manifest, &alternating_set(kind));
            assert!(matches!(live.reload(false).unwrap(), Reloaded::Swapped(_)));
            std::thread::sleep(Duration::from_millis(10));
        }
        live.current().number
    })
    .await
    .unwrap();
    done.store(true, Ordering::Relaxed);
    let mut by_generation = std::collections::HashMap::new();
    let mut requests = 0;
    for client in clients {
        for (generation, set) in client.await.unwrap() {
            requests += 1;
            let first = *by_generation.entry(generation).or_insert(set);
            assert_eq!(
                first, set,
                "generation {generation} answered as two rule sets"
            );
        }
    }
    assert_eq!(last, RELOADS + 1);
    for (generation, set) in &by_generation {
        let expected = if generation % 2 == 1 { 'A' } else { 'B' };
        assert_eq!(
            *set, expected,
            "generation {generation} served the wrong rule set"
        );
    }
    eprintln!(
        "{requests} requests, {RELOADS} reloads, {} generations seen by clients",
        by_generation.len()
    );
    assert!(
        requests >= RELOADS as usize,
        "the load ran across the reloads ({requests} requests)"
    );
}

#[test]
fn a_warm_cache_directory_serves_a_restart() {
    let cache = tempfile::tempdir().unwrap();
    let options = rulehost::sandbox::SandboxOptions {
        cache_dir: Some(cache.path().to_owned()),
    };
    let dir = RulesDir::new(&marker("A"));
    for _ in 0..2 {
        let sandbox = Arc::new(Sandbox::new(&options).unwrap());
        let rules = rulehost::RuleSet::load_with(sandbox, dir.path()).unwrap();
        let evaluation = rules.evaluate(sample("allow")).unwrap();
        assert_eq!(evaluation.request["context"]["idToken"]["set"], "A");
    }
    assert!(std::fs::read_dir(cache.path()).unwrap().count() > 0);
}
