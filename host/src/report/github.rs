//! GitHub Actions: an `::error`/`::warning` annotation per check that did
//! not pass (when `GITHUB_ACTIONS=true`), and the Markdown report appended
//! to the job's step summary (when `GITHUB_STEP_SUMMARY` names a file).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Outcome, RunReport};

/// What the environment says about GitHub Actions.
#[derive(Debug, Clone, Default)]
pub struct Actions {
    /// `GITHUB_ACTIONS=true`: write annotations.
    pub annotate: bool,
    /// `GITHUB_STEP_SUMMARY`: the file to append the summary to.
    pub step_summary: Option<PathBuf>,
}

impl Actions {
    pub fn from_env() -> Actions {
        Actions {
            annotate: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
            step_summary: std::env::var_os("GITHUB_STEP_SUMMARY")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// One workflow command per check that did not pass: `error` for a blocking
/// check that failed or errored (it fails the run), `warning` for the rest
/// (warned, inconclusive, or non-blocking).
pub fn write_annotations(report: &RunReport, out: &mut impl Write) -> std::io::Result<()> {
    for (policy, check) in report.checks() {
        let level = match check.outcome {
            Outcome::Pass | Outcome::Skipped => continue,
            Outcome::Fail | Outcome::Error if check.blocking => "error",
            _ => "warning",
        };
        let title = format!("gate: {}/{} {}", policy.name, check.name, check.outcome);
        let mut message = check.message.clone();
        for m in &check.measurements {
            message.push('\n');
            message.push_str(&m.describe());
        }
        writeln!(
            out,
            "::{level} title={}::{}",
            escape_property(&title),
            escape_data(&message)
        )?;
    }
    Ok(())
}

/// Appends the Markdown report to the step summary file (GitHub gives each
/// step its own file and shows them all on the run's page).
pub fn append_step_summary(report: &RunReport, path: &Path) -> std::io::Result<()> {
    let mut text = Vec::new();
    super::markdown::write(report, &mut text)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(&text)?;
    writeln!(file)
}

/// The escaping GitHub's runner undoes in a command's message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The escaping GitHub's runner undoes in a command's properties.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escaping() {
        assert_eq!(super::escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(super::escape_property("a: b, c"), "a%3A b%2C c");
    }
}
