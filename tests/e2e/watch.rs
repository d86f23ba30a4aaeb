//! `gate watch` over bake windows against the real sample service (and a
//! real Prometheus URL where nothing listens, for "Prometheus down").

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use gate_e2e::prometheus::free_port;
use gate_e2e::stub::Stub;
use gate_e2e::{
    API_TOKEN, Faults, Gate, Outcome, decision_log_schema_errors, stack, webhook_server,
};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gate-e2e-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// A gate.toml that runs the api smoke suite against `target` in
/// `default_env`, then `tables`.
fn api_config(target: &str, default_env: &str, tables: &str) -> String {
    format!(
        "default_env = \"{default_env}\"\npolicies = ['{api}']\nsecrets.api_token = {{}}\n\
         target = \"{target}\"\n{tables}",
        api = gate_e2e::guest("api").display(),
    )
}

/// A rollback command that appends its GATE_* environment to `log`.
fn recording_hook(log: &std::path::Path) -> String {
    format!(
        "{{ env | grep '^GATE_' | sort; echo ---; }} >> '{}'",
        log.display()
    )
}

/// How long a test waits for a line from gate, or for gate to end, before
/// it kills gate and fails: a hang is a failure, not a CI timeout.
const BOUND: Duration = Duration::from_secs(120);

/// gate started in the background, its stdout read on a thread so that
/// every wait on it is bounded.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(gate: Gate) -> Running {
        let mut child = gate.spawn();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads gate's stdout until a line holds `pattern`.
    fn wait_for(&mut self, pattern: &str) {
        let until = Instant::now() + BOUND;
        loop {
            match self
                .lines
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(line) => {
                    let found = line.contains(pattern);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("gate ended before `{pattern}`: {:?}", self.seen)
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("no `{pattern}` within {BOUND:?}: {:?}", self.seen)
                }
            }
        }
    }

    /// Sends gate SIGTERM, as a CI runner cancelling a job does.
    fn terminate(&self) {
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Waits for gate to end and gathers what it wrote.
    fn finish(self) -> Outcome {
        let (status, stdout, stderr) = self.end();
        Outcome {
            code: status.code().expect("exited normally"),
            stdout,
            stderr,
        }
    }

    /// Kills gate with SIGKILL, as a CI runner does once a cancelled job's
    /// grace period is over, and gathers what it wrote: (stdout, stderr).
    fn kill(mut self) -> (String, String) {
        self.child.kill().unwrap();
        let (status, stdout, stderr) = self.end();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "gate ended before it was killed: {stdout}"
        );
        (stdout, stderr)
    }

    fn end(mut self) -> (std::process::ExitStatus, String, String) {
        let until = Instant::now() + BOUND;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                panic!("gate still running after {BOUND:?}: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader ends with gate's stdout.
        self.seen.extend(self.lines.iter());
        let stdout: String = self.seen.iter().map(|l| format!("{l}\n")).collect();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        eprintln!("{status}\n--- stdout\n{stdout}--- stderr\n{stderr}");
        (status, stdout, stderr)
    }
}

/// Waits, bounded, for a file a rollback command writes, and reads it.
fn wait_for_file(path: &std::path::Path) -> String {
    let until = Instant::now() + BOUND;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(
            Instant::now() < until,
            "no {} within {BOUND:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` runs: not gone, nor a zombie no one reaped yet.
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, state) = stat.rsplit_once(')')?;
            Some(!state.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
}

/// Sends SIGKILL to a process (`1234`) or a process group (`-1234`) a
/// rollback command left behind.
fn kill(target: &str) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", target])
        .status();
}

/// The sample service answering every request with an error, so that the
/// first round of the api suite fails and the window rolls back.
fn failing_stack() -> gate_e2e::Server {
    let stack = stack();
    stack.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    stack
}

/// One round of the api suite against `stack` (one that fails, so that
/// the window rolls back), with its token.
fn one_round(stack: &gate_e2e::Server) -> Gate {
    Gate::watch(&["api"])
        .target(&stack.url())
        .args(["--interval", "100ms", "--count", "1"])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
}

#[test]
fn healthy_window_exits_0_and_never_runs_the_rollback_command() {
    let stack = stack();
    let hook_log = temp("healthy-hook.log");
    let out = Gate::watch(&["api"])
        .target(&stack.url())
        .args([
            "--interval",
            "200ms",
            "--count",
            "3",
            "--on-rollback",
            &recording_hook(&hook_log),
        ])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("round 3/3"), "{}", out.stdout);
    assert!(
        out.stdout.contains("decision: HEALTHY (exit 0)"),
        "{}",
        out.stdout
    );
    assert!(!hook_log.exists(), "the rollback command must not run");
}

