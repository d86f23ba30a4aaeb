//! The error a check returns when it could not decide.

use core::fmt;

use crate::docker::DockerError;
use crate::http::HttpError;
use crate::metrics::MetricsError;
use crate::tls::TlsError;

/// The result type of checks and SDK calls.
///
/// ```
/// use gate_sdk::{CheckResult, Result};
///
/// fn check() -> Result<CheckResult> {
///     Ok(CheckResult::pass("all good"))
/// }
/// assert!(check().is_ok());
/// ```
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a check could not reach a verdict.
///
/// A check that returns `Err` is reported as `error` by the runner (a blocking
/// check that errors fails the gate), with the error's [`Display`] text as its
/// message. Every variant therefore renders as one line that says what went
/// wrong and, where possible, how to fix it.
///
/// Most errors come from `?` on SDK calls; construct [`Error::Other`] for
/// anything else.
///
/// ```
/// use gate_sdk::Error;
///
/// let error = Error::MissingSecret { name: "api_token".into() };
/// assert_eq!(
///     error.to_string(),
///     "secret `api_token` is not set: export GATE_SECRET_API_TOKEN"
/// );
/// ```
///
/// [`Display`]: core::fmt::Display
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An HTTP request failed before a response arrived.
    ///
    /// ```
    /// use gate_sdk::{Error, http::HttpError};
    ///
    /// let error: Error = HttpError::Timeout(5000).into();
    /// assert!(matches!(error, Error::Http(HttpError::Timeout(5000))));
    /// ```
    Http(HttpError),
    /// A Prometheus query failed: not granted, unreachable, rejected…
    ///
    /// ```
    /// use gate_sdk::{Error, metrics::MetricsError};
    ///
    /// let error: Error = MetricsError::BadQuery("parse error".into()).into();
    /// assert!(error.to_string().contains("parse error"));
    /// ```
    Metrics(MetricsError),
    /// A Docker engine query failed: not granted, unreachable, no such
    /// container…
    ///
    /// ```
    /// use gate_sdk::{Error, docker::DockerError};
    ///
    /// let error: Error = DockerError::Unreachable("Docker engine unix:///var/run/docker.sock is unreachable".into()).into();
    /// assert!(error.to_string().contains("unreachable"));
    /// ```
    Docker(DockerError),
    /// A TLS handshake failed: denied, refused, not TLS…
    ///
    /// ```
    /// use gate_sdk::{Error, tls::TlsError};
    ///
    /// let error: Error = TlsError::Connect("127.0.0.1:9: connection refused".into()).into();
    /// assert!(error.to_string().contains("connection refused"));
    /// ```
    Tls(TlsError),
    /// A response had another status than the check required; see
    /// [`Response::expect_status`](crate::http::Response::expect_status).
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// let error = Error::Status {
    ///     url: "/ready".into(),
    ///     expected: "200".into(),
    ///     actual: 503,
    ///     body: "warming up".into(),
    /// };
    /// assert_eq!(error.to_string(), "`/ready` answered 503, expected 200; body: warming up");
    /// ```
    Status {
        /// The URL as the request gave it.
        url: String,
        /// The status (or statuses) that was expected, as text.
        expected: String,
        /// The status that came back.
        actual: u16,
        /// The first 200 characters of the body on one line (control
        /// characters turned into spaces), followed by `…` when cut.
        body: String,
    },
    /// A body was not the JSON the check expected.
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// let error = Error::Json { url: "/api/v1/health".into(), reason: "missing field `status`".into() };
    /// assert!(error.to_string().contains("missing field `status`"));
    /// ```
    Json {
        /// The URL of the request.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A `--param` value could not be used.
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// let error = Error::Param {
    ///     name: "samples".into(),
    ///     value: "many".into(),
    ///     reason: "invalid digit found in string".into(),
    /// };
    /// assert!(error.to_string().contains("--param samples="));
    /// ```
    Param {
        /// The parameter's name.
        name: String,
        /// The value that was given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A parameter the check requires was not given to the run; see
    /// [`context::require_param`](crate::context::require_param).
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// let error = Error::MissingParam { name: "expected_tag".into() };
    /// assert_eq!(
    ///     error.to_string(),
    ///     "parameter `expected_tag` is required: set it with --param expected_tag=<value>"
    /// );
    /// ```
    MissingParam {
        /// The parameter's name.
        name: String,
    },
    /// A secret the check requires was not given to the run.
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// let error = Error::MissingSecret { name: "db-password".into() };
    /// assert!(error.to_string().ends_with("export GATE_SECRET_DB_PASSWORD"));
    /// ```
    MissingSecret {
        /// The secret's name, as the policy asked for it.
        name: String,
    },
    /// The check needs a target but the run was started without `--target`.
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// assert!(Error::MissingTarget.to_string().contains("--target"));
    /// ```
    MissingTarget,
    /// The check needs to know the release it judges, but the run was
    /// started without `--release`; see
    /// [`context::require_release`](crate::context::require_release).
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// assert!(Error::MissingRelease.to_string().contains("--release"));
    /// ```
    MissingRelease,
    /// Neither the parameter nor the run's release was given; see
    /// [`context::param_or_release`](crate::context::param_or_release).
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// let error = Error::MissingParamOrRelease { name: "expected_tag".into() };
    /// assert_eq!(
    ///     error.to_string(),
    ///     "parameter `expected_tag` is required: set it with --param expected_tag=<value>, \
    ///      or name the release with --release <id>"
    /// );
    /// ```
    MissingParamOrRelease {
        /// The parameter's name.
        name: String,
    },
    /// Anything else; the text is reported as is.
    ///
    /// ```
    /// use gate_sdk::Error;
    ///
    /// let error = Error::Other("no products to sample".into());
    /// assert_eq!(error.to_string(), "no products to sample");
    /// ```
    Other(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Http(error) => error.fmt(f),
            Error::Metrics(error) => error.fmt(f),
            Error::Docker(error) => error.fmt(f),
            Error::Tls(error) => error.fmt(f),
            Error::MissingParam { name } => write!(
                f,
                "parameter `{name}` is required: set it with --param {name}=<value>"
            ),
            Error::Status {
                url,
                expected,
                actual,
                body,
            } => {
                write!(f, "`{url}` answered {actual}, expected {expected}")?;
                if body.is_empty() {
                    f.write_str(" (empty body)")
                } else {
                    write!(f, "; body: {body}")
                }
            }
            Error::Json { url, reason } => {
                write!(f, "`{url}` did not return the expected JSON: {reason}")
            }
            Error::Param {
                name,
                value,
                reason,
            } => write!(
                f,
                "invalid value `{value}` for parameter `{name}`: {reason} \
                 (set it with --param {name}=<value>)"
            ),
            Error::MissingSecret { name } => write!(
                f,
                "secret `{name}` is not set: export {}",
                secret_env_var(name)
            ),
            Error::MissingTarget => f.write_str(
                "no target to check: start the run with --target <base URL>, \
                 e.g. --target http://localhost:8080",
            ),
            Error::MissingRelease => f.write_str(
                "no release named: start the run with --release <id> (or set GATE_RELEASE), \
                 e.g. --release v1.4.2",
            ),
            Error::MissingParamOrRelease { name } => write!(
                f,
                "parameter `{name}` is required: set it with --param {name}=<value>, \
                 or name the release with --release <id>"
            ),
            Error::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Http(error) => Some(error),
            _ => None,
        }
    }
}

