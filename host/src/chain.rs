//! Runs the rules of a set in order on one request.
//!
//! Each rule gets a fresh instance in a fresh store and sees the records as
//! the rules before it left them. The first deny ends the chain; a rule that
//! traps, returns an error or returns an edit that cannot be applied fails
//! the whole evaluation closed.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::bindings::Decision;
use crate::edits::{self, Touched};
use crate::records::{InputError, LoginRecords};
use crate::rule_set::LoadedRule;
use crate::sandbox::Sandbox;

/// What one rule answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Carry on unchanged.
    Allow,
    /// Carry on with edits.
    Modify,
    /// Stop: the login is refused.
    Deny,
}

/// One rule that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRun {
    /// The rule's name.
    pub name: String,
    /// What it answered.
    pub outcome: Outcome,
    /// How long its instantiation and call took, in microseconds.
    pub micros: u64,
}

/// The chain's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalDecision {
    /// No rule denied and none changed anything.
    Allow,
    /// No rule denied and at least one returned edits.
    Modify,
    /// A rule denied.
    Deny {
        /// The rule that denied.
        rule: String,
        /// The error code it gave.
        code: String,
        /// The description it gave.
        description: String,
    },
}

/// The result of running the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The chain's decision.
    pub decision: FinalDecision,
    /// The request with the final user and context written back into it.
    pub request: Value,
    /// Each rule that ran, in order.
    pub rules: Vec<RuleRun>,
}

/// Why a rule could not produce a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// The rule trapped (a panic, an `unreachable`, an out-of-bounds access).
    Trap,
    /// The rule returned an error of its own.
    RuleError,
    /// The rule returned an edit that cannot be applied.
    InvalidOutput,
}

/// Why an evaluation produced no decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    /// The request does not have the contract's shape; no rule ran.
    #[error("invalid request: {0}")]
    Input(#[from] InputError),
    /// A rule failed; the evaluation fails closed.
    #[error("rule {rule:?} failed ({reason:?}): {message}")]
    Rule {
        /// The rule that failed.
        rule: String,
        /// The kind of failure.
        reason: FailureReason,
        /// What went wrong, for logs and the error response.
        message: String,
        /// The rules that ran before it and the failing one.
        rules: Vec<RuleRun>,
    },
}

/// Runs `rules` on `request` in `sandbox`.
pub fn run(
    sandbox: &Sandbox,
    rules: &[LoadedRule],
    mut request: Value,
) -> Result<Evaluation, EvaluationError> {
    let mut records = LoginRecords::from_request(&request)?;
    let mut touched = Touched::default();
    let mut runs = Vec::with_capacity(rules.len());
    let mut modified = false;
    for rule in rules {
        let started = Instant::now();
        let result = call(sandbox, rule, &records);
        let micros = started.elapsed().as_micros() as u64;
        let fail = |reason, message: String, mut runs: Vec<RuleRun>, outcome| {
            runs.push(RuleRun {
                name: rule.name.clone(),
                outcome,
                micros,
            });
            tracing::warn!(rule = %rule.name, ?reason, %message, "rule failed");
            EvaluationError::Rule {
                rule: rule.name.clone(),
                reason,
                message,
                rules: runs,
            }
        };
        let decision = match result {
            Ok(decision) => decision,
            Err((reason, message)) => return Err(fail(reason, message, runs, Outcome::Deny)),
        };
        let outcome = match decision {
            Decision::Allow => Outcome::Allow,
            Decision::Modify(edits) if edits.is_empty() => Outcome::Allow,
            Decision::Modify(edits) => {
                for edit in edits {
                    if let Err(invalid) = edits::apply(edit, &mut records, &mut touched) {
                        return Err(fail(
                            FailureReason::InvalidOutput,
                            invalid.to_string(),
                            runs,
                            Outcome::Modify,
                        ));
                    }
                }
                modified = true;
                Outcome::Modify
            }
            Decision::Deny(denial) => {
                runs.push(RuleRun {
                    name: rule.name.clone(),
                    outcome: Outcome::Deny,
                    micros,
                });
                tracing::debug!(rule = %rule.name, code = %denial.code, "rule denied");
                let decision = FinalDecision::Deny {
                    rule: rule.name.clone(),
                    code: denial.code,
                    description: denial.description,
                };
                return Ok(Evaluation {
                    decision,
                    request,
                    rules: runs,
                });
            }
        };
        tracing::trace!(rule = %rule.name, ?outcome, micros, "rule ran");
        runs.push(RuleRun {
            name: rule.name.clone(),
            outcome,
            micros,
        });
    }
    edits::write_back(&mut request, &records, touched);
    let decision = if modified {
        FinalDecision::Modify
    } else {
        FinalDecision::Allow
    };
    Ok(Evaluation {
        decision,
        request,
        rules: runs,
    })
}

/// Instantiates `rule` afresh and calls its `evaluate` export.
fn call(
    sandbox: &Sandbox,
    rule: &LoadedRule,
    records: &LoginRecords,
) -> Result<Decision, (FailureReason, String)> {
    let mut store = sandbox.store(rule.config.clone());
    let instance = rule
        .pre
        .instantiate(&mut store)
        .map_err(|error| (FailureReason::Trap, format!("instantiating: {error:#}")))?;
    match instance.call_evaluate(&mut store, &records.user, &records.context) {
        Ok(Ok(decision)) => Ok(decision),
        Ok(Err(message)) => Err((FailureReason::RuleError, message)),
        Err(error) => Err((FailureReason::Trap, format!("{error:#}"))),
    }
}
