//! The tls capability against a real TLS server on 127.0.0.1 with
//! certificates the tests generate: signed by a test CA given with
//! `--ca-file`, expiring, expired, self-signed; and https requests
//! (policies' and gate's own) trusting that CA.

use std::path::PathBuf;

use gate_e2e::tls::{Certified, TestCa, TlsServer, Validity, self_signed};
use gate_e2e::{Gate, Outcome};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gate-e2e-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `tls` test guest against `server`, allowed by --allow-host.
fn guest(server: &TlsServer, extra: &[&str]) -> Outcome {
    let port = server.port();
    Gate::policies(&["tls"])
        .args(["--allow-host", &format!("127.0.0.1:{port}")])
        .param("host=127.0.0.1")
        .param(&format!("port={port}"))
        .args(extra)
        .json()
        .run()
}

fn text(out: &Outcome, policy: &str, check: &str, field: &str) -> String {
    out.check(policy, check)[field]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn days_left(out: &Outcome) -> f64 {
    out.check("tls", "facts")["measurements"][0]["value"]
        .as_f64()
        .unwrap()
}

fn serve(certified: &Certified) -> TlsServer {
    TlsServer::start(certified)
}

#[test]
fn a_certificate_from_a_ca_given_with_ca_file_is_trusted_and_passes() {
    let ca = TestCa::new();
    let ca_file = ca.write(&scratch("trusted"));
    let server = serve(&ca.issue(Validity::for_days(90)));

    let out = guest(&server, &["--ca-file", ca_file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let facts = text(&out, "tls", "facts", "message");
    for expected in [
        "subject=CN=gate test server",
        "issuer=CN=gate test CA",
        "sans=localhost,127.0.0.1",
        "trusted=true",
        "reason=-",
        "chain=1",
    ] {
        assert!(facts.contains(expected), "{expected}: {facts}");
    }
    assert!((89.0..=90.0).contains(&days_left(&out)), "{facts}");
    assert_eq!(text(&out, "tls", "certificate", "outcome"), "pass");

    // The same server without the CA: the facts still come, untrusted.
    let unknown = guest(&server, &[]);
    assert_eq!(unknown.code, 1, "{}", unknown.stdout);
    let facts = text(&unknown, "tls", "facts", "message");
    assert!(facts.contains("trusted=false"), "{facts}");
    assert!(
        facts.contains("not signed by a trusted root (system roots or --ca-file)"),
        "{facts}"
    );
    assert_eq!(text(&unknown, "tls", "certificate", "outcome"), "fail");
}

#[test]
fn a_certificate_expiring_within_the_limit_fails_with_the_days_left() {
    let ca = TestCa::new();
    let ca_file = ca.write(&scratch("expiring"));
    let server = serve(&ca.issue(Validity::for_days(5)));
    let ca_arg = ca_file.to_str().unwrap();

    let out = guest(&server, &["--ca-file", ca_arg]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let message = text(&out, "tls", "certificate", "message");
    assert!(
        message.contains("expires in 5.0 days, fewer than 14 days"),
        "{message}"
    );
    let measurement = &out.check("tls", "certificate")["measurements"][0];
    assert_eq!(measurement["threshold"], ">= 14");

    let relaxed = guest(
        &server,
        &["--ca-file", ca_arg, "--param", "min_cert_days=3"],
    );
    assert_eq!(relaxed.code, 0, "{}", relaxed.stdout);
}

#[test]
fn an_expired_certificate_is_returned_untrusted_and_the_shipped_check_fails() {
    let ca = TestCa::new();
    let ca_file = ca.write(&scratch("expired"));
    let server = serve(&ca.issue(Validity::expired(3)));
    let ca_arg = ca_file.to_str().unwrap();

    let out = guest(&server, &["--ca-file", ca_arg]);
    let facts = text(&out, "tls", "facts", "message");
    assert_eq!(text(&out, "tls", "facts", "outcome"), "pass", "{facts}");
    assert!(
        facts.contains("trusted=false") && facts.contains("reason=the certificate has expired"),
        "{facts}"
    );
    assert!(days_left(&out) < -2.9, "{facts}");

    // The shipped prod policy reads the certificate of an https target.
    let prod = Gate::policies(&["prod"])
        .target(&format!("https://127.0.0.1:{}", server.port()))
        .args(["--ca-file", ca_arg])
        .param("samples=1")
        .json()
        .run();
    assert_eq!(prod.code, 1, "{}", prod.stdout);
    assert_eq!(text(&prod, "prod", "certificate", "outcome"), "fail");
    let message = text(&prod, "prod", "certificate", "message");
    assert!(
        message.contains("is not trusted: the certificate has expired")
            && message.contains("expired 3.0 days ago"),
        "{message}"
    );
}

#[test]
fn a_self_signed_certificate_is_returned_untrusted_and_the_shipped_check_fails() {
    let server = serve(&self_signed(Validity::for_days(365)));
    let out = guest(&server, &[]);
    let facts = text(&out, "tls", "facts", "message");
    assert!(
        facts.contains("trusted=false")
            && facts.contains("self-signed")
            && facts.contains("issuer=CN=gate test server"),
        "{facts}"
    );

    let prod = Gate::policies(&["prod"])
        .target(&format!("https://127.0.0.1:{}", server.port()))
        .param("samples=1")
        .json()
        .run();
    assert_eq!(prod.code, 1);
    let message = text(&prod, "prod", "certificate", "message");
    assert!(
        message.contains("not trusted: the certificate is self-signed"),
        "{message}"
    );
}

#[test]
fn a_tls_check_never_presents_the_client_certificate_yet_reads_a_server_demanding_one() {
    // The run's client certificate is for requests; a TLS check only reads
    // the server's chain, and goes on with servers it cannot verify, so it
    // presents none. A server that demands one has shown its chain and
    // proved its key before it ends the handshake, under either protocol.
    let ca = TestCa::new();
    let dir = scratch("inspect-mtls");
    let ca_file = ca.write(&dir);
    let client = ca.issue_client(Validity::for_days(30));
    let identity = dir.join("client.pem");
    std::fs::write(&identity, format!("{}{}", client.chain_pem, client.key_pem)).unwrap();
    let flags = [
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--client-cert",
        identity.to_str().unwrap(),
    ];
    let signed = ca.issue(Validity::for_days(90));
    let unverified = self_signed(Validity::for_days(90));
    const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    for (certified, versions, protocol, trusted) in [
        (&signed, TLS12, "TLSv1.2", true),
        (&signed, TLS13, "TLSv1.3", true),
        (&unverified, TLS12, "TLSv1.2", false),
        (&unverified, TLS13, "TLSv1.3", false),
    ] {
        let server = TlsServer::demanding_client_cert(certified, &ca, versions);
        let out = guest(&server, &flags);
        let facts = text(&out, "tls", "facts", "message");
        assert_eq!(
            text(&out, "tls", "facts", "outcome"),
            "pass",
            "{protocol}: {}",
            out.all_output()
        );
        for expected in [
            format!("trusted={trusted}"),
            format!("protocol={protocol}"),
            "subject=CN=gate test server".to_owned(),
        ] {
            assert!(facts.contains(&expected), "{protocol}: {facts}");
        }
        // The shipped-style check judges trust as before: pass when the
        // chain verifies, fail when it does not.
        assert_eq!(out.code, if trusted { 0 } else { 1 }, "{}", out.stdout);
        assert!(
            server.handshakes() >= 2,
            "{protocol}: both checks connected"
        );
        assert_eq!(
            server.client_certificates(),
            0,
            "{protocol}, trusted={trusted}: a client certificate was presented"
        );
    }
}

#[test]
fn tls_only_reaches_allowed_hosts() {
    let server = serve(&self_signed(Validity::for_days(30)));
    let port = server.port();
    // Another port is allowed, not the server's: denied before connecting.
    let out = Gate::policies(&["tls"])
        .args(["--allow-host", "127.0.0.1:1"])
        .param("host=127.0.0.1")
        .param(&format!("port={port}"))
        .json()
        .run();
    assert_eq!(out.code, 1);
    let message = text(&out, "tls", "facts", "message");
    assert!(
        message.contains("tls denied")
            && message.contains(&format!("--allow-host 127.0.0.1:{port}")),
        "{message}"
    );
    assert_eq!(
        server.handshakes(),
        0,
        "nothing may reach a host not allowed"
    );

    // No https target and no --allow-host: the checks say what to grant.
    let bare = Gate::policies(&["tls"])
        .param("host=127.0.0.1")
        .json()
        .run();
    assert_eq!(text(&bare, "tls", "facts", "outcome"), "skipped");
    assert!(text(&bare, "tls", "facts", "message").contains("--target https://"));

    let bad_ca = scratch("bad-ca").join("nothing.pem");
    std::fs::write(&bad_ca, "no certificate here\n").unwrap();
    let refused = Gate::policies(&["tls"])
        .args([
            "--allow-host",
            "127.0.0.1:1",
            "--ca-file",
            bad_ca.to_str().unwrap(),
        ])
        .run();
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("holds no PEM certificate"),
        "{}",
        refused.stderr
    );
}

/// A plain-http server on 127.0.0.1 that answers its first connection as
/// nginx answers a TLS hello: `400`, whatever came. Its thread gives up
/// after 10 s without a connection.
fn plain_http_server() -> std::net::TcpListener {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let serving = listener.try_clone().unwrap();
    serving.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        for _ in 0..1000 {
            if let Ok((mut stream, _)) = serving.accept() {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let _ = stream.read(&mut [0u8; 1024]);
                let _ = stream.write_all(
                    b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    listener
}

#[test]
fn https_requests_and_prometheus_trust_the_ca_file_as_tls_checks_do() {
    let ca = TestCa::new();
    let ca_file = ca.write(&scratch("https"));
    let ca_flag = ["--ca-file", ca_file.to_str().unwrap()];
    let leaf = ca.issue(Validity::for_days(90));

    // A policy's HTTP request to an https target signed by the CA.
    let stage = TlsServer::https(&leaf, "{}");
    let target = format!("https://127.0.0.1:{}", stage.port());
    let fetch = |extra: &[&str]| {
        Gate::policies(&["fetch"])
            .target(&target)
            .param("url=/api/v1/health")
            .args(extra)
            .json()
            .run()
    };
    let unknown = fetch(&[]);
    assert_eq!(unknown.code, 1, "{}", unknown.stdout);
    assert_eq!(text(&unknown, "fetch", "get", "outcome"), "error");
    let message = text(&unknown, "fetch", "get", "message");
    assert!(
        message.contains(
            "TLS: the certificate is not signed by a trusted root (system roots or --ca-file)"
        ),
        "{message}"
    );
    let trusted = fetch(&ca_flag);
    assert_eq!(trusted.code, 0, "{}", trusted.stdout);
    assert!(
        text(&trusted, "fetch", "get", "message").contains("→ 200"),
        "{}",
        trusted.stdout
    );

    // https to a port that speaks plain http: said so, not in rustls's words.
    let plain = plain_http_server();
    let out = Gate::policies(&["fetch"])
        .target(&format!(
            "https://127.0.0.1:{}",
            plain.local_addr().unwrap().port()
        ))
        .param("url=/")
        .json()
        .run();
    assert_eq!(text(&out, "fetch", "get", "outcome"), "error");
    let message = text(&out, "fetch", "get", "message");
    assert!(
        message.contains("TLS: the server did not answer in TLS (is this port plain http?)"),
        "{message}"
    );

    // gate's own requests: a Prometheus behind the same CA.
    let answer = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1795439951,"0.25"]}]}}"#;
    let prometheus = TlsServer::https(&leaf, answer);
    let url = format!("https://127.0.0.1:{}", prometheus.port());
    let query = |extra: &[&str]| {
        Gate::policies(&["promql"])
            .args(["--prometheus", &url])
            .param("promql=up")
            .args(extra)
            .json()
            .run()
    };
    let unknown = query(&[]);
    assert_eq!(text(&unknown, "promql", "query", "outcome"), "error");
    let message = text(&unknown, "promql", "query", "message");
    assert!(
        message.contains("Prometheus is unreachable") && message.contains("--ca-file"),
        "{message}"
    );
    let trusted = query(&ca_flag);
    assert_eq!(trusted.code, 0, "{}", trusted.stdout);
    let measured = trusted.check("promql", "query")["measurements"][0]["value"].as_f64();
    assert_eq!(measured, Some(0.25), "{}", trusted.stdout);
}

#[test]
fn a_stage_that_demands_a_client_certificate_gets_the_one_given() {
    let ca = TestCa::new();
    let dir = scratch("mtls");
    let ca_file = ca.write(&dir);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let client = ca.issue_client(Validity::for_days(30));
    let cert = write("client.pem", &client.chain_pem);
    let key = write("client.key", &client.key_pem);
    let both = write(
        "both.pem",
        &format!("{}{}", client.chain_pem, client.key_pem),
    );
    let stranger = TestCa::named("another CA").issue_client(Validity::for_days(30));
    let stranger_both = write(
        "stranger.pem",
        &format!("{}{}", stranger.chain_pem, stranger.key_pem),
    );
    let stranger_key = write("stranger.key", &stranger.key_pem);

    let stage =
        TlsServer::https_demanding_client_cert(&ca.issue(Validity::for_days(90)), "{}", &ca);
    let target = format!("https://127.0.0.1:{}", stage.port());
    let fetch = |extra: &[&str]| {
        Gate::policies(&["fetch"])
            .target(&target)
            .param("url=/api/v1/health")
            .args(["--ca-file", ca_file.to_str().unwrap()])
            .args(extra)
            .json()
            .run()
    };
    let get = |out: &Outcome| {
        (
            text(out, "fetch", "get", "outcome"),
            text(out, "fetch", "get", "message"),
        )
    };

    // Without a certificate the server's refusal is named, with the flag.
    let none = fetch(&[]);
    assert_eq!(none.code, 1, "{}", none.all_output());
    let (outcome, message) = get(&none);
    assert_eq!(outcome, "error", "{message}");
    assert!(
        message
            .contains("TLS: the server asks for a client certificate: give one with --client-cert"),
        "{message}"
    );

    // Given one, as two files or as one, the request goes through.
    for flags in [
        &["--client-cert", &cert, "--client-key", &key][..],
        &["--client-cert", &both],
    ] {
        let out = fetch(flags);
        assert_eq!(out.code, 0, "{flags:?}: {}", out.all_output());
        assert!(get(&out).1.contains("→ 200"), "{}", out.stdout);
    }

    // A certificate of another CA is refused by the server, and said so.
    let refused = fetch(&["--client-cert", &stranger_both]);
    assert_eq!(refused.code, 1, "{}", refused.all_output());
    let (outcome, message) = get(&refused);
    assert_eq!(outcome, "error", "{message}");
    assert!(
        message
            .contains("the server refused the client certificate (UnknownCA): check --client-cert"),
        "{message}"
    );

    // Files that cannot make an identity stop the run before any check,
    // naming the file and never quoting a key.
    let before = stage.handshakes();
    for (flags, expected) in [
        (vec!["--client-key", key.as_str()], "--client-cert"),
        (
            vec!["--client-cert", key.as_str()],
            "holds no PEM certificate",
        ),
        (
            vec!["--client-cert", cert.as_str()],
            "holds no private key (`-----BEGIN PRIVATE KEY-----`): give the key's file with --client-key",
        ),
        (
            vec![
                "--client-cert",
                cert.as_str(),
                "--client-key",
                stranger_key.as_str(),
            ],
            "does not belong to the client certificate",
        ),
        (
            vec!["--client-cert", "/nonexistent/client.pem"],
            "cannot read client certificate file",
        ),
    ] {
        let out = fetch(&flags);
        assert_eq!(out.code, 2, "{flags:?}: {}", out.all_output());
        assert!(out.stderr.contains(expected), "{flags:?}: {}", out.stderr);
        assert!(
            !out.all_output().contains("PRIVATE KEY-----\n"),
            "{}",
            out.all_output()
        );
    }
    assert_eq!(stage.handshakes(), before, "no check ran");

    // gate.toml: paths relative to the file; gate's own requests present
    // the certificate too (a Prometheus behind the same mesh).
    let answer = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1795439951,"0.5"]}]}}"#;
    let prometheus =
        TlsServer::https_demanding_client_cert(&ca.issue(Validity::for_days(90)), answer, &ca);
    let config = write(
        "gate.toml",
        &format!(
            "ca_file = \"ca.pem\"\n[env.mesh]\nclient_cert = \"client.pem\"\n\
             client_key = \"client.key\"\nprometheus = \"https://127.0.0.1:{}\"\n",
            prometheus.port()
        ),
    );
    let out = Gate::policies(&["fetch", "promql"])
        .args(["--config", &config, "--env", "mesh"])
        .target(&target)
        .param("url=/api/v1/health")
        .param("promql=up")
        .json()
        .run();
    assert_eq!(out.code, 0, "{}", out.all_output());
    let measured = out.check("promql", "query")["measurements"][0]["value"].as_f64();
    assert_eq!(measured, Some(0.5), "{}", out.stdout);

    let orphan = write(
        "orphan.toml",
        "client_key = \"client.key\"\n[env.mesh]\ntarget = \"http://127.0.0.1:1\"\n",
    );
    let out = Gate::new(["config", "check", "--config", &orphan]).run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.all_output()
            .contains("client_key: a key without a certificate"),
        "{}",
        out.all_output()
    );

    // A key that is not the certificate's is shown at `client_key`'s line;
    // a certificate file with no certificate, at `client_cert`'s.
    let mismatched = write(
        "mismatched.toml",
        "target = \"http://127.0.0.1:1\"\nclient_cert = \"client.pem\"\n\
         client_key = \"stranger.key\"\n",
    );
    let out = Gate::new(["config", "check", "--config", &mismatched]).run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stderr
            .contains("mismatched.toml:3:14: client_key: the client key")
            && out
                .stderr
                .contains("does not belong to the client certificate"),
        "{}",
        out.stderr
    );
    let no_cert = write(
        "no-cert.toml",
        "target = \"http://127.0.0.1:1\"\nclient_cert = \"client.key\"\n\
         client_key = \"client.key\"\n",
    );
    let out = Gate::new(["config", "check", "--config", &no_cert]).run();
    assert_eq!(out.code, 2, "{}", out.all_output());
    assert!(
        out.stderr
            .contains("no-cert.toml:2:15: client_cert: client certificate file")
            && out.stderr.contains("holds no PEM certificate"),
        "{}",
        out.stderr
    );
}

