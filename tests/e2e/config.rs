//! gate.toml: environments that run the same policies with different
//! settings, and every way the file can be wrong.

use std::path::{Path, PathBuf};

use gate_e2e::{API_TOKEN, Faults, Gate, Outcome, guest, root, stack};

/// A directory of the test's own with a gate.toml in it.
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new(name: &str, gate_toml: &str) -> Project {
        let dir =
            std::env::temp_dir().join(format!("gate-e2e-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let project = Project { dir };
        project.write("gate.toml", gate_toml.as_bytes());
        project
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn config(&self) -> PathBuf {
        self.dir.join("gate.toml")
    }

    /// `gate ARGS` run in the project's directory, where it finds gate.toml.
    fn gate<I, S>(&self, args: I) -> Gate
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Gate::new(args).current_dir(&self.dir)
    }
}

/// A path as a TOML literal string.
fn lit(path: &Path) -> String {
    format!("'{}'", path.display())
}

/// The shipped smoke suite and promotion gate, listed gate first: the run
/// still starts with the smoke suite.
fn policies() -> String {
    format!(
        "policies = [{}, {}]",
        lit(&guest("prod")),
        lit(&guest("api"))
    )
}

fn sha256_of(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `config check` printed `NAME  STATUS  …` for the environment.
fn env_line(out: &Outcome, name: &str, status: &str) -> bool {
    out.stdout
        .lines()
        .any(|line| line.split_whitespace().take(2).eq([name, status]))
}

fn assert_exit(out: &Outcome, code: i32) {
    assert_eq!(out.code, code, "{}", out.all_output());
}

#[test]
fn the_same_policies_pass_locally_and_fail_where_the_stack_is_faulty() {
    let local = stack();
    let stage = stack();
    stage.set_faults(Faults {
        error_rate: 0.25,
        ..Faults::default()
    });
    let project = Project::new(
        "promotion",
        &format!(
            r#"
{policies}

[params]
samples = 8

[secrets]
api_token = {{ required = true }}

[env.local]
target = "{local}"

[env.stage]
target = "{stage}"
# One check at a time, so the failing requests land where the test expects.
jobs = 1
secrets.api_token = {{ env = "STAGE_API_TOKEN", required = true }}
"#,
            policies = policies(),
            local = local.url(),
            stage = stage.url(),
        ),
    );

    let out = project
        .gate(["run", "--env", "local", "--format", "json"])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 0);
    let report = out.json();
    assert_eq!(report["env"], "local");
    assert_eq!(report["target"], format!("{}/", local.url()));
    let names: Vec<&str> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "prod"], "smoke suites run first");
    assert_eq!(out.check("api", "system-status")["outcome"], "pass");
    assert_eq!(stage.requests_served(), 0);

    let out = project
        .gate(["run", "--env", "stage", "--format", "json"])
        .env("STAGE_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 1);
    assert_eq!(out.json()["env"], "stage");
    assert_eq!(out.check("prod", "error-rate")["outcome"], "fail");
    assert!(stage.requests_served() > 0);

    // One policy with the environment's settings.
    let out = project
        .gate(["run", "--env", "local"])
        .arg(guest("prod"))
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 0);
    assert!(out.stdout.contains("env local"), "{}", out.stdout);
    assert!(!out.stdout.contains("api 0.1.0"), "{}", out.stdout);
}

