//! Hostile rules, built from source: each fails its evaluation closed with
//! the right reason, the next evaluations succeed, and a sidecar serving them
//! keeps answering healthy requests correctly meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rulehost::chain::FailureReason;
use rulehost::server::ServerOptions;
use rulehost::{EvaluationError, FinalDecision, RuleSet};
use serde_json::{Value, json};

use crate::sidecar::start;
use crate::support::{RulesDir, evaluate, http, sample, test_rule};

/// A chain whose first rule acts as the request's `test_mode` (and allows
/// when there is none), followed by two healthy example rules.
fn dispatch_rules() -> RulesDir {
    let manifest = [
        test_rule("hostile", "dispatch", "[rule.limits]\ntimeout_ms = 500\nmemory_mib = 32"),
        "[[rule]]\nname = \"deny-todo-api\"\nmodule = \"{guests}/deny_audience.wasm\"\n[rule.config]\naudience = \"http://todoapi2.api\"\n".to_owned(),
        "[[rule]]\nname = \"scopes\"\nmodule = \"{guests}/role_scopes.wasm\"\n[rule.config]\nviewer = \"read:todos\"\n".to_owned(),
    ]
    .concat();
    RulesDir::new(&manifest)
}

fn hostile_request(mode: &str) -> Value {
    let mut request = sample("allow");
    request["context"]["request"]["query"]["test_mode"] = json!(mode);
    request
}

const HOSTILE: [(&str, FailureReason); 11] = [
    ("loop", FailureReason::Timeout),
    ("sleep", FailureReason::Timeout),
    ("memory-bomb", FailureReason::MemoryLimit),
    ("recursion", FailureReason::StackOverflow),
    ("panic", FailureReason::Trap),
    ("oversized", FailureReason::InvalidOutput),
    ("invalid-claim", FailureReason::InvalidOutput),
    ("set-sub", FailureReason::InvalidOutput),
    ("read-file", FailureReason::Trap),
    ("read-env", FailureReason::Trap),
    ("open-socket", FailureReason::Trap),
];

#[test]
fn each_hostile_rule_fails_closed_with_its_reason_and_the_next_evaluation_succeeds() {
    let dir = dispatch_rules();
    let rules = RuleSet::load(dir.path()).unwrap();
    for (mode, expected) in HOSTILE {
        match rules.evaluate(hostile_request(mode)) {
            Err(EvaluationError::Rule {
                rule,
                reason,
                message,
                ..
            }) => {
                assert_eq!(
                    (rule.as_str(), reason),
                    ("hostile", expected),
                    "mode {mode}: {message}"
                );
            }
            other => panic!("mode {mode} was not stopped: {other:?}"),
        }
        let healthy = rules.evaluate(sample("allow")).unwrap();
        assert_eq!(healthy.decision, FinalDecision::Allow, "after {mode}");
    }
}

#[test]
fn the_time_budget_starts_afresh_for_every_evaluation() {
    let dir = dispatch_rules();
    let rules = RuleSet::load(dir.path()).unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        assert!(rules.evaluate(hostile_request("loop")).is_err());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the loop was not stopped"
        );
        assert!(rules.evaluate(sample("allow")).is_ok());
    }
}

#[test]
fn a_rule_that_fails_with_on_error_skip_is_passed_over_and_counted() {
    let manifest = [
        test_rule("flaky", "panic", "")
            .replace("[rule.config]", "on_error = \"skip\"\n[rule.config]"),
        test_rule("after", "claim", "claim = \"ran\"\nvalue = \"yes\""),
    ]
    .concat();
    let dir = RulesDir::new(&manifest);
    let rules = RuleSet::load(dir.path()).unwrap();
    let evaluation = rules.evaluate(sample("allow")).unwrap();
    assert_eq!(evaluation.decision, FinalDecision::Modify);
    assert_eq!(evaluation.request["context"]["idToken"]["ran"], "yes");
    assert_eq!(evaluation.rules[0].outcome, rulehost::Outcome::Skipped);
    rules.evaluate(sample("allow")).unwrap();
    let flaky = rules.rule("flaky").unwrap();
    assert_eq!(flaky.failures.load(Ordering::Relaxed), 2);
}

