//! Validated settings: one table of gate.toml checked and typed, and the
//! merge that gives an environment its effective settings (the environment
//! over the top level).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use url::Url;

use super::diag::{Diagnostic, Document, Place};
use super::file::{RawPolicy, RawSecret, RawSettings, RawWatch};
use crate::caps::context::{secret_key, valid_secret_name};
use crate::grants::{AllowedHost, Grants, Prometheus, PrometheusAuthSpec};
use crate::trust::IdentityFiles;
use crate::watch::{MAX_ROUNDS, RollbackCommand, Window};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub at: Place,
}

impl<T> Setting<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Setting<U> {
        Setting {
            value: f(self.value),
            at: self.at,
        }
    }
}

/// `[watch]`: `gate watch`'s window, each key as its flag (which wins).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchSettings {
    pub interval: Option<Setting<Duration>>,
    /// `count` or `duration`: one slot, so that an environment's `count`
    /// replaces the top level's `duration` rather than clash with it.
    pub window: Option<Setting<Window>>,
    pub initial_delay: Option<Setting<Duration>>,
    pub failure_limit: Option<Setting<u32>>,
    pub inconclusive_limit: Option<Setting<u32>>,
    pub consecutive_error_limit: Option<Setting<u32>>,
    /// `None` inside: an empty command, which cancels the top level's.
    pub on_rollback: Option<Setting<Option<RollbackCommand>>>,
    pub rollback_timeout: Option<Setting<Duration>>,
}

impl WatchSettings {
    /// These over `base`, key by key.
    fn over(self, base: WatchSettings) -> WatchSettings {
        WatchSettings {
            interval: self.interval.or(base.interval),
            window: self.window.or(base.window),
            initial_delay: self.initial_delay.or(base.initial_delay),
            failure_limit: self.failure_limit.or(base.failure_limit),
            inconclusive_limit: self.inconclusive_limit.or(base.inconclusive_limit),
            consecutive_error_limit: self
                .consecutive_error_limit
                .or(base.consecutive_error_limit),
            on_rollback: self.on_rollback.or(base.on_rollback),
            rollback_timeout: self.rollback_timeout.or(base.rollback_timeout),
        }
    }
}

/// Where a secret comes from. Its value never is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// The variable to read instead of `GATE_SECRET_<NAME>`.
    pub env: Option<String>,
    /// Missing and required stops the run before any policy runs.
    pub required: bool,
}

impl SecretSpec {
    /// The environment variable this secret is read from.
    pub fn variable(&self, name: &str) -> String {
        self.env
            .clone()
            .unwrap_or_else(|| format!("GATE_SECRET_{}", secret_key(name)))
    }

    /// The value from gate's environment; empty counts as unset, as for
    /// `GATE_SECRET_*`.
    pub fn read(&self, name: &str) -> Option<String> {
        std::env::var(self.variable(name))
            .ok()
            .filter(|value| !value.is_empty())
    }
}

/// Where notifications go: a URL, or a secret that holds it (chat webhooks
/// carry their token in the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Webhook {
    Url(Url),
    Secret(String),
}

impl fmt::Display for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Webhook::Url(url) => url.fmt(f),
            Webhook::Secret(name) => write!(f, "secret:{name}"),
        }
    }
}

/// A policy an environment runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyEntry {
    /// As written in the file.
    pub written: String,
    /// Resolved against the file's directory.
    pub path: PathBuf,
    /// Lower-case hex digest the file must have.
    pub sha256: Option<Setting<String>>,
    pub signature: Option<Setting<PathBuf>>,
    pub verify_key: Option<Setting<PathBuf>>,
    pub at: Place,
}

/// Why a policy file does not match its pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinError {
    Unreadable(String),
    Mismatch { expected: String, actual: String },
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinError::Unreadable(reason) => {
                write!(f, "cannot read it to check its sha256: {reason}")
            }
            PinError::Mismatch { expected, actual } => write!(
                f,
                "sha256 does not match the pin: expected {expected}, the file has {actual} \
                 (if the policy changed on purpose, pin the new digest)"
            ),
        }
    }
}

