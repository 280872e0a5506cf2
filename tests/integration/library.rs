//! The chain through the library: example rules on the sample requests, each
//! example rule's behaviour, chaining, isolation and failing closed.

use rulehost::chain::FailureReason;
use rulehost::{EvaluationError, FinalDecision, Outcome, RuleSet};
use serde_json::{Value, json};

use crate::support::{RulesDir, example_rules, sample, test_rule};

/// Runs the allow sample through the rules of `manifest`.
fn allow_sample_through(manifest: &str) -> rulehost::Evaluation {
    let dir = RulesDir::new(manifest);
    let rules = RuleSet::load(dir.path()).expect("the manifest loads");
    rules.evaluate(sample("allow")).expect("the chain decides")
}

fn examples() -> RuleSet {
    RuleSet::load(example_rules()).expect("the example rules load")
}

fn deny_code(decision: &FinalDecision) -> (&str, &str, &str) {
    match decision {
        FinalDecision::Deny {
            rule,
            code,
            description,
        } => (rule, code, description),
        other => panic!("expected a deny, got {other:?}"),
    }
}

#[test]
fn example_rules_allow_the_allow_sample_unchanged() {
    let request = sample("allow");
    let evaluation = examples().evaluate(request.clone()).unwrap();
    assert_eq!(evaluation.decision, FinalDecision::Allow);
    assert_eq!(
        evaluation.request, request,
        "an allow returns the records as sent"
    );
    assert_eq!(evaluation.rules.len(), 6);
    assert!(
        evaluation
            .rules
            .iter()
            .all(|run| run.outcome == Outcome::Allow)
    );
}

#[test]
fn example_rules_modify_the_modify_sample() {
    let evaluation = examples().evaluate(sample("modify")).unwrap();
    assert_eq!(evaluation.decision, FinalDecision::Modify);
    let context = &evaluation.request["context"];
    assert_eq!(
        context["accessToken"]["scope"],
        json!(["read:todos", "write:todos"])
    );
    assert_eq!(
        context["idToken"]["https://rulehost.example/roles"],
        json!(["editor"])
    );
    assert_eq!(
        context["accessToken"]["https://rulehost.example/roles"],
        json!(["editor"])
    );
    assert_eq!(
        context["sessionID"],
        json!("kept-as-sent"),
        "unmodelled fields pass through"
    );
}

#[test]
fn example_rules_deny_the_deny_sample_and_stop() {
    let evaluation = examples().evaluate(sample("deny")).unwrap();
    assert_eq!(
        deny_code(&evaluation.decision),
        ("deny-todo-api", "access_denied", "end_users_not_allowed")
    );
    assert_eq!(evaluation.rules.len(), 1, "the first deny ends the chain");
}

fn with_query(mut request: Value, query: Value) -> Value {
    request["context"]["request"]["query"] = query;
    request
}

#[test]
fn deny_audience_reads_the_body_and_denies_a_missing_audience() {
    let rules = examples();
    let mut in_body = with_query(sample("allow"), json!({}));
    in_body["context"]["request"]["body"] = json!({"audience": "http://todoapi2.api"});
    assert_eq!(
        deny_code(&rules.evaluate(in_body).unwrap().decision).0,
        "deny-todo-api"
    );
    let missing = with_query(sample("allow"), json!({}));
    assert_eq!(
        deny_code(&rules.evaluate(missing).unwrap().decision).2,
        "end_users_not_allowed"
    );
}

#[test]
fn deny_client_denies_the_configured_client() {
    let mut request = sample("allow");
    request["context"]["clientID"] = json!("legacy-portal");
    let evaluation = examples().evaluate(request).unwrap();
    assert_eq!(
        deny_code(&evaluation.decision),
        (
            "deny-legacy-portal",
            "access_denied",
            "end_users_not_allowed"
        )
    );
}

#[test]
fn require_verified_email_denies_unverified_users() {
    let mut request = sample("allow");
    request["user"]["email_verified"] = json!(false);
    let evaluation = examples().evaluate(request).unwrap();
    assert_eq!(deny_code(&evaluation.decision).1, "unverified_email");
}

