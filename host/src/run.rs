//! `gate run`: load every policy, run their checks, decide one verdict.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::cli::{ColorChoice, RunArgs};
use crate::decision_log;
use crate::plan::Plan;
use crate::report::{self, Format, PolicyReport, RunReport};
use crate::runtime::{LoadedPolicy, Runtime};
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
        match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Policies loaded once, ready to run round after round (`gate run` runs one
/// round, `gate watch` many).
pub struct Prepared {
    pub plan: Plan,
    runtime: Runtime,
    session: Arc<Session>,
    loaded: Vec<LoadedPolicy>,
}

impl Prepared {
    /// Plans the run (flags over gate.toml; pins checked before any policy
    /// code runs) and loads every policy before running any, so a bad
    /// policy never leaves a half run.
    pub async fn new(args: &RunArgs, config: Option<&Path>) -> anyhow::Result<Prepared> {
        let plan = Plan::new(args, config)?;
        let runtime = Runtime::new(plan.limits.wasm_stack_bytes)?;
        // Policies may read fewer secrets than gate knows; all are redacted,
        // and so is a webhook URL (it carries a token).
        let redact = plan
            .redact
            .iter()
            .cloned()
            .chain(plan.webhook.iter().map(|u| u.to_string()));
        let session = Arc::new(Session::new(
            plan.grants.clone(),
            plan.limits.clone(),
            redact,
        )?);
        let mut loaded = Vec::with_capacity(plan.policies.len());
        for planned in &plan.policies {
            let policy = runtime.load(&planned.path, &session).await?;
            planned.confirm(&policy.sha256)?;
            loaded.push(policy);
        }
        if plan.smoke_first {
            // Stable: smoke suites first, each group in the listed order.
            loaded.sort_by_key(|policy| policy.info.kind != "smoke");
        }
        Ok(Prepared {
            plan,
            runtime,
            session,
            loaded,
        })
    }

    /// Runs every check of every policy once, each in a fresh sandbox.
    pub async fn round(&self) -> Vec<PolicyReport> {
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
                .run(policy, &self.session, jobs, self.plan.strict)
                .await;
            policies.push(PolicyReport {
                path: policy.path.clone(),
                name: policy.info.name.clone(),
                version: policy.info.version.clone(),
                kind: policy.info.kind.clone(),
                sha256: policy.sha256.clone(),
                wit_version: policy.contract.wit_version.to_string(),
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                checks,
            });
        }
        policies
    }

    pub fn env_name(&self) -> &str {
        &self.plan.env_name
    }

    pub fn target(&self) -> Option<String> {
        self.plan.grants.target.as_ref().map(|t| t.to_string())
    }

    /// `prod, smoke` — the policies' names, for messages and hooks.
    pub fn policy_names(&self) -> String {
        let names: Vec<&str> = self.loaded.iter().map(|p| p.info.name.as_str()).collect();
        names.join(",")
    }

    /// The HTTP client of the run, for gate's own notifications.
    pub fn http(&self) -> &reqwest::Client {
        &self.session.http
    }

    /// Redacts secrets and escapes control characters.
    pub fn clean(&self, text: &str) -> String {
        self.session.cleaner.clean(text)
    }
}

/// Runs `gate run` and returns its exit code. `Err` (a policy that could not
/// be loaded, a bad gate.toml, say) means exit 2.
pub async fn run(args: RunArgs, config: Option<&Path>, output: Output) -> anyhow::Result<i32> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let prepared = Prepared::new(&args, config).await?;
    let policies = prepared.round().await;

    let verdict = verdict::decide(&policies);
    let exit_code = verdict.exit_code;
    let report = RunReport {
        schema: report::SCHEMA,
        gate_version: env!("CARGO_PKG_VERSION"),
        env: prepared.env_name().to_owned(),
        target: prepared.target(),
        strict: prepared.plan.strict,
        started_at: rfc3339(started_at),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        policies,
        verdict,
    };
    let mut stdout = std::io::stdout().lock();
    let written = match args.format {
        Format::Human => report::human::write(
            &report,
            &mut stdout,
            report::human::Options {
                color: output.color_enabled(),
                verbose: output.verbose,
                quiet: output.quiet,
            },
        ),
        Format::Json => report::json::write(&report, &mut stdout),
    };
    // A closed pipe (`gate run … | head`) must not change the verdict.
    let _ = written.and_then(|()| stdout.flush());
    drop(stdout);

    if let Some(path) = &prepared.plan.decision_log {
        let entry = decision_log::Decision::of_run(&report);
        decision_log::append(path, &entry).map_err(|e| {
            anyhow::anyhow!("cannot append to the decision log {}: {e}", path.display())
        })?;
    }
    if let Some(url) = &prepared.plan.webhook {
        let text = format!(
            "gate run {}: {} on env `{}`: {}",
            prepared.policy_names(),
            report.verdict.decision_word(),
            report.env,
            report.verdict.reason
        );
        if let Err(why) = crate::notify::post(prepared.http(), url, &prepared.clean(&text)).await {
            eprintln!("gate: webhook: {why} (the verdict stands)");
        }
    }
    Ok(exit_code)
}
