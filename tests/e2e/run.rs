//! `gate run` with the shipped policies against the real sample service.

use gate_e2e::stub::Stub;
use gate_e2e::{API_TOKEN, Faults, Gate, decision_log_schema_errors, guest, stack};

#[test]
fn healthy_stack_passes_the_prod_gate() {
    let stack = stack();
    let out = Gate::policies(&["prod"]).target(&stack.url()).run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    for check in ["ready", "latency", "error-rate"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains("PASS") && l.contains(check)),
            "{check} should pass:\n{}",
            out.stdout
        );
    }
    assert!(
        out.stdout.contains("verdict: PASS (exit 0)"),
        "{}",
        out.stdout
    );
}

#[test]
fn healthy_stack_passes_the_smoke_suite() {
    let stack = stack();
    let out = Gate::policies(&["api"])
        .target(&stack.url())
        .json()
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    let report = out.json();
    assert_eq!(report["schema"], "gate.report/v1");
    assert_eq!(report["verdict"]["decision"], "pass");
    let checks = report["policies"][0]["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for expected in [
        "health",
        "ready",
        "api-health",
        "products",
        "system-status",
        "system-status-requires-auth",
    ] {
        assert!(
            names.contains(&expected),
            "missing check {expected}: {names:?}"
        );
    }
    assert!(
        checks.iter().all(|c| c["outcome"] == "pass"),
        "{}",
        out.stdout
    );
    // Every check made real requests to the stack.
    assert!(
        checks
            .iter()
            .all(|c| !c["calls"].as_array().unwrap().is_empty())
    );
    assert!(stack.requests_served() >= 6);
}

