//! `--format junit`: JUnit XML as CI systems read it (Jenkins, GitLab,
//! GitHub test reporters): a `testsuite` per policy, a `testcase` per check
//! with the policy as its `classname`.
//!
//! JUnit knows only success, failure, error and skipped, so: `pass` and
//! `warn` are successes (a warning's message goes to `system-out`); `fail`
//! and `inconclusive` are failures (an inconclusive check never counts as a
//! pass), their `type` saying which; `error` is an error whose `type` is the
//! error class; `skipped` is skipped.

use std::io::Write;
use std::time::Duration;

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::{Attempt, CheckReport, ErrorKind, Outcome, RunReport};

pub fn write(report: &RunReport, out: &mut impl Write) -> std::io::Result<()> {
    let xml = to_junit(report)
        .to_string()
        .map_err(|e| std::io::Error::other(format!("cannot write JUnit XML: {e}")))?;
    out.write_all(attribute_breaks_as_references(&xml).as_bytes())?;
    writeln!(out)
}

/// quick-junit writes a newline in an attribute (a multi-line message) as
/// it is. A reader then gets a space instead (XML normalises attribute
/// values), and a CI log showing the file gets a line that starts inside
/// the attribute. Written as `&#10;` (tab `&#9;`), it is neither.
///
/// In quick-junit's output a `<` outside a tag always opens one (text is
/// escaped, there is no CDATA), and inside a tag a `"` always opens or
/// closes a value (values are escaped), so this needs no XML parser.
fn attribute_breaks_as_references(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let (mut in_tag, mut in_value) = (false, false);
    for c in xml.chars() {
        match c {
            '<' if !in_tag => in_tag = true,
            '>' if in_tag && !in_value => in_tag = false,
            '"' if in_tag => in_value = !in_value,
            '\n' if in_value => {
                out.push_str("&#10;");
                continue;
            }
            '\t' if in_value => {
                out.push_str("&#9;");
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

pub fn to_junit(report: &RunReport) -> Report {
    let mut junit = Report::new("gate");
    junit.set_time(millis(report.duration_ms));
    for policy in &report.policies {
        let mut suite = TestSuite::new(policy.name.as_str());
        suite.set_time(millis(policy.duration_ms));
        suite.add_properties([
            Property::new("path", policy.path.as_str()),
            Property::new("version", policy.version.as_str()),
            Property::new("kind", policy.kind.as_str()),
            Property::new("sha256", policy.sha256.as_str()),
            Property::new("env", report.env.as_str()),
            Property::new("target", report.target.as_deref().unwrap_or("")),
        ]);
        if let Some(release) = &report.release {
            suite.add_property(Property::new("release", release.id.as_str()));
        }
        for check in &policy.checks {
            let mut case = TestCase::new(check.name.as_str(), status(check));
            case.set_classname(policy.name.as_str());
            case.set_time(millis(check.duration_ms));
            case.add_properties([
                Property::new("outcome", check.outcome.label()),
                Property::new("blocking", check.blocking.to_string()),
            ]);
            let out = system_out(check);
            if !out.is_empty() {
                case.set_system_out(out);
            }
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit
}

/// The check's status, with the attempts `--retry` made before its last as
/// reruns: `<flakyFailure>` under a check that passed in the end,
/// `<rerunFailure>` under one that did not, as Maven Surefire writes them
/// and Jenkins and GitLab read them.
fn status(check: &CheckReport) -> TestCaseStatus {
    let mut status = last_status(check);
    status.add_reruns(check.earlier_attempts.iter().map(rerun));
    status
}

fn rerun(attempt: &Attempt) -> TestRerun {
    let kind = match attempt.outcome {
        Outcome::Error => NonSuccessKind::Error,
        _ => NonSuccessKind::Failure,
    };
    let mut rerun = TestRerun::new(kind);
    rerun.set_message(attempt.message.as_str());
    rerun.set_type(type_label(attempt.outcome, attempt.error));
    rerun.set_time(millis(attempt.duration_ms));
    rerun
}

/// A failure's `type`: the error class of an error, else the outcome.
fn type_label(outcome: Outcome, error: Option<ErrorKind>) -> &'static str {
    match (outcome, error) {
        (Outcome::Error, Some(error)) => error.label(),
        (outcome, _) => outcome.label(),
    }
}

fn last_status(check: &CheckReport) -> TestCaseStatus {
    let kind = match check.outcome {
        Outcome::Pass | Outcome::Warn => return TestCaseStatus::success(),
        Outcome::Skipped => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(check.message.as_str());
            return status;
        }
        Outcome::Fail | Outcome::Inconclusive => NonSuccessKind::Failure,
        Outcome::Error => NonSuccessKind::Error,
    };
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(message(check));
    status.set_type(type_label(check.outcome, check.error));
    status.set_description(check.evidence());
    status
}

/// The check's message, with its measurements: what a CI test view shows
/// first.
fn message(check: &CheckReport) -> String {
    let mut parts = vec![check.message.clone()];
    parts.extend(check.measurements.iter().map(|m| m.describe()));
    if !check.blocking {
        parts.push("(non-blocking)".into());
    }
    parts.retain(|p| !p.is_empty());
    parts.join("; ")
}

/// A passing check's message and log; a check that did not pass already
/// carries its details in `failure`/`error`, so only its log goes here.
fn system_out(check: &CheckReport) -> String {
    let mut text = String::new();
    if !check.troubled() || check.outcome == Outcome::Warn {
        if !check.message.is_empty() {
            text.push_str(&format!("{}: {}\n", check.outcome, check.message));
        }
        for m in &check.measurements {
            text.push_str(&m.describe());
            text.push('\n');
        }
    }
    text.push_str(&check.log_text());
    text
}

fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn breaks_in_attributes_become_references() {
        let xml = "<a m=\"x\ny\tz\">\n  <b/>text\nmore</a>";
        assert_eq!(
            super::attribute_breaks_as_references(xml),
            "<a m=\"x&#10;y&#9;z\">\n  <b/>text\nmore</a>"
        );
    }
}
