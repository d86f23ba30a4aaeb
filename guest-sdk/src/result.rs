//! Verdicts: outcomes, measurements, limits and [`judge`].

use core::fmt;

use crate::__private::bindings::gate::policy::types as wit;

/// How a check ended, as the policy decided it.
///
/// The runner adds two outcomes of its own: `skipped` (a capability the check
/// needs was not granted) and `error` (the check returned an [`Error`],
/// trapped, or ran out of time or memory).
///
/// ```
/// use gate_sdk::{CheckResult, Outcome};
///
/// assert_eq!(CheckResult::warn("slow").outcome, Outcome::Warn);
/// assert_eq!(Outcome::Inconclusive.to_string(), "inconclusive");
/// ```
///
/// [`Error`]: crate::Error
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The check held.
    Pass,
    /// The check held, but something deserves attention.
    Warn,
    /// The check did not hold.
    Fail,
    /// The check ran but could not tell (nothing could be measured).
    Inconclusive,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
        })
    }
}

impl Outcome {
    fn to_wit(self) -> wit::Outcome {
        match self {
            Outcome::Pass => wit::Outcome::Pass,
            Outcome::Warn => wit::Outcome::Warn,
            Outcome::Fail => wit::Outcome::Fail,
            Outcome::Inconclusive => wit::Outcome::Inconclusive,
        }
    }
}

/// One measured value, shown beside the verdict so that a failure says why.
///
/// ```
/// use gate_sdk::Measurement;
///
/// let m = Measurement::new("latency_avg", 123.4, "ms").threshold("< 500");
/// assert_eq!(m.threshold.as_deref(), Some("< 500"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// What was measured, e.g. `error_rate` or `latency_avg`.
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// Unit of `value`, e.g. `ms`, `ratio`, `%`; empty when unitless.
    pub unit: String,
    /// The bound the value was compared with, as text, e.g. `< 500`.
    pub threshold: Option<String>,
}

impl Measurement {
    /// A measurement without a threshold.
    ///
    /// ```
    /// use gate_sdk::Measurement;
    ///
    /// let m = Measurement::new("products", 42.0, "");
    /// assert_eq!((m.name.as_str(), m.value, m.threshold), ("products", 42.0, None));
    /// ```
    pub fn new(name: impl Into<String>, value: f64, unit: impl Into<String>) -> Self {
        Measurement {
            name: name.into(),
            value,
            unit: unit.into(),
            threshold: None,
        }
    }

    /// Sets the bound the value was compared with, e.g. a [`Limit`]'s text.
    ///
    /// ```
    /// use gate_sdk::{Limit, Measurement};
    ///
    /// let m = Measurement::new("latency_p95", 480.0, "ms").threshold(Limit::Below(800.0).to_string());
    /// assert_eq!(m.threshold.as_deref(), Some("< 800"));
    /// ```
    pub fn threshold(mut self, threshold: impl Into<String>) -> Self {
        self.threshold = Some(threshold.into());
        self
    }

    fn to_wit(&self) -> wit::Measurement {
        wit::Measurement {
            name: self.name.clone(),
            value: self.value,
            unit: self.unit.clone(),
            threshold: self.threshold.clone(),
        }
    }
}

/// What a check decided: an outcome, one line for people, and measurements.
///
/// ```
/// use gate_sdk::{CheckResult, Measurement, Outcome};
///
/// let result = CheckResult::pass("42 products listed")
///     .with(Measurement::new("products", 42.0, ""));
/// assert_eq!(result.outcome, Outcome::Pass);
/// assert_eq!(result.measurements.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// The verdict.
    pub outcome: Outcome,
    /// One line: what was checked and what was seen.
    pub message: String,
    /// Values measured along the way.
    pub measurements: Vec<Measurement>,
}

impl CheckResult {
    /// A result with the given outcome and message and no measurements.
    ///
    /// ```
    /// use gate_sdk::{CheckResult, Outcome};
    ///
    /// let result = CheckResult::new(Outcome::Fail, "no products listed");
    /// assert_eq!(result, CheckResult::fail("no products listed"));
    /// ```
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Self {
        CheckResult {
            outcome,
            message: message.into(),
            measurements: Vec::new(),
        }
    }