#[test]
fn flags_win_over_the_environment_which_wins_over_the_top_level() {
    let healthy = stack();
    let project = Project::new(
        "precedence",
        &format!(
            r#"
target = "http://127.0.0.1:9"
timeout = "20s"
params.samples = 3

[env.inherits]
target = "{url}"

[env.overrides]
target = "{url}"
params.samples = 4
"#,
            url = healthy.url()
        ),
    );
    let latency_calls = |args: &[&str]| {
        let out = project
            .gate(["run", "--format", "json"])
            .arg(guest("prod"))
            .args(args)
            .run();
        assert_exit(&out, 0);
        out.check("prod", "latency")["calls"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(latency_calls(&["--env", "inherits"]), 3);
    assert_eq!(latency_calls(&["--env", "overrides"]), 4);
    assert_eq!(
        latency_calls(&["--env", "overrides", "--param", "samples=5"]),
        5
    );

    // The target: the flag over the environment over the top level.
    let elsewhere = stack();
    let out = project
        .gate(["run", "--env", "inherits", "--format", "json"])
        .arg(guest("prod"))
        .args(["--target", &elsewhere.url()])
        .run();
    assert_exit(&out, 0);
    assert!(elsewhere.requests_served() > 0);

    // The deadline: top level 20s, an environment's 250ms (describing the
    // policy, which the deadline bounds too, takes far less), a flag's 5s.
    let slow = stack();
    slow.set_faults(Faults {
        latency_ms: 800,
        ..Faults::default()
    });
    let project = Project::new(
        "precedence-timeout",
        &format!(
            r#"
target = "{url}"
timeout = "20s"
params.samples = 1
[env.roomy]
[env.hasty]
timeout = "250ms"
"#,
            url = slow.url()
        ),
    );
    let ready = |args: &[&str]| {
        let out = project
            .gate(["run", "--format", "json"])
            .arg(guest("prod"))
            .args(args)
            .run();
        out.check("prod", "ready")
    };
    assert_eq!(ready(&["--env", "roomy"])["outcome"], "pass");
    let hasty = ready(&["--env", "hasty"]);
    assert_eq!(hasty["error"], "deadline", "{hasty}");
    assert!(
        hasty["message"].as_str().unwrap().contains("250ms"),
        "{hasty}"
    );
    assert_eq!(
        ready(&["--env", "hasty", "--timeout", "5s"])["outcome"],
        "pass"
    );
}

/// Each kind of mistake in the file, and the message it gets, from
/// `config check` and from `run` alike.
#[test]
fn config_errors_name_the_file_line_column_and_key() {
    let missing = std::env::temp_dir().join("gate-e2e-no-such-policy.wasm");
    let api = guest("api");
    let pin = "ab".repeat(32);
    // `policies = [{ path = '…', sha256 = "` puts the pin at this column.
    let pin_column = "policies = [{ path = ".len() + lit(&api).len() + ", sha256 = ".len() + 1;
    let cases: Vec<(&str, String, String)> = vec![
        (
            "unknown-key",
            "[env.stage]\ntarget = \"http://127.0.0.1:9\"\ntimout = \"5s\"\n".into(),
            "gate.toml:3:1: env.stage.timout: unknown key `timout` (did you mean `timeout`?)"
                .into(),
        ),
        (
            "bad-url",
            "[env.stage]\ntarget = \"stage.example.com\"\n".into(),
            "gate.toml:2:10: env.stage.target: the URL has no scheme: write it https://HOST…"
                .into(),
        ),
        (
            "bad-duration",
            "[env.stage]\ntarget = \"http://127.0.0.1:9\"\ntimeout = \"10 parsecs\"\n".into(),
            "gate.toml:3:11: env.stage.timeout: `10 parsecs` is not a duration: unknown unit \
             `parsecs` (try 500ms, 10s, 5m, 1h)"
                .into(),
        ),
        (
            "bad-size",
            "memory_limit = \"lots\"\n[env.stage]\n".into(),
            "gate.toml:1:16: memory_limit: `lots` is not a size (try 64MiB)".into(),
        ),
        (
            "missing-file",
            format!("[env.stage]\npolicies = [{}]\n", lit(&missing)),
            format!(
                "gate.toml:2:13: env.stage.policies[0]: policy {} does not exist (paths are \
                 relative to the directory of gate.toml)",
                missing.display()
            ),
        ),
        (
            "pin-mismatch",
            format!(
                "[env.stage]\npolicies = [{{ path = {}, sha256 = \"{pin}\" }}]\n",
                lit(&api),
            ),
            format!(
                "gate.toml:2:{pin_column}: env.stage.policies[0].sha256: policy {}: sha256 does \
                 not match the pin: expected {pin}, the file has {}",
                api.display(),
                sha256_of(&api)
            ),
        ),
        (
            "secret-value",
            "[env.stage]\ntarget = \"http://127.0.0.1:9\"\n\n[env.stage.secrets]\n\
             api_token = { value = \"hunter2-in-the-file\" }\n"
                .into(),
            "gate.toml:5:13: env.stage.secrets.api_token: secrets are never written in \
             gate.toml: remove the value, then export GATE_SECRET_API_TOKEN where gate runs, or \
             name the variable that holds it: api_token = { env = \"VARIABLE\" }"
                .into(),
        ),
    ];
    for (name, text, expected) in cases {
        let project = Project::new(name, &text);
        let check = project.gate(["config", "check"]).run();
        assert_exit(&check, 2);
        assert!(
            check.stderr.contains(&expected),
            "{name}: `config check` should say\n{expected}\n{}",
            check.stderr
        );
        let run = project.gate(["run", "--env", "stage"]).run();
        assert_exit(&run, 2);
        assert!(
            run.stderr.contains(&expected),
            "{name}: `run` should say\n{expected}\n{}",
            run.stderr
        );
        assert!(!check.all_output().contains("hunter2"), "{name}");
        assert!(!run.all_output().contains("hunter2"), "{name}");
    }
}

/// A typo in one environment's table stops what uses that environment, and
/// nothing else: local still runs, `config check` still judges local, and
/// `env list` shows stage as FAIL with its problem.
#[test]
fn a_mistake_in_one_environment_stops_only_that_environment() {
    let stack = stack();
    let project = Project::new(
        "scoped",
        &format!(
            "default_env = \"local\"\n{}\nsecrets.api_token = {{}}\n\
             [env.local]\ntarget = \"{}\"\n\
             [env.stage]\ntarget = \"{}\"\ntimout = \"5s\"\n\
             [env.qa]\ntarget = \"qa.example.com\"\n",
            policies(),
            stack.url(),
            stack.url(),
        ),
    );
    let typo = "gate.toml:8:1: env.stage.timout: unknown key `timout` (did you mean `timeout`?)";
    let not_a_url = "gate.toml:10:10: env.qa.target: the URL has no scheme";

    let run = project
        .gate(["run", "--env", "local"])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&run, 0);
    assert!(stack.requests_served() > 0, "local ran its checks");
    let served = stack.requests_served();
    let run = project.gate(["run", "--env", "stage"]).run();
    assert_exit(&run, 2);
    assert!(run.stderr.contains(typo), "{}", run.stderr);
    assert_eq!(stack.requests_served(), served, "stage ran nothing");

    let check = project.gate(["config", "check"]).run();
    assert_exit(&check, 2);
    assert!(env_line(&check, "local", "ok"), "{}", check.stdout);
    assert!(env_line(&check, "stage", "FAIL"), "{}", check.stdout);
    assert!(env_line(&check, "qa", "FAIL"), "{}", check.stdout);
    assert!(check.stderr.contains(typo), "{}", check.stderr);
    // An invalid target is its one problem: no "set `target`" besides.
    assert!(check.stderr.contains(not_a_url), "{}", check.stderr);
    assert!(!check.stderr.contains("does not grant"), "{}", check.stderr);
    assert!(check.stderr.contains("2 problems"), "{}", check.stderr);
    let local = project.gate(["config", "check", "--env", "local"]).run();
    assert_exit(&local, 0);

    let list = project.gate(["env", "list"]).run();
    assert_exit(&list, 2);
    assert!(list.stdout.contains("* local"), "{}", list.stdout);
    let stage = list.stdout.lines().find(|l| l.contains("stage"));
    assert!(
        stage.is_some_and(|l| l.contains("FAIL") && l.contains("1 problem")),
        "{}",
        list.stdout
    );
    assert!(list.stderr.contains(typo), "{}", list.stderr);
    assert!(list.stderr.contains(not_a_url), "{}", list.stderr);
    let list = project.gate(["env", "list", "--format", "json"]).run();
    assert_exit(&list, 2);
    let json = list.json();
    assert_eq!(json["environments"][0]["name"], "local");
    assert_eq!(
        json["environments"][0]["settings"]["target"]["value"],
        format!("{}/", stack.url())
    );
    assert_eq!(json["environments"][1]["name"], "stage");
    assert!(
        json["environments"][1]["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("unknown key `timout`")),
        "{json}"
    );
    let show = project.gate(["env", "show", "stage"]).run();
    assert_exit(&show, 2);
    assert!(show.stderr.contains(typo), "{}", show.stderr);
    assert_exit(&project.gate(["env", "show", "local"]).run(), 0);
}

#[test]
fn a_missing_required_secret_stops_the_run_before_any_policy_runs() {
    let stack = stack();
    let project = Project::new(
        "missing-secret",
        &format!(
            "{}\n[env.stage]\ntarget = \"{}\"\nsecrets.api_token = {{ env = \"STAGE_API_TOKEN\", required = true }}\n",
            policies(),
            stack.url()
        ),
    );
    // Set under another name: that is not the one the file asks for.
    let out = project
        .gate(["run", "--env", "stage"])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains(
            "gate.toml:4:21: env.stage.secrets.api_token: env `stage` requires secret \
             `api_token` but STAGE_API_TOKEN is not set"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(stack.requests_served(), 0, "no policy may have run");

    let out = project
        .gate(["run", "--env", "stage", "--format", "json"])
        .env("STAGE_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 0);
    assert_eq!(out.check("api", "system-status")["outcome"], "pass");
    assert!(
        !out.all_output().contains(API_TOKEN),
        "the secret is redacted"
    );
}

#[test]
fn policies_only_read_the_secrets_the_environment_names() {
    let stack = stack();
    let project = Project::new(
        "secret-scope",
        &format!(
            "{}\n[env.stage]\ntarget = \"{}\"\n",
            policies(),
            stack.url()
        ),
    );
    let out = project
        .gate(["run", "--env", "stage", "--format", "json"])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 1);
    let status = out.check("api", "system-status");
    assert_ne!(status["outcome"], "pass", "{status}");
    // Still redacted everywhere, granted or not.
    assert!(!out.all_output().contains(API_TOKEN));
}

#[test]
fn sha256_pins_are_enforced_before_any_policy_runs() {
    let stack = stack();
    let api = guest("api");
    let project = Project::new(
        "pins",
        &format!(
            "[env.stage]\ntarget = \"{}\"\npolicies = [{{ path = {}, sha256 = \"{}\" }}]\n\
             [env.pinned]\ntarget = \"{}\"\npolicies = [{{ path = {}, sha256 = \"{}\" }}]\n",
            stack.url(),
            lit(&api),
            "0".repeat(64),
            stack.url(),
            lit(&api),
            sha256_of(&api),
        ),
    );
    for args in [
        vec!["run".to_owned(), "--env".into(), "stage".into()],
        // A POLICY argument for a listed file keeps the listed pin.
        vec![
            "run".to_owned(),
            "--env".into(),
            "stage".into(),
            api.display().to_string(),
        ],
    ] {
        let out = project.gate(args).run();
        assert_exit(&out, 2);
        assert!(
            out.stderr.contains(&format!(
                "expected {}, the file has {}",
                "0".repeat(64),
                sha256_of(&api)
            )),
            "{}",
            out.stderr
        );
    }
    assert_eq!(stack.requests_served(), 0, "no policy may have run");
    let out = project
        .gate(["run", "--env", "pinned"])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 1); // api_token is not granted by this file
    assert!(stack.requests_served() > 0);
}

#[test]
fn config_check_reports_a_capability_the_environment_does_not_grant() {
    let stack = stack();
    let project = Project::new(
        "capabilities",
        &format!(
            "policies = [{}]\n[env.local]\ntarget = \"{}\"\n\n[env.bare]\nparams.samples = 3\n\n\
             [env.strict]\ntarget = \"{}\"\nstrict = true\npolicies = [{}]\n",
            lit(&guest("api")),
            stack.url(),
            stack.url(),
            lit(&guest("prod")),
        ),
    );
    let out = project.gate(["config", "check"]).run();
    assert_exit(&out, 2);
    assert!(env_line(&out, "local", "ok"), "{}", out.stdout);
    assert!(env_line(&out, "bare", "FAIL"), "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "gate.toml:1:13: policies[0]: policy `api` has 6 blocking checks needing http \
             (health, ready, api-health, products, system-status, system-status-requires-auth), \
             which env `bare` does not grant: set `target` (or `allow_hosts`) in [env.bare] or \
             at the top level; no blocking check of this policy would run"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "env.strict.policies[0]: policy `prod` has 2 blocking checks needing metrics \
             (metrics-error-rate, metrics-p95), which env `strict` does not grant: set \
             `prometheus` in [env.strict] or at the top level; the run fails them"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(stack.requests_served(), 0, "checking runs no check");

    let local = project.gate(["config", "check", "--env", "local"]).run();
    assert_exit(&local, 0);
    assert!(
        local.stdout.contains("valid (1 environment"),
        "{}",
        local.stdout
    );
    // -q: the verdict line alone, or the problems alone (on stderr).
    let quiet = project
        .gate(["config", "check", "--env", "local", "-q"])
        .run();
    assert_exit(&quiet, 0);
    assert_eq!(quiet.stdout.lines().count(), 1, "{}", quiet.stdout);
    assert!(
        quiet.stdout.contains(": valid (1 environment"),
        "{}",
        quiet.stdout
    );
    // Before the command too, as a global flag.
    let quiet = project.gate(["-q", "config", "check"]).run();
    assert_exit(&quiet, 2);
    assert_eq!(quiet.stdout, "");
    assert!(
        quiet.stderr.contains("env `bare` does not grant"),
        "{}",
        quiet.stderr
    );
    // A command with no verdict refuses -q rather than ignore it.
    let listed = project.gate(["env", "list", "-q"]).run();
    assert_exit(&listed, 2);
    assert!(
        listed
            .stderr
            .contains("-q prints a verdict alone, and `gate env` gives none: drop -q"),
        "{}",
        listed.stderr
    );
    assert_eq!(listed.stdout, "");
}

#[test]
fn env_show_and_list_mask_secrets_and_say_where_values_come_from() {
    let project = Project::new(
        "show",
        r#"
default_env = "local"
timeout = "15s"
params.samples = 20
secrets.api_token = {}
limits.host_calls = 5000

[env.local]
target = "http://127.0.0.1:8080"

[env.stage]
target = "https://stage.example.com"
allow_hosts = ["auth.stage.example.com"]
params.samples = 50
secrets.api_token = { env = "STAGE_API_TOKEN", required = true }
secrets.deploy_key = { env = "STAGE_DEPLOY_KEY" }
docker = "tcp://docker.stage.example.com:2376"
verify_key = "keys/gate.pub"
limits.http_timeout = "2s"
watch.count = 3
watch.interval = "30s"
"#,
    );
    let show = |format: &str| {
        project
            .gate(["env", "show", "stage", "--format", format])
            .env("STAGE_API_TOKEN", "s3cr3t-stage-token")
            .env("GATE_SECRET_API_TOKEN", "s3cr3t-local-token")
            .run()
    };
    let human = show("human");
    assert_exit(&human, 0);
    assert!(!human.all_output().contains("s3cr3t"), "{}", human.stdout);
    for expected in [
        "env stage (defined at gate.toml:11:1)",
        "https://stage.example.com/",
        "env.stage (gate.toml:12:10)",
        "top-level (gate.toml:3:11)",
        "keys/gate.pub",
        "limits\n",
        "host_calls",
        "top-level (gate.toml:6:21)",
        "env.stage (gate.toml:19:23)",
        "table_elements   20000    default",
        "[REDACTED] from STAGE_API_TOKEN, required",
        "not set (STAGE_DEPLOY_KEY)",
        "grants    http, docker, tls",
        "tcp://docker.stage.example.com:2376",
        "watch\n",
        "  interval                 30s   env.stage (gate.toml:21:18)\n",
        "  count                    3     env.stage (gate.toml:20:15)\n",
        "  duration                 -     not set\n",
        "  consecutive_error_limit  2     default\n",
        "  on_rollback              none  default\n",
        "  rollback_timeout         10m   default\n",
    ] {
        assert!(
            human.stdout.contains(expected),
            "{expected}:\n{}",
            human.stdout
        );
    }

    let json = show("json");
    assert_exit(&json, 0);
    assert!(!json.stdout.contains("s3cr3t"));
    let view = json.json();
    assert_eq!(view["schema"], "gate.env/v1");
    assert_eq!(view["settings"]["timeout"]["value"], "15s");
    assert_eq!(
        view["settings"]["timeout"]["from"],
        "top-level (gate.toml:3:11)"
    );
    assert_eq!(view["settings"]["memory_limit"]["from"], "default");
    assert!(
        view["settings"]["verify_key"]["value"]
            .as_str()
            .unwrap()
            .ends_with("keys/gate.pub"),
        "{view}"
    );
    assert_eq!(
        view["settings"]["verify_key"]["from"],
        "env.stage (gate.toml:18:14)"
    );
    // Every limit: the top level's, the environment's, the defaults.
    assert_eq!(view["limits"]["host_calls"]["value"], "5000");
    assert_eq!(
        view["limits"]["host_calls"]["from"],
        "top-level (gate.toml:6:21)"
    );
    assert_eq!(view["limits"]["http_timeout"]["value"], "2s");
    assert_eq!(
        view["limits"]["http_timeout"]["from"],
        "env.stage (gate.toml:19:23)"
    );
    assert_eq!(view["limits"]["resources"]["value"], "1024");
    assert_eq!(view["limits"]["wasm_stack"]["value"], "512 KiB");
    assert_eq!(view["limits"]["compile_timeout"]["value"], "1m");
    assert_eq!(view["limits"]["resources"]["from"], "default");
    assert_eq!(view["limits"].as_object().unwrap().len(), 16);
    // `gate watch`'s window: set, or its default.
    assert_eq!(view["watch"]["count"]["value"], "3");
    assert_eq!(
        view["watch"]["count"]["from"],
        "env.stage (gate.toml:20:15)"
    );
    assert_eq!(view["watch"]["duration"]["value"], serde_json::Value::Null);
    assert_eq!(view["watch"]["interval"]["value"], "30s");
    assert_eq!(view["watch"]["failure_limit"]["value"], "0");
    assert_eq!(view["watch"]["failure_limit"]["from"], "default");
    assert_eq!(view["watch"]["on_rollback"]["value"], "none");
    assert_eq!(view["watch"]["on_rollback"]["from"], "default");
    assert_eq!(view["watch"]["rollback_timeout"]["value"], "10m");
    assert_eq!(view["watch"].as_object().unwrap().len(), 9);
    assert_eq!(view["params"]["samples"]["value"], "50");
    assert_eq!(view["secrets"]["api_token"]["value"], "[REDACTED]");
    assert_eq!(view["secrets"]["api_token"]["variable"], "STAGE_API_TOKEN");
    assert_eq!(
        view["secrets"]["deploy_key"]["value"],
        serde_json::Value::Null
    );
    assert_eq!(view["grants"], serde_json::json!(["http", "docker", "tls"]));

    let list = project.gate(["env", "list"]).run();
    assert_exit(&list, 0);
    assert!(list.stdout.contains("* local"), "{}", list.stdout);
    assert!(list.stdout.contains("stage"), "{}", list.stdout);
    let list = project.gate(["env", "list", "--format", "json"]).run();
    assert_exit(&list, 0);
    let list = list.json();
    assert_eq!(list["default_env"], "local");
    assert_eq!(list["environments"][1]["name"], "stage");
}

/// An environment whose policies have no blocking check could only ever be
/// inconclusive: a problem. One such policy beside others is a warning.
#[test]
fn config_check_refuses_an_environment_no_policy_of_which_decides() {
    let stack = stack();
    let project = Project::new(
        "advice-only",
        &format!(
            "target = \"{}\"\n[env.advice]\npolicies = [{}]\n\
             [env.mixed]\npolicies = [{}, {}]\n",
            stack.url(),
            lit(&guest("advisory")),
            lit(&guest("api")),
            lit(&guest("advisory")),
        ),
    );
    let out = project.gate(["config", "check"]).run();
    assert_exit(&out, 2);
    assert!(env_line(&out, "advice", "FAIL"), "{}", out.stdout);
    assert!(env_line(&out, "mixed", "ok"), "{}", out.stdout);
    assert!(
        out.stderr.contains(
            "gate.toml:3:12: env.advice.policies: no policy of env `advice` has a blocking \
             check, so every run of it ends inconclusive (exit 3)"
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains(
            "warning: policy `advisory` has no blocking check: its checks never change the verdict"
        ),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("1 problem"), "{}", out.stderr);
    // And a run of it is what config check said.
    let run = project.gate(["run", "--env", "advice"]).run();
    assert_exit(&run, 3);
}

#[test]
fn an_unknown_env_exits_2_listing_the_known_ones() {
    let project = Project::new(
        "unknown-env",
        "[env.local]\ntarget = \"http://127.0.0.1:9\"\n[env.stage]\n[env.prod]\n",
    );
    for args in [
        vec!["run", "--env", "staging"],
        vec!["config", "check", "--env", "staging"],
        vec!["env", "show", "staging"],
    ] {
        let out = project.gate(&args).run();
        assert_exit(&out, 2);
        assert!(
            out.stderr
                .contains("has no environment `staging` (known: local, stage, prod)"),
            "{args:?}: {}",
            out.stderr
        );
    }
    // --config after the command, from another directory: the same.
    let out = Gate::new(["run", "--env", "staging", "--config"])
        .arg(project.config())
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("(known: local, stage, prod)"),
        "{}",
        out.stderr
    );
    // No --env and no default_env: which one is meant is not guessed.
    let out = project.gate(["run"]).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("pick one with --env NAME"),
        "{}",
        out.stderr
    );
}

/// A team with one stack writes its settings at the top level and runs
/// `gate run`: the file's one environment is `default`, and every command
/// sees it so.
#[test]
fn a_gate_toml_without_environments_runs_as_its_top_level() {
    let stack = stack();
    let project = Project::new(
        "one-env",
        &format!(
            "target = \"{}\"\n{}\n[secrets]\napi_token = {{ required = true }}\n",
            stack.url(),
            policies()
        ),
    );
    let out = project
        .gate(["run", "--format", "json"])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 0);
    let report = out.json();
    assert_eq!(report["env"], "default");
    assert_eq!(report["policies"].as_array().unwrap().len(), 2, "{report}");

    // The top level's required secret is the environment's.
    let out = project.gate(["run"]).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains(
            "env `default` requires secret `api_token` but GATE_SECRET_API_TOKEN is not set"
        ),
        "{}",
        out.stderr
    );

    let out = project.gate(["config", "check"]).run();
    assert_exit(&out, 0);
    assert!(env_line(&out, "default", "ok"), "{}", out.stdout);
    let out = project.gate(["env", "list", "--format", "json"]).run();
    assert_exit(&out, 0);
    let list = out.json();
    assert_eq!(list["default_env"], "default");
    assert_eq!(list["environments"][0]["name"], "default");
    assert_eq!(list["environments"][0]["default"], true);

    // Another name is not this environment under a new label.
    let policy = guest("api").display().to_string();
    for args in [
        vec!["run", "--env", "prod"],
        vec!["env", "show", "prod"],
        vec!["config", "check", "--env", "prod"],
        vec!["inspect", &policy, "--env", "prod"],
        vec!["watch", "--env", "prod", "--count", "1"],
    ] {
        let out = project
            .gate(&args)
            .env("GATE_SECRET_API_TOKEN", API_TOKEN)
            .run();
        assert_exit(&out, 2);
        assert!(
            out.stderr.contains(
                "has no environment `prod`: without [env.NAME] tables, its top level is its one \
                 environment, `default`"
            ),
            "{args:?}: {}",
            out.stderr
        );
    }
}

