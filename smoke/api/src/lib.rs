//! Smoke suite for the API (`api`, kind smoke), run right after a deploy.
//!
//! Every check is blocking and needs HTTP to the target.
//!
//! | check                        | verifies |
//! |------------------------------|----------|
//! | `health`                     | `GET /health` answers 200 |
//! | `ready`                      | `GET /ready` answers 200 |
//! | `api-health`                 | `GET /api/v1/health` answers 200 with JSON `{"status": "ok"}` |
//! | `products`                   | `GET /api/v1/products` answers 200 with a non-empty JSON array |
//! | `system-status`              | `GET /api/v1/system/status` with the API token answers 200 |
//! | `system-status-requires-auth`| the same request without credentials is refused (401 or 403) |
//!
//! # Secrets
//!
//! `api_token` (from `GATE_SECRET_API_TOKEN`): bearer token for
//! `system-status`. Without it that check reports an error saying what to
//! export.

use gate_sdk::http::{self, Request, Response};
use gate_sdk::{
    Capability, Check, CheckResult, Error, Measurement, Policy, PolicyKind, Result, context,
    export_policy,
};

const SYSTEM_STATUS: &str = "/api/v1/system/status";

fn policy() -> Policy {
    Policy::new("api", PolicyKind::Smoke)
        .version(env!("CARGO_PKG_VERSION"))
        .check(http_check("health", "GET /health answers 200", health))
        .check(http_check("ready", "GET /ready answers 200", ready))
        .check(http_check(
            "api-health",
            "GET /api/v1/health answers 200 with status \"ok\"",
            api_health,
        ))
        .check(http_check(
            "products",
            "GET /api/v1/products answers 200 with a non-empty list",
            products,
        ))
        .check(http_check(
            "system-status",
            "GET /api/v1/system/status with the API token answers 200",
            system_status,
        ))
        .check(http_check(
            "system-status-requires-auth",
            "GET /api/v1/system/status without credentials is refused",
            system_status_requires_auth,
        ))
}

export_policy!(policy);

/// Every check here talks to the target.
fn http_check(
    name: &'static str,
    description: &'static str,
    run: fn() -> Result<CheckResult>,
) -> Check {
    Check::new(name, description, run).needs(Capability::Http)
}

fn health() -> Result<CheckResult> {
    Ok(answered_200(&http::get("/health")?))
}

fn ready() -> Result<CheckResult> {
    Ok(answered_200(&http::get("/ready")?))
}

fn api_health() -> Result<CheckResult> {
    api_health_verdict(&http::get("/api/v1/health")?)
}

fn products() -> Result<CheckResult> {
    products_verdict(&http::get("/api/v1/products")?)
}

fn system_status() -> Result<CheckResult> {
    let token = context::require_secret("api_token")?;
    let response = Request::get(SYSTEM_STATUS).bearer(&token).send()?;
    Ok(answered_200(&response))
}

fn system_status_requires_auth() -> Result<CheckResult> {
    Ok(refused_verdict(&http::get(SYSTEM_STATUS)?))
}

/// Pass on 200; otherwise fail with the status and the start of the body.
fn answered_200(response: &Response) -> CheckResult {
    let elapsed = Measurement::new("elapsed", response.elapsed_ms(), "ms");
    if response.status() == 200 {
        CheckResult::pass(format!("`{}` answered 200", response.url())).with(elapsed)
    } else {
        CheckResult::fail(response.status_error("200").to_string()).with(elapsed)
    }
}

fn api_health_verdict(response: &Response) -> Result<CheckResult> {
    if response.status() != 200 {
        return Ok(answered_200(response));
    }
    let body = response.json_value()?;
    match body.get("status").and_then(|status| status.as_str()) {
        Some("ok") => Ok(CheckResult::pass(format!(
            "`{}` answered 200 with status \"ok\"",
            response.url()
        ))),
        Some(other) => Ok(CheckResult::fail(format!(
            "`{}` reports status {other:?}, expected \"ok\"",
            response.url()
        ))),
        // A health body without a status string is the wrong contract, not a
        // sick service.
        None => Err(Error::Json {
            url: response.url().to_owned(),
            reason: "expected an object with a string field `status`".to_owned(),
        }),
    }
}

fn products_verdict(response: &Response) -> Result<CheckResult> {
    if response.status() != 200 {
        return Ok(answered_200(response));
    }
    let body = response.json_value()?;
    let Some(products) = body.as_array() else {
        return Err(Error::Json {
            url: response.url().to_owned(),
            reason: format!("expected a JSON array, got {}", json_kind(&body)),
        });
    };
    let count = Measurement::new("products", products.len() as f64, "");
    if products.is_empty() {
        Ok(CheckResult::fail(format!("`{}` listed no products", response.url())).with(count))
    } else {
        Ok(CheckResult::pass(format!(
            "`{}` listed {} products",
            response.url(),
            products.len()
        ))
        .with(count))
    }
}

