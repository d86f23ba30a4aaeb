//! Outbound HTTP through the host.
//!
//! Requests may go to the target and to hosts the run allows; anything else is
//! [`HttpError::Denied`] without being sent. A URL that is a path (`/health`)
//! is resolved by the host against the target. Redirects are returned as
//! responses unless the request opts in with [`Request::follow_redirects`];
//! each hop is then a new request the host checks against the allow-list.
//! The host measures each response's latency.
//!
//! ```no_run
//! use gate_sdk::http::{self, Request};
//!
//! let health = http::get("/health")?.expect_status(200)?;
//! let status: serde_json::Value = Request::get("/api/v1/system/status")
//!     .bearer("token")
//!     .send()?
//!     .expect_status(200)?
//!     .json()?;
//! # let _ = (health, status);
//! # Ok::<(), gate_sdk::Error>(())
//! ```

use core::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::gate::policy::http as wit;
use crate::context::millis_ceil;
use crate::error::snippet;
use crate::{Error, Result};

mod redirect;

/// Characters of a body quoted in [`Error::Status`].
const STATUS_BODY_CHARS: usize = 200;
/// Characters of a body quoted in [`Error::Json`]: enough to recognise an HTML
/// error page or a wrong endpoint.
const JSON_BODY_CHARS: usize = 80;
/// Failures kept by [`Samples`] as examples.
const KEPT_FAILURES: usize = 3;

/// An HTTP method.
///
/// ```
/// use gate_sdk::http::Method;
///
/// assert_eq!(Method::Delete.to_string(), "DELETE");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
}

