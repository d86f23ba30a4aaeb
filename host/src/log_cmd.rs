//! `gate log stats` and `gate log show`: a decision log read back, as
//! deployment metrics or as the history of what was decided.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{LogArgs, LogCommand, LogShowArgs, LogStatsArgs};
use crate::decision_log::{Decision, Log, Period, RollbackRun};
use crate::report::Format;
use crate::text::one_line;
use crate::units::rfc3339_unix;

/// Runs `gate log …` and returns its exit code.
pub fn command(command: LogCommand, config: Option<&Path>) -> anyhow::Result<i32> {
    match command {
        LogCommand::Stats(args) => stats(args, config),
        LogCommand::Show(args) => show(args, config),
    }
}

/// A log read for one command: its readable lines, the period asked for
/// and the environment the rows are kept to.
struct Opened {
    log: Log,
    period: Period,
    env: Option<String>,
    /// The log's name in messages (`stdin` for `-`).
    name: String,
}

/// Reads the log the arguments name, saying on stderr what was left out
/// and why, and stopping when nothing in it can be read.
fn open(args: &LogArgs, config: Option<&Path>, command: &str) -> anyhow::Result<Opened> {
    let period = Period {
        since: args.since,
        until: args.until,
    };
    if let (Some(since), Some(until)) = (period.since, period.until)
        && since >= until
    {
        anyhow::bail!(
            "--since {} is not before --until {}: nothing can lie between",
            rfc3339_unix(since),
            rfc3339_unix(until)
        );
    }
    let path = log_path(args, config)?;
    // A PATH given may be a pipe (`<(zcat decisions.jsonl.gz)`, /dev/stdin);
    // gate.toml's log is read only if it is a file.
    let piped = args.path.is_some();
    let (source, name) = crate::decision_log::source(&path, piped);
    if source == Path::new("/dev/stdin") && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("gate log {command}: reading the decision log from stdin (end it with Ctrl-D)");
    }
    let log = crate::decision_log::read(&path, piped).map_err(anyhow::Error::msg)?;
    const SHOWN: usize = 5;
    for line in log.unreadable.iter().take(SHOWN) {
        eprintln!("gate log {command}: {line} (left out)");
    }
    if log.unreadable.len() > SHOWN {
        eprintln!(
            "gate log {command}: … and {} more lines that are not decisions (left out)",
            log.unreadable.len() - SHOWN
        );
    }
    if let Some(first) = log.newer.first() {
        eprintln!(
            "gate log {command}: {} line(s) of a newer gate left out, the first at {first}: \
             read the log with that gate",
            log.newer.len()
        );
    }
    if log.decisions.is_empty() && log.rollbacks.is_empty() {
        if !log.newer.is_empty() {
            let also = match log.unreadable.len() {
                0 => String::new(),
                n => format!(", and {n} that are not decisions"),
            };
            anyhow::bail!(
                "{} holds no decision this gate can read: {} line(s) a newer gate wrote{also}; \
                 read it with that gate",
                name,
                log.newer.len()
            );
        }
        if !log.unreadable.is_empty() {
            anyhow::bail!(
                "{} holds no decision gate can read: is it a decision log (--decision-log)?",
                name
            );
        }
    }
    // A name the log does not hold is likely a slip: say what it holds.
    if let Some(env) = &args.env {
        let held: std::collections::BTreeSet<&str> = log
            .decisions
            .iter()
            .map(|d| d.env.as_str())
            .chain(log.rollbacks.iter().map(|r| r.env.as_str()))
            .collect();
        if !held.contains(env.as_str()) {
            let held: Vec<String> = held.iter().map(|e| one_line(e)).collect();
            eprintln!(
                "gate log {command}: {} holds no decision of env `{}` (it holds: {})",
                name,
                one_line(env),
                if held.is_empty() {
                    "none".to_owned()
                } else {
                    held.join(", ")
                }
            );
        }
    }
    Ok(Opened {
        log,
        period,
        env: args.env.clone(),
        name,
    })
}

