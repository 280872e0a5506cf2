//! `rules.toml`: the ordered list of rules, parsed and validated before any
//! module is read.
//!
//! ```toml
//! [[rule]]
//! name = "deny-todo-api"           # unique; shown in logs and responses
//! module = "deny_audience.wasm"    # path relative to rules.toml
//! enabled = true                   # optional, default true
//! on_error = "fail"                # optional: "fail" (default) or "skip"
//! [rule.config]                    # strings the rule reads via the config import
//! audience = "http://todoapi2.api"
//! [rule.limits]                    # optional; defaults from [defaults]
//! timeout_ms = 50
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;
use toml::Spanned;

use crate::limits::{Limits, LimitsTable};

/// The manifest's file name inside a rules directory.
pub const MANIFEST_FILE: &str = "rules.toml";

/// The file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    defaults: Option<Spanned<LimitsTable>>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    name: Spanned<String>,
    module: Spanned<String>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    #[serde(default)]
    on_error: OnError,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    limits: LimitsTable,
}

/// What a rule's failure (trap, timeout, error, invalid output) does to the
/// evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// The evaluation fails closed with a server error. The default.
    #[default]
    Fail,
    /// The failure is logged and counted, and the chain carries on as if the
    /// rule had allowed.
    Skip,
}

fn enabled_by_default() -> bool {
    true
}

/// A validated manifest: rules in the order they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The manifest file itself.
    pub path: PathBuf,
    /// Every rule, enabled or not, top to bottom.
    pub rules: Vec<RuleSpec>,
}

/// One `[[rule]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// The rule's unique name.
    pub name: String,
    /// The module's path, resolved against the manifest's directory.
    pub module: PathBuf,
    /// Whether the rule runs; disabled rules are validated but not loaded.
    pub enabled: bool,
    /// The strings the rule reads through the `config` import, sorted by key.
    pub config: BTreeMap<String, String>,
    /// What the rule may use per evaluation.
    pub limits: Limits,
    /// What its failure does.
    pub on_error: OnError,
}

impl Manifest {
    /// Reads and validates `rules.toml` in `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the manifest {}", path.display()))?;
        Self::parse(&path, &text)
    }

    /// Validates manifest `text` read from `path`; module paths resolve
    /// against `path`'s directory. Errors name the file, the line and the rule.
    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        let file: ManifestFile =
            toml::from_str(text).with_context(|| format!("parsing {}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let defaults = match &file.defaults {
            None => Limits::default(),
            Some(table) => Limits::default()
                .overridden_by(table.get_ref())
                .map_err(|problem| {
                    let line = line_of(text, table.span().start);
                    anyhow::anyhow!("{}:{line}: [defaults]: {problem}", path.display())
                })?,
        };
        let mut first_line_of: HashMap<String, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(file.rules.len());
        for entry in file.rules {
            let line = line_of(text, entry.name.span().start);
            let name = entry.name.into_inner();
            if let Err(problem) = check_name(&name) {
                bail!("{}:{line}: rule name {name:?} {problem}", path.display());
            }
            if let Some(first) = first_line_of.insert(name.clone(), line) {
                bail!(
                    "{}:{line}: rule name {name:?} is already used on line {first}; names must be unique",
                    path.display()
                );
            }
            let module_line = line_of(text, entry.module.span().start);
            let module = entry.module.into_inner();
            if module.trim().is_empty() {
                bail!(
                    "{}:{module_line}: rule {name:?} has an empty module path",
                    path.display()
                );
            }
            let limits = defaults.overridden_by(&entry.limits).map_err(|problem| {
                anyhow::anyhow!(
                    "{}:{line}: rule {name:?}: [rule.limits]: {problem}",
                    path.display()
                )
            })?;
            rules.push(RuleSpec {
                name,
                module: dir.join(module),
                enabled: entry.enabled,
                config: entry.config,
                limits,
                on_error: entry.on_error,
            });
        }
        Ok(Self {
            path: path.to_owned(),
            rules,
        })
    }
}