impl Method {
    /// The method's name as sent on the wire.
    ///
    /// ```
    /// use gate_sdk::http::Method;
    ///
    /// assert_eq!(Method::Options.as_str(), "OPTIONS");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn from_wit(method: wit::Method) -> Self {
        match method {
            wit::Method::Get => Method::Get,
            wit::Method::Head => Method::Head,
            wit::Method::Post => Method::Post,
            wit::Method::Put => Method::Put,
            wit::Method::Patch => Method::Patch,
            wit::Method::Delete => Method::Delete,
            wit::Method::Options => Method::Options,
        }
    }

    fn to_wit(self) -> wit::Method {
        match self {
            Method::Get => wit::Method::Get,
            Method::Head => wit::Method::Head,
            Method::Post => wit::Method::Post,
            Method::Put => wit::Method::Put,
            Method::Patch => wit::Method::Patch,
            Method::Delete => wit::Method::Delete,
            Method::Options => wit::Method::Options,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request got no response. Mirrors the contract's `http-error`.
///
/// [`Denied`](HttpError::Denied) and [`InvalidRequest`](HttpError::InvalidRequest)
/// are configuration problems (fix the run or the policy);
/// the others are failures of the service or the network.
///
/// ```
/// use gate_sdk::http::HttpError;
///
/// let error = HttpError::Timeout(5000);
/// assert_eq!(error.to_string(), "no complete response within 5000 ms");
/// assert!(!error.is_configuration());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The host (scheme, host, port) is not granted to this run; nothing was
    /// sent. The text names the host and how to allow it.
    ///
    /// ```
    /// # use gate_sdk::http::HttpError;
    /// assert!(HttpError::Denied("example.com:443".into()).is_configuration());
    /// ```
    Denied(String),
    /// The request is malformed (bad URL, header or method).
    ///
    /// ```
    /// # use gate_sdk::http::HttpError;
    /// assert!(HttpError::InvalidRequest("bad url".into()).is_configuration());
    /// ```
    InvalidRequest(String),
    /// The connection could not be made (refused, DNS, TLS).
    ///
    /// ```
    /// # use gate_sdk::http::HttpError;
    /// assert_eq!(HttpError::Connect("refused".into()).to_string(), "connect: refused");
    /// ```
    Connect(String),
    /// No complete response within this many milliseconds.
    ///
    /// ```
    /// # use gate_sdk::http::HttpError;
    /// assert!(HttpError::Timeout(250).to_string().contains("250 ms"));
    /// ```
    Timeout(u32),
    /// The response body exceeded the host's cap of this many bytes.
    ///
    /// ```
    /// # use gate_sdk::http::HttpError;
    /// assert!(HttpError::TooLarge(1_048_576).to_string().contains("1048576 bytes"));
    /// ```
    TooLarge(u64),
    /// Any other transport failure.
    ///
    /// ```
    /// # use gate_sdk::http::HttpError;
    /// assert_eq!(HttpError::Other("reset".into()).to_string(), "reset");
    /// ```
    Other(String),
}

impl HttpError {
    /// Whether the error is a configuration problem (denied host, malformed
    /// request) rather than a failure of the service: measuring it again
    /// would not help.
    ///
    /// ```
    /// use gate_sdk::http::HttpError;
    ///
    /// assert!(HttpError::Denied("evil.example".into()).is_configuration());
    /// assert!(!HttpError::Connect("refused".into()).is_configuration());
    /// ```
    pub fn is_configuration(&self) -> bool {
        matches!(self, HttpError::Denied(_) | HttpError::InvalidRequest(_))
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn to_wit(&self) -> wit::HttpError {
        match self.clone() {
            HttpError::Denied(text) => wit::HttpError::Denied(text),
            HttpError::InvalidRequest(text) => wit::HttpError::InvalidRequest(text),
            HttpError::Connect(text) => wit::HttpError::Connect(text),
            HttpError::Timeout(ms) => wit::HttpError::Timeout(ms),
            HttpError::TooLarge(bytes) => wit::HttpError::TooLarge(bytes),
            HttpError::Other(text) => wit::HttpError::Other(text),
        }
    }

    fn from_wit(error: wit::HttpError) -> Self {
        match error {
            wit::HttpError::Denied(text) => HttpError::Denied(text),
            wit::HttpError::InvalidRequest(text) => HttpError::InvalidRequest(text),
            wit::HttpError::Connect(text) => HttpError::Connect(text),
            wit::HttpError::Timeout(ms) => HttpError::Timeout(ms),
            wit::HttpError::TooLarge(bytes) => HttpError::TooLarge(bytes),
            wit::HttpError::Other(text) => HttpError::Other(text),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The host's text already names the host and how to allow it.
            HttpError::Denied(text) => write!(f, "request denied: {text}"),
            HttpError::InvalidRequest(text) => write!(f, "invalid request: {text}"),
            HttpError::Connect(text) => write!(f, "connect: {text}"),
            HttpError::Timeout(ms) => write!(f, "no complete response within {ms} ms"),
            HttpError::TooLarge(bytes) => {
                write!(f, "response body exceeded the host's cap of {bytes} bytes")
            }
            HttpError::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for HttpError {}

/// An HTTP request, built step by step and sent with [`Request::send`].
///
/// ```no_run
/// use std::time::Duration;
/// use gate_sdk::http::Request;
///
/// let response = Request::post("/api/v1/orders")
///     .bearer("token")
///     .json(&serde_json::json!({ "sku": "A-1", "quantity": 1 }))
///     .timeout(Duration::from_secs(2))
///     .send()?;
/// # let _ = response;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout_ms: Option<u32>,
    /// Redirects to follow; 0 returns them as responses.
    max_redirects: u32,
    /// A body that could not be encoded; reported by `send` so that the
    /// builder methods can stay infallible.
    body_error: Option<String>,
}

impl Request {
    /// A request with no headers and no body. `url` is absolute or a path
    /// resolved against the target.
    ///
    /// ```
    /// use gate_sdk::http::{Method, Request};
    ///
    /// let request = Request::new(Method::Head, "/health");
    /// assert_eq!(request.method(), Method::Head);
    /// assert_eq!(request.url(), "/health");
    /// ```
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            max_redirects: 0,
            body_error: None,
        }
    }

    /// A `GET` request.
    ///
    /// ```
    /// use gate_sdk::http::{Method, Request};
    ///
    /// assert_eq!(Request::get("/ready").method(), Method::Get);
    /// ```
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    ///
    /// ```
    /// use gate_sdk::http::{Method, Request};
    ///
    /// assert_eq!(Request::post("/api/v1/orders").method(), Method::Post);
    /// ```
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// Adds a header. Repeating a name sends it several times. A `Host`
    /// header must name the URL's own host or another one the run may
    /// reach: gate refuses any other (a server routes by it).
    ///
    /// ```
    /// use gate_sdk::http::Request;
    ///
    /// let request = Request::get("/").header("accept", "application/json");
    /// assert_eq!(request.headers(), &[("accept".to_owned(), "application/json".to_owned())]);
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets `Authorization: Bearer <token>`, replacing any authorization
    /// header set before.
    ///
    /// ```
    /// use gate_sdk::http::Request;
    ///
    /// let request = Request::get("/").bearer("s3cret");
    /// assert_eq!(request.headers()[0].1, "Bearer s3cret");
    /// ```
    pub fn bearer(self, token: impl AsRef<str>) -> Self {
        let value = format!("Bearer {}", token.as_ref());
        self.replace_header("authorization", value)
    }

    /// Sets the body as raw bytes.
    ///
    /// ```
    /// use gate_sdk::http::Request;
    ///
    /// let request = Request::post("/upload").body(b"hello".to_vec());
    /// assert_eq!(request.body_bytes(), Some(&b"hello"[..]));
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the body to `value` as JSON and `Content-Type: application/json`.
    ///
    /// A value that cannot be encoded (rare: e.g. a map with non-string keys)
    /// makes [`send`](Request::send) return [`Error::Json`] without sending.
    ///
    /// ```
    /// use gate_sdk::http::Request;
    ///
    /// let request = Request::post("/api/v1/orders").json(&serde_json::json!({ "sku": "A-1" }));
    /// assert_eq!(request.body_bytes(), Some(&br#"{"sku":"A-1"}"#[..]));
    /// assert_eq!(request.headers()[0], ("content-type".to_owned(), "application/json".to_owned()));
    /// ```
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Some(body);
                self.body_error = None;
            }
            Err(error) => self.body_error = Some(error.to_string()),
        }
        self.replace_header("content-type", "application/json".to_owned())
    }

    /// Sets a timeout for this request, rounded up to whole milliseconds.
    /// Without one the host's default applies; the check's deadline bounds
    /// it either way.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gate_sdk::http::Request;
    ///
    /// let request = Request::get("/slow").timeout(Duration::from_secs(2));
    /// assert_eq!(request.timeout_ms(), Some(2000));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = Some(millis_ceil(timeout));
        self
    }

    /// Follows up to `max_hops` redirects (301, 302, 303, 307, 308) instead
    /// of returning them; without this, a redirect is the response.
    ///
    /// Every hop is a new request that the host checks against the run's
    /// allow-list, so a redirect to a host the run does not allow ends with
    /// [`HttpError::Denied`] naming the hop, and nothing is sent there.
    /// `Authorization`, `Cookie`, `Proxy-Authorization` and `Host` are dropped once
    /// a hop changes origin (scheme, host or port). A 303, or a 301/302
    /// after a `POST`, continues as a `GET` without a body; 307 and 308
    /// repeat the request. More than `max_hops` redirects is an
    /// [`HttpError::Other`] error. The [`Response`] is the last hop's, and
    /// its [`url`](Response::url) the URL that answered.
    ///
    /// ```no_run
    /// use gate_sdk::http::Request;
    ///
    /// let response = Request::get("/login").follow_redirects(5).send()?;
    /// println!("landed on {} with {}", response.url(), response.status());
    /// # Ok::<(), gate_sdk::Error>(())
    /// ```
    ///
    /// ```
    /// # use gate_sdk::http::Request;
    /// assert_eq!(Request::get("/").follow_redirects(3).max_redirects(), 3);
    /// assert_eq!(Request::get("/").max_redirects(), 0);
    /// ```
    pub fn follow_redirects(mut self, max_hops: u32) -> Self {
        self.max_redirects = max_hops;
        self
    }

    /// How many redirects [`send`](Request::send) follows (0: none).
    ///
    /// ```
    /// # use gate_sdk::http::Request;
    /// assert_eq!(Request::get("/").follow_redirects(2).max_redirects(), 2);
    /// ```
    pub fn max_redirects(&self) -> u32 {
        self.max_redirects
    }

    /// The method.
    ///
    /// ```
    /// # use gate_sdk::http::{Method, Request};
    /// assert_eq!(Request::post("/").method(), Method::Post);
    /// ```
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL, as given.
    ///
    /// ```
    /// # use gate_sdk::http::Request;
    /// assert_eq!(Request::get("/ready").url(), "/ready");
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers, in the order they will be sent.
    ///
    /// ```
    /// # use gate_sdk::http::Request;
    /// assert!(Request::get("/").headers().is_empty());
    /// ```
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body, if one was set.
    ///
    /// ```
    /// # use gate_sdk::http::Request;
    /// assert_eq!(Request::get("/").body_bytes(), None);
    /// ```
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// The timeout in milliseconds, if one was set.
    ///
    /// ```
    /// # use gate_sdk::http::Request;
    /// assert_eq!(Request::get("/").timeout_ms(), None);
    /// ```
    pub fn timeout_ms(&self) -> Option<u32> {
        self.timeout_ms
    }

    /// Sends the request and waits for the whole response.
    ///
    /// Any status is a response; use [`Response::expect_status`] to require
    /// one.
    ///
    /// ```no_run
    /// use gate_sdk::http::Request;
    ///
    /// let response = Request::get("/ready").send()?;
    /// println!("{} in {} ms", response.status(), response.elapsed_ms());
    /// # Ok::<(), gate_sdk::Error>(())
    /// ```
    pub fn send(self) -> Result<Response> {
        if let Some(reason) = self.body_error {
            return Err(Error::Json {
                url: self.url,
                reason: format!("could not encode the request body: {reason}"),
            });
        }
        self.send_raw().map_err(Error::Http)
    }

    /// Sends the request, following redirects if asked to, keeping
    /// transport errors apart from other errors.
    fn send_raw(self) -> core::result::Result<Response, HttpError> {
        let max = self.max_redirects;
        let mut request = self;
        let mut hop = 0;
        let mut from = String::new();
        loop {
            let to = request.url.clone();
            let response = request.clone().send_once().map_err(|error| match hop {
                0 => error,
                _ => redirect::in_hop(error, hop, &from, &to),
            })?;
            if max == 0 || !redirect::is_redirect(response.status) {
                return Ok(response);
            }
            let Some(location) = response.header("location") else {
                return Ok(response);
            };
            let target = if redirect::has_scheme(&to) {
                None
            } else {
                crate::context::target()
            };
            let here = redirect::absolute(&to, target.as_deref()).ok_or_else(|| {
                HttpError::InvalidRequest(format!(
                    "cannot follow the redirect from `{to}`: its URL is not absolute"
                ))
            })?;
            let next = redirect::resolve(&here, location).map_err(|why| {
                HttpError::InvalidRequest(format!(
                    "redirect hop {} from {here} not followed: {why}",
                    hop + 1
                ))
            })?;
            if hop == max {
                return Err(HttpError::Other(format!(
                    "too many redirects: {here} redirected to {next} after {max} hops \
                     (follow_redirects({max}))"
                )));
            }
            hop += 1;
            request = redirect::next_request(request, response.status, &here, next);
            from = here;
        }
    }

    /// Sends the request once, as it is.
    fn send_once(self) -> core::result::Result<Response, HttpError> {
        let request = wit::Request {
            method: self.method.to_wit(),
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms: self.timeout_ms,
        };
        match crate::host::http_send(&request) {
            Ok(response) => Ok(Response {
                url: request.url,
                status: response.status,
                headers: response.headers,
                body: response.body,
                elapsed_ms: response.elapsed_ms,
            }),
            Err(error) => Err(HttpError::from_wit(error)),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// The request as the host received it, for the mock host.
    pub(crate) fn from_wit(request: &wit::Request) -> Self {
        Request {
            method: Method::from_wit(request.method),
            url: request.url.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            timeout_ms: request.timeout_ms,
            body_error: None,
            // One host call is one hop: the host never follows redirects.
            max_redirects: 0,
        }
    }

    fn replace_header(mut self, name: &str, value: String) -> Self {
        self.headers
            .retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value));
        self
    }
}

