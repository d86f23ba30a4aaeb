//! Golden files: every format written from one fixed run (fixed timings,
//! every outcome, hostile text), compared byte for byte with
//! `host/src/report/golden/*`. `GATE_UPDATE_GOLDEN=1 cargo test -p gate-host
//! report::golden` rewrites them; review the diff before committing.

use std::path::PathBuf;

use super::*;
use crate::state::{LogLine, LogSource};
use crate::verdict;

fn check(name: &str, outcome: Outcome, message: &str) -> CheckReport {
    CheckReport {
        name: name.into(),
        description: format!("the {name} check"),
        blocking: true,
        needs: vec!["http".into()],
        outcome,
        message: message.into(),
        error: None,
        measurements: vec![],
        duration_ms: 12.5,
        attempts: None,
        earlier_attempts: vec![],
        calls: vec![],
        log: vec![],
    }
}

fn call(url: &str, status: Option<u16>, error: Option<&str>) -> HttpCall {
    HttpCall {
        method: "GET".into(),
        url: url.into(),
        status,
        elapsed_ms: 1.25,
        error: error.map(Into::into),
        permanent: false,
    }
}

/// What a hostile check returns: text that tries to break each format, and
/// CI log commands (GitHub Actions' `::…::` at the start of a line and its
/// legacy `##[…]`, Azure Pipelines' `##vso[…]`) that try to reach the log.
const HOSTILE_MESSAGE: &str = "a | b <script>alert(1)</script> # not a directive\n```\n::error::forged\n  ::stop-commands::tok\n%0A & \"quoted\" ]]> \u{fffe}\u{ffff} ##[error]legacy ##vso[task.complete result=Succeeded]";
const HOSTILE_LOG: &str = "```` fence </details> ::warning::x\n::add-mask::y";

/// A run with every outcome, measurements, requests, logs, a non-blocking
/// check and text that tries to break each format.
pub(crate) fn fixture() -> RunReport {
    let ready = check("ready", Outcome::Pass, "`/ready` answered 200");
    let mut latency = check(
        "latency",
        Outcome::Warn,
        "latency_avg 420 ms is close to 500",
    );
    latency.measurements.push(Measurement {
        name: "latency_avg".into(),
        value: 420.0,
        unit: "ms".into(),
        threshold: Some("< 500".into()),
    });
    let mut error_rate = check(
        "error-rate",
        Outcome::Fail,
        "error_rate 0.25 ratio exceeds limit < 0.01 ratio: 5 of 20 requests failed",
    );
    error_rate.duration_ms = 1234.0;
    error_rate.measurements.push(Measurement {
        name: "error_rate".into(),
        value: 0.25,
        unit: "ratio".into(),
        threshold: Some("< 0.01".into()),
    });
    error_rate.calls = vec![
        call("http://127.0.0.1:8080/api/v1/products", Some(200), None),
        call("http://127.0.0.1:8080/api/v1/products", Some(500), None),
    ];
    error_rate.log = vec![LogLine {
        source: LogSource::Info,
        text: "sent 20 requests".into(),
    }];
    let mut metrics = check(
        "metrics-p95",
        Outcome::Skipped,
        "needs metrics: grant it with --prometheus URL",
    );
    metrics.needs = vec!["metrics".into()];
    metrics.duration_ms = 0.0;
    let mut nan = check(
        "no-data",
        Outcome::Inconclusive,
        "no data for up over the last 1m",
    );
    nan.blocking = false;
    nan.measurements.push(Measurement {
        name: "up".into(),
        value: f64::NAN,
        unit: String::new(),
        threshold: Some(">= 1".into()),
    });
    let mut slow = check(
        "slow",
        Outcome::Error,
        "the check ran past its 10s deadline",
    );
    slow.error = Some(ErrorKind::Deadline);
    slow.duration_ms = 10000.0;
    slow.calls = vec![call("http://127.0.0.1:8080/slow", None, Some("timed out"))];

    // Guest text is untrusted: it must not break out of any format. It is
    // cleaned as the runtime cleans it before any report sees it.
    let cleaner = crate::text::Cleaner::default();
    let mut hostile = check("hostile", Outcome::Fail, &cleaner.clean(HOSTILE_MESSAGE));
    hostile.log = vec![LogLine {
        source: LogSource::Stdout,
        text: cleaner.clean_line(HOSTILE_LOG),
    }];
    let smoke_health = check("health", Outcome::Pass, "`/api/v1/health` answered 200");

    let policies = vec![
        PolicyReport {
            path: "policies/prod.wasm".into(),
            name: "prod".into(),
            version: "0.1.0".into(),
            kind: "gate".into(),
            sha256: "a".repeat(64),
            wit_version: "0.1.1".into(),
            duration_ms: 10050.0,
            checks: vec![ready, latency, error_rate, metrics, nan, slow, hostile],
        },
        PolicyReport {
            path: "smoke/api.wasm".into(),
            name: "api".into(),
            version: "0.2.0".into(),
            kind: "smoke".into(),
            sha256: "b".repeat(64),
            wit_version: "0.1.1".into(),
            duration_ms: 20.0,
            checks: vec![smoke_health],
        },
    ];
    let verdict = verdict::decide(&policies);
    RunReport {
        schema: SCHEMA,
        gate_version: "0.1.0",
        env: "stage".into(),
        target: Some("http://127.0.0.1:8080/".into()),
        release: Some(crate::decision_log::Release::new(
            "v1.4.2",
            Some(1_795_392_000),
        )),
        strict: false,
        selection: Default::default(),
        started_at: "2026-11-23T16:00:00Z".into(),
        duration_ms: 10100.0,
        policies,
        verdict,
    }
}

