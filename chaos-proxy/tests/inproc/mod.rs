//! The proxy run in-process for the integration tests: on 127.0.0.1 with an
//! ephemeral port, its report lines tapped, stopped by a watch channel, every
//! wait bounded.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use wschaos::proxy::fault::FaultSpec;
use wschaos::proxy::server::{ProxyConfig, ReportLine, Totals, run};
use wschaos::proxy::state::ProxyState;

pub struct Proxy {
    pub addr: SocketAddr,
    pub state: std::sync::Arc<ProxyState>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Totals>,
    lines: mpsc::Receiver<ReportLine>,
}

impl Proxy {
    pub async fn start(
        upstream: SocketAddr,
        faults: &[&str],
        seed: u64,
        reaction_ms: u64,
    ) -> Proxy {
        Proxy::start_recording(upstream, faults, seed, reaction_ms, None).await
    }

    pub async fn start_recording(
        upstream: SocketAddr,
        faults: &[&str],
        seed: u64,
        reaction_ms: u64,
        record: Option<std::path::PathBuf>,
    ) -> Proxy {
        Proxy::start_with(upstream, faults, seed, reaction_ms, |cfg| {
            cfg.record = record
        })
        .await
    }

    pub async fn start_with(
        upstream: SocketAddr,
        faults: &[&str],
        seed: u64,
        reaction_ms: u64,
        tweak: impl FnOnce(&mut ProxyConfig),
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let specs = faults
            .iter()
            .map(|f| FaultSpec::parse(f).unwrap())
            .collect();
        let state = std::sync::Arc::new(ProxyState::new(specs).unwrap());
        let mut cfg = ProxyConfig::new(upstream.to_string(), seed, state.clone());
        cfg.settings.reaction_timeout = Duration::from_millis(reaction_ms);
        cfg.settings.connect_timeout = Duration::from_secs(2);
        tweak(&mut cfg);
        let (tx, lines) = mpsc::channel(4096);
        cfg.tap = Some(tx);
        let (stop, mut stop_rx) = watch::channel(false);
        let shutdown = async move {
            let _ = stop_rx.wait_for(|v| *v).await;
        };
        let task = tokio::spawn(async move { run(listener, cfg, shutdown).await.unwrap() });
        Proxy {
            addr,
            state,
            stop,
            task,
            lines,
        }
    }

    /// Stops the proxy and returns every report line and the totals.
    pub async fn stop(mut self) -> (Vec<ReportLine>, Totals) {
        let _ = self.stop.send(true);
        let totals = tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
        let mut lines = Vec::new();
        while let Ok(l) = self.lines.try_recv() {
            lines.push(l);
        }
        (lines, totals)
    }

    /// The next report line (bounded).
    pub async fn line(&mut self) -> ReportLine {
        tokio::time::timeout(Duration::from_secs(10), self.lines.recv())
            .await
            .expect("no report line")
            .unwrap()
    }

    /// Waits until `n` report lines have arrived.
    pub async fn lines(&mut self, n: usize) -> Vec<ReportLine> {
        let mut got = Vec::new();
        while got.len() < n {
            match tokio::time::timeout(Duration::from_secs(10), self.lines.recv()).await {
                Ok(Some(l)) => got.push(l),
                _ => panic!("only {} of {n} report lines", got.len()),
            }
        }
        got
    }
}
