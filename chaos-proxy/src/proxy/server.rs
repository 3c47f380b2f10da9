//! The proxy's tokio edges (the mini-redis shape): a listener that accepts and
//! spawns one handler per connection, each relaying both directions through its
//! sans-IO `Relay` with natural backpressure (one task per direction), a timer for
//! reaction timeouts, a single writer for the JSONL report, and a shutdown signal
//! that settles every open connection and flushes the report.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};
use wschaos_codec::handshake::{MAX_HANDSHAKE_BYTES, parse_request};

use crate::proxy::fault::Dir;
use crate::proxy::fault::{DirSel, Transport};
use crate::proxy::record::Recording;
use crate::proxy::relay::{ActiveFault, Injection, Relay};
use crate::proxy::state::ProxyState;
pub use crate::proxy::state::Totals;
use crate::report::{Observed, Verdict};

/// Per-direction read size: a frame of any size streams through in pieces this big.
const CHUNK: usize = 16 * 1024;
/// Connections relayed at once; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 4096;

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub upstream: String,
    pub seed: u64,
    pub state: Arc<ProxyState>,
    pub reaction_timeout: Duration,
    pub connect_timeout: Duration,
    /// `--record DIR`: save the streams of every connection a fault hit.
    pub record: Option<std::path::PathBuf>,
}

/// One JSON line of the `--report` file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportLine {
    pub conn: u64,
    pub seed: u64,
    pub fault: String,
    /// `c2s`, `s2c`, or `both` (a transport fault on both directions).
    pub dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_index: Option<u64>,
    pub what: String,
    pub bytes_hex: String,
    pub expected: Vec<u16>,
    pub observed: Option<Observed>,
    pub verdict: Option<Verdict>,
    pub at_ms: u64,
}

impl ReportLine {
    fn new(conn: u64, seed: u64, i: Injection) -> ReportLine {
        ReportLine {
            conn,
            seed,
            fault: i.fault,
            dir: i.dir.as_str().to_owned(),
            frame_index: i.frame_index,
            what: i.what,
            bytes_hex: i.bytes.iter().map(|b| format!("{b:02x}")).collect(),
            expected: i.expected.iter().map(|&c| u16::from(c)).collect(),
            observed: i.observed,
            verdict: i.verdict,
            at_ms: i.at.as_millis() as u64,
        }
    }
}

/// Runs the proxy on `listener` until `shutdown` turns true; report lines go to
/// `report` as they settle. Returns the totals.
pub async fn run(
    listener: TcpListener,
    cfg: ProxyConfig,
    report: mpsc::Sender<ReportLine>,
    mut shutdown: watch::Receiver<bool>,
) -> Totals {
    let cfg = Arc::new(cfg);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let ids = AtomicU64::new(0);
    let mut handlers = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (client, peer) = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let conn = ids.fetch_add(1, Ordering::Relaxed) + 1;
        let (cfg, report, shutdown) = (cfg.clone(), report.clone(), shutdown.clone());
        handlers.spawn(
            async move {
                let _permit = permit;
                handle(conn, client, &cfg, &report, shutdown).await;
            }
            .instrument(info_span!("conn", id = conn, %peer)),
        );
        // Reap finished handlers so the set stays as small as the live connections.
        while handlers.try_join_next().is_some() {}
    }
    while handlers.join_next().await.is_some() {}
    cfg.state.totals()
}

