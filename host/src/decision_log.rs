//! The decision log: one JSON line per decision of `gate run` and
//! `gate watch` (`--decision-log PATH`), one more for what a watch's
//! rollback command did, and the deployment metrics read back from it
//! (`gate log stats`, in [`crate::log_cmd`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::{Measurement, Outcome, PolicyReport};
use crate::selection::Names;

/// The `schema` of a decision's line (`schema/gate.decision.v1.json`).
pub const DECISION_SCHEMA: &str = "gate.decision/v1";
/// The `schema` of a rollback command's line (`schema/gate.rollback.v1.json`).
pub const ROLLBACK_SCHEMA: &str = "gate.rollback/v1";

/// One decision, as one line of the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Decision {
    /// [`DECISION_SCHEMA`]. Gates before it wrote no `schema`: such a line
    /// reads as this version, which it is.
    #[serde(default = "decision_schema")]
    pub schema: String,
    /// RFC 3339, UTC.
    pub timestamp: String,
    /// Unix seconds of `timestamp`, so readers need no date parsing.
    pub unix: u64,
    /// `run` or `watch`.
    pub command: String,
    pub env: String,
    pub target: Option<String>,
    pub policies: Vec<PolicyRef>,
    /// `pass`, `fail`, `inconclusive` (run) or `healthy`, `rollback`,
    /// `inconclusive`, `aborted` (watch).
    pub decision: String,
    pub exit_code: i32,
    pub reason: String,
    pub failed_checks: Vec<FailedCheck>,
    pub duration_ms: f64,
    /// `--check` and `--skip-check`, when the decision covers only some
    /// checks: `gate log stats` then leaves it out.
    #[serde(flatten)]
    pub selection: Names,
    /// `--release`: what was judged, and when it was committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
}

/// The release a decision judged (`--release`, `--committed-at`): what
/// `gate log stats` measures lead time by.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Release {
    /// A tag, a commit, a build number: the same in every environment the
    /// release goes through.
    pub id: String,
    /// When its last change was committed, RFC 3339 in UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<String>,
    /// The same in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_unix: Option<u64>,
}

impl Release {
    pub fn new(id: &str, committed_unix: Option<u64>) -> Release {
        Release {
            id: id.to_owned(),
            committed_at: committed_unix.map(crate::units::rfc3339_unix),
            committed_unix,
        }
    }

