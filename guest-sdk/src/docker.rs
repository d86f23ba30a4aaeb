//! Read-only Docker engine queries (the engine the run grants with
//! `--docker`), and the judgements promotion gates make of them.
//!
//! A check that uses them should declare
//! [`Capability::Docker`](crate::Capability::Docker): without `--docker` it
//! is then `skipped`, saying what to grant, instead of erroring.
//!
//! Helpers for Docker Compose stacks:
//!
//! * [`compose_healthy`]: every container of a project is running and, when
//!   it has a health check, healthy. [`compose_healthy_with_jobs`] does the
//!   same for a project with one-shot services (a `migrate` job that runs
//!   and exits, what compose's `depends_on: condition:
//!   service_completed_successfully` waits for): their containers must have
//!   exited with code 0 instead.
//! * [`image_tag_is`]: a service runs the image tag that passed stage.
//! * [`resources_within`]: CPU and memory of every running container are
//!   below their limits.
//!
//! Each reads the engine, then decides in a plain function
//! ([`judge_health`], [`judge_health_with_jobs`], [`judge_image_tag`],
//! [`judge_resources`]) that native unit tests can call with hand-built
//! [`Container`]s.
//!
//! ```no_run
//! use gate_sdk::{docker, CheckResult, Result};
//!
//! fn containers() -> Result<CheckResult> {
//!     docker::compose_healthy("shop")
//! }
//!
//! /// The same, where service `migrate` runs the migrations and exits.
//! fn containers_after_migrations() -> Result<CheckResult> {
//!     docker::compose_healthy_with_jobs("shop", &["migrate"])
//! }
//! ```

use core::fmt;

use crate::result::format_against;
use crate::{CheckResult, Limit, Measurement, Outcome, Result};

/// The label Docker Compose puts the project name in.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// The label Docker Compose puts the service name in.
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// Which containers [`list`] returns; every field given must match.
///
/// ```
/// use gate_sdk::docker::Filter;
///
/// let filter = Filter::compose_project("shop").label("tier=web").all();
/// assert_eq!(filter.compose_project.as_deref(), Some("shop"));
/// assert_eq!(filter.labels, ["tier=web"]);
/// assert!(filter.all);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The Docker Compose project.
    pub compose_project: Option<String>,
    /// Labels, each `key` (present) or `key=value`.
    pub labels: Vec<String>,
    /// A name, or part of one.
    pub name: Option<String>,
    /// Stopped containers too.
    pub all: bool,
}

impl Filter {
    /// The containers of one compose project.
    ///
    /// ```
    /// let filter = gate_sdk::docker::Filter::compose_project("shop");
    /// assert!(!filter.all);
    /// ```
    pub fn compose_project(project: impl Into<String>) -> Filter {
        Filter {
            compose_project: Some(project.into()),
            ..Filter::default()
        }
    }

    /// Also requires a label, `key` or `key=value`.
    ///
    /// ```
    /// let filter = gate_sdk::docker::Filter::default().label("com.docker.compose.service=web");
    /// assert_eq!(filter.labels.len(), 1);
    /// ```
    pub fn label(mut self, label: impl Into<String>) -> Filter {
        self.labels.push(label.into());
        self
    }

    /// Also requires the name to contain `name`.
    ///
    /// ```
    /// let filter = gate_sdk::docker::Filter::default().name("web");
    /// assert_eq!(filter.name.as_deref(), Some("web"));
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Filter {
        self.name = Some(name.into());
        self
    }

    /// Includes stopped containers.
    ///
    /// ```
    /// assert!(gate_sdk::docker::Filter::default().all().all);
    /// ```
    pub fn all(mut self) -> Filter {
        self.all = true;
        self
    }
}

/// A container's state, as the engine names it.
///
/// ```
/// use gate_sdk::docker::State;
///
/// assert_eq!(State::Exited.to_string(), "exited");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Being restarted.
    Restarting,
    /// Being removed.
    Removing,
    /// Stopped.
    Exited,
    /// Dead: could not be stopped or removed cleanly.
    Dead,
    /// A state this SDK does not know.
    Unknown,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Unknown => "in an unknown state",
        })
    }
}

/// A container's health-check status.
///
/// ```
/// use gate_sdk::docker::HealthStatus;
///
/// assert_eq!(HealthStatus::Unhealthy.to_string(), "unhealthy");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthStatus {
    /// The container has no health check.
    None,
    /// Not yet decided.
    Starting,
    /// The last probes passed.
    Healthy,
    /// The probes failed `retries` times in a row.
    Unhealthy,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::None => "no health check",
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        })
    }
}

