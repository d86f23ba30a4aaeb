//! `gate run`: load every policy, run their checks, decide one verdict.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::cli::{ColorChoice, RunArgs};
use crate::decision_log;
use crate::plan::Plan;
use crate::report::github::{self, Actions};
use crate::report::progress::Progress;
use crate::report::{self, PolicyReport, ReportFormat, RunReport};
use crate::runtime::{LoadedPolicy, Retry, Runtime};
use crate::selection::Selection;
use crate::state::Session;
use crate::units::rfc3339;
use crate::verdict;

/// Most checks that run at once when `--jobs` is not given.
const DEFAULT_MAX_JOBS: usize = 16;

/// Output settings shared by the commands.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub color: ColorChoice,
    pub verbose: bool,
    pub quiet: bool,
}

impl Output {
    pub fn color_enabled(&self) -> bool {
        self.color.enabled(std::io::stdout().is_terminal())
    }
}

/// Policies loaded once, ready to run round after round (`gate run` runs one
/// round, `gate watch` many).
pub struct Prepared {
    pub plan: Plan,
    runtime: Runtime,
    session: Arc<Session>,
    loaded: Vec<LoadedPolicy>,
    /// What `--check` and `--skip-check` left of the policies' checks.
    pub selection: Selection,
}

impl Prepared {
    /// Plans the run (flags over gate.toml; pins checked before any policy
    /// code runs) and loads every policy before running any, so a bad
    /// policy never leaves a half run.
    pub async fn new(args: &RunArgs, config: Option<&Path>) -> anyhow::Result<Prepared> {
        Prepared::of_plan(Plan::new(args, config)?, args).await
    }

    /// [`Prepared::new`] of a plan already made, so that a command can
    /// refuse what else it was given before any policy is loaded.
    pub async fn of_plan(mut plan: Plan, args: &RunArgs) -> anyhow::Result<Prepared> {
        // A recording keeps one attempt per check, and `gate test` replays
        // it once: a retried check would be written with its first
        // attempt's answers and its last attempt's outcome, a fixture that
        // fails the moment it is replayed. `--retry` is refused with
        // `--record`; gate.toml's `retry` is set aside here.
        if args.record.is_some() && plan.retry.retries > 0 {
            plan.retry = Retry::NONE;
            eprintln!(
                "gate run: env `{}` sets retry in gate.toml, which --record sets aside: a \
                 recording keeps one attempt per check",
                plan.env_name
            );
        }
        let checks_at_once = plan.jobs.map_or(DEFAULT_MAX_JOBS, usize::from);
        let runtime = Runtime::with_options(&plan.limits, &args.engine, Some(checks_at_once))?;
        // Policies may read fewer secrets than gate knows; all are redacted,
        // and so is a webhook URL (it carries a token).
        let redact = plan
            .redact
            .iter()
            .cloned()
            .chain(plan.webhook.iter().map(|u| u.to_string()));

        // Every policy is read and checked against its pins and signature
        // before any is compiled, so a tampered one stops the run before
        // any policy code (describe included) has run. What is compiled is
        // the very bytes that were checked.
        let requirements = crate::integrity::requirements(args, &plan)?;
        let mut checked = Vec::with_capacity(plan.policies.len());
        for (planned, requirement) in plan.policies.iter().zip(&requirements) {
            let bytes = crate::policy::read(&planned.path, plan.limits.wasm_bytes)?;
            let verified = crate::integrity::verify(&planned.path, &bytes, requirement)?;
            checked.push((bytes, verified.sha256));
        }
        let mut session = Session::new(plan.grants.clone(), plan.limits.clone(), redact)?;
        if args.record.is_some() {
            session.tape = Some(Arc::new(crate::tape::Tape::recorder()));
        }
        let session = Arc::new(session);
        let mut loaded = Vec::with_capacity(plan.policies.len());
        for (planned, (bytes, sha256)) in plan.policies.iter().zip(checked) {
            let policy = runtime
                .load_hashed(&planned.path, bytes, sha256, &session)
                .await?;
            planned.confirm(&policy.sha256)?;
            // Checks are named POLICY/CHECK in --check, reports and the
            // decision log: two policies of one name would make them
            // ambiguous.
            if let Some(other) = loaded
                .iter()
                .find(|other: &&LoadedPolicy| other.info.name == policy.info.name)
            {
                anyhow::bail!(
                    "policies {} and {} are both named `{}`: a run names checks POLICY/CHECK, so it \
                     cannot hold two policies of one name (is one file given twice?)",
                    other.path,
                    policy.path,
                    policy.info.name
                );
            }
            loaded.push(policy);
        }
        if plan.smoke_first {
            // Stable: smoke suites first, each group in the listed order.
            loaded.sort_by_key(|policy| policy.info.kind != "smoke");
        }
        let selection = crate::selection::select(&mut loaded, &args.checks, &args.skip_checks)?;
        Ok(Prepared {
            plan,
            runtime,
            session,
            loaded,
            selection,
        })
    }

