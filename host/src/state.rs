//! Per-check host state: what one check's `Store` carries, and the per-run
//! `Session` every check shares.

use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use tokio::io::AsyncWrite;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::grants::Grants;
use crate::limits::Limits;
use crate::text::{Cleaner, secret_start_at_end, shorten};

/// What every check of a run shares.
pub struct Session {
    pub grants: Grants,
    pub limits: Limits,
    pub cleaner: Cleaner,
    /// gate's own client (Prometheus, webhooks), made on first use: making
    /// it reads every system root certificate, a few milliseconds a run
    /// that talks to neither would pay for nothing.
    http: OnceLock<Result<reqwest::Client, String>>,
    /// Policy traffic: dials only addresses checked against the grants.
    pub policy_http: crate::caps::http::PolicyClients,
    /// The names policy traffic resolves, each looked up once per
    /// [`crate::net::NAME_TTL`] for all checks.
    pub names: crate::net::CachedLookup,
    /// Recording or replaying host calls (`--record`, `gate test`).
    pub tape: Option<Arc<crate::tape::Tape>>,
    /// The Docker engine granted with `--docker`, if any.
    pub docker: Option<crate::caps::docker::Engine>,
    /// The roots TLS handshakes verify against (system and `--ca-file`) and
    /// the client certificate they present (`--client-cert`).
    pub trust: crate::trust::Trust,
}

impl Session {
    /// `redact`: every value to keep out of all output, beyond the secrets
    /// the grants give policies (gate may know more than it grants).
    pub fn new(
        grants: Grants,
        limits: Limits,
        redact: impl IntoIterator<Item = String>,
    ) -> anyhow::Result<Session> {
        let cleaner = Cleaner::new(grants.secrets.values().cloned().chain(redact));
        let docker = grants.docker.clone().map(crate::caps::docker::Engine::new);
        let trust = crate::trust::Trust::new(&grants.ca_files, grants.client_identity.as_ref())?;
        Ok(Session {
            grants,
            limits,
            cleaner,
            http: OnceLock::new(),
            policy_http: crate::caps::http::PolicyClients::new(trust.clone()),
            names: Default::default(),
            tape: None,
            docker,
            trust,
        })
    }
}

impl Session {
    /// A URL or error text as a call record keeps it: cut before it is
    /// cleaned, so that a URL of megabytes is not copied whole to be
    /// cleaned; the cut leaves no part of a secret behind.
    fn clean_call_text(&self, text: &str) -> String {
        self.cleaner
            .clean_line(&shorten(text, CALL_TEXT_BYTES, self.cleaner.secrets()))
    }