#[test]
fn injected_errors_fail_the_gate_with_the_measured_rate() {
    let stack = stack();
    stack.set_faults(Faults {
        error_rate: 0.25,
        ..Faults::default()
    });
    // One check at a time, so the requests reach the service in a known
    // order: /ready is request 1, the latency check's 20 are 2-21, the
    // error-rate check's are 22-41, of which 24, 28, 32, 36 and 40 fail.
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .json()
        .args(["--jobs", "1"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let check = out.check("prod", "error-rate");
    assert_eq!(check["outcome"], "fail");
    let rate = check["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "error_rate")
        .expect("error_rate measured");
    assert_eq!(rate["value"].as_f64(), Some(0.25), "{rate}");
    assert!(
        check["message"].as_str().unwrap().contains("5 of 20"),
        "{check}"
    );
    assert!(
        rate["threshold"].as_str().unwrap().contains("0.01"),
        "{rate}"
    );
    assert!(
        out.json()["verdict"]["reason"]
            .as_str()
            .unwrap()
            .contains("prod/error-rate")
    );

    // The human form names the check, the value and the threshold too (one
    // check at a time again, so the failures land where the test expects).
    let human = Gate::policies(&["prod"])
        .target(&stack.url())
        .args(["--jobs", "1"])
        .run();
    assert_eq!(human.code, 1);
    let line = human
        .stdout
        .lines()
        .find(|l| l.contains("error-rate") && l.contains("FAIL"))
        .expect("a FAIL line for error-rate");
    assert!(line.contains("0.01"), "{line}");
    assert!(
        human
            .stdout
            .contains("measured 0.25 > threshold 0.01 (error_rate, ratio)"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("verdict: FAIL (exit 1)"));
}

#[test]
fn injected_latency_fails_the_gate_with_the_measured_latency() {
    let stack = stack();
    stack.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .param("samples=4")
        .param("max_latency_ms=200")
        .json()
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let check = out.check("prod", "latency");
    assert_eq!(check["outcome"], "fail", "{check}");
    let avg = check["measurements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "latency_avg")
        .expect("latency_avg measured");
    assert!(avg["value"].as_f64().unwrap() >= 300.0, "{avg}");
    assert_eq!(avg["unit"], "ms");
    assert!(avg["threshold"].as_str().unwrap().contains("200"), "{avg}");
    assert_eq!(out.check("prod", "error-rate")["outcome"], "pass");
}

#[test]
fn ready_off_fails_the_gate() {
    let stack = stack();
    stack.set_faults(Faults {
        migrations_applied: false,
        ..Faults::default()
    });
    let out = Gate::policies(&["prod"]).target(&stack.url()).json().run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let ready = out.check("prod", "ready");
    assert_eq!(ready["outcome"], "fail");
    assert!(
        ready["message"].as_str().unwrap().contains("503"),
        "{ready}"
    );
}

#[test]
fn smoke_without_the_secret_fails_the_authenticated_check() {
    let stack = stack();
    let out = Gate::policies(&["api"]).target(&stack.url()).json().run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let status = out.check("api", "system-status");
    assert!(
        matches!(status["outcome"].as_str(), Some("fail" | "error")),
        "{status}"
    );
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("GATE_SECRET_API_TOKEN"),
        "the message says how to give it: {status}"
    );
    assert_eq!(
        out.check("api", "system-status-requires-auth")["outcome"],
        "pass"
    );
    assert_eq!(out.check("api", "health")["outcome"], "pass");

    // A wrong token is refused by the service: the check fails on the 403.
    let wrong = Gate::policies(&["api"])
        .target(&stack.url())
        .json()
        .env("GATE_SECRET_API_TOKEN", "not-the-token")
        .run();
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.check("api", "system-status")["message"]
            .as_str()
            .unwrap()
            .contains("403")
    );
}

#[test]
fn the_secret_never_appears_in_any_output() {
    let stack = stack();
    for format in ["human", "json"] {
        let out = Gate::policies(&["api", "hostile"])
            .target(&stack.url())
            .args(["--format", format, "-v", "--timeout", "2s"])
            .env("GATE_SECRET_API_TOKEN", API_TOKEN)
            .run();
        assert!(
            !out.all_output().contains(API_TOKEN),
            "the token leaked in {format} output"
        );
        assert!(
            out.all_output().contains("[REDACTED]"),
            "the hostile guest's leak is shown redacted"
        );
    }
}

#[test]
fn a_url_with_credentials_is_refused_without_repeating_them() {
    let out = Gate::policies(&["prod"])
        .args(["--prometheus", "http://grafana:s3cretpw@127.0.0.1:9/"])
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("invalid value for '--prometheus <URL>'")
            && out.stderr.contains("--prometheus-auth basic:NAME"),
        "says which flag and what to use instead: {}",
        out.stderr
    );
    assert!(
        !out.all_output().contains("s3cretpw"),
        "{}",
        out.all_output()
    );
    // GATE_TARGET, as a CI secret would set it.
    let out = Gate::policies(&["prod"])
        .env("GATE_TARGET", "https://deploy:s3cretpw@stage.example.test/")
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("credentials in the URL are refused"),
        "{}",
        out.stderr
    );
    assert!(
        !out.all_output().contains("s3cretpw"),
        "{}",
        out.all_output()
    );
    // Whatever else is wrong with a URL, its error never repeats it: not a
    // scheme, a port or a host beside the password, nor a webhook's token.
    for (flag, value, expected) in [
        (
            "--target",
            "ftp://deploy:s3cretpw@stage",
            "credentials in the URL are refused",
        ),
        (
            "--prometheus",
            "https://u:s3cretpw@p:99999",
            "credentials in the Prometheus URL",
        ),
        (
            "--target",
            "deploy:s3cretpw@stage",
            "credentials in the URL are refused",
        ),
        (
            "--notify",
            "hooks.example.test/services/T0/s3cretpw",
            "the URL has no scheme",
        ),
        (
            "--notify",
            "https://hooks.example.test:99999/s3cretpw",
            "the URL is not one: invalid port number",
        ),
        ("--target", "ftp://stage.example.test/s3cretpw", "not ftp:…"),
    ] {
        let out = Gate::policies(&["prod"]).args([flag, value]).run();
        assert_eq!(out.code, 2, "{flag} {value}: {}", out.stderr);
        assert!(
            out.stderr.contains(expected),
            "{flag} {value}: {}",
            out.stderr
        );
        assert!(
            !out.all_output().contains("s3cretpw"),
            "{flag} {value}: {}",
            out.all_output()
        );
    }
}

#[test]
fn target_down_fails_closed_with_a_connection_error() {
    // A port that was free a moment ago: nothing listens there now.
    let port = gate_e2e::prometheus::free_port().port();
    let target = format!("http://127.0.0.1:{port}");
    let out = Gate::policies(&["prod"]).target(&target).json().run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let ready = out.check("prod", "ready");
    assert_eq!(ready["outcome"], "error");
    let message = ready["message"].as_str().unwrap().to_lowercase();
    assert!(message.contains("connect"), "{message}");
    // Nothing answered, so no latency was measured: an error, as for `ready`.
    let latency = out.check("prod", "latency");
    assert_eq!(latency["outcome"], "error", "{latency}");
    let message = latency["message"].as_str().unwrap();
    assert!(
        message.contains("no response from `/api/v1/products`"),
        "{message}"
    );
    assert!(message.contains("connect"), "{message}");
    assert_ne!(out.check("prod", "error-rate")["outcome"], "pass");
}

#[test]
fn without_a_target_http_checks_are_skipped_and_strict_fails_them() {
    let out = Gate::policies(&["prod"]).run();
    assert_eq!(
        out.code, 3,
        "nothing was verified, so no pass: {}",
        out.stdout
    );
    assert!(out.stdout.contains("SKIP"));
    assert!(
        out.stdout.contains("--target"),
        "says what to grant: {}",
        out.stdout
    );

    let strict = Gate::policies(&["prod"]).args(["--strict"]).run();
    assert_eq!(strict.code, 1, "{}", strict.stdout);
}

#[test]
fn params_are_validated_by_the_policy() {
    let stack = stack();
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .param("samples=lots")
        .json()
        .run();
    assert_eq!(out.code, 1);
    let latency = out.check("prod", "latency");
    assert_eq!(latency["outcome"], "error");
    assert!(
        latency["message"].as_str().unwrap().contains("samples"),
        "{latency}"
    );
}

#[test]
fn quiet_prints_only_the_verdict() {
    let stack = stack();
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .args(["-q"])
        .run();
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stdout.starts_with("verdict: PASS"));
}

