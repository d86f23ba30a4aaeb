//! Policies that cannot be loaded end the run with exit 2 and say why.

use std::path::{Path, PathBuf};

use gate_e2e::{Gate, Outcome, guest, stack};

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gate-e2e-loading-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn run(path: &Path) -> Outcome {
    let stack = stack();
    let out = Gate::new(["run"]).arg(path).target(&stack.url()).run();
    assert_eq!(
        stack.requests_served(),
        0,
        "nothing may run when the policy does not load"
    );
    out
}

#[test]
fn malformed_bytes() {
    let out = run(&write("garbage.wasm", b"this is not wasm at all"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not a WebAssembly file"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("garbage.wasm"));
}

#[test]
fn truncated_component() {
    let mut bytes = std::fs::read(gate_e2e::guest("prod")).unwrap();
    bytes.truncate(bytes.len() / 2);
    let out = run(&write("truncated.wasm", &bytes));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("not a valid WebAssembly component"),
        "{}",
        out.stderr
    );
}

#[test]
fn core_module() {
    let module = wat::parse_str(r#"(module (func (export "run-check")))"#).unwrap();
    let out = run(&write("core.wasm", &module));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("core WebAssembly module, not a component"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("wasm32-wasip2"),
        "says how to fix it: {}",
        out.stderr
    );
}

#[test]
fn component_of_another_world() {
    let component = wat::parse_str(
        r#"(component
            (core module $m (func (export "hello")))
            (core instance $i (instantiate $m))
            (func (export "hello") (canon lift (core func $i "hello"))))"#,
    )
    .unwrap();
    let out = run(&write("other-world.wasm", &component));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("another world"), "{}", out.stderr);
    assert!(
        out.stderr.contains("gate:policy/checks@0.1.3"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hello"),
        "names what it does export: {}",
        out.stderr
    );
}

#[test]
fn policy_built_for_another_wit_version() {
    let component = wat::parse_str(
        r#"(component
            (core module $m (func (export "describe")))
            (core instance $i (instantiate $m))
            (func $describe (canon lift (core func $i "describe")))
            (instance $checks (export "describe" (func $describe)))
            (export "gate:policy/checks@0.9.0" (instance $checks)))"#,
    )
    .unwrap();
    let out = run(&write("future.wasm", &component));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("built for gate:policy@0.9.0"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("0.1.x"), "{}", out.stderr);
}

/// A policy of a later patch of this contract that calls a function this
/// gate does not have: the link fails, and says that gate is the older one.
#[test]
fn policy_of_a_later_patch_needing_what_gate_lacks() {
    let component = wat::parse_str(
        r#"(component
            (import "gate:policy/context@0.1.99" (instance $ctx
                (export "from-the-future" (func))))
            (core module $m (func (export "describe")))
            (core instance $i (instantiate $m))
            (func $describe (canon lift (core func $i "describe")))
            (instance $checks (export "describe" (func $describe)))
            (export "gate:policy/checks@0.1.99" (instance $checks)))"#,
    )
    .unwrap();
    let out = run(&write("later-patch.wasm", &component));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("needs something this gate does not provide"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("from-the-future"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("built for gate:policy@0.1.99, newer than this gate's"),
        "{}",
        out.stderr
    );
}

/// `gate --version` names the contract it runs, the one the shipped
/// policies are built for.
#[test]
fn the_version_names_the_contract() {
    let version = Gate::new(["--version"]).run();
    assert_eq!(version.code, 0, "{}", version.stderr);
    let inspect = Gate::new(["inspect".as_ref(), gate_e2e::guest("prod").as_os_str()])
        .json()
        .run();
    let contract = inspect.json()["wit_version"].as_str().unwrap().to_owned();
    assert!(
        version
            .stdout
            .contains(&format!("(runs policies of gate:policy@{contract})")),
        "{}",
        version.stdout
    );
}

#[test]
fn missing_file() {
    let out = Gate::new(["run", "no/such/policy.wasm"]).run();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("cannot read policy no/such/policy.wasm"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_fifo_or_device_is_refused_not_read() {
    // A FIFO would block gate in `open` with nothing to end the wait;
    // /dev/zero reads as 0 bytes long and never ends.
    let fifo = write("fifo.wasm", b"");
    std::fs::remove_file(&fifo).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        let out = run(path);
        assert_eq!(out.code, 2, "{}", out.all_output());
        assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
    }
    // gate inspect and gate verify read policies the same way.
    let out = Gate::new(["inspect", "/dev/zero"]).run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(out.stderr.contains("not a regular file"), "{}", out.stderr);
}

#[test]
fn oversized_file_is_refused_before_compiling() {
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    bytes.resize(33 << 20, 0);
    let out = run(&write("huge.wasm", &bytes));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("over the 32 MiB limit"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_arguments_exit_2() {
    let out = Gate::new(["run", "x.wasm", "--target", "ftp://example.com"]).run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("http:// or https://"), "{}", out.stderr);
    let out = Gate::new(["run", "x.wasm", "--timeout", "soon"]).run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a duration"), "{}", out.stderr);
    let out = Gate::new(["run", "x.wasm", "--param", "novalue"]).run();
    assert_eq!(out.code, 2);
    let out = Gate::new(["frobnicate"]).run();
    assert_eq!(out.code, 2);
}

/// A policy built against gate:policy@0.1.0, before the metrics interface
/// existed (kept as a binary fixture), still loads and runs: adding
/// interfaces does not break existing policies.
#[test]
fn policies_built_for_an_older_compatible_contract_still_run() {
    let old = gate_e2e::root().join("tests/fixtures/hostile-wit-0.1.0.wasm");
    let stack = stack();
    let out = Gate::new(["run"])
        .arg(&old)
        .target(&stack.url())
        .args(["--timeout", "1s"])
        .json()
        .run();
    assert_eq!(
        out.code, 1,
        "its hostile checks fail the run, but it ran: {}",
        out.stderr
    );
    assert_eq!(out.json()["policies"][0]["wit_version"], "0.1.0");
    assert_eq!(out.check("hostile", "ok")["outcome"], "pass");
    let inspect = Gate::new(["inspect"])
        .arg(&old)
        .args(["--format", "json"])
        .run();
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    assert!(
        inspect.json()["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "gate:policy/http@0.1.0")
    );
}

/// A reader that stops reading (`gate inspect … | head -1`) is not an error
/// of gate's: no message, exit 0.
#[test]
fn a_closed_stdout_is_not_an_error() {
    let mut child = Gate::new(["inspect", "--format", "json"])
        .arg(guest("api"))
        .spawn();
    // The reading end closes before gate has started writing.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}
