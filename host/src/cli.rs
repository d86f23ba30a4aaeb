//! Command-line definitions (clap), kept apart from what the commands do.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::grants::{AllowedHost, PrometheusAuthSpec};
use crate::integrity::{KeySource, ShaFlag};
use crate::report::{Format, ReportFile, ReportFormat};
use crate::units::{parse_delay, parse_duration, parse_size};

/// `gate --version`: gate's own, and the contract of the policies it runs,
/// which is what decides whether a policy runs on it.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (runs policies of gate:policy@",
    crate::policy::wit_version_text!(),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "gate",
    version = VERSION,
    about = "Runs sandboxed WebAssembly promotion gates, rollback triggers and smoke tests against a deployed stack",
    after_help = "Exit codes: 0 pass (promote), 1 fail (do not promote), 2 gate could not run, 3 inconclusive."
)]
pub struct Cli {
    /// More diagnostics on stderr (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print only the verdict (run, watch, test, config check).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// When to colour human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// The gate.toml to read [default: ./gate.toml when it exists].
    #[arg(long, global = true, env = "GATE_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `-q` keeps a verdict alone; a command that gives none refuses it
    /// rather than ignore it, so nobody counts on a quiet it does not keep.
    pub fn quiet_problem(&self) -> Option<String> {
        if !self.quiet {
            return None;
        }
        let name = match &self.command {
            Command::Run(_) | Command::Watch(_) | Command::Test(_) | Command::Config(_) => {
                return None;
            }
            Command::Inspect(_) => "inspect",
            Command::Env(_) => "env",
            Command::Log(_) => "log",
            Command::Verify(_) => "verify",
            Command::Sign(_) => "sign",
            Command::Keygen(_) => "keygen",
            Command::New(_) => "new",
            Command::Build(_) => "build",
            Command::Cache(_) => "cache",
            Command::Completions(_) => "completions",
        };
        Some(format!(
            "-q prints a verdict alone, and `gate {name}` gives none: drop -q (run, watch, test \
             and config check take it)"
        ))
    }
}

// Deferred: a subcommand's arguments are built only when it is the one
// given, so `gate run` does not build the whole tree of every other
// command first (~0.1 ms of every run's start-up; BENCHMARKS.md).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Run policies against a stack and decide: pass, fail or inconclusive.
    // Boxed: it is far larger than the other commands' arguments.
    Run(Box<RunArgs>),
    /// Show what a policy is: its checks, contract version, imports, sha256.
    Inspect(InspectArgs),
    /// Validate gate.toml.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show the environments gate.toml defines and what each grants.
    #[command(subcommand)]
    Env(EnvCommand),
    /// Run a rollback trigger round after round over a bake window; roll
    /// back (exit 1) on a breach.
    Watch(Box<WatchArgs>),
    /// Read a decision log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Check a policy's minisign signature (and sha256) without running it.
    Verify(VerifyArgs),
    /// Sign policies with a minisign secret key: writes POLICY.minisig.
    Sign(SignArgs),
    /// Create a minisign key pair to sign policies with.
    Keygen(KeygenArgs),
    /// Replay a policy against fixtures recorded with `gate run --record`,
    /// with no network, and compare its outcomes with their expectations.
    Test(crate::replay::TestArgs),
    /// Scaffold a new policy crate that depends on gate-sdk.
    New(crate::scaffold::NewArgs),
    /// Build a policy crate for wasm32-wasip2 (release, size-optimised)
    /// and write NAME.wasm beside its Cargo.toml.
    Build(crate::scaffold::BuildArgs),
    /// Show or clear the compile cache (precompiled policies).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print a shell completion script for gate: `gate completions bash`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "Load it in the running shell, or install it for good:
  bash:  source <(gate completions bash)
         gate completions bash > ~/.local/share/bash-completion/completions/gate
  zsh:   gate completions zsh > ~/.zfunc/_gate   (with fpath+=(~/.zfunc) before compinit)
  fish:  gate completions fish > ~/.config/fish/completions/gate.fish")]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `gate completions SHELL`: the script on stdout. Written whole from a
