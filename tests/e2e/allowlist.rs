//! The allow-list as a policy meets it: named hosts and `localhost`,
//! redirects followed hop by hop by the SDK, credentials kept within their
//! origin, and proxy variables that never route policy traffic (gate's own
//! requests take them, loopback excepted).

use std::net::TcpListener;

use gate_e2e::stub::Stub;
use gate_e2e::{Gate, Outcome, stack};

/// Runs the `fetch` fixture against `url` with the given options.
fn fetch(target: &str, url: &str, extra: &[&str]) -> Outcome {
    Gate::policies(&["fetch"])
        .target(target)
        .json()
        .param(&format!("url={url}"))
        .args(extra)
        .run()
}

#[test]
fn localhost_named_exactly_reaches_loopback() {
    let stack = stack();
    let port = stack
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let url = format!("http://localhost:{port}/health");

    let denied = fetch(&stack.url(), &url, &[]);
    let check = denied.check("fetch", "get");
    assert_eq!(check["outcome"], "error", "not allowed yet: {check}");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains(&format!("--allow-host localhost:{port}")),
        "{check}"
    );

    let allowed = fetch(
        &stack.url(),
        &url,
        &["--allow-host", &format!("localhost:{port}")],
    );
    let check = allowed.check("fetch", "get");
    assert_eq!(check["outcome"], "pass", "{check}");
    assert_eq!(allowed.code, 0);
}

#[test]
fn redirects_are_followed_hop_by_hop_and_credentials_stay_in_their_origin() {
    let stack = stack();
    // `localhost:PORT` is another origin than `127.0.0.1:PORT`, though the
    // same socket.
    let landing = Stub::start(200, &[]);
    let landing_url = format!("http://localhost:{}/landed", landing.port());
    let first = Stub::start(302, &[("location", &landing_url)]);
    let start = format!("{}/start", first.url());
    let out = fetch(
        &stack.url(),
        &start,
        &[
            "--allow-host",
            &format!("127.0.0.1:{}", first.port()),
            "--allow-host",
            &format!("localhost:{}", landing.port()),
            "--param",
            "follow=3",
            "--param",
            "token=s3cret-token",
        ],
    );

    let check = out.check("fetch", "get");
    assert_eq!(check["outcome"], "pass", "{check}");
    assert_eq!(
        check["message"],
        format!("GET {start} → 200 from {landing_url}"),
        "{check}"
    );
    let calls = check["calls"].as_array().unwrap();
    assert_eq!(
        calls
            .iter()
            .map(|c| (c["url"].as_str().unwrap(), c["status"].as_u64().unwrap()))
            .collect::<Vec<_>>(),
        [(start.as_str(), 302), (landing_url.as_str(), 200)]
    );
    let sent_first = first.requests();
    let sent_landing = landing.requests();
    assert_eq!((sent_first.len(), sent_landing.len()), (1, 1));
    assert!(
        sent_first[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer s3cret-token"),
        "{sent_first:?}"
    );
    assert!(
        !sent_landing[0]
            .to_ascii_lowercase()
            .contains("authorization"),
        "the token never left its origin: {sent_landing:?}"
    );
}

#[test]
fn redirects_are_responses_unless_followed_and_hops_are_bounded() {
    let stack = stack();
    let looping = Stub::start(307, &[("location", "/again")]);
    let allow = format!("127.0.0.1:{}", looping.port());
    let start = format!("{}/start", looping.url());

    let out = fetch(&stack.url(), &start, &["--allow-host", &allow]);
    let check = out.check("fetch", "get");
    assert_eq!(check["outcome"], "fail", "{check}");
    assert_eq!(check["message"], format!("GET {start} → 307 from {start}"));
    assert_eq!(looping.requests().len(), 1, "not followed");

    let out = fetch(
        &stack.url(),
        &start,
        &["--allow-host", &allow, "--param", "follow=2"],
    );
    let check = out.check("fetch", "get");
    assert_eq!(check["outcome"], "error", "{check}");
    assert!(
        check["message"].as_str().unwrap().contains(&format!(
            "too many redirects: {}/again redirected to {}/again after 2 hops",
            looping.url(),
            looping.url()
        )),
        "{check}"
    );
    assert_eq!(
        looping.requests().len(),
        1 + 3,
        "the first run's request, then the start and two hops"
    );
    assert_eq!(out.code, 1);
}

#[test]
fn proxy_variables_never_route_policy_traffic() {
    let stack = stack();
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let mut gate = Gate::policies(&["fetch"])
        .target(&stack.url())
        .json()
        .param("url=/health");
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        gate = gate.env(var, &proxy_url);
    }
    let out = gate.run();

    assert_eq!(
        out.check("fetch", "get")["outcome"],
        "pass",
        "{}",
        out.stdout
    );
    assert_eq!(out.code, 0);
    assert!(proxy.accept().is_err(), "the proxy never got a connection");
}

