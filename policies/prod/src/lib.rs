//! Promotion gate for production (`prod`, kind gate).
//!
//! Every check is blocking. The first three need HTTP to the target; the
//! `metrics-*` ones need Prometheus (`--prometheus URL`), the container ones
//! the Docker engine (`--docker`), and `certificate` an https target or
//! `--allow-host`; each is `skipped` without its grant, saying what to grant
//! (failed with `--strict`).
//!
//! | check        | verifies |
//! |--------------|----------|
//! | `ready`      | `GET /ready` answers 200 |
//! | `latency`    | the mean latency of `samples` `GET latency_path` is below `max_latency_ms` (p95 reported too) |
//! | `error-rate` | of `samples` `GET latency_path`, the share that failed (no response, or status ≥ 500) is below `max_error_rate` |
//! | `metrics-error-rate` | Prometheus: the 5xx share of `http_requests_total` over `window` is below `max_error_rate` (needs metrics) |
//! | `metrics-p95` | Prometheus: p95 of `http_request_duration_seconds` over `window` is below `max_p95_ms` (needs metrics) |
//! | `containers` | every container of compose project `compose_project` is running and healthy, except those of the one-shot services in `compose_jobs`, which must have exited 0 (needs docker) |
//! | `image-tag` | every container of `compose_project` (or of its service `service`) runs tag `expected_tag`, by default the run's `--release` (needs docker) |
//! | `resources` | every running container of `compose_project` uses less than `max_cpu_percent` CPU and `max_memory_percent` memory (needs docker) |
//! | `certificate` | the certificate of `cert_host`:`cert_port` (default: the https target) is trusted and valid for `min_cert_days` more days (needs tls) |
//!
//! # Parameters
//!
//! Given with `--param name=value`; a value that does not parse or is out of
//! range makes the check that reads it report an error.
//!
//! | name             | default            | meaning |
//! |------------------|--------------------|---------|
//! | `samples`        | `20`               | requests per sampling check (at least 1) |
//! | `latency_path`   | `/api/v1/products` | path (or URL) sampled by `latency` and `error-rate` |
//! | `max_latency_ms` | `500`              | mean latency must be below this, in ms (> 0) |
//! | `max_error_rate` | `0.01`             | error rate must be below this, above 0 and at most 1 (HTTP and Prometheus checks) |
//! | `max_p95_ms`     | `500`              | Prometheus p95 latency must be below this, in ms (> 0) |
//! | `window`         | `5m`               | Prometheus rate window (`30s`, `5m`, …) |
//! | `compose_project` | required by the container checks | the Docker Compose project of the stack |
//! | `compose_jobs`   | none               | comma-separated one-shot compose services (`migrate,seed`) whose containers `containers` wants exited with code 0, not running; a name matching no container fails the check |
//! | `expected_tag`   | the run's `--release`; required by `image-tag` without one | the image tag that passed stage |
//! | `service`        | all services       | the compose service `image-tag` looks at |
//! | `max_cpu_percent` | `80`              | CPU per container must be below this, in percent of one CPU |
//! | `max_memory_percent` | `85`           | memory per container must be below this, in percent of its limit |
//! | `min_cert_days`  | `14`               | the certificate must be valid for at least this many days |
//! | `cert_host`, `cert_port` | the https target, `443` | where `certificate` connects |

use std::time::Duration;

use gate_sdk::http::{self, Request, Response, Samples};
use gate_sdk::{
    Capability, Check, CheckResult, Error, Limit, Measurement, Policy, PolicyKind, Result, context,
    export_policy, judge,
};
use gate_sdk::{docker, metrics, tls};

