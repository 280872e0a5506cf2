//! The sandbox every rule runs in: the wasmtime engine, the linker with the
//! imports a rule may use, and the per-evaluation store state.
//!
//! A rule gets WASI with no files, no environment, no arguments and no
//! sockets (its standard streams go nowhere), plus the `config` import,
//! which answers from that rule's own `[rule.config]` table only.
//!
//! Compiled components are kept in memory by content hash, so a reload
//! compiles only modules whose bytes changed, and optionally on disk through
//! wasmtime's cache, whose keys include the wasmtime version and the engine
//! settings, so that a restart with unchanged modules skips compilation too.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Cache, CacheConfig, Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{ConfigHost, RuleWorld, TypesHost};

/// A rule's configuration as sorted key and value pairs, shared by all its
/// evaluations.
pub type RuleConfig = Arc<[(String, String)]>;

/// What one evaluation of one rule owns inside its store.
pub struct RuleState {
    wasi: WasiCtx,
    table: ResourceTable,
    config: RuleConfig,
}

impl RuleState {
    /// A fresh state whose `config` import answers from `config`.
    fn new(config: RuleConfig) -> Self {
        // The builder's defaults are already the empty sandbox: no preopened
        // directories, no environment, no arguments, no network access and
        // standard streams that read nothing and discard what is written.
        let wasi = WasiCtxBuilder::new().allow_ip_name_lookup(false).build();
        Self {
            wasi,
            table: ResourceTable::new(),
            config,
        }
    }
}

impl WasiView for RuleState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl TypesHost for RuleState {}

impl ConfigHost for RuleState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn entries(&mut self) -> Vec<(String, String)> {
        self.config.to_vec()
    }
}

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
}

impl Sandbox {
    /// Builds the engine and links the imports rules may use.
    pub fn new(options: &SandboxOptions) -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        if let Some(dir) = &options.cache_dir {
            let mut cache = CacheConfig::new();
            cache.with_directory(dir);
            let cache = Cache::new(cache)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("opening the compiled-module cache in {}", dir.display())
                })?;
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("creating the wasmtime engine")?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        RuleWorld::add_to_linker::<RuleState, HasSelf<RuleState>>(&mut linker, |state| state)
            .map_err(anyhow::Error::from)
            .context("linking the rulehost config import")?;
        Ok(Self {
            engine,
            linker,
            compiled: Mutex::default(),
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

    /// The linker rules are pre-instantiated with.
    pub fn linker(&self) -> &Linker<RuleState> {
        &self.linker
    }

    /// A fresh store for one evaluation of a rule configured with `config`.
    pub fn store(&self, config: RuleConfig) -> Store<RuleState> {
        Store::new(&self.engine, RuleState::new(config))
    }
}
