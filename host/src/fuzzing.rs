//! Entry points of the fuzz targets (`fuzz/`), kept in the library so that
//! the inputs the fuzzers once crashed on replay as plain unit tests
//! (`fuzz/regressions/<target>/`). Each takes arbitrary bytes and must
//! neither panic nor hang, whatever they hold; the asserts are properties
//! that must hold for every input.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::grants::{AllowedHost, Grants, HttpDenial, Origin, PrometheusAuthSpec};

/// gate.toml as a user may write it: parse, validate every environment,
/// pick one, check the files it names.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = crate::config::Config::from_text(Path::new("fuzz/gate.toml"), text.to_owned())
    else {
        return;
    };
    let (_, problems) = config.top_level();
    for problem in problems {
        // Every problem points into the file.
        assert!(
            problem.place.line >= 1 && problem.place.column >= 1,
            "{problem}"
        );
        let _ = problem.to_string();
    }
    for name in config.env_names() {
        let environment = match config.environment_lenient(name) {
            Ok((environment, _)) => environment,
            // Its table's shape is wrong: said where, and only for it.
            Err(crate::config::ConfigError::Invalid(problems)) => {
                assert!(
                    !problems.is_empty(),
                    "env `{name}`: invalid, with no problem"
                );
                for problem in problems {
                    assert!(
                        problem.place.line >= 1 && problem.place.column >= 1,
                        "{problem}"
                    );
                }
                continue;
            }
            Err(other) => panic!("listed environment `{name}` cannot be built: {other}"),
        };
        let _ = config.unsupported(&environment);
        let _ = environment.settings.grants(name);
        if let Ok(environment) = config.environment(name) {
            // A valid environment's limits are valid limits.
            let mut limits = crate::limits::Limits::default();
            for (key, setting) in &environment.settings.limits {
                limits.set(key, &setting.value).expect("validated limit");
            }
        }
    }
    let _ = config.select(None);
}

/// A decision log anyone may have edited, read back as `gate log stats`
/// and `gate log show` do: never a panic, every figure consistent, every
/// line printed as one line with nothing that drives a terminal.
pub fn decision_log(data: &[u8]) {
    use crate::decision_log::Period;
    let log = crate::decision_log::parse("fuzz.jsonl", data);
    let _ = crate::decision_log::commit_time_conflicts(&log.decisions);
    let middle = log.decisions.get(log.decisions.len() / 2).map(|d| d.unix);
    for period in [
        Period::default(),
        Period {
            since: middle,
            until: None,
        },
        Period {
            since: None,
            until: middle,
        },
    ] {
        let stats = crate::decision_log::stats(&log.decisions, &log.rollbacks, period);
        for (env, s) in &stats {
            assert_eq!(
                s.passed + s.failed + s.inconclusive + s.aborted,
                s.decisions,
                "{env}: every decision counted once"
            );
            assert!(s.rollbacks <= s.failed, "{env}");
            assert!(s.rollback_commands_failed <= s.rollback_commands, "{env}");
            assert!(s.lead_times <= s.releases.unwrap_or(0), "{env}");
            assert!(s.lead_time_s.is_none_or(|l| l >= 0.0), "{env}");
        }
        let mut table = Vec::new();
        crate::decision_log::write_stats(&stats, "*", &mut table).expect("a Vec takes it");
        let table = String::from_utf8(table).expect("UTF-8 in, UTF-8 out");
        // A header, a row per environment, at most three notes.
        assert!(table.lines().count() <= stats.len() + 4, "{table}");
        assert!(!table.contains('\u{1b}'), "{table}");
        for env in [None, log.decisions.first().map(|d| d.env.as_str())] {
            for entry in crate::log_cmd::history(&log, period, env, Some(50)) {
                let widths = crate::log_cmd::Widths {
                    env: 12,
                    release: 8,
                };
                let line = crate::log_cmd::describe(&entry, widths);
                assert!(!line.contains(['\n', '\r', '\u{1b}', '\t']), "{line:?}");
                let _ = serde_json::to_string(&entry).expect("an entry serializes");
            }
        }
    }
}

/// Grants of a typical run: a target on 127.0.0.1 and a few allowed hosts.
fn grants() -> &'static Grants {
    static GRANTS: OnceLock<Grants> = OnceLock::new();
    GRANTS.get_or_init(|| Grants {
        target: Some("http://127.0.0.1:8080/".parse().expect("a URL")),
        allowed_hosts: [
            "api.example.com",
            "db.example.com:5000",
            "https://x.example.com:8443",
        ]
        .iter()
        .map(|h| AllowedHost::parse(h).expect("a host"))
        .collect(),
        ..Grants::default()
    })
}

