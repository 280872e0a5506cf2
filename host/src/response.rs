//! Turns an evaluation, or the reason there is none, into the JSON body and
//! HTTP status the sidecar answers with and `rulehost eval` prints. This is
//! the one place where outcomes and errors map to statuses.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::chain::{Evaluation, EvaluationError, FailureReason, FinalDecision};
use crate::live::LiveRules;

/// A status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status: 200 allow or modify, 401 deny, 400 bad input, 500 a
    /// failed rule, 503 no capacity for the evaluation (retry shortly).
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Reply {
    /// An error reply in the OAuth style, `{"error": ..., "error_description": ...}`.
    pub fn error(status: u16, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"error": error, "error_description": description.into()}),
        }
    }
}

/// The reply for the result of one evaluation.
pub fn for_evaluation(result: Result<Evaluation, EvaluationError>) -> Reply {
    match result {
        Ok(evaluation) => for_decision(evaluation),
        Err(EvaluationError::Input(error)) => {
            let mut reply = Reply::error(400, "invalid_request", error.to_string());
            reply.body["field"] = Value::String(error.path);
            reply
        }
        Err(EvaluationError::Rule {
            rule,
            reason: FailureReason::HostResources,
            message,
            rules,
        }) => Reply {
            status: 503,
            body: json!({
                "error": "temporarily_unavailable",
                "error_description": format!("no instance available for rule {rule:?}: {message}; retry shortly"),
                "rule": rule,
                "reason": FailureReason::HostResources,
                "rules": rules,
            }),
        },
        Err(EvaluationError::Rule {
            rule,
            reason,
            message,
            rules,
        }) => Reply {
            status: 500,
            body: json!({
                "error": "server_error",
                "error_description": format!("rule {rule:?} failed: {message}"),
                "rule": rule,
                "reason": reason,
                "rules": rules,
            }),
        },
    }
}

fn for_decision(evaluation: Evaluation) -> Reply {
    let Evaluation {
        decision,
        mut request,
        rules,
    } = evaluation;
    match decision {
        FinalDecision::Deny {
            rule,
            code,
            description,
        } => Reply {
            status: 401,
            body: json!({
                "decision": "deny",
                "error": code,
                "error_description": description,
                "rule": rule,
                "rules": rules,
            }),
        },
        FinalDecision::Allow | FinalDecision::Modify => {
            let name = if decision == FinalDecision::Allow {
                "allow"
            } else {
                "modify"
            };
            Reply {
                status: 200,
                body: json!({
                    "decision": name,
                    "user": request["user"].take(),
                    "context": request["context"].take(),
                    "rules": rules,
                }),
            }
        }
    }
}

/// `/readyz`: ready while a generation serves, which is from start-up on; a
/// failed reload is reported but does not make the sidecar unready.
pub fn for_readiness(live: &LiveRules) -> Reply {
    let generation = live.current();
    Reply {
        status: 200,
        body: json!({
            "status": "ready",
            "generation": generation.number,
            "last_reload_failed": live.last_failure().is_some(),
        }),
    }
}

/// `/v1/rules`: the serving generation, each rule of its manifest, and the
/// last failed reload.
pub fn for_rules(live: &LiveRules) -> Reply {
    let generation = live.current();
    let rules = &generation.rules;
    let listed: Vec<Value> = rules
        .manifest()
        .rules
        .iter()
        .map(|spec| {
            let loaded = rules.rule(&spec.name);
            json!({
                "name": spec.name,
                "module": spec.module.display().to_string(),
                "hash": loaded.map(|rule| format!("sha256:{}", rule.hash)),
                "enabled": spec.enabled,
                "on_error": spec.on_error,
                "limits": {
                    "timeout_ms": spec.limits.timeout.as_millis() as u64,
                    "memory_mib": spec.limits.memory_bytes >> 20,
                    "max_edits": spec.limits.max_edits,
                    "max_output_bytes": spec.limits.max_output_bytes,
                },
                "failures": loaded.map(|rule| rule.failures.load(Ordering::Relaxed)),
            })
        })
        .collect();
    let failure = live.last_failure().map(|failure| {
        json!({"at": humantime::format_rfc3339_millis(failure.at).to_string(), "error": failure.error})
    });
    Reply {
        status: 200,
        body: json!({
            "generation": {
                "number": generation.number,
                "loaded_at": humantime::format_rfc3339_millis(generation.loaded_at).to_string(),
                "manifest": rules.manifest().path.display().to_string(),
            },
            "rules": listed,
            "last_failed_reload": failure,
        }),
    }
}
