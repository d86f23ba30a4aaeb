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

/// Why a run (or a watch round) decided nothing, if it did not: a policy
/// with blocking checks none of which ran to `pass` or `warn` (a smoke
/// suite that passed does not stand in for a rollback trigger whose checks
/// were all skipped for want of Prometheus), or no blocking check that ran
/// to one at all. A policy with no blocking check in the run (none
/// written, or `--skip-check` left it only non-blocking ones) changes
/// nothing, as its non-blocking checks do not.
pub fn undecided(policies: &[PolicyReport]) -> Option<String> {
    let decided = |c: &crate::report::CheckReport| {
        c.blocking && matches!(c.outcome, Outcome::Pass | Outcome::Warn)
    };
    let names: Vec<&str> = policies
        .iter()
        .filter(|p| p.checks.iter().any(|c| c.blocking))
        .filter(|p| !p.checks.iter().any(decided))
        .map(|p| p.name.as_str())
        .collect();
    let anywhere = policies.iter().flat_map(|p| &p.checks).any(decided);
    if names.is_empty() && anywhere {
        return None;
    }
    if names.is_empty() && !policies.is_empty() {
        // Not one blocking check in the run: none was skipped, there was
        // none to run.
        let listed: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
        return Some(format!(
            "no blocking check ran to a decision: the run has none (policy {}: non-blocking \
             checks only, which never decide, or no checks)",
            listed.join(", ")
        ));
    }
    let whose = if names.is_empty() || names.len() == policies.len() {
        String::new()
    } else {
        format!(" of policy {}", names.join(", "))
    };
    Some(format!(
        "no blocking check{whose} ran to a decision (all skipped, or none to run)"
    ))
}

/// Fails closed, in this order: any blocking `fail` or `error` fails the
/// run; else any blocking `inconclusive` makes it inconclusive; else a run
/// that decided nothing ([`undecided`]) is inconclusive too; else it
/// passes. Non-blocking checks never change the verdict, so a passing one
/// cannot stand in for blocking checks that were all skipped, and neither
/// can another policy's.
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
    let could_not_decide = named(&[Outcome::Inconclusive]);
    if !could_not_decide.is_empty() {
        return Verdict {
            decision: Decision::Inconclusive,
            exit_code: EXIT_INCONCLUSIVE,
            reason: format!(
                "blocking checks could not decide: {}",
                could_not_decide.join(", ")
            ),
        };
    }
    if let Some(reason) = undecided(policies) {
        return Verdict {
            decision: Decision::Inconclusive,
            exit_code: EXIT_INCONCLUSIVE,
            reason,
        };
    }
    let skipped = named(&[Outcome::Skipped]);
    let mut reason = if skipped.is_empty() {
        "every blocking check passed".to_owned()
    } else {
        format!(
            "every blocking check that ran passed; skipped: {} (--strict fails on these)",
            skipped.join(", ")
        )
    };
    // A pass said plainly to rest on some policies only: one with no
    // blocking check (a policy built wrong, or `--check` left it advice)
    // took no part in it.
    let advice: Vec<&str> = policies
        .iter()
        .filter(|p| !p.checks.iter().any(|c| c.blocking))
        .map(|p| p.name.as_str())
        .collect();
    if !advice.is_empty() {
        reason.push_str(&format!(
            "; not counted: policy {} (no blocking check in the run)",
            advice.join(", ")
        ));
    }
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

    /// Each policy decides for itself: a smoke suite that passed does not
    /// stand in for a rollback trigger whose blocking checks were all
    /// skipped (no Prometheus granted).
    #[test]
    fn another_policy_does_not_stand_in_for_a_skipped_one() {
        use Outcome::*;
        let mut run = policy(vec![check("health", true, Pass)]);
        let mut trigger = policy(vec![
            check("error-rate", true, Skipped),
            check("p95", false, Pass),
        ])
        .remove(0);
        trigger.name = "rollback".into();
        run.push(trigger);
        let v = decide(&run);
        assert_eq!(v.exit_code, 3, "{}", v.reason);
        assert_eq!(
            v.reason,
            "no blocking check of policy rollback ran to a decision (all skipped, or none to run)"
        );
        run[1].checks[0].outcome = Pass;
        assert_eq!(decide(&run).exit_code, 0);
        run[1].checks[0].outcome = Fail;
        assert_eq!(decide(&run).exit_code, 1);
        // A policy left only non-blocking checks (by --skip-check, or as
        // written) changes nothing beside one that decided.
        run[1].checks.remove(0);
        assert_eq!(decide(&run).exit_code, 0, "{}", decide(&run).reason);
        // The pass says it did not rest on that policy.
        assert!(
            decide(&run)
                .reason
                .ends_with("; not counted: policy rollback (no blocking check in the run)"),
            "{}",
            decide(&run).reason
        );
        // Alone, it decides nothing, and the reason says why.
        assert_eq!(decide(&run[1..]).exit_code, 3);
        assert_eq!(
            decide(&run[1..]).reason,
            "no blocking check ran to a decision: the run has none (policy rollback: \
             non-blocking checks only, which never decide, or no checks)"
        );
    }
}
