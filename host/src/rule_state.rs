//! What one evaluation of one rule owns inside its store: an empty WASI
//! context whose standard streams are captured, the rule's configuration
//! behind the `config` import, and the memory limiter.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{ConfigHost, TypesHost};
use crate::guest_output::GuestOutput;
use crate::limits::{GUEST_OUTPUT_LOG_BYTES, Limits};

/// A rule's configuration as sorted key and value pairs, shared by all its
/// evaluations.
pub type RuleConfig = Arc<[(String, String)]>;

/// Most table elements a rule may have; tables hold function references, and
/// real rules need a few thousand at most.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Refuses memory growth past the rule's limit and remembers that it did, so
/// that whatever the guest does next (trap, abort) is reported as
/// `memory_limit`.
pub struct MemoryLimiter {
    limit: usize,
    total: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total - current.min(self.total) + desired;
        if total > self.limit {
            self.exceeded = true;
            return Ok(false);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The store data of one evaluation of one rule.
pub struct RuleState {
    wasi: Option<Wasi>,
    table: ResourceTable,
    config: RuleConfig,
    pub(crate) limiter: MemoryLimiter,
    /// When the rule's time is up; checked at every epoch tick.
    pub(crate) deadline: Instant,
}

/// The WASI context and the streams it captures. Most rules never call
/// WASI, so it is made on the first call rather than with every store.
struct Wasi {
    ctx: WasiCtx,
    stdout: GuestOutput,
    stderr: GuestOutput,
}

impl Wasi {
    fn new() -> Self {
        let stdout = GuestOutput::new(GUEST_OUTPUT_LOG_BYTES);
        let stderr = GuestOutput::new(GUEST_OUTPUT_LOG_BYTES);
        // The builder's defaults are the empty sandbox: no preopened
        // directories, no environment, no arguments, and no socket address
        // allowed; name lookups and both socket kinds are refused outright
        // as well.
        let ctx = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Self {
            ctx,
            stdout,
            stderr,
        }
    }
}

impl RuleState {
    /// A fresh state for a rule with `config` running under `limits`.
    pub fn new(config: RuleConfig, limits: &Limits) -> Self {
        let limiter = MemoryLimiter {
            limit: limits.memory_bytes,
            total: 0,
            exceeded: false,
        };
        Self {
            wasi: None,
            table: ResourceTable::new(),
            config,
            limiter,
            deadline: Instant::now() + limits.timeout,
        }
    }

    /// Whether the rule asked for more memory than its limit.
    pub fn memory_exceeded(&self) -> bool {
        self.limiter.exceeded
    }

    /// Logs what the rule wrote to stdout and stderr, tagged with its name.
    pub fn log_output(&self, rule: &str) {
        let Some(wasi) = &self.wasi else { return };
        for (stream, output) in [("stdout", &wasi.stdout), ("stderr", &wasi.stderr)] {
            if let Some((text, dropped)) = output.take() {
                tracing::info!(rule, stream, dropped_bytes = dropped, output = %text.trim_end(), "rule output");
            }
        }
    }
}

impl WasiView for RuleState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let wasi = self.wasi.get_or_insert_with(Wasi::new);
        WasiCtxView {
            ctx: &mut wasi.ctx,
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