/// `gate log stats` without a PATH reads the log gate.toml's environment
/// appends to.
#[test]
fn log_stats_reads_the_environments_decision_log() {
    let stack = stack();
    let project = Project::new(
        "log-stats",
        &format!(
            "default_env = \"stage\"\n[env.stage]\ntarget = \"{}\"\npolicies = [{}]\n\
             decision_log = \"logs/stage.jsonl\"\n[secrets]\napi_token = {{}}\n\
             [env.prod]\ntarget = \"{0}\"\n[env.broken]\ntimeout = \"10 parsecs\"\n\
             decision_log = \"logs/broken.jsonl\"\n",
            stack.url(),
            lit(&guest("api"))
        ),
    );
    std::fs::create_dir_all(project.dir.join("logs")).unwrap();
    let run = project
        .gate(["run", "--release", "v3"])
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&run, 0);
    let out = project.gate(["log", "stats", "--format", "json"]).run();
    assert_exit(&out, 0);
    assert_eq!(
        out.json()["environments"]["stage"]["decisions"],
        1,
        "{}",
        out.stdout
    );
    // From elsewhere, the log is found beside the gate.toml, as a run puts it.
    let out = Gate::new(["log", "stats", "--format", "json", "--config"])
        .arg(project.config())
        .current_dir(std::env::temp_dir())
        .run();
    assert_exit(&out, 0);
    assert_eq!(
        out.json()["environments"]["stage"]["decisions"],
        1,
        "{}",
        out.stdout
    );
    // A setting the log does not need, written wrong, does not stop it.
    std::fs::write(project.dir.join("logs/broken.jsonl"), "").unwrap();
    let out = project.gate(["log", "stats", "--env", "broken"]).run();
    assert_exit(&out, 0);
    let out = project.gate(["log", "stats", "--env", "staging"]).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("has no environment `staging` (known: stage, prod, broken)"),
        "{}",
        out.stderr
    );

    // An environment without a log says how to give one.
    let out = project.gate(["log", "stats", "--env", "prod"]).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("env `prod` of gate.toml sets no decision_log: give the log's PATH"),
        "{}",
        out.stderr
    );
    // With a PATH, --env keeps the rows to that environment.
    let out = project
        .gate([
            "log",
            "stats",
            "logs/stage.jsonl",
            "--env",
            "prod",
            "--format",
            "json",
        ])
        .run();
    assert_exit(&out, 0);
    assert_eq!(out.json()["schema"], "gate.log-stats/v1");
    assert_eq!(out.json()["environments"], serde_json::json!({}));
    let out = project
        .gate([
            "log",
            "stats",
            "logs/stage.jsonl",
            "--env",
            "stage",
            "--format",
            "json",
        ])
        .run();
    assert_exit(&out, 0);
    assert_eq!(
        out.json()["environments"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["stage"]
    );

    // The history: a line per decision, oldest first.
    let out = project.gate(["log", "show"]).run();
    assert_exit(&out, 0);
    assert!(
        out.stdout
            .contains("  stage  run      PASS (0)         v3  "),
        "{}",
        out.stdout
    );
    let out = project.gate(["log", "show", "--format", "json"]).run();
    assert_exit(&out, 0);
    let lines = out.json();
    assert_eq!(lines.as_array().map(Vec::len), Some(1), "{lines}");
    assert_eq!(lines[0]["release"]["id"], "v3");
    assert_eq!(lines[0]["schema"], "gate.decision/v1");
    // `-` is standard input, as for `zcat decisions.jsonl.gz | gate log show -`.
    let out = project
        .gate(["log", "show", "-", "--format", "json"])
        .stdin_file(project.dir.join("logs/stage.jsonl"))
        .run();
    assert_exit(&out, 0);
    assert_eq!(out.json(), lines);
    let out = project
        .gate(["log", "stats", "-"])
        .stdin_file("/dev/null")
        .run();
    assert_exit(&out, 0);
    assert!(
        out.stderr
            .contains("gate log stats: stdin holds no decision yet: nothing to count"),
        "{}",
        out.stderr
    );
    let out = project
        .gate(["log", "show", "logs/stage.jsonl", "--env", "prod"])
        .run();
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .contains("holds no decision of env `prod` (it holds: stage)")
            && out.stderr.contains("no decision to show"),
        "{}",
        out.stderr
    );
    let out = project.gate(["log", "show", "-n", "0"]).run();
    assert_exit(&out, 2);
    assert!(out.stderr.contains("'--last <N>'"), "{}", out.stderr);
    // No gate.toml: the PATH is needed.
    let elsewhere = Gate::new(["log", "stats"])
        .current_dir(std::env::temp_dir())
        .run();
    assert_exit(&elsewhere, 2);
    assert!(
        elsewhere
            .stderr
            .contains("which decision log? give its PATH"),
        "{}",
        elsewhere.stderr
    );
}

