//! Policies, their checks, and the glue behind [`export_policy!`](crate::export_policy!).

use crate::__private::bindings::gate::policy::types as wit;
use crate::{CheckResult, Result};

/// What a policy is for; the runner uses it to pick how to run it.
///
/// ```
/// use gate_sdk::{Policy, PolicyKind};
///
/// let policy = Policy::new("api", PolicyKind::Smoke);
/// assert_eq!(policy.kind(), PolicyKind::Smoke);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// A promotion gate: run before promoting a release.
    Gate,
    /// A rollback trigger: run repeatedly during a bake window.
    Trigger,
    /// A smoke suite: run right after a deploy.
    Smoke,
}

impl PolicyKind {
    fn to_wit(self) -> wit::PolicyKind {
        match self {
            PolicyKind::Gate => wit::PolicyKind::Gate,
            PolicyKind::Trigger => wit::PolicyKind::Trigger,
            PolicyKind::Smoke => wit::PolicyKind::Smoke,
        }
    }
}

/// A capability a check needs the run to grant.
///
/// A check whose needs are not all granted is reported `skipped` without
/// being run, so declare every capability a check uses.
///
/// ```
/// use gate_sdk::{Capability, Check, CheckResult};
///
/// let check = Check::new("health", "GET /health answers 200", || Ok(CheckResult::pass("ok")))
///     .needs(Capability::Http);
/// assert_eq!(check.needed(), &[Capability::Http]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// Outbound HTTP to the target and allowed hosts ([`http`](crate::http)).
    Http,
    /// Prometheus queries.
    Metrics,
    /// Read-only Docker engine queries.
    Docker,
    /// TLS handshakes to read peer certificates.
    Tls,
}

impl Capability {
    /// Every capability, so that a check's needs fit in place (see [`Needs`]).
    const ALL: [Capability; 4] = [
        Capability::Http,
        Capability::Metrics,
        Capability::Docker,
        Capability::Tls,
    ];

    fn to_wit(self) -> wit::Capability {
        match self {
            Capability::Http => wit::Capability::Http,
            Capability::Metrics => wit::Capability::Metrics,
            Capability::Docker => wit::Capability::Docker,
            Capability::Tls => wit::Capability::Tls,
        }
    }
}

/// One named check of a policy.
///
/// A check is blocking (it decides the verdict) and needs no capability
/// unless told otherwise.
///
/// ```
/// use gate_sdk::{Capability, Check, CheckResult, Result, http};
///
/// fn health() -> Result<CheckResult> {
///     http::get("/health")?.expect_status(200)?;
///     Ok(CheckResult::pass("/health answered 200"))
/// }
///
/// let check = Check::new("health", "GET /health answers 200", health).needs(Capability::Http);
/// assert!(check.is_blocking());
/// ```
#[derive(Debug, Clone)]
pub struct Check {
    name: &'static str,
    description: &'static str,
    run: fn() -> Result<CheckResult>,
    blocking: bool,
    needs: Needs,
}

/// The capabilities a check needs, distinct and in the order declared,
/// held in place: each instance builds the whole policy to run one check,
/// and a heap list per check is an allocation per check of the policy.
#[derive(Clone, Copy)]
struct Needs {
    list: [Capability; Capability::ALL.len()],
    len: u8,
}

impl Needs {
    const NONE: Needs = Needs {
        list: Capability::ALL,
        len: 0,
    };

    fn as_slice(&self) -> &[Capability] {
        &self.list[..usize::from(self.len)]
    }

    fn add(&mut self, capability: Capability) {
        // A repeated need means nothing more; keep the list as declared.
        if !self.as_slice().contains(&capability) {
            self.list[usize::from(self.len)] = capability;
            self.len += 1;
        }
    }
}

impl core::fmt::Debug for Needs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl Check {
    /// A blocking check that needs nothing.
    ///
    /// `name` must be unique within the policy; the runner reports the check
    /// under it and passes it back to run the check. It must also be 1 to
    /// 256 bytes long without whitespace, control characters, `/`, `,` or
    /// `*`, which gate's `--check POLICY/NAME` patterns use (write
    /// `p95-latency`, not `p95 latency`): gate refuses to load a policy with
    /// any other name (exit 2), and [`Policy::check`] catches it first, as it
    /// catches a duplicate. `description` is one line saying what the check
    /// verifies.
    ///
    /// ```
    /// use gate_sdk::{Check, CheckResult};
    ///
    /// let check = Check::new("ok", "always passes", || Ok(CheckResult::pass("fine")));
    /// assert_eq!(check.name(), "ok");
    /// assert_eq!(check.description(), "always passes");
    /// ```
    pub fn new(
        name: &'static str,
        description: &'static str,
        run: fn() -> Result<CheckResult>,
    ) -> Self {
        Check {
            name,
            description,
            run,
            blocking: true,
            needs: Needs::NONE,
        }
    }

