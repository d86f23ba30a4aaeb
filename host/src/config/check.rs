//! `gate config check`: everything a run of each environment would trip
//! on, found before the deploy that needs it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Config, ConfigError, Diagnostic, Environment, Place, PolicyEntry};
use crate::bindings::Capability;
use crate::cli::ConfigCheckArgs;
use crate::grants::Grants;
use crate::limits::Limits;
use crate::runtime::{LoadedPolicy, Runtime, capability_name};
use crate::state::Session;
use crate::verdict::{EXIT_PASS, EXIT_UNUSABLE};

/// What one environment came to.
struct EnvResult {
    name: String,
    summary: String,
    problems: Vec<Diagnostic>,
    warnings: Vec<String>,
}

/// Runs `gate config check` and returns its exit code: 0 valid, 2 not.
/// `quiet`: no line per environment, only the verdict line (or the problems).
pub async fn check(
    args: ConfigCheckArgs,
    config: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<i32> {
    let path = Config::find(config)?;
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(ConfigError::Invalid(problems)) => {
            report_problems(&problems, path.display().to_string().as_str());
            return Ok(EXIT_UNUSABLE);
        }
        Err(other) => return Err(other.into()),
    };
    let names: Vec<String> = match &args.env {
        Some(name) => {
            // An unknown name is an error of the command line, not the file.
            config.check_name(name)?;
            vec![name.clone()]
        }
        None => config.env_names().into_iter().map(str::to_owned).collect(),
    };

    let mut checker = Checker::new(&config, &args.engine);
    let mut problems = checker.top_problems.clone();
    let mut results = Vec::new();
    for name in &names {
        results.push(checker.environment(name).await?);
    }

    let mut stdout = std::io::stdout().lock();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    for result in &results {
        if quiet {
            break;
        }
        // The top level's problems are every environment's; one it also
        // found through the environment (a top-level policy file) is one.
        let mut own = result.problems.clone();
        own.extend(problems.iter().cloned());
        super::tidy(&mut own);
        let count = own.len();
        let status = if count == 0 { "ok" } else { "FAIL" };
        let summary = if count == 0 {
            result.summary.clone()
        } else {
            plural(count, "problem")
        };
        writeln!(stdout, "{:<width$}  {status:<4}  {summary}", result.name)?;
        for warning in &result.warnings {
            writeln!(stdout, "{:<width$}  warning: {warning}", "")?;
        }
    }
    problems.extend(results.iter().flat_map(|r| r.problems.iter().cloned()));
    super::tidy(&mut problems);
    if problems.is_empty() {
        let warnings: usize = results.iter().map(|r| r.warnings.len()).sum();
        let warned = if warnings == 0 {
            String::new()
        } else {
            format!(", {}", plural(warnings, "warning"))
        };
        writeln!(
            stdout,
            "{}: valid ({}{warned})",
            config.file(),
            plural(names.len(), "environment")
        )?;
        Ok(EXIT_PASS)
    } else {
        drop(stdout);
        report_problems(&problems, config.file());
        Ok(EXIT_UNUSABLE)
    }
}

/// The problems on stderr, then how many (`gate.toml: 2 problems`).
pub fn report_problems(problems: &[Diagnostic], file: &str) {
    let mut stderr = std::io::stderr().lock();
    for problem in problems {
        let _ = writeln!(stderr, "{problem}");
    }
    let _ = writeln!(stderr, "{file}: {}", plural(problems.len(), "problem"));
}

pub(crate) fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Loads each policy file once per set of limits, however many
/// environments list it.
struct Checker<'a> {
    config: &'a Config,
    engine: &'a crate::cli::EngineArgs,
    /// The top level's problems: every environment's, validated once.
    top_problems: Vec<Diagnostic>,
    /// A runtime and a session per set of limits.
    runtimes: HashMap<Limits, (Runtime, Arc<Session>)>,
    /// Policies described, by path, content (sha256) and limits.
    loaded: HashMap<(PathBuf, String, Limits), Result<Arc<LoadedPolicy>, String>>,
}

