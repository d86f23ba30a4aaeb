//! What the run tells a policy: the target, the environment, the release,
//! parameters and secrets; and a way to wait.
//!
//! Parameters come from `--param name=value` and secrets from
//! `GATE_SECRET_<NAME>` variables on the runner's side. The host redacts
//! secret values from everything the policy reports or logs.
//!
//! ```no_run
//! use gate_sdk::context;
//!
//! let samples: u32 = context::param_or("samples", 20)?;
//! let token = context::require_secret("api_token")?;
//! # let _ = (samples, token);
//! # Ok::<(), gate_sdk::Error>(())
//! ```

use core::str::FromStr;
use std::fmt::Display;
use std::time::Duration;

use crate::host;
use crate::{Error, Result};

/// The base URL of the stack under test (`--target`), if one was given.
///
/// HTTP requests to paths (`/health`) are resolved against it by the host,
/// so most checks never need it.
///
/// ```no_run
/// if let Some(target) = gate_sdk::context::target() {
///     gate_sdk::log::info(format!("checking {target}"));
/// }
/// ```
pub fn target() -> Option<String> {
    host::target()
}

/// The target, or [`Error::MissingTarget`] telling the operator to pass
/// `--target`.
///
/// ```no_run
/// let target = gate_sdk::context::require_target()?;
/// # let _ = target;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn require_target() -> Result<String> {
    target().ok_or(Error::MissingTarget)
}

/// The environment's name (`--env`); `default` when none was given.
///
/// ```no_run
/// let strict = gate_sdk::context::env_name() == "prod";
/// # let _ = strict;
/// ```
pub fn env_name() -> String {
    host::env_name()
}

/// The release the run judges (`--release ID`, or `GATE_RELEASE`): a tag,
/// a commit or a build number, the same in every environment it goes
/// through. `None` when the run names no release.
///
/// A check that compares what is deployed with what is being promoted
/// takes it as the default of a parameter with [`param_or_release`].
///
/// ```no_run
/// use gate_sdk::context;
///
/// let release = context::release().unwrap_or_else(|| "unnamed".to_owned());
/// gate_sdk::log::info(format!("judging release {release}"));
/// ```
pub fn release() -> Option<String> {
    host::release()
}

/// The release, or [`Error::MissingRelease`] telling the operator to pass
/// `--release`.
///
/// ```no_run
/// let release = gate_sdk::context::require_release()?;
/// gate_sdk::log::info(format!("judging release {release}"));
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn require_release() -> Result<String> {
    release().ok_or(Error::MissingRelease)
}

/// The raw value of `--param name=value`, if given.
///
/// ```no_run
/// let path = gate_sdk::context::param("latency_path").unwrap_or_else(|| "/".to_owned());
/// # let _ = path;
/// ```
pub fn param(name: &str) -> Option<String> {
    host::param(name)
}

/// The raw value of a parameter the check cannot do without, or
/// [`Error::MissingParam`] telling the operator which `--param` to give.
/// An empty value counts as missing.
///
/// ```no_run
/// let project = gate_sdk::context::require_param("compose_project")?;
/// # let _ = project;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn require_param(name: &str) -> Result<String> {
    param(name)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| Error::MissingParam {
            name: name.to_owned(),
        })
}

/// A parameter that defaults to the run's release: the value of
/// `--param name=value` if given, else the release (`--release`), else
/// [`Error::MissingParamOrRelease`] naming both. An empty value counts as
/// missing. Taking the release is said in the check's log.
///
/// For checks that compare what is deployed with what is being promoted
/// (an image tag, a version endpoint): a pipeline that names its release
/// once on every run needs no parameter for them, and a parameter still
/// wins where the two differ (a tag that is not the release's id).
///
/// ```no_run
/// let expected = gate_sdk::context::param_or_release("expected_tag")?;
/// # let _ = expected;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn param_or_release(name: &str) -> Result<String> {
    require_param(name).or_else(|_| {
        let id = release()
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| Error::MissingParamOrRelease {
                name: name.to_owned(),
            })?;
        // Said in the check's log, so that a failure on a release id that
        // is not the value wanted (a commit, not the tag) shows the way out.
        crate::log::info(format!(
            "`{name}` not given: using the run's release `{id}` (--param {name}=<value> \
             sets another)"
        ));
        Ok(id)
    })
}