    /// ` for release `v1.4.2``, for a message's subject; empty without one.
    pub fn mention(release: Option<&Release>) -> String {
        release.map_or_else(String::new, |r| format!(" for release `{}`", r.id))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailedCheck {
    pub policy: String,
    pub check: String,
    pub outcome: String,
    pub message: String,
    pub measurements: Vec<Measured>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measured {
    pub name: String,
    pub value: Option<f64>,
    pub unit: String,
    pub threshold: Option<String>,
}

impl From<&Measurement> for Measured {
    fn from(m: &Measurement) -> Measured {
        Measured {
            name: m.name.clone(),
            value: m.value.is_finite().then_some(m.value),
            unit: m.unit.clone(),
            threshold: m.threshold.clone(),
        }
    }
}

impl Decision {
    /// The decision of one `gate run`.
    pub fn of_run(report: &crate::report::RunReport) -> Decision {
        Decision::new(
            "run",
            &report.env,
            report.target.clone(),
            &report.policies,
            report.verdict.decision_word(),
            report.verdict.exit_code,
            &report.verdict.reason,
            report.duration_ms,
        )
        .over(&report.selection)
        .of_release(report.release.as_ref())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        command: &str,
        env: &str,
        target: Option<String>,
        policies: &[PolicyReport],
        decision: &str,
        exit_code: i32,
        reason: &str,
        duration_ms: f64,
    ) -> Decision {
        let now = std::time::SystemTime::now();
        Decision {
            schema: DECISION_SCHEMA.into(),
            timestamp: crate::units::rfc3339(now),
            unix: crate::units::unix_seconds(now),
            command: command.into(),
            env: env.into(),
            target,
            policies: policy_refs(policies),
            decision: decision.into(),
            exit_code,
            reason: reason.into(),
            failed_checks: failed_checks(policies),
            duration_ms,
            selection: Names::default(),
            release: None,
        }
    }

    /// The decision, of the release `--release` named.
    pub fn of_release(self, release: Option<&Release>) -> Decision {
        Decision {
            release: release.cloned(),
            ..self
        }
    }

    /// The decision, as gate exited with `exit_code` for `why` after it
    /// was made (a report it could not write): a pass CI saw fail did not
    /// promote, and the reason says so.
    pub fn exited(self, exit_code: i32, why: &str) -> Decision {
        Decision {
            reason: format!("{}; gate exited {exit_code}: {why}", self.reason),
            exit_code,
            ..self
        }
    }

    /// A pass that gate exited 0 on: what promotes. A passing verdict gate
    /// exited 2 on (its report or log could not be written) failed the CI
    /// step, so it is no pass, and no failure of the release either.
    fn promoted(&self) -> bool {
        matches!(self.decision.as_str(), "pass" | "healthy")
            && self.exit_code == crate::verdict::EXIT_PASS
    }

    /// The decision, over the checks `selection` left.
    pub fn over(self, selection: &Names) -> Decision {
        Decision {
            selection: selection.clone(),
            ..self
        }
    }
}

/// What `gate watch`'s rollback command did: a line of its own, appended
/// when the command ends, after its window's decision. The decision is
/// logged before the command runs, so that a gate killed meanwhile still
/// leaves it; this line says whether the stack was actually rolled back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RollbackRun {
    /// [`ROLLBACK_SCHEMA`]; absent from the lines of the gate before it,
    /// as for a decision.
    #[serde(default = "rollback_schema")]
    pub schema: String,
    /// RFC 3339, UTC, when the command ended.
    pub timestamp: String,
    pub unix: u64,
    /// Always `rollback`: what tells this line from a decision.
    pub command: String,
    pub env: String,
    pub target: Option<String>,
    /// The `timestamp` of the decision this rollback acted on, as its
    /// decision line has it: other writers may append to the log between
    /// the two.
    pub decided_at: String,
    /// The shell command run.
    pub rollback_command: String,
    /// Its shell exited 0.
    pub succeeded: bool,
    /// `None`: it ended without an exit code, killed (a signal, the
    /// timeout) or never started.
    pub exit_code: Option<i32>,
    pub duration_ms: f64,
    /// As its decision's: a window over some of the checks.
    #[serde(flatten)]
    pub selection: Names,
}

impl RollbackRun {
    pub fn new(
        env: &str,
        target: Option<String>,
        decided_at: &str,
        rollback_command: &str,
        exit_code: Option<i32>,
        duration_ms: f64,
    ) -> RollbackRun {
        let now = std::time::SystemTime::now();
        RollbackRun {
            schema: ROLLBACK_SCHEMA.into(),
            timestamp: crate::units::rfc3339(now),
            unix: crate::units::unix_seconds(now),
            command: "rollback".into(),
            env: env.into(),
            target,
            decided_at: decided_at.into(),
            rollback_command: rollback_command.into(),
            succeeded: exit_code == Some(0),
            exit_code,
            duration_ms,
            selection: Names::default(),
        }
    }

    /// The rollback of a window over the checks `selection` left.
    pub fn over(self, selection: &Names) -> RollbackRun {
        RollbackRun {
            selection: selection.clone(),
            ..self
        }
    }
}

fn decision_schema() -> String {
    DECISION_SCHEMA.into()
}

fn rollback_schema() -> String {
    ROLLBACK_SCHEMA.into()
}

/// The policies of a run, as the log names them.
pub fn policy_refs(policies: &[PolicyReport]) -> Vec<PolicyRef> {
    policies
        .iter()
        .map(|p| PolicyRef {
            name: p.name.clone(),
            version: p.version.clone(),
            sha256: p.sha256.clone(),
        })
        .collect()
}

/// The blocking checks that did not pass, with what they measured.
pub fn failed_checks(policies: &[PolicyReport]) -> Vec<FailedCheck> {
    policies
        .iter()
        .flat_map(|p| p.checks.iter().map(move |c| (p, c)))
        .filter(|(_, c)| {
            c.blocking
                && matches!(
                    c.outcome,
                    Outcome::Fail | Outcome::Error | Outcome::Inconclusive
                )
        })
        .map(|(p, c)| FailedCheck {
            policy: p.name.clone(),
            check: c.name.clone(),
            outcome: c.outcome.to_string(),
            message: c.message.clone(),
            measurements: c.measurements.iter().map(Measured::from).collect(),
        })
        .collect()
}

/// The folder a log at `path` would be appended in, when it does not exist:
/// [`append`] creates the file, never its folder.
pub fn missing_folder(path: &Path) -> Option<&Path> {
    path.parent()
        .filter(|dir| !dir.as_os_str().is_empty() && !dir.is_dir())
}

/// Appends one line: a [`Decision`] or a [`RollbackRun`]. Each is a single
/// `write` on a file opened for appending, so concurrent writers do not
/// interleave lines. A log whose last line was cut short (a disk that
/// filled mid-write) gets the newline it lacks first, in the same write:
/// joined to the torn line, this one would be unreadable too.
pub fn append(path: &Path, line: &impl Serialize) -> std::io::Result<()> {
    use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
    let nonblocking = rustix::fs::OFlags::NONBLOCK;
    // Non-blocking to open, so that a FIFO no one reads is refused at once
    // rather than waited on (the decision's rollback waits behind this);
    // it changes nothing for a regular file or a device (`/dev/stderr`).
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(nonblocking.bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) {
                std::io::Error::other("it is a FIFO no one reads")
            } else {
                e
            }
        })?;
    // Blocking again to write, as any writer of a pipe or a terminal.
    let flags = rustix::fs::fcntl_getfl(&file)?;
    rustix::fs::fcntl_setfl(&file, flags - nonblocking)?;
    let mut bytes = Vec::new();
    let metadata = file.metadata()?;
    if metadata.is_file() && metadata.len() > 0 {
        // Read through a handle of its own: a log gate may append to but
        // not read is still appended to, unrepaired.
        let mut last = [0u8];
        let torn = std::fs::File::open(path)
            .and_then(|reader| reader.read_at(&mut last, metadata.len() - 1))
            .is_ok_and(|n| n == 1 && last[0] != b'\n');
        if torn {
            bytes.push(b'\n');
        }
    }
    serde_json::to_writer(&mut bytes, line).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    file.write_all(&bytes)?;
    file.flush()
}

/// Deployment metrics of one environment (or of all).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub decisions: usize,
    pub passed: usize,
    pub failed: usize,
    pub inconclusive: usize,
    pub aborted: usize,
    pub rollbacks: usize,
    /// passed / (passed + failed).
    pub pass_rate: Option<f64>,
    /// Failed decisions (a gate that refused, a trigger that rolled back)
    /// over all decided ones: the change failure rate.
    pub change_failure_rate: Option<f64>,
    /// Mean seconds from a failed decision to the next passing one in the
    /// same environment: the mean time to restore.
    pub mean_time_to_restore_s: Option<f64>,
    pub restores: usize,
    /// Decisions over part of the checks (`--check`, `--skip-check`), left out of every
    /// figure above: a partial run neither promotes nor rolls back.
    pub partial: usize,
    /// Rollback commands `gate watch` ran, and how many of them failed
    /// (a non-zero exit, killed, timed out): rollbacks that may have left
    /// the stack on the bad release.
    pub rollback_commands: usize,
    pub rollback_commands_failed: usize,
    /// Lead time: the median seconds from a release's commit
    /// (`--committed-at`) to its first passing decision in the environment,
    /// over the releases that have both. None for all environments together,
    /// where stage's and prod's would mix.
    pub lead_time_s: Option<f64>,
    /// The releases the lead time is measured over.
    pub lead_times: usize,
    /// Releases (`--release`) that passed for the first time in the
    /// environment within the period: its deployments, in prod. For all
    /// environments together, the releases whose first pass anywhere is in
    /// the period. None where no decision of the period names a release.
    pub releases: Option<usize>,
}

/// A decision log as read: its decisions, its rollback commands' lines,
/// and each line that is neither.
#[derive(Debug, Default)]
pub struct Log {
    pub decisions: Vec<Decision>,
    pub rollbacks: Vec<RollbackRun>,
    /// `FILE:LINE: not a decision: why`, one per line left out.
    pub unreadable: Vec<String>,
    /// `FILE:LINE: schema …`, one per line of a schema a newer gate wrote.
    pub newer: Vec<String>,
}

