//! `wschaos check-server`: wschaos is the client and drives a server under test
//! through the server-side catalogue, one fresh connection per case.

use std::collections::BTreeMap;

use anyhow::bail;

use super::output::{CaseRun, DropIn, emit_runs};
use super::signal::Shutdown;
use super::spec::{Spec, excluded_for};
use super::{MAX_JOBS, RunCommand, bounded, millis, seed_or_random, warn_unmatched_globs};
use crate::catalogue::{Side, catalogue, select};
use crate::check::server::{RequestExtras, ServerCheck, probe, run_suite_until};
use crate::report::autobahn_index::AgentRun;
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

Several servers make one run and one report: --target given more than once, or the \
servers of an Autobahn fuzzingclient.json given with --spec. Each is named by its agent: \
the spec's \"agent\", else --agent (in the order of the --target flags), else the \
101's Server: header (as Autobahn does), else HOST:PORT. Servers run one after another.

Example:
  wschaos check-server --target ws://127.0.0.1:9001/ --case 'rsv.*' --format junit --out report.xml
  wschaos check-server --spec fuzzingclient.json --report-dir reports/servers
  wschaos check-server --target ws://127.0.0.1:9001/ --target ws://127.0.0.1:9002/ --agent a --agent b --report-dir out
  wschaos check-server --target ws://127.0.0.1:9001/chat --header 'Authorization: Bearer t0k' --subprotocol chat.v1")]
pub struct CheckServer {
    /// ws://HOST:PORT/PATH or wss://HOST:PORT/PATH of a server under test
    /// (repeatable: one run, one report with every agent).
    #[arg(long = "target", value_name = "URL")]
    pub targets: Vec<String>,
    /// The agent name of each --target, in the same order (repeatable).
    #[arg(long = "agent", value_name = "NAME")]
    pub agents: Vec<String>,
    #[command(flatten)]
    pub run: CaseRun,
    #[command(flatten)]
    pub drop_in: DropIn,
    /// Accepted so that existing scripts keep working; it changes nothing: the
    /// deflate.* cases always run, each offering permessage-deflate, and are
    /// `info` ("extension not negotiated") where the server does not agree.
    #[arg(long, hide_short_help = true)]
    pub offer_deflate: bool,
    /// Cases run at once, each on its own connection (1 to 4096).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub jobs: u64,
    /// A header every upgrade request carries, for servers that need a token or a
    /// cookie (repeatable): 'Authorization: Bearer …'. Not one wschaos sets itself.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// The Origin header every upgrade request carries.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// A subprotocol every upgrade request offers (repeatable, in order of
    /// preference); the 101 may then select one of them.
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,
    #[command(flatten)]
    pub tls: super::tls::ClientTls,
}

/// Headers wschaos writes itself on every upgrade request.
const OWN_HEADERS: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "content-length",
    "transfer-encoding",
];

/// A token (RFC 9110 5.6.2): what header names and subprotocols are made of.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks what the user adds to the upgrade requests; one line naming the problem.
pub fn request_extras(
    headers: &[String],
    origin: Option<&str>,
    subprotocols: &[String],
) -> anyhow::Result<RequestExtras> {
    let value_ok = |v: &str| {
        !v.chars()
            .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
    };
    let mut extras = RequestExtras::default();
    for h in headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!("--header {h:?}: expected 'NAME: VALUE'");
        };
        let (name, value) = (name.trim(), value.trim());
        if !is_token(name) {
            bail!("--header {h:?}: {name:?} is not a header name");
        }
        if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            bail!(
                "--header {h:?}: wschaos sets {name} itself (use --subprotocol for Sec-WebSocket-Protocol)"
            );
        }
        if !value_ok(value) {
            bail!("--header {name}: the value holds a control character");
        }
        extras.headers.push((name.to_owned(), value.to_owned()));
    }
    if let Some(o) = origin {
        if o.is_empty() || !value_ok(o) {
            bail!("--origin {o:?}: empty or holds a control character");
        }
        if extras
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("origin"))
        {
            bail!("--origin and --header 'Origin: …' both given");
        }
        extras.headers.push(("Origin".to_owned(), o.to_owned()));
    }
    for p in subprotocols {
        if !is_token(p) {
            bail!("--subprotocol {p:?}: not a token (letters, digits and !#$%&'*+-.^_`|~)");
        }
        if extras.subprotocols.contains(p) {
            bail!("--subprotocol {p}: given twice");
        }
        extras.subprotocols.push(p.clone());
    }
    Ok(extras)
}

/// One server of the run: where, and under which agent name (if one was given).
struct Server {
    url: WsUrl,
    agent: Option<String>,
}

/// The servers of the run, from the spec or the --target flags.
fn servers(
    targets: &[String],
    agents: &[String],
    spec: Option<&Spec>,
) -> anyhow::Result<Vec<Server>> {
    if agents.len() > targets.len() {
        bail!(
            "{} --agent for {} --target: give at most one --agent per --target, in the same order",
            agents.len(),
            targets.len()
        );
    }
    let from_spec = spec.map(|s| s.servers.as_slice()).unwrap_or_default();
    match (from_spec.is_empty(), targets.is_empty()) {
        (false, false) => {
            bail!("--target and a --spec with \"servers\" both name servers: give one or the other")
        }
        (true, true) => {
            bail!("no server to check: give --target URL (repeatable) or --spec with \"servers\"")
        }
        (false, true) => from_spec
            .iter()
            .map(|s| {
                Ok(Server {
                    url: WsUrl::parse(&s.url)?,
                    agent: s.agent.clone(),
                })
            })
            .collect(),
        (true, false) => targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Ok(Server {
                    url: WsUrl::parse(t)?,
                    agent: agents.get(i).cloned(),
                })
            })
            .collect(),
    }
}