fn policy() -> Policy {
    Policy::new("prod", PolicyKind::Gate)
        .version(env!("CARGO_PKG_VERSION"))
        .check(Check::new("ready", "GET /ready answers 200", ready).needs(Capability::Http))
        .check(
            Check::new(
                "latency",
                "mean latency of `latency_path` is below `max_latency_ms`",
                latency,
            )
            .needs(Capability::Http),
        )
        .check(
            Check::new(
                "error-rate",
                "share of failed requests to `latency_path` is below `max_error_rate`",
                error_rate,
            )
            .needs(Capability::Http),
        )
        .check(
            Check::new(
                "metrics-error-rate",
                "Prometheus: 5xx share of requests over `window` is below `max_error_rate`",
                metrics_error_rate,
            )
            .needs(Capability::Metrics),
        )
        .check(
            Check::new(
                "metrics-p95",
                "Prometheus: p95 request latency over `window` is below `max_p95_ms`",
                metrics_p95,
            )
            .needs(Capability::Metrics),
        )
        .check(
            Check::new(
                "containers",
                "every container of `compose_project` is running and healthy (those of `compose_jobs` exited 0)",
                containers,
            )
            .needs(Capability::Docker),
        )
        .check(
            Check::new(
                "image-tag",
                "the containers of `compose_project` run image tag `expected_tag` (default: the release)",
                image_tag,
            )
            .needs(Capability::Docker),
        )
        .check(
            Check::new(
                "resources",
                "CPU below `max_cpu_percent` and memory below `max_memory_percent` per container",
                resources,
            )
            .needs(Capability::Docker),
        )
        .check(
            Check::new(
                "certificate",
                "the TLS certificate is trusted and valid for `min_cert_days` more days",
                certificate,
            )
            .needs(Capability::Tls),
        )
}

export_policy!(policy);

fn ready() -> Result<CheckResult> {
    Ok(ready_verdict(&http::get("/ready")?))
}

fn latency() -> Result<CheckResult> {
    // Read every parameter before sending anything, so a typo costs no requests.
    let samples = samples_param()?;
    let path = latency_path()?;
    let max_ms = max_latency_ms()?;
    let measured = http::sample(samples, |_| Request::get(&path))?;
    latency_verdict(&path, &measured, max_ms)
}

fn error_rate() -> Result<CheckResult> {
    let samples = samples_param()?;
    let path = latency_path()?;
    let max_rate = max_error_rate()?;
    let measured = http::sample(samples, |_| Request::get(&path))?;
    Ok(error_rate_verdict(&measured, max_rate))
}

fn metrics_error_rate() -> Result<CheckResult> {
    let max_rate = max_error_rate()?;
    let promql = metrics::http_error_ratio(&window()?);
    metrics::measure("error_rate_5xx", &promql, "ratio", Limit::Below(max_rate))
}

fn metrics_p95() -> Result<CheckResult> {
    let max_ms = positive_ms("max_p95_ms", 500.0)?;
    let promql = metrics::http_latency_quantile_ms(0.95, &window()?);
    metrics::measure("latency_p95", &promql, "ms", Limit::Below(max_ms))
}

fn containers() -> Result<CheckResult> {
    let project = context::require_param("compose_project")?;
    let jobs = compose_jobs();
    let jobs: Vec<&str> = jobs.iter().map(String::as_str).collect();
    docker::compose_healthy_with_jobs(&project, &jobs)
}