/// The log to read: PATH, else the `decision_log` that gate.toml's
/// environment appends to.
fn log_path(args: &LogArgs, config: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = &args.path {
        return Ok(path.clone());
    }
    let Some(file) = crate::config::Config::locate(config) else {
        anyhow::bail!(
            "which decision log? give its PATH, or run where a gate.toml sets decision_log \
             (or name one with --config)"
        );
    };
    let config = crate::config::Config::load(&file)?;
    // Only the log's own setting matters here: a timeout written wrong is
    // no reason to refuse reading the log.
    let (environment, mut problems) =
        config.environment_lenient(config.chosen(args.env.as_deref())?)?;
    problems.extend(config.top_level().1);
    problems.retain(|p| p.place.setting() == "decision_log");
    if !problems.is_empty() {
        return Err(crate::config::ConfigError::Invalid(problems).into());
    }
    match environment.settings.decision_log {
        Some(log) => Ok(log.value),
        None => {
            let place = if config.has_env_tables() {
                format!("in [env.{}] or at the top level", environment.name)
            } else {
                "at the top level".to_owned()
            };
            anyhow::bail!(
                "env `{}` of {} sets no decision_log: give the log's PATH, or set \
                 decision_log = \"…\" {place}",
                environment.name,
                config.file()
            )
        }
    }
}

/// `gate log stats [PATH]`.
fn stats(args: LogStatsArgs, config: Option<&Path>) -> anyhow::Result<i32> {
    let Opened {
        log,
        period,
        env,
        name,
    } = open(&args.log, config, "stats")?;
    if log.decisions.is_empty() && log.rollbacks.is_empty() {
        eprintln!("gate log stats: {name} holds no decision yet: nothing to count");
    }
    let shown = |d: &&Decision| env.as_ref().is_none_or(|e| *e == d.env);
    // Only the releases this table is about.
    let judged: std::collections::BTreeSet<&str> = log
        .decisions
        .iter()
        .filter(shown)
        .filter(|d| period.holds(d.unix) && !d.selection.is_partial())
        .filter_map(|d| d.release.as_ref().map(|r| r.id.as_str()))
        .collect();
    for (id, times) in crate::decision_log::commit_time_conflicts(&log.decisions) {
        if !judged.contains(id) {
            continue;
        }
        let times: Vec<String> = times.into_iter().map(rfc3339_unix).collect();
        // Debug quoting escapes what a hand-edited log may hold.
        eprintln!(
            "gate log stats: release {id:?} was given {} commit times ({}): its lead time uses \
             the first",
            times.len(),
            times.join(", ")
        );
    }
    let outside = log
        .decisions
        .iter()
        .filter(shown)
        .filter(|d| !period.holds(d.unix))
        .count();
    // Over the whole log, other environments included: a release's commit
    // time may come from a line of another environment.
    let mut stats = crate::decision_log::stats(&log.decisions, &log.rollbacks, period);
    if let Some(env) = &env {
        stats.retain(|name, _| name == env);
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Human => {
            crate::decision_log::write_stats(&stats, env.as_deref().unwrap_or("*"), &mut stdout)?;
            if let Some(period) = period.described() {
                writeln!(
                    stdout,
                    "not counted: {outside} decision(s) outside {period}"
                )?;
            }
        }
        Format::Json => {
            let document = StatsDocument {
                schema: STATS_SCHEMA,
                outside_period: outside,
                unreadable_lines: log.unreadable.len(),
                newer_lines: log.newer.len(),
                environments: &stats,
            };
            serde_json::to_writer_pretty(&mut stdout, &document)?;
            writeln!(stdout)?;
        }
    }
    Ok(crate::verdict::EXIT_PASS)
}

/// Version of the JSON shape of `gate log stats`.
pub const STATS_SCHEMA: &str = "gate.log-stats/v1";

/// `gate log stats --format json`: the figures by environment (`*` for
/// all of them), and what they leave out: decisions outside the period,
/// lines that are not decisions, and lines of a newer schema.
#[derive(Serialize)]
struct StatsDocument<'a> {
    schema: &'static str,
    outside_period: usize,
    unreadable_lines: usize,
    newer_lines: usize,
    environments: &'a std::collections::BTreeMap<String, crate::decision_log::Stats>,
}