    /// Makes the check informative only: its outcome is reported but does
    /// not decide the verdict.
    ///
    /// ```
    /// use gate_sdk::{Check, CheckResult};
    ///
    /// let check = Check::new("p99", "p99 latency", || Ok(CheckResult::pass("fine"))).non_blocking();
    /// assert!(!check.is_blocking());
    /// ```
    pub fn non_blocking(mut self) -> Self {
        self.blocking = false;
        self
    }

    /// Declares a capability the check uses; call once per capability.
    ///
    /// ```
    /// use gate_sdk::{Capability, Check, CheckResult};
    ///
    /// let check = Check::new("cert", "certificate valid", || Ok(CheckResult::pass("fine")))
    ///     .needs(Capability::Http)
    ///     .needs(Capability::Tls)
    ///     .needs(Capability::Http);
    /// assert_eq!(check.needed(), &[Capability::Http, Capability::Tls]);
    /// ```
    pub fn needs(mut self, capability: Capability) -> Self {
        self.needs.add(capability);
        self
    }

    /// The check's name.
    ///
    /// ```
    /// # use gate_sdk::{Check, CheckResult};
    /// let check = Check::new("ready", "GET /ready answers 200", || Ok(CheckResult::pass("ok")));
    /// assert_eq!(check.name(), "ready");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The check's one-line description.
    ///
    /// ```
    /// # use gate_sdk::{Check, CheckResult};
    /// let check = Check::new("ready", "GET /ready answers 200", || Ok(CheckResult::pass("ok")));
    /// assert_eq!(check.description(), "GET /ready answers 200");
    /// ```
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// Whether the check decides the verdict.
    ///
    /// ```
    /// # use gate_sdk::{Check, CheckResult};
    /// let check = Check::new("ready", "GET /ready answers 200", || Ok(CheckResult::pass("ok")));
    /// assert!(check.is_blocking());
    /// ```
    pub fn is_blocking(&self) -> bool {
        self.blocking
    }

    /// The capabilities the check declared, in declaration order.
    ///
    /// ```
    /// # use gate_sdk::{Check, CheckResult};
    /// let check = Check::new("ok", "no I/O", || Ok(CheckResult::pass("ok")));
    /// assert!(check.needed().is_empty());
    /// ```
    pub fn needed(&self) -> &[Capability] {
        self.needs.as_slice()
    }

    /// Runs the check here and now, e.g. from a native unit test of a check
    /// that does no I/O.
    ///
    /// ```
    /// use gate_sdk::{Check, CheckResult, Outcome};
    ///
    /// let check = Check::new("ok", "no I/O", || Ok(CheckResult::pass("ok")));
    /// assert_eq!(check.run()?.outcome, Outcome::Pass);
    /// # Ok::<(), gate_sdk::Error>(())
    /// ```
    pub fn run(&self) -> Result<CheckResult> {
        (self.run)()
    }

    fn to_wit(&self) -> wit::CheckInfo {
        wit::CheckInfo {
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            blocking: self.blocking,
            needs: self
                .needs
                .as_slice()
                .iter()
                .map(|need| need.to_wit())
                .collect(),
        }
    }
}

/// A policy: a name, a kind, a version and its checks, in order.
///
/// Build it in a plain function and hand that to [`export_policy!`](crate::export_policy!). The
/// function runs once per call from the runner, so keep it free of I/O.
///
/// Check names must be unique, and 1 to 256 bytes without whitespace or
/// control characters (see [`Check::new`]). Any other name is a bug: debug
/// builds panic when its check is added, and so does
/// [`MockHost::run`](crate::mock::MockHost::run); release builds describe
/// every check as added, and gate refuses such a policy when it loads it
/// (exit 2, naming the check).
///
/// ```
/// use gate_sdk::{Capability, Check, CheckResult, Policy, PolicyKind, Result, http};
///
/// fn health() -> Result<CheckResult> {
///     http::get("/health")?.expect_status(200)?;
///     Ok(CheckResult::pass("/health answered 200"))
/// }
///
/// fn policy() -> Policy {
///     Policy::new("api", PolicyKind::Smoke)
///         .version("1.2.0")
///         .check(Check::new("health", "GET /health answers 200", health).needs(Capability::Http))
/// }
///
/// assert_eq!(policy().checks().len(), 1);
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    version: String,
    kind: PolicyKind,
    checks: Vec<Check>,
}

