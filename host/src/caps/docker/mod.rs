//! `gate:policy/docker`: read-only queries (list, inspect, stats) to the one
//! Docker engine the run grants with `--docker`, through bollard. Nothing
//! here can create, start, stop or exec anything.

mod link;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerStatsResponse,
    ContainerSummaryStateEnum, HealthStatusEnum,
};
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions, StatsOptions};
use futures_util::StreamExt;
use url::Url;

use crate::bindings::gate::policy::docker::{
    Container, ContainerFilter, ContainerState, ContainerSummary, DockerError, Health,
    HealthStatus, Host, ImageRef, Port, StatsSnapshot,
};
use crate::caps::metrics::PromValue;
use crate::state::{CallFailure, HostState};
use crate::tape::Answer;

/// Where `--docker` without a value points when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Labels Docker Compose puts on the containers it creates.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// Bytes of an engine's error message a policy is shown.
const ENGINE_MESSAGE_BYTES: usize = 1024;

/// Seconds bollard allows one request; our own timeout (bounded by the
/// check's deadline) is the one that counts.
const CLIENT_TIMEOUT_SECS: u64 = 120;

/// The engine for `--docker [URI]`: the URI given, else `DOCKER_HOST`, else
/// the default socket.
pub fn resolve_host(given: Option<&Url>) -> Result<Url, String> {
    if let Some(url) = given {
        return Ok(url.clone());
    }
    match std::env::var("DOCKER_HOST") {
        Ok(text) if !text.trim().is_empty() => {
            let url = parse_host(text.trim()).map_err(|e| format!("DOCKER_HOST: {e}"))?;
            // The docker CLI would speak TLS to this engine; gate cannot.
            let tls = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
            if tls && url.scheme() != "unix" {
                return Err(
                    "DOCKER_HOST: DOCKER_TLS_VERIFY asks for TLS, and this gate speaks plain HTTP \
                     to a tcp:// engine: reach the engine over its unix socket (--docker \
                     unix:///PATH, through an ssh tunnel for a remote one)"
                        .into(),
                );
            }
            Ok(url)
        }
        _ => Ok(Url::parse(DEFAULT_HOST).expect("a valid URL")),
    }
}

/// A Docker engine address gate can talk to: `unix:///path/to/docker.sock`,
/// `tcp://host:port` (2375 without a port) or `http://host:port`. A user
/// or password is refused, and no error repeats a value holding one: gate
/// would not send them, and the address is shown in every call's record.
pub fn parse_host(text: &str) -> Result<Url, String> {
    let hint = "(try unix:///var/run/docker.sock or tcp://HOST:2375)";
    // What an error may quote: never a value that may hold a password.
    let shown = |scheme: &str| {
        if text.contains('@') {
            format!("`{scheme}…`")
        } else {
            format!("`{text}`")
        }
    };
    let url =
        Url::parse(text).map_err(|e| format!("{} is not a Docker host: {e} {hint}", shown("")))?;
    let scheme = format!("{}://", url.scheme());
    match url.scheme() {
        "https" | "npipe" | "ssh" => {
            return Err(format!(
                "`{scheme}…`: this gate reaches Docker over a unix socket or plain tcp only {hint}"
            ));
        }
        "unix" | "tcp" | "http" => {}
        _ => return Err(format!("{} is not a Docker host {hint}", shown(&scheme))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "a Docker host may not hold a user or password (gate would not send them) {hint}"
        ));
    }
    match url.scheme() {
        "unix" if url.path().len() > 1 => Ok(url),
        "tcp" | "http" if url.host_str().is_some() => Ok(url),
        _ => Err(format!("{} is not a Docker host {hint}", shown(&scheme))),
    }
}

/// The granted engine: its address, and a client made on first use (the
/// API version is negotiated then, so an unreachable engine is a typed
/// error of the check that asked, never a failure to start the run).
pub struct Engine {
    pub host: Url,
    client: tokio::sync::OnceCell<Docker>,
}

impl Engine {
    pub fn new(host: Url) -> Engine {
        Engine {
            host,
            client: tokio::sync::OnceCell::new(),
        }
    }

