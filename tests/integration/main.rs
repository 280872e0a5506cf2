//! Integration tests: the example rules and the test rule are built from
//! source to wasm32-wasip2 components, then run through the library, a real
//! sidecar on a loopback port, and the `rulehost` binary.

mod cli;
mod hardening;
mod hostile;
mod library;
mod loading;
mod reload;
mod sidecar;
mod support;
