//! Harness for the end-to-end tests: find the `gate` binary and the guests
//! that `cargo xtask test` built, run `gate` as a user would, and read what
//! it printed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use gate_demo::prometheus;

pub mod docker;
pub mod stub;
pub mod tls;

pub use gate_demo::{Config, Faults, Server};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// Where a JSON run report breaks the documented schema
/// (`schema/gate.report.v1.json`); empty when it keeps to it.
pub fn schema_errors(report: &serde_json::Value) -> Vec<String> {
    errors_against("gate.report.v1.json", report)
}

/// Where a `gate watch` window report breaks its schema
/// (`schema/gate.watch.v1.json`, whose rounds hold the run report's
/// policies); empty when it keeps to it.
pub fn watch_schema_errors(report: &serde_json::Value) -> Vec<String> {
    errors_against("gate.watch.v1.json", report)
}

/// Where `gate log stats --format json` breaks its schema
/// (`schema/gate.log-stats.v1.json`); empty when it keeps to it.
pub fn log_stats_schema_errors(stats: &serde_json::Value) -> Vec<String> {
    errors_against("gate.log-stats.v1.json", stats)
}

/// Where a decision log's line breaks its schema: `schema/gate.decision.v1.json`,
/// or `schema/gate.rollback.v1.json` for a rollback command's line (as its
/// `schema` says); empty when it keeps to it.
pub fn decision_log_schema_errors(line: &serde_json::Value) -> Vec<String> {
    match line["schema"].as_str() {
        Some("gate.rollback/v1") => errors_against("gate.rollback.v1.json", line),
        _ => errors_against("gate.decision.v1.json", line),
    }
}

fn read_schema(file: &str) -> serde_json::Value {
    let path = root().join("schema").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Resolves `urn:gate:schema:NAME` references to `schema/NAME.json`, and
/// nothing else: the schemas refer to each other, never to the network.
struct SchemaFiles;

impl jsonschema::Retrieve for SchemaFiles {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .as_str()
            .strip_prefix("urn:gate:schema:")
            .ok_or_else(|| format!("{uri} is not one of gate's schemas"))?;
        Ok(read_schema(&format!("{name}.json")))
    }
}

fn errors_against(file: &str, report: &serde_json::Value) -> Vec<String> {
    jsonschema::options()
        .with_retriever(SchemaFiles)
        .build(&read_schema(file))
        .unwrap_or_else(|e| panic!("{file} is not a usable JSON Schema: {e}"))
        .iter_errors(report)
        .map(|e| e.to_string())
        .collect()
}

fn from_env(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) => PathBuf::from(path),
        None => panic!(
            "{var} is not set: run the suite with `cargo xtask test`, which builds the gate binary and the guests first"
        ),
    }
}

/// Check `check` of policy `policy` in a `gate.tape/v1` fixture, to read or
/// edit its `calls` and `expect`.
pub fn fixture_check<'a>(
    fixture: &'a mut serde_json::Value,
    policy: &str,
    check: &str,
) -> &'a mut serde_json::Value {
    fixture["policies"]
        .as_array_mut()
        .expect("a fixture has policies")
        .iter_mut()
        .filter(|p| p["name"] == policy)
        .flat_map(|p| p["checks"].as_array_mut().expect("a policy has checks"))
        .find(|c| c["name"] == check)
        .unwrap_or_else(|| panic!("{policy}/{check} is not in the fixture"))
}

