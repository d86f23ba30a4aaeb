//! `--format tap`: TAP version 13, a test point per check, with a YAML
//! diagnostic block under every check that did not simply pass.
//!
//! A non-blocking check that did not pass is `not ok … # TODO non-blocking`:
//! TAP consumers then do not count it, as gate's verdict does not.

use std::io::Write;

use super::{CheckReport, Outcome, RunReport, describe_call};

pub fn write(report: &RunReport, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "TAP version 13")?;
    writeln!(out, "1..{}", report.checks().count())?;
    for (index, (policy, check)) in report.checks().enumerate() {
        let number = index + 1;
        let name = escape(&format!("{}/{}", policy.name, check.name));
        let ok = match check.outcome {
            Outcome::Pass | Outcome::Warn | Outcome::Skipped => "ok",
            Outcome::Fail | Outcome::Inconclusive | Outcome::Error => "not ok",
        };
        let directive = match check.outcome {
            Outcome::Skipped => format!(" # SKIP {}", escape(first_line(&check.message))),
            Outcome::Fail | Outcome::Inconclusive | Outcome::Error if !check.blocking => {
                " # TODO non-blocking: does not change the verdict".to_owned()
            }
            _ => String::new(),
        };
        writeln!(out, "{ok} {number} - {name}{directive}")?;
        if check.troubled() {
            write_diagnostics(out, check)?;
        }
    }
    writeln!(out, "# {}", report.summary())?;
    if let Some(release) = &report.release {
        writeln!(out, "# release: {}", release.id)?;
    }
    writeln!(
        out,
        "# verdict: {} (exit {}): {}",
        report.verdict.decision_word(),
        report.verdict.exit_code,
        first_line(&report.verdict.reason)
    )
}

/// The YAML block: JSON strings are valid YAML scalars, so every string is
/// written JSON-quoted and guest text cannot break the block.
fn write_diagnostics(out: &mut impl Write, check: &CheckReport) -> std::io::Result<()> {
    writeln!(out, "  ---")?;
    writeln!(out, "  outcome: {}", check.outcome)?;
    if let Some(error) = check.error {
        writeln!(out, "  error: {}", quote(error.label()))?;
    }
    writeln!(out, "  blocking: {}", check.blocking)?;
    writeln!(out, "  message: {}", quote(&check.message))?;
    writeln!(out, "  duration_ms: {}", yaml_number(check.duration_ms))?;
    if !check.measurements.is_empty() {
        writeln!(out, "  measurements:")?;
        for m in &check.measurements {
            writeln!(out, "    - name: {}", quote(&m.name))?;
            writeln!(out, "      value: {}", yaml_number(m.value))?;
            writeln!(out, "      unit: {}", quote(&m.unit))?;
            if let Some(threshold) = &m.threshold {
                writeln!(out, "      threshold: {}", quote(threshold))?;
            }
            writeln!(out, "      summary: {}", quote(&m.describe()))?;
        }
    }
    if !check.calls.is_empty() {
        writeln!(out, "  requests:")?;
        for call in &check.calls {
            writeln!(out, "    - {}", quote(&describe_call(call)))?;
        }
    }
    if !check.log.is_empty() {
        writeln!(out, "  log:")?;
        for line in &check.log {
            writeln!(
                out,
                "    - {}",
                quote(&format!("{}: {}", line.source.label(), line.text))
            )?;
        }
    }
    writeln!(out, "  ...")
}

fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn yaml_number(value: f64) -> String {
    if value.is_nan() {
        ".nan".into()
    } else if value.is_infinite() {
        if value > 0.0 { ".inf" } else { "-.inf" }.into()
    } else {
        serde_json::Value::from(value).to_string()
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// A test point's description may not hold an unescaped `#` (it starts a
/// directive).
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('#', "\\#")
}
