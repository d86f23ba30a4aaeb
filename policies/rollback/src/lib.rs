//! Rollback trigger (`rollback`, kind trigger), run repeatedly during a bake
//! window after a prod deploy. Each check **fails** (roll back) only when its
//! condition held for the whole of its window, as an alerting rule would;
//! no data is `inconclusive`, never healthy.
//!
//! All checks are blocking and need Prometheus (`--prometheus URL`).
//!
//! | check        | fails when |
//! |--------------|------------|
//! | `error-rate` | the 5xx share stayed above `max_error_rate` for `error_window` |
//! | `p95`        | p95 latency stayed above `max_p95_ms` for `p95_window` |
//! | `down`       | `up{job="<job>"}` stayed 0 (the scrape failed: the service is down or unreachable) for `down_window` |
//!
//! # Parameters
//!
//! | name             | default          | meaning |
//! |------------------|------------------|---------|
//! | `max_error_rate` | `0.05`           | allowed 5xx share, from 0 to 1 |
//! | `error_window`   | `5m`             | how long the error rate must stay above it |
//! | `max_p95_ms`     | `2000`           | allowed p95 latency, in ms |
//! | `p95_window`     | `10m`            | how long p95 must stay above it |
//! | `down_window`    | `1m`             | how long the service must stay down |
//! | `rate_window`    | `1m`             | range of each `rate()` point |
//! | `job`            | `sample-service` | Prometheus job of the service |

use std::time::Duration;

use gate_sdk::{
    Capability, Check, CheckResult, Error, Limit, Policy, PolicyKind, Result, context,
    export_policy, metrics,
};

fn policy() -> Policy {
    let check =
        |name, description, run| Check::new(name, description, run).needs(Capability::Metrics);
    Policy::new("rollback", PolicyKind::Trigger)
        .version(env!("CARGO_PKG_VERSION"))
        .check(check(
            "error-rate",
            "5xx share above `max_error_rate` for `error_window`",
            error_rate,
        ))
        .check(check(
            "p95",
            "p95 latency above `max_p95_ms` for `p95_window`",
            p95,
        ))
        .check(check(
            "down",
            "service down (`up == 0`) for `down_window`",
            down,
        ))
}

export_policy!(policy);

fn error_rate() -> Result<CheckResult> {
    let max: f64 = context::param_or("max_error_rate", 0.05)?;
    if !(0.0..=1.0).contains(&max) {
        return Err(param_error(
            "max_error_rate",
            max,
            "must be a ratio from 0 to 1",
        ));
    }
    let window = context::param_duration("error_window", Duration::from_secs(300))?;
    let promql = metrics::http_error_ratio(&rate_window()?);
    metrics::sustained(
        "error_rate_5xx",
        &promql,
        "ratio",
        Limit::AtMost(max),
        window,
    )
}

fn p95() -> Result<CheckResult> {
    let max: f64 = context::param_or("max_p95_ms", 2000.0)?;
    if !(max.is_finite() && max > 0.0) {
        return Err(param_error(
            "max_p95_ms",
            max,
            "must be a number of milliseconds above 0",
        ));
    }
    let window = context::param_duration("p95_window", Duration::from_secs(600))?;
    let promql = metrics::http_latency_quantile_ms(0.95, &rate_window()?);
    metrics::sustained("latency_p95", &promql, "ms", Limit::AtMost(max), window)
}

fn down() -> Result<CheckResult> {
    let window = context::param_duration("down_window", Duration::from_secs(60))?;
    let promql = up_query(&job()?);
    metrics::sustained("up", &promql, "", Limit::AtLeast(1.0), window)
}

fn up_query(job: &str) -> String {
    format!(r#"max(up{{job="{job}"}})"#)
}

fn rate_window() -> Result<String> {
    Ok(metrics::promql_duration(context::param_duration(
        "rate_window",
        Duration::from_secs(60),
    )?))
}

/// The job name goes into a PromQL string literal: refuse what could break
/// out of it.
fn job() -> Result<String> {
    let job = context::param_or("job", "sample-service".to_owned())?;
    let ok = !job.is_empty()
        && job
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
    if ok {
        Ok(job)
    } else {
        Err(param_error("job", job, "letters, digits and -_.:/ only"))
    }
}

fn param_error(name: &str, value: impl ToString, reason: &str) -> Error {
    Error::Param {
        name: name.to_owned(),
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_three_blocking_metrics_checks() {
        let policy = policy();
        assert_eq!(policy.kind(), PolicyKind::Trigger);
        let names: Vec<_> = policy.checks().iter().map(Check::name).collect();
        assert_eq!(names, ["error-rate", "p95", "down"]);
        assert!(
            policy
                .checks()
                .iter()
                .all(|c| c.is_blocking() && c.needed() == [Capability::Metrics])
        );
    }

    #[test]
    fn up_query_names_the_job() {
        assert_eq!(up_query("api"), r#"max(up{job="api"})"#);
    }
}
