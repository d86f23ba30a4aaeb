//! `gate:policy/http`: outbound requests to the target and allowed hosts only.
//!
//! A request is checked three times before anything is sent: its origin
//! against the grants, then every address its host resolves to
//! ([`crate::net`]), and it then goes out through a client that can dial
//! only those addresses. Redirects are returned to the policy (the SDK
//! follows them hop by hop, each hop a new checked request) and proxy
//! variables are ignored.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::btree_map::Entry;
use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use gate_units::normalize_headers;
use reqwest::dns::{Name, Resolve, Resolving};
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::bindings::gate::policy::http::{Host, HttpError, Method, Request, Response};
use crate::grants::{HttpDenial, Origin};
use crate::net::{self, NetError};
use crate::state::{CallFailure, HostState, HttpCall};
use crate::trust::{Trust, failure_reason, find_tls_error};

/// How a body that is not UTF-8 is written in a recording: standard,
/// padded base64.
pub(crate) use base64::engine::general_purpose::STANDARD as BASE64;

/// Clients kept at once before the cache starts over; each is one origin
/// with one set of addresses.
const MAX_CLIENTS: usize = 64;

/// The builder of every client gate uses: redirects are never followed, and
/// proxy variables are not read (gate's own client adds the proxies it
/// takes from them), so a request goes where it was checked to go.
fn builder() -> reqwest::ClientBuilder {
    // Several runtimes in one process (tests) may race to install it; any
    // installed ring provider will do.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gate/", env!("CARGO_PKG_VERSION")))
}

