//! A lean closed-loop WebSocket load generator on the project's codec. Each
//! connection sends one masked binary message, waits for its whole echo (checked
//! byte for byte), records the round trip and sends the next. After a warm-up,
//! messages whose echo completes inside the measured window count; the run
//! stops by itself once the window ends. `wss://` URLs connect over TLS,
//! trusting only the CA in `--ca-file`.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context as _, bail};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use wschaos_codec::encode::write_frame;
use wschaos_codec::frame::{Data, FrameHeader, OpCode};
use wschaos_codec::handshake::{RequestBuilder, generate_key, parse_response, validate_response};
use wschaos_codec::parse::{Event, FrameParser};

use crate::LoopbackUrl;

/// Largest message the generator sends.
pub const MAX_SIZE: usize = 16 << 20;
/// Time to connect and finish the handshake, per connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after the window a missing echo is waited for before giving up.
const ECHO_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub url: String,
    /// Payload bytes per message.
    pub size: usize,
    pub conns: usize,
    /// Measured window.
    pub secs: f64,
    /// Traffic before the window, not counted.
    pub warmup_secs: f64,
    /// For `wss://`: the PEM file of the CA to trust (nothing else is trusted).
    pub ca_file: Option<PathBuf>,
}

/// The outcome of one run; [`LoadResult::to_json`] is the line `load` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadResult {
    pub size: usize,
    pub conns: usize,
    pub secs: f64,
    /// Messages echoed whole inside the window.
    pub messages: u64,
    pub msgs_per_s: f64,
    /// Echoed payload bytes per second, one direction.
    pub bytes_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl LoadResult {
    pub fn to_json(&self) -> serde_json::Value {
        let round1 = |x: f64| (x * 10.0).round() / 10.0;
        json!({
            "size": self.size,
            "conns": self.conns,
            "secs": self.secs,
            "messages": self.messages,
            "msgs_per_s": round1(self.msgs_per_s),
            "bytes_per_s": self.bytes_per_s.round(),
            "p50_us": round1(self.p50_us),
            "p99_us": round1(self.p99_us),
        })
    }
}

/// Runs the load described by `cfg` and returns its figures.
pub async fn run(cfg: &LoadConfig) -> anyhow::Result<LoadResult> {
    let url = LoopbackUrl::parse(&cfg.url)?;
    if cfg.size > MAX_SIZE {
        bail!("--size {} is above the limit of {MAX_SIZE} bytes", cfg.size);
    }
    if cfg.conns == 0 {
        bail!("--conns must be at least 1");
    }
    let secs_ok = cfg.secs > 0.0 && cfg.secs <= 3600.0;
    if !secs_ok || !(0.0..=3600.0).contains(&cfg.warmup_secs) {
        bail!("--secs must be in (0, 3600] and --warmup-secs in [0, 3600]");
    }
    let tls = tls_for(&url, cfg.ca_file.as_deref())?;
    // Connect everything first, so the window measures steady traffic only.
    let mut connecting = JoinSet::new();
    for i in 0..cfg.conns {
        let (url, tls) = (url.clone(), tls.clone());
        connecting.spawn(async move {
            tokio::time::timeout(CONNECT_TIMEOUT, connect(&url, tls.as_ref(), i as u64))
                .await
                .map_err(|_| anyhow::anyhow!("connecting to {} timed out", url.addr))?
        });
    }
    let mut conns = Vec::with_capacity(cfg.conns);
    while let Some(c) = connecting.join_next().await {
        conns.push(c.context("connect task")??);
    }
    let from = Instant::now() + Duration::from_secs_f64(cfg.warmup_secs);
    let until = from + Duration::from_secs_f64(cfg.secs);
    let mut running = JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let size = cfg.size;
        running.spawn(async move {
            tokio::time::timeout_at(until + ECHO_GRACE, conn.run(i as u64, size, from, until))
                .await
                .map_err(|_| anyhow::anyhow!("no echo within {ECHO_GRACE:?} after the window"))?
        });
    }
    let mut messages = 0u64;
    let mut latencies: Vec<u64> = Vec::new();
    while let Some(r) = running.join_next().await {
        let lat = r.context("load task")??;
        messages += lat.len() as u64;
        latencies.extend(lat);
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        // Nearest rank.
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1] as f64 / 1000.0
    };
    let msgs_per_s = messages as f64 / cfg.secs;
    Ok(LoadResult {
        size: cfg.size,
        conns: cfg.conns,
        secs: cfg.secs,
        messages,
        msgs_per_s,
        bytes_per_s: msgs_per_s * cfg.size as f64,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    })
}

