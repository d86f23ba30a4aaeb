//! The per-check hot path under callgrind (`bench/callgrind.sh`): runs the
//! one-check no-I/O policy N times through `Runtime::run`, as `gate run`
//! runs a check (N is the first numeric argument, default 1000).
//!
//! With `GATE_BENCH_TARGET=URL` it runs the bench guest's fifty HTTP checks
//! (`GET /api/v1/products`, expecting 200) against that server instead,
//! one at a time, N times: the script starts the sample service in its own
//! process, so that the server's instructions are not counted as gate's.
//! `GATE_BENCH_CHECKS=C` declares C of them instead of fifty (0 to 1000),
//! for what a policy of many checks costs each of its instances.
//!
//! Callgrind counts instructions, not seconds, so the count is the same
//! on a busy machine: the script runs this with N and with 0 and divides
//! the difference by N, which leaves out loading and compiling.

mod setup;

use gate::cli::Pooling;

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1000);
    let pooling = match std::env::var("GATE_POOLING").as_deref() {
        Ok("off") => Pooling::Off,
        _ => Pooling::On,
    };
    let target = std::env::var("GATE_BENCH_TARGET").ok().map(|url| {
        url::Url::parse(&url).unwrap_or_else(|e| panic!("GATE_BENCH_TARGET `{url}`: {e}"))
    });
    let suite = if target.is_some() { "http" } else { "one" };
    let mut params = setup::suite(suite);
    if let Ok(checks) = std::env::var("GATE_BENCH_CHECKS") {
        params.push(("checks".to_owned(), checks));
    }
    let s = setup::setup(pooling, None, &params, target);
    if s.session.grants.target.is_some() {
        // Connections and the resolved name are made once, as in a real
        // run's first checks; the N runs then measure checks alone.
        setup::run_passing(&s);
    }
    for _ in 0..runs {
        std::hint::black_box(setup::run_passing(&s));
    }
}