async fn handle(
    conn: u64,
    mut client: TcpStream,
    cfg: &ProxyConfig,
    report: &mpsc::Sender<ReportLine>,
    shutdown: watch::Receiver<bool>,
) {
    let _ = client.set_nodelay(true);
    cfg.state.count_connection();
    let upstream =
        match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(&cfg.upstream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return refuse(&mut client, &cfg.upstream, &e.to_string()).await,
            Err(_) => return refuse(&mut client, &cfg.upstream, "connect timed out").await,
        };
    let _ = upstream.set_nodelay(true);
    let reset = reset_after(&cfg.state.faults(), cfg.seed, conn);
    // Transport faults active when the connection opened get one verdict each
    // when it ends: the connection must have kept working through them.
    let transports: Vec<(String, DirSel, Transport)> = cfg
        .state
        .faults()
        .iter()
        .filter_map(|f| {
            f.fault
                .transport()
                .map(|t| (f.spec.text.clone(), f.spec.dir, t))
        })
        .filter(|(_, _, t)| *t != Transport::Reset || reset.is_some())
        .collect();
    if reset.is_some() {
        // Closing with a zero linger sends RST instead of FIN.
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
    let started = Instant::now();
    let relay = Arc::new(Mutex::new(Relay::new(cfg.seed, conn, cfg.reaction_timeout)));
    let (client_rd, client_wr) = client.into_split();
    let (up_rd, up_wr) = upstream.into_split();
    let settle = |relay: &Mutex<Relay>, finish: bool| -> Vec<Injection> {
        let mut r = relay.lock().unwrap_or_else(|e| e.into_inner());
        if finish { r.finish() } else { r.take_settled() }
    };
    let recording = cfg
        .record
        .as_ref()
        .map(|_| Arc::new(Mutex::new(Recording::default())));
    let injected = Arc::new(Notify::new());
    let ctx = ConnCtx {
        relay: relay.clone(),
        recording: recording.clone(),
        state: cfg.state.clone(),
        seed: cfg.seed,
        conn,
        started,
        shutdown: shutdown.clone(),
        injected: injected.clone(),
    };
    // One task per direction, so each has its own backpressure and the two can
    // run on different workers; they keep this connection's tracing span.
    let span = tracing::Span::current();
    let mut pumps = JoinSet::new();
    pumps.spawn(pump(Dir::C2s, client_rd, up_wr, ctx.clone()).instrument(span.clone()));
    pumps.spawn(pump(Dir::S2c, up_rd, client_wr, ctx).instrument(span));
    // Reports injections as they settle. It sleeps until the earliest reaction
    // deadline, or, with none pending, until a pump says the relay holds an
    // injection: an idle connection costs no wake-ups.
    let timer = async {
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
            for i in settle(&relay, false) {
                emit(conn, cfg.seed, i, report, &cfg.state).await;
            }
        }
    };
    let reset_timer = async {
        match reset {
            Some(after) => {
                tokio::time::sleep(after).await;
                info!("reset: dropping both connections");
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = async { while pumps.join_next().await.is_some() {} } => {}
        _ = timer => {}
        _ = reset_timer => {}
    }
    // After a reset the pumps are dropped with their sockets; after a normal end
    // both have finished and this does nothing.
    pumps.abort_all();
    while pumps.join_next().await.is_some() {}
    let (faulted, closes) = {
        let r = relay.lock().unwrap_or_else(|e| e.into_inner());
        (r.any_injected(), r.closes())
    };
    for (spec, dir, t) in &transports {
        let line = transport_line(conn, cfg.seed, spec, *dir, *t, &closes, started.elapsed());
        cfg.state.count_verdict(line.verdict);
        let _ = report.send(line).await;
    }
    for i in settle(&relay, true) {
        emit(conn, cfg.seed, i, report, &cfg.state).await;
    }
    if let (Some(dir), Some(rec), true) = (&cfg.record, &recording, faulted) {
        let rec = rec.lock().unwrap_or_else(|e| e.into_inner());
        match rec.write(dir, conn) {
            Ok(paths) => info!(files = ?paths, truncated = rec.truncated, "connection recorded"),
            Err(e) => warn!("cannot record connection {conn} in {}: {e}", dir.display()),
        }
    }
    debug!("connection closed");
}

/// What both directions of one connection share.
#[derive(Clone)]
struct ConnCtx {
    relay: Arc<Mutex<Relay>>,
    recording: Option<Arc<Mutex<Recording>>>,
    state: Arc<ProxyState>,
    seed: u64,
    conn: u64,
    started: Instant,
    shutdown: watch::Receiver<bool>,
    /// Wakes the connection's timer: the relay holds an injection to settle.
    injected: Arc<Notify>,
}

/// Relays one direction until EOF, error or shutdown, then half-closes the other
/// side so the peer sees the end too.
async fn pump(dir: Dir, mut from: OwnedReadHalf, mut to: OwnedWriteHalf, ctx: ConnCtx) {
    let ConnCtx {
        relay,
        recording,
        state,
        seed,
        conn,
        started,
        mut shutdown,
        injected,
    } = ctx;
    // Reads fill spare capacity (`read_buf`), so a connection's memory is touched
    // only as far as its reads have reached: an idle one costs a page, not 16 KiB.
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut out = Vec::with_capacity(CHUNK + MAX_HANDSHAKE_BYTES);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ conn.rotate_left(17) ^ (dir as u64 + 1));
    // Made once: a fresh `changed()` per read would register and drop a waiter
    // on the watch channel every connection shares.
    let mut stop = std::pin::pin!(shutdown.changed());
    loop {
        // `None`: shutdown, not the peer closing.
        let n = tokio::select! {
            biased;
            _ = &mut stop => None,
            r = { buf.clear(); from.read_buf(&mut buf) } => Some(r.unwrap_or(0)),
        };
        out.clear();
        // One snapshot per chunk, for the relay and for delivery.
        let faults = state.faults();
        let wake_timer = {
            let mut r = relay.lock().unwrap_or_else(|e| e.into_inner());
            match n {
                None => r.flush_held(dir, &mut out),
                Some(0) => r.eof(dir, &mut out),
                Some(n) => r.feed(dir, &buf[..n], started.elapsed(), &faults, &mut out),
            }
            r.has_injections()
        };
        if wake_timer {
            injected.notify_one();
        }
        if let (Some(rec), Some(n)) = (&recording, n) {
            rec.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(dir, &buf[..n], &out);
        }
        let n = n.unwrap_or(0);
        if !out.is_empty()
            && deliver(&mut to, &out, dir, &faults, &mut rng, started)
                .await
                .is_err()
        {
            break;
        }
        if n == 0 {
            break;
        }
        // A large handshake buffer is not kept once it has been forwarded.
        if out.capacity() > 4 * (CHUNK + MAX_HANDSHAKE_BYTES) {
            out = Vec::with_capacity(CHUNK + MAX_HANDSHAKE_BYTES);
        }
    }
    let _ = to.shutdown().await;
}

/// Writes `out` to `to` through the transport faults active in `dir`: latency
/// before, slices of bounded size, and a pause after for the bandwidth limit.
async fn deliver(
    to: &mut OwnedWriteHalf,
    out: &[u8],
    dir: Dir,
    faults: &[ActiveFault],
    rng: &mut ChaCha8Rng,
    started: Instant,
) -> std::io::Result<()> {
    let (mut delay_ms, mut slice, mut kbps) = (0u64, usize::MAX, u64::MAX);
    for f in faults.iter().filter(|f| f.spec.dir.matches(dir)) {
        let Some(t) = f.fault.transport() else {
            continue;
        };
        if f.spec.trigger.after.is_some_and(|a| started.elapsed() < a) {
            continue;
        }
        if f.spec.trigger.p.is_some_and(|p| rng.random::<f64>() >= p) {
            continue;
        }
        match t {
            Transport::Latency { ms, jitter } => delay_ms += ms + rng.random_range(0..=jitter),
            Transport::Slice { max } => slice = slice.min(max),
            Transport::Bandwidth { kbps: k } => kbps = kbps.min(k),
            Transport::Reset => {}
        }
    }
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    if slice == usize::MAX {
        to.write_all(out).await?;
    } else {
        for piece in out.chunks(slice) {
            to.write_all(piece).await?;
            to.flush().await?;
        }
    }
    if kbps != u64::MAX {
        // kilobits per second: bytes * 8 / kbps milliseconds.
        tokio::time::sleep(Duration::from_micros(out.len() as u64 * 8_000 / kbps)).await;
    }
    Ok(())
}

/// The report line for a transport fault at the end of a connection: `pass` when
/// neither endpoint failed the connection with an error code (the traffic stayed
/// valid through the delays and slices), `fail` when one did; a reset is the fault
/// itself, so it is reported as `info`.
fn transport_line(
    conn: u64,
    seed: u64,
    spec: &str,
    dir: DirSel,
    t: Transport,
    closes: &[Option<(Option<u16>, String)>; 2],
    at: Duration,
) -> ReportLine {
    let error_close = closes
        .iter()
        .flatten()
        .find(|(code, _)| code.is_some_and(|c| matches!(c, 1002 | 1003 | 1007..=1011)));
    let (observed, verdict) = match (t, error_close) {
        (Transport::Reset, _) => (Observed::TcpClose, Verdict::Info),
        (_, Some((code, reason))) => (
            Observed::Close {
                code: *code,
                reason: reason.clone(),
            },
            Verdict::Fail,
        ),
        (_, None) => (Observed::Echo, Verdict::Pass),
    };
    let what = match t {
        Transport::Latency { ms, jitter } => {
            format!("delayed each chunk by {ms} ms (+ up to {jitter} ms)")
        }
        Transport::Slice { max } => format!("split writes into at most {max} bytes"),
        Transport::Bandwidth { kbps } => format!("limited to {kbps} kbit/s"),
        Transport::Reset => "reset both TCP connections".to_owned(),
    };
    ReportLine {
        conn,
        seed,
        fault: spec.to_owned(),
        dir: match dir {
            DirSel::One(d) => d.as_str().to_owned(),
            DirSel::Both => "both".to_owned(),
        },
        frame_index: None,
        what,
        bytes_hex: String::new(),
        expected: Vec::new(),
        observed: Some(observed),
        verdict: Some(verdict),
        at_ms: at.as_millis() as u64,
    }
}

/// When a `reset` fault is to hit this connection, how long after it opened.
fn reset_after(faults: &[ActiveFault], seed: u64, conn: u64) -> Option<Duration> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ conn.wrapping_mul(0xA24B_AED4_963E_E407));
    faults
        .iter()
        .filter(|f| f.fault.transport() == Some(Transport::Reset))
        .filter(|f| f.spec.trigger.p.is_none_or(|p| rng.random::<f64>() < p))
        .map(|f| f.spec.trigger.after.unwrap_or(Duration::ZERO))
        .min()
}