/// One line of the history, a decision or what its rollback command did.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Entry<'a> {
    Decision(&'a Decision),
    Rollback(&'a RollbackRun),
}

impl Entry<'_> {
    fn unix(&self) -> u64 {
        match self {
            Entry::Decision(d) => d.unix,
            Entry::Rollback(r) => r.unix,
        }
    }

    fn env(&self) -> &str {
        match self {
            Entry::Decision(d) => &d.env,
            Entry::Rollback(r) => &r.env,
        }
    }
}

/// The entries of the history: those of `env` (all without) in `period`,
/// by time, a decision before the rollback command it started when both
/// fall in one second (the sort is stable: the log's order otherwise), the
/// last `last` of them.
pub(crate) fn history<'a>(
    log: &'a Log,
    period: Period,
    env: Option<&str>,
    last: Option<usize>,
) -> Vec<Entry<'a>> {
    let mut entries: Vec<Entry> = log
        .decisions
        .iter()
        .map(Entry::Decision)
        .chain(log.rollbacks.iter().map(Entry::Rollback))
        .filter(|e| period.holds(e.unix()))
        .filter(|e| env.is_none_or(|name| name == e.env()))
        .collect();
    entries.sort_by_key(|e| (e.unix(), matches!(e, Entry::Rollback(_))));
    if let Some(last) = last {
        entries.drain(..entries.len().saturating_sub(last));
    }
    entries
}

/// `gate log show [PATH]`: what was decided, oldest first.
fn show(args: LogShowArgs, config: Option<&Path>) -> anyhow::Result<i32> {
    let Opened {
        log, period, env, ..
    } = open(&args.log, config, "show")?;
    let entries = history(&log, period, env.as_deref(), args.last.map(|n| n as usize));
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Human => {
            let widths = Widths::of(&entries);
            for entry in &entries {
                writeln!(stdout, "{}", describe(entry, widths))?;
            }
            if entries.is_empty() {
                eprintln!("gate log show: no decision to show");
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &entries)?;
            writeln!(stdout)?;
        }
    }
    Ok(crate::verdict::EXIT_PASS)
}

/// The widths `gate log show` pads its columns to, so that each starts
/// where it does on the other lines.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Widths {
    pub env: usize,
    pub release: usize,
}

impl Widths {
    pub(crate) fn of(entries: &[Entry]) -> Widths {
        let width = |text: &str| one_line(text).chars().count();
        let releases = entries.iter().filter_map(|e| match e {
            Entry::Decision(d) => Some(width(release_of(d))),
            Entry::Rollback(_) => None,
        });
        Widths {
            env: entries.iter().map(|e| width(e.env())).max().unwrap_or(0),
            release: releases.max().unwrap_or(0),
        }
    }
}

fn release_of(decision: &Decision) -> &str {
    decision.release.as_ref().map_or("-", |r| r.id.as_str())
}