#[test]
fn errors_injected_after_round_2_roll_back_at_round_3() {
    let stack = stack();
    let hook_log = temp("breach-hook.log");
    let decisions = temp("breach-decisions.jsonl");
    let (webhook, bodies) = webhook_server();
    let mut gate = Running::start(
        Gate::watch(&["api"])
            .target(&stack.url())
            .args([
                "--interval",
                "1s",
                "--count",
                "6",
                "--on-rollback",
                &recording_hook(&hook_log),
            ])
            .args([
                "--webhook",
                &webhook,
                "--release",
                "v2.0.0",
                "--decision-log",
            ])
            .arg(&decisions)
            .env("GATE_SECRET_API_TOKEN", API_TOKEN),
    );
    gate.wait_for("round 2/6");
    stack.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let out = gate.finish();

    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("round 3/6"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("round 4/6"),
        "rolls back at the first failed round: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("decision: ROLLBACK (exit 1)"),
        "{}",
        out.stdout
    );

    let hook = std::fs::read_to_string(&hook_log).expect("the rollback command ran");
    assert_eq!(
        hook.matches("---").count(),
        1,
        "it ran exactly once: {hook}"
    );
    assert!(hook.contains("GATE_DECISION=rollback"), "{hook}");
    assert!(hook.contains("GATE_POLICY=api"), "{hook}");
    assert!(hook.contains("GATE_ENV=default"), "{hook}");
    assert!(hook.contains("GATE_FAILED_CHECKS=api/"), "{hook}");
    assert!(hook.contains("GATE_RELEASE=v2.0.0"), "{hook}");
    assert!(out.stdout.contains("\nrelease: v2.0.0\n"), "{}", out.stdout);
    let report_path = hook
        .lines()
        .find_map(|l| l.strip_prefix("GATE_REPORT="))
        .expect("GATE_REPORT set");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_path).unwrap()).unwrap();
    let errors = gate_e2e::watch_schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["decision"], "rollback");
    assert_eq!(report["rounds"].as_array().unwrap().len(), 3);
    assert_eq!(report["rounds"][2]["outcome"], "fail");

    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let payload: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert!(
        payload["text"].as_str().unwrap().contains("rollback"),
        "{payload}"
    );
    assert!(
        payload["text"]
            .as_str()
            .unwrap()
            .contains("on env `default` for release `v2.0.0`"),
        "{payload}"
    );
    assert_eq!(report["release"]["id"], "v2.0.0");
    assert_eq!(
        payload["text"].as_str().unwrap(),
        gate_e2e::slack_escaped(payload["content"].as_str().unwrap()),
        "Slack and Discord read the same text"
    );

    let log = std::fs::read_to_string(&decisions).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the decision, then the rollback: {log}");
    for line in &lines {
        let errors = decision_log_schema_errors(line);
        assert!(errors.is_empty(), "{errors:#?}\n{line}");
    }
    assert_eq!(
        (lines[0]["schema"].as_str(), lines[1]["schema"].as_str()),
        (Some("gate.decision/v1"), Some("gate.rollback/v1"))
    );
    let entry = &lines[0];
    assert_eq!(
        (entry["command"].as_str(), entry["decision"].as_str()),
        (Some("watch"), Some("rollback"))
    );
    assert!(!entry["failed_checks"].as_array().unwrap().is_empty());
    let rollback = &lines[1];
    assert_eq!(
        (
            rollback["command"].as_str(),
            rollback["succeeded"].as_bool(),
            rollback["exit_code"].as_i64(),
            rollback["env"].as_str(),
        ),
        (Some("rollback"), Some(true), Some(0), Some("default"))
    );
    assert_eq!(
        rollback["rollback_command"].as_str(),
        Some(recording_hook(&hook_log).as_str())
    );
    assert_eq!(
        rollback["decided_at"], entry["timestamp"],
        "the rollback names the decision it acted on"
    );
    assert_eq!(entry["release"], serde_json::json!({ "id": "v2.0.0" }));
    // The history shows the decision, then what the command did.
    let history = Gate::new(["log", "show"]).arg(&decisions).run();
    assert_eq!(history.code, 0, "{}", history.stderr);
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", history.stdout);
    assert!(
        lines[0].contains("  default  watch    ROLLBACK (1)     v2.0.0  "),
        "{}",
        history.stdout
    );
    assert!(
        lines[1].contains("  default  rollback command `") && lines[1].contains("`: ran, exit 0, "),
        "{}",
        history.stdout
    );
}

