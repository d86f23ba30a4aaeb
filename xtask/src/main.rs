//! Project tasks: `cargo xtask build | demo | test | lint`.
//!
//! Guests need the `wasm32-wasip2` target and a different profile from the
//! host, which plain `cargo build` cannot express; this is the one place that
//! knows how to build and stage everything.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail, ensure};
use gate_demo::prometheus::{Prometheus, Traffic};
use gate_demo::{Config, Faults, Server};

const WASM_TARGET: &str = "wasm32-wasip2";
const GUEST_PROFILE: &str = "guest";

/// Shipped guests: (package, crate file stem, where the .wasm goes).
const SHIPPED: &[(&str, &str, &str)] = &[
    ("gate-policy-prod", "gate_policy_prod", "policies/prod.wasm"),
    (
        "gate-policy-rollback",
        "gate_policy_rollback",
        "policies/rollback.wasm",
    ),
    (
        "gate-policy-bluegreen",
        "gate_policy_bluegreen",
        "policies/bluegreen.wasm",
    ),
    ("gate-policy-api", "gate_policy_api", "smoke/api.wasm"),
];
/// Guests only the tests use.
const TEST_GUESTS: &[(&str, &str)] = &[
    ("gate-policy-hostile", "gate_policy_hostile"),
    ("gate-policy-promql", "gate_policy_promql"),
    ("gate-policy-fetch", "gate_policy_fetch"),
    ("gate-policy-bench", "gate_policy_bench"),
    ("gate-policy-tls", "gate_policy_tls"),
    ("gate-policy-advisory", "gate_policy_advisory"),
];

const USAGE: &str = "usage: cargo xtask <command>

commands:
  build   build `gate` (release) and every shipped policy (policies/prod.wasm, smoke/api.wasm)
  demo    build, start the sample service and show a passing and a failing verdict
  image   build the sample service as a FROM scratch image, tagged gate-sample:dev
  test    build every guest, run the whole test suite, then each fuzz target for 45 s
          (extra arguments go to cargo test as a filter; then fuzzing is skipped)
  lint    rustfmt check, clippy (native and wasm32-wasip2, warnings as errors), guest-sdk/wit equals wit/
  wit     copy wit/ (the contract's source of truth) to guest-sdk/wit/, the SDK's own copy";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build(),
        Some("demo") => demo(),
        Some("image") => image(),
        Some("test") => test(&args[1..]),
        Some("lint") => lint(),
        Some("wit") => sync_wit(true),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

fn run(command: &mut Command) -> Result<()> {
    eprintln!("xtask: running {command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    ensure!(status.success(), "{command:?} failed with {status}");
    Ok(())
}

/// Installs the wasm target if missing: rustup first, then the offline copy
/// kept in ../shared/toolchain.
fn ensure_wasm_target() -> Result<()> {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("cannot run rustc")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot
        .join("lib/rustlib")
        .join(WASM_TARGET)
        .join("lib")
        .is_dir()
    {
        return Ok(());
    }
    let rustup = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status();
    if rustup.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    let script = root().join("../shared/toolchain/install-wasm-target.sh");
    if script.is_file() {
        return run(Command::new("bash").arg(script));
    }
    bail!("the {WASM_TARGET} target is missing: install it with `rustup target add {WASM_TARGET}`")
}

/// gate-sdk builds from its own copy of the WIT, so that it builds from its
/// own directory; `wit/` is the one source of truth. `write` copies it over
/// the SDK's copy; otherwise a difference is an error.
fn sync_wit(write: bool) -> Result<()> {
    let read = |dir: &Path| -> Result<std::collections::BTreeMap<String, String>> {
        let mut files = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "wit") {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                files.insert(name, std::fs::read_to_string(&path)?);
            }
        }
        Ok(files)
    };
    let (source, copy) = (root().join("wit"), root().join("guest-sdk/wit"));
    let wanted = read(&source)?;
    if read(&copy)? == wanted {
        return Ok(());
    }
    ensure!(
        write,
        "guest-sdk/wit differs from wit/: run `cargo xtask wit` to copy wit/ over it"
    );
    std::fs::remove_dir_all(&copy).with_context(|| format!("remove {}", copy.display()))?;
    std::fs::create_dir_all(&copy)?;
    for (name, text) in &wanted {
        std::fs::write(copy.join(name), text)?;
    }
    eprintln!("xtask: copied wit/ to guest-sdk/wit/");
    Ok(())
}

fn build_guests(packages: &[&str]) -> Result<PathBuf> {
    sync_wit(true)?;
    ensure_wasm_target()?;
    let mut command = cargo();
    command.args(["build", "--target", WASM_TARGET, "--profile", GUEST_PROFILE]);
    for package in packages {
        command.args(["-p", package]);
    }
    run(&mut command)?;
    Ok(target_dir().join(WASM_TARGET).join(GUEST_PROFILE))
}

