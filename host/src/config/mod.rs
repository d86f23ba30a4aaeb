//! `gate.toml`: named environments (local → stage → prod) that run the same
//! policies and differ only in configuration.
//!
//! The file is read in three steps, so each command does only what it needs:
//! parsing (shape and unknown keys: an error at the top level blocks every
//! command, one inside `[env.NAME]` only what uses that environment),
//! validating one table's values (URLs, durations, sizes, secret sources),
//! and checking the file system (policy files, pins, CA file), which only a
//! run of that environment or `gate config check` does: a prod runner's
//! files need not exist on a laptop that runs `--env local`.

pub mod check;
mod diag;
mod file;
mod settings;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

pub use diag::{Diagnostic, Place, tidy};
pub use settings::{PinError, PolicyEntry, SecretSpec, Setting, Settings, WatchSettings, Webhook};

use diag::Document;
use file::RawSettings;

/// The file gate looks for in the current directory.
pub const FILE_NAME: &str = "gate.toml";

/// The environment a run uses when neither `--env` nor `default_env` names
/// one, if the file has it; and the one environment of a file with no
/// `[env.NAME]` table, whose top level it is.
pub const DEFAULT_ENV: &str = crate::plan::DEFAULT_ENV;

/// What is wrong with an environment's name, if anything. Names go into
/// messages, tables, reports, the decision log and policies' context, so
/// they are kept to what every one of them shows as written: letters,
/// digits, `-` and `_`, starting with a letter or digit, at most 64.
pub fn env_name_problem(name: &str) -> Option<String> {
    const MAX: usize = 64;
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let all_allowed = name
        .chars()
        // No `.`: `[env.eu.prod]` is env `eu` with a table `prod` in TOML,
        // and the name would need quoting in every key and hint.
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if starts_well && all_allowed && name.len() <= MAX {
        return None;
    }
    Some(format!(
        "{name:?} is not an environment name: use at most {MAX} letters, digits, `-` and `_`, \
         starting with a letter or a digit (prod, stage-eu, qa_2)"
    ))
}

/// Why gate.toml cannot be used. Every variant means exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no {FILE_NAME} in the current directory: give the file with --config PATH")]
    NotFound,
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", Problems(.0))]
    Invalid(Vec<Diagnostic>),
    #[error(
        "{file} has no environment `{name}` (known: {known}): pick one of those, \
         or add [env.{name}] to the file"
    )]
    UnknownEnv {
        file: String,
        name: String,
        known: String,
    },
    #[error(
        "{file} has no environment `{name}`: without [env.NAME] tables, its top level is its one \
         environment, `default` (run without --env). For a second stack, move this one's \
         settings into [env.default] (the top level then holds only what every environment \
         shares), then add [env.{name}] with its own target"
    )]
    OnlyTheDefaultEnv { file: String, name: String },
    #[error(
        "{file} defines environments {known}: pick one with --env NAME, \
         or set default_env = \"NAME\" at the top of the file"
    )]
    NoEnvChosen { file: String, known: String },
    #[error("{}", MissingSecrets(.0))]
    MissingSecrets(Vec<MissingSecret>),
}

/// A required secret whose variable is unset or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingSecret {
    pub file: String,
    pub env: String,
    pub name: String,
    pub variable: String,
    pub at: Place,
}

struct Problems<'a>(&'a [Diagnostic]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => one.fmt(f),
            many => {
                let file = many.first().map_or(FILE_NAME, |d| d.file.as_str());
                write!(f, "{file} has {} problems:", many.len())?;
                for diagnostic in many {
                    write!(f, "\n  {diagnostic}")?;
                }
                Ok(())
            }
        }
    }
}

struct MissingSecrets<'a>(&'a [MissingSecret]);

impl fmt::Display for MissingSecrets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(
                f,
                "{}:{}:{}: {}: env `{}` requires secret `{}` but {} is not set: export it where \
                 gate runs (nothing was run)",
                m.file, m.at.line, m.at.column, m.at.key, m.env, m.name, m.variable
            )?;
        }
        Ok(())
    }
}