/// What a guest hands the host, and what the host reads from outside on a
/// guest's behalf: URLs checked against the allow-list, durations and
/// sizes, auth specs, guest text to clean, Prometheus answers to decode,
/// and signatures to check.
pub fn host_call_args(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let grants = grants();
    match grants.http_url(&text) {
        Ok(url) => {
            // The allow-list holds for everything it lets through.
            let origin = Origin::of(&url).expect("an allowed URL has an origin");
            // Checked independently of the allow-list's own code.
            let allowed = matches!(
                (origin.scheme.as_str(), origin.host.as_str(), origin.port),
                ("http", "127.0.0.1", 8080)
                    | ("http", "api.example.com", 80)
                    | ("https", "api.example.com", 443)
                    | ("http" | "https", "db.example.com", 5000)
                    | ("https", "x.example.com", 8443)
            );
            assert!(allowed, "{url} was let through");
            assert!(matches!(url.scheme(), "http" | "https"), "{url}");
            assert!(
                url.username().is_empty() && url.password().is_none(),
                "{url}"
            );
        }
        Err(HttpDenial::Denied(message) | HttpDenial::Invalid(message)) => {
            assert!(!message.is_empty());
        }
    }
    if let Ok(host) = AllowedHost::parse(&text) {
        // What is shown can be given back to --allow-host.
        assert_eq!(
            AllowedHost::parse(&host.to_string()).as_ref(),
            Ok(&host),
            "{host}"
        );
    }
    let _ = crate::cli::parse_target(&text);
    let _ = PrometheusAuthSpec::parse(&text);
    if let Ok(duration) = crate::units::parse_duration(&text) {
        assert!(duration > Duration::ZERO);
    }
    if let Ok(size) = crate::units::parse_size(&text) {
        assert!(size > 0);
    }
    if let Some((key, value)) = text.split_once('=') {
        let _ = crate::limits::Limits::default().set(key, value);
    }
    let _ = crate::integrity::ShaFlag::parse(&text);

    // Guest text: after cleaning, no control character but newline and tab
    // reaches a terminal, and a secret never shows.
    let cleaner = crate::text::Cleaner::new(["s3cr3t".to_owned()]);
    let clean = cleaner.clean(&text);
    assert!(
        !clean
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "{clean:?}"
    );
    assert!(!clean.contains("s3cr3t"), "{clean:?}");
    // Nor a character XML 1.0 and YAML refuse (JUnit and TAP reports must
    // parse), nor a CI log command.
    assert!(!clean.contains(['\u{fffe}', '\u{ffff}']), "{clean:?}");
    assert!(
        clean.lines().all(|l| !l.trim_start().starts_with("::")),
        "{clean:?}"
    );
    assert!(
        !clean.contains("##[") && !clean.contains("##vso["),
        "{clean:?}"
    );
    let line = cleaner.clean_line(&text);
    assert!(!line.contains('\n'), "{line:?}");
    assert!(!line.trim_start().starts_with("::"), "{line:?}");
    let cut = crate::text::truncate(&text, 64);
    assert!(cut.len() <= text.len().max(64 + 40), "{cut:?}");

    // A Prometheus answer, as any server (or a man in the middle) may send.
    for status in [200, 400, 503] {
        let _ = crate::caps::metrics::parse(status, data);
    }

    // A signature file, as anyone who can write beside a policy may write
    // it: never accepted for a policy its key did not sign.
    assert!(
        crate::integrity::fuzz_signature(&text).is_err(),
        "a forged signature was accepted: {text:?}"
    );
}

/// Arbitrary bytes given to gate as a policy: refused with a load error, or
/// loaded (and described) within the limits. Never a panic or a hang.
pub fn policy_bytes(data: &[u8]) {
    struct Loader {
        tokio: tokio::runtime::Runtime,
        runtime: crate::runtime::Runtime,
        session: Arc<crate::state::Session>,
    }
    static LOADER: OnceLock<Loader> = OnceLock::new();
    let loader = LOADER.get_or_init(|| {
        let limits = crate::limits::Limits {
            timeout: Duration::from_secs(2),
            compile_timeout: Duration::from_secs(20),
            ..crate::limits::Limits::default()
        };
        Loader {
            tokio: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a tokio runtime"),
            runtime: crate::runtime::Runtime::new(limits.wasm_stack_bytes).expect("an engine"),
            session: Arc::new(
                crate::state::Session::new(Grants::default(), limits, []).expect("a session"),
            ),
        }
    });
    let path = Path::new("fuzz.wasm");
    let loaded = loader.tokio.block_on(loader.runtime.load_bytes(
        path,
        data.to_vec(),
        &loader.session,
    ));
    match loaded {
        Ok(policy) => {
            assert_eq!(policy.sha256, crate::policy::sha256_hex(data));
            let _ = crate::inspect::Inspection::from(&policy);
        }
        Err(error) => assert!(error.to_string().contains("fuzz.wasm"), "{error}"),
    }
}

#[cfg(test)]
mod tests {
    //! Inputs that once crashed a fuzz target, replayed on every test run.

    use std::path::PathBuf;

    fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/regressions")
            .join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.is_file())
            .map(|path| {
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect();
        inputs.sort();
        inputs
    }

    use super::*;

    #[test]
    fn config_regressions() {
        for (path, bytes) in inputs("config") {
            eprintln!("{}", path.display());
            config(&bytes);
        }
    }

    #[test]
    fn host_call_args_regressions() {
        for (path, bytes) in inputs("host_call_args") {
            eprintln!("{}", path.display());
            host_call_args(&bytes);
        }
    }

    #[test]
    fn decision_log_regressions() {
        for (path, bytes) in inputs("decision_log") {
            eprintln!("{}", path.display());
            decision_log(&bytes);
        }
    }

    #[test]
    fn policy_bytes_regressions() {
        for (path, bytes) in inputs("policy_bytes") {
            eprintln!("{}", path.display());
            policy_bytes(&bytes);
        }
    }
}
