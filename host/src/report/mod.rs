//! The result of a run, and the formats it is written in (one module each).

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod progress;
pub mod tap;

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::state::{HttpCall, LogLine};
use crate::verdict::Verdict;

/// Version of the JSON report's shape; bumped on any breaking change.
pub const SCHEMA: &str = "gate.report/v1";

/// How a check ended. The policy decides the first four; the host decides
/// `skipped` and `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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

impl ErrorKind {
    /// The name the JSON report uses, e.g. `resource-limit`.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Deadline => "deadline",
            ErrorKind::ResourceLimit => "resource-limit",
            ErrorKind::HostCallLimit => "host-call-limit",
            ErrorKind::Panic => "panic",
            ErrorKind::Trap => "trap",
            ErrorKind::Check => "check",
            ErrorKind::Host => "host",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub name: String,
    /// `null` in JSON when not a finite number.
    pub value: f64,
    pub unit: String,
    pub threshold: Option<String>,
}

impl Measurement {
    /// `measured 0.031 > threshold 0.01 (error_rate, ratio)`: the value, how
    /// it compares with the bound, and what was measured.
    pub fn describe(&self) -> String {
        let what = if self.unit.is_empty() {
            self.name.clone()
        } else {
            format!("{}, {}", self.name, self.unit)
        };
        let value = number(self.value);
        match self.threshold.as_deref().map(str::trim) {
            None => format!("measured {value} ({what})"),
            Some(threshold) => match bound(threshold) {
                Some(bound) if self.value.is_finite() => {
                    let relation = if self.value > bound {
                        ">"
                    } else if self.value < bound {
                        "<"
                    } else {
                        "="
                    };
                    let mut shown = (value, number(bound));
                    // Two values that differ must not read as equal:
                    // `measured 500 > threshold 500` would contradict itself.
                    if relation != "=" && shown.0 == shown.1 {
                        shown = (exact(self.value), exact(bound));
                    }
                    format!(
                        "measured {} {relation} threshold {} ({what})",
                        shown.0, shown.1
                    )
                }
                _ => format!("measured {value}, threshold {threshold} ({what})"),
            },
        }
    }

    /// `error_rate 0.25 ratio, limit < 0.01`: a measurement and its bound in
    /// a few words, for one-line summaries (`gate watch`'s rounds and
    /// decision). The bound is named as one: written bare after the value
    /// (`0.25 < 0.01`) it would read as a claim, and a false one.
    pub fn brief(&self) -> String {
        let mut text = format!("{} {}", self.name, number(self.value));
        if !self.unit.is_empty() {
            text.push(' ');
            text.push_str(&self.unit);
        }
        if let Some(threshold) = &self.threshold {
            text.push_str(", limit ");
            text.push_str(threshold.trim());
        }
        text
    }
}

/// The number in a threshold such as `< 0.01` or `>= 1`; `None` for free
/// text the policy wrote (`"200 or 204"`).
fn bound(threshold: &str) -> Option<f64> {
    let number = threshold.trim_start_matches(['<', '>', '=', '!', ' ']);
    number.trim().parse().ok().filter(|n: &f64| n.is_finite())
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
    /// With `--retry`: the attempt whose result this is (1 for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// With `--retry`: the attempts before that one, first first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier_attempts: Vec<Attempt>,
    /// HTTP requests the check made, as the host saw them.
    pub calls: Vec<HttpCall>,
    pub log: Vec<LogLine>,
}

/// An attempt of a check that `--retry` ran again: why it did not pass.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    pub message: String,
    pub duration_ms: f64,
}

impl CheckReport {
    /// What this result says as an earlier attempt of a retried check.
    pub fn as_attempt(&self) -> Attempt {
        Attempt {
            outcome: self.outcome,
            error: self.error,
            message: self.message.clone(),
            duration_ms: self.duration_ms,
        }
    }

    /// Whether `--retry` runs the check again: it did not pass and another
    /// attempt could end otherwise ([`CheckReport::beyond_retry`]).
    pub fn retryable(&self) -> bool {
        self.did_not_pass() && self.beyond_retry().is_none()
    }