#[test]
fn inspect_shows_checks_contract_and_sha256() {
    use sha2::Digest;
    let path = guest("prod");
    let sha: String = sha2::Sha256::digest(std::fs::read(&path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let out = Gate::new([
        "inspect".as_ref(),
        path.as_os_str(),
        "--format".as_ref(),
        "json".as_ref(),
    ])
    .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let info = out.json();
    assert_eq!(info["name"], "prod");
    assert_eq!(info["kind"], "gate");
    assert_eq!(info["sha256"], sha);
    assert_eq!(info["wit_version"], "0.1.3");
    let imports: Vec<&str> = info["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(imports.contains(&"gate:policy/http@0.1.3"), "{imports:?}");
    for interface in ["metrics", "docker", "tls"] {
        let import = format!("gate:policy/{interface}@0.1.3");
        assert!(imports.contains(&import.as_str()), "{imports:?}");
    }
    let checks = info["checks"].as_array().unwrap();
    let needs: Vec<(&str, &serde_json::Value)> = checks
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), &c["needs"]))
        .collect();
    assert_eq!(
        needs,
        [
            ("ready", &serde_json::json!(["http"])),
            ("latency", &serde_json::json!(["http"])),
            ("error-rate", &serde_json::json!(["http"])),
            ("metrics-error-rate", &serde_json::json!(["metrics"])),
            ("metrics-p95", &serde_json::json!(["metrics"])),
            ("containers", &serde_json::json!(["docker"])),
            ("image-tag", &serde_json::json!(["docker"])),
            ("resources", &serde_json::json!(["docker"])),
            ("certificate", &serde_json::json!(["tls"])),
        ]
    );
    assert!(checks.iter().all(|c| c["blocking"] == true));

    let human = Gate::new(["inspect".as_ref(), path.as_os_str()]).run();
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains(&sha));
    assert!(human.stdout.contains("gate:policy@0.1.3"));
}