impl PolicyEntry {
    /// Hashes the file and compares it with the pin. Reads the file only,
    /// so no policy code has run when this fails. `limit` is the run's
    /// `wasm_size`: the loader refuses larger files anyway, so they are not
    /// read whole.
    pub fn verify_pin(&self, limit: u64) -> Result<(), PinError> {
        if self.sha256.is_none() {
            return Ok(());
        }
        let bytes = crate::files::read_capped(&self.path, limit).map_err(|e| match e {
            crate::files::ReadError::TooLarge { .. } => PinError::Unreadable(format!(
                "it is over the {} limit for policies",
                crate::units::format_size(limit)
            )),
            e => PinError::Unreadable(e.to_string()),
        })?;
        self.pin_matches(&bytes)
    }

    /// Compares `bytes`, the file as read, with the pin (if any).
    pub fn pin_matches(&self, bytes: &[u8]) -> Result<(), PinError> {
        let Some(pin) = &self.sha256 else {
            return Ok(());
        };
        let actual = crate::policy::sha256_hex(bytes);
        if actual == pin.value {
            Ok(())
        } else {
            Err(PinError::Mismatch {
                expected: pin.value.clone(),
                actual,
            })
        }
    }
}

/// One table's settings, or an environment's effective ones. `None` and
/// empty mean "not set here".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub target: Option<Setting<Url>>,
    pub allow_hosts: Option<Setting<Vec<AllowedHost>>>,
    pub prometheus: Option<Setting<Url>>,
    pub prometheus_auth: Option<Setting<PrometheusAuthSpec>>,
    pub docker: Option<Setting<Url>>,
    pub ca_file: Option<Setting<PathBuf>>,
    pub client_cert: Option<Setting<PathBuf>>,
    pub client_key: Option<Setting<PathBuf>>,
    pub params: BTreeMap<String, Setting<String>>,
    pub secrets: BTreeMap<String, Setting<SecretSpec>>,
    pub policies: Option<Setting<Vec<PolicyEntry>>>,
    pub timeout: Option<Setting<Duration>>,
    pub memory_limit: Option<Setting<u64>>,
    pub jobs: Option<Setting<u16>>,
    pub strict: Option<Setting<bool>>,
    pub retry: Option<Setting<u32>>,
    pub retry_interval: Option<Setting<Duration>>,
    /// `[limits]`, by key; checked with [`crate::limits::Limits::set`].
    pub limits: BTreeMap<String, Setting<String>>,
    /// The key every policy must be signed with, unless its entry names its own.
    pub verify_key: Option<Setting<PathBuf>>,
    pub decision_log: Option<Setting<PathBuf>>,
    pub webhook: Option<Setting<Webhook>>,
    pub watch: WatchSettings,
}

impl Settings {
    /// These settings over `base`: a value set here wins; params and
    /// secrets merge key by key.
    pub fn over(self, base: Settings) -> Settings {
        let mut params = base.params;
        params.extend(self.params);
        // One secret may be spelled several ways (`api-token`, `api_token`):
        // an environment's spelling replaces the top level's.
        let mut secrets = base.secrets;
        secrets.retain(|name, _| {
            !self
                .secrets
                .keys()
                .any(|own| secret_key(own) == secret_key(name))
        });
        secrets.extend(self.secrets);
        let mut limits = base.limits;
        limits.extend(self.limits);
        // Credentials belong to the server they were written for: an
        // environment's own Prometheus never inherits the top level's.
        let prometheus_auth = match &self.prometheus {
            Some(_) => self.prometheus_auth,
            None => self.prometheus_auth.or(base.prometheus_auth),
        };
        // A key belongs to its certificate: an environment's own
        // certificate never takes the top level's key.
        let client_key = match &self.client_cert {
            Some(_) => self.client_key,
            None => self.client_key.or(base.client_key),
        };
        Settings {
            target: self.target.or(base.target),
            allow_hosts: self.allow_hosts.or(base.allow_hosts),
            prometheus: self.prometheus.or(base.prometheus),
            prometheus_auth,
            docker: self.docker.or(base.docker),
            ca_file: self.ca_file.or(base.ca_file),
            client_cert: self.client_cert.or(base.client_cert),
            client_key,
            params,
            secrets,
            policies: self.policies.or(base.policies),
            timeout: self.timeout.or(base.timeout),
            memory_limit: self.memory_limit.or(base.memory_limit),
            jobs: self.jobs.or(base.jobs),
            strict: self.strict.or(base.strict),
            retry: self.retry.or(base.retry),
            retry_interval: self.retry_interval.or(base.retry_interval),
            limits,
            verify_key: self.verify_key.or(base.verify_key),
            decision_log: self.decision_log.or(base.decision_log),
            webhook: self.webhook.or(base.webhook),
            watch: self.watch.over(base.watch),
        }
    }

