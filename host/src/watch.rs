//! `gate watch`: runs a trigger policy round after round over a bake window
//! and decides healthy, roll back or inconclusive, with stricter semantics
//! than Argo Rollouts analysis: errors are never healthy.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::config::Setting;
use crate::report::{Outcome, PolicyReport, ReportFormat};

/// What a round of checks amounted to, by its worst blocking check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoundOutcome {
    Pass,
    Fail,
    Error,
    Inconclusive,
}

impl RoundOutcome {
    /// A blocking `fail` makes the round fail; else a blocking `error` makes
    /// it error; else a blocking `inconclusive`, or a policy none of whose
    /// blocking checks decided, makes it inconclusive: as in
    /// [`crate::verdict::decide`], neither a non-blocking check that passed
    /// nor another policy stands in for the blocking ones that were skipped.
    pub fn of(policies: &[PolicyReport]) -> RoundOutcome {
        let blocking = || {
            policies
                .iter()
                .flat_map(|p| &p.checks)
                .filter(|c| c.blocking)
        };
        let any = |outcome: Outcome| blocking().any(|c| c.outcome == outcome);
        if any(Outcome::Fail) {
            RoundOutcome::Fail
        } else if any(Outcome::Error) {
            RoundOutcome::Error
        } else if any(Outcome::Inconclusive) || crate::verdict::undecided(policies).is_some() {
            RoundOutcome::Inconclusive
        } else {
            RoundOutcome::Pass
        }
    }
}

impl fmt::Display for RoundOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoundOutcome::Pass => "pass",
            RoundOutcome::Fail => "fail",
            RoundOutcome::Error => "error",
            RoundOutcome::Inconclusive => "inconclusive",
        })
    }
}

/// How much trouble a window tolerates before it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WatchLimits {
    /// Roll back when failed rounds exceed this.
    pub failure_limit: u32,
    /// End inconclusive when inconclusive rounds exceed this.
    pub inconclusive_limit: u32,
    /// Roll back when consecutive errored rounds exceed this.
    pub consecutive_error_limit: u32,
}

impl Default for WatchLimits {
    fn default() -> Self {
        WatchLimits {
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 2,
        }
    }
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchDecision {
    Healthy,
    Rollback,
    Inconclusive,
    Aborted,
}

impl WatchDecision {
    pub fn exit_code(self) -> i32 {
        match self {
            WatchDecision::Healthy => crate::verdict::EXIT_PASS,
            WatchDecision::Rollback => crate::verdict::EXIT_FAIL,
            WatchDecision::Inconclusive => crate::verdict::EXIT_INCONCLUSIVE,
            WatchDecision::Aborted => EXIT_ABORTED,
        }
    }
}

impl fmt::Display for WatchDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WatchDecision::Healthy => "healthy",
            WatchDecision::Rollback => "rollback",
            WatchDecision::Inconclusive => "inconclusive",
            WatchDecision::Aborted => "aborted",
        })
    }
}

/// Exit code of a watch stopped by SIGINT, SIGTERM or SIGHUP (128 + SIGINT).
pub const EXIT_ABORTED: i32 = 130;

/// The counts a window keeps, and the decision they lead to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub rounds: u32,
    pub passed: u32,
    pub failed: u32,
    pub errored: u32,
    pub inconclusive: u32,
    pub consecutive_errors: u32,
}

impl Tally {
    /// Counts a finished round; `Some` when a limit is now exceeded, with
    /// the reason.
    pub fn record(
        &mut self,
        outcome: RoundOutcome,
        limits: &WatchLimits,
    ) -> Option<(WatchDecision, String)> {
        self.rounds += 1;
        match outcome {
            RoundOutcome::Pass => {
                self.passed += 1;
                self.consecutive_errors = 0;
            }
            RoundOutcome::Fail => {
                self.failed += 1;
                self.consecutive_errors = 0;
            }
            RoundOutcome::Error => {
                self.errored += 1;
                self.consecutive_errors += 1;
            }
            RoundOutcome::Inconclusive => {
                self.inconclusive += 1;
                self.consecutive_errors = 0;
            }
        }
        if self.failed > limits.failure_limit {
            return Some((
                WatchDecision::Rollback,
                format!(
                    "{} failed rounds exceed the failure limit of {}",
                    self.failed, limits.failure_limit
                ),
            ));
        }
        if self.consecutive_errors > limits.consecutive_error_limit {
            return Some((
                WatchDecision::Rollback,
                format!(
                    "{} consecutive errored rounds exceed the consecutive error limit of {}",
                    self.consecutive_errors, limits.consecutive_error_limit
                ),
            ));
        }
        if self.inconclusive > limits.inconclusive_limit {
            return Some((
                WatchDecision::Inconclusive,
                format!(
                    "{} inconclusive rounds exceed the inconclusive limit of {}",
                    self.inconclusive, limits.inconclusive_limit
                ),
            ));
        }
        None
    }

    /// The decision of a window that ran to its end within every limit: healthy
    /// only if some round passed.
    pub fn at_end(&self) -> (WatchDecision, String) {
        if self.passed == 0 {
            // Only the kinds of round the window had: "0 errored" beside a
            // window of failures would name a cause that was not there.
            let had: Vec<String> = [
                (self.failed, "failed"),
                (self.errored, "errored"),
                (self.inconclusive, "inconclusive"),
            ]
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, kind)| format!("{count} {kind}"))
            .collect();
            (
                WatchDecision::Rollback,
                format!(
                    "no round passed in the whole window ({}, each within its limit): \
                     a window without a passing round is never healthy",
                    had.join(", ")
                ),
            )
        } else {
            // Tolerated, but worth saying: the stack's state at the end of
            // the window was not measured.
            let ended_on_errors = match self.consecutive_errors {
                0 => String::new(),
                1 => "; the last round errored (within the consecutive error limit)".to_owned(),
                n => format!("; the last {n} rounds errored (within the consecutive error limit)"),
            };
            (
                WatchDecision::Healthy,
                format!(
                    "{} of {} rounds passed, every limit respected{ended_on_errors}",
                    self.passed, self.rounds
                ),
            )
        }
    }

    /// What is left of each limit, for the progress line.
    pub fn headroom(&self, limits: &WatchLimits) -> String {
        format!(
            "left: failures {}, inconclusive {}, consecutive errors {}",
            limits.failure_limit.saturating_sub(self.failed),
            limits.inconclusive_limit.saturating_sub(self.inconclusive),
            limits
                .consecutive_error_limit
                .saturating_sub(self.consecutive_errors),
        )
    }
}

/// What a watch decided: with the rounds [`ReportOut`] wrote as they
/// ended, the JSON report of the window (`GATE_REPORT`).
#[derive(Debug, Serialize)]
pub struct WindowReport {
    pub schema: &'static str,
    pub gate_version: &'static str,
    pub env: String,
    pub target: Option<String>,
    /// `--release`: what was judged, and when it was committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<crate::decision_log::Release>,
    pub started_at: String,
    pub duration_ms: f64,
    pub interval_ms: f64,
    /// `--initial-delay`, waited before the first round (0 without).
    pub initial_delay_ms: f64,
    pub planned_rounds: u32,
    pub limits: WatchLimits,
    pub tally: Tally,
    pub decision: WatchDecision,
    pub exit_code: i32,
    pub reason: String,
    /// `--check` and `--skip-check`, when the window left checks out.
    #[serde(flatten)]
    pub selection: crate::selection::Names,
    pub failed_checks: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Round {
    pub round: u32,
    pub started_at: String,
    pub outcome: RoundOutcome,
    pub policies: Vec<PolicyReport>,
}

/// The window: how often, how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub interval: Duration,
    pub rounds: u32,
}

/// Time between rounds when neither `--interval` nor gate.toml sets it.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Most rounds a window may have, however it is given.
pub const MAX_ROUNDS: u32 = 100_000;

/// How long a window lasts: `--count N` rounds, or `--duration D`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    Rounds(u32),
    Lasting(Duration),
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Rounds(1) => f.write_str("1 round"),
            Window::Rounds(n) => write!(f, "{n} rounds"),
            Window::Lasting(d) => f.write_str(&crate::units::duration_as_written(*d)),
        }
    }
}

impl Schedule {
    /// `rounds` rounds, or as many whole intervals as fit in the duration
    /// (at least one, at most [`MAX_ROUNDS`]).
    pub fn new(interval: Duration, window: Window) -> Result<Schedule, String> {
        let rounds = match window {
            Window::Rounds(rounds) => rounds,
            Window::Lasting(duration) => {
                // Whole nanoseconds: in floating point, 1.2 s / 400 ms is
                // 2.9999999999999996, which would floor to 2 rounds, not 3.
                let fit = duration
                    .as_nanos()
                    .checked_div(interval.as_nanos())
                    .ok_or_else(|| "the interval between rounds must be above zero".to_owned())?;
                if fit > u128::from(MAX_ROUNDS) {
                    return Err(format!(
                        "a {} window with a round every {} is {fit} rounds, more than the {MAX_ROUNDS} \
                         a window may have: lengthen the interval or shorten the duration",
                        window,
                        crate::units::duration_as_written(interval),
                    ));
                }
                // At most MAX_ROUNDS here, so it fits.
                u32::try_from(fit).unwrap_or(MAX_ROUNDS).max(1)
            }
        };
        Ok(Schedule { interval, rounds })
    }
}

