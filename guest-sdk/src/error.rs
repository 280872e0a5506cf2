//! The error a rule returns when it cannot decide.

use std::fmt;

/// Why a rule could not decide. Any error type converts into it with `?`, so
/// rules can use `?` on configuration look-ups, JSON parsing and the like.
///
/// ```
/// use rulehost_guest::RuleError;
/// let error = RuleError::new("cidr list is empty");
/// assert_eq!(error.to_string(), "cidr list is empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    message: String,
}

impl RuleError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for RuleError {
    fn from(error: E) -> Self {
        Self::new(error.to_string())
    }
}