impl RunCommand for CheckServer {
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
        let servers = servers(&self.targets, &self.agents, spec.as_ref())?;
        let tls = self.tls.connector(servers.iter().map(|s| &s.url))?;
        let timeout = millis("--timeout-ms", timeout_ms)?;
        let jobs = bounded("--jobs", self.jobs, MAX_JOBS)? as usize;
        let extras = request_extras(&self.headers, self.origin.as_deref(), &self.subprotocols)?;
        output.check()?;
        let shutdown = Shutdown::on_signal();
        let seed = seed_or_random(seed);
        let all = catalogue(Side::Server, seed);
        let autobahn: BTreeMap<String, Vec<String>> = all
            .iter()
            .map(|c| (c.id.clone(), c.autobahn.clone()))
            .collect();
        warn_unmatched_globs(&globs, all.iter().map(|c| c.id.as_str()));
        let mut selected = select(all, &globs);
        if let Some(spec) = &spec {
            selected = super::spec::select(spec, selected)?;
        }
        if selected.is_empty() {
            bail!("no case matches {globs:?} (see `wschaos cases`)");
        }
        // Every server is probed before the first case: one that cannot be
        // reached is an error, never a missing column.
        let mut named: Vec<(WsUrl, String, bool)> = Vec::new();
        for s in &servers {
            let header = tokio::select! {
                probed = probe(&s.url, timeout, &extras, tls.as_ref()) => probed
                    .map_err(|e| anyhow::anyhow!("{}: {e}", s.url))?,
                () = shutdown.clone().wait() => bail!("interrupted before the first case"),
            };
            let given = s.agent.is_some();
            let mut agent = s
                .agent
                .clone()
                .or(header)
                .unwrap_or_else(|| s.url.authority());
            let base = agent.clone();
            let mut n = 2;
            while named.iter().any(|(_, a, _)| *a == agent) {
                agent = format!("{base} #{n}");
                n += 1;
            }
            named.push((s.url.clone(), agent, given));
        }
        let one = named.len() == 1 && !named[0].2;
        let mut runs = Vec::new();
        let mut stopped = false;
        for (url, agent, _) in named {
            let skip = spec
                .as_ref()
                .map(|sp| excluded_for(sp, &agent, &selected))
                .unwrap_or_default();
            let cases: Vec<_> = selected
                .iter()
                .filter(|c| !skip.contains(&c.id))
                .cloned()
                .collect();
            let total = cases.len();
            let cfg = ServerCheck {
                target: url.clone(),
                seed,
                timeout,
                jobs,
                repro_dir: self.drop_in.repro_dir(&output),
                extras: extras.clone(),
                progress,
                tls: tls.clone(),
            };
            let started = now_rfc3339();
            let outcome = if stopped {
                crate::check::server::SuiteOutcome {
                    results: Vec::new(),
                    not_run: total,
                }
            } else {
                if !one {
                    eprintln!("check-server: {url} as agent {agent:?} ({total} cases)");
                }
                run_suite_until(&cfg, cases, shutdown.clone().wait()).await
            };
            stopped |= outcome.not_run > 0;
            let mut report = Report::new(
                Mode::Server,
                url.to_string(),
                seed,
                started,
                outcome.results,
            )
            .strict(strict);
            if outcome.not_run > 0 {
                report = report.interrupted(outcome.not_run);
            }
            debug_assert_eq!(report.cases.len() + report.not_run, total);
            if !one {
                report.agent = Some(agent.clone());
            }
            runs.push(AgentRun {
                agent,
                report,
                autobahn: autobahn.clone(),
            });
        }
        emit_runs(&runs, &output, &self.drop_in)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_extras_are_checked() {
        let h = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = request_extras(
            &h(&["Authorization: Bearer a:b", "Cookie:  id=1 "]),
            Some("https://example.test"),
            &h(&["chat.v1", "chat.v2"]),
        )
        .unwrap();
        assert_eq!(
            ok.headers,
            [
                ("Authorization".into(), "Bearer a:b".into()),
                ("Cookie".into(), "id=1".into()),
                ("Origin".into(), "https://example.test".into())
            ]
        );
        assert_eq!(ok.subprotocols, ["chat.v1", "chat.v2"]);
        for (headers, origin, protocols, needle) in [
            (h(&["NoColon"]), None, h(&[]), "expected 'NAME: VALUE'"),
            (h(&["Bad Name: x"]), None, h(&[]), "not a header name"),
            (
                h(&["X: a\r\nInjected: 1"]),
                None,
                h(&[]),
                "control character",
            ),
            (h(&["X: a\u{0}"]), None, h(&[]), "control character"),
            (h(&["Host: evil"]), None, h(&[]), "sets Host itself"),
            (h(&["sec-websocket-key: x"]), None, h(&[]), "itself"),
            (h(&[]), Some("o\nx"), h(&[]), "--origin"),
            (h(&["Origin: a"]), Some("b"), h(&[]), "both given"),
            (h(&[]), None, h(&["a b"]), "not a token"),
            (h(&[]), None, h(&["a", "a"]), "given twice"),
        ] {
            let err = request_extras(&headers, origin, &protocols)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }
}
