//! `gate test POLICY FIXTURE…`: replays a policy against recorded (or
//! hand-written) host calls, with no network, and compares each check's
//! outcome with the fixture's expectation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use crate::limits::Limits;
use crate::report::{CheckReport, Format, Outcome};
use crate::run::Output;
use crate::runtime::{LoadedPolicy, Runtime};
use crate::state::Session;
use crate::tape::{self, Fixture, Tape, Unexpected};
use crate::text::printable;
use crate::verdict::{EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS};

/// Checks replayed at once.
const JOBS: usize = 16;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The policy component (.wasm) to test.
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    /// Fixtures: written by `gate run --record FILE`, or by hand.
    #[arg(value_name = "FIXTURE", required = true)]
    pub fixtures: Vec<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    #[command(flatten)]
    pub engine: crate::cli::EngineArgs,
}

/// The result of `gate test`, schema `gate.test/v1` in JSON.
#[derive(Debug, Serialize)]
pub struct TestReport {
    pub schema: &'static str,
    pub policy: String,
    pub version: String,
    pub sha256: String,
    pub fixtures: Vec<FixtureResult>,
    pub passed: bool,
    pub exit_code: i32,
}

#[derive(Debug, Serialize)]
pub struct FixtureResult {
    pub path: String,
    pub checks: Vec<CheckResult>,
}

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub expected: Outcome,
    /// `None` when the policy has no such check.
    pub actual: Option<Outcome>,
    pub message: String,
    pub ok: bool,
    /// Why it is not ok, one line each.
    pub problems: Vec<String>,
    /// Calls the check made that the fixture does not have.
    pub unexpected: Vec<Unexpected>,
}