fn refused_verdict(response: &Response) -> CheckResult {
    match response.status() {
        401 | 403 => CheckResult::pass(format!(
            "`{}` refused a request without credentials with {}",
            response.url(),
            response.status()
        )),
        200 => CheckResult::fail(format!(
            "`{}`: endpoint answered 200 without credentials",
            response.url()
        )),
        _ => CheckResult::fail(response.status_error("401 or 403").to_string()),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_sdk::Outcome;

    fn response(url: &str, status: u16, body: &str) -> Response {
        Response::new(url, status, vec![], body, 5.0)
    }

    #[test]
    fn describes_six_blocking_http_checks() {
        let policy = policy();
        assert_eq!((policy.name(), policy.kind()), ("api", PolicyKind::Smoke));
        assert_eq!(policy.checks().len(), 6);
        assert!(
            policy
                .checks()
                .iter()
                .all(|c| c.is_blocking() && c.needed() == [Capability::Http])
        );
    }

    #[test]
    fn api_health_needs_status_ok() {
        let ok = api_health_verdict(&response("/h", 200, r#"{"status":"ok"}"#)).unwrap();
        assert_eq!(ok.outcome, Outcome::Pass);
        let degraded =
            api_health_verdict(&response("/h", 200, r#"{"status":"degraded"}"#)).unwrap();
        assert_eq!(degraded.outcome, Outcome::Fail);
        assert!(degraded.message.contains("\"degraded\""));
        let down = api_health_verdict(&response("/h", 503, "")).unwrap();
        assert_eq!(down.outcome, Outcome::Fail);
        assert!(api_health_verdict(&response("/h", 200, "[]")).is_err());
        assert!(api_health_verdict(&response("/h", 200, "<html>")).is_err());
    }

    #[test]
    fn products_must_be_a_non_empty_array() {
        let two = products_verdict(&response("/p", 200, r#"[{"id":1},{"id":2}]"#)).unwrap();
        assert_eq!(two.outcome, Outcome::Pass);
        assert_eq!(two.measurements[0].value, 2.0);
        let none = products_verdict(&response("/p", 200, "[]")).unwrap();
        assert_eq!(none.outcome, Outcome::Fail);
        let error = products_verdict(&response("/p", 200, "{}")).unwrap_err();
        assert!(error.to_string().contains("got an object"), "{error}");
    }

    #[test]
    fn unauthenticated_status_must_be_refused() {
        assert_eq!(
            refused_verdict(&response("/s", 401, "")).outcome,
            Outcome::Pass
        );
        assert_eq!(
            refused_verdict(&response("/s", 403, "")).outcome,
            Outcome::Pass
        );
        let open = refused_verdict(&response("/s", 200, "{}"));
        assert_eq!(open.outcome, Outcome::Fail);
        assert!(
            open.message
                .contains("endpoint answered 200 without credentials")
        );
        let broken = refused_verdict(&response("/s", 500, "boom"));
        assert_eq!(broken.outcome, Outcome::Fail);
        assert!(broken.message.contains("expected 401 or 403"));
    }

    /// The whole checks, run natively against a mock host.
    mod with_a_mock_host {
        use super::*;
        use gate_sdk::http::Method;
        use gate_sdk::mock::MockHost;

        fn status_endpoint() -> MockHost {
            // The sample service's rule: the right token gets 200, none 401.
            MockHost::new().on_http(|request| {
                let authorised = request.headers().iter().any(|(name, value)| {
                    name.eq_ignore_ascii_case("authorization") && value == "Bearer t0ken"
                });
                let status = if authorised { 200 } else { 401 };
                Some(Ok(response(request.url(), status, "{}")))
            })
        }

        #[test]
        fn system_status_sends_the_token_from_the_secret() {
            let host = status_endpoint().secret("api_token", "t0ken");
            let result = host.run(&policy(), "system-status").unwrap();
            assert_eq!(result.outcome, Outcome::Pass, "{}", result.message);
            assert_eq!(host.requests()[0].url(), SYSTEM_STATUS);

            let wrong = status_endpoint().secret("api_token", "stale");
            let result = wrong.run(&policy(), "system-status").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
            assert!(result.message.contains("401"), "{}", result.message);
        }

        #[test]
        fn system_status_without_the_secret_names_the_variable() {
            let host = status_endpoint();
            let error = host.run(&policy(), "system-status").unwrap_err();
            assert!(
                error.to_string().contains("GATE_SECRET_API_TOKEN"),
                "{error}"
            );
            assert!(host.requests().is_empty(), "no request without a token");
        }

        #[test]
        fn an_open_status_endpoint_fails_the_auth_check() {
            let refused = status_endpoint().run(&policy(), "system-status-requires-auth");
            assert_eq!(refused.unwrap().outcome, Outcome::Pass);
            let open = MockHost::new().http(
                Method::Get,
                SYSTEM_STATUS,
                response(SYSTEM_STATUS, 200, "{}"),
            );
            let result = open.run(&policy(), "system-status-requires-auth").unwrap();
            assert_eq!(result.outcome, Outcome::Fail);
        }

        #[test]
        fn an_unreachable_service_is_an_error_not_a_pass() {
            let host = MockHost::new().http_error(
                Method::Get,
                "/health",
                gate_sdk::http::HttpError::Connect("127.0.0.1:8080: connection refused".into()),
            );
            let error = host.run(&policy(), "health").unwrap_err();
            assert!(error.to_string().contains("connection refused"), "{error}");
        }
    }
}
