//! The authoring toolkit: `gate new` + `gate build` + `gate run` of the
//! scaffold against the sample stack, and `gate run --record` then
//! `gate test` with the stack stopped; and the shell completions an author
//! types them with.

use std::path::{Path, PathBuf};

use gate_e2e::prometheus::{Prometheus, Traffic};
use gate_e2e::{API_TOKEN, Gate, Outcome, fixture_check, guest, stack};
use serde_json::{Value, json};

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("gate-authoring-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// gate with what cargo and rustup need to build (the harness clears the
/// environment). Scaffold builds share one target directory beside gate's,
/// so a second run of the suite reuses the first one's work.
fn with_toolchain(mut gate: Gate) -> Gate {
    for key in ["HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Ok(value) = std::env::var(key) {
            gate = gate.env(key, &value);
        }
    }
    gate.env("CARGO_TARGET_DIR", &scaffold_target().to_string_lossy())
}

/// Where scaffolds build: beside gate, in its target directory.
fn scaffold_target() -> PathBuf {
    let gate_bin = PathBuf::from(std::env::var_os("GATE_BIN").expect("GATE_BIN is set"));
    gate_bin
        .parent()
        .and_then(Path::parent)
        .expect("gate is in <target>/debug")
        .join("scaffold")
}

#[test]
fn a_new_policy_builds_and_passes_against_the_sample_stack() {
    let scratch = Scratch::new("new");
    let dir = scratch.path("shop");
    // The checkout this test was built from.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sdk = checkout.join("guest-sdk");
    let out = Gate::new(["new", "shop", "--path"])
        .arg(&dir)
        .arg("--sdk")
        .arg(&sdk)
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("gate build"), "{}", out.stdout);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let canonical_sdk = std::fs::canonicalize(&sdk).unwrap();
    assert!(
        manifest.contains(&format!("path = \"{}\"", canonical_sdk.display())),
        "{manifest}"
    );
    // The workspace's lock pins the SDK's dependencies, so the build
    // resolves nothing new.
    std::fs::copy(checkout.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let again = Gate::new(["new", "shop", "--path"]).arg(&dir).run();
    assert_eq!(again.code, 2, "an existing crate is never overwritten");
    assert!(again.stderr.contains("not empty"), "{}", again.stderr);

    // Its unit test passes natively, against the SDK's mock host.
    let unit =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["test", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", scaffold_target())
            .output()
            .expect("run cargo test");
    let unit_out = String::from_utf8_lossy(&unit.stdout);
    assert!(
        unit.status.success()
            && unit_out.contains("health_passes_on_200_and_fails_otherwise ... ok"),
        "{unit_out}\n{}",
        String::from_utf8_lossy(&unit.stderr)
    );

    let built = with_toolchain(Gate::new(["build"]).arg(&dir)).run();
    assert_eq!(built.code, 0, "{}", built.stderr);
    let wasm = dir.join("shop.wasm");
    assert!(
        wasm.is_file(),
        "gate build writes NAME.wasm beside Cargo.toml"
    );
    assert!(built.stdout.contains("sha256 "), "{}", built.stdout);

    let stack = stack();
    let run = Gate::new(["run"])
        .arg(&wasm)
        .target(&stack.url())
        .json()
        .run();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.check("shop", "health")["outcome"], "pass");

    let wrong = Gate::new(["run"])
        .arg(&wasm)
        .target(&stack.url())
        .param("health_path=/nothing-here")
        .json()
        .run();
    assert_eq!(
        wrong.code, 1,
        "the example check can fail: {}",
        wrong.stdout
    );
}