/// Reads a log. A line that is not a decision (one cut short by a full
/// disk or a killed process, with the next decision appended to it) is left
/// out and named, so that one torn write does not hide the whole history.
pub fn read(path: &Path, piped: bool) -> Result<Log, String> {
    // A log is never rotated by gate, so the cap is generous. A pipe is
    // read only when `piped`, as a user handing one over (`<(zcat …)`)
    // asked for it; else a device or FIFO is refused rather than waited on.
    const CAP: u64 = 4 << 30;
    let (path, name) = source(path, piped);
    let bytes = if piped {
        crate::files::read_piped_capped(path, CAP)
    } else {
        crate::files::read_capped(path, CAP)
    }
    .map_err(|e| format!("cannot read {name}: {e}"))?;
    Ok(parse(&name, &bytes))
}

/// Where [`read`] reads a log from, and its name in messages: `-` given as
/// PATH is standard input, as for most tools that read a file.
pub fn source(path: &Path, piped: bool) -> (&Path, String) {
    match path.to_str() {
        Some("-") if piped => (Path::new("/dev/stdin"), "stdin".to_owned()),
        _ => (path, path.display().to_string()),
    }
}

/// A log's bytes, read as [`read`] does; `file` names it in what was left
/// out. Each line is decoded alone: a write cut inside a multi-byte
/// character spoils its own line, not the file.
pub fn parse(file: &str, bytes: &[u8]) -> Log {
    let mut log = Log::default();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let at = |why: String| format!("{file}:{}: {why}", n + 1);
        let line = match std::str::from_utf8(line.strip_suffix(b"\r").unwrap_or(line)) {
            Ok(line) => line,
            Err(e) => {
                log.unreadable
                    .push(at(format!("not a decision: not UTF-8 text ({e})")));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(Line::Decision(decision)) => log.decisions.push(decision),
            Ok(Line::Rollback(rollback)) => log.rollbacks.push(rollback),
            Err(Skip::Newer(why)) => log.newer.push(at(why)),
            Err(Skip::Unreadable(why)) => log.unreadable.push(at(why)),
        }
    }
    log
}

enum Line {
    Decision(Decision),
    Rollback(RollbackRun),
}

/// `gate.decision/v2` and on: a version after the ones this gate writes.
fn is_newer(schema: &str) -> bool {
    ["gate.decision/v", "gate.rollback/v"].iter().any(|kind| {
        schema
            .strip_prefix(kind)
            .and_then(|version| version.parse::<u32>().ok())
            .is_some_and(|version| version > 1)
    })
}

/// Why a line was left out.
#[derive(Debug)]
enum Skip {
    /// Not a line of the log: torn, edited, or another file's.
    Unreadable(String),
    /// A line of a later version than this gate reads.
    Newer(String),
}

/// One line, by its `schema`; a line without one was written by a gate
/// before the field, and its `command` tells the two kinds apart.
fn parse_line(line: &str) -> Result<Line, Skip> {
    let not_a_decision = |e: serde_json::Error| Skip::Unreadable(format!("not a decision: {e}"));
    let value: serde_json::Value = serde_json::from_str(line).map_err(not_a_decision)?;
    let rollback = match value.get("schema") {
        None => value.get("command").and_then(|c| c.as_str()) == Some("rollback"),
        Some(serde_json::Value::String(s)) if s == DECISION_SCHEMA => false,
        Some(serde_json::Value::String(s)) if s == ROLLBACK_SCHEMA => true,
        Some(serde_json::Value::String(s)) if is_newer(s) => {
            return Err(Skip::Newer(format!(
                "schema {s:?} is not one this gate reads ({DECISION_SCHEMA}, \
                 {ROLLBACK_SCHEMA}): written by a newer gate"
            )));
        }
        Some(other) => {
            return Err(Skip::Unreadable(format!(
                "not a decision: schema {other} is not a decision log's"
            )));
        }
    };
    // The figures are keyed by environment, `*` for all together: a line
    // of a name gate would refuse (an edit, a gate before the rule) is not
    // one to count.
    if let Some(problem) = value
        .get("env")
        .and_then(|env| env.as_str())
        .and_then(crate::config::env_name_problem)
    {
        return Err(Skip::Unreadable(format!("not a decision: {problem}")));
    }
    if rollback {
        serde_json::from_value(value)
            .map(Line::Rollback)
            .map_err(|e| Skip::Unreadable(format!("not a rollback command's line: {e}")))
    } else {
        serde_json::from_value(value)
            .map(Line::Decision)
            .map_err(not_a_decision)
    }
}

/// Metrics per environment, plus `*` for all together, of what was decided
/// in `period`.
pub fn stats(
    decisions: &[Decision],
    rollbacks: &[RollbackRun],
    period: Period,
) -> BTreeMap<String, Stats> {
    let mut by_env: BTreeMap<String, Vec<&Decision>> = BTreeMap::new();
    for decision in decisions.iter().filter(|d| period.holds(d.unix)) {
        by_env
            .entry(decision.env.clone())
            .or_default()
            .push(decision);
        by_env.entry("*".to_owned()).or_default().push(decision);
    }
    let mut stats: BTreeMap<String, Stats> = by_env
        .into_iter()
        .map(|(env, list)| (env, stats_of(&list)))
        .collect();
    // Where releases are named, a count of none is a count.
    let names_release =
        |d: &&Decision| d.release.is_some() && !d.selection.is_partial() && period.holds(d.unix);
    for d in decisions.iter().filter(names_release) {
        for env in [d.env.as_str(), "*"] {
            stats
                .entry(env.to_owned())
                .or_default()
                .releases
                .get_or_insert(0);
        }
    }
    // Over the whole log: a release's first pass may lie before the period,
    // and a pass within it is then no first.
    let passes = first_passes(decisions);
    let mut leads: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for pass in passes.iter().filter(|p| period.holds(p.unix)) {
        let stats = stats.entry(pass.env.to_owned()).or_default();
        *stats.releases.get_or_insert(0) += 1;
        if let Some(lead) = pass.lead {
            leads.entry(pass.env).or_default().push(lead);
        }
    }
    for (env, mut leads) in leads {
        leads.sort_by(f64::total_cmp);
        let stats = stats.entry(env.to_owned()).or_default();
        stats.lead_times = leads.len();
        stats.lead_time_s = median(&leads);
    }
    // All together: a release counts in the period of its first pass
    // anywhere, so that months add up to the releases there were.
    let mut first_anywhere: BTreeMap<&str, u64> = BTreeMap::new();
    for pass in &passes {
        let first = first_anywhere.entry(pass.release).or_insert(pass.unix);
        *first = (*first).min(pass.unix);
    }
    let new = first_anywhere
        .values()
        .filter(|&&unix| period.holds(unix))
        .count();
    if new > 0 {
        *stats
            .entry("*".to_owned())
            .or_default()
            .releases
            .get_or_insert(0) = new;
    }
    // A partial window's rollback counts for nothing, as its decision.
    let counted = |r: &&RollbackRun| !r.selection.is_partial() && period.holds(r.unix);
    for rollback in rollbacks.iter().filter(counted) {
        for env in [rollback.env.as_str(), "*"] {
            let stats = stats.entry(env.to_owned()).or_default();
            stats.rollback_commands += 1;
            if !rollback.succeeded {
                stats.rollback_commands_failed += 1;
            }
        }
    }
    stats
}