/// Whether `check` is one of those that made `round` end as it did: a
/// blocking check that failed or errored, or, in a round that ended
/// inconclusive, one that was inconclusive. A window of inconclusive rounds
/// rolls back (or ends inconclusive) because of those checks, so they are
/// named too; in a round that failed, an inconclusive check changed nothing.
fn made_the_round(round: &Round, check: &crate::report::CheckReport) -> bool {
    check.blocking
        && match check.outcome {
            Outcome::Fail | Outcome::Error => true,
            Outcome::Inconclusive => round.outcome == RoundOutcome::Inconclusive,
            Outcome::Pass | Outcome::Warn | Outcome::Skipped => false,
        }
}

/// What a window keeps of its rounds once each is written out: what the
/// decision needs. A window may run 100,000 rounds, each with its checks'
/// requests and logs; held whole until the decision, they could take
/// gigabytes and end gate before the decision that matters most.
#[derive(Debug, Default)]
struct Kept {
    /// The last round: its checks are what the decision log records.
    last: Option<Round>,
    /// The last round before `last` that did not pass.
    troubled_before: Option<Round>,
    /// The checks that made some round fail, error or end inconclusive
    /// ([`made_the_round`]; in an undecided round, the blocking checks of a
    /// policy none of whose blocking checks ran), as `policy/check`, first
    /// seen first.
    troubled: Vec<String>,
    /// The blocking checks skipped in some round for want of a capability,
    /// as `policy/check`, first seen first: a healthy window did without
    /// them, as a passing `gate run` says.
    skipped: Vec<String>,
}

impl Kept {
    fn add(&mut self, round: Round) {
        let undecided = round.outcome == RoundOutcome::Inconclusive;
        add_names(&mut self.troubled, &round, |policy, check| {
            made_the_round(&round, check)
                // A policy none of whose blocking checks ran left an
                // undecided round so too: its skipped checks are the ones a
                // rollback for want of a passing round must name.
                || (undecided && check.blocking && never_ran(policy))
        });
        add_names(&mut self.skipped, &round, |_, check| {
            check.blocking && check.outcome == Outcome::Skipped
        });
        if let Some(previous) = self.last.replace(round)
            && previous.outcome != RoundOutcome::Pass
        {
            self.troubled_before = Some(previous);
        }
    }

    /// The last round that did not pass.
    fn last_troubled(&self) -> Option<&Round> {
        self.last
            .as_ref()
            .filter(|r| r.outcome != RoundOutcome::Pass)
            .or(self.troubled_before.as_ref())
    }
}

/// Adds the checks of `round` that `pick` picks (given each check's
/// policy) to `names`, as `policy/check`, each once.
fn add_names(
    names: &mut Vec<String>,
    round: &Round,
    pick: impl Fn(&PolicyReport, &crate::report::CheckReport) -> bool,
) {
    for policy in &round.policies {
        for check in policy.checks.iter().filter(|c| pick(policy, c)) {
            let name = format!("{}/{}", policy.name, check.name);
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
}

/// Whether none of `policy`'s blocking checks ran (all skipped).
fn never_ran(policy: &PolicyReport) -> bool {
    policy
        .checks
        .iter()
        .filter(|c| c.blocking)
        .all(|c| c.outcome == Outcome::Skipped)
}

/// What a check measured against its threshold: `error_rate 0.25 ratio,
/// limit < 0.01`.
fn evidence(check: &crate::report::CheckReport) -> Option<String> {
    check
        .measurements
        .iter()
        .find(|m| m.threshold.is_some())
        .map(crate::report::Measurement::brief)
}

/// The checks that made the last round that did not pass end as it did
/// ([`made_the_round`]), with what they measured or why they did not
/// decide, for the decision line:
/// `round 3: prod/error-rate fail: error_rate 0.25 ratio, limit < 0.01`.
fn last_evidence(kept: &Kept) -> Option<String> {
    let round = kept.last_troubled()?;
    let checks: Vec<String> = round
        .policies
        .iter()
        .flat_map(|p| p.checks.iter().map(move |c| (p, c)))
        .filter(|(_, c)| made_the_round(round, c))
        .map(|(p, c)| {
            let why = evidence(c).unwrap_or_else(|| crate::text::truncate(&c.message, 120));
            format!("{}/{} {}: {why}", p.name, c.name, c.outcome)
        })
        .collect();
    if checks.is_empty() {
        // Inconclusive with no inconclusive check: a policy (or the whole
        // round) decided nothing, said as gate run says it; name the
        // blocking checks skipped.
        let undecided = crate::verdict::undecided(&round.policies)
            .unwrap_or_else(|| "no blocking check ran to a decision".to_owned());
        let skipped: Vec<String> = round
            .policies
            .iter()
            .flat_map(|p| p.checks.iter().map(move |c| (p, c)))
            .filter(|(_, c)| c.blocking && c.outcome == Outcome::Skipped)
            .map(|(p, c)| format!("{}/{}", p.name, c.name))
            .collect();
        let skipped = if skipped.is_empty() {
            String::new()
        } else {
            format!("; skipped: {}", skipped.join(", "))
        };
        return Some(format!("round {}: {undecided}{skipped}", round.round));
    }
    Some(format!("round {}: {}", round.round, checks.join("; ")))
}

/// One progress line: `round 2/6 · 20.1s · fail · ready=pass
/// error-rate=fail (error_rate 0.25 ratio, limit < 0.01) · left: …`.
fn progress_line(
    round: &Round,
    schedule: &Schedule,
    elapsed: Duration,
    tally: &Tally,
    limits: &WatchLimits,
) -> String {
    let checks: Vec<String> = round
        .policies
        .iter()
        .flat_map(|p| &p.checks)
        .map(|c| {
            let measured = if matches!(c.outcome, Outcome::Pass | Outcome::Skipped) {
                String::new()
            } else {
                evidence(c).map(|e| format!(" ({e})")).unwrap_or_default()
            };
            format!("{}={}{measured}", c.name, c.outcome)
        })
        .collect();
    format!(
        "round {}/{} · {} · {} · {} · {}",
        round.round,
        schedule.rounds,
        crate::units::format_duration(elapsed),
        round.outcome,
        checks.join(" "),
        tally.headroom(limits)
    )
}

/// When the round after one that was due at `due` starts, the last round
/// having ended at `now`: an interval after `due`, so that rounds keep a
/// fixed rate; but if that time has passed (the round took longer than the
/// interval), an interval after `now`, and the fixed rate goes on from
/// there. Catching up instead would run the rounds missed meanwhile back to
/// back: several measurements of one moment, which could use up
/// `--failure-limit` in a second. Argo Rollouts likewise waits a whole
/// interval after a measurement before the next.
fn next_round(
    due: tokio::time::Instant,
    now: tokio::time::Instant,
    interval: Duration,
) -> tokio::time::Instant {
    let on_time = due + interval;
    if on_time >= now {
        on_time
    } else {
        now + interval
    }
}

/// Options of `gate watch` beyond those of `gate run`.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub schedule: Schedule,
    /// `--initial-delay`: the wait before the first round.
    pub initial_delay: Duration,
    pub limits: WatchLimits,
    pub on_rollback: Option<RollbackCommand>,
    /// `--rollback-timeout`: longest the rollback command may run.
    pub rollback_timeout: Duration,
    pub webhook: Option<url::Url>,
    pub decision_log: Option<std::path::PathBuf>,
}

/// The command `gate watch` runs through `sh -c` when it decides to roll
/// back: `--on-rollback`, or `on_rollback` in gate.toml's `[watch]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackCommand {
    pub command: String,
    /// Where it runs. gate.toml's command runs in the file's directory, as
    /// the file's paths resolve there, so that `./rollback.sh` is the
    /// script beside it wherever gate is started; `--on-rollback` runs
    /// where gate does.
    pub dir: Option<std::path::PathBuf>,
}

impl RollbackCommand {
    /// `text` run in `dir`: `None` for a blank command, which is how an
    /// empty `--on-rollback` or `on_rollback` cancels one set elsewhere.
    fn new(text: &str, dir: Option<std::path::PathBuf>) -> Option<RollbackCommand> {
        (!text.trim().is_empty()).then(|| RollbackCommand {
            command: text.to_owned(),
            dir,
        })
    }

    /// gate.toml's `on_rollback`, in the file's directory `dir`.
    pub fn in_file(dir: &std::path::Path, text: &str) -> Result<Option<RollbackCommand>, String> {
        if text.contains('\0') {
            return Err("holds a NUL character, which no shell command can".into());
        }
        // A file found in the current directory has no directory part:
        // that is where gate runs.
        let dir = (!dir.as_os_str().is_empty()).then(|| dir.to_owned());
        Ok(RollbackCommand::new(text, dir))
    }

    /// ` in DIR` for a command that runs in a directory of its own.
    pub fn place(&self) -> String {
        self.dir
            .as_ref()
            .map(|dir| format!(" in {}", dir.display()))
            .unwrap_or_default()
    }
}

/// What the rollback command did.
#[derive(Debug, Serialize)]
pub struct HookRun {
    pub command: String,
    pub exit_code: Option<i32>,
    pub output: String,
}

/// Longest a rollback command may run before gate stops it, unless
/// `--rollback-timeout` or gate.toml's `watch.rollback_timeout` says.
pub const DEFAULT_ROLLBACK_TIMEOUT: Duration = Duration::from_secs(600);