async fn emit(
    conn: u64,
    seed: u64,
    i: Injection,
    report: &mpsc::Sender<ReportLine>,
    state: &ProxyState,
) {
    state.count_verdict(i.verdict);
    info!(fault = %i.fault, dir = i.dir.as_str(), verdict = ?i.verdict, "fault settled");
    let _ = report.send(ReportLine::new(conn, seed, i)).await;
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
    let resp = format!(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(resp.as_bytes()).await;
    let _ = client.shutdown().await;
}

/// Writes report lines to `path` as JSON lines until every sender is gone.
pub async fn report_writer(
    path: Option<std::path::PathBuf>,
    mut rx: mpsc::Receiver<ReportLine>,
) -> std::io::Result<()> {
    let mut file = match &path {
        Some(p) => Some(tokio::fs::File::create(p).await?),
        None => None,
    };
    while let Some(line) = rx.recv().await {
        if let Some(f) = file.as_mut() {
            let mut s = serde_json::to_string(&line).map_err(std::io::Error::other)?;
            s.push('\n');
            f.write_all(s.as_bytes()).await?;
        }
    }
    if let Some(f) = file.as_mut() {
        f.flush().await?;
    }
    Ok(())
}

/// The address a listener is on, for the banner.
pub fn describe(listen: SocketAddr, cfg: &ProxyConfig) -> String {
    let faults: Vec<String> = cfg.state.list().into_iter().map(|f| f.spec).collect();
    format!(
        "wschaos proxy listening on {listen}, upstream {}, seed {}, faults: {}",
        cfg.upstream,
        cfg.seed,
        if faults.is_empty() {
            "none (transparent)".to_owned()
        } else {
            faults.join(" ")
        }
    )
}
