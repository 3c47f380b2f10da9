//! One direction of one proxied connection: read a chunk, run it through the
//! connection's sans-IO `Relay`, and deliver what it gives back through the
//! transport faults active in that direction. A chunk is stamped when it arrives
//! and released `latency` later, while reading goes on, so a delay adds latency
//! without capping throughput (as toxiproxy's latency toxic does); order is kept
//! and at most `MAX_QUEUED` bytes wait. Slices and the bandwidth limit shape each
//! write. A chunk may be dropped, or cut at a limit; a fault that ends the
//! connection (a limit reached, a close timer) has both sockets closed with a
//! FIN, and one that holds the end of a stream delays this side's FIN. A
//! shutdown stops reading and flushes what is held; a reset closes both sockets
//! with RST and no FIN.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use wschaos_codec::handshake::MAX_HANDSHAKE_BYTES;

use crate::proxy::fault::{Dir, DirSel, Shape, TransportFault};
use crate::proxy::record::Recording;
use crate::proxy::relay::{ActiveFault, Relay};
use crate::proxy::state::ProxyState;
use crate::seed::derive_seed;

/// Per-direction read size: a frame of any size streams through in pieces this big.
pub const CHUNK: usize = 16 * 1024;
/// Bytes a direction holds back for a latency fault before it stops reading.
const MAX_QUEUED: usize = 1 << 20;

/// A transport fault that acted on at least one chunk of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub spec: String,
    pub dir: DirSel,
    /// The fault's own words for what it did.
    pub what: String,
    pub after: Option<Duration>,
    /// It lost data or ended the connection: reported where it acted, even
    /// without frames, and nothing is owed.
    pub lossy: bool,
}

/// What both directions of one connection share.
#[derive(Clone)]
pub struct PumpCtx {
    pub relay: Arc<Mutex<Relay>>,
    pub recording: Option<Arc<Mutex<Recording>>>,
    pub state: Arc<ProxyState>,
    pub seed: u64,
    pub conn: u64,
    pub started: Instant,
    /// Turns true on shutdown: stop reading, deliver what is held.
    pub stop: watch::Receiver<bool>,
    /// Turns true when a `reset` fault fires; `None` when none is scheduled
    /// (the common case pays nothing for it).
    pub reset: Option<watch::Receiver<bool>>,
    /// Wakes the connection's timer: the relay holds an injection to settle.
    pub injected: Arc<Notify>,
    pub applied: Arc<Mutex<Vec<Applied>>>,
    /// Notified when a fault ends the connection: the connection's task then
    /// closes both sockets (FIN both ways).
    pub ended: Arc<Notify>,
    /// Milliseconds since the connection opened at the last read, either way;
    /// kept only when an idle timeout needs it.
    pub activity: Option<Arc<AtomicU64>>,
}

struct Queued {
    release: Instant,
    bytes: Vec<u8>,
    shape: Shape,
}