    async fn client(&self, timeout: Duration) -> Result<Docker, DockerError> {
        let connect = async {
            let address = match self.host.scheme() {
                "unix" => {
                    let path = socket_path(&self.host);
                    if !path.exists() {
                        return Err(self.error(BollardError::SocketNotFoundError(
                            path.display().to_string(),
                        )));
                    }
                    link::Address::Unix(path)
                }
                _ => link::Address::Tcp(format!(
                    "{}:{}",
                    self.host.host_str().unwrap_or_default(),
                    // tcp:// has no default port of its own: Docker's 2375.
                    self.host.port_or_known_default().unwrap_or(2375)
                )),
            };
            let docker = link::client(address, link::ANSWER_CAP, CLIENT_TIMEOUT_SECS)
                .map_err(|e| self.error(e))?;
            // Older engines refuse a newer API version than theirs.
            docker.negotiate_version().await.map_err(|e| self.error(e))
        };
        let init = async {
            tokio::time::timeout(timeout, connect)
                .await
                .unwrap_or_else(|_| Err(DockerError::Timeout(millis(timeout))))
        };
        self.client.get_or_try_init(|| init).await.cloned()
    }

    /// A bollard error as the guest sees it, naming the engine.
    fn error(&self, error: BollardError) -> DockerError {
        let host = &self.host;
        // The engine's message is copied into the guest and every report:
        // what a sane engine says fits, whatever a broken one sends is cut.
        let error = match error {
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => BollardError::DockerResponseServerError {
                status_code,
                message: crate::text::truncate(&message, ENGINE_MESSAGE_BYTES),
            },
            other => other,
        };
        if let Some(cut) = link::too_large(&error) {
            return DockerError::Engine(format!("Docker engine {host}: {cut}"));
        }
        match error {
            BollardError::DockerResponseServerError {
                status_code: 404,
                message,
            } => DockerError::NotFound(message),
            BollardError::DockerResponseServerError {
                status_code: 400,
                message,
            } => DockerError::InvalidRequest(message),
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => DockerError::Engine(format!("engine answered {status_code}: {message}")),
            BollardError::RequestTimeoutError => {
                DockerError::Timeout(millis(Duration::from_secs(CLIENT_TIMEOUT_SECS)))
            }
            BollardError::SocketNotFoundError(path) => DockerError::Unreachable(format!(
                "Docker engine {host} is unreachable: socket {path} does not exist (is Docker running? give another with --docker URI)"
            )),
            // A stream's answer (stats) broke off after it began: bollard
            // keeps only the text of why, so the cap cannot be told from a
            // dropped connection here; both are the engine's doing.
            BollardError::IOError { .. } => DockerError::Engine(format!(
                "Docker engine {host}: its answer broke off ({}); an answer is read up to {}",
                root_cause(&error),
                crate::units::format_size(link::ANSWER_CAP)
            )),
            BollardError::HyperLegacyError { .. } => DockerError::Unreachable(format!(
                "Docker engine {host} is unreachable: {} (is Docker running there? give another \
                 with --docker URI)",
                root_cause(&error)
            )),
            other => DockerError::Engine(format!("Docker engine {host}: {}", causes(&other))),
        }
    }
}

/// The socket a `unix://` address names, as the file system spells it: a
/// URL's path is percent-encoded (`/run/my%20docker.sock`).
fn socket_path(host: &Url) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(host.path()).collect();
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&bytes))
}

/// The innermost cause, which says what happened ("Connection refused");
/// the client's wrappers around it do not.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .last()
        .map_or_else(String::new, ToString::to_string)
}

/// An error and its causes on one line ("connection refused" is usually
/// the last of them).
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// What the record/replay tape keeps of each call (see [`crate::tape`]).
pub type ListAnswer = Answer<Vec<ContainerSummary>, DockerError>;
pub type InspectAnswer = Answer<Container, DockerError>;
pub type StatsAnswer = Answer<TapedStats, DockerError>;