/// Sends `GET url`.
///
/// ```no_run
/// let response = gate_sdk::http::get("/health")?;
/// assert_eq!(response.status(), 200);
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn get(url: &str) -> Result<Response> {
    Request::get(url).send()
}

/// Sends `POST url` with `body` as JSON.
///
/// ```no_run
/// let response = gate_sdk::http::post_json("/api/v1/cart", &serde_json::json!({ "sku": "A-1" }))?;
/// let response = response.expect_status(201)?;
/// # let _ = response;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn post_json<T: Serialize + ?Sized>(url: &str, body: &T) -> Result<Response> {
    Request::post(url).json(body).send()
}

/// A complete HTTP response.
///
/// Responses come from [`Request::send`]; [`Response::new`] builds one by hand
/// to unit-test a check's logic natively.
///
/// ```
/// use gate_sdk::http::Response;
///
/// let response = Response::new("/api/v1/health", 200, vec![], r#"{"status":"ok"}"#, 12.5);
/// let body: serde_json::Value = response.json()?;
/// assert_eq!(body["status"], "ok");
/// # Ok::<(), gate_sdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    url: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    elapsed_ms: f64,
}

impl Response {
    /// A response as if `url` had answered it.
    ///
    /// ```
    /// use gate_sdk::http::Response;
    ///
    /// let headers = vec![("Content-Type".to_owned(), "text/plain".to_owned())];
    /// let response = Response::new("/ready", 503, headers, "warming up", 3.0);
    /// assert_eq!(response.status(), 503);
    /// assert_eq!(response.text(), "warming up");
    /// ```
    pub fn new(
        url: impl Into<String>,
        status: u16,
        headers: Vec<(String, String)>,
        body: impl Into<Vec<u8>>,
        elapsed_ms: f64,
    ) -> Self {
        Response {
            url: url.into(),
            status,
            headers,
            body: body.into(),
            elapsed_ms,
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// The response as the host sends it, for the mock host: its headers as
    /// gate hands every response over (names lower-cased and sorted, a
    /// repeated header's lines joined but `set-cookie`'s), so a mocked check
    /// reads them as it will in a run.
    pub(crate) fn to_wit(&self) -> wit::Response {
        let mut headers = self.headers.clone();
        gate_units::normalize_headers(&mut headers);
        wit::Response {
            status: self.status,
            headers,
            body: self.body.clone(),
            elapsed_ms: self.elapsed_ms,
        }
    }

    /// The status code.
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// assert_eq!(Response::new("/", 204, vec![], "", 1.0).status(), 204);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the status is 2xx.
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// assert!(Response::new("/", 204, vec![], "", 1.0).is_success());
    /// assert!(!Response::new("/", 302, vec![], "", 1.0).is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The value of header `name`, compared case-insensitively. gate hands
    /// a policy a repeated header as one, its values joined with `", "`
    /// (as RFC 9110 allows), except `Set-Cookie`, whose lines stay apart:
    /// read those with [`Response::header_values`]. Here, the first.
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    /// let response = Response::new("/", 200, headers, "{}", 1.0);
    /// assert_eq!(response.header("content-type"), Some("application/json"));
    /// assert_eq!(response.header("etag"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of header `name`, compared case-insensitively, in the
    /// order received: each `Set-Cookie` line, say.
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// let headers = vec![
    ///     ("set-cookie".to_owned(), "id=7; Expires=Wed, 21 Oct 2026 07:28:00 GMT".to_owned()),
    ///     ("set-cookie".to_owned(), "theme=dark".to_owned()),
    /// ];
    /// let response = Response::new("/login", 200, headers, "", 1.0);
    /// let names: Vec<&str> = response
    ///     .header_values("Set-Cookie")
    ///     .filter_map(|cookie| cookie.split('=').next())
    ///     .collect();
    /// assert_eq!(names, ["id", "theme"]);
    /// assert_eq!(response.header_values("etag").count(), 0);
    /// ```
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// All headers, in the order received.
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// assert!(Response::new("/", 200, vec![], "", 1.0).headers().is_empty());
    /// ```
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body's bytes.
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// assert_eq!(Response::new("/", 200, vec![], "hi", 1.0).body(), b"hi");
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text; invalid UTF-8 becomes `�`.
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// assert_eq!(Response::new("/", 200, vec![], b"ok\xff".to_vec(), 1.0).text(), "ok\u{fffd}");
    /// ```
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body decoded from JSON as `T`.
    ///
    /// A body that is not JSON, or not shaped like `T`, is an [`Error::Json`]
    /// naming the URL, the problem and the start of the body.
    ///
    /// ```
    /// use gate_sdk::{Error, http::Response};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Health { status: String }
    ///
    /// let ok = Response::new("/api/v1/health", 200, vec![], r#"{"status":"ok"}"#, 1.0);
    /// assert_eq!(ok.json::<Health>()?.status, "ok");
    ///
    /// let html = Response::new("/api/v1/health", 200, vec![], "<html>oops</html>", 1.0);
    /// assert!(matches!(html.json::<Health>(), Err(Error::Json { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|error| {
            let body = if self.body.is_empty() {
                "the body is empty".to_owned()
            } else {
                format!("body starts: {}", snippet(&self.text(), JSON_BODY_CHARS))
            };
            Error::Json {
                url: self.url.clone(),
                reason: format!("{error}; {body}"),
            }
        })
    }

    /// The body as an untyped JSON value, for picking out a field or two.
    ///
    /// ```
    /// use gate_sdk::http::Response;
    ///
    /// let response = Response::new("/api/v1/products", 200, vec![], r#"[{"id":1},{"id":2}]"#, 1.0);
    /// let products = response.json_value()?;
    /// assert_eq!(products.as_array().map(Vec::len), Some(2));
    /// # Ok::<(), gate_sdk::Error>(())
    /// ```
    pub fn json_value(&self) -> Result<serde_json::Value> {
        self.json()
    }

    /// Time from sending the request to the end of the body, measured by the
    /// host, in milliseconds.
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// assert_eq!(Response::new("/", 200, vec![], "", 42.5).elapsed_ms(), 42.5);
    /// ```
    pub fn elapsed_ms(&self) -> f64 {
        self.elapsed_ms
    }

    /// The URL of the request, as it was given (a path stays a path).
    ///
    /// ```
    /// # use gate_sdk::http::Response;
    /// assert_eq!(Response::new("/ready", 200, vec![], "", 1.0).url(), "/ready");
    /// ```
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The response itself if its status is `code`, else [`Error::Status`]
    /// with the start of the body.
    ///
    /// ```
    /// use gate_sdk::{Error, http::Response};
    ///
    /// let ok = Response::new("/ready", 200, vec![], "", 1.0);
    /// assert!(ok.expect_status(200).is_ok());
    ///
    /// let down = Response::new("/ready", 503, vec![], "warming up", 1.0);
    /// let error = down.expect_status(200).unwrap_err();
    /// assert!(matches!(error, Error::Status { actual: 503, .. }));
    /// assert_eq!(error.to_string(), "`/ready` answered 503, expected 200; body: warming up");
    /// ```
    pub fn expect_status(self, code: u16) -> Result<Response> {
        if self.status == code {
            Ok(self)
        } else {
            Err(self.status_error(code.to_string()))
        }
    }

    /// An [`Error::Status`] for this response, for checks that expect
    /// something [`expect_status`](Response::expect_status) cannot say.
    ///
    /// ```
    /// use gate_sdk::http::Response;
    ///
    /// let response = Response::new("/admin", 200, vec![], "", 1.0);
    /// let error = response.status_error("401 or 403");
    /// assert_eq!(error.to_string(), "`/admin` answered 200, expected 401 or 403 (empty body)");
    /// ```
    pub fn status_error(&self, expected: impl Into<String>) -> Error {
        Error::Status {
            url: self.url.clone(),
            expected: expected.into(),
            actual: self.status,
            body: snippet(&self.text(), STATUS_BODY_CHARS),
        }
    }
}

