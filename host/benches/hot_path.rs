//! The per-check hot path under callgrind (`bench/callgrind.sh`): runs the
//! one-check no-I/O policy N times through `Runtime::run`, as `gate run`
//! runs a check (N is the first numeric argument, default 1000).
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
    let s = setup::setup(pooling, None, &setup::suite("one"));
    for _ in 0..runs {
        std::hint::black_box(setup::run_passing(&s));
    }
}
