//! `gate inspect`: what a policy is, before anyone runs it.

use std::io::Write;

use serde::Serialize;

use crate::policy::WIT_PACKAGE;
use crate::runtime::{LoadedPolicy, capability_name};
use crate::units::format_size;

#[derive(Debug, Serialize)]
pub struct Inspection {
    pub path: String,
    pub name: String,
    pub version: String,
    pub kind: String,
    pub size: u64,
    pub sha256: String,
    /// The `gate:policy` version the policy was built against.
    pub wit_version: String,
    pub imports: Vec<String>,
    pub checks: Vec<CheckSummary>,
}

#[derive(Debug, Serialize)]
pub struct CheckSummary {
    pub name: String,
    pub description: String,
    pub blocking: bool,
    pub needs: Vec<&'static str>,
}

impl From<&LoadedPolicy> for Inspection {
    fn from(policy: &LoadedPolicy) -> Inspection {
        Inspection {
            path: policy.path.clone(),
            name: policy.info.name.clone(),
            version: policy.info.version.clone(),
            kind: policy.info.kind.clone(),
            size: policy.size,
            sha256: policy.sha256.clone(),
            wit_version: policy.contract.wit_version.to_string(),
            imports: policy.contract.imports.clone(),
            checks: policy
                .info
                .checks
                .iter()
                .map(|c| CheckSummary {
                    name: c.name.clone(),
                    description: c.description.clone(),
                    blocking: c.blocking,
                    needs: c.needs.iter().map(|n| capability_name(*n)).collect(),
                })
                .collect(),
        }
    }
}

pub fn write_human(inspection: &Inspection, out: &mut impl Write) -> std::io::Result<()> {
    let i = inspection;
    writeln!(out, "policy    {} {} ({})", i.name, i.version, i.kind)?;
    writeln!(out, "file      {} ({})", i.path, format_size(i.size))?;
    writeln!(out, "sha256    {}", i.sha256)?;
    writeln!(out, "contract  {WIT_PACKAGE}@{}", i.wit_version)?;
    writeln!(out, "imports   {}", i.imports.join("\n          "))?;
    writeln!(out, "checks    {}", i.checks.len())?;
    let width = i.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for check in &i.checks {
        let blocking = if check.blocking {
            "blocking"
        } else {
            "non-blocking"
        };
        let needs = if check.needs.is_empty() {
            "-".to_owned()
        } else {
            check.needs.join(",")
        };
        writeln!(
            out,
            "  {:<width$}  {blocking:<12}  needs {needs:<8}  {}",
            check.name, check.description
        )?;
    }
    Ok(())
}

pub fn write_json(inspection: &Inspection, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, inspection)?;
    writeln!(out)
}

/// Runs `gate inspect` and returns its exit code.
pub async fn inspect(args: crate::cli::InspectArgs) -> anyhow::Result<i32> {
    let limits = crate::limits::Limits::default();
    let runtime = crate::runtime::Runtime::new(limits.wasm_stack_bytes)?;
    // Nothing granted: describing a policy needs no capability.
    let session = std::sync::Arc::new(crate::state::Session::new(
        crate::grants::Grants::default(),
        limits,
        [],
    )?);
    let policy = runtime.load(&args.policy, &session).await?;
    let inspection = Inspection::from(&policy);
    let mut stdout = std::io::stdout().lock();
    match args.format {
        crate::report::Format::Human => write_human(&inspection, &mut stdout)?,
        crate::report::Format::Json => write_json(&inspection, &mut stdout)?,
    }
    Ok(crate::verdict::EXIT_PASS)
}
