//! A rule for the integration tests. Its `mode` config key picks what it does,
//! so one module covers the behaviours the host must handle:
//!
//! - `panic`: panics, which traps.
//! - `error`: returns a rule error.
//! - `invalid-claim`: sets an ID-token claim whose value is not JSON.
//! - `echo`: sets the access-token claim `seen` to what it saw: the ID-token
//!   claim names, the access-token scopes and its own configuration.
//! - `counter`: bumps a static counter and sets the ID-token claim `calls` to
//!   it, which stays 1 while every evaluation gets a fresh instance.
//! - `claim`: sets the ID-token claim named by `claim` to the string `value`.
//! - `mfa`: requires multifactor with provider `any`.
//! - `metadata`: replaces the app metadata with `{"touched": true}`.
//! - `dispatch`: acts as the mode named by the request's `test_mode` query
//!   parameter, and allows when there is none.
//!
//! And the hostile ones, each of which the host must stop or refuse:
//!
//! - `loop`: spins forever.
//! - `sleep`: sleeps for an hour, waiting in a WASI call rather than
//!   computing.
//! - `memory-bomb`: allocates without end.
//! - `recursion`: recurses without end.
//! - `oversized`: returns 10 000 claims.
//! - `set-sub`: sets the ID-token claim `sub`, the user id.
//! - `read-file`, `read-env`, `open-socket`: try to read `/etc/passwd`, the
//!   variable `HOME`, and to connect to 127.0.0.1:9, and panic when they
//!   cannot, as a rule written for a richer host would.
//! - `chatty`: writes 100 KiB to stdout and a line to stderr, then allows.

use std::sync::atomic::{AtomicU64, Ordering};

use rulehost_guest::{Config, Context, Decision, Modify, Rule, RuleError, User, export_rule};

static CALLS: AtomicU64 = AtomicU64::new(0);

struct TestRule;

impl Rule for TestRule {
    fn evaluate(_user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError> {
        let modify = Modify::new();
        // `dispatch` takes the mode from the request's `test_mode` query
        // parameter and allows when there is none, so that one rule set can
        // serve both hostile and healthy requests.
        let mode = match config.require("mode")? {
            "dispatch" => match context.query_param("test_mode") {
                Some(mode) => mode,
                None => return Ok(Decision::Allow),
            },
            mode => mode,
        };
        let decision = match mode {
            "panic" => panic!("test-rule was asked to panic"),
            "error" => return Err(RuleError::new("test-rule was asked to fail")),
            "invalid-claim" => modify.edit(rulehost_guest::Edit::SetIdTokenClaim(
                rulehost_guest::Claim {
                    name: "broken".into(),
                    value: "{not json".into(),
                },
            )),
            "echo" => {
                let claims: Vec<&str> = context
                    .id_token_claims
                    .iter()
                    .map(|claim| claim.name.as_str())
                    .collect();
                let config: Vec<String> = config.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let seen = format!(
                    "claims={} scopes={} config={}",
                    claims.join(","),
                    context.access_token.scopes.join(","),
                    config.join(",")
                );
                modify.set_access_token_claim("seen", seen)
            }
            "counter" => {
                let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
                modify.set_id_token_claim("calls", calls)
            }
            "claim" => {
                modify.set_id_token_claim(config.require("claim")?, config.require("value")?)
            }
            "mfa" => modify.require_multifactor("any", false),
            "metadata" => modify.replace_app_metadata(serde_json_value()),
            "loop" => spin(),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                modify
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(Vec::with_capacity(16 << 20));
                    std::hint::black_box(&mut hoard);
                }
            }
            "recursion" => modify.set_id_token_claim("depth", recurse(0)),
            "oversized" => (0..10_000).fold(modify, |modify, n| {
                modify.set_id_token_claim(format!("c{n}"), n)
            }),
            "set-sub" => modify.set_id_token_claim("sub", "auth0|someone-else"),
            "read-file" => {
                modify.set_id_token_claim("file", std::fs::read_to_string("/etc/passwd").unwrap())
            }
            "read-env" => modify.set_id_token_claim("home", std::env::var("HOME").unwrap()),
            "open-socket" => {
                let stream = std::net::TcpStream::connect("127.0.0.1:9").unwrap();
                modify.set_id_token_claim("peer", stream.peer_addr().unwrap().to_string())
            }
            "chatty" => {
                print!("{}", "x".repeat(100 * 1024));
                eprintln!("chatty rule says hello");
                modify
            }
            other => return Err(RuleError::new(format!("unknown mode {other:?}"))),
        };
        Ok(decision.into())
    }
}

fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

// Endless on purpose: the host must stop it with a stack overflow. Only
// scalars, so the frames live on the wasm stack rather than in linear memory.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(depth + 1))) + 1
}

fn serde_json_value() -> rulehost_guest::serde_json::Value {
    rulehost_guest::serde_json::json!({"touched": true})
}

export_rule!(TestRule);
