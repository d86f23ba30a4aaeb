//! Per-check overhead: what gate adds around a check that does no I/O.
//!
//! - `check/run`: `Runtime::run` of a one-check policy, as `gate run` does
//!   it: a task, a fresh store, instantiation from the pre-linked
//!   component, the `run-check` call, the report;
//! - `check/instantiate`: a fresh store and instance, dropped;
//! - `check/instantiate-call`: a fresh store and instance, and `run-check`
//!   (gate never calls an instance twice: each check gets a fresh one);
//! - `load/cached` and `load/compile`: loading the policy with and without
//!   the compile cache;
//! - `rules/gate`: a check judging 20 metric values against thresholds,
//!   compared with regorus by `bench/compare.sh`.
//!
//! Each with the pooling allocator and without. Needs the bench guest:
//! `cargo xtask test` builds it (or point
//! `GATE_BENCH_GUEST` at `gate_policy_bench.wasm`).

mod setup;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gate::cli::Pooling;
use setup::{guest, run_passing, setup, suite};

/// Threshold rules over 20 metric values, all within their limits: the
/// policy side of the comparison with regorus (`bench/benches/regorus.rs`
/// evaluates the same rules and values).
fn rules(c: &mut Criterion) {
    let mut params = suite("rules");
    for i in 0..20 {
        params.push((format!("m{i}"), format!("{}", 10.0 + i as f64)));
        params.push((format!("max{i}"), format!("{}", 100.0 + i as f64)));
    }
    let s = setup(Pooling::On, None, &params, None);
    let mut group = c.benchmark_group("rules");
    group.bench_function("gate", |b| b.iter(|| black_box(run_passing(&s))));
    group.finish();
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

fn per_check(c: &mut Criterion) {
    let setups = [("pooling", Pooling::On), ("on-demand", Pooling::Off)]
        .map(|(label, pooling)| (label, setup(pooling, None, &suite("one"), None)));
    let mut group = c.benchmark_group("check");
    for (label, s) in &setups {
        group.bench_function(format!("run/{label}"), |b| {
            b.iter(|| black_box(run_passing(s)))
        });

        group.bench_function(format!("instantiate/{label}"), |b| {
            b.iter(|| {
                s.tokio.block_on(async {
                    let mut store = s.runtime.store(&s.session, deadline());
                    let instance = s.policy.pre().instantiate_async(&mut store).await.unwrap();
                    black_box((instance, store))
                })
            })
        });

        group.bench_function(format!("instantiate-call/{label}"), |b| {
            b.iter(|| {
                s.tokio.block_on(async {
                    let mut store = s.runtime.store(&s.session, deadline());
                    let instance = s.policy.pre().instantiate_async(&mut store).await.unwrap();
                    let result = instance
                        .gate_policy_checks()
                        .call_run_check(&mut store, "noop")
                        .await
                        .unwrap();
                    black_box(result)
                })
            })
        });
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("gate-bench-cache-{}", std::process::id()));
    let s = setup(Pooling::Off, Some(dir.clone()), &suite("one"), None);
    let uncached = setup(Pooling::Off, None, &suite("one"), None);
    let mut group = c.benchmark_group("load");
    group.bench_function("cached", |b| {
        b.iter(|| {
            black_box(
                s.tokio
                    .block_on(s.runtime.load(&guest(), &s.session))
                    .unwrap(),
            )
        })
    });
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter(|| {
            black_box(
                uncached
                    .tokio
                    .block_on(uncached.runtime.load(&guest(), &uncached.session))
                    .unwrap(),
            )
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, per_check, rules, load);
criterion_main!(benches);
