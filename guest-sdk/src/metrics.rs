//! Prometheus queries, against the server the run grants with
//! `--prometheus URL`, and the judgements gates and triggers make of them.
//!
//! A check that queries Prometheus should declare
//! [`Capability::Metrics`](crate::Capability::Metrics): when the run grants
//! no Prometheus it is then `skipped` instead of failing on the denial.
//!
//! Two helpers cover most needs:
//!
//! * [`measure`]: one number now, compared with a [`Limit`] (promotion
//!   gates: "the 5xx ratio over the last 5 minutes is below 1 %").
//! * [`sustained`]: did a value stay beyond its limit for a whole window
//!   (rollback triggers: "the error rate was above 5 % for 5 minutes")?
//!
//! Neither ever passes on no data: an empty result is `inconclusive`.

use core::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::__private::bindings::gate::policy::metrics as wit;
use crate::result::format_against;
use crate::{CheckResult, Error, Limit, Measurement, Result};

/// One value at one instant.
///
/// ```
/// use gate_sdk::metrics::Sample;
///
/// let sample = Sample { timestamp: 1_700_000_000.0, value: 0.5 };
/// assert_eq!(sample.value, 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Unix time, in seconds.
    pub timestamp: f64,
    /// The value; NaN and ±Inf come through as Prometheus gives them.
    pub value: f64,
}

/// A labelled series: one sample for an instant query, many for a range.
///
/// ```
/// use gate_sdk::metrics::{Sample, Series};
///
/// let series = Series {
///     labels: vec![("job".into(), "api".into())],
///     samples: vec![Sample { timestamp: 1.0, value: 2.0 }],
/// };
/// assert_eq!(series.label("job"), Some("api"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Label names and values.
    pub labels: Vec<(String, String)>,
    /// Samples, oldest first.
    pub samples: Vec<Sample>,
}

impl Series {
    /// The value of label `name`.
    ///
    /// ```
    /// use gate_sdk::metrics::Series;
    ///
    /// let series = Series { labels: vec![("le".into(), "0.5".into())], samples: vec![] };
    /// assert_eq!(series.label("le"), Some("0.5"));
    /// assert_eq!(series.label("job"), None);
    /// ```
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a query returned.
///
/// ```
/// use gate_sdk::metrics::{QueryResult, Sample};
///
/// let result = QueryResult::Scalar(Sample { timestamp: 0.0, value: 1.0 });
/// assert_eq!(result.series().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// An instant vector: one sample per series.
    Vector(Vec<Series>),
    /// A range vector: the samples of the range per series.
    Matrix(Vec<Series>),
    /// A single number.
    Scalar(Sample),
}

impl QueryResult {
    /// The result as series (a scalar is one series without labels).
    ///
    /// ```
    /// use gate_sdk::metrics::QueryResult;
    ///
    /// assert!(QueryResult::Vector(vec![]).series().is_empty());
    /// ```
    pub fn series(self) -> Vec<Series> {
        match self {
            QueryResult::Vector(series) | QueryResult::Matrix(series) => series,
            QueryResult::Scalar(sample) => vec![Series {
                labels: Vec::new(),
                samples: vec![sample],
            }],
        }
    }
}

/// Why a query failed; mirrors the WIT `metrics-error`.
///
/// ```
/// use gate_sdk::metrics::MetricsError;
///
/// let error = MetricsError::NotGranted("no Prometheus: give --prometheus URL".into());
/// assert!(error.to_string().contains("--prometheus"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsError {
    /// The run grants no Prometheus; the text says which flag does.
    NotGranted(String),
    /// Prometheus could not be reached.
    Unreachable(String),
    /// Prometheus rejected the query, in its own words.
    BadQuery(String),
    /// No answer within this many milliseconds.
    Timeout(u32),
    /// Another non-success answer: status and message.
    Status(u16, String),
    /// An answer that could not be understood.
    InvalidResponse(String),
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsError::NotGranted(why) => write!(f, "metrics denied: {why}"),
            MetricsError::Unreachable(why) => f.write_str(why),
            MetricsError::BadQuery(why) => write!(f, "Prometheus rejected the query: {why}"),
            MetricsError::Timeout(ms) => write!(f, "Prometheus did not answer within {ms} ms"),
            MetricsError::Status(status, message) => {
                write!(f, "Prometheus answered {status}: {message}")
            }
            MetricsError::InvalidResponse(why) => {
                write!(f, "unexpected answer from Prometheus: {why}")
            }
        }
    }
}