#[test]
fn retry_runs_a_check_again_until_the_stage_answers() {
    let fetch = |stage: &Stub, extra: &[&str]| {
        let out = Gate::policies(&["fetch"])
            .target(&stage.url())
            .param("url=/health")
            .args(extra)
            .json()
            .run();
        let errors = gate_e2e::schema_errors(&out.json());
        assert!(errors.is_empty(), "{errors:#?}");
        out
    };
    let retry = ["--retry", "3", "--retry-interval", "20ms"];

    // A stage still rolling out: 503 twice, then 200. The third attempt
    // passes, and the report says which it was.
    let rolling = Stub::sequence(&[503, 503, 200]);
    let out = fetch(&rolling, &retry);
    assert_eq!(out.code, 0, "{}", out.all_output());
    let check = out.check("fetch", "get");
    assert_eq!(check["outcome"], "pass");
    assert_eq!(check["attempts"], 3);
    let message = check["message"].as_str().unwrap();
    assert!(
        message.contains("→ 200") && message.ends_with("(attempt 3 of 4)"),
        "{message}"
    );
    assert_eq!(
        rolling.requests().len(),
        3,
        "one request per attempt, none after the pass"
    );
    let earlier = check["earlier_attempts"].as_array().unwrap();
    assert_eq!(earlier.len(), 2, "{check}");
    assert_eq!(earlier[0]["outcome"], "fail");
    assert!(
        earlier[0]["message"].as_str().unwrap().contains("→ 503"),
        "{check}"
    );

    // The earlier attempts in the human report (-v) and as JUnit reruns.
    let junit = std::env::temp_dir().join(format!("gate-e2e-retry-{}.xml", std::process::id()));
    let rolling = Stub::sequence(&[503, 200]);
    let out = Gate::policies(&["fetch"])
        .target(&rolling.url())
        .param("url=/health")
        .args(retry)
        .args(["-v", "--color", "never", "--report"])
        .arg(format!("junit={}", junit.display()))
        .run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert!(
        out.stdout.contains("↻ attempt 1: FAIL GET /health → 503"),
        "{}",
        out.stdout
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let flaky: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("flakyFailure"))
        .collect();
    assert_eq!(flaky.len(), 1, "{xml}");
    assert!(
        flaky[0].attribute("message").unwrap().contains("→ 503"),
        "{xml}"
    );
    let _ = std::fs::remove_file(&junit);

    // A stage that never comes up: every attempt is made, and the last
    // one's failure is the check's.
    let down = Stub::sequence(&[503]);
    let out = fetch(&down, &retry);
    assert_eq!(out.code, 1, "{}", out.all_output());
    let check = out.check("fetch", "get");
    assert_eq!(check["outcome"], "fail");
    assert_eq!(check["attempts"], 4);
    assert_eq!(check["earlier_attempts"].as_array().unwrap().len(), 3);
    assert!(
        check["message"].as_str().unwrap().contains("→ 503"),
        "{check}"
    );
    assert_eq!(down.requests().len(), 4);

    // Without --retry a check runs once, and the report has no attempts.
    let once = Stub::sequence(&[503, 200]);
    let out = fetch(&once, &[]);
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(out.check("fetch", "get").get("attempts").is_none());
    assert_eq!(once.requests().len(), 1);

    // A check that did not pass for a reason no retry changes runs once and
    // says why.
    let runs_once = |params: &[&str], says: &[&str]| {
        let mut gate = Gate::policies(&["fetch"]).target(&once.url()).args(retry);
        for param in params {
            gate = gate.param(param);
        }
        let out = gate.json().run();
        assert_eq!(out.code, 1, "{}", out.all_output());
        let check = out.check("fetch", "get");
        assert_eq!(check["outcome"], "error");
        assert_eq!(check["attempts"], 1);
        let message = check["message"].as_str().unwrap();
        assert!(says.iter().all(|s| message.contains(s)), "{message}");
    };
    // A request the grants deny: no retry changes that.
    runs_once(
        &["url=http://10.0.0.1/"],
        &["10.0.0.1", "(not retried: a call was denied"],
    );
    // A check that erred without asking the stack anything (here a missing
    // --param): another attempt would read the same params.
    runs_once(
        &[],
        &["--param url", "(not retried: the check asked nothing"],
    );

    // Combinations that make no sense are refused before anything runs.
    for (args, expected) in [
        (vec!["--retry-interval", "1s"], "--retry"),
        (
            vec!["--retry", "2", "--record", "/tmp/gate-retry.json"],
            "--record",
        ),
        (vec!["--retry", "101"], "101"),
    ] {
        let out = Gate::policies(&["fetch"])
            .target(&once.url())
            .args(&args)
            .run();
        assert_eq!(out.code, 2, "{args:?}: {}", out.all_output());
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
    }
    let out = Gate::watch(&["fetch"])
        .target(&once.url())
        .args(["--retry", "2", "--interval", "1s", "--count", "1"])
        .run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stderr.contains("--retry is for gate run"),
        "{}",
        out.stderr
    );
    assert_eq!(once.requests().len(), 1, "nothing ran");
}

