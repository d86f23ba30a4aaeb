//! The metrics capability against a real Prometheus scraping the real sample
//! service every second.

use std::time::Duration;

use gate_e2e::prometheus::{Prometheus, Traffic, free_port};
use gate_e2e::{Faults, Gate, Outcome, stack};

const ERROR_RATIO: &str = r#"(sum(rate(http_requests_total{status=~"5.."}[10s])) or vector(0)) / sum(rate(http_requests_total[10s]))"#;

fn prod(target: &str, prometheus: &str, extra: &[&str]) -> Outcome {
    Gate::policies(&["prod"])
        .target(target)
        .args(["--prometheus", prometheus])
        .param("window=10s")
        .args(extra)
        .json()
        .run()
}

fn measured(out: &Outcome, check: &str, name: &str) -> f64 {
    let check = out.check("prod", check);
    let measurement = check["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {check}"));
    measurement["value"].as_f64().unwrap()
}

#[test]
fn healthy_traffic_passes_the_metric_checks() {
    let stack = stack();
    let prometheus = Prometheus::start(&[stack.addr()]);
    let _traffic = Traffic::start(stack.addr(), "/api/v1/products");
    prometheus.wait_for("sum(rate(http_requests_total[10s]))", |rate| rate > 0.0);

    let out = prod(&stack.url(), &prometheus.url(), &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.check("prod", "metrics-error-rate")["outcome"], "pass");
    assert_eq!(out.check("prod", "metrics-p95")["outcome"], "pass");
    assert_eq!(measured(&out, "metrics-error-rate", "error_rate_5xx"), 0.0);
    // The queries went to Prometheus and are in the record.
    let calls = &out.check("prod", "metrics-p95")["calls"];
    assert!(
        calls[0]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/api/v1/query?query=", prometheus.url()))
    );
}

#[test]
fn injected_errors_fail_the_gate_with_the_measured_ratio() {
    let stack = stack();
    let prometheus = Prometheus::start(&[stack.addr()]);
    stack.set_faults(Faults {
        error_rate: 0.5,
        ..Faults::default()
    });
    let _traffic = Traffic::start(stack.addr(), "/api/v1/products");
    prometheus.wait_for(ERROR_RATIO, |ratio| ratio > 0.2);

    let out = prod(&stack.url(), &prometheus.url(), &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let check = out.check("prod", "metrics-error-rate");
    assert_eq!(check["outcome"], "fail", "{check}");
    let ratio = measured(&out, "metrics-error-rate", "error_rate_5xx");
    assert!(ratio > 0.2 && ratio < 0.8, "measured {ratio}");
    let message = check["message"].as_str().unwrap();
    assert!(
        message.contains("exceeds limit < 0.01"),
        "the threshold is in the message: {message}"
    );
    assert!(
        message.contains("error_rate_5xx 0."),
        "the measured ratio is in the message: {message}"
    );
}

#[test]
fn injected_latency_fails_the_p95_check() {
    let stack = stack();
    let prometheus = Prometheus::start(&[stack.addr()]);
    stack.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let _traffic = Traffic::start(stack.addr(), "/api/v1/products");
    prometheus.wait_for(
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[10s]))) * 1000",
        |p95| p95 > 250.0,
    );

    let out = prod(
        &stack.url(),
        &prometheus.url(),
        &["--param", "max_p95_ms=200", "--param", "samples=2"],
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    let check = out.check("prod", "metrics-p95");
    assert_eq!(check["outcome"], "fail", "{check}");
    assert!(measured(&out, "metrics-p95", "latency_p95") > 250.0);
    assert!(
        check["message"].as_str().unwrap().contains("< 200 ms"),
        "{check}"
    );
}

#[test]
fn a_prometheus_that_redirects_is_named_with_where_it_points_never_followed() {
    let moved = gate_e2e::stub::Stub::start(301, &[("location", "https://prom.example.test/")]);
    let out = Gate::policies(&["promql"])
        .args(["--prometheus", &moved.url()])
        .param("promql=up")
        .json()
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let check = out.check("promql", "query");
    assert_eq!(check["outcome"], "error", "{check}");
    let message = check["message"].as_str().unwrap();
    assert!(
        message.contains("Prometheus answered 301: a redirect to `https://prom.example.test/`")
            && message.contains("give --prometheus the URL it moved to"),
        "{message}"
    );
    assert_eq!(
        moved.requests().len(),
        2,
        "one query a check, none followed"
    );
}

