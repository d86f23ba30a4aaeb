//! Benchmark fixture. `--param suite=…` picks the checks it declares:
//!
//! - (none): five checks that do nothing but pass, the no-I/O policy of the
//!   cold-start comparison;
//! - `one`: one such check, for the per-check overhead;
//! - `http`: fifty checks (`--param checks=N`: N, 0 to 1000), each
//!   `GET /api/v1/products` answering 200, the smoke suite compared with a
//!   native client and with Hurl;
//! - `rules`: one check judging metric values (`--param m0=…` to `m19=…`)
//!   against thresholds (`max0=…` to `max19=…`), compared with regorus.

use gate_sdk::http::Request;
use gate_sdk::{Capability, Check, CheckResult, Measurement, Policy, PolicyKind, Result, context};

/// Most checks the `http` suite declares (`--param checks=N`, default 50).
const MAX_HTTP_CHECKS: usize = 1000;

/// `get-000` … `get-999`, built at compile time: check names are
/// `&'static str`, and a policy of many checks must cost each instance no
/// more to declare than one of few (every check's instance builds the
/// policy anew).
static HTTP_NAMES: [[u8; 7]; MAX_HTTP_CHECKS] = {
    let mut names = [*b"get-000"; MAX_HTTP_CHECKS];
    let mut i = 0;
    while i < MAX_HTTP_CHECKS {
        names[i][4] = b'0' + (i / 100) as u8;
        names[i][5] = b'0' + (i / 10 % 10) as u8;
        names[i][6] = b'0' + (i % 10) as u8;
        i += 1;
    }
    names
};

fn http_name(i: usize) -> &'static str {
    std::str::from_utf8(&HTTP_NAMES[i]).expect("ASCII digits")
}

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
        Some("http") => {
            let count = context::param_or("checks", 50_usize).unwrap_or(usize::MAX);
            assert!(
                count <= MAX_HTTP_CHECKS,
                "--param checks must be a number from 0 to {MAX_HTTP_CHECKS}"
            );
            (0..count).fold(policy, |policy, i| {
                policy.check(
                    Check::new(http_name(i), "GET /api/v1/products answers 200", products)
                        .needs(Capability::Http),
                )
            })
        }
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
