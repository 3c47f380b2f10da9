//! `wschaos-bench`: the processes of `scripts/bench-proxy` (issue 5's proxy
//! throughput benchmark). Loopback only. Servers print their address on stdout
//! line 1 and serve until killed; `load` prints one JSON line and exits.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use wschaos_bench::{copy_proxy, echo, load, loopback_addr, tls, tls_copy_proxy};

#[derive(Parser)]
#[command(
    name = "wschaos-bench",
    version,
    about = "Proxy throughput benchmark pieces: load generator, echo server, plain copy proxies (TCP, TLS)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Plain byte-copying TCP proxy (the floor); prints its address, then serves.
    CopyProxy {
        /// Address to bind, e.g. 127.0.0.1:0 for an ephemeral port.
        #[arg(long)]
        listen: String,
        /// 127.0.0.1:PORT to relay to.
        #[arg(long)]
        upstream: String,
        /// Runtime worker threads (default: tokio's, one per core, as `wschaos proxy`).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Plain TLS-terminating copy proxy (the floor of the TLS rows): TLS from the
    /// client, TLS to the upstream, bytes copied between; prints its address.
    TlsCopyProxy {
        #[arg(long)]
        listen: String,
        /// 127.0.0.1:PORT of a TLS server to relay to.
        #[arg(long)]
        upstream: String,
        /// Certificate (PEM, leaf first) presented to clients.
        #[arg(long)]
        tls_cert: PathBuf,
        /// Its private key (PEM).
        #[arg(long)]
        tls_key: PathBuf,
        /// CA (PEM) that signed the upstream's certificate; nothing else is trusted.
        #[arg(long)]
        upstream_ca: PathBuf,
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Lean frame-level echo server on the codec; prints `listening on ws://ADDR/`
    /// (`wss://` with --tls-cert and --tls-key).
    EchoServer {
        #[arg(long)]
        listen: String,
        /// Serve wss://: certificate (PEM, leaf first).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// Serve wss://: private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Runtime worker threads (default: tokio's, as `wschaos-target server`).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Closed-loop echo load; prints one JSON line.
    Load {
        /// ws://127.0.0.1:PORT/ or wss://127.0.0.1:PORT/ (no other host is accepted).
        #[arg(long)]
        url: String,
        /// For wss://: the CA (PEM) to trust, e.g. make-certs' ca.pem.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Payload bytes per message.
        #[arg(long)]
        size: usize,
        /// Connections, each with one message in flight.
        #[arg(long, default_value_t = 1)]
        conns: usize,
        /// Measured seconds.
        #[arg(long, default_value_t = 3.0)]
        secs: f64,
        /// Seconds of traffic before the measured window.
        #[arg(long, default_value_t = 0.5)]
        warmup_secs: f64,
        /// Runtime worker threads.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// The checker's floor: COUNT bare sessions (upgrade, one echo, Close), JOBS
    /// at a time; prints one JSON line with the wall time.
    Sessions {
        /// ws://127.0.0.1:PORT/ or wss://127.0.0.1:PORT/ (no other host is accepted).
        #[arg(long)]
        url: String,
        /// For wss://: the CA (PEM) to trust.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 16)]
        jobs: usize,
    },
    /// Writes a private CA and a server certificate for 127.0.0.1 into DIR:
    /// ca.pem, cert.pem, key.pem (for the TLS rows); prints DIR.
    MakeCerts { dir: PathBuf },
}

fn runtime(threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        anyhow::ensure!(n >= 1, "--threads must be at least 1");
        b.worker_threads(n);
    }
    b.enable_all().build().context("starting the tokio runtime")
}

/// Binds `listen` (loopback only), prints `banner(bound address)` as stdout's
/// first line, then runs `serve` until it fails.
fn serve_on<Fut>(
    listen: &str,
    threads: Option<usize>,
    banner: impl Fn(std::net::SocketAddr) -> String,
    serve: impl FnOnce(tokio::net::TcpListener) -> Fut,
) -> anyhow::Result<()>
where
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    let listen = loopback_addr("listen", listen)?;
    runtime(threads)?.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        println!("{}", banner(listener.local_addr()?));
        std::io::stdout().flush()?;
        serve(listener).await?;
        Ok(())
    })
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wschaos-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::CopyProxy {
            listen,
            upstream,
            threads,
        } => {
            let upstream = loopback_addr("upstream", &upstream)?;
            serve_on(
                &listen,
                threads,
                |a| a.to_string(),
                |l| copy_proxy::serve(l, upstream),
            )
        }
        Command::TlsCopyProxy {
            listen,
            upstream,
            tls_cert,
            tls_key,
            upstream_ca,
            threads,
        } => {
            let upstream = loopback_addr("upstream", &upstream)?;
            let tls = tls_copy_proxy::Tls {
                accept: tls::acceptor(&tls_cert, &tls_key)?,
                connect: tls::connector(&upstream_ca)?,
            };
            serve_on(
                &listen,
                threads,
                |a| a.to_string(),
                |l| tls_copy_proxy::serve(l, upstream, tls),
            )
        }
        Command::EchoServer {
            listen,
            tls_cert,
            tls_key,
            threads,
        } => {
            let acceptor = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(tls::acceptor(&cert, &key)?),
                _ => None,
            };
            let scheme = if acceptor.is_some() { "wss" } else { "ws" };
            serve_on(
                &listen,
                threads,
                |a| format!("listening on {scheme}://{a}/"),
                |l| echo::serve(l, acceptor),
            )
        }
        Command::MakeCerts { dir } => {
            tls::make_certs(&dir)?;
            println!("{}", dir.display());
            Ok(())
        }
        Command::Load {
            url,
            ca_file,
            size,
            conns,
            secs,
            warmup_secs,
            threads,
        } => {
            let cfg = load::LoadConfig {
                url,
                size,
                conns,
                secs,
                warmup_secs,
                ca_file,
            };
            let result = runtime(Some(threads))?.block_on(load::run(&cfg))?;
            println!("{}", result.to_json());
            Ok(())
        }
        Command::Sessions {
            url,
            ca_file,
            count,
            jobs,
        } => {
            let wall =
                runtime(None)?.block_on(load::sessions(&url, ca_file.as_deref(), count, jobs))?;
            let json = serde_json::json!({
                "sessions": count,
                "jobs": jobs,
                "wall_ms": (wall.as_secs_f64() * 1e4).round() / 10.0,
            });
            println!("{json}");
            Ok(())
        }
    }
}
