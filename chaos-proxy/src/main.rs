//! The `wschaos` command line (SPEC.md contract): demo, check-server, check-client,
//! replay, proxy, cases, fuzz. Each subcommand's arguments and `run()` live in
//! `wschaos::cli::<name>`; this file parses and dispatches. Exit status 0 when every
//! case passed or is informational, 1 when any failed, 2 for usage, configuration
//! or connection errors and for an interrupted run.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wschaos::cli::{self, RunCommand};

#[derive(Parser)]
#[command(
    name = "wschaos",
    version,
    about = "WebSocket conformance checker and chaos testbed",
    after_long_help = "Exit status: 0 when every case passed or is info, 1 when any case \
failed, 2 for usage, configuration or connection errors. `wschaos help COMMAND` for more."
)]
struct Cli {
    /// Log filter for stderr, in tracing's EnvFilter syntax (e.g. info, debug,
    /// wschaos=trace). A filter that does not parse is an error.
    #[arg(long, global = true, default_value = "warn", value_name = "FILTER")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Demo(cli::demo::Demo),
    CheckServer(cli::check_server::CheckServer),
    CheckClient(cli::check_client::CheckClient),
    Replay(cli::replay::Replay),
    Proxy(cli::proxy::Proxy),
    Cases(cli::cases::Cases),
    Fuzz(cli::fuzz::Fuzz),
}

impl Command {
    async fn run(self) -> anyhow::Result<u8> {
        match self {
            Command::Demo(c) => c.run().await,
            Command::CheckServer(c) => c.run().await,
            Command::CheckClient(c) => c.run().await,
            Command::Replay(c) => c.run().await,
            Command::Proxy(c) => c.run().await,
            Command::Cases(c) => c.run().await,
            Command::Fuzz(c) => c.run().await,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli::init_logging(&cli.log) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(cli.command.run()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
