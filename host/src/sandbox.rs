//! The sandbox every rule runs in: the wasmtime engine, the linker with the
//! imports a rule may use, and the per-evaluation store state.
//!
//! A rule gets WASI with no files, no environment, no arguments and no
//! sockets, plus the `config` import, which answers from that rule's own
//! `[rule.config]` table only (see [`crate::rule_state`]).
//!
//! Rules run as futures, on whatever thread polls them: in the server, an
//! async worker first, and a blocking thread for an evaluation that runs
//! long (see [`crate::blocking::run_evaluation`]). Time limits use epoch
//! interruption: a ticker thread advances the engine's epoch every
//! millisecond, and at each tick after a rule's first slice it either
//! yields, so that whatever polls it can move it or run other work, or, once
//! its deadline has passed, traps, even inside a tight loop.
//!
//! Instances are allocated from a pre-reserved pool (sized in `pool`), so
//! that a fresh instance per rule per evaluation costs microseconds.
//!
//! Compiled components are kept in memory by content hash, so a reload
//! compiles only modules whose bytes changed, and optionally on disk through
//! wasmtime's cache, whose keys include the wasmtime version and the engine
//! settings, so that a restart with unchanged modules skips compilation too.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, Store, UpdateDeadline,
};

use crate::bindings::RuleWorld;
use crate::limits::Limits;
use crate::pool::{self, instance_pool};
use crate::rule_state::{RuleConfig, RuleState};

/// How often the epoch advances: the resolution of rule time limits.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks a rule runs before it first yields: from one to two milliseconds.
/// Most evaluations end well within it and never go back to the end of
/// their worker's queue; a longer one then yields at every tick.
const FIRST_SLICE_TICKS: u64 = 2;

/// The SHA-256 of a module's bytes, as lowercase hex.
pub type ContentHash = String;

/// The hash [`Sandbox::compile`] keys its cache by.
pub fn content_hash(bytes: &[u8]) -> ContentHash {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// How the sandbox is set up.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Where compiled modules are kept across restarts; `None` keeps them in
    /// memory only.
    pub cache_dir: Option<PathBuf>,
}

/// The engine, the linker and the compiled modules, shared by every rule and
/// every generation of a rule set.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<RuleState>,
    compiled: Mutex<HashMap<ContentHash, Component>>,
    ticker_stop: Arc<AtomicBool>,
}

impl Sandbox {
    /// Builds the engine and links the imports rules may use.
    pub fn new(options: &SandboxOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        if let Some(dir) = &options.cache_dir {
            // wasmtime's cache takes absolute paths only.
            let dir = std::path::absolute(dir).with_context(|| {
                format!(
                    "resolving the compiled-module cache directory {}",
                    dir.display()
                )
            })?;
            let mut cache = CacheConfig::new();
            cache.with_directory(&dir);
            let cache = Cache::new(cache)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("opening the compiled-module cache in {}", dir.display())
                })?;
            config.cache(Some(cache));
        }
        let engine = pooled_engine(&mut config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        RuleWorld::add_to_linker::<RuleState, HasSelf<RuleState>>(&mut linker, |state| state)
            .map_err(anyhow::Error::from)
            .context("linking the rulehost config import")?;
        let ticker_stop = start_epoch_ticker(engine.clone())?;
        Ok(Self {
            engine,
            linker,
            compiled: Mutex::default(),
            ticker_stop,
        })
    }

    /// The component for `bytes`, whose hash is `hash`: compiled now, or
    /// taken from the in-memory cache when the same bytes were compiled
    /// before.
    pub fn compile(&self, hash: &ContentHash, bytes: &[u8]) -> anyhow::Result<Component> {
        if let Some(component) = self.compiled().get(hash) {
            return Ok(component.clone());
        }
        let component = Component::new(&self.engine, bytes).map_err(anyhow::Error::from)?;
        self.compiled().insert(hash.clone(), component.clone());
        Ok(component)
    }

    /// Drops compiled modules whose hash is not in `keep`.
    pub fn retain_compiled(&self, keep: &HashSet<&str>) {
        self.compiled()
            .retain(|hash, _| keep.contains(hash.as_str()));
    }

    fn compiled(&self) -> std::sync::MutexGuard<'_, HashMap<ContentHash, Component>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The engine modules are compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker rules are pre-instantiated with.
    pub fn linker(&self) -> &Linker<RuleState> {
        &self.linker
    }

    /// A fresh store for one evaluation of a rule configured with `config`,
    /// whose deadline and memory limit are set from `limits`.
    pub fn store(&self, config: RuleConfig, limits: &Limits) -> Store<RuleState> {
        let mut store = Store::new(&self.engine, RuleState::new(config, limits));
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|store| {
            Ok(if Instant::now() < store.data().deadline {
                UpdateDeadline::Yield(1)
            } else {
                UpdateDeadline::Interrupt
            })
        });
        // `RuleState::new` counted the deadline from now already.
        store.set_epoch_deadline(FIRST_SLICE_TICKS);
        store
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Gives `store` the whole time budget of `limits` again, counted from now.
pub(crate) fn renew_deadline(store: &mut Store<RuleState>, limits: &Limits) {
    store.data_mut().deadline = Instant::now() + limits.timeout;
    store.set_epoch_deadline(FIRST_SLICE_TICKS);
}

/// The engine for `config`, allocating instances from a pool when the
/// process may reserve the address space it needs, and on demand otherwise.
fn pooled_engine(config: &mut Config) -> anyhow::Result<Engine> {
    const SLOWER: &str = "allocating instances on demand, which makes each evaluation slower";
    match pool::address_space_limit() {
        Some(limit) if limit < pool::ADDRESS_SPACE_NEEDED => tracing::warn!(
            limit_bytes = limit,
            needed_bytes = pool::ADDRESS_SPACE_NEEDED,
            "the address-space limit (ulimit -v) leaves no room for the instance pool; {SLOWER}"
        ),
        _ => {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(instance_pool()));
            match Engine::new(config) {
                Ok(engine) => return Ok(engine),
                Err(error) => tracing::warn!(
                    error = %format!("{error:#}"),
                    "cannot reserve the instance pool; {SLOWER}"
                ),
            }
        }
    }
    pool::allocate_on_demand(config);
    Engine::new(config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the returned flag
/// is set.
fn start_epoch_ticker(engine: Engine) -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("rulehost-epoch".into())
        .spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .context("starting the epoch ticker thread")?;
    Ok(stop)
}