/// Signals, one message each, as they arrive. The first stops the window,
/// or a SIGINT or SIGTERM is passed on to a running rollback command; a
/// second stops that command at once. A closed channel is a run nobody can
/// stop.
pub type Stops = tokio::sync::mpsc::UnboundedReceiver<Stop>;

/// Why gate was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT or SIGTERM: Ctrl-C, a cancelled CI job.
    Asked,
    /// SIGHUP: the terminal went away (an SSH session dropped). It ends a
    /// window not yet decided, which is then decided and logged; once the
    /// window has decided, the rollback command and the webhook go on
    /// without a terminal.
    HungUp,
}

/// The next stop request of any kind; never, once no one can send one.
async fn next_stop(stops: &mut Stops) {
    if stops.recv().await.is_none() {
        std::future::pending::<()>().await;
    }
}

/// The next SIGINT or SIGTERM, past any hang-up: what may stop the
/// decision's actions. A rollback cut short for want of a terminal would
/// leave the bad release in place.
async fn next_asked_stop(stops: &mut Stops) {
    loop {
        match stops.recv().await {
            Some(Stop::Asked) => return,
            Some(Stop::HungUp) => {}
            None => std::future::pending::<()>().await,
        }
    }
}

/// Runs the watch loop on prepared policies; returns the exit code.
/// `json`: the window report goes to stdout, and progress to stderr.
/// `quiet` (human only): the decision line alone.
pub async fn watch(
    prepared: &crate::run::Prepared,
    options: &WatchOptions,
    json: bool,
    quiet: bool,
    mut stops: Stops,
) -> anyhow::Result<i32> {
    use std::io::Write;

    let started_at = std::time::SystemTime::now();
    let started = tokio::time::Instant::now();
    let schedule = options.schedule;
    let mut tally = Tally::default();
    let mut kept = Kept::default();
    // Opened before the first round, so that each is written as it ends.
    let mut report_out = ReportOut::open(json);
    let mut early: Option<(WatchDecision, String)> = None;
    // Progress goes to stdout, unless stdout carries the JSON report.
    let mut progress: Box<dyn Write> = if json {
        Box::new(std::io::stderr())
    } else if quiet {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stdout())
    };

    // What the window is, flags and gate.toml resolved, before anything
    // waits: a watch whose settings came from the file says what it runs.
    let _ = writeln!(
        progress,
        "window: {}, one every {} · tolerated: failures {}, inconclusive {}, consecutive errors {}",
        Window::Rounds(schedule.rounds),
        crate::units::duration_as_written(schedule.interval),
        options.limits.failure_limit,
        options.limits.inconclusive_limit,
        options.limits.consecutive_error_limit,
    );
    if let Some(release) = &prepared.plan.release {
        let _ = writeln!(progress, "release: {}", release.id);
    }
    if let Some(rollback) = &options.on_rollback {
        let _ = writeln!(
            progress,
            "on rollback: `{}`{} (stopped after {})",
            prepared.clean(&rollback.command),
            rollback.place(),
            crate::units::duration_as_written(options.rollback_timeout)
        );
    }
    if !options.initial_delay.is_zero() {
        let _ = writeln!(
            progress,
            "waiting {} before the first round (initial delay)",
            crate::units::duration_as_written(options.initial_delay)
        );
        let _ = progress.flush();
        tokio::select! {
            () = tokio::time::sleep(options.initial_delay) => {}
            () = next_stop(&mut stops) => {
                early = Some((
                    WatchDecision::Aborted,
                    "stopped by a signal before the first round (initial delay)".to_owned(),
                ));
            }
        }
    }
    // Rounds start at a fixed rate from here, but for one that overran its
    // interval (see `next_round`).
    let window_started = tokio::time::Instant::now();
    let mut due = window_started;
    let rounds_to_run = if early.is_some() { 0 } else { schedule.rounds };

    for n in 1..=rounds_to_run {
        let round_started = std::time::SystemTime::now();
        let policies = tokio::select! {
            policies = prepared.round() => policies,
            () = next_stop(&mut stops) => {
                early = Some((WatchDecision::Aborted, format!("stopped by a signal during round {n}")));
                break;
            }
        };
        let outcome = RoundOutcome::of(&policies);
        let round = Round {
            round: n,
            started_at: crate::units::rfc3339(round_started),
            outcome,
            policies,
        };
        let decided = tally.record(outcome, &options.limits);
        let _ = writeln!(
            progress,
            "{}",
            progress_line(
                &round,
                &schedule,
                window_started.elapsed(),
                &tally,
                &options.limits
            )
        );
        let _ = progress.flush();
        report_out.round(&round);
        kept.add(round);
        if let Some(decision) = decided {
            early = Some(decision);
            break;
        }
        if n == schedule.rounds {
            break;
        }
        due = next_round(due, tokio::time::Instant::now(), schedule.interval);
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            () = next_stop(&mut stops) => {
                early = Some((WatchDecision::Aborted, format!("stopped by a signal after round {n}")));
                break;
            }
        }
    }

    let (decision, mut reason) = early.unwrap_or_else(|| tally.at_end());
    if decision == WatchDecision::Healthy && !kept.skipped.is_empty() {
        reason.push_str(&format!(
            "; skipped: {} (--strict fails on these)",
            kept.skipped.join(", ")
        ));
    }
    // "only 1 of 6 checks ran" of a window where none did would mislead.
    let reason = if kept.last.is_some() {
        prepared.qualify(reason)
    } else {
        reason
    };
    let failed_checks = std::mem::take(&mut kept.troubled);
    let report = WindowReport {
        schema: "gate.watch/v1",
        gate_version: env!("CARGO_PKG_VERSION"),
        env: prepared.env_name().to_owned(),
        target: prepared.target(),
        release: prepared.plan.release.clone(),
        started_at: crate::units::rfc3339(started_at),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        interval_ms: schedule.interval.as_secs_f64() * 1000.0,
        initial_delay_ms: options.initial_delay.as_secs_f64() * 1000.0,
        planned_rounds: schedule.rounds,
        limits: options.limits,
        tally,
        decision,
        exit_code: decision.exit_code(),
        reason,
        selection: prepared.selection.names.clone(),
        failed_checks,
    };

    let decision_line = format!(
        "decision: {} (exit {}): {}{}",
        report.decision.to_string().to_uppercase(),
        report.exit_code,
        report.reason,
        last_evidence(&kept)
            .map(|e| format!("; {e}"))
            .unwrap_or_default()
    );
    if quiet && !json {
        let _ = writeln!(std::io::stdout(), "{decision_line}");
        // What follows the decision (a webhook that failed, the rollback
        // command's output, the report's path) is still said, on stderr.
        progress = Box::new(std::io::stderr());
    } else {
        let _ = writeln!(progress, "{decision_line}");
    }

    // Everything that records the decision comes before anything that acts
    // on it. The rollback command may run for minutes and the webhook
    // retries for seconds; a CI job cancelled meanwhile (SIGKILL after its
    // grace period) must still leave the decision line and the report. So
    // the decision line holds the decision alone, not the rollback
    // command's outcome, which gate prints as it ends. And none of these
    // records is worth more than the rollback: one that cannot be written
    // is a loud warning, never a reason to skip the command or to change
    // the exit code.
    // When the decision line says it was decided: the rollback command's
    // line names it, so that the two pair up in a log others append to.
    let decided_at = options.decision_log.as_ref().map(|path| {
        let unrun;
        let last: &[PolicyReport] = match &kept.last {
            Some(round) => &round.policies,
            None => {
                unrun = prepared.unrun();
                &unrun
            }
        };
        let decision = report.decision.to_string();
        let entry = crate::decision_log::Decision::new(
            "watch",
            &report.env,
            report.target.clone(),
            last,
            &decision,
            report.exit_code,
            &report.reason,
            report.duration_ms,
        )
        .over(&report.selection)
        .of_release(report.release.as_ref());
        if let Err(e) = crate::decision_log::append(path, &entry) {
            warn(&format!(
                "cannot append to the decision log {}: {e}; the decision ({}, exit {}) stands",
                path.display(),
                report.decision,
                report.exit_code
            ));
        }
        entry.timestamp
    });
    let report_path = match report_out.finish(&report) {
        Ok(report_path) => {
            let _ = writeln!(progress, "report: {}", report_path.display());
            Some(report_path)
        }
        Err((report_path, e)) => {
            let hook = match (&options.on_rollback, decision) {
                (Some(_), WatchDecision::Rollback) => {
                    "; the rollback command runs all the same, with GATE_REPORT empty"
                }
                _ => "",
            };
            warn(&format!(
                "cannot write the window report {}: {e}{hook}",
                report_path.display()
            ));
            None
        }
    };
    let _ = progress.flush();

    let mut hook_outcome = None;
    if decision == WatchDecision::Rollback
        && let Some(rollback) = &options.on_rollback
    {
        // Shown and logged redacted: a token the shell put into the
        // command (`--on-rollback "deploy --token $GATE_SECRET_X"`) is in
        // its text.
        let command = &prepared.clean(&rollback.command);
        let env = hook_env(&report, &prepared.policy_names(), report_path.as_deref());
        let hook_started = std::time::Instant::now();
        let hook = run_hook(
            rollback,
            &env,
            options.rollback_timeout,
            &mut stops,
            prepared.cleaner(),
        )
        .await;
        if let Some(path) = &options.decision_log {
            let line = crate::decision_log::RollbackRun::new(
                &report.env,
                report.target.clone(),
                decided_at.as_deref().unwrap_or_default(),
                command,
                hook.exit_code,
                hook_started.elapsed().as_secs_f64() * 1000.0,
            )
            .over(&report.selection);
            if let Err(e) = crate::decision_log::append(path, &line) {
                warn(&format!(
                    "cannot append the rollback command's result to the decision log {}: {e}",
                    path.display()
                ));
            }
        }
        let outcome = match hook.exit_code {
            Some(0) => {
                let _ = writeln!(progress, "rollback command `{command}` succeeded");
                "rollback command succeeded".to_owned()
            }
            code => {
                let code = code.map_or("no exit code (killed or timed out)".to_owned(), |c| {
                    format!("exit {c}")
                });
                // Loud: the stack may still be on the bad release. (Under
                // -q progress is stderr already: said there once.)
                if !quiet || json {
                    let _ = writeln!(
                        progress,
                        "ROLLBACK COMMAND FAILED: `{command}` ended with {code}"
                    );
                }
                warn_stderr(&format!(
                    "gate: ROLLBACK COMMAND FAILED: `{command}` ended with {code}"
                ));
                format!("ROLLBACK COMMAND FAILED ({code})")
            }
        };
        for line in hook.output.lines() {
            let _ = writeln!(progress, "  | {line}");
        }
        let _ = progress.flush();
        hook_outcome = Some(outcome);
    }

    if let Some(url) = &options.webhook {
        let mut text = format!(
            "gate watch {}: {} on env `{}`{} — {}",
            prepared.policy_names(),
            report.decision,
            report.env,
            crate::decision_log::Release::mention(report.release.as_ref()),
            report.reason
        );
        if let Some(outcome) = &hook_outcome {
            text.push_str("; ");
            text.push_str(outcome);
        }
        // The webhook retries for seconds; a stop request ends it, as
        // everything else gate waits for (a hang-up does not: see `Stop`).
        tokio::select! {
            sent = prepared.notify(url, &text) => {
                if let Err(why) = sent {
                    let _ = writeln!(progress, "webhook: {why} (the decision stands)");
                }
            }
            () = next_asked_stop(&mut stops) => {
                let _ = writeln!(
                    progress,
                    "webhook: not sent, gate was asked to stop (the decision stands)"
                );
            }
        }
    }
    let _ = progress.flush();
    Ok(report.exit_code)
}

