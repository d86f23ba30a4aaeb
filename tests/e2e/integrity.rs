//! Policy integrity (sha256 pins, minisign signatures), limits from flags
//! and gate.toml, and `gate inspect`'s blast radius. A policy that fails
//! its integrity check never runs: exit 2, and the stack sees no request.

use std::path::{Path, PathBuf};

use gate_e2e::{Gate, Outcome, guest, root, stack};

/// A directory of the test's own.
fn workdir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("gate-e2e-integrity-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of a guest in `dir`, to sign or tamper with.
fn copy(name: &str, dir: &Path) -> PathBuf {
    let to = dir.join(format!("{name}.wasm"));
    std::fs::copy(guest(name), &to).unwrap();
    to
}

fn sha256_of(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Flips one bit in the middle of the file.
fn flip_one_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(path, bytes).unwrap();
}

fn assert_exit(out: &Outcome, code: i32) {
    assert_eq!(out.code, code, "{}", out.all_output());
}

/// `gate keygen --no-password` in `dir`: (public key, secret key).
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let public = dir.join(format!("{name}.pub"));
    let secret = dir.join(format!("{name}.key"));
    let out = Gate::new(["keygen", "--no-password", "--public-key"])
        .arg(&public)
        .arg("--secret-key")
        .arg(&secret)
        .run();
    assert_exit(&out, 0);
    (public, secret)
}

fn sign(policy: &Path, secret: &Path) {
    let out = Gate::new(["sign"])
        .arg(policy)
        .arg("--secret-key")
        .arg(secret)
        .run();
    assert_exit(&out, 0);
}

/// `gate run POLICY --target …` against a fresh stack; returns the outcome
/// and how many requests the stack served.
fn run_against_stack(policy: &Path, extra: &[&str]) -> (Outcome, u64) {
    let stack = stack();
    let out = Gate::new(["run"])
        .arg(policy)
        .target(&stack.url())
        .env("GATE_SECRET_API_TOKEN", gate_e2e::API_TOKEN)
        .args(extra)
        .run();
    (out, stack.requests_served())
}

