//! Record and replay of host calls: the one layer every capability's host
//! function goes through with a serialisable request and answer.
//!
//! `gate run --record FILE` keeps, per check, each call a policy made and the
//! answer it got (secrets redacted), the run's context (target, env, params,
//! the names of the secrets it had) and each check's outcome. `gate test`
//! (see [`crate::replay`]) answers the same calls from that file with no
//! network at all, and compares the outcomes with the file's expectations.
//!
//! A capability joins the tape in two places: its host function calls
//! [`HostState::taped`] with a name (`http.send`), a request (JSON) and the
//! live call; and [`CALLS`] names the call with the type its answers parse
//! into, so a fixture is validated before anything runs. HTTP and metrics
//! answers have their own, hand-editable shapes (relative timestamps, a
//! body as text); docker and tls answers are the WIT result as it is, in
//! an [`Answer`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::grants::{Grants, Prometheus};
use crate::report::{Outcome, PolicyReport};
use crate::state::{HostState, Session};
use crate::text::{Cleaner, REDACTED};

/// Version of the fixture format; bumped on any breaking change.
pub const SCHEMA: &str = "gate.tape/v1";

/// Checks that an answer written in a fixture parses as the call's answer.
type AnswerCheck = fn(&Value) -> Result<(), String>;

/// Every call the tape knows, with a check that an answer written in a
/// fixture parses. A new capability adds one line here.
pub const CALLS: &[(&str, AnswerCheck)] = &[
    ("http.send", crate::caps::http::HttpAnswer::check),
    (
        "metrics.query",
        parses::<crate::caps::metrics::MetricsAnswer>,
    ),
    (
        "metrics.query_range",
        parses::<crate::caps::metrics::MetricsAnswer>,
    ),
    (
        "docker.list_containers",
        parses::<crate::caps::docker::ListAnswer>,
    ),
    (
        "docker.inspect",
        parses::<crate::caps::docker::InspectAnswer>,
    ),
    ("docker.stats", parses::<crate::caps::docker::StatsAnswer>),
    ("tls.inspect", parses::<crate::caps::tls::InspectAnswer>),
    (
        crate::caps::context::SLEEP,
        parses::<crate::caps::context::Slept>,
    ),
];

/// The answer to a call whose WIT result is `result<T, E>`, as a fixture
/// writes it: `{"ok": …}` or `{"error": {"NotFound": "…"}}`, the fields
/// and variants named as in the WIT (in snake and camel case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Answer<T, E> {
    Ok(T),
    Error(E),
}

impl<T, E> From<Result<T, E>> for Answer<T, E> {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(value) => Answer::Ok(value),
            Err(error) => Answer::Error(error),
        }
    }
}

impl<T, E> Answer<T, E> {
    pub fn into_result(self) -> Result<T, E> {
        match self {
            Answer::Ok(value) => Ok(value),
            Answer::Error(error) => Err(error),
        }
    }
}

fn parses<T: DeserializeOwned>(answer: &Value) -> Result<(), String> {
    T::deserialize(answer).map(drop).map_err(|e| e.to_string())
}

/// A fixture: what `--record` writes and `gate test` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<String>,
    #[serde(default)]
    pub context: Context,
    pub policies: Vec<PolicyTape>,
}

/// What the run told policies: the answers to every `context` call.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    #[serde(default = "default_env")]
    pub env: String,
    /// The run's `--release`, which policies may read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The Prometheus server the run granted; replay only needs to know
    /// that one was granted, and never connects to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<String>,
    /// The hosts the run allowed besides the target (`--allow-host`), so
    /// that the same checks run on replay as were recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// The run was `--strict` (or its environment `strict = true`): a
    /// blocking check skipped for want of a capability was recorded as
    /// failing, and replays so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
    /// The Docker engine the run granted; as for Prometheus, replay only
    /// needs to know that one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Names of the secrets that were set. Values are never stored: replay
    /// answers `[REDACTED]`, which is also what the recorded requests show.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// The run's limits that differ from the defaults (`host_calls`,
    /// `timeout`, `memory_limit`…), as gate.toml writes them: a replay
    /// runs under the same.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "limit_values"
    )]
    pub limits: BTreeMap<String, String>,
}

/// A fixture's limits as gate.toml takes them: text (`"512 KiB"`, `"30s"`)
/// or a whole number (`5000`).
fn limit_values<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(
        untagged,
        expecting = "a limit as text (\"512 KiB\", \"30s\") or a whole number"
    )]
    enum Written {
        Text(String),
        Number(u64),
    }
    let written = BTreeMap::<String, Written>::deserialize(deserializer)?;
    Ok(written
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                Written::Text(text) => text,
                Written::Number(number) => number.to_string(),
            };
            (key, text)
        })
        .collect())
}

fn default_env() -> String {
    crate::plan::DEFAULT_ENV.to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyTape {
    /// The policy's name, as it describes itself.
    pub name: String,
    /// The sha256 of the recorded build; informative only, since replaying
    /// a changed policy against old answers is the point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub checks: Vec<CheckTape>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckTape {
    pub name: String,
    pub expect: Expect,
    #[serde(default)]
    pub calls: Vec<Call>,
}

/// What the replayed check must end with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub outcome: Outcome,
    /// Text the check's message must contain (never written by `--record`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
}

/// One host call and its answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Call {
    pub call: String,
    pub request: Value,
    /// Absent when `unanswered`.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub answer: Value,
    /// The check's deadline passed while the call waited for its answer
    /// (still waiting, or answered only then): replay ends the check there
    /// with the same deadline error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unanswered: bool,
}

/// Most a run's recording may hold of calls, as the fixture writes them
/// (pretty-printed, where a Prometheus sample of 12 bytes takes ~100): its
/// calls are kept in memory until the run ends, and a policy decides how
/// many it makes and how big they are (a looped request with a 15 MiB URL).
/// Well under what `gate test` reads back (see [`load`]).
pub const MAX_RECORDING_BYTES: u64 = 256 << 20;

/// How far in a fixture a call's lines are indented (policies, a policy,
/// checks, a check, calls, the call: six levels of two spaces).
const CALL_INDENT: u64 = 12;