/// The client gate's own requests share (Prometheus, webhooks: hosts the
/// operator named), one connection pool, trusting the run's roots and going
/// through the environment's proxies ([`crate::proxy`]).
pub fn client(trust: &Trust) -> anyhow::Result<reqwest::Client> {
    let mut builder = builder().tls_backend_preconfigured(trust.http_client_config());
    for proxy in
        crate::proxy::from_env(|name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?
    {
        builder = builder.proxy(proxy);
    }
    Ok(builder.build()?)
}

/// Clients for policy traffic, one per origin and set of checked addresses.
/// Each resolves its one name to those addresses and refuses every other
/// name, so it can only dial what [`net::checked_addrs`] approved, while
/// keeping connections pooled between the requests of a run.
pub struct PolicyClients {
    clients: Mutex<HashMap<(Origin, Vec<SocketAddr>), reqwest::Client>>,
    /// What https connections trust. Its client configuration reads no
    /// certificate until a handshake needs one, so every client, http ones
    /// included, can be given it: a run over plain http never reads the
    /// system's certificates.
    trust: Trust,
}

impl PolicyClients {
    /// Clients whose https connections trust `trust`'s roots (the system's
    /// and `--ca-file`s), as TLS checks and gate's own requests do.
    pub fn new(trust: Trust) -> PolicyClients {
        PolicyClients {
            clients: Mutex::default(),
            trust,
        }
    }

    fn get(&self, origin: &Origin, addrs: &[SocketAddr]) -> Result<reqwest::Client, HttpError> {
        let mut key_addrs = addrs.to_vec();
        key_addrs.sort();
        let key = (origin.clone(), key_addrs);
        let mut clients = self.clients.lock().expect("client cache lock");
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let mut builder = builder()
            .tls_backend_preconfigured(self.trust.http_client_config())
            .dns_resolver(Arc::new(RefuseUnchecked));
        if origin.ip().is_none() {
            builder = builder.resolve_to_addrs(&origin.host, addrs);
        }
        let client = builder
            .build()
            .map_err(|e| HttpError::Other(format!("could not set up the HTTP client: {e}")))?;
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// What the policy is told when the grants refuse its request.
fn refused(denial: HttpDenial) -> HttpError {
    match denial {
        HttpDenial::Denied(why) => HttpError::Denied(why),
        HttpDenial::Invalid(why) => HttpError::InvalidRequest(why),
    }
}

/// The resolver of policy clients: names were resolved and checked before
/// the client was built, so any other lookup is a bug, refused.
struct RefuseUnchecked;

impl Resolve for RefuseUnchecked {
    fn resolve(&self, name: Name) -> Resolving {
        let why = format!("{} was not resolved and checked by gate", name.as_str());
        Box::pin(std::future::ready(Err(why.into())))
    }
}

/// A request the grants allow, ready to send.
struct Prepared {
    url: url::Url,
    origin: Origin,
    headers: reqwest::header::HeaderMap,
}

impl Host for HostState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        self.count_call()?;
        let method = method_name(request.method);
        // Parsed and checked once: the record shows the URL as resolved
        // against the target, and the request goes to that same URL.
        let checked = self.session.grants.http_url(&request.url);
        let resolved = checked.as_ref().ok().map(url::Url::to_string);
        let started = Instant::now();
        let prepared = self.prepare(checked, &request);
        let outcome = match prepared {
            Ok(prepared) if self.tape.is_live() => {
                let outcome = self.send_prepared(method, prepared, &request).await;
                self.within_deadline()?;
                outcome.map(as_replayed)
            }
            // What the grants refuse is refused before the tape is asked, in
            // replay as live: a fixture's answer cannot grant a host the
            // fixture's context does not.
            Err(refusal) if !self.tape.is_record() => Err(refusal),
            prepared => self
                .taped(
                    "http.send",
                    || tape_request(method, &request),
                    async |state| {
                        HttpAnswer::from(match prepared {
                            Ok(prepared) => state.send_prepared(method, prepared, &request).await,
                            Err(refusal) => Err(refusal),
                        })
                    },
                )
                .await?
                .into_result(),
        };
        let outcome = if self.tape.is_replay() {
            let limit = self.session.limits.response_bytes;
            outcome.and_then(|response| as_live(request.timeout_ms, limit, response))
        } else {
            outcome
        };
        let answer = match &outcome {
            Ok(response) => Ok(response.status),
            Err(error) => Err(describe(error)),
        };
        // The URL as given when it did not parse: taken, not copied, since
        // it may be megabytes long.
        let shown = resolved.unwrap_or(request.url);
        self.record_call(method, shown, started, answer);
        Ok(outcome)
    }
}

impl HostState {
    /// Keeps a request in the check's record (see [`HostState::keep_call`]).
    pub(crate) fn record_call(
        &mut self,
        method: &str,
        url: String,
        started: Instant,
        answer: Result<u16, CallFailure>,
    ) {
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, error, permanent) = match answer {
            Ok(status) => (Some(status), None, false),
            Err(failure) => (None, Some(failure.text), failure.permanent),
        };
        self.keep_call(HttpCall {
            method: method.to_owned(),
            url,
            status,
            elapsed_ms,
            error,
            permanent,
        });
    }

    /// Judges `request` by the run's grants, with no I/O: `url` is what
    /// [`Grants::http_url`] made of its URL; its headers must be valid and
    /// a `Host` one must name an origin the run may reach.
    ///
    /// [`Grants::http_url`]: crate::grants::Grants::http_url
    fn prepare(
        &self,
        url: Result<url::Url, HttpDenial>,
        request: &Request,
    ) -> Result<Prepared, HttpError> {
        let url = url.map_err(refused)?;
        let origin = Origin::of(&url)
            .ok_or_else(|| HttpError::InvalidRequest(format!("URL `{url}` has no host")))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, text) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::InvalidRequest(format!("bad header name `{name}`")))?;
            let value = HeaderValue::from_str(text)
                .map_err(|_| HttpError::InvalidRequest(format!("bad value for header `{name}`")))?;
            if name == reqwest::header::HOST {
                self.session
                    .grants
                    .check_host_header(&url, text)
                    .map_err(refused)?;
            }
            headers.append(name, value);
        }
        Ok(Prepared {
            url,
            origin,
            headers,
        })
    }

    /// Sends a request [`HostState::prepare`] allowed.
    async fn send_prepared(
        &mut self,
        method: &'static str,
        prepared: Prepared,
        request: &Request,
    ) -> Result<Response, HttpError> {
        let Prepared {
            url,
            origin,
            headers,
        } = prepared;
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a standard method");
        let wanted = request
            .timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms)));
        let timeout = self.request_timeout(wanted);
        let session = self.session.clone();
        let body = request.body.clone();
        within(timeout, async move {
            let addrs = net::checked_addrs(&session.grants, &origin, &session.names)
                .await
                .map_err(|e| match e {
                    NetError::Denied(why) => HttpError::Denied(why),
                    NetError::Resolve(why) | NetError::Connect(why) => HttpError::Connect(why),
                })?;
            let client = session.policy_http.get(&origin, &addrs)?;
            let mut builder = client.request(method, url).headers(headers);
            if let Some(body) = body {
                builder = builder.body(body);
            }
            read_response(builder, session.limits.response_bytes).await
        })
        .await
    }

    /// A request's timeout: what the policy asked for or the default, never
    /// past the check's deadline.
    pub(crate) fn request_timeout(&self, wanted: Option<Duration>) -> Duration {
        wanted
            .unwrap_or(self.session.limits.http_timeout)
            .min(self.remaining())
    }
}