/// What the health check says.
///
/// ```
/// use gate_sdk::docker::{Health, HealthStatus};
///
/// let health = Health { status: HealthStatus::Healthy, ..Health::default() };
/// assert_eq!(health.failing_streak, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Consecutive failed probes.
    pub failing_streak: u32,
    /// What the last probe printed.
    pub last_output: Option<String>,
    /// The last probe's exit code.
    pub last_exit_code: Option<i64>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            status: HealthStatus::None,
            failing_streak: 0,
            last_output: None,
            last_exit_code: None,
        }
    }
}

/// The image a container runs.
///
/// ```
/// use gate_sdk::docker::Image;
///
/// let image = Image { name: "shop".into(), tag: Some("1.4.2".into()), id: "sha256:ab".into() };
/// assert_eq!(image.to_string(), "shop:1.4.2");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// Repository, e.g. `registry.example.com/shop`.
    pub name: String,
    /// Tag, when the container was created from a tag.
    pub tag: Option<String>,
    /// Image id, `sha256:…`.
    pub id: String,
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "{}:{tag}", self.name),
            None => write!(f, "{} ({})", self.name, self.id),
        }
    }
}

/// A published port.
///
/// ```
/// use gate_sdk::docker::Port;
///
/// let port = Port { container_port: 8080, protocol: "tcp".into(), host_ip: "127.0.0.1".into(), host_port: 18080 };
/// assert_eq!(port.host_port, 18080);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The port inside the container.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The host address it is published on.
    pub host_ip: String,
    /// The host port.
    pub host_port: u16,
}

/// A container as [`list`] gives it.
///
/// ```
/// use gate_sdk::docker::{State, Summary};
///
/// let summary = Summary { id: "ab12".into(), name: "shop-web-1".into(), image: "shop:1".into(),
///     state: State::Running, status: "Up 2 minutes".into(), labels: vec![] };
/// assert_eq!(summary.state, State::Running);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Container id.
    pub id: String,
    /// Name, without the leading `/`.
    pub name: String,
    /// The image as the container was created from it.
    pub image: String,
    /// State.
    pub state: State,
    /// The engine's words, e.g. `Up 5 minutes (healthy)`.
    pub status: String,
    /// Labels, sorted by key.
    pub labels: Vec<(String, String)>,
}

/// A container as [`inspect`] gives it.
///
/// ```
/// use gate_sdk::docker::{Container, State};
///
/// let web = Container::new("shop-web-1", State::Running);
/// assert_eq!(web.name, "shop-web-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Container id.
    pub id: String,
    /// Name, without the leading `/`.
    pub name: String,
    /// The image it runs.
    pub image: Image,
    /// State.
    pub state: State,
    /// Exit code of the last run; meaningful once it exited.
    pub exit_code: Option<i64>,
    /// Health check.
    pub health: Health,
    /// How often the engine restarted it.
    pub restart_count: u32,
    /// RFC 3339 time it last started.
    pub started_at: Option<String>,
    /// Compose project, when compose made it.
    pub compose_project: Option<String>,
    /// Compose service, when compose made it.
    pub compose_service: Option<String>,
    /// Labels, sorted by key.
    pub labels: Vec<(String, String)>,
    /// Published ports.
    pub ports: Vec<Port>,
}

impl Container {
    /// A container with only a name and a state, the rest empty: for tests
    /// of judgements.
    ///
    /// ```
    /// use gate_sdk::docker::{Container, State};
    ///
    /// let c = Container::new("web", State::Exited);
    /// assert!(c.health.last_output.is_none());
    /// ```
    pub fn new(name: impl Into<String>, state: State) -> Container {
        Container {
            id: String::new(),
            name: name.into(),
            image: Image::default(),
            state,
            exit_code: None,
            health: Health::default(),
            restart_count: 0,
            started_at: None,
            compose_project: None,
            compose_service: None,
            labels: Vec::new(),
            ports: Vec::new(),
        }
    }
}

/// One stats snapshot, as `docker stats` computes it.
///
/// ```
/// use gate_sdk::docker::Stats;
///
/// let stats = Stats { cpu_percent: 12.5, online_cpus: 2, memory_used: 64 << 20,
///     memory_limit: 256 << 20, memory_percent: 25.0 };
/// assert_eq!(stats.memory_percent, 25.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// CPU use in percent of one CPU (200 is two CPUs fully busy); NaN when
    /// it could not be measured: the engine had no earlier sample, did not
    /// say how many CPUs there are, or its usage counter went back (the
    /// container restarted between the samples).
    pub cpu_percent: f64,
    /// CPUs the container sees; 0 when the engine did not say.
    pub online_cpus: u32,
    /// Memory in use, page cache excluded, in bytes.
    pub memory_used: u64,
    /// The container's memory limit (the host's memory without one).
    pub memory_limit: u64,
    /// `memory_used` / `memory_limit` in percent; NaN when unknown.
    pub memory_percent: f64,
}