/// Sends `n` requests one after another and collects their statistics.
///
/// `make(i)` builds the `i`-th request (`0..n`). Transport failures
/// (connect, timeout, too large, other) and responses with status ≥ 500
/// count as errors; every response that arrived, whatever its status,
/// contributes its latency. A [`HttpError::Denied`] or
/// [`HttpError::InvalidRequest`] aborts with `Err`: that is a configuration
/// problem, not a measurement.
///
/// ```no_run
/// use gate_sdk::http::{self, Request};
///
/// let samples = http::sample(20, |_| Request::get("/api/v1/products"))?;
/// println!("p95 {} ms, {} errors", samples.percentile_ms(95.0), samples.errors());
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn sample(n: u32, mut make: impl FnMut(u32) -> Request) -> Result<Samples> {
    let mut samples = Samples::new();
    for i in 0..n {
        let request = make(i);
        let label = format!("{} {}", request.method, request.url);
        if let Some(reason) = &request.body_error {
            // Same as `send`: a body we cannot encode is the policy's bug.
            return Err(Error::Json {
                url: request.url.clone(),
                reason: format!("could not encode the request body: {reason}"),
            });
        }
        match request.send_raw() {
            Ok(response) => samples.record_response(&label, &response),
            Err(error) if error.is_configuration() => return Err(Error::Http(error)),
            Err(error) => samples.record_failure(&label, &error),
        }
    }
    Ok(samples)
}