impl Policy {
    /// An empty policy at version `0.0.0`.
    ///
    /// ```
    /// use gate_sdk::{Policy, PolicyKind};
    ///
    /// let policy = Policy::new("prod", PolicyKind::Gate);
    /// assert_eq!(policy.name(), "prod");
    /// assert_eq!(policy.version_text(), "0.0.0");
    /// ```
    pub fn new(name: impl Into<String>, kind: PolicyKind) -> Self {
        Policy {
            name: name.into(),
            version: "0.0.0".to_owned(),
            kind,
            checks: Vec::new(),
        }
    }

    /// Sets the version, usually `env!("CARGO_PKG_VERSION")`.
    ///
    /// ```
    /// use gate_sdk::{Policy, PolicyKind};
    ///
    /// let policy = Policy::new("prod", PolicyKind::Gate).version("2.1.0");
    /// assert_eq!(policy.version_text(), "2.1.0");
    /// ```
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Adds a check after the ones already added.
    ///
    /// # Panics
    ///
    /// In debug builds, if a check of the same name was already added, or
    /// if its name is one gate refuses (see [`Check::new`]).
    ///
    /// ```
    /// use gate_sdk::{Check, CheckResult, Policy, PolicyKind};
    ///
    /// let policy = Policy::new("prod", PolicyKind::Gate)
    ///     .check(Check::new("a", "first", || Ok(CheckResult::pass("ok"))))
    ///     .check(Check::new("b", "second", || Ok(CheckResult::pass("ok"))));
    /// let names: Vec<_> = policy.checks().iter().map(|c| c.name()).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// ```
    pub fn check(mut self, check: Check) -> Self {
        if cfg!(debug_assertions)
            && let Some(problem) = refusal(&self.checks, check.name)
        {
            panic!("policy `{}` {problem}", self.name);
        }
        self.checks.push(check);
        self
    }

    /// Why gate would refuse to load this policy, if it would: the first
    /// check whose name gate refuses or repeats an earlier one's. For the
    /// mock host, which exists only natively.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn refusal(&self) -> Option<String> {
        if !gate_units::is_name(&self.name) {
            return Some(format!(
                "policy `{}` has a name gate refuses to load: a policy name is {}",
                self.name.escape_debug(),
                gate_units::NAME_RULE
            ));
        }
        let problem =
            (0..self.checks.len()).find_map(|i| refusal(&self.checks[..i], self.checks[i].name))?;
        Some(format!("policy `{}` {problem}", self.name))
    }

    /// The policy's name.
    ///
    /// ```
    /// # use gate_sdk::{Policy, PolicyKind};
    /// assert_eq!(Policy::new("api", PolicyKind::Smoke).name(), "api");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The policy's version (set with [`Policy::version`]).
    ///
    /// ```
    /// # use gate_sdk::{Policy, PolicyKind};
    /// assert_eq!(Policy::new("api", PolicyKind::Smoke).version("1.0.0").version_text(), "1.0.0");
    /// ```
    pub fn version_text(&self) -> &str {
        &self.version
    }

    /// The policy's kind.
    ///
    /// ```
    /// # use gate_sdk::{Policy, PolicyKind};
    /// assert_eq!(Policy::new("prod", PolicyKind::Gate).kind(), PolicyKind::Gate);
    /// ```
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The checks, in the order they were added.
    ///
    /// ```
    /// # use gate_sdk::{Policy, PolicyKind};
    /// assert!(Policy::new("empty", PolicyKind::Smoke).checks().is_empty());
    /// ```
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The first check with this name.
    ///
    /// ```
    /// use gate_sdk::{Check, CheckResult, Policy, PolicyKind};
    ///
    /// let policy = Policy::new("p", PolicyKind::Smoke)
    ///     .check(Check::new("ok", "passes", || Ok(CheckResult::pass("ok"))));
    /// assert!(policy.find("ok").is_some());
    /// assert!(policy.find("missing").is_none());
    /// ```
    pub fn find(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|check| check.name == name)
    }

    /// Runs the named check, as the runner's `run-check` does.
    ///
    /// An unknown name is an [`Error::Other`](crate::Error::Other) naming the
    /// check and the policy.
    ///
    /// ```
    /// use gate_sdk::{Check, CheckResult, Outcome, Policy, PolicyKind};
    ///
    /// let policy = Policy::new("p", PolicyKind::Smoke)
    ///     .check(Check::new("ok", "passes", || Ok(CheckResult::pass("ok"))));
    /// assert_eq!(policy.run_check("ok")?.outcome, Outcome::Pass);
    /// assert_eq!(
    ///     policy.run_check("nope").unwrap_err().to_string(),
    ///     "no check named `nope` in policy `p`"
    /// );
    /// # Ok::<(), gate_sdk::Error>(())
    /// ```
    pub fn run_check(&self, name: &str) -> Result<CheckResult> {
        match self.find(name) {
            Some(check) => check.run(),
            None => Err(crate::Error::Other(format!(
                "no check named `{name}` in policy `{}`",
                self.name
            ))),
        }
    }

    fn to_wit(&self) -> wit::PolicyInfo {
        wit::PolicyInfo {
            name: self.name.clone(),
            version: self.version.clone(),
            kind: self.kind.to_wit(),
            checks: self.checks.iter().map(Check::to_wit).collect(),
        }
    }
}