/// Why a Docker query failed; mirrors the WIT `docker-error`.
///
/// ```
/// use gate_sdk::docker::DockerError;
///
/// let error = DockerError::NotFound("No such container: web".into());
/// assert!(error.to_string().contains("web"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerError {
    /// The run grants no engine; the text says how.
    NotGranted(String),
    /// The engine could not be reached.
    Unreachable(String),
    /// No such container.
    NotFound(String),
    /// A malformed request.
    InvalidRequest(String),
    /// No answer within this many milliseconds.
    Timeout(u32),
    /// The engine answered with an error.
    Engine(String),
}

impl fmt::Display for DockerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerError::NotGranted(why) => write!(f, "docker denied: {why}"),
            DockerError::Unreachable(why) => f.write_str(why),
            DockerError::NotFound(why) => write!(f, "docker: {why}"),
            DockerError::InvalidRequest(why) => write!(f, "docker: invalid request: {why}"),
            DockerError::Timeout(ms) => {
                write!(f, "the Docker engine did not answer within {ms} ms")
            }
            DockerError::Engine(why) => write!(f, "docker: {why}"),
        }
    }
}

impl std::error::Error for DockerError {}

/// Lists containers.
///
/// ```no_run
/// use gate_sdk::docker::{self, Filter};
///
/// let running = docker::list(&Filter::compose_project("shop"))?;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn list(filter: &Filter) -> Result<Vec<Summary>> {
    Ok(crate::host::docker_list(filter)?)
}

/// One container, by id or name.
///
/// ```no_run
/// let web = gate_sdk::docker::inspect("shop-web-1")?;
/// gate_sdk::log::info(format!("{} runs {}", web.name, web.image));
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn inspect(container: &str) -> Result<Container> {
    Ok(crate::host::docker_inspect(container)?)
}

/// A stats snapshot of a running container (1 to 2 s: the engine samples
/// CPU twice), which counts against the check's deadline (`--timeout`).
///
/// ```no_run
/// let stats = gate_sdk::docker::stats("shop-web-1")?;
/// gate_sdk::log::info(format!("memory {:.1} %", stats.memory_percent));
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn stats(container: &str) -> Result<Stats> {
    Ok(crate::host::docker_stats(container)?)
}

/// Every container of compose project `project`, stopped ones too,
/// inspected, in name order.
///
/// ```no_run
/// let containers = gate_sdk::docker::compose_containers("shop")?;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn compose_containers(project: &str) -> Result<Vec<Container>> {
    let mut list = list(&Filter::compose_project(project).all())?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    list.iter().map(|c| inspect(&c.id)).collect()
}

/// Passes when every container of compose project `project` is running and
/// (when it has a health check) healthy. See [`judge_health`]; for a project
/// with one-shot services, [`compose_healthy_with_jobs`].
///
/// ```no_run
/// use gate_sdk::{docker, CheckResult, Result};
///
/// fn containers() -> Result<CheckResult> {
///     docker::compose_healthy("shop")
/// }
/// ```
pub fn compose_healthy(project: &str) -> Result<CheckResult> {
    compose_healthy_with_jobs(project, &[])
}

/// [`compose_healthy`] for a project with one-shot services: the containers
/// of the compose services named in `jobs` (a `migrate` or `seed` job) must
/// have exited with code 0, every other container must be running and
/// healthy. See [`judge_health_with_jobs`].
///
/// ```no_run
/// use gate_sdk::{docker, CheckResult, Result};
///
/// fn containers() -> Result<CheckResult> {
///     docker::compose_healthy_with_jobs("shop", &["migrate"])
/// }
/// ```
pub fn compose_healthy_with_jobs(project: &str, jobs: &[&str]) -> Result<CheckResult> {
    Ok(judge_health_with_jobs(
        project,
        &compose_containers(project)?,
        jobs,
    ))
}

/// The verdict of [`compose_healthy`] on containers already read: `fail`
/// naming each container that is not running (with its exit code) or not
/// healthy (with its last probe's output); `fail` when there is none at all.
/// It is [`judge_health_with_jobs`] with no jobs.
///
/// ```
/// use gate_sdk::docker::{judge_health, Container, HealthStatus, State};
/// use gate_sdk::Outcome;
///
/// let mut web = Container::new("shop-web-1", State::Running);
/// web.health.status = HealthStatus::Healthy;
/// assert_eq!(judge_health("shop", &[web.clone()]).outcome, Outcome::Pass);
///
/// let mut db = Container::new("shop-db-1", State::Exited);
/// db.exit_code = Some(137);
/// let result = judge_health("shop", &[web, db]);
/// assert_eq!(result.outcome, Outcome::Fail);
/// assert!(result.message.contains("shop-db-1 is exited (exit code 137)"));
/// ```
pub fn judge_health(project: &str, containers: &[Container]) -> CheckResult {
    judge_health_with_jobs(project, containers, &[])
}

