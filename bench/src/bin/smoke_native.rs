//! The native baseline of the HTTP smoke-suite comparison: what a team
//! would hand-write instead of a gate policy. `smoke-native URL N JOBS`
//! makes N `GET URL` requests, JOBS at a time, on one client, reads each
//! body and checks each answered 200, as the bench policy's 50 checks do.
//!
//! Its client is built as such a program builds one, and so reads every
//! system root certificate at start, http URL or not. With `--plain` it
//! trusts no certificate instead (as gate's clients for http origins do),
//! which leaves what the requests themselves cost: the floor of the
//! comparison.

use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let plain = args.last().is_some_and(|a| a == "--plain");
    if plain {
        args.pop();
    }
    let [url, count, jobs] = args.as_slice() else {
        eprintln!("usage: smoke-native URL N JOBS [--plain]");
        return ExitCode::from(2);
    };
    let (Ok(count), Ok(jobs)) = (count.parse::<usize>(), jobs.parse::<usize>()) else {
        eprintln!("N and JOBS must be numbers");
        return ExitCode::from(2);
    };
    // reqwest is built without a crypto provider, as for gate: install the
    // same one (plain http needs none, but the client insists).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder().no_proxy();
    if plain {
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        builder = builder.tls_backend_preconfigured(tls);
    }
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("cannot build the HTTP client: {e}");
            return ExitCode::from(2);
        }
    };
    let permits = Arc::new(Semaphore::new(jobs.max(1)));
    let mut requests = JoinSet::new();
    for _ in 0..count {
        let client = client.clone();
        let url = url.clone();
        let permits = permits.clone();
        requests.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            let response = client.get(&url).send().await.ok()?;
            let status = response.status().as_u16();
            response.bytes().await.ok()?;
            Some(status == 200)
        });
    }
    let mut failed = 0;
    while let Some(joined) = requests.join_next().await {
        if joined.ok().flatten() != Some(true) {
            failed += 1;
        }
    }
    println!("{count} requests, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