/// A [`StatsSnapshot`] as the tape keeps it: JSON has no NaN, so an
/// unmeasured percentage is written `"NaN"` and read back as NaN.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TapedStats {
    cpu_percent: PromValue,
    online_cpus: u32,
    memory_used: u64,
    memory_limit: u64,
    memory_percent: PromValue,
}

impl From<StatsSnapshot> for TapedStats {
    fn from(s: StatsSnapshot) -> TapedStats {
        TapedStats {
            cpu_percent: PromValue(s.cpu_percent),
            online_cpus: s.online_cpus,
            memory_used: s.memory_used,
            memory_limit: s.memory_limit,
            memory_percent: PromValue(s.memory_percent),
        }
    }
}

impl From<TapedStats> for StatsSnapshot {
    fn from(s: TapedStats) -> StatsSnapshot {
        StatsSnapshot {
            cpu_percent: s.cpu_percent.0,
            online_cpus: s.online_cpus,
            memory_used: s.memory_used,
            memory_limit: s.memory_limit,
            memory_percent: s.memory_percent.0,
        }
    }
}

impl Host for HostState {
    async fn list_containers(
        &mut self,
        filter: ContainerFilter,
    ) -> wasmtime::Result<Result<Vec<ContainerSummary>, DockerError>> {
        self.count_call()?;
        let filters = filters(&filter);
        let shown = format!(
            "/containers/json?all={}&filters={}",
            filter.all,
            serde_json::to_string(&filters).unwrap_or_default()
        );
        let options = ListContainersOptions {
            all: filter.all,
            filters: Some(filters),
            ..ListContainersOptions::default()
        };
        let request = serde_json::to_value(&filter)?;
        self.docker_call("docker.list_containers", request, shown, async |state| {
            state
                .docker(move |docker| async move { docker.list_containers(Some(options)).await })
                .await
                .map(|list| list.into_iter().map(summary).collect())
        })
        .await
    }

    async fn inspect(
        &mut self,
        container: String,
    ) -> wasmtime::Result<Result<Container, DockerError>> {
        self.count_call()?;
        if let Err(error) = valid_reference(&container) {
            return Ok(Err(error));
        }
        let shown = format!("/containers/{container}/json");
        let request = serde_json::json!({ "container": container });
        self.docker_call("docker.inspect", request, shown, async |state| {
            state
                .docker(|docker| async move {
                    docker
                        .inspect_container(&container, None::<InspectContainerOptions>)
                        .await
                })
                .await
                .map(inspected)
        })
        .await
    }

    async fn stats(
        &mut self,
        container: String,
    ) -> wasmtime::Result<Result<StatsSnapshot, DockerError>> {
        self.count_call()?;
        if let Err(error) = valid_reference(&container) {
            return Ok(Err(error));
        }
        let shown = format!("/containers/{container}/stats?stream=false");
        let request = serde_json::json!({ "container": container });
        // Not one-shot: the engine then samples twice, so the CPU share
        // covers a real interval.
        let options = StatsOptions {
            stream: false,
            one_shot: false,
        };
        let wanted = container.clone();
        let taped = self
            .docker_call("docker.stats", request, shown, async |state| {
                state
                    .docker(|docker| async move {
                        let mut stream = docker.stats(&wanted, Some(options));
                        match stream.next().await {
                            Some(answer) => answer,
                            None => Err(BollardError::DockerResponseServerError {
                                status_code: 500,
                                message: "the engine sent no stats".into(),
                            }),
                        }
                    })
                    .await
                    .and_then(|stats| snapshot(&container, &stats))
                    .map(TapedStats::from)
            })
            .await?;
        Ok(taped.map(StatsSnapshot::from))
    }
}