/// A parsed gate.toml.
#[derive(Debug)]
pub struct Config {
    path: PathBuf,
    doc: Document,
    top: RawSettings,
    /// `[env.NAME]` tables in the order the file has them; one whose shape
    /// is wrong (an unknown key, a value of the wrong type) holds why, so
    /// that only what uses it is stopped.
    envs: Vec<(Spanned<String>, EnvTable)>,
}

type EnvTable = Result<Spanned<RawSettings>, Vec<Diagnostic>>;

/// The `[env.NAME]` tables, each read on its own (a typo in stage's must
/// not stop a run of local), or why `env` itself is wrong.
fn read_envs(
    doc: &Document,
    env: Spanned<DeValue<'_>>,
) -> Result<Vec<(Spanned<String>, EnvTable)>, Vec<Diagnostic>> {
    let span = env.span();
    let DeValue::Table(tables) = env.into_inner() else {
        let place = doc.place(&span, "env");
        return Err(vec![doc.diagnostic(
            place,
            "`env` holds the environments, as tables: write [env.NAME] and its settings below it",
        )]);
    };
    // `[env]` then `strict = true` makes `strict` an environment to TOML,
    // and what was meant for every environment would reach none: the whole
    // file's mistake, not one table's.
    let misplaced: Vec<Diagnostic> = tables
        .iter()
        .filter(|(_, value)| !matches!(value.get_ref(), DeValue::Table(_)))
        .map(|(name, value)| {
            let key = format!("env.{}", name.get_ref());
            let message = format!(
                "`{key}` is not a table, and every key under `env` is an environment: write \
                 [env.NAME] with its settings below it, and what every environment shares at \
                 the top of the file, above any [env.NAME]"
            );
            doc.diagnostic(doc.place(&value.span(), key), message)
        })
        .collect();
    if !misplaced.is_empty() {
        return Err(misplaced);
    }
    Ok(tables
        .into_iter()
        .map(|(name, table)| {
            let name = Spanned::new(name.span(), name.get_ref().to_string());
            let span = table.span();
            let raw = read_table(doc, table).map(|raw| Spanned::new(span, raw));
            (name, raw)
        })
        .collect())
}

/// A table's settings, or every problem of its shape: serde stops at the
/// first, so each is taken out and the table read again, and a file with
/// three typos says so at once (in the file's order).
fn read_table(
    doc: &Document,
    mut table: Spanned<DeValue<'_>>,
) -> Result<RawSettings, Vec<Diagnostic>> {
    // Bounded: a file this wrong shows its first problems, in file order.
    const MAX_PROBLEMS: usize = 64;
    let mut problems = Vec::new();
    loop {
        let error = match RawSettings::deserialize(ValueDeserializer::from(table.clone())) {
            Ok(raw) if problems.is_empty() => return Ok(raw),
            Ok(_) => break,
            Err(error) => error,
        };
        problems.push(doc.toml_error(&error));
        let taken_out = match (error.span(), table.get_mut()) {
            (Some(span), DeValue::Table(inner)) => diag::remove_at(inner, span.start),
            _ => false,
        };
        if !taken_out || problems.len() == MAX_PROBLEMS {
            break;
        }
    }
    tidy(&mut problems);
    Err(problems)
}

/// An environment's effective settings: its table over the top level.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    /// Where its `[env.NAME]` table is: line 1 for the one environment of
    /// a file without them.
    pub at: Place,
    pub settings: Settings,
}

impl Config {
    /// The file to read: `--config PATH`, else `./gate.toml` when it exists.
    pub fn locate(flag: Option<&Path>) -> Option<PathBuf> {
        match flag {
            Some(path) => Some(path.to_owned()),
            None => Some(PathBuf::from(FILE_NAME)).filter(|p| p.is_file()),
        }
    }

    /// The file a command that needs one reads.
    pub fn find(flag: Option<&Path>) -> Result<PathBuf, ConfigError> {
        Config::locate(flag).ok_or(ConfigError::NotFound)
    }

