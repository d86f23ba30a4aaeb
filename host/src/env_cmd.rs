//! `gate env list` and `gate env show NAME`: what each environment of
//! gate.toml resolves to and grants, and where each value comes from, so a
//! reviewer can read what stage and prod may do without running anything.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::caps::context::secret_key;
use crate::cli::{EnvCommand, EnvListArgs, EnvShowArgs};
use crate::config::check::{granted, plural};
use crate::config::{Config, ConfigError, Environment, Place, SecretSpec, Setting};
use crate::grants::PrometheusAuthSpec;
use crate::limits::Limits;
use crate::report::Format;
use crate::text::REDACTED;
use crate::units::{duration_as_written, format_size};
use crate::verdict::{EXIT_PASS, EXIT_UNUSABLE};
use crate::watch::{DEFAULT_INTERVAL, DEFAULT_ROLLBACK_TIMEOUT, WatchLimits, Window};

/// Version of the JSON shape of `gate env`.
pub const SCHEMA: &str = "gate.env/v1";

/// Runs `gate env …` and returns its exit code.
pub fn env(command: EnvCommand, config: Option<&Path>) -> anyhow::Result<i32> {
    let path = Config::find(config)?;
    let config = Config::load(&path)?;
    match command {
        EnvCommand::List(args) => list(&config, &args),
        EnvCommand::Show(args) => show(&config, &args),
    }
}

fn list(config: &Config, args: &EnvListArgs) -> anyhow::Result<i32> {
    list_to(config, args, &mut std::io::stdout().lock())
}

fn list_to(config: &Config, args: &EnvListArgs, out: &mut impl Write) -> anyhow::Result<i32> {
    // An environment with problems is listed as such: the others are still
    // worth reading, and the problems are on stderr (exit 2).
    let mut views = Vec::new();
    let mut problems = Vec::new();
    for name in config.env_names() {
        match config.environment(name) {
            Ok(environment) => {
                views.push(Listed::Env(Box::new(EnvView::new(config, &environment))))
            }
            Err(ConfigError::Invalid(found)) => {
                views.push(Listed::Broken(BrokenView {
                    schema: SCHEMA,
                    config: config.file().to_owned(),
                    name: name.to_owned(),
                    default: config.default_env() == Some(name),
                    defined_at: defined_at(config, &config.env_place(name)),
                    problems: found.iter().map(ToString::to_string).collect(),
                }));
                problems.extend(found);
            }
            Err(other) => return Err(other.into()),
        }
    }
    crate::config::tidy(&mut problems);
    // A reader that stops reading (`| head`) leaves the exit code to the
    // problems found.
    match write_list(config, args.format, &views, out) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written?,
    }
    if problems.is_empty() {
        return Ok(EXIT_PASS);
    }
    crate::config::check::report_problems(&problems, config.file());
    Ok(EXIT_UNUSABLE)
}

/// The list, as `--format` asks.
fn write_list(
    config: &Config,
    format: Format,
    views: &[Listed],
    stdout: &mut impl Write,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            let list = EnvList {
                schema: SCHEMA,
                config: config.file(),
                default_env: config.default_env(),
                environments: views,
            };
            serde_json::to_writer_pretty(&mut *stdout, &list).map_err(std::io::Error::from)?;
            writeln!(stdout)?;
        }
        Format::Human => {
            writeln!(
                stdout,
                "{}: {} environment{}",
                config.file(),
                views.len(),
                if views.len() == 1 { "" } else { "s" }
            )?;
            let target = |listed: &Listed| match listed {
                Listed::Env(view) => view.settings["target"]
                    .value
                    .clone()
                    .unwrap_or_else(|| "no target".to_owned()),
                Listed::Broken(_) => "FAIL".to_owned(),
            };
            let width = views.iter().map(|v| v.name().len()).max().unwrap_or(0);
            let target_width = views.iter().map(|v| target(v).len()).max().unwrap_or(0);
            for listed in views {
                let marker = if listed.default() { "*" } else { " " };
                let target = target(listed);
                let rest = match listed {
                    Listed::Env(view) => {
                        let policies = match view.policies.len() {
                            1 => "1 policy".to_owned(),
                            n => format!("{n} policies"),
                        };
                        let grants = if view.grants.is_empty() {
                            "nothing".to_owned()
                        } else {
                            view.grants.join(", ")
                        };
                        format!("{policies} · grants {grants}")
                    }
                    Listed::Broken(broken) => {
                        format!("{} (below)", plural(broken.problems.len(), "problem"))
                    }
                };
                writeln!(
                    stdout,
                    "{marker} {:<width$}  {target:<target_width$}  {rest}",
                    listed.name()
                )?;
            }
            if views.iter().any(Listed::default) {
                writeln!(stdout, "(* used without --env)")?;
            }
        }
    }
    Ok(())
}

