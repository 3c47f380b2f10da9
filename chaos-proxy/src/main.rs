//! The `wschaos` command line (SPEC.md contract): demo, check-server, check-client,
//! replay, cases. Exit status 0 when every case passed or is informational, 1 when
//! any failed, 2 for usage, configuration or connection errors.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use wschaos::catalogue::{CatalogueOptions, Side, catalogue, select};
use wschaos::check::client::{ClientCheck, serve};
use wschaos::check::server::{ServerCheck, probe, run_suite};
use wschaos::report::{self, Mode, Report, Verdict, now_rfc3339};
use wschaos::url::WsUrl;

#[derive(Parser)]
#[command(
    name = "wschaos",
    version,
    about = "WebSocket conformance checker and chaos testbed"
)]
struct Cli {
    /// Log filter for stderr (e.g. info, debug, wschaos=trace).
    #[arg(long, global = true, default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Junit,
}

#[derive(Clone, Copy, ValueEnum)]
enum CasesFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum SideArg {
    Server,
    Client,
}

#[derive(clap::Args)]
struct Output {
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Save the bytes of every non-pass case here, for `wschaos replay`
    /// (default with --out: FILE.repro/).
    #[arg(long)]
    repro_dir: Option<PathBuf>,
}

impl Output {
    fn repro_dir(&self) -> Option<PathBuf> {
        self.repro_dir.clone().or_else(|| {
            self.out
                .as_ref()
                .map(|p| PathBuf::from(format!("{}.repro", p.display())))
        })
    }
}