/// `compose_jobs`, split at commas, each name trimmed, empty ones dropped.
fn compose_jobs() -> Vec<String> {
    context::param("compose_jobs")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|job| !job.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Judges every container of the project, stopped ones and one-shot jobs
/// included, whatever `compose_jobs` says: a migration job runs the
/// release's image, and one left on the old tag means the new release's
/// migrations never ran. A stack whose job (or database) runs an image of
/// its own gives `service`, so that only the service that carries the
/// release is compared.
fn image_tag() -> Result<CheckResult> {
    let project = context::require_param("compose_project")?;
    let expected = context::param_or_release("expected_tag")?;
    let service = context::param("service").filter(|s| !s.trim().is_empty());
    docker::image_tag_is(&project, service.as_deref(), &expected)
}

fn resources() -> Result<CheckResult> {
    let project = context::require_param("compose_project")?;
    let max_cpu = percent_param("max_cpu_percent", 80.0)?;
    let max_memory = percent_param("max_memory_percent", 85.0)?;
    docker::resources_within(&project, max_cpu, max_memory)
}

fn certificate() -> Result<CheckResult> {
    let min_days: f64 = context::param_or("min_cert_days", 14.0)?;
    let min_days = check_param(
        "min_cert_days",
        min_days,
        min_days.is_finite(),
        "must be a number of days",
    )?;
    let Some((host, port)) = cert_endpoint(context::param("cert_host"), context::target())? else {
        // TLS is granted (by --allow-host) but the target is plain http:
        // nothing to judge, said so rather than passed.
        return Ok(CheckResult::warn(
            "no certificate checked: the target is not https; give --param cert_host=HOST (and cert_port) to check one",
        ));
    };
    let port = context::param_or("cert_port", port)?;
    tls::cert_valid_for(&host, port, min_days)
}

/// `cert_host` if given (port 443 unless `cert_port`), else the target when
/// it is https; `None` for a plain-http target, which has no certificate.
fn cert_endpoint(host: Option<String>, target: Option<String>) -> Result<Option<(String, u16)>> {
    if let Some(host) = host.filter(|h| !h.trim().is_empty()) {
        return Ok(Some((host.trim().to_owned(), 443)));
    }
    let target = target.ok_or(Error::MissingParam {
        name: "cert_host".into(),
    })?;
    Ok(tls::https_endpoint(&target))
}

fn percent_param(name: &str, default: f64) -> Result<f64> {
    let value = context::param_or(name, default)?;
    check_param(
        name,
        value,
        value.is_finite() && value > 0.0,
        "must be a percentage above 0",
    )
}

fn window() -> Result<String> {
    let window = context::param_duration("window", Duration::from_secs(300))?;
    Ok(metrics::promql_duration(window))
}

fn ready_verdict(response: &Response) -> CheckResult {
    let elapsed = Measurement::new("elapsed", response.elapsed_ms(), "ms");
    if response.status() == 200 {
        CheckResult::pass(format!("`{}` answered 200", response.url())).with(elapsed)
    } else {
        // The status error's text already has the status and the body's start.
        CheckResult::fail(response.status_error("200").to_string()).with(elapsed)
    }
}

fn latency_verdict(path: &str, samples: &Samples, max_ms: f64) -> Result<CheckResult> {
    let completed = samples.latencies_ms().len();
    if completed == 0 {
        // Nothing answered: there is no latency to judge. That is an error
        // (could not measure), as `ready` reports the same unreachable
        // target, never a pass.
        return Err(Error::Other(format!(
            "no response from `{path}` in {} requests, so no latency to judge{}",
            samples.count(),
            failures_suffix(samples)
        )));
    }
    let mut result = judge("latency_avg", samples.mean_ms(), "ms", Limit::Below(max_ms)).with(
        Measurement::new("latency_p95", samples.percentile_ms(95.0), "ms"),
    );
    result.message = format!("{} over {completed} responses", result.message);
    Ok(result)
}

fn error_rate_verdict(samples: &Samples, max_rate: f64) -> CheckResult {
    let mut result = judge(
        "error_rate",
        samples.error_rate(),
        "ratio",
        Limit::Below(max_rate),
    );
    result.message = format!(
        "{}: {} of {} requests failed{}",
        result.message,
        samples.errors(),
        samples.count(),
        failures_suffix(samples)
    );
    result
}

fn failures_suffix(samples: &Samples) -> String {
    if samples.first_failures().is_empty() {
        String::new()
    } else {
        format!("; first failures: {}", samples.first_failures().join("; "))
    }
}

fn samples_param() -> Result<u32> {
    let samples = context::param_or("samples", 20u32)?;
    check_param("samples", samples, samples >= 1, "must be at least 1")
}

fn latency_path() -> Result<String> {
    let path = context::param_or("latency_path", "/api/v1/products".to_owned())?;
    let ok = !path.is_empty();
    check_param("latency_path", path, ok, "must not be empty")
}

fn max_latency_ms() -> Result<f64> {
    positive_ms("max_latency_ms", 500.0)
}

fn positive_ms(name: &str, default: f64) -> Result<f64> {
    let max = context::param_or(name, default)?;
    check_param(
        name,
        max,
        max.is_finite() && max > 0.0,
        "must be a number of milliseconds above 0",
    )
}

/// Above 0: the share must stay below it, and no share is below 0, so 0
/// would fail every run, a clean one included.
fn max_error_rate() -> Result<f64> {
    let max = context::param_or("max_error_rate", 0.01)?;
    check_param(
        "max_error_rate",
        max,
        max > 0.0 && max <= 1.0,
        "must be a ratio above 0 and at most 1, e.g. 0.01 for 1%; the error rate must stay \
         below it, so to allow no failure give one smaller than 1/samples, e.g. 0.001",
    )
}

/// `value` if `ok`, else the same error as a value that does not parse.
fn check_param<T: ToString>(name: &str, value: T, ok: bool, reason: &str) -> Result<T> {
    if ok {
        Ok(value)
    } else {
        Err(Error::Param {
            name: name.to_owned(),
            value: value.to_string(),
            reason: reason.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_sdk::Outcome;
    use gate_sdk::http::HttpError;

    fn samples(latencies: &[f64], failures: usize) -> Samples {
        let mut samples = Samples::new();
        for &ms in latencies {
            samples.record_response("GET /p", &Response::new("/p", 200, vec![], "[]", ms));
        }
        for _ in 0..failures {
            samples.record_failure("GET /p", &HttpError::Connect("refused".into()));
        }
        samples
    }

    #[test]
    fn describes_blocking_http_and_metrics_checks() {
        let policy = policy();
        assert_eq!(policy.name(), "prod");
        assert_eq!(policy.kind(), PolicyKind::Gate);
        let names: Vec<_> = policy.checks().iter().map(Check::name).collect();
        assert_eq!(
            names,
            [
                "ready",
                "latency",
                "error-rate",
                "metrics-error-rate",
                "metrics-p95",
                "containers",
                "image-tag",
                "resources",
                "certificate"
            ]
        );
        for check in policy.checks() {
            assert!(check.is_blocking());
            let expected = match check.name() {
                "metrics-error-rate" | "metrics-p95" => Capability::Metrics,
                "containers" | "image-tag" | "resources" => Capability::Docker,
                "certificate" => Capability::Tls,
                _ => Capability::Http,
            };
            assert_eq!(check.needed(), [expected]);
        }
    }

    #[test]
    fn ready_requires_200() {
        let ok = ready_verdict(&Response::new("/ready", 200, vec![], "", 3.0));
        assert_eq!(ok.outcome, Outcome::Pass);
        let down = ready_verdict(&Response::new("/ready", 503, vec![], "warming up", 3.0));
        assert_eq!(down.outcome, Outcome::Fail);
        assert!(down.message.contains("503"), "{}", down.message);
        assert!(down.message.contains("warming up"), "{}", down.message);
    }

    #[test]
    fn latency_judges_the_mean() {
        let fast = latency_verdict("/p", &samples(&[100.0, 200.0], 0), 500.0).unwrap();
        assert_eq!(fast.outcome, Outcome::Pass);
        assert_eq!(fast.measurements[0].name, "latency_avg");
        assert_eq!(fast.measurements[0].value, 150.0);
        assert_eq!(fast.measurements[1].name, "latency_p95");
        assert_eq!(fast.measurements[1].threshold, None);

        let slow = latency_verdict("/p", &samples(&[400.0, 800.0], 0), 500.0).unwrap();
        assert_eq!(slow.outcome, Outcome::Fail);
        assert!(slow.message.contains("600.0 ms"), "{}", slow.message);
        assert!(slow.message.contains("< 500 ms"), "{}", slow.message);
    }

    #[test]
    fn latency_without_responses_is_an_error() {
        // Nothing measured is not a verdict on latency: `error`, never pass.
        let none = latency_verdict("/p", &samples(&[], 3), 500.0).unwrap_err();
        let message = none.to_string();
        assert!(
            message.contains("no response from `/p` in 3 requests"),
            "{message}"
        );
        assert!(message.contains("GET /p → connect: refused"), "{message}");
    }

    #[test]
    fn error_rate_reports_counts_and_failures() {
        let bad = error_rate_verdict(&samples(&[10.0; 18], 2), 0.01);
        assert_eq!(bad.outcome, Outcome::Fail);
        assert!(bad.message.contains("0.1 ratio"), "{}", bad.message);
        assert!(bad.message.contains("< 0.01"), "{}", bad.message);
        assert!(
            bad.message.contains("2 of 20 requests failed"),
            "{}",
            bad.message
        );
        assert!(
            bad.message.contains("GET /p → connect: refused"),
            "{}",
            bad.message
        );

        let good = error_rate_verdict(&samples(&[10.0; 20], 0), 0.01);
        assert_eq!(good.outcome, Outcome::Pass);
        assert!(
            good.message.contains("0 of 20 requests failed"),
            "{}",
            good.message
        );
    }

    #[test]
    fn certificate_endpoint() {
        assert_eq!(
            cert_endpoint(None, Some("https://shop.example.com:8443/".into())).unwrap(),
            Some(("shop.example.com".to_owned(), 8443))
        );
        assert_eq!(
            cert_endpoint(Some("api.example.com".into()), Some("http://x".into())).unwrap(),
            Some(("api.example.com".to_owned(), 443))
        );
        assert_eq!(
            cert_endpoint(None, Some("http://127.0.0.1:8080".into())).unwrap(),
            None
        );
        let none = cert_endpoint(None, None).unwrap_err();
        assert!(none.to_string().contains("cert_host"), "{none}");
    }

    #[test]
    fn out_of_range_params_are_errors() {
        let error = check_param("samples", 0, false, "must be at least 1").unwrap_err();
        assert!(matches!(error, Error::Param { ref value, .. } if value == "0"));
        assert_eq!(check_param("samples", 5, true, "").unwrap(), 5);
    }

    /// The whole checks, run natively against a mock host.
    mod with_a_mock_host {
        use super::*;
        use gate_sdk::docker::{Container, DockerError, HealthStatus, Image, State, Stats};
        use gate_sdk::http::Method;
        use gate_sdk::metrics::{MetricsError, QueryResult};
        use gate_sdk::mock::MockHost;
        use gate_sdk::tls::{Certificate, Peer};

        /// Every fourth request to the sampled path answers 500.
        fn one_in_four_fails() -> MockHost {
            let mut sent = 0;
            MockHost::new().on_http(move |request| {
                sent += 1;
                let status = if sent % 4 == 0 { 500 } else { 200 };
                Some(Ok(Response::new(request.url(), status, vec![], "[]", 12.0)))
            })
        }

        #[test]
        fn ready_asks_ready() {
            let host = MockHost::new().http(
                Method::Get,
                "/ready",
                Response::new("/ready", 503, vec![], "migrations pending", 2.0),
            );
            let result = host.run(&policy(), "ready").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(
                result.message.contains("migrations pending"),
                "{}",
                result.message
            );
        }

        #[test]
        fn error_rate_counts_5xx_over_samples() {
            let host = one_in_four_fails();
            let result = host.run(&policy(), "error-rate").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(
                result.message.contains("5 of 20 requests failed"),
                "{}",
                result.message
            );
            assert_eq!(host.requests().len(), 20);
            assert!(
                host.requests()
                    .iter()
                    .all(|r| r.url() == "/api/v1/products")
            );

            let tolerant = one_in_four_fails()
                .param("samples", "8")
                .param("max_error_rate", "0.3");
            let result = tolerant.run(&policy(), "error-rate").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);
            assert_eq!(tolerant.requests().len(), 8);
        }

        #[test]
        fn a_bad_param_costs_no_request() {
            let host = one_in_four_fails().param("samples", "0");
            let error = host.run(&policy(), "latency").unwrap_err();
            assert!(error.to_string().contains("samples"), "{error}");
            assert!(host.requests().is_empty());
        }

        #[test]
        fn an_error_rate_limit_of_0_is_refused_not_failed() {
            for check in ["error-rate", "metrics-error-rate"] {
                let host = MockHost::new().param("max_error_rate", "0");
                let error = host.run(&policy(), check).unwrap_err();
                assert!(error.to_string().contains("above 0"), "{check}: {error}");
                assert!(host.requests().is_empty() && host.queries().is_empty());
            }
        }

        #[test]
        fn prometheus_error_rate_of_3_percent_fails() {
            // The default window, as the check writes it.
            let promql =
                metrics::http_error_ratio(&metrics::promql_duration(Duration::from_secs(300)));
            let high = MockHost::new().metric_value(&promql, 0.03);
            let result = high.run(&policy(), "metrics-error-rate").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert_eq!(result.measurements[0].value, 0.03);

            let low = MockHost::new().metric_value(&promql, 0.001);
            assert_eq!(
                low.run(&policy(), "metrics-error-rate").unwrap().outcome,
                Outcome::Pass
            );
        }

        /// The `shop` compose stack: web (healthy, image `app:1.4.2`) and db.
        fn shop(web_health: HealthStatus) -> MockHost {
            let mut web = Container::new("shop-web-1", State::Running);
            web.compose_project = Some("shop".into());
            web.compose_service = Some("web".into());
            web.health.status = web_health;
            web.image = Image {
                name: "app".into(),
                tag: Some("1.4.2".into()),
                id: "sha256:0a1b".into(),
            };
            let mut db = Container::new("shop-db-1", State::Running);
            db.compose_project = Some("shop".into());
            db.compose_service = Some("db".into());
            MockHost::new()
                .param("compose_project", "shop")
                .container(web)
                .container(db)
        }

        fn stats(cpu_percent: f64, memory_percent: f64) -> Stats {
            Stats {
                cpu_percent,
                online_cpus: 2,
                memory_used: 64 << 20,
                memory_limit: 256 << 20,
                memory_percent,
            }
        }

        #[test]
        fn containers_fail_on_an_unhealthy_service() {
            let healthy = shop(HealthStatus::Healthy);
            let result = healthy.run(&policy(), "containers").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);

            let result = shop(HealthStatus::Unhealthy)
                .run(&policy(), "containers")
                .unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(result.message.contains("shop-web-1"), "{}", result.message);
        }

        /// `shop` with a one-shot `migrate` service in `state`.
        fn shop_with_migrate(state: State, exit_code: Option<i64>) -> MockHost {
            let mut migrate = Container::new("shop-migrate-1", state);
            migrate.compose_project = Some("shop".into());
            migrate.compose_service = Some("migrate".into());
            migrate.exit_code = exit_code;
            migrate.image = Image {
                name: "app".into(),
                tag: Some("1.4.2".into()),
                id: "sha256:0a1b".into(),
            };
            shop(HealthStatus::Healthy).container(migrate)
        }

        #[test]
        fn containers_pass_a_job_that_exited_0() {
            let host = shop_with_migrate(State::Exited, Some(0)).param("compose_jobs", "migrate");
            let result = host.run(&policy(), "containers").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);
            assert_eq!(
                result.message,
                "all 2 containers of `shop` are running and healthy (shop-db-1 have no health \
                 check); job migrate completed"
            );

            // Spaces and empty items are forgiven.
            let host =
                shop_with_migrate(State::Exited, Some(0)).param("compose_jobs", " migrate, ,");
            let result = host.run(&policy(), "containers").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);

            // Its image counts for `image-tag`, as every container's does.
            let host = shop_with_migrate(State::Exited, Some(0))
                .param("compose_jobs", "migrate")
                .param("service", "migrate")
                .release("1.5.0");
            let result = host.run(&policy(), "image-tag").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(
                result.message.contains("shop-migrate-1 runs app:1.4.2"),
                "{}",
                result.message
            );
        }

        #[test]
        fn containers_fail_a_job_that_exited_1_with_its_code() {
            let host = shop_with_migrate(State::Exited, Some(1)).param("compose_jobs", "migrate");
            let result = host.run(&policy(), "containers").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(
                result
                    .message
                    .contains("1 of 3 containers of `shop` are not healthy: shop-migrate-1 is exited (exit code 1)"),
                "{}",
                result.message
            );
        }

        #[test]
        fn containers_fail_a_job_still_running() {
            let host = shop_with_migrate(State::Running, None).param("compose_jobs", "migrate");
            let result = host.run(&policy(), "containers").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(
                result.message.contains(
                    "shop-migrate-1 is still running (a one-shot job that has not finished)"
                ),
                "{}",
                result.message
            );
        }

        #[test]
        fn containers_fail_a_job_that_matches_no_service() {
            let host =
                shop_with_migrate(State::Exited, Some(0)).param("compose_jobs", "migrate,seed");
            let result = host.run(&policy(), "containers").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert_eq!(
                result.message,
                "job `seed` matches no container of `shop` (its services: db, migrate, web): \
                 a typo, or was its container removed?"
            );
        }

        #[test]
        fn containers_without_jobs_judge_as_before() {
            // An exited 0 container is a stopped service unless named a job.
            let host = shop_with_migrate(State::Exited, Some(0));
            let result = host.run(&policy(), "containers").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(
                result
                    .message
                    .contains("shop-migrate-1 is exited (exit code 0)"),
                "{}",
                result.message
            );

            let host = shop(HealthStatus::Healthy).param("compose_jobs", "");
            let result = host.run(&policy(), "containers").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);
            assert_eq!(
                result.message,
                "all 2 containers of `shop` are running and healthy (shop-db-1 have no health check)"
            );
        }

        #[test]
        fn image_tag_must_be_the_one_that_passed_stage() {
            let host = shop(HealthStatus::Healthy)
                .param("service", "web")
                .param("expected_tag", "1.4.2");
            let result = host.run(&policy(), "image-tag").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);

            let host = shop(HealthStatus::Healthy)
                .param("service", "web")
                .param("expected_tag", "1.5.0");
            let result = host.run(&policy(), "image-tag").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(result.message.contains("1.4.2"), "{}", result.message);
        }

        #[test]
        fn image_tag_defaults_to_the_release_and_a_param_overrides_it() {
            let host = shop(HealthStatus::Healthy)
                .param("service", "web")
                .release("1.4.2");
            let result = host.run(&policy(), "image-tag").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);

            let host = shop(HealthStatus::Healthy)
                .param("service", "web")
                .release("1.5.0");
            let result = host.run(&policy(), "image-tag").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(result.message.contains("1.5.0"), "{}", result.message);

            let host = shop(HealthStatus::Healthy)
                .param("service", "web")
                .param("expected_tag", "1.4.2")
                .release("git-5fe9ba4");
            let result = host.run(&policy(), "image-tag").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);

            let error = shop(HealthStatus::Healthy)
                .run(&policy(), "image-tag")
                .unwrap_err();
            assert!(error.to_string().contains("--release"), "{error}");
            assert!(
                error.to_string().contains("--param expected_tag"),
                "{error}"
            );
        }

        #[test]
        fn resources_judge_every_running_container() {
            let calm = shop(HealthStatus::Healthy)
                .container_stats("shop-web-1", stats(12.0, 30.0))
                .container_stats("shop-db-1", stats(5.0, 40.0));
            let result = calm.run(&policy(), "resources").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);

            let hot = shop(HealthStatus::Healthy)
                .container_stats("shop-web-1", stats(12.0, 30.0))
                .container_stats("shop-db-1", stats(5.0, 97.0));
            let result = hot.run(&policy(), "resources").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(result.message.contains("shop-db-1"), "{}", result.message);
        }

        #[test]
        fn a_docker_engine_down_is_an_error_not_a_verdict() {
            let down = MockHost::new()
                .param("compose_project", "shop")
                .docker_error(DockerError::Unreachable("connection refused".into()));
            let error = down.run(&policy(), "containers").unwrap_err();
            assert!(error.to_string().contains("connection refused"), "{error}");
        }

        fn peer(days_left: f64, trusted: bool) -> Peer {
            Peer {
                certificate: Certificate {
                    subject: "CN=shop.example.com".into(),
                    issuer: "CN=Example CA".into(),
                    sans: vec!["shop.example.com".into()],
                    not_before: 0,
                    not_after: 0,
                    serial: "01".into(),
                },
                days_left,
                chain_length: 2,
                trusted,
                untrusted_reason: (!trusted).then(|| "unknown issuer".into()),
                protocol: "TLSv1.3".into(),
            }
        }

        #[test]
        fn certificate_of_an_https_target() {
            let target = "https://shop.example.com/";
            let fresh =
                MockHost::new()
                    .target(target)
                    .tls("shop.example.com", 443, peer(90.0, true));
            let result = fresh.run(&policy(), "certificate").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);
            assert_eq!(fresh.tls_calls(), [("shop.example.com".to_owned(), 443)]);

            let expiring =
                MockHost::new()
                    .target(target)
                    .tls("shop.example.com", 443, peer(3.0, true));
            let result = expiring.run(&policy(), "certificate").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);

            let untrusted =
                MockHost::new()
                    .target(target)
                    .tls("shop.example.com", 443, peer(90.0, false));
            let result = untrusted.run(&policy(), "certificate").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(
                result.message.contains("unknown issuer"),
                "{}",
                result.message
            );
        }

        #[test]
        fn no_prometheus_data_is_never_a_pass() {
            let promql = metrics::http_error_ratio("30s");
            let empty = MockHost::new()
                .param("window", "30s")
                .metrics(&promql, QueryResult::Vector(vec![]));
            let result = empty.run(&policy(), "metrics-error-rate").unwrap();
            assert_eq!(result.outcome, Outcome::Inconclusive);

            let down = MockHost::new()
                .param("window", "30s")
                .metrics_error(&promql, MetricsError::Unreachable("refused".into()));
            assert!(down.run(&policy(), "metrics-error-rate").is_err());
        }
    }
}
