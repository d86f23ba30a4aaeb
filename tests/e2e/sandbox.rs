//! Hostile guests: each misbehaving check ends in a precise error while the
//! other checks complete, and the verdict fails closed.

use std::net::TcpListener;

use gate_e2e::stub::Stub;
use gate_e2e::{Gate, Outcome, stack};

/// Runs every check of the hostile policy against a healthy stack, with a
/// JSON report to look into.
fn hostile(extra: &[&str]) -> Outcome {
    let stack = stack();
    Gate::policies(&["hostile"])
        .target(&stack.url())
        .json()
        .args(extra)
        .run()
}

#[test]
fn hostile_checks_error_precisely_and_others_complete() {
    // One listener stands for "a host the policy was not granted": the test
    // asserts it was never connected to.
    let forbidden = TcpListener::bind("127.0.0.1:0").unwrap();
    forbidden.set_nonblocking(true).unwrap();
    let forbidden_url = format!(
        "http://127.0.0.1:{}/steal",
        forbidden.local_addr().unwrap().port()
    );
    let param = format!("forbidden_url={forbidden_url}");
    // The deadline must be well beyond what `flood` needs to reach the
    // host-call limit on a loaded machine, or the deadline stops it first.
    let out = hostile(&[
        "--timeout",
        "10s",
        "--memory-limit",
        "32MiB",
        "--param",
        &param,
    ]);

    assert_eq!(
        out.code, 1,
        "hostile checks are blocking errors, so the gate fails closed"
    );

    assert_eq!(
        out.check("hostile", "ok")["outcome"],
        "pass",
        "a well-behaved check still completes"
    );

    let spin = out.check("hostile", "spin");
    assert_eq!(
        (spin["outcome"].as_str(), spin["error"].as_str()),
        (Some("error"), Some("deadline")),
        "{spin}"
    );
    assert!(
        spin["message"]
            .as_str()
            .unwrap()
            .contains("did not finish within 10.00s"),
        "{spin}"
    );

    let sleepy = out.check("hostile", "sleepy");
    assert_eq!(
        sleepy["error"], "deadline",
        "sleeping inside a host call is bounded too: {sleepy}"
    );

    let hog = out.check("hostile", "hog");
    assert_eq!(hog["error"], "resource-limit", "{hog}");
    assert!(
        hog["message"]
            .as_str()
            .unwrap()
            .contains("memory limit exceeded"),
        "{hog}"
    );
    assert!(hog["message"].as_str().unwrap().contains("32 MiB"), "{hog}");

    let panic = out.check("hostile", "panic");
    assert_eq!(panic["error"], "panic", "{panic}");
    assert!(
        panic["message"].as_str().unwrap().contains("hostile panic"),
        "{panic}"
    );

    let flood = out.check("hostile", "flood");
    assert_eq!(flood["error"], "host-call-limit", "{flood}");

    let denied = out.check("hostile", "forbidden");
    assert_eq!(denied["outcome"], "error", "{denied}");
    let message = denied["message"].as_str().unwrap();
    assert!(message.contains("not allowed"), "{message}");
    assert!(
        message.contains(&format!(
            "127.0.0.1:{}",
            forbidden.local_addr().unwrap().port()
        )),
        "names the host: {message}"
    );
    let call = &denied["calls"][0];
    assert_eq!(call["status"], serde_json::Value::Null);
    assert!(
        call["error"].as_str().unwrap().starts_with("denied"),
        "{call}"
    );
    assert!(
        forbidden.accept().is_err(),
        "the forbidden host was never connected to"
    );

    let escape = out.check("hostile", "escape");
    assert!(
        !out.stdout.contains('\u{1b}'),
        "no raw escape reaches the output"
    );
    assert!(
        escape["message"].as_str().unwrap().contains("red"),
        "{escape}"
    );
}

#[test]
fn escape_sequences_are_neutralised_in_human_output() {
    let stack = stack();
    let out = Gate::policies(&["hostile"])
        .target(&stack.url())
        .args(["--timeout", "1s", "-v", "--color", "never"])
        .run();
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    assert!(!out.stdout.contains('\u{7}'));
    assert!(
        out.stdout.contains("\\u{1b}[31mred"),
        "shown escaped: {}",
        out.stdout
    );
}

