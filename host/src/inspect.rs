//! `gate inspect`: what a policy is, before anyone runs it, and its blast
//! radius: what it imports, and what the current environment (gate.toml's
//! `--env`, and the same flags as `gate run`) would let it reach.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::bindings::Capability;
use crate::cli::InspectArgs;
use crate::config::Config;
use crate::grants::{Grants, Origin};
use crate::policy::WIT_PACKAGE;
use crate::runtime::{LoadedPolicy, capability_name};
use crate::units::{format_duration, format_size};

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
    /// What the environment would grant it; `None` until [`BlastRadius::of`]
    /// fills it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<BlastRadius>,
}

/// What a policy could reach in one environment.
#[derive(Debug, Serialize)]
pub struct BlastRadius {
    /// The environment's name, as the policy would see it.
    pub env: String,
    /// Where the grants come from: `gate.toml env `stage` and flags`, `flags`.
    pub source: String,
    pub capabilities: Vec<CapabilityGrant>,
    /// Checks that would be skipped for want of a capability.
    pub skipped_checks: Vec<String>,
    /// Deadline and memory of each check.
    pub timeout: String,
    pub memory_limit: String,
}

/// One capability: whether the policy imports it, which checks declare it,
/// and what the environment grants.
#[derive(Debug, Serialize)]
pub struct CapabilityGrant {
    pub capability: &'static str,
    /// The policy imports the interface (it can call it at all).
    pub imported: bool,
    /// Checks that declare they need it.
    pub needed_by: Vec<String>,
    pub granted: bool,
    /// What it reaches: origins, a Prometheus URL, the names of readable
    /// secrets and params. Never a secret's value.
    pub reaches: Vec<String>,
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
            grants: None,
        }
    }
}

impl BlastRadius {
    pub fn of(
        inspection: &Inspection,
        grants: &Grants,
        source: String,
        limits: &crate::limits::Limits,
    ) -> BlastRadius {
        let imported: Vec<&str> = inspection
            .imports
            .iter()
            // The capability an import of our package names.
            .filter_map(|i| crate::policy::package_import(i).map(|(interface, _)| interface))
            .collect();
        let needed_by = |name: &str| -> Vec<String> {
            inspection
                .checks
                .iter()
                .filter(|c| c.needs.contains(&name))
                .map(|c| c.name.clone())
                .collect()
        };
        let mut capabilities = Vec::new();
        for capability in [
            Capability::Http,
            Capability::Metrics,
            Capability::Docker,
            Capability::Tls,
        ] {
            let name = capability_name(capability);
            let granted = grants.missing(capability).is_none();
            let reaches = match capability {
                Capability::Http if granted => {
                    let mut reaches: Vec<String> = grants
                        .target
                        .iter()
                        .filter_map(Origin::of)
                        .map(|o| format!("{o} (target)"))
                        .collect();
                    reaches.extend(grants.allowed_hosts.iter().map(|a| a.to_string()));
                    reaches
                }
                Capability::Metrics => grants
                    .prometheus
                    .iter()
                    .map(|p| p.url.to_string())
                    .collect(),
                _ => Vec::new(),
            };
            capabilities.push(CapabilityGrant {
                capability: name,
                imported: imported.contains(&name),
                needed_by: needed_by(name),
                granted,
                reaches,
            });
        }
        // Every policy gets context: its params and the secrets it may read.
        let mut context = vec![format!("env name `{}`", grants.env_name)];
        if !grants.params.is_empty() {
            let names: Vec<&str> = grants.params.keys().map(String::as_str).collect();
            context.push(format!("params {}", names.join(", ")));
        }
        context.push(if grants.secrets.is_empty() {
            "no secrets".to_owned()
        } else {
            let names: Vec<&str> = grants.secrets.keys().map(String::as_str).collect();
            format!("secrets {}", names.join(", "))
        });
        capabilities.push(CapabilityGrant {
            capability: "context",
            imported: imported.contains(&"context"),
            needed_by: Vec::new(),
            granted: true,
            reaches: context,
        });
        let skipped_checks = inspection
            .checks
            .iter()
            .filter(|c| {
                capabilities
                    .iter()
                    .any(|g| !g.granted && c.needs.contains(&g.capability))
            })
            .map(|c| c.name.clone())
            .collect();
        BlastRadius {
            env: grants.env_name.clone(),
            source,
            capabilities,
            skipped_checks,
            timeout: format_duration(limits.timeout),
            memory_limit: format_size(limits.memory_bytes),
        }
    }
}

