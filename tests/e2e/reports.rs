//! Reports for CI and for people, from real runs against the sample
//! service: every format written at once, GitHub annotations and step
//! summary, the webhook, colour and progress on a terminal only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gate_e2e::{Faults, Gate, stack, webhook_server};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gate-e2e-reports-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Waits (bounded) for the webhook receiver to have `n` bodies.
fn bodies_after(bodies: &std::sync::Mutex<Vec<String>>, n: usize) -> Vec<String> {
    for _ in 0..50 {
        let got = bodies.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bodies.lock().unwrap().clone()
}

#[test]
fn a_failing_run_writes_every_format_at_once() {
    let stack = stack();
    stack.set_faults(Faults {
        error_rate: 0.25,
        ..Faults::default()
    });
    let dir = temp_dir("all");
    let summary = dir.join("step-summary.md");
    let (hook, bodies) = webhook_server();
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .args(["--jobs", "1", "--format", "tap"])
        .arg("--report")
        .arg(format!("junit={}", dir.join("reports/gate.xml").display()))
        .arg("--report")
        .arg(format!("json={}", dir.join("gate.json").display()))
        .arg("--report")
        .arg(format!("markdown={}", dir.join("gate.md").display()))
        .arg("--report")
        .arg(format!("human={}", dir.join("gate.txt").display()))
        .arg("--report")
        .arg(format!("tap={}", dir.join("gate.tap").display()))
        .args(["--notify", &hook])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())
        .run();
    assert_eq!(out.code, 1, "{}", out.stderr);

    // Every format reports every check of prod, skipped ones included.
    let report: serde_json::Value = serde_json::from_str(&read(&dir.join("gate.json"))).unwrap();
    let checks: Vec<&str> = report["policies"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(checks[..3], ["ready", "latency", "error-rate"]);

    // stdout is the TAP stream, the same as the TAP file.
    let tap = read(&dir.join("gate.tap"));
    assert_eq!(out.stdout, tap);
    let mut lines = tap.lines();
    assert_eq!(lines.next(), Some("TAP version 13"));
    let plan = format!("1..{}", checks.len());
    assert_eq!(lines.next(), Some(plan.as_str()));
    let failed = tap
        .lines()
        .position(|l| l.starts_with("not ok ") && l.ends_with(" - prod/error-rate"))
        .expect("a `not ok` test point for error-rate");
    let diagnostics: Vec<&str> = tap
        .lines()
        .skip(failed + 1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(diagnostics.first(), Some(&"  ---"), "{tap}");
    assert_eq!(diagnostics.last(), Some(&"  ..."), "{tap}");
    assert!(diagnostics.contains(&"  outcome: fail"), "{tap}");
    assert!(
        diagnostics
            .iter()
            .any(|l| l.contains("threshold: \"< 0.01\"")),
        "{tap}"
    );
    assert_eq!(
        tap.lines().filter(|l| l.starts_with("not ok ")).count(),
        1,
        "only error-rate fails; the rest pass or are skipped: {tap}"
    );
    assert_eq!(
        tap.lines().filter(|l| l.starts_with("ok ")).count(),
        checks.len() - 1
    );

    // JUnit: parsed with a real XML parser, structure as CI systems read it.
    let xml = read(&dir.join("reports/gate.xml"));
    let doc = roxmltree::Document::parse(&xml).expect("well-formed JUnit XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let total = checks.len().to_string();
    assert_eq!(root.attribute("tests"), Some(total.as_str()));
    assert_eq!(root.attribute("failures"), Some("1"));
    let suite = root
        .children()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("name"), Some("prod"));
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<_> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
    assert_eq!(names, checks);
    for case in &cases {
        assert_eq!(case.attribute("classname"), Some("prod"));
        let time: f64 = case.attribute("time").unwrap().parse().unwrap();
        assert!(time >= 0.0);
    }
    let failure = cases[2]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    let message = failure.attribute("message").unwrap();
    assert!(
        message.contains("measured 0.25 > threshold 0.01 (error_rate, ratio)"),
        "{message}"
    );
    assert!(
        failure.text().unwrap().contains("/api/v1/products → 500"),
        "{xml}"
    );
    assert!(cases[0].children().all(|n| !n.has_tag_name("failure")));

    // JSON: the documented schema, from a real run.
    let json: serde_json::Value = serde_json::from_str(&read(&dir.join("gate.json"))).unwrap();
    let errors = gate_e2e::schema_errors(&json);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(json["verdict"]["decision"], "fail");

    // Markdown, in the file and appended to the step summary.
    let markdown = read(&dir.join("gate.md"));
    assert!(
        markdown.starts_with("### ❌ gate: FAIL (exit 1)"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| ❌ | prod/error-rate | fail | "),
        "{markdown}"
    );
    assert!(read(&summary).contains(markdown.trim_end()));

    // Human, in a file: the whole report, no colour.
    let human = read(&dir.join("gate.txt"));
    assert!(
        human.contains("measured 0.25 > threshold 0.01 (error_rate, ratio)"),
        "{human}"
    );
    assert!(human.contains("verdict: FAIL (exit 1)"));
    assert!(!human.contains('\x1b'));

    // GitHub annotations, on stderr so they never mix into the TAP stream.
    let annotation = out
        .stderr
        .lines()
        .find(|l| l.starts_with("::error title=gate%3A prod/error-rate fail::"))
        .unwrap_or_else(|| panic!("an error annotation:\n{}", out.stderr));
    assert!(
        annotation.contains("%0Ameasured 0.25 > threshold 0.01"),
        "{annotation}"
    );
    assert!(!out.stderr.contains("::error title=gate%3A prod/ready"));

    // The webhook got the verdict and what was measured.
    let bodies = bodies_after(&bodies, 1);
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("gate run prod: fail on env `default`"),
        "{text}"
    );
    // Slack's text escapes what Slack reads as control (`<`, `>`, `&`);
    // Discord's content is the same text as it is.
    assert!(
        text.contains("prod/error-rate fail: measured 0.25 &gt; threshold 0.01"),
        "{text}"
    );
    let content = body["content"].as_str().unwrap();
    assert!(
        content.contains("prod/error-rate fail: measured 0.25 > threshold 0.01"),
        "{content}"
    );
    assert_eq!(gate_e2e::slack_escaped(content), text);
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_passing_run_notifies_and_stays_quiet_outside_github() {
    let stack = stack();
    let (hook, bodies) = webhook_server();
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .args(["--notify", &hook, "-q"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "-q prints the verdict alone");
    assert!(out.stdout.starts_with("verdict: PASS (exit 0)"));
    assert!(
        !out.stderr.contains("::"),
        "no annotations outside GitHub Actions"
    );
    let bodies = bodies_after(&bodies, 1);
    assert!(bodies[0].contains("pass on env `default`"), "{bodies:?}");
}

#[test]
fn a_webhook_that_cannot_be_reached_says_why_without_its_token() {
    // A port that was free a moment ago: nothing listens there now.
    let port = gate_e2e::prometheus::free_port().port();
    let hook = format!("http://127.0.0.1:{port}/services/T000/B000/XOXSECRET");
    let out = Gate::policies(&["prod"]).args(["--notify", &hook]).run();
    assert_eq!(out.code, 3, "the verdict stands: {}", out.stdout);
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("gate: webhook:"))
        .unwrap_or_else(|| panic!("no webhook line: {}", out.stderr));
    assert!(
        line.contains(&format!("cannot post to the webhook: 127.0.0.1:{port}: "))
            && line.contains("Connection refused"),
        "says where and why: {line}"
    );
    assert!(
        !out.all_output().contains("XOXSECRET"),
        "a webhook URL's path is its token: {}",
        out.all_output()
    );
}

#[test]
fn a_webhook_that_redirects_is_asked_once_and_not_followed() {
    let moved = gate_e2e::stub::Stub::start(301, &[("location", "https://hooks.example.test/")]);
    let out = Gate::policies(&["prod"])
        .args(["--notify", &format!("{}/services/T0/B0/XOX", moved.url())])
        .run();
    assert_eq!(out.code, 3, "the verdict stands: {}", out.stdout);
    assert!(
        out.stderr.contains(
            "the webhook answered 301 Moved Permanently, a redirect, which gate does not follow"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(moved.requests().len(), 1, "no retry, no hop");
}

#[test]
fn bad_report_requests_are_refused() {
    let out = Gate::policies(&["prod"])
        .args(["--report", "xml=gate.xml"])
        .run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("unknown report format `xml`"),
        "{}",
        out.stderr
    );

    let out = Gate::policies(&["prod"]).args(["--report", "junit"]).run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not FORMAT=PATH"), "{}", out.stderr);

    let out = Gate::policies(&["prod"]).args(["--format", "yaml"]).run();
    assert_eq!(out.code, 2);

    let out = Gate::watch(&["prod"])
        .args(["--count", "1", "--format", "junit"])
        .run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("use gate run for junit"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unwritable_report_is_exit_2_after_the_verdict() {
    let stack = stack();
    let dir = temp_dir("unwritable");
    let blocker = dir.join("file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .arg("--report")
        .arg(format!("junit={}", blocker.join("gate.xml").display()))
        .run();
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("verdict: PASS (exit 0)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("cannot write the junit report to")
            && out
                .stderr
                .contains(&format!("{} is a file, not a folder", blocker.display())),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn colour_and_progress_on_a_terminal_only() {
    let stack = stack();
    // 80 ms per answer: the latency check's 20 requests take well over the
    // second after which progress shows, and still pass.
    stack.set_faults(Faults {
        latency_ms: 80,
        ..Faults::default()
    });

    let terminal = Gate::policies(&["prod"])
        .target(&stack.url())
        .run_on_terminal();
    assert_eq!(terminal.code, 0, "{}", terminal.stdout);
    assert!(
        terminal.stdout.contains("\x1b[1;32mPASS"),
        "colour on a terminal:\n{}",
        terminal.stdout
    );
    assert!(
        terminal.stdout.contains("prod/latency"),
        "a spinner for the running check:\n{}",
        terminal.stdout
    );

    let no_color = Gate::policies(&["prod"])
        .target(&stack.url())
        .env("NO_COLOR", "1")
        .run_on_terminal();
    assert_eq!(no_color.code, 0);
    assert!(
        !no_color.stdout.contains("\x1b[1;32m"),
        "NO_COLOR:\n{}",
        no_color.stdout
    );

    let piped = Gate::policies(&["prod"]).target(&stack.url()).run();
    assert_eq!(piped.code, 0);
    assert!(!piped.all_output().contains('\x1b'), "no escapes in a pipe");
    assert!(
        !piped.all_output().contains("prod/latency"),
        "no progress in a pipe"
    );
}

/// A decision the log cannot keep fails a `gate run` (exit 2) as a report
/// file that cannot be written does: after every other output is out, the
/// report files and the webhook included, and saying what was lost.
#[test]
fn a_decision_log_that_cannot_be_appended_to_is_exit_2_after_every_other_output() {
    let stack = stack();
    let dir = temp_dir("unlogged");
    let (hook, bodies) = webhook_server();
    // A folder where the log should be: known only when gate appends. (A
    // missing folder is refused before the run, as the next test shows.)
    let log = dir.join("decisions.jsonl");
    std::fs::create_dir_all(&log).unwrap();
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .arg("--decision-log")
        .arg(&log)
        .arg("--report")
        .arg(format!("json={}", dir.join("gate.json").display()))
        .args(["--notify", &hook])
        .run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stdout.contains("verdict: PASS (exit 0)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains(&format!(
            "cannot append to the decision log {}: ",
            log.display()
        )),
        "{}",
        out.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&read(&dir.join("gate.json"))).unwrap();
    assert_eq!(report["verdict"]["exit_code"], 0);
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "the webhook was posted: {bodies:?}");
    let payload: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert!(
        payload["text"].as_str().unwrap().contains(&format!(
            "(gate exits 2: cannot append to the decision log {}:",
            log.display()
        )),
        "the chat says what CI will show: {payload}"
    );
}

/// A passing run whose report file cannot be written exits 2, and its
/// decision log line says so: the CI step failed and promoted nothing, so
/// `gate log stats` counts no pass (nor a release's first pass).
#[test]
fn a_pass_that_exits_2_for_its_report_is_logged_as_exit_2_and_counts_no_pass() {
    let stack = stack();
    let dir = temp_dir("unreported");
    let log = dir.join("decisions.jsonl");
    let _ = std::fs::remove_file(&log);
    // A file where the report's folder should be: no one can create that.
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .arg("--decision-log")
        .arg(&log)
        .args(["--release", "v9", "--report"])
        .arg(format!("junit={}", blocker.join("gate.xml").display()))
        .run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stdout.contains("verdict: PASS (exit 0)"),
        "{}",
        out.stdout
    );
    let text = read(&log);
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["decision"], "pass", "{line}");
    assert_eq!(line["exit_code"], 2, "{line}");
    let reason = line["reason"].as_str().unwrap();
    assert!(
        reason.contains("; gate exited 2: cannot write the junit report")
            && reason.contains("blocker/gate.xml"),
        "{reason}"
    );
    let errors = gate_e2e::decision_log_schema_errors(&line);
    assert!(errors.is_empty(), "{errors:#?}");

    let stats = Gate::new(["log", "stats", "--format", "json"])
        .arg(&log)
        .run();
    assert_eq!(stats.code, 0, "{}", stats.stderr);
    let all = &stats.json()["environments"]["*"];
    assert_eq!(all["decisions"], 1, "{all}");
    assert_eq!(all["passed"], 0, "{all}");
    assert_eq!(all["failed"], 0, "{all}");
    assert_eq!(all["inconclusive"], 1, "{all}");
    assert_eq!(all["releases"], 0, "{all}");
}

/// A `--decision-log` whose folder does not exist is refused before any
/// check runs, as gate.toml's decision_log is.
#[test]
fn a_decision_log_in_a_missing_folder_is_refused_before_the_run() {
    let stack = stack();
    let out = Gate::policies(&["prod"])
        .target(&stack.url())
        .args(["--decision-log", "/nonexistent/decisions.jsonl"])
        .run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stderr.contains(
            "--decision-log /nonexistent/decisions.jsonl: the folder /nonexistent does not exist"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(stack.requests_served(), 0, "nothing ran");
}
