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

use std::sync::atomic::{AtomicU64, Ordering};

use rulehost_guest::{Config, Context, Decision, Modify, Rule, RuleError, User, export_rule};

static CALLS: AtomicU64 = AtomicU64::new(0);

struct TestRule;

impl Rule for TestRule {
    fn evaluate(_user: &User, context: &Context, config: &Config) -> Result<Decision, RuleError> {
        let modify = Modify::new();
        let decision = match config.require("mode")? {
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
            other => return Err(RuleError::new(format!("unknown mode {other:?}"))),
        };
        Ok(decision.into())
    }
}

fn serde_json_value() -> rulehost_guest::serde_json::Value {
    rulehost_guest::serde_json::json!({"touched": true})
}

export_rule!(TestRule);
