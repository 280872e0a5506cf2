//! Integration tests for rulehost live in `tests/tests/`; this crate has no library code.