/// A rollback command past `--rollback-timeout` is stopped and reported
/// FAILED, on the output and in the decision log, which `gate log stats`
/// then counts.
#[test]
fn a_rollback_command_past_its_timeout_fails_loudly_and_is_logged() {
    let stack = failing_stack();
    let decisions = temp("timeout-decisions.jsonl");
    let out = one_round(&stack)
        .args([
            "--on-rollback",
            "echo undoing; sleep 30",
            "--rollback-timeout",
            "1s",
        ])
        .args(["--decision-log"])
        .arg(&decisions)
        .run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(
        out.stdout
            .contains("on rollback: `echo undoing; sleep 30` (stopped after 1s)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "ROLLBACK COMMAND FAILED: `echo undoing; sleep 30` ended with no exit code \
             (killed or timed out)\n  | undoing\n  | still running after 1s: stopped it and \
             every process it started\n"
        ),
        "{}",
        out.stdout
    );
    let log = std::fs::read_to_string(&decisions).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(
        (
            last["command"].as_str(),
            last["succeeded"].as_bool(),
            last["exit_code"].is_null()
        ),
        (Some("rollback"), Some(false), true),
        "{log}"
    );
    let stats = Gate::new(["log", "stats"]).arg(&decisions).run();
    assert_eq!(stats.code, 0, "{}", stats.all_output());
    assert!(
        stats
            .stdout
            .contains("rollback commands: 1 run, 1 FAILED (default)"),
        "{}",
        stats.stdout
    );
    assert!(stats.stderr.is_empty(), "{}", stats.stderr);
    let json = Gate::new(["log", "stats", "--format", "json"])
        .arg(&decisions)
        .run()
        .json();
    assert_eq!(json["schema"], "gate.log-stats/v1");
    let errors = gate_e2e::log_stats_schema_errors(&json);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(json["environments"]["default"]["decisions"], 1);
    assert_eq!(
        json["environments"]["default"]["rollback_commands_failed"],
        1
    );
}

