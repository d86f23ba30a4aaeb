//! `--check` and `--skip-check`: running some of a run's checks rather than
//! all of them.
//!
//! A name that picks nothing is an error, not an empty run: a typo in
//! `--check` must not turn into a green verdict over zero checks, nor one in
//! `--skip-check` into a run of the check it meant to leave out.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::runtime::LoadedPolicy;

/// One `--check` or `--skip-check`: `NAME` or `POLICY/NAME`, each part a glob where `*`
/// stands for any run of characters. A check's own name may hold a `/`, so
/// the whole text is also tried against the check's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckPattern {
    text: String,
}

impl CheckPattern {
    /// Parses `--check`'s and `--skip-check`'s value (clap's value parser).
    pub fn parse(text: &str) -> Result<CheckPattern, String> {
        if text.trim().is_empty() {
            return Err(
                "give a check's name (`error-rate`, `http-*`) or POLICY/NAME (`prod/error-rate`)"
                    .into(),
            );
        }
        Ok(CheckPattern {
            text: text.to_owned(),
        })
    }

    fn matches(&self, policy: &str, check: &str) -> bool {
        glob(&self.text, check)
            || self
                .text
                .split_once('/')
                .is_some_and(|(p, c)| glob(p, policy) && glob(c, check))
    }
}

impl fmt::Display for CheckPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The names `--check` and `--skip-check` were given, as the run report,
/// the window report and the decision log keep them (flattened into each):
/// both empty for a run of every check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names {
    /// `--check`: only the checks these name ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_checks: Vec<String>,
    /// `--skip-check`: the checks these name were left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_checks: Vec<String>,
}

impl Names {
    /// Whether only some of the policies' checks ran.
    pub fn is_partial(&self) -> bool {
        !self.only_checks.is_empty() || !self.skip_checks.is_empty()
    }
}

/// What `--check` and `--skip-check` left of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// The names given; none when every check runs.
    pub names: Names,
    /// Checks that run, of how many the policies have.
    pub selected: usize,
    pub total: usize,
}