impl<'a> Checker<'a> {
    fn new(config: &'a Config, engine: &'a crate::cli::EngineArgs) -> Checker<'a> {
        Checker {
            config,
            engine,
            top_problems: config.top_level().1,
            runtimes: HashMap::new(),
            loaded: HashMap::new(),
        }
    }

    /// The policy at `path`, read as `bytes`, as a run under `limits` (an
    /// environment's own, from its `[limits]`, `timeout` and
    /// `memory_limit`) would load and describe it.
    async fn load(
        &mut self,
        path: &Path,
        bytes: Vec<u8>,
        limits: &Limits,
    ) -> Result<Arc<LoadedPolicy>, String> {
        // By content too: another environment's entry of the same path
        // may have read other bytes.
        let sha256 = crate::policy::sha256_hex(&bytes);
        let key = (path.to_owned(), sha256.clone(), limits.clone());
        if let Some(loaded) = self.loaded.get(&key) {
            return loaded.clone();
        }
        if !self.runtimes.contains_key(limits) {
            let described =
                Runtime::describing(limits, self.engine).map_err(|e| format!("{e:#}"))?;
            self.runtimes.insert(limits.clone(), described);
        }
        let (runtime, session) = &self.runtimes[limits];
        let loaded = runtime
            .load_hashed(path, bytes, sha256, session)
            .await
            .map(Arc::new)
            .map_err(|e| e.to_string());
        self.loaded.insert(key, loaded.clone());
        loaded
    }

    async fn environment(&mut self, name: &str) -> anyhow::Result<EnvResult> {
        let config = self.config;
        let (environment, mut problems) = match config.environment_lenient(name) {
            Ok(lenient) => lenient,
            // Its table's shape is wrong: nothing else of it can be judged.
            Err(ConfigError::Invalid(problems)) => {
                return Ok(EnvResult {
                    name: name.to_owned(),
                    summary: String::new(),
                    problems,
                    warnings: Vec::new(),
                });
            }
            Err(other) => return Err(other.into()),
        };
        problems.extend(config.unsupported(&environment));
        let invalid = invalid_settings(&problems, &self.top_problems, &environment);
        // (A `retry` written wrong is its own problem: no second one here.)
        if !invalid.contains("retry") {
            problems.extend(config.retry_interval_problem(&environment, None));
        }
        problems.extend(config.check_files(&environment));
        problems.extend(tls_files(config, &environment));
        let grants = environment.settings.grants(name);
        let mut warnings = Vec::new();
        let mut described = Vec::new();
        let entries: Vec<PolicyEntry> = environment
            .settings
            .policies
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_default();
        if entries.is_empty() {
            warnings.push(format!(
                "lists no policies: `gate run --env {name}` needs POLICY paths"
            ));
        }
        // What a run of this environment would load and describe under:
        // its own limits (a bad one is a problem of the file already).
        let limits =
            crate::plan::settings_limits(config, &environment.settings).unwrap_or_default();
        let wasm_bytes = limits.wasm_bytes;
        let mut names = BTreeSet::new();
        // Whether any policy has a blocking check: without one, every run of
        // the environment ends inconclusive (verdict::undecided).
        let mut any_blocking = false;
        // Policies with no blocking check: their checks never decide.
        let mut advice_only = Vec::new();
        let mut described_all = true;
        for entry in entries.iter().filter(|e| e.path.is_file()) {
            // Read once: the pin, the signature and the description are of
            // the same bytes, as a run's are, whatever replaces the file
            // meanwhile.
            // In a run's order: read, pin, component, signature, load. A
            // policy stopped on the way is not described.
            let bytes = match crate::policy::read_unvetted(&entry.path, wasm_bytes) {
                Ok(bytes) => bytes,
                Err(unreadable) => {
                    described_all = false;
                    problems.push(config.diagnostic(entry.at.clone(), unreadable.to_string()));
                    continue;
                }
            };
            if let Err(pin) = entry.pin_matches(&bytes) {
                described_all = false;
                let at = entry.sha256.as_ref().map_or(&entry.at, |s| &s.at);
                problems.push(config.diagnostic(
                    at.clone(),
                    format!("policy {}: {pin}", entry.path.display()),
                ));
                continue;
            }
            if let Err(not_a_component) = crate::policy::vet(&entry.path, &bytes) {
                described_all = false;
                problems.push(config.diagnostic(entry.at.clone(), not_a_component.to_string()));
                continue;
            }
            if let Err(problem) = signed_as_required(entry, &environment, &bytes, config.file()) {
                described_all = false;
                let at = entry
                    .signature
                    .as_ref()
                    .or(entry.verify_key.as_ref())
                    .map_or(&entry.at, |s| &s.at);
                problems.push(config.diagnostic(at.clone(), problem));
                continue;
            }
            match self.load(&entry.path, bytes, &limits).await {
                Ok(policy) if names.contains(&policy.info.name) => {
                    problems.push(config.diagnostic(
                        entry.at.clone(),
                        format!(
                            "policy {} is named `{}`, as another policy of env `{name}` is: a \
                             run names checks POLICY/CHECK, so it cannot hold both",
                            entry.path.display(),
                            policy.info.name
                        ),
                    ));
                }
                Ok(policy) => {
                    names.insert(policy.info.name.clone());
                    if policy.info.checks.iter().any(|c| c.blocking) {
                        any_blocking = true;
                    } else {
                        advice_only.push(policy.info.name.clone());
                    }
                    let (fatal, other) = ungranted(&policy, &grants, &environment, &invalid);
                    problems.extend(
                        fatal
                            .into_iter()
                            .map(|m| config.diagnostic(entry.at.clone(), m)),
                    );
                    warnings.extend(other);
                    described.push(format!("{} {}", policy.info.name, policy.info.version));
                }
                Err(reason) => {
                    described_all = false;
                    problems.push(config.diagnostic(entry.at.clone(), reason));
                }
            }
        }
        if described_all
            && !described.is_empty()
            && !any_blocking
            && let Some(listed) = &environment.settings.policies
        {
            problems.push(config.diagnostic(
                listed.at.clone(),
                format!(
                    "no policy of env `{name}` has a blocking check, so every run of it ends \
                     inconclusive (exit 3)"
                ),
            ));
        } else {
            warnings.extend(advice_only.iter().map(|policy| {
                format!(
                    "policy `{policy}` has no blocking check: its checks never change the verdict"
                )
            }));
        }
        Ok(EnvResult {
            name: name.to_owned(),
            summary: summary(&environment, &grants, &described),
            problems,
            warnings,
        })
    }
}

