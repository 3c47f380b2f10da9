//! `wschaos proxy`: a chaos proxy between a real client and a real server. Every
//! input is checked here before the listener opens; `run_proxy` is the start-up
//! itself (report writer, control API, signal, totals).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::signal::shutdown_signal;
use super::{RunCommand, ensure_writable_dir, millis, parse_addr, seed_or_random};
use crate::proxy::config::Config;
use crate::proxy::server::Settings;

/// Relay between a real client and server, injecting seeded faults and recording
/// how the receiving endpoint reacts.
#[derive(clap::Args)]
#[command(after_long_help = long_help())]
pub struct Proxy {
    /// Several named proxies from a TOML file (see docs/proxies.example.toml);
    /// not with --listen, --upstream, --fault, --seed or --record, which are
    /// per-proxy keys there. --api, --report and the limits given here win over
    /// the file's.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// HOST:PORT to accept clients on (port 0 picks a free one; it is printed).
    /// Required unless --config.
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = "",
        hide_default_value = true
    )]
    pub listen: String,
    /// HOST:PORT of the real server (ws://HOST:PORT/ is accepted and taken as
    /// HOST:PORT; a path is not). Required unless --config.
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = "",
        hide_default_value = true
    )]
    pub upstream: String,
    /// NAME[@c2s|s2c|both][:key=value,...] (repeatable; see below); none: transparent.
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<String>,
    /// Seed for the fault schedule and the bytes faults write: the same seed and
    /// the same traffic make the same decisions. Default: random, printed on stderr.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Write one JSON line per injected fault to FILE (checked at start-up).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Time the receiver of a fault has to react, in milliseconds (1 to
    /// 86400000; default 2000).
    #[arg(long, value_name = "MS")]
    pub reaction_timeout_ms: Option<u64>,
    /// HOST:PORT for the control API (HTTP/JSON, and GET /metrics for
    /// Prometheus; keep it on loopback).
    #[arg(long, value_name = "HOST:PORT")]
    pub api: Option<String>,
    /// Save the streams of every connection a fault hit in DIR (replay files and
    /// relay fuzz seeds); created at start-up.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Connections relayed at once, per proxy (1 to 1000000; default 4096);
    /// more wait in the accept queue and a warning is logged when the cap is
    /// reached.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<u64>,
    /// Close a connection whose opening handshake is not through after MS
    /// milliseconds, so idle sockets cannot hold the connection slots (default
    /// 10000).
    #[arg(long, value_name = "MS")]
    pub handshake_timeout_ms: Option<u64>,
    /// Close a connection after MS milliseconds without traffic either way
    /// (default: never; WebSocket connections may be quiet for long).
    #[arg(long, value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// On SIGINT or SIGTERM, how long open connections get to deliver what is in
    /// flight before the verdicts are settled and the report flushed (default
    /// 2000).
    #[arg(long, value_name = "MS")]
    pub grace_ms: Option<u64>,
    #[command(flatten)]
    pub tls: super::tls::ProxyTlsArgs,
}

/// The fault list (from the fault registry), then shutdown, exit status and an example.
fn long_help() -> String {
    format!(
        "{}The direction defaults to both. Without --fault the proxy is byte-transparent.

SIGINT or SIGTERM settles open connections, flushes the report and prints the totals; \
a second signal quits at once (status 130).

Exit status: 0 when no endpoint failed a fault, 1 when one did, 2 for usage and \
configuration errors.

Example:
  wschaos proxy --listen 127.0.0.1:9002 --upstream 127.0.0.1:9001 --seed 42 \\
      --report faults.jsonl --fault 'flip-mask@c2s:p=0.05'",
        crate::proxy::fault::help_text()
    )
}

/// Everything the proxy needs, checked.
pub struct ProxyOpts {
    pub listen: SocketAddr,
    pub upstream: String,
    pub specs: Vec<crate::proxy::fault::FaultSpec>,
    pub seed: Option<u64>,
    pub report: Option<PathBuf>,
    pub api: Option<SocketAddr>,
    pub record: Option<PathBuf>,
    /// The proxy's bounds on connections and time, checked.
    pub settings: Settings,
    pub tls: crate::tls::ProxyTls,
}

