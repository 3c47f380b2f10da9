//! The proxy's tokio edges, in the mini-redis shape: [`run`] owns the start-up
//! (report writer, control API) and the shutdown; a `Listener` accepts and
//! spawns one `Handler` per connection, which connects upstream, runs one
//! [`pump`] per direction through the connection's sans-IO `Relay`, settles
//! injections as their receivers react, and judges the transport faults when
//! the connection ends. Shutdown stops reading, gives connections `grace` to
//! deliver what is in flight, then settles and reports everything known.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};
use wschaos_codec::handshake::{MAX_HANDSHAKE_BYTES, parse_request};

use crate::proxy::fault::{Dir, DirSel};
use crate::proxy::pump::{Applied, PumpCtx, pump, turned_true};
use crate::proxy::record::Recording;
use crate::proxy::relay::{ActiveFault, Relay};
use crate::proxy::state::ProxyState;
pub use crate::proxy::state::Totals;
pub use crate::report::jsonl::ReportLine;
use crate::seed::derive_seed;
use crate::verdict;

/// Connections relayed at once by default; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 4096;
/// Pause after a failed accept (e.g. out of file descriptors), so the loop
/// does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct ProxyConfig {
    /// HOST:PORT of the real server.
    pub upstream: String,
    pub seed: u64,
    pub state: Arc<ProxyState>,
    /// How long the receiver of a fault has to react.
    pub reaction_timeout: Duration,
    pub connect_timeout: Duration,
    /// `--record DIR`: save the streams of every connection a fault hit.
    pub record: Option<PathBuf>,
    /// `--report FILE`: one JSON line per settled fault.
    pub report: Option<PathBuf>,
    /// Every report line is also sent here (tests, embedding).
    pub tap: Option<mpsc::Sender<ReportLine>>,
    /// The control API's listener (`--api`).
    pub api: Option<TcpListener>,
    /// After shutdown, how long open connections get to deliver what is in flight.
    pub grace: Duration,
    pub max_connections: usize,
    /// A connection whose opening handshake is not through by then is closed, so
    /// idle sockets cannot hold the connection slots.
    pub handshake_timeout: Duration,
    /// A connection with no traffic either way for this long is closed (`None`:
    /// never; WebSocket connections may be quiet for long).
    pub idle_timeout: Option<Duration>,
}

impl ProxyConfig {
    /// A configuration with the documented defaults.
    pub fn new(upstream: impl Into<String>, seed: u64, state: Arc<ProxyState>) -> ProxyConfig {
        ProxyConfig {
            upstream: upstream.into(),
            seed,
            state,
            reaction_timeout: Duration::from_millis(2000),
            connect_timeout: Duration::from_secs(5),
            record: None,
            report: None,
            tap: None,
            api: None,
            grace: Duration::from_secs(2),
            max_connections: MAX_CONNECTIONS,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: None,
        }
    }

    /// The banner printed at start-up.
    pub fn describe(&self, listen: std::net::SocketAddr) -> String {
        let faults: Vec<String> = self.state.list().into_iter().map(|f| f.spec).collect();
        format!(
            "wschaos proxy listening on {listen}, upstream {}, seed {}, faults: {}",
            self.upstream,
            self.seed,
            if faults.is_empty() {
                "none (transparent)".to_owned()
            } else {
                faults.join(" ")
            }
        )
    }
}

/// What every handler shares.
struct Shared {
    upstream: String,
    seed: u64,
    state: Arc<ProxyState>,
    reaction_timeout: Duration,
    connect_timeout: Duration,
    record: Option<PathBuf>,
    grace: Duration,
    handshake_timeout: Duration,
    idle_timeout: Option<Duration>,
    report: mpsc::Sender<ReportLine>,
}