/// Statistics of repeated requests, from [`sample`].
///
/// All latencies are the host's `elapsed_ms`. Statistics of no latencies are
/// `NaN`, which [`judge`](crate::judge) reports as inconclusive, never as a
/// pass.
///
/// ```
/// use gate_sdk::http::{HttpError, Response, Samples};
///
/// let mut samples = Samples::new();
/// samples.record_response("GET /x", &Response::new("/x", 200, vec![], "", 100.0));
/// samples.record_response("GET /x", &Response::new("/x", 500, vec![], "", 300.0));
/// samples.record_failure("GET /x", &HttpError::Timeout(1000));
/// assert_eq!(samples.count(), 3);
/// assert_eq!(samples.errors(), 2);
/// assert_eq!(samples.mean_ms(), 200.0);
/// assert_eq!(samples.first_failures(), ["GET /x → 500", "GET /x → no complete response within 1000 ms"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    count: u32,
    errors: u32,
    latencies_ms: Vec<f64>,
    first_failures: Vec<String>,
}

impl Samples {
    /// No samples yet.
    ///
    /// ```
    /// use gate_sdk::http::Samples;
    ///
    /// let samples = Samples::new();
    /// assert_eq!(samples.count(), 0);
    /// assert!(samples.error_rate().is_nan());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a response to the request described by `label` (e.g.
    /// `GET /x`). Status ≥ 500 counts as an error.
    ///
    /// ```
    /// use gate_sdk::http::{Response, Samples};
    ///
    /// let mut samples = Samples::new();
    /// samples.record_response("GET /x", &Response::new("/x", 404, vec![], "", 8.0));
    /// assert_eq!((samples.count(), samples.errors()), (1, 0));
    /// assert_eq!(samples.latencies_ms(), [8.0]);
    /// ```
    pub fn record_response(&mut self, label: &str, response: &Response) {
        self.count += 1;
        self.latencies_ms.push(response.elapsed_ms);
        if response.status >= 500 {
            self.record_error(|| format!("{label} → {}", response.status));
        }
    }