/// The first SIGTERM during the rollback command is passed on to it; a
/// command that goes on regardless is killed by the second, and gate ends.
#[test]
fn a_second_sigterm_kills_a_rollback_command_that_ignored_the_first() {
    let stack = failing_stack();
    let (group, got_term) = (temp("stubborn-hook.pgid"), temp("stubborn-hook.term"));
    let hook = format!(
        "trap 'echo got TERM; echo > {got_term}' TERM; echo $$ > '{group}'; sleep 30 & wait; \
         sleep 30 & wait; echo finished",
        group = group.display(),
        got_term = got_term.display()
    );
    let gate = Running::start(one_round(&stack).args(["--on-rollback", &hook]));
    let group = format!("-{}", wait_for_file(&group).trim());
    gate.terminate();
    // The second once the first has reached the command: two signals close
    // together may reach gate as one.
    wait_for_file(&got_term);
    gate.terminate();
    let out = gate.finish();
    kill(&group);
    assert_eq!(out.code, 1, "the rollback decision stands: {}", out.stdout);
    assert!(
        out.stdout.contains("  | got TERM\n")
            && out.stdout.contains(
                "  | gate was asked to stop again: stopped it and every process it started \
                 (SIGKILL)\n"
            ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("  | finished"), "{}", out.stdout);
}

#[test]
fn target_down_for_the_whole_window_is_never_healthy() {
    let target = format!("http://{}", free_port());
    let out = Gate::watch(&["api"])
        .target(&target)
        .args(["--interval", "100ms", "--count", "3"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("consecutive errored rounds exceed the consecutive error limit of 2"),
        "{}",
        out.stdout
    );

    // Even with a limit the window never reaches, all-error is a rollback.
    let lenient = Gate::watch(&["api"])
        .target(&target)
        .args([
            "--interval",
            "100ms",
            "--count",
            "3",
            "--consecutive-error-limit",
            "10",
        ])
        .run();
    assert_eq!(lenient.code, 1, "{}", lenient.stdout);
    assert!(
        lenient.stdout.contains("no round passed"),
        "{}",
        lenient.stdout
    );
}

#[test]
fn prometheus_down_rolls_back_after_e_plus_1_errored_rounds() {
    let prometheus = format!("http://{}", free_port());
    let out = Gate::watch(&["rollback"])
        .args([
            "--prometheus",
            &prometheus,
            "--interval",
            "100ms",
            "--count",
            "6",
            "--consecutive-error-limit",
            "2",
        ])
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("round 3/6"), "{}", out.stdout);
    assert!(!out.stdout.contains("round 4/6"), "{}", out.stdout);
    assert!(
        out.stdout.contains("3 consecutive errored rounds"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_window_can_be_set_in_gate_toml_and_flags_win_over_it() {
    let stack = stack();
    let dir = temp("window-config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("gate.toml"),
        api_config(
            &stack.url(),
            "bake",
            r#"
[watch]
interval = "10m"
initial_delay = "2s"

[env.bake.watch]
interval = "100ms"
count = 2
failure_limit = 1

[env.bare]
"#,
        ),
    )
    .unwrap();
    let watch = |args: &[&str]| {
        Gate::new(["watch", "--format", "json"])
            .args(args)
            .current_dir(&dir)
            .env("GATE_SECRET_API_TOKEN", API_TOKEN)
            .run()
    };

    // The environment's table over the top level's, every key.
    let out = watch(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    let errors = gate_e2e::watch_schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        out.stderr.contains(
            "window: 2 rounds, one every 100ms · tolerated: failures 1, inconclusive 0, \
             consecutive errors 2\nwaiting 2s before the first round (initial delay)\n"
        ),
        "the window as resolved is shown first: {}",
        out.stderr
    );
    assert_eq!(report["interval_ms"], 100.0);
    assert_eq!(report["initial_delay_ms"], 2000.0);
    assert_eq!(report["planned_rounds"], 2);
    assert_eq!(report["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["limits"],
        serde_json::json!({
            "failure_limit": 1,
            "inconclusive_limit": 0,
            "consecutive_error_limit": 2,
        })
    );

    // A flag wins over the file, key by key; `--initial-delay 0` cancels
    // the file's delay.
    let out = watch(&[
        "--count",
        "1",
        "--failure-limit",
        "0",
        "--initial-delay",
        "0",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = out.json();
    assert_eq!(report["initial_delay_ms"], 0.0);
    assert_eq!(report["planned_rounds"], 1);
    assert_eq!(report["interval_ms"], 100.0);
    assert_eq!(report["limits"]["failure_limit"], 0);

    // No window anywhere: refused before any policy is loaded or any
    // request made, naming both the flags and the table.
    let served = stack.requests_served();
    let out = watch(&["--env", "bare"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "give --count N (rounds) or --duration D (as many intervals as fit), or set `count` \
             or `duration` in [watch] or [env.bare.watch] of"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(stack.requests_served(), served);

    // A bad value names its line and key.
    std::fs::write(
        dir.join("gate.toml"),
        "default_env = \"bake\"\n[env.bake.watch]\ncount = 0\n",
    )
    .unwrap();
    let out = watch(&[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "gate.toml:3:9: env.bake.watch.count: 0 rounds is out of range (1 to 100000)"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn the_rollback_command_can_be_set_in_gate_toml_and_runs_beside_the_file() {
    let stack = stack();
    // Every request fails from the start: the first round rolls back.
    stack.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let dir = temp("rollback-config");
    let ci = dir.join("ci");
    std::fs::create_dir_all(&ci).unwrap();
    // A relative script, as a team keeps it beside gate.toml; it notes
    // where it ran and the decision it was given.
    let script = ci.join("rollback.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n{ pwd; echo \"$GATE_DECISION $GATE_ENV $1\"; } >> rolled-back.log\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        ci.join("gate.toml"),
        api_config(
            &stack.url(),
            "prod",
            r#"
[watch]
interval = "100ms"
count = 3
on_rollback = "./rollback.sh from-top-level"

[env.prod.watch]
on_rollback = "./rollback.sh from-prod"

[env.local.watch]
on_rollback = ""
"#,
        ),
    )
    .unwrap();
    let log = ci.join("rolled-back.log");

    // `gate env show` says what would run, and where.
    let shown = Gate::new(["env", "show", "prod", "--config", "ci/gate.toml"])
        .current_dir(&dir)
        .run();
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("./rollback.sh from-prod in ci"),
        "{}",
        shown.stdout
    );
    // Started from the directory above the file's, which holds no script.
    let watch = |args: &[&str]| {
        Gate::new(["watch", "--config", "ci/gate.toml"])
            .args(args)
            .current_dir(&dir)
            .env("GATE_SECRET_API_TOKEN", API_TOKEN)
            .run()
    };

    let out = watch(&[]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("on rollback: `./rollback.sh from-prod` in ci (stopped after 10m)\n"),
        "the command is shown before the first round: {}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("rollback command `./rollback.sh from-prod` succeeded"),
        "{}",
        out.stdout
    );
    let ran = std::fs::read_to_string(&log).expect("the rollback command ran");
    let ci_dir = ci.canonicalize().unwrap();
    assert_eq!(
        ran,
        format!("{}\nrollback prod from-prod\n", ci_dir.display()),
        "the file's command runs in the file's directory"
    );

    // The flag wins over the file, and runs where gate does.
    std::fs::remove_file(&log).unwrap();
    let out = watch(&["--on-rollback", "./ci/rollback.sh from-flag"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("on rollback: `./ci/rollback.sh from-flag` (stopped after 10m)\n"),
        "{}",
        out.stdout
    );
    assert!(!log.exists(), "the file's command must not run");
    let ran = std::fs::read_to_string(dir.join("rolled-back.log")).expect("the flag's ran");
    assert!(ran.ends_with("rollback prod from-flag\n"), "{ran}");

    // An empty command in the environment cancels the top level's; an
    // empty flag cancels the file's.
    for (env, flag) in [("local", None), ("prod", Some(""))] {
        let mut args = vec!["--env", env];
        args.extend(
            flag.map(|flag| ["--on-rollback", flag])
                .into_iter()
                .flatten(),
        );
        let out = watch(&args);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stdout.contains("decision: ROLLBACK"), "{}", out.stdout);
        assert!(!out.stdout.contains("on rollback:"), "{}", out.stdout);
        assert!(!out.stdout.contains("rollback command"), "{}", out.stdout);
        assert!(!log.exists(), "no command runs for {env} {flag:?}");
    }

    // A bad value names its line and key, before anything runs.
    std::fs::write(
        ci.join("gate.toml"),
        "default_env = \"prod\"\n[env.prod.watch]\non_rollback = [\"./rollback.sh\"]\n",
    )
    .unwrap();
    let served = stack.requests_served();
    let out = watch(&["--count", "1"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("gate.toml:3:15: env.prod.watch.on_rollback:"),
        "{}",
        out.stderr
    );
    assert_eq!(stack.requests_served(), served);
}

#[test]
fn bad_durations_and_limits_exit_2_naming_the_flag() {
    for (args, flag) in [
        (vec!["--interval", "soon", "--count", "2"], "--interval"),
        (vec!["--duration", "5 parsecs"], "--duration"),
        (vec!["--count", "0"], "--count"),
        (
            vec!["--count", "2", "--failure-limit=-1"],
            "--failure-limit",
        ),
        (
            vec!["--count", "2", "--consecutive-error-limit", "lots"],
            "--consecutive-error-limit",
        ),
        (vec!["--interval", "1s"], "--count"),
    ] {
        let out = Gate::watch(&["api"]).args(&args).run();
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(flag),
            "{args:?} should name {flag}: {}",
            out.stderr
        );
    }
}

#[test]
fn sigterm_mid_window_aborts_with_130_and_logs_the_decision() {
    let stack = stack();
    let decisions = temp("aborted-decisions.jsonl");
    let mut gate = Running::start(
        Gate::watch(&["api"])
            .target(&stack.url())
            .args(["--interval", "1s", "--count", "30", "--decision-log"])
            .arg(&decisions)
            .env("GATE_SECRET_API_TOKEN", API_TOKEN),
    );
    gate.wait_for("round 1/30");
    gate.terminate();
    let out = gate.finish();
    assert_eq!(out.code, 130, "{}", out.stdout);
    assert!(
        out.stdout.contains("decision: ABORTED (exit 130)"),
        "{}",
        out.stdout
    );
    let log = std::fs::read_to_string(&decisions).expect("the decision log was written");
    let entry: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(entry["decision"], "aborted");
    assert_eq!(entry["exit_code"], 130);
}

#[test]
fn log_stats_reads_the_decision_log() {
    let stack = stack();
    let decisions = temp("stats-decisions.jsonl");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let committed_at = now - 3600;
    for faults in [
        Faults::default(),
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
        Faults::default(),
    ] {
        stack.set_faults(faults);
        // The release and its commit time, as CI gives them.
        Gate::policies(&["api"])
            .target(&stack.url())
            .args(["--decision-log"])
            .arg(&decisions)
            .env("GATE_SECRET_API_TOKEN", API_TOKEN)
            .env("GATE_RELEASE", "v1.4.2")
            .env("GATE_COMMITTED_AT", &committed_at.to_string())
            .run();
    }
    let out = Gate::new(["log", "stats"])
        .arg(&decisions)
        .args(["--format", "json"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stats = out.json();
    let errors = gate_e2e::log_stats_schema_errors(&stats);
    assert!(errors.is_empty(), "{errors:#?}");
    let stats = &stats["environments"];
    assert_eq!(stats["default"]["decisions"], 3);
    assert_eq!(stats["default"]["failed"], 1);
    assert!((stats["default"]["change_failure_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(stats["default"]["restores"], 1);
    // From the commit an hour ago to the first run's pass.
    assert_eq!(stats["default"]["lead_times"], 1);
    assert_eq!(stats["default"]["releases"], 1);
    let lead = stats["default"]["lead_time_s"].as_f64().unwrap();
    assert!((3600.0..3600.0 + 600.0).contains(&lead), "{lead}");
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&decisions)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["release"]["id"], "v1.4.2");
    assert_eq!(first["release"]["committed_unix"], committed_at);
    let errors = decision_log_schema_errors(&first);
    assert!(errors.is_empty(), "{errors:#?}");
    let human = Gate::new(["log", "stats"]).arg(&decisions).run();
    assert!(
        human.stdout.contains("MTTR releases  lead time"),
        "{}",
        human.stdout
    );

    // A commit time names the commit of a release: alone, it is refused.
    let alone = Gate::policies(&["api"])
        .target(&stack.url())
        .args(["--committed-at", "2026-11-01T12:00:00+01:00"])
        .run();
    assert_eq!(alone.code, 2, "{}", alone.stderr);
    assert!(alone.stderr.contains("--release <ID>"), "{}", alone.stderr);

    // --since and --until bound what is counted by when it was decided.
    let recent = Gate::new(["log", "stats", "--since", "1h", "--format", "json"])
        .arg(&decisions)
        .run();
    assert_eq!(recent.code, 0, "{}", recent.stderr);
    assert_eq!(recent.json()["environments"]["default"]["decisions"], 3);
    let errors = gate_e2e::log_stats_schema_errors(&recent.json());
    assert!(errors.is_empty(), "{errors:#?}");
    let old = Gate::new(["log", "stats", "--until", "2000-01-01"])
        .arg(&decisions)
        .run();
    assert_eq!(old.code, 0, "{}", old.stderr);
    assert!(
        old.stdout.ends_with(
            "not counted: 3 decision(s) outside the period from the start of the log until \
             2000-01-01T00:00:00Z\n"
        ),
        "{}",
        old.stdout
    );
    assert!(!old.stdout.contains("default"), "{}", old.stdout);
    let empty = Gate::new(["log", "stats", "--since", "2h", "--until", "3h"])
        .arg(&decisions)
        .run();
    assert_eq!(empty.code, 2, "{}", empty.stderr);
    assert!(
        empty.stderr.contains("is not before --until"),
        "{}",
        empty.stderr
    );
    // A newer gate's lines are named as such, not as torn ones.
    let mut log = std::fs::read_to_string(&decisions).unwrap();
    let newer = log
        .lines()
        .next()
        .unwrap()
        .replace("gate.decision/v1", "gate.decision/v2");
    log.push_str(&newer);
    log.push('\n');
    std::fs::write(&decisions, &log).unwrap();
    let mixed = Gate::new(["log", "stats"]).arg(&decisions).run();
    assert_eq!(mixed.code, 0, "{}", mixed.stderr);
    assert!(
        mixed
            .stderr
            .contains("1 line(s) of a newer gate left out, the first at ")
            && mixed.stderr.contains(":4: schema \"gate.decision/v2\""),
        "{}",
        mixed.stderr
    );
    // JSON counts what it left out, and where the whole log is `*`.
    std::fs::write(&decisions, format!("{log}{{\"torn\n")).unwrap();
    let json = Gate::new(["log", "stats", "--format", "json"])
        .arg(&decisions)
        .run();
    assert_eq!(json.code, 0, "{}", json.stderr);
    let json = json.json();
    assert_eq!(json["newer_lines"], 1, "{json}");
    assert_eq!(json["unreadable_lines"], 1, "{json}");
    assert_eq!(json["outside_period"], 0, "{json}");
    assert_eq!(json["environments"]["*"]["decisions"], 3, "{json}");
    let errors = gate_e2e::log_stats_schema_errors(&json);
    assert!(errors.is_empty(), "{errors:#?}");
    let only_newer = temp("stats-newer.jsonl");
    std::fs::write(&only_newer, format!("{newer}\n")).unwrap();
    let out = Gate::new(["log", "stats"]).arg(&only_newer).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("holds no decision this gate can read: 1 line(s) a newer gate wrote; read it with that gate"),
        "{}",
        out.stderr
    );

    let wrong = Gate::new(["log", "stats", "--since", "last week"])
        .arg(&decisions)
        .run();
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("`last week` is not a time: give a date (2026-11-01)"),
        "{}",
        wrong.stderr
    );
}

/// A round's line and the decision name what was measured and its limit as
/// a limit (`error_rate 1 ratio, limit < 0.01`), never as a bare comparison
/// that reads as a false claim (`error_rate 1 < 0.01`).
#[test]
fn rounds_and_the_decision_show_the_measured_value_and_its_limit() {
    let stack = stack();
    stack.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let out = Gate::watch(&["prod"])
        .target(&stack.url())
        .args(["--interval", "100ms", "--count", "1"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let evidence = "error_rate 1 ratio, limit < 0.01";
    assert!(
        out.stdout
            .contains(&format!("error-rate=fail ({evidence})")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("decision: ROLLBACK (exit 1)")
            && out
                .stdout
                .contains(&format!("prod/error-rate fail: {evidence}")),
        "{}",
        out.stdout
    );
}

#[test]
fn initial_delay_waits_after_loading_and_a_signal_during_it_aborts() {
    let stage = Stub::sequence(&[200]);
    let decisions = temp("delay-decisions.jsonl");
    let watch = |delay: &str| {
        Gate::watch(&["fetch"])
            .target(&stage.url())
            .param("url=/health")
            .args([
                "--initial-delay",
                delay,
                "--interval",
                "10ms",
                "--count",
                "2",
            ])
    };

    // The policies load and are checked before the wait: a bad one stops
    // gate at once, not an hour later.
    let out = Running::start(Gate::new(["watch", "/nonexistent/policy.wasm"]).args([
        "--initial-delay",
        "1h",
        "--count",
        "1",
    ]))
    .finish();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stderr.contains("/nonexistent/policy.wasm"),
        "{}",
        out.stderr
    );

    // No round runs during the delay, and a signal then aborts the window,
    // logged like any other.
    let mut gate = Running::start(watch("1h").args(["--decision-log"]).arg(&decisions));
    gate.wait_for("waiting 1h before the first round (initial delay)");
    gate.terminate();
    let out = gate.finish();
    assert_eq!(out.code, 130, "{}", out.all_output());
    assert!(
        out.stdout
            .contains("decision: ABORTED (exit 130): stopped by a signal before the first round"),
        "{}",
        out.stdout
    );
    assert!(stage.requests().is_empty(), "no round ran");
    let report_path = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("report: "))
        .expect("the window report's path");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_path).unwrap()).unwrap();
    let errors = gate_e2e::watch_schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["rounds"], serde_json::json!([]));
    let log = std::fs::read_to_string(&decisions).expect("the decision log was written");
    let entry: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(entry["decision"], "aborted");
    // The policies it had loaded, though none of their checks ran.
    assert_eq!(entry["policies"][0]["name"], "fetch", "{entry}");

    // After a short delay the window runs as without one.
    let out = watch("50ms").json().run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    let report = out.json();
    let errors = gate_e2e::watch_schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["initial_delay_ms"], 50.0);
    assert_eq!(report["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(stage.requests().len(), 2);
}

/// The window report is for diagnosis: when it cannot be written (a full
/// or read-only temporary directory), the rollback command, the webhook and
/// the decision log all happen as without it, and gate exits 1.
#[test]
fn a_report_that_cannot_be_written_stops_no_rollback() {
    let stack = failing_stack();
    let hook_log = temp("no-report-hook.log");
    let decisions = temp("no-report-decisions.jsonl");
    let (webhook, bodies) = webhook_server();
    let out = one_round(&stack)
        .args(["--on-rollback", &recording_hook(&hook_log)])
        .args(["--webhook", &webhook, "--decision-log"])
        .arg(&decisions)
        .env("TMPDIR", "/nonexistent/gate-tmp")
        .run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(
        out.stderr.contains(
            "gate: WARNING: cannot write the window report /nonexistent/gate-tmp/gate-watch-"
        ) && out
            .stderr
            .contains("; the rollback command runs all the same, with GATE_REPORT empty"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("report: "), "{}", out.stdout);
    let hook = std::fs::read_to_string(&hook_log).expect("the rollback command ran");
    assert!(hook.contains("GATE_DECISION=rollback\n"), "{hook}");
    assert!(hook.contains("GATE_REPORT=\n"), "set, and empty: {hook}");
    assert!(hook.contains("GATE_FAILED_CHECKS=api/"), "{hook}");
    assert!(out.stdout.contains("` succeeded\n"), "{}", out.stdout);
    assert_eq!(bodies.lock().unwrap().len(), 1, "the webhook was posted");
    let log = std::fs::read_to_string(&decisions).expect("the decision was logged");
    let entry: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(entry["decision"], "rollback");
    assert_eq!(entry["exit_code"], 1);
}

/// A decision log that cannot be appended to warns loudly; the rollback
/// still runs, the report is still printed, and the exit code is the
/// decision's, not 2.
#[test]
fn a_decision_log_that_cannot_be_written_changes_no_decision() {
    let stack = failing_stack();
    let hook_log = temp("no-log-hook.log");
    // A folder where the log should be: known only when gate appends.
    let log = temp("no-log-decisions.jsonl");
    let _ = std::fs::remove_file(&log);
    std::fs::create_dir_all(&log).unwrap();
    let out = one_round(&stack)
        .json()
        .args(["--on-rollback", &recording_hook(&hook_log)])
        .arg("--decision-log")
        .arg(&log)
        .run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(
        out.stderr.contains(&format!(
            "gate: WARNING: cannot append to the decision log {}: ",
            log.display()
        )) && out
            .stderr
            .contains("; the decision (rollback, exit 1) stands"),
        "{}",
        out.stderr
    );
    let hook = std::fs::read_to_string(&hook_log).expect("the rollback command ran");
    assert!(hook.contains("GATE_DECISION=rollback\n"), "{hook}");
    let report = out.json();
    let errors = gate_e2e::watch_schema_errors(&report);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(report["decision"], "rollback");
}

/// The decision is recorded before the rollback command runs: gate killed
/// while the command is still running (a CI job cancelled mid-rollback)
/// has already logged the decision and printed the JSON report.
#[test]
fn gate_killed_during_the_rollback_command_has_recorded_the_decision() {
    let stack = failing_stack();
    let decisions = temp("killed-decisions.jsonl");
    let group = temp("killed-hook.pgid");
    // The command leads its own process group; it notes the group's id and
    // then takes its time.
    let hook = format!("echo $$ > '{}'; exec sleep 30", group.display());
    let gate = Running::start(
        one_round(&stack)
            .json()
            .args(["--on-rollback", &hook, "--decision-log"])
            .arg(&decisions),
    );
    let group = format!("-{}", wait_for_file(&group).trim());
    let (stdout, _) = gate.kill();
    kill(&group);

    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("no JSON report on stdout ({e}): {stdout}"));
    assert_eq!(report["decision"], "rollback");
    let log = std::fs::read_to_string(&decisions).expect("the decision was logged");
    let entry: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(
        (entry["decision"].as_str(), entry["exit_code"].as_i64()),
        (Some("rollback"), Some(1))
    );
}

/// A rollback command that leaves a process in the background (`cmd &`,
/// `nohup cmd &`), which keeps its output open, is done when its shell
/// exits: gate reports it succeeded and ends while that process still runs.
#[test]
fn a_rollback_command_is_done_when_its_shell_exits() {
    let stack = failing_stack();
    let sleeper = temp("background.pid");
    // The command sees the run's secrets, as it sees all of gate's
    // environment; what it prints of them is redacted.
    let hook = format!(
        "echo rolled back with $GATE_SECRET_API_TOKEN; sleep 30 & echo $! > '{}'",
        sleeper.display()
    );
    let out = one_round(&stack).args(["--on-rollback", &hook]).run();
    let sleeper = std::fs::read_to_string(&sleeper).expect("the rollback command ran");
    let sleeper = sleeper.trim();
    let still_running = running(sleeper);
    kill(sleeper);
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(
        out.stdout.contains(&format!(
            "rollback command `{hook}` succeeded\n  | rolled back with [REDACTED]\n"
        )),
        "{}",
        out.stdout
    );
    assert!(
        !out.all_output().contains(API_TOKEN),
        "{}",
        out.all_output()
    );
    assert!(
        still_running,
        "gate waited for the background process, not for the rollback command"
    );
}

/// `--webhook` overrides gate.toml's `webhook` as `--notify` does: the
/// file's secret is then not needed, and the flag's URL gets the decision.
#[test]
fn the_webhook_flag_overrides_the_files_and_needs_none_of_its_secret() {
    let down = Stub::start(500, &[]);
    let config = temp("webhook-gate.toml");
    std::fs::write(
        &config,
        "[env.b]\nwebhook = \"secret:gate_e2e_never_set_hook\"\n",
    )
    .unwrap();
    let (webhook, bodies) = webhook_server();
    let out = Gate::watch(&["fetch"])
        .arg("--config")
        .arg(&config)
        .args(["--env", "b"])
        .target(&down.url())
        .param("url=/health")
        .args(["--interval", "10ms", "--count", "1", "--webhook", &webhook])
        .run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(
        out.stdout.contains("decision: ROLLBACK (exit 1)"),
        "{}",
        out.stdout
    );
    assert_eq!(bodies.lock().unwrap().len(), 1, "{}", out.all_output());
}

/// `-q`: the decision line alone, as `gate run -q` prints its verdict
/// line alone; the rollback command still runs.
#[test]
fn quiet_prints_the_decision_line_alone() {
    let healthy = stack();
    let out = one_round(&healthy).arg("-q").run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert!(
        lines[0].starts_with("decision: HEALTHY (exit 0): "),
        "{}",
        out.stdout
    );

    let failing = failing_stack();
    let hook_log = temp("quiet-hook.log");
    let out = one_round(&failing)
        .arg("-q")
        .args(["--on-rollback", &recording_hook(&hook_log)])
        .run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    assert!(
        lines[0].starts_with("decision: ROLLBACK (exit 1): "),
        "{}",
        out.stdout
    );
    // What follows the decision is said on stderr.
    assert!(out.stderr.contains("report: "), "{}", out.stderr);
    let hook = std::fs::read_to_string(&hook_log).expect("the rollback command ran");
    assert!(hook.contains("GATE_DECISION=rollback\n"), "{hook}");
}

/// A secret the shell put into the rollback command's text or the target's
/// query is redacted wherever gate shows or logs them, as in its output.
#[test]
fn a_secret_in_the_rollback_command_or_the_target_is_redacted() {
    let stack = failing_stack();
    let decisions = temp("redacted-decisions.jsonl");
    let _ = std::fs::remove_file(&decisions);
    // As `--on-rollback "notify --token $GATE_SECRET_API_TOKEN"` reaches
    // gate: expanded by the shell.
    let hook = format!("echo rolling back with {API_TOKEN}");
    let out = Gate::watch(&["api"])
        .target(&format!("{}?key={API_TOKEN}", stack.url()))
        .args([
            "--interval",
            "100ms",
            "--count",
            "1",
            "--on-rollback",
            &hook,
        ])
        .arg("--decision-log")
        .arg(&decisions)
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    let log = std::fs::read_to_string(&decisions).unwrap();
    for (place, text) in [("output", out.all_output()), ("decision log", log)] {
        assert!(!text.contains(API_TOKEN), "{place}:\n{text}");
        assert!(text.contains("[REDACTED]"), "{place}:\n{text}");
    }
    assert!(
        out.stdout
            .contains("rollback command `echo rolling back with [REDACTED]` succeeded"),
        "{}",
        out.stdout
    );
}
