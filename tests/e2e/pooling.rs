//! The pooling allocator changes how memory is allocated, never what a
//! check is allowed or how it ends.

use gate_e2e::{Gate, stack};

/// Each check of the hostile policy as (name, outcome, error kind).
fn outcomes(pooling: &str) -> Vec<(String, String, String)> {
    let stack = stack();
    let out = Gate::policies(&["hostile"])
        .target(&stack.url())
        .json()
        .args(["--timeout", "2s", "--memory-limit", "32MiB"])
        .args(["--pooling", pooling, "--no-cache", "--jobs", "4"])
        .run();
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
    let pooled = outcomes("on");
    let on_demand = outcomes("off");
    assert_eq!(pooled, on_demand);
    let hog = pooled.iter().find(|(name, ..)| name == "hog").unwrap();
    assert_eq!(hog.2, "resource-limit", "the memory cap holds in the pool");
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
