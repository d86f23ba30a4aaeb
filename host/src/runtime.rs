//! The engine, loading a policy once, and running each check in a fresh
//! sandboxed instance.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::FutureExt as _;
use tokio::task::JoinSet;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use crate::bindings::{self, PolicyPre};
use crate::cache::{self, Cache, CacheError};
use crate::caps::Wasi;
use crate::cli::EngineArgs;
use crate::limiter::{MemoryLimitExceeded, TableLimitExceeded};
use crate::limits::Limits;
use crate::policy::{self, Contract, LoadError};
use crate::report::progress::Progress;
use crate::report::{Attempt, CheckReport, ErrorKind, Measurement, Outcome};
use crate::state::{CALLS_KEPT, HostCallLimit, HostState, LogLine, LogSource, Session};
use crate::text::truncate;
use crate::units::{format_duration, format_size};

/// How often the epoch advances. A guest in a busy loop is stopped at most
/// this long after its deadline, and yields to the executor this often.
const TICK: Duration = Duration::from_millis(10);

/// Raised by the epoch callback when a check's deadline has passed, and by
/// replay at a call the recorded run's deadline left unanswered.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
pub(crate) struct DeadlineExceeded;

/// One engine per process, with every capability linked once.
pub struct Runtime {
    engine: Engine,
    /// The common part of WASI and every capability, linked on a thread of
    /// its own while the first policy is read, checked and loaded, since
    /// linking takes a few hundred microseconds; taken from there on first
    /// use.
    linker: OnceLock<Linker<HostState>>,
    linking: Mutex<Option<std::thread::JoinHandle<wasmtime::Result<Linker<HostState>>>>>,
    /// All of WASI, for a policy that imports the filesystem or sockets:
    /// linked when the first such policy is loaded.
    linker_all: OnceLock<Linker<HostState>>,
    cache: Option<Arc<Cache>>,
}

impl Runtime {
    /// A runtime with the default engine settings: the compile cache in the
    /// default directory, no pooling.
    pub fn new(wasm_stack_bytes: usize) -> anyhow::Result<Runtime> {
        let limits = Limits {
            wasm_stack_bytes,
            ..Limits::default()
        };
        Runtime::with_options(&limits, &EngineArgs::default(), None)
    }

    /// A runtime and a session that only describe policies, as a run under
    /// `limits` would load them (`wasm_size`, memory, time): nothing is
    /// granted, as describing a policy needs no capability. For `gate
    /// inspect`, `gate config check` and `gate build`.
    pub fn describing(
        limits: &Limits,
        options: &EngineArgs,
    ) -> anyhow::Result<(Runtime, Arc<Session>)> {
        let runtime = Runtime::with_options(limits, options, None)?;
        let session = Session::new(crate::grants::Grants::default(), limits.clone(), [])?;
        Ok((runtime, Arc::new(session)))
    }

    /// A runtime for checks run under `limits`, at most `checks_at_once` at
    /// a time (`None`: the caller only describes policies).
    pub fn with_options(
        limits: &Limits,
        options: &EngineArgs,
        checks_at_once: Option<usize>,
    ) -> anyhow::Result<Runtime> {
        let engine = crate::pooling::engine(limits, options.pooling, checks_at_once)?;
        let linking = {
            let engine = engine.clone();
            std::thread::Builder::new()
                .name("gate-link".into())
                .spawn(move || new_linker(&engine, Wasi::Common))
                .ok()
        };
        start_ticker(&engine)?;
        let cache = open_cache(&engine, options).map(Arc::new);
        Ok(Runtime {
            engine,
            linker: OnceLock::new(),
            linking: Mutex::new(linking),
            linker_all: OnceLock::new(),
            cache,
        })
    }

    /// The linker for a component that imports `imports`: with all of WASI
    /// only when it imports what the common part leaves out.
    fn linker_for(&self, imports: &[String]) -> wasmtime::Result<&Linker<HostState>> {
        match Wasi::for_imports(imports.iter().map(String::as_str)) {
            Wasi::Common => self.linker(),
            Wasi::All => match self.linker_all.get() {
                Some(linker) => Ok(linker),
                None => {
                    let linker = new_linker(&self.engine, Wasi::All)?;
                    Ok(self.linker_all.get_or_init(|| linker))
                }
            },
        }
    }

    /// The linker with the common part of WASI and every capability: the
    /// one made on its own thread, or (should that thread not have started)
    /// made here.
    fn linker(&self) -> wasmtime::Result<&Linker<HostState>> {
        if let Some(linker) = self.linker.get() {
            return Ok(linker);
        }
        let linking = self
            .linking
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let linker = match linking {
            Some(thread) => thread
                .join()
                .map_err(|_| wasmtime::Error::msg("the linking thread panicked"))??,
            None => new_linker(&self.engine, Wasi::Common)?,
        };
        Ok(self.linker.get_or_init(|| linker))
    }

    /// Reads, compiles, vets and pre-links a policy, then asks it to describe
    /// itself.
    pub async fn load(
        &self,
        path: &Path,
        session: &Arc<Session>,
    ) -> Result<LoadedPolicy, LoadError> {
        let bytes = policy::read(path, session.limits.wasm_bytes)?;
        self.load_bytes(path, bytes, session).await
    }

    /// [`Runtime::load`] of bytes already read (and vetted: see
    /// [`crate::integrity`]), so what is compiled is exactly what was
    /// checked.
    pub async fn load_bytes(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        session: &Arc<Session>,
    ) -> Result<LoadedPolicy, LoadError> {
        let sha256 = policy::sha256_hex(&bytes);
        self.load_hashed(path, bytes, sha256, session).await
    }