/// A release's first passing decision in an environment.
struct FirstPass<'a> {
    env: &'a str,
    release: &'a str,
    unix: u64,
    /// Seconds from its commit to this pass, when a line of the release
    /// gives the commit time.
    lead: Option<f64>,
}

/// Each release's first pass in each environment, over the whole log. A
/// partial decision promotes nothing, so it does not count.
fn first_passes(decisions: &[Decision]) -> Vec<FirstPass<'_>> {
    // A release's commit time, from whichever of its lines gives one: a
    // watch run without --committed-at may be the release's first pass.
    let mut committed: BTreeMap<&str, u64> = BTreeMap::new();
    // (env, release) → its first pass there.
    let mut first_pass: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for d in decisions {
        let Some(release) = &d.release else { continue };
        if let Some(at) = release.committed_unix {
            committed.entry(release.id.as_str()).or_insert(at);
        }
        if d.promoted() && !d.selection.is_partial() {
            let first = first_pass
                .entry((d.env.as_str(), release.id.as_str()))
                .or_insert(d.unix);
            *first = (*first).min(d.unix);
        }
    }
    first_pass
        .into_iter()
        .map(|((env, release), unix)| FirstPass {
            env,
            release,
            unix,
            // A commit "after" its pass is a clock's error or a wrong
            // --committed-at, not a lead of zero to pull the median down.
            lead: committed
                .get(release)
                .filter(|&&at| at <= unix)
                .map(|&at| (unix - at) as f64),
        })
        .collect()
}

/// Releases whose lines give different commit times (a rebuilt tag, a
/// mistyped `--committed-at`), with those times in the order they came:
/// the lead time takes the first, and the reader should know.
pub(crate) fn commit_time_conflicts(decisions: &[Decision]) -> Vec<(&str, Vec<u64>)> {
    let mut times: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for release in decisions.iter().filter_map(|d| d.release.as_ref()) {
        if let Some(at) = release.committed_unix {
            let seen = times.entry(release.id.as_str()).or_default();
            if !seen.contains(&at) {
                seen.push(at);
            }
        }
    }
    times.into_iter().filter(|(_, t)| t.len() > 1).collect()
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> Option<f64> {
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

fn stats_of(decisions: &[&Decision]) -> Stats {
    let (partial, mut sorted): (Vec<&Decision>, Vec<&Decision>) =
        decisions.iter().partition(|d| d.selection.is_partial());
    sorted.sort_by_key(|d| d.unix);
    let mut stats = Stats {
        decisions: sorted.len(),
        partial: partial.len(),
        ..Stats::default()
    };
    // In f64: timestamps come from a file anyone may have edited, and a sum
    // of u64 seconds could overflow.
    let mut restore_total = 0f64;
    // Per environment, the time of the first failure not yet restored.
    let mut broken_since: BTreeMap<&str, u64> = BTreeMap::new();
    for d in &sorted {
        match d.decision.as_str() {
            _ if d.promoted() => {
                stats.passed += 1;
                if let Some(since) = broken_since.remove(d.env.as_str()) {
                    restore_total += d.unix.saturating_sub(since) as f64;
                    stats.restores += 1;
                }
            }
            "fail" | "rollback" => {
                stats.failed += 1;
                if d.decision == "rollback" {
                    stats.rollbacks += 1;
                }
                broken_since.entry(d.env.as_str()).or_insert(d.unix);
            }
            "aborted" => stats.aborted += 1,
            // Undecided, and so is a pass that gate exited 2 on: the CI
            // step failed, yet the release was not found wanting.
            _ => stats.inconclusive += 1,
        }
    }
    let decided = stats.passed + stats.failed;
    if decided > 0 {
        stats.pass_rate = Some(stats.passed as f64 / decided as f64);
        stats.change_failure_rate = Some(stats.failed as f64 / decided as f64);
    }
    if stats.restores > 0 {
        stats.mean_time_to_restore_s = Some(restore_total / stats.restores as f64);
    }
    stats
}

/// `gate log stats` in words. The notes under the table (partial
/// decisions, rollback commands) are those of the row `totals`: `*` for all
/// environments, or the one environment a table was kept to (`--env`).
pub fn write_stats(
    stats: &BTreeMap<String, Stats>,
    totals: &str,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let percent = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1} %", v * 100.0));
    let span = |v: Option<f64>| v.map_or("-".to_owned(), crate::units::format_span);
    writeln!(
        out,
        "{:<12} {:>9} {:>9} {:>9} {:>14} {:>10} {:>8} {:>10}",
        "env",
        "decisions",
        "pass rate",
        "rollbacks",
        "change fail %",
        "MTTR",
        "releases",
        "lead time"
    )?;
    for (env, s) in stats {
        // Names from a file anyone may have edited: no terminal escapes.
        let env = if env == "*" {
            "(all)".to_owned()
        } else {
            crate::text::one_line(env)
        };
        writeln!(
            out,
            "{env:<12} {:>9} {:>9} {:>9} {:>14} {:>10} {:>8} {:>10}",
            s.decisions,
            percent(s.pass_rate),
            s.rollbacks,
            percent(s.change_failure_rate),
            span(s.mean_time_to_restore_s),
            s.releases.map_or("-".to_owned(), |n| n.to_string()),
            span(s.lead_time_s),
        )?;
    }
    let totals = stats.get(totals);
    if let Some(all) = totals
        && all.partial > 0
    {
        writeln!(
            out,
            "not counted: {} decision(s) over part of the checks (--check, --skip-check)",
            all.partial
        )?;
    }
    if let Some(all) = totals
        && all.rollback_commands > 0
    {
        let failed_in: Vec<String> = stats
            .iter()
            .filter(|(env, s)| *env != "*" && s.rollback_commands_failed > 0)
            .map(|(env, _)| crate::text::one_line(env))
            .collect();
        let failed = match all.rollback_commands_failed {
            0 => "none failed".to_owned(),
            n => format!("{n} FAILED ({})", failed_in.join(", ")),
        };
        writeln!(
            out,
            "rollback commands: {} run, {failed}",
            all.rollback_commands
        )?;
    }
    Ok(())
}

/// `--since` and `--until`: the decisions a report covers, by when they
/// were decided. A failure before `since` restored within it is outside,
/// so it adds nothing to the time to restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct Period {
    pub since: Option<u64>,
    pub until: Option<u64>,
}