#[cfg(test)]
impl Policy {
    /// Adds `check` unvetted, as a release build does, to test what reads a
    /// policy gate would refuse.
    pub(crate) fn push_unvetted(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }
}

/// Why gate would refuse a check named `name` after `earlier`, if it would.
/// The rule is gate's own, applied when it loads a policy
/// ([`gate_units::is_name`]), and no two checks share a name.
fn refusal(earlier: &[Check], name: &str) -> Option<String> {
    if !gate_units::is_name(name) {
        return Some(format!(
            "has a check named `{}`, which gate refuses to load: a check name is {} \
             (write `p95-latency`, not `p95 latency`)",
            name.escape_debug(),
            gate_units::NAME_RULE
        ));
    }
    earlier.iter().any(|check| check.name == name).then(|| {
        format!(
            "already has a check named `{name}`, which gate refuses to load: \
             give each check its own name"
        )
    })
}

/// `describe` for [`export_policy!`](crate::export_policy!).
#[doc(hidden)]
pub fn describe(policy: Policy) -> wit::PolicyInfo {
    policy.to_wit()
}

/// `run-check` for [`export_policy!`](crate::export_policy!): the runner reports an `Err` as the
/// check's error, so it carries the error's one-line text.
#[doc(hidden)]
pub fn run_check(policy: Policy, name: &str) -> core::result::Result<wit::CheckResult, String> {
    policy
        .run_check(name)
        .map(|result| result.to_wit())
        .map_err(|error| error.to_string())
}