#[test]
fn gate_build_without_the_wasm_target_says_how_to_install_it() {
    let scratch = Scratch::new("no-target");
    let out = Gate::new(["new", "bare", "--kind", "smoke", "--path"])
        .arg(scratch.path("bare"))
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Outside the repository, the scaffold depends on the SDK of the
    // checkout gate was built from (this one), by its absolute path.
    let manifest = std::fs::read_to_string(scratch.path("bare/Cargo.toml")).unwrap();
    let sdk = std::fs::canonicalize(gate_e2e::root().join("guest-sdk")).unwrap();
    assert!(
        manifest.contains(&format!("gate-sdk = {{ path = \"{}\" }}", sdk.display())),
        "{manifest}"
    );

    // A rustc whose sysroot has no wasm32-wasip2 standard library.
    let sysroot = scratch.path("sysroot");
    std::fs::create_dir_all(&sysroot).unwrap();
    let rustc = scratch.path("rustc");
    std::fs::write(&rustc, format!("#!/bin/sh\necho '{}'\n", sysroot.display())).unwrap();
    let mut permissions = std::fs::metadata(&rustc).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&rustc, permissions).unwrap();

    let out = Gate::new(["build"])
        .arg(scratch.path("bare"))
        .env("RUSTC", &rustc.to_string_lossy())
        .run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the wasm32-wasip2 target is not installed")
            && out.stderr.contains("rustup target add wasm32-wasip2"),
        "{}",
        out.stderr
    );

    let nothing = Gate::new(["build"]).arg(scratch.path("missing")).run();
    assert_eq!(nothing.code, 2);
    assert!(
        nothing.stderr.contains("gate new NAME"),
        "{}",
        nothing.stderr
    );
    let bad = Gate::new(["new", "9lives"]).current_dir(&scratch.0).run();
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("not a valid policy name"),
        "{}",
        bad.stderr
    );
}

fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["checks"].as_array().unwrap().iter().map(move |c| {
                (
                    format!(
                        "{}/{}",
                        p["name"].as_str().unwrap(),
                        c["name"].as_str().unwrap()
                    ),
                    c["outcome"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect()
}

fn replayed(out: &Outcome, policy: &str) -> Vec<(String, String)> {
    out.json()["fixtures"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!("{policy}/{}", c["name"].as_str().unwrap()),
                c["actual"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

/// The recorded `prod/metrics-error-rate` of a fixture.
fn metrics_error_rate(fixture: &mut Value) -> &mut Value {
    fixture_check(fixture, "prod", "metrics-error-rate")
}

fn gate_test(policy: &str, fixture: &Path) -> Gate {
    Gate::new(["test"]).arg(guest(policy)).arg(fixture)
}

#[test]
fn a_recording_replays_with_the_stack_stopped_and_an_edit_fails_the_gate() {
    let scratch = Scratch::new("record");
    let fixture = scratch.path("stage.json");
    let stack = stack();
    let prometheus = Prometheus::start(&[stack.addr()]);
    let traffic = Traffic::start(stack.addr(), "/api/v1/products");
    prometheus.wait_for("sum(rate(http_requests_total[10s]))", |rate| rate > 0.0);

    let recorded = Gate::policies(&["api", "prod"])
        .target(&stack.url())
        .args(["--prometheus", &prometheus.url()])
        .param("window=10s")
        .param("samples=5")
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .arg("--record")
        .arg(&fixture)
        .json()
        .run();
    assert_eq!(recorded.code, 0, "{}", recorded.stdout);
    let recorded_outcomes = outcomes(&recorded.json());
    drop(traffic);
    drop(prometheus);
    drop(stack);

    let text = std::fs::read_to_string(&fixture).unwrap();
    assert!(!text.contains(API_TOKEN), "the secret is redacted:\n{text}");
    assert!(text.contains("Bearer [REDACTED]"), "{text}");
    let tape: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(tape["schema"], "gate.tape/v1");
    assert_eq!(tape["context"]["params"]["samples"], "5");

    // Nothing listens any more: every answer comes from the fixture.
    let api = gate_test("api", &fixture).json().run();
    let prod = gate_test("prod", &fixture).json().run();
    assert_eq!(api.code, 0, "{}", api.stdout);
    assert_eq!(prod.code, 0, "{}", prod.stdout);
    let mut replayed_outcomes = replayed(&api, "api");
    replayed_outcomes.extend(replayed(&prod, "prod"));
    assert_eq!(replayed_outcomes, recorded_outcomes);
    assert!(recorded_outcomes.contains(&("prod/metrics-error-rate".into(), "pass".into())));

    // Prometheus now says 3 % of requests failed.
    let mut edited = tape.clone();
    let calls = &mut metrics_error_rate(&mut edited)["calls"];
    assert_eq!(calls[0]["call"], "metrics.query");
    calls[0]["answer"] = json!({"vector": [{"samples": [[0, 0.03]]}]});
    let failing = scratch.path("three-percent.json");
    std::fs::write(&failing, serde_json::to_string_pretty(&edited).unwrap()).unwrap();

    let out = gate_test("prod", &failing).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("FAIL  metrics-error-rate")
            && out.stdout.contains("expected pass, got fail")
            && out.stdout.contains("error_rate_5xx 0.03"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("ok    ready"), "{}", out.stdout);

    // Saying so in the fixture turns the scenario into a passing test.
    metrics_error_rate(&mut edited)["expect"]["outcome"] = json!("fail");
    std::fs::write(&failing, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let out = gate_test("prod", &failing).run();
    assert_eq!(out.code, 0, "{}", out.stdout);
}

/// A fixture written by hand: the smoke suite's `health` and `ready`, with
/// only `/health` recorded.
fn hand_written(dir: &Scratch) -> PathBuf {
    let fixture = json!({
        "schema": "gate.tape/v1",
        "context": {"target": "http://stage.example.com"},
        "policies": [{
            "name": "api",
            "checks": [
                {
                    "name": "health",
                    "expect": {"outcome": "pass", "message_contains": "answered 200"},
                    "calls": [{"call": "http.send",
                               "request": {"method": "GET", "url": "/health"},
                               "answer": {"status": 200, "body": "ok"}}]
                },
                {
                    "name": "ready",
                    "expect": {"outcome": "pass"},
                    "calls": [{"call": "http.send",
                               "request": {"method": "GET", "url": "/health"},
                               "answer": {"status": 200}}]
                }
            ]
        }]
    });
    let path = dir.path("hand.json");
    std::fs::write(&path, serde_json::to_string_pretty(&fixture).unwrap()).unwrap();
    path
}

#[test]
fn an_unexpected_call_fails_with_a_diff_of_asked_and_recorded() {
    let scratch = Scratch::new("unexpected");
    let fixture = hand_written(&scratch);
    let out = gate_test("api", &fixture).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("ok    health"), "{}", out.stdout);
    assert!(
        out.stdout.contains("FAIL  ready")
            && out.stdout.contains("call not in the fixture: http.send")
            && out
                .stdout
                .contains(r#"asked:    {"body":null,"headers":{},"method":"GET","url":"/ready"}"#)
            && out.stdout.contains(r#"- url: "/health""#)
            && out.stdout.contains(r#"+ url: "/ready""#),
        "{}",
        out.stdout
    );
    let json = gate_test("api", &fixture).json().run();
    let ready = &json.json()["fixtures"][0]["checks"][1];
    assert_eq!(ready["ok"], false);
    assert_eq!(ready["actual"], "error");
    assert_eq!(ready["unexpected"][0]["diff"][1], r#"+ url: "/ready""#);
}

#[test]
fn bad_fixtures_cannot_run() {
    let scratch = Scratch::new("bad");
    let fixture = hand_written(&scratch);
    let other = gate_test("prod", &fixture).run();
    assert_eq!(other.code, 2);
    assert!(
        other
            .stderr
            .contains("no recording of policy `prod` (it has: api)"),
        "{}",
        other.stderr
    );

    let broken = scratch.path("broken.json");
    std::fs::write(&broken, "{\"schema\": \"gate.tape/v1\",\n \"policies\": [}").unwrap();
    let out = gate_test("api", &broken).run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("broken.json:2:"), "{}", out.stderr);

    let text = std::fs::read_to_string(&fixture)
        .unwrap()
        .replace("http.send", "http.get");
    std::fs::write(&fixture, text).unwrap();
    let out = gate_test("api", &fixture).run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown call `http.get`"),
        "{}",
        out.stderr
    );
}

/// A body that is not text reaches the policy byte for byte, live and
/// replayed from its recording, where it is kept as base64.
#[test]
fn a_binary_body_reaches_the_policy_exactly_live_and_replayed() {
    let scratch = Scratch::new("binary");
    let fixture = scratch.path("binary.json");
    let body = [
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe,
    ];
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    let server = gate_e2e::stub::Stub::with_body(200, &[("content-type", "image/png")], &body);
    let fetch = |hex: &str| {
        Gate::policies(&["fetch"])
            .target(&server.url())
            .param("url=/logo.png")
            .param(&format!("body_hex={hex}"))
            .json()
    };

    // Any other bytes fail the check: it does compare them.
    let wrong = fetch("89504e47").run();
    assert_eq!(wrong.code, 1, "{}", wrong.stdout);
    assert!(
        wrong.check("fetch", "get")["message"]
            .as_str()
            .unwrap()
            .contains(&format!("body {hex}, not 89504e47")),
        "{}",
        wrong.stdout
    );

    let recorded = fetch(&hex).arg("--record").arg(&fixture).run();
    assert_eq!(recorded.code, 0, "{}", recorded.stdout);
    drop(server);
    let mut tape: Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let answer = &fixture_check(&mut tape, "fetch", "get")["calls"][0]["answer"];
    assert_eq!(answer["body_base64"], "iVBORw0KGgoA//4=", "{answer}");
    assert!(answer.get("body").is_none(), "{answer}");

    let replay = gate_test("fetch", &fixture).json().run();
    assert_eq!(replay.code, 0, "{}", replay.stdout);
    assert_eq!(
        replayed(&replay, "fetch"),
        [("fetch/get".into(), "pass".into())]
    );
}

/// Each `Set-Cookie` line reaches the policy apart, live and replayed from
/// its recording, where the lines are kept as a list; another repeated
/// header is joined with ", ".
#[test]
fn set_cookie_lines_stay_apart_live_and_replayed() {
    let scratch = Scratch::new("cookies");
    let fixture = scratch.path("cookies.json");
    let expiring = "id=7; Expires=Wed, 21 Oct 2026 07:28:00 GMT";
    let server = gate_e2e::stub::Stub::start(
        200,
        &[
            ("Set-Cookie", expiring),
            ("Vary", "accept"),
            ("set-cookie", "theme=dark"),
            ("vary", "origin"),
        ],
    );
    let fetch = |header: &str| {
        Gate::policies(&["fetch"])
            .target(&server.url())
            .param("url=/login")
            .param(&format!("show_header={header}"))
            .json()
    };
    let message = |out: &Outcome| {
        out.check("fetch", "get")["message"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cookies = format!("set-cookie: [{expiring}] [theme=dark]");

    let vary = fetch("vary").run();
    assert_eq!(vary.code, 0, "{}", vary.stdout);
    assert!(
        message(&vary).ends_with("vary: [accept, origin]"),
        "{}",
        vary.stdout
    );

    let recorded = fetch("set-cookie").arg("--record").arg(&fixture).run();
    assert_eq!(recorded.code, 0, "{}", recorded.stdout);
    assert!(
        message(&recorded).ends_with(&cookies),
        "{}",
        recorded.stdout
    );
    drop(server);
    let mut tape: Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    let answer = &fixture_check(&mut tape, "fetch", "get")["calls"][0]["answer"];
    assert_eq!(
        answer["headers"]["set-cookie"],
        json!([expiring, "theme=dark"]),
        "{answer}"
    );
    assert_eq!(answer["headers"]["vary"], "accept, origin", "{answer}");

    let replay = gate_test("fetch", &fixture).json().run();
    assert_eq!(replay.code, 0, "{}", replay.stdout);
    let replayed = &replay.json()["fixtures"][0]["checks"][0];
    assert_eq!(replayed["actual"], "pass", "{}", replay.stdout);
    assert!(
        replayed["message"].as_str().unwrap().ends_with(&cookies),
        "{}",
        replay.stdout
    );
}

/// The authoring flow's `--record checkout/fixtures/stage.json`, where
/// `gate new` made no `fixtures/`: the folder is created, and the recording
/// replays.
#[test]
fn a_recording_goes_into_a_folder_that_did_not_exist() {
    let scratch = Scratch::new("record-folder");
    let fixture = scratch.path("checkout/fixtures/stage.json");
    let server = gate_e2e::stub::Stub::start(200, &[]);
    let recorded = Gate::policies(&["fetch"])
        .target(&server.url())
        .param("url=/health")
        .arg("--record")
        .arg(&fixture)
        .json()
        .run();
    assert_eq!(recorded.code, 0, "{}", recorded.stderr);
    assert_eq!(recorded.json()["verdict"]["decision"], "pass");
    let tape: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    assert_eq!(tape["schema"], "gate.tape/v1");
    // Only the fixture is there: no temporary file was left beside it.
    let files: Vec<_> = std::fs::read_dir(fixture.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["stage.json"]);
    drop(server);
    let replay = gate_test("fetch", &fixture).run();
    assert_eq!(replay.code, 0, "{}", replay.stdout);
}

/// A recording that cannot be written (its folder is a file) loses nothing
/// of the run: the report is printed, `--report` files are written, and
/// then gate exits 2 saying why.
#[test]
fn a_recording_that_cannot_be_written_keeps_the_report() {
    let scratch = Scratch::new("record-blocked");
    std::fs::write(scratch.path("blocker"), "a file, not a folder").unwrap();
    let fixture = scratch.path("blocker/stage.json");
    let junit = scratch.path("reports/gate.xml");
    let server = gate_e2e::stub::Stub::start(200, &[]);
    let out = Gate::policies(&["fetch"])
        .target(&server.url())
        .param("url=/health")
        .arg("--record")
        .arg(&fixture)
        .arg("--report")
        .arg(format!("junit={}", junit.display()))
        .run();
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("PASS  get") && out.stdout.contains("verdict: PASS (exit 0)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains(&format!("cannot write the recording {}", fixture.display())),
        "{}",
        out.stderr
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("<testcase name=\"get\""), "{xml}");
}

/// A policy's message is text in `gate test`'s output, never a GitHub
/// Actions workflow command: here a replayed header the fetch guest puts in
/// its message tries to start a line with `::error::`.
#[test]
fn a_replayed_message_issues_no_workflow_command() {
    let scratch = Scratch::new("replay-commands");
    let fixture = json!({
        "schema": "gate.tape/v1",
        "context": {
            "target": "http://stage.example.com",
            "params": {"url": "/health", "show_header": "x-note"}
        },
        "policies": [{
            "name": "fetch",
            "checks": [{
                "name": "get",
                "expect": {"outcome": "fail"},
                "calls": [{"call": "http.send",
                           "request": {"method": "GET", "url": "/health"},
                           "answer": {"status": 200,
                                      "headers": {"x-note": "ok\n::error::forged\n  ::add-mask::x ##[error]y"}}}]
            }]
        }]
    });
    let path = scratch.path("forged.json");
    std::fs::write(&path, serde_json::to_string_pretty(&fixture).unwrap()).unwrap();
    let out = gate_test("fetch", &path).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    // The header did reach the message, so the test can fail.
    assert!(
        out.stdout.contains("expected fail, got pass"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("\\::error::forged"), "{}", out.stdout);
    for line in out.stdout.lines() {
        assert!(!line.trim_start().starts_with("::"), "{line}");
        assert!(!line.contains("##["), "{line}");
    }
}

#[test]
fn bash_completes_gates_commands_and_flags() {
    let scratch = Scratch::new("completions");
    let out = Gate::new(["completions", "bash"]).run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    let script = scratch.path("gate.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // What bash offers at a Tab after `line`: its completion function run as
    // bash runs it, with the words typed so far.
    let offers = |line: &str| -> Vec<String> {
        let program = format!(
            "source '{}' && COMP_LINE='{line}' && COMP_POINT=${{#COMP_LINE}} && \
             read -ra COMP_WORDS <<< \"$COMP_LINE\" && \
             {{ [[ $COMP_LINE == *' ' ]] && COMP_WORDS+=(''); true; }} && \
             COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )) && \
             _gate gate \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" && \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .expect("run bash");
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_owned())
            .collect()
    };
    let has = |line: &str, word: &str| {
        let offered = offers(line);
        assert!(
            offered.iter().any(|w| w == word),
            "`{line}` offers {offered:?}, not {word}"
        );
    };
    has("gate ", "run");
    has("gate ", "watch");
    has("gate run --", "--check");
    has("gate run --", "--retry");
    has("gate watch --", "--failure-limit");
    has("gate run --format ", "junit");
    has("gate completions ", "zsh");

    for shell in ["zsh", "fish"] {
        let out = Gate::new(["completions", shell]).run();
        assert_eq!(out.code, 0, "{}", out.all_output());
        assert!(
            out.stdout.contains("failure-limit") && out.stdout.contains("retry-interval"),
            "{shell}: {}",
            out.stdout
        );
    }
    let out = Gate::new(["completions", "tcsh"]).run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(out.stderr.contains("bash"), "{}", out.stderr);
}

/// A replay judges every request by the fixture's grants before it asks the
/// fixture, as a live run does: an answer written by hand for a host the
/// context does not allow (or a `Host` header naming one, or a handshake
/// with one) does not make the check pass.
#[test]
fn a_replay_refuses_what_the_fixtures_grants_refuse() {
    let scratch = Scratch::new("grants");
    let fixture = scratch.path("hand.json");
    let write = |guest: &str, context: Value, check: &str, call: Value| {
        let tape = json!({
            "schema": "gate.tape/v1",
            "context": context,
            "policies": [{"name": guest, "checks": [
                {"name": check, "expect": {"outcome": "pass"}, "calls": [call]}
            ]}]
        });
        std::fs::write(&fixture, serde_json::to_string_pretty(&tape).unwrap()).unwrap();
    };
    let payments = json!({"call": "http.send",
        "request": {"method": "GET", "url": "http://payments.example.net/health"},
        "answer": {"status": 200, "body": "ok"}});
    let params = json!({"url": "http://payments.example.net/health"});

    write(
        "fetch",
        json!({"target": "http://stage.example.com", "params": params}),
        "get",
        payments.clone(),
    );
    let refused = gate_test("fetch", &fixture).run();
    assert_eq!(refused.code, 1, "{}", refused.all_output());
    assert!(
        refused.stdout.contains("expected pass, got error")
            && refused
                .stdout
                .contains("http://payments.example.net:80 is not allowed for this run"),
        "{}",
        refused.stdout
    );

    // Granted in the context, the same answer passes: the grants decided.
    write(
        "fetch",
        json!({"target": "http://stage.example.com", "params": params,
               "allowed_hosts": ["payments.example.net"]}),
        "get",
        payments,
    );
    let granted = gate_test("fetch", &fixture).run();
    assert_eq!(granted.code, 0, "{}", granted.all_output());

    // A Host header naming a host the run may not reach.
    write(
        "fetch",
        json!({"target": "http://stage.example.com",
               "params": {"url": "/health", "header": "Host:admin.internal"}}),
        "get",
        json!({"call": "http.send",
               "request": {"method": "GET", "url": "/health"},
               "answer": {"status": 200}}),
    );
    let host_header = gate_test("fetch", &fixture).run();
    assert_eq!(host_header.code, 1, "{}", host_header.all_output());
    assert!(
        host_header
            .stdout
            .contains("the Host header `admin.internal`"),
        "{}",
        host_header.stdout
    );

    // A handshake with a host the context does not allow.
    write(
        "tls",
        json!({"target": "https://stage.example.com",
               "params": {"host": "payments.example.net", "port": "443"}}),
        "facts",
        json!({"call": "tls.inspect",
               "request": {"host": "payments.example.net", "port": 443},
               "answer": {"ok": {
                   "certificate": {"subject": "CN=payments.example.net", "issuer": "CN=ca",
                                   "sans": ["payments.example.net"], "not_before": 0,
                                   "not_after": 4102444800_i64, "serial": "01"},
                   "days_left": 5000.0, "chain_length": 2, "trusted": true,
                   "untrusted_reason": null, "protocol": "TLSv1.3"}}}),
    );
    let handshake = gate_test("tls", &fixture).run();
    assert_eq!(handshake.code, 1, "{}", handshake.all_output());
    assert!(
        handshake.stdout.contains("expected pass, got error"),
        "{}",
        handshake.stdout
    );
    assert!(
        handshake
            .stdout
            .contains("https://payments.example.net:443 is not allowed for this run"),
        "{}",
        handshake.stdout
    );
}

/// A `--strict` recording keeps `strict` in its context: a blocking check
/// skipped for want of a capability failed the recorded run, and fails its
/// replay as expected.
#[test]
fn a_strict_recording_replays_strict() {
    let scratch = Scratch::new("strict");
    let fixture = scratch.path("strict.json");
    // No target: the fetch check, blocking and needing http, is skipped,
    // which --strict turns into a failure.
    let recorded = Gate::policies(&["fetch"])
        .param("url=/health")
        .arg("--strict")
        .arg("--record")
        .arg(&fixture)
        .run();
    assert_eq!(recorded.code, 1, "{}", recorded.all_output());
    let tape: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    assert_eq!(tape["context"]["strict"], true, "{tape}");
    assert_eq!(
        fixture_check(&mut tape.clone(), "fetch", "get")["expect"]["outcome"],
        "fail",
        "{tape}"
    );
    let replayed = gate_test("fetch", &fixture).run();
    assert_eq!(replayed.code, 0, "{}", replayed.all_output());

    // Without it, the same check is skipped, not what was recorded.
    let mut lenient = tape.clone();
    lenient["context"].as_object_mut().unwrap().remove("strict");
    std::fs::write(&fixture, lenient.to_string()).unwrap();
    let out = gate_test("fetch", &fixture).run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(
        out.stdout.contains(
            "expected fail, got skipped: not run: needs http: the fixture's context has no \
             `target` (or `allowed_hosts`) to grant it"
        ),
        "{}",
        out.stdout
    );
}

/// Fixtures that list no check test nothing: exit 3, and neither the text
/// nor the JSON calls that a pass.
#[test]
fn fixtures_with_no_check_are_nothing_tested_not_a_pass() {
    let scratch = Scratch::new("nothing");
    let fixture = scratch.path("empty.json");
    let tape = json!({"schema": "gate.tape/v1", "policies": [{"name": "api", "checks": []}]});
    std::fs::write(&fixture, tape.to_string()).unwrap();
    let out = gate_test("api", &fixture).run();
    assert_eq!(out.code, 3, "{}", out.all_output());
    assert!(
        out.stdout.contains("result: NOTHING TESTED (exit 3)"),
        "{}",
        out.stdout
    );
    let json = gate_test("api", &fixture).json().run();
    assert_eq!(json.code, 3);
    assert_eq!(json.json()["passed"], false, "{}", json.stdout);
}

/// The fixture's context is redacted as its calls are: a secret's value
/// given as a param too is not written in clear.
#[test]
fn a_secret_in_a_param_is_redacted_in_the_fixture_context() {
    let scratch = Scratch::new("context-secret");
    let fixture = scratch.path("bench.json");
    let secret = "s3cr3t-in-a-param";
    let recorded = Gate::policies(&["bench"])
        .param(&format!("note={secret}"))
        .env("GATE_SECRET_NOTE", secret)
        .arg("--record")
        .arg(&fixture)
        .run();
    assert_eq!(recorded.code, 0, "{}", recorded.all_output());
    let text = std::fs::read_to_string(&fixture).unwrap();
    assert!(!text.contains(secret), "the secret is redacted:\n{text}");
    let tape: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(tape["context"]["params"]["note"], "[REDACTED]", "{text}");
    assert!(
        recorded.stderr.contains(&format!(
            "gate run: warning: the recording {}: param `note` held a secret's value and is \
             kept as \"[REDACTED]\"",
            fixture.display()
        )),
        "{}",
        recorded.stderr
    );

    // A secret that is also the target's port: the recording is written,
    // with a warning, and `gate test` says which fixture and field it cannot
    // read, and why.
    let stack = stack();
    let port = stack
        .url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let spoilt = scratch.path("port.json");
    let recorded = Gate::policies(&["fetch"])
        .target(&stack.url())
        .param("url=/api/v1/health")
        .env("GATE_SECRET_PORT", &port)
        .arg("--record")
        .arg(&spoilt)
        .run();
    assert_eq!(recorded.code, 0, "{}", recorded.all_output());
    assert!(
        recorded
            .stderr
            .contains("the fixture's target: `http://127.0.0.1:[REDACTED]/` is not a URL")
            && recorded
                .stderr
                .contains("`gate test` refuses the fixture until then"),
        "{}",
        recorded.stderr
    );
    let replayed = gate_test("fetch", &spoilt).run();
    assert_eq!(replayed.code, 2, "{}", replayed.all_output());
    assert!(
        replayed.stderr.contains(&format!(
            "{}: the fixture's target: `http://127.0.0.1:[REDACTED]/` is not a URL",
            spoilt.display()
        )) && replayed
            .stderr
            .contains("a secret's value was redacted in it"),
        "{}",
        replayed.stderr
    );
}

/// A recording keeps the run's limits and its replay runs under them: a
/// check a tight limit made error live errors on replay too, as recorded.
#[test]
fn a_replay_runs_under_the_limits_of_its_recording() {
    let scratch = Scratch::new("limits");
    let fixture = scratch.path("tight.json");
    let stack = stack();
    let recorded = Gate::policies(&["fetch"])
        .target(&stack.url())
        .param("url=/api/v1/health")
        .args(["--limit", "host_calls=1", "--timeout", "7s"])
        .arg("--record")
        .arg(&fixture)
        .run();
    assert_eq!(recorded.code, 1, "{}", recorded.all_output());
    drop(stack);
    let tape: Value = serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    assert_eq!(
        tape["context"]["limits"],
        json!({"host_calls": "1", "timeout": "7000ms"}),
        "{tape}"
    );
    let replayed = gate_test("fetch", &fixture).run();
    assert_eq!(replayed.code, 0, "{}", replayed.all_output());
}
