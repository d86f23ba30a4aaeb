//! The result of a run, and the formats it is written in (one module each).

pub mod human;
pub mod json;

use std::fmt;

use serde::Serialize;

use crate::state::{HttpCall, LogLine};
use crate::verdict::Verdict;

/// Version of the JSON report's shape; bumped on any breaking change.
pub const SCHEMA: &str = "gate.report/v1";

/// How a check ended. The policy decides the first four; the host decides
/// `skipped` and `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    Inconclusive,
    Skipped,
    Error,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What went wrong when a check ended in `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The check ran past `--timeout`.
    Deadline,
    /// The check grew memory or a table past its cap.
    ResourceLimit,
    /// The check made more host calls than allowed.
    HostCallLimit,
    /// The guest panicked.
    Panic,
    /// The guest trapped (stack overflow, unreachable, bad memory access).
    Trap,
    /// `run-check` returned an error (e.g. the target was unreachable).
    Check,
    /// The host failed to run the check (a bug in gate, or instantiation).
    Host,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub name: String,
    /// `null` in JSON when not a finite number.
    pub value: f64,
    pub unit: String,
    pub threshold: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub name: String,
    pub description: String,
    pub blocking: bool,
    pub needs: Vec<String>,
    pub outcome: Outcome,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    pub measurements: Vec<Measurement>,
    pub duration_ms: f64,
    /// HTTP requests the check made, as the host saw them.
    pub calls: Vec<HttpCall>,
    pub log: Vec<LogLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub path: String,
    pub name: String,
    pub version: String,
    pub kind: String,
    pub sha256: String,
    pub wit_version: String,
    pub duration_ms: f64,
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub schema: &'static str,
    pub gate_version: &'static str,
    pub env: String,
    pub target: Option<String>,
    pub strict: bool,
    /// Start of the run, RFC 3339 in UTC.
    pub started_at: String,
    pub duration_ms: f64,
    pub policies: Vec<PolicyReport>,
    pub verdict: Verdict,
}

impl RunReport {
    pub fn checks(&self) -> impl Iterator<Item = (&PolicyReport, &CheckReport)> {
        self.policies
            .iter()
            .flat_map(|p| p.checks.iter().map(move |c| (p, c)))
    }
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Formats a number the way a person reads a measurement: no float noise.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == value.trunc() && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers() {
        assert_eq!(super::number(500.0), "500");
        assert_eq!(super::number(0.15), "0.15");
        assert_eq!(super::number(123.456789), "123.4568");
        assert_eq!(super::number(f64::NAN), "NaN");
    }
}