/// Builds the shipped guests and copies them to where users expect them.
fn stage_shipped_guests() -> Result<()> {
    let packages: Vec<&str> = SHIPPED.iter().map(|(p, _, _)| *p).collect();
    let out = build_guests(&packages)?;
    for (_, stem, dest) in SHIPPED {
        let from = out.join(format!("{stem}.wasm"));
        let to = root().join(dest);
        std::fs::copy(&from, &to)
            .with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
        eprintln!("xtask: wrote {dest}");
    }
    Ok(())
}

fn build() -> Result<()> {
    stage_shipped_guests()?;
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "gate-host",
        "--bin",
        "gate",
        "-p",
        "gate-demo",
        "--bin",
        "sample-service",
    ]))?;
    eprintln!(
        "xtask: gate is at {}",
        target_dir().join("release/gate").display()
    );
    Ok(())
}

fn test(extra: &[String]) -> Result<()> {
    // The metrics tests need a real Prometheus: the second quickstart
    // command works on a fresh machine whether or not the demo ran first.
    run(Command::new("bash").arg(root().join("scripts/install-prometheus.sh")))?;
    stage_shipped_guests()?;
    let test_packages: Vec<&str> = TEST_GUESTS.iter().map(|(p, _)| *p).collect();
    let out = build_guests(&test_packages)?;
    let service = build_static_service(false)?;
    // The end-to-end tests drive the real binary, so build it first. With
    // --workspace, features unify as they do for `cargo test --workspace`
    // below, so wasmtime is compiled once, not twice.
    run(cargo().args(["build", "--workspace", "--bin", "gate"]))?;
    let mut command = cargo();
    command
        // The benchmark baselines (regorus, a native client) are built by
        // bench/compare.sh only.
        .args(["test", "--workspace", "--exclude", "gate-bench"])
        .args(extra)
        .env("GATE_BIN", target_dir().join("debug/gate"))
        .env("GATE_TEST_GUESTS", &out)
        .env("GATE_TEST_SERVICE_STATIC", &service);
    run(&mut command)?;
    // The whole suite ends with each fuzz target run for a short, bounded
    // time (issue #7), from a fixed seed so that the same commit passes or
    // fails the same way everywhere; a filtered run (`cargo xtask test --
    // NAME`) is for iterating on some tests and skips it.
    if extra.is_empty() {
        run(Command::new("bash")
            .args(["scripts/fuzz.sh", FUZZ_SECONDS])
            .env("FUZZ_SEED", FUZZ_SEED)
            .current_dir(root()))?;
    }
    Ok(())
}

/// Seconds each fuzz target runs at the end of `cargo xtask test`.
const FUZZ_SECONDS: &str = "45";

/// libFuzzer seed of that run (see scripts/fuzz.sh).
const FUZZ_SEED: &str = "1";