/// The TLS client for `url`: one for `wss://` (which needs `ca_file`), none for
/// `ws://` (which takes no `ca_file`).
fn tls_for(url: &LoopbackUrl, ca_file: Option<&Path>) -> anyhow::Result<Option<TlsConnector>> {
    match (url.tls, ca_file) {
        (true, Some(ca)) => Ok(Some(crate::tls::connector(ca)?)),
        (true, None) => {
            bail!("a wss:// URL needs --ca-file (the CA that signed the server's certificate)")
        }
        (false, Some(_)) => bail!("--ca-file is for wss:// URLs only"),
        (false, None) => Ok(None),
    }
}

/// A connection to the server under load: TCP, or TLS over TCP.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// One open WebSocket connection, past the handshake.
struct Conn {
    tcp: Stream,
}

impl Conn {
    /// Writes `bytes` whole and sends them (over TLS, what the session holds too).
    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.tcp.write_all(bytes).await?;
        self.tcp.flush().await
    }
}

async fn connect(url: &LoopbackUrl, tls: Option<&TlsConnector>, i: u64) -> anyhow::Result<Conn> {
    let tcp = TcpStream::connect(url.addr)
        .await
        .with_context(|| format!("cannot connect to {}", url.addr))?;
    tcp.set_nodelay(true)?;
    let mut tcp = match (url.tls, tls) {
        (false, _) => Stream::Plain(tcp),
        (true, Some(tls)) => Stream::Tls(Box::new(
            tls.connect(crate::tls::server_name(), tcp)
                .await
                .with_context(|| format!("TLS handshake with {} failed", url.addr))?,
        )),
        (true, None) => bail!("a wss:// URL needs --ca-file"),
    };
    let mut rng = SmallRng::seed_from_u64(0x5eed ^ i);
    let key = generate_key(rng.random());
    let request = RequestBuilder::new(url.host.as_str(), url.path.as_str(), key.as_str()).build();
    tcp.write_all(&request).await?;
    tcp.flush().await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            bail!("{} closed the connection during the handshake", url.addr);
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(resp) = parse_response(&head)
            .with_context(|| format!("bad handshake response from {}", url.addr))?
        {
            validate_response(&resp, &key, &[], &[])
                .with_context(|| format!("handshake refused by {}", url.addr))?;
            if head.len() != resp.head_len {
                bail!("{} sent frames before any message", url.addr);
            }
            return Ok(Conn { tcp });
        }
    }
}