/// Exports a policy from a `cdylib` crate, making it a gate policy component.
///
/// Give it the path of a function `fn() -> Policy`. The macro implements the
/// `gate:policy/checks` interface: `describe` lists the policy and its
/// checks; `run-check` runs the named check and returns its result, or its
/// error's text, or an error naming an unknown check.
///
/// Use it once per crate, at the top level.
///
/// ```no_run
/// use gate_sdk::{export_policy, Check, CheckResult, Policy, PolicyKind};
///
/// fn policy() -> Policy {
///     Policy::new("tiny", PolicyKind::Smoke)
///         .check(Check::new("ok", "always passes", || Ok(CheckResult::pass("ok"))))
/// }
///
/// export_policy!(policy);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_policy {
    ($build:path) => {
        const _: () = {
            struct GatePolicy;

            impl $crate::__private::Guest for GatePolicy {
                fn describe() -> $crate::__private::PolicyInfo {
                    $crate::__private::describe($build())
                }

                fn run_check(
                    name: $crate::__private::String,
                ) -> ::core::result::Result<
                    $crate::__private::CheckResult,
                    $crate::__private::String,
                > {
                    $crate::__private::run_check($build(), &name)
                }
            }

            // Naming the bindings through `$crate` keeps this working when a
            // policy crate renames its `gate-sdk` dependency.
            $crate::__private::bindings::export!(GatePolicy with_types_in $crate::__private::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, Outcome};

    fn failing() -> Result<CheckResult> {
        Err(Error::MissingSecret {
            name: "api_token".into(),
        })
    }

    fn policy() -> Policy {
        Policy::new("p", PolicyKind::Gate)
            .version("1.0.0")
            .check(
                Check::new("ok", "passes", || Ok(CheckResult::pass("fine")))
                    .needs(Capability::Http),
            )
            .check(Check::new("err", "errors", failing).non_blocking())
    }

    #[test]
    fn describe_maps_everything() {
        let info = describe(policy());
        assert_eq!(info.name, "p");
        assert_eq!(info.version, "1.0.0");
        assert!(matches!(info.kind, wit::PolicyKind::Gate));
        assert_eq!(info.checks.len(), 2);
        assert_eq!(info.checks[0].name, "ok");
        assert!(info.checks[0].blocking);
        assert!(matches!(info.checks[0].needs[..], [wit::Capability::Http]));
        assert_eq!(info.checks[1].description, "errors");
        assert!(!info.checks[1].blocking);
        assert!(info.checks[1].needs.is_empty());
    }

    #[test]
    fn run_check_maps_results_and_errors() {
        let ok = run_check(policy(), "ok").unwrap();
        assert!(matches!(ok.outcome, wit::Outcome::Pass));
        assert_eq!(ok.message, "fine");
        assert_eq!(
            run_check(policy(), "err").unwrap_err(),
            "secret `api_token` is not set: export GATE_SECRET_API_TOKEN"
        );
        assert_eq!(
            run_check(policy(), "x").unwrap_err(),
            "no check named `x` in policy `p`"
        );
        assert_eq!(policy().run_check("ok").unwrap().outcome, Outcome::Pass);
    }

    #[test]
    #[should_panic(expected = "already has a check named `ok`")]
    #[cfg(debug_assertions)]
    fn duplicate_names_are_caught_in_debug_builds() {
        let _ = policy().check(Check::new("ok", "again", || Ok(CheckResult::pass("x"))));
    }

    #[test]
    fn names_gate_refuses_are_caught_by_its_rule() {
        let longest = "a".repeat(gate_units::MAX_NAME);
        for good in ["p95-latency", "prod.ready", "é", longest.as_str()] {
            assert_eq!(refusal(&[], good), None, "{good}");
        }
        let too_long = "a".repeat(gate_units::MAX_NAME + 1);
        for bad in [
            "",
            "p95 latency",
            " ready",
            "tab\there",
            "line\nbreak",
            "no\u{a0}break",
            "bell\u{7}",
            "api/health",
            "error,rate",
            "p*",
            too_long.as_str(),
        ] {
            let problem = refusal(&[], bad).unwrap_or_else(|| panic!("{bad:?} passed"));
            assert!(problem.contains(gate_units::NAME_RULE), "{problem}");
        }
        let ok = Check::new("ok", "", || Ok(CheckResult::pass("x")));
        assert!(
            refusal(&[ok], "ok")
                .unwrap()
                .starts_with("already has a check named `ok`")
        );
    }

    #[test]
    #[should_panic(expected = "policy `p` has a check named `p95 latency`, which gate refuses")]
    #[cfg(debug_assertions)]
    fn names_gate_refuses_are_caught_in_debug_builds() {
        let _ = policy().check(Check::new("p95 latency", "", || Ok(CheckResult::pass("x"))));
    }

    #[test]
    fn refusal_names_the_first_check_gate_refuses() {
        assert_eq!(policy().refusal(), None);
        let bad = policy()
            .push_unvetted(Check::new("p95 latency", "", || Ok(CheckResult::pass("x"))))
            .push_unvetted(Check::new("ok", "", || Ok(CheckResult::pass("x"))));
        let refusal = bad.refusal().unwrap();
        assert!(
            refusal.starts_with("policy `p` has a check named `p95 latency`"),
            "{refusal}"
        );
        let twice = policy().push_unvetted(Check::new("ok", "", || Ok(CheckResult::pass("x"))));
        assert!(
            twice
                .refusal()
                .unwrap()
                .starts_with("policy `p` already has a check named `ok`")
        );
    }
}
