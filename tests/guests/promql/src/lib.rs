//! Test fixture: runs the PromQL given in `--param promql=…` through the
//! metrics capability, so tests can ask Prometheus anything.

use gate_sdk::{
    Capability, Check, CheckResult, Error, Limit, Policy, PolicyKind, Result, context,
    export_policy, metrics,
};

fn policy() -> Policy {
    Policy::new("promql", PolicyKind::Gate)
        .check(Check::new("query", "`promql` is below `max`", query).needs(Capability::Metrics))
        // Declares nothing, so it runs even when metrics is not granted and
        // meets the host's denial.
        .check(Check::new(
            "undeclared",
            "queries without declaring metrics",
            query,
        ))
}

export_policy!(policy);

fn query() -> Result<CheckResult> {
    let promql =
        context::param("promql").ok_or_else(|| Error::Other("give --param promql=…".into()))?;
    let max = context::param_or("max", 1.0)?;
    metrics::measure("value", &promql, "", Limit::Below(max))
}