/// The verdict of [`compose_healthy_with_jobs`] on containers already read.
///
/// `jobs` names one-shot compose services by [`Container::compose_service`].
/// A container of one of them passes once it has exited with code 0 (state
/// `exited`, `exit_code` `Some(0)`), whatever its health check said; every
/// other container is judged as [`judge_health`] judges it. It fails:
///
/// * when a job's container exited with another code, or is dead, created
///   but never started, restarting or paused, naming its state and exit
///   code;
/// * when a job's container is still running (`… is still running (a
///   one-shot job that has not finished)`): the gate runs after the deploy,
///   `docker compose up -d` waits for no job that nothing depends on
///   (`service_completed_successfully`), and until the job has
///   finished the release is not rolled out (its migrations may be half
///   applied), so promoting it would not be safe. This is how a service
///   whose health check is still `starting` fails; with `--retry` the gate
///   waits for the job to finish;
/// * when a name in `jobs` matches no container of the project, naming it
///   and the services there are: a typo (`migrat`) would otherwise pass
///   without judging the job at all. A job whose container was removed
///   (`docker compose run --rm`, `docker compose rm`) cannot be judged
///   either: do not name it.
///
/// The pass message names the jobs that completed: ``all 2 containers of
/// `shop` are running and healthy; job migrate completed``.
///
/// ```
/// use gate_sdk::docker::{judge_health_with_jobs, Container, HealthStatus, State};
/// use gate_sdk::Outcome;
///
/// let mut web = Container::new("shop-web-1", State::Running);
/// web.compose_service = Some("web".into());
/// web.health.status = HealthStatus::Healthy;
/// let mut migrate = Container::new("shop-migrate-1", State::Exited);
/// migrate.compose_service = Some("migrate".into());
/// migrate.exit_code = Some(0);
///
/// let result = judge_health_with_jobs("shop", &[web.clone(), migrate.clone()], &["migrate"]);
/// assert_eq!(result.outcome, Outcome::Pass);
/// assert!(result.message.ends_with("job migrate completed"), "{}", result.message);
///
/// migrate.exit_code = Some(1);
/// let result = judge_health_with_jobs("shop", &[web.clone(), migrate], &["migrate"]);
/// assert_eq!(result.outcome, Outcome::Fail);
/// assert!(result.message.contains("shop-migrate-1 is exited (exit code 1)"));
///
/// let result = judge_health_with_jobs("shop", &[web], &["migrat"]);
/// assert_eq!(result.outcome, Outcome::Fail);
/// assert!(result.message.contains("job `migrat` matches no container of `shop`"));
/// ```
pub fn judge_health_with_jobs(
    project: &str,
    containers: &[Container],
    jobs: &[&str],
) -> CheckResult {
    if containers.is_empty() {
        return CheckResult::fail(format!(
            "compose project `{project}` has no containers: is it deployed, and is the project name right?"
        ))
        .with(Measurement::new("containers", 0.0, ""));
    }
    let jobs = dedup(jobs.to_vec());
    let is_job = |c: &Container| {
        c.compose_service
            .as_deref()
            .is_some_and(|service| jobs.contains(&service))
    };
    let mut problems = Vec::new();
    let mut unchecked = Vec::new();
    let mut services = 0;
    for c in containers {
        if is_job(c) {
            match (c.state, c.exit_code) {
                (State::Exited, Some(0)) => {}
                (State::Running, _) => problems.push(format!(
                    "{} is still running (a one-shot job that has not finished)",
                    c.name
                )),
                _ => problems.push(not_running(c)),
            }
            continue;
        }
        services += 1;
        if c.state != State::Running {
            problems.push(not_running(c));
            continue;
        }
        match c.health.status {
            HealthStatus::Healthy => {}
            HealthStatus::None => unchecked.push(c.name.as_str()),
            HealthStatus::Starting => problems.push(format!(
                "{} is still starting (its health check has not passed yet)",
                c.name
            )),
            HealthStatus::Unhealthy => {
                let output = c
                    .health
                    .last_output
                    .as_deref()
                    .filter(|o| !o.is_empty())
                    .map(|o| format!(": last probe said `{}`", crate::error::snippet(o, 200)))
                    .unwrap_or_default();
                problems.push(format!(
                    "{} is unhealthy ({} failed probes in a row){output}",
                    c.name, c.health.failing_streak
                ));
            }
        }
    }
    let unknown: Vec<&str> = jobs
        .iter()
        .copied()
        .filter(|job| {
            !containers
                .iter()
                .any(|c| c.compose_service.as_deref() == Some(*job))
        })
        .collect();
    let total = containers.len();
    let good = total - problems.len();
    let mut counts = vec![
        Measurement::new("containers", total as f64, ""),
        Measurement::new("containers_healthy", good as f64, "").threshold(format!("= {total}")),
    ];
    if !jobs.is_empty() {
        counts.push(
            Measurement::new("jobs_without_container", unknown.len() as f64, "").threshold("= 0"),
        );
    }
    let mut result = if problems.is_empty() && unknown.is_empty() {
        let mut parts = Vec::new();
        if services > 0 {
            let mut message = format!("all {services} containers of `{project}` are running");
            if unchecked.len() < services {
                message.push_str(" and healthy");
            }
            if !unchecked.is_empty() {
                message.push_str(&format!(" ({} have no health check)", unchecked.join(", ")));
            }
            parts.push(message);
        }
        if !jobs.is_empty() {
            let noun = if jobs.len() == 1 { "job" } else { "jobs" };
            let of = if services == 0 {
                format!(" of `{project}`")
            } else {
                String::new()
            };
            parts.push(format!("{noun} {}{of} completed", jobs.join(", ")));
        }
        CheckResult::pass(parts.join("; "))
    } else {
        let mut parts = Vec::new();
        if !problems.is_empty() {
            parts.push(format!(
                "{} of {total} containers of `{project}` are not healthy: {}",
                problems.len(),
                problems.join("; ")
            ));
        }
        if !unknown.is_empty() {
            let mut known: Vec<&str> = containers
                .iter()
                .filter_map(|c| c.compose_service.as_deref())
                .collect();
            known = dedup(known);
            let services = if known.is_empty() {
                "it has no compose services".to_owned()
            } else {
                format!("its services: {}", known.join(", "))
            };
            let noun = if unknown.len() == 1 { "job" } else { "jobs" };
            let list: Vec<String> = unknown.iter().map(|job| format!("`{job}`")).collect();
            let verb = if unknown.len() == 1 {
                "matches"
            } else {
                "match"
            };
            parts.push(format!(
                "{noun} {} {verb} no container of `{project}` ({services}): a typo, or was its container removed?",
                list.join(", ")
            ));
        }
        CheckResult::fail(parts.join("; "))
    };
    for m in counts {
        result = result.with(m);
    }
    result
}

