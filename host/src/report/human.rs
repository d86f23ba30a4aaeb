//! The default output: a line per check, why each failure failed, a summary
//! and the verdict. Colour only when asked for (a TTY without `NO_COLOR`).

use std::io::Write;

use super::{CheckReport, Outcome, RunReport, describe_call};
use crate::state::HttpCall;
use crate::units::format_duration;
use crate::verdict::Decision;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub color: bool,
    /// Every check's requests and log, not only failures'.
    pub verbose: bool,
    /// The verdict line only.
    pub quiet: bool,
}

/// How many log lines a failed check shows without `-v`.
const TAIL: usize = 8;
/// How many of its requests a failed check shows without `-v`.
const CALLS: usize = 3;

pub fn write(report: &RunReport, out: &mut impl Write, options: Options) -> std::io::Result<()> {
    let paint = Paint(options.color);
    if !options.quiet {
        let target = report.target.as_deref().unwrap_or("(none)");
        write!(
            out,
            "gate {} · env {} · target {}",
            report.gate_version, report.env, target
        )?;
        if let Some(release) = &report.release {
            write!(out, " · release {}", release.id)?;
        }
        writeln!(out)?;
        for policy in &report.policies {
            writeln!(out)?;
            writeln!(
                out,
                "{} {} ({}) · {} · sha256 {}",
                paint.bold(&policy.name),
                policy.version,
                policy.kind,
                policy.path,
                &policy.sha256[..policy.sha256.len().min(12)]
            )?;
            let width = policy
                .checks
                .iter()
                .map(|c| c.name.len())
                .max()
                .unwrap_or(0);
            for check in &policy.checks {
                write_check(out, check, width, options, paint)?;
            }
        }
        writeln!(out)?;
        writeln!(out, "{}", report.summary())?;
    }
    let (word, code) = match report.verdict.decision {
        Decision::Pass => (paint.green("PASS"), report.verdict.exit_code),
        Decision::Fail => (paint.red("FAIL"), report.verdict.exit_code),
        Decision::Inconclusive => (paint.yellow("INCONCLUSIVE"), report.verdict.exit_code),
    };
    writeln!(
        out,
        "verdict: {word} (exit {code}): {}",
        report.verdict.reason
    )
}

fn write_check(
    out: &mut impl Write,
    check: &CheckReport,
    width: usize,
    options: Options,
    paint: Paint,
) -> std::io::Result<()> {
    let label = format!("{:<5}", short_label(check.outcome));
    let label = match check.outcome {
        Outcome::Pass => paint.green(&label),
        Outcome::Warn | Outcome::Inconclusive => paint.yellow(&label),
        Outcome::Fail | Outcome::Error => paint.red(&label),
        Outcome::Skipped => paint.dim(&label),
    };
    let duration = if check.outcome == Outcome::Skipped {
        "-".to_owned()
    } else {
        format_duration(std::time::Duration::from_secs_f64(
            check.duration_ms / 1000.0,
        ))
    };
    let blocking = if check.blocking {
        ""
    } else {
        " (non-blocking)"
    };
    let first_line = check.message.lines().next().unwrap_or("");
    writeln!(
        out,
        "  {label} {:<width$}  {duration:>7}  {first_line}{blocking}",
        check.name
    )?;
    for line in check.message.lines().skip(1) {
        writeln!(out, "        {line}")?;
    }
    if options.verbose {
        for (n, attempt) in check.earlier_attempts.iter().enumerate() {
            let first_line = attempt.message.lines().next().unwrap_or("");
            writeln!(
                out,
                "        ↻ attempt {}: {} {first_line}",
                n + 1,
                short_label(attempt.outcome)
            )?;
        }
    }

    let troubled = check.troubled();
    if troubled || options.verbose {
        for m in &check.measurements {
            writeln!(out, "        · {}", m.describe())?;
        }
    }
    if troubled || options.verbose {
        // Without -v, the requests that went wrong say the most.
        let went_wrong =
            |call: &&HttpCall| call.error.is_some() || call.status.is_some_and(|s| s >= 400);
        let calls: Vec<&HttpCall> =
            if options.verbose || !check.calls.iter().any(|c| went_wrong(&c)) {
                check.calls.iter().collect()
            } else {
                check.calls.iter().filter(went_wrong).collect()
            };
        let shown = if options.verbose {
            calls.len()
        } else {
            CALLS.min(calls.len())
        };
        for call in calls.iter().take(shown) {
            writeln!(out, "        → {}", describe_call(call))?;
        }
        if check.calls.len() > shown {
            writeln!(
                out,
                "        → … {} more requests (-v shows all)",
                check.calls.len() - shown
            )?;
        }
        let skip = if options.verbose {
            0
        } else {
            check.log.len().saturating_sub(TAIL)
        };
        if skip > 0 {
            writeln!(out, "        | … {skip} earlier log lines (-v shows all)")?;
        }
        for line in check.log.iter().skip(skip) {
            writeln!(out, "        | {}: {}", line.source.label(), line.text)?;
        }
    }
    Ok(())
}

fn short_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "PASS",
        Outcome::Warn => "WARN",
        Outcome::Fail => "FAIL",
        Outcome::Inconclusive => "INCON",
        Outcome::Skipped => "SKIP",
        Outcome::Error => "ERROR",
    }
}

#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }
    fn dim(self, text: &str) -> String {
        self.wrap("2", text)
    }
    fn red(self, text: &str) -> String {
        self.wrap("1;31", text)
    }
    fn green(self, text: &str) -> String {
        self.wrap("1;32", text)
    }
    fn yellow(self, text: &str) -> String {
        self.wrap("1;33", text)
    }
}
