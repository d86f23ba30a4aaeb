//! `gate watch`: runs a trigger policy round after round over a bake window
//! and decides healthy, roll back or inconclusive, with stricter semantics
//! than Argo Rollouts analysis: errors are never healthy.

use std::fmt;

use serde::Serialize;

use crate::report::{Outcome, PolicyReport};

/// What a round of checks amounted to, by its worst blocking check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RoundOutcome {
    Pass,
    Fail,
    Error,
    Inconclusive,
}

impl RoundOutcome {
    /// A blocking `fail` makes the round fail; else a blocking `error` makes
    /// it error; else a blocking `inconclusive`, or nothing decided at all,
    /// makes it inconclusive.
    pub fn of(policies: &[PolicyReport]) -> RoundOutcome {
        let blocking = || {
            policies
                .iter()
                .flat_map(|p| &p.checks)
                .filter(|c| c.blocking)
        };
        let any = |outcome: Outcome| blocking().any(|c| c.outcome == outcome);
        if any(Outcome::Fail) {
            RoundOutcome::Fail
        } else if any(Outcome::Error) {
            RoundOutcome::Error
        } else if any(Outcome::Inconclusive)
            || !policies
                .iter()
                .flat_map(|p| &p.checks)
                .any(|c| matches!(c.outcome, Outcome::Pass | Outcome::Warn))
        {
            RoundOutcome::Inconclusive
        } else {
            RoundOutcome::Pass
        }
    }
}

impl fmt::Display for RoundOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoundOutcome::Pass => "pass",
            RoundOutcome::Fail => "fail",
            RoundOutcome::Error => "error",
            RoundOutcome::Inconclusive => "inconclusive",
        })
    }
}

/// How much trouble a window tolerates before it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WatchLimits {
    /// Roll back when failed rounds exceed this.
    pub failure_limit: u32,
    /// End inconclusive when inconclusive rounds exceed this.
    pub inconclusive_limit: u32,
    /// Roll back when consecutive errored rounds exceed this.
    pub consecutive_error_limit: u32,
}

impl Default for WatchLimits {
    fn default() -> Self {
        WatchLimits {
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 2,
        }
    }
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchDecision {
    Healthy,
    Rollback,
    Inconclusive,
    Aborted,
}

impl WatchDecision {
    pub fn exit_code(self) -> i32 {
        match self {
            WatchDecision::Healthy => crate::verdict::EXIT_PASS,
            WatchDecision::Rollback => crate::verdict::EXIT_FAIL,
            WatchDecision::Inconclusive => crate::verdict::EXIT_INCONCLUSIVE,
            WatchDecision::Aborted => EXIT_ABORTED,
        }
    }
}

impl fmt::Display for WatchDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WatchDecision::Healthy => "healthy",
            WatchDecision::Rollback => "rollback",
            WatchDecision::Inconclusive => "inconclusive",
            WatchDecision::Aborted => "aborted",
        })
    }
}

/// Exit code of a watch stopped by SIGINT or SIGTERM (128 + SIGINT).
pub const EXIT_ABORTED: i32 = 130;

/// The counts a window keeps, and the decision they lead to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub rounds: u32,
    pub passed: u32,
    pub failed: u32,
    pub errored: u32,
    pub inconclusive: u32,
    pub consecutive_errors: u32,
}

impl Tally {
    /// Counts a finished round; `Some` when a limit is now exceeded, with
    /// the reason.
    pub fn record(
        &mut self,
        outcome: RoundOutcome,
        limits: &WatchLimits,
    ) -> Option<(WatchDecision, String)> {
        self.rounds += 1;
        match outcome {
            RoundOutcome::Pass => {
                self.passed += 1;
                self.consecutive_errors = 0;
            }
            RoundOutcome::Fail => {
                self.failed += 1;
                self.consecutive_errors = 0;
            }
            RoundOutcome::Error => {
                self.errored += 1;
                self.consecutive_errors += 1;
            }
            RoundOutcome::Inconclusive => {
                self.inconclusive += 1;
                self.consecutive_errors = 0;
            }
        }
        if self.failed > limits.failure_limit {
            return Some((
                WatchDecision::Rollback,
                format!(
                    "{} failed rounds exceed --failure-limit {}",
                    self.failed, limits.failure_limit
                ),
            ));
        }
        if self.consecutive_errors > limits.consecutive_error_limit {
            return Some((
                WatchDecision::Rollback,
                format!(
                    "{} consecutive errored rounds exceed --consecutive-error-limit {}",
                    self.consecutive_errors, limits.consecutive_error_limit
                ),
            ));
        }
        if self.inconclusive > limits.inconclusive_limit {
            return Some((
                WatchDecision::Inconclusive,
                format!(
                    "{} inconclusive rounds exceed --inconclusive-limit {}",
                    self.inconclusive, limits.inconclusive_limit
                ),
            ));
        }
        None
    }