/// The calls of one check of the `tls` guest in a fixture.
fn calls_of<'a>(tape: &'a mut serde_json::Value, check: &str) -> &'a mut serde_json::Value {
    &mut gate_e2e::fixture_check(tape, "tls", check)["calls"]
}

#[test]
fn a_recorded_handshake_replays_with_the_server_gone_and_an_edit_changes_the_verdict() {
    let ca = TestCa::new();
    let dir = scratch("replay");
    let ca_file = ca.write(&dir);
    let fixture = dir.join("tls.json");
    let server = serve(&ca.issue(Validity::for_days(90)));
    let recorded = guest(
        &server,
        &[
            "--ca-file",
            ca_file.to_str().unwrap(),
            "--record",
            fixture.to_str().unwrap(),
        ],
    );
    assert_eq!(recorded.code, 0, "{}", recorded.stdout);
    drop(server);

    // Nothing listens any more: the handshakes come from the fixture, with
    // the --allow-host of the recorded run.
    let text = std::fs::read_to_string(&fixture).unwrap();
    let mut tape: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        tape["context"]["allowed_hosts"].as_array().unwrap().len(),
        1
    );
    let calls = calls_of(&mut tape, "certificate");
    assert_eq!(calls[0]["call"], "tls.inspect", "{text}");
    assert_eq!(calls[0]["request"]["host"], "127.0.0.1");
    assert_eq!(calls[0]["answer"]["ok"]["trusted"], true, "{text}");
    let replayed = Gate::new(["test"])
        .arg(gate_e2e::guest("tls"))
        .arg(&fixture)
        .run();
    assert_eq!(replayed.code, 0, "{}", replayed.stdout);
    assert!(
        replayed.stdout.contains("ok    certificate"),
        "{}",
        replayed.stdout
    );

    // The certificate now has three days left: the replay fails the gate.
    calls_of(&mut tape, "certificate")[0]["answer"]["ok"]["days_left"] = serde_json::json!(3.0);
    let edited = dir.join("expiring.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&tape).unwrap()).unwrap();
    let out = Gate::new(["test"])
        .arg(gate_e2e::guest("tls"))
        .arg(&edited)
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("FAIL  certificate") && out.stdout.contains("expected pass, got fail"),
        "{}",
        out.stdout
    );
}