impl RunCommand for Proxy {
    async fn run(self) -> anyhow::Result<u8> {
        use crate::proxy::fault::FaultSpec;
        if let Some(path) = self.config.clone() {
            return self.run_config(&path).await;
        }
        if self.listen.is_empty() || self.upstream.is_empty() {
            bail!("--listen and --upstream are required (or --config FILE.toml)");
        }
        let specs = self
            .faults
            .iter()
            .map(String::as_str)
            .map(FaultSpec::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let listen = parse_addr("--listen", &self.listen)?;
        let mut tls_args = self.tls.clone();
        let (upstream_text, wss) = upstream_scheme(&self.upstream);
        tls_args.upstream_tls |= wss;
        let (upstream, note) = parse_upstream(&upstream_text)?;
        let tls = tls_args.build()?;
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        let api = self
            .api
            .as_deref()
            .map(|a| parse_addr("--api", a))
            .transpose()?;
        let settings = self.settings(&Config::default())?;
        if let Some(path) = &self.report {
            super::check_writable_file(path)?;
        }
        if let Some(dir) = &self.record {
            ensure_writable_dir("--record", dir)?;
        }
        run_proxy(ProxyOpts {
            listen,
            upstream,
            specs,
            seed: self.seed,
            report: self.report,
            api,
            record: self.record,
            settings,
            tls,
        })
        .await
    }
}

impl Proxy {
    /// The reaction timeout and the limits: each from the command line, else
    /// from the config file, else its default ([`Settings::default`]).
    fn settings(&self, file: &Config) -> anyhow::Result<Settings> {
        let d = Settings::default();
        let ms = |flag: &str, given: Option<u64>, default: Duration| match given {
            Some(v) => millis(flag, v),
            None => Ok(default),
        };
        Ok(Settings {
            reaction_timeout: ms(
                "--reaction-timeout-ms",
                self.reaction_timeout_ms.or(file.reaction_timeout_ms),
                d.reaction_timeout,
            )?,
            connect_timeout: d.connect_timeout,
            grace: ms("--grace-ms", self.grace_ms.or(file.grace_ms), d.grace)?,
            max_connections: match self.max_connections.or(file.max_connections) {
                Some(n) => super::bounded("--max-connections", n, 1_000_000)? as usize,
                None => d.max_connections,
            },
            handshake_timeout: ms(
                "--handshake-timeout-ms",
                self.handshake_timeout_ms.or(file.handshake_timeout_ms),
                d.handshake_timeout,
            )?,
            idle_timeout: self
                .idle_timeout_ms
                .or(file.idle_timeout_ms)
                .map(|v| millis("--idle-timeout-ms", v))
                .transpose()?,
        })
    }