    /// Why another attempt of a check that did not pass would end the same,
    /// if it would:
    /// - one of its calls failed in a way no retry changes
    ///   ([`HttpCall::permanent`]: denied by the grants, or malformed);
    /// - it ended without asking the stack anything (no call at all, e.g. a
    ///   missing `--param`), so all it read were the run's params and
    ///   secrets, which stay as they are. A check stopped by its deadline or
    ///   a limit does not count: a call cut short is not in its record.
    pub fn beyond_retry(&self) -> Option<&'static str> {
        if !self.did_not_pass() {
            return None;
        }
        if self.calls.iter().any(|c| c.permanent) {
            return Some("a call was denied or malformed, which no retry changes");
        }
        let ran_to_its_end = matches!(
            self.error,
            None | Some(ErrorKind::Check | ErrorKind::Panic | ErrorKind::Trap)
        );
        if self.calls.is_empty() && ran_to_its_end {
            return Some(
                "the check asked nothing of the stack, so another attempt would end the same",
            );
        }
        None
    }

    /// Ended neither in a pass (warnings included) nor skipped.
    fn did_not_pass(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::Fail | Outcome::Error | Outcome::Inconclusive
        )
    }

    /// Whether the check ended anything but `pass` or `skipped`: such a
    /// check shows its measurements, requests and log.
    pub fn troubled(&self) -> bool {
        !matches!(self.outcome, Outcome::Pass | Outcome::Skipped)
    }

    /// Measurements and requests, one line each, for the formats that carry
    /// a check's evidence as plain text (JUnit, Markdown).
    pub fn evidence(&self) -> String {
        let mut text = String::new();
        for m in &self.measurements {
            text.push_str(&m.describe());
            text.push('\n');
        }
        for call in &self.calls {
            text.push_str(&describe_call(call));
            text.push('\n');
        }
        text
    }

    /// The check's log, one `source: text` line each.
    pub fn log_text(&self) -> String {
        self.log
            .iter()
            .map(|line| format!("{}: {}\n", line.source.label(), line.text))
            .collect()
    }
}

/// `GET https://host/ready → 503 (1.2 ms)`.
pub fn describe_call(call: &HttpCall) -> String {
    let answer = match (&call.status, &call.error) {
        (Some(status), _) => status.to_string(),
        (None, Some(error)) => error.clone(),
        (None, None) => "ok".to_owned(),
    };
    format!(
        "{} {} → {answer} ({:.1} ms)",
        call.method, call.url, call.elapsed_ms
    )
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
    /// `--release`: what was judged, and when it was committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<crate::decision_log::Release>,
    pub strict: bool,
    /// `--check` and `--skip-check`, when the run left checks out.
    #[serde(flatten)]
    pub selection: crate::selection::Names,
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

    /// `6 checks: 4 pass · 1 fail · 1 error in 1.24s` — deliberately not the
    /// `N passed, N failed` shape CI log scrapers read as a test-runner summary.
    pub fn summary(&self) -> String {
        let order = [
            Outcome::Pass,
            Outcome::Warn,
            Outcome::Fail,
            Outcome::Error,
            Outcome::Inconclusive,
            Outcome::Skipped,
        ];
        let total = self.checks().count();
        let parts: Vec<String> = order
            .iter()
            .filter_map(|outcome| {
                let count = self.checks().filter(|(_, c)| c.outcome == *outcome).count();
                (count > 0).then(|| format!("{count} {outcome}"))
            })
            .collect();
        let took = crate::units::format_duration(std::time::Duration::from_secs_f64(
            self.duration_ms / 1000.0,
        ));
        let noun = if total == 1 { "check" } else { "checks" };
        format!(
            "{total} {noun}: {} in {took}",
            if parts.is_empty() {
                "none ran".into()
            } else {
                parts.join(" · ")
            }
        )
    }
}

/// `--format` of the commands that print a listing (inspect, env, log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// The formats a run's report is written in (`gate run --format`,
/// `--report FORMAT=PATH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Lines for people; colour on a terminal.
    Human,
    /// One document, schema `gate.report/v1` (schema/gate.report.v1.json).
    Json,
    /// JUnit XML: a testsuite per policy, a testcase per check.
    Junit,
    /// TAP version 13, YAML diagnostics for checks that did not pass.
    Tap,
    /// A summary table for PR comments and CI step summaries.
    Markdown,
}

impl ReportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Human => "human",
            ReportFormat::Json => "json",
            ReportFormat::Junit => "junit",
            ReportFormat::Tap => "tap",
            ReportFormat::Markdown => "markdown",
        }
    }

    /// Writes `report` in this format. `human` is used by the human format
    /// only.
    pub fn write(
        self,
        report: &RunReport,
        out: &mut impl Write,
        human: human::Options,
    ) -> std::io::Result<()> {
        match self {
            ReportFormat::Human => human::write(report, out, human),
            ReportFormat::Json => json::write(report, out),
            ReportFormat::Junit => junit::write(report, out),
            ReportFormat::Tap => tap::write(report, out),
            ReportFormat::Markdown => markdown::write(report, out),
        }
    }
}

/// `--report FORMAT=PATH`: a further report written to a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub format: ReportFormat,
    pub path: PathBuf,
}

impl ReportFile {
    pub fn parse(text: &str) -> Result<ReportFile, String> {
        use clap::ValueEnum;
        let (format, path) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not FORMAT=PATH (e.g. junit=gate-junit.xml)"))?;
        let format = ReportFormat::from_str(format.trim(), true).map_err(|_| {
            format!("unknown report format `{format}`: use human, json, junit, tap or markdown")
        })?;
        if path.is_empty() {
            return Err(format!("`{text}` has no PATH after `=`"));
        }
        Ok(ReportFile {
            format,
            path: PathBuf::from(path),
        })
    }

