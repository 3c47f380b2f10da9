//! `wschaos-target`: runs one of the sample endpoints from the command line, an echo server
//! until Ctrl-C or the echo client over a check-client style server's cases. Logs go to
//! stderr (RUST_LOG), so stdout carries only the lines scripts read.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use wschaos_targets::{ClientFlaw, ClientOptions, ServerFlaw, run_echo_client, spawn_echo_server};

#[derive(Parser)]
#[command(
    name = "wschaos-target",
    version,
    about = "Sample WebSocket endpoints, conforming or deliberately broken"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the echo server, printing `listening on ws://ADDR/` once bound.
    Server {
        /// Address to bind, e.g. 127.0.0.1:0 for an ephemeral port.
        #[arg(long)]
        listen: String,
        #[arg(long, value_enum, default_value_t = ServerFlaw::None)]
        flaw: ServerFlaw,
    },
    /// Run the echo client over the cases of a check-client style server.
    Client {
        /// Base URL of the checker, e.g. ws://127.0.0.1:9001.
        #[arg(long)]
        base: String,
        /// Run only this case id (repeatable).
        #[arg(long = "case", value_name = "ID")]
        cases: Vec<String>,
        #[arg(long, value_enum, default_value_t = ClientFlaw::None)]
        flaw: ClientFlaw,
        /// Offer permessage-deflate and close with 1010 when the server does not accept it.
        #[arg(long)]
        require_deflate: bool,
        /// Limit for connecting, the handshake and each wait for a message.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    // Only fails if a subscriber is already set, and then logs still go somewhere.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
        .and_then(|runtime| runtime.block_on(run(cli.command)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wschaos-target: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Server { listen, flaw } => {
            let server = spawn_echo_server(&listen, flaw)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "listening on ws://{}/", server.addr)
                .and_then(|()| stdout.flush())
                .context("writing to stdout")?;
            drop(stdout);
            let stopped = tokio::signal::ctrl_c().await.context("waiting for Ctrl-C");
            server.shutdown().await;
            stopped
        }
        Command::Client {
            base,
            cases,
            flaw,
            require_deflate,
            timeout_ms,
        } => {
            let opts = ClientOptions {
                flaw,
                require_deflate,
                timeout: Duration::from_millis(timeout_ms),
            };
            let outcomes = run_echo_client(&base, &cases, opts).await?;
            let mut stdout = std::io::stdout().lock();
            for (id, outcome) in outcomes {
                writeln!(stdout, "{id}: {outcome}").context("writing to stdout")?;
            }
            stdout.flush().context("writing to stdout")
        }
    }
}