#[test]
fn gates_own_requests_take_the_proxy_but_never_for_loopback() {
    let proxy = Stub::start(200, &[]);
    let (hook, bodies) = gate_e2e::webhook_server();
    let notify = |url: &str| {
        let mut gate = Gate::policies(&["fetch"]).args(["--notify", url]);
        for var in ["http_proxy", "HTTP_PROXY"] {
            gate = gate.env(var, &proxy.url());
        }
        // Whatever the machine's own says, nothing is exempted.
        for var in ["no_proxy", "NO_PROXY"] {
            gate = gate.env(var, "");
        }
        gate.run()
    };

    // A webhook elsewhere: the proxy is asked for the whole URL, and it
    // answers, so nothing but 127.0.0.1 is ever dialled.
    let out = notify("http://hooks.example.test/services/T0/B0/XOX");
    assert!(!out.stderr.contains("gate: webhook:"), "{}", out.stderr);
    let heads = proxy.requests();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(
        heads[0].starts_with("POST http://hooks.example.test/services/T0/B0/XOX HTTP/1.1"),
        "{heads:?}"
    );

    // A webhook on loopback: posted directly, the proxy not asked.
    let out = notify(&hook);
    assert!(!out.stderr.contains("gate: webhook:"), "{}", out.stderr);
    for _ in 0..100 {
        if !bodies.lock().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(bodies.lock().unwrap().len(), 1, "the webhook got the post");
    assert_eq!(proxy.requests().len(), 1, "the proxy was not asked again");

    // A proxy variable that is not a URL: the post fails naming it.
    let out = Gate::policies(&["fetch"])
        .args(["--notify", &hook])
        .env("https_proxy", "http://[oops")
        .run();
    assert!(
        out.stderr.contains("https_proxy is not a proxy URL"),
        "{}",
        out.stderr
    );
}

/// A server behind one address routes by the Host header, so a policy may
/// set it only to a host the run may reach: never a way to another site at
/// the target's address. A refused one sends nothing.
#[test]
fn a_host_header_may_name_only_a_host_the_run_may_reach() {
    let stage = Stub::start(200, &[]);
    let other = fetch(
        &stage.url(),
        "/",
        &["--param", "header=Host: admin.internal"],
    );
    let check = other.check("fetch", "get");
    assert_eq!(check["outcome"], "error", "{check}");
    let message = check["message"].as_str().unwrap();
    assert!(
        message.contains("the Host header `admin.internal` names another host than the URL's")
            && message.contains("--allow-host admin.internal:"),
        "{check}"
    );
    assert!(stage.requests().is_empty(), "{:?}", stage.requests());

    let own = format!("header=Host: 127.0.0.1:{}", stage.port());
    let same = fetch(&stage.url(), "/", &["--param", &own]);
    assert_eq!(
        same.check("fetch", "get")["outcome"],
        "pass",
        "{}",
        same.stdout
    );
    let granted = fetch(
        &stage.url(),
        "/",
        &[
            "--param",
            "header=Host: shop.example.com",
            "--allow-host",
            "shop.example.com",
        ],
    );
    assert_eq!(
        granted.check("fetch", "get")["outcome"],
        "pass",
        "{}",
        granted.stdout
    );
    let heads = stage.requests().join("\n").to_ascii_lowercase();
    assert!(heads.contains("host: shop.example.com"), "{heads}");
}
