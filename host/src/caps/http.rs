//! `gate:policy/http`: outbound requests to the target and allowed hosts only.

use std::error::Error as _;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderName, HeaderValue};

use crate::bindings::gate::policy::http::{Host, HttpError, Method, Request, Response};
use crate::grants::HttpDenial;
use crate::state::{HostState, HttpCall};

/// The client every check of a run shares (one connection pool). Proxy
/// variables are ignored and redirects are never followed, so the only
/// addresses reached are those the grants approved.
pub fn client() -> anyhow::Result<reqwest::Client> {
    // Several runtimes in one process (tests) may race to install it; any
    // installed ring provider will do.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gate/", env!("CARGO_PKG_VERSION")))
        .build()?;
    Ok(client)
}

impl Host for HostState {
    async fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        self.count_call()?;
        let method = method_name(request.method);
        // Show the URL as resolved against the target when it resolves.
        let shown = match self.session.grants.http_url(&request.url) {
            Ok(url) => url.to_string(),
            Err(_) => request.url.clone(),
        };
        let started = Instant::now();
        let outcome = self.send_checked(method, &request).await;
        let answer = match &outcome {
            Ok(response) => Ok(response.status),
            Err(error) => Err(describe(error)),
        };
        self.record_call(method, shown, started, answer);
        Ok(outcome)
    }
}

impl HostState {
    /// Keeps a request in the check's record (shown on failure and in JSON).
    pub(crate) fn record_call(
        &mut self,
        method: &str,
        url: String,
        started: Instant,
        answer: Result<u16, String>,
    ) {
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, error) = match answer {
            Ok(status) => (Some(status), None),
            Err(error) => (None, Some(error)),
        };
        tracing::debug!(method, %url, ?status, elapsed_ms, error, "host request");
        self.calls.push(HttpCall {
            method: method.to_owned(),
            url,
            status,
            elapsed_ms,
            error,
        });
    }

    async fn send_checked(
        &mut self,
        method: &'static str,
        request: &Request,
    ) -> Result<Response, HttpError> {
        let url = self
            .session
            .grants
            .http_url(&request.url)
            .map_err(|denial| match denial {
                HttpDenial::Denied(why) => HttpError::Denied(why),
                HttpDenial::Invalid(why) => HttpError::InvalidRequest(why),
            })?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a standard method");
        let mut builder = self.session.http.request(method, url);
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::InvalidRequest(format!("bad header name `{name}`")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| HttpError::InvalidRequest(format!("bad value for header `{name}`")))?;
            builder = builder.header(name, value);
        }
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let wanted = request
            .timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms)));
        let timeout = self.request_timeout(wanted);
        exchange(builder, timeout, self.session.limits.response_bytes).await
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
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    if timeout.is_zero() {
        return Err(HttpError::Timeout(0));
    }
    match tokio::time::timeout(timeout, read_response(builder, limit)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::Timeout(timeout_ms)),
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
    // reqwest's own text ("error sending request for url …: client error
    // (Connect)") wraps the cause that says what happened ("Connection
    // refused"); keep the causes and name the address once.
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.starts_with("client error (") {
            causes.push(text);
        }
        source = cause.source();
    }
    let what = if causes.is_empty() {
        error.to_string()
    } else {
        causes.join(": ")
    };
    let text = match error
        .url()
        .and_then(|u| Some((u.host_str()?.to_owned(), u.port_or_known_default()?)))
    {
        Some((host, port)) => format!("{host}:{port}: {what}"),
        None => what,
    };
    if error.is_timeout() {
        HttpError::Timeout(0)
    } else if error.is_connect() {
        HttpError::Connect(text)
    } else if error.is_builder() || error.is_request() && error.url().is_none() {
        HttpError::InvalidRequest(text)
    } else {
        HttpError::Other(text)
    }
}

/// The one-line form used in the check's record of calls.
pub fn describe(error: &HttpError) -> String {
    match error {
        HttpError::Denied(why) => format!("denied: {why}"),
        HttpError::InvalidRequest(why) => format!("invalid request: {why}"),
        HttpError::Connect(why) => format!("connect: {why}"),
        HttpError::Timeout(ms) => format!("timeout after {ms} ms"),
        HttpError::TooLarge(limit) => format!("response larger than {limit} bytes"),
        HttpError::Other(why) => why.clone(),
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