fn written(format: ReportFormat, options: human::Options) -> String {
    let mut out = Vec::new();
    format
        .write(&fixture(), &mut out, options)
        .expect("writing to memory works");
    String::from_utf8(out).expect("reports are UTF-8")
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/report/golden")
        .join(name);
    if std::env::var_os("GATE_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (GATE_UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        panic!(
            "{} differs from the written report (GATE_UPDATE_GOLDEN=1 rewrites it after review):\n--- actual\n{actual}",
            path.display()
        );
    }
}

#[test]
fn human() {
    golden(
        "run.txt",
        &written(ReportFormat::Human, human::Options::default()),
    );
}

#[test]
fn human_verbose() {
    let options = human::Options {
        verbose: true,
        ..human::Options::default()
    };
    golden("run-verbose.txt", &written(ReportFormat::Human, options));
}

#[test]
fn human_quiet_is_the_verdict_alone() {
    let options = human::Options {
        quiet: true,
        ..human::Options::default()
    };
    let text = written(ReportFormat::Human, options);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("verdict: FAIL (exit 1)"), "{text}");
}

#[test]
fn human_colour_only_when_asked() {
    let plain = written(ReportFormat::Human, human::Options::default());
    assert!(!plain.contains('\x1b'));
    let options = human::Options {
        color: true,
        ..human::Options::default()
    };
    let coloured = written(ReportFormat::Human, options);
    assert!(coloured.contains("\x1b[1;31mFAIL"), "{coloured}");
}

#[test]
fn json() {
    golden(
        "run.json",
        &written(ReportFormat::Json, human::Options::default()),
    );
}

#[test]
fn junit() {
    golden(
        "run.xml",
        &written(ReportFormat::Junit, human::Options::default()),
    );
}

#[test]
fn tap() {
    golden(
        "run.tap",
        &written(ReportFormat::Tap, human::Options::default()),
    );
}

#[test]
fn markdown() {
    golden(
        "run.md",
        &written(ReportFormat::Markdown, human::Options::default()),
    );
}

#[test]
fn annotations() {
    let mut out = Vec::new();
    github::write_annotations(&fixture(), &mut out).unwrap();
    golden("annotations.txt", &String::from_utf8(out).unwrap());
}

/// The JSON report matches the schema shipped in the repository.
#[test]
fn json_matches_its_schema() {
    let schema_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/gate.report.v1.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is valid");
    let report: serde_json::Value =
        serde_json::from_str(&written(ReportFormat::Json, human::Options::default())).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");

    // And the schema is not a blank cheque: a wrong outcome is refused.
    let mut broken = report.clone();
    broken["policies"][0]["checks"][0]["outcome"] = "maybe".into();
    assert!(!validator.is_valid(&broken));
    let mut broken = report;
    broken["policies"][0]["checks"][0]["surprise"] = 1.into();
    assert!(!validator.is_valid(&broken));
}