impl HostState {
    /// One engine call through the run's tape (live, recorded or replayed),
    /// kept in the check's record of calls either way.
    async fn docker_call<T>(
        &mut self,
        call: &'static str,
        request: serde_json::Value,
        shown: String,
        live: impl AsyncFnOnce(&mut HostState) -> Result<T, DockerError>,
    ) -> wasmtime::Result<Result<T, DockerError>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let started = Instant::now();
        let result = if self.session.docker.is_none() && !self.tape.is_record() {
            // Refused before the tape is asked, as in `http.send`: a
            // fixture's answer cannot grant an engine.
            Err(not_granted())
        } else {
            self.taped(
                call,
                move || request,
                async |state| Answer::from(live(state).await),
            )
            .await?
            .into_result()
        };
        let record = match &result {
            Ok(_) => Ok(200),
            Err(error) => Err(explain(error)),
        };
        let engine = match &self.session.docker {
            Some(engine) => engine.host.to_string(),
            None => "docker:".to_owned(),
        };
        let url = format!("{}{shown}", engine.trim_end_matches('/'));
        self.record_call("GET", url, started, record);
        Ok(result)
    }

    /// Asks the grants, then runs one engine request within the request
    /// timeout.
    async fn docker<T, F, R>(&mut self, request: F) -> Result<T, DockerError>
    where
        F: FnOnce(Docker) -> R,
        R: Future<Output = Result<T, BollardError>> + Send,
    {
        let session = self.session.clone();
        let Some(engine) = session.docker.as_ref() else {
            return Err(not_granted());
        };
        let started = Instant::now();
        let timeout = self.request_timeout(None);
        match engine.client(timeout).await {
            Ok(docker) => {
                let remaining = timeout.saturating_sub(started.elapsed());
                match tokio::time::timeout(remaining, request(docker)).await {
                    Ok(answer) => answer.map_err(|e| engine.error(e)),
                    Err(_) => Err(DockerError::Timeout(millis(timeout))),
                }
            }
            Err(error) => Err(error),
        }
    }
}

fn not_granted() -> DockerError {
    DockerError::NotGranted(
        "no Docker engine is granted to this run: grant one with --docker (the default socket) \
         or --docker unix:///PATH | tcp://HOST:PORT"
            .into(),
    )
}

/// The one-line form kept in the check's record of calls.
pub fn explain(error: &DockerError) -> CallFailure {
    let text = match error {
        DockerError::NotGranted(why) => format!("denied: {why}"),
        DockerError::Unreachable(why) => why.clone(),
        DockerError::NotFound(why) => format!("not found: {why}"),
        DockerError::InvalidRequest(why) => format!("invalid request: {why}"),
        DockerError::Timeout(ms) => format!("timeout after {ms} ms"),
        DockerError::Engine(why) => why.clone(),
    };
    CallFailure {
        text,
        permanent: matches!(
            error,
            DockerError::NotGranted(_) | DockerError::InvalidRequest(_)
        ),
    }
}

/// A container id or name, as Docker names them (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`):
/// a path segment that means one container, never `.` or `..`.
fn valid_reference(container: &str) -> Result<(), DockerError> {
    let ok = container.len() <= 256
        && container
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && container
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(DockerError::InvalidRequest(format!(
            "`{}` is not a container id or name",
            crate::text::truncate(container, 80)
        )))
    }
}

fn filters(filter: &ContainerFilter) -> HashMap<String, Vec<String>> {
    let mut labels: Vec<String> = filter.labels.clone();
    if let Some(project) = &filter.compose_project {
        labels.push(format!("{COMPOSE_PROJECT}={project}"));
    }
    let mut filters = HashMap::new();
    if !labels.is_empty() {
        filters.insert("label".to_owned(), labels);
    }
    if let Some(name) = &filter.name {
        filters.insert("name".to_owned(), vec![name.clone()]);
    }
    filters
}

fn sorted(labels: Option<HashMap<String, String>>) -> Vec<(String, String)> {
    labels
        .unwrap_or_default()
        .into_iter()
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect()
}