impl Period {
    pub(crate) fn holds(&self, unix: u64) -> bool {
        self.since.is_none_or(|since| unix >= since) && self.until.is_none_or(|until| unix < until)
    }

    /// `from 2026-11-01T00:00:00Z until now`, when it is bounded.
    pub(crate) fn described(&self) -> Option<String> {
        if self.since.is_none() && self.until.is_none() {
            return None;
        }
        let end = |bound: Option<u64>, open: &str| {
            bound.map_or(open.to_owned(), crate::units::rfc3339_unix)
        };
        Some(format!(
            "the period from {} until {}",
            end(self.since, "the start of the log"),
            end(self.until, "now")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(env: &str, unix: u64, decision: &str) -> Decision {
        Decision {
            schema: DECISION_SCHEMA.into(),
            timestamp: crate::units::rfc3339_unix(unix),
            unix,
            command: "run".into(),
            env: env.into(),
            target: None,
            policies: vec![],
            decision: decision.into(),
            exit_code: 0,
            reason: String::new(),
            failed_checks: vec![],
            duration_ms: 1.0,
            selection: Names::default(),
            release: None,
        }
    }

    #[test]
    fn an_append_after_a_torn_line_starts_a_line_of_its_own() {
        let dir = std::env::temp_dir().join(format!("gate-decisions-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("decisions.jsonl");
        append(&path, &decision("prod", 100, "pass")).unwrap();
        // A disk that filled in the middle of the second decision.
        let whole = serde_json::to_string(&decision("prod", 200, "fail")).unwrap();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(&whole.as_bytes()[..whole.len() / 2])
            .unwrap();
        append(&path, &decision("prod", 300, "rollback")).unwrap();
        let log = read(&path, false).unwrap();
        assert_eq!(
            log.decisions,
            [
                decision("prod", 100, "pass"),
                decision("prod", 300, "rollback")
            ]
        );
        assert_eq!(log.unreadable.len(), 1, "{:?}", log.unreadable);
        assert!(log.unreadable[0].contains(":2: "), "{:?}", log.unreadable);

        // Read from a pipe when asked to (a PATH given), not otherwise.
        let piped = dir.join("piped");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&piped)
                .status()
                .unwrap()
                .success()
        );
        let writer = {
            let (piped, text) = (piped.clone(), std::fs::read(&path).unwrap());
            std::thread::spawn(move || std::fs::write(piped, text).unwrap())
        };
        assert_eq!(read(&piped, true).unwrap().decisions.len(), 2);
        writer.join().unwrap();
        assert!(
            read(&piped, false).is_err(),
            "a FIFO gate.toml names is refused"
        );

        // A FIFO no one reads is refused at once, not waited on.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let refused = append(&fifo, &decision("prod", 400, "pass")).unwrap_err();
        assert_eq!(refused.to_string(), "it is a FIFO no one reads");
        // A device is written to, as a file would be.
        append(Path::new("/dev/null"), &decision("prod", 500, "pass")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn appends_and_reads_back() {
        let path =
            std::env::temp_dir().join(format!("gate-decisions-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        append(&path, &decision("prod", 100, "pass")).unwrap();
        append(&path, &decision("prod", 200, "rollback")).unwrap();
        let read_back = read(&path, false).unwrap();
        assert_eq!(
            read_back.decisions,
            [
                decision("prod", 100, "pass"),
                decision("prod", 200, "rollback")
            ]
        );
        assert!(read_back.unreadable.is_empty());
        // A torn append: the next decision lands on the cut line. Both are
        // lost, the rest of the history is not.
        let text = std::fs::read_to_string(&path).unwrap();
        let (first, second) = text.split_once('\n').unwrap();
        let torn = format!("{}{second}{first}\n", &first[..first.len() / 2]);
        std::fs::write(&path, torn).unwrap();
        let log = read(&path, false).unwrap();
        assert_eq!(log.decisions, [decision("prod", 100, "pass")]);
        assert_eq!(log.unreadable.len(), 1, "{:?}", log.unreadable);
        assert!(
            log.unreadable[0].contains(":1: not a decision"),
            "{:?}",
            log.unreadable
        );
        // A write cut inside a multi-byte character ("→" is three bytes)
        // spoils its line only.
        let mut spoiled = decision("prod", 300, "fail");
        spoiled.reason = "GET /x → 500".into();
        let mut cut = serde_json::to_vec(&spoiled).unwrap();
        let arrow = cut.windows(3).position(|w| w == "→".as_bytes()).unwrap();
        cut.truncate(arrow + 1);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&cut);
        bytes.push(b'\n');
        bytes.extend_from_slice(&serde_json::to_vec(&decision("prod", 400, "pass")).unwrap());
        bytes.extend_from_slice(b"\r\n");
        std::fs::write(&path, bytes).unwrap();
        let log = read(&path, false).unwrap();
        assert_eq!(
            log.decisions,
            [decision("prod", 100, "pass"), decision("prod", 400, "pass")]
        );
        assert_eq!(log.unreadable.len(), 2, "{:?}", log.unreadable);
        assert!(
            log.unreadable[1].contains(":3: not a decision: not UTF-8 text"),
            "{:?}",
            log.unreadable
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn deployment_metrics() {
        let log = [
            decision("prod", 100, "pass"),
            decision("prod", 200, "rollback"),
            decision("prod", 260, "fail"),
            decision("prod", 500, "pass"),
            decision("stage", 150, "fail"),
            decision("stage", 250, "healthy"),
            decision("stage", 300, "inconclusive"),
        ];
        let stats = stats(&log, &[], Period::default());
        let prod = &stats["prod"];
        assert_eq!(
            (prod.decisions, prod.passed, prod.failed, prod.rollbacks),
            (4, 2, 2, 1)
        );
        assert_eq!(prod.change_failure_rate, Some(0.5));
        // Broken at 200 (the first failure), restored at 500.
        assert_eq!(prod.mean_time_to_restore_s, Some(300.0));
        let stage = &stats["stage"];
        assert_eq!(stage.mean_time_to_restore_s, Some(100.0));
        assert_eq!(stage.inconclusive, 1);
        let all = &stats["*"];
        assert_eq!(all.decisions, 7);
        assert_eq!(all.mean_time_to_restore_s, Some(200.0));
    }

    #[test]
    fn edited_timestamps_cannot_overflow_the_figures() {
        let at_the_end_of_time = |env: &str| Decision {
            unix: u64::MAX,
            ..decision(env, 0, "pass")
        };
        let log = [
            decision("a", 0, "fail"),
            at_the_end_of_time("a"),
            decision("b", 0, "fail"),
            at_the_end_of_time("b"),
        ];
        let stats = stats(&log, &[], Period::default());
        assert_eq!(stats["*"].mean_time_to_restore_s, Some(u64::MAX as f64));
        let mut text = Vec::new();
        write_stats(&stats, "*", &mut text).unwrap();
        assert!(String::from_utf8(text).unwrap().contains("(all)"));
    }

    #[test]
    fn a_decision_over_part_of_the_checks_counts_for_nothing() {
        let log = [
            decision("prod", 100, "pass"),
            decision("prod", 150, "fail").over(&Names {
                only_checks: vec!["health".into()],
                ..Names::default()
            }),
            decision("prod", 160, "pass").over(&Names {
                skip_checks: vec!["health".into()],
                ..Names::default()
            }),
            decision("prod", 200, "rollback"),
            decision("prod", 500, "pass"),
        ];
        let stats = stats(&log, &[], Period::default());
        let prod = &stats["prod"];
        assert_eq!(
            (prod.decisions, prod.passed, prod.failed, prod.partial),
            (3, 2, 1, 2)
        );
        // Broken at 200, not at the partial failure at 150; restored at 500,
        // not by the partial pass at 160.
        assert_eq!(prod.mean_time_to_restore_s, Some(300.0));
        let mut text = Vec::new();
        write_stats(&stats, "*", &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains(
                "not counted: 2 decision(s) over part of the checks (--check, --skip-check)"
            ),
            "{text}"
        );
    }

    #[test]
    fn rollback_commands_are_read_back_and_counted_apart_from_decisions() {
        let path = std::env::temp_dir().join(format!(
            "gate-decisions-rollback-{}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let ran =
            |env: &str, exit_code| RollbackRun::new(env, None, "", "./rollback.sh", exit_code, 5.0);
        append(&path, &decision("prod", 100, "rollback")).unwrap();
        append(&path, &ran("prod", Some(0))).unwrap();
        append(&path, &decision("prod", 200, "rollback")).unwrap();
        append(&path, &ran("prod", None)).unwrap();
        append(&path, &decision("stage", 300, "rollback")).unwrap();
        append(&path, &ran("stage", Some(3))).unwrap();
        let partial = Names {
            only_checks: vec!["health".into()],
            ..Names::default()
        };
        append(&path, &ran("stage", None).over(&partial)).unwrap();
        let log = read(&path, false).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(log.unreadable.is_empty(), "{:?}", log.unreadable);
        assert_eq!(log.decisions.len(), 3);
        assert_eq!(
            log.rollbacks
                .iter()
                .map(|r| (r.env.as_str(), r.succeeded, r.exit_code))
                .collect::<Vec<_>>(),
            [
                ("prod", true, Some(0)),
                ("prod", false, None),
                ("stage", false, Some(3)),
                ("stage", false, None)
            ]
        );
        let stats = stats(&log.decisions, &log.rollbacks, Period::default());
        // The rollback lines are no decisions: they change no figure of them.
        assert_eq!((stats["prod"].decisions, stats["prod"].rollbacks), (2, 2));
        assert_eq!(
            (
                stats["prod"].rollback_commands,
                stats["prod"].rollback_commands_failed
            ),
            (2, 1)
        );
        assert_eq!(
            (
                stats["*"].rollback_commands,
                stats["*"].rollback_commands_failed
            ),
            (3, 2)
        );
        let mut text = Vec::new();
        write_stats(&stats, "*", &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.ends_with("rollback commands: 3 run, 2 FAILED (prod, stage)\n"),
            "{text}"
        );
    }

    /// Lines of gates before the `schema` field read as version 1, by their
    /// `command`; a later version is named, not misread.
    #[test]
    fn lines_are_read_by_their_schema() {
        let legacy_decision = serde_json::to_value(decision("prod", 100, "pass")).unwrap();
        let legacy_rollback =
            serde_json::to_value(RollbackRun::new("prod", None, "", "./rb.sh", Some(0), 1.0))
                .unwrap();
        for (mut line, rollback) in [(legacy_decision, false), (legacy_rollback, true)] {
            line.as_object_mut().unwrap().remove("schema");
            match parse_line(&line.to_string()) {
                Ok(Line::Decision(d)) if !rollback => assert_eq!(d.schema, DECISION_SCHEMA),
                Ok(Line::Rollback(r)) if rollback => assert_eq!(r.schema, ROLLBACK_SCHEMA),
                _ => panic!("{line} was misread"),
            }
        }

        let mut newer = serde_json::to_value(decision("prod", 100, "pass")).unwrap();
        newer["schema"] = "gate.decision/v2".into();
        let Err(Skip::Newer(why)) = parse_line(&newer.to_string()) else {
            panic!("{newer} was not left out as newer");
        };
        assert!(
            why.starts_with("schema \"gate.decision/v2\" is not one this gate reads")
                && why.contains("written by a newer gate"),
            "{why}"
        );
        // No newer version: another file's line, an edit, a terminal escape.
        for other in [
            "gate.report/v1",
            "gate.decision/v0",
            "gate.decision/x",
            "gate.rollback/v1\u{1b}]0;",
        ] {
            newer["schema"] = other.into();
            let Err(Skip::Unreadable(why)) = parse_line(&newer.to_string()) else {
                panic!("{newer} was read");
            };
            assert_eq!(
                why,
                format!(
                    "not a decision: schema {} is not a decision log's",
                    newer["schema"]
                ),
            );
            assert!(!why.contains('\u{1b}'), "{why}");
        }
        // The schema decides the kind: a rollback line said to be a decision
        // is not read as one.
        let mut mislabelled =
            serde_json::to_value(RollbackRun::new("prod", None, "", "./rb.sh", None, 1.0)).unwrap();
        mislabelled["schema"] = DECISION_SCHEMA.into();
        let Err(Skip::Unreadable(why)) = parse_line(&mislabelled.to_string()) else {
            panic!("{mislabelled} was read");
        };
        assert!(why.starts_with("not a decision: "), "{why}");
    }

    /// What gate writes keeps to the schemas shipped in `schema/`, and the
    /// schemas are no blank cheques.
    #[test]
    fn lines_match_their_schemas() {
        let validator = |file: &str| {
            let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../schema")
                .join(file);
            let schema: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            jsonschema::validator_for(&schema).expect("the schema is valid")
        };
        let errors = |validator: &jsonschema::Validator, line: &serde_json::Value| {
            validator
                .iter_errors(line)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect::<Vec<_>>()
        };
        let decisions = validator("gate.decision.v1.json");
        let mut full = Decision {
            target: Some("http://127.0.0.1:8080/".into()),
            policies: vec![PolicyRef {
                name: "prod".into(),
                version: "0.1.0".into(),
                sha256: "a".repeat(64),
            }],
            failed_checks: vec![FailedCheck {
                policy: "prod".into(),
                check: "error-rate".into(),
                outcome: "fail".into(),
                message: "too many errors".into(),
                measurements: vec![Measured {
                    name: "error_rate".into(),
                    value: None,
                    unit: "ratio".into(),
                    threshold: Some("< 0.01".into()),
                }],
            }],
            ..decision("prod", 100, "fail")
        };
        full = full
            .over(&Names {
                skip_checks: vec!["slow".into()],
                ..Names::default()
            })
            .of_release(Some(&Release::new("v1.4.2", Some(1_795_392_000))));
        let line = serde_json::to_value(&full).unwrap();
        assert_eq!(errors(&decisions, &line), Vec::<String>::new());
        for (key, wrong) in [
            ("decision", serde_json::json!("maybe")),
            ("schema", serde_json::json!(ROLLBACK_SCHEMA)),
            ("surprise", serde_json::json!(1)),
            (
                "release",
                serde_json::json!({"id": "v1", "committed_at": "2026-11-23T00:00:00Z"}),
            ),
        ] {
            let mut broken = line.clone();
            broken[key] = wrong;
            assert!(!decisions.is_valid(&broken), "{key} was let through");
        }

        let rollbacks = validator("gate.rollback.v1.json");
        for exit_code in [Some(0), Some(3), None] {
            let line = serde_json::to_value(RollbackRun::new(
                "prod",
                None,
                "2026-12-07T08:00:00Z",
                "./rollback.sh",
                exit_code,
                5.0,
            ))
            .unwrap();
            assert_eq!(errors(&rollbacks, &line), Vec::<String>::new());
            assert!(!decisions.is_valid(&line));
            let mut broken = line;
            broken["succeeded"] = "yes".into();
            assert!(!rollbacks.is_valid(&broken));
        }
    }

    #[test]
    fn a_period_holds_from_since_up_to_until() {
        let period = Period {
            since: Some(100),
            until: Some(200),
        };
        assert_eq!(
            [99, 100, 199, 200].map(|unix| period.holds(unix)),
            [false, true, true, false]
        );
        assert!(Period::default().holds(0) && Period::default().described().is_none());
        assert_eq!(
            Period {
                since: Some(1_795_392_000),
                until: None
            }
            .described()
            .unwrap(),
            "the period from 2026-11-23T00:00:00Z until now"
        );
        assert_eq!(
            Period {
                since: None,
                until: Some(0)
            }
            .described()
            .unwrap(),
            "the period from the start of the log until 1970-01-01T00:00:00Z"
        );
    }

    /// Lead time: per environment, the median from a release's commit to
    /// its first passing decision there; releases without a commit time,
    /// failed and partial decisions measure nothing.
    #[test]
    fn lead_time_is_from_commit_to_the_first_pass_in_each_environment() {
        let judged = |env: &str, unix: u64, decision_word: &str, id: &str, committed| {
            decision(env, unix, decision_word).of_release(Some(&Release::new(id, committed)))
        };
        let partial = Names {
            only_checks: vec!["health".into()],
            ..Names::default()
        };
        let log = [
            // v1: committed at 1000, failed in stage, passed at 1600, in prod at 4600.
            judged("stage", 1_300, "fail", "v1", Some(1_000)),
            judged("stage", 1_600, "pass", "v1", Some(1_000)),
            judged("stage", 1_700, "pass", "v1", Some(1_000)),
            judged("prod", 4_600, "pass", "v1", Some(1_000)),
            // v2: committed at 5000, in stage at 5100, prod healthy at 12200.
            judged("stage", 5_100, "pass", "v2", Some(5_000)),
            judged("prod", 12_200, "healthy", "v2", Some(5_000)),
            // v3: stage at 20000 (committed at 19000); a partial pass in
            // prod promotes nothing.
            judged("stage", 20_000, "pass", "v3", Some(19_000)),
            judged("prod", 20_100, "pass", "v3", Some(19_000)).over(&partial),
            // No commit time: no lead time.
            judged("prod", 30_000, "pass", "v4", None),
            decision("prod", 31_000, "pass"),
        ];
        let stats = stats(&log, &[], Period::default());
        // stage: 600, 100, 1000 → median 600.
        assert_eq!(
            (stats["stage"].lead_time_s, stats["stage"].lead_times),
            (Some(600.0), 3)
        );
        // prod: 3600, 7200 → median 5400.
        assert_eq!(
            (stats["prod"].lead_time_s, stats["prod"].lead_times),
            (Some(5400.0), 2)
        );
        assert_eq!((stats["*"].lead_time_s, stats["*"].lead_times), (None, 0));
        // Releases passed: stage v1, v2, v3; prod v1, v2 and v4 (no commit
        // time, no lead); anywhere, v1 to v4.
        assert_eq!(
            (
                stats["stage"].releases,
                stats["prod"].releases,
                stats["*"].releases
            ),
            (Some(3), Some(3), Some(4))
        );
        let mut text = Vec::new();
        write_stats(&stats, "*", &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let row = |env: &str| {
            text.lines()
                .find(|l| l.starts_with(env))
                .unwrap_or_else(|| panic!("no {env} row: {text}"))
                .to_owned()
        };
        assert!(row("env").ends_with("MTTR releases  lead time"), "{text}");
        assert!(row("prod").ends_with(" 3     1h 30m"), "{text}");
        assert!(row("stage").ends_with(" 3     10m 0s"), "{text}");
        assert!(row("(all)").ends_with(" 4          -"), "{text}");
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, 2.0, 10.0]), Some(2.0));
    }

    /// In a period, a release counts where its first pass is in it, over the
    /// whole log: a pass within the period after one before it is no first.
    /// A commit time after the pass measures nothing.
    #[test]
    fn lead_time_in_a_period_counts_first_passes_within_it() {
        let judged = |env: &str, unix: u64, id: &str, committed| {
            decision(env, unix, "pass").of_release(Some(&Release::new(id, Some(committed))))
        };
        let log = [
            // v7: first passed in prod before the period, again within it.
            judged("prod", 1_000, "v7", 400),
            judged("prod", 2_500, "v7", 400),
            // v8: first passed within it.
            judged("prod", 3_000, "v8", 2_000),
            // v9: "committed" after its pass: a clock's error.
            judged("prod", 3_500, "v9", 3_600),
            // v10: first healthy in a watch told no commit time; a later
            // run gives it. The first pass is the watch's.
            decision("prod", 1_200, "healthy").of_release(Some(&Release::new("v10", None))),
            judged("prod", 2_600, "v10", 500),
        ];
        let period = Period {
            since: Some(2_000),
            until: None,
        };
        let stats = stats(&log, &[], period);
        assert_eq!(
            (stats["prod"].lead_time_s, stats["prod"].lead_times),
            (Some(1_000.0), 1)
        );
        // v8 and v9 first passed within it (v9 with no lead to measure);
        // so did no other release anywhere.
        assert_eq!(
            (stats["prod"].releases, stats["*"].releases),
            (Some(2), Some(2))
        );
        // The other figures count the decisions within the period alone.
        assert_eq!(stats["prod"].decisions, 4);
        // v7 600, v10 700, v8 1000.
        let whole = super::stats(&log, &[], Period::default());
        assert_eq!(
            (whole["prod"].lead_time_s, whole["prod"].lead_times),
            (Some(700.0), 3)
        );
    }

    #[test]
    fn a_release_given_two_commit_times_is_named() {
        let judged = |unix: u64, id: &str, committed| {
            decision("prod", unix, "pass").of_release(Some(&Release::new(id, committed)))
        };
        // The later commit time first: the first in the log is the one
        // used, not the earliest.
        let log = [
            judged(100, "v1", Some(20)),
            judged(200, "v1", None),
            judged(300, "v1", Some(20)),
            judged(400, "v1", Some(10)),
            judged(500, "v2", Some(30)),
        ];
        assert_eq!(commit_time_conflicts(&log), [("v1", vec![20, 10])]);
        // v1: 100 - 20; v2: 500 - 30.
        let stats = stats(&log, &[], Period::default());
        assert_eq!(stats["prod"].lead_time_s, Some((80.0 + 470.0) / 2.0));
    }

    /// A table kept to one environment (`--env`) keeps its footers, from
    /// that environment's row.
    #[test]
    fn one_environments_table_keeps_its_footers() {
        let partial = Names {
            only_checks: vec!["health".into()],
            ..Names::default()
        };
        let log = [
            decision("prod", 100, "rollback"),
            decision("prod", 150, "pass").over(&partial),
            decision("stage", 200, "pass"),
        ];
        let ran = RollbackRun::new("prod", None, "", "./rb.sh", Some(2), 5.0);
        let mut stats = stats(&log, &[ran], Period::default());
        stats.retain(|env, _| env == "prod");
        let mut text = Vec::new();
        write_stats(&stats, "prod", &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("not counted: 1 decision(s) over part of the checks")
                && text.ends_with("rollback commands: 1 run, 1 FAILED (prod)\n"),
            "{text}"
        );
    }

    /// An environment whose only decisions naming a release are partial
    /// names none: its releases are `-`, not 0.
    #[test]
    fn partial_decisions_name_no_release() {
        let partial = Names {
            only_checks: vec!["health".into()],
            ..Names::default()
        };
        let log = [
            decision("qa", 100, "fail")
                .over(&partial)
                .of_release(Some(&Release::new("v1", None))),
            decision("qa", 200, "pass"),
        ];
        let stats = stats(&log, &[], Period::default());
        assert_eq!(stats["qa"].releases, None);
        assert_eq!(stats["*"].releases, None);
    }

    /// A line of an environment named `*` (the total's key), or of any name
    /// gate refuses, is left out and named, not counted in the total.
    #[test]
    fn a_line_of_a_refused_environment_name_is_left_out() {
        for env in ["*", "a b", "x\u{1b}[2J", ""] {
            let mut line = serde_json::to_value(decision("prod", 100, "pass")).unwrap();
            line["env"] = env.into();
            let Err(Skip::Unreadable(why)) = parse_line(&line.to_string()) else {
                panic!("{env:?} was read");
            };
            assert!(why.contains("is not an environment name"), "{why}");
            assert!(!why.contains('\u{1b}'), "{why}");
        }
    }
}
