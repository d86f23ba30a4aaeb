//! The native baseline of the HTTP smoke-suite comparison: what a team
//! would hand-write instead of a gate policy. `smoke-native URL N JOBS`
//! makes N `GET URL` requests, JOBS at a time, on one client, reads each
//! body and checks each answered 200, as the bench policy's 50 checks do.

use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, count, jobs] = args.as_slice() else {
        eprintln!("usage: smoke-native URL N JOBS");
        return ExitCode::from(2);
    };
    let (Ok(count), Ok(jobs)) = (count.parse::<usize>(), jobs.parse::<usize>()) else {
        eprintln!("N and JOBS must be numbers");
        return ExitCode::from(2);
    };
    // reqwest is built without a crypto provider, as for gate: install the
    // same one (plain http needs none, but the client insists).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder().no_proxy().build() {
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