/// What check-server and check-client share: which cases, how to report, the
/// seed and the per-case timeout.
#[derive(clap::Args)]
struct CaseRun {
    /// Run only cases whose id matches a glob (repeatable).
    #[arg(long = "case")]
    cases: Vec<String>,
    #[command(flatten)]
    output: Output,
    #[arg(long)]
    seed: Option<u64>,
    /// Per-case time to react.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Start built-in conforming and broken targets and run the server suite on each.
    Demo {
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
        #[arg(long, default_value_t = 16)]
        jobs: usize,
    },
    /// Drive a server under test through the server-side catalogue.
    CheckServer {
        /// ws://HOST:PORT/PATH of the server under test.
        #[arg(long)]
        target: String,
        #[command(flatten)]
        run: CaseRun,
        /// Offer permessage-deflate and run the deflate.* cases.
        #[arg(long)]
        offer_deflate: bool,
        /// Cases run at once (each on its own connection).
        #[arg(long, default_value_t = 16)]
        jobs: usize,
    },
    /// Act as a server for a client under test (one connection per case).
    CheckClient {
        /// HOST:PORT to listen on (port 0 picks a free one; the address is printed).
        #[arg(long)]
        listen: String,
        #[command(flatten)]
        run: CaseRun,
        /// Give up on cases the client has not come for after this many seconds.
        #[arg(long, default_value_t = 120)]
        wait_s: u64,
    },
    /// Send saved bytes to a server after a handshake and print its reaction.
    Replay {
        #[arg(long)]
        target: String,
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Relay between a real client and server, injecting seeded faults and
    /// recording how the receiving endpoint reacts.
    Proxy {
        /// HOST:PORT to accept clients on.
        #[arg(long)]
        listen: String,
        /// HOST:PORT of the real server.
        #[arg(long)]
        upstream: String,
        /// NAME[@c2s|s2c|both][:key=value,...] (repeatable); none: transparent.
        #[arg(long = "fault")]
        faults: Vec<String>,
        #[arg(long)]
        seed: Option<u64>,
        /// Write one JSON line per injected fault here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Time the receiver of a fault has to react.
        #[arg(long, default_value_t = 2000)]
        reaction_timeout_ms: u64,
        /// HOST:PORT for the control API (HTTP/JSON; keep it on loopback).
        #[arg(long)]
        api: Option<String>,
        /// Save the streams of every connection a fault hit here (replay files
        /// and relay fuzz seeds).
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Print the case catalogue with the expected reactions.
    Cases {
        #[arg(long, value_enum, default_value = "text")]
        format: CasesFormat,
        #[arg(long, value_enum, default_value = "server")]
        side: SideArg,
        #[arg(long)]
        offer_deflate: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
    match rt.block_on(run(cli.command)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn seed_or_random(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let s = t ^ u64::from(std::process::id()).rotate_left(32);
        eprintln!("seed: {s} (pass --seed {s} to reproduce)");
        s
    })
}

fn emit(report: &Report, output: &Output) -> anyhow::Result<u8> {
    let to_file = output.out.is_some();
    let body = match output.format {
        Format::Text => {
            report::text::render(report, !to_file && report::text::use_color_for_stdout())
        }
        Format::Json => report::json::render(report),
        Format::Junit => report::junit::render(report),
    };
    match &output.out {
        Some(path) => {
            std::fs::write(path, body)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let s = report.summary;
            eprintln!(
                "{} pass, {} non-strict, {} fail, {} info; report written to {}",
                s.pass,
                s.non_strict,
                s.fail,
                s.info,
                path.display()
            );
        }
        None => stdout(&body)?,
    }
    Ok(report.exit_code())
}

/// Writes to stdout. A reader that went away (`wschaos cases | head`) is not an
/// error: the output was not wanted any more.
fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

async fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Demo {
            seed,
            timeout_ms,
            jobs,
        } => {
            let seed = seed.unwrap_or(1);
            let color = report::text::use_color_for_stdout();
            let outcome =
                wschaos::demo::run(seed, Duration::from_millis(timeout_ms), jobs, color).await?;
            let verdict = if outcome.as_designed {
                "the conforming target passes; every broken target is caught"
            } else {
                "unexpected: a target did not behave as designed (see above)"
            };
            stdout(&format!("{}\n{verdict}\n", outcome.text))?;
            Ok(if outcome.as_designed { 0 } else { 1 })
        }
        Command::CheckServer {
            target,
            run:
                CaseRun {
                    cases,
                    output,
                    seed,
                    timeout_ms,
                },
            offer_deflate,
            jobs,
        } => {
            let target = WsUrl::parse(&target)?;
            let seed = seed_or_random(seed);
            let timeout = Duration::from_millis(timeout_ms);
            probe(&target, timeout).await.map_err(anyhow::Error::msg)?;
            let selected = select(
                catalogue(Side::Server, seed, CatalogueOptions { offer_deflate }),
                &cases,
            );
            if selected.is_empty() {
                bail!("no case matches {cases:?} (see `wschaos cases`)");
            }
            let cfg = ServerCheck {
                target: target.clone(),
                seed,
                timeout,
                jobs,
                repro_dir: output.repro_dir(),
            };
            let started = now_rfc3339();
            let results = run_suite(&cfg, selected).await;
            emit(
                &Report::new(Mode::Server, target.to_string(), seed, started, results),
                &output,
            )
        }
        Command::CheckClient {
            listen,
            run:
                CaseRun {
                    cases,
                    output,
                    seed,
                    timeout_ms,
                },
            wait_s,
        } => {
            let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
                anyhow::anyhow!(
                    "bad listen address {listen:?}: expected HOST:PORT, e.g. 127.0.0.1:9001"
                )
            })?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let local = listener.local_addr()?;
            let seed = seed_or_random(seed);
            let selected = select(
                catalogue(Side::Client, seed, CatalogueOptions::default()),
                &cases,
            );
            if selected.is_empty() {
                bail!("no case matches {cases:?} (see `wschaos cases --side client`)");
            }
            eprintln!(
                "check-client listening on ws://{local}/ ({} cases; GET /cases lists them, /case/<id> runs one)",
                selected.len()
            );
            let cfg = ClientCheck {
                seed,
                timeout: Duration::from_millis(timeout_ms),
                wait: Duration::from_secs(wait_s),
                repro_dir: output.repro_dir(),
            };
            let started = now_rfc3339();
            let results = serve(listener, cfg, selected).await;
            emit(
                &Report::new(
                    Mode::Client,
                    format!("ws://{local}/"),
                    seed,
                    started,
                    results,
                ),
                &output,
            )
        }
        Command::Replay {
            target,
            timeout_ms,
            files,
        } => {
            let target = WsUrl::parse(&target)?;
            let timeout = Duration::from_millis(timeout_ms);
            probe(&target, timeout).await.map_err(anyhow::Error::msg)?;
            let cfg = ServerCheck {
                target,
                seed: 0,
                timeout,
                jobs: 1,
                repro_dir: None,
            };
            let mut failed = false;
            for file in &files {
                let r = wschaos::replay::replay_file(&cfg, file)
                    .await
                    .map_err(anyhow::Error::msg)?;
                failed |= r.verdict == Verdict::Fail;
                stdout(&format!(
                    "{}: expected {}, observed {} -> {}{}\n",
                    r.id,
                    serde_json::to_string(&r.expected)?,
                    serde_json::to_string(&r.observed)?,
                    r.verdict.as_str(),
                    r.note.map(|n| format!(" ({n})")).unwrap_or_default()
                ))?;
            }
            Ok(u8::from(failed))
        }
        Command::Proxy {
            listen,
            upstream,
            faults,
            seed,
            report,
            reaction_timeout_ms,
            api,
            record,
        } => {
            let opts = ProxyOpts {
                report,
                reaction_timeout_ms,
                api,
                record,
            };
            run_proxy(listen, upstream, faults, seed, opts).await
        }
        Command::Cases {
            format,
            side,
            offer_deflate,
        } => {
            let side = match side {
                SideArg::Server => Side::Server,
                SideArg::Client => Side::Client,
            };
            let cases = catalogue(side, 0, CatalogueOptions { offer_deflate });
            match format {
                CasesFormat::Json => {
                    let list: Vec<serde_json::Value> = cases
                        .iter()
                        .map(|c| serde_json::json!({"id": c.id, "description": c.description, "expected": c.expect.report()}))
                        .collect();
                    stdout(&format!("{}\n", serde_json::to_string_pretty(&list)?))?;
                }
                CasesFormat::Text => {
                    let mut text = String::new();
                    for c in &cases {
                        let expected = match c.expect.report() {
                            report::ExpectedReport::Codes(v) => {
                                v.iter().map(u16::to_string).collect::<Vec<_>>().join("|")
                            }
                            report::ExpectedReport::Word(w) => w,
                        };
                        text.push_str(&format!(
                            "{:<44} {:<12} {}\n",
                            c.id, expected, c.description
                        ));
                    }
                    text.push_str(&format!("{} cases\n", cases.len()));
                    stdout(&text)?;
                }
            }
            Ok(0)
        }
    }
}

