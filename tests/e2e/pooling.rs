//! The pooling allocator changes how memory is allocated, and the number
//! of worker threads where checks run, never what a check is allowed or
//! how it ends.

use gate_e2e::{Faults, Gate, stack};

/// Each check of the hostile policy as (name, outcome, error kind), run
/// with `--pooling pooling` on `threads` worker threads (gate's default:
/// one).
fn outcomes(pooling: &str, threads: Option<&str>) -> Vec<(String, String, String)> {
    let stack = stack();
    let mut gate = Gate::policies(&["hostile"])
        .target(&stack.url())
        .json()
        .args(["--timeout", "2s", "--memory-limit", "32MiB"])
        .args(["--pooling", pooling, "--no-cache", "--jobs", "4"]);
    if let Some(threads) = threads {
        gate = gate.env("GATE_WORKER_THREADS", threads);
    }
    let out = gate.run();
    assert_eq!(out.code, 1, "hostile checks fail the gate closed");
    out.json()["policies"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
                c["error"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

#[test]
fn hostile_checks_end_alike_with_and_without_pooling() {
    let pooled = outcomes("on", None);
    let on_demand = outcomes("off", None);
    assert_eq!(pooled, on_demand);
    let hog = pooled.iter().find(|(name, ..)| name == "hog").unwrap();
    assert_eq!(hog.2, "resource-limit", "the memory cap holds in the pool");
}

#[test]
fn hostile_checks_end_alike_on_one_thread_and_on_four() {
    // On one thread a check that spins must yield to the others at every
    // epoch tick, and still be stopped at its deadline.
    let one = outcomes("on", None);
    let four = outcomes("on", Some("4"));
    assert_eq!(one, four);
    let find = |name: &str| one.iter().find(|(n, ..)| n == name).unwrap().clone();
    assert_eq!(find("spin").2, "deadline");
    assert_eq!(find("ok").1, "pass");
}

#[test]
fn a_bad_worker_thread_count_is_refused() {
    for bad in ["0", "257", "many"] {
        let out = Gate::policies(&["bench"])
            .env("GATE_WORKER_THREADS", bad)
            .run();
        assert_eq!(out.code, 2, "GATE_WORKER_THREADS={bad}");
        assert!(
            out.stderr.contains(&format!(
                "GATE_WORKER_THREADS must be a number from 1 to 256, not `{bad}`"
            )),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn checks_beyond_the_pool_wait_for_a_slot() {
    // 50 checks through 3 slots: each check waits for a free slot, none is
    // refused one.
    let stack = stack();
    let out = Gate::policies(&["bench"])
        .target(&stack.url())
        .json()
        .args(["--param", "suite=http", "--pooling", "on", "--jobs", "3"])
        .run();
    assert_eq!(out.code, 0);
    let checks = out.json()["policies"][0]["checks"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(checks.len(), 50);
    assert!(checks.iter().all(|c| c["outcome"] == "pass"));
    assert_eq!(stack.requests_served(), 50);
}

#[test]
fn against_a_slow_stack_jobs_checks_wait_at_once() {
    // gate starts the next check once the answers already in are handled;
    // with none in for 300 ms, that holds none back: 16 requests are out
    // together, and never more.
    let stack = stack();
    stack.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let out = Gate::policies(&["bench"])
        .target(&stack.url())
        .args(["--param", "suite=http", "--jobs", "16"])
        .run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert_eq!(stack.requests_served(), 50);
    assert_eq!(stack.most_requests_in_flight(), 16);
}