/// The JUnit report has the structure CI systems read: a testsuite per
/// policy with consistent counts, a testcase per check, failure/error/
/// skipped elements where they belong.
#[test]
fn junit_structure() {
    let xml = written(ReportFormat::Junit, human::Options::default());
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("tests"), Some("8"));
    assert_eq!(root.attribute("failures"), Some("3"));
    assert_eq!(root.attribute("errors"), Some("1"));
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 2);
    assert_eq!(suites[0].attribute("name"), Some("prod"));
    assert_eq!(suites[0].attribute("tests"), Some("7"));
    assert_eq!(suites[0].attribute("skipped"), Some("1"));
    let cases: Vec<_> = suites[0]
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 7);
    assert!(
        cases
            .iter()
            .all(|c| c.attribute("classname") == Some("prod"))
    );
    let case = |name: &str| {
        *cases
            .iter()
            .find(|c| c.attribute("name") == Some(name))
            .unwrap()
    };
    let failure = case("error-rate")
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure element");
    assert_eq!(failure.attribute("type"), Some("fail"));
    assert!(
        failure
            .attribute("message")
            .unwrap()
            .contains("measured 0.25 > threshold 0.01 (error_rate, ratio)")
    );
    assert!(failure.text().unwrap().contains("→ 500"));
    assert_eq!(case("error-rate").attribute("time"), Some("1.234"));
    let out = case("error-rate")
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .expect("the log in system-out");
    assert!(out.text().unwrap().contains("info: sent 20 requests"));
    let error = case("slow")
        .children()
        .find(|n| n.has_tag_name("error"))
        .unwrap();
    assert_eq!(error.attribute("type"), Some("deadline"));
    assert!(
        case("metrics-p95")
            .children()
            .any(|n| n.has_tag_name("skipped"))
    );
    assert!(case("ready").children().all(|n| !n.has_tag_name("failure")));
    let hostile = case("hostile")
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    let message = hostile.attribute("message").unwrap();
    assert!(message.contains("<script>"), "{message:?}");
    // The message's lines survive the attribute (as `&#10;`, which XML
    // does not normalise to a space).
    assert!(message.contains("```\n\\::error::forged\n"), "{message:?}");
}

/// U+FFFE and U+FFFF from a policy reach no report as they are: XML 1.0 and
/// YAML allow them nowhere, so the JUnit and TAP reports would not parse.
#[test]
fn junit_and_tap_hold_only_characters_xml_and_yaml_allow() {
    // roxmltree does refuse them, so the parse below can fail.
    assert!(roxmltree::Document::parse("<a>\u{ffff}</a>").is_err());
    let xml = written(ReportFormat::Junit, human::Options::default());
    roxmltree::Document::parse(&xml).expect("well-formed XML");
    assert!(xml.contains("\\u{fffe}\\u{ffff}"), "{xml}");
    let tap = written(ReportFormat::Tap, human::Options::default());
    assert!(!tap.contains(['\u{fffe}', '\u{ffff}']), "{tap}");
    assert!(tap.contains("\\\\u{fffe}\\\\u{ffff}"), "{tap}");
}

/// No line of any report starts, after its leading blanks, with `::` (GitHub
/// Actions runs such a line as a workflow command), and none holds `##[` or
/// `##vso[` (GitHub's legacy form and Azure Pipelines' logging commands,
/// read anywhere in a line): a policy's text never commands the CI log.
/// Only gate's own annotations are commands.
#[test]
fn guest_text_issues_no_ci_log_command() {
    let verbose = human::Options {
        verbose: true,
        ..human::Options::default()
    };
    let plain = human::Options::default();
    for (format, options) in [
        (ReportFormat::Human, plain),
        (ReportFormat::Human, verbose),
        (ReportFormat::Json, plain),
        (ReportFormat::Junit, plain),
        (ReportFormat::Tap, plain),
        (ReportFormat::Markdown, plain),
    ] {
        let text = written(format, options);
        // The hostile text is there, so the test can fail.
        assert!(text.contains("forged") && text.contains("legacy"), "{text}");
        for line in text.lines() {
            assert!(
                !line.trim_start().starts_with("::"),
                "{}: a workflow command: {line}",
                format.name()
            );
            assert!(
                !line.contains("##[") && !line.contains("##vso["),
                "{}: a logging command: {line}",
                format.name()
            );
        }
    }

    let mut out = Vec::new();
    github::write_annotations(&fixture(), &mut out).unwrap();
    let annotations = String::from_utf8(out).unwrap();
    let troubled = fixture().checks().filter(|(_, c)| c.troubled()).count();
    assert_eq!(annotations.lines().count(), troubled, "{annotations}");
    for line in annotations.lines() {
        assert!(
            line.starts_with("::error title=gate%3A ")
                || line.starts_with("::warning title=gate%3A "),
            "{line}"
        );
        assert!(!line.contains("##[") && !line.contains("##vso["), "{line}");
    }
}

#[test]
fn error_labels_match_the_json_names() {
    for kind in [
        ErrorKind::Deadline,
        ErrorKind::ResourceLimit,
        ErrorKind::HostCallLimit,
        ErrorKind::Panic,
        ErrorKind::Trap,
        ErrorKind::Check,
        ErrorKind::Host,
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.label());
    }
}