/// The run's tape, shared by its checks.
#[derive(Debug)]
pub enum Tape {
    /// `--record`: calls are made for real and kept.
    Record(Recorder),
    /// `gate test`: calls are answered from the fixture, never made.
    Replay {
        fixture: Box<Fixture>,
        unexpected: Mutex<Vec<Unexpected>>,
    },
}

/// What `--record` has kept so far.
#[derive(Debug)]
pub struct Recorder {
    checks: Mutex<Vec<RecordedCheck>>,
    /// Bytes of the calls kept, as the fixture will hold them.
    bytes: std::sync::atomic::AtomicU64,
    /// [`MAX_RECORDING_BYTES`], but in tests.
    limit: u64,
    /// The first call that did not fit in `limit`: the recording is
    /// incomplete and is not written.
    overflow: Mutex<Option<String>>,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder::with_limit(MAX_RECORDING_BYTES)
    }
}

/// Counts what serde_json writes, and keeps none of it.
#[derive(Default)]
struct Measure {
    bytes: u64,
    lines: u64,
}

impl std::io::Write for Measure {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        self.lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Recorder {
    fn with_limit(limit: u64) -> Recorder {
        Recorder {
            checks: Mutex::default(),
            bytes: std::sync::atomic::AtomicU64::default(),
            limit,
            overflow: Mutex::default(),
        }
    }

    /// Whether a call was already left out: none is kept from then on, so
    /// none need be built.
    fn is_full(&self) -> bool {
        self.bytes.load(std::sync::atomic::Ordering::Relaxed) > self.limit
    }

    /// Whether `call` still fits; the first that does not is named in
    /// `overflow`, and nothing is kept from then on.
    fn keeps(&self, call: &Call, policy: &str, check: &str) -> bool {
        use std::sync::atomic::Ordering;
        if self.is_full() {
            return false;
        }
        // Only the size is wanted; a failure to serialise counts as too big.
        let mut measure = Measure::default();
        let size = serde_json::to_writer_pretty(&mut measure, call)
            .map_or(u64::MAX, |()| {
                measure.bytes + (measure.lines + 1) * CALL_INDENT
            })
            .min(self.limit + 1);
        let total = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
        if total <= self.limit {
            return true;
        }
        let mut overflow = self.overflow.lock().unwrap();
        overflow.get_or_insert_with(|| {
            format!(
                "policy `{policy}` check `{check}`: its {} call of {} brings it to {}",
                call.call,
                crate::units::format_size(size),
                crate::units::format_size(total),
            )
        });
        false
    }
}

#[derive(Debug)]
pub struct RecordedCheck {
    pub policy: String,
    pub check: String,
    pub calls: Vec<Call>,
}

/// A call a replayed check made that the fixture does not have.
#[derive(Debug, Clone, Serialize)]
pub struct Unexpected {
    pub policy: String,
    pub check: String,
    pub call: String,
    pub asked: Value,
    /// The nearest recorded request of the same call, if any.
    pub recorded: Option<Value>,
    /// `- path: recorded` / `+ path: asked` lines.
    pub diff: Vec<String>,
}

impl Tape {
    pub fn recorder() -> Tape {
        Tape::Record(Recorder::default())
    }

    pub fn replay(fixture: Fixture) -> Tape {
        Tape::Replay {
            fixture: Box::new(fixture),
            unexpected: Mutex::default(),
        }
    }

    pub fn unexpected(&self) -> Vec<Unexpected> {
        match self {
            Tape::Replay { unexpected, .. } => unexpected.lock().unwrap().clone(),
            Tape::Record(_) => Vec::new(),
        }
    }
}

/// One check's view of the tape, kept in its store.
#[derive(Debug, Default)]
pub enum CheckCassette {
    /// No tape: every call is live.
    #[default]
    Live,
    Record {
        tape: Arc<Tape>,
        policy: String,
        check: String,
        calls: Vec<Call>,
        /// The call being made, until its answer is kept: the deadline may
        /// drop it unanswered.
        in_flight: Option<(&'static str, Value)>,
    },
    Replay {
        tape: Arc<Tape>,
        policy: String,
        check: String,
        calls: Vec<Call>,
        used: Vec<bool>,
    },
}

impl CheckCassette {
    /// The cassette of `policy`/`check` in this session; `check` is `None`
    /// while the policy describes itself, when replay answers nothing.
    pub fn for_check(session: &Session, policy: &str, check: Option<&str>) -> CheckCassette {
        let Some(tape) = &session.tape else {
            return CheckCassette::Live;
        };
        let check_name = check.unwrap_or("(describe)").to_owned();
        match tape.as_ref() {
            Tape::Record(_) if check.is_some() => CheckCassette::Record {
                tape: tape.clone(),
                policy: policy.to_owned(),
                check: check_name,
                calls: Vec::new(),
                in_flight: None,
            },
            Tape::Record(_) => CheckCassette::Live,
            Tape::Replay { fixture, .. } => {
                let calls: Vec<Call> = check
                    .and_then(|check| {
                        fixture
                            .policies
                            .iter()
                            .filter(|p| p.name == policy)
                            .flat_map(|p| &p.checks)
                            .find(|c| c.name == check)
                    })
                    .map(|c| c.calls.clone())
                    .unwrap_or_default();
                CheckCassette::Replay {
                    tape: tape.clone(),
                    policy: policy.to_owned(),
                    check: check_name,
                    used: vec![false; calls.len()],
                    calls,
                }
            }
        }
    }

    /// No tape: calls go out and nothing keeps them.
    pub fn is_live(&self) -> bool {
        matches!(self, CheckCassette::Live)
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, CheckCassette::Replay { .. })
    }

    pub fn is_record(&self) -> bool {
        matches!(self, CheckCassette::Record { .. })
    }

    /// Whether the fixture has any `call` of this check (replay only).
    pub fn replays_any(&self, call: &str) -> bool {
        matches!(self, CheckCassette::Replay { calls, .. } if calls.iter().any(|c| c.call == call))
    }