/// Runs the proxy on `listener` until `shutdown` resolves, then settles every
/// open connection, flushes the report and returns the totals. Fails only if
/// the report file cannot be created.
pub async fn run(
    listener: TcpListener,
    mut cfg: ProxyConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<Totals> {
    let file = match &cfg.report {
        Some(p) => Some(tokio::fs::File::create(p).await?),
        None => None,
    };
    let (report, lines) = mpsc::channel(1024);
    let writer = tokio::spawn(crate::report::jsonl::write(file, cfg.tap.take(), lines));
    let (stop_tx, stop) = watch::channel(false);
    if let Some(api) = cfg.api.take() {
        tokio::spawn(crate::proxy::api::serve(
            api,
            cfg.state.clone(),
            stop.clone(),
        ));
    }
    let shared = Arc::new(Shared {
        upstream: cfg.upstream,
        seed: cfg.seed,
        state: cfg.state.clone(),
        reaction_timeout: cfg.reaction_timeout,
        connect_timeout: cfg.connect_timeout,
        record: cfg.record,
        grace: cfg.grace,
        handshake_timeout: cfg.handshake_timeout,
        idle_timeout: cfg.idle_timeout,
        report,
    });
    let mut server = Listener {
        listener,
        permits: Arc::new(Semaphore::new(cfg.max_connections.max(1))),
        handlers: JoinSet::new(),
        shared,
        stop,
    };
    tokio::select! {
        _ = server.run() => {}
        _ = shutdown => {}
    }
    let _ = stop_tx.send(true);
    // Each handler ends within its grace once told to stop.
    while server.handlers.join_next().await.is_some() {}
    drop(server);
    match writer.await {
        Ok(r) => r?,
        Err(e) => return Err(std::io::Error::other(e)),
    }
    Ok(cfg.state.totals())
}

struct Listener {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    handlers: JoinSet<()>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
}

impl Listener {
    /// Accepts until dropped; a connection over the cap waits for a slot.
    async fn run(&mut self) {
        let ids = AtomicU64::new(0);
        loop {
            if self.permits.available_permits() == 0 {
                warn!(
                    "connection cap reached: new clients wait until a connection closes (--max-connections)"
                );
            }
            let Ok(permit) = self.permits.clone().acquire_owned().await else {
                return;
            };
            let (client, peer) = match self.listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let handler = Handler {
                conn: ids.fetch_add(1, Ordering::Relaxed) + 1,
                shared: self.shared.clone(),
                stop: self.stop.clone(),
            };
            let span = info_span!("conn", id = handler.conn, %peer);
            self.handlers.spawn(
                async move {
                    let _permit = permit;
                    handler.run(client).await;
                }
                .instrument(span),
            );
            // Reap finished handlers so the set stays as small as the live connections.
            while self.handlers.try_join_next().is_some() {}
        }
    }
}

struct Handler {
    conn: u64,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
}

impl Handler {
    async fn run(self, mut client: TcpStream) {
        let cfg = &*self.shared;
        let conn = self.conn;
        let _ = client.set_nodelay(true);
        cfg.state.count_connection();
        let upstream = tokio::select! {
            r = tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&cfg.upstream)) => r,
            _ = turned_true(self.stop.clone()) => return,
        };
        let upstream = match upstream {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return refuse(&mut client, &cfg.upstream, &e.to_string()).await,
            Err(_) => return refuse(&mut client, &cfg.upstream, "connect timed out").await,
        };
        let _ = upstream.set_nodelay(true);
        let reset = reset_after(&cfg.state.faults(), cfg.seed, conn);
        let reset_at = reset.as_ref().map(|(at, _)| *at);
        if reset_at.is_some() {
            // Closing with a zero linger sends RST instead of FIN.
            let _ = client.set_zero_linger();
            let _ = upstream.set_zero_linger();
        }
        let started = Instant::now();
        let relay = Arc::new(Mutex::new(Relay::new(cfg.seed, conn, cfg.reaction_timeout)));
        let recording = cfg
            .record
            .as_ref()
            .map(|_| Arc::new(Mutex::new(Recording::default())));
        let (reset_tx, reset_rx) = watch::channel(false);
        let injected = Arc::new(Notify::new());
        let applied = Arc::new(Mutex::new(Vec::new()));
        let activity = cfg.idle_timeout.map(|_| Arc::new(AtomicU64::new(0)));
        let ctx = PumpCtx {
            relay: relay.clone(),
            recording: recording.clone(),
            state: cfg.state.clone(),
            seed: cfg.seed,
            conn,
            started,
            stop: self.stop.clone(),
            reset: reset_at.map(|_| reset_rx),
            injected: injected.clone(),
            applied: applied.clone(),
            activity: activity.clone(),
        };
        let (client_rd, client_wr) = client.into_split();
        let (up_rd, up_wr) = upstream.into_split();
        // One task per direction, so each has its own backpressure and the two can
        // run on different workers; they keep this connection's tracing span.
        let span = tracing::Span::current();
        let mut pumps = JoinSet::new();
        pumps.spawn(pump(Dir::C2s, client_rd, up_wr, ctx.clone()).instrument(span.clone()));
        pumps.spawn(pump(Dir::S2c, up_rd, client_wr, ctx).instrument(span));
        let reset_fired = tokio::select! {
            _ = async { while pumps.join_next().await.is_some() {} } => false,
            _ = self.settle_as_they_come(&relay, &injected, started) => false,
            _ = sleep_or_never(reset_at) => true,
            _ = stopped_then(self.stop.clone(), cfg.grace) => false,
            _ = handshake_overdue(&relay, cfg.handshake_timeout) => {
                info!("opening handshake not done within {:?}: closing", cfg.handshake_timeout);
                false
            }
            _ = idle(activity.as_deref(), started, cfg.idle_timeout) => {
                info!("no traffic for {:?}: closing", cfg.idle_timeout.unwrap_or_default());
                false
            }
        };
        if reset_fired {
            info!("reset: closing both connections with RST");
            let _ = reset_tx.send(true);
            // The pumps drop their sockets at once; bounded all the same.
            let _ = tokio::time::timeout(cfg.grace, async {
                while pumps.join_next().await.is_some() {}
            })
            .await;
        }
        // After the grace ran out, whatever is still blocked is dropped.
        pumps.abort_all();
        while pumps.join_next().await.is_some() {}
        let now = started.elapsed();
        let (faulted, deflate, settled, transport_lines) = {
            let mut r = relay.lock().unwrap_or_else(|e| e.into_inner());
            let fired = reset
                .as_ref()
                .filter(|_| reset_fired)
                .map(|(_, what)| what.as_str());
            let lines = transport_lines(&r, conn, cfg.seed, &applied, fired, now);
            (r.any_injected(), r.deflate(), r.finish_at(now), lines)
        };
        for i in settled {
            self.emit(ReportLine::injection(conn, cfg.seed, i)).await;
        }
        // A connection is recorded when a fault of any kind is reported on it.
        let transport_hits: Vec<String> = transport_lines
            .iter()
            .map(|l| format!("{} ({}): {}", l.fault, l.dir, l.what))
            .collect();
        for line in transport_lines {
            self.emit(line).await;
        }
        let hit = faulted || !transport_hits.is_empty();
        if let (Some(dir), Some(rec), true) = (&cfg.record, &recording, hit) {
            let rec = rec.lock().unwrap_or_else(|e| e.into_inner());
            match rec.write(dir, conn, deflate, &transport_hits) {
                Ok(paths) => {
                    info!(files = ?paths, truncated = rec.truncated, "connection recorded")
                }
                Err(e) => warn!("cannot record connection {conn} in {}: {e}", dir.display()),
            }
        }
        debug!("connection closed");
    }

    /// Reports injections as their receivers react. It sleeps until the earliest
    /// reaction deadline, or, with none pending, until a pump says the relay
    /// holds an injection: an idle connection costs no wake-ups. Never returns.
    async fn settle_as_they_come(&self, relay: &Mutex<Relay>, injected: &Notify, started: Instant) {
        loop {
            let next = relay
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_deadline();
            match next {
                Some(d) => {
                    let wait = d.saturating_sub(started.elapsed());
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
                None => injected.notified().await,
            }
            relay
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .tick(started.elapsed());
            // A slot in the report channel first, then the injection: if this
            // future is dropped while it waits, nothing settled is lost.
            while let Ok(slot) = self.shared.report.reserve().await {
                let next = relay
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take_next_settled();
                let Some(i) = next else { break };
                let line = ReportLine::injection(self.conn, self.shared.seed, i);
                self.shared.state.count_verdict(line.verdict);
                info!(fault = %line.fault, dir = %line.dir, verdict = ?line.verdict, "fault settled");
                slot.send(line);
            }
        }
    }

    async fn emit(&self, line: ReportLine) {
        self.shared.state.count_verdict(line.verdict);
        info!(fault = %line.fault, dir = %line.dir, verdict = ?line.verdict, "fault settled");
        let _ = self.shared.report.send(line).await;
    }
}