fn summary(container: bollard::models::ContainerSummary) -> ContainerSummary {
    let state = match container.state {
        Some(ContainerSummaryStateEnum::CREATED) => ContainerState::Created,
        Some(ContainerSummaryStateEnum::RUNNING) => ContainerState::Running,
        Some(ContainerSummaryStateEnum::PAUSED) => ContainerState::Paused,
        Some(ContainerSummaryStateEnum::RESTARTING) => ContainerState::Restarting,
        Some(ContainerSummaryStateEnum::REMOVING) => ContainerState::Removing,
        Some(ContainerSummaryStateEnum::EXITED) => ContainerState::Exited,
        Some(ContainerSummaryStateEnum::DEAD) => ContainerState::Dead,
        _ => ContainerState::Unknown,
    };
    ContainerSummary {
        id: container.id.unwrap_or_default(),
        name: container
            .names
            .and_then(|names| names.into_iter().next())
            .map(|name| name.trim_start_matches('/').to_owned())
            .unwrap_or_default(),
        image: container.image.unwrap_or_default(),
        state,
        status: container.status.unwrap_or_default(),
        labels: sorted(container.labels),
    }
}

fn inspected(container: ContainerInspectResponse) -> Container {
    let state = container.state.unwrap_or_default();
    let config = container.config.unwrap_or_default();
    let labels = sorted(config.labels);
    let label = |key: &str| {
        labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let health = state.health.unwrap_or_default();
    let last = health.log.unwrap_or_default().pop();
    let health = Health {
        status: match health.status {
            Some(HealthStatusEnum::STARTING) => HealthStatus::Starting,
            Some(HealthStatusEnum::HEALTHY) => HealthStatus::Healthy,
            Some(HealthStatusEnum::UNHEALTHY) => HealthStatus::Unhealthy,
            _ => HealthStatus::None,
        },
        failing_streak: health
            .failing_streak
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        last_output: last
            .as_ref()
            .and_then(|l| l.output.as_ref())
            .map(|o| o.trim().to_owned()),
        last_exit_code: last.and_then(|l| l.exit_code),
    };
    let (name, tag) = split_image(config.image.as_deref().unwrap_or_default());
    let mut ports: Vec<Port> = container
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(key, bindings)| {
            let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let container_port = port.parse().unwrap_or(0);
            let protocol = protocol.to_owned();
            bindings
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |binding| {
                    Some(Port {
                        container_port,
                        protocol: protocol.clone(),
                        host_ip: binding.host_ip.unwrap_or_default(),
                        host_port: binding.host_port?.parse().ok()?,
                    })
                })
        })
        .collect();
    ports.sort_by(|a, b| {
        (a.container_port, &a.protocol, &a.host_ip).cmp(&(
            b.container_port,
            &b.protocol,
            &b.host_ip,
        ))
    });
    Container {
        id: container.id.unwrap_or_default(),
        name: container
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: ImageRef {
            name,
            tag,
            id: container.image.unwrap_or_default(),
        },
        state: match state.status {
            Some(ContainerStateStatusEnum::CREATED) => ContainerState::Created,
            Some(ContainerStateStatusEnum::RUNNING) => ContainerState::Running,
            Some(ContainerStateStatusEnum::PAUSED) => ContainerState::Paused,
            Some(ContainerStateStatusEnum::RESTARTING) => ContainerState::Restarting,
            Some(ContainerStateStatusEnum::REMOVING) => ContainerState::Removing,
            Some(ContainerStateStatusEnum::EXITED) => ContainerState::Exited,
            Some(ContainerStateStatusEnum::DEAD) => ContainerState::Dead,
            _ => ContainerState::Unknown,
        },
        exit_code: state.exit_code,
        health,
        restart_count: container
            .restart_count
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        // The engine's zero time means "never started".
        started_at: state.started_at.filter(|t| !t.starts_with("0001-")),
        compose_project: label(COMPOSE_PROJECT),
        compose_service: label(COMPOSE_SERVICE),
        labels,
        ports,
    }
}

/// `registry:5000/app:1.2@sha256:…` → (`registry:5000/app`, `1.2`): the tag
/// is what follows the last `:` after the last `/`.
fn split_image(image: &str) -> (String, Option<String>) {
    let image = image.split('@').next().unwrap_or_default();
    let slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[slash..].rfind(':') {
        Some(colon) => {
            let at = slash + colon;
            (image[..at].to_owned(), Some(image[at + 1..].to_owned()))
        }
        None => (image.to_owned(), None),
    }
}