    /// Hands what the check did to the run's tape: its calls when
    /// recording, the last of them unanswered when the deadline cut it
    /// short. Called once, when the check has ended.
    pub fn finish(&mut self) {
        if let CheckCassette::Record {
            tape,
            policy,
            check,
            mut calls,
            in_flight,
        } = std::mem::take(self)
            && let Tape::Record(recorder) = tape.as_ref()
        {
            if let Some((call, request)) = in_flight {
                let cut = Call {
                    call: call.to_owned(),
                    request,
                    answer: Value::Null,
                    unanswered: true,
                };
                if recorder.keeps(&cut, &policy, &check) {
                    calls.push(cut);
                }
            }
            recorder.checks.lock().unwrap().push(RecordedCheck {
                policy,
                check,
                calls,
            });
        }
    }

    /// The recorded answer to `request`: the first unused entry of the same
    /// call whose request matches, else the last used one that matches (so
    /// one entry answers a request repeated many times). `None` for a call
    /// the recorded run's deadline left unanswered.
    fn answer(&mut self, call: &str, request: &Value) -> Result<Option<Value>, Box<Unexpected>> {
        let CheckCassette::Replay {
            calls,
            used,
            policy,
            check,
            ..
        } = self
        else {
            unreachable!("answer is only asked in replay");
        };
        let matching = |(_, c): &(usize, &Call)| c.call == call && subset(&c.request, request);
        let fresh = calls
            .iter()
            .enumerate()
            .filter(matching)
            .find(|(i, _)| !used[*i]);
        let reused = || calls.iter().enumerate().rfind(matching);
        if let Some((index, entry)) = fresh.or_else(reused) {
            used[index] = true;
            return Ok((!entry.unanswered).then(|| entry.answer.clone()));
        }
        let nearest = calls
            .iter()
            .filter(|c| c.call == call)
            .min_by_key(|c| diff(&c.request, request).len());
        Err(Box::new(Unexpected {
            policy: policy.clone(),
            check: check.clone(),
            call: call.to_owned(),
            asked: request.clone(),
            recorded: nearest.map(|c| c.request.clone()),
            diff: nearest
                .map(|c| diff(&c.request, request))
                .unwrap_or_default(),
        }))
    }
}

/// The trap a replayed check gets for a call the fixture does not have; the
/// full diff is in the tape's list of unexpected calls.
#[derive(Debug, thiserror::Error)]
#[error("host call not in the fixture: {call} {summary}")]
pub struct UnexpectedCall {
    pub call: String,
    pub summary: String,
}

impl HostState {
    /// Runs a host call through the run's tape: live (and kept, when
    /// recording), or answered from the fixture when replaying. `request`
    /// makes what identifies the call, and is called only when there is a
    /// tape (a live run without one builds no JSON per request); the answer
    /// is what the policy gets.
    pub(crate) async fn taped<A>(
        &mut self,
        call: &'static str,
        request: impl FnOnce() -> Value,
        live: impl AsyncFnOnce(&mut HostState) -> A,
    ) -> wasmtime::Result<A>
    where
        A: Serialize + DeserializeOwned,
    {
        let cleaner = &self.session.cleaner;
        if self.tape.is_replay() {
            let request = redact(request(), cleaner);
            return match self.tape.answer(call, &request) {
                // As the recorded run ended: its deadline passed during this call.
                Ok(None) => Err(wasmtime::Error::new(crate::runtime::DeadlineExceeded)),
                Ok(Some(answer)) => A::deserialize(answer).map_err(|e| {
                    // Fixtures are validated on load; this is a gate bug.
                    wasmtime::Error::msg(format!("the fixture's answer to {call} is invalid: {e}"))
                }),
                Err(unexpected) => {
                    let summary = crate::text::truncate(&unexpected.asked.to_string(), 200);
                    if let CheckCassette::Replay { tape, .. } = &self.tape
                        && let Tape::Replay {
                            unexpected: list, ..
                        } = tape.as_ref()
                    {
                        list.lock().unwrap().push(*unexpected);
                    }
                    Err(wasmtime::Error::new(UnexpectedCall {
                        call: call.to_owned(),
                        summary,
                    }))
                }
            };
        }
        // Noted before the call is made: the deadline drops a call that is
        // still waiting, and the recording keeps it unanswered.
        if let CheckCassette::Record {
            tape, in_flight, ..
        } = &mut self.tape
            && let Tape::Record(recorder) = tape.as_ref()
            && !recorder.is_full()
        {
            *in_flight = Some((call, redact(request(), cleaner)));
        }
        let answer = live(self).await;
        // A call that ends once the check's deadline has passed (a request
        // whose timeout the deadline cut, with the answer `timeout`) ends
        // the check (`within_deadline`): it stays in flight, and `finish`
        // keeps it unanswered, as one the deadline dropped, so that replay
        // ends the check there too.
        self.within_deadline()?;
        if let CheckCassette::Record {
            tape,
            policy,
            check,
            calls,
            in_flight,
        } = &mut self.tape
            && let Some((_, request)) = in_flight.take()
            && let Tape::Record(recorder) = tape.as_ref()
        {
            let kept = Call {
                call: call.to_owned(),
                request,
                answer: redact(serde_json::to_value(&answer)?, &self.session.cleaner),
                unanswered: false,
            };
            if recorder.keeps(&kept, policy, check) {
                calls.push(kept);
            }
        }
        Ok(answer)
    }
}

/// Replaces every secret in every string of `value` by `[REDACTED]`,
/// and in the bytes a `body_base64` holds.
fn redact(value: Value, cleaner: &Cleaner) -> Value {
    match value {
        Value::String(text) => Value::String(cleaner.redact(&text)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| redact(v, cleaner)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("body_base64", Value::String(encoded)) => {
                            Value::String(redact_base64(&encoded, cleaner))
                        }
                        (_, v) => redact(v, cleaner),
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// A base64 body with its secrets redacted; one that is not base64 (never
/// written by gate) is redacted as text.
fn redact_base64(encoded: &str, cleaner: &Cleaner) -> String {
    use crate::caps::http::BASE64;
    use base64::Engine as _;
    match BASE64.decode(encoded) {
        Ok(bytes) => BASE64.encode(cleaner.redact_bytes(&bytes)),
        Err(_) => cleaner.redact(encoded),
    }
}

/// Whether `recorded` matches `asked`: every top-level field the fixture
/// gives must be equal (`headers: {}` means no headers); a field it leaves
/// out matches anything, so a hand-written fixture names only what matters.
fn subset(recorded: &Value, asked: &Value) -> bool {
    let equal = |a: &Value, b: &Value| match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    };
    match (recorded, asked) {
        (Value::Object(want), Value::Object(have)) => want
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|h| equal(value, h))),
        (a, b) => equal(a, b),
    }
}

/// Where two requests differ, one line per field: `- path: recorded` then
/// `+ path: asked`.
pub fn diff(recorded: &Value, asked: &Value) -> Vec<String> {
    let (mut left, mut right) = (BTreeMap::new(), BTreeMap::new());
    flatten("", recorded, &mut left);
    flatten("", asked, &mut right);
    let mut lines = Vec::new();
    let paths: std::collections::BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    for path in paths {
        let (a, b) = (left.get(path), right.get(path));
        if a == b {
            continue;
        }
        // A field a hand-written fixture leaves out matches anything.
        if a.is_none() && recorded_has_no_prefix(recorded, path) {
            continue;
        }
        if let Some(a) = a {
            lines.push(format!("- {path}: {a}"));
        }
        if let Some(b) = b {
            lines.push(format!("+ {path}: {b}"));
        }
    }
    lines
}

/// Whether the recorded request leaves out the top-level field of `path`.
fn recorded_has_no_prefix(recorded: &Value, path: &str) -> bool {
    let top = path.split(['.', '[']).next().unwrap_or(path);
    recorded.get(top).is_none()
}

fn flatten(path: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                flatten(&join(key), value, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{path}[{i}]"), item, out);
            }
        }
        leaf => {
            out.insert(path.to_owned(), leaf.to_string());
        }
    }
}