#[test]
fn hosts_other_than_the_target_are_denied_without_connecting() {
    let forbidden = TcpListener::bind("127.0.0.1:0").unwrap();
    forbidden.set_nonblocking(true).unwrap();
    for url in [
        format!(
            "http://127.0.0.1:{}/",
            forbidden.local_addr().unwrap().port()
        ),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://[::1]/".to_owned(),
    ] {
        let out = hostile(&[
            "--timeout",
            "1s",
            "--param",
            &format!("forbidden_url={url}"),
        ]);
        let check = out.check("hostile", "forbidden");
        assert_eq!(check["outcome"], "error", "{url}: {check}");
        assert!(
            check["calls"][0]["error"]
                .as_str()
                .unwrap()
                .starts_with("denied"),
            "{url}: {check}"
        );
    }
    assert!(
        forbidden.accept().is_err(),
        "no connection reached the forbidden listener"
    );
}

#[test]
fn stack_host_call_arguments_files_env_args_and_sockets_are_bounded() {
    // A listener the policy tries to reach through a WASI socket: it is
    // refused inside the sandbox, and never connected to.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let socket_addr = format!("socket_addr={}", listener.local_addr().unwrap());
    // Memory high enough that a 200 MiB argument can be built, so the
    // host-call limit is what stops it; time enough to build it on a loaded
    // machine (touching 200 MiB took close to 3 s under CI-like load), or
    // the deadline would stop it first.
    let out = hostile(&[
        "--timeout",
        "20s",
        "--memory-limit",
        "512MiB",
        "--param",
        &socket_addr,
    ]);

    let recurse = out.check("hostile", "recurse");
    assert_eq!(recurse["error"], "trap", "{recurse}");
    assert!(
        recurse["message"]
            .as_str()
            .unwrap()
            .contains("stack overflow"),
        "{recurse}"
    );

    let big = out.check("hostile", "big-arg");
    assert_eq!(big["error"], "resource-limit", "{big}");
    assert!(
        big["message"]
            .as_str()
            .unwrap()
            .contains("host-call argument limit"),
        "{big}"
    );

    let snoop = out.check("hostile", "snoop");
    assert_eq!(
        snoop["outcome"], "pass",
        "WASI shows no file, variable or argument: {snoop}"
    );
    assert!(
        snoop["message"]
            .as_str()
            .unwrap()
            .contains("env vars: 0, args: 0"),
        "{snoop}"
    );

    let socket = out.check("hostile", "socket");
    assert_eq!(socket["outcome"], "pass", "the socket is refused: {socket}");
    assert!(
        listener.accept().is_err(),
        "nothing connected to the listener"
    );

    assert_eq!(out.check("hostile", "ok")["outcome"], "pass");
    assert_eq!(out.code, 1);
}

/// This machine's own name: found in /etc/hosts (or by nss-myhostname) and
/// pointing at a loopback or private address, yet not `localhost`, so gate
/// does not take it as naming loopback.
fn own_hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read the hostname")
        .trim()
        .to_ascii_lowercase();
    assert!(
        !name.is_empty() && name != "localhost",
        "this test needs a hostname other than localhost, not `{name}`"
    );
    let addrs: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), 80))
        .unwrap_or_else(|e| panic!("hostname `{name}` does not resolve locally: {e}"))
        .collect();
    assert!(
        addrs.iter().all(|a| match a.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
            std::net::IpAddr::V6(ip) => ip.is_loopback() || ip.is_unique_local(),
        }),
        "this test needs a hostname that resolves to loopback or private addresses; `{name}` resolves to {addrs:?}"
    );
    name
}

#[test]
fn an_allowed_name_resolving_to_loopback_is_denied_without_connecting() {
    let name = own_hostname();
    // The name resolves to this machine: were gate to dial it, this
    // listener (or another service on the machine) would be reached.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = hostile(&[
        "--timeout",
        "5s",
        "--allow-host",
        &format!("{name}:{port}"),
        "--param",
        &format!("forbidden_url=http://{name}:{port}/steal"),
    ]);

    let denied = out.check("hostile", "forbidden");
    assert_eq!(
        (denied["outcome"].as_str(), denied["error"].as_str()),
        (Some("error"), Some("check")),
        "{denied}"
    );
    let message = denied["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "request denied: http://{name}:{port}: {name} resolves to "
        )),
        "names the host and what it resolved to: {message}"
    );
    assert!(
        message.contains("a loopback address") || message.contains("a private address"),
        "{message}"
    );
    assert!(message.contains("nothing was sent"), "{message}");
    assert!(
        message.contains(&format!(":{port} if {name} is meant to reach it")),
        "says how to allow it: {message}"
    );
    assert!(
        denied["calls"][0]["error"]
            .as_str()
            .unwrap()
            .starts_with("denied"),
        "{denied}"
    );
    assert!(listener.accept().is_err(), "nothing was dialled");
    assert_eq!(out.check("hostile", "ok")["outcome"], "pass");
    assert_eq!(out.code, 1, "the verdict fails closed");
}