impl Selection {
    /// What the verdict's reason gains, so that every report, the decision
    /// log and the webhook say the verdict covers part of the policies.
    pub fn note(&self) -> Option<String> {
        let mut given = Vec::new();
        if !self.names.only_checks.is_empty() {
            given.push(format!("--check {}", self.names.only_checks.join(", ")));
        }
        if !self.names.skip_checks.is_empty() {
            given.push(format!(
                "--skip-check {}",
                self.names.skip_checks.join(", ")
            ));
        }
        (!given.is_empty()).then(|| {
            format!(
                "only {} of {} checks ran ({})",
                self.selected,
                self.total,
                given.join("; ")
            )
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error("{flag} {pattern} names no check of {available}")]
    NoSuchCheck {
        flag: &'static str,
        pattern: String,
        available: String,
    },
    #[error("--check and --skip-check leave no check to run of {available}")]
    NothingLeft { available: String },
}

/// Keeps, of `policies`, the checks `checks` names (all when it is empty)
/// that `skips` does not, and the policies left with any. Every name must
/// pick at least one check, and when any is given, some check must be left.
pub fn select(
    policies: &mut Vec<LoadedPolicy>,
    checks: &[CheckPattern],
    skips: &[CheckPattern],
) -> Result<Selection, SelectionError> {
    let total = policies.iter().map(|p| p.info.checks.len()).sum();
    if checks.is_empty() && skips.is_empty() {
        // Nothing named: the run is whole, even of a policy that declares
        // no checks (the verdict then says no blocking check ran to a decision).
        return Ok(Selection {
            names: Names::default(),
            selected: total,
            total,
        });
    }
    for (flag, patterns) in [("--check", checks), ("--skip-check", skips)] {
        if let Some(pattern) = patterns
            .iter()
            .find(|pattern| !any_check(policies, |p, c| pattern.matches(p, c)))
        {
            return Err(SelectionError::NoSuchCheck {
                flag,
                pattern: pattern.to_string(),
                available: available(policies),
            });
        }
    }
    let keep = |policy: &str, check: &str| {
        (checks.is_empty() || checks.iter().any(|p| p.matches(policy, check)))
            && !skips.iter().any(|p| p.matches(policy, check))
    };
    if !any_check(policies, keep) {
        return Err(SelectionError::NothingLeft {
            available: available(policies),
        });
    }
    for policy in policies.iter_mut() {
        let name = policy.info.name.clone();
        policy.info.checks.retain(|c| keep(&name, &c.name));
    }
    policies.retain(|p| !p.info.checks.is_empty());
    let selected = policies.iter().map(|p| p.info.checks.len()).sum();
    // Names that pick every check make a whole run, counted as one.
    let given = |patterns: &[CheckPattern]| -> Vec<String> {
        if selected == total {
            Vec::new()
        } else {
            patterns.iter().map(ToString::to_string).collect()
        }
    };
    Ok(Selection {
        names: Names {
            only_checks: given(checks),
            skip_checks: given(skips),
        },
        selected,
        total,
    })
}

/// Whether `test(policy name, check name)` holds for any check of any policy.
fn any_check(policies: &[LoadedPolicy], test: impl Fn(&str, &str) -> bool) -> bool {
    policies
        .iter()
        .any(|p| p.info.checks.iter().any(|c| test(&p.info.name, &c.name)))
}

/// `prod: error-rate, p99-latency; smoke: health` — what could be named.
fn available(policies: &[LoadedPolicy]) -> String {
    policies
        .iter()
        .map(|p| {
            let checks: Vec<&str> = p.info.checks.iter().map(|c| c.name.as_str()).collect();
            format!("{}: {}", p.info.name, checks.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether `text` matches `pattern`, where `*` matches any run of
/// characters (none included) and everything else only itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    // Without a `*`, the one part must be the whole text.
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts = parts.peekable();
    if parts.peek().is_none() {
        return rest.is_empty();
    }
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            // The last part ends the text.
            return rest.len() >= part.len() && rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::{CheckPattern, glob};

    #[test]
    fn a_star_matches_any_run_of_characters_and_nothing_else_is_special() {
        assert!(glob("error-rate", "error-rate"));
        assert!(!glob("error-rate", "error-rates"));
        assert!(!glob("error", "error-rate"));
        assert!(glob("http-*", "http-health"));
        assert!(glob("http-*", "http-"));
        assert!(!glob("http-*", "https-health"));
        assert!(glob("*-rate", "error-rate"));
        assert!(!glob("*-rate", "error-rates"));
        assert!(glob("*", "anything"));
        assert!(glob("a*b*c", "abc"));
        assert!(glob("a*b*c", "a-x-b-y-c"));
        assert!(!glob("a*b*c", "a-x-c-y-b"));
        // The last part may not reuse what a middle part matched.
        assert!(!glob("*ab*ab", "ab"));
        assert!(glob("*ab*ab", "abab"));
        assert!(!glob("p99?", "p99a"));
    }

    #[test]
    fn a_pattern_names_a_check_or_a_policy_and_its_check() {
        let pattern = CheckPattern::parse("prod/error-*").unwrap();
        assert!(pattern.matches("prod", "error-rate"));
        assert!(!pattern.matches("smoke", "error-rate"));
        assert_eq!(pattern.to_string(), "prod/error-*");

        let any_policy = CheckPattern::parse("health").unwrap();
        assert!(any_policy.matches("prod", "health"));
        assert!(any_policy.matches("smoke", "health"));

        // A check's name may itself hold a `/`.
        let slashed = CheckPattern::parse("v1/health").unwrap();
        assert!(slashed.matches("smoke", "v1/health"));
        assert!(
            !CheckPattern::parse("prod/")
                .unwrap()
                .matches("prod", "health")
        );

        for bad in ["", " "] {
            let error = CheckPattern::parse(bad).unwrap_err();
            assert!(error.contains("POLICY/NAME"), "{bad:?}: {error}");
        }
    }
}
