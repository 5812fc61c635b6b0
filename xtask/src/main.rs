//! `cargo xtask`: parses the command line and hands it to the xtask library.

use std::process::ExitCode;

use clap::Parser;
use xtask::{report_error, run, Cli, Command, Env, Shell};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let json = matches!(
        &cli.command,
        Command::Plan(a) if a.json
    ) || matches!(&cli.command, Command::Up(a) | Command::Down(a) if a.json)
        || matches!(&cli.command, Command::Status(a) if a.json);
    let shell = Shell::stdio();
    let env = Env::from_project();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            report_error(
                &shell,
                &anyhow::Error::new(err).context("starting the async runtime"),
                json,
            );
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, &env, &shell)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            report_error(&shell, &err, json);
            ExitCode::from(1)
        }
    }
}
