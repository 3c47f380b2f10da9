//! `wschaos check-server`: wschaos is the client and drives a server under test
//! through the server-side catalogue, one fresh connection per case.

use anyhow::bail;

use super::output::{CaseRun, emit};
use super::signal::Shutdown;
use super::{MAX_JOBS, RunCommand, bounded, millis, seed_or_random, warn_unmatched_globs};
use crate::catalogue::{Side, catalogue, select};
use crate::check::server::{ServerCheck, probe, run_suite_until};
use crate::report::{Mode, Report, now_rfc3339};
use crate::url::WsUrl;

/// Drive a server under test through the server-side catalogue.
#[derive(clap::Args)]
#[command(after_long_help = "\
The target is probed first: it must accept TCP and answer a valid upgrade with a valid \
101, or the run stops with one error line. On SIGINT or SIGTERM no new case starts, \
running cases get 2 s to finish, and the partial report (marked partial) is written; \
a second signal quits at once (status 130).

Exit status: 0 when every case passed or is info (non-strict does not fail the run \
unless --strict), 1 when a case failed, 2 for usage, configuration or connection errors \
and for an interrupted run.

Example:
  wschaos check-server --target ws://127.0.0.1:9001/ --case 'rsv.*' --format junit --out report.xml")]
pub struct CheckServer {
    /// ws://HOST:PORT/PATH of the server under test (wss:// is not supported).
    #[arg(long, value_name = "URL")]
    pub target: String,
    #[command(flatten)]
    pub run: CaseRun,
    /// Accepted so that existing scripts keep working; it changes nothing: the
    /// deflate.* cases always run, each offering permessage-deflate, and are
    /// `info` ("extension not negotiated") where the server does not agree.
    #[arg(long, hide_short_help = true)]
    pub offer_deflate: bool,
    /// Cases run at once, each on its own connection (1 to 4096).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub jobs: u64,
}

impl RunCommand for CheckServer {
    async fn run(self) -> anyhow::Result<u8> {
        let CaseRun {
            cases: globs,
            output,
            seed,
            timeout_ms,
            strict,
        } = self.run;
        let target = WsUrl::parse(&self.target)?;
        let timeout = millis("--timeout-ms", timeout_ms)?;
        let jobs = bounded("--jobs", self.jobs, MAX_JOBS)? as usize;
        output.check()?;
        let shutdown = Shutdown::on_signal();
        let seed = seed_or_random(seed);
        let all = catalogue(Side::Server, seed);
        warn_unmatched_globs(&globs, all.iter().map(|c| c.id.as_str()));
        let selected = select(all, &globs);
        if selected.is_empty() {
            bail!("no case matches {globs:?} (see `wschaos cases`)");
        }
        tokio::select! {
            probed = probe(&target, timeout) => probed.map_err(anyhow::Error::msg)?,
            () = shutdown.clone().wait() => bail!("interrupted before the first case"),
        }
        let cfg = ServerCheck {
            target: target.clone(),
            seed,
            timeout,
            jobs,
            repro_dir: output.repro_dir(),
        };
        let started = now_rfc3339();
        let total = selected.len();
        let outcome = run_suite_until(&cfg, selected, shutdown.wait()).await;
        let mut report = Report::new(
            Mode::Server,
            target.to_string(),
            seed,
            started,
            outcome.results,
        )
        .strict(strict);
        if outcome.not_run > 0 {
            report = report.interrupted(outcome.not_run);
        }
        debug_assert_eq!(report.cases.len() + report.not_run, total);
        emit(&report, &output)
    }
}
