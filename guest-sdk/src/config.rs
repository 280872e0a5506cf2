//! A rule's configuration: the strings under `[rule.config]` in `rules.toml`.

use std::collections::BTreeMap;
use std::fmt;

use crate::bindings::rulehost::rule::config as host_config;

/// The configuration of the running rule, read once per evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    entries: BTreeMap<String, String>,
}

impl Config {
    /// Reads this rule's configuration from the host. Only meaningful inside
    /// a component run by rulehost; [`export_rule!`](crate::export_rule) calls
    /// it for you.
    pub fn from_host() -> Self {
        Self::from_pairs(host_config::entries())
    }

    /// Builds a configuration from key and value pairs, for unit tests.
    ///
    /// ```
    /// let config = rulehost_guest::Config::from_pairs([("audience", "http://todoapi2.api")]);
    /// assert_eq!(config.get("audience"), Some("http://todoapi2.api"));
    /// ```
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let entries = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self { entries }
    }

    /// The value configured for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// The value configured for `key`, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&str, MissingConfig> {
        self.get(key).ok_or_else(|| MissingConfig {
            key: key.to_owned(),
        })
    }

    /// Every key and value, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A configuration key the rule needs is not set in `rules.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingConfig {
    /// The key that is missing.
    pub key: String,
}

impl fmt::Display for MissingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration key `{}` is not set in [rule.config]",
            self.key
        )
    }
}

impl std::error::Error for MissingConfig {}