#[test]
fn prometheus_down_fails_closed() {
    let stack = stack();
    let nothing_there = format!("http://{}", free_port());
    let out = prod(&stack.url(), &nothing_there, &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    for check in ["metrics-error-rate", "metrics-p95"] {
        let check = out.check("prod", check);
        assert_eq!(check["outcome"], "error", "{check}");
        assert!(
            check["message"]
                .as_str()
                .unwrap()
                .contains("Prometheus is unreachable"),
            "{check}"
        );
    }
    assert_eq!(
        out.check("prod", "ready")["outcome"],
        "pass",
        "the HTTP checks still ran"
    );
}

#[test]
fn no_series_is_inconclusive_never_pass() {
    let stack = stack();
    // Prometheus scrapes nothing: every query comes back empty.
    let prometheus = Prometheus::start(&[]);
    let out = prod(&stack.url(), &prometheus.url(), &[]);
    assert_eq!(
        out.code, 3,
        "nothing failed but metrics could not decide: {}",
        out.stdout
    );
    for check in ["metrics-error-rate", "metrics-p95"] {
        assert_eq!(out.check("prod", check)["outcome"], "inconclusive");
    }
    assert_eq!(out.json()["verdict"]["decision"], "inconclusive");
}

#[test]
fn bad_promql_fails_with_prometheus_own_message() {
    let prometheus = Prometheus::start(&[]);
    let out = Gate::policies(&["promql"])
        .args(["--prometheus", &prometheus.url()])
        .param("promql=sum(rate(")
        .json()
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let check = out.check("promql", "query");
    assert_eq!(check["outcome"], "error");
    let message = check["message"].as_str().unwrap();
    assert!(
        message.contains("Prometheus rejected the query"),
        "{message}"
    );
    assert!(
        message.contains("parse error"),
        "Prometheus's own words: {message}"
    );
}

#[test]
fn metrics_not_granted_is_skipped_or_denied_naming_the_flag() {
    let out = Gate::policies(&["promql"])
        .param("promql=vector(0)")
        .json()
        .run();
    let declared = out.check("promql", "query");
    assert_eq!(declared["outcome"], "skipped", "{declared}");
    assert!(
        declared["message"]
            .as_str()
            .unwrap()
            .contains("--prometheus"),
        "{declared}"
    );
    let undeclared = out.check("promql", "undeclared");
    assert_eq!(undeclared["outcome"], "error", "{undeclared}");
    let message = undeclared["message"].as_str().unwrap();
    assert!(
        message.contains("denied") && message.contains("--prometheus"),
        "{message}"
    );
    assert_eq!(out.code, 1);

    let strict = Gate::policies(&["prod"])
        .args(["--target", "http://127.0.0.1:9", "--strict"])
        .json()
        .run();
    assert_eq!(
        strict.check("prod", "metrics-p95")["outcome"],
        "fail",
        "--strict fails skipped checks"
    );
}

#[test]
fn rollback_trigger_fires_only_on_a_sustained_breach() {
    let stack = stack();
    let prometheus = Prometheus::start(&[stack.addr()]);
    let _traffic = Traffic::start(stack.addr(), "/api/v1/products");
    let params = [
        "--param",
        "error_window=5s",
        "--param",
        "rate_window=3s",
        "--param",
        "p95_window=5s",
        "--param",
        "down_window=5s",
    ];
    let trigger = || {
        Gate::policies(&["rollback"])
            .args(["--prometheus", &prometheus.url()])
            .args(params)
            .json()
            .run()
    };

    // Healthy for a while: nothing fires.
    prometheus.wait_for("sum(rate(http_requests_total[3s]))", |rate| rate > 0.0);
    std::thread::sleep(Duration::from_secs(6));
    let healthy = trigger();
    assert_eq!(healthy.code, 0, "{}", healthy.stdout);

    // Every request fails for longer than the window: roll back.
    stack.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    prometheus.wait_for(r#"(sum(rate(http_requests_total{status=~"5.."}[3s])) or vector(0)) / sum(rate(http_requests_total[3s]))"#, |r| r > 0.9);
    std::thread::sleep(Duration::from_secs(7));
    let breach = trigger();
    assert_eq!(breach.code, 1, "{}", breach.stdout);
    let check = breach.check("rollback", "error-rate");
    assert_eq!(check["outcome"], "fail", "{check}");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("for the whole 5s"),
        "{check}"
    );
    assert_eq!(
        breach.check("rollback", "down")["outcome"],
        "pass",
        "the service is up, only failing"
    );
}