/// The environment's CA file and client certificate (with its key), read as
/// a run reads them when it starts: a file that exists but holds no
/// certificate, or a key that does not match, is a problem here too,
/// pointed at its line in gate.toml. (A missing file is `check_files`'.)
fn tls_files(config: &Config, environment: &Environment) -> Vec<Diagnostic> {
    let settings = &environment.settings;
    let mut problems = Vec::new();
    if let Some(ca) = settings.ca_file.as_ref().filter(|s| s.value.is_file())
        && let Err(e) = crate::trust::Trust::new(std::slice::from_ref(&ca.value), None)
    {
        problems.push(config.diagnostic(ca.at.clone(), e.to_string()));
    }
    let key_present = settings
        .client_key
        .as_ref()
        .is_none_or(|k| k.value.is_file());
    if let Some(cert) = settings.client_cert.as_ref().filter(|s| s.value.is_file())
        && key_present
    {
        let identity = crate::trust::IdentityFiles {
            cert: cert.value.clone(),
            key: settings.client_key.as_ref().map(|k| k.value.clone()),
        };
        if let Err(e) = crate::trust::Trust::new(&[], Some(&identity)) {
            let at = match &settings.client_key {
                Some(key) if e.concerns_client_key() => &key.at,
                _ => &cert.at,
            };
            problems.push(config.diagnostic(at.clone(), e.to_string()));
        }
    }
    problems
}