/// One entry in one line: when, where (the environment padded to
/// `widths.env`), what, and why.
pub(crate) fn describe(entry: &Entry, widths: Widths) -> String {
    let Widths {
        env: env_width,
        release: release_width,
    } = widths;
    match entry {
        Entry::Decision(d) => {
            let release = release_of(d);
            let mut line = format!(
                "{}  {:<env_width$}  {:<8} {:<16} {:<release_width$}  {}",
                one_line(&d.timestamp),
                one_line(&d.env),
                one_line(&d.command),
                format!("{} ({})", one_line(&d.decision.to_uppercase()), d.exit_code),
                one_line(release),
                one_line(d.reason.lines().next().unwrap_or(""))
            );
            if d.selection.is_partial() {
                line.push_str("  [over some of the checks]");
            }
            line
        }
        Entry::Rollback(r) => {
            let outcome = match (r.succeeded, r.exit_code) {
                (true, _) => "ran, exit 0".to_owned(),
                (false, Some(code)) => format!("FAILED, exit {code}"),
                (false, None) => "FAILED, no exit code (killed, timed out or not started)".into(),
            };
            format!(
                "{}  {:<env_width$}  rollback command `{}`: {outcome}, {}",
                one_line(&r.timestamp),
                one_line(&r.env),
                one_line(&r.rollback_command),
                crate::units::format_span(r.duration_ms / 1000.0)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision_log::Release;

    #[test]
    fn entries_read_as_one_line_each() {
        let mut decision = Decision::new(
            "watch",
            "prod",
            None,
            &[],
            "rollback",
            1,
            "prod/error-rate failed\nin 3 rounds",
            12.0,
        )
        .of_release(Some(&Release::new("v1.4.2", None)));
        decision.timestamp = "2026-12-07T09:10:00Z".into();
        let widths = |env, release| Widths { env, release };
        assert_eq!(
            describe(&Entry::Decision(&decision), widths(5, 0)),
            "2026-12-07T09:10:00Z  prod   watch    ROLLBACK (1)     v1.4.2  prod/error-rate failed"
        );
        // The reason starts where it does after a longer release.
        assert_eq!(
            describe(&Entry::Decision(&decision), widths(5, 8)),
            "2026-12-07T09:10:00Z  prod   watch    ROLLBACK (1)     v1.4.2    prod/error-rate failed"
        );
        let entries = [Entry::Decision(&decision)];
        assert_eq!(Widths::of(&entries).release, 6);
        // A hand-edited log cannot drive the terminal or forge a line.
        decision.env = "prod\u{1b}[2J\n2026-12-07T09:11:00Z  prod  run".into();
        decision.release = Some(Release::new("v1\tv2", None));
        let line = describe(&Entry::Decision(&decision), Widths::default());
        assert!(
            !line.contains(['\u{1b}', '\n', '\t']) && line.contains("\\n2026-12-07T09:11:00Z"),
            "{line}"
        );

        let mut rollback = RollbackRun::new("prod", None, "", "./rollback.sh", Some(3), 4200.0);
        rollback.timestamp = "2026-12-07T09:10:05Z".into();
        assert_eq!(
            describe(&Entry::Rollback(&rollback), widths(5, 0)),
            "2026-12-07T09:10:05Z  prod   rollback command `./rollback.sh`: FAILED, exit 3, 4.20s"
        );
    }

    /// By time whatever the log's order, a decision before its rollback
    /// command within one second, then the period, the environment and the
    /// last N.
    #[test]
    fn the_history_is_in_time_order() {
        let at = |env: &str, unix: u64, word: &str| {
            let mut d = Decision::new("run", env, None, &[], word, 0, "", 1.0);
            d.unix = unix;
            d
        };
        let mut rollback = RollbackRun::new("prod", None, "", "./rb.sh", Some(0), 1.0);
        rollback.unix = 200;
        let log = Log {
            // Appended out of order, as two writers may.
            decisions: vec![
                at("prod", 300, "pass"),
                at("prod", 200, "rollback"),
                at("stage", 100, "pass"),
            ],
            rollbacks: vec![rollback],
            ..Log::default()
        };
        let seen = |entries: Vec<Entry>| -> Vec<(u64, &'static str)> {
            entries
                .iter()
                .map(|e| match e {
                    Entry::Decision(_) => (e.unix(), "decision"),
                    Entry::Rollback(_) => (e.unix(), "rollback"),
                })
                .collect()
        };
        let all = Period::default();
        assert_eq!(
            seen(history(&log, all, None, None)),
            [
                (100, "decision"),
                (200, "decision"),
                (200, "rollback"),
                (300, "decision")
            ]
        );
        assert_eq!(
            seen(history(&log, all, Some("prod"), Some(2))),
            [(200, "rollback"), (300, "decision")]
        );
        assert_eq!(seen(history(&log, all, None, Some(10))).len(), 4);
        let period = Period {
            since: Some(150),
            until: Some(300),
        };
        assert_eq!(
            seen(history(&log, period, None, None)),
            [(200, "decision"), (200, "rollback")]
        );
        assert!(history(&log, all, Some("qa"), None).is_empty());
    }
}