    /// The check held.
    ///
    /// ```
    /// use gate_sdk::{CheckResult, Outcome};
    ///
    /// assert_eq!(CheckResult::pass("/health answered 200").outcome, Outcome::Pass);
    /// ```
    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Outcome::Pass, message)
    }

    /// The check held, with a caveat.
    ///
    /// ```
    /// use gate_sdk::{CheckResult, Outcome};
    ///
    /// assert_eq!(CheckResult::warn("certificate expires in 20 days").outcome, Outcome::Warn);
    /// ```
    pub fn warn(message: impl Into<String>) -> Self {
        Self::new(Outcome::Warn, message)
    }

    /// The check did not hold.
    ///
    /// ```
    /// use gate_sdk::{CheckResult, Outcome};
    ///
    /// assert_eq!(CheckResult::fail("/ready answered 503").outcome, Outcome::Fail);
    /// ```
    pub fn fail(message: impl Into<String>) -> Self {
        Self::new(Outcome::Fail, message)
    }

    /// The check could not tell, e.g. because nothing could be measured.
    ///
    /// ```
    /// use gate_sdk::{CheckResult, Outcome};
    ///
    /// let result = CheckResult::inconclusive("no request completed");
    /// assert_eq!(result.outcome, Outcome::Inconclusive);
    /// ```
    pub fn inconclusive(message: impl Into<String>) -> Self {
        Self::new(Outcome::Inconclusive, message)
    }

    /// Attaches a measurement.
    ///
    /// ```
    /// use gate_sdk::{CheckResult, Measurement};
    ///
    /// let result = CheckResult::pass("fast enough")
    ///     .with(Measurement::new("latency_p50", 80.0, "ms"))
    ///     .with(Measurement::new("latency_p95", 140.0, "ms"));
    /// assert_eq!(result.measurements[1].name, "latency_p95");
    /// ```
    pub fn with(mut self, measurement: Measurement) -> Self {
        self.measurements.push(measurement);
        self
    }

    /// Whether the outcome is [`Outcome::Pass`].
    ///
    /// ```
    /// use gate_sdk::CheckResult;
    ///
    /// assert!(CheckResult::pass("ok").is_pass());
    /// assert!(!CheckResult::warn("meh").is_pass());
    /// ```
    pub fn is_pass(&self) -> bool {
        self.outcome == Outcome::Pass
    }

    /// The result as gate reports it: a pass or warn that rests on a
    /// measurement that is not a finite number (NaN, ∞) is no pass, so gate
    /// turns it into inconclusive and says why. The mock host applies the
    /// same rule, so a unit test sees what a run would (natively only: in a
    /// run, gate applies it).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn into_gate_report(mut self) -> CheckResult {
        let passing = matches!(self.outcome, Outcome::Pass | Outcome::Warn);
        if passing && self.measurements.iter().any(|m| !m.value.is_finite()) {
            self.outcome = Outcome::Inconclusive;
            self.message.push_str(gate_units::NOT_FINITE_NOTE);
        }
        self
    }

    pub(crate) fn to_wit(&self) -> wit::CheckResult {
        wit::CheckResult {
            outcome: self.outcome.to_wit(),
            message: self.message.clone(),
            measurements: self.measurements.iter().map(Measurement::to_wit).collect(),
        }
    }
}

/// A bound on a measured value.
///
/// Its [`Display`](core::fmt::Display) text is what reports show as the
/// threshold.
///
/// ```
/// use gate_sdk::Limit;
///
/// let limit = Limit::Below(500.0);
/// assert!(limit.allows(499.9));
/// assert!(!limit.allows(500.0));
/// assert_eq!(limit.to_string(), "< 500");
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// The value must be strictly below the bound (`< 500`).
    ///
    /// ```
    /// # use gate_sdk::Limit;
    /// assert!(!Limit::Below(500.0).allows(500.0));
    /// ```
    Below(f64),
    /// The value must not exceed the bound (`<= 500`).
    ///
    /// ```
    /// # use gate_sdk::Limit;
    /// assert!(Limit::AtMost(500.0).allows(500.0));
    /// ```
    AtMost(f64),
    /// The value must be strictly above the bound (`> 0`).
    ///
    /// ```
    /// # use gate_sdk::Limit;
    /// assert!(!Limit::Above(0.0).allows(0.0));
    /// ```
    Above(f64),
    /// The value must be at least the bound (`>= 14`).
    ///
    /// ```
    /// # use gate_sdk::Limit;
    /// assert!(Limit::AtLeast(14.0).allows(14.0));
    /// ```
    AtLeast(f64),
}

