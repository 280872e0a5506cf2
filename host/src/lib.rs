//! rulehost: runs access rules, compiled to WebAssembly components, on login
//! and token requests.
//!
//! - [`manifest`] parses `rules.toml`, the ordered list of rules.
//! - [`sandbox`] holds the wasmtime engine and the imports a rule may use.
//! - [`rule_set`] compiles and type-checks the rules of a manifest.
//!   When a rule does not link, `imports` names the imports the sandbox lacks.
//! - [`records`] turns the request JSON into the contract's user and context.
//! - [`edits`] applies a rule's edits to those records.
//! - [`chain`] runs the rules in order and produces an [`Evaluation`].
//! - [`response`] turns an evaluation or its error into JSON and a status.
//! - [`server`] is the HTTP sidecar.

mod bindings;
pub mod chain;
pub mod edits;
mod imports;
pub mod manifest;
pub mod records;
pub mod response;
pub mod rule_set;
pub mod sandbox;
pub mod server;

pub use chain::{Evaluation, EvaluationError, FinalDecision, Outcome, RuleRun};
pub use rule_set::RuleSet;