#[test]
fn an_environment_retries_its_checks_and_a_flag_overrides_it() {
    let dir = std::env::temp_dir().join(format!("gate-e2e-retry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let config = write(
        "gate.toml",
        "[env.stage]\nretry = 2\nretry_interval = \"20ms\"\n",
    );
    let fetch = |stage: &Stub, extra: &[&str]| {
        Gate::policies(&["fetch"])
            .args(["--config", config.as_str(), "--env", "stage"])
            .target(&stage.url())
            .param("url=/health")
            .args(extra)
            .json()
            .run()
    };
    let rolling = Stub::sequence(&[503, 200]);
    let out = fetch(&rolling, &[]);
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert_eq!(out.check("fetch", "get")["attempts"], 2);

    let rolling = Stub::sequence(&[503, 200]);
    let out = fetch(&rolling, &["--retry", "0"]);
    assert_eq!(
        out.code,
        1,
        "--retry 0 runs each check once: {}",
        out.all_output()
    );
    assert_eq!(rolling.requests().len(), 1);

    // gate watch runs every check once a round, and says why.
    let up = Stub::sequence(&[200]);
    let out = Gate::watch(&["fetch"])
        .args(["--config", config.as_str(), "--env", "stage"])
        .target(&up.url())
        .param("url=/health")
        .args(["--interval", "10ms", "--count", "1"])
        .run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert!(
        out.stderr.contains("which is for gate run"),
        "{}",
        out.stderr
    );

    // --record keeps one attempt per check, so the file's retry is set
    // aside: the recording holds the answer the check was judged on.
    let fixture = dir.join("stage.json");
    let rolling = Stub::sequence(&[503, 200]);
    let out = fetch(&rolling, &["--record", fixture.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(out.stderr.contains("--record sets aside"), "{}", out.stderr);
    assert_eq!(rolling.requests().len(), 1);
    let recording: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let text = recording.to_string();
    assert!(
        text.contains("503") && !text.contains("\"status\":200"),
        "{text}"
    );
    let replay = Gate::new(["test"]).arg(guest("fetch")).arg(&fixture).run();
    assert_eq!(
        replay.code,
        0,
        "the fixture replays as recorded: {}",
        replay.all_output()
    );

    // Bad values are named with the file, line and key.
    for (text, expected) in [
        (
            "[env.stage]\nretry = 500\n",
            ":2:9: env.stage.retry: 500 more attempts is out of range (0 to 100)",
        ),
        (
            "[env.stage]\nretry_interval = \"1s\"\n",
            "env.stage.retry_interval: an interval without retries",
        ),
    ] {
        let bad = write("bad.toml", text);
        let out = Gate::new(["config", "check", "--config", &bad]).run();
        assert_eq!(out.code, 2, "{}", out.all_output());
        assert!(out.all_output().contains(expected), "{}", out.all_output());
    }
    // --retry N gives the file's interval retries to wait between.
    let interval = write("interval.toml", "[env.stage]\nretry_interval = \"10ms\"\n");
    let stage = Stub::start(200, &[]);
    let run = |extra: &[&str]| {
        Gate::policies(&["fetch"])
            .target(&stage.url())
            .param("url=/health")
            .args(["--config", &interval, "--env", "stage"])
            .args(extra)
            .run()
    };
    for retries in ["1", "0"] {
        let given = run(&["--retry", retries]);
        assert_eq!(given.code, 0, "--retry {retries}: {}", given.all_output());
    }
    let refused = run(&[]);
    assert_eq!(refused.code, 2, "{}", refused.all_output());
    assert!(
        refused.stderr.contains("(unless a run gives --retry N)"),
        "{}",
        refused.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_runs_only_the_checks_it_names_and_the_verdict_says_so() {
    let stage = Stub::sequence(&[200]);
    let decisions =
        std::env::temp_dir().join(format!("gate-e2e-check-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&decisions);
    // The hostile policy has checks that loop, hog memory and panic; with
    // --check only its harmless one runs, and fetch (no check named) not at all.
    let run = |checks: &[&str]| {
        let mut gate = Gate::policies(&["hostile", "fetch"])
            .target(&stage.url())
            .param("url=/health")
            .args(["--decision-log"])
            .arg(&decisions)
            .json();
        for check in checks {
            gate = gate.args(["--check", check]);
        }
        gate.run()
    };

    let out = run(&["ok"]);
    assert_eq!(out.code, 0, "{}", out.all_output());
    let report = out.json();
    let errors = gate_e2e::schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    let policies = report["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{report}");
    assert_eq!(policies[0]["name"], "hostile");
    let checks: Vec<&str> = policies[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["ok"]);
    assert_eq!(report["only_checks"], serde_json::json!(["ok"]));
    let reason = report["verdict"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("only 1 of ") && reason.ends_with("checks ran (--check ok)"),
        "{reason}"
    );
    assert!(stage.requests().is_empty(), "fetch's check did not run");

    // POLICY/NAME and a glob pick across policies; the checks picked run
    // and decide as usual (the hostile panic fails the run).
    let out = run(&["fetch/get", "hostile/pan*"]);
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert_eq!(out.check("hostile", "panic")["outcome"], "error");
    assert_eq!(out.check("fetch", "get")["outcome"], "pass");
    assert_eq!(stage.requests().len(), 1);
    let report = out.json();
    let ran: usize = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["checks"].as_array().unwrap().len())
        .sum();
    assert_eq!(ran, 2, "{report}");

    // A name that picks nothing stops the run before any check: a typo must
    // not pass as a run of no checks.
    let out = run(&["helth"]);
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stderr
            .contains("--check helth names no check of hostile: ok, spin")
            && out.stderr.contains("fetch: get"),
        "{}",
        out.stderr
    );
    assert_eq!(stage.requests().len(), 1, "nothing ran");
    // Names that pick every check make a whole run, not a partial one.
    let out = Gate::policies(&["fetch"])
        .target(&stage.url())
        .param("url=/health")
        .args(["--check", "*", "--format", "json"])
        .run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    let report = out.json();
    assert!(report.get("only_checks").is_none(), "{report}");
    assert!(
        !report["verdict"]["reason"]
            .as_str()
            .unwrap()
            .contains("--check"),
        "{report}"
    );
    // --skip-check leaves checks out instead, and says so the same way.
    let out = Gate::policies(&["hostile", "fetch"])
        .target(&stage.url())
        .param("url=/health")
        .args(["--skip-check", "hostile/*", "--format", "json"])
        .run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    let report = out.json();
    let errors = gate_e2e::schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["skip_checks"], serde_json::json!(["hostile/*"]));
    assert_eq!(report["policies"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(out.check("fetch", "get")["outcome"], "pass");
    let reason = report["verdict"]["reason"].as_str().unwrap();
    assert!(
        reason.ends_with("only 1 of 18 checks ran (--skip-check hostile/*)"),
        "{reason}"
    );
    for (args, says) in [
        (
            ["--check", "get", "--skip-check", "get"],
            "leave no check to run",
        ),
        (
            ["--check", "get", "--skip-check", "nope"],
            "--skip-check nope names no check of fetch: get",
        ),
    ] {
        let out = Gate::policies(&["fetch"])
            .target(&stage.url())
            .param("url=/health")
            .args(args)
            .run();
        assert_eq!(out.code, 2, "{args:?}: {}", out.all_output());
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    let out = Gate::policies(&["fetch"]).args(["--check", ""]).run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(out.stderr.contains("POLICY/NAME"), "{}", out.stderr);

    // The decision log keeps what was run; its figures leave partial runs out.
    let log = std::fs::read_to_string(&decisions).unwrap();
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries.len(), 2, "{log}");
    for entry in &entries {
        assert_eq!(entry["schema"], "gate.decision/v1");
        let errors = decision_log_schema_errors(entry);
        assert!(errors.is_empty(), "{errors:#?}\n{entry}");
    }
    assert_eq!(
        entries[1]["only_checks"],
        serde_json::json!(["fetch/get", "hostile/pan*"])
    );
    let stats = Gate::new(["log", "stats"]).arg(&decisions).run();
    assert_eq!(stats.code, 0, "{}", stats.all_output());
    assert!(
        stats
            .stdout
            .contains("not counted: 2 decision(s) over part of the checks (--check, --skip-check)"),
        "{}",
        stats.stdout
    );
    let _ = std::fs::remove_file(&decisions);

    // gate watch takes --check as well: a window of the harmless check alone.
    let out = Gate::watch(&["hostile"])
        .args(["--check", "ok", "--interval", "10ms", "--count", "2"])
        .run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert!(
        out.all_output().contains("checks ran (--check ok)"),
        "{}",
        out.all_output()
    );
}

#[test]
fn a_policy_of_no_checks_is_inconclusive() {
    // Nothing was named, so nothing was selected away: the run is whole, of
    // no checks, and fails closed as inconclusive rather than passing.
    let out = Gate::policies(&["bench"])
        .param("suite=http")
        .param("checks=0")
        .json()
        .run();
    assert_eq!(out.code, 3, "{}", out.all_output());
    assert!(!out.stderr.contains("--check"), "{}", out.stderr);
    let report = out.json();
    let errors = gate_e2e::schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["verdict"]["decision"], "inconclusive", "{report}");
    assert!(
        report["verdict"]["reason"]
            .as_str()
            .unwrap()
            .contains("no blocking check ran to a decision"),
        "{report}"
    );
    assert_eq!(report["policies"][0]["name"], "bench", "{report}");
    assert_eq!(
        report["policies"][0]["checks"].as_array().map(Vec::len),
        Some(0)
    );
}

/// `--release` (or `GATE_RELEASE`) reaches policies; a recording keeps it
/// and a replay gives it back.
#[test]
fn policies_read_the_runs_release_live_and_replayed() {
    let stage = Stub::start(200, &[]);
    let fetch = |gate: Gate| {
        gate.target(&stage.url())
            .param("url=/health")
            .param("show_release=1")
            .json()
            .run()
    };
    let message = |out: &gate_e2e::Outcome| {
        assert_eq!(out.code, 0, "{}", out.all_output());
        out.check("fetch", "get")["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let flag = fetch(Gate::policies(&["fetch"]).args(["--release", "v1.4.2"]));
    assert!(
        message(&flag).ends_with("for release [v1.4.2]"),
        "{}",
        flag.stdout
    );
    let env = fetch(Gate::policies(&["fetch"]).env("GATE_RELEASE", "git-5fe9ba4"));
    assert!(
        message(&env).ends_with("for release [git-5fe9ba4]"),
        "{}",
        env.stdout
    );
    let none = fetch(Gate::policies(&["fetch"]));
    assert!(
        message(&none).ends_with("for no release"),
        "{}",
        none.stdout
    );

    let dir = std::env::temp_dir().join(format!("gate-e2e-release-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = dir.join("stage.json");
    let recorded = fetch(Gate::policies(&["fetch"]).args([
        "--release",
        "v1.4.2",
        "--record",
        fixture.to_str().unwrap(),
    ]));
    message(&recorded);
    let mut tape: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    assert_eq!(tape["context"]["release"], "v1.4.2", "{tape}");
    tape["policies"][0]["checks"][0]["expect"]["message_contains"] = "[v1.4.2]".into();
    let replay = |tape: &serde_json::Value| {
        std::fs::write(&fixture, tape.to_string()).unwrap();
        Gate::new(["test"]).arg(guest("fetch")).arg(&fixture).run()
    };
    let same = replay(&tape);
    assert_eq!(same.code, 0, "{}", same.all_output());
    tape["context"]["release"] = "v1.5.0".into();
    let other = replay(&tape);
    assert_eq!(other.code, 1, "{}", other.all_output());
    assert!(other.stdout.contains("[v1.5.0]"), "{}", other.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A variable that stands for a flag but is set to nothing (a CI variable
/// defined for another environment only) is the flag not given, never a
/// refusal naming a flag nobody typed.
#[test]
fn empty_flag_variables_are_flags_not_given() {
    let stage = Stub::start(200, &[]);
    let out = Gate::policies(&["fetch"])
        .target(&stage.url())
        .param("url=/health")
        .param("show_release=1")
        .env("GATE_PROMETHEUS", "")
        .env("GATE_RELEASE", "")
        .env("GATE_COMMITTED_AT", "")
        .env("GATE_CONFIG", "")
        .json()
        .run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    assert!(
        out.check("fetch", "get")["message"]
            .as_str()
            .unwrap()
            .ends_with("for no release"),
        "{}",
        out.stdout
    );
    // Set, it still counts.
    let bad = Gate::policies(&["fetch"])
        .target(&stage.url())
        .env("GATE_PROMETHEUS", "prometheus:9090")
        .run();
    assert_eq!(bad.code, 2, "{}", bad.all_output());
}

/// Checks are named POLICY/CHECK: a run refuses two policies of one name
/// (the same file given twice) before any check runs.
#[test]
fn two_policies_of_one_name_are_refused() {
    let stage = Stub::start(200, &[]);
    let out = Gate::new(["run"])
        .arg(guest("fetch"))
        .arg(guest("fetch"))
        .target(&stage.url())
        .param("url=/health")
        .run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stderr.contains(
            "are both named `fetch`: a run names checks POLICY/CHECK, so it cannot hold two \
             policies of one name (is one file given twice?)"
        ),
        "{}",
        out.stderr
    );
    assert!(stage.requests().is_empty(), "nothing ran");
}

/// Each policy decides for itself: the smoke suite passing does not stand
/// in for a rollback trigger whose checks were all skipped (no Prometheus).
#[test]
fn a_policy_that_decided_nothing_is_not_covered_by_another() {
    let stack = stack();
    let out = Gate::policies(&["api", "rollback"])
        .target(&stack.url())
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .json()
        .run();
    assert_eq!(out.code, 3, "{}", out.all_output());
    let report = out.json();
    assert_eq!(report["verdict"]["decision"], "inconclusive", "{report}");
    assert_eq!(
        report["verdict"]["reason"],
        "no blocking check of policy rollback ran to a decision (all skipped, or none to run)",
        "{report}"
    );
    assert_eq!(out.check("api", "health")["outcome"], "pass", "{report}");
}

/// A policy of non-blocking checks only gives advice: alone it decides
/// nothing (inconclusive, never a pass), and beside a policy that decided,
/// even its failure changes nothing.
#[test]
fn a_policy_of_non_blocking_checks_alone_decides_nothing() {
    let stack = stack();
    let alone = Gate::policies(&["advisory"])
        .target(&stack.url())
        .json()
        .run();
    assert_eq!(alone.code, 3, "{}", alone.all_output());
    let report = alone.json();
    assert_eq!(report["verdict"]["decision"], "inconclusive", "{report}");
    assert_eq!(
        report["verdict"]["reason"],
        "no blocking check ran to a decision: the run has none (policy advisory: non-blocking \
         checks only, which never decide, or no checks)",
        "{report}"
    );
    assert_eq!(
        alone.check("advisory", "health")["outcome"],
        "pass",
        "{report}"
    );

    let beside = Gate::policies(&["api", "advisory"])
        .target(&stack.url())
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .param("url=/no-such-page")
        .json()
        .run();
    assert_eq!(beside.code, 0, "{}", beside.all_output());
    let report = beside.json();
    assert_eq!(report["verdict"]["decision"], "pass", "{report}");
    assert_eq!(
        report["verdict"]["reason"],
        "every blocking check passed; not counted: policy advisory (no blocking check in the run)",
        "{report}"
    );
    assert_eq!(
        beside.check("advisory", "health")["outcome"],
        "fail",
        "{report}"
    );
}

/// A check whose deadline passes while it waits on a server that never
/// answers is recorded as it ran, its call unanswered (whether the request's
/// own timeout, cut to the deadline, answered it then or the deadline
/// dropped it), and `gate test` ends the check where the run did, with the
/// run's message.
#[test]
fn a_check_its_deadline_cut_short_replays_as_it_ran() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        // Held open, never answered; the test makes one connection.
        let _held: Vec<_> = listener.incoming().take(4).collect();
    });
    let dir = std::env::temp_dir().join(format!("gate-e2e-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = dir.join("silent.json");
    let out = Gate::policies(&["fetch"])
        .target(&silent)
        .param("url=/health")
        .args(["--timeout", "1s", "--record", fixture.to_str().unwrap()])
        .json()
        .run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    let check = out.check("fetch", "get");
    assert_eq!(check["outcome"], "error", "{check}");
    let tape: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let recorded = &tape["policies"][0]["checks"][0];
    assert_eq!(recorded["expect"]["outcome"], "error", "{tape}");
    let call = &recorded["calls"][0];
    assert_eq!(call["unanswered"], true, "{tape}");
    assert!(call.get("answer").is_none(), "{tape}");
    let message = check["message"].as_str().unwrap();
    assert!(message.starts_with("deadline exceeded"), "{message}");
    let mut tape = tape;
    tape["policies"][0]["checks"][0]["expect"]["message_contains"] = message.into();
    std::fs::write(&fixture, tape.to_string()).unwrap();
    let replay = Gate::new(["test"]).arg(guest("fetch")).arg(&fixture).run();
    assert_eq!(replay.code, 0, "{}", replay.all_output());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A check that sleeps past its deadline ends with the deadline's error,
/// and so does its replay, where sleeps return at once: a sleep longer
/// than the time left is the deadline, replayed as live.
#[test]
fn a_sleep_past_the_deadline_replays_as_the_deadline() {
    let dir = std::env::temp_dir().join(format!("gate-e2e-sleepy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = dir.join("sleepy.json");
    let out = Gate::policies(&["hostile"])
        .args(["--check", "hostile/sleepy", "--timeout", "300ms"])
        .args(["--record", fixture.to_str().unwrap()])
        .json()
        .run();
    let check = out.check("hostile", "sleepy");
    assert_eq!(check["error"], "deadline", "{check}");
    let mut tape: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let recorded = tape["policies"][0]["checks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == "sleepy")
        .unwrap();
    recorded["expect"]["message_contains"] = check["message"].clone();
    std::fs::write(&fixture, tape.to_string()).unwrap();
    let replay = Gate::new(["test"])
        .arg(guest("hostile"))
        .arg(&fixture)
        .run();
    assert_eq!(replay.code, 0, "{}", replay.all_output());
    let _ = std::fs::remove_dir_all(&dir);
}