impl Limit {
    /// Whether `value` is within the limit. `NaN` is never allowed, so a value
    /// that could not be measured never passes.
    ///
    /// ```
    /// use gate_sdk::Limit;
    ///
    /// assert!(Limit::AtLeast(14.0).allows(30.0));
    /// assert!(!Limit::AtMost(1.0).allows(f64::NAN));
    /// assert!(!Limit::Above(1.0).allows(f64::NAN));
    /// ```
    pub fn allows(self, value: f64) -> bool {
        // Every comparison with NaN is false, so NaN fails all four.
        match self {
            Limit::Below(bound) => value < bound,
            Limit::AtMost(bound) => value <= bound,
            Limit::Above(bound) => value > bound,
            Limit::AtLeast(bound) => value >= bound,
        }
    }

    /// The bound, without its comparison.
    ///
    /// ```
    /// use gate_sdk::Limit;
    ///
    /// assert_eq!(Limit::AtLeast(14.0).bound(), 14.0);
    /// ```
    pub fn bound(self) -> f64 {
        match self {
            Limit::Below(bound)
            | Limit::AtMost(bound)
            | Limit::Above(bound)
            | Limit::AtLeast(bound) => bound,
        }
    }

    fn is_upper(self) -> bool {
        matches!(self, Limit::Below(_) | Limit::AtMost(_))
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self {
            Limit::Below(_) => "<",
            Limit::AtMost(_) => "<=",
            Limit::Above(_) => ">",
            Limit::AtLeast(_) => ">=",
        };
        // `{}` on f64 prints the shortest exact form: 500 → "500", 0.01 → "0.01".
        write!(f, "{op} {}", self.bound())
    }
}

/// Compares a measured value with a limit and says so in one line.
///
/// * within the limit: [`Outcome::Pass`], e.g. `latency_avg 123.4 ms (< 500 ms)`;
/// * outside: [`Outcome::Fail`], e.g. `latency_avg 612.0 ms exceeds limit < 500 ms`;
/// * `NaN` or infinite (nothing measured): [`Outcome::Inconclusive`],
///   `could not measure latency_avg`. Such a value never passes.
///
/// A value within a rounding of the limit gets the decimals it takes not to
/// read as the limit: `latency_avg 499.96 ms (< 500 ms)`, never `500.0 ms`.
///
/// The result always carries a [`Measurement`] whose threshold is the limit's
/// text. Add context to the message or more measurements as needed.
///
/// ```
/// use gate_sdk::{judge, Limit, Outcome};
///
/// let ok = judge("latency_avg", 123.4, "ms", Limit::Below(500.0));
/// assert_eq!(ok.outcome, Outcome::Pass);
/// assert_eq!(ok.message, "latency_avg 123.4 ms (< 500 ms)");
/// assert_eq!(ok.measurements[0].threshold.as_deref(), Some("< 500"));
///
/// let slow = judge("latency_avg", 612.0, "ms", Limit::Below(500.0));
/// assert_eq!(slow.outcome, Outcome::Fail);
/// assert_eq!(slow.message, "latency_avg 612.0 ms exceeds limit < 500 ms");
///
/// let unknown = judge("latency_avg", f64::NAN, "ms", Limit::Below(500.0));
/// assert_eq!(unknown.outcome, Outcome::Inconclusive);
/// ```
pub fn judge(name: &str, value: f64, unit: &str, limit: Limit) -> CheckResult {
    let measurement = Measurement::new(name, value, unit).threshold(limit.to_string());
    let result = if !value.is_finite() {
        CheckResult::inconclusive(format!("could not measure {name}"))
    } else {
        let value = with_unit(&format_against(value, limit.bound()), unit);
        let limit_text = with_unit(&limit.to_string(), unit);
        if limit.allows(measurement.value) {
            CheckResult::pass(format!("{name} {value} ({limit_text})"))
        } else if limit.is_upper() {
            CheckResult::fail(format!("{name} {value} exceeds limit {limit_text}"))
        } else {
            CheckResult::fail(format!("{name} {value} falls short of limit {limit_text}"))
        }
    };
    result.with(measurement)
}

