//! The rule set being served, as numbered generations that reloads replace
//! atomically.
//!
//! A reload loads and type-checks the whole directory off the request path;
//! only a complete, valid rule set is swapped in. An evaluation holds the
//! generation it started on until it ends, so a swap never changes the rules
//! under a request in flight. A failed reload leaves the serving generation
//! in place and is remembered for `/v1/rules`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use arc_swap::ArcSwap;

use crate::rule_set::RuleSet;
use crate::sandbox::Sandbox;

/// One loaded rule set and when it started serving.
pub struct Generation {
    /// Counts up from 1 with every rule set swapped in.
    pub number: u64,
    /// When it was swapped in.
    pub loaded_at: SystemTime,
    /// Its rules.
    pub rules: RuleSet,
}

impl Generation {
    fn new(number: u64, rules: RuleSet) -> Self {
        Self {
            number,
            loaded_at: SystemTime::now(),
            rules,
        }
    }
}

/// A reload that did not produce a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadFailure {
    /// When it was attempted.
    pub at: SystemTime,
    /// The error chain, naming the file and the reason.
    pub error: String,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// A new generation with this number is serving.
    Swapped(u64),
    /// The files describe the serving rule set already; nothing changed.
    Unchanged,
}

/// The serving generation of one rules directory.
pub struct LiveRules {
    dir: PathBuf,
    sandbox: Arc<Sandbox>,
    current: ArcSwap<Generation>,
    /// Serialises reloads, so generations are numbered in the order loaded.
    reloading: Mutex<()>,
    last_failure: Mutex<Option<ReloadFailure>>,
}

impl LiveRules {
    /// Loads generation 1 from `dir`; fails if it does not load.
    pub fn load(dir: &Path, sandbox: Arc<Sandbox>) -> anyhow::Result<Self> {
        let rules = RuleSet::load_with(sandbox.clone(), dir)?;
        let first = Generation::new(1, rules);
        Ok(Self {
            dir: dir.to_owned(),
            sandbox,
            current: ArcSwap::from_pointee(first),
            reloading: Mutex::new(()),
            last_failure: Mutex::new(None),
        })
    }

    /// The rules directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The generation serving now. Hold it for the whole of an evaluation.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// The last reload that failed, if no reload has succeeded since.
    pub fn last_failure(&self) -> Option<ReloadFailure> {
        lock(&self.last_failure).clone()
    }

    /// Loads the directory again and swaps the result in. With `force`
    /// false, a rule set identical to the serving one is not swapped in.
    /// On failure the serving generation stays and the error is kept for
    /// [`LiveRules::last_failure`].
    pub fn reload(&self, force: bool) -> anyhow::Result<Reloaded> {
        let _one_at_a_time = lock(&self.reloading);
        let started = Instant::now();
        let loaded = RuleSet::load_with(self.sandbox.clone(), &self.dir)
            .with_context(|| format!("reloading {}", self.dir.display()));
        let rules = match loaded {
            Ok(rules) => rules,
            Err(error) => {
                let message = format!("{error:#}");
                tracing::error!(error = %message, "reload failed; the serving generation stays");
                *lock(&self.last_failure) = Some(ReloadFailure {
                    at: SystemTime::now(),
                    error: message,
                });
                return Err(error);
            }
        };
        *lock(&self.last_failure) = None;
        let serving = self.current();
        if !force && serving.rules.same_rules_as(&rules) {
            tracing::debug!(generation = serving.number, "reload found no change");
            return Ok(Reloaded::Unchanged);
        }
        let number = serving.number + 1;
        let keep: HashSet<&str> = rules
            .rules()
            .iter()
            .map(|rule| rule.hash.as_str())
            .collect();
        self.sandbox.retain_compiled(&keep);
        drop(keep);
        self.current.store(Arc::new(Generation::new(number, rules)));
        tracing::info!(
            generation = number,
            micros = started.elapsed().as_micros() as u64,
            "new generation serving"
        );
        Ok(Reloaded::Swapped(number))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are replaced whole, so a panic elsewhere cannot
    // leave them half-written.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