/// Sends a request a capability built, within `timeout` (connect, headers
/// and body alike) and the response size cap. Every capability that speaks
/// HTTP goes through here.
pub(crate) async fn exchange(
    builder: reqwest::RequestBuilder,
    timeout: Duration,
    limit: u64,
) -> Result<Response, HttpError> {
    within(timeout, read_response(builder, limit)).await
}

/// Runs `exchange` (resolution, connection, response) within `timeout`.
async fn within(
    timeout: Duration,
    exchange: impl Future<Output = Result<Response, HttpError>>,
) -> Result<Response, HttpError> {
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    if timeout.is_zero() {
        return Err(HttpError::Timeout(0));
    }
    match tokio::time::timeout(timeout, exchange).await {
        // A timeout inside the exchange is this one as the client saw it.
        Ok(Err(HttpError::Timeout(_))) | Err(_) => Err(HttpError::Timeout(timeout_ms)),
        Ok(result) => result,
    }
}

async fn read_response(
    builder: reqwest::RequestBuilder,
    limit: u64,
) -> Result<Response, HttpError> {
    let started = Instant::now();
    let mut response = builder.send().await.map_err(transport_error)?;
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(HttpError::TooLarge(limit));
    }
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(HttpError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Response {
        status,
        headers,
        body,
        elapsed_ms,
    })
}

fn transport_error(error: reqwest::Error) -> HttpError {
    let timeout = error.is_timeout();
    let connect = error.is_connect();
    let invalid = error.is_builder() || error.is_request() && error.url().is_none();
    let text = failure_text(error);
    if timeout {
        HttpError::Timeout(0)
    } else if connect {
        HttpError::Connect(text)
    } else if invalid {
        HttpError::InvalidRequest(text)
    } else {
        HttpError::Other(text)
    }
}

/// What went wrong with a request, for a person: `HOST:PORT: cause: cause`.
/// reqwest's own text ("error sending request for url …: client error
/// (Connect)") wraps the causes that say what happened ("Connection
/// refused"); they are kept and the address named once, by host and port
/// only: a URL's path and query may be a credential (a chat webhook's is).
pub fn failure_text(error: reqwest::Error) -> String {
    let at = error
        .url()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)));
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(tls) = find_tls_error(cause) {
            // In the words a TLS check uses, which name `--ca-file`.
            causes.push(format!("TLS: {}", failure_reason(tls)));
            break;
        }
        let text = cause.to_string();
        if !text.starts_with("client error (") {
            causes.push(text);
        }
        source = cause.source();
    }
    let what = if causes.is_empty() {
        error.without_url().to_string()
    } else {
        causes.join(": ")
    };
    match at {
        Some(at) => format!("{at}: {what}"),
        None => what,
    }
}

