//! What one `gate run` does: which policies, with which grants and limits.
//! Flags win over the environment's settings in gate.toml, which win over
//! the file's top level; without a gate.toml, flags alone decide, as they
//! always did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use url::Url;

use crate::cli::RunArgs;
use crate::config::{
    Config, ConfigError, Environment, PolicyEntry, Setting, Settings, WatchSettings, Webhook,
};
use crate::grants::{Grants, Prometheus, PrometheusAuthSpec};
use crate::limits::Limits;

/// The environment name policies see when none is given.
pub const DEFAULT_ENV: &str = "default";

/// Why a run cannot start. Every variant means exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "no policy to run: give POLICY paths, or --env NAME with a gate.toml that lists the \
         environment's policies"
    )]
    NoPolicies,
    #[error(
        "env `{env}` lists no policies in {file}: add policies = [\"…\"] to [env.{env}] (or the \
         top level of the file), or give POLICY paths"
    )]
    EnvWithoutPolicies { file: String, env: String },
    #[error("{0}")]
    PrometheusAuth(String),
    #[error("--limit {key}: {reason}")]
    Limit { key: String, reason: String },
    #[error("{0}")]
    Docker(String),
    #[error("{0}")]
    Retry(String),
    #[error(
        "--decision-log {}: the folder {} does not exist (gate appends to a log, it does not \
         create its folder); nothing was run", path.display(), folder.display()
    )]
    DecisionLogFolder { path: PathBuf, folder: PathBuf },
    #[error(
        "policy {} changed while gate was reading it: its sha256 is now {actual}, not the \
         pinned {expected}", path.display()
    )]
    ChangedWhileLoading {
        path: PathBuf,
        expected: String,
        actual: String,
    },
}

/// A policy to load, with the gate.toml entry that pins it, if any.
#[derive(Debug, Clone)]
pub struct PlannedPolicy {
    pub path: PathBuf,
    pub entry: Option<PolicyEntry>,
}

