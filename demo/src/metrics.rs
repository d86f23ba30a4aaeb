//! Request metrics in the Prometheus text exposition format, written by hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// Upper bounds of the latency histogram, in seconds (the Prometheus client
/// defaults, which dashboards and SLO rules commonly assume).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Routes that are not part of the service being observed.
const UNOBSERVED: [&str; 3] = ["/metrics", "/admin/faults", "/admin/reset"];

/// Label for requests that matched no route.
const OTHER_PATH: &str = "other";

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests_served: AtomicU64,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
    series: Mutex<Series>,
}

#[derive(Debug, Default)]
struct Series {
    // BTreeMaps so the exposition is sorted and stable between scrapes.
    requests: BTreeMap<(&'static str, String, u16), u64>,
    durations: BTreeMap<(&'static str, String), Histogram>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Cumulative, as exposed: `buckets[i]` counts observations `<= BUCKETS[i]`.
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    pub(crate) fn requests_served(&self) -> u64 {
        self.requests_served.load(Ordering::Relaxed)
    }

    pub(crate) fn most_in_flight(&self) -> u64 {
        self.most_in_flight.load(Ordering::Relaxed)
    }

    fn record(&self, method: &'static str, path: &str, status: u16, elapsed: Duration) {
        let mut series = self.lock();
        *series
            .requests
            .entry((method, path.to_owned(), status))
            .or_default() += 1;
        let histogram = series
            .durations
            .entry((method, path.to_owned()))
            .or_default();
        let seconds = elapsed.as_secs_f64();
        for (count, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    pub(crate) fn render(&self) -> String {
        let series = self.lock();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "# HELP http_requests_total Total HTTP requests handled, by method, route and status."
        );
        let _ = writeln!(out, "# TYPE http_requests_total counter");
        for ((method, path, status), count) in &series.requests {
            let _ = writeln!(
                out,
                "http_requests_total{{method=\"{method}\",path=\"{}\",status=\"{status}\"}} {count}",
                escape(path)
            );
        }
        let _ = writeln!(
            out,
            "# HELP http_request_duration_seconds Time to answer HTTP requests, by method and route."
        );
        let _ = writeln!(out, "# TYPE http_request_duration_seconds histogram");
        for ((method, path), histogram) in &series.durations {
            let labels = format!("method=\"{method}\",path=\"{}\"", escape(path));
            for (count, bound) in histogram.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let Histogram { sum, count, .. } = histogram;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Series> {
        // A panic mid-update could at worst skew one sample; keep serving.
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Outermost middleware: counts every request and times observed ones,
/// including whatever the fault middleware did to them.
pub(crate) async fn observe(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    metrics.requests_served.fetch_add(1, Ordering::Relaxed);
    let _in_flight = InFlight::enter(&metrics);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    if route.is_some_and(|route| UNOBSERVED.contains(&route)) {
        return next.run(req).await;
    }
    let path = route.unwrap_or(OTHER_PATH).to_owned();
    let method = method_label(req.method());
    let start = Instant::now();
    let response = next.run(req).await;
    metrics.record(method, &path, response.status().as_u16(), start.elapsed());
    response
}

/// A request being answered, counted until it is dropped (answered, or
/// cancelled by a client that went away).
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn enter(metrics: &'a Metrics) -> InFlight<'a> {
        let now = metrics.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        metrics.most_in_flight.fetch_max(now, Ordering::Relaxed);
        InFlight(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Maps the method to a fixed set so made-up methods cannot add series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("OTHER")
}

/// Escapes a label value as the exposition format requires.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counter_and_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.record("GET", "/a", 200, Duration::from_millis(20));
        metrics.record("GET", "/a", 500, Duration::from_millis(300));
        let text = metrics.render();
        for line in [
            "# TYPE http_requests_total counter",
            "http_requests_total{method=\"GET\",path=\"/a\",status=\"200\"} 1",
            "http_requests_total{method=\"GET\",path=\"/a\",status=\"500\"} 1",
            "# TYPE http_request_duration_seconds histogram",
            "http_request_duration_seconds_bucket{method=\"GET\",path=\"/a\",le=\"0.01\"} 0",
            "http_request_duration_seconds_bucket{method=\"GET\",path=\"/a\",le=\"0.025\"} 1",
            "http_request_duration_seconds_bucket{method=\"GET\",path=\"/a\",le=\"0.5\"} 2",
            "http_request_duration_seconds_bucket{method=\"GET\",path=\"/a\",le=\"1\"} 2",
            "http_request_duration_seconds_bucket{method=\"GET\",path=\"/a\",le=\"10\"} 2",
            "http_request_duration_seconds_bucket{method=\"GET\",path=\"/a\",le=\"+Inf\"} 2",
            "http_request_duration_seconds_count{method=\"GET\",path=\"/a\"} 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        let sum: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("http_request_duration_seconds_sum{method=\"GET\",path=\"/a\"} ")
            })
            .expect("sum line")
            .parse()
            .expect("sum is a number");
        assert!((sum - 0.32).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn labels_are_bounded_and_escaped() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "OTHER");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
