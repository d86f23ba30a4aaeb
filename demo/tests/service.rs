//! The sample service over real HTTP, as policies and smoke tests see it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gate_demo::{Config, Faults, Server};
use serde_json::{Value, json};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection; `Connection: close` lets the
/// body be read to EOF, and the timeout bounds a stuck server.
fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        server.addr(),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();

    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("complete response head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn get(server: &Server, path: &str) -> Reply {
    request(server, "GET", path, &[], "")
}

fn start() -> Server {
    Server::start(0, Config::default()).expect("server starts")
}

#[test]
fn listens_on_loopback_only() {
    let server = start();
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    assert_eq!(
        server.url(),
        format!("http://127.0.0.1:{}", server.addr().port())
    );
    server.stop();
}

#[test]
fn healthy_answers() {
    let server = start();

    let health = get(&server, "/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({"status": "ok"}));

    let ready = get(&server, "/ready");
    assert_eq!(ready.status, 200);
    assert_eq!(
        ready.json(),
        json!({"status": "ready", "db": "up", "migrations": "applied"})
    );

    let api_health = get(&server, "/api/v1/health");
    assert_eq!(api_health.status, 200);
    assert_eq!(
        api_health.json(),
        json!({"status": "ok", "version": "1.0.0"})
    );

    let products = get(&server, "/api/v1/products");
    assert_eq!(products.status, 200);
    let products = products.json();
    let products = products.as_array().expect("array");
    assert!(!products.is_empty());
    for product in products {
        assert!(product["id"].is_u64() && product["name"].is_string());
        assert!(product["price_cents"].is_u64());
    }

    let missing = get(&server, "/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json(), json!({"error": "not found"}));

    assert_eq!(request(&server, "POST", "/health", &[], "").status, 405);
    assert_eq!(server.requests_served(), 6);
}

#[test]
fn system_status_needs_the_token() {
    let server = start();

    let missing = get(&server, "/api/v1/system/status");
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert_eq!(missing.json(), json!({"error": "missing bearer token"}));

    let wrong = request(
        &server,
        "GET",
        "/api/v1/system/status",
        &[("Authorization", "Bearer nope")],
        "",
    );
    assert_eq!(wrong.status, 403);
    assert_eq!(wrong.json(), json!({"error": "invalid token"}));

    server.set_faults(Faults {
        migrations_applied: false,
        ..Faults::default()
    });
    let right = request(
        &server,
        "GET",
        "/api/v1/system/status",
        &[("Authorization", "Bearer demo-token")],
        "",
    );
    assert_eq!(right.status, 200);
    let body = right.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["db"], "up");
    assert_eq!(body["migrations"], "pending");
    assert!(body["uptime_seconds"].is_u64());
}

#[test]
fn error_rate_is_exact_and_shows_in_metrics() {
    let server = start();
    server.set_faults(Faults {
        error_rate: 0.5,
        ..Faults::default()
    });

    let statuses: Vec<u16> = (0..10)
        .map(|_| get(&server, "/api/v1/products").status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 500).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    let eleventh = get(&server, "/api/v1/products");
    assert_eq!(
        eleventh.status, 200,
        "the 11th request of a 0.5 rate passes"
    );

    get(&server, "/no/such/page");
    let metrics = get(&server, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.body;
    for line in [
        "# TYPE http_requests_total counter",
        r#"http_requests_total{method="GET",path="/api/v1/products",status="500"} 5"#,
        r#"http_requests_total{method="GET",path="/api/v1/products",status="200"} 6"#,
        r#"http_requests_total{method="GET",path="other",status="404"} 1"#,
        "# TYPE http_request_duration_seconds histogram",
        r#"http_request_duration_seconds_bucket{method="GET",path="/api/v1/products",le="+Inf"} 11"#,
        r#"http_request_duration_seconds_count{method="GET",path="/api/v1/products"} 11"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(!text.contains("path=\"/metrics\""), "{text}");
    assert!(!text.contains("/no/such/page"), "{text}");
}

#[test]
fn injected_latency_delays_answers_but_not_liveness() {
    let server = start();
    let latency = Duration::from_millis(300);
    server.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });

    let started = Instant::now();
    assert_eq!(get(&server, "/api/v1/health").status, 200);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());

    let started = Instant::now();
    assert_eq!(get(&server, "/health").status, 200);
    assert!(started.elapsed() < latency, "{:?}", started.elapsed());

    let metrics = get(&server, "/metrics").body;
    assert!(
        metrics.contains(
            r#"http_request_duration_seconds_bucket{method="GET",path="/api/v1/health",le="0.25"} 0"#
        ),
        "{metrics}"
    );
}