/// Reads and validates a fixture: its schema, that every call is one gate
/// knows, and that every answer parses.
pub fn load(path: &Path) -> anyhow::Result<Fixture> {
    // Bodies make fixtures big, but not this big; a device or FIFO is refused.
    let text = crate::files::read_text_capped(path, 1 << 30)
        .map_err(|e| anyhow::anyhow!("cannot read the fixture {}: {e}", path.display()))?;
    let fixture: Fixture = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: not a gate fixture: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    validate(&fixture).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(fixture)
}

fn validate(fixture: &Fixture) -> Result<(), String> {
    if fixture.schema != SCHEMA {
        return Err(format!(
            "schema `{}` is not supported: this gate reads `{SCHEMA}`",
            fixture.schema
        ));
    }
    for policy in &fixture.policies {
        for check in &policy.checks {
            for (i, call) in check.calls.iter().enumerate() {
                let at = format!(
                    "policy `{}` check `{}` call #{}",
                    policy.name,
                    check.name,
                    i + 1
                );
                let Some((_, parses)) = CALLS.iter().find(|(name, _)| *name == call.call) else {
                    let known: Vec<&str> = CALLS.iter().map(|(name, _)| *name).collect();
                    return Err(format!(
                        "{at}: unknown call `{}` (known: {})",
                        call.call,
                        known.join(", ")
                    ));
                };
                match (call.unanswered, call.answer.is_null()) {
                    (true, true) => {}
                    (true, false) => {
                        return Err(format!(
                            "{at}: has both an `answer` and `\"unanswered\": true`: remove one"
                        ));
                    }
                    (false, true) => {
                        return Err(format!("{at}: no `answer` (nor `\"unanswered\": true`)"));
                    }
                    (false, false) => parses(&call.answer)
                        .map_err(|e| format!("{at}: bad `{}` answer: {e}", call.call))?,
                }
            }
        }
    }
    Ok(())
}

/// The grants a replay runs with: what the recorded run granted, with the
/// secrets' values replaced by `[REDACTED]`. Nothing is ever dialled.
pub fn replay_grants(context: &Context) -> anyhow::Result<Grants> {
    // What `--record` redacted, a replay cannot read: it says so.
    let unreadable = |what: &str, text: &str, why: String| {
        let redacted = if text.contains(REDACTED) {
            " (a secret's value was redacted in it: write there the host the run used; a \
             replay never connects to it)"
        } else {
            ""
        };
        anyhow::anyhow!("the fixture's {what}: {why}{redacted}")
    };
    let url = |text: &str, what: &str| {
        url::Url::parse(text)
            .map_err(|e| unreadable(what, text, format!("`{text}` is not a URL: {e}")))
    };
    Ok(Grants {
        target: context
            .target
            .as_deref()
            .map(|t| url(t, "target"))
            .transpose()?,
        allowed_hosts: context
            .allowed_hosts
            .iter()
            .map(|host| {
                crate::grants::AllowedHost::parse(host)
                    .map_err(|e| unreadable("allowed host", host, e))
            })
            .collect::<anyhow::Result<_>>()?,
        docker: context
            .docker
            .as_deref()
            .map(|d| {
                crate::caps::docker::parse_host(d).map_err(|e| unreadable("docker engine", d, e))
            })
            .transpose()?,
        ca_files: Vec::new(),
        client_identity: None,
        from_fixture: true,
        env_name: context.env.clone(),
        // Held to `--release`'s rules: a policy reads what a run could give.
        release: context
            .release
            .as_deref()
            .map(|id| {
                crate::cli::parse_release(id)
                    .map_err(|e| anyhow::anyhow!("the fixture's release `{id}`: {e}"))
            })
            .transpose()?,
        params: context.params.clone(),
        secrets: context
            .secrets
            .iter()
            .map(|name| (crate::caps::context::secret_key(name), REDACTED.to_owned()))
            .collect(),
        prometheus: context
            .prometheus
            .as_deref()
            .map(|p| url(p, "prometheus").map(|url| Prometheus { url, auth: None }))
            .transpose()?,
    })
}

/// Why `--record FILE` could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// A bug: only a session with a recorder gets here.
    #[error("this run was not recorded")]
    NotRecorded,
    #[error(
        "the recording {} was not written: it would hold more than {} of calls ({at}); record \
         fewer checks (--check), or a policy that makes fewer or smaller calls",
        path.display(),
        crate::units::format_size(MAX_RECORDING_BYTES)
    )]
    TooBig { path: PathBuf, at: String },
    #[error("cannot write the recording {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes what a recorded run did: its context, every check's calls and