/// The parameter parsed as `T`, or `default` when it was not given.
///
/// A value that does not parse is an [`Error::Param`] naming the parameter,
/// the value and the parser's complaint: a typo in `--param` must not
/// silently fall back to the default. Surrounding whitespace is ignored.
///
/// ```no_run
/// use gate_sdk::context;
///
/// let samples: u32 = context::param_or("samples", 20)?;
/// let max_latency_ms: f64 = context::param_or("max_latency_ms", 500.0)?;
/// # let _ = (samples, max_latency_ms);
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn param_or<T>(name: &str, default: T) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    parse_param(name, param(name), default)
}

/// The parameter as a duration (`500ms`, `10s`, `5m`, `1h`), or `default`.
/// A value that does not parse, or is zero, is an [`Error::Param`].
///
/// ```no_run
/// use std::time::Duration;
/// use gate_sdk::context;
///
/// let window = context::param_duration("window", Duration::from_secs(300))?;
/// # let _ = window;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn param_duration(name: &str, default: Duration) -> Result<Duration> {
    parse_param(name, param(name), ParamDuration(default)).map(|d| d.0)
}

/// A duration as `--param` writes it; see [`param_duration`].
struct ParamDuration(Duration);

impl FromStr for ParamDuration {
    type Err = String;

    fn from_str(text: &str) -> core::result::Result<Self, String> {
        gate_units::parse_duration(text).map(ParamDuration)
    }
}

/// The pure half of [`param_or`], separate so that it can be tested natively.
fn parse_param<T>(name: &str, value: Option<String>, default: T) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    match value {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|error: T::Err| Error::Param {
            name: name.to_owned(),
            reason: error.to_string(),
            value,
        }),
    }
}

/// Every parameter as `(name, value)`, sorted by name.
///
/// ```no_run
/// for (name, value) in gate_sdk::context::params() {
///     gate_sdk::log::debug(format!("param {name}={value}"));
/// }
/// ```
pub fn params() -> Vec<(String, String)> {
    host::params()
}

/// A secret, read by the host from `GATE_SECRET_<NAME>` (name trimmed,
/// upper-cased, `-` and `.` turned into `_`, so `api-token`, `api_token` and
/// `api.token` all read `GATE_SECRET_API_TOKEN`), if it is set. The host
/// redacts its value from all output.
///
/// ```no_run
/// let token = gate_sdk::context::secret("api_token");
/// let request = gate_sdk::http::Request::get("/api/v1/system/status");
/// let request = match token {
///     Some(token) => request.bearer(&token),
///     None => request,
/// };
/// # let _ = request;
/// ```
pub fn secret(name: &str) -> Option<String> {
    host::secret(name)
}

/// A secret the check cannot do without. Unset or empty is an
/// [`Error::MissingSecret`] whose text names the variable to export.
///
/// ```no_run
/// use gate_sdk::http::Request;
///
/// let token = gate_sdk::context::require_secret("api_token")?;
/// let response = Request::get("/api/v1/system/status").bearer(&token).send()?;
/// # let _ = response;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn require_secret(name: &str) -> Result<String> {
    // An empty variable is a forgotten value, not a credential.
    match secret(name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(Error::MissingSecret {
            name: name.to_owned(),
        }),
    }
}

/// Sleeps for `duration`, rounded up to whole milliseconds. Under gate, a
/// sleep that reaches the check's deadline does not return: the check ends
/// there with the deadline's error (`gate test` replays it so), as after
/// any host call that ends past the deadline. `MockHost` never sleeps.
///
/// ```no_run
/// use std::time::Duration;
///
/// // Give a freshly deployed service time to warm up before sampling.
/// gate_sdk::context::sleep(Duration::from_secs(2));
/// ```
pub fn sleep(duration: Duration) {
    host::sleep(millis_ceil(duration));
}