/// A replayed answer held to what a live call holds it to: the timeout the
/// policy asked for (one that took longer when recorded would have timed
/// out live under it, so a policy whose timeout was cut since the recording
/// must not pass on it; only the policy's own: the run's defaults are not
/// on the tape) and the replay's response size cap (a hand-written body
/// may exceed it; a recorded one was within the recorded run's, unless
/// redaction grew it: a secret shorter than `[REDACTED]` within a few
/// bytes of the cap).
fn as_live(timeout_ms: Option<u32>, limit: u64, response: Response) -> Result<Response, HttpError> {
    match timeout_ms {
        Some(ms) if response.elapsed_ms > f64::from(ms) => Err(HttpError::Timeout(ms)),
        _ if response.body.len() as u64 > limit => Err(HttpError::TooLarge(limit)),
        _ => Ok(response),
    }
}

/// The one-line form used in the check's record of calls.
pub fn describe(error: &HttpError) -> CallFailure {
    let text = match error {
        HttpError::Denied(why) => format!("denied: {why}"),
        HttpError::InvalidRequest(why) => format!("invalid request: {why}"),
        HttpError::Connect(why) => format!("connect: {why}"),
        HttpError::Timeout(ms) => format!("timeout after {ms} ms"),
        HttpError::TooLarge(limit) => format!("response larger than {limit} bytes"),
        HttpError::Other(why) => why.clone(),
    };
    CallFailure {
        text,
        permanent: matches!(error, HttpError::Denied(_) | HttpError::InvalidRequest(_)),
    }
}

/// What identifies a request on the tape: method, URL as the policy gave
/// it (a path stays a path, so a recording replays against any target),
/// headers (names lower-cased) and the body as text (`null`: none). The
/// timeout is left out: it changes nothing the stack answers.
fn tape_request(method: &str, request: &Request) -> Value {
    let mut key = json!({
        "method": method,
        "url": request.url,
        "headers": header_map(&request.headers),
        "body": null,
    });
    if let Some(body) = &request.body {
        let (field, value) = match std::str::from_utf8(body) {
            Ok(text) => ("body", Value::from(text)),
            Err(_) => ("body_base64", Value::from(BASE64.encode(body))),
        };
        key[field] = value;
    }
    key
}

/// A response as a recording of it replays (see [`HttpAnswer`]): headers
/// as [`normalize_headers`] leaves them, the body byte for byte, so that a
/// live run and its replay hand a policy the same thing. The same as
/// `HttpAnswer::from(Ok(response)).into_result()`, without building the
/// fixture's map and strings for every response of a run that records
/// nothing.
fn as_replayed(mut response: Response) -> Response {
    normalize_headers(&mut response.headers);
    response
}

/// A header's value on the tape: one line (a repeated header's lines
/// joined), or a field that came as several lines kept apart
/// (`"set-cookie": ["a=1", "b=2"]`). A fixture may hold either form for any
/// header; a list replays as one line per value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a header's value is a string, or a list of strings for a header sent as \
                 several lines (\"set-cookie\": [\"a=1\", \"b=2\"])"
)]
pub enum HeaderLines {
    One(String),
    Many(Vec<String>),
}

impl HeaderLines {
    /// Adds a line of a header kept apart.
    fn push(&mut self, line: String) {
        match self {
            HeaderLines::One(first) => *self = HeaderLines::Many(vec![std::mem::take(first), line]),
            HeaderLines::Many(lines) => lines.push(line),
        }
    }

    fn into_lines(self) -> Vec<String> {
        match self {
            HeaderLines::One(line) => vec![line],
            HeaderLines::Many(lines) => lines,
        }
    }
}

