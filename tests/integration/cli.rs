//! The `rulehost` binary: `eval` exit codes and output, `check` and `--help`.

use std::process::{Command, Output, Stdio};

use std::io::Write as _;

use crate::support::{RulesDir, example_rules, workspace};

fn rulehost(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rulehost");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("running rulehost")
}

fn eval(sample: &str) -> Output {
    let input = workspace().join(format!("example-rules/requests/{sample}.json"));
    rulehost(
        &[
            "eval",
            "--rules",
            example_rules().to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        None,
    )
}

fn stdout_json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).expect("eval prints JSON")
}

#[test]
fn eval_exits_0_on_allow_and_modify_and_1_on_deny() {
    let allow = eval("allow");
    assert_eq!(allow.status.code(), Some(0));
    assert_eq!(stdout_json(&allow)["decision"], "allow");
    let modify = eval("modify");
    assert_eq!(modify.status.code(), Some(0));
    assert_eq!(stdout_json(&modify)["decision"], "modify");
    let deny = eval("deny");
    assert_eq!(deny.status.code(), Some(1));
    assert_eq!(
        stdout_json(&deny)["error_description"],
        "end_users_not_allowed"
    );
}

#[test]
fn eval_reads_stdin_and_exits_2_on_bad_input() {
    let rules = example_rules().to_str().unwrap();
    let output = rulehost(&["eval", "--rules", rules, "-"], Some("{\"user\": {}}"));
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout_json(&output)["field"], "user.user_id");
    let output = rulehost(&["eval", "--rules", rules, "-"], Some("not json"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("parsing stdin as JSON"));
}

#[test]
fn eval_exits_2_when_rules_do_not_load() {
    let dir = RulesDir::new("[[rule]]\nname = \"gone\"\nmodule = \"gone.wasm\"\n");
    let output = rulehost(
        &["eval", "--rules", dir.path().to_str().unwrap(), "-"],
        Some("{}"),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"gone\"") && stderr.contains("gone.wasm"),
        "{stderr}"
    );
}

#[test]
fn check_lists_every_rule() {
    let output = rulehost(
        &["check", "--rules", example_rules().to_str().unwrap()],
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("6 rules"), "{stdout}");
    assert!(
        stdout.contains("deny-todo-api") && stdout.contains("roles-claim"),
        "{stdout}"
    );
}

#[test]
fn every_subcommand_has_help() {
    for command in ["eval", "check", "serve"] {
        let output = rulehost(&[command, "--help"], None);
        assert_eq!(output.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&output.stdout).contains("--rules"));
    }
}