/// Resolves once `rx` turns true; never if its sender is gone first. Made once
/// per pump and kept: a fresh one per read would register and drop a waiter on
/// a channel every connection shares.
pub async fn turned_true(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The writing half of a proxied connection, plain or TLS.
pub trait WriteHalf: AsyncWrite + Unpin {
    /// Lets go of the half without a FIN (nor a TLS close_notify): after a
    /// reset, with zero linger set on the socket, the peer gets an RST.
    fn forget(self);
}

impl WriteHalf for tokio::net::tcp::OwnedWriteHalf {
    fn forget(self) {
        tokio::net::tcp::OwnedWriteHalf::forget(self)
    }
}

impl<T: AsyncRead + AsyncWrite> WriteHalf for tokio::io::WriteHalf<T> {
    fn forget(self) {
        // Dropping a split half never shuts the stream down.
        drop(self)
    }
}

/// Relays one direction until EOF, error, shutdown or reset, then half-closes the
/// other side so the peer sees the end too (not after a reset: that is an RST).
/// `from` and `to` are the halves of plain TCP or TLS streams alike.
pub async fn pump<R, W>(dir: Dir, mut from: R, mut to: W, ctx: PumpCtx)
where
    R: AsyncRead + Unpin,
    W: WriteHalf,
{
    let PumpCtx {
        relay,
        recording,
        state,
        seed,
        conn,
        started,
        stop,
        reset,
        injected,
        applied,
        ended,
        activity,
    } = ctx;
    // Reads fill spare capacity (`read_buf`), so a connection's memory is touched
    // only as far as its reads have reached: an idle one costs a page, not 16 KiB.
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK);
    let mut out = Vec::with_capacity(CHUNK + MAX_HANDSHAKE_BYTES);
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, conn, dir.as_str()));
    let mut queue: VecDeque<Queued> = VecDeque::new();
    let mut queued = 0usize;
    let mut reading = true;
    let mut stop = std::pin::pin!(turned_true(stop));
    let resettable = reset.is_some();
    let mut reset = std::pin::pin!(async move {
        match reset {
            Some(rx) => turned_true(rx).await,
            None => std::future::pending().await,
        }
    });
    // One timer, moved to the front chunk's release time when that changes.
    let mut due = std::pin::pin!(tokio::time::sleep_until(Instant::now()));
    let mut armed: Option<Instant> = None;
    // A fault's close timer (`closes_after`), re-read with every chunk's snapshot.
    let mut close_at = closing(dir, &state.faults(), started, seed, conn);
    let mut close_due = std::pin::pin!(tokio::time::sleep_until(
        close_at.as_ref().map_or_else(Instant::now, |(at, _)| *at)
    ));
    // Bytes delivered while a limit applied, and the fault that ends the
    // connection once this direction is done.
    let mut limited = 0u64;
    let mut ending: Option<Applied> = None;
    let mut eof = false;
    // Frame headers the relay has counted in this direction, as metered so far.
    let mut frames_metered = 0u64;
    loop {
        if !reading && queue.is_empty() {
            break;
        }
        let release = queue.front().map(|q| q.release);
        if let Some(at) = release.filter(|&at| armed != Some(at)) {
            due.as_mut().reset(at);
            armed = Some(at);
        }
        // `None`: nothing read this turn.
        let n: Option<Option<usize>> = tokio::select! {
            biased;
            _ = &mut reset, if resettable => {
                // Dropping the read half after this closes the socket without a
                // FIN; with zero linger the peer gets an RST.
                to.forget();
                return;
            }
            _ = &mut stop, if reading => Some(None),
            _ = &mut close_due, if close_at.is_some() => {
                // Closing: what is held is not delivered either.
                ending = close_at.take().map(|(_, a)| a);
                reading = false;
                queue.clear();
                queued = 0;
                continue;
            }
            _ = &mut due, if release.is_some() => None,
            r = { buf.clear(); from.read_buf(&mut buf) }, if reading && queued < MAX_QUEUED => {
                Some(Some(r.unwrap_or(0)))
            }
        };
        let Some(n) = n else {
            // A delayed chunk is due.
            if let Some(q) = queue.pop_front() {
                queued -= q.bytes.len();
                match write(&mut to, &q.bytes, q.shape, resettable, reset.as_mut()).await {
                    Ok(()) => {}
                    Err(WriteEnd::Io) => break,
                    Err(WriteEnd::Reset) => return to.forget(),
                }
            }
            continue;
        };
        out.clear();
        if let Some(n @ 1..) = n {
            state.metrics().read(dir, n);
        }
        if let (Some(a), Some(1..)) = (&activity, n) {
            a.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        // One snapshot per chunk, for the relay and for delivery.
        let faults = state.faults();
        let (wake_timer, fault_at, frames) = {
            let mut r = relay.lock().unwrap_or_else(|e| e.into_inner());
            match n {
                None => r.flush_held(dir, &mut out),
                Some(0) => r.eof(dir, &mut out),
                Some(n) => r.feed(dir, &buf[..n], started.elapsed(), &faults, &mut out),
            }
            (
                r.has_injections(),
                r.take_fault_offset(dir),
                r.frame_count(dir),
            )
        };
        if frames > frames_metered {
            state.metrics().frames(dir, frames - frames_metered);
            frames_metered = frames;
        }
        if wake_timer {
            injected.notify_one();
        }
        if matches!(n, None | Some(0)) {
            reading = false;
            eof = n == Some(0);
        }
        let next_close = closing(dir, &faults, started, seed, conn);
        if next_close.as_ref().map(|c| c.0) != close_at.as_ref().map(|c| c.0) {
            if let Some((at, _)) = &next_close {
                close_due.as_mut().reset(*at);
            }
            close_at = next_close;
        }
        let mut shape = Shape::NONE;
        if !out.is_empty() {
            let (s, limiter) = self::shape(dir, &faults, &mut rng, started, seed, conn, &applied);
            // Ending: what is left goes out at once, but not past a drop or a limit.
            shape = if reading {
                s
            } else {
                Shape {
                    drop: s.drop,
                    limit: s.limit,
                    ..Shape::NONE
                }
            };
            if shape.drop {
                out.clear();
            } else if shape.limit != u64::MAX {
                let room = shape.limit.saturating_sub(limited);
                if out.len() as u64 >= room {
                    // Exactly the limit is delivered; then the connection ends.
                    out.truncate(room as usize);
                    reading = false;
                    ending = limiter.map(|(f, t)| applied_entry(f, t));
                }
                limited = limited.saturating_add(out.len() as u64);
            }
        }
        if let (Some(rec), Some(n)) = (&recording, n) {
            rec.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(dir, &buf[..n], &out, fault_at);
        }
        if !out.is_empty() {
            if shape.delay.is_zero() && queue.is_empty() {
                match write(&mut to, &out, shape, resettable, reset.as_mut()).await {
                    Ok(()) => {}
                    Err(WriteEnd::Io) => break,
                    Err(WriteEnd::Reset) => return to.forget(),
                }
            } else {
                // Released in order: never before the chunk ahead of it.
                // Delays are bounded (a day at most); checked all the same.
                let now = Instant::now();
                let at = now.checked_add(shape.delay).unwrap_or(now);
                let release = queue.back().map_or(at, |q| q.release.max(at));
                queued += out.len();
                queue.push_back(Queued {
                    release,
                    bytes: out.clone(),
                    shape,
                });
            }
        }
        // A large handshake buffer is not kept once it has been forwarded.
        if out.capacity() > 4 * (CHUNK + MAX_HANDSHAKE_BYTES) {
            out = Vec::with_capacity(CHUNK + MAX_HANDSHAKE_BYTES);
        }
    }
    if let Some(a) = ending {
        note(&applied, &a.spec, a.dir, || a.clone());
        // The connection's task closes both sockets; this side's FIN goes first.
        ended.notify_one();
        let _ = to.shutdown().await;
        return;
    }
    if eof && let Some((hold, f, t)) = fin_delay(dir, &state.faults(), started, seed, conn) {
        note(&applied, &f.spec.text, f.spec.dir, || applied_entry(f, t));
        tokio::select! {
            _ = tokio::time::sleep(hold) => {}
            _ = &mut reset, if resettable => return to.forget(),
        }
    }
    let _ = to.shutdown().await;
}