/// buffer, since clap_complete panics on a failed write, and a closed pipe
/// (`gate completions bash | head`) is not an error worth one.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<i32> {
    use clap::CommandFactory;
    use std::io::Write;

    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "gate", &mut script);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&script).and_then(|()| stdout.flush());
    Ok(crate::verdict::EXIT_PASS)
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Where the cache is, whether gate uses it, and what it holds.
    Info(CacheDirArgs),
    /// Remove every precompiled policy from the cache.
    Clear(CacheDirArgs),
}

#[derive(Debug, Args)]
pub struct CacheDirArgs {
    /// The cache directory [default: $XDG_CACHE_HOME/gate, else ~/.cache/gate].
    #[arg(long = "cache-dir", env = "GATE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

// How policies are compiled and instantiated. (Not a doc comment: clap
// would make it the `about` of every command that flattens these, over
// the command's own once its arguments are deferred.)
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Where precompiled policies are kept [default: $XDG_CACHE_HOME/gate, else ~/.cache/gate].
    #[arg(long = "cache-dir", env = "GATE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile every policy; neither read nor write the compile cache.
    #[arg(long = "no-cache")]
    pub no_cache: bool,

    /// Instance allocator: `on` reserves memory for every concurrent check up
    /// front and reuses it, `off` maps memory per check.
    #[arg(long, value_enum, default_value_t = Pooling::Auto, value_name = "WHEN")]
    pub pooling: Pooling,
}