impl std::error::Error for MetricsError {}

/// An instant query, evaluated now.
///
/// ```no_run
/// use gate_sdk::metrics;
///
/// let result = metrics::query("sum(up)")?;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn query(promql: &str) -> Result<QueryResult> {
    convert(crate::host::metrics_query(promql, None))
}

/// An instant query evaluated at `time` (Unix seconds).
///
/// ```no_run
/// use gate_sdk::metrics;
///
/// let an_hour_ago = metrics::now() - 3600.0;
/// let result = metrics::query_at("sum(up)", an_hour_ago)?;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn query_at(promql: &str, time: f64) -> Result<QueryResult> {
    convert(crate::host::metrics_query(promql, Some(time)))
}

/// A range query from `start` to `end` (Unix seconds), a point every `step`.
///
/// ```no_run
/// use std::time::Duration;
/// use gate_sdk::metrics;
///
/// let end = metrics::now();
/// let result = metrics::query_range("up", end - 300.0, end, Duration::from_secs(15))?;
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn query_range(promql: &str, start: f64, end: f64, step: Duration) -> Result<QueryResult> {
    convert(crate::host::metrics_query_range(
        promql,
        start,
        end,
        step.as_secs_f64(),
    ))
}

/// The current Unix time in seconds (the guest's wall clock).
///
/// ```
/// assert!(gate_sdk::metrics::now() > 1_600_000_000.0);
/// ```
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A duration in PromQL's syntax, for range selectors: `5m` → `300s`,
/// `1500ms` → `1500ms`.
///
/// ```
/// use std::time::Duration;
/// use gate_sdk::metrics::promql_duration;
///
/// assert_eq!(promql_duration(Duration::from_secs(300)), "300s");
/// assert_eq!(promql_duration(Duration::from_millis(1500)), "1500ms");
/// let query = format!("rate(http_requests_total[{}])", promql_duration(Duration::from_secs(60)));
/// assert_eq!(query, "rate(http_requests_total[60s])");
/// ```
pub fn promql_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The share of HTTP requests that answered 5xx over `window` (PromQL
/// duration, e.g. `5m`), for services exporting the conventional
/// `http_requests_total{status}` counter. A service with no 5xx series counts
/// as 0; no traffic at all gives NaN (0/0), which [`measure`] and
/// [`sustained`] treat as no measurement, never as a pass.
///
/// ```
/// let promql = gate_sdk::metrics::http_error_ratio("30s");
/// assert_eq!(
///     promql,
///     r#"(sum(rate(http_requests_total{status=~"5.."}[30s])) or vector(0)) / sum(rate(http_requests_total[30s]))"#
/// );
/// ```
pub fn http_error_ratio(window: &str) -> String {
    format!(
        r#"(sum(rate(http_requests_total{{status=~"5.."}}[{window}])) or vector(0)) / sum(rate(http_requests_total[{window}]))"#
    )
}

/// The `quantile` (0–1) of HTTP request latency over `window`, in
/// milliseconds, for services exporting the conventional
/// `http_request_duration_seconds` histogram.
///
/// ```
/// let promql = gate_sdk::metrics::http_latency_quantile_ms(0.95, "5m");
/// assert_eq!(
///     promql,
///     "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) * 1000"
/// );
/// ```
pub fn http_latency_quantile_ms(quantile: f64, window: &str) -> String {
    format!(
        "histogram_quantile({quantile}, sum by (le) (rate(http_request_duration_seconds_bucket[{window}]))) * 1000"
    )
}

/// The single number an instant query gives: a scalar, or a vector of one
/// series. `None` when the vector is empty (no data). A vector of several
/// series is an error: aggregate them (`sum`, `max`) in the query.
///
/// ```no_run
/// use gate_sdk::metrics;
///
/// match metrics::scalar("sum(rate(http_requests_total[5m]))")? {
///     Some(rate) => gate_sdk::log::info(format!("{rate} requests/s")),
///     None => gate_sdk::log::warn("no traffic recorded"),
/// }
/// # Ok::<(), gate_sdk::Error>(())
/// ```
pub fn scalar(promql: &str) -> Result<Option<f64>> {
    single_value(promql, query(promql)?)
}

fn single_value(promql: &str, result: QueryResult) -> Result<Option<f64>> {
    let series = result.series();
    match series.as_slice() {
        [] => Ok(None),
        [one] => Ok(one.samples.last().map(|s| s.value)),
        many => Err(Error::Other(format!(
            "`{promql}` returned {} series where one number was expected: aggregate it (sum, max, …)",
            many.len()
        ))),
    }
}

/// Queries one number and judges it against `limit`. No data is
/// `inconclusive` (never `pass`), and so is NaN (e.g. a ratio over no
/// traffic).
///
/// ```no_run
/// use gate_sdk::{metrics, CheckResult, Limit, Result};
///
/// fn error_ratio() -> Result<CheckResult> {
///     // Counts a service with no 5xx yet as 0, not as no data.
///     let promql = metrics::http_error_ratio("5m");
///     metrics::measure("error_ratio", &promql, "ratio", Limit::Below(0.01))
/// }
/// ```
pub fn measure(name: &str, promql: &str, unit: &str, limit: Limit) -> Result<CheckResult> {
    let value = scalar(promql)?;
    Ok(judge_value(name, promql, unit, limit, value))
}

fn judge_value(
    name: &str,
    promql: &str,
    unit: &str,
    limit: Limit,
    value: Option<f64>,
) -> CheckResult {
    match value {
        Some(value) => {
            let mut result = crate::judge(name, value, unit, limit);
            if value.is_nan() {
                result.message = format!(
                    "{} (`{promql}` is NaN: no traffic in the window?)",
                    result.message
                );
            }
            result
        }
        None => {
            CheckResult::inconclusive(format!("no data for {name}: `{promql}` returned no series"))
                .with(Measurement::new(name, f64::NAN, unit).threshold(limit.to_string()))
        }
    }
}

/// Whether the value of `promql` stayed beyond `limit` (the value that is
/// allowed) for the whole of the last `window`: the alert-style condition of
/// a rollback trigger. The check **fails** only if every point of the window
/// is beyond the limit and the data covers the whole window; it passes if any
/// point is within the limit; it is `inconclusive` with no data, or when the
/// data that exists is all beyond the limit but does not cover the window.
/// A point without a value (NaN, e.g. an error ratio over a step with no
/// requests) is a gap in the data, never a point within the limit.
///
/// Points are taken every `window / 30`, at least every second.
///
/// ```no_run
/// use std::time::Duration;
/// use gate_sdk::{metrics, CheckResult, Limit, Result};
///
/// /// Roll back when more than 5 % of requests failed for 5 minutes.
/// fn error_rate_alert() -> Result<CheckResult> {
///     let promql = metrics::http_error_ratio("1m");
///     metrics::sustained("error_ratio", &promql, "ratio", Limit::AtMost(0.05), Duration::from_secs(300))
/// }
/// ```
pub fn sustained(
    name: &str,
    promql: &str,
    unit: &str,
    limit: Limit,
    window: Duration,
) -> Result<CheckResult> {
    let step = step_for(window);
    let end = now();
    let start = end - window.as_secs_f64();
    let series = query_range(promql, start, end, step)?.series();
    Ok(evaluate_window(
        name,
        unit,
        limit,
        Span {
            start,
            end,
            step: step.as_secs_f64(),
        },
        &series,
    ))
}

fn step_for(window: Duration) -> Duration {
    (window / 30).max(Duration::from_secs(1))
}

/// The window a range query covered.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: f64,
    end: f64,
    step: f64,
}