/// Why `name` is not a usable rule name, if it is not.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if name.len() > 128 {
        return Err("is longer than 128 bytes");
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("contains a control character");
    }
    Ok(())
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(Path::new("/rules/rules.toml"), text)
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn parses_rules_in_order_with_defaults() {
        let manifest = parse(
            r#"
            [[rule]]
            name = "deny-todo-api"
            module = "deny_audience.wasm"
            [rule.config]
            audience = "http://todoapi2.api"

            [[rule]]
            name = "scopes"
            module = "sub/role_scopes.wasm"
            enabled = false
            "#,
        )
        .unwrap();
        assert_eq!(manifest.rules.len(), 2);
        let first = &manifest.rules[0];
        assert_eq!(first.name, "deny-todo-api");
        assert_eq!(first.module, Path::new("/rules/deny_audience.wasm"));
        assert!(first.enabled);
        assert_eq!(first.config["audience"], "http://todoapi2.api");
        assert_eq!(
            manifest.rules[1].module,
            Path::new("/rules/sub/role_scopes.wasm")
        );
        assert!(!manifest.rules[1].enabled);
    }

    #[test]
    fn limits_come_from_rule_then_defaults_then_constants() {
        let manifest = parse(
            "[defaults]\ntimeout_ms = 20\nmemory_mib = 8\n\n[[rule]]\nname = \"a\"\nmodule = \"a.wasm\"\non_error = \"skip\"\n[rule.limits]\ntimeout_ms = 5\n\n[[rule]]\nname = \"b\"\nmodule = \"b.wasm\"\n",
        )
        .unwrap();
        let (a, b) = (&manifest.rules[0], &manifest.rules[1]);
        assert_eq!(a.limits.timeout, std::time::Duration::from_millis(5));
        assert_eq!(a.limits.memory_bytes, 8 << 20);
        assert_eq!(a.on_error, OnError::Skip);
        assert_eq!(b.limits.timeout, std::time::Duration::from_millis(20));
        assert_eq!(b.on_error, OnError::Fail);
        assert_eq!(b.limits.max_edits, Limits::default().max_edits);
    }

    #[test]
    fn refuses_out_of_range_or_unknown_limits() {
        let message =
            error("[[rule]]\nname = \"a\"\nmodule = \"a.wasm\"\n[rule.limits]\ntimeout_ms = 0\n");
        assert!(
            message.contains("rules.toml:2") && message.contains("timeout_ms = 0"),
            "{message}"
        );
        let message = error("[defaults]\nmemory_mib = 100000\n");
        assert!(
            message.contains("[defaults]") && message.contains("memory_mib"),
            "{message}"
        );
        assert!(error("[defaults]\ntimeout = 5\n").contains("timeout"));
        assert!(
            error("[[rule]]\nname = \"a\"\nmodule = \"a.wasm\"\non_error = \"ignore\"\n")
                .contains("ignore")
        );
    }

    #[test]
    fn an_empty_manifest_has_no_rules() {
        assert!(parse("").unwrap().rules.is_empty());
    }

    #[test]
    fn refuses_a_duplicate_name_with_both_lines() {
        let message = error(
            "[[rule]]\nname = \"a\"\nmodule = \"a.wasm\"\n[[rule]]\nname = \"a\"\nmodule = \"b.wasm\"\n",
        );
        assert!(message.contains("rules.toml:5"), "{message}");
        assert!(message.contains("already used on line 2"), "{message}");
    }

    #[test]
    fn refuses_unknown_fields_naming_them() {
        let message = error("[[rule]]\nname = \"a\"\nmodule = \"a.wasm\"\nenabeld = true\n");
        assert!(message.contains("enabeld"), "{message}");
        assert!(message.contains("line 4"), "{message}");
    }

    #[test]
    fn refuses_a_missing_module() {
        let message = error("[[rule]]\nname = \"a\"\n");
        assert!(message.contains("module"), "{message}");
    }

    #[test]
    fn refuses_non_string_config_values() {
        let message = error("[[rule]]\nname = \"a\"\nmodule = \"a.wasm\"\n[rule.config]\nn = 5\n");
        assert!(message.contains("string"), "{message}");
    }

    #[test]
    fn refuses_empty_names_and_modules() {
        assert!(error("[[rule]]\nname = \"\"\nmodule = \"a.wasm\"\n").contains("is empty"));
        assert!(error("[[rule]]\nname = \"a\"\nmodule = \" \"\n").contains("empty module path"));
    }

    #[test]
    fn refuses_malformed_toml_with_its_line() {
        let message = error("[[rule]]\nname = \"a\nmodule = \"a.wasm\"\n");
        assert!(message.contains("line 2"), "{message}");
    }
}