impl Default for EngineArgs {
    fn default() -> Self {
        EngineArgs {
            cache_dir: None,
            no_cache: false,
            pooling: Pooling::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pooling {
    /// Pooling when it pays (see the README), falling back to `off` when the
    /// memory cannot be reserved.
    Auto,
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check gate.toml: keys, URLs, durations, sizes, policy files, sha256
    /// pins, and that each environment grants what its policies need.
    Check(ConfigCheckArgs),
}

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// Check only this environment (and the top-level settings).
    #[arg(long, value_name = "NAME", value_parser = parse_env_name)]
    pub env: Option<String>,

    /// The compile cache of the runs checked: a policy is loaded (and its
    /// code cached) as a run would.
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List the environments, one line each.
    List(EnvListArgs),
    /// Print one environment's resolved settings and where each comes from.
    Show(EnvShowArgs),
}

#[derive(Debug, Args)]
pub struct EnvListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct EnvShowArgs {
    /// The environment, as named in gate.toml (`[env.NAME]`).
    #[arg(value_name = "NAME", value_parser = parse_env_name)]
    pub name: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

// Where policies may reach: the flags `gate run` grants with and `gate
// inspect` shows the blast radius of. (Not a doc comment, as EngineArgs.)
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// Base URL of the stack under test; its origin is allowed for HTTP.
    // Values hidden from --help: a URL may carry credentials or a token.
    #[arg(long, env = "GATE_TARGET", hide_env_values = true, value_name = "URL", value_parser = UrlArg(parse_target))]
    pub target: Option<Url>,

    /// Allow HTTP to another host: `host` (ports 80/443), `host:port`, or
    /// `https://host:port`. Repeatable.
    #[arg(long = "allow-host", value_name = "HOST", value_parser = AllowedHost::parse)]
    pub allow_hosts: Vec<AllowedHost>,

    /// Prometheus server the metrics capability queries (base URL).
    #[arg(long, env = "GATE_PROMETHEUS", hide_env_values = true, value_name = "URL", value_parser = UrlArg(parse_prometheus))]
    pub prometheus: Option<Url>,
}

/// Most further attempts `--retry` (and gate.toml's `retry`) may ask for.
pub const MAX_RETRIES: u32 = 100;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Policy components (.wasm) to run; their checks decide one verdict.
    /// Without any, the policies the environment lists in gate.toml.
    #[arg(value_name = "POLICY")]
    pub policies: Vec<PathBuf>,

    #[command(flatten)]
    pub grants: GrantArgs,

    /// Credentials for --prometheus from a secret: `bearer:NAME` (the secret
    /// is the token) or `basic:NAME` (the secret is `user:password`).
    #[arg(long = "prometheus-auth", value_name = "KIND:SECRET", value_parser = PrometheusAuthSpec::parse, requires = "prometheus")]
    pub prometheus_auth: Option<PrometheusAuthSpec>,

    /// Grant read-only Docker engine queries: `--docker` alone for
    /// DOCKER_HOST or the default socket, or `--docker unix:///PATH` /
    /// `--docker tcp://HOST:PORT`.
    #[arg(long, value_name = "URI", num_args = 0..=1, value_parser = docker_host)]
    pub docker: Option<Option<Url>>,

    /// Trust this PEM file's CA certificates, besides the system roots, for
    /// https requests, TLS checks and Prometheus (repeatable).
    #[arg(long = "ca-file", value_name = "PATH")]
    pub ca_files: Vec<PathBuf>,

    /// Present this PEM client certificate (chain, leaf first) to any server
    /// that asks for one in an https request (policies', Prometheus,
    /// webhooks; TLS checks present none); its key may be in the same file.
    #[arg(long = "client-cert", value_name = "PATH")]
    pub client_cert: Option<PathBuf>,

    /// The private key of --client-cert (PEM, unencrypted), when it is not
    /// in the certificate's file.
    #[arg(long = "client-key", value_name = "PATH", requires = "client_cert")]
    pub client_key: Option<PathBuf>,

    /// Environment: its settings in gate.toml, and the name the policy sees
    /// [default: gate.toml's default_env, else `default`].
    #[arg(long, value_name = "NAME", value_parser = parse_env_name)]
    pub env: Option<String>,

    /// The release being judged (a tag, a commit, a build number): given to
    /// policies (prod's `image-tag` and bluegreen's `standby-tag` expect it
    /// as the image tag unless `expected_tag` says otherwise), named in the
    /// report, the webhook's message, the rollback command's GATE_RELEASE
    /// and the decision log, where `gate log stats` counts the releases each
    /// environment passed and measures their lead time.
    #[arg(long, env = "GATE_RELEASE", value_name = "ID", value_parser = parse_release)]
    pub release: Option<String>,

    /// When the release's last change was committed: an RFC 3339 timestamp
    /// (`git log -1 --format=%cI`) or Unix seconds (`--format=%ct`), at
    /// most a day ahead of this machine's clock.
    #[arg(long = "committed-at", env = "GATE_COMMITTED_AT", value_name = "WHEN", value_parser = parse_commit_time, requires = "release")]
    pub committed_at: Option<u64>,

    /// Run only the checks this names: `NAME`, `POLICY/NAME`, `*` matching
    /// any run of characters (`http-*`); repeatable. The verdict then covers
    /// those checks alone, and says so.
    #[arg(long = "check", value_name = "NAME", value_parser = crate::selection::CheckPattern::parse)]
    pub checks: Vec<crate::selection::CheckPattern>,

    /// Leave out the checks this names (the same forms as --check);
    /// repeatable. The verdict then covers the rest alone, and says so.
    #[arg(long = "skip-check", value_name = "NAME", value_parser = crate::selection::CheckPattern::parse)]
    pub skip_checks: Vec<crate::selection::CheckPattern>,

    /// A parameter for the policy (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    /// Fail a blocking check that was skipped for want of a capability.
    #[arg(long)]
    pub strict: bool,

    /// Checks run at once at most: 4 start at once, then ramped up to 1 ms
    /// a check while none ends [default: all, up to 16].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,

    /// Deadline of each check, host calls included [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Memory cap of each check [default: 64MiB].
    #[arg(long = "memory-limit", value_name = "SIZE", value_parser = parse_memory)]
    pub memory_limit: Option<u64>,

    /// Set a limit of each check, repeatable: `host_calls=5000`,
    /// `wasm_stack=256KiB`, `compile_timeout=20s` (keys as in gate.toml's
    /// [limits]).
    #[arg(long = "limit", value_name = "KEY=VALUE", value_parser = crate::limits::parse_flag)]
    pub limits: Vec<(String, String)>,

    /// Run only if the policy's sha256 is HEX; with several policies,
    /// PATH=HEX pins one. Repeatable.
    #[arg(long = "sha256", value_name = "[PATH=]HEX", value_parser = ShaFlag::parse)]
    pub sha256: Vec<ShaFlag>,

    /// Run only policies signed by this minisign public key (a .pub file,
    /// or the key itself): each needs POLICY.minisig, or the signature
    /// gate.toml names.
    #[arg(long = "verify-key", value_name = "PUB", value_parser = KeySource::parse)]
    pub verify_key: Option<KeySource>,

    /// Append each decision as one JSON line to this file.
    #[arg(long = "decision-log", value_name = "PATH")]
    pub decision_log: Option<PathBuf>,

    /// Report format on stdout.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,

    /// Also write the report in FORMAT (human, json, junit, tap, markdown)
    /// to PATH; repeatable.
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = ReportFile::parse)]
    pub reports: Vec<ReportFile>,

    /// Post the verdict to this Slack- or Discord-compatible webhook
    /// (overrides gate.toml's `webhook`).
    #[arg(long, value_name = "URL", value_parser = UrlArg(parse_target))]
    pub notify: Option<Url>,

    #[command(flatten)]
    pub engine: EngineArgs,

    /// Record every host call, its answer (secrets redacted) and each
    /// check's outcome to this fixture, for `gate test` (gate run only).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Run a check that ended fail, error or inconclusive again, up to N
    /// more times, each in a fresh sandbox, until it passes: for a stage
    /// still rolling out right after its deploy (gate run only; 0 runs each
    /// check once whatever gate.toml's retry says).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=MAX_RETRIES as i64), conflicts_with = "record")]
    pub retry: Option<u32>,

    /// Time between a check's attempts with --retry [default: 1s].
    #[arg(long = "retry-interval", value_name = "DURATION", value_parser = parse_duration)]
    pub retry_interval: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("window").args(["count", "duration"])))]