impl Conn {
    /// The closed loop; returns the round-trip times (ns) of the messages whose
    /// echo completed in `[from, until]`.
    async fn run(
        mut self,
        i: u64,
        size: usize,
        from: Instant,
        until: Instant,
    ) -> anyhow::Result<Vec<u64>> {
        let mut rng = SmallRng::seed_from_u64(0xbe4c ^ i.rotate_left(32));
        let mut payload: Vec<u8> = (0..size).map(|j| (j as u64 * 31 + i) as u8).collect();
        let mut frame = Vec::with_capacity(size + 14);
        let mut rbuf = vec![0u8; 64 * 1024];
        let mut parser = FrameParser::new();
        let mut latencies = Vec::new();
        for seq in 0u64.. {
            let sent = Instant::now();
            if sent >= until {
                break;
            }
            // A different head per message, so a stale or misrouted echo shows.
            let n = size.min(8);
            payload[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
            frame.clear();
            let header = FrameHeader::new(OpCode::BINARY, Some(rng.random()), size as u64);
            write_frame(&header, &payload, &mut frame)?;
            self.send(&frame).await?;
            self.receive(&mut parser, &mut rbuf, &payload).await?;
            let done = Instant::now();
            if done >= from && done <= until {
                latencies.push((done - sent).as_nanos() as u64);
            }
        }
        Ok(latencies)
    }

    /// Reads until the echo of `expected` is complete, checking every byte.
    async fn receive(
        &mut self,
        parser: &mut FrameParser,
        rbuf: &mut [u8],
        expected: &[u8],
    ) -> anyhow::Result<()> {
        let mut got = 0usize;
        let mut fin = false;
        let mut in_frame = false;
        loop {
            let n = self.tcp.read(rbuf).await?;
            if n == 0 {
                bail!("the server closed the connection mid-run");
            }
            let mut input = &rbuf[..n];
            loop {
                let ev = parser.next_event(&mut input);
                match ev {
                    None => break,
                    Some(Event::Header(h)) => {
                        let first = got == 0 && !in_frame;
                        let ok_opcode = match h.opcode {
                            OpCode::Data(Data::Binary) => first,
                            OpCode::Data(Data::Continue) => !first,
                            _ => false,
                        };
                        if !ok_opcode || h.mask.is_some() || h.rsv_bits() != 0 {
                            bail!("unexpected frame in the echo: {h:?}");
                        }
                        in_frame = true;
                        fin = h.fin;
                    }
                    Some(Event::Payload { data, .. }) => {
                        let want = expected.get(got..got + data.len());
                        if want != Some(data) {
                            bail!(
                                "echo differs from what was sent (at byte {got} of {})",
                                expected.len()
                            );
                        }
                        got += data.len();
                    }
                    Some(Event::End) if fin => {
                        if got != expected.len() {
                            bail!("echo has {got} bytes, sent {}", expected.len());
                        }
                        if !input.is_empty() {
                            bail!("{} unexpected bytes after the echo", input.len());
                        }
                        return Ok(());
                    }
                    Some(Event::End) => {}
                }
            }
        }
    }
}

/// The checker's floor: `count` bare sessions, at most `jobs` at a time, each a
/// connect, an upgrade, one 20-byte echo and a Close handshake; no test cases.
/// Returns the wall time. `scripts/bench-checker` sets it beside the full
/// catalogue run against the same server with the same concurrency.
pub async fn sessions(
    url: &str,
    ca_file: Option<&Path>,
    count: usize,
    jobs: usize,
) -> anyhow::Result<Duration> {
    let url = LoopbackUrl::parse(url)?;
    let tls = tls_for(&url, ca_file)?;
    if count == 0 || jobs == 0 || count > 100_000 || jobs > 1024 {
        bail!("--count must be in 1..=100000 and --jobs in 1..=1024");
    }
    let started = Instant::now();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut running = JoinSet::new();
    for i in 0..count {
        let (url, tls, permits) = (url.clone(), tls.clone(), permits.clone());
        running.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            tokio::time::timeout(ECHO_GRACE, session(&url, tls.as_ref(), i as u64))
                .await
                .map_err(|_| anyhow::anyhow!("session {i} took over {ECHO_GRACE:?}"))?
        });
    }
    while let Some(r) = running.join_next().await {
        r.context("session task")??;
    }
    Ok(started.elapsed())
}

async fn session(url: &LoopbackUrl, tls: Option<&TlsConnector>, i: u64) -> anyhow::Result<()> {
    let mut conn = connect(url, tls, i).await?;
    let mut rng = SmallRng::seed_from_u64(0xc105e ^ i);
    let payload = [b'x'; 20];
    let mut frame = Vec::with_capacity(64);
    write_frame(
        &FrameHeader::new(OpCode::BINARY, Some(rng.random()), 20),
        &payload,
        &mut frame,
    )?;
    conn.send(&frame).await?;
    let mut rbuf = vec![0u8; 4096];
    conn.receive(&mut FrameParser::new(), &mut rbuf, &payload)
        .await?;
    frame.clear();
    let close = 1000u16.to_be_bytes();
    write_frame(
        &FrameHeader::new(OpCode::CLOSE, Some(rng.random()), 2),
        &close,
        &mut frame,
    )?;
    conn.send(&frame).await?;
    // The server's Close, then its end of the TCP connection.
    let mut parser = FrameParser::new();
    let mut closed = false;
    loop {
        let n = conn.tcp.read(&mut rbuf).await?;
        if n == 0 {
            break;
        }
        let mut input = &rbuf[..n];
        loop {
            let ev = parser.next_event(&mut input);
            match ev {
                None => break,
                Some(Event::Header(h)) => closed |= h.opcode == OpCode::CLOSE,
                Some(_) => {}
            }
        }
    }
    if !closed {
        bail!("{} ended the session without a Close frame", url.addr);
    }
    Ok(())
}