    /// What these settings grant, secrets and Prometheus credentials aside
    /// (those are read when a run starts).
    pub fn grants(&self, env_name: &str) -> Grants {
        Grants {
            target: self.target.as_ref().map(|t| t.value.clone()),
            allowed_hosts: self
                .allow_hosts
                .as_ref()
                .map(|a| a.value.clone())
                .unwrap_or_default(),
            env_name: env_name.to_owned(),
            // A release is a run's, never an environment's.
            release: None,
            params: self
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            secrets: BTreeMap::new(),
            prometheus: self.prometheus.as_ref().map(|p| Prometheus {
                url: p.value.clone(),
                auth: None,
            }),
            docker: self.docker.as_ref().map(|d| d.value.clone()),
            ca_files: self.ca_file.iter().map(|c| c.value.clone()).collect(),
            client_identity: self.client_cert.as_ref().map(|cert| IdentityFiles {
                cert: cert.value.clone(),
                key: self.client_key.as_ref().map(|k| k.value.clone()),
            }),
            from_fixture: false,
        }
    }

    /// Settings this gate parses but cannot honour yet. A run refuses them
    /// rather than ignore them: a gate that silently skips the Docker checks
    /// or the decision log it was told to keep would pass what it should not.
    /// Every key gate.toml accepts is honoured today, so this is empty;
    /// it stays as the one place a future key lands until it is wired in.
    pub fn unsupported(&self, _env: &str) -> Vec<(Place, String)> {
        Vec::new()
    }

    /// Problems only the file system can tell: files that do not exist.
    pub fn check_files(&self, doc: &Document) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        let mut need_file = |path: &Path, at: &Place, what: &str| {
            if !path.is_file() {
                let problem = if path.exists() {
                    "is not a file"
                } else {
                    "does not exist"
                };
                diagnostics.push(doc.diagnostic(
                    at.clone(),
                    format!(
                        "{what} {} {problem} (paths are relative to the directory of {})",
                        path.display(),
                        doc.file
                    ),
                ));
            }
        };
        if let Some(s) = &self.ca_file {
            need_file(&s.value, &s.at, "CA file");
        }
        if let Some(s) = &self.client_cert {
            need_file(&s.value, &s.at, "client certificate");
        }
        if let Some(s) = &self.client_key {
            need_file(&s.value, &s.at, "client key");
        }
        for policy in self.policies.iter().flat_map(|p| &p.value) {
            need_file(&policy.path, &policy.at, "policy");
            if let Some(s) = &policy.signature {
                need_file(&s.value, &s.at, "signature");
            }
            if let Some(s) = &policy.verify_key {
                need_file(&s.value, &s.at, "verification key");
            }
        }
        if let Some(s) = &self.verify_key {
            need_file(&s.value, &s.at, "verification key");
        }
        if let Some(s) = &self.decision_log
            && let Some(dir) = crate::decision_log::missing_folder(&s.value)
        {
            diagnostics.push(doc.diagnostic(
                s.at.clone(),
                format!(
                    "the decision log's directory {} does not exist",
                    dir.display()
                ),
            ));
        }
        diagnostics
    }
}