pub struct WatchArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// Time between the starts of two rounds [default: gate.toml's
    /// watch.interval, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// Number of rounds in the window (this, --duration or gate.toml's
    /// watch.count or watch.duration is required).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::watch::MAX_ROUNDS)))]
    pub count: Option<u32>,

    /// Length of the window: as many rounds as whole intervals fit in it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Wait this long before the first round, once the policies are loaded
    /// and checked: time for the new version's metrics to build up (Argo
    /// Rollouts' initialDelay). The window starts after it. 0 for none,
    /// whatever gate.toml's watch.initial_delay says.
    #[arg(long = "initial-delay", value_name = "DURATION", value_parser = parse_delay)]
    pub initial_delay: Option<Duration>,

    /// Roll back when failed rounds exceed this [default: 0].
    #[arg(long = "failure-limit", value_name = "F")]
    pub failure_limit: Option<u32>,

    /// End inconclusive (exit 3) when inconclusive rounds exceed this
    /// [default: 0].
    #[arg(long = "inconclusive-limit", value_name = "I")]
    pub inconclusive_limit: Option<u32>,

    /// Roll back when consecutive errored rounds exceed this [default: 2].
    #[arg(long = "consecutive-error-limit", value_name = "E")]
    pub consecutive_error_limit: Option<u32>,

    /// Run this through `sh -c` once on rollback, with GATE_DECISION,
    /// GATE_POLICY, GATE_ENV, GATE_FAILED_CHECKS and GATE_REPORT set
    /// [default: gate.toml's watch.on_rollback, else none]. '' runs
    /// nothing, whatever gate.toml says.
    #[arg(long = "on-rollback", value_name = "CMD")]
    pub on_rollback: Option<String>,

    /// Longest the rollback command may run; past it, the command and
    /// every process it started are stopped and the rollback reported
    /// FAILED [default: gate.toml's watch.rollback_timeout, else 10m].
    #[arg(long = "rollback-timeout", value_name = "DURATION", value_parser = parse_duration)]
    pub rollback_timeout: Option<Duration>,

    /// Post the decision to this Slack- or Discord-compatible webhook
    /// (overrides gate.toml's `webhook`); the same as --notify.
    #[arg(long, value_name = "URL", value_parser = UrlArg(parse_target), conflicts_with = "notify")]
    pub webhook: Option<Url>,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Runs, pass rate, rollbacks, change failure rate, mean time to
    /// restore, releases passed and lead time, per environment, from a
    /// decision log; and how many rollback commands ran and failed.
    Stats(LogStatsArgs),
    /// What was decided, a line per decision and per rollback command,
    /// oldest first.
    Show(LogShowArgs),
}