/// The README's gate.toml is a file gate accepts, with the shipped
/// policies, and its `gate config check` example is what gate says of it
/// with the slip the README describes.
#[test]
fn the_readmes_gate_toml_checks_out() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("```toml\n# gate.toml\n")
        .expect("the README shows a gate.toml")
        + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    // Its prod pin stands for the build that passed stage: this build's.
    let text = readme[start..end].replace("5fe9ba4a…", &sha256_of(&guest("prod")));
    let project = Project::new("readme", &text);
    for dir in ["smoke", "policies"] {
        std::fs::create_dir_all(project.dir.join(dir)).unwrap();
    }
    std::fs::copy(guest("api"), project.dir.join("smoke/api.wasm")).unwrap();
    std::fs::copy(guest("prod"), project.dir.join("policies/prod.wasm")).unwrap();
    let out = project.gate(["config", "check"]).run();
    assert_exit(&out, 0);
    for env in ["local", "stage", "prod"] {
        assert!(env_line(&out, env, "ok"), "{env}: {}", out.stdout);
    }
    let example = |command: &str| {
        readme
            .split(&format!("$ {command}\n"))
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap_or_else(|| panic!("the README shows {command}"))
            .to_owned()
    };
    let shown = project
        .gate(["env", "show", "stage"])
        .env("STAGE_API_TOKEN", "set")
        .run();
    assert_exit(&shown, 0);
    assert_eq!(shown.stdout, example("gate env show stage"));
    // The inspect example elides the policy's description, not its grants.
    let inspected = project
        .gate(["inspect", "policies/prod.wasm", "--env", "stage"])
        .run();
    assert_exit(&inspected, 0);
    let inspect = example("gate inspect policies/prod.wasm --env stage");
    let (head, grants) = inspect.split_once("…\n").expect("the example elides");
    assert!(inspected.stdout.starts_with(head), "{}", inspected.stdout);
    assert!(inspected.stdout.ends_with(grants), "{}", inspected.stdout);

    let slipped = text.replacen(
        "strict = true                              # a skipped blocking check fails the run\n",
        "strict = true                              # a skipped blocking check fails the run\n\
         timeout = \"10 parsecs\"\n",
        1,
    );
    assert_ne!(
        slipped, text,
        "the README's stage table moved: update this test"
    );
    project.write("gate.toml", slipped.as_bytes());
    let out = project.gate(["config", "check"]).run();
    assert_exit(&out, 2);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(said.trim(), example("gate config check").trim());
}

