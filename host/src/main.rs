use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use gate::cli::{Cli, Command, ConfigCommand};
use gate::run::Output;
use gate::verdict::EXIT_UNUSABLE;

fn main() -> ExitCode {
    unset_empty_flag_variables();
    let cli = Cli::parse();
    if let Some(problem) = cli.quiet_problem() {
        fail(&anyhow::anyhow!(problem));
        return ExitCode::from(EXIT_UNUSABLE as u8);
    }
    init_tracing(cli.verbose, cli.color);
    let output = Output {
        color: cli.color,
        verbose: cli.verbose > 0,
        quiet: cli.quiet,
    };
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            fail(&error);
            return ExitCode::from(EXIT_UNUSABLE as u8);
        }
    };
    // Commands whose output is all they give, or that decided before they
    // wrote (verify): a reader that stops reading them is no failure. (A
    // verdict's code never depends on stdout.)
    let informational = matches!(
        cli.command,
        Command::Inspect(_)
            | Command::Verify(_)
            | Command::Env(_)
            | Command::Log(_)
            | Command::Cache(_)
            | Command::Completions(_)
    );
    let config = cli.config.as_deref();
    let result: anyhow::Result<i32> = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => gate::run::run(*args, config, output).await,
            Command::Inspect(args) => gate::inspect::inspect(args, config).await,
            Command::Config(ConfigCommand::Check(args)) => {
                gate::config::check::check(args, config, output.quiet).await
            }
            Command::Env(command) => gate::env_cmd::env(command, config),
            Command::Watch(mut args) => {
                // `--webhook` is gate watch's name for `--notify`: made one
                // before the plan, so that it overrides gate.toml's webhook
                // (whose secret then need not be set) and is redacted.
                if let Some(url) = args.webhook.take() {
                    args.run.notify = Some(url);
                }
                gate::watch::command(*args, config, output.quiet).await
            }
            Command::Log(command) => gate::log_cmd::command(command, config),
            Command::Verify(args) => gate::integrity::verify_command(args),
            Command::Sign(args) => gate::signing::sign(args),
            Command::Keygen(args) => gate::signing::keygen(args),
            Command::Cache(command) => gate::cache::command(command),
            Command::Test(args) => gate::replay::command(args, output).await,
            Command::New(args) => gate::scaffold::new(args),
            Command::Build(args) => gate::scaffold::build(args).await,
            Command::Completions(args) => gate::cli::completions(args),
        }
    });
    let code = match result {
        Ok(code) => code,
        // The reader went away (`gate inspect … | head`): what it read was
        // right, and it asked for no more. (gate run, watch and test finish
        // with their verdict's code whatever happens to their output.)
        Err(error) if informational && is_broken_pipe(&error) => 0,
        Err(error) => {
            fail(&error);
            EXIT_UNUSABLE
        }
    };
    // Straight out: shutting the runtime down joins its worker threads only
    // for the kernel to end them anyway. Reports are written and flushed by
    // now, and `exit` flushes stdout once more.
    std::process::exit(code)
}

/// A variable that stands for a flag (`GATE_TARGET` for `--target`) but is
/// set to nothing, as a CI variable defined for one environment only is in
/// the others, means the flag not given: clap would take "" as its value
/// and refuse it, naming a flag nobody typed.
fn unset_empty_flag_variables() {
    use clap::CommandFactory;
    let empty = |name: &std::ffi::OsStr| std::env::var_os(name).is_some_and(|v| v.is_empty());
    // The whole command tree is built only when some GATE_ variable is empty.
    if !std::env::vars_os()
        .any(|(name, value)| value.is_empty() && name.as_encoded_bytes().starts_with(b"GATE_"))
    {
        return;
    }
    let mut command = Cli::command();
    command.build();
    let mut names = Vec::new();
    let mut pending = vec![&command];
    while let Some(command) = pending.pop() {
        names.extend(command.get_arguments().filter_map(|a| a.get_env()));
        pending.extend(command.get_subcommands());
    }
    for name in names.into_iter().filter(|n| empty(n)) {
        // SAFETY: main's first step, before any other thread exists.
        unsafe { std::env::remove_var(name) };
    }
}

/// gate's async runtime: one thread unless `GATE_WORKER_THREADS` asks for
/// more. A check costs microseconds of CPU between waits, so a second
/// thread buys nothing but hand-offs between threads, and page faults in a
/// fresh sandbox that must flush the other CPU's TLB: one thread took a
/// 50-check HTTP run from 8.6 to 7.7 ms (BENCHMARKS.md). Checks still run
/// concurrently, and one that computes yields to the others at every epoch
/// tick; more threads pay only for policies heavy on CPU.
fn async_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    let threads = match std::env::var("GATE_WORKER_THREADS") {
        Err(std::env::VarError::NotPresent) => 1,
        Ok(text) if text.is_empty() => 1,
        Ok(text) => match text.parse::<usize>() {
            Ok(n @ 1..=256) => n,
            _ => anyhow::bail!("GATE_WORKER_THREADS must be a number from 1 to 256, not `{text}`"),
        },
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("GATE_WORKER_THREADS must be a number from 1 to 256")
        }
    };
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| anyhow::Error::new(e).context("cannot start the async runtime"))
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        // serde_json's error hides its io::Error from the chain.
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(BrokenPipe))
    })
}

fn fail(error: &anyhow::Error) {
    eprintln!("error: {}", said_once(error));
}

/// The error and its causes, as `{:#}` joins them, but each said once:
/// many of gate's errors quote their cause already (`cannot read CA file
/// F: No such file or directory`), which `{:#}` would repeat.
fn said_once(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn init_tracing(verbose: u8, color: gate::cli::ColorChoice) {
    let default = match verbose {
        0 => "warn",
        1 => "gate=debug,info",
        _ => "gate=trace,debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color.enabled(std::io::IsTerminal::is_terminal(&std::io::stderr())))
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::{is_broken_pipe, said_once};

    #[test]
    fn a_broken_pipe_is_known_under_serde_json_and_context() {
        let pipe = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(&anyhow::Error::new(pipe())));
        assert!(is_broken_pipe(
            &anyhow::Error::new(serde_json::Error::io(pipe())).context("cannot write")
        ));
        let other = serde_json::Error::io(std::io::Error::other("disk full"));
        assert!(!is_broken_pipe(&anyhow::Error::new(other)));
    }

    #[test]
    fn a_cause_an_error_quotes_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read F: {source}")]
        struct Quoting {
            source: std::io::Error,
        }
        let quoting = anyhow::Error::new(Quoting {
            source: std::io::Error::other("no such file"),
        });
        assert_eq!(said_once(&quoting), "cannot read F: no such file");
        let context = anyhow::Error::new(std::io::Error::other("refused")).context("cannot post");
        assert_eq!(said_once(&context), "cannot post: refused");
    }
}