    /// [`Runtime::load_bytes`] of bytes whose sha256 (hex) is already known,
    /// as [`crate::integrity::verify`] computed it, so a policy is hashed
    /// once per run.
    pub async fn load_hashed(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        sha256: String,
        session: &Arc<Session>,
    ) -> Result<LoadedPolicy, LoadError> {
        let limits = &session.limits;
        if bytes.len() as u64 > limits.wasm_bytes {
            return Err(LoadError::TooLarge {
                path: path.to_owned(),
                size: bytes.len() as u64,
                limit: limits.wasm_bytes,
            });
        }
        policy::vet(path, &bytes)?;
        let size = bytes.len() as u64;
        // A cache hit is a checksum and a mapping, well under a
        // millisecond: done here rather than handed to a blocking thread
        // that would first have to start.
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.load(&self.engine, &sha256));
        let component = match cached {
            Some(component) => component,
            None => {
                self.compile(path, bytes, &sha256, limits.compile_timeout)
                    .await?
            }
        };
        let contract = policy::contract(path, &component, &self.engine)?;
        let link_error = |e: wasmtime::Error| LoadError::Link {
            path: path.to_owned(),
            reason: format!("{e:#}{}", contract.link_hint()),
        };
        let linker = self.linker_for(&contract.imports).map_err(link_error)?;
        let pre = linker.instantiate_pre(&component).map_err(link_error)?;
        let pre = PolicyPre::new(pre).map_err(link_error)?;
        let info = describe(&self.engine, &pre, session)
            .await
            .map_err(|reason| LoadError::Describe {
                path: path.to_owned(),
                reason,
            })?;
        let info = PolicyInfo::vet(info, session).map_err(|reason| LoadError::BadInfo {
            path: path.to_owned(),
            reason,
        })?;
        tracing::debug!(path = %path.display(), %sha256, checks = info.checks.len(), "policy loaded");
        Ok(LoadedPolicy {
            path: path.display().to_string(),
            sha256,
            size,
            contract,
            info,
            pre,
        })
    }

    /// Compiles `bytes` on the blocking pool, and stores the result in the
    /// compile cache.
    async fn compile(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        sha256: &str,
        timeout: Duration,
    ) -> Result<Component, LoadError> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let sha256 = sha256.to_owned();
        let started = Instant::now();
        // Compilation cannot be interrupted; past the timeout we stop waiting
        // and the run ends with exit 2, which ends the process too.
        let job = tokio::task::spawn_blocking(move || {
            let component = Component::from_binary(&engine, &bytes)?;
            if let Some(cache) = cache {
                cache.store(&sha256, &component);
            }
            Ok::<_, wasmtime::Error>(component)
        });
        let compiled =
            tokio::time::timeout(timeout, job)
                .await
                .map_err(|_| LoadError::CompileTimeout {
                    path: path.to_owned(),
                    seconds: timeout.as_secs(),
                })?;
        let component = compiled
            .map_err(|e| LoadError::Invalid {
                path: path.to_owned(),
                reason: format!("compiler task failed: {e}"),
            })?
            .map_err(|e| {
                let reason = format!("{e:#}");
                // The pool refuses a memory larger than a slot: the policy
                // is valid, the limit too small for it.
                if reason.contains("memory has a minimum byte size of") {
                    LoadError::MemoryOverLimit {
                        path: path.to_owned(),
                        reason,
                    }
                } else {
                    LoadError::Invalid {
                        path: path.to_owned(),
                        reason,
                    }
                }
            })?;
        tracing::debug!(path = %path.display(), elapsed = ?started.elapsed(), "compiled");
        Ok(component)
    }

    /// A store as a check gets: its limits, host-call budget and deadline.
    pub fn store(&self, session: &Arc<Session>, deadline: Instant) -> Store<HostState> {
        new_store(&self.engine, session, deadline)
    }

    /// Runs every check of `policy`, at most `jobs` at a time, in its own
    /// store and instance. Reports come back in the policy's order.
    ///
    /// With one check to run or `jobs` = 1, the checks run on the calling
    /// task: a spawned task would only add a hand-off per check, two
    /// between threads where the runtime has several (see BENCHMARKS.md).
    pub async fn run(
        &self,
        policy: &LoadedPolicy,
        session: &Arc<Session>,
        jobs: usize,
        strict: bool,
        retry: Retry,
        progress: &Progress,
    ) -> Vec<CheckReport> {
        let mut reports: Vec<Option<CheckReport>> = vec![None; policy.info.checks.len()];
        let mut runnable = Vec::new();
        for (index, check) in policy.info.checks.iter().enumerate() {
            let missing: Vec<&str> = check
                .needs
                .iter()
                .filter_map(|c| session.grants.missing(*c))
                .collect();
            if missing.is_empty() {
                runnable.push(index);
            } else {
                reports[index] = Some(skipped(check, &missing, strict));
            }
        }
        let task = |index: usize| {
            let engine = self.engine.clone();
            let pre = policy.pre.clone();
            let session = session.clone();
            let check = policy.info.checks[index].clone();
            let progress = progress.clone();
            let policy_name = policy.info.name.clone();
            async move {
                let _spinner = progress.start(&policy_name, &check.name);
                let started = Instant::now();
                let mut earlier = Vec::new();
                loop {
                    let tape = crate::tape::CheckCassette::for_check(
                        &session,
                        &policy_name,
                        Some(&check.name),
                    );
                    let mut report = execute(&engine, &pre, &session, &check, tape).await;
                    if earlier.len() >= retry.retries as usize || !report.retryable() {
                        retry.settle(&mut report, earlier, started.elapsed());
                        return report;
                    }
                    earlier.push(report.as_attempt());
                    tokio::time::sleep(retry.interval).await;
                }
            }
        };
        if jobs <= 1 || runnable.len() <= 1 {
            for index in runnable {
                // A panic in the host is a gate bug; the check still errors
                // and the verdict fails closed.
                match AssertUnwindSafe(task(index)).catch_unwind().await {
                    Ok(report) => reports[index] = Some(report),
                    Err(_) => tracing::error!("check task panicked"),
                }
            }
        } else {
            let mut running = JoinSet::new();
            let mut keep =
                |joined: Result<(usize, CheckReport), tokio::task::JoinError>| match joined {
                    Ok((index, report)) => reports[index] = Some(report),
                    Err(e) => tracing::error!("check task failed: {e}"),
                };
            let mut ramp = Ramp::new(jobs);
            for index in runnable {
                // The checks whose answers are in go on before another
                // starts (`try_join_next`); `Ramp` says when the next may
                // start.
                loop {
                    while let Some(joined) = running.try_join_next() {
                        keep(joined);
                        ramp.ended();
                    }
                    let Some(wake) = ramp.next_start(running.len()) else {
                        break;
                    };
                    tokio::select! {
                        Some(joined) = running.join_next() => {
                            keep(joined);
                            ramp.ended();
                        }
                        () = tokio::time::sleep_until(wake.into()) => {}
                    }
                }
                let check = task(index);
                running.spawn(async move { (index, check.await) });
                ramp.started();
                // Lets the check run up to its first wait before the loop
                // looks again.
                tokio::task::yield_now().await;
            }
            while let Some(joined) = running.join_next().await {
                keep(joined);
            }
        }
        reports
            .into_iter()
            .zip(&policy.info.checks)
            .map(|(report, check)| {
                report.unwrap_or_else(|| {
                    errored(
                        check,
                        ErrorKind::Host,
                        "internal error in gate while running this check".into(),
                        Duration::ZERO,
                    )
                })
            })
            .collect()
    }
}

