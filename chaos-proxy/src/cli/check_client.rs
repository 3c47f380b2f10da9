//! `wschaos check-client`: wschaos is the server; the client under test connects
//! once per case.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

use super::output::{CaseRun, DropIn, emit_runs};
use super::signal::Shutdown;
use super::{
    MAX_MS, RunCommand, bounded, millis, parse_addr, seed_or_random, warn_unmatched_globs,
};
use crate::catalogue::{Side, catalogue, select};
use crate::check::client::{AgentPlan, ClientCheck, serve_agents_until};
use crate::report::autobahn_index::AgentRun;
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

Harnesses that drive the run with Autobahn's paths name an agent (/runCase?agent=A); \
results are kept per agent, and several agents may run one after another or at once: \
the run ends once --agents of them have each run every case and asked /updateReports. \
--spec reads an Autobahn fuzzingserver.json (url, outdir, cases, exclude-cases, \
exclude-agent-cases).

Example:
  wschaos check-client --listen 127.0.0.1:9001 --format json --out client.json
  wschaos check-client --spec fuzzingserver.json --agents 2 --report-dir reports/clients")]
pub struct CheckClient {
    /// HOST:PORT to listen on (port 0 picks a free one; the address is printed).
    /// Default with --spec: the host and port of its "url".
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    #[command(flatten)]
    pub run: CaseRun,
    #[command(flatten)]
    pub drop_in: DropIn,
    /// How many agents (harnesses naming one with /runCase?agent=) the run waits
    /// for: it ends once that many have each run every case and asked
    /// /updateReports (1 to 4096).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub agents: u64,
    /// Give up on cases the client has not come for after this many seconds
    /// (1 to 86400); they are reported as fail.
    #[arg(long, value_name = "S", default_value_t = 120)]
    pub wait_s: u64,
    #[command(flatten)]
    pub tls: super::tls::ServerTls,
}

/// Where to listen for a fuzzingserver spec's `url` (`ws://HOST:PORT[/...]`;
/// `localhost` is 127.0.0.1, port 0 picks a free one).
fn listen_of_spec_url(url: &str) -> anyhow::Result<String> {
    let bad = || anyhow::anyhow!("--spec: \"url\" {url:?}: expected ws://HOST:PORT");
    let rest = url.strip_prefix("ws://").ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
    let host = if host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1"
    } else {
        host
    };
    let addr = format!("{host}:{port}");
    addr.parse::<std::net::SocketAddr>().map_err(|_| bad())?;
    Ok(addr)
}

impl RunCommand for CheckClient {
    async fn run(mut self) -> anyhow::Result<u8> {
        let CaseRun {
            cases: globs,
            output,
            seed,
            timeout_ms,
            strict,
            progress,
        } = self.run;
        let spec = self.drop_in.check()?;
        let listen = match (&self.listen, spec.as_ref().and_then(|s| s.url.as_ref())) {
            (Some(l), _) => l.clone(),
            (None, Some(url)) => listen_of_spec_url(url)?,
            (None, None) => bail!("give --listen HOST:PORT (or --spec with a \"url\")"),
        };
        let addr = parse_addr("--listen", &listen)?;
        let expect = bounded("--agents", self.agents, super::MAX_JOBS)? as usize;
        let timeout = millis("--timeout-ms", timeout_ms)?;
        let wait_s = bounded("--wait-s", self.wait_s, MAX_MS / 1000)?;
        output.check()?;
        let tls = self.tls.acceptor(&addr.ip().to_string())?;
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let seed = seed_or_random(seed);
        let all = catalogue(Side::Client, seed);
        let autobahn: BTreeMap<String, Vec<String>> = all
            .iter()
            .map(|c| (c.id.clone(), c.autobahn.clone()))
            .collect();
        warn_unmatched_globs(&globs, all.iter().map(|c| c.id.as_str()));
        let mut selected = select(all, &globs);
        if let Some(spec) = &spec {
            selected = super::spec::select(spec, selected)?;
        }
        let plan = AgentPlan {
            expect,
            skip: spec
                .as_ref()
                .map(|sp| super::spec::agent_skips(sp, &selected))
                .unwrap_or_default(),
        };
        if selected.is_empty() {
            bail!("no case matches {globs:?} (see `wschaos cases --side client`)");
        }
        let shutdown = Shutdown::on_signal();
        eprintln!(
            "check-client listening on {scheme}://{local}/ ({} cases; GET /cases lists them, /case/<id> runs one; \
             Autobahn harnesses: /getCaseCount, /runCase?case=N&agent=A, /updateReports)",
            selected.len()
        );
        let cfg = ClientCheck {
            seed,
            timeout,
            wait: std::time::Duration::from_secs(wait_s),
            repro_dir: self.drop_in.repro_dir(&output),
            progress,
            tls,
        };
        let started = now_rfc3339();
        let outcome = serve_agents_until(listener, cfg, selected, plan, shutdown.wait()).await;
        if outcome.upgrades == 0 && !outcome.stopped {
            bail!(
                "no client attempted a WebSocket upgrade at {scheme}://{local}/ within --wait-s {wait_s}; \
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
        let one = outcome.per_agent.len() == 1 && outcome.per_agent[0].agent.is_none();
        let runs: Vec<AgentRun> = outcome
            .per_agent
            .into_iter()
            .map(|a| {
                let mut report = Report::new(
                    Mode::Client,
                    format!("{scheme}://{local}/"),
                    seed,
                    started.clone(),
                    a.results,
                )
                .strict(strict);
                if a.not_run > 0 {
                    report = report.interrupted(a.not_run);
                }
                let agent = a.agent.unwrap_or_else(|| "client".to_owned());
                if !one {
                    report.agent = Some(agent.clone());
                }
                AgentRun {
                    agent,
                    report,
                    autobahn: autobahn.clone(),
                }
            })
            .collect();
        emit_runs(&runs, &output, &self.drop_in)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_urls_give_listen_addresses() {
        assert_eq!(
            listen_of_spec_url("ws://127.0.0.1:9001").unwrap(),
            "127.0.0.1:9001"
        );
        assert_eq!(
            listen_of_spec_url("ws://localhost:0/x").unwrap(),
            "127.0.0.1:0"
        );
        for bad in ["http://127.0.0.1:1", "ws://127.0.0.1", "ws://no.such:1"] {
            let e = listen_of_spec_url(bad).unwrap_err().to_string();
            assert!(e.contains("expected ws://HOST:PORT"), "{e}");
        }
    }
}
