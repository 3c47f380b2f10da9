//! `wschaos check-client`: wschaos is the server; the client under test connects
//! once per case.

use anyhow::{Context as _, bail};

use super::output::{CaseRun, emit};
use super::signal::Shutdown;
use super::{
    MAX_MS, RunCommand, bounded, millis, parse_addr, seed_or_random, warn_unmatched_globs,
};
use crate::catalogue::{Side, catalogue, select};
use crate::check::client::{ClientCheck, serve_until};
use crate::report::{Mode, Report, now_rfc3339};

/// Act as a server for a client under test (one connection per case).
#[derive(clap::Args)]
#[command(after_long_help = "\
Point an echo client (one that sends back every message) at the printed address, once per \
case: a WebSocket upgrade to /case/<id> runs that case, to any other path the next case \
not yet served; GET /cases lists the ids (JSON). Plain HTTP requests get a 400 that \
explains this and use up no case. The report is written once every case has run, or \
--wait-s has passed. On SIGINT or SIGTERM running cases get 2 s to finish and the partial \
report is written; a second signal quits at once (status 130).

Exit status: 0 when every case passed or is info (non-strict does not fail the run \
unless --strict), 1 when a case failed, 2 for usage, configuration or connection errors, \
when no client attempted an upgrade before --wait-s, and for an interrupted run.

Example:
  wschaos check-client --listen 127.0.0.1:9001 --format json --out client.json")]
pub struct CheckClient {
    /// HOST:PORT to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: String,
    #[command(flatten)]
    pub run: CaseRun,
    /// Give up on cases the client has not come for after this many seconds
    /// (1 to 86400); they are reported as fail.
    #[arg(long, value_name = "S", default_value_t = 120)]
    pub wait_s: u64,
}

impl RunCommand for CheckClient {
    async fn run(self) -> anyhow::Result<u8> {
        let CaseRun {
            cases: globs,
            output,
            seed,
            timeout_ms,
            strict,
            progress,
        } = self.run;
        let addr = parse_addr("--listen", &self.listen)?;
        let timeout = millis("--timeout-ms", timeout_ms)?;
        let wait_s = bounded("--wait-s", self.wait_s, MAX_MS / 1000)?;
        output.check()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let seed = seed_or_random(seed);
        let all = catalogue(Side::Client, seed);
        warn_unmatched_globs(&globs, all.iter().map(|c| c.id.as_str()));
        let selected = select(all, &globs);
        if selected.is_empty() {
            bail!("no case matches {globs:?} (see `wschaos cases --side client`)");
        }
        let shutdown = Shutdown::on_signal();
        eprintln!(
            "check-client listening on ws://{local}/ ({} cases; GET /cases lists them, /case/<id> runs one; \
             Autobahn harnesses: /getCaseCount, /runCase?case=N&agent=A, /updateReports)",
            selected.len()
        );
        let cfg = ClientCheck {
            seed,
            timeout,
            wait: std::time::Duration::from_secs(wait_s),
            repro_dir: output.repro_dir(),
            progress,
        };
        let started = now_rfc3339();
        let outcome = serve_until(listener, cfg, selected, shutdown.wait()).await;
        if outcome.upgrades == 0 && !outcome.stopped {
            bail!(
                "no client attempted a WebSocket upgrade at ws://{local}/ within --wait-s {wait_s}; \
                 nothing was tested"
            );
        }
        if outcome.unnumbered > 0 {
            eprintln!(
                "note: {} handshake case(s) left out: a harness driving the run with Autobahn's \
                 /getCaseCount and /runCase cannot survive a broken 101; run them with /case/<id>",
                outcome.unnumbered
            );
        }
        if !outcome.agents.is_empty() {
            eprintln!("agent(s): {}", outcome.agents.join(", "));
        }
        let mut report = Report::new(
            Mode::Client,
            format!("ws://{local}/"),
            seed,
            started,
            outcome.results,
        )
        .strict(strict);
        if outcome.not_run > 0 {
            report = report.interrupted(outcome.not_run);
        }
        emit(&report, &output)
    }
}