/// outcome. Missing folders are created, as for `--report`; the file is
/// written whole or not at all ([`crate::files::write_atomically`]).
/// Returns what the redaction of secrets changed in the context that
/// replay will feel, one line each, for the run to warn about.
pub fn write_recording(
    path: &Path,
    session: &Session,
    strict: bool,
    policies: &[PolicyReport],
    recorded_at: String,
) -> Result<Vec<String>, RecordingError> {
    let Some(tape) = &session.tape else {
        return Err(RecordingError::NotRecorded);
    };
    let Tape::Record(recorder) = tape.as_ref() else {
        return Err(RecordingError::NotRecorded);
    };
    if let Some(at) = recorder.overflow.lock().unwrap().clone() {
        return Err(RecordingError::TooBig {
            path: path.to_owned(),
            at,
        });
    }
    let mut recorded = std::mem::take(&mut *recorder.checks.lock().unwrap());
    // Secrets are redacted here as in the calls: a secret's value may also
    // be a param's, or sit in a URL's query or credentials.
    let context = recorded_context(session, strict, &session.cleaner);
    let mut warnings = redaction_warnings(
        &context,
        &recorded_context(session, strict, &Cleaner::default()),
    );
    let policies: Vec<PolicyTape> = policies
        .iter()
        .map(|policy| PolicyTape {
            name: policy.name.clone(),
            sha256: Some(policy.sha256.clone()),
            checks: policy
                .checks
                .iter()
                .map(|check| {
                    let calls = recorded
                        .iter_mut()
                        .find(|r| r.policy == policy.name && r.check == check.name)
                        .map(|r| std::mem::take(&mut r.calls))
                        .unwrap_or_default();
                    CheckTape {
                        name: check.name.clone(),
                        expect: Expect {
                            outcome: check.outcome,
                            message_contains: None,
                        },
                        calls,
                    }
                })
                .collect(),
        })
        .collect();
    warnings.extend(redacted_names(&policies));
    let fixture = Fixture {
        schema: SCHEMA.to_owned(),
        recorded_at: Some(recorded_at),
        context,
        policies,
    };
    let fail = |source| RecordingError::Write {
        path: path.to_owned(),
        source,
    };
    let mut text = serde_json::to_string_pretty(&fixture).map_err(|e| fail(e.into()))?;
    text.push('\n');
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::files::create_folders(folder).map_err(fail)?;
    }
    // Read and written by the user's tools, as any file they write.
    crate::files::write_atomically(path, text.as_bytes(), 0o666).map_err(fail)?;
    Ok(warnings)
}

/// What the run told policies, as a recording keeps it, with `cleaner`'s
/// secrets redacted.
fn recorded_context(session: &Session, strict: bool, cleaner: &Cleaner) -> Context {
    let grants = &session.grants;
    let redact = |text: String| cleaner.redact(&text);
    Context {
        env: grants.env_name.clone(),
        release: grants.release.clone(),
        target: grants.target.as_ref().map(|t| cleaner.redact_url(t)),
        prometheus: grants
            .prometheus
            .as_ref()
            .map(|p| cleaner.redact_url(&p.url)),
        allowed_hosts: grants
            .allowed_hosts
            .iter()
            .map(|h| redact(h.to_string()))
            .collect(),
        strict,
        docker: grants.docker.as_ref().map(|d| redact(d.to_string())),
        params: grants
            .params
            .iter()
            .map(|(key, value)| (key.clone(), redact(value.clone())))
            .collect(),
        secrets: grants
            .secrets
            .keys()
            .map(|k| k.to_ascii_lowercase())
            .collect(),
        limits: session.limits.recorded(),
    }
}

/// What redacting the run's secrets did to a recording's context that
/// replay will not undo, judged against the same context unredacted
/// (`plain`): a target or host that a secret's value is part of (a short
/// secret that is also in a host name) no longer parses, so `gate test`
/// refuses the fixture; a param that held a secret's value replays as
/// `[REDACTED]`. Neither shows a secret: the texts are the redacted ones.
fn redaction_warnings(redacted: &Context, plain: &Context) -> Vec<String> {
    let mut warnings = Vec::new();
    if let (Err(e), Ok(_)) = (replay_grants(redacted), replay_grants(plain)) {
        warnings.push(format!("{e:#}: `gate test` refuses the fixture until then"));
    }
    for (key, kept) in &redacted.params {
        if plain.params.get(key) != Some(kept) {
            warnings.push(format!(
                "param `{key}` held a secret's value and is kept as {kept:?}: replay gives the \
                 policy that text (a policy reads a secret with `context::secret`, not as a \
                 param)"
            ));
        }
    }
    warnings
}