fn with_unit(value: &str, unit: &str) -> String {
    if unit.is_empty() {
        value.to_owned()
    } else {
        format!("{value} {unit}")
    }
}

/// Formats a measured value for people: `decimals` decimals from 1 upwards
/// (latencies in ms), at least three significant digits below 1 (ratios), so
/// that `0.0123` does not print as `0.0`, as the runner's reports write them
/// (gate-units). The exact value travels in the measurement.
fn format_value(value: f64, decimals: usize) -> String {
    if value.abs() >= 1.0 || !value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        gate_units::format_decimal(value, decimals, 3)
    }
}

/// Past this many decimals a value that still reads as its bound is shown
/// exactly.
const MAX_DECIMALS: usize = 12;

/// A measured value shown beside `bound` (which a [`Limit`] writes
/// exactly): one decimal from 1 upwards, three significant digits below
/// (see [`format_value`]), and as many more decimals as it takes not to read
/// as the bound when it is not: rounded, 499.96 would be `500.0 ms (< 500
/// ms)` on a pass, and 0.010004 `0.01 exceeds limit < 0.01` on a failure.
pub(crate) fn format_against(value: f64, bound: f64) -> String {
    let reads_as_bound = |text: &String| value != bound && text.parse::<f64>() == Ok(bound);
    (1..=MAX_DECIMALS)
        .map(|decimals| format_value(value, decimals))
        .find(|text| !reads_as_bound(text))
        .unwrap_or_else(|| {
            // `Display` writes the shortest text that reads back as the
            // value itself, which is not the bound; but never with an
            // exponent, so 1e-300 would be 300 zeros.
            let exact = value.to_string();
            if exact.len() > 24 {
                format!("{value:e}")
            } else {
                exact
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_compare_and_display() {
        assert!(Limit::Below(500.0).allows(499.0));
        assert!(!Limit::Below(500.0).allows(500.0));
        assert!(Limit::AtMost(500.0).allows(500.0));
        assert!(!Limit::AtMost(500.0).allows(500.1));
        assert!(Limit::Above(0.0).allows(0.1));
        assert!(!Limit::Above(0.0).allows(0.0));
        assert!(Limit::AtLeast(14.0).allows(14.0));
        assert!(!Limit::AtLeast(14.0).allows(13.9));
        assert_eq!(Limit::Below(500.0).to_string(), "< 500");
        assert_eq!(Limit::AtMost(500.0).to_string(), "<= 500");
        assert_eq!(Limit::Above(0.0).to_string(), "> 0");
        assert_eq!(Limit::AtLeast(14.0).to_string(), ">= 14");
        assert_eq!(Limit::Below(0.01).to_string(), "< 0.01");
    }

    #[test]
    fn nan_is_never_allowed() {
        for limit in [
            Limit::Below(1.0),
            Limit::AtMost(1.0),
            Limit::Above(1.0),
            Limit::AtLeast(1.0),
            Limit::Below(f64::INFINITY),
            Limit::AtLeast(f64::NEG_INFINITY),
        ] {
            assert!(!limit.allows(f64::NAN), "{limit} allowed NaN");
        }
    }

    #[test]
    fn judge_passes_and_fails() {
        let pass = judge("latency_avg", 123.4, "ms", Limit::Below(500.0));
        assert_eq!(pass.outcome, Outcome::Pass);
        assert_eq!(pass.message, "latency_avg 123.4 ms (< 500 ms)");
        assert_eq!(
            pass.measurements,
            vec![Measurement::new("latency_avg", 123.4, "ms").threshold("< 500")]
        );

        let fail = judge("latency_avg", 612.0, "ms", Limit::Below(500.0));
        assert_eq!(fail.outcome, Outcome::Fail);
        assert!(fail.message.contains("612.0 ms"));
        assert!(fail.message.contains("< 500 ms"));

        let short = judge("cert_days_left", 3.0, "days", Limit::AtLeast(14.0));
        assert_eq!(short.outcome, Outcome::Fail);
        assert_eq!(
            short.message,
            "cert_days_left 3.0 days falls short of limit >= 14 days"
        );

        let rate = judge("error_rate", 0.0125, "ratio", Limit::Below(0.01));
        assert_eq!(rate.outcome, Outcome::Fail);
        assert_eq!(
            rate.message,
            "error_rate 0.0125 ratio exceeds limit < 0.01 ratio"
        );

        let unitless = judge("products", 3.0, "", Limit::Above(0.0));
        assert_eq!(unitless.message, "products 3.0 (> 0)");
    }

    #[test]
    fn judge_never_passes_unmeasured_values() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            for limit in [Limit::Below(500.0), Limit::Above(0.0)] {
                let result = judge("latency_avg", value, "ms", limit);
                assert_eq!(result.outcome, Outcome::Inconclusive);
                assert_eq!(result.message, "could not measure latency_avg");
                assert_eq!(result.measurements.len(), 1);
                assert_eq!(
                    result.measurements[0].threshold.as_deref(),
                    Some(limit.to_string().as_str())
                );
            }
        }
    }

    #[test]
    fn a_value_never_reads_as_the_bound_it_is_not() {
        let pass = judge("latency_avg", 499.96, "ms", Limit::Below(500.0));
        assert_eq!(pass.outcome, Outcome::Pass);
        assert_eq!(pass.message, "latency_avg 499.96 ms (< 500 ms)");
        let fail = judge("error_rate", 0.010004, "ratio", Limit::Below(0.01));
        assert_eq!(fail.outcome, Outcome::Fail);
        assert_eq!(
            fail.message,
            "error_rate 0.010004 ratio exceeds limit < 0.01 ratio"
        );
        // On the bound itself, or far from it, nothing changes.
        assert_eq!(format_against(500.0, 500.0), "500.0");
        assert_eq!(format_against(612.04, 500.0), "612.0");
        assert_eq!(format_against(0.0125, 0.01), "0.0125");
        // Closer than 12 decimals tell: exactly.
        assert_eq!(format_against(500.0 + 1e-10, 500.0), "500.0000000001");
        let next = f64::from_bits(500f64.to_bits() + 1);
        assert_eq!(format_against(next, 500.0), next.to_string());
        assert_ne!(format_against(next, 500.0).parse::<f64>(), Ok(500.0));
    }

    #[test]
    fn gate_never_passes_an_unmeasured_value() {
        let nan = CheckResult::pass("fine").with(Measurement::new("p95", f64::NAN, "ms"));
        let reported = nan.into_gate_report();
        assert_eq!(reported.outcome, Outcome::Inconclusive);
        assert_eq!(
            reported.message,
            "fine [gate: a measurement is not a finite number, so this cannot pass]"
        );
        let warn = CheckResult::warn("slow").with(Measurement::new("p95", f64::INFINITY, "ms"));
        assert_eq!(warn.into_gate_report().outcome, Outcome::Inconclusive);
        // A failure stays one, and a finite pass a pass.
        let fail = CheckResult::fail("down").with(Measurement::new("p95", f64::NAN, "ms"));
        let reported = fail.into_gate_report();
        assert_eq!(
            (reported.outcome, reported.message.as_str()),
            (Outcome::Fail, "down")
        );
        let pass = CheckResult::pass("ok").with(Measurement::new("p95", 80.0, "ms"));
        assert_eq!(pass.clone().into_gate_report(), pass);
    }

    #[test]
    fn values_format_readably() {
        assert_eq!(format_value(612.0, 1), "612.0");
        assert_eq!(format_value(123.45, 1), "123.5");
        assert_eq!(format_value(0.0, 1), "0");
        assert_eq!(format_value(0.5, 1), "0.5");
        assert_eq!(format_value(0.0123, 1), "0.0123");
        assert_eq!(format_value(0.012345, 1), "0.0123");
        assert_eq!(format_value(-0.25, 1), "-0.25");
        // Not 0, which would read as equal to a limit of 0.
        assert_eq!(format_value(1e-300, 1), "1e-300");
    }
}