/// A loud line on stderr for something that went wrong around a decision
/// without changing it.
fn warn(message: &str) {
    warn_stderr(&format!("gate: WARNING: {message}"));
}

/// A line on stderr that cannot stop the window: `eprintln!` panics when
/// stderr is a closed pipe (a `| tee` killed by the same Ctrl-C), and a
/// panic here would abort gate before the rollback command or the webhook.
fn warn_stderr(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Where the window report goes: a fresh file in the temporary directory.
/// Its name holds 64 random bits, so that no one can take it ahead.
fn report_path() -> std::path::PathBuf {
    use std::hash::BuildHasher as _;
    let random =
        std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    std::env::temp_dir().join(format!(
        "gate-watch-{}-{random:016x}.json",
        std::process::id()
    ))
}

/// The window report, written as the window goes: `{"rounds": [`, each
/// round as it ends, then the rest of [`WindowReport`] once the window has
/// decided (a JSON object's keys have no order). It goes to a fresh file
/// in the temporary directory, and under `--format json` to stdout too.
struct ReportOut {
    /// The file and its path, until writing to it fails.
    file: Result<(std::path::PathBuf, std::io::BufWriter<std::fs::File>), WriteFailure>,
    stdout: bool,
    rounds: u32,
}

/// Where the window report could not be written, and why.
type WriteFailure = (std::path::PathBuf, std::io::Error);

impl ReportOut {
    fn open(stdout: bool) -> ReportOut {
        let mut out = ReportOut {
            file: create_report().map(|(path, file)| (path, std::io::BufWriter::new(file))),
            stdout,
            rounds: 0,
        };
        out.write(b"{\n  \"rounds\": [");
        out
    }

    fn round(&mut self, round: &Round) {
        let json = match serde_json::to_string_pretty(round) {
            Ok(json) => json,
            Err(e) => return self.fail(std::io::Error::other(e)),
        };
        // Nested two levels down. A JSON string holds no raw line break,
        // so indenting every line changes no value.
        let separator = if self.rounds == 0 { "\n" } else { ",\n" };
        let text = format!("{separator}    {}", json.replace('\n', "\n    "));
        self.rounds += 1;
        self.write(text.as_bytes());
    }

    /// Writes the rest and closes the file: its path, or where it could not
    /// be written and why (the file is then gone: a report cut short is no
    /// report).
    fn finish(mut self, report: &WindowReport) -> Result<std::path::PathBuf, WriteFailure> {
        use std::io::Write as _;
        match serde_json::to_string_pretty(report) {
            Ok(json) => {
                let rest = json.strip_prefix('{').unwrap_or(&json);
                self.write(format!("\n  ],{rest}\n").as_bytes());
            }
            Err(e) => self.fail(std::io::Error::other(e)),
        }
        if self.stdout {
            let _ = std::io::stdout().flush();
        }
        let (path, file) = self.file?;
        match file.into_inner().map_err(|e| e.into_error()) {
            Ok(_) => Ok(path),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err((path, e))
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        use std::io::Write as _;
        if self.stdout {
            // A closed pipe (`gate watch --format json | head`) must not
            // end the window.
            let _ = std::io::stdout().write_all(bytes);
        }
        if let Ok((_, file)) = &mut self.file
            && let Err(e) = file.write_all(bytes)
        {
            self.fail(e);
        }
    }

    /// The file stops at its first failure; it is removed then.
    fn fail(&mut self, error: std::io::Error) {
        if let Ok((path, _)) = &self.file {
            let path = path.clone();
            let _ = std::fs::remove_file(&path);
            self.file = Err((path, error));
        }
    }
}

/// A new file for the window report, under a fresh name (another one
/// should that name be taken), only this user can read: in a shared
/// temporary directory, a file or symlink someone left at that name is
/// never written through.
fn create_report() -> Result<(std::path::PathBuf, std::fs::File), WriteFailure> {
    let mut attempts = 0;
    loop {
        let path = report_path();
        match create_private(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 3 => {
                attempts += 1;
            }
            Err(e) => return Err((path, e)),
        }
    }
}

/// `path` as a new file only this user can read, never what is at it.
fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// The decision, as the rollback command finds it in its environment.
/// `report_path` is `None` when the window report could not be written:
/// `GATE_REPORT` is then set but empty, so that a script under `set -u`
/// still runs its rollback (`[ -n "$GATE_REPORT" ]` tells the two apart).
fn hook_env(
    report: &WindowReport,
    policies: &str,
    report_path: Option<&std::path::Path>,
) -> Vec<(&'static str, std::ffi::OsString)> {
    let mut env = vec![
        ("GATE_DECISION", report.decision.to_string().into()),
        ("GATE_POLICY", policies.into()),
        ("GATE_ENV", report.env.clone().into()),
        ("GATE_FAILED_CHECKS", report.failed_checks.join(",").into()),
        (
            "GATE_REPORT",
            report_path
                .map(|p| p.as_os_str().to_owned())
                .unwrap_or_default(),
        ),
    ];
    // The release to roll back from, however gate was given it.
    if let Some(release) = &report.release {
        env.push(("GATE_RELEASE", release.id.clone().into()));
    }
    env
}

/// Most output kept of each of the rollback command's streams; the rest is
/// read and dropped, so the command never blocks on a full pipe.
const MAX_HOOK_OUTPUT: usize = 64 << 10;

/// How long gate keeps reading the rollback command's output once its
/// shell has exited. A process it started in the background (`cmd &`,
/// `nohup cmd &`) holds the pipes open for as long as it runs, and the
/// command is done when its shell is, not when every such process is.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// What was read of one of the rollback command's streams.
#[derive(Default)]
struct Captured {
    /// The first [`MAX_HOOK_OUTPUT`] bytes.
    kept: Vec<u8>,
    /// How many more were read and dropped.
    dropped: usize,
}

impl Captured {
    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!("… [{} more bytes cut]\n", self.dropped));
        }
        text
    }
}

/// Reads `pipe` to its end into `into`. Reads straight into it, so what
/// was read survives the read being given up.
async fn drain(pipe: Option<impl tokio::io::AsyncRead + Unpin>, into: &mut Captured) {
    use tokio::io::AsyncReadExt;
    let Some(mut pipe) = pipe else { return };
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let room = MAX_HOOK_OUTPUT.saturating_sub(into.kept.len());
                into.kept.extend_from_slice(&chunk[..n.min(room)]);
                into.dropped += n.saturating_sub(room);
            }
        }
    }
}