#[test]
fn what_a_rule_prints_is_logged_with_its_name_and_cut_to_size() {
    let dir = RulesDir::new(&test_rule("chatty", "chatty", ""));
    let input = crate::support::workspace().join("example-rules/requests/allow.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args(["eval", "--no-cache", "--rules"])
        .arg(dir.path())
        .arg(&input)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "a chatty rule still decides");
    let log = String::from_utf8_lossy(&output.stderr);
    let stderr_line = log.lines().find(|line| line.contains("stream=\"stderr\""));
    let stderr_line = stderr_line.unwrap_or_else(|| panic!("no stderr line in the log:\n{log}"));
    assert!(
        stderr_line.contains("rule=\"chatty\"") && stderr_line.contains("chatty rule says hello"),
        "{stderr_line}"
    );
    let stdout_line = log
        .lines()
        .find(|line| line.contains("stream=\"stdout\""))
        .unwrap();
    assert!(
        stdout_line.contains(&format!("dropped_bytes={}", 100 * 1024 - 4 * 1024)),
        "{stdout_line}"
    );
    assert!(
        stdout_line.len() < 6 * 1024,
        "the logged output is cut to size"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_keeps_serving_healthy_requests_while_hostile_ones_run() {
    let dir = dispatch_rules();
    let sidecar = start(dir.path(), ServerOptions::default()).await;
    let addr = sidecar.addr;
    let hostile = tokio::spawn(async move {
        for round in 0..3 {
            for (mode, expected) in HOSTILE {
                let reply = evaluate(addr, &hostile_request(mode)).await;
                assert_eq!(
                    reply.status, 500,
                    "round {round} mode {mode}: {}",
                    reply.body
                );
                let body = reply.json();
                assert_eq!(body["error"], "server_error");
                assert_eq!(body["rule"], "hostile");
                assert_eq!(
                    body["reason"],
                    serde_json::to_value(expected).unwrap(),
                    "{mode}"
                );
            }
        }
    });
    let healthy = tokio::spawn(async move {
        let mut answered = 0;
        while !hostile_finished(answered) {
            let allow = evaluate(addr, &sample("allow")).await;
            assert_eq!(allow.status, 200, "{}", allow.body);
            let deny = evaluate(addr, &sample("deny")).await;
            assert_eq!(deny.status, 401, "{}", deny.body);
            assert_eq!(deny.json()["rule"], "deny-todo-api");
            answered += 2;
        }
        answered
    });
    hostile.await.unwrap();
    let answered = healthy.await.unwrap();
    assert!(
        answered >= 20,
        "healthy requests were answered meanwhile ({answered})"
    );
    let rules = http(addr, "GET", "/v1/rules", &[], b"").await.json();
    assert_eq!(rules["rules"][0]["failures"], 3 * HOSTILE.len());
}

/// The test runtime has one thread, which serves every connection: unless
/// endless loops leave it, the healthy request is not even read before the
/// loops' 500 ms are up.
#[tokio::test]
async fn rules_in_endless_loops_leave_the_only_worker_to_other_requests() {
    let dir = dispatch_rules();
    let sidecar = start(dir.path(), ServerOptions::default()).await;
    let addr = sidecar.addr;
    let loops_done = Arc::new(AtomicUsize::new(0));
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let loops_done = loops_done.clone();
            tokio::spawn(async move {
                let reply = evaluate(addr, &hostile_request("loop")).await;
                loops_done.fetch_add(1, Ordering::SeqCst);
                reply
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let healthy = evaluate(addr, &sample("allow")).await;
    assert_eq!(healthy.status, 200, "{}", healthy.body);
    assert_eq!(
        loops_done.load(Ordering::SeqCst),
        0,
        "the healthy request waited for the loops to time out"
    );
    for endless in loops {
        let reply = endless.await.unwrap();
        assert_eq!(reply.json()["reason"], "timeout", "{}", reply.body);
    }
}

/// Healthy traffic runs for a bounded number of requests.
fn hostile_finished(answered: usize) -> bool {
    answered >= 200
}
