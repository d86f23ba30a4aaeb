//! Memory and table caps of one check, remembering what was refused so the
//! check's error can say exactly which limit it hit.

use crate::limits::Limits;
use crate::units::format_size;

/// Raised (as a trap) when a check grows memory past its cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded: the check tried to grow its memory to {} but the limit is {} (--memory-limit)", format_size(*.desired), format_size(*.limit))]
pub struct MemoryLimitExceeded {
    pub desired: u64,
    pub limit: u64,
}

/// Raised when a table grows past its cap.
#[derive(Debug, thiserror::Error)]
#[error(
    "table limit exceeded: the check tried to grow a table to {desired} elements but the limit is {limit}"
)]
pub struct TableLimitExceeded {
    pub desired: usize,
    pub limit: usize,
}

pub struct Limiter {
    memory_bytes: u64,
    table_elements: usize,
    instances: usize,
    tables: usize,
    memories: usize,
}

impl Limiter {
    pub fn new(limits: &Limits) -> Limiter {
        Limiter {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            instances: limits.instances,
            tables: limits.tables,
            memories: limits.memories,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    // Refusing with an error (rather than `Ok(false)`) traps at once: a Rust
    // guest told "no" by memory.grow aborts with a bare `unreachable`, which
    // would hide the cause.
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        if desired > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                desired,
                limit: self.memory_bytes,
            }));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            return Err(wasmtime::Error::new(TableLimitExceeded {
                desired,
                limit: self.table_elements,
            }));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}