#[test]
fn ip_allowlist_denies_addresses_outside_the_ranges() {
    let mut request = sample("allow");
    request["context"]["request"]["ip"] = json!("198.51.100.1");
    let evaluation = examples().evaluate(request).unwrap();
    assert_eq!(
        deny_code(&evaluation.decision),
        (
            "office-ips-only",
            "ip_not_allowed",
            "Access denied from this IP address."
        )
    );
}

#[test]
fn role_scopes_unions_roles_and_keeps_the_scope_form() {
    let mut request = sample("modify");
    request["context"]["authorization"]["roles"] = json!(["viewer", "admin"]);
    request["context"]["accessToken"] = json!({"scope": "openid"});
    let evaluation = examples().evaluate(request).unwrap();
    let scope = &evaluation.request["context"]["accessToken"]["scope"];
    assert_eq!(scope, &json!("read:todos write:todos delete:todos"));
}

#[test]
fn later_rules_see_the_edits_of_earlier_ones() {
    let manifest = [
        test_rule(
            "first",
            "claim",
            "claim = \"https://x/first\"\nvalue = \"1\"",
        ),
        test_rule("echo", "echo", "other = \"mine\""),
    ]
    .concat();
    let evaluation = allow_sample_through(&manifest);
    let seen = &evaluation.request["context"]["accessToken"]["seen"];
    assert_eq!(
        seen,
        &json!("claims=https://x/first scopes= config=mode=echo,other=mine")
    );
}