/// Policy and check names a secret's value was redacted in, as reports
/// redact them (a policy may name a check after a secret it read): replay
/// finds a policy and its checks by name, so it cannot find these.
fn redacted_names(policies: &[PolicyTape]) -> Vec<String> {
    let names = policies.iter().flat_map(|policy| {
        std::iter::once(("policy", &policy.name))
            .chain(policy.checks.iter().map(|check| ("check", &check.name)))
    });
    names
        .filter(|(_, name)| name.contains(REDACTED))
        .map(|(what, name)| {
            format!(
                "the {what} name `{name}` had a secret's value in it, redacted: `gate test` \
                 finds no {what} of that name until the fixture gives its real one"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cassette(calls: Vec<Call>) -> CheckCassette {
        let fixture = Fixture {
            schema: SCHEMA.into(),
            recorded_at: None,
            context: Context::default(),
            policies: Vec::new(),
        };
        CheckCassette::Replay {
            tape: Arc::new(Tape::replay(fixture)),
            policy: "p".into(),
            check: "c".into(),
            used: vec![false; calls.len()],
            calls,
        }
    }

    fn call(url: &str, status: u16) -> Call {
        Call {
            call: "http.send".into(),
            request: json!({"method": "GET", "url": url}),
            answer: json!({"status": status}),
            unanswered: false,
        }
    }

    #[test]
    fn the_release_is_kept_and_replayed_as_a_run_would_give_it() {
        let with: Context = serde_json::from_value(json!({"env": "stage", "release": "v1.4.2"}))
            .expect("a context");
        assert_eq!(
            replay_grants(&with).unwrap().release.as_deref(),
            Some("v1.4.2")
        );
        assert_eq!(serde_json::to_value(&with).unwrap()["release"], "v1.4.2");
        let without = Context::default();
        assert_eq!(replay_grants(&without).unwrap().release, None);
        assert!(
            serde_json::to_value(&without)
                .unwrap()
                .get("release")
                .is_none()
        );
        for bad in ["", "v1\u{1b}[2J"] {
            let context = Context {
                release: Some(bad.to_owned()),
                ..Context::default()
            };
            let error = replay_grants(&context).unwrap_err().to_string();
            assert!(error.contains("the fixture's release"), "{error}");
        }
    }

    #[test]
    fn a_recording_is_written_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("gate-tape-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stage.json");
        let write_atomically =
            |path: &Path, bytes: &[u8]| crate::files::write_atomically(path, bytes, 0o666);
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        // A folder where the file should be: the write fails, and leaves
        // nothing behind.
        let folder = dir.join("taken");
        std::fs::create_dir(&folder).unwrap();
        assert!(write_atomically(&folder, b"x").is_err());
        let mut left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["stage.json", "taken"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_recorder_keeps_calls_up_to_its_cap_then_none_and_names_the_first_left_out() {
        let recorder = Recorder::with_limit(256 << 10);
        let sized = |kib: usize| Call {
            call: "http.send".into(),
            request: json!({"url": "x".repeat(kib << 10)}),
            answer: json!({"status": 200}),
            unanswered: false,
        };
        // 100 + 100 KiB fit in 256 KiB; the next 100 do not, nor does a
        // small call after them: a recording with a hole would not replay.
        assert!(recorder.keeps(&sized(100), "p", "first"));
        assert!(recorder.keeps(&sized(100), "p", "first"));
        assert!(!recorder.keeps(&sized(100), "p", "second"));
        assert!(!recorder.keeps(&call("/small", 200), "p", "third"));
        let overflow = recorder.overflow.lock().unwrap().clone().unwrap();
        assert!(
            overflow.starts_with(
                "policy `p` check `second`: its http.send call of 100.2 KiB brings it to 300.6 KiB"
            ),
            "{overflow}"
        );
    }

    /// The cap holds for the fixture as written: pretty-printed and
    /// indented, where small values take many times their compact size.
    #[test]
    fn a_call_is_measured_as_the_fixture_writes_it() {
        let recorder = Recorder::with_limit(u64::MAX / 2);
        let samples: Vec<Value> = (0..1000).map(|i| json!([-30.0, f64::from(i)])).collect();
        let call = Call {
            call: "metrics.query_range".into(),
            request: json!({"query": "up"}),
            answer: json!({"ok": {"series": [{"labels": {}, "points": samples}]}}),
            unanswered: false,
        };
        assert!(recorder.keeps(&call, "p", "c"));
        let measured = recorder.bytes.load(std::sync::atomic::Ordering::Relaxed);
        let fixture = fixture_of(vec![call.clone()]);
        let written = serde_json::to_string_pretty(&fixture).unwrap().len() as u64;
        let compact = serde_json::to_vec(&call).unwrap().len() as u64;
        assert!(written > 4 * compact, "{written} vs {compact}");
        assert!(
            measured <= written && written - measured < 1000,
            "measured {measured}, written {written}"
        );
    }

    #[test]
    fn answers_in_order_then_reuses_the_last() {
        let mut tape = cassette(vec![call("/a", 200), call("/a", 500), call("/b", 204)]);
        let ask = |url: &str| json!({"method": "GET", "url": url, "headers": {"x": "1"}});
        let status = |v: Option<Value>| v.expect("answered")["status"].as_u64().unwrap();
        assert_eq!(status(tape.answer("http.send", &ask("/a")).unwrap()), 200);
        assert_eq!(status(tape.answer("http.send", &ask("/b")).unwrap()), 204);
        assert_eq!(status(tape.answer("http.send", &ask("/a")).unwrap()), 500);
        assert_eq!(status(tape.answer("http.send", &ask("/a")).unwrap()), 500);
    }

    #[test]
    fn an_unknown_call_is_a_diff_against_the_nearest() {
        let mut tape = cassette(vec![call("/ready", 200), call("/api/v1/products", 200)]);
        let asked = json!({"method": "POST", "url": "/api/v1/products"});
        let unexpected = tape.answer("http.send", &asked).unwrap_err();
        assert_eq!(unexpected.recorded.unwrap()["url"], "/api/v1/products");
        assert_eq!(unexpected.diff, ["- method: \"GET\"", "+ method: \"POST\""]);
        let other = tape
            .answer("metrics.query", &json!({"promql": "up"}))
            .unwrap_err();
        assert!(other.recorded.is_none());
    }

    #[test]
    fn fixtures_match_on_the_fields_they_give() {
        assert!(subset(
            &json!({"url": "/a"}),
            &json!({"url": "/a", "headers": {"a": "b"}})
        ));
        assert!(!subset(
            &json!({"url": "/a", "headers": {}}),
            &json!({"url": "/a", "headers": {"a": "b"}})
        ));
        assert!(!subset(
            &json!({"url": "/a", "body": "x"}),
            &json!({"url": "/a"})
        ));
        assert!(subset(&json!({"range_s": 300}), &json!({"range_s": 300.0})));
    }

    #[test]
    fn redacts_secrets_in_binary_bodies() {
        use crate::caps::http::BASE64;
        use base64::Engine as _;
        let cleaner = Cleaner::new(["s3cret".to_owned()]);
        let body = [&[0xffu8, 0x00][..], b"s3cret", &[0xfe], b"s3cret"].concat();
        let value = redact(json!({"body_base64": BASE64.encode(&body)}), &cleaner);
        let written = BASE64
            .decode(value["body_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            written,
            [&[0xffu8, 0x00][..], b"[REDACTED]", &[0xfe], b"[REDACTED]"].concat()
        );
    }

    #[test]
    fn redacts_every_string() {
        let cleaner = Cleaner::new(["s3cret".to_owned()]);
        let value = redact(
            json!({"h": {"authorization": "Bearer s3cret"}, "l": ["s3cret", 1]}),
            &cleaner,
        );
        assert_eq!(
            value,
            json!({"h": {"authorization": "Bearer [REDACTED]"}, "l": ["[REDACTED]", 1]})
        );
    }

    #[test]
    fn docker_and_tls_answers_parse_as_written_by_hand() {
        let fixture: Fixture = serde_json::from_value(json!({
            "schema": SCHEMA,
            "policies": [{"name": "p", "checks": [{"name": "c", "expect": {"outcome": "fail"},
                "calls": [
                    {"call": "docker.inspect", "request": {"container": "web"},
                     "answer": {"error": {"NotFound": "no such container: web"}}},
                    {"call": "docker.stats", "request": {"container": "web"},
                     "answer": {"ok": {"cpu_percent": 12.5, "online_cpus": 2,
                        "memory_used": 1048576, "memory_limit": 4194304, "memory_percent": 25.0}}},
                    {"call": "tls.inspect", "request": {"host": "api.example.com", "port": 443},
                     "answer": {"error": {"Timeout": 5000}}}
                ]}]}]
        }))
        .unwrap();
        validate(&fixture).unwrap();
        let mut bad = fixture.clone();
        bad.policies[0].checks[0].calls[1].answer = json!({"ok": {"cpu_percent": "lots"}});
        let error = validate(&bad).unwrap_err();
        assert!(error.contains("bad `docker.stats` answer"), "{error}");
        let answer: crate::caps::docker::StatsAnswer =
            serde_json::from_value(fixture.policies[0].checks[0].calls[1].answer.clone()).unwrap();
        let stats = crate::bindings::gate::policy::docker::StatsSnapshot::from(
            answer.into_result().unwrap(),
        );
        assert_eq!(stats.memory_percent, 25.0);
        // Unmeasured is NaN, which JSON cannot hold: it is written "NaN"
        // and read back as NaN.
        let unmeasured: crate::caps::docker::StatsAnswer =
            Answer::Ok(crate::caps::docker::TapedStats::from(
                crate::bindings::gate::policy::docker::StatsSnapshot {
                    cpu_percent: f64::NAN,
                    online_cpus: 0,
                    memory_used: 1,
                    memory_limit: 0,
                    memory_percent: f64::NAN,
                },
            ));
        let written = serde_json::to_value(&unmeasured).unwrap();
        assert_eq!(written["ok"]["cpu_percent"], "NaN", "{written}");
        let read: crate::caps::docker::StatsAnswer = serde_json::from_value(written).unwrap();
        let read =
            crate::bindings::gate::policy::docker::StatsSnapshot::from(read.into_result().unwrap());
        assert!(read.cpu_percent.is_nan() && read.memory_percent.is_nan());
    }

    #[test]
    fn fixture_limits_are_text_or_whole_numbers() {
        let context: Context = serde_json::from_value(
            json!({"limits": {"host_calls": 5000, "response_bytes": "1 KiB"}}),
        )
        .unwrap();
        assert_eq!(context.limits["host_calls"], "5000");
        assert_eq!(context.limits["response_bytes"], "1 KiB");
        let error = serde_json::from_value::<Context>(json!({"limits": {"timeout": 1.5}}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("a limit as text (\"512 KiB\", \"30s\") or a whole number"),
            "{error}"
        );
    }

    #[test]
    fn validation_names_the_bad_call() {
        let mut fixture: Fixture = serde_json::from_value(json!({
            "schema": SCHEMA,
            "policies": [{"name": "p", "checks": [{"name": "c", "expect": {"outcome": "pass"},
                "calls": [{"call": "http.sned", "request": {}, "answer": {}}]}]}]
        }))
        .unwrap();
        let error = validate(&fixture).unwrap_err();
        assert!(error.contains("unknown call `http.sned`"), "{error}");
        fixture.policies[0].checks[0].calls[0].call = "http.send".into();
        fixture.policies[0].checks[0].calls[0].answer = json!({"status": "two hundred"});
        let error = validate(&fixture).unwrap_err();
        assert!(error.contains("bad `http.send` answer"), "{error}");
        fixture.policies[0].checks[0].calls[0].unanswered = true;
        let error = validate(&fixture).unwrap_err();
        assert!(
            error.contains("call #1: has both an `answer` and `\"unanswered\": true`"),
            "{error}"
        );
        fixture.policies[0].checks[0].calls[0].answer = Value::Null;
        assert_eq!(validate(&fixture), Ok(()));
        fixture.policies[0].checks[0].calls[0].unanswered = false;
        let error = validate(&fixture).unwrap_err();
        assert!(
            error.contains("call #1: no `answer` (nor `\"unanswered\": true`)"),
            "{error}"
        );
    }

    #[test]
    fn a_context_redaction_spoils_for_replay_is_warned_about() {
        let target = url::Url::parse("https://shop.example.com/").unwrap();
        let params = BTreeMap::from([
            ("token".to_owned(), "s3cret".to_owned()),
            ("window".to_owned(), "5m".to_owned()),
        ]);
        let context = |cleaner: &Cleaner| Context {
            target: Some(cleaner.redact_url(&target)),
            params: params
                .iter()
                .map(|(k, v)| (k.clone(), cleaner.redact(v)))
                .collect(),
            ..Context::default()
        };
        let plain = context(&Cleaner::default());
        let cleaner = Cleaner::new(["shop".to_owned(), "s3cret".to_owned()]);
        let warnings = redaction_warnings(&context(&cleaner), &plain);
        assert_eq!(
            warnings,
            [
                "the fixture's target: `https://[REDACTED].example.com/` is not a URL: invalid \
                 IPv6 address (a secret's value was redacted in it: write there the host the \
                 run used; a replay never connects to it): `gate test` refuses the fixture \
                 until then",
                "param `token` held a secret's value and is kept as \"[REDACTED]\": replay \
                 gives the policy that text (a policy reads a secret with `context::secret`, \
                 not as a param)",
            ]
        );
        assert!(redaction_warnings(&plain, &plain).is_empty());
        let policies = [PolicyTape {
            name: "[REDACTED]-prod".into(),
            sha256: None,
            checks: vec![CheckTape {
                name: "health".into(),
                expect: Expect {
                    outcome: Outcome::Pass,
                    message_contains: None,
                },
                calls: Vec::new(),
            }],
        }];
        assert_eq!(
            redacted_names(&policies),
            [
                "the policy name `[REDACTED]-prod` had a secret's value in it, redacted: `gate \
                 test` finds no policy of that name until the fixture gives its real one"
            ]
        );
        // A context that would not replay unredacted either is not blamed
        // on the secrets.
        let mut unparsable = plain.clone();
        unparsable.target = Some("not a url".into());
        assert!(redaction_warnings(&unparsable, &unparsable).is_empty());
    }

    /// A session with `tape`, as a run or a replay makes one.
    fn taping(tape: Tape) -> Arc<Session> {
        let mut session =
            Session::new(Grants::default(), crate::limits::Limits::default(), []).unwrap();
        session.tape = Some(Arc::new(tape));
        Arc::new(session)
    }

    /// Check `p`/`c` of `session`, with `left` before its deadline.
    fn checking(session: &Arc<Session>, left: std::time::Duration) -> HostState {
        let mut state = HostState::new(session.clone(), std::time::Instant::now() + left);
        state.tape = CheckCassette::for_check(session, "p", Some("c"));
        state
    }

    /// The calls a recording session kept of its first check.
    fn kept(session: &Session) -> Vec<Call> {
        let Some(Tape::Record(recorder)) = session.tape.as_deref() else {
            unreachable!("a recording session")
        };
        std::mem::take(&mut recorder.checks.lock().unwrap()[0].calls)
    }

    /// A fixture of check `p`/`c` expecting `error`, with `calls`.
    fn fixture_of(calls: Vec<Call>) -> Fixture {
        Fixture {
            schema: SCHEMA.into(),
            recorded_at: None,
            context: Context::default(),
            policies: vec![PolicyTape {
                name: "p".into(),
                sha256: None,
                checks: vec![CheckTape {
                    name: "c".into(),
                    expect: Expect {
                        outcome: Outcome::Error,
                        message_contains: None,
                    },
                    calls,
                }],
            }],
        }
    }

    fn is_deadline(error: &wasmtime::Error) -> bool {
        error.is::<crate::runtime::DeadlineExceeded>()
    }

    /// Sleeps are taped in order, the one the deadline cut unanswered: a
    /// replay returns from the others at once and ends the check at that
    /// one. A fixture with no sleep ends it at a sleep longer than the time
    /// left.
    #[tokio::test]
    async fn the_sleep_the_deadline_cut_ends_the_replay_there() {
        use crate::bindings::gate::policy::context::Host as _;
        use std::time::{Duration, Instant};

        let recording = taping(Tape::recorder());
        let mut state = checking(&recording, Duration::from_millis(200));
        state.sleep(1).await.unwrap();
        state.sleep(1).await.unwrap();
        assert!(is_deadline(&state.sleep(60_000).await.unwrap_err()));
        state.tape.finish();
        let calls = kept(&recording);
        let slept = |unanswered: bool| Call {
            call: crate::caps::context::SLEEP.into(),
            request: json!({}),
            answer: if unanswered { Value::Null } else { json!({}) },
            unanswered,
        };
        assert_eq!(calls, [slept(false), slept(false), slept(true)]);

        let replay = |calls: Vec<Call>| {
            let fixture = fixture_of(calls);
            assert_eq!(validate(&fixture), Ok(()));
            checking(&taping(Tape::replay(fixture)), Duration::from_secs(60))
        };
        let mut state = replay(calls);
        let started = Instant::now();
        state.sleep(30_000).await.unwrap();
        state.sleep(30_000).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(30), "at once");
        assert!(is_deadline(&state.sleep(1).await.unwrap_err()));

        let mut state = replay(Vec::new());
        state.sleep(30_000).await.unwrap();
        assert!(is_deadline(&state.sleep(61_000).await.unwrap_err()));
    }

    async fn answered(_: &mut HostState) -> Value {
        json!({"status": 200})
    }

    async fn never_answered(_: &mut HostState) -> Value {
        std::future::pending().await
    }

    async fn not_made(_: &mut HostState) -> Value {
        unreachable!("replay makes no call")
    }

    /// The deadline drops a call that is still waiting for its answer: the
    /// recording keeps it unanswered, and replay ends the check at it with
    /// the deadline's error, as the run ended.
    #[tokio::test]
    async fn a_call_the_deadline_cut_is_kept_unanswered_and_replays_as_the_deadline() {
        let minute = std::time::Duration::from_secs(60);
        let fast = || json!({"url": "/fast"});
        let slow = || json!({"url": "/slow"});

        let recording = taping(Tape::recorder());
        let mut state = checking(&recording, minute);
        let answer = state.taped("http.send", fast, answered).await.unwrap();
        assert_eq!(answer, json!({"status": 200}));
        let waiting = state.taped("http.send", slow, never_answered);
        let cut = tokio::time::timeout(std::time::Duration::from_millis(5), waiting).await;
        assert!(cut.is_err(), "the call never answers");
        state.tape.finish();
        let calls = kept(&recording);
        // A call answered only once the deadline had passed ends the check
        // as well, with the deadline's error: kept unanswered.
        let late = taping(Tape::recorder());
        let mut state = checking(&late, std::time::Duration::ZERO);
        let error = state.taped("http.send", slow, answered).await.unwrap_err();
        assert!(is_deadline(&error), "{error}");
        state.tape.finish();
        let unanswered = Call {
            call: "http.send".into(),
            request: slow(),
            answer: Value::Null,
            unanswered: true,
        };
        assert_eq!(kept(&late), [unanswered]);

        let written = serde_json::to_value(fixture_of(calls)).unwrap();
        let calls = &written["policies"][0]["checks"][0]["calls"];
        assert_eq!(
            calls,
            &json!([
                {"call": "http.send", "request": {"url": "/fast"}, "answer": {"status": 200}},
                {"call": "http.send", "request": {"url": "/slow"}, "unanswered": true},
            ])
        );
        let read: Fixture = serde_json::from_value(written).unwrap();
        assert_eq!(validate(&read), Ok(()));

        let mut state = checking(&taping(Tape::replay(read)), minute);
        let answer = state.taped("http.send", fast, not_made).await.unwrap();
        assert_eq!(answer, json!({"status": 200}));
        let error = state.taped("http.send", slow, not_made).await.unwrap_err();
        assert!(is_deadline(&error), "{error}");
    }
}