/// Which decision log, and which of its lines.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The decision log (--decision-log PATH of gate run / gate watch), or
    /// `-` for standard input [default: the decision_log of gate.toml's
    /// environment].
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// Only this environment's lines (`stats` still takes a release's
    /// commit time from a line of any environment); without PATH, read the
    /// decision_log it has in gate.toml [default: every environment, from
    /// the log of gate.toml's default_env, else of its environment
    /// `default`].
    #[arg(long, value_name = "NAME", value_parser = parse_env_name)]
    pub env: Option<String>,

    /// Only what was decided from then on: a date (2026-11-01, UTC), an
    /// RFC 3339 timestamp (2026-11-01T12:00:00Z) or an age (30d, 12h, 90m).
    #[arg(long, value_name = "WHEN", value_parser = parse_moment)]
    pub since: Option<u64>,

    /// Only what was decided before then, in the same forms.
    #[arg(long, value_name = "WHEN", value_parser = parse_moment)]
    pub until: Option<u64>,
}

#[derive(Debug, Args)]
pub struct LogStatsArgs {
    #[command(flatten)]
    pub log: LogArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct LogShowArgs {
    #[command(flatten)]
    pub log: LogArgs,

    /// Only the last N lines.
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub last: Option<u32>,

    /// Output format: `json` is an array of the lines, as this gate reads
    /// them.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Policy component (.wasm).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    /// Show what this environment of gate.toml would grant the policy
    /// [default: gate.toml's default_env, else its environment `default`].
    #[arg(long, value_name = "NAME", value_parser = parse_env_name)]
    pub env: Option<String>,

    /// What a run would grant (as for `gate run`).
    #[command(flatten)]
    pub grants: GrantArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Policy component (.wasm).
    #[arg(value_name = "POLICY")]
    pub policy: PathBuf,

    /// The trusted minisign public key: a .pub file, or the key itself.
    #[arg(long = "verify-key", value_name = "PUB", value_parser = KeySource::parse)]
    pub verify_key: KeySource,

    /// The detached signature [default: POLICY.minisig].
    #[arg(long, value_name = "SIG")]
    pub signature: Option<PathBuf>,

    /// Also require this sha256 (64 hex digits).
    #[arg(long = "sha256", value_name = "HEX", value_parser = crate::integrity::parse_sha256)]
    pub sha256: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Policies to sign; each gets POLICY.minisig beside it.
    #[arg(value_name = "POLICY", required = true)]
    pub policies: Vec<PathBuf>,

    /// The minisign secret key (`gate keygen`, `minisign -G`); an encrypted
    /// one is opened with GATE_SIGNING_PASSWORD.
    #[arg(long = "secret-key", value_name = "KEY")]
    pub secret_key: PathBuf,

    /// The signed comment [default: timestamp and file name, as minisign].
    #[arg(long = "trusted-comment", value_name = "TEXT")]
    pub trusted_comment: Option<String>,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the public key (give it to `gate run --verify-key`).
    #[arg(long = "public-key", value_name = "PATH", default_value = "gate.pub")]
    pub public_key: PathBuf,

    /// Where to write the secret key; encrypted with GATE_SIGNING_PASSWORD.
    #[arg(long = "secret-key", value_name = "PATH", default_value = "gate.key")]
    pub secret_key: PathBuf,

    /// Write the secret key unencrypted (`minisign -W`), for a CI secret
    /// store that protects it.
    #[arg(long = "no-password")]
    pub no_password: bool,

    /// Replace existing key files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set.
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether output to a stream that is a terminal (or not) is coloured.
    pub fn enabled(self, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// `--docker`'s optional URI. The value is optional, so `gate run --docker
/// policies/prod.wasm` reads the policy as the engine's address: say so,
/// rather than only that it is no Docker host.
fn docker_host(text: &str) -> Result<Url, String> {
    let looks_like_a_policy =
        !text.contains("://") && (text.ends_with(".wasm") || std::path::Path::new(text).is_file());
    if looks_like_a_policy {
        return Err(format!(
            "`{text}` is a policy, not a Docker host: --docker takes an optional URI, so put it \
             after the policy paths (gate run POLICY... --docker) or give the engine's URI"
        ));
    }
    crate::caps::docker::parse_host(text)
}

/// `--env NAME`: a name gate.toml could give an environment.
fn parse_env_name(text: &str) -> Result<String, String> {
    match crate::config::env_name_problem(text) {
        Some(problem) => Err(problem),
        None => Ok(text.to_owned()),
    }
}

/// `--release`: a name for the log and the stats table, not a document.
pub(crate) fn parse_release(text: &str) -> Result<String, String> {
    const MAX: usize = 200;
    let text = text.trim();
    if text.is_empty() {
        return Err("the release is empty: give its tag, commit or build number".into());
    }
    if text.len() > MAX {
        return Err(format!(
            "the release is {} bytes long, above {MAX}",
            text.len()
        ));
    }
    // Nor a character XML 1.0 forbids: the JUnit report names it.
    if text
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}'))
    {
        return Err(
            "the release holds a control character, or U+FFFE or U+FFFF, which XML forbids".into(),
        );
    }
    Ok(text.to_owned())
}

fn parse_commit_time(text: &str) -> Result<u64, String> {
    crate::units::parse_commit_time(text, unix_now())
}

/// `--since` and `--until`, in Unix seconds; an age counts back from now.
fn parse_moment(text: &str) -> Result<u64, String> {
    crate::units::parse_moment(text, unix_now())
}

fn unix_now() -> u64 {
    crate::units::unix_seconds(std::time::SystemTime::now())
}

/// A base URL: the stack's (`--target`), a webhook's.
pub(crate) fn parse_target(text: &str) -> Result<Url, String> {
    parse_http_url(
        text,
        "credentials in the URL are refused: give them to policies as a secret \
         (GATE_SECRET_<NAME>)",
        "",
    )
}

/// Prometheus's base URL, whose credentials have a flag of their own.
pub(crate) fn parse_prometheus(text: &str) -> Result<Url, String> {
    parse_http_url(
        text,
        "credentials in the Prometheus URL are refused: give them with \
         --prometheus-auth basic:NAME (the secret GATE_SECRET_<NAME> holds user:password)",
        "",
    )
}

/// An http(s) URL with a host and no credentials. Its errors never repeat
/// the text, which may hold a password or a webhook's token (and come from
/// a CI secret into a CI log): they say what is wrong, and name at most its
/// scheme. Credentials are looked for first, in the text as written, so
/// that no other complaint about a URL holding them comes first.
pub(crate) fn parse_http_url(text: &str, no_credentials: &str, hint: &str) -> Result<Url, String> {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    if authority.contains('@') {
        return Err(no_credentials.to_owned());
    }
    let url = Url::parse(text.trim()).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            format!("the URL has no scheme: write it https://HOST…{hint}")
        }
        url::ParseError::EmptyHost => format!("the URL has no host: write it https://HOST…{hint}"),
        e => format!("the URL is not one: {e}{hint}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        // `localhost:8080` parses as the scheme `localhost`: say what was
        // meant (host and port only: a path may hold a token).
        let (host, rest) = text.trim().split_once(':').unwrap_or_default();
        let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[port.len()..];
        if !host.is_empty() && !port.is_empty() && (after.is_empty() || after.starts_with('/')) {
            return Err(format!(
                "the URL has no scheme: write it http://{host}:{port}… or https://{host}:{port}…{hint}"
            ));
        }
        return Err(format!(
            "the URL must be http:// or https:// with a host, not {}:…{hint}",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(no_credentials.to_owned());
    }
    Ok(url)
}

/// A URL flag's parser whose errors do not repeat the value, as clap's own
/// would: a refused URL may hold a password, and `GATE_TARGET` or
/// `GATE_PROMETHEUS` may come from a CI secret into a CI log. The parser's
/// message says what is wrong.
#[derive(Clone)]
struct UrlArg(fn(&str) -> Result<Url, String>);

impl clap::builder::TypedValueParser for UrlArg {
    type Value = Url;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Url, clap::Error> {
        let flag = arg.map_or_else(|| "URL".to_owned(), ToString::to_string);
        let parsed = match value.to_str() {
            Some(text) => (self.0)(text),
            None => Err("the URL is not UTF-8".to_owned()),
        };
        parsed.map_err(|why| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '{flag}': {why}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("`{text}` has an empty key"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

pub(crate) fn parse_memory(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    // Below one wasm page nothing runs; above 4 GiB a 32-bit guest cannot use it.
    if !(64 << 10..=4 << 30).contains(&bytes) {
        return Err(format!("`{text}` must be between 64KiB and 4GiB"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn deferred_commands_keep_their_own_about() {
        // Deferred arguments are added after a command's own `about`: a
        // doc comment on a flattened struct would silently replace it.
        let mut cli = Cli::command();
        cli.build();
        let about = |name: &str| {
            let command = cli.find_subcommand(name).unwrap();
            command.get_about().map(ToString::to_string)
        };
        assert_eq!(
            about("run").as_deref(),
            Some("Run policies against a stack and decide: pass, fail or inconclusive")
        );
        assert_eq!(
            about("inspect").as_deref(),
            Some("Show what a policy is: its checks, contract version, imports, sha256")
        );
        assert!(
            about("watch")
                .unwrap()
                .starts_with("Run a rollback trigger round after round")
        );
    }

    #[test]
    fn params_and_targets() {
        assert_eq!(parse_param("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_param("novalue").is_err());
        assert!(parse_target("ftp://x").is_err());
        assert!(parse_target("http://u:p@x").is_err());
        let refused = parse_prometheus("http://u:p@x").unwrap_err();
        assert!(
            refused.contains("--prometheus-auth basic:NAME"),
            "{refused}"
        );
        assert!(!refused.contains("u:p"), "{refused}");
        assert!(parse_target("http://127.0.0.1:8080").is_ok());
        // HOST:PORT parses as the scheme HOST: the error says what was meant,
        // and never repeats a path.
        for (given, meant) in [
            (
                "localhost:8080",
                "http://localhost:8080… or https://localhost:8080…",
            ),
            (
                "stage.example.com:443/t0k3n",
                "http://stage.example.com:443…",
            ),
        ] {
            let why = parse_target(given).unwrap_err();
            assert!(why.starts_with("the URL has no scheme: write it"), "{why}");
            assert!(why.contains(meant) && !why.contains("t0k3n"), "{why}");
        }
        assert!(
            parse_target("mailto:ops")
                .unwrap_err()
                .contains("not mailto:…")
        );
        assert!(
            parse_target("http://")
                .unwrap_err()
                .starts_with("the URL has no host: write it https://HOST…"),
        );
        assert!(parse_memory("1KiB").is_err());
        assert_eq!(parse_memory("64MiB"), Ok(64 << 20));
    }

    #[test]
    fn docker_before_the_policies_says_where_it_goes() {
        let error = Cli::try_parse_from(["gate", "run", "--docker", "policies/prod.wasm"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("is a policy, not a Docker host"), "{error}");
        assert!(error.contains("after the policy paths"), "{error}");
        let cli =
            Cli::try_parse_from(["gate", "run", "p.wasm", "--docker", "unix:///d.sock"]).unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(
            args.docker,
            Some(Some(Url::parse("unix:///d.sock").unwrap()))
        );
        assert!(docker_host("tcp://").is_err());
    }

    #[test]
    fn releases_are_names() {
        assert_eq!(parse_release(" v1.4.2 ").as_deref(), Ok("v1.4.2"));
        assert_eq!(
            parse_release(" ").unwrap_err(),
            "the release is empty: give its tag, commit or build number"
        );
        assert_eq!(
            parse_release(&"a".repeat(201)).unwrap_err(),
            "the release is 201 bytes long, above 200"
        );
        assert!(parse_release(&"a".repeat(200)).is_ok());
        for controlled in ["v1\n\u{1b}[31m", "v1\u{fffe}"] {
            assert_eq!(
                parse_release(controlled).unwrap_err(),
                "the release holds a control character, or U+FFFE or U+FFFF, which XML forbids"
            );
        }
        // --committed-at is about a release: alone, clap refuses it.
        let alone = Cli::try_parse_from(["gate", "run", "p.wasm", "--committed-at", "1000000000"]);
        assert!(alone.unwrap_err().to_string().contains("--release <ID>"));
    }

    #[test]
    fn env_names_are_checked_on_the_command_line() {
        for command in [
            vec!["gate", "run", "p.wasm", "--env", "a b"],
            vec!["gate", "log", "stats", "--env", "*"],
            vec!["gate", "env", "show", "x\u{1b}"],
        ] {
            let error = Cli::try_parse_from(&command).unwrap_err().to_string();
            assert!(
                error.contains("is not an environment name"),
                "{command:?}: {error}"
            );
        }
        assert!(Cli::try_parse_from(["gate", "run", "p.wasm", "--env", "stage-eu"]).is_ok());
    }
}