/// The lines for the transport faults of a connection that has ended: one per
/// fault that acted on it while it carried frames, and one for the reset that
/// fired (`reset_fired`: what it did, in its own words).
fn transport_lines(
    relay: &Relay,
    conn: u64,
    seed: u64,
    applied: &Mutex<Vec<Applied>>,
    reset_fired: Option<&str>,
    at: Duration,
) -> Vec<ReportLine> {
    let mut lines = Vec::new();
    let applied = applied.lock().unwrap_or_else(|e| e.into_inner());
    for a in applied.iter() {
        let (c2s, s2c) = match a.dir {
            DirSel::One(Dir::C2s) => (true, false),
            DirSel::One(Dir::S2c) => (false, true),
            DirSel::Both => (true, true),
        };
        if !relay.carried_frames_since(c2s, s2c, a.after.unwrap_or(Duration::ZERO)) {
            continue;
        }
        let j = verdict::transport(relay.unexplained_error_close());
        lines.push(ReportLine::transport(
            conn,
            seed,
            &a.spec,
            dir_name(a.dir),
            a.what.clone(),
            j,
            at,
        ));
    }
    if let Some(what) = reset_fired {
        lines.push(ReportLine::transport(
            conn,
            seed,
            "reset",
            "both",
            what.to_owned(),
            verdict::reset(),
            at,
        ));
    }
    lines
}

