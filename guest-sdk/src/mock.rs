//! A mock host, to unit-test checks natively with `cargo test`.
//!
//! The real host exists only inside gate. Natively, every call the SDK makes
//! to the host (HTTP, metrics, Docker, TLS, params, secrets, log) is answered by the
//! [`MockHost`] that is running the check: set its answers in Rust, run a
//! check with [`MockHost::run`], assert the outcome.
//!
//! ```
//! use gate_sdk::http::{self, Method, Response};
//! use gate_sdk::mock::MockHost;
//! use gate_sdk::{Check, CheckResult, Outcome, Policy, PolicyKind, Result};
//!
//! fn ready() -> Result<CheckResult> {
//!     let response = http::get("/ready")?;
//!     Ok(if response.status() == 200 {
//!         CheckResult::pass("ready")
//!     } else {
//!         CheckResult::fail(format!("/ready answered {}", response.status()))
//!     })
//! }
//!
//! let policy = Policy::new("example", PolicyKind::Gate).check(Check::new("ready", "", ready));
//! let host = MockHost::new().http(Method::Get, "/ready", Response::new("/ready", 503, vec![], "", 1.0));
//! let result = host.run(&policy, "ready")?;
//! assert_eq!(result.outcome, Outcome::Fail);
//! assert_eq!(host.requests()[0].url(), "/ready");
//! # Ok::<(), gate_sdk::Error>(())
//! ```
//!
//! A request or query the mock has no answer for panics, naming it, so a
//! test never passes on a call nobody thought about.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::__private::bindings::gate::policy::context::LogLevel;
use crate::__private::bindings::gate::policy::http as wit_http;
use crate::__private::bindings::gate::policy::metrics as wit_metrics;
use crate::docker::{self, Container, DockerError, Filter, Stats, Summary};
use crate::http::{HttpError, Method, Request, Response};
use crate::metrics::{MetricsError, QueryResult, Sample, Series};
use crate::tls::{Peer, TlsError};
use crate::{CheckResult, Policy, Result};

/// A Prometheus query a check made: instant (`range` is `None`) or range.
///
/// ```
/// use gate_sdk::mock::MetricsQuery;
///
/// let query = MetricsQuery { promql: "up".into(), time: None, range: None };
/// assert_eq!(query.promql, "up");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    /// The PromQL, as the check wrote it.
    pub promql: String,
    /// The evaluation time of an instant query, when the check gave one.
    pub time: Option<f64>,
    /// Start, end and step (seconds) of a range query.
    pub range: Option<(f64, f64, f64)>,
}

/// A Docker engine call a check made.
///
/// ```
/// use gate_sdk::mock::DockerCall;
///
/// let call = DockerCall::Inspect("shop-web-1".into());
/// assert_ne!(call, DockerCall::Stats("shop-web-1".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerCall {
    /// [`docker::list`](crate::docker::list) with this filter.
    List(Filter),
    /// [`docker::inspect`](crate::docker::inspect) of this id or name.
    Inspect(String),
    /// [`docker::stats`](crate::docker::stats) of this id or name.
    Stats(String),
}

/// The mock's Docker engine: its containers and their stats, or one error
/// for every call.
#[derive(Default)]
struct Engine {
    /// Whether the test said anything about Docker at all.
    set: bool,
    containers: Vec<Container>,
    stats: Vec<(String, Stats)>,
    error: Option<DockerError>,
}

/// One way of answering a call: `None` leaves the call to other rules.
type Rule<Q, A> = Box<dyn FnMut(&Q) -> Option<A>>;

/// Answers of one capability, each with a label for messages: the most
/// recently added one that answers a call wins.
struct Answers<Q, A> {
    what: &'static str,
    rules: Vec<(String, Rule<Q, A>)>,
}

impl<Q: std::fmt::Debug, A> Answers<Q, A> {
    fn new(what: &'static str) -> Self {
        Answers {
            what,
            rules: Vec::new(),
        }
    }

    fn add(&mut self, label: String, rule: impl FnMut(&Q) -> Option<A> + 'static) {
        self.rules.push((label, Box::new(rule)));
    }