/// The signature the entry (or its environment) requires, checked as a run
/// would check it.
fn signed_as_required(
    entry: &PolicyEntry,
    environment: &Environment,
    bytes: &[u8],
    file: &str,
) -> Result<(), String> {
    let requirement = crate::integrity::requirement(
        &entry.path,
        Some(entry),
        None,
        environment.settings.verify_key.as_ref(),
        file,
    )
    .map_err(|e| e.to_string())?;
    if requirement.signature.is_none() {
        return Ok(());
    }
    crate::integrity::verify(&entry.path, bytes, &requirement)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Capabilities the policy's checks need that the environment does not
/// grant, as the run would treat them: problems where the run could not
/// pass for it (a strict environment fails skipped blocking checks; a policy
/// none of whose checks can run decides nothing), warnings where it would
/// only skip checks and say so. `invalid`: the settings whose values are
/// problems already.
fn ungranted(
    policy: &LoadedPolicy,
    grants: &Grants,
    environment: &Environment,
    invalid: &BTreeSet<String>,
) -> (Vec<String>, Vec<String>) {
    let strict = environment
        .settings
        .strict
        .as_ref()
        .is_some_and(|s| s.value);
    // A capability whose key is set to something invalid is that value's
    // problem, already reported: judged as if the value were right.
    let missing = |capability: Capability| {
        grants.missing(capability).is_some()
            && !grant_keys(capability)
                .iter()
                .any(|key| invalid.contains(*key))
    };
    let skipped = |check: &crate::runtime::CheckInfo| check.needs.iter().any(|c| missing(*c));
    // The verdict asks a policy with blocking checks for one that decided
    // (verdict::undecided): none that could run, no pass.
    let has_blocking = policy.info.checks.iter().any(|c| c.blocking);
    let nothing_runs =
        has_blocking && !policy.info.checks.iter().any(|c| c.blocking && !skipped(c));
    let mut needs: BTreeMap<(bool, &'static str), (Capability, Vec<&str>)> = BTreeMap::new();
    for check in &policy.info.checks {
        for capability in &check.needs {
            if missing(*capability) {
                needs
                    .entry((!check.blocking, capability_name(*capability)))
                    .or_insert_with(|| (*capability, Vec::new()))
                    .1
                    .push(&check.name);
            }
        }
    }
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    for ((non_blocking, name), (capability, checks)) in needs {
        let blocking = !non_blocking;
        let how = match grant_key(capability) {
            Some(key) => format!(
                "set {key} in [env.{0}] or at the top level",
                environment.name
            ),
            None => grants.missing(capability).unwrap_or_default().to_owned(),
        };
        let kind = if blocking {
            "blocking check"
        } else {
            "non-blocking check"
        };
        let consequence = if nothing_runs {
            "no blocking check of this policy would run, so the run cannot pass"
        } else if !blocking {
            "they will be skipped"
        } else if strict {
            "the run fails them since the environment is strict"
        } else {
            "they will be skipped (strict = true makes this an error)"
        };
        let message = format!(
            "policy `{}` has {} needing {name} ({}), which env `{}` does not grant: {how}; \
             {consequence}",
            policy.info.name,
            plural(checks.len(), kind),
            checks.join(", "),
            environment.name,
        );
        if nothing_runs || (blocking && strict) {
            problems.push(message);
        } else {
            warnings.push(message);
        }
    }
    (problems, warnings)
}

/// The gate.toml keys that grant a capability.
fn grant_keys(capability: Capability) -> &'static [&'static str] {
    match capability {
        Capability::Http | Capability::Tls => &["target", "allow_hosts"],
        Capability::Metrics => &["prometheus"],
        Capability::Docker => &["docker"],
    }
}

/// The settings of the environment whose values are problems already
/// (`own`: its table's; `top`: the top level's), so that what they would
/// grant is not also reported missing. A top-level value the environment
/// replaces with a valid one of its own is no excuse: it grants nothing here.
fn invalid_settings(
    own: &[Diagnostic],
    top: &[Diagnostic],
    environment: &Environment,
) -> BTreeSet<String> {
    let settings = &environment.settings;
    // Set in the environment's own table (a top-level value, even one left
    // empty by its bad entries, is not).
    let own_table = |at: Option<&Place>| at.is_some_and(|at| at.table() != "top-level");
    let set_here = |setting: &str| match setting {
        "target" => own_table(settings.target.as_ref().map(|s| &s.at)),
        "allow_hosts" => own_table(settings.allow_hosts.as_ref().map(|s| &s.at)),
        "prometheus" => own_table(settings.prometheus.as_ref().map(|s| &s.at)),
        "docker" => own_table(settings.docker.as_ref().map(|s| &s.at)),
        "retry" => own_table(settings.retry.as_ref().map(|s| &s.at)),
        _ => false,
    };
    let top = top
        .iter()
        .map(|p| p.place.setting())
        .filter(|setting| !set_here(setting));
    own.iter()
        .map(|p| p.place.setting())
        .chain(top)
        .map(str::to_owned)
        .collect()
}

/// How to grant a capability, for those gate.toml can grant.
fn grant_key(capability: Capability) -> Option<&'static str> {
    match capability {
        Capability::Http => Some("`target` (or `allow_hosts`)"),
        Capability::Metrics => Some("`prometheus`"),
        Capability::Docker => Some("`docker`"),
        Capability::Tls => Some("an https `target` (or `allow_hosts`)"),
    }
}

