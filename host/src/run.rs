//! `gate run`: load every policy, run their checks, decide one verdict.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::cli::{ColorChoice, RunArgs};
use crate::plan::Plan;
use crate::report::{self, Format, PolicyReport, RunReport};
use crate::runtime::Runtime;
use crate::state::Session;
use crate::text::Cleaner;
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

/// Runs `gate run` and returns its exit code. `Err` (a policy that could not
/// be loaded, a bad gate.toml, say) means exit 2.
pub async fn run(args: RunArgs, config: Option<&Path>, output: Output) -> anyhow::Result<i32> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    // Flags over gate.toml; the pins were checked here, before any policy
    // code runs.
    let plan = Plan::new(&args, config)?;
    let target = plan.grants.target.as_ref().map(|t| t.to_string());
    let runtime = Runtime::new(plan.limits.wasm_stack_bytes)?;
    let mut session = Session::new(plan.grants.clone(), plan.limits.clone())?;
    // Policies may read fewer secrets than gate knows; all are redacted.
    session.cleaner = Cleaner::new(plan.redact.iter().cloned());
    let session = Arc::new(session);

    // Load all before running any, so a bad policy never leaves a half run.
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

    let mut policies = Vec::with_capacity(loaded.len());
    for policy in &loaded {
        let policy_started = Instant::now();
        let jobs = plan
            .jobs
            .map(usize::from)
            .unwrap_or(policy.info.checks.len().clamp(1, DEFAULT_MAX_JOBS));
        let checks = runtime.run(policy, &session, jobs, plan.strict).await;
        policies.push(PolicyReport {
            path: policy.path.clone(),
            name: policy.info.name.clone(),
            version: policy.info.version.clone(),
            kind: policy.info.kind.clone(),
            sha256: policy.sha256.clone(),
            wit_version: policy.contract.wit_version.to_string(),
            duration_ms: policy_started.elapsed().as_secs_f64() * 1000.0,
            checks,
        });
    }

    let verdict = verdict::decide(&policies);
    let exit_code = verdict.exit_code;
    let report = RunReport {
        schema: report::SCHEMA,
        gate_version: env!("CARGO_PKG_VERSION"),
        env: plan.env_name,
        target,
        strict: plan.strict,
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
    Ok(exit_code)
}