/// Checks one table and types its values. `prefix` is `""` for the top
/// level or `env.NAME.`; relative paths resolve against `dir`.
pub fn validate(
    raw: &RawSettings,
    prefix: &str,
    doc: &Document,
    dir: &Path,
) -> (Settings, Vec<Diagnostic>) {
    let mut v = Validator {
        doc,
        prefix,
        dir,
        diagnostics: Vec::new(),
    };
    let settings = Settings {
        target: v.parse(&raw.target, "target", crate::cli::parse_target),
        allow_hosts: raw.allow_hosts.as_ref().map(|hosts| {
            let value = hosts
                .get_ref()
                .iter()
                .enumerate()
                .filter_map(|(i, host)| {
                    v.value(host, &format!("allow_hosts[{i}]"), |text| {
                        AllowedHost::parse(text)
                    })
                })
                .map(|host| host.value)
                .collect();
            v.setting(hosts, "allow_hosts", value)
        }),
        prometheus: v.parse(&raw.prometheus, "prometheus", crate::cli::parse_prometheus),
        prometheus_auth: v.parse(
            &raw.prometheus_auth,
            "prometheus_auth",
            PrometheusAuthSpec::parse,
        ),
        docker: v.parse(&raw.docker, "docker", parse_docker_host),
        ca_file: raw
            .ca_file
            .as_ref()
            .and_then(|s| v.value(s, "ca_file", |text| resolve_path(dir, text))),
        client_cert: raw
            .client_cert
            .as_ref()
            .and_then(|s| v.value(s, "client_cert", |text| resolve_path(dir, text))),
        client_key: raw
            .client_key
            .as_ref()
            .and_then(|s| v.value(s, "client_key", |text| resolve_path(dir, text))),
        params: v.params(raw),
        secrets: v.secrets(raw),
        policies: raw.policies.as_ref().map(|list| {
            let value = list
                .get_ref()
                .iter()
                .enumerate()
                .filter_map(|(i, entry)| v.policy(entry, i))
                .collect();
            v.setting(list, "policies", value)
        }),
        timeout: v.parse(&raw.timeout, "timeout", crate::units::parse_duration),
        memory_limit: v.parse(&raw.memory_limit, "memory_limit", crate::cli::parse_memory),
        jobs: raw.jobs.as_ref().and_then(|jobs| {
            v.value(jobs, "jobs", |n| {
                u16::try_from(*n)
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or_else(|| format!("{n} checks at once is out of range (1 to 256)"))
            })
        }),
        strict: raw
            .strict
            .as_ref()
            .map(|s| v.setting(s, "strict", *s.get_ref())),
        retry: raw.retry.as_ref().and_then(|retry| {
            v.value(retry, "retry", |n| {
                u32::try_from(*n)
                    .ok()
                    .filter(|n| *n <= crate::cli::MAX_RETRIES)
                    .ok_or_else(|| {
                        format!(
                            "{n} more attempts is out of range (0 to {})",
                            crate::cli::MAX_RETRIES
                        )
                    })
            })
        }),
        retry_interval: v.parse(
            &raw.retry_interval,
            "retry_interval",
            crate::units::parse_duration,
        ),
        limits: v.limits(raw),
        verify_key: raw
            .verify_key
            .as_ref()
            .and_then(|s| v.value(s, "verify_key", |text| resolve_path(dir, text))),
        decision_log: raw
            .decision_log
            .as_ref()
            .and_then(|s| v.value(s, "decision_log", |text| resolve_path(dir, text))),
        webhook: v.parse(&raw.webhook, "webhook", parse_webhook),
        watch: raw
            .watch
            .as_ref()
            .map(|watch| v.watch(watch.get_ref(), dir))
            .unwrap_or_default(),
    };
    if !prefix.is_empty() {
        let nested = "environments do not nest: set it at the top level of the file";
        if let Some(s) = &raw.default_env {
            v.error(s.span(), "default_env", nested);
        }
        if let Some((name, _)) = raw.env.as_ref().and_then(|e| e.iter().next()) {
            v.error(name.span(), "env", nested);
        }
    }
    (settings, v.diagnostics)
}