/// Headers as the tape keeps them: after [`normalize_headers`], only lines
/// kept apart repeat a name, and those become a list.
fn header_map(headers: &[(String, String)]) -> BTreeMap<String, HeaderLines> {
    let mut lines = headers.to_vec();
    normalize_headers(&mut lines);
    let mut map: BTreeMap<String, HeaderLines> = BTreeMap::new();
    for (name, value) in lines {
        match map.entry(name) {
            Entry::Vacant(slot) => {
                slot.insert(HeaderLines::One(value));
            }
            Entry::Occupied(mut slot) => slot.get_mut().push(value),
        }
    }
    map
}

/// An `http.send` answer as a fixture holds it: a response (`status`,
/// `headers`, `body` as text, or `body_base64` where the body is not UTF-8,
/// `elapsed_ms`) or an `error`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderLines>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// The body when it is not UTF-8 text (an image, gzip, protobuf), in
    /// standard padded base64: written as text it could not replay exactly.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "base64_body")]
    pub body_base64: Option<Vec<u8>>,
    #[serde(default)]
    pub elapsed_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<HttpErrorAnswer>,
}

/// `http-error`, as a fixture writes it: `{"connect": "…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpErrorAnswer {
    Denied(String),
    InvalidRequest(String),
    Connect(String),
    Timeout(u32),
    TooLarge(u64),
    Other(String),
}

impl From<Result<Response, HttpError>> for HttpAnswer {
    fn from(result: Result<Response, HttpError>) -> Self {
        match result {
            Ok(response) => {
                let (body, body_base64) = match String::from_utf8(response.body) {
                    Ok(text) => (text, None),
                    Err(binary) => (String::new(), Some(binary.into_bytes())),
                };
                HttpAnswer {
                    status: Some(response.status),
                    headers: header_map(&response.headers),
                    body,
                    body_base64,
                    elapsed_ms: response.elapsed_ms,
                    error: None,
                }
            }
            Err(error) => HttpAnswer {
                error: Some(match error {
                    HttpError::Denied(why) => HttpErrorAnswer::Denied(why),
                    HttpError::InvalidRequest(why) => HttpErrorAnswer::InvalidRequest(why),
                    HttpError::Connect(why) => HttpErrorAnswer::Connect(why),
                    HttpError::Timeout(ms) => HttpErrorAnswer::Timeout(ms),
                    HttpError::TooLarge(limit) => HttpErrorAnswer::TooLarge(limit),
                    HttpError::Other(why) => HttpErrorAnswer::Other(why),
                }),
                ..HttpAnswer::default()
            },
        }
    }
}

impl HttpAnswer {
    /// Whether `answer` is one a fixture may hold: the fields above, and
    /// at most one of `body` and `body_base64`.
    pub fn check(answer: &Value) -> Result<(), String> {
        let answer = HttpAnswer::deserialize(answer).map_err(|e| e.to_string())?;
        if answer.body_base64.is_some() && !answer.body.is_empty() {
            return Err("an answer has `body` or `body_base64`, not both".into());
        }
        Ok(())
    }

    /// What the policy gets. An answer with neither a status nor an error
    /// (a hand-written fixture's slip) is a transport error, never a 200.
    fn into_result(self) -> Result<Response, HttpError> {
        match (self.error, self.status) {
            (Some(error), _) => Err(match error {
                HttpErrorAnswer::Denied(why) => HttpError::Denied(why),
                HttpErrorAnswer::InvalidRequest(why) => HttpError::InvalidRequest(why),
                HttpErrorAnswer::Connect(why) => HttpError::Connect(why),
                HttpErrorAnswer::Timeout(ms) => HttpError::Timeout(ms),
                HttpErrorAnswer::TooLarge(limit) => HttpError::TooLarge(limit),
                HttpErrorAnswer::Other(why) => HttpError::Other(why),
            }),
            (None, Some(status)) => Ok(Response {
                status,
                headers: self
                    .headers
                    .into_iter()
                    .flat_map(|(name, value)| {
                        value
                            .into_lines()
                            .into_iter()
                            .map(move |line| (name.clone(), line))
                    })
                    .collect(),
                body: self.body_base64.unwrap_or_else(|| self.body.into_bytes()),
                elapsed_ms: self.elapsed_ms,
            }),
            (None, None) => Err(HttpError::Other(
                "the fixture's answer has neither `status` nor `error`".into(),
            )),
        }
    }
}