#[test]
fn a_redirect_to_a_forbidden_host_is_denied_at_the_hop() {
    let forbidden = TcpListener::bind("127.0.0.1:0").unwrap();
    forbidden.set_nonblocking(true).unwrap();
    let forbidden_url = format!(
        "http://127.0.0.1:{}/steal",
        forbidden.local_addr().unwrap().port()
    );
    // An allowed host that sends the policy on to the forbidden one.
    let redirector = Stub::start(302, &[("location", &forbidden_url)]);
    let start = format!("{}/start", redirector.url());
    let out = hostile(&[
        "--timeout",
        "5s",
        "--allow-host",
        &format!("127.0.0.1:{}", redirector.port()),
        "--param",
        &format!("redirect_url={start}"),
    ]);

    let check = out.check("hostile", "redirect");
    assert_eq!(
        (check["outcome"].as_str(), check["error"].as_str()),
        (Some("error"), Some("check")),
        "{check}"
    );
    let message = check["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "request denied: redirect hop 1 ({start} → {forbidden_url}): http://127.0.0.1:{}",
            forbidden.local_addr().unwrap().port()
        )),
        "names the hop: {message}"
    );
    assert!(message.contains("is not allowed for this run"), "{message}");
    let calls = check["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{check}");
    assert_eq!(calls[0]["status"], 302, "{check}");
    assert_eq!(calls[1]["url"], forbidden_url.as_str(), "{check}");
    assert!(
        calls[1]["error"].as_str().unwrap().starts_with("denied"),
        "{check}"
    );
    assert_eq!(redirector.requests().len(), 1);
    assert!(forbidden.accept().is_err(), "the hop was never dialled");
    assert_eq!(out.check("hostile", "ok")["outcome"], "pass");
    assert_eq!(out.code, 1);
}

#[test]
fn a_huge_result_and_unbounded_resources_are_stopped_precisely() {
    // Roomy: the assertions are about what stopped the checks, not when.
    let out = hostile(&["--timeout", "5s"]);

    let huge = out.check("hostile", "huge-result");
    assert_eq!(
        (huge["outcome"].as_str(), huge["error"].as_str()),
        (Some("error"), Some("resource-limit")),
        "a pass with a huge result is not a pass: {huge}"
    );
    let message = huge["message"].as_str().unwrap();
    assert!(
        message.starts_with("result too large: the check returned "),
        "{message}"
    );
    assert!(
        message
            .contains("(a message of 1 MiB and 50000 measurements), over the 1 MiB result limit"),
        "{message}"
    );
    assert_eq!(huge["measurements"].as_array().map(Vec::len), Some(0));

    let grab = out.check("hostile", "grab");
    assert_eq!(
        (grab["outcome"].as_str(), grab["error"].as_str()),
        (Some("error"), Some("resource-limit")),
        "{grab}"
    );
    assert!(
        grab["message"]
            .as_str()
            .unwrap()
            .contains("resource limit exceeded: the check held more than 1024 live host resources"),
        "{grab}"
    );

    assert_eq!(
        out.check("hostile", "ok")["outcome"],
        "pass",
        "the others ran"
    );
    assert_eq!(out.code, 1, "the verdict fails closed");
}

