//! Benchmark fixture. `--param suite=…` picks the checks it declares:
//!
//! - (none): five checks that do nothing but pass, the no-I/O policy of the
//!   cold-start comparison;
//! - `one`: one such check, for the per-check overhead;
//! - `http`: fifty checks, each `GET /api/v1/products` answering 200, the
//!   smoke suite compared with a native client and with Hurl;
//! - `rules`: one check judging metric values (`--param m0=…` to `m19=…`)
//!   against thresholds (`max0=…` to `max19=…`), compared with regorus.

use gate_sdk::http::Request;
use gate_sdk::{Capability, Check, CheckResult, Measurement, Policy, PolicyKind, Result, context};

const HTTP_CHECKS: [&str; 50] = [
    "get-00", "get-01", "get-02", "get-03", "get-04", "get-05", "get-06", "get-07", "get-08",
    "get-09", "get-10", "get-11", "get-12", "get-13", "get-14", "get-15", "get-16", "get-17",
    "get-18", "get-19", "get-20", "get-21", "get-22", "get-23", "get-24", "get-25", "get-26",
    "get-27", "get-28", "get-29", "get-30", "get-31", "get-32", "get-33", "get-34", "get-35",
    "get-36", "get-37", "get-38", "get-39", "get-40", "get-41", "get-42", "get-43", "get-44",
    "get-45", "get-46", "get-47", "get-48", "get-49",
];

/// Metric values the `rules` check reads.
pub const RULES: usize = 20;
const METRICS: [&str; RULES] = [
    "m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12", "m13", "m14",
    "m15", "m16", "m17", "m18", "m19",
];
const MAXIMA: [&str; RULES] = [
    "max0", "max1", "max2", "max3", "max4", "max5", "max6", "max7", "max8", "max9", "max10",
    "max11", "max12", "max13", "max14", "max15", "max16", "max17", "max18", "max19",
];

fn policy() -> Policy {
    let policy = Policy::new("bench", PolicyKind::Gate).version(env!("CARGO_PKG_VERSION"));
    match context::param("suite").as_deref() {
        Some("one") => policy.check(Check::new("noop", "passes without I/O", noop)),
        Some("http") => HTTP_CHECKS.iter().fold(policy, |policy, name| {
            policy.check(
                Check::new(name, "GET /api/v1/products answers 200", products)
                    .needs(Capability::Http),
            )
        }),
        Some("rules") => policy.check(Check::new(
            "rules",
            "every metric mN is below its maxN",
            rules,
        )),
        _ => ["noop-1", "noop-2", "noop-3", "noop-4", "noop-5"]
            .iter()
            .fold(policy, |policy, name| {
                policy.check(Check::new(name, "passes without I/O", noop))
            }),
    }
}

gate_sdk::export_policy!(policy);

fn noop() -> Result<CheckResult> {
    Ok(CheckResult::pass("ok"))
}

fn products() -> Result<CheckResult> {
    Request::get("/api/v1/products")
        .send()?
        .expect_status(200)?;
    Ok(CheckResult::pass("200"))
}

/// Fails naming every metric at or over its maximum.
fn rules() -> Result<CheckResult> {
    let mut over = Vec::new();
    let mut measurements = Vec::new();
    for (metric, max) in METRICS.iter().zip(MAXIMA) {
        let value: f64 = context::param_or(metric, f64::NAN)?;
        let limit: f64 = context::param_or(max, f64::INFINITY)?;
        // NaN (not given) is never below a limit: fail closed.
        let within = value < limit;
        if !within {
            over.push(*metric);
        }
        measurements.push(Measurement::new(*metric, value, ""));
    }
    let result = if over.is_empty() {
        CheckResult::pass(format!("{RULES} metrics within their limits"))
    } else {
        CheckResult::fail(format!("over their limits: {}", over.join(", ")))
    };
    Ok(measurements.into_iter().fold(result, CheckResult::with))
}
