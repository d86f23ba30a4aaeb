//! Memory and table caps of one check, remembering what was refused so the
//! check's error can say exactly which limit it hit.

use crate::limits::Limits;
use crate::units::format_size;

/// Raised (as a trap) when a check grows memory past its cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded: the check tried to grow its memory to {} but the limit is {} (--memory-limit)", format_size(*.desired), format_size(*.limit))]
pub struct MemoryLimitExceeded {
    /// All the check's linear memories together, had the growth happened.
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
    /// Bytes of every linear memory of the check so far: the cap is on
    /// their sum, since a component may have several memories (up to
    /// `memories`), and each one under the cap could add up to many times
    /// it.
    memory_used: u64,
    table_elements: usize,
    instances: usize,
    tables: usize,
    memories: usize,
}

impl Limiter {
    pub fn new(limits: &Limits) -> Limiter {
        Limiter {
            memory_bytes: limits.memory_bytes,
            memory_used: 0,
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
    //
    // wasmtime asks here for each memory it creates too (`current` 0,
    // `desired` its initial size), so the sum counts every memory from the
    // start. Memories live as long as the store, one check, so it only
    // grows.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the memory's own maximum wasmtime refuses the growth after
        // asking; refused here, it is not counted as if it had happened.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let growth = (desired as u64).saturating_sub(current as u64);
        let total = self.memory_used.saturating_add(growth);
        if total > self.memory_bytes {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                desired: total,
                limit: self.memory_bytes,
            }));
        }
        // Should the system then fail to provide it, the sum stays too high
        // (`memory_grow_failed` does not say which growth failed): it errs
        // toward the cap, never past it.
        self.memory_used = total;
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

#[cfg(test)]
mod tests {
    use wasmtime::{Engine, Instance, Module, ResourceLimiter as _, Store};

    use super::*;

    const MIB: u64 = 1 << 20;
    /// Pages of 64 KiB.
    const PAGES_PER_MIB: u64 = 16;

    /// A module with two memories of `initial` MiB each, and `grow`, which
    /// grows one of them (0 or 1) by some MiB.
    fn two_memories(initial: u64) -> String {
        let pages = initial * PAGES_PER_MIB;
        format!(
            r#"(module
                (memory $a {pages})
                (memory $b {pages})
                (func (export "grow") (param $which i32) (param $mib i32) (result i32)
                    (if (result i32) (local.get $which)
                        (then (memory.grow $b (i32.mul (local.get $mib) (i32.const {PAGES_PER_MIB}))))
                        (else (memory.grow $a (i32.mul (local.get $mib) (i32.const {PAGES_PER_MIB})))))))"#
        )
    }

    /// The check's engine (with and without the pooling allocator) and a
    /// store limited to 32 MiB of memory, as a check's is.
    fn stores() -> Vec<Store<Limiter>> {
        let limits = Limits {
            memory_bytes: 32 * MIB,
            ..Limits::default()
        };
        [None, Some(1)]
            .into_iter()
            .map(|slots| {
                let engine = Engine::new(&crate::pooling::config(&limits, slots)).unwrap();
                let mut store = Store::new(&engine, Limiter::new(&limits));
                store.limiter(|limiter| limiter);
                // No thread advances the epoch here: any deadline will do.
                store.set_epoch_deadline(1);
                store
            })
            .collect()
    }

    fn exceeded(error: &wasmtime::Error) -> &MemoryLimitExceeded {
        error
            .downcast_ref::<MemoryLimitExceeded>()
            .unwrap_or_else(|| panic!("not the memory limit: {error:#}"))
    }

    #[test]
    fn the_cap_holds_for_all_memories_together() {
        for mut store in stores() {
            let module =
                Module::new(store.engine(), wat::parse_str(two_memories(1)).unwrap()).unwrap();
            let instance = Instance::new(&mut store, &module, &[]).unwrap();
            let grow = instance
                .get_typed_func::<(i32, i32), i32>(&mut store, "grow")
                .unwrap();
            // 1 + 1 MiB, then 1 + 20 MiB: 22 MiB in all.
            assert_eq!(grow.call(&mut store, (0, 20)).unwrap(), 16);
            // Each memory would stay under 32 MiB, the two together not.
            let error = grow.call(&mut store, (1, 20)).unwrap_err();
            let exceeded = exceeded(&error);
            assert_eq!((exceeded.desired, exceeded.limit), (42 * MIB, 32 * MIB));
            // What still fits is granted.
            assert_eq!(grow.call(&mut store, (1, 10)).unwrap(), 16);
        }
    }

    #[test]
    fn memories_count_from_their_creation() {
        for mut store in stores() {
            let module =
                Module::new(store.engine(), wat::parse_str(two_memories(20)).unwrap()).unwrap();
            let error = Instance::new(&mut store, &module, &[]).unwrap_err();
            let exceeded = exceeded(&error);
            assert_eq!((exceeded.desired, exceeded.limit), (40 * MIB, 32 * MIB));
        }
    }

    /// A Rust policy is a component of several core modules, each
    /// instance with a memory of its own: the cap is for them all.
    #[test]
    fn the_cap_holds_across_the_core_instances_of_a_component() {
        let pages = 20 * PAGES_PER_MIB;
        let text = format!(
            "(component
                (core module $m (memory {pages}))
                (core instance (instantiate $m))
                (core instance (instantiate $m)))"
        );
        for mut store in stores() {
            let engine = store.engine().clone();
            let component =
                wasmtime::component::Component::new(&engine, wat::parse_str(&text).unwrap())
                    .unwrap();
            let linker = wasmtime::component::Linker::<Limiter>::new(&engine);
            let error = linker.instantiate(&mut store, &component).unwrap_err();
            let exceeded = exceeded(&error);
            // 20 MiB each would fit; the second brings the check to 40.
            assert_eq!((exceeded.desired, exceeded.limit), (40 * MIB, 32 * MIB));
        }
    }

    #[test]
    fn growth_past_a_memory_maximum_is_refused_without_counting() {
        let mut limiter = Limiter::new(&Limits {
            memory_bytes: 32 * MIB,
            ..Limits::default()
        });
        let mib = |n: u64| usize::try_from(n * MIB).unwrap();
        assert!(limiter.memory_growing(0, mib(1), Some(mib(2))).unwrap());
        for _ in 0..100 {
            assert!(
                !limiter
                    .memory_growing(mib(1), mib(4), Some(mib(2)))
                    .unwrap()
            );
        }
        assert!(limiter.memory_growing(0, mib(31), None).unwrap());
        assert!(limiter.memory_growing(mib(31), mib(32), None).is_err());
    }
}
