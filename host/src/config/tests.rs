use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn config(text: &str) -> Config {
    Config::parse(Path::new("gate.toml"), text.to_owned()).expect("the file parses")
}

/// The problems of an environment (top level included), as printed.
fn problems(text: &str, env: &str) -> Vec<String> {
    match config(text).environment(env) {
        Ok(_) => Vec::new(),
        Err(ConfigError::Invalid(problems)) => problems.iter().map(|p| p.to_string()).collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn one_problem(text: &str, env: &str) -> String {
    let problems = problems(text, env);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    problems.into_iter().next().unwrap()
}

fn parse_error(text: &str) -> String {
    match Config::parse(Path::new("gate.toml"), text.to_owned()) {
        Err(ConfigError::Invalid(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:#?}");
            problems[0].to_string()
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("`{text}` should not parse"),
    }
}

/// A directory of its own for a test that needs files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gate-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const LAYERED: &str = r#"
timeout = "5s"
memory_limit = "32MiB"
allow_hosts = ["shared.example.com"]
policies = ["smoke.wasm", "gate.wasm"]

[params]
samples = 20
region = "eu"

[secrets]
api_token = {}

[env.local]
target = "http://127.0.0.1:8080"

[env.stage]
target = "https://stage.example.com"
timeout = "30s"
jobs = 4
strict = true
params.samples = 50
secrets.api_token = { env = "STAGE_API_TOKEN", required = true }
"#;

#[test]
fn an_environment_overrides_the_top_level() {
    let config = config(LAYERED);
    assert_eq!(config.env_names(), ["local", "stage"]);

    let local = config.environment("local").unwrap().settings;
    assert_eq!(local.timeout.unwrap().value, Duration::from_secs(5));
    assert_eq!(local.memory_limit.unwrap().value, 32 << 20);
    assert_eq!(local.params["samples"].value, "20");
    assert_eq!(
        local.secrets["api_token"].value.variable("api_token"),
        "GATE_SECRET_API_TOKEN"
    );
    assert!(!local.secrets["api_token"].value.required);
    assert_eq!(local.policies.as_ref().unwrap().value.len(), 2);

    let stage = config.environment("stage").unwrap();
    let s = &stage.settings;
    let timeout = s.timeout.as_ref().unwrap();
    assert_eq!(timeout.value, Duration::from_secs(30));
    assert_eq!(timeout.at.key, "env.stage.timeout");
    assert_eq!((timeout.at.line, timeout.at.column), (19, 11));
    // Params and secrets merge key by key.
    assert_eq!(s.params["samples"].value, "50");
    assert_eq!(s.params["samples"].at.table(), "env.stage");
    assert_eq!(s.params["region"].value, "eu");
    assert_eq!(s.params["region"].at.table(), "top-level");
    let token = &s.secrets["api_token"].value;
    assert_eq!(token.variable("api_token"), "STAGE_API_TOKEN");
    assert!(token.required);
    // Inherited whole.
    assert_eq!(s.memory_limit.as_ref().unwrap().at.key, "memory_limit");
    assert_eq!(s.allow_hosts.as_ref().unwrap().value.len(), 1);
    assert_eq!(s.jobs.as_ref().unwrap().value, 4);
    assert!(s.strict.as_ref().unwrap().value);
    assert_eq!((stage.at.line, stage.at.column), (17, 1));

    let grants = s.grants("stage");
    assert_eq!(
        grants.target.unwrap().as_str(),
        "https://stage.example.com/"
    );
    assert_eq!(grants.env_name, "stage");
    assert_eq!(grants.params["region"], "eu");
    assert!(
        grants.secrets.is_empty(),
        "secrets are read when a run starts"
    );
}

#[test]
fn prometheus_credentials_stay_with_their_server() {
    let text = r#"
prometheus = "http://prometheus.internal:9090"
prometheus_auth = "bearer:shared_token"
[env.a]
[env.b]
prometheus = "https://prometheus.b.example.com"
[env.c]
prometheus_auth = "basic:c_login"
"#;
    let config = config(text);
    let auth = |env: &str| {
        config
            .environment(env)
            .unwrap()
            .settings
            .prometheus_auth
            .map(|a| a.value)
    };
    assert_eq!(
        auth("a"),
        Some(PrometheusAuthSpec::Bearer("shared_token".into()))
    );
    assert_eq!(auth("b"), None, "b's own server must not get a's token");
    assert_eq!(auth("c"), Some(PrometheusAuthSpec::Basic("c_login".into())));

    let orphan = one_problem("[env.x]\nprometheus_auth = \"bearer:t\"\n", "x");
    assert!(orphan.contains("credentials without a server"), "{orphan}");
    // A server written wrong is that value's one problem, here or above.
    for text in [
        "[env.x]\nprometheus = \"prometheus:9090\"\nprometheus_auth = \"bearer:t\"\n",
        "prometheus = \"prometheus:9090\"\n[env.x]\nprometheus_auth = \"bearer:t\"\n",
    ] {
        let problem = one_problem(text, "x");
        assert!(problem.contains("prometheus: "), "{problem}");
    }
}

use crate::grants::PrometheusAuthSpec;

#[test]
fn bad_values_name_line_column_and_key() {
    let cases = [
        (
            "[env.stage]\ntarget = \"ftp://stage.example.com\"\n",
            "gate.toml:2:10: env.stage.target: the URL must be http:// or https:// with a host, not ftp:…",
        ),
        (
            "[env.stage]\n\ntimeout = \"10 parsecs\"\n",
            "gate.toml:3:11: env.stage.timeout: `10 parsecs` is not a duration: unknown unit `parsecs` (try 500ms, 10s, 5m, 1h)",
        ),
        (
            "memory_limit = \"1KiB\"\n[env.stage]\n",
            "gate.toml:1:16: memory_limit: `1KiB` must be between 64KiB and 4GiB",
        ),
        (
            "[env.stage]\njobs = 0\n",
            "gate.toml:2:8: env.stage.jobs: 0 checks at once is out of range (1 to 256)",
        ),
        (
            "[env.stage]\nallow_hosts = [\"ok.example.com\", \"http://x/path\"]\n",
            "gate.toml:2:34: env.stage.allow_hosts[1]: `http://x/path`: allow an origin (scheme://host:port), not a path",
        ),
        (
            "[env.stage]\nprometheus_auth = \"token:x\"\nprometheus = \"http://p:9090\"\n",
            "gate.toml:2:19: env.stage.prometheus_auth: `token:x` is not bearer:SECRET or basic:SECRET",
        ),
        (
            "[env.stage]\ndocker = \"docker.sock\"\n",
            "gate.toml:2:10: env.stage.docker: `docker.sock` is not a Docker host: relative URL without a base (try unix:///var/run/docker.sock or tcp://HOST:2375)",
        ),
        (
            "[env.stage]\nwebhook = \"https://user:pw@hooks.example.com/x\"\n",
            "gate.toml:2:11: env.stage.webhook: credentials in the webhook URL are refused: use webhook = \"secret:NAME\"",
        ),
        (
            "[env.stage]\npolicies = [{ path = \"p.wasm\", sha256 = \"abc\" }]\n",
            "gate.toml:2:41: env.stage.policies[0].sha256: `abc` is not a sha256 digest (64 hex digits, as `gate inspect POLICY` prints)",
        ),
        (
            "[env.stage]\nsecrets.token = { env = \"NOT-A-VAR\" }\n",
            "gate.toml:2:25: env.stage.secrets.token.env: `NOT-A-VAR` is not an environment variable name (letters, digits and `_`)",
        ),
        (
            "[env.stage]\ndefault_env = \"stage\"\n",
            "gate.toml:2:15: env.stage.default_env: environments do not nest: set it at the top level of the file",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(one_problem(text, "stage"), expected, "{text}");
    }
}

#[test]
fn every_bad_value_is_reported_at_once() {
    let text = "timeout = \"soon\"\n[env.a]\ntarget = \"nope\"\njobs = 999\n";
    let problems = problems(text, "a");
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("gate.toml:1:11: timeout:"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("gate.toml:3:10: env.a.target:"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("gate.toml:4:8: env.a.jobs:"),
        "{problems:#?}"
    );
    let ConfigError::Invalid(list) = config(text).environment("a").unwrap_err() else {
        panic!()
    };
    let message = ConfigError::Invalid(list).to_string();
    assert!(
        message.starts_with("gate.toml has 3 problems:\n  gate.toml:1:11"),
        "{message}"
    );
}

/// The one shape problem of `env`'s table (the file parses around it).
fn shape_error(text: &str, env: &str) -> String {
    assert!(
        matches!(
            config(text).environment_lenient(env),
            Err(ConfigError::Invalid(_))
        ),
        "`{text}`: env `{env}`'s table should not deserialize"
    );
    one_problem(text, env)
}

#[test]
fn shape_errors_name_line_column_and_key() {
    assert_eq!(
        shape_error(
            "[env.stage]\ntarget = \"http://x\"\ntimout = \"5s\"\n",
            "stage"
        ),
        "gate.toml:3:1: env.stage.timout: unknown key `timout` (did you mean `timeout`?)"
    );
    // A dot in an environment's name is nesting to TOML.
    assert_eq!(
        shape_error("[env.eu.prod]\ntarget = \"http://x\"\n", "eu"),
        "gate.toml:1:9: env.eu.prod: `[env.eu.prod]` is a table `prod` inside environment \
         `eu` to TOML, which reads the dot as nesting: an environment's name cannot hold a \
         `.` (name it `eu-prod`)"
    );
    let unknown = shape_error("[env.stage]\ncolour = \"red\"\n", "stage");
    assert!(
        unknown
            .starts_with("gate.toml:2:1: env.stage.colour: unknown key `colour`, expected one of"),
        "{unknown}"
    );
    // Keys only the top level takes are not offered inside an environment.
    assert!(!unknown.contains("default_env"), "{unknown}");
    assert!(!unknown.contains("`env`"), "{unknown}");
    // A secret's `env` is its own key, offered inside an environment too.
    assert_eq!(
        shape_error("[env.stage.secrets]\ntoken = { evn = \"X\" }\n", "stage"),
        "gate.toml:2:9: env.stage.secrets.token: unknown key `evn` (did you mean `env`?)"
    );
    assert_eq!(
        shape_error("[env.stage]\ntimeout = 10\n", "stage"),
        "gate.toml:2:11: env.stage.timeout: invalid type: integer `10`, expected a string"
    );
    // A setting under `[env]` itself was meant for every environment, and
    // would reach none: it stops them all.
    assert_eq!(
        parse_error("[env]\nstrict = true\n[env.prod]\ntarget = \"http://x\"\n"),
        "gate.toml:2:10: env.strict: `env.strict` is not a table, and every key under `env` \
         is an environment: write [env.NAME] with its settings below it, and what every \
         environment shares at the top of the file, above any [env.NAME]"
    );
    assert_eq!(
        shape_error("[env.stage]\njobs = 1.5\n", "stage"),
        "gate.toml:2:8: env.stage.jobs: invalid type: floating point `1.5`, expected a whole \
         number"
    );
    assert_eq!(
        shape_error("[env.stage]\nwatch = 1\n", "stage"),
        "gate.toml:2:9: env.stage.watch: invalid type: integer `1`, expected a table"
    );
    let syntax = parse_error("[env.stage\ntarget = 1\n");
    assert!(syntax.starts_with("gate.toml:1:"), "{syntax}");
    assert_eq!(
        parse_error("default_env = \"prod\"\n[env.stage]\n"),
        "gate.toml:1:15: default_env: `prod` is not an environment of this file (known: stage)"
    );
    // The top level is every environment's: its shape stops them all.
    assert_eq!(
        parse_error("timout = \"5s\"\n[env.stage]\n"),
        "gate.toml:1:1: timout: unknown key `timout` (did you mean `timeout`?)"
    );
    assert_eq!(
        parse_error("env = 1\n"),
        "gate.toml:1:7: env: `env` holds the environments, as tables: write [env.NAME] and \
         its settings below it"
    );
}

#[test]
fn every_shape_error_of_a_table_is_reported_at_once_in_file_order() {
    let text = "[env.stage]\ntimout = \"5s\"\nstrict = \"yes\"\njobs = 1.5\n\
                [env.stage.watch]\nintervall = \"5s\"\n";
    assert_eq!(
        problems(text, "stage"),
        [
            "gate.toml:2:1: env.stage.timout: unknown key `timout` (did you mean `timeout`?)",
            "gate.toml:3:10: env.stage.strict: invalid type: string \"yes\", expected a boolean",
            "gate.toml:4:8: env.stage.jobs: invalid type: floating point `1.5`, expected a whole \
             number",
            "gate.toml:6:1: env.stage.watch.intervall: unknown key `intervall` (did you mean \
             `interval`?)",
        ]
    );
    // The top level's too, and they stop the whole file, said with the
    // environments' own.
    match Config::parse(
        Path::new("gate.toml"),
        "timout = \"5s\"\nstric = true\n[env.stage]\nstrct = true\n".to_owned(),
    ) {
        Err(ConfigError::Invalid(problems)) => assert_eq!(
            problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "gate.toml:1:1: timout: unknown key `timout` (did you mean `timeout`?)",
                "gate.toml:2:1: stric: unknown key `stric` (did you mean `strict`?)",
                "gate.toml:4:1: env.stage.strct: unknown key `strct` (did you mean `strict`?)",
            ]
        ),
        other => panic!("{other:?}"),
    }
    // A wrong item of an array of tables does not end the search.
    let text = "[env.stage]\n[[env.stage.policies]]\npath = \"a.wasm\"\n\
                [[env.stage.policies]]\nsha256 = \"00\"\n[env.stage.watch]\nintervall = \"5s\"\n";
    let found = problems(text, "stage");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].starts_with("gate.toml:4:"), "{found:#?}");
    assert!(
        found[1].starts_with("gate.toml:7:1: env.stage.watch.intervall: unknown key"),
        "{found:#?}"
    );
    // A known key of the wrong shape is not taken for a nested name.
    let shape = shape_error("[env.stage.policies]\npath = \"a.wasm\"\n", "stage");
    assert!(!shape.contains("inside environment"), "{shape}");
    assert!(shape.contains("expected a sequence"), "{shape}");
}

#[test]
fn a_shape_error_in_one_environment_stops_only_that_one() {
    let text = "default_env = \"local\"\n\
                [env.local]\ntarget = \"http://127.0.0.1:1\"\n\
                [env.stage]\ntarget = \"http://127.0.0.1:2\"\ntimout = \"5s\"\n";
    let config = config(text);
    assert_eq!(config.env_names(), ["local", "stage"]);
    let local = config.select(None).expect("local has no problem");
    assert_eq!(local.name, "local");
    assert!(config.check_name("stage").is_ok());
    assert_eq!(
        one_problem(text, "stage"),
        "gate.toml:6:1: env.stage.timout: unknown key `timout` (did you mean `timeout`?)"
    );
    assert!(matches!(
        config.environment_lenient("stage"),
        Err(ConfigError::Invalid(_))
    ));
    assert!(matches!(
        config.check_name("prod"),
        Err(ConfigError::UnknownEnv { .. })
    ));
}

#[test]
fn secret_values_are_refused_with_a_hint_and_never_echoed() {
    for text in [
        "[env.stage]\nsecrets.api_token = \"hunter2-value\"\n",
        "[env.stage]\nsecrets.api_token = { value = \"hunter2-value\" }\n",
    ] {
        let problem = one_problem(text, "stage");
        assert!(
            problem.starts_with("gate.toml:2:21: env.stage.secrets.api_token: secrets are never written in gate.toml"),
            "{problem}"
        );
        assert!(problem.contains("GATE_SECRET_API_TOKEN"), "{problem}");
        assert!(problem.contains("{ env = \"VARIABLE\" }"), "{problem}");
        assert!(!problem.contains("hunter2"), "{problem}");
    }
    // Nor does a parse error quote the line a secret sits on.
    let error = shape_error(
        "[env.stage]\nsecrets.api_token = { value = \"hunter2-value\", x = 1 }\n",
        "stage",
    );
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn choosing_an_environment() {
    let config = config(LAYERED);
    match config.select(Some("prod")) {
        Err(e @ ConfigError::UnknownEnv { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("no environment `prod` (known: local, stage)"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    let message = config.select(None).unwrap_err().to_string();
    assert!(
        message.contains("defines environments local, stage: pick one with --env NAME"),
        "{message}"
    );
    let with_default = self::config("default_env = \"b\"\n[env.a]\n[env.b]\n");
    assert_eq!(with_default.select(None).unwrap().name, "b");
    assert_eq!(with_default.select(Some("a")).unwrap().name, "a");
}

/// A file without `[env.NAME]` tables is one environment, `default`: its
/// top level, used without `--env`. No other name is taken for it, so that
/// `--env prod` never runs with settings written for something else.
#[test]
fn a_file_without_environments_is_the_default_one() {
    let bare = config("target = \"http://127.0.0.1:8080\"\ntimeout = \"5s\"\n");
    assert_eq!(bare.env_names(), ["default"]);
    assert_eq!(bare.default_env(), Some("default"));
    for requested in [None, Some("default")] {
        let environment = bare.select(requested).unwrap();
        assert_eq!(environment.name, "default");
        assert_eq!(
            environment.settings.timeout.as_ref().map(|t| t.value),
            Some(std::time::Duration::from_secs(5))
        );
        assert_eq!(
            (environment.at.line, environment.at.table()),
            (1, "top-level")
        );
    }
    // Following the hint must not leave the top level as prod's settings.
    let message = bare.select(Some("prod")).unwrap_err().to_string();
    assert!(
        message.contains(
            "has no environment `prod`: without [env.NAME] tables, its top level is its one \
             environment, `default` (run without --env). For a second stack, move this one's \
             settings into [env.default]"
        ) && message.ends_with("then add [env.prod] with its own target"),
        "{message}"
    );
    // Its top level's problems are its own.
    let broken = config("timeout = \"10 parsecs\"\n");
    let message = broken.select(None).unwrap_err().to_string();
    assert!(
        message.starts_with("gate.toml:1:11: timeout: `10 parsecs` is not a duration"),
        "{message}"
    );
    // `default_env` may name it; nothing else.
    assert_eq!(
        config("default_env = \"default\"\n")
            .select(None)
            .unwrap()
            .name,
        "default"
    );
    let message = parse_error("default_env = \"prod\"\n");
    assert!(
        message.starts_with(
            "gate.toml:1:15: default_env: `prod` is not an environment of this file (known: default,"
        ),
        "{message}"
    );
    // With tables, a table named `default` is what a run without --env
    // uses, unless default_env says otherwise.
    let tables = config("[env.default]\ntimeout = \"7s\"\n[env.prod]\n");
    assert_eq!(tables.select(None).unwrap().name, "default");
    assert_eq!(tables.env_names(), ["default", "prod"]);
    let chosen = config("default_env = \"prod\"\n[env.default]\n[env.prod]\n");
    assert_eq!(chosen.select(None).unwrap().name, "prod");
}

#[test]
fn paths_are_relative_to_the_file_and_must_exist() {
    let dir = temp_dir("paths");
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(dir.join("policies/gate.wasm"), b"\0asm").unwrap();
    let text = r#"
policies = ["policies/gate.wasm", "missing.wasm"]
[env.a]
ca_file = "certs/ca.pem"
decision_log = "logs/decisions.jsonl"
"#;
    let path = dir.join("gate.toml");
    let config = Config::parse(&path, text.to_owned()).unwrap();
    let environment = config.environment("a").unwrap();
    let policies = &environment.settings.policies.as_ref().unwrap().value;
    assert_eq!(policies[0].path, dir.join("policies/gate.wasm"));
    assert_eq!(policies[0].written, "policies/gate.wasm");
    let problems: Vec<String> = config
        .check_files(&environment)
        .iter()
        .map(|p| p.to_string())
        .collect();
    let file = path.display();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with(&format!(
            "{file}:4:11: env.a.ca_file: CA file {} does not exist",
            dir.join("certs/ca.pem").display()
        )),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with(&format!(
            "{file}:2:35: policies[1]: policy {} does not exist",
            dir.join("missing.wasm").display()
        )),
        "{problems:#?}"
    );
    assert!(
        problems[2].contains("env.a.decision_log: the decision log's directory"),
        "{problems:#?}"
    );
}

#[test]
fn pins_are_checked_within_the_environments_wasm_size() {
    // A pin is checked on what the run would load: the environment's
    // `wasm_size`, raised or lowered, not gate's default.
    let dir = temp_dir("pin-size");
    let bytes = vec![7u8; 2000];
    std::fs::write(dir.join("p.wasm"), &bytes).unwrap();
    let digest = crate::policy::sha256_hex(&bytes);
    let text = format!(
        "[env.big]\nlimits = {{ wasm_size = \"64MiB\" }}\npolicies = [{{ path = \"p.wasm\", sha256 = \"{digest}\" }}]\n\
         [env.small]\nlimits = {{ wasm_size = \"1KiB\" }}\npolicies = [{{ path = \"p.wasm\", sha256 = \"{digest}\" }}]\n"
    );
    let config = Config::parse(&dir.join("gate.toml"), text).unwrap();
    let wasm_bytes = |environment: &Environment| {
        crate::plan::settings_limits(&config, &environment.settings)
            .unwrap()
            .wasm_bytes
    };
    let big = config.environment("big").unwrap();
    assert_eq!(wasm_bytes(&big), 64 << 20);
    let entry = &big.settings.policies.as_ref().unwrap().value[0];
    assert_eq!(entry.verify_pin(wasm_bytes(&big)), Ok(()));
    let small = config.environment("small").unwrap();
    let entry = &small.settings.policies.as_ref().unwrap().value[0];
    let refused = entry.verify_pin(wasm_bytes(&small)).unwrap_err();
    assert!(
        refused.to_string().contains("over the 1 KiB limit"),
        "{refused}"
    );
}

#[test]
fn pins_compare_the_file_digest() {
    let dir = temp_dir("pins");
    std::fs::write(dir.join("p.wasm"), b"abc").unwrap();
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    let text = format!(
        "[env.a]\npolicies = [{{ path = \"p.wasm\", sha256 = \"sha256:{}\" }}, {{ path = \"p.wasm\", sha256 = \"{}\" }}]\n",
        abc.to_uppercase(),
        "0".repeat(64)
    );
    let config = Config::parse(&dir.join("gate.toml"), text).unwrap();
    let environment = config.environment("a").unwrap();
    let policies = &environment.settings.policies.as_ref().unwrap().value;
    let limit = crate::plan::settings_limits(&config, &environment.settings)
        .unwrap()
        .wasm_bytes;
    assert_eq!(limit, crate::limits::Limits::default().wasm_bytes);
    assert_eq!(policies[0].verify_pin(limit), Ok(()));
    assert_eq!(
        policies[1].verify_pin(limit),
        Err(PinError::Mismatch {
            expected: "0".repeat(64),
            actual: abc.to_owned()
        })
    );
    let message = policies[1].verify_pin(limit).unwrap_err().to_string();
    assert!(
        message.contains(&format!("expected {}", "0".repeat(64))),
        "{message}"
    );
    assert!(
        message.contains(&format!("the file has {abc}")),
        "{message}"
    );
}

#[test]
fn settings_this_gate_cannot_honour_are_named() {
    let text = r#"
[env.prod]
docker = "unix:///var/run/docker.sock"
ca_file = "ca.pem"
decision_log = "decisions.jsonl"
webhook = "secret:slack_webhook"
policies = [{ path = "p.wasm", signature = "p.wasm.sig", verify_key = "gate.pub" }]
"#;
    let config = config(text);
    let environment = config.environment("prod").unwrap();
    let refused: Vec<String> = config
        .unsupported(&environment)
        .iter()
        .map(|p| p.to_string())
        .collect();
    // decision_log, webhook, docker, ca_file and signatures are honoured.
    assert!(refused.is_empty(), "{refused:#?}");
    let grants = environment.settings.grants("prod");
    assert_eq!(
        grants.docker.as_ref().map(|u| u.as_str()),
        Some("unix:///var/run/docker.sock")
    );
    assert_eq!(grants.ca_files.len(), 1);
    assert!(
        config
            .environment("prod")
            .unwrap()
            .settings
            .webhook
            .is_some()
    );
    assert_eq!(
        environment.settings.webhook.as_ref().unwrap().value,
        Webhook::Secret("slack_webhook".into())
    );
}

#[test]
fn required_secrets_are_read_from_their_variable() {
    // PATH is always set, and a random name never is: no test changes the
    // process environment.
    let missing = format!("GATE_TEST_UNSET_{}", std::process::id());
    let text = format!(
        "[env.a]\nsecrets.path = {{ env = \"PATH\", required = true }}\nsecrets.optional = {{ env = \"{missing}\" }}\n[env.b]\nsecrets.token = {{ env = \"{missing}\", required = true }}\n"
    );
    let config = config(&text);
    let secrets = config
        .read_secrets(&config.environment("a").unwrap())
        .unwrap();
    assert_eq!(secrets.keys().collect::<Vec<_>>(), ["PATH"]);
    let error = config
        .read_secrets(&config.environment("b").unwrap())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "gate.toml:5:17: env.b.secrets.token: env `b` requires secret `token` but {missing} \
             is not set: export it where gate runs (nothing was run)"
        )
    );
}

/// `api-token` and `api_token` are one secret: an environment's spelling
/// replaces the top level's, and one table may not hold both.
#[test]
fn a_secret_spelled_two_ways_is_one_secret() {
    let missing = format!("GATE_TEST_UNSET_{}", std::process::id());
    let text = format!(
        "[secrets]\napi_token = {{ env = \"{missing}\", required = true }}\n[env.stage]\nsecrets.api-token = {{ env = \"PATH\" }}\n"
    );
    let config = config(&text);
    let stage = config.environment("stage").unwrap();
    assert_eq!(
        stage.settings.secrets.keys().collect::<Vec<_>>(),
        ["api-token"]
    );
    let secrets = config.read_secrets(&stage).unwrap();
    assert_eq!(secrets["API_TOKEN"], std::env::var("PATH").unwrap());

    let twice =
        "[env.a]\nsecrets.api_token = { env = \"PATH\" }\nsecrets.api-token = { env = \"PATH\" }\n";
    let error = one_problem(twice, "a");
    assert!(
        error.starts_with("gate.toml:")
            && error.contains(": env.a.secrets.")
            && error.contains("`api_token` and `api-token` are one secret (GATE_SECRET_API_TOKEN)"),
        "{error}"
    );
}

#[test]
fn limits_merge_key_by_key_and_bad_ones_name_line_column_and_key() {
    let text = r#"
verify_key = "keys/gate.pub"
[limits]
host_calls = 5000
wasm_stack = "256KiB"
[env.stage]
limits.host_calls = 200
limits.compile_timeout = "20s"
[env.bad]
limits.wasm_stack = "64MiB"
limits.hostcalls = 3
"#;
    let config = config(text);
    let stage = config.environment("stage").unwrap();
    let limits: Vec<(&str, &str)> = stage
        .settings
        .limits
        .iter()
        .map(|(k, v)| (k.as_str(), v.value.as_str()))
        .collect();
    assert_eq!(
        limits,
        [
            ("compile_timeout", "20s"),
            ("host_calls", "200"),
            ("wasm_stack", "256KiB")
        ]
    );
    assert_eq!(
        stage.settings.limits["host_calls"].at.key,
        "env.stage.limits.host_calls"
    );
    assert_eq!(
        stage.settings.verify_key.as_ref().unwrap().value,
        Path::new("keys/gate.pub")
    );
    let problems = problems(text, "bad");
    assert_eq!(
        problems,
        [
            "gate.toml:10:21: env.bad.limits.wasm_stack: `64MiB` is out of range for wasm_stack: \
             64 KiB to 1 MiB",
            "gate.toml:11:8: env.bad.limits.hostcalls: unknown limit `hostcalls` (known: \
             table_elements, instances, tables, memories, wasm_stack, host_calls, resources, \
             host_call_bytes, http_timeout, response_bytes, log_bytes, message_bytes, \
             measurements, result_bytes, wasm_size, compile_timeout; `timeout` and `memory_limit` are keys of \
             their own)"
        ]
    );
    let error = parse_error("[limits]\nhost_calls = [1]\n");
    assert!(
        error.starts_with("gate.toml:2:14: limits.host_calls: "),
        "{error}"
    );
}

#[test]
fn watch_merges_key_by_key_and_count_or_duration_is_one_slot() {
    use crate::watch::Window;
    let text = r#"
[watch]
interval = "30s"
duration = "10m"
failure_limit = 1
[env.stage]
watch.count = 3
watch.consecutive_error_limit = 0
[env.prod.watch]
initial_delay = "2m"
"#;
    let config = config(text);
    let stage = config.environment("stage").unwrap().settings.watch;
    let value = |s: &Option<Setting<Duration>>| s.as_ref().map(|s| s.value);
    assert_eq!(value(&stage.interval), Some(Duration::from_secs(30)));
    // The environment's count replaces the top level's duration.
    assert_eq!(stage.window.as_ref().unwrap().value, Window::Rounds(3));
    assert_eq!(
        stage.window.as_ref().unwrap().at.key,
        "env.stage.watch.count"
    );
    assert_eq!(stage.failure_limit.as_ref().unwrap().value, 1);
    assert_eq!(stage.consecutive_error_limit.as_ref().unwrap().value, 0);
    assert!(stage.inconclusive_limit.is_none() && stage.initial_delay.is_none());

    let prod = config.environment("prod").unwrap().settings.watch;
    assert_eq!(
        prod.window.as_ref().unwrap().value,
        Window::Lasting(Duration::from_secs(600))
    );
    assert_eq!(prod.window.as_ref().unwrap().at.key, "watch.duration");
    assert_eq!(value(&prod.initial_delay), Some(Duration::from_secs(120)));
    assert_eq!(prod.initial_delay.as_ref().unwrap().at.line, 10);
}

#[test]
fn bad_watch_keys_name_line_column_and_key() {
    let text = r#"
[env.bad.watch]
interval = "soon"
count = 0
failure_limit = -1
[env.both.watch]
count = 5
duration = "5m"
"#;
    assert_eq!(
        problems(text, "bad"),
        [
            "gate.toml:3:12: env.bad.watch.interval: `soon` is not a duration (try 500ms, 10s, \
             5m, 1h)",
            "gate.toml:4:9: env.bad.watch.count: 0 rounds is out of range (1 to 100000)",
            "gate.toml:5:17: env.bad.watch.failure_limit: -1 rounds is out of range (0 to \
             4294967295)",
        ]
    );
    assert_eq!(
        one_problem(text, "both"),
        "gate.toml:8:12: env.both.watch.duration: set `count` or `duration`, not both: the \
         window is N rounds, or as many intervals as fit in a time"
    );
    // The window as merged: the top level's duration at the environment's
    // interval.
    let text = "[watch]\nduration = \"24h\"\n[env.fast]\nwatch.interval = \"100ms\"\n";
    assert_eq!(
        one_problem(text, "fast"),
        "gate.toml:2:12: watch.duration: a 24h window with a round every 100ms is 864000 \
         rounds, more than the 100000 a window may have: lengthen the interval or shorten the \
         duration"
    );
    let error = parse_error("[watch]\nintervall = \"1s\"\n");
    assert!(
        error.starts_with(
            "gate.toml:2:1: watch.intervall: unknown key `intervall` (did you mean `interval`?)"
        ),
        "{error}"
    );
}

#[test]
fn the_rollback_command_runs_beside_its_file_and_an_empty_one_cancels_the_top_levels() {
    use crate::watch::RollbackCommand;
    let text = r#"
[watch]
on_rollback = "./rollback.sh"
[env.stage]
[env.prod.watch]
on_rollback = "./prod-rollback.sh --now"
[env.local.watch]
on_rollback = ""
"#;
    let in_ci = Config::parse(Path::new("ci/gate.toml"), text.to_owned()).unwrap();
    let hook = |config: &Config, env: &str| {
        config
            .environment(env)
            .unwrap()
            .settings
            .watch
            .on_rollback
            .map(|s| (s.value, s.at.key))
    };
    assert_eq!(
        hook(&in_ci, "stage"),
        Some((
            Some(RollbackCommand {
                command: "./rollback.sh".into(),
                dir: Some(PathBuf::from("ci")),
            }),
            "watch.on_rollback".into()
        ))
    );
    assert_eq!(
        hook(&in_ci, "prod"),
        Some((
            Some(RollbackCommand {
                command: "./prod-rollback.sh --now".into(),
                dir: Some(PathBuf::from("ci")),
            }),
            "env.prod.watch.on_rollback".into()
        ))
    );
    assert_eq!(
        hook(&in_ci, "local"),
        Some((None, "env.local.watch.on_rollback".into()))
    );
    // A file found in the current directory: the command runs there.
    let here = config(text);
    assert_eq!(
        hook(&here, "stage").and_then(|(hook, _)| hook),
        Some(RollbackCommand {
            command: "./rollback.sh".into(),
            dir: None,
        })
    );

    let bad = "[env.bad.watch]\non_rollback = \"rollback\\u0000.sh\"\n";
    assert_eq!(
        one_problem(bad, "bad"),
        "gate.toml:2:15: env.bad.watch.on_rollback: holds a NUL character, which no shell \
         command can"
    );
    let error = parse_error("[watch]\non_rollback = 1\n");
    assert!(
        error.starts_with("gate.toml:2:15: watch.on_rollback:"),
        "{error}"
    );
}

#[test]
fn the_rollback_timeout_is_a_duration_an_environment_may_change() {
    let text = r#"
[watch]
rollback_timeout = "2m"
[env.stage]
[env.prod.watch]
rollback_timeout = "30m"
[env.bad.watch]
rollback_timeout = "0s"
"#;
    let timeout = |env: &str| {
        config(text)
            .environment(env)
            .unwrap()
            .settings
            .watch
            .rollback_timeout
            .map(|s| (s.value, s.at.key))
    };
    assert_eq!(
        timeout("stage"),
        Some((Duration::from_secs(120), "watch.rollback_timeout".into()))
    );
    assert_eq!(
        timeout("prod"),
        Some((
            Duration::from_secs(1800),
            "env.prod.watch.rollback_timeout".into()
        ))
    );
    assert_eq!(
        one_problem(text, "bad"),
        "gate.toml:8:20: env.bad.watch.rollback_timeout: `0s` is out of range (must be at least \
         1ms and at most a year)"
    );
}

/// Environment names are kept to what every output shows as written: a
/// table named `*` (the stats' total), with a space or an escape, or empty,
/// is refused where it is written.
#[test]
fn environment_names_are_plain() {
    for (text, column) in [
        ("[env.\"*\"]\n", 6),
        ("[env.\"a b\"]\n", 6),
        ("[env.ok]\n[env.\"x\\u001b[2J\"]\n", 6),
        ("[env.\"\"]\n", 6),
        ("[env.-x]\n", 6),
    ] {
        let error = parse_error(text);
        let line = if text.starts_with("[env.ok]") { 2 } else { 1 };
        assert!(
            error.starts_with(&format!("gate.toml:{line}:{column}: env: "))
                && error.contains("is not an environment name: use at most 64 letters, digits"),
            "{text:?}: {error}"
        );
        assert!(!error.contains('\u{1b}'), "{error}");
    }
    for name in ["prod", "stage-eu", "qa_2", "v1-2", "0"] {
        assert_eq!(super::env_name_problem(name), None, "{name}");
    }
    // A dotted name would be a table in a table: `[env.eu.prod]`.
    assert!(super::env_name_problem("eu.prod").is_some());
    assert!(super::env_name_problem(&"a".repeat(65)).is_some());
    assert!(super::env_name_problem(&"a".repeat(64)).is_none());
}