/// How the wait for the rollback command's shell ended.
enum Ended {
    Exited(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    StoppedTwice,
}

/// Sends `signal` to every process of the rollback command's group.
fn signal_group(group: Option<rustix::process::Pid>, signal: rustix::process::Signal) {
    if let Some(group) = group {
        // ESRCH: every process of the group has already ended.
        let _ = rustix::process::kill_process_group(group, signal);
    }
}

/// Runs the rollback command once through the shell, with `env` (see
/// [`hook_env`]) in its environment, and keeps the start of its output.
///
/// The command is done when its shell exits, whatever it left running in
/// the background. It runs in a process group of its own, so that past
/// `timeout` every process it started is stopped, not the shell alone.
/// Being its own group also keeps a Ctrl-C at the terminal from reaching it
/// directly: gate passes the first SIGINT or SIGTERM on (a message on
/// `stops`; a hang-up is not one) as SIGTERM to the group, and waits for
/// the command to end; a second one kills the group, as the timeout does.
async fn run_hook(
    rollback: &RollbackCommand,
    env: &[(&str, std::ffi::OsString)],
    timeout: Duration,
    stops: &mut Stops,
    cleaner: &crate::text::Cleaner,
) -> HookRun {
    use rustix::process::Signal;

    let command = rollback.command.as_str();
    let mut shell = tokio::process::Command::new("sh");
    if let Some(dir) = &rollback.dir {
        shell.current_dir(dir);
    }
    let spawned = shell
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            return HookRun {
                command: command.into(),
                exit_code: None,
                output: format!("cannot start sh{}: {e}", rollback.place()),
            };
        }
    };
    // The shell leads its group: the group's id is its pid.
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (mut out, mut err) = (Captured::default(), Captured::default());
    let mut notes: Vec<String> = Vec::new();
    let exit_code = {
        // Read while waiting: a command that fills a pipe waits for it to
        // be read.
        let reading = async {
            tokio::join!(drain(stdout, &mut out), drain(stderr, &mut err));
        };
        tokio::pin!(reading);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let (mut read_all, mut stopped) = (false, false);
        let ended = loop {
            tokio::select! {
                status = child.wait() => break Ended::Exited(status),
                () = &mut deadline => break Ended::TimedOut,
                () = &mut reading, if !read_all => read_all = true,
                () = next_asked_stop(stops) => {
                    if stopped {
                        break Ended::StoppedTwice;
                    }
                    stopped = true;
                    signal_group(group, Signal::TERM);
                    notes.push(
                        "gate was asked to stop (SIGINT or SIGTERM) and passed SIGTERM on to it"
                            .to_owned(),
                    );
                }
            }
        };
        let exit_code = match ended {
            Ended::Exited(Ok(status)) => status.code(),
            Ended::Exited(Err(e)) => {
                notes.push(format!("waiting for it failed: {e}"));
                None
            }
            Ended::TimedOut | Ended::StoppedTwice => {
                // Killed while the shell is not yet reaped, so the group's
                // id cannot have been taken by another process.
                signal_group(group, Signal::KILL);
                // Bounded even so: a process stuck in the kernel (a dead
                // NFS mount) does not die of SIGKILL until it returns.
                let _ = tokio::time::timeout(OUTPUT_GRACE, child.wait()).await;
                notes.push(if matches!(ended, Ended::TimedOut) {
                    format!(
                        "still running after {}: stopped it and every process it started",
                        crate::units::duration_as_written(timeout)
                    )
                } else {
                    "gate was asked to stop again: stopped it and every process it started \
                     (SIGKILL)"
                        .to_owned()
                });
                None
            }
        };
        if !read_all
            && tokio::time::timeout(OUTPUT_GRACE, &mut reading)
                .await
                .is_err()
        {
            notes.push(
                "(its output ends here: a process it left running still holds it open)".to_owned(),
            );
        }
        exit_code
    };
    // The command runs with gate's environment, secrets included, and its
    // output is shown where gate's is: redacted as everything gate writes.
    let mut output = cleaner.clean(&(out.text() + &err.text()));
    // gate's own notes last, where a long output cannot hide them.
    for note in notes {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&note);
    }
    HookRun {
        command: command.into(),
        exit_code,
        output,
    }
}

/// `gate watch`: prepares the policies once, then watches until the window
/// ends, a limit is exceeded, or SIGINT/SIGTERM/SIGHUP arrives.
/// `gate watch`; `quiet` (-q) prints the decision line alone.
pub async fn command(
    args: crate::cli::WatchArgs,
    config: Option<&std::path::Path>,
    quiet: bool,
) -> anyhow::Result<i32> {
    anyhow::ensure!(
        args.run.record.is_none(),
        "--record records one `gate run`, not a watch window: record with gate run, then replay with gate test"
    );
    anyhow::ensure!(
        args.run.retry.is_none(),
        "--retry is for gate run: a watch window judges each round as it ran, and its limits \
         (--failure-limit, --inconclusive-limit, --consecutive-error-limit) say how many bad rounds it tolerates"
    );
    let json = match args.run.format {
        ReportFormat::Human => false,
        ReportFormat::Json => true,
        other => anyhow::bail!(
            "gate watch writes its window report as human or json, not {}: use gate run for {}",
            other.name(),
            other.name()
        ),
    };
    if let Some(file) = args.run.reports.first() {
        anyhow::bail!(
            "--report {}=… is for gate run; gate watch prints its window report (--format json)",
            file.format.name()
        );
    }
    // Listening from the start: a signal while the policies load (seconds,
    // when they are compiled) ends gate as a watch's signal does, with its
    // exit code and a word on why, not by the signal's default action.
    let mut stops = stop_requests();
    let plan = crate::plan::Plan::new(&args.run, config)?;
    // Refused before any policy is loaded.
    let window = Resolved::of(&args, &plan)?;
    let mut prepared = tokio::select! {
        prepared = crate::run::Prepared::of_plan(plan, &args.run) => prepared?,
        () = next_stop(&mut stops) => {
            warn_stderr(
                "gate watch: stopped by a signal while the policies were loading: no round ran, \
                 nothing was decided or logged",
            );
            return Ok(EXIT_ABORTED);
        }
    };
    // Only gate.toml's `retry` can be left here: the flag was refused.
    if prepared.without_retry().retries > 0 {
        eprintln!(
            "gate watch: env `{}` sets retry in gate.toml, which is for gate run: each round runs \
             every check once, and the window's limits judge the rounds",
            prepared.env_name()
        );
    }
    let options = WatchOptions {
        schedule: window.schedule,
        initial_delay: window.initial_delay,
        limits: window.limits,
        on_rollback: window.on_rollback,
        rollback_timeout: window.rollback_timeout,
        webhook: prepared.plan.webhook.clone(),
        decision_log: prepared.plan.decision_log.clone(),
    };
    watch(&prepared, &options, json, quiet, stops).await
}

/// The window's settings: each flag over gate.toml's `[watch]` (an
/// environment's table over the top level's) over the defaults.
#[derive(Debug, PartialEq)]
struct Resolved {
    schedule: Schedule,
    initial_delay: Duration,
    limits: WatchLimits,
    on_rollback: Option<RollbackCommand>,
    rollback_timeout: Duration,
}

impl Resolved {
    fn of(args: &crate::cli::WatchArgs, plan: &crate::plan::Plan) -> anyhow::Result<Resolved> {
        let config = plan
            .config_file
            .as_deref()
            .map(|file| (file, plan.env_name.as_str()));
        Resolved::from(args, &plan.watch, config)
    }

    /// `config`: the gate.toml read and the environment, for the message
    /// when no window is given.
    fn from(
        args: &crate::cli::WatchArgs,
        file: &crate::config::WatchSettings,
        config: Option<(&str, &str)>,
    ) -> anyhow::Result<Resolved> {
        fn pick<T: Copy>(flag: Option<T>, file: &Option<Setting<T>>) -> Option<T> {
            flag.or(file.as_ref().map(|setting| setting.value))
        }
        let flag_window = match (args.count, args.duration) {
            (Some(rounds), _) => Some(Window::Rounds(rounds)),
            (None, Some(duration)) => Some(Window::Lasting(duration)),
            (None, None) => None,
        };
        let Some(window) = pick(flag_window, &file.window) else {
            let or_file = match config {
                Some((file, env)) => format!(
                    ", or set `count` or `duration` in [watch] or [env.{env}.watch] of {file}"
                ),
                None => String::new(),
            };
            anyhow::bail!(
                "gate watch needs the length of its window: give --count N (rounds) or \
                 --duration D (as many intervals as fit){or_file}"
            );
        };
        let interval = pick(args.interval, &file.interval).unwrap_or(DEFAULT_INTERVAL);
        let defaults = WatchLimits::default();
        Ok(Resolved {
            schedule: Schedule::new(interval, window).map_err(anyhow::Error::msg)?,
            initial_delay: pick(args.initial_delay, &file.initial_delay).unwrap_or_default(),
            limits: WatchLimits {
                failure_limit: pick(args.failure_limit, &file.failure_limit)
                    .unwrap_or(defaults.failure_limit),
                inconclusive_limit: pick(args.inconclusive_limit, &file.inconclusive_limit)
                    .unwrap_or(defaults.inconclusive_limit),
                consecutive_error_limit: pick(
                    args.consecutive_error_limit,
                    &file.consecutive_error_limit,
                )
                .unwrap_or(defaults.consecutive_error_limit),
            },
            // An empty `--on-rollback ''` runs nothing, not even the file's.
            on_rollback: match &args.on_rollback {
                Some(flag) => RollbackCommand::new(flag, None),
                None => file.on_rollback.as_ref().and_then(|s| s.value.clone()),
            },
            rollback_timeout: pick(args.rollback_timeout, &file.rollback_timeout)
                .unwrap_or(DEFAULT_ROLLBACK_TIMEOUT),
        })
    }
}