/// `duration` in whole milliseconds, rounded up (so a short sleep is not a
/// no-op) and saturated at `u32::MAX` (about 49 days, far past any deadline).
pub(crate) fn millis_ceil(duration: Duration) -> u32 {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    u32::try_from(millis).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_or_default() {
        assert_eq!(parse_param("samples", None, 20u32).unwrap(), 20);
        assert_eq!(
            parse_param("samples", Some(" 50 ".into()), 20u32).unwrap(),
            50
        );
        assert_eq!(
            parse_param("rate", Some("0.05".into()), 0.01f64).unwrap(),
            0.05
        );
    }

    #[test]
    fn bad_params_are_errors() {
        let error = parse_param("samples", Some("many".into()), 20u32).unwrap_err();
        match &error {
            Error::Param {
                name,
                value,
                reason,
            } => {
                assert_eq!(name, "samples");
                assert_eq!(value, "many");
                assert!(reason.contains("invalid digit"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(error.to_string().contains("--param samples=<value>"));
        assert!(parse_param("samples", Some("-1".into()), 20u32).is_err());
    }

    #[test]
    fn durations_round_up_and_saturate() {
        assert_eq!(millis_ceil(Duration::ZERO), 0);
        assert_eq!(millis_ceil(Duration::from_micros(1)), 1);
        assert_eq!(millis_ceil(Duration::from_millis(1500)), 1500);
        assert_eq!(millis_ceil(Duration::from_secs(3600)), 3_600_000);
        assert_eq!(millis_ceil(Duration::MAX), u32::MAX);
    }

    #[test]
    fn a_param_defaults_to_the_release() {
        use crate::mock::MockHost;
        use crate::{Check, CheckResult, Policy, PolicyKind};

        let policy = Policy::new("p", PolicyKind::Gate).check(Check::new("tag", "", || {
            Ok(CheckResult::pass(param_or_release("expected_tag")?))
        }));
        let tag = |host: MockHost| host.run(&policy, "tag").map(|r| r.message);
        let host = MockHost::new().release("v2");
        assert_eq!(host.run(&policy, "tag").unwrap().message, "v2");
        assert_eq!(
            host.log(),
            [
                "info: `expected_tag` not given: using the run's release `v2` \
              (--param expected_tag=<value> sets another)"
            ]
        );
        assert_eq!(
            tag(MockHost::new().release("v2").param("expected_tag", " v1 ")).unwrap(),
            "v1"
        );
        assert_eq!(
            tag(MockHost::new().release("v2").param("expected_tag", " ")).unwrap(),
            "v2"
        );
        assert_eq!(
            tag(MockHost::new()).unwrap_err(),
            Error::MissingParamOrRelease {
                name: "expected_tag".into()
            }
        );
        assert_eq!(
            tag(MockHost::new().release("  ")).unwrap_err(),
            Error::MissingParamOrRelease {
                name: "expected_tag".into()
            }
        );
    }

    #[test]
    fn the_release_is_the_runs() {
        use crate::mock::MockHost;
        use crate::{Check, CheckResult, Policy, PolicyKind};

        let policy = Policy::new("p", PolicyKind::Gate).check(Check::new("r", "", || {
            Ok(CheckResult::pass(require_release()?))
        }));
        let host = MockHost::new().release("git-5fe9ba4");
        assert_eq!(host.run(&policy, "r").unwrap().message, "git-5fe9ba4");
        assert_eq!(
            MockHost::new().run(&policy, "r").unwrap_err(),
            Error::MissingRelease
        );
    }

    #[test]
    fn durations() {
        let parse = |v: &str| {
            parse_param("window", Some(v.to_owned()), ParamDuration(Duration::ZERO)).map(|d| d.0)
        };
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse("0s").is_err());
        assert!(parse("5d").unwrap_err().to_string().contains("window"));
    }
}