#[test]
fn without_a_gate_toml_flags_alone_decide_and_env_is_only_a_name() {
    let stack = stack();
    let empty = std::env::temp_dir().join(format!("gate-e2e-config-{}-none", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Gate::new(["run", "--env", "stage", "--format", "json"])
        .arg(guest("prod"))
        .target(&stack.url())
        .current_dir(&empty)
        .run();
    assert_exit(&out, 0);
    assert_eq!(out.json()["env"], "stage");

    let out = Gate::new(["run"]).current_dir(&empty).run();
    assert_exit(&out, 2);
    assert!(out.stderr.contains("no policy to run"), "{}", out.stderr);

    let out = Gate::new(["config", "check"]).current_dir(&empty).run();
    assert_exit(&out, 2);
    assert!(out.stderr.contains("no gate.toml in the current directory"));

    // --config names a file that must exist.
    let out = Gate::new(["--config", "no/such/gate.toml", "env", "list"]).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("cannot read no/such/gate.toml"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_demo_config_checks_out_and_runs_against_the_sample_stack() {
    let demo = root().join("demo/gate.toml");
    let out = Gate::new(["config", "check", "--config"]).arg(&demo).run();
    assert_exit(&out, 0);
    assert!(env_line(&out, "local", "ok"), "{}", out.stdout);

    // The demo's target is 127.0.0.1:8080; this one runs on a free port.
    let stack = stack();
    let out = Gate::new(["--config"])
        .arg(&demo)
        .args(["run", "--env", "local", "--format", "json"])
        .target(&stack.url())
        .env("GATE_SECRET_API_TOKEN", API_TOKEN)
        .run();
    assert_exit(&out, 0);
    let report = out.json();
    assert_eq!(report["env"], "local");
    assert_eq!(report["policies"][0]["name"], "api");
    assert_eq!(report["policies"][1]["name"], "prod");
}

#[test]
fn a_webhook_flag_overrides_the_files_secret_webhook() {
    // The file keeps its webhook in a secret this run does not set.
    let project = Project::new(
        "webhook-flag",
        &format!(
            "default_env = \"stage\"\n[env.stage]\npolicies = [{}]\nwebhook = \"secret:team_hook\"\n",
            lit(&guest("fetch"))
        ),
    );
    let up = gate_e2e::stub::Stub::sequence(&[200]);
    let run = project
        .gate(["run", "--param", "url=/health", "--target"])
        .arg(up.url())
        .run();
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains("gate.toml:4:") && run.stderr.contains("env.stage.webhook"),
        "the error points at the key: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("export GATE_SECRET_TEAM_HOOK"),
        "{}",
        run.stderr
    );

    // gate watch's --webhook replaces it, as gate run's --notify does.
    let hook = gate_e2e::stub::Stub::sequence(&[200]);
    for (command, flag) in [("watch", "--webhook"), ("run", "--notify")] {
        let mut args = vec![command, "--param", "url=/health"];
        if command == "watch" {
            args.extend(["--interval", "10ms", "--count", "1"]);
        }
        let out = project
            .gate(args)
            .args(["--target", &up.url(), flag, &format!("{}/hook", hook.url())])
            .run();
        assert_exit(&out, 0);
    }
    let posts = hook.requests();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(
        posts.iter().all(|p| p.starts_with("POST /hook")),
        "{posts:?}"
    );
}

/// `gate config check` loads and describes each policy under its
/// environment's own limits, as a run of that environment would: a
/// memory_limit the policy's memory does not fit in is a problem there too.
#[test]
fn config_check_loads_policies_under_each_environments_limits() {
    let project = Project::new(
        "env-limits",
        &format!(
            "policies = [{}]\n[env.roomy]\ntarget = \"http://127.0.0.1:9\"\n\n\
             [env.tiny]\ntarget = \"http://127.0.0.1:9\"\nmemory_limit = \"1MiB\"\n",
            lit(&guest("api")),
        ),
    );
    let out = project.gate(["config", "check"]).run();
    assert_exit(&out, 2);
    assert!(env_line(&out, "roomy", "ok"), "{}", out.stdout);
    assert!(env_line(&out, "tiny", "FAIL"), "{}", out.stdout);
    assert!(
        out.stderr.contains("memory limit exceeded") && out.stderr.contains("(--memory-limit)"),
        "{}",
        out.stderr
    );
    // As the run says, and as inspect describes it for that environment.
    let run = project.gate(["run", "--env", "tiny"]).run();
    assert_exit(&run, 2);
    assert!(
        run.stderr
            .contains("(raise --memory-limit, or memory_limit in gate.toml)"),
        "{}",
        run.stderr
    );
    let inspect = project
        .gate(["inspect", "--env", "tiny"])
        .arg(guest("api"))
        .run();
    assert_exit(&inspect, 2);
    assert!(
        inspect.stderr.contains("memory limit exceeded"),
        "{}",
        inspect.stderr
    );
    let inspect = project
        .gate(["inspect", "--env", "roomy"])
        .arg(guest("api"))
        .run();
    assert_exit(&inspect, 0);
}

/// Two policies of one name are a problem of the environment, as a run of
/// it refuses them.
#[test]
fn config_check_refuses_two_policies_of_one_name() {
    let project = Project::new(
        "same-name",
        &format!(
            "policies = [{}, \"again.wasm\"]\ntarget = \"http://127.0.0.1:9\"\n",
            lit(&guest("api")),
        ),
    );
    project.write("again.wasm", &std::fs::read(guest("api")).unwrap());
    let out = project.gate(["config", "check"]).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains(
            "again.wasm is named `api`, as another policy of env `default` is: a run names \
             checks POLICY/CHECK, so it cannot hold both"
        ),
        "{}",
        out.stderr
    );
    let run = project.gate(["run"]).run();
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains("are both named `api`"),
        "{}",
        run.stderr
    );
}

/// A flag that replaces a file's path (`--verify-key`, `--decision-log`)
/// makes the file's path irrelevant: missing on this machine, it stops
/// nothing.
#[test]
fn flags_replace_file_paths_that_need_not_exist_here() {
    let stage = gate_e2e::stub::Stub::start(200, &[]);
    let project = Project::new(
        "replaced-paths",
        &format!(
            "policies = [\"fetch.wasm\"]\ntarget = \"{}\"\nverify_key = \"keys/missing.pub\"\n\
             decision_log = \"nowhere/decisions.jsonl\"\nparams.url = \"/health\"\n",
            stage.url()
        ),
    );
    project.write("fetch.wasm", &std::fs::read(guest("fetch")).unwrap());
    let keygen = project
        .gate([
            "keygen",
            "--no-password",
            "--public-key",
            "team.pub",
            "--secret-key",
            "team.key",
        ])
        .run();
    assert_exit(&keygen, 0);
    let signed = project
        .gate(["sign", "fetch.wasm", "--secret-key", "team.key"])
        .run();
    assert_exit(&signed, 0);
    // The file's paths alone: refused, naming them.
    let file_only = project.gate(["run"]).run();
    assert_exit(&file_only, 2);
    assert!(
        file_only.stderr.contains("keys/missing.pub"),
        "{}",
        file_only.stderr
    );
    let flags = project
        .gate([
            "run",
            "--verify-key",
            "team.pub",
            "--decision-log",
            "decisions.jsonl",
        ])
        .run();
    assert_exit(&flags, 0);
    assert!(project.dir.join("decisions.jsonl").is_file());
}

/// A CA file that exists but holds no certificate is a problem of
/// `config check` at its line, as it stops the run.
#[test]
fn config_check_reads_the_ca_file_as_a_run_does() {
    let project = Project::new(
        "empty-ca",
        &format!(
            "policies = [{}]\ntarget = \"https://127.0.0.1:9\"\nca_file = \"empty.pem\"\n",
            lit(&guest("api")),
        ),
    );
    project.write("empty.pem", b"not a certificate\n");
    let out = project.gate(["config", "check"]).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("gate.toml:3:11: ca_file: CA file")
            && out.stderr.contains("holds no PEM certificate"),
        "{}",
        out.stderr
    );
    let run = project.gate(["run"]).run();
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains("holds no PEM certificate"),
        "{}",
        run.stderr
    );
}