    /// Stops retrying checks (`gate watch` judges rounds as they ran), and
    /// says what was asked for.
    pub fn without_retry(&mut self) -> Retry {
        std::mem::replace(&mut self.plan.retry, Retry::NONE)
    }

    /// Runs every check of every policy once, each in a fresh sandbox.
    pub async fn round(&self) -> Vec<PolicyReport> {
        self.round_with(&Progress::default()).await
    }

    /// [`Prepared::round`], showing each running check on `progress`.
    pub async fn round_with(&self, progress: &Progress) -> Vec<PolicyReport> {
        let mut policies = Vec::with_capacity(self.loaded.len());
        for policy in &self.loaded {
            let started = Instant::now();
            let jobs = self
                .plan
                .jobs
                .map(usize::from)
                .unwrap_or(policy.info.checks.len().clamp(1, DEFAULT_MAX_JOBS));
            let checks = self
                .runtime
                .run(
                    policy,
                    &self.session,
                    jobs,
                    self.plan.strict,
                    self.plan.retry,
                    progress,
                )
                .await;
            policies.push(report_of(
                policy,
                checks,
                started.elapsed().as_secs_f64() * 1000.0,
            ));
        }
        policies
    }

    /// The policies, none of whose checks ran: what a decision made before
    /// any round (a watch stopped in its initial delay) names.
    pub fn unrun(&self) -> Vec<PolicyReport> {
        self.loaded
            .iter()
            .map(|policy| report_of(policy, Vec::new(), 0.0))
            .collect()
    }

    /// A decision's reason, saying when `--check` or `--skip-check` ran part
    /// of the checks.
    pub fn qualify(&self, reason: String) -> String {
        match self.selection.note() {
            Some(note) => format!("{reason}; {note}"),
            None => reason,
        }
    }

    pub fn env_name(&self) -> &str {
        &self.plan.env_name
    }

    /// The target as reports and logs show it: redacted, as a secret may
    /// sit in its query or credentials.
    pub fn target(&self) -> Option<String> {
        self.plan
            .grants
            .target
            .as_ref()
            .map(|t| self.session.cleaner.redact_url(t))
    }

    /// `prod, smoke` — the policies' names, for messages and hooks.
    pub fn policy_names(&self) -> String {
        let names: Vec<&str> = self.loaded.iter().map(|p| p.info.name.as_str()).collect();
        names.join(",")
    }

    /// Posts `text`, redacted, to the webhook at `url`; why it could not,
    /// redacted too (the URL carries a token).
    pub async fn notify(&self, url: &url::Url, text: &str) -> Result<(), String> {
        let client = self.session.http()?;
        crate::notify::post(client, url, &self.clean(text))
            .await
            .map_err(|why| self.clean(&why))
    }

    /// Redacts secrets and escapes control characters.
    pub fn clean(&self, text: &str) -> String {
        self.session.cleaner.clean(text)
    }

    /// What [`Prepared::clean`] redacts with, for text made elsewhere.
    pub fn cleaner(&self) -> &crate::text::Cleaner {
        &self.session.cleaner
    }
}

fn report_of(
    policy: &LoadedPolicy,
    checks: Vec<crate::report::CheckReport>,
    duration_ms: f64,
) -> PolicyReport {
    PolicyReport {
        path: policy.path.clone(),
        name: policy.info.name.clone(),
        version: policy.info.version.clone(),
        kind: policy.info.kind.clone(),
        sha256: policy.sha256.clone(),
        wit_version: policy.contract.wit_version.to_string(),
        duration_ms,
        checks,
    }
}

