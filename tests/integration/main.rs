//! Integration tests: the example rules and the test rule are built from
//! source to wasm32-wasip2 components, then run through the library, a real
//! sidecar on a loopback port, and the `rulehost` binary. The example rules
//! written in JavaScript, Python and C are built by their own scripts and
//! checked against their Rust twins.

mod cli;
mod hardening;
mod hostile;
mod languages;
mod library;
mod loading;
mod reload;
mod sidecar;
mod support;