    /// `--config FILE`: the named proxies of the file, with the global flags
    /// given here over the file's global keys.
    async fn run_config(self, path: &Path) -> anyhow::Result<u8> {
        use crate::proxy::server::run_many;
        let per_proxy: Vec<&str> = [
            ("--listen", !self.listen.is_empty()),
            ("--upstream", !self.upstream.is_empty()),
            ("--fault", !self.faults.is_empty()),
            ("--seed", self.seed.is_some()),
            ("--record", self.record.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect();
        if !per_proxy.is_empty() {
            bail!(
                "--config cannot be combined with {}: set them per proxy in {}",
                per_proxy.join(", "),
                path.display()
            );
        }
        let t = &self.tls;
        if t.tls_cert.is_some()
            || t.tls_key.is_some()
            || t.upstream_tls
            || t.upstream_ca.is_some()
            || t.upstream_insecure
            || t.upstream_sni.is_some()
        {
            bail!(
                "--config cannot be combined with the TLS flags: set tls_cert, tls_key, upstream_tls, upstream_ca, upstream_insecure or upstream_sni per proxy in {}",
                path.display()
            );
        }
        let file = crate::proxy::config::load(path)?;
        let settings = self.settings(&file)?;
        let api = match &self.api {
            Some(a) => Some(parse_addr("--api", a)?),
            None => file.api,
        };
        let report = self.report.clone().or(file.report.clone());
        if let Some(path) = &report {
            super::check_writable_file(path)?;
        }
        for p in &file.proxies {
            if let Some(r) = &p.report {
                super::check_writable_file(r).with_context(|| format!("proxy {:?}", p.name))?;
            }
            if let Some(dir) = &p.record {
                ensure_writable_dir(&format!("proxy {:?}: record", p.name), dir)?;
            }
        }
        // Installed before the banner: whoever reads it may signal at once.
        let signalled = shutdown_signal();
        let api = bind_api(api).await?;
        let api_addr = api.as_ref().map(|a| a.local_addr()).transpose()?;
        let shutdown = async move {
            signalled.await;
            eprintln!("settling open connections and flushing the report");
        };
        let totals = run_many(
            file.proxies,
            settings,
            report.as_deref(),
            api,
            shutdown,
            |hub| {
                for p in hub.all() {
                    eprintln!("{}", p.describe());
                }
                if let Some(addr) = api_addr {
                    eprintln!("{}", api_banner(addr));
                }
            },
        )
        .await?;
        print_totals(&totals);
        Ok(u8::from(totals.fail > 0))
    }
}

/// The control API's listener, when one is asked for.
async fn bind_api(addr: Option<SocketAddr>) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for the api"))?;
    Ok(Some(listener))
}

/// `wss://HOST:PORT` is `HOST:PORT` with TLS to the upstream: the upstream as
/// `parse_upstream` reads it, and whether it named wss://.
pub fn upstream_scheme(value: &str) -> (String, bool) {
    match value.get(..6) {
        Some(p) if p.eq_ignore_ascii_case("wss://") => (format!("ws://{}", &value[6..]), true),
        _ => (value.to_owned(), false),
    }
}

/// The control API's start-up line.
fn api_banner(addr: SocketAddr) -> String {
    format!(
        "control api on http://{addr}/ (GET /metrics, /proxies, /proxies/NAME/faults, /faults, /verdicts; POST /reset)"
    )
}

fn print_totals(totals: &crate::proxy::state::Totals) {
    eprintln!(
        "{} connections, {} faults injected: {} pass, {} non-strict, {} fail, {} info",
        totals.connections,
        totals.injections,
        totals.pass,
        totals.non_strict,
        totals.fail,
        totals.info
    );
}

/// `--upstream` as `HOST:PORT`. `ws://HOST:PORT` (with an optional `/`) is taken
/// as `HOST:PORT`, with a note saying so; a path, a scheme other than ws, or a
/// colon too many is refused.
pub fn parse_upstream(value: &str) -> anyhow::Result<(String, Option<String>)> {
    let bad = |why: &str| anyhow::anyhow!("bad --upstream {value:?}: {why}");
    if value.chars().any(char::is_control) {
        return Err(bad("control characters are not allowed"));
    }
    let lower = value.to_ascii_lowercase();
    let (rest, had_scheme) = if lower.starts_with("ws://") {
        (&value["ws://".len()..], true)
    } else if lower.starts_with("wss://") {
        return Err(bad(
            "give HOST:PORT with --upstream-tls (or wss://HOST:PORT)",
        ));
    } else if lower.contains("://") {
        return Err(bad("expected HOST:PORT"));
    } else {
        (value, false)
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#']) {
        return Err(bad(
            "expected HOST:PORT; the proxy forwards each client's own path",
        ));
    }
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let (h, p) = h.split_once(']').ok_or_else(|| bad("expected HOST:PORT"))?;
        (
            h,
            p.strip_prefix(':')
                .ok_or_else(|| bad("expected HOST:PORT"))?,
        )
    } else {
        match authority.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, p),
            Some(_) => return Err(bad("expected HOST:PORT (one colon; IPv6 as [ADDR]:PORT)")),
            None => return Err(bad("expected HOST:PORT")),
        }
    };
    if host.is_empty() || host.contains(['@', ' ']) {
        return Err(bad("expected HOST:PORT"));
    }
    if port.parse::<u16>().ok().filter(|&p| p != 0).is_none() {
        return Err(bad("port must be 1-65535"));
    }
    let note = had_scheme.then(|| format!("--upstream {value} taken as {authority}"));
    Ok((authority.to_owned(), note))
}