fn show(config: &Config, args: &EnvShowArgs) -> anyhow::Result<i32> {
    let environment = config.environment(&args.name)?;
    let view = EnvView::new(config, &environment);
    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut stdout, &view)?;
            writeln!(stdout)?;
        }
        Format::Human => write_human(&view, &mut stdout)?,
    }
    Ok(EXIT_PASS)
}

/// `gate.toml:14:1`: where an environment's table is.
fn defined_at(config: &Config, at: &Place) -> String {
    format!("{}:{}:{}", config.file(), at.line, at.column)
}

#[derive(Debug, Serialize)]
struct EnvList<'a> {
    schema: &'static str,
    config: &'a str,
    default_env: Option<&'a str>,
    environments: &'a [Listed],
}

/// An environment of `gate env list`: what it resolves to, or why it
/// cannot be used.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Listed {
    Env(Box<EnvView>),
    Broken(BrokenView),
}

impl Listed {
    fn name(&self) -> &str {
        match self {
            Listed::Env(view) => &view.name,
            Listed::Broken(broken) => &broken.name,
        }
    }

    fn default(&self) -> bool {
        match self {
            Listed::Env(view) => view.default,
            Listed::Broken(broken) => broken.default,
        }
    }
}

/// An environment gate.toml gets wrong: its problems (the top level's
/// among them), as `gate config check` words them (`gate.toml:12:1:
/// env.stage.timout: unknown key …`).
#[derive(Debug, Serialize)]
struct BrokenView {
    schema: &'static str,
    config: String,
    name: String,
    default: bool,
    defined_at: String,
    problems: Vec<String>,
}