/// `body_base64` of a fixture: bytes, written as standard padded base64.
mod base64_body {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(body: &Option<Vec<u8>>, out: S) -> Result<S::Ok, S::Error> {
        match body {
            Some(bytes) => out.serialize_str(&super::BASE64.encode(bytes)),
            None => out.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<Vec<u8>>, D::Error> {
        let Some(text) = Option::<String>::deserialize(input)? else {
            return Ok(None);
        };
        super::BASE64
            .decode(text.trim())
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("`body_base64` is not base64: {e}")))
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Options => "OPTIONS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)], body: &[u8]) -> Response {
        Response {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
            elapsed_ms: 1.5,
        }
    }

    fn parts(response: Response) -> (u16, Vec<(String, String)>, Vec<u8>, f64) {
        let Response {
            status,
            headers,
            body,
            elapsed_ms,
        } = response;
        (status, headers, body, elapsed_ms)
    }

    #[test]
    fn a_replayed_answer_is_held_to_the_asked_timeout_and_the_size_cap() {
        let slow = || Response {
            elapsed_ms: 800.0,
            ..response(&[], b"ok")
        };
        assert!(matches!(
            as_live(Some(100), 1024, slow()),
            Err(HttpError::Timeout(100))
        ));
        let within = as_live(Some(2000), 1024, slow()).unwrap();
        assert_eq!((within.status, within.elapsed_ms), (200, 800.0));
        // The run's default timeout is not on the tape: no judging by it.
        assert!(as_live(None, 1024, slow()).is_ok());
        assert!(as_live(None, 2, slow()).is_ok(), "a body as big as the cap");
        assert!(matches!(
            as_live(None, 1, slow()),
            Err(HttpError::TooLarge(1))
        ));
    }

    /// A live run hands the policy what its recording would replay.
    #[test]
    fn live_responses_look_as_replayed() {
        let cases = [
            response(&[], b""),
            response(
                &[("content-type", "text/plain"), ("date", "x"), ("age", "1")],
                b"{\"ok\":true}",
            ),
            response(
                &[
                    ("set-cookie", "a=1"),
                    ("Vary", "accept"),
                    ("content-length", "3"),
                    ("SET-COOKIE", "b=2"),
                    ("vary", "origin"),
                ],
                "héllo".as_bytes(),
            ),
            response(&[("x", "")], &[0x66, 0x6f, 0xff, 0xfe, 0x6f]),
        ];
        for case in cases {
            let live = as_replayed(case.clone());
            let replayed = HttpAnswer::from(Ok(case)).into_result().unwrap();
            assert_eq!(parts(live), parts(replayed));
        }
    }

    #[test]
    fn repeated_headers_join_in_order() {
        let live = as_replayed(response(
            &[("b", "1"), ("A", "2"), ("b", "3"), ("a", "4")],
            &[0xff],
        ));
        assert_eq!(
            live.headers,
            [("a".into(), "2, 4".into()), ("b".into(), "1, 3".into())]
        );
        assert_eq!(live.body, [0xff]);
    }