/// What `gate run` with the same `--env` and flags would grant, without
/// reading any secret's value (only which secrets policies may read).
fn grants_for(
    args: &InspectArgs,
    config: Option<&Path>,
) -> anyhow::Result<(Grants, String, crate::limits::Limits)> {
    let mut limits = crate::limits::Limits::default();
    let (mut grants, mut source) = match Config::locate(config) {
        Some(path) => {
            let config = Config::load(&path)?;
            let environment = config.select(args.env.as_deref())?;
            let settings = &environment.settings;
            let mut grants = settings.grants(&environment.name);
            grants.secrets = settings
                .secrets
                .keys()
                .map(|name| (name.clone(), String::new()))
                .collect();
            limits = crate::plan::settings_limits(&config, settings)?;
            (
                grants,
                format!("{} env `{}`", config.file(), environment.name),
            )
        }
        None => {
            let grants = Grants {
                env_name: args
                    .env
                    .clone()
                    .unwrap_or_else(|| crate::plan::DEFAULT_ENV.to_owned()),
                secrets: crate::caps::context::secrets_from_env()
                    .into_keys()
                    .map(|name| (name, String::new()))
                    .collect(),
                ..Grants::default()
            };
            (grants, "flags".to_owned())
        }
    };
    let flags = args.grants.target.is_some()
        || !args.grants.allow_hosts.is_empty()
        || args.grants.prometheus.is_some();
    if let Some(target) = &args.grants.target {
        grants.target = Some(target.clone());
    }
    grants
        .allowed_hosts
        .extend(args.grants.allow_hosts.iter().cloned());
    if let Some(url) = &args.grants.prometheus {
        grants.prometheus = Some(crate::grants::Prometheus {
            url: url.clone(),
            auth: None,
        });
    }
    if flags && source != "flags" {
        source.push_str(" and flags");
    }
    Ok((grants, source, limits))
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
    if let Some(radius) = &i.grants {
        write_radius(radius, out)?;
    }
    Ok(())
}

fn write_radius(radius: &BlastRadius, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "grants    env `{}` ({})", radius.env, radius.source)?;
    for grant in &radius.capabilities {
        let imported = if grant.imported {
            "imported"
        } else {
            "not imported"
        };
        let granted = if grant.granted {
            "GRANTED"
        } else {
            "not granted"
        };
        let reaches = if grant.reaches.is_empty() {
            String::new()
        } else {
            format!(": {}", grant.reaches.join(", "))
        };
        let needed = if grant.needed_by.is_empty() {
            String::new()
        } else {
            format!(" (needed by {})", grant.needed_by.join(", "))
        };
        writeln!(
            out,
            "  {:<8}  {imported:<12}  {granted}{reaches}{needed}",
            grant.capability
        )?;
    }
    writeln!(
        out,
        "  wasi      linked        nothing granted: no files, env vars, args, sockets"
    )?;
    writeln!(
        out,
        "  limits    timeout {} · memory {} per check",
        radius.timeout, radius.memory_limit
    )?;
    if !radius.skipped_checks.is_empty() {
        writeln!(
            out,
            "  skipped   {} (needs a capability not granted)",
            radius.skipped_checks.join(", ")
        )?;
    }
    Ok(())
}

pub fn write_json(inspection: &Inspection, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, inspection)?;
    writeln!(out)
}

/// Runs `gate inspect` and returns its exit code.
pub async fn inspect(args: InspectArgs, config: Option<&Path>) -> anyhow::Result<i32> {
    // Read the environment first: a bad gate.toml is exit 2 before the
    // policy is even compiled.
    let (grants, source, run_limits) = grants_for(&args, config)?;
    // Loaded and described as a run of the environment would: under its
    // limits (`wasm_size`, memory, time), as `gate config check` does.
    let (runtime, session) = crate::runtime::Runtime::describing(&run_limits, &args.engine)?;
    let policy = runtime.load(&args.policy, &session).await?;
    let mut inspection = Inspection::from(&policy);
    inspection.grants = Some(BlastRadius::of(&inspection, &grants, source, &run_limits));
    let mut stdout = std::io::stdout().lock();
    match args.format {
        crate::report::Format::Human => write_human(&inspection, &mut stdout)?,
        crate::report::Format::Json => write_json(&inspection, &mut stdout)?,
    }
    Ok(crate::verdict::EXIT_PASS)
}
