//! One instance of a rule in a store of its own, and the call of its
//! `evaluate` export under the rule's limits.
//!
//! The chain makes a [`RuleInstance`] per rule per evaluation and drops it
//! after one call. [`ReusedInstances`] keeps one per rule across
//! evaluations instead: what running the rules costs without isolation,
//! which the benchmarks measure fresh instances against. Whatever a rule
//! leaves in its memory is seen by its next evaluation there, so nothing
//! that serves requests uses it.

use serde_json::Value;
use wasmtime::{Store, Trap};

use crate::bindings::{Decision, RuleWorld};
use crate::chain::{self, Decide, Evaluation, EvaluationError, Failure, FailureReason};
use crate::records::LoginRecords;
use crate::rule_set::{LoadedRule, RuleSet};
use crate::rule_state::RuleState;
use crate::sandbox::{self, Sandbox};

/// A rule instantiated in a fresh store, with a fresh time and memory
/// budget.
pub struct RuleInstance {
    store: Store<RuleState>,
    rule: RuleWorld,
}

impl RuleInstance {
    /// Instantiates `rule` in a new store of `sandbox`. Instantiation counts
    /// against the rule's time budget.
    pub async fn new(sandbox: &Sandbox, rule: &LoadedRule) -> Result<Self, Failure> {
        let mut store = sandbox.store(rule.config.clone(), &rule.limits);
        match rule.pre.instantiate_async(&mut store).await {
            Ok(instance) => Ok(Self {
                store,
                rule: instance,
            }),
            Err(error) => {
                store.data().log_output(&rule.name);
                // Instantiation runs no guest code but start functions, which
                // can only fail by trapping or by growing memory past the
                // limit; any other error is the host's.
                Err(failure(&store, rule, error, FailureReason::HostResources))
            }
        }
    }

    /// Gives the instance the whole time budget of `rule` again, counted
    /// from now, for another call.
    pub fn renew_deadline(&mut self, rule: &LoadedRule) {
        sandbox::renew_deadline(&mut self.store, &rule.limits);
    }

    /// Calls the rule's `evaluate` export on `records` and logs what it
    /// wrote to its standard streams.
    pub async fn call(
        &mut self,
        rule: &LoadedRule,
        records: &LoginRecords,
    ) -> Result<Decision, Failure> {
        let result = self
            .rule
            .call_evaluate(&mut self.store, &records.user, &records.context)
            .await;
        self.store.data().log_output(&rule.name);
        match result {
            Ok(Ok(decision)) => Ok(decision),
            Ok(Err(message)) => Err(Failure {
                reason: FailureReason::RuleError,
                message,
            }),
            Err(error) => Err(failure(&self.store, rule, error, FailureReason::Trap)),
        }
    }
}

/// The failure behind an error of `rule`: its memory limit, the kind of
/// trap, or `otherwise` for an error that is not a trap.
fn failure(
    store: &Store<RuleState>,
    rule: &LoadedRule,
    error: wasmtime::Error,
    otherwise: FailureReason,
) -> Failure {
    let reason = if store.data().memory_exceeded() {
        FailureReason::MemoryLimit
    } else {
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => FailureReason::Timeout,
            Some(Trap::StackOverflow) => FailureReason::StackOverflow,
            Some(_) => FailureReason::Trap,
            None => otherwise,
        }
    };
    // The backtrace and guest symbols go to the log only; callers get the
    // trap itself.
    tracing::debug!(rule = %rule.name, error = %format!("{error:#}"), "rule failure details");
    Failure {
        reason,
        message: error.root_cause().to_string(),
    }
}

/// One instance per rule of a set, kept across evaluations; see the module
/// documentation for why this is for measurement only. Each call gets a
/// fresh time budget, but memory, and the memory limiter's account of it,
/// carry over from call to call.
pub struct ReusedInstances {
    instances: Vec<RuleInstance>,
}

impl ReusedInstances {
    /// Instantiates every rule of `set` once.
    pub async fn new(set: &RuleSet) -> anyhow::Result<Self> {
        let mut instances = Vec::with_capacity(set.rules().len());
        for rule in set.rules() {
            let instance = RuleInstance::new(set.sandbox(), rule)
                .await
                .map_err(|failure| {
                    anyhow::anyhow!(
                        "instantiating rule {:?} ({:?}): {}",
                        rule.name,
                        failure.reason,
                        failure.message
                    )
                })?;
            instances.push(instance);
        }
        Ok(Self { instances })
    }

    /// Runs the chain of `set`, which these instances were made from, on
    /// `request`, giving each call a fresh time budget.
    pub async fn evaluate(
        &mut self,
        set: &RuleSet,
        request: Value,
    ) -> Result<Evaluation, EvaluationError> {
        chain::run_with(set.rules(), request, &mut *self).await
    }
}

impl Decide for &mut ReusedInstances {
    fn decide<'a>(
        &'a mut self,
        index: usize,
        rule: &'a LoadedRule,
        records: &'a LoginRecords,
    ) -> impl Future<Output = Result<Decision, Failure>> + Send + 'a {
        let instance = &mut self.instances[index];
        instance.renew_deadline(rule);
        instance.call(rule, records)
    }
}
