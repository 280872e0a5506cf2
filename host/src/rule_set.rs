//! A loaded rule set: every enabled rule of a manifest compiled, type-checked
//! against the `rule` world and pre-linked, ready to be instantiated once per
//! evaluation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::Value;
use wasmtime::component::Component;

use crate::bindings::RuleWorldPre;
use crate::chain::{self, Evaluation, EvaluationError};
use crate::imports;
use crate::manifest::{Manifest, RuleSpec};
use crate::sandbox::{RuleConfig, RuleState, Sandbox};

/// One enabled rule, compiled and pre-linked.
pub struct LoadedRule {
    /// The rule's name from the manifest.
    pub name: String,
    /// The module file it was compiled from.
    pub module: PathBuf,
    pub(crate) pre: RuleWorldPre<RuleState>,
    pub(crate) config: RuleConfig,
}

/// The rules of one manifest, in order, ready to evaluate requests.
pub struct RuleSet {
    sandbox: Arc<Sandbox>,
    manifest: Manifest,
    rules: Vec<LoadedRule>,
}

impl RuleSet {
    /// Loads the rules directory `dir` with a sandbox of its own.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        Self::load_with(Arc::new(Sandbox::new()?), dir)
    }

    /// Loads the rules directory `dir` into `sandbox`: parses the manifest,
    /// then compiles and type-checks each enabled rule. The first failure is
    /// returned, naming the rule, the file and what is wrong.
    pub fn load_with(sandbox: Arc<Sandbox>, dir: &Path) -> anyhow::Result<Self> {
        let manifest = Manifest::load(dir)?;
        let mut rules = Vec::new();
        for spec in manifest.rules.iter().filter(|spec| spec.enabled) {
            let started = Instant::now();
            let rule = load_rule(&sandbox, spec).with_context(|| {
                format!(
                    "loading rule {:?} from {}",
                    spec.name,
                    spec.module.display()
                )
            })?;
            tracing::debug!(rule = %spec.name, micros = started.elapsed().as_micros() as u64, "rule loaded");
            rules.push(rule);
        }
        if rules.is_empty() {
            tracing::warn!(manifest = %manifest.path.display(), "no enabled rule: every request will be allowed");
        }
        Ok(Self {
            sandbox,
            manifest,
            rules,
        })
    }

    /// The manifest the set was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The enabled rules in the order they run.
    pub fn rules(&self) -> &[LoadedRule] {
        &self.rules
    }

    /// Runs the chain on one request `{"user": {...}, "context": {...}}`.
    pub fn evaluate(&self, request: Value) -> Result<Evaluation, EvaluationError> {
        chain::run(&self.sandbox, &self.rules, request)
    }
}

fn load_rule(sandbox: &Sandbox, spec: &RuleSpec) -> anyhow::Result<LoadedRule> {
    let bytes = std::fs::read(&spec.module).context("reading the module")?;
    let component = Component::new(sandbox.engine(), &bytes)
        .map_err(anyhow::Error::from)
        .context("compiling the module (is it a WebAssembly component built for wasm32-wasip2?)")?;
    let instance_pre = sandbox
        .linker()
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| imports::link_failure(&component, sandbox.engine()))?;
    let pre = RuleWorldPre::new(instance_pre)
        .map_err(anyhow::Error::from)
        .context("the module does not implement the rulehost:rule world (export `evaluate`)")?;
    let config: RuleConfig = spec
        .config
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(LoadedRule {
        name: spec.name.clone(),
        module: spec.module.clone(),
        pre,
        config,
    })
}