/// An environment as shown: every value as text, with its origin.
#[derive(Debug, Serialize)]
struct EnvView {
    schema: &'static str,
    config: String,
    name: String,
    default: bool,
    /// `gate.toml:14:1`: where its table is.
    defined_at: String,
    /// Scalar settings by key; unset ones show their default.
    settings: BTreeMap<&'static str, Shown>,
    /// `[limits]`: every limit, set or default.
    limits: BTreeMap<&'static str, Shown>,
    /// `[watch]`: `gate watch`'s window, set or default.
    watch: BTreeMap<&'static str, Shown>,
    params: BTreeMap<String, Shown>,
    secrets: BTreeMap<String, SecretView>,
    policies: Vec<PolicyView>,
    policies_from: String,
    /// Capabilities the environment grants policies.
    grants: Vec<&'static str>,
    /// Settings `gate run` refuses because this gate cannot honour them.
    refused: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Shown {
    /// `null` when not set and without a default.
    value: Option<String>,
    /// `env.stage (gate.toml:15:10)`, `top-level (…)`, `default` or `not set`.
    from: String,
}

/// A table's rows (key, value or `-`, origin) for the human output.
fn shown_rows<'a, K: ToString + 'a>(
    shown: impl IntoIterator<Item = (&'a K, &'a Shown)>,
) -> Vec<(String, String, String)> {
    shown
        .into_iter()
        .map(|(key, shown)| {
            let value = shown.value.clone().unwrap_or_else(|| "-".to_owned());
            (key.to_string(), value, shown.from.clone())
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct SecretView {
    /// `[REDACTED]` when set, `null` when not: the value is never shown.
    value: Option<&'static str>,
    variable: String,
    required: bool,
    from: String,
}

#[derive(Debug, Serialize)]
struct PolicyView {
    path: String,
    sha256: Option<String>,
    signature: Option<String>,
    verify_key: Option<String>,
}

impl EnvView {
    fn new(config: &Config, environment: &Environment) -> EnvView {
        let s = &environment.settings;
        let from = |at: &Place| {
            format!(
                "{} ({}:{}:{})",
                at.table(),
                config.file(),
                at.line,
                at.column
            )
        };
        let shown = |setting: Option<(String, &Place)>, default: Option<String>| match setting {
            Some((value, at)) => Shown {
                value: Some(value),
                from: from(at),
            },
            None => Shown {
                from: if default.is_some() {
                    "default"
                } else {
                    "not set"
                }
                .to_owned(),
                value: default,
            },
        };
        fn text<T>(
            setting: &Option<Setting<T>>,
            show: impl Fn(&T) -> String,
        ) -> Option<(String, &Place)> {
            setting.as_ref().map(|s| (show(&s.value), &s.at))
        }
        // gate's own credentials come from the secret's variable, named in
        // `secrets` or the default one.
        let credential = |name: &str| {
            let listed = s
                .secrets
                .iter()
                .find(|(listed, _)| secret_key(listed) == secret_key(name))
                .map(|(_, spec)| spec.value.clone());
            let spec = listed.unwrap_or(SecretSpec {
                env: None,
                required: false,
            });
            let variable = spec.variable(name);
            match spec.read(name) {
                Some(_) => format!("{REDACTED} from {variable}"),
                None => format!("not set: {variable}"),
            }
        };
        let defaults = Limits::default();
        let mut settings = BTreeMap::new();
        settings.insert("target", shown(text(&s.target, |u| u.to_string()), None));
        settings.insert(
            "allow_hosts",
            shown(
                text(&s.allow_hosts, |hosts| {
                    hosts
                        .iter()
                        .map(|h| h.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                None,
            ),
        );
        settings.insert(
            "prometheus",
            shown(text(&s.prometheus, |u| u.to_string()), None),
        );
        settings.insert(
            "prometheus_auth",
            shown(
                text(&s.prometheus_auth, |spec| {
                    let (kind, name) = match spec {
                        PrometheusAuthSpec::Bearer(name) => ("bearer", name),
                        PrometheusAuthSpec::Basic(name) => ("basic", name),
                    };
                    format!("{kind}:{name} ({})", credential(name))
                }),
                None,
            ),
        );
        settings.insert("docker", shown(text(&s.docker, |u| u.to_string()), None));
        settings.insert(
            "ca_file",
            shown(text(&s.ca_file, |p| p.display().to_string()), None),
        );
        settings.insert(
            "client_cert",
            shown(text(&s.client_cert, |p| p.display().to_string()), None),
        );
        settings.insert(
            "client_key",
            shown(text(&s.client_key, |p| p.display().to_string()), None),
        );
        settings.insert(
            "timeout",
            shown(
                text(&s.timeout, |d| duration_as_written(*d)),
                Some(duration_as_written(defaults.timeout)),
            ),
        );
        settings.insert(
            "memory_limit",
            shown(
                text(&s.memory_limit, |b| format_size(*b)),
                Some(format_size(defaults.memory_bytes)),
            ),
        );
        settings.insert(
            "jobs",
            shown(
                text(&s.jobs, u16::to_string),
                Some("all checks, up to 16".into()),
            ),
        );
        settings.insert(
            "strict",
            shown(text(&s.strict, bool::to_string), Some("false".into())),
        );
        settings.insert(
            "retry",
            shown(
                text(&s.retry, u32::to_string),
                Some("0 (each check runs once)".into()),
            ),
        );
        settings.insert(
            "retry_interval",
            shown(
                text(&s.retry_interval, |d| duration_as_written(*d)),
                Some(duration_as_written(crate::runtime::Retry::DEFAULT_INTERVAL)),
            ),
        );
        settings.insert(
            "decision_log",
            shown(text(&s.decision_log, |p| p.display().to_string()), None),
        );
        settings.insert("webhook", shown(text(&s.webhook, |w| w.to_string()), None));
        settings.insert(
            "verify_key",
            shown(
                text(&s.verify_key, |p| p.display().to_string()),
                Some("none: signatures not required".into()),
            ),
        );
        // Every limit, so that a reviewer sees what a check may consume
        // here without looking up the defaults.
        let limits = defaults
            .settable()
            .into_iter()
            .map(|(key, default)| {
                let set = s.limits.get(key).map(|l| (l.value.clone(), &l.at));
                (key, shown(set, Some(default)))
            })
            .collect();

        let watch = &s.watch;
        // One key of the two holds the window, the other is not set.
        let (count, lasting) = match &watch.window {
            Some(w) => match w.value {
                Window::Rounds(n) => (Some((n.to_string(), &w.at)), None),
                Window::Lasting(d) => (None, Some((duration_as_written(d), &w.at))),
            },
            None => (None, None),
        };
        let watch_defaults = WatchLimits::default();
        let watch = BTreeMap::from([
            (
                "interval",
                shown(
                    text(&watch.interval, |d| duration_as_written(*d)),
                    Some(duration_as_written(DEFAULT_INTERVAL)),
                ),
            ),
            ("count", shown(count, None)),
            ("duration", shown(lasting, None)),
            (
                "initial_delay",
                shown(
                    text(&watch.initial_delay, |d| {
                        if d.is_zero() {
                            "none".to_owned()
                        } else {
                            duration_as_written(*d)
                        }
                    }),
                    Some("none".into()),
                ),
            ),
            (
                "failure_limit",
                shown(
                    text(&watch.failure_limit, u32::to_string),
                    Some(watch_defaults.failure_limit.to_string()),
                ),
            ),
            (
                "inconclusive_limit",
                shown(
                    text(&watch.inconclusive_limit, u32::to_string),
                    Some(watch_defaults.inconclusive_limit.to_string()),
                ),
            ),
            (
                "consecutive_error_limit",
                shown(
                    text(&watch.consecutive_error_limit, u32::to_string),
                    Some(watch_defaults.consecutive_error_limit.to_string()),
                ),
            ),
            (
                "on_rollback",
                shown(
                    text(&watch.on_rollback, |hook| match hook {
                        Some(hook) => format!("{}{}", hook.command, hook.place()),
                        None => "none".to_owned(),
                    }),
                    Some("none".into()),
                ),
            ),
            (
                "rollback_timeout",
                shown(
                    text(&watch.rollback_timeout, |d| duration_as_written(*d)),
                    Some(duration_as_written(DEFAULT_ROLLBACK_TIMEOUT)),
                ),
            ),
        ]);

        EnvView {
            schema: SCHEMA,
            config: config.file().to_owned(),
            name: environment.name.clone(),
            default: config.default_env() == Some(environment.name.as_str()),
            defined_at: defined_at(config, &environment.at),
            settings,
            limits,
            watch,
            params: s
                .params
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Shown {
                            value: Some(v.value.clone()),
                            from: from(&v.at),
                        },
                    )
                })
                .collect(),
            secrets: s
                .secrets
                .iter()
                .map(|(name, spec)| {
                    let view = SecretView {
                        // Read only to tell whether it is there.
                        value: spec.value.read(name).map(|_| REDACTED),
                        variable: spec.value.variable(name),
                        required: spec.value.required,
                        from: from(&spec.at),
                    };
                    (name.clone(), view)
                })
                .collect(),
            policies: s
                .policies
                .iter()
                .flat_map(|p| &p.value)
                .map(|p| PolicyView {
                    path: p.path.display().to_string(),
                    sha256: p.sha256.as_ref().map(|s| s.value.clone()),
                    signature: p.signature.as_ref().map(|s| s.value.display().to_string()),
                    verify_key: p.verify_key.as_ref().map(|s| s.value.display().to_string()),
                })
                .collect(),
            policies_from: s
                .policies
                .as_ref()
                .map_or("not set".to_owned(), |p| from(&p.at)),
            grants: granted(&s.grants(&environment.name)),
            refused: s
                .unsupported(&environment.name)
                .into_iter()
                .map(|(_, message)| message)
                .collect(),
        }
    }
}

const ORDER: [&str; 17] = [
    "target",
    "allow_hosts",
    "prometheus",
    "prometheus_auth",
    "docker",
    "ca_file",
    "client_cert",
    "client_key",
    "timeout",
    "memory_limit",
    "jobs",
    "strict",
    "retry",
    "retry_interval",
    "decision_log",
    "webhook",
    "verify_key",
];

/// `[watch]` as `gate watch --help` lists its flags.
const WATCH_ORDER: [&str; 9] = [
    "interval",
    "count",
    "duration",
    "initial_delay",
    "failure_limit",
    "inconclusive_limit",
    "consecutive_error_limit",
    "on_rollback",
    "rollback_timeout",
];

fn write_human(view: &EnvView, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "env {}{} (defined at {})",
        view.name,
        if view.default {
            ", used without --env"
        } else {
            ""
        },
        view.defined_at
    )?;
    let rows = |out: &mut dyn Write, rows: Vec<(String, String, String)>| -> std::io::Result<()> {
        let key_width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        let value_width = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
        for (key, value, from) in rows {
            writeln!(out, "  {key:<key_width$}  {value:<value_width$}  {from}")?;
        }
        Ok(())
    };
    rows(
        out,
        shown_rows(ORDER.iter().map(|key| (key, &view.settings[key]))),
    )?;
    writeln!(out, "limits")?;
    rows(out, shown_rows(&view.limits))?;
    writeln!(out, "watch")?;
    rows(
        out,
        shown_rows(WATCH_ORDER.iter().map(|key| (key, &view.watch[key]))),
    )?;
    writeln!(out, "params")?;
    if view.params.is_empty() {
        writeln!(out, "  (none)")?;
    }
    rows(out, shown_rows(&view.params))?;
    writeln!(out, "secrets")?;
    if view.secrets.is_empty() {
        writeln!(out, "  (none: policies read no secret in this environment)")?;
    }
    rows(
        out,
        view.secrets
            .iter()
            .map(|(name, s)| {
                let state = match s.value {
                    Some(redacted) => format!("{redacted} from {}", s.variable),
                    None => format!("not set ({})", s.variable),
                };
                let required = if s.required { ", required" } else { "" };
                (name.clone(), format!("{state}{required}"), s.from.clone())
            })
            .collect(),
    )?;
    writeln!(out, "policies  {}", view.policies_from)?;
    for policy in &view.policies {
        write!(out, "  {}", policy.path)?;
        if let Some(sha) = &policy.sha256 {
            write!(out, "  sha256 {sha}")?;
        }
        if let Some(signature) = &policy.signature {
            write!(out, "  signature {signature}")?;
        }
        if let Some(key) = &policy.verify_key {
            write!(out, "  verify_key {key}")?;
        }
        writeln!(out)?;
    }
    let grants = if view.grants.is_empty() {
        "nothing".to_owned()
    } else {
        view.grants.join(", ")
    };
    writeln!(out, "grants    {grants}")?;
    for refused in &view.refused {
        writeln!(out, "refused   {refused}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stops reading at once, as `| head -0` does.
    struct Gone;

    impl Write for Gone {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_reader_that_stops_reading_leaves_the_exit_code_to_the_problems() {
        let text =
            "[env.stage]\ntarget = \"https://stage.example.com\"\n\n[env.broken]\njobs = 0\n";
        let config = Config::from_text(Path::new("gate.toml"), text.to_owned()).unwrap();
        for format in [Format::Json, Format::Human] {
            let args = EnvListArgs { format };
            assert_eq!(list_to(&config, &args, &mut Gone).unwrap(), EXIT_UNUSABLE);
        }
        let fine = Config::from_text(
            Path::new("gate.toml"),
            "[env.stage]\ntarget = \"https://stage.example.com\"\n".to_owned(),
        )
        .unwrap();
        let args = EnvListArgs {
            format: Format::Json,
        };
        assert_eq!(list_to(&fine, &args, &mut Gone).unwrap(), EXIT_PASS);
    }
}