fn dir_name(d: DirSel) -> &'static str {
    match d {
        DirSel::One(d) => d.as_str(),
        DirSel::Both => "both",
    }
}

/// When a resetting fault is to hit this connection (how long after it opened),
/// and what it does, in its own words.
fn reset_after(faults: &[ActiveFault], seed: u64, conn: u64) -> Option<(Duration, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, conn, "reset"));
    faults
        .iter()
        .filter_map(|f| Some((f, f.fault.transport().filter(|t| t.resets())?)))
        .filter(|(f, _)| f.spec.trigger.p.is_none_or(|p| rng.random::<f64>() < p))
        .map(|(f, t)| (f.spec.trigger.after.unwrap_or(Duration::ZERO), t.what()))
        .min_by_key(|(at, _)| *at)
}

/// Resolves when the handshake is still not through after `timeout`.
async fn handshake_overdue(relay: &Mutex<Relay>, timeout: Duration) {
    tokio::time::sleep(timeout).await;
    if relay.lock().unwrap_or_else(|e| e.into_inner()).opened() {
        std::future::pending::<()>().await;
    }
}

/// Resolves once neither direction has read anything for `timeout`.
async fn idle(activity: Option<&AtomicU64>, started: Instant, timeout: Option<Duration>) {
    let (Some(activity), Some(timeout)) = (activity, timeout) else {
        return std::future::pending().await;
    };
    loop {
        let last = Duration::from_millis(activity.load(Ordering::Relaxed));
        let quiet = started.elapsed().saturating_sub(last);
        if quiet >= timeout {
            return;
        }
        tokio::time::sleep(timeout - quiet).await;
    }
}

/// Resolves `grace` after `stop` turned true.
async fn stopped_then(stop: watch::Receiver<bool>, grace: Duration) {
    turned_true(stop).await;
    tokio::time::sleep(grace).await;
}

async fn sleep_or_never(after: Option<Duration>) {
    match after {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// Upstream unreachable: the client gets a clean 502 on its handshake.
async fn refuse(client: &mut TcpStream, upstream: &str, why: &str) {
    warn!("cannot connect to upstream {upstream}: {why}");
    // Read the request first (bounded) so the client sees an answer, not a reset.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while !matches!(parse_request(&buf), Ok(Some(_)) | Err(_))
            && buf.len() <= MAX_HANDSHAKE_BYTES
        {
            match client.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let body = format!("wschaos proxy: upstream {upstream} unreachable: {why}\n");
    let _ = client
        .write_all(&crate::http::response(502, "text/plain", &body))
        .await;
    let _ = client.shutdown().await;
}