    /// Writes the report, creating the file's folder if needed; the error
    /// names the file.
    pub fn write(&self, report: &RunReport, human: human::Options) -> Result<(), String> {
        let fail = |e: std::io::Error| {
            format!(
                "cannot write the {} report to {}: {e}",
                self.format.name(),
                self.path.display()
            )
        };
        if let Some(folder) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::files::create_folders(folder).map_err(fail)?;
        }
        let mut file = std::io::BufWriter::new(std::fs::File::create(&self.path).map_err(fail)?);
        self.format
            .write(report, &mut file, human)
            .and_then(|()| file.flush())
            .map_err(fail)
    }
}

/// Formats a number the way a person reads a measurement: no float noise,
/// up to 4 decimals, and below 1 at least 3 significant digits, so that
/// 0.00003 does not read as 0.
pub fn number(value: f64) -> String {
    gate_units::format_decimal(value, 4, 3)
}

/// The shortest text that reads back as `value` exactly, for two values
/// [`number`] would show alike.
fn exact(value: f64) -> String {
    let plain = value.to_string();
    // Display never uses an exponent: 1e-300 would be 300 zeros.
    if plain.len() > 24 {
        format!("{value:e}")
    } else {
        plain
    }
}

#[cfg(test)]
pub(crate) mod golden;

#[cfg(test)]
mod tests {
    #[test]
    fn numbers() {
        assert_eq!(super::number(500.0), "500");
        assert_eq!(super::number(0.15), "0.15");
        assert_eq!(super::number(123.456789), "123.4568");
        assert_eq!(super::number(f64::NAN), "NaN");
        assert_eq!(super::number(0.00003), "0.00003");
        assert_eq!(super::number(-1e-300), "-1e-300");
    }

    /// The evidence line never contradicts itself: a value beyond its
    /// bound is never shown equal to it, nor as 0 against 0.
    #[test]
    fn evidence_never_reads_as_equal_when_it_is_not() {
        assert_eq!(
            measurement(0.00003, "ratio", Some("< 0.00001")).describe(),
            "measured 0.00003 > threshold 0.00001 (error_rate, ratio)"
        );
        assert_eq!(
            measurement(500.00001, "ms", Some("< 500")).describe(),
            "measured 500.00001 > threshold 500 (error_rate, ms)"
        );
        assert_eq!(
            measurement(1e-300, "", Some("<= 0")).describe(),
            "measured 1e-300 > threshold 0 (error_rate)"
        );
        assert_eq!(
            measurement(0.0100000001, "", Some("< 0.01")).describe(),
            "measured 0.0100000001 > threshold 0.01 (error_rate)"
        );
        assert_eq!(
            measurement(0.1 + 0.2, "", Some("= 0.3")).describe(),
            "measured 0.30000000000000004 > threshold 0.3 (error_rate)"
        );
    }

    fn measurement(value: f64, unit: &str, threshold: Option<&str>) -> super::Measurement {
        super::Measurement {
            name: "error_rate".into(),
            value,
            unit: unit.into(),
            threshold: threshold.map(Into::into),
        }
    }

    #[test]
    fn measurements_compare_with_their_bound() {
        assert_eq!(
            measurement(0.031, "ratio", Some("< 0.01")).describe(),
            "measured 0.031 > threshold 0.01 (error_rate, ratio)"
        );
        assert_eq!(
            measurement(120.0, "ms", Some("<= 500")).describe(),
            "measured 120 < threshold 500 (error_rate, ms)"
        );
        assert_eq!(
            measurement(1.0, "", Some(">= 1")).describe(),
            "measured 1 = threshold 1 (error_rate)"
        );
        assert_eq!(
            measurement(f64::NAN, "ratio", Some("< 0.01")).describe(),
            "measured NaN, threshold < 0.01 (error_rate, ratio)"
        );
        assert_eq!(
            measurement(3.0, "", Some("200 or 204")).describe(),
            "measured 3, threshold 200 or 204 (error_rate)"
        );
        assert_eq!(
            measurement(42.0, "", None).describe(),
            "measured 42 (error_rate)"
        );
    }

    #[test]
    fn measurements_in_brief_name_their_limit() {
        assert_eq!(
            measurement(0.25, "ratio", Some("< 0.01")).brief(),
            "error_rate 0.25 ratio, limit < 0.01"
        );
        assert_eq!(
            measurement(1.0, "", Some(" <= 0.05")).brief(),
            "error_rate 1, limit <= 0.05"
        );
        assert_eq!(measurement(42.0, "ms", None).brief(), "error_rate 42 ms");
    }

    #[test]
    fn report_files() {
        use super::{ReportFile, ReportFormat};
        let file = ReportFile::parse("junit=out/gate.xml").unwrap();
        assert_eq!(file.format, ReportFormat::Junit);
        assert_eq!(file.path, std::path::Path::new("out/gate.xml"));
        assert_eq!(
            ReportFile::parse("TAP=a=b.tap").unwrap().path,
            std::path::Path::new("a=b.tap")
        );
        assert!(
            ReportFile::parse("junit")
                .unwrap_err()
                .contains("FORMAT=PATH")
        );
        assert!(
            ReportFile::parse("xml=a")
                .unwrap_err()
                .contains("unknown report format")
        );
        assert!(ReportFile::parse("tap=").unwrap_err().contains("no PATH"));
    }
}