/// The sample service as one static binary (glibc, crt-static), for
/// `FROM scratch` images. Built for the host's own target triple so that
/// no other target has to be installed, and so that RUSTFLAGS reach only
/// this binary, not build scripts or the host's other builds.
fn build_static_service(release: bool) -> Result<PathBuf> {
    let version = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("cannot run rustc")?;
    let version = String::from_utf8_lossy(&version.stdout);
    let host = version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .context("rustc -vV names no host triple")?
        .trim()
        .to_owned();
    ensure!(
        host.ends_with("-linux-gnu"),
        "the static sample service is built for *-linux-gnu hosts; this one is {host}"
    );
    let mut command = cargo();
    command
        .args([
            "build",
            "-p",
            "gate-demo",
            "--bin",
            "sample-service",
            "--target",
            &host,
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static");
    if release {
        command.arg("--release");
    }
    run(&mut command)?;
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir().join(host).join(profile).join("sample-service"))
}

/// `gate-sample:dev`: the sample service in a `FROM scratch` image.
fn image() -> Result<()> {
    let binary = build_static_service(true)?;
    let context = root().join("demo/container");
    let copy = context.join("sample-service");
    std::fs::copy(&binary, &copy)
        .with_context(|| format!("copy {} to {}", binary.display(), copy.display()))?;
    run(Command::new("docker")
        .args(["build", "-t", "gate-sample:dev"])
        .arg(&context))?;
    eprintln!(
        "xtask: built gate-sample:dev; start it with docker-compose -f demo/docker-compose.yml up -d"
    );
    Ok(())
}

fn lint() -> Result<()> {
    sync_wit(false)?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    ensure_wasm_target()?;
    let mut command = cargo();
    command.args(["clippy", "--target", WASM_TARGET]);
    for (package, _, _) in SHIPPED {
        command.args(["-p", package]);
    }
    for (package, _) in TEST_GUESTS {
        command.args(["-p", package]);
    }
    run(command.args(["--", "-D", "warnings"]))
}

/// The quickstart: a healthy stack passes the gate, a faulty one fails it,
/// on HTTP checks and on Prometheus's view of the same traffic.
fn demo() -> Result<()> {
    build()?;
    let prometheus_ready =
        run(Command::new("bash").arg(root().join("scripts/install-prometheus.sh"))).is_ok();
    let gate = target_dir().join("release/gate");
    let service = Server::start(0, Config::default()).context("cannot start the sample service")?;
    let target = service.url();
    println!("sample service listening on {target}");
    let prometheus = if prometheus_ready {
        let prometheus = Prometheus::start(&[service.addr()]);
        println!(
            "Prometheus listening on {}, scraping the sample service every second",
            prometheus.url()
        );
        Some(prometheus)
    } else {
        println!("Prometheus is not installed: the metric checks will be skipped");
        None
    };
    // Background traffic, as a live service has: Prometheus needs some to
    // compute rates.
    let traffic = Traffic::start(service.addr(), "/api/v1/products");
    let wait_for_rates = |promql: &str, accept: fn(f64) -> bool| {
        if let Some(prometheus) = &prometheus {
            prometheus.wait_for(promql, accept);
        }
    };
    let gate_run = |label: &str| -> Result<i32> {
        let mut args = vec![
            "run",
            "smoke/api.wasm",
            "policies/prod.wasm",
            "--target",
            &target,
        ];
        let prometheus_url = prometheus.as_ref().map(Prometheus::url);
        if let Some(url) = &prometheus_url {
            args.extend(["--prometheus", url, "--param", "window=30s"]);
        }
        println!("\n=== {label} ===\n$ gate {}\n", args.join(" "));
        let status = Command::new(&gate)
            .current_dir(root())
            .args(&args)
            .env("GATE_SECRET_API_TOKEN", "demo-token")
            .status()
            .context("cannot run gate")?;
        let code = status.code().unwrap_or(-1);
        println!("\n(gate exited {code})");
        Ok(code)
    };

    wait_for_rates("sum(rate(http_requests_total[30s]))", |rate| rate > 0.0);
    let healthy = gate_run("healthy stack: expect PASS")?;

    println!("\n$ curl -X PUT {target}/admin/faults -d '{{\"error_rate\":0.3}}'");
    service.set_faults(Faults {
        error_rate: 0.3,
        ..Faults::default()
    });
    wait_for_rates(
        r#"(sum(rate(http_requests_total{status=~"5.."}[30s])) or vector(0)) / sum(rate(http_requests_total[30s]))"#,
        |ratio| ratio > 0.02,
    );
    let faulty = gate_run("30 % of requests fail with 500: expect FAIL")?;

    // A bake window: healthy at first, then every request fails. The trigger
    // rolls back once the error rate stayed high for its whole window.
    service.set_faults(Faults::default());
    wait_for_rates(
        r#"(sum(rate(http_requests_total{status=~"5.."}[2s])) or vector(0)) / sum(rate(http_requests_total[2s]))"#,
        |ratio| ratio == 0.0,
    );
    let prometheus_url = prometheus.as_ref().map(Prometheus::url);
    let mut args = vec![
        "watch",
        "--interval",
        "1s",
        "--count",
        "15",
        "--on-rollback",
        "echo \"rolling back: $GATE_FAILED_CHECKS\"",
    ];
    match &prometheus_url {
        Some(url) => args.extend([
            "policies/rollback.wasm",
            "--prometheus",
            url,
            "--param",
            "error_window=3s",
            "--param",
            "rate_window=2s",
        ]),
        None => args.extend(["smoke/api.wasm", "--target", &target]),
    }
    println!(
        "\n=== bake window, failures injected after 4 s: expect ROLLBACK ===\n$ gate {}\n",
        args.join(" ")
    );
    let mut watch = Command::new(&gate)
        .current_dir(root())
        .args(&args)
        .env("GATE_SECRET_API_TOKEN", "demo-token")
        .spawn()
        .context("cannot run gate watch")?;
    std::thread::sleep(std::time::Duration::from_secs(4));
    println!("(injecting: every request now answers 500)");
    service.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    let watched = watch.wait().context("gate watch")?.code().unwrap_or(-1);
    println!("\n(gate watch exited {watched})");
    drop(traffic);

    ensure!(
        healthy == 0,
        "the healthy run should pass (exit 0) but exited {healthy}"
    );
    ensure!(
        faulty == 1,
        "the faulty run should fail (exit 1) but exited {faulty}"
    );
    ensure!(
        watched == 1,
        "the watch should roll back (exit 1) but exited {watched}"
    );
    println!(
        "\ndemo: the healthy stack passed (exit 0), the faulty one failed (exit 1), and the bake window rolled back (exit 1)."
    );
    Ok(())
}
