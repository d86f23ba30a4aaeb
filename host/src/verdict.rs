//! One verdict from all checks of a run, and the exit code that carries it.

use serde::Serialize;

use crate::report::{Outcome, PolicyReport};

/// Promote / healthy: every blocking check passed (warnings allowed).
pub const EXIT_PASS: i32 = 0;
/// Do not promote / roll back: a blocking check failed or errored.
pub const EXIT_FAIL: i32 = 1;
/// gate could not run: bad arguments, bad config, a policy failed to load.
pub const EXIT_UNUSABLE: i32 = 2;
/// Nothing failed, but a blocking check could not decide.
pub const EXIT_INCONCLUSIVE: i32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    /// `pass`, `fail` or `inconclusive`.
    pub fn decision_word(&self) -> &'static str {
        match self.decision {
            Decision::Pass => "pass",
            Decision::Fail => "fail",
            Decision::Inconclusive => "inconclusive",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    pub exit_code: i32,
    pub reason: String,
}

/// Fails closed, in this order: any blocking `fail` or `error` fails the
/// run; else any blocking `inconclusive` makes it inconclusive; else a run
/// in which no blocking check decided anything is inconclusive too; else it
/// passes. Non-blocking checks never change the verdict, so a passing one
/// cannot stand in for blocking checks that were all skipped.
pub fn decide(policies: &[PolicyReport]) -> Verdict {
    let blocking = || {
        policies
            .iter()
            .flat_map(|p| p.checks.iter().filter(|c| c.blocking).map(move |c| (p, c)))
    };
    let named = |outcomes: &[Outcome]| -> Vec<String> {
        blocking()
            .filter(|(_, c)| outcomes.contains(&c.outcome))
            .map(|(p, c)| format!("{}/{} ({})", p.name, c.name, c.outcome))
            .collect()
    };

    let failed = named(&[Outcome::Fail, Outcome::Error]);
    if !failed.is_empty() {
        return Verdict {
            decision: Decision::Fail,
            exit_code: EXIT_FAIL,
            reason: format!("blocking checks did not pass: {}", failed.join(", ")),
        };
    }
    let undecided = named(&[Outcome::Inconclusive]);
    if !undecided.is_empty() {
        return Verdict {
            decision: Decision::Inconclusive,
            exit_code: EXIT_INCONCLUSIVE,
            reason: format!("blocking checks could not decide: {}", undecided.join(", ")),
        };
    }
    let decided = blocking().any(|(_, c)| matches!(c.outcome, Outcome::Pass | Outcome::Warn));
    if !decided {
        return Verdict {
            decision: Decision::Inconclusive,
            exit_code: EXIT_INCONCLUSIVE,
            reason: "no blocking check ran to a decision (all skipped, or none to run)".into(),
        };
    }
    let skipped = named(&[Outcome::Skipped]);
    let reason = if skipped.is_empty() {
        "every blocking check passed".to_owned()
    } else {
        format!(
            "every blocking check that ran passed; skipped: {} (--strict fails on these)",
            skipped.join(", ")
        )
    };
    Verdict {
        decision: Decision::Pass,
        exit_code: EXIT_PASS,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CheckReport;

    fn check(name: &str, blocking: bool, outcome: Outcome) -> CheckReport {
        CheckReport {
            name: name.into(),
            description: String::new(),
            blocking,
            needs: vec![],
            outcome,
            message: String::new(),
            error: None,
            measurements: vec![],
            duration_ms: 0.0,
            attempts: None,
            earlier_attempts: vec![],
            calls: vec![],
            log: vec![],
        }
    }

    fn policy(checks: Vec<CheckReport>) -> Vec<PolicyReport> {
        vec![PolicyReport {
            path: "p.wasm".into(),
            name: "p".into(),
            version: "1".into(),
            kind: "gate".into(),
            sha256: String::new(),
            wit_version: "0.1.0".into(),
            duration_ms: 0.0,
            checks,
        }]
    }

    #[test]
    fn precedence() {
        use Outcome::*;
        let v = decide(&policy(vec![
            check("a", true, Pass),
            check("b", true, Warn),
        ]));
        assert_eq!((v.decision, v.exit_code), (Decision::Pass, 0));
        let v = decide(&policy(vec![
            check("a", true, Inconclusive),
            check("b", true, Error),
        ]));
        assert_eq!((v.decision, v.exit_code), (Decision::Fail, 1));
        assert!(v.reason.contains("p/b (error)"), "{}", v.reason);
        let v = decide(&policy(vec![
            check("a", true, Pass),
            check("b", true, Inconclusive),
        ]));
        assert_eq!(v.exit_code, 3);
        let v = decide(&policy(vec![
            check("a", false, Fail),
            check("b", true, Pass),
        ]));
        assert_eq!(v.exit_code, 0);
        let v = decide(&policy(vec![check("a", true, Skipped)]));
        assert_eq!(v.exit_code, 3, "nothing decided is never a pass");
        let v = decide(&policy(vec![]));
        assert_eq!(v.exit_code, 3);
        let v = decide(&policy(vec![
            check("a", true, Skipped),
            check("b", true, Pass),
        ]));
        assert_eq!(v.exit_code, 0);
        assert!(v.reason.contains("--strict"));
        // A non-blocking pass decides nothing: with every blocking check
        // skipped, the run could not measure what gates it.
        let v = decide(&policy(vec![
            check("a", true, Skipped),
            check("b", false, Pass),
        ]));
        assert_eq!(v.exit_code, 3, "{}", v.reason);
        assert!(v.reason.contains("no blocking check ran"), "{}", v.reason);
        let v = decide(&policy(vec![check("b", false, Warn)]));
        assert_eq!(v.exit_code, 3, "{}", v.reason);
    }
}