    /// The client gate's own requests share (Prometheus, webhooks: hosts
    /// the operator named), one connection pool.
    pub fn http(&self) -> Result<&reqwest::Client, String> {
        self.http
            .get_or_init(|| {
                crate::caps::http::client(&self.trust)
                    .map_err(|e| format!("could not set up gate's HTTP client: {e:#}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    Debug,
    Info,
    Warn,
    Error,
    Stdout,
    Stderr,
}

impl LogSource {
    pub fn label(self) -> &'static str {
        match self {
            LogSource::Debug => "debug",
            LogSource::Info => "info",
            LogSource::Warn => "warn",
            LogSource::Error => "error",
            LogSource::Stdout => "stdout",
            LogSource::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LogLine {
    pub source: LogSource,
    pub text: String,
}

/// One HTTP request a check made, as the host saw it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpCall {
    pub method: String,
    pub url: String,
    /// Status code, or `None` when no response came.
    pub status: Option<u16>,
    pub elapsed_ms: f64,
    /// Why there was no usable response (denied, connect, timeout…).
    pub error: Option<String>,
    /// The call failed in a way no retry changes (see [`CallFailure`]).
    #[serde(skip)]
    pub permanent: bool,
}

/// Why a host call got no usable answer, as the check's record of calls
/// keeps it.
#[derive(Debug, Clone)]
pub struct CallFailure {
    pub text: String,
    /// The same call would fail the same way whatever the stack does:
    /// denied by the run's grants, or malformed. `--retry` does not run a
    /// check again after one.
    pub permanent: bool,
}

/// Call records one check keeps. A check may make up to `host_calls` calls
/// (100 000 by default), each naming a URL of up to `host_call_bytes`: kept
/// whole, they would let one check fill the host's memory.
pub const CALLS_KEPT: usize = 1000;

/// Bytes of a URL or an error text that a call record keeps.
pub const CALL_TEXT_BYTES: usize = 2048;

/// A check's record of calls, bounded: the first [`CALLS_KEPT`] calls, each
/// with its URL and error cut to [`CALL_TEXT_BYTES`], and a count of the
/// calls past them.
#[derive(Debug, Default)]
pub struct CallRecord {
    kept: Vec<HttpCall>,
    dropped: usize,
    /// Whether a kept call failed permanently.
    permanent: bool,
}

impl CallRecord {
    fn push(&mut self, call: HttpCall) {
        // A permanent failure decides whether `--retry` runs the check again
        // (see `CheckReport::beyond_retry`), so the first one is kept even
        // past the cap: at most one record more.
        let first_permanent = call.permanent && !self.permanent;
        if self.kept.len() < CALLS_KEPT || first_permanent {
            self.permanent |= call.permanent;
            self.kept.push(call);
        } else {
            self.dropped += 1;
        }
    }

    /// The calls kept, and how many were not.
    pub fn take(&mut self) -> (Vec<HttpCall>, usize) {
        let record = std::mem::take(self);
        (record.kept, record.dropped)
    }
}

/// The trap a host function raises when the check used up its host calls.
#[derive(Debug, thiserror::Error)]
#[error("the check made more than {limit} host calls")]
pub struct HostCallLimit {
    pub limit: u64,
}

/// The store's data for one check.
pub struct HostState {
    pub session: Arc<Session>,
    pub deadline: Instant,
    pub limiter: crate::limiter::Limiter,
    pub log: CheckLog,
    calls: CallRecord,
    /// This check's part of the run's tape, if any.
    pub tape: crate::tape::CheckCassette,
    host_calls: u64,
    stdout: LogPipe,
    stderr: LogPipe,
    /// Made when the guest first calls WASI (a check that prints, reads a
    /// clock or asks for randomness): most checks never do, and making it
    /// (seeding its random generators) is most of what this state costs.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
}

impl HostState {
    pub fn new(session: Arc<Session>, deadline: Instant) -> HostState {
        let limits = &session.limits;
        let stdout = LogPipe::new(limits.log_bytes);
        let stderr = LogPipe::new(limits.log_bytes);
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.resources);
        HostState {
            limiter: crate::limiter::Limiter::new(limits),
            log: CheckLog::new(limits.log_bytes),
            calls: CallRecord::default(),
            tape: crate::tape::CheckCassette::for_check(&session, "", None),
            host_calls: 0,
            stdout,
            stderr,
            wasi: None,
            table,
            deadline,
            session,
        }
    }

    /// Counts a host call; past the limit the call traps.
    pub fn count_call(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        let limit = self.session.limits.host_calls;
        if self.host_calls > limit {
            return Err(wasmtime::Error::new(HostCallLimit { limit }));
        }
        Ok(())
    }

    /// Keeps a call in the check's record (shown on failure and in JSON),
    /// its text redacted and cut first: nothing a guest passes reaches the
    /// record, or gate's own diagnostics, whole or unredacted.
    pub fn keep_call(&mut self, mut call: HttpCall) {
        call.url = self.session.clean_call_text(&call.url);
        call.error = call.error.map(|error| self.session.clean_call_text(&error));
        tracing::debug!(
            method = call.method,
            url = call.url,
            status = ?call.status,
            elapsed_ms = call.elapsed_ms,
            error = call.error,
            "host call"
        );
        self.calls.push(call);
    }

    /// The check's record of calls, and how many calls it left out.
    pub fn take_calls(&mut self) -> (Vec<HttpCall>, usize) {
        self.calls.take()
    }

    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The deadline's error, once it has passed. A host call that ends
    /// after the check's deadline ends the check with it, live, recorded
    /// and replayed alike, rather than hand the guest an answer it has no
    /// time left for: the epoch check would stop it up to a tick later,
    /// maybe after it made a verdict of the answer, and a replay (which
    /// ends the check at such a call) would then differ from the run.
    pub(crate) fn within_deadline(&self) -> wasmtime::Result<()> {
        if Instant::now() >= self.deadline {
            Err(wasmtime::Error::new(crate::runtime::DeadlineExceeded))
        } else {
            Ok(())
        }
    }

    /// The check's log: its `log` lines, then what it printed.
    pub fn take_log(&mut self) -> Vec<LogLine> {
        let mut log = std::mem::take(&mut self.log);
        let secrets = self.session.cleaner.secrets();
        log.push_text(LogSource::Stdout, &self.stdout.contents(secrets));
        log.push_text(LogSource::Stderr, &self.stderr.contents(secrets));
        log.finish()
    }

    /// What the guest wrote to stderr, e.g. a panic message.
    pub fn stderr_text(&self) -> String {
        self.stderr.contents(self.session.cleaner.secrets())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (stdout, stderr) = (&self.stdout, &self.stderr);
        WasiCtxView {
            ctx: self
                .wasi
                .get_or_insert_with(|| sandboxed_wasi(stdout, stderr)),
            table: &mut self.table,
        }
    }
}

/// WASI with nothing granted: no preopened dirs, env, args, sockets or name
/// lookups. Clocks and randomness stay, since Rust's std needs them.
fn sandboxed_wasi(stdout: &LogPipe, stderr: &LogPipe) -> WasiCtx {
    WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

/// Log lines of one check, bounded in bytes.
#[derive(Debug, Default)]
pub struct CheckLog {
    lines: Vec<LogLine>,
    bytes: usize,
    limit: usize,
    dropped: usize,
}

impl CheckLog {
    fn new(limit: usize) -> CheckLog {
        CheckLog {
            limit,
            ..CheckLog::default()
        }
    }

    pub fn push(&mut self, source: LogSource, text: String) {
        if self.bytes + text.len() > self.limit {
            self.dropped += 1;
            return;
        }
        self.bytes += text.len();
        self.lines.push(LogLine { source, text });
    }

    /// Adds the line `make` makes, as [`CheckLog::push`]; but once the log
    /// is full (a line was dropped, or no byte is left) every further line
    /// is counted dropped without being made: a guest logging megabytes into
    /// a full log costs no cleaning of what would be thrown away.
    pub fn push_with(&mut self, source: LogSource, make: impl FnOnce() -> String) {
        if self.dropped > 0 || self.bytes >= self.limit {
            self.dropped += 1;
            return;
        }
        self.push(source, make());
    }

    fn push_text(&mut self, source: LogSource, text: &str) {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            self.push(source, line.to_owned());
        }
    }

    fn finish(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            let text = format!(
                "[gate: {} log lines dropped past the {} byte limit]",
                self.dropped, self.limit
            );
            self.lines.push(LogLine {
                source: LogSource::Warn,
                text,
            });
        }
        self.lines
    }
}

/// A guest's stdout or stderr: kept in memory up to a cap, the rest dropped
/// silently, so a chatty guest neither grows the host nor fails its writes.
#[derive(Clone)]
struct LogPipe {
    buffer: Arc<Mutex<Vec<u8>>>,
    capacity: usize,
}

impl LogPipe {
    fn new(capacity: usize) -> LogPipe {
        LogPipe {
            buffer: Arc::default(),
            capacity,
        }
    }

    /// What was written, up to the cap. Past it, the end may be the start
    /// of a secret whose rest was dropped, which redaction could not
    /// recognise: such an end is left out too.
    fn contents(&self, secrets: &[String]) -> String {
        let buffer = self.buffer.lock().unwrap();
        let mut end = buffer.len();
        if end >= self.capacity {
            end -= secret_start_at_end(&buffer, secrets);
        }
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for LogPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut buffer = self.buffer.lock().unwrap();
        let room = self.capacity.saturating_sub(buffer.len());
        buffer.extend_from_slice(&buf[..buf.len().min(room)]);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(n: usize, permanent: bool) -> HttpCall {
        HttpCall {
            method: "GET".into(),
            url: format!("http://127.0.0.1/{n}"),
            status: None,
            elapsed_ms: 0.0,
            error: Some("connect: refused".into()),
            permanent,
        }
    }

    #[test]
    fn the_record_keeps_the_first_calls_and_counts_the_rest() {
        let mut record = CallRecord::default();
        for n in 0..CALLS_KEPT + 500 {
            record.push(call(n, false));
        }
        let (kept, dropped) = record.take();
        assert_eq!((kept.len(), dropped), (CALLS_KEPT, 500));
        assert_eq!(kept[0].url, "http://127.0.0.1/0");
        assert_eq!(
            kept.last().unwrap().url,
            format!("http://127.0.0.1/{}", CALLS_KEPT - 1)
        );
    }

    #[test]
    fn a_permanent_failure_past_the_cap_is_still_kept_once() {
        let mut record = CallRecord::default();
        for n in 0..CALLS_KEPT + 10 {
            record.push(call(n, n >= CALLS_KEPT + 5));
        }
        let (kept, dropped) = record.take();
        assert_eq!(kept.len(), CALLS_KEPT + 1);
        assert_eq!(dropped, 9);
        assert!(kept.last().unwrap().permanent, "--retry still sees it");
    }

    #[test]
    fn a_full_log_makes_no_line_it_would_drop() {
        let mut log = CheckLog::new(8);
        log.push_with(LogSource::Info, || "1234567".into());
        // One byte left: this line is made, does not fit, and fills the log.
        log.push_with(LogSource::Info, || "89".into());
        log.push_with(LogSource::Info, || panic!("made a line for a full log"));
        let lines = log.finish();
        assert_eq!(lines[0].text, "1234567");
        assert!(
            lines[1].text.contains("2 log lines dropped"),
            "{:?}",
            lines[1]
        );
    }

    #[test]
    fn a_full_pipe_drops_a_secret_its_cap_cut_short() {
        use std::task::Waker;
        let secrets = ["s3cr3t".to_owned()];
        let write = |pipe: &LogPipe, text: &str| {
            let mut pipe = pipe.clone();
            let mut context = TaskContext::from_waker(Waker::noop());
            let written = Pin::new(&mut pipe).poll_write(&mut context, text.as_bytes());
            assert!(matches!(written, Poll::Ready(Ok(n)) if n == text.len()));
        };
        let pipe = LogPipe::new(12);
        write(&pipe, "token: s3cr3t\n");
        assert_eq!(pipe.contents(&secrets), "token: ", "not `token: s3cr3`");
        // Under the cap nothing was cut, and a secret's start is just text.
        let pipe = LogPipe::new(64);
        write(&pipe, "no s3cr");
        assert_eq!(pipe.contents(&secrets), "no s3cr");
        // A whole secret is kept, for the cleaner to redact.
        let pipe = LogPipe::new(13);
        write(&pipe, "token: s3cr3t and more");
        assert_eq!(pipe.contents(&secrets), "token: s3cr3t");
    }
}