impl From<MetricsError> for Error {
    fn from(error: MetricsError) -> Self {
        Error::Metrics(error)
    }
}

impl From<DockerError> for Error {
    fn from(error: DockerError) -> Self {
        Error::Docker(error)
    }
}

impl From<TlsError> for Error {
    fn from(error: TlsError) -> Self {
        Error::Tls(error)
    }
}

impl From<HttpError> for Error {
    fn from(error: HttpError) -> Self {
        Error::Http(error)
    }
}

/// The variable the host reads a secret from, by the rule documented on
/// `context.secret` in the WIT contract.
pub(crate) fn secret_env_var(name: &str) -> String {
    format!("GATE_SECRET_{}", gate_units::secret_key(name))
}

/// Up to `max` characters of `text` on one line: control characters (line
/// breaks, escapes) become spaces so that a hostile or verbose body cannot
/// break the report's layout. A cut is marked with `…`.
pub(crate) fn snippet(text: &str, max: usize) -> String {
    let mut out: String = text
        .trim()
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.trim().chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_variable_follows_host_rule() {
        assert_eq!(secret_env_var("api_token"), "GATE_SECRET_API_TOKEN");
        assert_eq!(secret_env_var("db-pass"), "GATE_SECRET_DB_PASS");
        // The variable gate actually reads, and one a shell can export.
        assert_eq!(secret_env_var("db.password"), "GATE_SECRET_DB_PASSWORD");
    }

    #[test]
    fn snippet_is_one_bounded_line() {
        assert_eq!(snippet("  a\nb\x1b[0m ", 200), "a b [0m");
        let long = "x".repeat(300);
        let cut = snippet(&long, 200);
        assert_eq!(cut.chars().count(), 201);
        assert!(cut.ends_with('…'));
        assert_eq!(snippet("", 10), "");
    }

    #[test]
    fn http_errors_convert() {
        let error: Error = HttpError::Connect("refused".into()).into();
        assert_eq!(error, Error::Http(HttpError::Connect("refused".into())));
        assert!(std::error::Error::source(&error).is_some());
    }
}