    /// Reads and parses the file; syntax, shape and unknown keys are checked
    /// here, values later.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // No real gate.toml comes near this; a device or FIFO is refused.
        const CAP: u64 = 16 << 20;
        let text =
            crate::files::read_text_capped(path, CAP).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source: source.into(),
            })?;
        Config::parse(path, text)
    }

    /// Parses text as if read from `path` (which only names it in messages
    /// and anchors its relative paths).
    pub fn from_text(path: &Path, text: String) -> Result<Config, ConfigError> {
        Config::parse(path, text)
    }

    fn parse(path: &Path, text: String) -> Result<Config, ConfigError> {
        let doc = Document {
            file: path.display().to_string(),
            text,
        };
        let mut root = DeTable::parse(&doc.text)
            .map_err(|e| ConfigError::Invalid(vec![doc.toml_error(&e)]))?;
        // Each `[env.NAME]` table is read on its own: a typo in stage's
        // must not stop a run of local.
        let env = root.get_mut().remove("env");
        let span = root.span();
        let top = read_table(&doc, Spanned::new(span, DeValue::Table(root.into_inner())));
        let envs = match env {
            None => Ok(Vec::new()),
            Some(env) => read_envs(&doc, env),
        };
        // A top level of the wrong shape stops the file; the environments'
        // shape problems are said with its, so one run shows them all.
        let (top, mut envs) = match (top, envs) {
            (Ok(top), Ok(envs)) => (top, envs),
            (top, envs) => {
                let mut problems = top.err().unwrap_or_default();
                match envs {
                    Err(whole) => problems.extend(whole),
                    Ok(envs) => {
                        problems.extend(envs.into_iter().filter_map(|(_, t)| t.err()).flatten())
                    }
                }
                tidy(&mut problems);
                return Err(ConfigError::Invalid(problems));
            }
        };
        envs.sort_by_key(|(name, _)| name.span().start);
        let misnamed: Vec<Diagnostic> = envs
            .iter()
            .filter_map(|(name, _)| {
                let problem = env_name_problem(name.get_ref())?;
                Some(doc.diagnostic(doc.place(&name.span(), "env"), problem))
            })
            .collect();
        if !misnamed.is_empty() {
            return Err(ConfigError::Invalid(misnamed));
        }
        let config = Config {
            path: path.to_owned(),
            doc,
            top,
            envs,
        };
        if let Some(default) = &config.top.default_env
            && !config.has_env(default.get_ref())
        {
            let place = config.doc.place(&default.span(), "default_env");
            return Err(ConfigError::Invalid(vec![config.doc.diagnostic(
                place,
                format!(
                    "`{}` is not an environment of this file (known: {})",
                    default.get_ref(),
                    config.known()
                ),
            )]));
        }
        Ok(config)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file as messages name it.
    pub fn file(&self) -> &str {
        &self.doc.file
    }

    /// Environment names in file order; `default` alone for a file
    /// without `[env.NAME]` tables.
    pub fn env_names(&self) -> Vec<&str> {
        if self.envs.is_empty() {
            return vec![DEFAULT_ENV];
        }
        self.envs
            .iter()
            .map(|(name, _)| name.get_ref().as_str())
            .collect()
    }

    fn has_env(&self, name: &str) -> bool {
        self.env_names().contains(&name)
    }

    /// The environment a run uses without `--env`: `default_env`, else
    /// `default` when the file has it (as a table, or as its only
    /// environment).
    pub fn default_env(&self) -> Option<&str> {
        match &self.top.default_env {
            Some(name) => Some(name.get_ref().as_str()),
            None => self.has_env(DEFAULT_ENV).then_some(DEFAULT_ENV),
        }
    }

    fn known(&self) -> String {
        if self.envs.is_empty() {
            format!("{DEFAULT_ENV}, its top level, as it has no [env.NAME] table")
        } else {
            self.env_names().join(", ")
        }
    }

    /// Relative paths in the file are relative to its directory.
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// The `[env.NAME]` table of `name`, `None` for the top level of a file
    /// without environments (whose one environment is `default`), or why
    /// the file has no such environment.
    fn lookup(&self, name: &str) -> Result<Option<&EnvTable>, ConfigError> {
        if let Some((_, table)) = self.entry(name) {
            return Ok(Some(table));
        }
        if self.envs.is_empty() && name == DEFAULT_ENV {
            return Ok(None);
        }
        if self.envs.is_empty() {
            return Err(ConfigError::OnlyTheDefaultEnv {
                file: self.doc.file.clone(),
                name: name.to_owned(),
            });
        }
        Err(ConfigError::UnknownEnv {
            file: self.doc.file.clone(),
            name: name.to_owned(),
            known: self.known(),
        })
    }

    /// Where environment `name` is defined: its table, or its name in
    /// `[env.NAME]` when the table's shape is wrong; line 1 for the one
    /// environment of a file without tables.
    pub fn env_place(&self, name: &str) -> Place {
        match self.entry(name) {
            Some((_, Ok(table))) => self.doc.place(&table.span(), format!("env.{name}")),
            Some((n, Err(_))) => self.doc.place(&n.span(), format!("env.{name}")),
            None => self.doc.place(&(0..0), ""),
        }
    }

    fn entry(&self, name: &str) -> Option<&(Spanned<String>, EnvTable)> {
        self.envs.iter().find(|(n, _)| n.get_ref() == name)
    }

    /// Whether the file defines environment `name` (whatever its problems).
    pub fn check_name(&self, name: &str) -> Result<(), ConfigError> {
        self.lookup(name).map(drop)
    }

    /// The top-level settings and their problems.
    pub fn top_level(&self) -> (Settings, Vec<Diagnostic>) {
        settings::validate(&self.top, "", &self.doc, self.dir())
    }

    /// An environment built from whatever of its values are valid, with the
    /// problems of its own table (not the top level's).
    pub fn environment_lenient(
        &self,
        name: &str,
    ) -> Result<(Environment, Vec<Diagnostic>), ConfigError> {
        let (top, top_problems) = self.top_level();
        self.lenient_over(name, top, &top_problems)
    }

    /// [`Config::environment_lenient`] over a top level already validated.
    fn lenient_over(
        &self,
        name: &str,
        top: Settings,
        top_problems: &[Diagnostic],
    ) -> Result<(Environment, Vec<Diagnostic>), ConfigError> {
        let (own, mut problems) = match self.lookup(name)? {
            Some(Err(shape)) => return Err(ConfigError::Invalid(shape.clone())),
            Some(Ok(table)) => {
                let prefix = format!("env.{name}.");
                settings::validate(table.get_ref(), &prefix, &self.doc, self.dir())
            }
            // A file without environments is one: its top level.
            None => (Settings::default(), Vec::new()),
        };
        let environment = Environment {
            name: name.to_owned(),
            at: self.env_place(name),
            settings: own.over(top),
        };
        let settings = &environment.settings;
        // A `prometheus` written wrong is its own problem, not a missing one.
        let server_invalid = problems
            .iter()
            .chain(top_problems)
            .any(|p| p.place.setting() == "prometheus");
        if let (Some(auth), None, false) = (
            &settings.prometheus_auth,
            &settings.prometheus,
            server_invalid,
        ) {
            problems.push(self.doc.diagnostic(
                auth.at.clone(),
                format!(
                    "credentials without a server: env `{name}` sets no `prometheus` URL for \
                     them to go to"
                ),
            ));
        }
        // The window the file gives must be one gate watch can run; a flag
        // can still change it, and is checked again then.
        if let Some(window) = &settings.watch.window {
            let interval = settings
                .watch
                .interval
                .as_ref()
                .map_or(crate::watch::DEFAULT_INTERVAL, |i| i.value);
            if let Err(reason) = crate::watch::Schedule::new(interval, window.value) {
                problems.push(self.doc.diagnostic(window.at.clone(), reason));
            }
        }
        if let (Some(key), None) = (&settings.client_key, &settings.client_cert) {
            problems.push(self.doc.diagnostic(
                key.at.clone(),
                format!(
                    "a key without a certificate: env `{name}` sets no `client_cert` for it to \
                     go with"
                ),
            ));
        }
        Ok((environment, problems))
    }

    /// An environment whose values are all valid (top level included).
    pub fn environment(&self, name: &str) -> Result<Environment, ConfigError> {
        let (top, top_problems) = self.top_level();
        let (environment, mut problems) = match self.lenient_over(name, top, &top_problems) {
            Ok(lenient) => lenient,
            Err(ConfigError::Invalid(shape)) => {
                let mut problems: Vec<_> = top_problems.into_iter().chain(shape).collect();
                tidy(&mut problems);
                return Err(ConfigError::Invalid(problems));
            }
            Err(other) => return Err(other),
        };
        problems.extend(top_problems);
        tidy(&mut problems);
        if problems.is_empty() {
            Ok(environment)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// `retry_interval` with no retries to wait between in the file, and
    /// no `--retry` (`retry_flag`) to decide them: judged where the flag is
    /// known (a run) or where only the file counts (`gate config check`).
    pub fn retry_interval_problem(
        &self,
        environment: &Environment,
        retry_flag: Option<u32>,
    ) -> Option<Diagnostic> {
        // `--retry N` decides the retries, `--retry 0` included (each check
        // once): the file's interval is then the flag's to use or not.
        if retry_flag.is_some() {
            return None;
        }
        let settings = &environment.settings;
        let retries = settings.retry.as_ref().map_or(0, |r| r.value);
        let interval = settings.retry_interval.as_ref()?;
        (retries == 0).then(|| {
            self.doc.diagnostic(
                interval.at.clone(),
                format!(
                    "an interval without retries: env `{}` sets no `retry` (or `retry = 0`), so \
                     there is nothing to wait between (unless a run gives --retry N)",
                    environment.name
                ),
            )
        })
    }

    /// The environment a run uses: the one asked for, else
    /// [`Config::default_env`].
    pub fn select(&self, requested: Option<&str>) -> Result<Environment, ConfigError> {
        self.environment(self.chosen(requested)?)
    }

    /// The name of the environment a run uses: the one asked for, else
    /// [`Config::default_env`].
    pub fn chosen<'a>(&'a self, requested: Option<&'a str>) -> Result<&'a str, ConfigError> {
        requested
            .or(self.default_env())
            .ok_or_else(|| ConfigError::NoEnvChosen {
                file: self.doc.file.clone(),
                known: self.known(),
            })
    }

    /// Whether the file has `[env.NAME]` tables, or is one environment.
    pub fn has_env_tables(&self) -> bool {
        !self.envs.is_empty()
    }

    /// Files an environment needs that are missing, as diagnostics.
    pub fn check_files(&self, environment: &Environment) -> Vec<Diagnostic> {
        environment.settings.check_files(&self.doc)
    }

    /// Settings the environment uses that this gate cannot honour.
    pub fn unsupported(&self, environment: &Environment) -> Vec<Diagnostic> {
        environment
            .settings
            .unsupported(&environment.name)
            .into_iter()
            .map(|(place, message)| self.doc.diagnostic(place, message))
            .collect()
    }

    /// A problem at a known place, e.g. a policy that does not load.
    pub fn diagnostic(&self, place: Place, message: impl Into<String>) -> Diagnostic {
        self.doc.diagnostic(place, message)
    }

    /// The environment's secrets, keyed as policies ask for them
    /// ([`crate::caps::context::secret_key`]); every required one that is
    /// missing is an error.
    pub fn read_secrets(
        &self,
        environment: &Environment,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, spec) in &environment.settings.secrets {
            match spec.value.read(name) {
                Some(value) => {
                    values.insert(crate::caps::context::secret_key(name), value);
                }
                None if spec.value.required => missing.push(MissingSecret {
                    file: self.doc.file.clone(),
                    env: environment.name.clone(),
                    name: name.clone(),
                    variable: spec.value.variable(name),
                    at: spec.at.clone(),
                }),
                None => {}
            }
        }
        if missing.is_empty() {
            Ok(values)
        } else {
            Err(ConfigError::MissingSecrets(missing))
        }
    }
}

#[cfg(test)]
mod tests;
