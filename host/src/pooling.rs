//! The engine and its instance allocator.
//!
//! With pooling, wasmtime reserves address space for every check that may
//! run at once when the engine is made, and each check's instance reuses a
//! slot instead of mapping fresh memory and tables. Slots stay resident:
//! the pages a check wrote are reset to the initial image with `memset`
//! (found with `PAGEMAP_SCAN` where the kernel has it), not `madvise`d
//! away, so the next check takes no page faults; see BENCHMARKS.md for
//! what each step saves. The price is a
//! large virtual reservation (about 4 GiB of address space per linear
//! memory slot, none of it resident), which a `ulimit -v` may refuse.
//!
//! `--pooling auto` (the default) pools when the process runs checks
//! (`gate run`, `gate watch`) and falls back to on-demand allocation when
//! the reservation is refused; describing a policy (`gate inspect`,
//! `gate config check`) instantiates once per policy, where a pool would
//! not pay for itself.

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of each linear memory and table kept resident between checks:
/// enough for what a Rust guest touches to run a check (its stack top,
/// data and a small heap). Only with `PAGEMAP_SCAN`, which finds the pages
/// a check wrote: without it wasmtime would `memset` the lowest megabyte
/// of every memory, most of it a stack the check never reached.
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
        let keep_resident = if has_pagemap_scan(&kernel_release()) {
            KEEP_RESIDENT
        } else {
            0
        };
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
            // A slot per memory, each as large as a check's whole cap; the
            // store's limiter holds the check's memories to the cap together.
            .max_memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX))
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(keep_resident)
            .table_keep_resident(keep_resident);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default()
}

/// Whether a Linux kernel of this release (`6.18.0-1-amd64`) has the
/// `PAGEMAP_SCAN` ioctl, new in 6.7.
fn has_pagemap_scan(release: &str) -> bool {
    let mut parts = release.trim().split(['.', '-']);
    let mut number = || parts.next().and_then(|p| p.parse::<u32>().ok());
    match (number(), number()) {
        (Some(major), Some(minor)) => (major, minor) >= (6, 7),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::has_pagemap_scan;

    #[test]
    fn pagemap_scan_from_kernel_6_7() {
        assert!(has_pagemap_scan("6.18.0-1-amd64\n"));
        assert!(has_pagemap_scan("6.7.0"));
        assert!(has_pagemap_scan("7.0.1"));
        assert!(!has_pagemap_scan("6.6.87-gke"));
        assert!(!has_pagemap_scan("5.15.0-91-generic"));
        assert!(!has_pagemap_scan(""));
        assert!(!has_pagemap_scan("not a release"));
    }
}
