//! `sample-service`: the sample stack as a process, for scripts and demos.
//!
//! Prints `sample-service listening on http://ADDR` once bound, so a script
//! can wait for that line, and stops cleanly on SIGINT or SIGTERM.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;

use gate_demo::Config;

const USAGE: &str = "\
usage: sample-service [--listen ADDR] [--api-token TOKEN] [--container]
       sample-service probe [URL]

  --listen ADDR       loopback address to bind (default 127.0.0.1:8080; port 0 picks one)
  --api-token TOKEN   bearer token for /api/v1/system/status
                      (default: $SAMPLE_API_TOKEN, else demo-token; prefer the
                      variable, arguments are visible to other local users)
  --container         allow a non-loopback ADDR (e.g. 0.0.0.0:8080): only inside a
                      container, whose own network is private; publish the port
                      on 127.0.0.1 only
  probe [URL]         the container health check: GET URL (default
                      http://127.0.0.1:8080/health), exit 0 on 200, else 1";

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const TOKEN_ENV: &str = "SAMPLE_API_TOKEN";

#[derive(Debug, PartialEq)]
struct Args {
    listen: SocketAddr,
    api_token: String,
    /// Inside a container: any address may be bound.
    container: bool,
}

#[derive(Debug, PartialEq)]
enum Command {
    Run(Args),
    Probe(String),
    Help,
}

fn main() -> ExitCode {
    let env_token = std::env::var(TOKEN_ENV).ok();
    let args = match parse_args(std::env::args().skip(1), env_token) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Probe(url)) => {
            // Docker keeps what a probe prints as the check's output.
            return match gate_demo::probe::probe(&url) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(line) => {
                    println!("{line}");
                    ExitCode::FAILURE
                }
            };
        }
        Err(message) => {
            eprintln!("sample-service: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sample-service: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let addr = listener.local_addr()?;
        // Handlers go in before the ready line: a script may signal us as
        // soon as it reads it, and an unhandled SIGTERM would kill us uncleanly.
        let shutdown = shutdown_signal()?;
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "sample-service listening on http://{addr}")?;
        stdout.flush()?;
        drop(stdout);

        let config = Config {
            api_token: args.api_token,
            ..Config::default()
        };
        if args.container {
            gate_demo::serve_in_container(listener, config, shutdown).await
        } else {
            gate_demo::serve(listener, config, shutdown).await
        }
    })
}

fn parse_args(
    args: impl IntoIterator<Item = String>,
    env_token: Option<String>,
) -> Result<Command, String> {
    let mut listen = None;
    let mut api_token = None;
    let mut container = false;
    let mut args = args.into_iter().peekable();
    if args.peek().is_some_and(|first| first == "probe") {
        args.next();
        let url = args
            .next()
            .unwrap_or_else(|| gate_demo::probe::DEFAULT_URL.to_owned());
        if let Some(extra) = args.next() {
            return Err(format!("unexpected argument {extra:?} after the probe URL"));
        }
        return Ok(Command::Probe(url));
    }
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--listen" => listen = Some(value("--listen")?),
            "--api-token" => api_token = Some(value("--api-token")?),
            "--container" if inline.is_none() => container = true,
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }

    let listen = listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen: SocketAddr = listen
        .parse()
        .map_err(|_| format!("--listen wants IP:PORT, e.g. {DEFAULT_LISTEN}; got {listen:?}"))?;
    // The admin endpoints let anyone who can connect break the service.
    if !listen.ip().is_loopback() && !container {
        return Err(format!(
            "refusing to listen on non-loopback address {listen}; use 127.0.0.1 or [::1] \
             (or --container, inside a container)"
        ));
    }
    let api_token = api_token
        .or(env_token)
        .unwrap_or_else(|| Config::default().api_token);
    if api_token.is_empty() {
        return Err("the API token must not be empty".to_owned());
    }
    Ok(Command::Run(Args {
        listen,
        api_token,
        container,
    }))
}

/// Completes on the first SIGINT or SIGTERM (Ctrl-C elsewhere). Registers
/// the handlers now, not when first polled.
#[cfg(unix)]
fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        // If Ctrl-C cannot be watched, run until killed rather than exit now.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: Option<&str>) -> Result<Command, String> {
        parse_args(args.iter().map(|a| a.to_string()), env.map(str::to_owned))
    }

    fn run_args(listen: &str, token: &str) -> Command {
        Command::Run(Args {
            listen: listen.parse().unwrap(),
            api_token: token.to_owned(),
            container: false,
        })
    }

    #[test]
    fn defaults_and_env() {
        assert_eq!(
            parse(&[], None),
            Ok(run_args("127.0.0.1:8080", "demo-token"))
        );
        assert_eq!(
            parse(&[], Some("env")),
            Ok(run_args("127.0.0.1:8080", "env"))
        );
    }

    #[test]
    fn flags_override_env() {
        let expected = Ok(run_args("127.0.0.1:0", "flag"));
        assert_eq!(
            parse(
                &["--listen", "127.0.0.1:0", "--api-token", "flag"],
                Some("env")
            ),
            expected
        );
        assert_eq!(
            parse(&["--listen=127.0.0.1:0", "--api-token=flag"], None),
            expected
        );
        assert_eq!(
            parse(&["--listen", "[::1]:9"], None),
            Ok(run_args("[::1]:9", "demo-token"))
        );
    }

    #[test]
    fn rejects_bad_input() {
        for args in [
            &["--listen", "0.0.0.0:8080"][..],
            &["--listen", "192.168.1.10:8080"],
            &["--listen", "localhost:8080"],
            &["--listen"],
            &["--api-token="],
            &["--verbose"],
        ] {
            assert!(parse(args, None).is_err(), "{args:?}");
        }
        let err = parse(&["--listen", "0.0.0.0:80"], None).unwrap_err();
        assert!(err.contains("non-loopback"), "{err}");
        assert_eq!(
            parse(&["--listen", "0.0.0.0:8080", "--container"], None),
            Ok(Command::Run(Args {
                listen: "0.0.0.0:8080".parse().unwrap(),
                api_token: "demo-token".into(),
                container: true,
            }))
        );
        assert_eq!(
            parse(&["probe"], None),
            Ok(Command::Probe("http://127.0.0.1:8080/health".into()))
        );
        assert_eq!(
            parse(&["probe", "http://127.0.0.1:1/ready"], None),
            Ok(Command::Probe("http://127.0.0.1:1/ready".into()))
        );
        assert!(parse(&["probe", "a", "b"], None).is_err());
        assert_eq!(parse(&["--help"], None), Ok(Command::Help));
    }
}