impl Span {
    /// Whether `samples` reach both ends of the window without a hole:
    /// a missing scrape or two is tolerated, a gap longer than three steps
    /// is not.
    fn covered_by(&self, samples: &[Sample]) -> bool {
        let slack = 3.0 * self.step;
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return false;
        };
        first.timestamp <= self.start + slack
            && last.timestamp >= self.end - slack
            && samples
                .windows(2)
                .all(|pair| pair[1].timestamp - pair[0].timestamp <= slack)
    }
}

fn evaluate_window(
    name: &str,
    unit: &str,
    limit: Limit,
    span: Span,
    series: &[Series],
) -> CheckResult {
    let window = format_seconds(span.end - span.start);
    let beyond = |s: &Sample| !s.value.is_nan() && !limit.allows(s.value);
    let measured: Vec<&Series> = series
        .iter()
        .filter(|s| s.samples.iter().any(|p| !p.value.is_nan()))
        .collect();
    if measured.is_empty() {
        return CheckResult::inconclusive(format!("no data for {name} over the last {window}"))
            .with(Measurement::new(name, f64::NAN, unit).threshold(limit.to_string()));
    }
    // Only points with a value count: a NaN point is a hole in the data,
    // which `covered_by` judges, not a point that stayed within the limit.
    let valued = |s: &Series| -> Vec<Sample> {
        s.samples
            .iter()
            .filter(|p| !p.value.is_nan())
            .copied()
            .collect()
    };
    // The series closest to a breach decides: fewest points within the
    // limit, then one whose data covers the window (so that a series with
    // a hole cannot hide another's whole breach), then most points beyond.
    let within = |p: &Sample| !p.value.is_nan() && limit.allows(p.value);
    let worst = measured
        .iter()
        .min_by_key(|s| {
            let count = |f: &dyn Fn(&Sample) -> bool| s.samples.iter().filter(|p| f(p)).count();
            let covered = span.covered_by(&valued(s));
            (count(&within), !covered, core::cmp::Reverse(count(&beyond)))
        })
        .expect("not empty");
    let valued = valued(worst);
    let points = valued.len();
    let over = valued.iter().filter(|p| beyond(p)).count();
    let latest = valued.last().map(|s| s.value).unwrap_or(f64::NAN);
    let peak = worst
        .samples
        .iter()
        .map(|s| s.value)
        .filter(|v| !v.is_nan())
        .fold(f64::NAN, f64::max);
    let measurement = Measurement::new(name, latest, unit).threshold(limit.to_string());
    let peak_measurement = Measurement::new(format!("{name}_peak"), peak, unit);
    let labels = if worst.labels.is_empty() {
        String::new()
    } else {
        let text: Vec<String> = worst
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!(" {{{}}}", text.join(", "))
    };
    let value = |v: f64| {
        let shown = format_against(v, limit.bound());
        if unit.is_empty() {
            shown
        } else {
            format!("{shown} {unit}")
        }
    };

    let result = if over == points && span.covered_by(&valued) {
        CheckResult::fail(format!(
            "{name}{labels} stayed beyond {limit} for the whole {window}: all {points} points, latest {}, peak {}",
            value(latest),
            value(peak)
        ))
    } else if over == points {
        CheckResult::inconclusive(format!(
            "{name}{labels} is beyond {limit} at all {points} points seen, but the data does not cover the {window} window"
        ))
    } else {
        CheckResult::pass(format!(
            "{name}{labels} did not stay beyond {limit} for {window}: {over} of {points} points beyond, latest {}",
            value(latest)
        ))
    };
    result.with(measurement).with(peak_measurement)
}