#[test]
fn a_rule_sees_only_its_own_configuration() {
    let manifest = [
        test_rule(
            "secretive",
            "claim",
            "claim = \"c\"\nvalue = \"v\"\nsecret = \"s3cr3t\"",
        ),
        test_rule("echo", "echo", ""),
    ]
    .concat();
    let evaluation = allow_sample_through(&manifest);
    let seen = evaluation.request["context"]["accessToken"]["seen"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(seen.ends_with("config=mode=echo"), "{seen}");
}

#[test]
fn every_evaluation_gets_a_fresh_instance() {
    let dir = RulesDir::new(&test_rule("counter", "counter", ""));
    let rules = RuleSet::load(dir.path()).unwrap();
    for _ in 0..3 {
        let evaluation = rules.evaluate(sample("allow")).unwrap();
        assert_eq!(evaluation.request["context"]["idToken"]["calls"], json!(1));
    }
}

#[test]
fn multifactor_and_metadata_edits_are_written_back() {
    let manifest = [
        test_rule("mfa", "mfa", ""),
        test_rule("metadata", "metadata", ""),
    ]
    .concat();
    let evaluation = allow_sample_through(&manifest);
    assert_eq!(evaluation.decision, FinalDecision::Modify);
    assert_eq!(
        evaluation.request["context"]["multifactor"],
        json!({"provider": "any", "allowRememberBrowser": false})
    );
    assert_eq!(
        evaluation.request["user"]["app_metadata"],
        json!({"touched": true})
    );
    assert_eq!(
        evaluation.request["user"]["user_metadata"],
        json!({"theme": "dark"})
    );
}

fn failure(mode: &str) -> (String, FailureReason, String, Vec<rulehost::RuleRun>) {
    let manifest = [
        test_rule("before", "claim", "claim = \"c\"\nvalue = \"v\""),
        test_rule("faulty", mode, ""),
    ]
    .concat();
    let dir = RulesDir::new(&manifest);
    match RuleSet::load(dir.path()).unwrap().evaluate(sample("allow")) {
        Err(EvaluationError::Rule {
            rule,
            reason,
            message,
            rules,
        }) => (rule, reason, message, rules),
        other => panic!("mode {mode} should fail the evaluation, got {other:?}"),
    }
}

#[test]
fn a_trapping_rule_fails_closed_naming_the_rule() {
    let (rule, reason, _, rules) = failure("panic");
    assert_eq!((rule.as_str(), reason), ("faulty", FailureReason::Trap));
    assert_eq!(rules.len(), 2);
}

#[test]
fn a_rule_error_fails_closed_with_its_message() {
    let (rule, reason, message, _) = failure("error");
    assert_eq!(
        (rule.as_str(), reason),
        ("faulty", FailureReason::RuleError)
    );
    assert_eq!(message, "test-rule was asked to fail");
}

#[test]
fn an_invalid_edit_fails_closed() {
    let (rule, reason, message, _) = failure("invalid-claim");
    assert_eq!(
        (rule.as_str(), reason),
        ("faulty", FailureReason::InvalidOutput)
    );
    assert!(message.contains("broken"), "{message}");
}

#[test]
fn a_failed_evaluation_does_not_poison_the_next() {
    let manifest = test_rule("faulty", "panic", "");
    let dir = RulesDir::new(&manifest);
    let rules = RuleSet::load(dir.path()).unwrap();
    assert!(rules.evaluate(sample("allow")).is_err());
    let healthy = RulesDir::new(&test_rule("counter", "counter", ""));
    let healthy = RuleSet::load(healthy.path()).unwrap();
    assert!(healthy.evaluate(sample("allow")).is_ok());
    assert!(
        rules.evaluate(sample("allow")).is_err(),
        "the trap is the rule's, every time"
    );
}

#[test]
fn disabled_rules_do_not_run() {
    let manifest = [
        test_rule("off", "panic", "").replace("[rule.config]", "enabled = false\n[rule.config]"),
        test_rule("on", "claim", "claim = \"c\"\nvalue = \"1\""),
    ]
    .concat();
    let dir = RulesDir::new(&manifest);
    let rules = RuleSet::load(dir.path()).unwrap();
    assert_eq!(rules.rules().len(), 1);
    assert_eq!(rules.manifest().rules.len(), 2);
    let evaluation = rules.evaluate(sample("allow")).unwrap();
    assert_eq!(evaluation.rules.len(), 1);
    assert_eq!(evaluation.rules[0].name, "on");
}

#[test]
fn bad_input_never_reaches_a_rule() {
    let dir = RulesDir::new(&test_rule("faulty", "panic", ""));
    let rules = RuleSet::load(dir.path()).unwrap();
    let mut request = sample("allow");
    request["context"]["stats"]["loginsCount"] = json!("twelve");
    match rules.evaluate(request) {
        Err(EvaluationError::Input(error)) => assert_eq!(error.path, "context.stats.loginsCount"),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn a_rule_whose_memory_cannot_fit_its_limit_is_refused_at_load() {
    let dir = RulesDir::new(&test_rule("tiny", "echo", "[rule.limits]\nmemory_mib = 1"));
    let error = format!("{:#}", RuleSet::load(dir.path()).err().expect("refused"));
    assert!(error.contains("\"tiny\""), "{error}");
    assert!(
        error.contains("cannot be instantiated under its limits (MemoryLimit)"),
        "{error}"
    );
}

#[test]
fn an_exhausted_instance_pool_is_the_hosts_failure_not_the_rules() {
    // `on_error = "skip"` must not turn a host failure into an allow, and
    // the failure is not counted against the rule.
    let dir = RulesDir::new(&format!(
        "{}on_error = \"skip\"\n",
        test_rule("skippable", "echo", "")
    ));
    let rules = RuleSet::load(dir.path()).unwrap();
    let rule = &rules.rules()[0];
    let mut held = Vec::new();
    let exhausted = loop {
        match rulehost::blocking::block_on(rulehost::instance::RuleInstance::new(
            rules.sandbox(),
            rule,
        )) {
            Ok(instance) => held.push(instance),
            Err(failure) => break failure,
        }
        assert!(held.len() <= 10_000, "the pool never ran out");
    };
    assert_eq!(exhausted.reason, FailureReason::HostResources);
    match rules.evaluate(sample("allow")) {
        Err(EvaluationError::Rule { reason, .. }) => {
            assert_eq!(reason, FailureReason::HostResources)
        }
        other => panic!("expected a host failure, got {other:?}"),
    }
    let reply = rulehost::response::for_evaluation(rules.evaluate(sample("allow")));
    assert_eq!(reply.status, 503);
    assert_eq!(rule.failures.load(std::sync::atomic::Ordering::Relaxed), 0);
    drop(held);
    assert!(
        rules.evaluate(sample("allow")).is_ok(),
        "freed slots serve again"
    );
}