struct ProxyOpts {
    report: Option<PathBuf>,
    reaction_timeout_ms: u64,
    api: Option<String>,
    record: Option<PathBuf>,
}

async fn run_proxy(
    listen: String,
    upstream: String,
    faults: Vec<String>,
    seed: Option<u64>,
    opts: ProxyOpts,
) -> anyhow::Result<u8> {
    use wschaos::proxy::fault::FaultSpec;
    use wschaos::proxy::server::{ProxyConfig, run};
    use wschaos::proxy::state::ProxyState;
    let ProxyOpts {
        report,
        reaction_timeout_ms,
        api,
        record,
    } = opts;

    let specs = faults
        .iter()
        .map(String::as_str)
        .map(FaultSpec::parse)
        .collect::<Result<Vec<_>, _>>()?;
    let state = std::sync::Arc::new(ProxyState::new(specs)?);
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
        anyhow::anyhow!("bad listen address {listen:?}: expected HOST:PORT, e.g. 127.0.0.1:9002")
    })?;
    if !upstream.contains(':') {
        bail!("bad upstream {upstream:?}: expected HOST:PORT");
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let seed = seed_or_random(seed);
    let mut cfg = ProxyConfig::new(upstream, seed, state);
    cfg.reaction_timeout = Duration::from_millis(reaction_timeout_ms);
    cfg.record = record;
    eprintln!("{}", cfg.describe(listener.local_addr()?));
    // Open the report before serving, so a bad path fails at once.
    if let Some(path) = &report {
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    cfg.report = report;
    if let Some(api) = api {
        let addr: std::net::SocketAddr = api.parse().map_err(|_| {
            anyhow::anyhow!("bad api address {api:?}: expected HOST:PORT, e.g. 127.0.0.1:9003")
        })?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for the api"))?;
        eprintln!(
            "control api on http://{}/ (GET /faults, POST /faults, DELETE /faults/<id>, GET /verdicts, POST /reset)",
            listener.local_addr()?
        );
        cfg.api = Some(listener);
    }
    // Replaced by cli::signal::shutdown_signal (SIGINT and SIGTERM) once the CLI moves.
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down: settling open connections and flushing the report");
    };
    let totals = run(listener, cfg, shutdown)
        .await
        .context("writing the report")?;
    eprintln!(
        "{} connections, {} faults injected: {} pass, {} non-strict, {} fail, {} info",
        totals.connections,
        totals.injections,
        totals.pass,
        totals.non_strict,
        totals.fail,
        totals.info
    );
    Ok(u8::from(totals.fail > 0))
}