struct Validator<'a> {
    doc: &'a Document,
    prefix: &'a str,
    dir: &'a Path,
    diagnostics: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn place(&self, span: std::ops::Range<usize>, key: &str) -> Place {
        self.doc.place(&span, format!("{}{key}", self.prefix))
    }

    fn error(&mut self, span: std::ops::Range<usize>, key: &str, message: impl Into<String>) {
        let place = self.place(span, key);
        self.diagnostics.push(self.doc.diagnostic(place, message));
    }

    fn setting<T, U>(&self, spanned: &Spanned<T>, key: &str, value: U) -> Setting<U> {
        Setting {
            value,
            at: self.place(spanned.span(), key),
        }
    }

    /// Parses one value, noting the error when it does not parse.
    fn value<T, U>(
        &mut self,
        spanned: &Spanned<T>,
        key: &str,
        parse: impl FnOnce(&T) -> Result<U, String>,
    ) -> Option<Setting<U>> {
        match parse(spanned.get_ref()) {
            Ok(value) => Some(self.setting(spanned, key, value)),
            Err(message) => {
                self.error(spanned.span(), key, message);
                None
            }
        }
    }

    fn parse<U>(
        &mut self,
        spanned: &Option<Spanned<String>>,
        key: &str,
        parse: fn(&str) -> Result<U, String>,
    ) -> Option<Setting<U>> {
        self.value(spanned.as_ref()?, key, |text| parse(text))
    }

    fn watch(&mut self, raw: &RawWatch, dir: &Path) -> WatchSettings {
        let duration = |key: &str, v: &mut Self, text: &Option<Spanned<String>>| {
            v.parse(text, &format!("watch.{key}"), crate::units::parse_duration)
        };
        let tolerated = |key: &str, v: &mut Self, n: &Option<Spanned<i64>>| {
            v.value(n.as_ref()?, &format!("watch.{key}"), |n| {
                u32::try_from(*n)
                    .map_err(|_| format!("{n} rounds is out of range (0 to {})", u32::MAX))
            })
        };
        let interval = duration("interval", self, &raw.interval);
        let count = raw.count.as_ref().and_then(|n| {
            self.value(n, "watch.count", |n| {
                u32::try_from(*n)
                    .ok()
                    .filter(|n| (1..=MAX_ROUNDS).contains(n))
                    .ok_or_else(|| format!("{n} rounds is out of range (1 to {MAX_ROUNDS})"))
            })
        });
        let lasting = duration("duration", self, &raw.duration);
        let window = match (count, lasting) {
            (Some(_), Some(lasting)) => {
                self.diagnostics.push(self.doc.diagnostic(
                    lasting.at,
                    "set `count` or `duration`, not both: the window is N rounds, or as many \
                     intervals as fit in a time",
                ));
                None
            }
            (Some(count), None) => Some(count.map(Window::Rounds)),
            (None, lasting) => lasting.map(|lasting| lasting.map(Window::Lasting)),
        };
        WatchSettings {
            interval,
            window,
            initial_delay: self.parse(
                &raw.initial_delay,
                "watch.initial_delay",
                crate::units::parse_delay,
            ),
            failure_limit: tolerated("failure_limit", self, &raw.failure_limit),
            inconclusive_limit: tolerated("inconclusive_limit", self, &raw.inconclusive_limit),
            consecutive_error_limit: tolerated(
                "consecutive_error_limit",
                self,
                &raw.consecutive_error_limit,
            ),
            on_rollback: raw.on_rollback.as_ref().and_then(|text| {
                self.value(text, "watch.on_rollback", |text| {
                    RollbackCommand::in_file(dir, text)
                })
            }),
            rollback_timeout: duration("rollback_timeout", self, &raw.rollback_timeout),
        }
    }

    fn params(&mut self, raw: &RawSettings) -> BTreeMap<String, Setting<String>> {
        let mut params = BTreeMap::new();
        for (name, value) in raw.params.iter().flatten() {
            let key = format!("params.{}", name.get_ref());
            if name.get_ref().trim().is_empty() {
                self.error(name.span(), &key, "a param needs a name");
                continue;
            }
            let setting = self.setting(value, &key, value.get_ref().0.clone());
            params.insert(name.get_ref().trim().to_owned(), setting);
        }
        params
    }

    fn limits(&mut self, raw: &RawSettings) -> BTreeMap<String, Setting<String>> {
        let mut limits = BTreeMap::new();
        for (name, value) in raw.limits.iter().flatten() {
            let key = format!("limits.{}", name.get_ref());
            let text = &value.get_ref().0;
            match crate::limits::Limits::default().set(name.get_ref(), text) {
                Ok(()) => {
                    let setting = self.setting(value, &key, text.clone());
                    limits.insert(name.get_ref().clone(), setting);
                }
                Err(message) => {
                    // An unknown key is pointed at by its name, a bad value by itself.
                    let span = if message.starts_with("unknown limit") {
                        name.span()
                    } else {
                        value.span()
                    };
                    self.error(span, &key, message);
                }
            }
        }
        limits
    }

    fn secrets(&mut self, raw: &RawSettings) -> BTreeMap<String, Setting<SecretSpec>> {
        let mut secrets = BTreeMap::new();
        for (name, spec) in raw.secrets.iter().flatten() {
            let name = name.get_ref().trim();
            let key = format!("secrets.{name}");
            if let Some(other) = secrets
                .keys()
                .find(|other: &&String| secret_key(other) == secret_key(name))
            {
                let message = format!(
                    "`{name}` and `{other}` are one secret (GATE_SECRET_{}): keep one of them",
                    secret_key(name)
                );
                self.error(spec.span(), &key, message);
                continue;
            }
            if let Some(checked) = self.secret(name, spec, &key) {
                let setting = self.setting(spec, &key, checked);
                secrets.insert(name.to_owned(), setting);
            }
        }
        secrets
    }

    fn secret(&mut self, name: &str, spec: &Spanned<RawSecret>, key: &str) -> Option<SecretSpec> {
        if let Err(message) = valid_secret_name(name) {
            self.error(spec.span(), key, message);
            return None;
        }
        let raw = spec.get_ref();
        if raw.value_in_file {
            self.error(
                spec.span(),
                key,
                format!(
                    "secrets are never written in gate.toml: remove the value, then export \
                     GATE_SECRET_{} where gate runs, or name the variable that holds it: \
                     {name} = {{ env = \"VARIABLE\" }}",
                    secret_key(name)
                ),
            );
            return None;
        }
        let env = match &raw.env {
            Some(var) if !valid_variable(var.get_ref()) => {
                self.error(
                    var.span(),
                    &format!("{key}.env"),
                    format!(
                        "`{}` is not an environment variable name (letters, digits and `_`)",
                        var.get_ref()
                    ),
                );
                return None;
            }
            Some(var) => Some(var.get_ref().clone()),
            None => None,
        };
        Some(SecretSpec {
            env,
            required: raw.required.as_ref().is_some_and(|r| *r.get_ref()),
        })
    }

    fn policy(&mut self, entry: &Spanned<RawPolicy>, index: usize) -> Option<PolicyEntry> {
        let key = format!("policies[{index}]");
        let raw = entry.get_ref();
        let dir = self.dir;
        let path = match resolve_path(dir, &raw.path) {
            Ok(path) => path,
            Err(message) => {
                self.error(entry.span(), &key, message);
                return None;
            }
        };
        let sha256 = raw.sha256.as_ref().and_then(|pin| {
            self.value(pin, &format!("{key}.sha256"), |text| {
                crate::integrity::parse_sha256(text)
            })
        });
        let signature = raw.signature.as_ref().and_then(|s| {
            self.value(s, &format!("{key}.signature"), |text| {
                resolve_path(dir, text)
            })
        });
        let verify_key = raw.verify_key.as_ref().and_then(|s| {
            self.value(s, &format!("{key}.verify_key"), |text| {
                resolve_path(dir, text)
            })
        });
        Some(PolicyEntry {
            written: raw.path.clone(),
            path,
            sha256,
            signature,
            verify_key,
            at: self.place(entry.span(), &key),
        })
    }
}

fn resolve_path(dir: &Path, text: &str) -> Result<PathBuf, String> {
    if text.trim().is_empty() {
        return Err("is empty: give a path (relative to the directory of gate.toml)".into());
    }
    Ok(dir.join(text))
}

/// Docker engine address: `unix:///var/run/docker.sock`, `tcp://host:2375`,
/// as `--docker` takes it.
fn parse_docker_host(text: &str) -> Result<Url, String> {
    crate::caps::docker::parse_host(text)
}

/// `https://hooks.example.com/…`, or `secret:NAME` when the URL itself is a
/// secret.
fn parse_webhook(text: &str) -> Result<Webhook, String> {
    if let Some(name) = text.strip_prefix("secret:") {
        return valid_secret_name(name).map(|()| Webhook::Secret(name.trim().to_owned()));
    }
    crate::cli::parse_http_url(
        text,
        "credentials in the webhook URL are refused: use webhook = \"secret:NAME\"",
        " (give https://… or secret:NAME)",
    )
    .map(Webhook::Url)
}

/// A secret name maps onto `GATE_SECRET_<NAME>`, so it must make a variable
/// name.
fn valid_variable(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
