//! Runs the rules of a set in order on one request.
//!
//! Each rule gets a fresh instance in a fresh store, with a fresh time and
//! memory budget, and sees the records as the rules before it left them. The
//! first deny ends the chain. A rule that fails (runs out of time or memory,
//! overflows its stack, traps, returns an error or an invalid decision)
//! fails the whole evaluation closed, unless its manifest entry says
//! `on_error = "skip"`: then the failure is logged and counted and the chain
//! carries on as if the rule had allowed.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use std::sync::atomic::Ordering;

use crate::bindings::Decision;
use crate::edits::{self, Touched};
use crate::instance::RuleInstance;
use crate::limits::Limits;
use crate::manifest::OnError;
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
    /// The rule failed and the evaluation failed with it.
    Failed,
    /// The rule failed and, as its `on_error = "skip"` asks, was passed over.
    Skipped,
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
    /// The rule ran past its time limit.
    Timeout,
    /// The rule asked for more memory than its limit.
    MemoryLimit,
    /// The rule overflowed its stack (for example unbounded recursion).
    StackOverflow,
    /// The rule trapped (a panic, an `unreachable`, an out-of-bounds access).
    Trap,
    /// The rule returned an error of its own.
    RuleError,
    /// The rule returned a decision that breaks the contract or its limits:
    /// invalid JSON, too many edits or bytes, an edit of a reserved claim.
    InvalidOutput,
    /// The host could not provide an instance (its pool is exhausted, or the
    /// system refused memory). Not the rule's fault: such a failure is never
    /// skipped, is not counted against the rule, and is worth a retry.
    HostResources,
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

/// Where a chain gets each rule's decision from.
pub trait Decide: Send {
    /// The decision of `rule`, at `index` in the chain, on `records`.
    fn decide<'a>(
        &'a mut self,
        index: usize,
        rule: &'a LoadedRule,
        records: &'a LoginRecords,
    ) -> impl Future<Output = Result<Decision, Failure>> + Send + 'a;
}

/// What rulehost does: every rule in a fresh instance of its own.
struct FreshInstances<'s> {
    sandbox: &'s Sandbox,
}

impl Decide for FreshInstances<'_> {
    async fn decide(
        &mut self,
        _index: usize,
        rule: &LoadedRule,
        records: &LoginRecords,
    ) -> Result<Decision, Failure> {
        let run = async {
            RuleInstance::new(self.sandbox, rule)
                .await?
                .call(rule, records)
                .await
        };
        // The epoch deadline stops a rule that computes. One that waits in a
        // host call (a WASI sleep or poll) runs no code that checks it, so a
        // timer stops it too, a little later, so that a computing rule is
        // still reported by its trap.
        let limit = rule.limits.timeout;
        match tokio::time::timeout(limit + HOST_CALL_TIMEOUT_GRACE, run).await {
            Ok(result) => result,
            Err(_) => Err(Failure {
                reason: FailureReason::Timeout,
                message: format!(
                    "the rule did not finish within its time limit of {} ms",
                    limit.as_millis()
                ),
            }),
        }
    }
}

/// How long past its time limit a rule waiting in a host call is given.
const HOST_CALL_TIMEOUT_GRACE: Duration = Duration::from_millis(5);

/// Runs `rules` on `request` in `sandbox`, each rule in a fresh instance.
pub async fn run(
    sandbox: &Sandbox,
    rules: &[LoadedRule],
    request: Value,
) -> Result<Evaluation, EvaluationError> {
    run_with(rules, request, FreshInstances { sandbox }).await
}

/// Runs `rules` on `request`, asking `decide` for the decision of each
/// rule on the records as the rules before it left them.
/// Every decision is checked against its rule's limits before it is used.
pub async fn run_with(
    rules: &[LoadedRule],
    mut request: Value,
    mut decide: impl Decide,
) -> Result<Evaluation, EvaluationError> {
    let mut records = LoginRecords::from_request(&request)?;
    let mut touched = Touched::default();
    let mut runs = Vec::with_capacity(rules.len());
    let mut modified = false;
    for (index, rule) in rules.iter().enumerate() {
        let started = Instant::now();
        let result = decide
            .decide(index, rule, &records)
            .await
            .and_then(|decision| {
                check_decision(&decision, &rule.limits).map_err(|message| Failure {
                    reason: FailureReason::InvalidOutput,
                    message,
                })?;
                Ok(decision)
            });
        let micros = started.elapsed().as_micros() as u64;
        let run = |outcome| RuleRun {
            name: rule.name.clone(),
            outcome,
            micros,
        };
        let decision = match result {
            Ok(decision) => decision,
            Err(failure) => {
                let host_failure = failure.reason == FailureReason::HostResources;
                if !host_failure {
                    rule.failures.fetch_add(1, Ordering::Relaxed);
                }
                if rule.on_error == OnError::Skip && !host_failure {
                    tracing::warn!(rule = %rule.name, reason = ?failure.reason, message = %failure.message, "rule failed; skipped as configured");
                    runs.push(run(Outcome::Skipped));
                    continue;
                }
                tracing::warn!(rule = %rule.name, reason = ?failure.reason, message = %failure.message, "rule failed; the evaluation fails closed");
                runs.push(run(Outcome::Failed));
                return Err(EvaluationError::Rule {
                    rule: rule.name.clone(),
                    reason: failure.reason,
                    message: failure.message,
                    rules: runs,
                });
            }
        };
        let outcome = match decision {
            Decision::Allow => Outcome::Allow,
            Decision::Modify(edits) if edits.is_empty() => Outcome::Allow,
            Decision::Modify(edits) => {
                edits::apply(edits, &mut records, &mut touched);
                modified = true;
                Outcome::Modify
            }
            Decision::Deny(denial) => {
                runs.push(run(Outcome::Deny));
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
        tracing::debug!(rule = %rule.name, ?outcome, micros, "rule ran");
        runs.push(run(outcome));
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

/// Why one call of a rule produced no usable decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind of failure.
    pub reason: FailureReason,
    /// What went wrong.
    pub message: String,
}

/// Checks a decision against the rule's output limits before any of it is used.
fn check_decision(decision: &Decision, limits: &Limits) -> Result<(), String> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Modify(edits) => {
            edits::check(edits, limits).map_err(|invalid| invalid.to_string())
        }
        Decision::Deny(denial) => {
            let bytes = denial.code.len() + denial.description.len();
            if bytes > limits.max_output_bytes {
                return Err(format!(
                    "the denial carries {bytes} bytes of text, more than the limit of {}",
                    limits.max_output_bytes
                ));
            }
            Ok(())
        }
    }
}
