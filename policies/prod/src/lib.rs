//! Promotion gate for production (`prod`, kind gate).
//!
//! Every check is blocking. The first three need HTTP to the target; the
//! `metrics-*` ones need Prometheus (`--prometheus URL`) and are `skipped`
//! without it (failed with `--strict`).
//!
//! | check        | verifies |
//! |--------------|----------|
//! | `ready`      | `GET /ready` answers 200 |
//! | `latency`    | the mean latency of `samples` `GET latency_path` is below `max_latency_ms` (p95 reported too) |
//! | `error-rate` | of `samples` `GET latency_path`, the share that failed (no response, or status ≥ 500) is below `max_error_rate` |
//! | `metrics-error-rate` | Prometheus: the 5xx share of `http_requests_total` over `window` is below `max_error_rate` (needs metrics) |
//! | `metrics-p95` | Prometheus: p95 of `http_request_duration_seconds` over `window` is below `max_p95_ms` (needs metrics) |
//!
//! # Parameters
//!
//! Given with `--param name=value`; a value that does not parse or is out of
//! range makes the check that reads it report an error.
//!
//! | name             | default            | meaning |
//! |------------------|--------------------|---------|
//! | `samples`        | `20`               | requests per sampling check (at least 1) |
//! | `latency_path`   | `/api/v1/products` | path (or URL) sampled by `latency` and `error-rate` |
//! | `max_latency_ms` | `500`              | mean latency must be below this, in ms (> 0) |
//! | `max_error_rate` | `0.01`             | error rate must be below this, from 0 to 1 (HTTP and Prometheus checks) |
//! | `max_p95_ms`     | `500`              | Prometheus p95 latency must be below this, in ms (> 0) |
//! | `window`         | `5m`               | Prometheus rate window (`30s`, `5m`, …) |

use std::time::Duration;

use gate_sdk::http::{self, Request, Response, Samples};
use gate_sdk::metrics;
use gate_sdk::{
    Capability, Check, CheckResult, Error, Limit, Measurement, Policy, PolicyKind, Result, context,
    export_policy, judge,
};

fn policy() -> Policy {
    Policy::new("prod", PolicyKind::Gate)
        .version(env!("CARGO_PKG_VERSION"))
        .check(Check::new("ready", "GET /ready answers 200", ready).needs(Capability::Http))
        .check(
            Check::new(
                "latency",
                "mean latency of `latency_path` is below `max_latency_ms`",
                latency,
            )
            .needs(Capability::Http),
        )
        .check(
            Check::new(
                "error-rate",
                "share of failed requests to `latency_path` is below `max_error_rate`",
                error_rate,
            )
            .needs(Capability::Http),
        )
        .check(
            Check::new(
                "metrics-error-rate",
                "Prometheus: 5xx share of requests over `window` is below `max_error_rate`",
                metrics_error_rate,
            )
            .needs(Capability::Metrics),
        )
        .check(
            Check::new(
                "metrics-p95",
                "Prometheus: p95 request latency over `window` is below `max_p95_ms`",
                metrics_p95,
            )
            .needs(Capability::Metrics),
        )
}

export_policy!(policy);

fn ready() -> Result<CheckResult> {
    Ok(ready_verdict(&http::get("/ready")?))
}

fn latency() -> Result<CheckResult> {
    // Read every parameter before sending anything, so a typo costs no requests.
    let samples = samples_param()?;
    let path = latency_path()?;
    let max_ms = max_latency_ms()?;
    let measured = http::sample(samples, |_| Request::get(&path))?;
    Ok(latency_verdict(&path, &measured, max_ms))
}

fn error_rate() -> Result<CheckResult> {
    let samples = samples_param()?;
    let path = latency_path()?;
    let max_rate = max_error_rate()?;
    let measured = http::sample(samples, |_| Request::get(&path))?;
    Ok(error_rate_verdict(&measured, max_rate))
}

fn metrics_error_rate() -> Result<CheckResult> {
    let max_rate = max_error_rate()?;
    let promql = metrics::http_error_ratio(&window()?);
    metrics::measure("error_rate_5xx", &promql, "ratio", Limit::Below(max_rate))
}

fn metrics_p95() -> Result<CheckResult> {
    let max_ms = positive_ms("max_p95_ms", 500.0)?;
    let promql = metrics::http_latency_quantile_ms(0.95, &window()?);
    metrics::measure("latency_p95", &promql, "ms", Limit::Below(max_ms))
}

fn window() -> Result<String> {
    let window = context::param_duration("window", Duration::from_secs(300))?;
    Ok(metrics::promql_duration(window))
}

fn ready_verdict(response: &Response) -> CheckResult {
    let elapsed = Measurement::new("elapsed", response.elapsed_ms(), "ms");
    if response.status() == 200 {
        CheckResult::pass(format!("`{}` answered 200", response.url())).with(elapsed)
    } else {
        // The status error's text already has the status and the body's start.
        CheckResult::fail(response.status_error("200").to_string()).with(elapsed)
    }
}

fn latency_verdict(path: &str, samples: &Samples, max_ms: f64) -> CheckResult {
    let completed = samples.latencies_ms().len();
    if completed == 0 {
        // Nothing answered: there is no latency to judge, and a gate must not
        // let an unreachable service through.
        return CheckResult::fail(format!(
            "no response from `{path}` in {} requests{}",
            samples.count(),
            failures_suffix(samples)
        ));
    }
    let mut result = judge("latency_avg", samples.mean_ms(), "ms", Limit::Below(max_ms)).with(
        Measurement::new("latency_p95", samples.percentile_ms(95.0), "ms"),
    );
    result.message = format!("{} over {completed} responses", result.message);
    result
}