pub async fn command(args: TestArgs, output: Output) -> anyhow::Result<i32> {
    let fixtures = args
        .fixtures
        .iter()
        .map(|path| Ok((path.as_path(), tape::load(path)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Pooled only when asked (`--pooling on`), and then with a slot for
    // each check a replay runs at once; `auto` leaves a replay's few
    // instances unpooled, as config check's.
    let at_once = (args.engine.pooling == crate::cli::Pooling::On).then_some(JOBS);
    // Each fixture replays under the limits its run had (an engine and a
    // loaded policy per set of them: memory and stack are the engine's).
    let mut loaded: Vec<(Limits, Runtime, LoadedPolicy)> = Vec::new();
    let mut results = Vec::new();
    for (path, fixture) in fixtures {
        let limits = Limits::of_recorded(&fixture.context.limits)
            .map_err(|e| anyhow::anyhow!("{}: the fixture's limits: {e}", path.display()))?;
        let session = replay_session(&fixture, &limits)
            .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
        let at = match loaded.iter().position(|(l, _, _)| *l == limits) {
            Some(at) => at,
            None => {
                let runtime = Runtime::with_options(&limits, &args.engine, at_once)?;
                let policy = runtime.load(&args.policy, &session).await?;
                loaded.push((limits, runtime, policy));
                loaded.len() - 1
            }
        };
        let (_, runtime, policy) = &mut loaded[at];
        results.push(replay(runtime, policy, &session, path, &fixture).await?);
    }
    let (_, _, policy) = loaded.into_iter().next().expect("at least one fixture");
    let checks = results.iter().flat_map(|f| &f.checks);
    // Nothing tested is not a pass, for a person or a program reading `passed`.
    let tested = checks.clone().count() > 0;
    let all_ok = checks.clone().all(|c| c.ok);
    let passed = tested && all_ok;
    let exit_code = if !all_ok {
        EXIT_FAIL
    } else if !tested {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_PASS
    };
    let report = TestReport {
        schema: "gate.test/v1",
        policy: policy.info.name.clone(),
        version: policy.info.version.clone(),
        sha256: policy.sha256.clone(),
        fixtures: results,
        passed,
        exit_code,
    };
    let mut stdout = std::io::stdout().lock();
    let written = match args.format {
        Format::Human => write_human(&report, &policy.path, &mut stdout, output.quiet),
        Format::Json => serde_json::to_writer_pretty(&mut stdout, &report)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(stdout)),
    };
    let _ = written.and_then(|()| stdout.flush());
    Ok(exit_code)
}

/// A session that grants what the recorded run granted and answers every
/// call from the fixture.
fn replay_session(fixture: &Fixture, limits: &Limits) -> anyhow::Result<Arc<Session>> {
    let grants = tape::replay_grants(&fixture.context)?;
    let mut session = Session::new(grants, limits.clone(), [])?;
    session.tape = Some(Arc::new(Tape::replay(fixture.clone())));
    Ok(Arc::new(session))
}

/// Runs the checks the fixture lists, and only those.
async fn replay(
    runtime: &Runtime,
    policy: &mut LoadedPolicy,
    session: &Arc<Session>,
    path: &Path,
    fixture: &Fixture,
) -> anyhow::Result<FixtureResult> {
    let name = &policy.info.name;
    let recorded = fixture
        .policies
        .iter()
        .find(|p| &p.name == name)
        .with_context(|| {
            let names: Vec<&str> = fixture.policies.iter().map(|p| p.name.as_str()).collect();
            format!(
                "{}: no recording of policy `{name}` (it has: {})",
                path.display(),
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )
        })?;
    let every_check = policy.info.checks.clone();
    policy
        .info
        .checks
        .retain(|c| recorded.checks.iter().any(|r| r.name == c.name));
    let reports = runtime
        .run(
            policy,
            session,
            JOBS,
            fixture.context.strict,
            crate::runtime::Retry::NONE,
            &crate::report::progress::Progress::default(),
        )
        .await;
    policy.info.checks = every_check;
    let unexpected = session
        .tape
        .as_ref()
        .map(|t| t.unexpected())
        .unwrap_or_default();

    let checks = recorded
        .checks
        .iter()
        .map(|expected| {
            let report = reports.iter().find(|r| r.name == expected.name);
            let unexpected: Vec<Unexpected> = unexpected
                .iter()
                .filter(|u| u.check == expected.name)
                .cloned()
                .collect();
            judge(expected, report, unexpected)
        })
        .collect();
    Ok(FixtureResult {
        path: path.display().to_string(),
        checks,
    })
}

fn judge(
    expected: &tape::CheckTape,
    report: Option<&CheckReport>,
    unexpected: Vec<Unexpected>,
) -> CheckResult {
    let mut problems = Vec::new();
    let Some(report) = report else {
        return CheckResult {
            name: expected.name.clone(),
            expected: expected.expect.outcome,
            actual: None,
            message: String::new(),
            ok: false,
            problems: vec![format!(
                "the policy has no check `{}`: remove it from the fixture or rename it",
                expected.name
            )],
            unexpected,
        };
    };
    if report.outcome != expected.expect.outcome {
        problems.push(format!(
            "expected {}, got {}: {}",
            expected.expect.outcome, report.outcome, report.message
        ));
    }
    if let Some(text) = &expected.expect.message_contains
        && !report.message.contains(text.as_str())
    {
        problems.push(format!(
            "the message does not contain {text:?}: {}",
            report.message
        ));
    }
    if !unexpected.is_empty() {
        problems.push(format!("{} call(s) not in the fixture", unexpected.len()));
    }
    CheckResult {
        name: expected.name.clone(),
        expected: expected.expect.outcome,
        actual: Some(report.outcome),
        message: report.message.clone(),
        ok: problems.is_empty(),
        problems,
        unexpected,
    }
}

fn write_human(
    report: &TestReport,
    policy_path: &str,
    out: &mut impl Write,
    quiet: bool,
) -> std::io::Result<()> {
    let total: usize = report.fixtures.iter().map(|f| f.checks.len()).sum();
    let failed: usize = report
        .fixtures
        .iter()
        .flat_map(|f| &f.checks)
        .filter(|c| !c.ok)
        .count();
    if !quiet {
        writeln!(
            out,
            "gate test · {} {} · {policy_path} · sha256 {}",
            report.policy,
            report.version,
            &report.sha256[..12.min(report.sha256.len())]
        )?;
        for fixture in &report.fixtures {
            writeln!(out, "\nfixture {}", fixture.path)?;
            let width = fixture
                .checks
                .iter()
                .map(|c| c.name.len())
                .max()
                .unwrap_or(0);
            for check in &fixture.checks {
                let mark = if check.ok { "ok  " } else { "FAIL" };
                let actual = check.actual.map_or("-", Outcome::label);
                writeln!(out, "  {mark}  {:width$}  {actual}", check.name)?;
                for problem in &check.problems {
                    // A problem quotes the check's message, which may
                    // hold lines of its own: each is indented.
                    for line in printable(problem).lines() {
                        writeln!(out, "        {line}")?;
                    }
                }
                for call in &check.unexpected {
                    write_unexpected(out, call)?;
                }
            }
        }
        writeln!(out)?;
    }
    let verdict = match report.exit_code {
        EXIT_PASS => "PASS",
        EXIT_INCONCLUSIVE => "NOTHING TESTED",
        _ => "FAIL",
    };
    writeln!(
        out,
        "{} fixture(s), {total} check(s): {} as expected, {failed} not · result: {verdict} (exit {})",
        report.fixtures.len(),
        total - failed,
        report.exit_code
    )
}

fn write_unexpected(out: &mut impl Write, call: &Unexpected) -> std::io::Result<()> {
    writeln!(out, "        call not in the fixture: {}", call.call)?;
    writeln!(
        out,
        "          asked:    {}",
        printable(&call.asked.to_string())
    )?;
    match &call.recorded {
        Some(recorded) => {
            writeln!(
                out,
                "          recorded: {} (nearest)",
                printable(&recorded.to_string())
            )?;
            for line in &call.diff {
                writeln!(out, "          {}", printable(line))?;
            }
        }
        None => writeln!(
            out,
            "          recorded: no {} call at all for this check",
            call.call
        )?,
    }
    Ok(())
}