/// CPU and memory as `docker stats` computes them. A value the engine did
/// not give is NaN, which no check can pass on.
fn snapshot(container: &str, stats: &ContainerStatsResponse) -> Result<StatsSnapshot, DockerError> {
    let (Some(cpu), Some(memory)) = (&stats.cpu_stats, &stats.memory_stats) else {
        return Err(DockerError::Engine(format!(
            "the engine gave no CPU or memory figures for `{container}`"
        )));
    };
    // As `docker stats`: the engine's count, else one per-CPU counter each.
    // With neither (cgroup v2 has no per-CPU counters) the count is unknown,
    // 0, and so is the share: a guess of one CPU would understate it.
    let online_cpus = cpu
        .online_cpus
        .filter(|n| *n > 0)
        .or_else(|| {
            cpu.cpu_usage
                .as_ref()
                .and_then(|u| u.percpu_usage.as_ref())
                .map(|p| u32::try_from(p.len()).unwrap_or(u32::MAX))
        })
        .unwrap_or(0);
    let total = |s: &bollard::models::ContainerCpuStats| {
        Some((s.cpu_usage.as_ref()?.total_usage?, s.system_cpu_usage?))
    };
    let cpu_percent = match (total(cpu), stats.precpu_stats.as_ref().and_then(total)) {
        // A counter that went back (the container restarted between the
        // samples) measured nothing.
        (Some((used, system)), Some((pre_used, pre_system)))
            if system > pre_system && used >= pre_used && online_cpus > 0 =>
        {
            (used - pre_used) as f64 / (system - pre_system) as f64 * f64::from(online_cpus) * 100.0
        }
        _ => f64::NAN,
    };
    let usage = memory.usage.unwrap_or(0);
    // Page cache the kernel can drop is not "used": cgroup v1 names it
    // total_inactive_file, v2 inactive_file.
    let cache = memory
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
        })
        .copied()
        .filter(|cache| *cache < usage)
        .unwrap_or(0);
    let used = usage - cache;
    let limit = memory.limit.unwrap_or(0);
    let memory_percent = if limit > 0 && memory.usage.is_some() {
        used as f64 / limit as f64 * 100.0
    } else {
        f64::NAN
    };
    Ok(StatsSnapshot {
        cpu_percent,
        online_cpus,
        memory_used: used,
        memory_limit: limit,
        memory_percent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_path_is_read_as_the_file_system_spells_it() {
        let host = parse_host("unix:///run/my docker/ü.sock").unwrap();
        assert_eq!(
            socket_path(&host),
            std::path::Path::new("/run/my docker/ü.sock")
        );
        let plain = parse_host("unix:///var/run/docker.sock").unwrap();
        assert_eq!(
            socket_path(&plain),
            std::path::Path::new("/var/run/docker.sock")
        );
    }

    #[test]
    fn an_answer_that_broke_off_is_the_engines_error_not_unreachable() {
        let engine = Engine::new(Url::parse("unix:///run/docker.sock").unwrap());
        let broke_off = BollardError::IOError {
            err: std::io::Error::other("error reading a body from connection"),
        };
        match engine.error(broke_off) {
            DockerError::Engine(message) => assert_eq!(
                message,
                "Docker engine unix:///run/docker.sock: its answer broke off (error reading a \
                 body from connection); an answer is read up to 64 MiB"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_names_and_tags() {
        let split = |s: &str| split_image(s);
        assert_eq!(split("app:1.2"), ("app".into(), Some("1.2".into())));
        assert_eq!(split("app"), ("app".into(), None));
        assert_eq!(
            split("registry:5000/team/app:v3"),
            ("registry:5000/team/app".into(), Some("v3".into()))
        );
        assert_eq!(
            split("registry:5000/app"),
            ("registry:5000/app".into(), None)
        );
        assert_eq!(split("app:1@sha256:abc"), ("app".into(), Some("1".into())));
    }

    #[test]
    fn hosts() {
        assert!(parse_host("unix:///var/run/docker.sock").is_ok());
        assert!(parse_host("tcp://127.0.0.1:2375").is_ok());
        assert!(parse_host("unix://").is_err());
        assert!(parse_host("docker.sock").is_err());
        assert!(
            parse_host("ssh://me@host")
                .unwrap_err()
                .contains("unix socket or plain tcp")
        );
        for with_credentials in [
            "tcp://me:secret@host:2375",
            "http://token@host",
            "tcp://:secret@h",
            // The URL standard allows any number of slashes after http:.
            "http:/u:secret@host",
            "http:///u:secret@host",
            "unix://me:secret@host/var/run/docker.sock",
        ] {
            let why = parse_host(with_credentials).unwrap_err();
            assert!(why.contains("may not hold a user or password"), "{why}");
            assert!(!why.contains("secret") && !why.contains("token"), "{why}");
        }
        // Refused for their scheme, without quoting a user or password.
        for elsewhere in ["ssh://me@host", "https://u:secret@host"] {
            let why = parse_host(elsewhere).unwrap_err();
            assert!(why.contains("unix socket or plain tcp"), "{why}");
            assert!(!why.contains("secret") && !why.contains("me@"), "{why}");
        }
        let why = parse_host("ftp://u:secret@host").unwrap_err();
        assert!(why.contains("`ftp://…` is not a Docker host"), "{why}");
        let given = Url::parse("tcp://10.0.0.1:2375").unwrap();
        assert_eq!(resolve_host(Some(&given)).unwrap(), given);
    }

    #[test]
    fn references() {
        assert!(valid_reference("gate-web-1").is_ok());
        assert!(valid_reference("0123abcd").is_ok());
        assert!(valid_reference("").is_err());
        assert!(valid_reference("../../images/json").is_err());
        assert!(valid_reference("a?b").is_err());
        for dots in [".", "..", ".hidden", "-flag", "_x"] {
            assert!(valid_reference(dots).is_err(), "{dots}");
        }
        assert!(valid_reference("web.1_a-b").is_ok());
    }

    #[test]
    fn stats_like_docker_stats() {
        let stats: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000, "online_cpus": 2},
            "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 200}}
        }))
        .unwrap();
        let measured = snapshot("c", &stats).unwrap();
        assert_eq!(measured.cpu_percent, 40.0);
        assert_eq!(measured.memory_used, 800);
        assert_eq!(measured.memory_percent, 20.0);

        let first: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000},
            "precpu_stats": {},
            "memory_stats": {}
        }))
        .unwrap();
        let unsampled = snapshot("c", &first).unwrap();
        assert!(unsampled.cpu_percent.is_nan());
        assert!(unsampled.memory_percent.is_nan());
    }

    /// What could not be measured is NaN, never a small number a limit
    /// passes: no CPU count (a Podman engine on cgroup v2), an empty
    /// per-CPU list, a usage counter that went back.
    #[test]
    fn stats_unmeasured_cpu_is_nan() {
        let measure = |cpu: serde_json::Value, precpu: serde_json::Value| {
            let stats: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
                "cpu_stats": cpu, "precpu_stats": precpu, "memory_stats": {}
            }))
            .unwrap();
            snapshot("c", &stats).unwrap()
        };
        let pre = serde_json::json!({"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000});
        let no_count = measure(
            serde_json::json!({"cpu_usage": {"total_usage": 900}, "system_cpu_usage": 2000}),
            pre.clone(),
        );
        assert!(no_count.cpu_percent.is_nan());
        assert_eq!(no_count.online_cpus, 0);
        let empty_list = measure(
            serde_json::json!({"cpu_usage": {"total_usage": 900, "percpu_usage": []}, "system_cpu_usage": 2000}),
            pre.clone(),
        );
        assert!(empty_list.cpu_percent.is_nan());
        let per_cpu = measure(
            serde_json::json!({"cpu_usage": {"total_usage": 900, "percpu_usage": [1, 2, 3, 4]}, "system_cpu_usage": 2000}),
            pre.clone(),
        );
        assert_eq!((per_cpu.online_cpus, per_cpu.cpu_percent), (4, 320.0));
        let restarted = measure(
            serde_json::json!({"cpu_usage": {"total_usage": 50}, "system_cpu_usage": 2000, "online_cpus": 2}),
            pre,
        );
        assert!(restarted.cpu_percent.is_nan());
    }
}
