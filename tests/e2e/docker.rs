//! The docker capability against the real Docker engine: compose stacks of
//! the sample service's `FROM scratch` image, healthy and broken.
//!
//! Without an engine these tests are skipped with a message; with `CI=true`
//! they fail instead.

use gate_e2e::docker::{Compose, Image, engine_or_skip, free_port};
use gate_e2e::{Gate, Outcome, root, stack};

fn message(out: &Outcome, policy: &str, check: &str) -> String {
    out.check(policy, check)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn outcome(out: &Outcome, policy: &str, check: &str) -> String {
    out.check(policy, check)["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The shipped compose file, on a free port, with the image of this test.
fn shipped_stack(name: &str, image: &Image) -> (Compose, u16) {
    let port = free_port();
    let compose = Compose::up(
        name,
        &root().join("demo/docker-compose.yml"),
        &[
            ("SAMPLE_IMAGE", image.reference.clone()),
            ("WEB_PORT", port.to_string()),
        ],
    );
    compose.wait_until("healthy", |status| status.contains("(healthy)"));
    (compose, port)
}

fn prod(compose: &Compose, port: u16, params: &[&str]) -> Outcome {
    let mut gate = Gate::policies(&["prod"])
        .target(&format!("http://127.0.0.1:{port}"))
        .arg("--docker")
        .param(&format!("compose_project={}", compose.project))
        .param("samples=3");
    for param in params {
        gate = gate.param(param);
    }
    gate.json().run()
}

#[test]
fn healthy_stack_passes_and_a_wrong_tag_or_memory_over_the_limit_fails() {
    if !engine_or_skip("healthy_stack_passes_and_a_wrong_tag_or_memory_over_the_limit_fails") {
        return;
    }
    let image = Image::build("healthy", "v1");
    let (compose, port) = shipped_stack("healthy", &image);
    let web = compose.container("web");

    let out = prod(&compose, port, &["expected_tag=v1"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    for check in ["ready", "containers", "image-tag", "resources"] {
        assert_eq!(
            outcome(&out, "prod", check),
            "pass",
            "{check}: {}",
            out.stdout
        );
    }
    assert!(
        message(&out, "prod", "containers").contains("all 1 containers"),
        "{}",
        out.stdout
    );
    // A plain-http target has no certificate: that check says what to grant.
    assert_eq!(outcome(&out, "prod", "certificate"), "skipped");
    // The engine requests are in the record.
    let calls = &out.check("prod", "containers")["calls"];
    assert!(
        calls[0]["url"]
            .as_str()
            .unwrap()
            .starts_with("unix:///var/run/docker.sock/containers/json"),
        "{calls}"
    );

    let wrong = prod(&compose, port, &["expected_tag=v2"]);
    assert_eq!(wrong.code, 1, "{}", wrong.stdout);
    assert_eq!(outcome(&wrong, "prod", "image-tag"), "fail");
    let text = message(&wrong, "prod", "image-tag");
    assert!(
        text.contains(&format!("{web} runs {}", image.reference)) && text.contains("`v2`"),
        "{text}"
    );

    // Without the param, the tag to expect is the run's release.
    let by_release = |release: &str| {
        Gate::policies(&["prod"])
            .target(&format!("http://127.0.0.1:{port}"))
            .arg("--docker")
            .param(&format!("compose_project={}", compose.project))
            .args(["--check", "image-tag", "--release", release])
            .json()
            .run()
    };
    let promoted = by_release("v1");
    assert_eq!(promoted.code, 0, "{}", promoted.stdout);
    assert_eq!(outcome(&promoted, "prod", "image-tag"), "pass");
    let other = by_release("v2");
    assert_eq!(other.code, 1, "{}", other.stdout);
    let text = message(&other, "prod", "image-tag");
    assert!(
        text.contains(&format!("{web} runs {}", image.reference)) && text.contains("`v2`"),
        "{text}"
    );

    let heavy = prod(
        &compose,
        port,
        &["expected_tag=v1", "max_memory_percent=0.01"],
    );
    assert_eq!(heavy.code, 1, "{}", heavy.stdout);
    assert_eq!(outcome(&heavy, "prod", "resources"), "fail");
    let text = message(&heavy, "prod", "resources");
    assert!(
        text.contains(&format!("{web} memory")) && text.contains("of 64.0 MiB) (limit < 0.01 %)"),
        "{text}"
    );
}

#[test]
fn a_failing_health_check_fails_naming_the_container_and_its_probe() {
    if !engine_or_skip("a_failing_health_check_fails_naming_the_container_and_its_probe") {
        return;
    }
    let image = Image::build("unhealthy", "v1");
    let compose = Compose::up_text(
        "unhealthy",
        r#"
version: "2.4"
services:
  web:
    image: ${SAMPLE_IMAGE}
    healthcheck:
      test: ["CMD", "/sample-service", "probe", "http://127.0.0.1:8080/no-such-path"]
      interval: 1s
      timeout: 2s
      retries: 1
"#,
        &[("SAMPLE_IMAGE", image.reference.clone())],
    );
    compose.wait_until("unhealthy", |status| status.contains("(unhealthy)"));
    let web = compose.container("web");

    let out = Gate::policies(&["prod"])
        .arg("--docker")
        .param(&format!("compose_project={}", compose.project))
        .json()
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(outcome(&out, "prod", "containers"), "fail");
    let text = message(&out, "prod", "containers");
    assert!(
        text.contains(&format!("{web} is unhealthy"))
            && text.contains("GET /no-such-path answered 404"),
        "{text}"
    );
}

#[test]
fn an_exited_container_fails_naming_it_and_its_exit_code() {
    if !engine_or_skip("an_exited_container_fails_naming_it_and_its_exit_code") {
        return;
    }
    let image = Image::build("exited", "v1");
    // Without --container the service refuses 0.0.0.0 and exits 2, as a
    // misconfigured release would.
    let compose = Compose::up_text(
        "exited",
        r#"
version: "2.4"
services:
  web:
    image: ${SAMPLE_IMAGE}
    healthcheck:
      test: ["CMD", "/sample-service", "probe"]
      interval: 1s
  worker:
    image: ${SAMPLE_IMAGE}
    entrypoint: ["/sample-service", "--listen", "0.0.0.0:8080"]
"#,
        &[("SAMPLE_IMAGE", image.reference.clone())],
    );
    compose.wait_until("exited and healthy", |status| {
        status.contains("Exited (2)") && status.contains("(healthy)")
    });
    let worker = compose.container("worker");
    let web = compose.container("web");

    let out = Gate::policies(&["prod"])
        .arg("--docker")
        .param(&format!("compose_project={}", compose.project))
        .json()
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let text = message(&out, "prod", "containers");
    assert!(
        text.contains(&format!("{worker} is exited (exit code 2)")) && !text.contains(&web),
        "{text}"
    );
    assert!(text.starts_with("1 of 2 containers"), "{text}");
}

/// A one-shot service (a `migrate` job) named in `compose_jobs` passes once
/// it exited 0; one still running fails as not finished, and so does a job
/// name that matches no service. Unnamed, an exited job fails as before.
#[test]
fn one_shot_jobs_pass_once_they_exited_0() {
    if !engine_or_skip("one_shot_jobs_pass_once_they_exited_0") {
        return;
    }
    let image = Image::build("jobs", "v1");
    // `--help` prints and exits 0, as a finished migration; `seed` listens
    // on its own loopback and never ends.
    let compose = Compose::up_text(
        "jobs",
        r#"
version: "2.4"
services:
  web:
    image: ${SAMPLE_IMAGE}
    healthcheck:
      test: ["CMD", "/sample-service", "probe"]
      interval: 1s
  migrate:
    image: ${SAMPLE_IMAGE}
    entrypoint: ["/sample-service", "--help"]
  seed:
    image: ${SAMPLE_IMAGE}
    entrypoint: ["/sample-service", "--listen", "127.0.0.1:8080"]
    healthcheck:
      test: ["CMD", "/sample-service", "probe"]
      interval: 1s
"#,
        &[("SAMPLE_IMAGE", image.reference.clone())],
    );
    compose.wait_until("migrate exited 0, web and seed healthy", |status| {
        status.lines().count() == 3
            && status
                .lines()
                .all(|line| line.contains("Exited (0)") || line.contains("(healthy)"))
    });
    let (migrate, seed) = (compose.container("migrate"), compose.container("seed"));
    let containers = |jobs: &[&str]| {
        let mut gate = Gate::policies(&["prod"])
            .arg("--docker")
            .param(&format!("compose_project={}", compose.project))
            .args(["--check", "prod/containers"])
            .json();
        if !jobs.is_empty() {
            gate = gate.param(&format!("compose_jobs={}", jobs.join(",")));
        }
        let out = gate.run();
        (out.code, message(&out, "prod", "containers"))
    };

    let (code, text) = containers(&["migrate"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.ends_with("; job migrate completed"), "{text}");

    let (code, text) = containers(&[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("{migrate} is exited (exit code 0)")),
        "{text}"
    );

    let (code, text) = containers(&["migrate", "seed"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "{seed} is still running (a one-shot job that has not finished)"
        )) && !text.contains(&migrate),
        "{text}"
    );

    let (code, text) = containers(&["migrat"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("job `migrat` matches no container of")
            && text.contains("(its services: migrate, seed, web)"),
        "{text}"
    );
}

#[test]
fn bluegreen_passes_only_for_a_healthy_ready_standby_on_the_expected_tag() {
    if !engine_or_skip("bluegreen_passes_only_for_a_healthy_ready_standby_on_the_expected_tag") {
        return;
    }
    let blue_image = Image::build("blue", "1");
    let green_image = Image::build("green", "2");
    let (blue_port, green_port) = (free_port(), free_port());
    let compose = Compose::up(
        "bluegreen",
        &root().join("demo/bluegreen/docker-compose.yml"),
        &[
            ("BLUE_IMAGE", blue_image.reference.clone()),
            ("GREEN_IMAGE", green_image.reference.clone()),
            ("BLUE_PORT", blue_port.to_string()),
            ("GREEN_PORT", green_port.to_string()),
        ],
    );
    compose.wait_until("healthy", |status| status.matches("(healthy)").count() == 2);
    let gate = |standby: &str, tag: &str, port: u16| {
        Gate::policies(&["bluegreen"])
            .arg("--docker")
            .target(&format!("http://127.0.0.1:{port}"))
            .param(&format!("compose_project={}", compose.project))
            .param(&format!("standby={standby}"))
            .param(&format!("expected_tag={tag}"))
            .json()
            .run()
    };

    let ok = gate("green", "2", green_port);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(message(&ok, "bluegreen", "standby-ready").contains("answered 200"));

    let old_tag = gate("green", "1", green_port);
    assert_eq!(old_tag.code, 1);
    let text = message(&old_tag, "bluegreen", "standby-tag");
    assert!(
        text.contains(&compose.container("green")) && text.contains("`1`"),
        "{text}"
    );

    // Pointing at the live colour would judge the wrong /ready.
    let live = gate("green", "2", blue_port);
    assert_eq!(live.code, 1);
    assert!(
        message(&live, "bluegreen", "standby-ready")
            .contains(&format!("publishes port {green_port}")),
        "{}",
        live.stdout
    );

    let missing = gate("purple", "2", green_port);
    assert_eq!(missing.code, 1);
    assert!(
        message(&missing, "bluegreen", "standby-healthy")
            .contains("no container of service `purple`")
    );
}

#[test]
fn an_unreachable_engine_is_an_error_and_exit_1() {
    let service = stack();
    let out = Gate::policies(&["prod"])
        .target(&service.url())
        .args(["--docker", "unix:///nonexistent/gate-e2e/docker.sock"])
        .param("compose_project=shop")
        .param("expected_tag=v1")
        .param("samples=2")
        .json()
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    for check in ["containers", "image-tag", "resources"] {
        assert_eq!(outcome(&out, "prod", check), "error", "{check}");
        let text = message(&out, "prod", check);
        assert!(
            text.contains("unreachable") && text.contains("/nonexistent/gate-e2e/docker.sock"),
            "{text}"
        );
    }
    assert_eq!(outcome(&out, "prod", "ready"), "pass");

    // Over tcp, the cause as the system said it, not the client's wrappers.
    let refused = Gate::policies(&["prod"])
        .args(["--docker", "tcp://127.0.0.1:1"])
        .args(["--check", "containers"])
        .param("compose_project=shop")
        .json()
        .run();
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    let text = message(&refused, "prod", "containers");
    assert!(
        text.contains("Docker engine tcp://127.0.0.1:1 is unreachable: ")
            && text.contains("refused")
            && text.contains("is Docker running there?")
            && !text.contains("hyper"),
        "{text}"
    );

    // `--docker` alone honours DOCKER_HOST.
    let from_env = Gate::policies(&["prod"])
        .arg("--docker")
        .env("DOCKER_HOST", "unix:///nonexistent/from-env.sock")
        .param("compose_project=shop")
        .json()
        .run();
    assert_eq!(from_env.code, 1);
    assert!(
        message(&from_env, "prod", "containers").contains("/nonexistent/from-env.sock"),
        "{}",
        from_env.stdout
    );
}

#[test]
fn without_docker_the_container_checks_are_skipped_naming_the_flag() {
    let service = stack();
    let out = Gate::policies(&["prod"])
        .target(&service.url())
        .param("samples=2")
        .json()
        .run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    for check in ["containers", "image-tag", "resources"] {
        assert_eq!(outcome(&out, "prod", check), "skipped");
        assert!(message(&out, "prod", check).contains("--docker"));
    }
    let bad = Gate::policies(&["prod"])
        .args(["--docker", "ftp://x"])
        .run();
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("not a Docker host"), "{}", bad.stderr);
}

#[test]
fn a_missing_compose_project_param_is_an_error_naming_it() {
    let out = Gate::policies(&["prod"])
        .args(["--docker", "unix:///nonexistent/docker.sock"])
        .json()
        .run();
    assert_eq!(out.code, 1);
    assert!(
        message(&out, "prod", "containers").contains("--param compose_project="),
        "{}",
        out.stdout
    );
}

/// The calls of check `check` of prod in a fixture.
fn calls_of<'a>(tape: &'a mut serde_json::Value, check: &str) -> &'a mut Vec<serde_json::Value> {
    gate_e2e::fixture_check(tape, "prod", check)["calls"]
        .as_array_mut()
        .unwrap()
}

#[test]
fn a_recorded_run_replays_with_the_stack_down_and_an_edited_health_fails() {
    if !engine_or_skip("a_recorded_run_replays_with_the_stack_down_and_an_edited_health_fails") {
        return;
    }
    let image = Image::build("replay", "v1");
    let (compose, port) = shipped_stack("replay", &image);
    let dir = std::env::temp_dir().join(format!("gate-e2e-docker-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = dir.join("stage.json");
    let recorded = Gate::policies(&["prod"])
        .target(&format!("http://127.0.0.1:{port}"))
        .arg("--docker")
        .param(&format!("compose_project={}", compose.project))
        .param("samples=3")
        // The tag to expect is the release's, which the recording keeps.
        .args(["--release", "v1"])
        .arg("--record")
        .arg(&fixture)
        .json()
        .run();
    assert_eq!(recorded.code, 0, "{}", recorded.stdout);
    drop(compose);

    let text = std::fs::read_to_string(&fixture).unwrap();
    let mut tape: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(tape["context"]["docker"].is_string(), "{text}");
    assert_eq!(tape["context"]["release"], "v1", "{text}");
    let calls: Vec<&str> = calls_of(&mut tape, "containers")
        .iter()
        .map(|c| c["call"].as_str().unwrap())
        .collect();
    assert_eq!(
        calls,
        ["docker.list_containers", "docker.inspect"],
        "{text}"
    );
    assert_eq!(
        calls_of(&mut tape, "resources")[1]["call"],
        "docker.stats",
        "{text}"
    );

    // The stack is gone: every engine answer comes from the fixture.
    let replayed = Gate::new(["test"])
        .arg(gate_e2e::guest("prod"))
        .arg(&fixture)
        .json()
        .run();
    assert_eq!(replayed.code, 0, "{}", replayed.stdout);
    let checks = &replayed.json()["fixtures"][0]["checks"];
    for check in ["containers", "image-tag", "resources"] {
        let actual = checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == check)
            .map(|c| c["actual"].clone());
        assert_eq!(actual, Some("pass".into()), "{check}: {}", replayed.stdout);
    }

    // The engine now says the web container is unhealthy.
    let inspect = &mut calls_of(&mut tape, "containers")[1];
    assert_eq!(
        inspect["answer"]["ok"]["health"]["status"], "Healthy",
        "{text}"
    );
    inspect["answer"]["ok"]["health"]["status"] = "Unhealthy".into();
    inspect["answer"]["ok"]["health"]["last_output"] = "GET /health answered 503".into();
    let edited = dir.join("unhealthy.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&tape).unwrap()).unwrap();
    let out = Gate::new(["test"])
        .arg(gate_e2e::guest("prod"))
        .arg(&edited)
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("FAIL  containers")
            && out.stdout.contains("expected pass, got fail")
            && out.stdout.contains("GET /health answered 503"),
        "{}",
        out.stdout
    );
    let _ = std::fs::remove_dir_all(&dir);
}