fn format_seconds(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    match seconds {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn convert(
    answer: core::result::Result<wit::QueryResult, wit::MetricsError>,
) -> Result<QueryResult> {
    let series = |list: Vec<wit::Series>| -> Vec<Series> {
        list.into_iter()
            .map(|s| Series {
                labels: s.labels,
                samples: s
                    .samples
                    .into_iter()
                    .map(|p| Sample {
                        timestamp: p.timestamp,
                        value: p.value,
                    })
                    .collect(),
            })
            .collect()
    };
    match answer {
        Ok(wit::QueryResult::Vector(list)) => Ok(QueryResult::Vector(series(list))),
        Ok(wit::QueryResult::Matrix(list)) => Ok(QueryResult::Matrix(series(list))),
        Ok(wit::QueryResult::Scalar(p)) => Ok(QueryResult::Scalar(Sample {
            timestamp: p.timestamp,
            value: p.value,
        })),
        Err(error) => Err(Error::Metrics(match error {
            wit::MetricsError::NotGranted(why) => MetricsError::NotGranted(why),
            wit::MetricsError::Unreachable(why) => MetricsError::Unreachable(why),
            wit::MetricsError::BadQuery(why) => MetricsError::BadQuery(why),
            wit::MetricsError::Timeout(ms) => MetricsError::Timeout(ms),
            wit::MetricsError::Status(status) => {
                MetricsError::Status(status.status, status.message)
            }
            wit::MetricsError::InvalidResponse(why) => MetricsError::InvalidResponse(why),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;

    fn series(values: &[f64], start: f64, step: f64) -> Series {
        Series {
            labels: vec![],
            samples: values
                .iter()
                .enumerate()
                .map(|(i, v)| Sample {
                    timestamp: start + i as f64 * step,
                    value: *v,
                })
                .collect(),
        }
    }

    const SPAN: Span = Span {
        start: 100.0,
        end: 110.0,
        step: 1.0,
    };

    #[test]
    fn sustained_breach_fails() {
        let s = series(&[0.2; 11], 100.0, 1.0);
        let result = evaluate_window("error_ratio", "ratio", Limit::AtMost(0.05), SPAN, &[s]);
        assert_eq!(result.outcome, Outcome::Fail, "{}", result.message);
        assert!(result.message.contains("whole 10s"), "{}", result.message);
        assert_eq!(result.measurements[0].value, 0.2);
        assert_eq!(result.measurements[0].threshold.as_deref(), Some("<= 0.05"));
    }

    #[test]
    fn one_good_point_is_no_breach() {
        let mut values = [0.2; 11];
        values[5] = 0.01;
        let result = evaluate_window(
            "error_ratio",
            "ratio",
            Limit::AtMost(0.05),
            SPAN,
            &[series(&values, 100.0, 1.0)],
        );
        assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);
        assert!(result.message.contains("10 of 11"), "{}", result.message);
    }

    #[test]
    fn a_point_without_a_value_is_a_gap_not_a_good_point() {
        // No traffic for one step makes an error ratio 0/0: that says
        // nothing about health, so the rest of the window decides.
        let judge = |values: &[f64]| {
            evaluate_window(
                "error_ratio",
                "ratio",
                Limit::AtMost(0.05),
                SPAN,
                &[series(values, 100.0, 1.0)],
            )
        };
        let mut values = [0.2; 11];
        values[5] = f64::NAN;
        let result = judge(&values);
        assert_eq!(result.outcome, Outcome::Fail, "{}", result.message);
        assert!(
            result.message.contains("all 10 points"),
            "{}",
            result.message
        );
        // The latest value is the last one measured, not the trailing gap.
        values[10] = f64::NAN;
        let result = judge(&values);
        assert_eq!(result.outcome, Outcome::Fail, "{}", result.message);
        assert_eq!(result.measurements[0].value, 0.2);
    }

    #[test]
    fn partial_coverage_is_inconclusive() {
        // Only the last 4 seconds of a 10 s window have data.
        let result = evaluate_window(
            "p95",
            "ms",
            Limit::AtMost(2000.0),
            SPAN,
            &[series(&[5000.0; 4], 107.0, 1.0)],
        );
        assert_eq!(result.outcome, Outcome::Inconclusive, "{}", result.message);
    }

    #[test]
    fn no_data_is_inconclusive_never_pass() {
        let empty = evaluate_window("up", "", Limit::AtLeast(1.0), SPAN, &[]);
        assert_eq!(empty.outcome, Outcome::Inconclusive);
        let nan = evaluate_window(
            "ratio",
            "",
            Limit::AtMost(0.05),
            SPAN,
            &[series(&[f64::NAN; 11], 100.0, 1.0)],
        );
        assert_eq!(nan.outcome, Outcome::Inconclusive);
        assert_eq!(
            judge_value("x", "q", "", Limit::Below(1.0), None).outcome,
            Outcome::Inconclusive
        );
        assert_eq!(
            judge_value("x", "q", "", Limit::Below(1.0), Some(f64::NAN)).outcome,
            Outcome::Inconclusive
        );
        assert_eq!(
            judge_value("x", "q", "", Limit::Below(1.0), Some(0.5)).outcome,
            Outcome::Pass
        );
    }

    #[test]
    fn a_series_with_a_hole_does_not_hide_a_whole_breach() {
        // Eight points each, all beyond the limit: one has a gap longer
        // than three steps (103 to 107), the other covers the window.
        let at = |label: &str, times: [f64; 8]| Series {
            labels: vec![("instance".into(), label.into())],
            samples: times
                .iter()
                .map(|&timestamp| Sample {
                    timestamp,
                    value: 0.2,
                })
                .collect(),
        };
        let holed = at(
            "a",
            [100.0, 101.0, 102.0, 103.0, 107.0, 108.0, 109.0, 110.0],
        );
        let whole = at(
            "b",
            [100.0, 101.5, 103.0, 104.5, 106.0, 107.5, 109.0, 110.0],
        );
        for order in [[holed.clone(), whole.clone()], [whole, holed]] {
            let result = evaluate_window("error_ratio", "ratio", Limit::AtMost(0.05), SPAN, &order);
            assert_eq!(result.outcome, Outcome::Fail, "{}", result.message);
            assert!(
                result.message.contains("instance=\"b\""),
                "{}",
                result.message
            );
        }
    }

    #[test]
    fn the_worst_series_decides() {
        let mut down = series(&[0.0; 11], 100.0, 1.0);
        down.labels = vec![("instance".into(), "b".into())];
        let result = evaluate_window(
            "up",
            "",
            Limit::AtLeast(1.0),
            SPAN,
            &[series(&[1.0; 11], 100.0, 1.0), down.clone()],
        );
        assert_eq!(result.outcome, Outcome::Fail);
        assert!(
            result.message.contains("instance=\"b\""),
            "{}",
            result.message
        );
    }

    #[test]
    fn single_values() {
        let one = QueryResult::Vector(vec![series(&[3.0], 0.0, 1.0)]);
        assert_eq!(single_value("q", one).unwrap(), Some(3.0));
        assert_eq!(
            single_value("q", QueryResult::Vector(vec![])).unwrap(),
            None
        );
        let two = QueryResult::Vector(vec![series(&[1.0], 0.0, 1.0), series(&[2.0], 0.0, 1.0)]);
        assert!(
            single_value("q", two)
                .unwrap_err()
                .to_string()
                .contains("aggregate")
        );
    }

    #[test]
    fn steps() {
        assert_eq!(step_for(Duration::from_secs(300)), Duration::from_secs(10));
        assert_eq!(step_for(Duration::from_secs(5)), Duration::from_secs(1));
        assert_eq!(format_seconds(300.0), "5m");
        assert_eq!(format_seconds(10.0), "10s");
    }
}
