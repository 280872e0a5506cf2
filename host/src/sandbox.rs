//! The sandbox every rule runs in: the wasmtime engine, the linker with the
//! imports a rule may use, and the per-evaluation store state.
//!
//! A rule gets WASI with no files, no environment, no arguments and no
//! sockets (its standard streams go nowhere), plus the `config` import,
//! which answers from that rule's own `[rule.config]` table only.

use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
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

/// The engine and linker shared by every rule of a rule set.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<RuleState>,
}

impl Sandbox {
    /// Builds the engine and links the imports rules may use.
    pub fn new() -> anyhow::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
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
        Ok(Self { engine, linker })
    }

    /// The engine modules are compiled with.
    pub fn engine(&self) -> &Engine {
        &self.engine
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