/// SIGINT and SIGTERM, for as long as gate runs: once tokio handles a
/// signal, its default action (ending the process) is gone for good, so a
/// stop request after the decision must be read too, or it is lost.
fn stop_requests() -> Stops {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    // A signal gate cannot listen for keeps its default action (SIGINT and
    // SIGTERM end the process): never waited for here.
    async fn next(signal: &mut Option<Signal>) {
        if let Some(signal) = signal {
            let received = signal.recv().await;
            if received.is_some() {
                return;
            }
        }
        std::future::pending().await
    }
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    let mut terminate = signal(SignalKind::terminate()).ok();
    // A terminal that went away (an SSH session dropped mid-window): the
    // window ends as it would on SIGTERM, decided and logged. Not under
    // `nohup`, which asked for the very opposite: listening would undo it.
    let mut hangup = if hangup_ignored() {
        None
    } else {
        signal(SignalKind::hangup()).ok()
    };
    let (sender, stops) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let stop = tokio::select! {
                () = next(&mut interrupt) => Stop::Asked,
                () = next(&mut terminate) => Stop::Asked,
                () = next(&mut hangup) => Stop::HungUp,
            };
            if sender.send(stop).is_err() {
                return;
            }
        }
    });
    stops
}

/// Whether gate was started with SIGHUP ignored (`nohup`).
fn hangup_ignored() -> bool {
    // SAFETY: a query only (no new action), into a zeroed struct the call
    // fills in.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoundOutcome::*;

    fn play(rounds: &[RoundOutcome], limits: WatchLimits) -> (WatchDecision, u32) {
        let mut tally = Tally::default();
        for outcome in rounds {
            if let Some((decision, _)) = tally.record(*outcome, &limits) {
                return (decision, tally.rounds);
            }
        }
        (tally.at_end().0, tally.rounds)
    }

    #[test]
    fn healthy_window() {
        assert_eq!(
            play(&[Pass, Pass, Pass], WatchLimits::default()),
            (WatchDecision::Healthy, 3)
        );
    }

    #[test]
    fn first_failure_rolls_back_by_default() {
        assert_eq!(
            play(&[Pass, Pass, Fail, Pass], WatchLimits::default()),
            (WatchDecision::Rollback, 3)
        );
        let tolerant = WatchLimits {
            failure_limit: 1,
            ..WatchLimits::default()
        };
        assert_eq!(
            play(&[Fail, Pass, Pass], tolerant),
            (WatchDecision::Healthy, 3)
        );
        assert_eq!(
            play(&[Fail, Pass, Fail], tolerant),
            (WatchDecision::Rollback, 3)
        );
    }

    #[test]
    fn errors_roll_back_after_the_consecutive_limit() {
        // Default E = 2: the third consecutive error rolls back.
        assert_eq!(
            play(&[Error, Error, Error, Pass], WatchLimits::default()),
            (WatchDecision::Rollback, 3)
        );
        assert_eq!(
            play(
                &[Error, Error, Pass, Error, Error, Pass],
                WatchLimits::default()
            ),
            (WatchDecision::Healthy, 6)
        );
    }

    #[test]
    fn a_window_of_errors_is_never_healthy() {
        let lenient = WatchLimits {
            consecutive_error_limit: 10,
            ..WatchLimits::default()
        };
        assert_eq!(
            play(&[Error, Error, Error], lenient),
            (WatchDecision::Rollback, 3)
        );
        let no_inconclusive_limit = WatchLimits {
            inconclusive_limit: 10,
            ..WatchLimits::default()
        };
        assert_eq!(
            play(&[Inconclusive, Inconclusive], no_inconclusive_limit),
            (WatchDecision::Rollback, 2)
        );
    }

    #[test]
    fn inconclusive_beyond_the_limit_ends_inconclusive() {
        assert_eq!(
            play(&[Pass, Inconclusive], WatchLimits::default()),
            (WatchDecision::Inconclusive, 2)
        );
        let one = WatchLimits {
            inconclusive_limit: 1,
            ..WatchLimits::default()
        };
        assert_eq!(
            play(&[Pass, Inconclusive, Pass], one),
            (WatchDecision::Healthy, 3)
        );
    }

    #[test]
    fn a_window_without_a_passing_round_says_which_rounds_it_had() {
        let tolerant = WatchLimits {
            failure_limit: 2,
            ..WatchLimits::default()
        };
        let mut tally = Tally::default();
        for _ in 0..2 {
            assert_eq!(tally.record(Fail, &tolerant), None);
        }
        assert_eq!(
            tally.at_end(),
            (
                WatchDecision::Rollback,
                "no round passed in the whole window (2 failed, each within its limit): a window \
                 without a passing round is never healthy"
                    .to_owned()
            )
        );
        let lenient = WatchLimits {
            consecutive_error_limit: 10,
            inconclusive_limit: 10,
            ..WatchLimits::default()
        };
        let mut tally = Tally::default();
        for outcome in [Error, Inconclusive, Error] {
            assert_eq!(tally.record(outcome, &lenient), None);
        }
        assert_eq!(
            tally.at_end().1,
            "no round passed in the whole window (2 errored, 1 inconclusive, each within its \
             limit): a window without a passing round is never healthy"
        );
    }

    /// A window that ended on tolerated errored rounds is healthy, as the
    /// limits say, but says that its last rounds measured nothing.
    #[test]
    fn a_healthy_window_that_ended_on_errors_says_so() {
        let limits = WatchLimits::default();
        let mut tally = Tally::default();
        for outcome in [Pass, Error, Pass, Error, Error] {
            assert_eq!(tally.record(outcome, &limits), None);
        }
        assert_eq!(
            tally.at_end(),
            (
                WatchDecision::Healthy,
                "2 of 5 rounds passed, every limit respected; the last 2 rounds errored \
                 (within the consecutive error limit)"
                    .to_owned()
            )
        );
        tally.record(Pass, &limits);
        assert_eq!(
            tally.at_end().1,
            "3 of 6 rounds passed, every limit respected"
        );
    }

    #[test]
    fn skipped_blocking_checks_are_named_once() {
        let advisory = crate::report::CheckReport {
            blocking: false,
            ..check("p99", Outcome::Skipped)
        };
        let rounds = [
            round(
                1,
                vec![
                    check("up", Outcome::Pass),
                    check("errors", Outcome::Skipped),
                ],
            ),
            round(2, vec![check("errors", Outcome::Skipped), advisory]),
            round(3, vec![check("up", Outcome::Skipped)]),
        ];
        assert_eq!(kept(rounds).skipped, ["p/errors", "p/up"]);
    }

    fn check(name: &str, outcome: Outcome) -> crate::report::CheckReport {
        crate::report::CheckReport {
            name: name.into(),
            description: String::new(),
            blocking: true,
            needs: vec![],
            outcome,
            message: format!("{name} said {outcome}"),
            error: None,
            measurements: vec![],
            duration_ms: 1.0,
            attempts: None,
            earlier_attempts: vec![],
            calls: vec![],
            log: vec![],
        }
    }

    /// The report of a window that ended with `tally`.
    fn decided(tally: Tally, failed_checks: Vec<String>) -> WindowReport {
        let (decision, reason) = tally.at_end();
        WindowReport {
            schema: "gate.watch/v1",
            gate_version: "0.0.0",
            env: "prod".into(),
            target: None,
            release: None,
            started_at: String::new(),
            duration_ms: 1.0,
            interval_ms: 1.0,
            initial_delay_ms: 0.0,
            planned_rounds: 3,
            limits: WatchLimits::default(),
            decision,
            exit_code: decision.exit_code(),
            reason,
            tally,
            selection: crate::selection::Names::default(),
            failed_checks,
        }
    }

    /// Rounds are written as they end, the rest once the window decided:
    /// the file is one JSON object holding both, with no round or none.
    #[test]
    fn the_report_is_written_round_by_round_as_one_json_object() {
        let limits = WatchLimits::default();
        let mut out = ReportOut::open(false);
        let mut tally = Tally::default();
        for (n, outcome) in [(1, Outcome::Pass), (2, Outcome::Pass)] {
            let round = round(n, vec![check("up", outcome)]);
            tally.record(round.outcome, &limits);
            out.round(&round);
        }
        let path = out.finish(&decided(tally, vec![])).unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(report["decision"], "healthy", "{report}");
        assert_eq!(report["tally"]["passed"], 2, "{report}");
        let rounds = report["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 2, "{report}");
        assert_eq!(rounds[1]["round"], 2);
        assert_eq!(rounds[1]["policies"][0]["checks"][0]["outcome"], "pass");

        let path = ReportOut::open(false)
            .finish(&decided(Tally::default(), vec![]))
            .unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(report["rounds"], serde_json::json!([]), "{report}");
    }

    fn kept(rounds: impl IntoIterator<Item = Round>) -> Kept {
        let mut kept = Kept::default();
        for round in rounds {
            kept.add(round);
        }
        kept
    }

    fn round(n: u32, checks: Vec<crate::report::CheckReport>) -> Round {
        let policies = vec![PolicyReport {
            path: "p.wasm".into(),
            name: "p".into(),
            version: "1.0.0".into(),
            kind: "trigger".into(),
            sha256: String::new(),
            wit_version: String::new(),
            duration_ms: 1.0,
            checks,
        }];
        Round {
            round: n,
            started_at: String::new(),
            outcome: RoundOutcome::of(&policies),
            policies,
        }
    }

    /// A round decides on its blocking checks: a non-blocking one that
    /// passed beside a blocking one that was skipped (not granted, or left
    /// out) decides nothing, as `gate run` would say (exit 3).
    #[test]
    fn a_round_decides_on_its_blocking_checks_only() {
        let advisory = |name: &str, outcome: Outcome| crate::report::CheckReport {
            blocking: false,
            ..check(name, outcome)
        };
        let outcome = |checks| round(1, checks).outcome;
        assert_eq!(
            outcome(vec![
                check("error-rate", Outcome::Skipped),
                advisory("p99", Outcome::Pass),
            ]),
            RoundOutcome::Inconclusive
        );
        assert_eq!(
            outcome(vec![advisory("p99", Outcome::Warn)]),
            RoundOutcome::Inconclusive
        );
        // A non-blocking failure does not fail the round either.
        assert_eq!(
            outcome(vec![
                check("error-rate", Outcome::Pass),
                advisory("p99", Outcome::Fail),
            ]),
            RoundOutcome::Pass
        );
        assert_eq!(
            outcome(vec![
                check("error-rate", Outcome::Pass),
                check("down", Outcome::Skipped),
            ]),
            RoundOutcome::Pass
        );
    }

    #[test]
    fn a_window_of_inconclusive_rounds_names_the_checks_that_made_them() {
        let rounds = [
            round(
                1,
                vec![
                    check("up", Outcome::Pass),
                    check("p95", Outcome::Inconclusive),
                ],
            ),
            round(
                2,
                vec![
                    check("up", Outcome::Inconclusive),
                    check("p95", Outcome::Inconclusive),
                ],
            ),
        ];
        let rounds = kept(rounds);
        assert_eq!(rounds.troubled, ["p/p95", "p/up"]);
        assert_eq!(
            last_evidence(&rounds).unwrap(),
            "round 2: p/up inconclusive: up said inconclusive; p/p95 inconclusive: p95 said \
             inconclusive"
        );
        // Nothing decided at all, not even inconclusive.
        let undecided = kept([round(1, vec![check("up", Outcome::Skipped)])]);
        assert_eq!(undecided.last.as_ref().unwrap().outcome, Inconclusive);
        assert_eq!(undecided.troubled, ["p/up"]);
        // Beside a policy with an inconclusive check, one none of whose
        // blocking checks ran is named too: it left the round undecided.
        let mut both = round(1, vec![check("p95", Outcome::Inconclusive)]);
        let mut skipped = both.policies[0].clone();
        skipped.name = "q".into();
        skipped.checks = vec![check("up", Outcome::Skipped)];
        both.policies.push(skipped);
        assert_eq!(kept([both]).troubled, ["p/p95", "q/up"]);
        assert_eq!(
            last_evidence(&undecided).unwrap(),
            "round 1: no blocking check ran to a decision (all skipped, or none to run); \
             skipped: p/up"
        );
    }

    #[test]
    fn an_inconclusive_check_beside_a_failure_is_not_named() {
        let rounds = [
            round(
                1,
                vec![
                    check("up", Outcome::Fail),
                    check("p95", Outcome::Inconclusive),
                ],
            ),
            round(
                2,
                vec![check("up", Outcome::Pass), check("p95", Outcome::Pass)],
            ),
        ];
        let rounds = kept(rounds);
        assert_eq!(rounds.troubled, ["p/up"]);
        // The last round that did not pass, though another came after it.
        assert_eq!(
            last_evidence(&rounds).unwrap(),
            "round 1: p/up fail: up said fail"
        );
        // Errors are named in a failed round, as before.
        let mixed = [round(
            1,
            vec![check("up", Outcome::Error), check("p95", Outcome::Fail)],
        )];
        assert_eq!(kept(mixed).troubled, ["p/up", "p/p95"]);
    }

    #[test]
    fn rounds_keep_a_fixed_rate_and_a_slow_one_delays_the_next_by_an_interval() {
        let start = tokio::time::Instant::now();
        let interval = Duration::from_secs(10);
        let at = |secs: u64| start + Duration::from_secs(secs);
        // Rounds that end within their interval: every 10 s from the start,
        // however long each took.
        assert_eq!(next_round(at(0), at(3), interval), at(10));
        assert_eq!(next_round(at(10), at(19), interval), at(20));
        assert_eq!(next_round(at(20), at(30), interval), at(30));
        // A round due at 30 s that ran until 65 s: the rounds due at 40, 50
        // and 60 s are not run back to back at 65 s; the next starts at 75 s
        // and the rate goes on from there.
        let next = next_round(at(30), at(65), interval);
        assert_eq!(next, at(75));
        assert_eq!(next_round(next, at(76), interval), at(85));
    }

    /// A fresh directory for one test's files.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gate-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn hook(command: String) -> RollbackCommand {
        RollbackCommand { command, dir: None }
    }

    /// The pid a hook wrote to `file`.
    fn pid_in(file: &std::path::Path) -> rustix::process::Pid {
        let text = std::fs::read_to_string(file).unwrap();
        rustix::process::Pid::from_raw(text.trim().parse().unwrap()).unwrap()
    }

    /// Whether `pid` runs: not gone, nor a zombie no one has reaped yet.
    fn running(pid: rustix::process::Pid) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
            .ok()
            .and_then(|stat| {
                let (_, state) = stat.rsplit_once(')')?;
                Some(!state.trim_start().starts_with(['Z', 'X']))
            })
            .unwrap_or(false)
    }

    /// Whether `pid` is still running 10 s on (it is then killed): a
    /// process sent SIGKILL ends at once, but not within the kill call.
    fn outlives(pid: rustix::process::Pid) -> bool {
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while running(pid) && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        let survived = running(pid);
        kill(pid);
        survived
    }

    fn kill(pid: rustix::process::Pid) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_hook_is_done_when_its_shell_exits_whatever_it_left_running() {
        let dir = scratch("hook-background");
        let sleeper = dir.join("sleeper.pid");
        // `kubectl rollout undo … && (notify &)`: the background process
        // holds the hook's stdout and stderr open for 30 s.
        let command = format!(
            "echo rolled back; echo on stderr >&2; sleep 30 & echo $! > '{}'",
            sleeper.display()
        );
        let run = hook_run(command, &mut no_stops()).await;
        let sleeper = pid_in(&sleeper);
        let still_running = running(sleeper);
        kill(sleeper);
        assert_eq!(run.exit_code, Some(0), "{}", run.output);
        assert!(
            still_running,
            "gate waited for the background process, not for the shell"
        );
        assert!(
            run.output.starts_with("rolled back\non stderr\n"),
            "{}",
            run.output
        );
        assert!(
            run.output
                .ends_with("(its output ends here: a process it left running still holds it open)"),
            "{}",
            run.output
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_hook_past_its_timeout_is_stopped_with_every_process_it_started() {
        let dir = scratch("hook-timeout");
        let sleeper = dir.join("sleeper.pid");
        let command = format!(
            "sleep 30 & echo $! > '{}'; echo started; sleep 30",
            sleeper.display()
        );
        let run = run_hook(
            &hook(command),
            &[],
            Duration::from_secs(2),
            &mut no_stops(),
            &no_secrets(),
        )
        .await;
        let survived = outlives(pid_in(&sleeper));
        assert_eq!(run.exit_code, None, "{}", run.output);
        assert!(!survived, "the background process outlived the timeout");
        assert_eq!(
            run.output,
            "started\nstill running after 2s: stopped it and every process it started"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_signal_to_gate_reaches_the_hook_as_sigterm() {
        let dir = scratch("hook-signal");
        let ready = dir.join("ready");
        let command = format!(
            "trap 'echo got TERM; exit 7' TERM; sleep 30 & touch '{}'; wait",
            ready.display()
        );
        let mut stops = stop_as_each_appears(vec![ready]);
        let run = hook_run(command, &mut stops).await;
        assert_eq!(run.exit_code, Some(7), "{}", run.output);
        assert_eq!(
            run.output,
            "got TERM\ngate was asked to stop (SIGINT or SIGTERM) and passed SIGTERM on to it"
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_second_signal_kills_a_hook_that_ignored_the_first() {
        let dir = scratch("hook-signal-twice");
        let (ready, sleeper) = (dir.join("ready"), dir.join("sleeper.pid"));
        // A command that shrugs SIGTERM off and goes on waiting.
        let command = format!(
            "trap 'echo got TERM' TERM; sleep 30 & touch '{ready}'; wait; \
             sleep 30 & echo $! > '{sleeper}.tmp'; mv '{sleeper}.tmp' '{sleeper}'; wait; \
             echo finished",
            sleeper = sleeper.display(),
            ready = ready.display()
        );
        let mut stops = stop_as_each_appears(vec![ready, sleeper.clone()]);
        let run = hook_run(command, &mut stops).await;
        let survived = outlives(pid_in(&sleeper));
        assert_eq!(run.exit_code, None, "{}", run.output);
        assert!(
            !survived,
            "a process of the command outlived the second signal"
        );
        assert!(!run.output.contains("finished"), "{}", run.output);
        assert!(
            run.output.ends_with(
                "gate was asked to stop (SIGINT or SIGTERM) and passed SIGTERM on to it\n\
                 gate was asked to stop again: stopped it and every process it started (SIGKILL)"
            ),
            "{}",
            run.output
        );
    }

    fn no_secrets() -> crate::text::Cleaner {
        crate::text::Cleaner::new([])
    }

    /// `command` run as a rollback command with no secrets, within the
    /// default timeout.
    async fn hook_run(command: String, stops: &mut Stops) -> HookRun {
        run_hook(
            &hook(command),
            &[],
            DEFAULT_ROLLBACK_TIMEOUT,
            stops,
            &no_secrets(),
        )
        .await
    }

    #[tokio::test]
    async fn a_hook_s_output_is_shown_with_the_run_s_secrets_redacted() {
        // `curl -v -H "Authorization: Bearer $GATE_SECRET_…"` echoes the
        // token it was handed through the environment.
        let command = "echo \"Authorization: Bearer $TOKEN\"; printf 'esc \\033[31m\\n' >&2";
        let env = [("TOKEN", std::ffi::OsString::from("s3cr3t-t0ken"))];
        let cleaner = crate::text::Cleaner::new(["s3cr3t-t0ken".to_owned()]);
        let run = run_hook(
            &hook(command.to_owned()),
            &env,
            DEFAULT_ROLLBACK_TIMEOUT,
            &mut no_stops(),
            &cleaner,
        )
        .await;
        assert_eq!(run.exit_code, Some(0), "{}", run.output);
        assert_eq!(
            run.output,
            "Authorization: Bearer [REDACTED]\nesc \\u{1b}[31m\n"
        );
    }

    /// A dropped terminal after the decision does not cut the rollback
    /// command short: a hang-up is not passed on, nor counted as a stop.
    #[tokio::test]
    async fn a_hang_up_does_not_reach_the_hook() {
        let (sender, mut stops) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..2 {
            sender.send(Stop::HungUp).unwrap();
        }
        let run = hook_run("sleep 0.3; echo rolled back".to_owned(), &mut stops).await;
        assert_eq!(run.exit_code, Some(0), "{}", run.output);
        assert_eq!(run.output, "rolled back\n");
        drop(sender);
    }

    /// No stop request, ever.
    fn no_stops() -> Stops {
        tokio::sync::mpsc::unbounded_channel().1
    }

    /// A stop request as each of `files` appears, in turn, once the
    /// command has had a moment to go on: a background process signalled
    /// between its fork and its exec runs the shell's trap in place of
    /// dying, and then lives on as `sleep`.
    fn stop_as_each_appears(files: Vec<std::path::PathBuf>) -> Stops {
        let (sender, stops) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            for file in files {
                while !file.exists() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = sender.send(Stop::Asked);
            }
            // Held open: a closed channel would mean no more requests.
            std::future::pending::<()>().await;
        });
        stops
    }

    #[test]
    fn the_hook_gets_an_empty_gate_report_when_the_report_could_not_be_written() {
        // No round passed: a rollback.
        let mut report = decided(Tally::default(), vec!["p/up".into(), "p/p95".into()]);
        assert_eq!(report.decision, WatchDecision::Rollback);
        let value = |env: &[(&str, std::ffi::OsString)], key: &str| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        let written = hook_env(&report, "p", Some(std::path::Path::new("/tmp/r.json")));
        assert_eq!(
            value(&written, "GATE_REPORT").as_deref(),
            Some("/tmp/r.json")
        );
        assert_eq!(
            value(&written, "GATE_FAILED_CHECKS").as_deref(),
            Some("p/up,p/p95")
        );
        let unwritten = hook_env(&report, "p", None);
        assert_eq!(value(&unwritten, "GATE_REPORT").as_deref(), Some(""));
        assert_eq!(
            value(&unwritten, "GATE_DECISION").as_deref(),
            Some("rollback")
        );
        // The release to roll back from, when gate was told it.
        assert_eq!(value(&unwritten, "GATE_RELEASE"), None);
        report.release = Some(crate::decision_log::Release::new("v1.4.2", None));
        let with_release = hook_env(&report, "p", None);
        assert_eq!(
            value(&with_release, "GATE_RELEASE").as_deref(),
            Some("v1.4.2")
        );

        // The report is a new file only this user reads, never written
        // through what was left at its name.
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("gate-watch-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fresh = dir.join("fresh.json");
        create_private(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let victim = dir.join("victim");
        std::fs::write(&victim, "kept").unwrap();
        let planted = dir.join("planted.json");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(create_private(&planted).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "kept");
        assert_ne!(report_path(), report_path(), "names no one can take ahead");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn watch_args(flags: &[&str]) -> crate::cli::WatchArgs {
        use clap::Parser;
        let argv = ["gate", "watch", "p.wasm"].iter().chain(flags);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Watch(args) => *args,
            _ => unreachable!(),
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn flags_win_over_gate_toml_over_the_defaults() {
        fn set<T>(value: T) -> Option<Setting<T>> {
            let at = crate::config::Place {
                key: "watch.x".into(),
                line: 1,
                column: 1,
            };
            Some(Setting { value, at })
        }
        let file = crate::config::WatchSettings {
            interval: set(secs(30)),
            window: set(Window::Lasting(secs(300))),
            failure_limit: set(1),
            rollback_timeout: set(secs(120)),
            ..Default::default()
        };
        let from_file = Resolved::from(&watch_args(&[]), &file, None).unwrap();
        assert_eq!(
            from_file,
            Resolved {
                schedule: Schedule {
                    interval: secs(30),
                    rounds: 10
                },
                initial_delay: Duration::ZERO,
                limits: WatchLimits {
                    failure_limit: 1,
                    ..WatchLimits::default()
                },
                on_rollback: None,
                rollback_timeout: secs(120),
            }
        );
        let flags = watch_args(&[
            "--count",
            "4",
            "--interval",
            "1s",
            "--failure-limit",
            "0",
            "--consecutive-error-limit",
            "5",
            "--initial-delay",
            "2s",
            "--rollback-timeout",
            "90s",
        ]);
        let from_flags = Resolved::from(&flags, &file, None).unwrap();
        assert_eq!(
            from_flags,
            Resolved {
                schedule: Schedule {
                    interval: secs(1),
                    rounds: 4
                },
                initial_delay: secs(2),
                limits: WatchLimits {
                    failure_limit: 0,
                    inconclusive_limit: 0,
                    consecutive_error_limit: 5,
                },
                on_rollback: None,
                rollback_timeout: secs(90),
            }
        );
        // --duration replaces the file's window too, at the file's interval.
        let lasting = Resolved::from(&watch_args(&["--duration", "1m"]), &file, None).unwrap();
        assert_eq!(lasting.schedule.rounds, 2);
        let defaults = Resolved::from(&watch_args(&["--count", "1"]), &Default::default(), None);
        assert_eq!(defaults.unwrap().rollback_timeout, DEFAULT_ROLLBACK_TIMEOUT);
    }

    #[test]
    fn the_rollback_flag_wins_over_the_file_and_an_empty_one_runs_nothing() {
        let beside_the_file = RollbackCommand {
            command: "./rollback.sh".into(),
            dir: Some("ci".into()),
        };
        let file = crate::config::WatchSettings {
            window: Some(Setting {
                value: Window::Rounds(3),
                at: crate::config::Place {
                    key: "watch.count".into(),
                    line: 1,
                    column: 1,
                },
            }),
            on_rollback: Some(Setting {
                value: Some(beside_the_file.clone()),
                at: crate::config::Place {
                    key: "watch.on_rollback".into(),
                    line: 2,
                    column: 1,
                },
            }),
            ..Default::default()
        };
        let hook = |flags: &[&str]| {
            Resolved::from(&watch_args(flags), &file, None)
                .unwrap()
                .on_rollback
        };
        assert_eq!(hook(&[]), Some(beside_the_file));
        assert_eq!(
            hook(&["--on-rollback", "kubectl rollout undo deploy/api"]),
            Some(RollbackCommand {
                command: "kubectl rollout undo deploy/api".into(),
                dir: None,
            })
        );
        assert_eq!(hook(&["--on-rollback", ""]), None);
        assert_eq!(hook(&["--on-rollback", "  "]), None);
    }

    #[test]
    fn a_window_must_be_given_somewhere_and_stay_within_bounds() {
        let none = crate::config::WatchSettings::default();
        let error = Resolved::from(&watch_args(&[]), &none, Some(("gate.toml", "prod")))
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "gate watch needs the length of its window: give --count N (rounds) or --duration D \
             (as many intervals as fit), or set `count` or `duration` in [watch] or \
             [env.prod.watch] of gate.toml"
        );
        let error = Resolved::from(
            &watch_args(&["--duration", "5h", "--interval", "1ms"]),
            &none,
            None,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "a 5h window with a round every 1ms is 18000000 rounds, more than the 100000 a \
             window may have: lengthen the interval or shorten the duration"
        );
        // Whole intervals, counted exactly: 1.2 s holds three of 400 ms
        // (in floating point it held two).
        let exact = Resolved::from(
            &watch_args(&["--duration", "1.2s", "--interval", "400ms"]),
            &none,
            None,
        )
        .unwrap();
        assert_eq!(exact.schedule.rounds, 3);
        let just_short = Resolved::from(
            &watch_args(&["--duration", "1199ms", "--interval", "400ms"]),
            &none,
            None,
        )
        .unwrap();
        assert_eq!(just_short.schedule.rounds, 2);
        // A window shorter than the interval still runs one round.
        let short = Resolved::from(&watch_args(&["--duration", "1s"]), &none, None).unwrap();
        assert_eq!(short.schedule.rounds, 1);
        assert_eq!(short.schedule.interval, DEFAULT_INTERVAL);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(WatchDecision::Healthy.exit_code(), 0);
        assert_eq!(WatchDecision::Rollback.exit_code(), 1);
        assert_eq!(WatchDecision::Inconclusive.exit_code(), 3);
        assert_eq!(WatchDecision::Aborted.exit_code(), 130);
    }
}