/// `--retry`: how often a check that did not pass runs again, and how long
/// apart. Each attempt is a whole check in a fresh sandbox with its own
/// deadline, and the last attempt's result is the check's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub retries: u32,
    pub interval: Duration,
}

impl Retry {
    /// Every check runs once.
    pub const NONE: Retry = Retry {
        retries: 0,
        interval: Duration::ZERO,
    };

    /// Time between attempts when `--retry-interval` (gate.toml's
    /// `retry_interval`) is not given.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

    /// `--retry` and `--retry-interval` over gate.toml's `retry` and
    /// `retry_interval` (`None` where not set). An interval with no retries
    /// is a mistake worth saying, not a setting to ignore.
    pub fn from_settings(
        retries: (Option<u32>, Option<u32>),
        interval: (Option<Duration>, Option<Duration>),
    ) -> Result<Retry, String> {
        let retries = retries.0.or(retries.1).unwrap_or(0);
        if interval.0.is_some() && retries == 0 {
            return Err(
                "--retry-interval without retries: give --retry N (or retry = N in gate.toml)"
                    .into(),
            );
        }
        Ok(Retry {
            retries,
            interval: interval.0.or(interval.1).unwrap_or(Retry::DEFAULT_INTERVAL),
        })
    }

    /// Records on `report`, the last attempt's result, the attempts
    /// before it; `elapsed` is the time since the first began, waits
    /// included.
    fn settle(&self, report: &mut CheckReport, earlier: Vec<Attempt>, elapsed: Duration) {
        if self.retries == 0 {
            return;
        }
        let attempt = earlier.len() as u32 + 1;
        report.earlier_attempts = earlier;
        report.attempts = Some(attempt);
        report.duration_ms = elapsed.as_secs_f64() * 1000.0;
        if attempt > 1 {
            report.message = format!(
                "{} (attempt {attempt} of {})",
                report.message,
                self.retries + 1
            );
        }
        if attempt <= self.retries
            && let Some(why) = report.beyond_retry()
        {
            report.message.push_str(&format!(" (not retried: {why})"));
        }
    }
}

/// How many checks start at once, each as soon as the one before it waits
/// on the network: enough that gate's one async thread has a check to run
/// while the others wait for their answers, instead of idling through
/// every round trip; few enough that against a fast stack they take warm
/// sandboxes and connections. Against the sample service on 127.0.0.1 (a
/// round trip ~80 µs on a 2-vCPU VM), 2, 3 and 4 measured alike and 6
/// and 8 slower (BENCHMARKS.md); 4 so that a slow stack gets a few at once
/// from the start.
const RAMP_AT_ONCE: usize = 4;

/// How long the last check to start may wait on its first answer before
/// the next starts beside it, once [`RAMP_AT_ONCE`] run and while fewer
/// than `jobs` do.
const RAMP_STEP: Duration = Duration::from_millis(1);

/// When a run's next check may start: at once while fewer than
/// [`RAMP_AT_ONCE`] run or when one has ended since the last start;
/// otherwise once the last start is [`RAMP_STEP`] old, and never past
/// `jobs` at once. Sixteen checks that each wait on a fast local stack
/// would each take a fresh sandbox and connection for nothing; against a
/// slow stack this costs `jobs` − [`RAMP_AT_ONCE`] steps once, and then
/// each ended check starts the next at once.
#[derive(Debug)]
struct Ramp {
    jobs: usize,
    last_start: Option<Instant>,
    /// Checks ended and not yet replaced.
    ended: usize,
}