#[test]
fn sha256_flag_runs_the_pinned_policy_and_refuses_a_tampered_one() {
    let dir = workdir("sha-flag");
    let policy = copy("api", &dir);
    let digest = sha256_of(&policy);

    let (out, served) = run_against_stack(&policy, &["--sha256", &digest]);
    assert_exit(&out, 0);
    assert!(served > 0);

    flip_one_byte(&policy);
    let (out, served) = run_against_stack(&policy, &["--sha256", &format!("sha256:{digest}")]);
    assert_exit(&out, 2);
    assert_eq!(served, 0, "nothing of a tampered policy may run");
    let actual = sha256_of(&policy);
    assert!(
        out.stderr.contains(&format!(
            "sha256 does not match the pin (--sha256): expected {digest}, the file has {actual}"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was run"), "{}", out.stderr);
}

#[test]
fn sha256_flags_with_several_policies_name_their_policy() {
    let dir = workdir("sha-several");
    let api = copy("api", &dir);
    let prod = copy("prod", &dir);
    let digest = sha256_of(&api);

    let out = Gate::new(["run"])
        .arg(&api)
        .arg(&prod)
        .args(["--sha256", &digest])
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("is ambiguous: this run has 2 policies"),
        "{}",
        out.stderr
    );

    // PATH=HEX pins one policy: the other's digest does not match.
    let (out, served) = run_against_stack(
        &api,
        &[
            "--sha256",
            &format!("{}={}", api.display(), sha256_of(&prod)),
        ],
    );
    assert_exit(&out, 2);
    assert_eq!(served, 0);
    assert!(
        out.stderr.contains("does not match the pin"),
        "{}",
        out.stderr
    );

    let out = Gate::new(["run"])
        .arg(&api)
        .args(["--sha256", &format!("{}={digest}", prod.display())])
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("is not one of the policies of this run"),
        "{}",
        out.stderr
    );
}

#[test]
fn keygen_sign_verify_and_run_with_a_verify_key() {
    let dir = workdir("signed");
    let (public, secret) = keygen(&dir, "team");
    let policy = copy("api", &dir);
    sign(&policy, &secret);
    let signature = dir.join("api.wasm.minisig");
    let text = std::fs::read_to_string(&signature).unwrap();
    assert!(
        text.starts_with("untrusted comment: signature from gate secret key\n"),
        "{text}"
    );
    assert!(text.contains("\ntrusted comment: timestamp:"), "{text}");

    let out = Gate::new(["verify"])
        .arg(&policy)
        .arg("--verify-key")
        .arg(&public)
        .args(["--format", "json"])
        .run();
    assert_exit(&out, 0);
    let verified = out.json();
    assert_eq!(verified["sha256"], sha256_of(&policy));
    assert!(
        verified["signature"]["trusted_comment"]
            .as_str()
            .unwrap()
            .contains("file:api.wasm"),
        "{verified}"
    );

    let (out, served) = run_against_stack(&policy, &["--verify-key", public.to_str().unwrap()]);
    assert_exit(&out, 0);
    assert!(served > 0);

    // The standard tool reads what gate wrote, when it is installed (CI
    // installs it).
    let minisign = std::process::Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(&public)
        .arg("-m")
        .arg(&policy)
        .output();
    match minisign {
        Ok(output) => assert!(
            output.status.success(),
            "minisign -V refused gate's signature: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("minisign is not installed ({e}): skipping the check with the tool")
        }
        Err(e) => panic!("minisign is not installed on CI: {e}"),
    }

    // One byte flipped after signing: refused before anything runs.
    flip_one_byte(&policy);
    let (out, served) = run_against_stack(&policy, &["--verify-key", public.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert_eq!(served, 0);
    assert!(
        out.stderr.contains(&format!(
            "signature {} does not match the file (sha256 {})",
            signature.display(),
            sha256_of(&policy)
        )),
        "{}",
        out.stderr
    );
    let out = Gate::new(["verify"])
        .arg(&policy)
        .arg("--verify-key")
        .arg(&public)
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("was changed after it was signed"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_wrong_key_or_no_signature_is_refused() {
    let dir = workdir("wrong-key");
    let (_, secret) = keygen(&dir, "team");
    let (other, _) = keygen(&dir, "other");
    let policy = copy("api", &dir);

    // Unsigned while a key is required: no fail-open.
    let (out, served) = run_against_stack(&policy, &["--verify-key", other.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert_eq!(served, 0);
    assert!(
        out.stderr
            .contains(&format!("policy {} is not signed", policy.display())),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("api.wasm.minisig does not exist"),
        "{}",
        out.stderr
    );

    sign(&policy, &secret);
    let (out, served) = run_against_stack(&policy, &["--verify-key", other.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert_eq!(served, 0);
    let other_id = std::fs::read_to_string(&other).unwrap();
    let other_id = other_id.lines().next().unwrap().rsplit(' ').next().unwrap();
    assert!(
        out.stderr.contains(&format!(
            "not with the trusted key {other_id} (--verify-key)"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_signature_made_by_the_minisign_tool_verifies() {
    let fixtures = root().join("tests/fixtures");
    let policy = fixtures.join("hostile-wit-0.1.0.wasm");
    for key in [
        fixtures.join("minisign.pub").display().to_string(),
        // The key itself, as `minisign -P` takes it.
        "RWT102q6shy4U2btRkTeqTzEoD6DmOkUGJC1VhNyzCqt8drvD29WBaP2".to_owned(),
    ] {
        let out = Gate::new(["verify"])
            .arg(&policy)
            .args(["--verify-key", &key])
            .run();
        assert_exit(&out, 0);
        assert!(
            out.stdout.contains("(good, by key 53B81CB2BA6AD3F5)"),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .contains("trusted comment  signed with the minisign tool for gate's interop test"),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn an_environment_with_a_key_refuses_unsigned_policies() {
    let dir = workdir("env-key");
    let (public, secret) = keygen(&dir, "team");
    let signed = copy("api", &dir);
    sign(&signed, &secret);
    let unsigned = copy("prod", &dir);
    let stack = stack();
    std::fs::write(
        dir.join("gate.toml"),
        format!(
            "default_env = \"ci\"\nverify_key = \"team.pub\"\n[env.ci]\ntarget = \"{}\"\nsecrets.api_token = {{ required = false }}\npolicies = [\"api.wasm\", \"prod.wasm\"]\n",
            stack.url()
        ),
    )
    .unwrap();
    let _ = public;

    let out = Gate::new(["run"]).current_dir(&dir).run();
    assert_exit(&out, 2);
    assert_eq!(
        stack.requests_served(),
        0,
        "the signed policy did not run either"
    );
    assert!(
        out.stderr.contains(
            "prod.wasm is not signed: gate.toml:2:14 verify_key requires a minisign signature"
        ),
        "{}",
        out.stderr
    );

    // `gate config check` finds it before the deploy that needs it.
    let out = Gate::new(["config", "check"]).current_dir(&dir).run();
    assert_exit(&out, 2);
    assert!(out.stderr.contains("is not signed"), "{}", out.stderr);

    sign(&unsigned, &secret);
    let out = Gate::new(["run"])
        .current_dir(&dir)
        .env("GATE_SECRET_API_TOKEN", gate_e2e::API_TOKEN)
        .run();
    assert_exit(&out, 0);
    let _ = unsigned;
}

#[test]
fn a_policy_entry_names_its_signature_and_key() {
    let dir = workdir("entry-key");
    let (_, secret) = keygen(&dir, "team");
    let policy = copy("api", &dir);
    sign(&policy, &secret);
    std::fs::rename(dir.join("api.wasm.minisig"), dir.join("api.sig")).unwrap();
    let stack = stack();
    let write = |entry: &str| {
        std::fs::write(
            dir.join("gate.toml"),
            format!(
                "[env.ci]\ntarget = \"{}\"\nsecrets.api_token = {{ required = false }}\npolicies = [{entry}]\n",
                stack.url()
            ),
        )
        .unwrap()
    };
    write(r#"{ path = "api.wasm", signature = "api.sig", verify_key = "team.pub" }"#);
    let out = Gate::new(["run", "--env", "ci"])
        .current_dir(&dir)
        .env("GATE_SECRET_API_TOKEN", gate_e2e::API_TOKEN)
        .run();
    assert_exit(&out, 0);

    // A signature with no key to check it is a mistake, not a pass.
    write(r#"{ path = "api.wasm", signature = "api.sig" }"#);
    let out = Gate::new(["run", "--env", "ci"]).current_dir(&dir).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("names the signature") && out.stderr.contains("no key to check it"),
        "{}",
        out.stderr
    );
}

#[test]
fn limits_come_from_flags_and_gate_toml() {
    let hostile = guest("hostile");
    let out = Gate::new(["run"])
        .arg(&hostile)
        .json()
        .args([
            "--timeout",
            "1s",
            "--limit",
            "host_calls=50",
            "--limit",
            "wasm_stack=128KiB",
        ])
        .run();
    assert_exit(&out, 1);
    let flood = out.check("hostile", "flood");
    assert_eq!(flood["error"], "host-call-limit", "{flood}");
    assert!(
        flood["message"]
            .as_str()
            .unwrap()
            .contains("more than 50 host calls"),
        "{flood}"
    );
    let recurse = out.check("hostile", "recurse");
    assert!(
        recurse["message"]
            .as_str()
            .unwrap()
            .contains("more than 128 KiB of wasm stack"),
        "{recurse}"
    );

    let dir = workdir("limits");
    std::fs::write(
        dir.join("gate.toml"),
        "[limits]\nhost_calls = 70\n[env.ci]\ntimeout = \"1s\"\n[env.small]\nlimits.wasm_size = \"1KiB\"\n[env.bad]\nlimits.host_calls = 0\n",
    )
    .unwrap();
    let out = Gate::new(["run", "--env", "ci", "--format", "json"])
        .arg(&hostile)
        .current_dir(&dir)
        .run();
    assert_exit(&out, 1);
    let flood = out.check("hostile", "flood");
    assert!(
        flood["message"]
            .as_str()
            .unwrap()
            .contains("more than 70 host calls"),
        "{flood}"
    );

    // A flag wins over the file.
    let out = Gate::new([
        "run",
        "--env",
        "ci",
        "--format",
        "json",
        "--limit",
        "host_calls=60",
    ])
    .arg(&hostile)
    .current_dir(&dir)
    .run();
    let flood = out.check("hostile", "flood");
    assert!(
        flood["message"]
            .as_str()
            .unwrap()
            .contains("more than 60 host calls"),
        "{flood}"
    );

    let out = Gate::new(["run", "--env", "small"])
        .arg(&hostile)
        .current_dir(&dir)
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("over the 1 KiB limit for .wasm files"),
        "{}",
        out.stderr
    );

    let out = Gate::new(["run", "--env", "bad"])
        .arg(&hostile)
        .current_dir(&dir)
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("gate.toml:8:21: env.bad.limits.host_calls: `0` is out of range for host_calls: 1 to 100000000"),
        "{}",
        out.stderr
    );

    let out = Gate::new(["run", "--limit", "wasm_stack=64MiB"])
        .arg(&hostile)
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("`64MiB` is out of range for wasm_stack: 64 KiB to 1 MiB"),
        "{}",
        out.stderr
    );
}

#[test]
fn inspect_shows_what_the_environment_would_grant() {
    let prod = guest("prod");
    let out = Gate::new(["inspect", "--format", "json"]).arg(&prod).run();
    assert_exit(&out, 0);
    let inspection = out.json();
    let grants = &inspection["grants"];
    assert_eq!(grants["source"], "flags");
    let capability = |grants: &serde_json::Value, name: &str| {
        grants["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["capability"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {grants}"))
    };
    let http = capability(grants, "http");
    assert_eq!(http["imported"], true, "{http}");
    assert_eq!(http["granted"], false, "{http}");
    assert_eq!(
        http["needed_by"],
        serde_json::json!(["ready", "latency", "error-rate"])
    );
    assert_eq!(
        grants["skipped_checks"].as_array().unwrap().len(),
        9,
        "nothing is granted: every check would be skipped: {grants}"
    );

    let out = Gate::new([
        "inspect",
        "--format",
        "json",
        "--target",
        "https://stage.example.com",
        "--allow-host",
        "auth.example.com",
        "--prometheus",
        "http://127.0.0.1:9090",
    ])
    .arg(&prod)
    .run();
    assert_exit(&out, 0);
    let grants = &out.json()["grants"];
    let http = capability(grants, "http");
    assert_eq!(http["granted"], true, "{http}");
    assert_eq!(
        http["reaches"],
        serde_json::json!(["https://stage.example.com:443 (target)", "auth.example.com"])
    );
    let metrics = capability(grants, "metrics");
    assert_eq!(
        metrics["reaches"],
        serde_json::json!(["http://127.0.0.1:9090/"])
    );
    // No --docker: the container checks would be skipped, and say so.
    assert_eq!(
        grants["skipped_checks"],
        serde_json::json!(["containers", "image-tag", "resources"])
    );

    // From gate.toml's environment, in the human form a reviewer reads.
    let dir = workdir("inspect");
    std::fs::write(
        dir.join("gate.toml"),
        "[env.stage]\ntarget = \"https://stage.example.com\"\nsecrets.api_token = {}\n",
    )
    .unwrap();
    let out = Gate::new(["inspect", "--env", "stage"])
        .arg(&prod)
        .current_dir(&dir)
        .run();
    assert_exit(&out, 0);
    assert!(
        out.stdout.contains("grants    env `stage` ("),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("  http      imported      GRANTED: https://stage.example.com:443 (target)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  metrics   imported      not granted"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("secrets api_token"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("skipped   metrics-error-rate, metrics-p95"),
        "{}",
        out.stdout
    );

    let out = Gate::new(["inspect", "--env", "nope"])
        .arg(&prod)
        .current_dir(&dir)
        .run();
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("has no environment `nope`"),
        "{}",
        out.stderr
    );
}

/// A secret key handed over through a pipe, never written to disk (`<(vault
/// kv get …)`), signs as the file does; a device is read only to its cap.
#[test]
fn a_secret_key_can_come_through_a_pipe() {
    let dir = workdir("piped-key");
    let (public, secret) = keygen(&dir, "piped");
    let policy = copy("api", &dir);
    let gate = std::env::var("GATE_BIN").expect("GATE_BIN is set");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#""$0" sign "$1" --secret-key <(cat "$2")"#)
        .arg(&gate)
        .arg(&policy)
        .arg(&secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified = Gate::new(["verify"])
        .arg(&policy)
        .arg("--verify-key")
        .arg(&public)
        .run();
    assert_exit(&verified, 0);

    let endless = Gate::new(["sign"])
        .arg(&policy)
        .args(["--secret-key", "/dev/zero"])
        .run();
    assert_exit(&endless, 2);
    assert!(
        endless.stderr.contains(
            "cannot read the secret key /dev/zero: it holds more, over the 65536-byte cap"
        ),
        "{}",
        endless.stderr
    );
}

/// A signature names the file it was made for (`file:` in its trusted
/// comment): another policy the same key signed, moved in under a signed
/// policy's name with its signature, is refused before anything runs.
#[test]
fn a_signed_policy_swapped_in_under_another_name_is_refused() {
    let dir = workdir("swapped");
    let (public, secret) = keygen(&dir, "team");
    let prod = copy("prod", &dir);
    let api = copy("api", &dir);
    sign(&prod, &secret);
    sign(&api, &secret);
    let key = public.to_str().unwrap();
    let (out, _) = run_against_stack(&prod, &["--verify-key", key, "--param", "samples=1"]);
    assert_ne!(out.code, 2, "{}", out.all_output());

    // The lenient smoke suite, and its good signature, as prod.wasm.
    std::fs::copy(&api, &prod).unwrap();
    std::fs::copy(dir.join("api.wasm.minisig"), dir.join("prod.wasm.minisig")).unwrap();
    let (out, served) = run_against_stack(&prod, &["--verify-key", key]);
    assert_exit(&out, 2);
    assert_eq!(served, 0, "nothing of a swapped policy may run");
    assert!(
        out.stderr.contains(
            "was made for a file named `api.wasm`, not `prod.wasm` (its trusted comment says \
             file:api.wasm); a signed policy cannot be renamed"
        ),
        "{}",
        out.stderr
    );
    let verified = Gate::new(["verify"])
        .arg(&prod)
        .args(["--verify-key", key])
        .run();
    assert_exit(&verified, 2);
    assert!(
        verified.stderr.contains("cannot be renamed"),
        "{}",
        verified.stderr
    );
    // Signed again under its new name, it runs.
    sign(&prod, &secret);
    let (out, served) = run_against_stack(&prod, &["--verify-key", key]);
    assert_exit(&out, 0);
    assert!(served > 0);
}

/// `gate config check` stops each policy where a run would (read, pin,
/// component, signature), and one it stopped on is not taken for a policy
/// with no blocking check: the env's advice-only policy is then no reason
/// to say that every run ends inconclusive.
#[test]
fn config_check_stops_a_policy_where_a_run_would() {
    let dir = workdir("check-order");
    copy("prod", &dir);
    copy("advisory", &dir);
    std::fs::write(dir.join("junk.wasm"), b"not a component").unwrap();
    let zeros = "0".repeat(64);
    std::fs::write(
        dir.join("gate.toml"),
        format!(
            "[env.pinned]\ntarget = \"http://127.0.0.1:9/\"\npolicies = [\n  {{ path = \"prod.wasm\", sha256 = \"{zeros}\" }},\n  \"advisory.wasm\",\n]\n\n[env.junk]\ntarget = \"http://127.0.0.1:9/\"\npolicies = [\"junk.wasm\", \"advisory.wasm\"]\n"
        ),
    )
    .unwrap();
    let out = Gate::new(["config", "check"]).current_dir(&dir).run();
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("gate.toml:4:34: env.pinned.policies[0].sha256: policy prod.wasm:")
            && out.stderr.contains("sha256 does not match the pin"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("gate.toml:10:13: env.junk.policies[0]: policy")
            && out.stderr.contains("junk.wasm is not a WebAssembly file"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("has a blocking check"),
        "{}",
        out.stderr
    );
}
