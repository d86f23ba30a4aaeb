//! The engine and its instance allocator.
//!
//! With pooling, wasmtime reserves address space for every check that may
//! run at once when the engine is made, and each check's instance reuses a
//! slot instead of mapping fresh memory and tables: instantiating and
//! dropping a check costs about half (see BENCHMARKS.md). The price is a
//! large virtual reservation (about 4 GiB of address space per linear
//! memory slot, none of it resident), which a `ulimit -v` may refuse.
//!
//! `--pooling auto` (the default) pools when the process runs checks
//! (`gate run`, `gate watch`) and falls back to on-demand allocation when
//! the reservation is refused; describing a policy (`gate inspect`,
//! `gate config check`) instantiates once per policy, where a pool would
//! not pay for itself.

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

const KEEP_RESIDENT: usize = 1 << 20;

use crate::cli::Pooling;
use crate::limits::Limits;

/// The engine for checks run under `limits`, `checks_at_once` at most at a
/// time (`None`: no check runs, policies are only described).
pub fn engine(
    limits: &Limits,
    pooling: Pooling,
    checks_at_once: Option<usize>,
) -> anyhow::Result<Engine> {
    let slots = match (pooling, checks_at_once) {
        (Pooling::Off, _) | (Pooling::Auto, None) => None,
        (Pooling::On | Pooling::Auto, n) => Some(n.unwrap_or(1).max(1)),
    };
    if let Some(slots) = slots {
        match Engine::new(&config(limits, Some(slots))) {
            Ok(engine) => {
                tracing::debug!(slots, "pooling allocator on");
                return Ok(engine);
            }
            Err(e) if pooling == Pooling::Auto => {
                tracing::debug!("pooling allocator unavailable ({e:#}); allocating on demand");
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "cannot reserve memory for the pooling allocator (--pooling on): {e:#}; \
                     use --pooling off"
                ));
            }
        }
    }
    Ok(Engine::new(&config(limits, None))?)
}

/// The engine's settings; with `pool_slots`, a pool sized for that many
/// instances, each allowed exactly what `limits` allows a check.
pub fn config(limits: &Limits, pool_slots: Option<usize>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(limits.wasm_stack_bytes);
    if let Some(slots) = pool_slots {
        let slots = u32::try_from(slots).unwrap_or(u32::MAX);
        let per = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_stacks(slots)
            .max_core_instances_per_component(per(limits.instances))
            .total_core_instances(slots.saturating_mul(per(limits.instances)))
            .max_memories_per_component(per(limits.memories))
            .max_memories_per_module(per(limits.memories))
            .total_memories(slots.saturating_mul(per(limits.memories)))
            .max_tables_per_component(per(limits.tables))
            .max_tables_per_module(per(limits.tables))
            .total_tables(slots.saturating_mul(per(limits.tables)))
            .table_elements(limits.table_elements)
            .max_memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX))
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}