    fn answer(&mut self, call: &Q, shown: &str) -> A {
        for (_, rule) in self.rules.iter_mut().rev() {
            if let Some(answer) = rule(call) {
                return answer;
            }
        }
        let known: Vec<&str> = self.rules.iter().map(|(label, _)| label.as_str()).collect();
        panic!(
            "MockHost has no {} answer for {shown}; it answers: {}",
            self.what,
            if known.is_empty() {
                "nothing yet".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
}

/// What the running check sees as its host.
pub(crate) struct State {
    target: Option<String>,
    env: String,
    release: Option<String>,
    params: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    http: Answers<Request, core::result::Result<Response, HttpError>>,
    metrics: Answers<MetricsQuery, core::result::Result<QueryResult, MetricsError>>,
    docker: Engine,
    tls: Answers<(String, u16), core::result::Result<Peer, TlsError>>,
    requests: Vec<Request>,
    queries: Vec<MetricsQuery>,
    docker_calls: Vec<DockerCall>,
    tls_calls: Vec<(String, u16)>,
    log: Vec<String>,
    slept_ms: u64,
}

/// A host for native tests: the target, env, params and secrets a check
/// reads, and the answers to its HTTP requests, Prometheus queries, Docker
/// engine calls and TLS handshakes.
///
/// Build it, [`run`](MockHost::run) a check with it, then look at what the
/// check asked ([`requests`](MockHost::requests),
/// [`queries`](MockHost::queries), [`log`](MockHost::log)).
///
/// ```
/// use gate_sdk::mock::MockHost;
/// use gate_sdk::{context, Check, CheckResult, Outcome, Policy, PolicyKind};
///
/// let policy = Policy::new("p", PolicyKind::Gate).check(Check::new("env", "", || {
///     Ok(CheckResult::pass(format!("{} with {}", context::env_name(), context::param_or("samples", 1u32)?)))
/// }));
/// let result = MockHost::new().env("stage").param("samples", "5").run(&policy, "env")?;
/// assert_eq!(result.message, "stage with 5");
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub struct MockHost {
    state: Rc<RefCell<State>>,
}

impl Default for MockHost {
    fn default() -> Self {
        MockHost::new()
    }
}

impl MockHost {
    /// A host with no target, env `default`, no params, no secrets and no
    /// answers.
    ///
    /// ```
    /// let host = gate_sdk::mock::MockHost::new();
    /// assert!(host.requests().is_empty());
    /// ```
    pub fn new() -> Self {
        MockHost {
            state: Rc::new(RefCell::new(State {
                target: None,
                env: "default".to_owned(),
                release: None,
                params: BTreeMap::new(),
                secrets: BTreeMap::new(),
                http: Answers::new("HTTP"),
                metrics: Answers::new("metrics"),
                docker: Engine::default(),
                tls: Answers::new("TLS"),
                requests: Vec::new(),
                queries: Vec::new(),
                docker_calls: Vec::new(),
                tls_calls: Vec::new(),
                log: Vec::new(),
                slept_ms: 0,
            })),
        }
    }

    fn with_state(self, change: impl FnOnce(&mut State)) -> Self {
        change(&mut self.state.borrow_mut());
        self
    }

    /// The target URL (`--target`).
    ///
    /// ```
    /// let host = gate_sdk::mock::MockHost::new().target("https://stage.example.com");
    /// # let _ = host;
    /// ```
    pub fn target(self, url: impl Into<String>) -> Self {
        let url = url.into();
        self.with_state(|s| s.target = Some(url))
    }

    /// The environment's name (`--env`).
    ///
    /// ```
    /// let host = gate_sdk::mock::MockHost::new().env("prod");
    /// # let _ = host;
    /// ```
    pub fn env(self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.with_state(|s| s.env = name)
    }

    /// The release the run judges (`--release`).
    ///
    /// ```
    /// let host = gate_sdk::mock::MockHost::new().release("v1.4.2");
    /// # let _ = host;
    /// ```
    pub fn release(self, id: impl Into<String>) -> Self {
        let id = id.into();
        self.with_state(|s| s.release = Some(id))
    }

    /// A parameter (`--param name=value`).
    ///
    /// ```
    /// let host = gate_sdk::mock::MockHost::new().param("samples", "5");
    /// # let _ = host;
    /// ```
    pub fn param(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        self.with_state(|s| {
            s.params.insert(name, value);
        })
    }

    /// A secret (`GATE_SECRET_<NAME>`); `api-token` and `api_token` are the
    /// same secret, as in gate.
    ///
    /// ```
    /// let host = gate_sdk::mock::MockHost::new().secret("api_token", "t0ken");
    /// # let _ = host;
    /// ```
    pub fn secret(self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        self.with_state(|s| {
            s.secrets.insert(secret_key(name), value);
        })
    }

    /// Answers `method url` (the URL exactly as the check gives it, e.g.
    /// `/ready`) with `response`, as often as it is asked. The check reads
    /// the response's headers as gate hands them over in a run: names
    /// lower-cased, a repeated header's lines joined with ", " (but
    /// `Set-Cookie`'s, kept apart).
    ///
    /// ```
    /// use gate_sdk::http::{Method, Response};
    ///
    /// let host = gate_sdk::mock::MockHost::new()
    ///     .http(Method::Get, "/ready", Response::new("/ready", 200, vec![], "", 1.0));
    /// # let _ = host;
    /// ```
    pub fn http(self, method: Method, url: &str, response: Response) -> Self {
        self.http_answer(method, url, Ok(response))
    }

    /// Answers `method url` with a transport error.
    ///
    /// ```
    /// use gate_sdk::http::{HttpError, Method};
    ///
    /// let host = gate_sdk::mock::MockHost::new()
    ///     .http_error(Method::Get, "/ready", HttpError::Connect("connection refused".into()));
    /// # let _ = host;
    /// ```
    pub fn http_error(self, method: Method, url: &str, error: HttpError) -> Self {
        self.http_answer(method, url, Err(error))
    }

    fn http_answer(
        self,
        method: Method,
        url: &str,
        answer: core::result::Result<Response, HttpError>,
    ) -> Self {
        let url = url.to_owned();
        let label = format!("{method} {url}");
        self.with_state(|s| {
            s.http.add(label, move |request: &Request| {
                (request.method() == method && request.url() == url).then(|| answer.clone())
            })
        })
    }

    /// Answers HTTP requests with a function of the request: `None` leaves
    /// the request to earlier answers. For sequences (one answer in four
    /// fails), keep a counter in the closure.
    ///
    /// ```
    /// use gate_sdk::http::Response;
    ///
    /// let mut sent = 0;
    /// let host = gate_sdk::mock::MockHost::new().on_http(move |request| {
    ///     sent += 1;
    ///     let status = if sent % 4 == 0 { 500 } else { 200 };
    ///     Some(Ok(Response::new(request.url(), status, vec![], "", 5.0)))
    /// });
    /// # let _ = host;
    /// ```
    pub fn on_http(
        self,
        answer: impl FnMut(&Request) -> Option<core::result::Result<Response, HttpError>> + 'static,
    ) -> Self {
        self.with_state(|s| s.http.add("(on_http)".to_owned(), answer))
    }

    /// Answers every query (instant or range) of exactly `promql` with
    /// `result`.
    ///
    /// ```
    /// use gate_sdk::metrics::{QueryResult, Sample, Series};
    ///
    /// let three_percent = QueryResult::Vector(vec![Series {
    ///     labels: vec![],
    ///     samples: vec![Sample { timestamp: 1_700_000_000.0, value: 0.03 }],
    /// }]);
    /// let host = gate_sdk::mock::MockHost::new().metrics("sum(rate(errors[5m]))", three_percent);
    /// # let _ = host;
    /// ```
    pub fn metrics(self, promql: &str, result: QueryResult) -> Self {
        self.metrics_answer(promql, Ok(result))
    }

    /// Answers every query of exactly `promql` with one number now: an
    /// instant vector of one series without labels.
    ///
    /// ```
    /// let host = gate_sdk::mock::MockHost::new().metric_value("up", 1.0);
    /// # let _ = host;
    /// ```
    pub fn metric_value(self, promql: &str, value: f64) -> Self {
        let result = QueryResult::Vector(vec![Series {
            labels: Vec::new(),
            samples: vec![Sample {
                timestamp: crate::metrics::now(),
                value,
            }],
        }]);
        self.metrics(promql, result)
    }

    /// Answers every query of exactly `promql` with an error.
    ///
    /// ```
    /// use gate_sdk::metrics::MetricsError;
    ///
    /// let host = gate_sdk::mock::MockHost::new()
    ///     .metrics_error("up", MetricsError::Unreachable("connection refused".into()));
    /// # let _ = host;
    /// ```
    pub fn metrics_error(self, promql: &str, error: MetricsError) -> Self {
        self.metrics_answer(promql, Err(error))
    }

    fn metrics_answer(
        self,
        promql: &str,
        answer: core::result::Result<QueryResult, MetricsError>,
    ) -> Self {
        let promql = promql.to_owned();
        let label = format!("`{promql}`");
        self.with_state(|s| {
            s.metrics.add(label, move |query: &MetricsQuery| {
                (query.promql == promql).then(|| answer.clone())
            })
        })
    }

    /// Answers Prometheus queries with a function of the query; `None`
    /// leaves it to earlier answers.
    ///
    /// ```
    /// use gate_sdk::metrics::QueryResult;
    ///
    /// let host = gate_sdk::mock::MockHost::new()
    ///     .on_metrics(|query| query.promql.contains("up").then(|| Ok(QueryResult::Vector(vec![]))));
    /// # let _ = host;
    /// ```
    pub fn on_metrics(
        self,
        answer: impl FnMut(&MetricsQuery) -> Option<core::result::Result<QueryResult, MetricsError>>
        + 'static,
    ) -> Self {
        self.with_state(|s| s.metrics.add("(on_metrics)".to_owned(), answer))
    }

    /// A container the mock Docker engine has: [`docker::list`] finds it
    /// (filtered as the engine filters: compose project, labels, part of
    /// the name, stopped ones only with `all`) and [`docker::inspect`]
    /// answers it by id or name (a container given without an id gets
    /// `mock-NAME`). Once any container is given, an unknown one is
    /// `not-found`, as with a real engine.
    ///
    /// ```
    /// use gate_sdk::docker::{self, Container, HealthStatus, State};
    /// use gate_sdk::mock::MockHost;
    /// use gate_sdk::{Check, Outcome, Policy, PolicyKind};
    ///
    /// let mut web = Container::new("shop-web-1", State::Running);
    /// web.compose_project = Some("shop".into());
    /// web.health.status = HealthStatus::Unhealthy;
    /// let policy = Policy::new("p", PolicyKind::Gate)
    ///     .check(Check::new("containers", "", || docker::compose_healthy("shop")));
    /// let result = MockHost::new().container(web).run(&policy, "containers")?;
    /// assert_eq!(result.outcome, Outcome::Fail);
    /// # Ok::<(), gate_sdk::Error>(())
    /// ```
    pub fn container(self, mut container: Container) -> Self {
        // Checks inspect what they listed by id, as with a real engine.
        if container.id.is_empty() {
            container.id = format!("mock-{}", container.name);
        }
        self.with_state(|s| {
            s.docker.set = true;
            s.docker.containers.push(container);
        })
    }

    /// The stats [`docker::stats`] answers for `container` (id or name).
    ///
    /// ```
    /// use gate_sdk::docker::{Container, State, Stats};
    ///
    /// let host = gate_sdk::mock::MockHost::new()
    ///     .container(Container::new("shop-web-1", State::Running))
    ///     .container_stats("shop-web-1", Stats { cpu_percent: 12.5, online_cpus: 2,
    ///         memory_used: 64 << 20, memory_limit: 256 << 20, memory_percent: 25.0 });
    /// # let _ = host;
    /// ```
    pub fn container_stats(self, container: &str, stats: Stats) -> Self {
        let container = container.to_owned();
        self.with_state(|s| {
            s.docker.set = true;
            s.docker.stats.push((container, stats));
        })
    }

    /// Every Docker call fails with `error`: the engine is down, or was not
    /// granted.
    ///
    /// ```
    /// use gate_sdk::docker::DockerError;
    ///
    /// let host = gate_sdk::mock::MockHost::new()
    ///     .docker_error(DockerError::Unreachable("connection refused".into()));
    /// # let _ = host;
    /// ```
    pub fn docker_error(self, error: DockerError) -> Self {
        self.with_state(|s| {
            s.docker.set = true;
            s.docker.error = Some(error);
        })
    }

    /// Answers a TLS handshake with `host:port` with `peer`.
    ///
    /// ```
    /// use gate_sdk::mock::MockHost;
    /// use gate_sdk::tls::{self, Certificate, Peer};
    /// use gate_sdk::{Check, Outcome, Policy, PolicyKind};
    ///
    /// let peer = Peer {
    ///     certificate: Certificate { subject: "CN=api".into(), issuer: "CN=ca".into(),
    ///         sans: vec!["api.example.com".into()], not_before: 0, not_after: 0, serial: "01".into() },
    ///     days_left: 3.0, chain_length: 2, trusted: true, untrusted_reason: None,
    ///     protocol: "TLSv1.3".into(),
    /// };
    /// let policy = Policy::new("p", PolicyKind::Gate).check(Check::new("cert", "", || {
    ///     tls::cert_valid_for("api.example.com", 443, 14.0)
    /// }));
    /// let result = MockHost::new().tls("api.example.com", 443, peer).run(&policy, "cert")?;
    /// assert_eq!(result.outcome, Outcome::Fail);
    /// # Ok::<(), gate_sdk::Error>(())
    /// ```
    pub fn tls(self, host: &str, port: u16, peer: Peer) -> Self {
        self.tls_answer(host, port, Ok(peer))
    }

    /// Answers a TLS handshake with `host:port` with an error.
    ///
    /// ```
    /// use gate_sdk::tls::TlsError;
    ///
    /// let host = gate_sdk::mock::MockHost::new()
    ///     .tls_error("api.example.com", 443, TlsError::Connect("connection refused".into()));
    /// # let _ = host;
    /// ```
    pub fn tls_error(self, host: &str, port: u16, error: TlsError) -> Self {
        self.tls_answer(host, port, Err(error))
    }

    fn tls_answer(
        self,
        host: &str,
        port: u16,
        answer: core::result::Result<Peer, TlsError>,
    ) -> Self {
        let wanted = (host.to_ascii_lowercase(), port);
        let label = format!("{host}:{port}");
        self.with_state(|s| {
            s.tls.add(label, move |asked: &(String, u16)| {
                (asked.0.eq_ignore_ascii_case(&wanted.0) && asked.1 == wanted.1)
                    .then(|| answer.clone())
            })
        })
    }

    /// Runs check `name` of `policy` against this host, as gate would run it
    /// (an `Err` is what gate reports as `error`), with gate's own rules:
    ///
    /// * a pass or warn carrying a measurement that is not a finite number
    ///   (NaN, ∞) comes back `inconclusive`, its message saying why;
    /// * a policy gate refuses to load (a check name that is empty, over 256
    ///   bytes, holds whitespace or control characters, or is used twice;
    ///   see [`Check::new`](crate::Check::new)) panics, naming the check, as
    ///   gate runs none of its checks.
    ///
    /// ```
    /// use gate_sdk::mock::MockHost;
    /// use gate_sdk::{Check, CheckResult, Measurement, Outcome, Policy, PolicyKind};
    ///
    /// let policy = Policy::new("p", PolicyKind::Smoke)
    ///     .check(Check::new("ok", "", || Ok(CheckResult::pass("fine"))))
    ///     .check(Check::new("nan", "", || {
    ///         Ok(CheckResult::pass("fast").with(Measurement::new("p95", f64::NAN, "ms")))
    ///     }));
    /// assert_eq!(MockHost::new().run(&policy, "ok")?.outcome, Outcome::Pass);
    /// assert_eq!(MockHost::new().run(&policy, "nan")?.outcome, Outcome::Inconclusive);
    /// assert!(MockHost::new().run(&policy, "missing").is_err());
    /// # Ok::<(), gate_sdk::Error>(())
    /// ```
    pub fn run(&self, policy: &Policy, name: &str) -> Result<CheckResult> {
        if let Some(refusal) = policy.refusal() {
            panic!("{refusal}");
        }
        let _running = Running::install(self.state.clone());
        policy.run_check(name).map(CheckResult::into_gate_report)
    }

    /// Every HTTP request the checks run so far sent, in order.
    ///
    /// ```
    /// assert!(gate_sdk::mock::MockHost::new().requests().is_empty());
    /// ```
    pub fn requests(&self) -> Vec<Request> {
        self.state.borrow().requests.clone()
    }

    /// Every Prometheus query the checks run so far made, in order.
    ///
    /// ```
    /// assert!(gate_sdk::mock::MockHost::new().queries().is_empty());
    /// ```
    pub fn queries(&self) -> Vec<MetricsQuery> {
        self.state.borrow().queries.clone()
    }

    /// Every Docker engine call the checks run so far made, in order.
    ///
    /// ```
    /// assert!(gate_sdk::mock::MockHost::new().docker_calls().is_empty());
    /// ```
    pub fn docker_calls(&self) -> Vec<DockerCall> {
        self.state.borrow().docker_calls.clone()
    }

    /// Every TLS handshake (host, port) the checks run so far asked for.
    ///
    /// ```
    /// assert!(gate_sdk::mock::MockHost::new().tls_calls().is_empty());
    /// ```
    pub fn tls_calls(&self) -> Vec<(String, u16)> {
        self.state.borrow().tls_calls.clone()
    }

    /// The log lines, as `level: message`.
    ///
    /// ```
    /// assert!(gate_sdk::mock::MockHost::new().log().is_empty());
    /// ```
    pub fn log(&self) -> Vec<String> {
        self.state.borrow().log.clone()
    }

    /// How long the checks asked to sleep, in ms (the mock never sleeps).
    ///
    /// ```
    /// assert_eq!(gate_sdk::mock::MockHost::new().slept_ms(), 0);
    /// ```
    pub fn slept_ms(&self) -> u64 {
        self.state.borrow().slept_ms
    }
}

/// `api-token` and `api_token` both name `API_TOKEN`, as in gate.
fn secret_key(name: &str) -> String {
    gate_units::secret_key(name)
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

/// The mock host installed for the check running on this thread; put back
/// as it was when dropped, panics included.
struct Running {
    previous: Option<Rc<RefCell<State>>>,
}

impl Running {
    fn install(state: Rc<RefCell<State>>) -> Running {
        let previous = CURRENT.with(|current| current.replace(Some(state)));
        Running { previous }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// Runs `call` against the mock host of the running check.
pub(crate) fn with<T>(call: impl FnOnce(&mut State) -> T) -> T {
    let state = CURRENT
        .with(|current| current.borrow().clone())
        .unwrap_or_else(|| {
            panic!(
                "a gate host function was called outside MockHost::run: natively, run checks with \
             gate_sdk::mock::MockHost (the real host exists only inside gate)"
            )
        });
    let mut state = state.borrow_mut();
    call(&mut state)
}

/// The host functions of [`crate::host`], answered by the mock.
impl State {
    pub(crate) fn http_send(
        &mut self,
        request: &wit_http::Request,
    ) -> core::result::Result<wit_http::Response, wit_http::HttpError> {
        let request = Request::from_wit(request);
        self.requests.push(request.clone());
        let shown = format!("{} {}", request.method(), request.url());
        match self.http.answer(&request, &shown) {
            Ok(response) => Ok(response.to_wit()),
            Err(error) => Err(error.to_wit()),
        }
    }

    pub(crate) fn metrics_query(
        &mut self,
        promql: &str,
        time: Option<f64>,
    ) -> core::result::Result<wit_metrics::QueryResult, wit_metrics::MetricsError> {
        self.metrics_call(MetricsQuery {
            promql: promql.to_owned(),
            time,
            range: None,
        })
    }

    pub(crate) fn metrics_query_range(
        &mut self,
        promql: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> core::result::Result<wit_metrics::QueryResult, wit_metrics::MetricsError> {
        self.metrics_call(MetricsQuery {
            promql: promql.to_owned(),
            time: None,
            range: Some((start, end, step)),
        })
    }

    fn metrics_call(
        &mut self,
        query: MetricsQuery,
    ) -> core::result::Result<wit_metrics::QueryResult, wit_metrics::MetricsError> {
        self.queries.push(query.clone());
        let shown = format!("`{}`", query.promql);
        match self.metrics.answer(&query, &shown) {
            Ok(result) => Ok(result_to_wit(result)),
            Err(error) => Err(error_to_wit(error)),
        }
    }

    pub(crate) fn docker_list(
        &mut self,
        filter: &Filter,
    ) -> core::result::Result<Vec<Summary>, DockerError> {
        self.docker_calls.push(DockerCall::List(filter.clone()));
        self.docker.ready(&format!("list {filter:?}"))?;
        let mut found: Vec<Summary> = self
            .docker
            .containers
            .iter()
            .filter(|c| Engine::listed(c, filter))
            .map(Engine::summary)
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    pub(crate) fn docker_inspect(
        &mut self,
        container: &str,
    ) -> core::result::Result<Container, DockerError> {
        self.docker_calls
            .push(DockerCall::Inspect(container.to_owned()));
        self.docker.ready(&format!("inspect `{container}`"))?;
        self.docker.find(container).cloned()
    }

    pub(crate) fn docker_stats(
        &mut self,
        container: &str,
    ) -> core::result::Result<Stats, DockerError> {
        self.docker_calls
            .push(DockerCall::Stats(container.to_owned()));
        self.docker.ready(&format!("stats `{container}`"))?;
        let found = self.docker.find(container)?;
        let names = [found.id.as_str(), found.name.as_str(), container];
        match self
            .docker
            .stats
            .iter()
            .rev()
            .find(|(name, _)| names.contains(&name.as_str()))
        {
            Some((_, stats)) => Ok(*stats),
            None => panic!(
                "MockHost has no Docker stats for `{container}`: give them with \
                 MockHost::container_stats"
            ),
        }
    }

    pub(crate) fn tls_inspect(
        &mut self,
        host: &str,
        port: u16,
    ) -> core::result::Result<Peer, TlsError> {
        let call = (host.to_owned(), port);
        self.tls_calls.push(call.clone());
        self.tls.answer(&call, &format!("{host}:{port}"))
    }

    pub(crate) fn target(&mut self) -> Option<String> {
        self.target.clone()
    }

    pub(crate) fn env_name(&mut self) -> String {
        self.env.clone()
    }

    pub(crate) fn release(&mut self) -> Option<String> {
        self.release.clone()
    }

    pub(crate) fn param(&mut self, name: &str) -> Option<String> {
        self.params.get(name).cloned()
    }

    pub(crate) fn params(&mut self) -> Vec<(String, String)> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn secret(&mut self, name: &str) -> Option<String> {
        self.secrets.get(&secret_key(name)).cloned()
    }

    pub(crate) fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        self.log.push(format!("{level}: {message}"));
    }

    pub(crate) fn sleep(&mut self, ms: u32) {
        self.slept_ms += u64::from(ms);
    }
}

impl Engine {
    /// The engine's error, if the test set one; a panic if the test never
    /// said anything about Docker.
    fn ready(&self, shown: &str) -> core::result::Result<(), DockerError> {
        if !self.set {
            panic!(
                "MockHost has no Docker answer for {shown}; give containers with \
                 MockHost::container (or an error with MockHost::docker_error)"
            );
        }
        match &self.error {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    /// A container by id or name, as the engine finds it.
    fn find(&self, wanted: &str) -> core::result::Result<&Container, DockerError> {
        self.containers
            .iter()
            .rev()
            .find(|c| c.name == wanted || (!c.id.is_empty() && c.id == wanted))
            .ok_or_else(|| DockerError::NotFound(format!("No such container: {wanted}")))
    }

    /// The labels as the engine has them: compose's included.
    fn labels(container: &Container) -> Vec<(String, String)> {
        let mut labels = container.labels.clone();
        let compose = [
            (docker::COMPOSE_PROJECT, &container.compose_project),
            (docker::COMPOSE_SERVICE, &container.compose_service),
        ];
        for (key, value) in compose {
            if let Some(value) = value
                && !labels.iter().any(|(k, _)| k == key)
            {
                labels.push((key.to_owned(), value.clone()));
            }
        }
        labels
    }

    /// Whether `docker ps` with `filter` would list `container`.
    fn listed(container: &Container, filter: &Filter) -> bool {
        use crate::docker::State;
        let labels = Engine::labels(container);
        let has = |key: &str, value: Option<&str>| {
            labels
                .iter()
                .any(|(k, v)| k == key && value.is_none_or(|value| v == value))
        };
        let alive = matches!(
            container.state,
            State::Running | State::Paused | State::Restarting
        );
        (filter.all || alive)
            && filter
                .compose_project
                .as_deref()
                .is_none_or(|project| has(docker::COMPOSE_PROJECT, Some(project)))
            && filter
                .labels
                .iter()
                .all(|label| match label.split_once('=') {
                    Some((key, value)) => has(key, Some(value)),
                    None => has(label, None),
                })
            && filter
                .name
                .as_deref()
                .is_none_or(|name| container.name.contains(name))
    }

    fn summary(container: &Container) -> Summary {
        use crate::docker::{HealthStatus, State};
        let health = match container.health.status {
            HealthStatus::None => "",
            HealthStatus::Starting => " (health: starting)",
            HealthStatus::Healthy => " (healthy)",
            HealthStatus::Unhealthy => " (unhealthy)",
        };
        let status = match container.state {
            State::Running => format!("Up{health}"),
            State::Exited => format!("Exited ({})", container.exit_code.unwrap_or(0)),
            other => other.to_string(),
        };
        Summary {
            id: container.id.clone(),
            name: container.name.clone(),
            image: container.image.to_string(),
            state: container.state,
            status,
            labels: Engine::labels(container),
        }
    }
}

fn result_to_wit(result: QueryResult) -> wit_metrics::QueryResult {
    let sample = |s: Sample| wit_metrics::Sample {
        timestamp: s.timestamp,
        value: s.value,
    };
    let series = |list: Vec<Series>| {
        list.into_iter()
            .map(|s| wit_metrics::Series {
                labels: s.labels,
                samples: s.samples.into_iter().map(sample).collect(),
            })
            .collect()
    };
    match result {
        QueryResult::Vector(list) => wit_metrics::QueryResult::Vector(series(list)),
        QueryResult::Matrix(list) => wit_metrics::QueryResult::Matrix(series(list)),
        QueryResult::Scalar(s) => wit_metrics::QueryResult::Scalar(sample(s)),
    }
}

fn error_to_wit(error: MetricsError) -> wit_metrics::MetricsError {
    use wit_metrics::MetricsError as Wit;
    match error {
        MetricsError::NotGranted(why) => Wit::NotGranted(why),
        MetricsError::Unreachable(why) => Wit::Unreachable(why),
        MetricsError::BadQuery(why) => Wit::BadQuery(why),
        MetricsError::Timeout(ms) => Wit::Timeout(ms),
        MetricsError::Status(status, message) => {
            Wit::Status(wit_metrics::StatusError { status, message })
        }
        MetricsError::InvalidResponse(why) => Wit::InvalidResponse(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Check, Limit, Outcome, PolicyKind, context, http, log, metrics};

    fn policy() -> Policy {
        Policy::new("t", PolicyKind::Gate)
            .check(Check::new("status", "", || {
                let token = context::require_secret("api-token")?;
                let response = Request::get("/s").bearer(&token).send()?;
                log::info(format!("got {}", response.status()));
                Ok(CheckResult::pass(response.text()))
            }))
            .check(Check::new("ratio", "", || {
                metrics::measure("ratio", "errors", "ratio", Limit::Below(0.01))
            }))
            .check(Check::new("unknown", "", || {
                http::get("/nobody-answers").map(|_| CheckResult::pass(""))
            }))
    }

    #[test]
    fn answers_requests_and_records_them() {
        let host = MockHost::new()
            .secret("API_TOKEN", "t0k")
            .http(
                Method::Get,
                "/s",
                Response::new("/s", 200, vec![], "old", 1.0),
            )
            .http(
                Method::Get,
                "/s",
                Response::new("/s", 200, vec![], "new", 1.0),
            );
        let result = host.run(&policy(), "status").unwrap();
        // The most recent answer wins.
        assert_eq!(result.message, "new");
        let sent = host.requests();
        assert_eq!(
            sent[0].headers(),
            [("authorization".to_owned(), "Bearer t0k".to_owned())]
        );
        assert_eq!(host.log(), ["info: got 200"]);
    }

    #[test]
    fn mocked_headers_arrive_as_in_a_run() {
        let policy = Policy::new("t", PolicyKind::Gate).check(Check::new("headers", "", || {
            let response = http::get("/h")?;
            let cookies: Vec<&str> = response.header_values("set-cookie").collect();
            Ok(CheckResult::pass(format!(
                "vary={:?} cookies={cookies:?} names={:?}",
                response.header("vary"),
                response
                    .headers()
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )))
        }));
        let line = |name: &str, value: &str| (name.to_owned(), value.to_owned());
        let headers = vec![
            line("Vary", "Accept"),
            line("Set-Cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
            line("vary", "Origin"),
            line("set-cookie", "b=2"),
        ];
        let host = MockHost::new().http(
            Method::Get,
            "/h",
            Response::new("/h", 200, headers, "", 1.0),
        );
        let result = host.run(&policy, "headers").unwrap();
        // Joined and lower-cased as the live host does; Set-Cookie kept apart.
        assert_eq!(
            result.message,
            "vary=Some(\"Accept, Origin\") \
             cookies=[\"a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT\", \"b=2\"] \
             names=[\"set-cookie\", \"set-cookie\", \"vary\"]"
        );
    }

    #[test]
    fn transport_errors_reach_the_check() {
        let host = MockHost::new().secret("api_token", "t").http_error(
            Method::Get,
            "/s",
            HttpError::Connect("refused".into()),
        );
        let error = host.run(&policy(), "status").unwrap_err();
        assert!(error.to_string().contains("refused"), "{error}");
    }

    #[test]
    fn metrics_answers_decide_the_outcome() {
        let high = MockHost::new().metric_value("errors", 0.03);
        assert_eq!(high.run(&policy(), "ratio").unwrap().outcome, Outcome::Fail);
        let none = MockHost::new().metrics("errors", QueryResult::Vector(vec![]));
        assert_eq!(
            none.run(&policy(), "ratio").unwrap().outcome,
            Outcome::Inconclusive
        );
        let down =
            MockHost::new().metrics_error("errors", MetricsError::Unreachable("down".into()));
        assert!(down.run(&policy(), "ratio").is_err());
        assert_eq!(down.queries()[0].promql, "errors");
    }

    #[test]
    #[should_panic(expected = "MockHost has no HTTP answer for GET /nobody-answers")]
    fn an_unanswered_request_panics_naming_it() {
        let _ = MockHost::new().run(&policy(), "unknown");
    }

    fn containers() -> Policy {
        use crate::docker;
        Policy::new("t", PolicyKind::Gate)
            .check(Check::new("list", "", || {
                let names: Vec<String> = docker::list(&Filter::compose_project("shop"))?
                    .into_iter()
                    .map(|c| format!("{} {}", c.name, c.status))
                    .collect();
                Ok(CheckResult::pass(names.join(", ")))
            }))
            .check(Check::new("all", "", || {
                let all = docker::list(&Filter::default().label("tier=web").all())?;
                Ok(CheckResult::pass(all.len().to_string()))
            }))
            .check(Check::new("inspect", "", || {
                let web = docker::inspect("web")?;
                Ok(CheckResult::pass(web.image.to_string()))
            }))
            .check(Check::new("stats", "", || {
                let stats = docker::stats("web")?;
                Ok(CheckResult::pass(stats.memory_percent.to_string()))
            }))
    }

    fn stack() -> MockHost {
        use crate::docker::{HealthStatus, State};
        let mut web = Container::new("web", State::Running);
        web.compose_project = Some("shop".into());
        web.labels = vec![("tier".into(), "web".into())];
        web.health.status = HealthStatus::Healthy;
        let mut old = Container::new("web-old", State::Exited);
        old.compose_project = Some("shop".into());
        old.exit_code = Some(137);
        old.labels = vec![("tier".into(), "web".into())];
        let other = Container::new("elsewhere", State::Running);
        MockHost::new()
            .container(web)
            .container(old)
            .container(other)
    }

    #[test]
    fn docker_lists_as_the_engine_filters() {
        let host = stack();
        let result = host.run(&containers(), "list").unwrap();
        assert_eq!(result.message, "web Up (healthy)");
        let result = host.run(&containers(), "all").unwrap();
        assert_eq!(result.message, "2");
        assert_eq!(
            host.docker_calls()[1],
            DockerCall::List(Filter::default().label("tier=web").all())
        );
    }

    #[test]
    fn docker_inspect_and_stats_answer_by_name() {
        use crate::docker::State;
        let mut web = Container::new("web", State::Running);
        web.image.name = "app".into();
        web.image.tag = Some("1.4.2".into());
        let host = MockHost::new().container(web).container_stats(
            "mock-web",
            Stats {
                cpu_percent: 1.0,
                online_cpus: 1,
                memory_used: 1,
                memory_limit: 4,
                memory_percent: 25.0,
            },
        );
        assert_eq!(
            host.run(&containers(), "inspect").unwrap().message,
            "app:1.4.2"
        );
        assert_eq!(host.run(&containers(), "stats").unwrap().message, "25");
        let gone = MockHost::new().container(Container::new("db", State::Running));
        let error = gone.run(&containers(), "inspect").unwrap_err();
        assert!(
            error.to_string().contains("No such container: web"),
            "{error}"
        );
    }

    #[test]
    fn a_docker_error_answers_every_call() {
        let host = MockHost::new().docker_error(DockerError::Timeout(5000));
        let error = host.run(&containers(), "list").unwrap_err();
        assert!(error.to_string().contains("5000"), "{error}");
    }

    #[test]
    #[should_panic(expected = "MockHost has no Docker answer for inspect `web`")]
    fn docker_without_any_answer_panics_naming_the_call() {
        let _ = MockHost::new().run(&containers(), "inspect");
    }

    #[test]
    #[should_panic(expected = "MockHost has no Docker stats for `web`")]
    fn stats_never_given_panic() {
        let _ = stack().run(&containers(), "stats");
    }

    #[test]
    fn tls_answers_by_host_and_port() {
        let policy = Policy::new("t", PolicyKind::Gate).check(Check::new("cert", "", || {
            crate::tls::inspect("API.example.com", 8443).map(|p| CheckResult::pass(p.protocol))
        }));
        let peer = Peer {
            certificate: crate::tls::Certificate {
                subject: "CN=api".into(),
                issuer: "CN=api".into(),
                sans: vec![],
                not_before: 0,
                not_after: 0,
                serial: "01".into(),
            },
            days_left: 10.0,
            chain_length: 1,
            trusted: true,
            untrusted_reason: None,
            protocol: "TLSv1.3".into(),
        };
        let host = MockHost::new().tls("api.example.com", 8443, peer);
        assert_eq!(host.run(&policy, "cert").unwrap().message, "TLSv1.3");
        assert_eq!(host.tls_calls(), [("API.example.com".to_owned(), 8443)]);
        let refused =
            MockHost::new().tls_error("api.example.com", 8443, TlsError::Connect("refused".into()));
        assert!(refused.run(&policy, "cert").is_err());
    }

    #[test]
    #[should_panic(expected = "outside MockHost::run")]
    fn host_calls_outside_a_mock_panic_clearly() {
        let _ = context::param("x");
    }

    #[test]
    fn a_pass_on_a_value_that_is_not_a_number_is_inconclusive() {
        let policy = Policy::new("t", PolicyKind::Gate)
            .check(Check::new("nan", "", || {
                Ok(CheckResult::pass("fast").with(crate::Measurement::new("p95", f64::NAN, "ms")))
            }))
            .check(Check::new("inf", "", || {
                Ok(CheckResult::warn("slowish").with(crate::Measurement::new(
                    "p95",
                    f64::INFINITY,
                    "ms",
                )))
            }));
        let nan = MockHost::new().run(&policy, "nan").unwrap();
        assert_eq!(nan.outcome, Outcome::Inconclusive);
        assert_eq!(
            nan.message,
            "fast [gate: a measurement is not a finite number, so this cannot pass]"
        );
        let inf = MockHost::new().run(&policy, "inf").unwrap();
        assert_eq!(inf.outcome, Outcome::Inconclusive);
    }

    #[test]
    #[should_panic(expected = "policy `t` has a check named `p95 latency`, which gate refuses")]
    fn a_policy_gate_refuses_is_refused_before_any_check_runs() {
        // Pushed unvetted, as a release build would describe it.
        let policy = Policy::new("t", PolicyKind::Gate)
            .push_unvetted(Check::new("ok", "", || Ok(CheckResult::pass("fine"))))
            .push_unvetted(Check::new("p95 latency", "", || {
                Ok(CheckResult::pass("fine"))
            }));
        let _ = MockHost::new().run(&policy, "ok");
    }

    #[test]
    fn the_mock_is_removed_after_a_run() {
        let host = MockHost::new().param("x", "1");
        let policy = Policy::new("t", PolicyKind::Gate).check(Check::new("p", "", || {
            Ok(CheckResult::pass(context::param("x").unwrap_or_default()))
        }));
        assert_eq!(host.run(&policy, "p").unwrap().message, "1");
        assert!(CURRENT.with(|c| c.borrow().is_none()));
    }
}
