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

#[test]
fn serve_refuses_more_concurrent_evaluations_than_the_pool_has_room_for() {
    let rules = example_rules();
    let limit = rulehost::server::MAX_CONCURRENT_EVALUATIONS.to_string();
    let over = (rulehost::server::MAX_CONCURRENT_EVALUATIONS + 1).to_string();
    let output = rulehost(
        &[
            "serve",
            "--rules",
            rules.to_str().unwrap(),
            "--max-concurrent-evaluations",
            &over,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--max-concurrent-evaluations") && stderr.contains(&limit),
        "{stderr}"
    );
}

/// Reads the serving address from the `serving` log line of `rulehost serve`.
fn serving_address(stderr: std::process::ChildStderr) -> std::net::SocketAddr {
    use std::io::BufRead as _;
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("address=").nth(1) {
                let _ = found.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let text = address
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("rulehost serve logs its address");
    text.parse().expect("a socket address")
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status();
    assert!(status.expect("running kill").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reloads_on_sighup_and_stops_on_sigterm() {
    use crate::support::{http, test_rule};
    let dir = RulesDir::new(&test_rule("one", "claim", "claim = \"c\"\nvalue = \"1\""));
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch", "--rules"])
        .arg(dir.path())
        .arg("--cache-dir")
        .arg(cache.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting rulehost serve");
    let addr = serving_address(child.stderr.take().unwrap());
    assert_eq!(http(addr, "GET", "/readyz", &[], b"").await.status, 200);

    let two = test_rule("two", "claim", "claim = \"c\"\nvalue = \"2\"");
    let guests = crate::support::guest_dir().display().to_string();
    dir.write("rules.toml", two.replace("{guests}", &guests));
    signal(&child, "HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rules = http(addr, "GET", "/v1/rules", &[], b"").await.json();
        if rules["generation"]["number"] == 2 {
            assert_eq!(rules["rules"][0]["name"], "two");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload: {rules}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    signal(&child, "TERM");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SIGTERM did not stop the sidecar"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    let cached = std::fs::read_dir(cache.path()).unwrap().count();
    assert!(
        cached > 0,
        "compiled modules were written to the cache directory"
    );
}

#[test]
fn eval_falls_back_to_on_demand_instances_when_the_pool_cannot_be_reserved() {
    // The instance pool reserves terabytes of address space up front; under
    // a 16 GiB address-space limit that fails, and rulehost must still run
    // each evaluation, allocating its instances one at a time.
    let input = workspace().join("example-rules/requests/modify.json");
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 16777216 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rulehost"))
        .args(["eval", "--rules"])
        .arg(example_rules())
        .arg(input)
        .output()
        .expect("running rulehost under ulimit");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout_json(&output)["decision"], "modify");
    assert!(
        stderr.contains("allocating instances on demand"),
        "the fallback is logged: {stderr}"
    );
}

#[test]
fn eval_refuses_an_endless_input_instead_of_filling_memory() {
    // Before, `eval` read its whole input first: /dev/zero grew it past
    // gigabytes and never finished.
    let output = rulehost(
        &[
            "eval",
            "--rules",
            example_rules().to_str().unwrap(),
            "/dev/zero",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/dev/zero holds more than 1048576 bytes"),
        "{stderr}"
    );
}

#[test]
fn a_relative_cache_dir_is_taken_from_the_working_directory() {
    let work = tempfile::tempdir().unwrap();
    let input = workspace().join("example-rules/requests/allow.json");
    let output = Command::new(env!("CARGO_BIN_EXE_rulehost"))
        .current_dir(work.path())
        .args(["eval", "--cache-dir", "compiled", "--rules"])
        .arg(example_rules())
        .arg(input)
        .output()
        .expect("running rulehost");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let cached = std::fs::read_dir(work.path().join("compiled"))
        .expect("the cache directory was made where it was asked for")
        .count();
    assert!(cached > 0, "compiled modules were cached");
}