#[test]
fn a_flood_of_huge_failing_calls_keeps_a_bounded_record() {
    // Each of the check's six huge calls carries a 4 MiB URL or host; kept
    // whole (and repeated in its error), they alone would make a report of
    // about 50 MiB.
    let out = Gate::policies(&["hostile"])
        .json()
        .args(["--check", "call-flood", "--timeout", "30s"])
        .param("flood_kib=4096")
        .run();
    assert!(
        out.stdout.len() < 1 << 20,
        "the report stays small: {} bytes",
        out.stdout.len()
    );
    let flood = out.check("hostile", "call-flood");
    assert_eq!(
        (flood["outcome"].as_str(), flood["message"].as_str()),
        (
            Some("pass"),
            Some(
                "made 1506 calls, 3 with a 4096 KiB URL and 3 with a 4096 KiB host; all were refused"
            )
        ),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    let calls = flood["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1000, "the record keeps the first 1000 calls");
    for call in calls {
        let url = call["url"].as_str().unwrap();
        let error = call["error"].as_str().unwrap();
        assert!(url.len() < 4096 && error.len() < 4096, "{call}");
    }
    let (http, tls) = (&calls[0], &calls[1]);
    assert_eq!(http["method"], "GET");
    let url = http["url"].as_str().unwrap();
    assert!(url.starts_with("http://[xxx"), "{url:.100}");
    assert!(url.ends_with("… (4194312 bytes in all)"), "{http}");
    let error = http["error"].as_str().unwrap();
    assert!(
        error.starts_with("invalid request: bad URL `http://[xxx"),
        "{error:.100}"
    );
    assert!(
        error.ends_with("… (4194312 bytes in all)`: invalid IPv6 address"),
        "says why, after the URL it cut: {error}"
    );
    assert_eq!(tls["method"], "TLS");
    assert!(
        tls["url"]
            .as_str()
            .unwrap()
            .ends_with("… (4194308 bytes in all)"),
        "{tls}"
    );
    let error = tls["error"].as_str().unwrap();
    assert!(error.starts_with("denied: https://xxx"), "{error:.100}");
    assert!(error.contains("is not allowed for this run"), "{error}");
    assert_eq!(calls[6]["url"], "http://[bad-0");

    let log: Vec<&str> = flood["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["text"].as_str().unwrap())
        .collect();
    assert!(
        log.contains(
            &"[gate: 506 more host calls made, not kept: the record keeps the first 1000]"
        ),
        "the report says calls were left out: {log:?}"
    );
}

/// `--record` keeps every call whole, so that it replays; a policy that
/// makes more of them than a recording holds (256 MiB) gets its report, and
/// no fixture that would replay only part of it.
#[test]
fn a_recording_past_its_cap_is_not_written_and_the_report_stands() {
    let dir = std::env::temp_dir().join(format!("gate-e2e-record-cap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fixture = dir.join("flood.json");
    // 24 calls with a 12 MiB URL or host: ~290 MiB of requests alone.
    let out = Gate::policies(&["hostile"])
        .args(["--check", "call-flood", "--timeout", "60s"])
        .param("flood_kib=12288")
        .param("flood_huge=12")
        .arg("--record")
        .arg(&fixture)
        .run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stdout.contains("PASS  call-flood"),
        "the report is out: {}",
        out.stdout
    );
    assert!(
        out.stderr.contains(&format!(
            "the recording {} was not written: it would hold more than 256 MiB of calls (policy \
             `hostile` check `call-flood`: its ",
            fixture.display()
        )),
        "{}",
        out.stderr
    );
    assert!(!fixture.exists(), "no partial fixture");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_panic_message_is_redacted_and_escaped() {
    let secret = "p4nic-5ecret-value";
    let out = Gate::policies(&["hostile"])
        .json()
        .args(["--check", "panic", "--timeout", "5s"])
        .env("GATE_SECRET_API_TOKEN", secret)
        .run();
    let panic = out.check("hostile", "panic");
    assert_eq!(panic["error"], "panic", "{panic}");
    let message = panic["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("the policy panicked: hostile panic: bad token [REDACTED] \\u{1b}[31mred"),
        "{message}"
    );
    assert!(
        !message.contains('\u{1b}') && !message.contains('\u{7}'),
        "{message}"
    );
    assert!(!out.all_output().contains(secret), "{}", out.all_output());

    let human = Gate::policies(&["hostile"])
        .args(["--check", "panic", "--timeout", "5s", "--color", "never"])
        .env("GATE_SECRET_API_TOKEN", secret)
        .run();
    assert!(
        human.stdout.contains("bad token [REDACTED]"),
        "{}",
        human.stdout
    );
    assert!(!human.all_output().contains(secret));
    assert!(!human.stdout.contains('\u{1b}'), "{}", human.stdout);
}

#[test]
fn verbose_diagnostics_redact_secrets_in_request_urls() {
    let secret = "v3rbose-5ecret-value";
    let forbidden = TcpListener::bind("127.0.0.1:0").unwrap();
    forbidden.set_nonblocking(true).unwrap();
    let port = forbidden.local_addr().unwrap().port();
    let out = Gate::policies(&["hostile"])
        .args(["--check", "forbidden", "--timeout", "5s", "-v"])
        // Grants HTTP, to a port nothing listens on and the URL does not name.
        .args(["--allow-host", "127.0.0.1:1"])
        .param(&format!(
            "forbidden_url=http://127.0.0.1:{port}/steal?token={secret}"
        ))
        .env("GATE_SECRET_API_TOKEN", secret)
        .run();
    assert_eq!(out.code, 1, "{}", out.all_output());
    assert!(
        out.stderr.contains("host call") && out.stderr.contains("/steal?token=[REDACTED]"),
        "-v shows the request, redacted: {}",
        out.stderr
    );
    assert!(!out.all_output().contains(secret), "{}", out.all_output());
    assert!(forbidden.accept().is_err(), "nothing was dialled");
}
