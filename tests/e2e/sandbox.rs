//! Hostile guests: each misbehaving check ends in a precise error while the
//! other checks complete, and the verdict fails closed.

use std::net::TcpListener;

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
    let out = hostile(&[
        "--timeout",
        "2s",
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
            .contains("did not finish within 2.00s"),
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
    // host-call limit is what stops it.
    let out = hostile(&[
        "--timeout",
        "2s",
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