/// Refuses an upstream that is the proxy itself: every client connection would
/// make the proxy connect to itself again, until it runs out of sockets.
async fn refuse_self_upstream(upstream: &str, listening: SocketAddr) -> anyhow::Result<()> {
    let Ok(addrs) = tokio::net::lookup_host(upstream).await else {
        // Resolved again for each client; a name not yet known is not fatal here.
        eprintln!("warning: --upstream {upstream} does not resolve now");
        return Ok(());
    };
    for a in addrs {
        let same_ip = a.ip() == listening.ip()
            || (listening.ip().is_unspecified()
                && (a.ip().is_loopback() || a.ip().is_unspecified()));
        if a.port() == listening.port() && same_ip {
            bail!(
                "--upstream {upstream} is the proxy's own --listen address {listening}: it would connect to itself"
            );
        }
    }
    Ok(())
}

/// The proxy's start-up: listener, control API and banner, then
/// [`crate::proxy::server::run`] until the first SIGINT or SIGTERM, then the
/// totals. Returns 1 when an endpoint failed a fault.
pub async fn run_proxy(opts: ProxyOpts) -> anyhow::Result<u8> {
    use crate::proxy::server::{ProxyConfig, run};
    use crate::proxy::state::ProxyState;
    let ProxyOpts {
        listen,
        upstream,
        specs,
        seed,
        report,
        api,
        record,
        settings,
        tls,
    } = opts;

    // Installed before the banner: whoever reads it may signal at once.
    let signalled = shutdown_signal();
    let state = std::sync::Arc::new(ProxyState::new(specs)?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    refuse_self_upstream(&upstream, local).await?;
    let api = bind_api(api).await?;
    let mut cfg = ProxyConfig::new(upstream, seed_or_random(seed), state);
    cfg.settings = settings;
    cfg.record = record;
    cfg.report = report;
    cfg.tls = tls;
    eprintln!("{}", cfg.describe(local));
    if let Some(api) = &api {
        eprintln!("{}", api_banner(api.local_addr()?));
    }
    cfg.api = api;
    let shutdown = async move {
        signalled.await;
        eprintln!("settling open connections and flushing the report");
    };
    let totals = run(listener, cfg, shutdown)
        .await
        .context("writing the report")?;
    print_totals(&totals);
    Ok(u8::from(totals.fail > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        assert_eq!(
            parse_upstream("127.0.0.1:9001").unwrap(),
            ("127.0.0.1:9001".into(), None)
        );
        let (a, note) = parse_upstream("WS://127.0.0.1:9001/").unwrap();
        assert_eq!(a, "127.0.0.1:9001");
        assert!(note.unwrap().contains("taken as 127.0.0.1:9001"));
        assert_eq!(parse_upstream("[::1]:80").unwrap().0, "[::1]:80");
        assert_eq!(parse_upstream("localhost:80").unwrap().0, "localhost:80");
        for bad in [
            "127.0.0.1",
            "127.0.0.1:9001/path",
            "ws://127.0.0.1:9001/chat",
            "127.0.0.1:9001:9001",
            "wss://x:1/",
            "http://x:1/",
            "x:0",
            "x:99999",
            ":80",
            "x:1\r\n",
        ] {
            let e = parse_upstream(bad).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{bad:?}: {e}");
        }
    }
}