/// A guest component by short name: the shipped `prod`, `bluegreen` and `api`, or a test
/// guest such as `hostile`.
pub fn guest(name: &str) -> PathBuf {
    let path = match name {
        "prod" => root().join("policies/prod.wasm"),
        "bluegreen" => root().join("policies/bluegreen.wasm"),
        "api" => root().join("smoke/api.wasm"),
        other => from_env("GATE_TEST_GUESTS").join(format!("gate_policy_{other}.wasm")),
    };
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask test`",
        path.display()
    );
    path
}

/// A `gate` command line to run.
pub struct Gate {
    command: Command,
    line: String,
}

/// What one `gate` run did.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The JSON report (for runs with `--format json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// stdout and stderr together, for "never appears anywhere" checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The check of a JSON report, by policy and check name.
    pub fn check(&self, policy: &str, check: &str) -> serde_json::Value {
        let report = self.json();
        report["policies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["name"] == policy)
            .flat_map(|p| p["checks"].as_array().cloned().unwrap_or_default())
            .find(|c| c["name"] == check)
            .unwrap_or_else(|| panic!("no check {policy}/{check} in the report:\n{}", self.stdout))
    }
}

impl Gate {
    pub fn new<I, S>(args: I) -> Gate
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(from_env("GATE_BIN"));
        command.current_dir(root());
        // A clean environment: no stray secrets, proxies or log settings.
        command.env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let mut line = String::from("gate");
        for arg in args {
            line.push(' ');
            line.push_str(&arg.as_ref().to_string_lossy());
            command.arg(arg);
        }
        Gate { command, line }
    }

    /// `gate run` of guests by short name (see [`guest`]).
    pub fn policies(names: &[&str]) -> Gate {
        Gate::new(["run"]).guests(names)
    }

    /// `gate watch` of guests by short name.
    pub fn watch(names: &[&str]) -> Gate {
        Gate::new(["watch"]).guests(names)
    }

    fn guests(mut self, names: &[&str]) -> Gate {
        for name in names {
            self = self.arg(guest(name));
        }
        self
    }

    /// `--target URL`.
    pub fn target(self, url: &str) -> Gate {
        self.args(["--target", url])
    }

    /// `--format json`.
    pub fn json(self) -> Gate {
        self.args(["--format", "json"])
    }

    /// `--param KEY=VALUE`.
    pub fn param(self, key_value: &str) -> Gate {
        self.args(["--param", key_value])
    }

    pub fn args<I, S>(mut self, args: I) -> Gate
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Gate {
        self.command.env(key, value);
        self
    }

    /// Runs gate in `dir` instead of the workspace root (where gate looks
    /// for `gate.toml`).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Gate {
        self.command.current_dir(dir);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Gate {
        self.line.push(' ');
        self.line.push_str(&arg.as_ref().to_string_lossy());
        self.command.arg(arg);
        self
    }

    /// Gives gate `file` as its standard input.
    pub fn stdin_file(mut self, file: impl AsRef<Path>) -> Gate {
        let file = file.as_ref();
        self.line.push_str(&format!(" < {}", file.display()));
        self.command
            .stdin(std::fs::File::open(file).expect("open the file for stdin"));
        self
    }

    /// Starts gate without waiting, stdout and stderr piped, for tests that
    /// act while it runs (watch windows, signals).
    pub fn spawn(mut self) -> std::process::Child {
        eprintln!("$ {} &", self.line);
        self.command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start gate")
    }

    /// Runs gate on a pseudo-terminal (util-linux `script`), as at a
    /// user's terminal. stdout and stderr both go to the terminal, so they
    /// arrive merged in `stdout`, with `\r\n` line ends.
    pub fn run_on_terminal(self) -> Outcome {
        let quote =
            |arg: &std::ffi::OsStr| format!("'{}'", arg.to_string_lossy().replace('\'', "'\\''"));
        let mut line = quote(self.command.get_program());
        for arg in self.command.get_args() {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        let mut script = Command::new("script");
        script.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
        script.env_clear().env("TERM", "xterm-256color");
        for (key, value) in self.command.get_envs() {
            if let Some(value) = value {
                script.env(key, value);
            }
        }
        if let Some(dir) = self.command.get_current_dir() {
            script.current_dir(dir);
        }
        script.stdin(std::process::Stdio::null());
        Gate {
            command: script,
            line: format!("(on a terminal) {}", self.line),
        }
        .run()
    }

    pub fn run(mut self) -> Outcome {
        let output = self.command.output().expect("run gate");
        let outcome = Outcome {
            code: output
                .status
                .code()
                .expect("gate exited normally, not by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        eprintln!(
            "$ {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
            self.line, outcome.code, outcome.stdout, outcome.stderr
        );
        outcome
    }
}

/// A healthy sample service on 127.0.0.1 with the default API token.
pub fn stack() -> Server {
    Server::start(0, Config::default()).expect("start the sample service")
}

/// The token the sample service accepts by default.
pub const API_TOKEN: &str = "demo-token";

/// A local webhook receiver: answers 200 and keeps each request body.
/// Accepts at most a few connections, so its loop is bounded.
pub fn webhook_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(5) {
            let Ok(mut stream) = stream else { continue };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (url, bodies)
}

/// `text` as a Slack webhook's `text` holds it: `&`, `<` and `>` escaped.
pub fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