/// Why a write did not complete.
enum WriteEnd {
    Io,
    Reset,
}

/// Writes `bytes` in slices of at most `shape.slice`, then pauses for the
/// bandwidth limit; a reset interrupts it (the caller then drops the socket).
async fn write<W: AsyncWrite + Unpin>(
    to: &mut W,
    bytes: &[u8],
    shape: Shape,
    resettable: bool,
    reset: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<(), WriteEnd> {
    if !resettable && shape.slice == usize::MAX && shape.kbps == u64::MAX {
        // The plain path: no fault shapes this write and none can interrupt it.
        // The flush matters for TLS: a TLS stream may take the bytes and keep
        // their ciphertext while the socket is full, until flushed (a no-op on
        // plain TCP).
        let io = async {
            to.write_all(bytes).await?;
            to.flush().await
        };
        return io.await.map_err(|_| WriteEnd::Io);
    }
    let io = async {
        if shape.slice == usize::MAX {
            to.write_all(bytes).await?;
            to.flush().await?;
        } else {
            for piece in bytes.chunks(shape.slice) {
                to.write_all(piece).await?;
                to.flush().await?;
            }
        }
        if shape.kbps != u64::MAX {
            // kilobits per second: bytes * 8 / kbps milliseconds.
            let micros = (bytes.len() as u64).saturating_mul(8_000) / shape.kbps;
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        r = io => r.map_err(|_| WriteEnd::Io),
        _ = reset => Err(WriteEnd::Reset),
    }
}

/// The transport faults active in `dir` for this chunk, combined: each shapes
/// it in its own file (delays add up, the smallest slice, rate and limit win, a
/// drop wins over all). Each one that changes the chunk is noted in `applied`,
/// so that it gets a verdict when the connection ends; the fault that set the
/// limit is returned instead, to be noted if the limit is reached.
fn shape<'a>(
    dir: Dir,
    faults: &'a [ActiveFault],
    rng: &mut ChaCha8Rng,
    started: Instant,
    seed: u64,
    conn: u64,
    applied: &Mutex<Vec<Applied>>,
) -> (Shape, Option<(&'a ActiveFault, &'a dyn TransportFault)>) {
    let mut s = Shape::NONE;
    let mut limiter = None;
    for f in faults.iter().filter(|f| f.spec.dir.matches(dir)) {
        let Some(t) = f.fault.transport().filter(|t| !t.resets()) else {
            continue;
        };
        if !begun(f, started) {
            continue;
        }
        let hit = match f.spec.trigger.p {
            None => true,
            Some(_) if t.lossy() => hits_connection(f, seed, conn),
            Some(p) => rng.random::<f64>() < p,
        };
        if !hit {
            continue;
        }
        let before = s;
        t.shape(&mut s, rng);
        if s.limit < before.limit {
            limiter = Some((f, t));
        }
        let changed = Shape {
            limit: before.limit,
            ..s
        } != before;
        if changed {
            note(applied, &f.spec.text, f.spec.dir, || applied_entry(f, t));
        }
    }
    (s, limiter)
}

/// Whether `f`'s `after` has passed.
fn begun(f: &ActiveFault, started: Instant) -> bool {
    f.spec.trigger.after.is_none_or(|a| started.elapsed() >= a)
}

/// Whether `f`'s `p` picks this connection: one seeded draw per fault and
/// connection, the same in both directions and every time it is asked. For the
/// faults that act on whole connections (lossy ones, a close timer, a held FIN).
fn hits_connection(f: &ActiveFault, seed: u64, conn: u64) -> bool {
    f.spec.trigger.p.is_none_or(|p| {
        let stream = derive_seed(derive_seed(seed, conn, "transport p"), 0, &f.spec.text);
        ChaCha8Rng::seed_from_u64(stream).random::<f64>() < p
    })
}

/// The earliest close a fault in `dir` schedules for this connection: its
/// `after` plus its `closes_after`, and the fault, noted if it fires. A time
/// past what the clock can hold is never.
fn closing(
    dir: Dir,
    faults: &[ActiveFault],
    started: Instant,
    seed: u64,
    conn: u64,
) -> Option<(Instant, Applied)> {
    faults
        .iter()
        .filter(|f| f.spec.dir.matches(dir))
        .filter_map(|f| {
            let t = f.fault.transport()?;
            let wait = t.closes_after()?;
            let at =
                started.checked_add(f.spec.trigger.after.unwrap_or_default().checked_add(wait)?)?;
            Some((f, t, at))
        })
        .filter(|(f, _, _)| hits_connection(f, seed, conn))
        .min_by_key(|(_, _, at)| *at)
        .map(|(f, t, at)| (at, applied_entry(f, t)))
}

/// How long the end of the stream in `dir` is held, by the fault that holds
/// it longest among those that have begun and pick this connection.
fn fin_delay(
    dir: Dir,
    faults: &[ActiveFault],
    started: Instant,
    seed: u64,
    conn: u64,
) -> Option<(Duration, &ActiveFault, &dyn TransportFault)> {
    faults
        .iter()
        .filter(|f| f.spec.dir.matches(dir) && begun(f, started))
        .filter_map(|f| Some((f, f.fault.transport()?)))
        .map(|(f, t)| (t.fin_delay(), f, t))
        .filter(|(hold, f, _)| !hold.is_zero() && hits_connection(f, seed, conn))
        .max_by_key(|(hold, _, _)| *hold)
}

fn applied_entry(f: &ActiveFault, t: &dyn TransportFault) -> Applied {
    Applied {
        spec: f.spec.text.clone(),
        dir: f.spec.dir,
        what: t.what(),
        after: f.spec.trigger.after,
        lossy: t.lossy(),
    }
}

/// Notes a fault that acted, once per connection (`entry` is built only then).
fn note(applied: &Mutex<Vec<Applied>>, spec: &str, dir: DirSel, entry: impl FnOnce() -> Applied) {
    let mut list = applied.lock().unwrap_or_else(|e| e.into_inner());
    if !list.iter().any(|a| a.spec == spec && a.dir == dir) {
        list.push(entry());
    }
}