/// The one line an environment that checked out gets.
fn summary(environment: &Environment, grants: &Grants, policies: &[String]) -> String {
    let settings = &environment.settings;
    let target = settings
        .target
        .as_ref()
        .map_or("no target".to_owned(), |t| format!("target {}", t.value));
    let policies = if policies.is_empty() {
        "no policies".to_owned()
    } else {
        format!("policies {}", policies.join(", "))
    };
    let granted = granted(grants);
    let secrets: Vec<&str> = settings.secrets.keys().map(String::as_str).collect();
    let mut parts = vec![target, policies];
    parts.push(if granted.is_empty() {
        "grants nothing".to_owned()
    } else {
        format!("grants {}", granted.join(", "))
    });
    if !secrets.is_empty() {
        parts.push(format!("secrets {}", secrets.join(", ")));
    }
    parts.join(" · ")
}

/// Capabilities the grants give, by name.
pub fn granted(grants: &Grants) -> Vec<&'static str> {
    [
        Capability::Http,
        Capability::Metrics,
        Capability::Docker,
        Capability::Tls,
    ]
    .into_iter()
    .filter(|c| grants.missing(*c).is_none())
    .map(capability_name)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_top_level_value_set_wrong_excuses_only_environments_without_their_own() {
        let text = "allow_hosts = [\"bad host\"]\ntarget = \"nope\"\n[env.a]\n[env.b]\n\
                    target = \"http://127.0.0.1:1\"\n";
        let config = Config::from_text(Path::new("gate.toml"), text.into()).unwrap();
        let top = config.top_level().1;
        let (a, own) = config.environment_lenient("a").unwrap();
        let invalid = invalid_settings(&own, &top, &a);
        // allow_hosts' every entry was bad: still the top level's, left empty.
        assert!(
            invalid.contains("allow_hosts") && invalid.contains("target"),
            "{invalid:?}"
        );
        let (b, own) = config.environment_lenient("b").unwrap();
        let invalid = invalid_settings(&own, &top, &b);
        assert!(
            invalid.contains("allow_hosts") && !invalid.contains("target"),
            "{invalid:?}"
        );
    }
}