#[test]
fn path_status_overrides_the_handler() {
    let server = start();
    server.set_faults(Faults {
        path_status: [
            ("/health".to_owned(), 503),
            ("/api/v1/products".to_owned(), 429),
        ]
        .into(),
        ..Faults::default()
    });

    let health = get(&server, "/health");
    assert_eq!(health.status, 503);
    assert_eq!(health.json(), json!({"error": "injected status"}));
    assert_eq!(get(&server, "/api/v1/products").status, 429);
    assert_eq!(get(&server, "/api/v1/health").status, 200);
}

#[test]
fn ready_reports_broken_dependencies() {
    let server = start();
    server.set_faults(Faults {
        db_up: false,
        ..Faults::default()
    });
    let ready = get(&server, "/ready");
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json(),
        json!({"status": "not_ready", "db": "down", "migrations": "applied"})
    );
    // Liveness does not depend on the database.
    assert_eq!(get(&server, "/health").status, 200);

    server.set_faults(Faults {
        migrations_applied: false,
        ..Faults::default()
    });
    let ready = get(&server, "/ready");
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["migrations"], "pending");
}

#[test]
fn admin_endpoints_replace_validate_and_reset() {
    let server = start();

    let put = request(
        &server,
        "PUT",
        "/admin/faults",
        &[("Content-Type", "application/json")],
        r#"{"db_up": false, "path_status": {"/ready": 502}}"#,
    );
    assert_eq!(put.status, 200, "{}", put.body);
    let expected = Faults {
        db_up: false,
        path_status: [("/ready".to_owned(), 502)].into(),
        ..Faults::default()
    };
    assert_eq!(server.faults(), expected);
    assert_eq!(put.json(), serde_json::to_value(&expected).unwrap());
    assert_eq!(get(&server, "/admin/faults").json(), put.json());

    // A partial body replaces everything: db_up goes back to healthy.
    let put = request(&server, "PUT", "/admin/faults", &[], r#"{"latency_ms": 1}"#);
    assert_eq!(put.status, 200);
    assert_eq!(
        server.faults(),
        Faults {
            latency_ms: 1,
            ..Faults::default()
        }
    );

    for bad in [
        r#"{"latency": 5}"#,
        r#"{"error_rate": 1.5}"#,
        r#"{"latency_ms": 60001}"#,
        r#"{"path_status": {"/health": 42}}"#,
        "{not json",
    ] {
        let reply = request(&server, "PUT", "/admin/faults", &[], bad);
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.starts_with("invalid faults: "), "{message}");
    }
    let unknown = request(&server, "PUT", "/admin/faults", &[], r#"{"latency": 5}"#);
    assert!(unknown.body.contains("unknown field"), "{}", unknown.body);
    assert_eq!(
        server.faults().latency_ms,
        1,
        "rejected bodies change nothing"
    );

    let reset = request(&server, "POST", "/admin/reset", &[], "");
    assert_eq!(reset.status, 200);
    assert_eq!(server.faults(), Faults::default());
    assert_eq!(
        reset.json(),
        serde_json::to_value(Faults::default()).unwrap()
    );
}

#[test]
fn stop_and_drop_shut_down() {
    let server = start();
    let addr = server.addr();
    server.stop();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after stop"
    );

    let server = start();
    let addr = server.addr();
    drop(server);
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after drop"
    );
}