/// Runs `gate run` and returns its exit code. `Err` (a policy that could not
/// be loaded, a bad gate.toml, say) means exit 2. Meant to be the last
/// thing a process does: the loaded policies and the instance pool are
/// left for the process's end to release.
pub async fn run(args: RunArgs, config: Option<&Path>, output: Output) -> anyhow::Result<i32> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let prepared = Prepared::new(&args, config).await?;
    // Spinners only under the human report: machine formats on stdout are
    // read by programs, and -q asks for the verdict alone.
    let progress = if args.format == ReportFormat::Human && !output.quiet {
        Progress::on_terminal()
    } else {
        Progress::default()
    };
    let policies = prepared.round_with(&progress).await;
    progress.finish();

    // Like a --report file, a recording that cannot be written fails the
    // run (exit 2) only after the report is out.
    let unrecorded = args.record.as_ref().and_then(|path| {
        let written = crate::tape::write_recording(
            path,
            &prepared.session,
            prepared.plan.strict,
            &policies,
            rfc3339(started_at),
        );
        for warning in written.as_ref().map_or(&[][..], Vec::as_slice) {
            eprintln!(
                "gate run: warning: the recording {}: {warning}",
                path.display()
            );
        }
        written.err()
    });
    let mut verdict = verdict::decide(&policies);
    verdict.reason = prepared.qualify(verdict.reason);
    let exit_code = verdict.exit_code;
    let report = RunReport {
        schema: report::SCHEMA,
        gate_version: env!("CARGO_PKG_VERSION"),
        env: prepared.env_name().to_owned(),
        target: prepared.target(),
        release: prepared.plan.release.clone(),
        strict: prepared.plan.strict,
        selection: prepared.selection.names.clone(),
        started_at: rfc3339(started_at),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        policies,
        verdict,
    };
    let human = report::human::Options {
        color: output.color_enabled(),
        verbose: output.verbose,
        quiet: output.quiet,
    };
    let mut stdout = std::io::stdout().lock();
    let written = args.format.write(&report, &mut stdout, human);
    // A closed pipe (`gate run … | head`) must not change the verdict.
    let _ = written.and_then(|()| stdout.flush());
    drop(stdout);

    let actions = Actions::from_env();
    if actions.annotate {
        // On stderr, which the runner reads too, so that no report format
        // on stdout gets lines it does not expect.
        let _ = github::write_annotations(&report, &mut std::io::stderr().lock());
    }
    if let Some(path) = &actions.step_summary
        && let Err(e) = github::append_step_summary(&report, path)
    {
        eprintln!(
            "gate: cannot append to $GITHUB_STEP_SUMMARY ({}): {e} (the verdict stands)",
            path.display()
        );
    }
    // A file report is the whole report, in no colour, whatever -q says.
    let in_file = report::human::Options {
        color: false,
        verbose: output.verbose,
        quiet: false,
    };
    let mut unwritten: Vec<String> = unrecorded
        .map(|e| e.to_string())
        .into_iter()
        .chain(
            args.reports
                .iter()
                .filter_map(|file| file.write(&report, in_file).err()),
        )
        .collect();
    // The decision log says what gate exited with, so it is written after
    // the reports whose failure makes that 2. Like a report file, a
    // decision the log could not keep is exit 2 once everything else is
    // out (the webhook included): a gate that promotes must leave its
    // record. `gate watch` only warns, as nothing may stop a rollback.
    if let Some(path) = &prepared.plan.decision_log {
        let mut entry = decision_log::Decision::of_run(&report);
        if !unwritten.is_empty() {
            entry = entry.exited(crate::verdict::EXIT_UNUSABLE, &unwritten.join("; "));
        }
        if let Err(e) = decision_log::append(path, &entry) {
            unwritten.push(format!(
                "cannot append to the decision log {}: {e}",
                path.display()
            ));
        }
    }

    if let Some(url) = &prepared.plan.webhook {
        let mut text = notification(&prepared.policy_names(), &report);
        // The chat must not say "promote" where CI shows a failed step.
        if !unwritten.is_empty() {
            text.push_str(&format!("\n(gate exits 2: {})", unwritten.join("; ")));
        }
        if let Err(why) = prepared.notify(url, &text).await {
            eprintln!("gate: webhook: {why} (the verdict stands)");
        }
    }
    // The process ends now: dropping the loaded policies and the instance
    // pool would unmap them piece by piece (a TLB shootdown on every worker
    // thread each time) just before the kernel drops the whole address
    // space anyway. Everything written is closed or flushed by now.
    std::mem::forget(prepared);
    if !unwritten.is_empty() {
        anyhow::bail!("{}", unwritten.join("; "));
    }
    Ok(exit_code)
}

/// The webhook message: the verdict, then what each blocking check that did
/// not pass measured.
fn notification(policies: &str, report: &RunReport) -> String {
    let mut text = format!(
        "gate run {policies}: {} on env `{}`{}: {}",
        report.verdict.decision_word(),
        report.env,
        crate::decision_log::Release::mention(report.release.as_ref()),
        report.verdict.reason
    );
    for (policy, check) in report.checks().filter(|(_, c)| c.blocking && c.troubled()) {
        text.push_str(&format!(
            "\n• {}/{} {}",
            policy.name, check.name, check.outcome
        ));
        if let Some(m) = check.measurements.first() {
            text.push_str(&format!(": {}", m.describe()));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    /// The chat says which release the verdict is about, and what failed.
    #[test]
    fn the_notification_names_the_release_and_the_failed_checks() {
        let mut report = crate::report::golden::fixture();
        let text = super::notification("api, prod", &report);
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("gate run api, prod: fail on env `stage` for release `v1.4.2`: "),
            "{text}"
        );
        assert!(text.contains("\n• "), "{text}");
        report.release = None;
        let text = super::notification("api, prod", &report);
        assert!(
            text.starts_with("gate run api, prod: fail on env `stage`: "),
            "{text}"
        );
    }
}