impl Ramp {
    fn new(jobs: usize) -> Ramp {
        Ramp {
            jobs: jobs.max(1),
            last_start: None,
            ended: 0,
        }
    }

    fn started(&mut self) {
        self.started_at(Instant::now());
    }

    fn started_at(&mut self, now: Instant) {
        self.last_start = Some(now);
        self.ended = self.ended.saturating_sub(1);
    }

    fn ended(&mut self) {
        self.ended += 1;
    }

    /// `None`: start the next check now. `Some(when)`: wait for a check to
    /// end, or until `when`.
    fn next_start(&self, running: usize) -> Option<Instant> {
        self.next_start_at(running, Instant::now())
    }

    fn next_start_at(&self, running: usize, now: Instant) -> Option<Instant> {
        let far = now + Duration::from_secs(3600);
        if running >= self.jobs {
            return Some(far);
        }
        if running < RAMP_AT_ONCE || self.ended > 0 {
            return None;
        }
        let due = self.last_start? + RAMP_STEP;
        (now < due).then_some(due)
    }
}

/// A policy ready to run: compiled, vetted and linked once.
pub struct LoadedPolicy {
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub contract: Contract,
    pub info: PolicyInfo,
    pre: PolicyPre<HostState>,
}

impl LoadedPolicy {
    /// The pre-linked component each check is instantiated from (for the
    /// benchmarks, which time instantiation and calls apart).
    pub fn pre(&self) -> &PolicyPre<HostState> {
        &self.pre
    }
}

/// The policy's description, with its text cleaned.
#[derive(Debug, Clone)]
pub struct PolicyInfo {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub checks: Vec<CheckInfo>,
}

#[derive(Debug, Clone)]
pub struct CheckInfo {
    /// The name as reports show it: secrets redacted.
    pub name: String,
    /// The name as the policy declared it, which `run-check` is called
    /// with: the shown one may differ where it held a secret's value.
    pub call_name: String,
    pub description: String,
    pub blocking: bool,
    pub needs: Vec<bindings::Capability>,
}

