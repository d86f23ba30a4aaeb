use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use gate::cli::{Cli, Command, ConfigCommand, LogCommand};
use gate::run::Output;
use gate::verdict::EXIT_UNUSABLE;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let output = Output {
        color: cli.color,
        verbose: cli.verbose > 0,
        quiet: cli.quiet,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            fail(&anyhow::Error::new(e).context("cannot start the async runtime"));
            return ExitCode::from(EXIT_UNUSABLE as u8);
        }
    };
    let config = cli.config.as_deref();
    let result: anyhow::Result<i32> = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => gate::run::run(*args, config, output).await,
            Command::Inspect(args) => gate::inspect::inspect(args, config).await,
            Command::Config(ConfigCommand::Check(args)) => {
                gate::config::check::check(args, config).await
            }
            Command::Env(command) => gate::env_cmd::env(command, config),
            Command::Watch(args) => gate::watch::command(*args, config).await,
            Command::Log(LogCommand::Stats(args)) => gate::decision_log::command(args),
            Command::Verify(args) => gate::integrity::verify_command(args),
            Command::Sign(args) => gate::signing::sign(args),
            Command::Keygen(args) => gate::signing::keygen(args),
            Command::Cache(command) => gate::cache::command(command),
            Command::Test(args) => gate::replay::command(args, output).await,
            Command::New(args) => gate::scaffold::new(args),
            Command::Build(args) => gate::scaffold::build(args),
        }
    });
    let code = match result {
        Ok(code) => code,
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

fn fail(error: &anyhow::Error) {
    eprintln!("error: {error:#}");
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "gate=debug,info",
        _ => "gate=trace,debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
