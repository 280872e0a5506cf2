//! A loaded rule set: every enabled rule of a manifest compiled, type-checked
//! against the `rule` world and pre-linked, ready to be instantiated once per
//! evaluation.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::bindings::RuleWorldPre;
use crate::blocking;
use crate::chain::{self, Evaluation, EvaluationError};
use crate::imports;
use crate::instance::RuleInstance;
use crate::limits::{Limits, MAX_MODULE_BYTES};
use crate::manifest::{Manifest, OnError, RuleSpec};
use crate::rule_state::{RuleConfig, RuleState};
use crate::sandbox::{ContentHash, Sandbox, content_hash};

/// One enabled rule, compiled and pre-linked.
pub struct LoadedRule {
    /// The rule's name from the manifest.
    pub name: String,
    /// The module file it was compiled from.
    pub module: PathBuf,
    /// The SHA-256 of the module's bytes.
    pub hash: ContentHash,
    /// What the rule may use per evaluation.
    pub limits: Limits,
    /// What its failure does to an evaluation.
    pub on_error: OnError,
    /// How many of its evaluations failed since this generation loaded.
    pub failures: AtomicU64,
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
    /// Loads the rules directory `dir` with a sandbox of its own and no
    /// on-disk cache.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        Self::load_with(Arc::new(Sandbox::new(&Default::default())?), dir)
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
            bail!(
                "{}: no enabled rule; an empty chain would allow every login, so it is refused \
                 (if the file was being written in place, write it whole and rename it over instead)",
                manifest.path.display()
            );
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

    /// The loaded rule named `name`, if it is enabled.
    pub fn rule(&self, name: &str) -> Option<&LoadedRule> {
        self.rules.iter().find(|rule| rule.name == name)
    }

    /// Whether `other` would evaluate exactly as this set does: the same
    /// rules in the same order, with the same modules and configuration.
    pub fn same_rules_as(&self, other: &RuleSet) -> bool {
        self.manifest.rules == other.manifest.rules
            && self
                .rules
                .iter()
                .map(|r| &r.hash)
                .eq(other.rules.iter().map(|r| &r.hash))
    }

    /// The sandbox the set runs in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// Runs the chain on one request `{"user": {...}, "context": {...}}`.
    /// A rule that runs past its first millisecond or two yields at every
    /// epoch tick, so that it does not hold up other futures on the same
    /// thread. It must be polled inside a tokio runtime with the time driver
    /// enabled (`enable_time` or `enable_all`), which rule time limits and
    /// WASI's clocks use.
    pub async fn evaluate_async(&self, request: Value) -> Result<Evaluation, EvaluationError> {
        chain::run(&self.sandbox, &self.rules, request).await
    }

    /// [`Self::evaluate_async`], blocking the calling thread until it ends.
    pub fn evaluate(&self, request: Value) -> Result<Evaluation, EvaluationError> {
        blocking::block_on(self.evaluate_async(request))
    }
}

/// Reads a module file, refusing what cannot be a component before any
/// parsing: a non-regular file, an empty or oversized one, or one that is
/// not a WebAssembly binary.
fn read_module(path: &Path) -> anyhow::Result<Vec<u8>> {
    let metadata = std::fs::metadata(path).context("reading the module")?;
    if !metadata.is_file() {
        bail!("the module is not a regular file");
    }
    let limit = MAX_MODULE_BYTES as u64;
    let mut bytes = Vec::with_capacity(metadata.len().min(limit) as usize);
    std::fs::File::open(path)
        .and_then(|file| file.take(limit + 1).read_to_end(&mut bytes))
        .context("reading the module")?;
    if bytes.len() as u64 > limit {
        bail!("the module is larger than {} MiB", MAX_MODULE_BYTES >> 20);
    }
    if bytes.is_empty() {
        bail!("the module file is empty");
    }
    if !bytes.starts_with(b"\0asm") {
        bail!("the module is not a WebAssembly binary (it does not start with \\0asm)");
    }
    Ok(bytes)
}

fn load_rule(sandbox: &Sandbox, spec: &RuleSpec) -> anyhow::Result<LoadedRule> {
    let bytes = read_module(&spec.module)?;
    let hash = content_hash(&bytes);
    let component = sandbox.compile(&hash, &bytes).map_err(|error| {
        // The pool's bounds on a rule's memories, tables and instances are
        // not a sign of the wrong kind of file.
        let hint = if format!("{error:#}").contains("in the pooling allocator") {
            ""
        } else {
            " (is it a WebAssembly component built for wasm32-wasip2?)"
        };
        error.context(format!("compiling the module{hint}"))
    })?;
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
    let rule = LoadedRule {
        name: spec.name.clone(),
        module: spec.module.clone(),
        hash,
        limits: spec.limits,
        on_error: spec.on_error,
        failures: AtomicU64::new(0),
        pre,
        config,
    };
    // One trial instance, so that a rule that can never run (its initial
    // memory exceeds `memory_mib`, the host cannot allocate it) is refused
    // now rather than failing every evaluation.
    if let Err(failure) = blocking::block_on(RuleInstance::new(sandbox, &rule)) {
        bail!(
            "the rule cannot be instantiated under its limits ({:?}): {}",
            failure.reason,
            failure.message
        );
    }
    Ok(rule)
}
