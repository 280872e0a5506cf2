//! The sizes of the instance pool every evaluation's instances are taken
//! from.
//!
//! Pooled instances make a fresh instance per rule per evaluation cheap:
//! memory and table slots are reserved once, a module's data is mapped
//! copy-on-write from its image, and when an instance is dropped only the
//! pages it dirtied are reset, so the next instance of the same rule reuses
//! warm pages instead of faulting in new ones. Nothing survives from one
//! instance to the next: a reset slot reads exactly as the module's image.
//!
//! Memory slots are reserved address space, not resident memory. The counts
//! below cover the most instances that can be live at once: one per running
//! evaluation, of which the server allows at most
//! [`MAX_CONCURRENT_EVALUATIONS`], with room to spare for rule loading and
//! the library used from other threads. Each running instance also takes
//! one of the pool's stacks, which rules run on as futures.
//!
//! Where the process may not reserve that much address space (`ulimit -v`),
//! instances are allocated on demand instead, each with a small reservation
//! that grows with the memory, so that many still fit under the limit.

use wasmtime::{Config, Enabled, PoolingAllocationConfig};

use crate::limits::MAX_MEMORY_BYTES;
use crate::rule_state::MAX_TABLE_ELEMENTS;

/// Component instances live at once.
const COMPONENT_INSTANCES: u32 = 1000;

/// The most evaluations a server may run at once: half the pool, so that
/// reloads and library callers always find instances free.
pub const MAX_CONCURRENT_EVALUATIONS: usize = COMPONENT_INSTANCES as usize / 2;

/// Core instances one rule may have. A Rust, JavaScript or C rule has 3, a
/// Python rule about 40. Without a bound per rule, one rule could take the
/// whole pool and leave every other rule without instances.
const CORE_INSTANCES_PER_RULE: u32 = 100;

/// Linear memories one rule may have; rules built by the supported
/// toolchains have one, a rule composed of two components two.
const MEMORIES_PER_RULE: u32 = 2;

/// Tables one rule may have; rules built by the supported toolchains have
/// two.
const TABLES_PER_RULE: u32 = 4;

/// Core instances live at once, enough for every component instance to
/// have its most; these are counted, not reserved.
const CORE_INSTANCES: u32 = COMPONENT_INSTANCES * CORE_INSTANCES_PER_RULE;

/// Linear memories live at once, enough for every component instance to
/// have its most.
const MEMORIES: u32 = COMPONENT_INSTANCES * MEMORIES_PER_RULE;

/// Tables live at once, enough for every component instance to have its
/// most.
const TABLES: u32 = COMPONENT_INSTANCES * TABLES_PER_RULE;

/// Address space the pool needs: a 4 GiB slot per memory, and room for the
/// rest of the process (tables, stacks, code, heap).
pub const ADDRESS_SPACE_NEEDED: u64 = MEMORIES as u64 * (4 << 30) + (64 << 30);

/// Address space an on-demand memory reserves beyond its current size
/// before it must move to grow.
const ON_DEMAND_GROWTH_RESERVATION: u64 = 32 << 20;

/// Bytes of each memory slot kept mapped after its instance is dropped,
/// where the kernel can tell which pages an instance dirtied (the
/// `PAGEMAP_SCAN` ioctl of Linux 6.7 and later): only those are reset, and
/// 4 MiB covers a Rust rule's whole memory, so its next instance takes no
/// page faults. Pages beyond it are released to the kernel.
const MEMORY_KEEP_RESIDENT: usize = 4 << 20;

/// Bytes of each table slot kept mapped after its instance is dropped.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// The pool the sandbox's engine allocates instances from.
pub fn instance_pool() -> PoolingAllocationConfig {
    // Without the ioctl, keeping pages resident means zeroing all of them on
    // every drop, which costs more than faulting the few used ones back in.
    let dirty_pages_known = PoolingAllocationConfig::is_pagemap_scan_available();
    let keep_resident = |bytes| if dirty_pages_known { bytes } else { 0 };
    tracing::debug!(dirty_pages_known, "sizing the instance pool");
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(COMPONENT_INSTANCES)
        .total_stacks(COMPONENT_INSTANCES)
        .total_core_instances(CORE_INSTANCES)
        .total_memories(MEMORIES)
        .total_tables(TABLES)
        .max_core_instances_per_component(CORE_INSTANCES_PER_RULE)
        .max_memories_per_component(MEMORIES_PER_RULE)
        .max_tables_per_component(TABLES_PER_RULE)
        .max_memory_size(MAX_MEMORY_BYTES)
        .table_elements(MAX_TABLE_ELEMENTS)
        .linear_memory_keep_resident(keep_resident(MEMORY_KEEP_RESIDENT))
        .table_keep_resident(keep_resident(TABLE_KEEP_RESIDENT))
        .pagemap_scan(if dirty_pages_known {
            Enabled::Yes
        } else {
            Enabled::No
        });
    pool
}

/// Sets `config` up to allocate each instance when it is created, reserving
/// little address space per memory; memories then carry explicit bounds
/// checks and move when they outgrow their reservation.
pub fn allocate_on_demand(config: &mut Config) {
    config
        .allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand)
        .memory_reservation(0)
        .memory_reservation_for_growth(ON_DEMAND_GROWTH_RESERVATION)
        .memory_guard_size(0);
}

/// The process's address-space limit in bytes (`ulimit -v`), if it has one
/// and the system reports it.
pub fn address_space_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max address space"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