/// `NAME is STATE`, with the exit code once it exited.
fn not_running(c: &Container) -> String {
    let code = c
        .exit_code
        .filter(|_| matches!(c.state, State::Exited | State::Dead))
        .map(|code| format!(" (exit code {code})"))
        .unwrap_or_default();
    format!("{} is {}{code}", c.name, c.state)
}

/// Passes when every container of `service` in compose project `project`
/// runs image tag `expected_tag` ("promote the same tag that passed
/// stage"). See [`judge_image_tag`].
///
/// ```no_run
/// use gate_sdk::{context, docker, CheckResult, Result};
///
/// fn same_tag() -> Result<CheckResult> {
///     let tag = context::param_or_release("expected_tag")?;
///     docker::image_tag_is("shop", Some("web"), &tag)
/// }
/// ```
pub fn image_tag_is(
    project: &str,
    service: Option<&str>,
    expected_tag: &str,
) -> Result<CheckResult> {
    let mut containers = compose_containers(project)?;
    if let Some(service) = service {
        containers.retain(|c| c.compose_service.as_deref() == Some(service));
    }
    Ok(judge_image_tag(project, service, &containers, expected_tag))
}

/// The verdict of [`image_tag_is`]: `fail` naming each container on another
/// tag, or when there is no container to judge.
///
/// ```
/// use gate_sdk::docker::{judge_image_tag, Container, Image, State};
/// use gate_sdk::Outcome;
///
/// let mut web = Container::new("shop-web-1", State::Running);
/// web.image = Image { name: "shop".into(), tag: Some("1.4.1".into()), id: "sha256:9f".into() };
/// let result = judge_image_tag("shop", Some("web"), &[web], "1.4.2");
/// assert_eq!(result.outcome, Outcome::Fail);
/// assert!(result.message.contains("shop-web-1 runs shop:1.4.1"));
/// ```
pub fn judge_image_tag(
    project: &str,
    service: Option<&str>,
    containers: &[Container],
    expected_tag: &str,
) -> CheckResult {
    let what = match service {
        Some(service) => format!("service `{service}` of `{project}`"),
        None => format!("compose project `{project}`"),
    };
    if containers.is_empty() {
        return CheckResult::fail(format!(
            "{what} has no containers to compare with tag `{expected_tag}`"
        ));
    }
    let wrong: Vec<String> = containers
        .iter()
        .filter(|c| c.image.tag.as_deref() != Some(expected_tag))
        .map(|c| format!("{} runs {}", c.name, c.image))
        .collect();
    if wrong.is_empty() {
        let ids: Vec<&str> = containers.iter().map(|c| short_id(&c.image.id)).collect();
        CheckResult::pass(format!(
            "every container of {what} runs tag `{expected_tag}` (image {})",
            dedup(ids).join(", ")
        ))
    } else {
        CheckResult::fail(format!(
            "{what} is not on tag `{expected_tag}`: {}",
            wrong.join("; ")
        ))
    }
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

fn dedup(mut items: Vec<&str>) -> Vec<&str> {
    items.sort_unstable();
    items.dedup();
    items
}

/// Passes when every running container of compose project `project` uses
/// less CPU than `max_cpu_percent` (percent of one CPU, as `docker stats`
/// shows it) and less memory than `max_memory_percent` of its limit. See
/// [`judge_resources`].
///
/// It takes time: one [`stats`] call per running container, one after the
/// other, each 1 to 2 s (the engine samples CPU twice). Against the default
/// 10 s deadline of a check, a project of about 6 containers or more ends in
/// a deadline `error`: give such a run a longer one (`--timeout 30s`, or
/// `timeout` in gate.toml), about 2 s per container plus a margin.
///
/// ```no_run
/// use gate_sdk::{docker, CheckResult, Result};
///
/// fn resources() -> Result<CheckResult> {
///     docker::resources_within("shop", 80.0, 85.0)
/// }
/// ```
pub fn resources_within(
    project: &str,
    max_cpu_percent: f64,
    max_memory_percent: f64,
) -> Result<CheckResult> {
    let mut running = list(&Filter::compose_project(project))?;
    running.sort_by(|a, b| a.name.cmp(&b.name));
    let mut measured = Vec::with_capacity(running.len());
    for container in running {
        let snapshot = stats(&container.id)?;
        measured.push((container.name, snapshot));
    }
    Ok(judge_resources(
        project,
        &measured,
        max_cpu_percent,
        max_memory_percent,
    ))
}

/// The verdict of [`resources_within`] on snapshots already taken, by
/// container name: `fail` naming each container over a limit with its
/// value; `inconclusive` when a value could not be measured or there is no
/// running container.
///
/// ```
/// use gate_sdk::docker::{judge_resources, Stats};
/// use gate_sdk::Outcome;
///
/// let busy = Stats { cpu_percent: 95.0, online_cpus: 2, memory_used: 10, memory_limit: 100, memory_percent: 10.0 };
/// let result = judge_resources("shop", &[("shop-web-1".into(), busy)], 80.0, 85.0);
/// assert_eq!(result.outcome, Outcome::Fail);
/// assert!(result.message.contains("shop-web-1 CPU 95.0 % (limit < 80 %)"));
/// ```
pub fn judge_resources(
    project: &str,
    measured: &[(String, Stats)],
    max_cpu_percent: f64,
    max_memory_percent: f64,
) -> CheckResult {
    if measured.is_empty() {
        return CheckResult::inconclusive(format!(
            "compose project `{project}` has no running container to measure"
        ));
    }
    let cpu_limit = Limit::Below(max_cpu_percent);
    let memory_limit = Limit::Below(max_memory_percent);
    let mut over = Vec::new();
    let mut unmeasured = Vec::new();
    let mut measurements = Vec::new();
    for (name, stats) in measured {
        for (what, value, limit) in [
            ("CPU", stats.cpu_percent, cpu_limit),
            ("memory", stats.memory_percent, memory_limit),
        ] {
            let key = format!("{name}_{}", what.to_ascii_lowercase());
            measurements.push(Measurement::new(key, value, "%").threshold(limit.to_string()));
            if !value.is_finite() {
                unmeasured.push(format!("{name} {what}"));
            } else if !limit.allows(value) {
                let detail = if what == "memory" {
                    format!(
                        " ({} of {})",
                        format_bytes(stats.memory_used),
                        format_bytes(stats.memory_limit)
                    )
                } else {
                    String::new()
                };
                over.push(format!(
                    "{name} {what} {} %{detail} (limit {limit} %)",
                    format_against(value, limit.bound())
                ));
            }
        }
    }
    let n = measured.len();
    let mut result = if !over.is_empty() {
        CheckResult::fail(format!(
            "over the limit in `{project}`: {}",
            over.join("; ")
        ))
    } else if !unmeasured.is_empty() {
        CheckResult::inconclusive(format!(
            "could not measure {} in `{project}`",
            unmeasured.join(", ")
        ))
    } else {
        CheckResult::pass(format!(
            "all {n} running containers of `{project}` are below CPU {cpu_limit} % and memory {memory_limit} %"
        ))
    };
    for m in measurements {
        result = result.with(m);
    }
    debug_assert!(result.outcome != Outcome::Warn);
    result
}

fn format_bytes(bytes: u64) -> String {
    const MIB: f64 = (1u64 << 20) as f64;
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// The WIT imports, answered by gate (see [`crate::host`]).
#[cfg(target_arch = "wasm32")]
pub(crate) mod wit_calls {
    use super::*;
    use crate::__private::bindings::gate::policy::docker as wit;

    pub(crate) fn list(filter: &Filter) -> core::result::Result<Vec<Summary>, DockerError> {
        let filter = wit::ContainerFilter {
            compose_project: filter.compose_project.clone(),
            labels: filter.labels.clone(),
            name: filter.name.clone(),
            all: filter.all,
        };
        let list = wit::list_containers(&filter).map_err(error)?;
        Ok(list
            .into_iter()
            .map(|c| Summary {
                id: c.id,
                name: c.name,
                image: c.image,
                state: state(c.state),
                status: c.status,
                labels: c.labels,
            })
            .collect())
    }

    pub(crate) fn inspect(container: &str) -> core::result::Result<Container, DockerError> {
        let c = wit::inspect(container).map_err(error)?;
        Ok(Container {
            id: c.id,
            name: c.name,
            image: Image {
                name: c.image.name,
                tag: c.image.tag,
                id: c.image.id,
            },
            state: state(c.state),
            exit_code: c.exit_code,
            health: Health {
                status: match c.health.status {
                    wit::HealthStatus::None => HealthStatus::None,
                    wit::HealthStatus::Starting => HealthStatus::Starting,
                    wit::HealthStatus::Healthy => HealthStatus::Healthy,
                    wit::HealthStatus::Unhealthy => HealthStatus::Unhealthy,
                },
                failing_streak: c.health.failing_streak,
                last_output: c.health.last_output,
                last_exit_code: c.health.last_exit_code,
            },
            restart_count: c.restart_count,
            started_at: c.started_at,
            compose_project: c.compose_project,
            compose_service: c.compose_service,
            labels: c.labels,
            ports: c
                .ports
                .into_iter()
                .map(|p| Port {
                    container_port: p.container_port,
                    protocol: p.protocol,
                    host_ip: p.host_ip,
                    host_port: p.host_port,
                })
                .collect(),
        })
    }

    pub(crate) fn stats(container: &str) -> core::result::Result<Stats, DockerError> {
        let s = wit::stats(container).map_err(error)?;
        Ok(Stats {
            cpu_percent: s.cpu_percent,
            online_cpus: s.online_cpus,
            memory_used: s.memory_used,
            memory_limit: s.memory_limit,
            memory_percent: s.memory_percent,
        })
    }

    fn state(state: wit::ContainerState) -> State {
        match state {
            wit::ContainerState::Created => State::Created,
            wit::ContainerState::Running => State::Running,
            wit::ContainerState::Paused => State::Paused,
            wit::ContainerState::Restarting => State::Restarting,
            wit::ContainerState::Removing => State::Removing,
            wit::ContainerState::Exited => State::Exited,
            wit::ContainerState::Dead => State::Dead,
            wit::ContainerState::Unknown => State::Unknown,
        }
    }

    fn error(error: wit::DockerError) -> DockerError {
        match error {
            wit::DockerError::NotGranted(why) => DockerError::NotGranted(why),
            wit::DockerError::Unreachable(why) => DockerError::Unreachable(why),
            wit::DockerError::NotFound(why) => DockerError::NotFound(why),
            wit::DockerError::InvalidRequest(why) => DockerError::InvalidRequest(why),
            wit::DockerError::Timeout(ms) => DockerError::Timeout(ms),
            wit::DockerError::Engine(why) => DockerError::Engine(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy(name: &str) -> Container {
        let mut c = Container::new(name, State::Running);
        c.health.status = HealthStatus::Healthy;
        c
    }

    #[test]
    fn unhealthy_names_the_container_and_its_probe() {
        let mut bad = healthy("shop-web-1");
        bad.health.status = HealthStatus::Unhealthy;
        bad.health.failing_streak = 3;
        bad.health.last_output = Some("GET /health answered 503\n".into());
        let result = judge_health("shop", &[healthy("shop-db-1"), bad]);
        assert_eq!(result.outcome, Outcome::Fail);
        assert!(
            result
                .message
                .contains("shop-web-1 is unhealthy (3 failed probes in a row): last probe said `GET /health answered 503`"),
            "{}",
            result.message
        );
        assert_eq!(result.measurements[1].value, 1.0);
    }

    #[test]
    fn no_containers_is_no_pass() {
        assert_eq!(judge_health("shop", &[]).outcome, Outcome::Fail);
        assert_eq!(
            judge_image_tag("shop", None, &[], "1").outcome,
            Outcome::Fail
        );
        assert_eq!(
            judge_resources("shop", &[], 80.0, 85.0).outcome,
            Outcome::Inconclusive
        );
    }

    #[test]
    fn starting_and_unchecked() {
        let mut starting = healthy("a");
        starting.health.status = HealthStatus::Starting;
        assert_eq!(judge_health("p", &[starting]).outcome, Outcome::Fail);
        let plain = Container::new("b", State::Running);
        let result = judge_health("p", &[plain]);
        assert_eq!(result.outcome, Outcome::Pass);
        assert!(
            result.message.contains("b have no health check"),
            "{}",
            result.message
        );
    }

    fn job(state: State, exit_code: Option<i64>) -> Container {
        let mut c = Container::new("shop-migrate-1", state);
        c.compose_service = Some("migrate".into());
        c.exit_code = exit_code;
        c
    }

    fn web() -> Container {
        let mut c = healthy("shop-web-1");
        c.compose_service = Some("web".into());
        c
    }

    #[test]
    fn a_job_that_exited_0_passes_only_when_named() {
        let stack = [web(), job(State::Exited, Some(0))];
        let result = judge_health_with_jobs("shop", &stack, &["migrate"]);
        assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);
        assert_eq!(
            result.message,
            "all 1 containers of `shop` are running and healthy; job migrate completed"
        );
        assert_eq!(result.measurements[1].value, 2.0);
        // Unnamed, it is a container that stopped, as before.
        let result = judge_health("shop", &stack);
        assert_eq!(result.outcome, Outcome::Fail);
        assert!(
            result
                .message
                .contains("shop-migrate-1 is exited (exit code 0)"),
            "{}",
            result.message
        );
    }

    #[test]
    fn a_job_fails_unless_it_exited_0() {
        for (state, code, said) in [
            (
                State::Exited,
                Some(1),
                "shop-migrate-1 is exited (exit code 1)",
            ),
            (State::Exited, None, "shop-migrate-1 is exited"),
            (State::Dead, Some(0), "shop-migrate-1 is dead (exit code 0)"),
            (State::Created, None, "shop-migrate-1 is created"),
            (
                State::Running,
                None,
                "shop-migrate-1 is still running (a one-shot job that has not finished)",
            ),
        ] {
            let result = judge_health_with_jobs("shop", &[web(), job(state, code)], &["migrate"]);
            assert_eq!(result.outcome, Outcome::Fail, "{state}");
            assert!(
                result.message.contains(&format!(
                    "1 of 2 containers of `shop` are not healthy: {said}"
                )),
                "{}",
                result.message
            );
        }
    }

    #[test]
    fn an_unknown_job_fails_naming_the_services() {
        let stack = [web(), job(State::Exited, Some(0))];
        let result = judge_health_with_jobs("shop", &stack, &["migrate", "migrat", "migrate"]);
        assert_eq!(result.outcome, Outcome::Fail);
        assert_eq!(
            result.message,
            "job `migrat` matches no container of `shop` (its services: migrate, web): \
             a typo, or was its container removed?"
        );
        let missing = result
            .measurements
            .iter()
            .find(|m| m.name == "jobs_without_container")
            .expect("counted with jobs given");
        assert_eq!(missing.value, 1.0);
        let none_given = judge_health("shop", &stack[..1]);
        assert!(
            none_given
                .measurements
                .iter()
                .all(|m| m.name != "jobs_without_container")
        );
    }

    #[test]
    fn only_jobs() {
        let result = judge_health_with_jobs("shop", &[job(State::Exited, Some(0))], &["migrate"]);
        assert_eq!(result.outcome, Outcome::Pass);
        assert_eq!(result.message, "job migrate of `shop` completed");
    }

    #[test]
    fn resources() {
        let stats = |cpu: f64, memory: f64| Stats {
            cpu_percent: cpu,
            online_cpus: 1,
            memory_used: 90 << 20,
            memory_limit: 100 << 20,
            memory_percent: memory,
        };
        let fine = judge_resources("p", &[("a".into(), stats(1.0, 10.0))], 80.0, 85.0);
        assert_eq!(fine.outcome, Outcome::Pass);
        let heavy = judge_resources("p", &[("a".into(), stats(1.0, 90.0))], 80.0, 85.0);
        assert_eq!(heavy.outcome, Outcome::Fail);
        assert!(
            heavy
                .message
                .contains("a memory 90.0 % (90.0 MiB of 100.0 MiB) (limit < 85 %)"),
            "{}",
            heavy.message
        );
        let unknown = judge_resources("p", &[("a".into(), stats(f64::NAN, 10.0))], 80.0, 85.0);
        assert_eq!(unknown.outcome, Outcome::Inconclusive);
    }

    #[test]
    fn tags() {
        let mut web = healthy("w");
        web.image = Image {
            name: "shop".into(),
            tag: Some("2".into()),
            id: "sha256:0123456789abcdef".into(),
        };
        let ok = judge_image_tag("p", Some("web"), &[web], "2");
        assert_eq!(ok.outcome, Outcome::Pass);
        assert!(ok.message.contains("0123456789ab"), "{}", ok.message);
    }
}
