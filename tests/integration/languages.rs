//! Rules written in other languages: the JavaScript, Python and C example
//! rules, built from source by `example-rules/languages/build.sh`, give the
//! same decisions and final records as their Rust twins on a shared set of
//! inputs, run through the same host.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rulehost::chain::FailureReason;
use rulehost::{EvaluationError, FinalDecision, RuleSet};
use serde_json::{Value, json};

use crate::support::{RulesDir, guest_dir, sample, workspace};

/// Builds the rules of the other languages once (each build script installs
/// its pinned toolchain first when it is missing) and returns their folder.
fn language_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace().join("target"))
            .join("guests")
            .join("languages");
        let script = workspace().join("example-rules/languages/build.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("running example-rules/languages/build.sh");
        assert!(
            output.status.success(),
            "building the rules of other languages failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

/// What an evaluation came to, with the run times left out: the decision and
/// the final records, or why the rule failed.
type Verdict = Result<(FinalDecision, Value), (FailureReason, String)>;

fn verdict(rules: &RuleSet, request: &Value) -> Verdict {
    match rules.evaluate(request.clone()) {
        Ok(evaluation) => Ok((evaluation.decision, evaluation.request)),
        Err(EvaluationError::Rule {
            reason, message, ..
        }) => Err((reason, message)),
        Err(invalid) => panic!("a shared input is not a valid request: {invalid}"),
    }
}

fn describe(verdict: &Verdict) -> String {
    match verdict {
        Ok((decision, request)) => format!("{decision:?} with {request}"),
        Err((reason, message)) => format!("{reason:?}: {message}"),
    }
}

/// A rule set of one rule named `rule`, from `module`, with `config` as the
/// body of its `[rule.config]` table.
fn single_rule(module: &Path, config: &str) -> RuleSet {
    let dir = RulesDir::new(&format!(
        "[[rule]]\nname = \"rule\"\nmodule = \"{}\"\n[rule.config]\n{config}\n",
        module.display()
    ));
    RuleSet::load(dir.path())
        .unwrap_or_else(|error| panic!("loading {}: {error:#}", module.display()))
}

/// Runs `rust` and `other` with the same `config` on every case and asserts
/// identical verdicts; returns the Rust twin's verdicts for further checks.
fn assert_twins(rust: &str, other: &str, config: &str, cases: &[(&str, Value)]) -> Vec<Verdict> {
    let rust_rules = single_rule(&guest_dir().join(rust), config);
    let other_rules = single_rule(&language_dir().join(other), config);
    let mut verdicts = Vec::new();
    let mut disagreements = Vec::new();
    for (label, request) in cases {
        let expected = verdict(&rust_rules, request);
        let actual = verdict(&other_rules, request);
        if expected != actual {
            disagreements.push(format!(
                "{label}:\n  {rust}: {}\n  {other}: {}",
                describe(&expected),
                describe(&actual)
            ));
        }
        verdicts.push(expected);
    }
    assert!(
        disagreements.is_empty(),
        "{other} disagrees with {rust} on {} of {} inputs:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.join("\n")
    );
    verdicts
}

fn set(mut request: Value, pointer: &str, value: Value) -> Value {
    *request
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("the sample has {pointer}")) = value;
    request
}

fn is_deny(verdict: &Verdict) -> bool {
    matches!(verdict, Ok((FinalDecision::Deny { .. }, _)))
}

fn is_allow(verdict: &Verdict) -> bool {
    matches!(verdict, Ok((FinalDecision::Allow, _)))
}

const FORBIDDEN_AUDIENCE: &str = "http://todoapi2.api";

fn audience_request(query: Value, body: Value) -> Value {
    let request = set(sample("allow"), "/context/request/query", query);
    set(request, "/context/request/body", body)
}

fn audience_cases() -> Vec<(&'static str, Value)> {
    let forbidden = FORBIDDEN_AUDIENCE;
    let other = "https://billing.api";
    vec![
        ("the allow sample", sample("allow")),
        ("the deny sample", sample("deny")),
        (
            "forbidden in the query",
            audience_request(json!({"audience": forbidden}), json!({})),
        ),
        (
            "another in the query",
            audience_request(json!({"audience": other}), json!({})),
        ),
        (
            "forbidden in the body",
            audience_request(json!({}), json!({"audience": forbidden})),
        ),
        (
            "another in the body",
            audience_request(json!({}), json!({"audience": other})),
        ),
        (
            "an allowed query does not hide a forbidden body",
            audience_request(json!({"audience": other}), json!({"audience": forbidden})),
        ),
        (
            "a forbidden query beats an allowed body",
            audience_request(json!({"audience": forbidden}), json!({"audience": other})),
        ),
        (
            "an empty query audience counts as none, so the body's is read",
            audience_request(json!({"audience": ""}), json!({"audience": other})),
        ),
        (
            "an empty body audience",
            audience_request(json!({}), json!({"audience": ""})),
        ),
        ("no audience at all", audience_request(json!({}), json!({}))),
        (
            "a null query audience is none, so the body's is read",
            audience_request(json!({"audience": null}), json!({"audience": other})),
        ),
        (
            "a repeated audience is checked in every value (forbidden first)",
            audience_request(json!({"audience": [forbidden, other]}), json!({})),
        ),
        (
            "a repeated audience is checked in every value (forbidden second)",
            audience_request(json!({"audience": [other, forbidden]}), json!({})),
        ),
        (
            "a trailing space makes another audience",
            audience_request(json!({"audience": format!("{forbidden} ")}), json!({})),
        ),
        (
            "case matters",
            audience_request(json!({"audience": "HTTP://TODOAPI2.API"}), json!({})),
        ),
        (
            "a non-string audience arrives as JSON text",
            audience_request(json!({"audience": 42}), json!({})),
        ),
        (
            "a non-ASCII audience",
            audience_request(json!({"audience": "https://tödö.api/ü"}), json!({})),
        ),
        (
            "a similar parameter name is not the audience",
            audience_request(json!({"Audience": other, "audiences": other}), json!({})),
        ),
    ]
}

#[test]
fn the_javascript_deny_audience_rule_decides_as_its_rust_twin() {
    let config = format!("audience = \"{FORBIDDEN_AUDIENCE}\"");
    let cases = audience_cases();
    let verdicts = assert_twins(
        "deny_audience.wasm",
        "deny_audience_js.wasm",
        &config,
        &cases,
    );
    assert!(verdicts.iter().any(is_deny) && verdicts.iter().any(is_allow));
}

#[test]
fn the_javascript_deny_audience_rule_fails_as_its_twin_without_configuration() {
    let cases = &audience_cases()[..4];
    let verdicts = assert_twins(
        "deny_audience.wasm",
        "deny_audience_js.wasm",
        "unrelated = \"x\"",
        cases,
    );
    for verdict in verdicts {
        let (reason, message) = verdict.expect_err("a missing key is an error");
        assert_eq!(reason, FailureReason::RuleError);
        assert!(message.contains("`audience`"), "{message}");
    }
}

const FORBIDDEN_CLIENT: &str = "legacy-portal";

fn client_request(client_id: &str) -> Value {
    set(sample("allow"), "/context/clientID", json!(client_id))
}

fn client_cases() -> Vec<(&'static str, Value)> {
    vec![
        ("the allow sample", sample("allow")),
        ("the modify sample", sample("modify")),
        ("the configured client", client_request(FORBIDDEN_CLIENT)),
        ("another client", client_request("mobile-app")),
        ("a prefix of the client", client_request("legacy")),
        ("the client as a prefix", client_request("legacy-portal-2")),
        ("a trailing space", client_request("legacy-portal ")),
        ("a leading space", client_request(" legacy-portal")),
        ("case matters", client_request("Legacy-Portal")),
        ("a non-ASCII client id", client_request("légacy-portal")),
        ("a NUL inside the id", client_request("legacy-portal\u{0}x")),
        (
            "a long client id",
            client_request(&"legacy-portal".repeat(500)),
        ),
    ]
}

#[test]
fn the_c_deny_client_rule_decides_as_its_rust_twin() {
    let config = format!("client_id = \"{FORBIDDEN_CLIENT}\"");
    let verdicts = assert_twins(
        "deny_client.wasm",
        "deny_client_c.wasm",
        &config,
        &client_cases(),
    );
    assert!(verdicts.iter().any(is_deny) && verdicts.iter().any(is_allow));
}

#[test]
fn the_c_deny_client_rule_matches_its_twin_on_unusual_configuration() {
    let cases = [
        (
            "a blank id against an empty configuration",
            client_request(" "),
        ),
        (
            "another id against an empty configuration",
            client_request("mobile-app"),
        ),
    ];
    let verdicts = assert_twins(
        "deny_client.wasm",
        "deny_client_c.wasm",
        "client_id = \"\"",
        &cases,
    );
    // The host refuses an empty clientID before any rule runs, so an empty
    // configured id matches no request.
    assert!(is_allow(&verdicts[0]) && is_allow(&verdicts[1]));
    let missing = assert_twins(
        "deny_client.wasm",
        "deny_client_c.wasm",
        "client_ids = \"legacy-portal\"",
        &client_cases()[..3],
    );
    assert!(missing.iter().all(|verdict| verdict.is_err()));
}

fn scopes_request(roles: Value, query: Value, body: Value, token_scope: Value) -> Value {
    let request = set(sample("allow"), "/context/authorization/roles", roles);
    let request = set(request, "/context/request/query", query);
    let request = set(request, "/context/request/body", body);
    set(request, "/context/accessToken/scope", token_scope)
}

fn scope_query(roles: Value, scope: &str) -> Value {
    scopes_request(roles, json!({"scope": scope}), json!({}), json!([]))
}

fn scopes_cases() -> Vec<(&'static str, Value)> {
    vec![
        ("the allow sample", sample("allow")),
        ("the modify sample", sample("modify")),
        ("no role", scope_query(json!([]), "openid read:todos")),
        (
            "one role",
            scope_query(json!(["viewer"]), "openid read:todos write:todos"),
        ),
        (
            "many roles union their grants",
            scope_query(
                json!(["viewer", "editor"]),
                "delete:todos write:todos read:todos",
            ),
        ),
        (
            "an unknown role",
            scope_query(json!(["auditor"]), "read:todos"),
        ),
        (
            "a role named like no configuration key and one that is",
            scope_query(json!(["Viewer", "admin"]), "delete:todos read:billing"),
        ),
        (
            "a repeated role",
            scope_query(json!(["viewer", "viewer"]), "read:todos"),
        ),
        (
            "repeated scopes are kept once",
            scope_query(json!(["editor"]), "read:todos write:todos read:todos"),
        ),
        (
            "extra white space between scopes",
            scope_query(json!(["editor"]), "  read:todos \t\n write:todos  "),
        ),
        (
            "Unicode white space separates scopes",
            scope_query(
                json!(["editor"]),
                "read:todos\u{3000}write:todos\u{a0}openid",
            ),
        ),
        (
            "an ASCII unit separator does not",
            scope_query(json!(["editor"]), "read:todos\u{1f}write:todos"),
        ),
        (
            "grants with extra white space in the configuration",
            scope_query(json!(["spaced"]), "write:todos read:todos"),
        ),
        (
            "the requested order is kept",
            scope_query(json!(["admin"]), "delete:todos read:todos write:todos"),
        ),
        (
            "the scope in the body",
            scopes_request(
                json!(["viewer"]),
                json!({}),
                json!({"scope": "read:todos"}),
                json!([]),
            ),
        ),
        (
            "an empty query scope hides the body",
            scopes_request(
                json!(["viewer"]),
                json!({"scope": ""}),
                json!({"scope": "read:todos"}),
                json!(["read:todos"]),
            ),
        ),
        (
            "no scope requested",
            scopes_request(json!(["admin"]), json!({}), json!({}), json!([])),
        ),
        (
            "the token already has the granted scopes",
            scopes_request(
                json!(["viewer"]),
                json!({"scope": "read:todos openid"}),
                json!({}),
                json!(["read:todos"]),
            ),
        ),
        (
            "the token has the granted scopes in another order",
            scopes_request(
                json!(["editor"]),
                json!({"scope": "read:todos write:todos"}),
                json!({}),
                json!(["write:todos", "read:todos"]),
            ),
        ),
        (
            "the token's scope as a string keeps its form",
            scopes_request(
                json!(["editor"]),
                json!({"scope": "write:todos openid"}),
                json!({}),
                json!("openid write:todos"),
            ),
        ),
        (
            "the token carries more scopes than granted",
            scopes_request(
                json!(["viewer"]),
                json!({"scope": "read:todos"}),
                json!({}),
                json!(["read:todos", "delete:todos"]),
            ),
        ),
    ]
}

const SCOPES_CONFIG: &str = "admin = \"read:todos write:todos delete:todos read:billing\"
editor = \"read:todos write:todos\"
viewer = \"read:todos\"
spaced = \"  read:todos\\t\\twrite:todos  \"";

#[test]
fn the_python_role_scopes_rule_decides_as_its_rust_twin() {
    let verdicts = assert_twins(
        "role_scopes.wasm",
        "role_scopes_py.wasm",
        SCOPES_CONFIG,
        &scopes_cases(),
    );
    assert!(verdicts.iter().any(is_allow));
    assert!(
        verdicts
            .iter()
            .any(|verdict| matches!(verdict, Ok((FinalDecision::Modify, _))))
    );
}

#[test]
fn the_python_role_scopes_rule_matches_its_twin_without_configuration() {
    let cases = &scopes_cases()[..8];
    let verdicts = assert_twins("role_scopes.wasm", "role_scopes_py.wasm", "", cases);
    assert!(verdicts.iter().all(Result::is_ok));
}
