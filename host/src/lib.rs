//! rulehost: runs access rules, compiled to WebAssembly components, on login
//! and token requests.
//!
//! - [`manifest`] parses `rules.toml`, the ordered list of rules.
//! - [`limits`] holds what a rule may use per evaluation, and the defaults.
//! - [`sandbox`] holds the wasmtime engine and the imports a rule may use;
//!   [`rule_state`] is what one evaluation of one rule owns, and `pool`
//!   sizes the instance pool evaluations draw from.
//! - [`rule_set`] compiles and type-checks the rules of a manifest; when a
//!   rule does not link, `imports` names the imports the sandbox lacks.
//! - [`request_json`] parses a request body, refusing duplicate keys, deep
//!   nesting and integers beyond 64 bits.
//! - [`records`] turns the request JSON into the contract's user and context.
//! - [`edits`] applies a rule's edits to those records.
//! - [`bindings`] holds the contract's types as the host sees them.
//! - [`chain`] runs the rules in order and produces an [`Evaluation`];
//!   [`instance`] instantiates and calls one rule.
//! - [`live`] keeps the serving generation of a rule set and reloads it.
//! - [`watch`] triggers reloads on file changes and `SIGHUP`.
//! - [`response`] turns an evaluation or its error into JSON and a status.
//! - [`server`] is the HTTP sidecar.

pub mod bindings;
pub mod blocking;
pub mod chain;
pub mod edits;
mod guest_output;
mod imports;
pub mod instance;
pub mod limits;
pub mod live;
pub mod manifest;
mod pool;
pub mod records;
pub mod request_json;
pub mod response;
pub mod rule_set;
pub mod rule_state;
pub mod sandbox;
pub mod server;
pub mod watch;

pub use chain::{Evaluation, EvaluationError, FinalDecision, Outcome, RuleRun};
pub use live::{Generation, LiveRules};
pub use rule_set::RuleSet;