fn error_rate_verdict(samples: &Samples, max_rate: f64) -> CheckResult {
    let mut result = judge(
        "error_rate",
        samples.error_rate(),
        "ratio",
        Limit::Below(max_rate),
    );
    result.message = format!(
        "{}: {} of {} requests failed{}",
        result.message,
        samples.errors(),
        samples.count(),
        failures_suffix(samples)
    );
    result
}

fn failures_suffix(samples: &Samples) -> String {
    if samples.first_failures().is_empty() {
        String::new()
    } else {
        format!("; first failures: {}", samples.first_failures().join("; "))
    }
}

fn samples_param() -> Result<u32> {
    let samples = context::param_or("samples", 20u32)?;
    check_param("samples", samples, samples >= 1, "must be at least 1")
}

fn latency_path() -> Result<String> {
    let path = context::param_or("latency_path", "/api/v1/products".to_owned())?;
    let ok = !path.is_empty();
    check_param("latency_path", path, ok, "must not be empty")
}

fn max_latency_ms() -> Result<f64> {
    positive_ms("max_latency_ms", 500.0)
}

fn positive_ms(name: &str, default: f64) -> Result<f64> {
    let max = context::param_or(name, default)?;
    check_param(
        name,
        max,
        max.is_finite() && max > 0.0,
        "must be a number of milliseconds above 0",
    )
}

fn max_error_rate() -> Result<f64> {
    let max = context::param_or("max_error_rate", 0.01)?;
    check_param(
        "max_error_rate",
        max,
        (0.0..=1.0).contains(&max),
        "must be a ratio from 0 to 1, e.g. 0.01 for 1%",
    )
}

/// `value` if `ok`, else the same error as a value that does not parse.
fn check_param<T: ToString>(name: &str, value: T, ok: bool, reason: &str) -> Result<T> {
    if ok {
        Ok(value)
    } else {
        Err(Error::Param {
            name: name.to_owned(),
            value: value.to_string(),
            reason: reason.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_sdk::Outcome;
    use gate_sdk::http::HttpError;

    fn samples(latencies: &[f64], failures: usize) -> Samples {
        let mut samples = Samples::new();
        for &ms in latencies {
            samples.record_response("GET /p", &Response::new("/p", 200, vec![], "[]", ms));
        }
        for _ in 0..failures {
            samples.record_failure("GET /p", &HttpError::Connect("refused".into()));
        }
        samples
    }

    #[test]
    fn describes_blocking_http_and_metrics_checks() {
        let policy = policy();
        assert_eq!(policy.name(), "prod");
        assert_eq!(policy.kind(), PolicyKind::Gate);
        let names: Vec<_> = policy.checks().iter().map(Check::name).collect();
        assert_eq!(
            names,
            [
                "ready",
                "latency",
                "error-rate",
                "metrics-error-rate",
                "metrics-p95"
            ]
        );
        for check in policy.checks() {
            assert!(check.is_blocking());
            let expected = if check.name().starts_with("metrics-") {
                Capability::Metrics
            } else {
                Capability::Http
            };
            assert_eq!(check.needed(), [expected]);
        }
    }

    #[test]
    fn ready_requires_200() {
        let ok = ready_verdict(&Response::new("/ready", 200, vec![], "", 3.0));
        assert_eq!(ok.outcome, Outcome::Pass);
        let down = ready_verdict(&Response::new("/ready", 503, vec![], "warming up", 3.0));
        assert_eq!(down.outcome, Outcome::Fail);
        assert!(down.message.contains("503"), "{}", down.message);
        assert!(down.message.contains("warming up"), "{}", down.message);
    }

    #[test]
    fn latency_judges_the_mean() {
        let fast = latency_verdict("/p", &samples(&[100.0, 200.0], 0), 500.0);
        assert_eq!(fast.outcome, Outcome::Pass);
        assert_eq!(fast.measurements[0].name, "latency_avg");
        assert_eq!(fast.measurements[0].value, 150.0);
        assert_eq!(fast.measurements[1].name, "latency_p95");
        assert_eq!(fast.measurements[1].threshold, None);

        let slow = latency_verdict("/p", &samples(&[400.0, 800.0], 0), 500.0);
        assert_eq!(slow.outcome, Outcome::Fail);
        assert!(slow.message.contains("600.0 ms"), "{}", slow.message);
        assert!(slow.message.contains("< 500 ms"), "{}", slow.message);
    }

    #[test]
    fn latency_without_responses_fails() {
        let none = latency_verdict("/p", &samples(&[], 3), 500.0);
        assert_eq!(none.outcome, Outcome::Fail);
        assert!(
            none.message.contains("GET /p → connect: refused"),
            "{}",
            none.message
        );
    }

    #[test]
    fn error_rate_reports_counts_and_failures() {
        let bad = error_rate_verdict(&samples(&[10.0; 18], 2), 0.01);
        assert_eq!(bad.outcome, Outcome::Fail);
        assert!(bad.message.contains("0.1 ratio"), "{}", bad.message);
        assert!(bad.message.contains("< 0.01"), "{}", bad.message);
        assert!(
            bad.message.contains("2 of 20 requests failed"),
            "{}",
            bad.message
        );
        assert!(
            bad.message.contains("GET /p → connect: refused"),
            "{}",
            bad.message
        );

        let good = error_rate_verdict(&samples(&[10.0; 20], 0), 0.01);
        assert_eq!(good.outcome, Outcome::Pass);
        assert!(
            good.message.contains("0 of 20 requests failed"),
            "{}",
            good.message
        );
    }

    #[test]
    fn out_of_range_params_are_errors() {
        let error = check_param("samples", 0, false, "must be at least 1").unwrap_err();
        assert!(matches!(error, Error::Param { ref value, .. } if value == "0"));
        assert_eq!(check_param("samples", 5, true, "").unwrap(), 5);
    }
}