impl PlannedPolicy {
    /// After loading: the bytes compiled are the bytes that were pinned.
    /// The pin was checked before any policy code ran; this closes the gap
    /// between that read and the loader's.
    pub fn confirm(&self, loaded_sha256: &str) -> Result<(), PlanError> {
        match self.entry.as_ref().and_then(|e| e.sha256.as_ref()) {
            Some(pin) if pin.value != loaded_sha256 => Err(PlanError::ChangedWhileLoading {
                path: self.path.clone(),
                expected: pin.value.clone(),
                actual: loaded_sha256.to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

#[derive(Debug)]
pub struct Plan {
    pub env_name: String,
    pub policies: Vec<PlannedPolicy>,
    pub grants: Grants,
    pub limits: Limits,
    pub jobs: Option<u16>,
    pub strict: bool,
    /// `--retry` and gate.toml's `retry`.
    pub retry: crate::runtime::Retry,
    /// Every secret value gate knows, to redact from all output, also
    /// those the environment does not give its policies.
    pub redact: Vec<String>,
    /// Policies listed in gate.toml run smoke suites first, then the rest,
    /// each in the listed order.
    pub smoke_first: bool,
    /// Where each decision is appended as a JSON line.
    pub decision_log: Option<PathBuf>,
    /// `--release` and `--committed-at`, for the reports, the webhook, the
    /// rollback command and the decision log.
    pub release: Option<crate::decision_log::Release>,
    /// Where decisions are posted (Slack/Discord-compatible).
    pub webhook: Option<Url>,
    /// The gate.toml read, as messages name it.
    pub config_file: Option<String>,
    /// The environment's key every policy must be signed with (see
    /// [`crate::integrity`]).
    pub verify_key: Option<Setting<PathBuf>>,
    /// gate.toml's `[watch]`, for `gate watch` (whose flags win).
    pub watch: WatchSettings,
}

impl Plan {
    pub fn new(args: &RunArgs, config: Option<&Path>) -> Result<Plan, PlanError> {
        let env_secrets = crate::caps::context::secrets_from_env();
        let mut plan = match Config::locate(config) {
            Some(path) => Plan::from_config(args, &Config::load(&path)?, env_secrets),
            None => Plan::from_flags(args, env_secrets),
        }?;
        // Policies read the release too (`context.release`).
        plan.grants.release = plan.release.as_ref().map(|r| r.id.clone());
        // As gate.toml's decision_log is: a run that would promote must not
        // learn at its end that it cannot leave its record.
        if let Some(path) = &args.decision_log
            && let Some(folder) = crate::decision_log::missing_folder(path)
        {
            return Err(PlanError::DecisionLogFolder {
                path: path.clone(),
                folder: folder.to_owned(),
            });
        }
        Ok(plan)
    }

    fn from_flags(args: &RunArgs, secrets: BTreeMap<String, String>) -> Result<Plan, PlanError> {
        if args.policies.is_empty() {
            return Err(PlanError::NoPolicies);
        }
        let prometheus = match &args.grants.prometheus {
            Some(url) => Some(prometheus(url, args.prometheus_auth.as_ref(), &secrets)?),
            None => None,
        };
        let env_name = args.env.clone().unwrap_or_else(|| DEFAULT_ENV.to_owned());
        let defaults = Limits::default();
        Ok(Plan {
            env_name: env_name.clone(),
            policies: args
                .policies
                .iter()
                .map(|path| PlannedPolicy {
                    path: path.clone(),
                    entry: None,
                })
                .collect(),
            grants: Grants {
                target: args.grants.target.clone(),
                allowed_hosts: args.grants.allow_hosts.clone(),
                env_name,
                // Set by `Plan::new` from the plan's release.
                release: None,
                params: args.params.iter().cloned().collect(),
                secrets: secrets.clone(),
                prometheus,
                docker: docker_host(args.docker.as_ref())?,
                ca_files: args.ca_files.clone(),
                client_identity: client_identity(args),
                from_fixture: false,
            },
            limits: with_flags(
                Limits {
                    timeout: args.timeout.unwrap_or(defaults.timeout),
                    memory_bytes: args.memory_limit.unwrap_or(defaults.memory_bytes),
                    ..defaults
                },
                args,
            )?,
            jobs: args.jobs,
            strict: args.strict,
            retry: crate::runtime::Retry::from_settings(
                (args.retry, None),
                (args.retry_interval, None),
            )
            .map_err(PlanError::Retry)?,
            redact: secrets.into_values().collect(),
            smoke_first: false,
            decision_log: args.decision_log.clone(),
            release: release(args),
            webhook: args.notify.clone(),
            config_file: None,
            verify_key: None,
            watch: WatchSettings::default(),
        })
    }

    fn from_config(
        args: &RunArgs,
        config: &Config,
        env_secrets: BTreeMap<String, String>,
    ) -> Result<Plan, PlanError> {
        let mut environment = config.select(args.env.as_deref())?;
        let policies = planned_policies(args, config, &environment)?;
        // From here on only the entries that run matter: a POLICY argument
        // replaces the list, and keeps the pin of a listed entry for the
        // same file.
        if let Some(list) = &mut environment.settings.policies {
            list.value = policies.iter().filter_map(|p| p.entry.clone()).collect();
        }

        // A flag that replaces a file's path: the file's need not exist on
        // this machine (a CI runner given its own key or certificate).
        let settings = &mut environment.settings;
        if args.verify_key.is_some() {
            settings.verify_key = None;
            for entry in settings.policies.iter_mut().flat_map(|p| &mut p.value) {
                entry.verify_key = None;
            }
        }
        if args.client_cert.is_some() {
            settings.client_cert = None;
            settings.client_key = None;
        }
        if args.decision_log.is_some() {
            settings.decision_log = None;
        }
        let mut problems = config.unsupported(&environment);
        problems.extend(config.retry_interval_problem(&environment, args.retry));
        problems.extend(config.check_files(&environment));
        // Before the pins: a pin is checked on a file the run would load.
        let file = settings_limits(config, &environment.settings)?;
        let limits = with_flags(
            Limits {
                timeout: args.timeout.unwrap_or(file.timeout),
                memory_bytes: args.memory_limit.unwrap_or(file.memory_bytes),
                ..file
            },
            args,
        )?;
        for entry in policies.iter().filter_map(|p| p.entry.as_ref()) {
            if entry.path.is_file()
                && let Err(pin) = entry.verify_pin(limits.wasm_bytes)
            {
                let at = entry.sha256.as_ref().map_or(&entry.at, |s| &s.at);
                problems.push(config.diagnostic(
                    at.clone(),
                    format!("policy {}: {pin}", entry.path.display()),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems).into());
        }
        let secrets = config.read_secrets(&environment)?;

        let settings = &environment.settings;
        let mut grants = settings.grants(&environment.name);
        if let Some(target) = &args.grants.target {
            grants.target = Some(target.clone());
        }
        // A flag adds a host for this run; it does not take away the
        // environment's.
        grants
            .allowed_hosts
            .extend(args.grants.allow_hosts.iter().cloned());
        grants.params.extend(args.params.iter().cloned());
        // Host-side credentials may come from any secret gate can read;
        // policies get only those the environment names.
        let mut readable = env_secrets;
        readable.extend(secrets.clone());
        grants.prometheus = match (&args.grants.prometheus, &settings.prometheus) {
            // Credentials go with the server they were written for.
            (Some(url), _) => Some(prometheus(url, args.prometheus_auth.as_ref(), &readable)?),
            (None, Some(url)) => Some(
                prometheus(
                    &url.value,
                    settings.prometheus_auth.as_ref().map(|a| &a.value),
                    &readable,
                )
                // The credentials were named in the file: point at them.
                .map_err(|e| match (&e, &settings.prometheus_auth) {
                    (PlanError::PrometheusAuth(reason), Some(auth)) => {
                        PlanError::from(ConfigError::Invalid(vec![
                            config.diagnostic(auth.at.clone(), reason.clone()),
                        ]))
                    }
                    _ => e,
                })?,
            ),
            (None, None) => None,
        };
        grants.secrets = secrets;
        if args.docker.is_some() {
            grants.docker = docker_host(args.docker.as_ref())?;
        }
        grants.ca_files.extend(args.ca_files.iter().cloned());
        // A certificate and its key go together: a flag replaces the pair.
        if let Some(identity) = client_identity(args) {
            grants.client_identity = Some(identity);
        }

        Ok(Plan {
            env_name: environment.name.clone(),
            policies,
            grants,
            limits,
            jobs: args.jobs.or(settings.jobs.as_ref().map(|s| s.value)),
            // A flag can only make a run stricter.
            strict: args.strict || settings.strict.as_ref().is_some_and(|s| s.value),
            retry: crate::runtime::Retry::from_settings(
                (args.retry, settings.retry.as_ref().map(|s| s.value)),
                (
                    args.retry_interval,
                    settings.retry_interval.as_ref().map(|s| s.value),
                ),
            )
            .map_err(PlanError::Retry)?,
            release: release(args),
            decision_log: args
                .decision_log
                .clone()
                .or(settings.decision_log.as_ref().map(|s| s.value.clone())),
            webhook: match (&args.notify, settings.webhook.as_ref()) {
                (Some(url), _) => Some(url.clone()),
                (None, None) => None,
                (None, Some(setting)) => match &setting.value {
                    Webhook::Url(url) => Some(url.clone()),
                    // Named in the file: the error points at the key.
                    Webhook::Secret(name) => {
                        Some(webhook_from_secret(name, &readable).map_err(|reason| {
                            ConfigError::Invalid(vec![
                                config.diagnostic(setting.at.clone(), reason),
                            ])
                        })?)
                    }
                },
            },
            redact: readable.into_values().collect(),
            smoke_first: args.policies.is_empty(),
            config_file: Some(config.file().to_owned()),
            verify_key: settings.verify_key.clone(),
            watch: settings.watch.clone(),
        })
    }
}

/// The limits an environment's settings give each check (`[limits]`,
/// `timeout`, `memory_limit`), before any flag: what a run of it applies,
/// and what `gate config check` loads its policies under.
pub(crate) fn settings_limits(config: &Config, settings: &Settings) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    for (key, setting) in &settings.limits {
        // Validated when the file was read.
        limits.set(key, &setting.value).map_err(|reason| {
            ConfigError::Invalid(vec![config.diagnostic(setting.at.clone(), reason)])
        })?;
    }
    if let Some(timeout) = &settings.timeout {
        limits.timeout = timeout.value;
    }
    if let Some(memory) = &settings.memory_limit {
        limits.memory_bytes = memory.value;
    }
    Ok(limits)
}

/// `--limit KEY=VALUE` flags over limits from elsewhere.
fn with_flags(mut limits: Limits, args: &RunArgs) -> Result<Limits, PlanError> {
    for (key, value) in &args.limits {
        limits.set(key, value).map_err(|reason| PlanError::Limit {
            key: key.clone(),
            reason,
        })?;
    }
    Ok(limits)
}

fn planned_policies(
    args: &RunArgs,
    config: &Config,
    environment: &Environment,
) -> Result<Vec<PlannedPolicy>, PlanError> {
    let listed: &[PolicyEntry] = environment
        .settings
        .policies
        .as_ref()
        .map_or(&[], |p| &p.value);
    if args.policies.is_empty() {
        if listed.is_empty() {
            return Err(PlanError::EnvWithoutPolicies {
                file: config.file().to_owned(),
                env: environment.name.clone(),
            });
        }
        return Ok(listed
            .iter()
            .map(|entry| PlannedPolicy {
                path: entry.path.clone(),
                entry: Some(entry.clone()),
            })
            .collect());
    }
    Ok(args
        .policies
        .iter()
        .map(|path| PlannedPolicy {
            path: path.clone(),
            entry: same_file(path, listed).cloned(),
        })
        .collect())
}

/// The listed entry for the same file as `path`, whatever relative path
/// either was written with.
fn same_file<'a>(path: &Path, listed: &'a [PolicyEntry]) -> Option<&'a PolicyEntry> {
    let wanted = path.canonicalize().ok()?;
    listed
        .iter()
        .find(|entry| entry.path.canonicalize().is_ok_and(|p| p == wanted))
}

/// `--client-cert` and `--client-key`, as one identity.
fn client_identity(args: &RunArgs) -> Option<crate::trust::IdentityFiles> {
    args.client_cert
        .as_ref()
        .map(|cert| crate::trust::IdentityFiles {
            cert: cert.clone(),
            key: args.client_key.clone(),
        })
}

fn prometheus(
    url: &Url,
    auth: Option<&PrometheusAuthSpec>,
    secrets: &BTreeMap<String, String>,
) -> Result<Prometheus, PlanError> {
    let auth = auth
        .map(|spec| spec.resolve(secrets))
        .transpose()
        .map_err(PlanError::PrometheusAuth)?;
    Ok(Prometheus {
        url: url.clone(),
        auth,
    })
}

/// The engine `--docker [URI]` grants, if given.
fn docker_host(flag: Option<&Option<Url>>) -> Result<Option<Url>, PlanError> {
    flag.map(|given| crate::caps::docker::resolve_host(given.as_ref()))
        .transpose()
        .map_err(PlanError::Docker)
}

/// A webhook URL kept in a secret (chat webhooks carry their token in the
/// URL, so it must not live in gate.toml).
fn webhook_from_secret(name: &str, secrets: &BTreeMap<String, String>) -> Result<Url, String> {
    let key = crate::caps::context::secret_key(name);
    let value = secrets.get(&key).ok_or_else(|| {
        format!("webhook = \"secret:{name}\" but the secret is not set: export GATE_SECRET_{key}")
    })?;
    Url::parse(value)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .ok_or_else(|| format!("secret `{name}` does not hold an http(s) webhook URL"))
}

fn release(args: &RunArgs) -> Option<crate::decision_log::Release> {
    args.release
        .as_deref()
        .map(|id| crate::decision_log::Release::new(id, args.committed_at))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn args(argv: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.command {
            Command::Run(args) => *args,
            other => panic!("{other:?}"),
        }
    }

    fn project(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gate-plan-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("p.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("smoke.wasm"), b"\0asm").unwrap();
        let path = dir.join("gate.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    const LAYERED: &str = r#"
policies = ["smoke.wasm", "p.wasm"]
timeout = "20s"
memory_limit = "32MiB"
params = { samples = 3, region = "eu" }
allow_hosts = ["shared.example.com"]
[env.stage]
target = "https://stage.example.com"
timeout = "5s"
params.samples = 4
allow_hosts = ["auth.example.com"]
"#;

    #[test]
    fn credentials_named_in_the_file_point_at_their_key() {
        // Secrets no test environment sets.
        let config = project(
            "credentials",
            "policies = [\"p.wasm\"]\n[env.a]\nprometheus = \"http://127.0.0.1:9\"\n\
             prometheus_auth = \"bearer:plan_test_prom\"\n[env.b]\nwebhook = \"secret:plan_test_hook\"\n",
        );
        let file = config.display().to_string();
        let error = |env: &str| {
            Plan::new(&args(&["gate", "run", "--env", env]), Some(&config))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let a = error("a");
        assert!(a.contains(&format!("{file}:4:")), "{a}");
        assert!(a.contains("env.a.prometheus_auth"), "{a}");
        assert!(a.contains("export GATE_SECRET_PLAN_TEST_PROM"), "{a}");
        let b = error("b");
        assert!(b.contains(&format!("{file}:6:")), "{b}");
        assert!(b.contains("env.b.webhook"), "{b}");
        assert!(b.contains("export GATE_SECRET_PLAN_TEST_HOOK"), "{b}");
        // A flag's webhook overrides the file's: its secret is not needed.
        let plan = Plan::new(
            &args(&[
                "gate",
                "run",
                "--env",
                "b",
                "--notify",
                "http://127.0.0.1:9/hook",
            ]),
            Some(&config),
        )
        .unwrap();
        assert_eq!(plan.webhook.unwrap().as_str(), "http://127.0.0.1:9/hook");
    }

    #[test]
    fn flags_over_the_environment_over_the_top_level() {
        let config = project("layers", LAYERED);
        let plan = Plan::new(&args(&["gate", "run", "--env", "stage"]), Some(&config)).unwrap();
        assert_eq!(plan.env_name, "stage");
        assert_eq!(plan.limits.timeout, Duration::from_secs(5));
        assert_eq!(plan.limits.memory_bytes, 32 << 20);
        assert_eq!(plan.grants.params["samples"], "4");
        assert_eq!(plan.grants.params["region"], "eu");
        assert_eq!(plan.grants.allowed_hosts.len(), 1, "replaced, not merged");
        assert_eq!(plan.policies.len(), 2);
        assert!(plan.smoke_first);

        let flags = args(&[
            "gate",
            "run",
            "--env",
            "stage",
            "--timeout",
            "1s",
            "--param",
            "samples=9",
            "--target",
            "http://127.0.0.1:9",
            "--allow-host",
            "extra.example.com",
            "--strict",
        ]);
        let plan = Plan::new(&flags, Some(&config)).unwrap();
        assert_eq!(plan.limits.timeout, Duration::from_secs(1));
        assert_eq!(plan.grants.params["samples"], "9");
        assert_eq!(plan.grants.target.unwrap().as_str(), "http://127.0.0.1:9/");
        assert_eq!(plan.grants.allowed_hosts.len(), 2, "a flag adds a host");
        assert!(plan.strict);
    }

    /// The release is the run's, and policies read it, whether or not a
    /// gate.toml plans the run (host/ has none: the flags plan it).
    #[test]
    fn policies_are_given_the_runs_release() {
        let config = project("release", LAYERED);
        let flags = ["gate", "run", "--env", "stage", "--release", "v1.4.2"];
        let planned = Plan::new(&args(&flags), Some(&config)).unwrap();
        let unplanned = Plan::new(&args(&[&flags[..], &["p.wasm"]].concat()), None).unwrap();
        for plan in [planned, unplanned] {
            assert_eq!(plan.grants.release.as_deref(), Some("v1.4.2"));
            assert_eq!(plan.release.unwrap().id, "v1.4.2");
        }
        let none = Plan::new(&args(&["gate", "run", "--env", "stage"]), Some(&config)).unwrap();
        assert_eq!(none.grants.release, None);
    }

    #[test]
    fn a_policy_argument_keeps_the_pin_of_its_entry() {
        let pin = "0".repeat(64);
        let config = project(
            "pin",
            &format!("[env.a]\npolicies = [{{ path = \"p.wasm\", sha256 = \"{pin}\" }}]\n"),
        );
        let dir = config.parent().unwrap();
        let listed = dir.join("p.wasm");
        let error = Plan::new(
            &args(&["gate", "run", "--env", "a", listed.to_str().unwrap()]),
            Some(&config),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("does not match the pin"),
            "{error}"
        );
        // Another file: no pin applies.
        let other = dir.join("smoke.wasm");
        let plan = Plan::new(
            &args(&["gate", "run", "--env", "a", other.to_str().unwrap()]),
            Some(&config),
        )
        .unwrap();
        assert!(plan.policies[0].entry.is_none());
        assert!(!plan.smoke_first);
    }

    #[test]
    fn a_pin_is_confirmed_against_what_was_loaded() {
        let digest = crate::policy::sha256_hex(b"\0asm");
        let config = project(
            "confirm",
            &format!(
                "[env.a]\npolicies = [{{ path = \"p.wasm\", sha256 = \"sha256:{digest}\" }}]\n"
            ),
        );
        let plan = Plan::new(&args(&["gate", "run", "--env", "a"]), Some(&config)).unwrap();
        assert!(plan.policies[0].confirm(&digest).is_ok());
        let changed = plan.policies[0].confirm(&"1".repeat(64)).unwrap_err();
        assert!(
            changed
                .to_string()
                .contains("changed while gate was reading it")
        );
    }

    #[test]
    fn without_a_file_flags_alone_decide() {
        let plan = Plan::from_flags(
            &args(&["gate", "run", "x.wasm", "--env", "stage"]),
            BTreeMap::from([("API_TOKEN".to_owned(), "t".to_owned())]),
        )
        .unwrap();
        assert_eq!(plan.env_name, "stage");
        assert_eq!(plan.grants.secrets["API_TOKEN"], "t");
        assert_eq!(plan.limits.timeout, Limits::default().timeout);
        assert!(matches!(
            Plan::from_flags(&args(&["gate", "run"]), BTreeMap::new()),
            Err(PlanError::NoPolicies)
        ));
    }
}