    /// Records a request described by `label` that got no response; it
    /// counts as an error.
    ///
    /// ```
    /// use gate_sdk::http::{HttpError, Samples};
    ///
    /// let mut samples = Samples::new();
    /// samples.record_failure("GET /x", &HttpError::Connect("refused".into()));
    /// assert_eq!(samples.first_failures(), ["GET /x → connect: refused"]);
    /// assert!(samples.mean_ms().is_nan());
    /// ```
    pub fn record_failure(&mut self, label: &str, error: &HttpError) {
        self.count += 1;
        self.record_error(|| format!("{label} → {error}"));
    }

    fn record_error(&mut self, describe: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_failures.len() < KEPT_FAILURES {
            // A down service fails every request the same way: quote each
            // distinct failure once.
            let failure = describe();
            if !self.first_failures.contains(&failure) {
                self.first_failures.push(failure);
            }
        }
    }

    /// Requests made.
    ///
    /// ```
    /// # use gate_sdk::http::Samples;
    /// assert_eq!(Samples::new().count(), 0);
    /// ```
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Requests that failed: no response, or status ≥ 500.
    ///
    /// ```
    /// # use gate_sdk::http::Samples;
    /// assert_eq!(Samples::new().errors(), 0);
    /// ```
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// `errors / count`; `NaN` when no request was made.
    ///
    /// ```
    /// use gate_sdk::http::{Response, Samples};
    ///
    /// let mut samples = Samples::new();
    /// for status in [200, 200, 200, 503] {
    ///     samples.record_response("GET /", &Response::new("/", status, vec![], "", 10.0));
    /// }
    /// assert_eq!(samples.error_rate(), 0.25);
    /// ```
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            f64::from(self.errors) / f64::from(self.count)
        }
    }

    /// Latencies of the responses that arrived, any status, in order.
    ///
    /// ```
    /// # use gate_sdk::http::Samples;
    /// assert!(Samples::new().latencies_ms().is_empty());
    /// ```
    pub fn latencies_ms(&self) -> &[f64] {
        &self.latencies_ms
    }

    /// Mean latency of the responses that arrived, 5xx ones included;
    /// `NaN` when none did. Requests with no response are left out, so
    /// judge [`Samples::errors`] too: a service failing fast has a low mean.
    ///
    /// ```
    /// use gate_sdk::http::{Response, Samples};
    ///
    /// let mut samples = Samples::new();
    /// for ms in [10.0, 20.0, 60.0] {
    ///     samples.record_response("GET /", &Response::new("/", 200, vec![], "", ms));
    /// }
    /// assert_eq!(samples.mean_ms(), 30.0);
    /// ```
    pub fn mean_ms(&self) -> f64 {
        if self.latencies_ms.is_empty() {
            f64::NAN
        } else {
            self.latencies_ms.iter().sum::<f64>() / self.latencies_ms.len() as f64
        }
    }

    /// The `p`-th percentile latency (nearest rank: the smallest latency with
    /// at least `p`% of latencies at or below it); `p` is clamped to
    /// `0..=100`. `NaN` when no response arrived or `p` is `NaN`.
    ///
    /// ```
    /// use gate_sdk::http::{Response, Samples};
    ///
    /// let mut samples = Samples::new();
    /// for ms in 1..=20 {
    ///     samples.record_response("GET /", &Response::new("/", 200, vec![], "", f64::from(ms)));
    /// }
    /// assert_eq!(samples.percentile_ms(50.0), 10.0);
    /// assert_eq!(samples.percentile_ms(95.0), 19.0);
    /// assert_eq!(samples.percentile_ms(100.0), 20.0);
    /// assert_eq!(samples.percentile_ms(0.0), 1.0);
    /// ```
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_ms.is_empty() || p.is_nan() {
            return f64::NAN;
        }
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        // Nearest rank is ceil(p/100 · n), 1-based; rank 0 (p = 0) means the
        // minimum. Multiplying first keeps whole-number ranks exact.
        let rank = (p.clamp(0.0, 100.0) * n as f64 / 100.0).ceil() as usize;
        sorted[rank.clamp(1, n) - 1]
    }

    /// The slowest latency; `NaN` when no response arrived.
    ///
    /// ```
    /// use gate_sdk::http::{Response, Samples};
    ///
    /// let mut samples = Samples::new();
    /// assert!(samples.max_ms().is_nan());
    /// samples.record_response("GET /", &Response::new("/", 200, vec![], "", 7.0));
    /// samples.record_response("GET /", &Response::new("/", 200, vec![], "", 3.0));
    /// assert_eq!(samples.max_ms(), 7.0);
    /// ```
    pub fn max_ms(&self) -> f64 {
        self.latencies_ms
            .iter()
            .copied()
            .reduce(f64::max)
            .unwrap_or(f64::NAN)
    }

    /// Up to three distinct failures among the first ones, e.g.
    /// `GET /x → 500` or `GET /x → connect: connection refused`, to quote in
    /// a message.
    ///
    /// ```
    /// use gate_sdk::http::{HttpError, Samples};
    ///
    /// let mut samples = Samples::new();
    /// for _ in 0..5 {
    ///     samples.record_failure("GET /x", &HttpError::Timeout(100));
    /// }
    /// samples.record_failure("GET /y", &HttpError::Timeout(100));
    /// assert_eq!(samples.errors(), 6);
    /// assert_eq!(samples.first_failures().len(), 2);
    /// ```
    pub fn first_failures(&self) -> &[String] {
        &self.first_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, ms: f64) -> Response {
        Response::new("/x", status, vec![], "", ms)
    }

    /// A path whose query holds a URL is still a path: its redirect is
    /// resolved against the target and followed.
    #[test]
    fn a_path_with_a_url_in_its_query_follows_its_redirect() {
        use crate::mock::MockHost;
        use crate::{Check, CheckResult, Policy, PolicyKind};

        let from = "/login?next=https://app.example/";
        let home = "http://127.0.0.1:8080/home";
        let moved = vec![("location".to_owned(), "/home".to_owned())];
        let host = MockHost::new()
            .target("http://127.0.0.1:8080")
            .http(Method::Get, from, Response::new(from, 302, moved, "", 1.0))
            .http(Method::Get, home, Response::new(home, 200, vec![], "", 1.0));
        let policy = Policy::new("p", PolicyKind::Gate).check(Check::new("c", "", || {
            let response = Request::get("/login?next=https://app.example/")
                .follow_redirects(2)
                .send()?;
            Ok(CheckResult::pass(format!(
                "{} {}",
                response.status(),
                response.url()
            )))
        }));
        assert_eq!(
            host.run(&policy, "c").unwrap().message,
            "200 http://127.0.0.1:8080/home"
        );
    }

    #[test]
    fn headers_match_case_insensitively() {
        let response = Response::new(
            "/",
            200,
            vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Dup".into(), "first".into()),
                ("x-dup".into(), "second".into()),
            ],
            "{}",
            1.0,
        );
        assert_eq!(response.header("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(response.header("x-dup"), Some("first"));
        assert_eq!(response.header("missing"), None);
    }

    #[test]
    fn json_errors_name_url_and_body() {
        let html = Response::new("/api", 200, vec![], "<html>\n<b>502</b>", 1.0);
        match html.json_value().unwrap_err() {
            Error::Json { url, reason } => {
                assert_eq!(url, "/api");
                assert!(
                    reason.contains("body starts: <html> <b>502</b>"),
                    "{reason}"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let empty = Response::new("/api", 200, vec![], "", 1.0);
        let error = empty.json_value().unwrap_err().to_string();
        assert!(error.contains("the body is empty"), "{error}");

        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Health {
            status: String,
        }
        let shape = Response::new("/h", 200, vec![], r#"{"state":"ok"}"#, 1.0);
        let error = shape.json::<Health>().unwrap_err().to_string();
        assert!(error.contains("missing field `status`"), "{error}");
    }

    #[test]
    fn expect_status_quotes_a_bounded_body() {
        let body = format!("line one\nline two {}", "x".repeat(500));
        let error = Response::new("/ready", 503, vec![], body, 1.0)
            .expect_status(200)
            .unwrap_err();
        match &error {
            Error::Status {
                url,
                expected,
                actual,
                body,
            } => {
                assert_eq!(
                    (url.as_str(), expected.as_str(), *actual),
                    ("/ready", "200", 503)
                );
                assert!(body.starts_with("line one line two x"));
                assert_eq!(body.chars().count(), STATUS_BODY_CHARS + 1);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn request_builder_sets_headers_once() {
        let request = Request::post("/o")
            .header("Authorization", "Basic x")
            .header("Content-Type", "text/plain")
            .bearer("t")
            .json(&[1, 2]);
        assert_eq!(
            request.headers(),
            &[
                ("authorization".to_owned(), "Bearer t".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
            ]
        );
        assert_eq!(request.body_bytes(), Some(&b"[1,2]"[..]));
    }

    #[test]
    fn unencodable_json_body_is_reported_without_sending() {
        use std::collections::BTreeMap;
        let mut map = BTreeMap::new();
        map.insert((1, 2), "tuple keys are not JSON");
        // `send` returns before reaching the host, so this runs natively.
        let error = Request::post("/o").json(&map).send().unwrap_err();
        assert!(
            matches!(error, Error::Json { ref url, .. } if url == "/o"),
            "{error:?}"
        );
    }

    #[test]
    fn samples_count_errors_and_latencies() {
        let mut samples = Samples::new();
        samples.record_response("GET /x", &response(200, 10.0));
        samples.record_response("GET /x", &response(404, 20.0));
        samples.record_response("GET /x", &response(500, 30.0));
        samples.record_failure("GET /x", &HttpError::Connect("refused".into()));
        samples.record_failure("GET /x", &HttpError::TooLarge(10));
        samples.record_failure("GET /x", &HttpError::Other("reset".into()));
        assert_eq!(samples.count(), 6);
        assert_eq!(samples.errors(), 4);
        assert!((samples.error_rate() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(samples.latencies_ms(), [10.0, 20.0, 30.0]);
        assert_eq!(samples.mean_ms(), 20.0);
        assert_eq!(samples.max_ms(), 30.0);
        assert_eq!(
            samples.first_failures(),
            [
                "GET /x → 500",
                "GET /x → connect: refused",
                "GET /x → response body exceeded the host's cap of 10 bytes"
            ]
        );
    }

    #[test]
    fn empty_samples_are_nan() {
        let samples = Samples::new();
        assert!(samples.error_rate().is_nan());
        assert!(samples.mean_ms().is_nan());
        assert!(samples.max_ms().is_nan());
        assert!(samples.percentile_ms(95.0).is_nan());

        let mut failed = Samples::new();
        failed.record_failure("GET /x", &HttpError::Timeout(5));
        assert_eq!(failed.error_rate(), 1.0);
        assert!(failed.mean_ms().is_nan());
        assert!(failed.percentile_ms(50.0).is_nan());
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut samples = Samples::new();
        for ms in [50.0, 10.0, 40.0, 20.0, 30.0] {
            samples.record_response("GET /x", &response(200, ms));
        }
        assert_eq!(samples.percentile_ms(0.0), 10.0);
        assert_eq!(samples.percentile_ms(20.0), 10.0);
        assert_eq!(samples.percentile_ms(21.0), 20.0);
        assert_eq!(samples.percentile_ms(50.0), 30.0);
        assert_eq!(samples.percentile_ms(95.0), 50.0);
        assert_eq!(samples.percentile_ms(100.0), 50.0);
        assert_eq!(samples.percentile_ms(250.0), 50.0);
        assert_eq!(samples.percentile_ms(-5.0), 10.0);
        assert!(samples.percentile_ms(f64::NAN).is_nan());

        let mut one = Samples::new();
        one.record_response("GET /x", &response(200, 7.0));
        assert_eq!(one.percentile_ms(95.0), 7.0);
    }
}