    /// Joined, two cookies with an `Expires` (which holds a comma) could
    /// not be told apart again: each `Set-Cookie` line reaches the policy
    /// as it came, live and replayed, and the tape keeps them as a list.
    #[test]
    fn set_cookie_lines_stay_apart() {
        let sent = response(
            &[
                ("Set-Cookie", "id=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
                ("vary", "accept"),
                ("set-cookie", "theme=dark"),
                ("Vary", "origin"),
            ],
            b"",
        );
        let cookies = [
            (
                "set-cookie".to_owned(),
                "id=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT".to_owned(),
            ),
            ("set-cookie".to_owned(), "theme=dark".to_owned()),
            ("vary".to_owned(), "accept, origin".to_owned()),
        ];
        assert_eq!(as_replayed(sent.clone()).headers, cookies);

        let written = serde_json::to_value(HttpAnswer::from(Ok(sent))).unwrap();
        assert_eq!(
            written["headers"],
            json!({
                "set-cookie": ["id=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "theme=dark"],
                "vary": "accept, origin",
            })
        );
        let read: HttpAnswer = serde_json::from_value(written).unwrap();
        assert_eq!(read.into_result().unwrap().headers, cookies);

        // One cookie is written as one string, as before lists were kept.
        let one = HttpAnswer::from(Ok(response(&[("set-cookie", "a=1")], b"")));
        assert_eq!(
            serde_json::to_value(one).unwrap()["headers"]["set-cookie"],
            "a=1"
        );
    }

    /// A hand-written fixture may give any header as a list: one line each.
    #[test]
    fn fixture_header_lists_replay_as_lines_and_bad_values_are_named() {
        let answer = json!({"status": 200, "headers": {"link": ["<a>", "<b>"], "etag": "x"}});
        HttpAnswer::check(&answer).unwrap();
        let read: HttpAnswer = serde_json::from_value(answer).unwrap();
        assert_eq!(
            read.into_result().unwrap().headers,
            [
                ("etag".to_owned(), "x".to_owned()),
                ("link".to_owned(), "<a>".to_owned()),
                ("link".to_owned(), "<b>".to_owned()),
            ]
        );
        for bad in [json!(3), json!([1]), json!({"a": "b"})] {
            let why =
                HttpAnswer::check(&json!({"status": 200, "headers": {"x": bad}})).unwrap_err();
            assert!(
                why.contains("a header's value is a string, or a list"),
                "{why}"
            );
        }
    }

    /// A body that is not UTF-8 reaches the policy byte for byte, live and
    /// replayed, and its fixture holds it as base64.
    #[test]
    fn binary_bodies_replay_exactly() {
        let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff];
        let answer = HttpAnswer::from(Ok(response(&[], &png)));
        let written = serde_json::to_value(&answer).unwrap();
        assert_eq!(written["body_base64"], "iVBORw0KGgoA/w==");
        assert!(written.get("body").is_none());
        HttpAnswer::check(&written).unwrap();
        let read: HttpAnswer = serde_json::from_value(written).unwrap();
        assert_eq!(read.into_result().unwrap().body, png);

        let text = serde_json::to_value(HttpAnswer::from(Ok(response(&[], b"ok")))).unwrap();
        assert_eq!(text["body"], "ok");
        assert!(text.get("body_base64").is_none());
    }

    #[test]
    fn a_fixture_body_must_be_base64_and_only_one() {
        let bad = HttpAnswer::check(&json!({"status": 200, "body_base64": "not base64!"}));
        assert!(bad.unwrap_err().contains("`body_base64` is not base64"));
        let both = HttpAnswer::check(&json!({"status": 200, "body": "a", "body_base64": "YQ=="}));
        assert_eq!(
            both.unwrap_err(),
            "an answer has `body` or `body_base64`, not both"
        );
        HttpAnswer::check(&json!({"status": 200, "body_base64": "YQ=="})).unwrap();
    }

    #[test]
    fn binary_request_bodies_are_keyed_exactly() {
        let request = |body: Option<&[u8]>| Request {
            method: Method::Post,
            url: "/upload".into(),
            headers: Vec::new(),
            body: body.map(<[u8]>::to_vec),
            timeout_ms: None,
        };
        let text = tape_request("POST", &request(Some(b"hi")));
        assert_eq!(text["body"], "hi");
        assert!(text.get("body_base64").is_none());
        let a = tape_request("POST", &request(Some(&[0xff, 0x00])));
        let b = tape_request("POST", &request(Some(&[0xfe, 0x00])));
        assert_eq!(a["body"], Value::Null);
        assert_eq!(a["body_base64"], "/wA=");
        assert_ne!(a, b);
        assert_eq!(tape_request("GET", &request(None))["body"], Value::Null);
    }
}