    /// The decision of a window that ran to its end within every limit: healthy
    /// only if some round passed.
    pub fn at_end(&self) -> (WatchDecision, String) {
        if self.passed == 0 {
            (
                WatchDecision::Rollback,
                format!(
                    "no round passed in the whole window ({} errored, {} inconclusive): errors are never healthy",
                    self.errored, self.inconclusive
                ),
            )
        } else {
            (
                WatchDecision::Healthy,
                format!(
                    "{} of {} rounds passed, every limit respected",
                    self.passed, self.rounds
                ),
            )
        }
    }

    /// What is left of each limit, for the progress line.
    pub fn headroom(&self, limits: &WatchLimits) -> String {
        format!(
            "left: failures {}, inconclusive {}, consecutive errors {}",
            limits.failure_limit.saturating_sub(self.failed),
            limits.inconclusive_limit.saturating_sub(self.inconclusive),
            limits
                .consecutive_error_limit
                .saturating_sub(self.consecutive_errors),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoundOutcome::*;

    fn play(rounds: &[RoundOutcome], limits: WatchLimits) -> (WatchDecision, u32) {
        let mut tally = Tally::default();
        for outcome in rounds {
            if let Some((decision, _)) = tally.record(*outcome, &limits) {
                return (decision, tally.rounds);
            }
        }
        (tally.at_end().0, tally.rounds)
    }

    #[test]
    fn healthy_window() {
        assert_eq!(
            play(&[Pass, Pass, Pass], WatchLimits::default()),
            (WatchDecision::Healthy, 3)
        );
    }

    #[test]
    fn first_failure_rolls_back_by_default() {
        assert_eq!(
            play(&[Pass, Pass, Fail, Pass], WatchLimits::default()),
            (WatchDecision::Rollback, 3)
        );
        let tolerant = WatchLimits {
            failure_limit: 1,
            ..WatchLimits::default()
        };
        assert_eq!(
            play(&[Fail, Pass, Pass], tolerant),
            (WatchDecision::Healthy, 3)
        );
        assert_eq!(
            play(&[Fail, Pass, Fail], tolerant),
            (WatchDecision::Rollback, 3)
        );
    }

    #[test]
    fn errors_roll_back_after_the_consecutive_limit() {
        // Default E = 2: the third consecutive error rolls back.
        assert_eq!(
            play(&[Error, Error, Error, Pass], WatchLimits::default()),
            (WatchDecision::Rollback, 3)
        );
        assert_eq!(
            play(
                &[Error, Error, Pass, Error, Error, Pass],
                WatchLimits::default()
            ),
            (WatchDecision::Healthy, 6)
        );
    }

    #[test]
    fn a_window_of_errors_is_never_healthy() {
        let lenient = WatchLimits {
            consecutive_error_limit: 10,
            ..WatchLimits::default()
        };
        assert_eq!(
            play(&[Error, Error, Error], lenient),
            (WatchDecision::Rollback, 3)
        );
        let no_inconclusive_limit = WatchLimits {
            inconclusive_limit: 10,
            ..WatchLimits::default()
        };
        assert_eq!(
            play(&[Inconclusive, Inconclusive], no_inconclusive_limit),
            (WatchDecision::Rollback, 2)
        );
    }

    #[test]
    fn inconclusive_beyond_the_limit_ends_inconclusive() {
        assert_eq!(
            play(&[Pass, Inconclusive], WatchLimits::default()),
            (WatchDecision::Inconclusive, 2)
        );
        let one = WatchLimits {
            inconclusive_limit: 1,
            ..WatchLimits::default()
        };
        assert_eq!(
            play(&[Pass, Inconclusive, Pass], one),
            (WatchDecision::Healthy, 3)
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(WatchDecision::Healthy.exit_code(), 0);
        assert_eq!(WatchDecision::Rollback.exit_code(), 1);
        assert_eq!(WatchDecision::Inconclusive.exit_code(), 3);
        assert_eq!(WatchDecision::Aborted.exit_code(), 130);
    }
}