impl PolicyInfo {
    fn vet(info: bindings::PolicyInfo, session: &Session) -> Result<PolicyInfo, String> {
        let clean = |text: &str| truncate(&session.cleaner.clean_line(text), 256);
        if !gate_units::is_name(&info.name) {
            return Err(format!(
                "policy name `{}` must be {}",
                clean(&info.name),
                gate_units::NAME_RULE
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        let mut checks = Vec::with_capacity(info.checks.len());
        for check in &info.checks {
            let name = clean(&check.name);
            // Judged on the name as declared, which the check is called by:
            // cleaning (an escape made visible, a long name cut) must not
            // change what is allowed.
            let raw = &check.name;
            if !gate_units::is_name(raw) {
                return Err(format!(
                    "check name `{name}` must be {} (write `p95-latency`, not `p95 latency`)",
                    gate_units::NAME_RULE
                ));
            }
            if !names.insert(name.clone()) {
                return Err(format!("two checks are named `{name}`"));
            }
            let mut needs = check.needs.clone();
            needs.dedup();
            checks.push(CheckInfo {
                name,
                call_name: raw.clone(),
                description: clean(&check.description),
                blocking: check.blocking,
                needs,
            });
        }
        let kind = match info.kind {
            bindings::PolicyKind::Gate => "gate",
            bindings::PolicyKind::Trigger => "trigger",
            bindings::PolicyKind::Smoke => "smoke",
        };
        Ok(PolicyInfo {
            name: clean(&info.name),
            version: clean(&info.version),
            kind: kind.into(),
            checks,
        })
    }
}

pub fn capability_name(capability: bindings::Capability) -> &'static str {
    match capability {
        bindings::Capability::Http => "http",
        bindings::Capability::Metrics => "metrics",
        bindings::Capability::Docker => "docker",
        bindings::Capability::Tls => "tls",
    }
}

/// The compile cache for this engine, unless `--no-cache` or the directory
/// cannot be used (said once, then the run compiles as without a cache).
fn open_cache(engine: &Engine, options: &EngineArgs) -> Option<Cache> {
    if options.no_cache {
        tracing::debug!("compile cache off (--no-cache)");
        return None;
    }
    let Some(dir) = options.cache_dir.clone().or_else(cache::default_dir) else {
        tracing::debug!("compile cache off: {}", CacheError::NoDir);
        return None;
    };
    match Cache::open(&dir, engine) {
        Ok(cache) => Some(cache),
        Err(e) => {
            cache::warn(&format!("{e}; compiling without the cache"));
            None
        }
    }
}

fn new_linker(engine: &Engine, wasi: Wasi) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    crate::caps::add_to_linker(&mut linker, wasi)?;
    Ok(linker)
}

/// Starts the thread that advances the epoch. Without it no deadline would
/// ever stop a looping policy, so a host that cannot start it (out of
/// threads or memory) refuses to run anything.
fn start_ticker(engine: &Engine) -> anyhow::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("gate-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .map(drop)
        .context("cannot start the thread that enforces check deadlines")
}

fn new_store(engine: &Engine, session: &Arc<Session>, deadline: Instant) -> Store<HostState> {
    let mut store = Store::new(engine, HostState::new(session.clone(), deadline));
    store.limiter(|state| &mut state.limiter);
    store.set_hostcall_fuel(session.limits.hostcall_bytes);
    store.set_max_component_handles(session.limits.resources);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|store| {
        if Instant::now() >= store.data().deadline {
            Err(wasmtime::Error::new(DeadlineExceeded))
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store
}

async fn describe(
    engine: &Engine,
    pre: &PolicyPre<HostState>,
    session: &Arc<Session>,
) -> Result<bindings::PolicyInfo, String> {
    let timeout = session.limits.timeout;
    let deadline = Instant::now() + timeout;
    let mut store = new_store(engine, session, deadline);
    let call = async {
        let policy = pre.instantiate_async(&mut store).await?;
        policy.gate_policy_checks().call_describe(&mut store).await
    };
    let result = tokio::time::timeout_at(deadline.into(), call).await;
    match result {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(error)) => {
            let stderr = store.data().stderr_text();
            Err(failure(&error, &stderr, session).1)
        }
        Err(_) => Err(format!(
            "did not answer within {}",
            format_duration(timeout)
        )),
    }
}

async fn execute(
    engine: &Engine,
    pre: &PolicyPre<HostState>,
    session: &Arc<Session>,
    check: &CheckInfo,
    tape: crate::tape::CheckCassette,
) -> CheckReport {
    let limits = &session.limits;
    let started = Instant::now();
    let deadline = started + limits.timeout;
    let mut store = new_store(engine, session, deadline);
    store.data_mut().tape = tape;
    let call = async {
        let policy = pre.instantiate_async(&mut store).await?;
        policy
            .gate_policy_checks()
            .call_run_check(&mut store, &check.call_name)
            .await
    };
    // The epoch callback stops guest code at the deadline; this also stops a
    // guest that is waiting inside a host call. One instant for both, and
    // for the host calls (`HostState::within_deadline`).
    let result = tokio::time::timeout_at(deadline.into(), call).await;
    let duration = started.elapsed();
    let stderr = store.data().stderr_text();
    let state = store.data_mut();
    let mut log = state.take_log();
    let (calls, calls_dropped) = state.take_calls();
    if calls_dropped > 0 {
        log.push(LogLine {
            source: LogSource::Warn,
            text: format!(
                "[gate: {calls_dropped} more host calls made, not kept: the record keeps \
                 the first {CALLS_KEPT}]"
            ),
        });
    }
    state.tape.finish();

    let mut report = match result {
        Ok(Ok(Ok(result))) => finished(check, result, session, duration),
        Ok(Ok(Err(message))) => errored(
            check,
            ErrorKind::Check,
            truncate(&session.cleaner.clean_line(&message), limits.message_bytes),
            duration,
        ),
        Ok(Err(error)) => {
            let (kind, message) = failure(&error, &stderr, session);
            errored(check, kind, message, duration)
        }
        Err(_) => errored(
            check,
            ErrorKind::Deadline,
            deadline_message(limits.timeout),
            duration,
        ),
    };
    // Cleaned as they were kept (`HostState::keep_call`).
    report.calls = calls;
    report.log = log
        .into_iter()
        .map(|mut line| {
            line.text = session.cleaner.clean_line(&line.text);
            line
        })
        .collect();
    report
}

fn deadline_message(timeout: Duration) -> String {
    format!(
        "deadline exceeded: the check did not finish within {} (--timeout)",
        format_duration(timeout)
    )
}

/// [`classify`], cleaned as all guest text is: a panic message is the
/// guest's own text (`.expect(&format!("bad token {token}"))`). stderr is
/// redacted before the panic message is cut from it, so that the cut leaves
/// no part of a secret.
fn failure(error: &wasmtime::Error, stderr: &str, session: &Session) -> (ErrorKind, String) {
    let stderr = session.cleaner.redact(stderr);
    let (kind, message) = classify(error, &stderr, &session.limits);
    (kind, session.cleaner.clean_line(&message))
}

/// Names the cause of a failed call: the limit it hit, its panic message, or
/// the trap.
fn classify(
    error: &wasmtime::Error,
    stderr: &str,
    limits: &crate::limits::Limits,
) -> (ErrorKind, String) {
    if error.is::<DeadlineExceeded>() {
        return (ErrorKind::Deadline, deadline_message(limits.timeout));
    }
    if let Some(e) = error.downcast_ref::<MemoryLimitExceeded>() {
        return (ErrorKind::ResourceLimit, e.to_string());
    }
    if let Some(e) = error.downcast_ref::<TableLimitExceeded>() {
        return (ErrorKind::ResourceLimit, e.to_string());
    }
    if let Some(e) = error.downcast_ref::<HostCallLimit>() {
        return (ErrorKind::HostCallLimit, e.to_string());
    }
    if let Some(e) = error.downcast_ref::<crate::tape::UnexpectedCall>() {
        return (ErrorKind::Host, e.to_string());
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        if *trap == Trap::StackOverflow {
            return (
                ErrorKind::Trap,
                format!(
                    "stack overflow: the check used more than {} of wasm stack \
                     (--limit wasm_stack=SIZE)",
                    crate::units::format_size(limits.wasm_stack_bytes as u64)
                ),
            );
        }
        if let Some(panic) = panic_message(stderr) {
            return (ErrorKind::Panic, format!("the policy panicked: {panic}"));
        }
        return (ErrorKind::Trap, format!("the policy trapped: {trap}"));
    }
    let chain: Vec<String> = error.chain().map(|e| e.to_string()).collect();
    // wasmtime's error type for this is private; its text is stable.
    if chain
        .iter()
        .any(|e| e.contains("fuel allocated for hostcalls has been exhausted"))
    {
        return (
            ErrorKind::ResourceLimit,
            format!(
                "host-call argument limit exceeded: the check passed more than {} to the host \
                 in one call (a host-call argument, or the result it returned)",
                crate::units::format_size(limits.hostcall_bytes as u64)
            ),
        );
    }
    // wasmtime's errors for a full resource table and for too many
    // component handles are plain text.
    if chain.iter().any(|e| {
        e.contains("resource table has no free keys") || e.contains("store handle limit exceeded")
    }) {
        return (
            ErrorKind::ResourceLimit,
            format!(
                "resource limit exceeded: the check held more than {} live host resources \
                 (streams, pollables, handles) at once",
                limits.resources
            ),
        );
    }
    (ErrorKind::Host, chain.join(": "))
}

/// Rust's panic hook prints `thread '…' panicked at FILE:LINE:COL:` then the
/// message.
fn panic_message(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let header = lines.by_ref().find(|line| line.contains("panicked at "))?;
    let location = header
        .split("panicked at ")
        .nth(1)
        .unwrap_or("")
        .trim_end_matches(':');
    let message = lines.next().unwrap_or("").trim();
    Some(truncate(&format!("{message} (at {location})"), 1024))
}

fn finished(
    check: &CheckInfo,
    result: bindings::CheckResult,
    session: &Session,
    duration: Duration,
) -> CheckReport {
    let limits = &session.limits;
    let cleaner = &session.cleaner;
    let size = result_size(&result);
    if size > limits.result_bytes {
        // Fail closed: an outcome that came with that much text is not one
        // to act on.
        return errored(
            check,
            ErrorKind::ResourceLimit,
            format!(
                "result too large: the check returned {} (a message of {} and {} measurements), \
                 over the {} result limit; its outcome is discarded",
                format_size(size as u64),
                format_size(result.message.len() as u64),
                result.measurements.len(),
                format_size(limits.result_bytes as u64),
            ),
            duration,
        );
    }
    let outcome = match result.outcome {
        bindings::Outcome::Pass => Outcome::Pass,
        bindings::Outcome::Warn => Outcome::Warn,
        bindings::Outcome::Fail => Outcome::Fail,
        bindings::Outcome::Inconclusive => Outcome::Inconclusive,
    };
    let mut message = truncate(&cleaner.clean(&result.message), limits.message_bytes);
    // Over every measurement, before those past the limit are dropped: a
    // value the report leaves out still counts against a pass.
    let not_finite = result.measurements.iter().any(|m| !m.value.is_finite());
    let total = result.measurements.len();
    let measurements: Vec<Measurement> = result
        .measurements
        .into_iter()
        .take(limits.measurements)
        .map(|m| Measurement {
            name: truncate(&cleaner.clean_line(&m.name), 256),
            value: m.value,
            unit: truncate(&cleaner.clean_line(&m.unit), 64),
            threshold: m.threshold.map(|t| truncate(&cleaner.clean_line(&t), 256)),
        })
        .collect();
    if total > measurements.len() {
        message.push_str(&format!(
            " [gate: {} more measurements dropped]",
            total - measurements.len()
        ));
    }
    // Fail closed: a pass that rests on a measurement that is not a number
    // is no pass.
    let outcome = if matches!(outcome, Outcome::Pass | Outcome::Warn) && not_finite {
        message.push_str(gate_units::NOT_FINITE_NOTE);
        Outcome::Inconclusive
    } else {
        outcome
    };
    CheckReport {
        measurements,
        ..report(check, outcome, message, duration)
    }
}

/// The bytes a result carries: its text, and 8 bytes per value.
fn result_size(result: &bindings::CheckResult) -> usize {
    let measurements: usize = result
        .measurements
        .iter()
        .map(|m| m.name.len() + m.unit.len() + m.threshold.as_ref().map_or(0, String::len) + 8)
        .sum();
    result.message.len() + measurements
}

fn errored(check: &CheckInfo, kind: ErrorKind, message: String, duration: Duration) -> CheckReport {
    CheckReport {
        error: Some(kind),
        ..report(check, Outcome::Error, message, duration)
    }
}

fn skipped(check: &CheckInfo, missing: &[&str], strict: bool) -> CheckReport {
    let needs = missing.join("; ");
    if strict && check.blocking {
        report(
            check,
            Outcome::Fail,
            format!("not run, and --strict fails it: needs {needs}"),
            Duration::ZERO,
        )
    } else {
        report(
            check,
            Outcome::Skipped,
            format!("not run: needs {needs}"),
            Duration::ZERO,
        )
    }
}

fn report(check: &CheckInfo, outcome: Outcome, message: String, duration: Duration) -> CheckReport {
    CheckReport {
        name: check.name.clone(),
        description: check.description.clone(),
        blocking: check.blocking,
        needs: check
            .needs
            .iter()
            .map(|c| capability_name(*c).to_owned())
            .collect(),
        outcome,
        message,
        error: None,
        measurements: Vec::new(),
        duration_ms: duration.as_secs_f64() * 1000.0,
        attempts: None,
        earlier_attempts: Vec::new(),
        calls: Vec::new(),
        log: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        CheckInfo, CheckReport, Duration, ErrorKind, Instant, Limits, Outcome, RAMP_AT_ONCE,
        RAMP_STEP, Ramp, Retry, Session, Trap, bindings, failure, finished, panic_message, report,
    };
    use crate::grants::Grants;

    fn checked(outcome: Outcome, permanent: bool) -> CheckReport {
        let mut report = report(
            &CheckInfo {
                name: "get".into(),
                call_name: "get".into(),
                description: String::new(),
                blocking: true,
                needs: Vec::new(),
            },
            outcome,
            "GET /health".into(),
            Duration::ZERO,
        );
        report.calls.push(crate::state::HttpCall {
            method: "GET".into(),
            url: "http://10.0.0.1/".into(),
            status: None,
            elapsed_ms: 0.0,
            error: Some("denied: 10.0.0.1".into()),
            permanent,
        });
        report
    }

    const THREE_RETRIES: Retry = Retry {
        retries: 3,
        interval: Duration::ZERO,
    };

    #[test]
    fn only_a_check_that_did_not_pass_is_stopped_by_a_permanent_failure() {
        let retry = THREE_RETRIES;
        let mut failed = checked(Outcome::Error, true);
        assert!(!failed.retryable());
        retry.settle(&mut failed, Vec::new(), Duration::ZERO);
        assert!(
            failed
                .message
                .ends_with("(not retried: a call was denied or malformed, which no retry changes)")
        );

        // A check may pass because a request was denied (it checks the
        // allow-list): nothing to retry, and nothing to explain.
        let mut passed = checked(Outcome::Pass, true);
        assert!(!passed.retryable());
        retry.settle(&mut passed, Vec::new(), Duration::ZERO);
        assert_eq!(passed.message, "GET /health");

        assert!(checked(Outcome::Fail, false).retryable());
    }

    #[test]
    fn a_check_that_asked_nothing_of_the_stack_is_not_retried_unless_cut_short() {
        let retry = THREE_RETRIES;
        let mut on_its_own = checked(Outcome::Error, false);
        on_its_own.calls.clear();
        on_its_own.error = Some(ErrorKind::Check);
        assert!(!on_its_own.retryable());
        retry.settle(&mut on_its_own, Vec::new(), Duration::ZERO);
        assert!(
            on_its_own
                .message
                .ends_with("(not retried: the check asked nothing of the stack, so another attempt would end the same)"),
            "{}",
            on_its_own.message
        );

        // A deadline or a limit may have cut a call short, before the
        // record of calls kept it: that attempt proves nothing.
        for kind in [
            ErrorKind::Deadline,
            ErrorKind::ResourceLimit,
            ErrorKind::Host,
        ] {
            let mut cut_short = checked(Outcome::Error, false);
            cut_short.calls.clear();
            cut_short.error = Some(kind);
            assert!(cut_short.retryable(), "{kind:?}");
        }
    }

    #[test]
    fn a_flag_overrides_the_file_and_an_interval_needs_retries() {
        let secs = Duration::from_secs;
        let retry = |flag: (Option<u32>, Option<Duration>),
                     file: (Option<u32>, Option<Duration>)| {
            Retry::from_settings((flag.0, file.0), (flag.1, file.1))
        };
        assert_eq!(retry((None, None), (None, None)).unwrap().retries, 0);
        let from_file = retry((None, None), (Some(3), Some(secs(2)))).unwrap();
        assert_eq!((from_file.retries, from_file.interval), (3, secs(2)));
        let flagged = retry((Some(0), None), (Some(3), Some(secs(2)))).unwrap();
        assert_eq!(flagged.retries, 0, "--retry 0 runs each check once");
        let interval = retry((None, Some(secs(5))), (Some(3), None)).unwrap();
        assert_eq!((interval.retries, interval.interval), (3, secs(5)));
        assert_eq!(
            retry((Some(2), None), (None, None)).unwrap().interval,
            Retry::DEFAULT_INTERVAL
        );
        let error = retry((None, Some(secs(1))), (None, None)).unwrap_err();
        assert!(
            error.contains("--retry-interval without retries"),
            "{error}"
        );
    }

    #[test]
    fn the_ramp_starts_a_few_at_once_then_one_a_step_until_one_ends() {
        let t0 = Instant::now();
        let mut ramp = Ramp::new(RAMP_AT_ONCE + 2);
        for running in 0..RAMP_AT_ONCE {
            assert_eq!(
                ramp.next_start_at(running, t0),
                None,
                "check {running} starts at once"
            );
            ramp.started_at(t0);
        }
        let full = RAMP_AT_ONCE;
        let half = t0 + RAMP_STEP / 2;
        assert_eq!(ramp.next_start_at(full, half), Some(t0 + RAMP_STEP));
        assert_eq!(ramp.next_start_at(full, t0 + RAMP_STEP), None);
        ramp.started_at(t0 + RAMP_STEP);
        // One ended: the next replaces it at once, and only that one.
        ramp.ended();
        assert_eq!(ramp.next_start_at(full, half + RAMP_STEP), None);
        ramp.started_at(half + RAMP_STEP);
        assert_eq!(
            ramp.next_start_at(full + 1, half + RAMP_STEP),
            Some(half + 2 * RAMP_STEP)
        );
        // Two ended together: both are replaced at once.
        ramp.ended();
        ramp.ended();
        ramp.started_at(half + RAMP_STEP);
        assert_eq!(ramp.next_start_at(full, half + RAMP_STEP), None);
    }

    #[test]
    fn the_ramp_never_passes_jobs() {
        let t0 = Instant::now();
        let mut ramp = Ramp::new(2);
        ramp.started_at(t0);
        ramp.started_at(t0 + RAMP_STEP);
        ramp.ended();
        ramp.ended();
        let later = t0 + 10 * RAMP_STEP;
        assert!(ramp.next_start_at(2, later).is_some_and(|at| at > later));
        assert_eq!(ramp.next_start_at(1, later), None);
        assert!(Ramp::new(0).next_start_at(1, later).is_some());
        // Fewer jobs than RAMP_AT_ONCE: still never past them.
        let ramp = Ramp::new(1);
        assert!(ramp.next_start_at(1, t0).is_some_and(|at| at > t0));
    }

    fn check_info() -> CheckInfo {
        CheckInfo {
            name: "latency".into(),
            call_name: "latency".into(),
            description: String::new(),
            blocking: true,
            needs: Vec::new(),
        }
    }

    fn session(redact: &[&str]) -> Session {
        let redact = redact.iter().map(|s| (*s).to_owned());
        Session::new(Grants::default(), Limits::default(), redact).unwrap()
    }

    /// A check is called by the name it declared, whatever reports show
    /// of it; a name is judged as declared, with an accurate reason.
    #[test]
    fn checks_are_called_by_their_declared_names() {
        let info = |names: &[&str]| bindings::PolicyInfo {
            name: "p".into(),
            version: "1".into(),
            kind: bindings::PolicyKind::Gate,
            checks: names
                .iter()
                .map(|name| bindings::CheckInfo {
                    name: (*name).into(),
                    description: String::new(),
                    blocking: true,
                    needs: Vec::new(),
                })
                .collect(),
        };
        let session = session(&["s3cret"]);
        let vetted = super::PolicyInfo::vet(info(&["s3cret-health", "ok"]), &session).unwrap();
        assert_eq!(vetted.checks[0].name, "[REDACTED]-health");
        assert_eq!(vetted.checks[0].call_name, "s3cret-health");
        assert_eq!(vetted.checks[1].call_name, "ok");

        let long = "x".repeat(gate_units::MAX_NAME + 1);
        for bad in [
            "",
            "a b",
            "a\u{1b}[2Jb",
            "api/health",
            "a,b",
            "p*",
            long.as_str(),
        ] {
            let error = super::PolicyInfo::vet(info(&[bad]), &session).unwrap_err();
            assert!(
                error.contains(
                    "must be 1 to 256 bytes without whitespace, control characters, `/`, `,` or `*`"
                ),
                "{error}"
            );
        }
        let longest = "x".repeat(gate_units::MAX_NAME);
        assert!(super::PolicyInfo::vet(info(&[longest.as_str()]), &session).is_ok());
        // A policy's name by the same rule: it is the other half of
        // POLICY/CHECK.
        let team = bindings::PolicyInfo {
            name: "team/api".into(),
            ..info(&["ok"])
        };
        let error = super::PolicyInfo::vet(team, &session).unwrap_err();
        assert!(
            error.starts_with("policy name `team/api` must be 1 to 256"),
            "{error}"
        );
    }

    fn measurement(value: f64) -> bindings::Measurement {
        bindings::Measurement {
            name: "latency".into(),
            value,
            unit: "ms".into(),
            threshold: None,
        }
    }

    #[test]
    fn a_value_that_is_not_a_number_past_the_measurement_limit_still_stops_a_pass() {
        let session = session(&[]);
        let limit = session.limits.measurements;
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut measurements = vec![measurement(1.0); limit];
            measurements.push(measurement(bad));
            let result = bindings::CheckResult {
                outcome: bindings::Outcome::Pass,
                message: "fast".into(),
                measurements,
            };
            let report = finished(&check_info(), result, &session, Duration::ZERO);
            assert_eq!(report.outcome, Outcome::Inconclusive, "{bad}");
            assert_eq!(report.measurements.len(), limit);
            assert!(
                report
                    .message
                    .ends_with("[gate: 1 more measurements dropped] [gate: a measurement is not a finite number, so this cannot pass]"),
                "{}",
                report.message
            );
        }
        let fine = bindings::CheckResult {
            outcome: bindings::Outcome::Pass,
            message: "fast".into(),
            measurements: vec![measurement(1.0); limit + 1],
        };
        let report = finished(&check_info(), fine, &session, Duration::ZERO);
        assert_eq!(report.outcome, Outcome::Pass);
    }

    #[test]
    fn a_panic_message_is_redacted_and_escaped() {
        let session = session(&["tok3n-value"]);
        let trap = || wasmtime::Error::new(Trap::UnreachableCodeReached);
        let stderr = "thread '<unnamed>' panicked at src/lib.rs:1:5:\nbad token tok3n-value \u{1b}[31mred\u{7}\n";
        let (kind, message) = failure(&trap(), stderr, &session);
        assert!(matches!(kind, ErrorKind::Panic), "{kind:?}");
        assert_eq!(
            message,
            "the policy panicked: bad token [REDACTED] \\u{1b}[31mred\\u{7} (at src/lib.rs:1:5)"
        );
        // A secret the 1 KiB cut of the message runs through is redacted
        // before the cut, so no part of it is left.
        let stderr = format!(
            "thread 'x' panicked at a.rs:1:1:\n{}tok3n-value and more\n",
            "a".repeat(1020)
        );
        let (_, message) = failure(&trap(), &stderr, &session);
        assert!(!message.contains("tok3"), "{message}");
        assert!(message.contains("[RED"), "{message}");
    }

    #[test]
    fn reads_panic_message() {
        let stderr = "noise\nthread '<unnamed>' panicked at src/lib.rs:42:5:\nhostile panic\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(stderr).unwrap(),
            "hostile panic (at src/lib.rs:42:5)"
        );
        assert_eq!(panic_message("all fine"), None);
    }
}
