//! Running a bulk case (Autobahn's limits, performance and compression
//! families): each message is generated, framed (fragmented, compressed with
//! the negotiated parameters, masked when we are the client), written as the
//! case says while the echo is read, and the echo compared byte for byte as it
//! streams in; the next message goes only once the echo is complete. Nothing
//! is held but the message in flight. Then the closing handshake is judged as
//! for any valid traffic, and the time taken is reported.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use wschaos_codec::cases::Bulk;
use wschaos_codec::decode::{Decoder, DecoderEvent};
use wschaos_codec::deflate::Compressor;
use wschaos_codec::encode::Frame;
use wschaos_codec::handshake::DeflateParams;
use wschaos_codec::validate::{DeflateConfig, FrameDone, MessageKind};
use wschaos_codec::{OpCode, Role, ValidatorConfig};

use crate::catalogue::{Expect, Write};
use crate::check::observe::{Observation, ObserveOptions, observe};
use crate::report::{ClosePayload, Observed, Verdict};
use crate::verdict::{self, Judgement, judge};

/// permessage-deflate as agreed for a bulk case: how we compress (reset per
/// message, window bits) and how the endpoint's answers are read.
#[derive(Debug, Clone, Copy)]
pub struct Agreed {
    pub send_reset: bool,
    pub send_window: u8,
    pub receive: DeflateConfig,
}

impl Agreed {
    /// The agreed parameters seen from our end, `we_are`: the `client_*` ones
    /// bind the client's compressor, the `server_*` ones the server's.
    pub fn new(p: DeflateParams, we_are: Role) -> Agreed {
        let (ours, theirs) = match we_are {
            Role::Client => (
                (p.client_no_context_takeover, p.client_max_window_bits),
                (p.server_no_context_takeover, p.server_max_window_bits),
            ),
            Role::Server => (
                (p.server_no_context_takeover, p.server_max_window_bits),
                (p.client_no_context_takeover, p.client_max_window_bits),
            ),
        };
        Agreed {
            send_reset: ours.0,
            send_window: ours.1.unwrap_or(15),
            receive: DeflateConfig {
                peer_no_context_takeover: theirs.0,
                peer_max_window_bits: theirs.1,
            },
        }
    }

    /// How the peer reads what we send: with the context it kept from our
    /// earlier messages unless we agreed to reset ours. (A message made with a
    /// fresh context reads the same either way, unless an earlier one left the
    /// peer's inflater inside a block, as an empty compressed payload does.)
    pub fn peer_reads(&self) -> DeflateConfig {
        DeflateConfig {
            peer_no_context_takeover: self.send_reset,
            peer_max_window_bits: Some(self.send_window),
        }
    }
}

/// How long a bulk case may take beyond the per-case timeout: a megabyte a
/// second and ten milliseconds per round trip, so that only an endpoint that
/// is stuck (or slower than any in real use, with other cases running beside)
/// runs out of time.
pub fn allowance(bulk: &Bulk) -> Duration {
    Duration::from_millis(bulk.total_bytes() / 1000 + 10 * bulk.count as u64)
}

/// The frames of one message: `frame_size` payload bytes per frame (after
/// compression), RSV1 on the first when compressed, masked with `key` when we
/// are the client.
fn frames(
    bulk: &Bulk,
    payload: &[u8],
    compressor: Option<&mut Compressor>,
    we_are: Role,
    key: [u8; 4],
) -> Vec<u8> {
    let compressed = compressor.map(|c| c.message(payload));
    let wire = compressed.as_deref().unwrap_or(payload);
    let op = if bulk.text {
        OpCode::TEXT
    } else {
        OpCode::BINARY
    };
    let per = bulk.frame_size.unwrap_or(wire.len()).max(1);
    let chunks: Vec<&[u8]> = if wire.is_empty() {
        vec![&[][..]]
    } else {
        wire.chunks(per).collect()
    };
    let last = chunks.len() - 1;
    let mut out = Vec::with_capacity(wire.len() + 14 * chunks.len());
    for (i, chunk) in chunks.into_iter().enumerate() {
        let mut f =
            Frame::new(if i == 0 { op } else { OpCode::CONTINUE }, chunk.to_vec()).fin(i == last);
        if i == 0 && compressed.is_some() {
            f = f.rsv(true, false, false);
        }
        if we_are == Role::Client {
            f = f.masked(key);
        }
        // A frame of any length up to 2^63 encodes.
        out.extend(f.encode().unwrap_or_default());
    }
    out
}

/// Why the echoes stopped.
enum Stop {
    Closed(ClosePayload),
    TcpClosed,
    Timeout,
    Violation(String),
    Differs(String),
}

/// The echo being compared.
struct Echo {
    expected: Vec<u8>,
    text: bool,
    offset: usize,
    in_control: bool,
    differs: Option<String>,
    complete: bool,
    close: Option<ClosePayload>,
}

impl Echo {
    fn on_event(&mut self, ev: DecoderEvent<'_>) {
        match ev {
            DecoderEvent::Header(h) => self.in_control = h.opcode.is_control(),
            DecoderEvent::Data(d) if !self.in_control => {
                let end = self.offset + d.len();
                if self.differs.is_none() && self.expected.get(self.offset..end) != Some(d) {
                    let at = self.offset
                        + d.iter()
                            .zip(self.expected.get(self.offset..).unwrap_or_default())
                            .take_while(|(a, b)| a == b)
                            .count();
                    self.differs = Some(if at >= self.expected.len() {
                        format!(
                            "the echo is longer than the {} bytes sent",
                            self.expected.len()
                        )
                    } else {
                        format!("the echo differs from what was sent at byte {at}")
                    });
                }
                self.offset = end;
            }
            DecoderEvent::Data(_) => {}
            DecoderEvent::Done(FrameDone::Message { kind, .. }) => {
                let text = *kind == MessageKind::Text;
                if self.differs.is_none() && text != self.text {
                    self.differs = Some(format!(
                        "echoed as a {} message",
                        if text { "text" } else { "binary" }
                    ));
                }
                if self.differs.is_none() && self.offset != self.expected.len() {
                    self.differs = Some(format!(
                        "the echo has {} of the {} bytes sent",
                        self.offset,
                        self.expected.len()
                    ));
                }
                self.complete = true;
            }
            DecoderEvent::Done(FrameDone::Close { code, reason }) => {
                self.close.get_or_insert(ClosePayload {
                    code: *code,
                    reason: reason.clone(),
                });
            }
            DecoderEvent::Done(_) => {}
        }
    }
}

/// Runs `bulk` on an open connection (`leftover`: what was read past the
/// handshake) and judges it.
#[allow(clippy::too_many_arguments)]
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    leftover: &[u8],
    we_are: Role,
    key: [u8; 4],
    bulk: &Bulk,
    write: Write,
    deflate: Option<Agreed>,
    deadline: Instant,
) -> Judgement {
    let started = Instant::now();
    let mut compressor = deflate.map(|d| Compressor::new(d.send_reset, d.send_window));
    let mut config = ValidatorConfig::new(we_are)
        .with_max_message_size((bulk.size as u64).saturating_mul(2).max(1 << 20));
    config.deflate = deflate.map(|d| d.receive);
    let mut decoder = Decoder::new(config);
    let mut echo = Echo {
        expected: Vec::new(),
        text: bulk.text,
        offset: 0,
        in_control: false,
        differs: None,
        complete: false,
        close: None,
    };
    let mut pending = leftover.to_vec();
    for i in 0..bulk.count {
        echo.expected = bulk.message(i);
        echo.offset = 0;
        echo.complete = false;
        let wire = frames(bulk, &echo.expected, compressor.as_mut(), we_are, key);
        let stop = exchange(
            stream,
            &wire,
            write,
            &mut decoder,
            &mut echo,
            &mut pending,
            deadline,
        )
        .await;
        if let Err(stop) = stop {
            return stopped(stop, i, bulk);
        }
    }
    let elapsed = started.elapsed();
    // The closing handshake, judged as for any valid traffic.
    let until = deadline.max(Instant::now() + Duration::from_secs(2));
    let obs = close_normally(
        stream,
        &pending,
        we_are,
        key,
        deflate.map(|d| d.receive),
        until,
    )
    .await;
    let mut j = judge(&Expect::Echo, &[], &obs);
    let bytes = bulk.total_bytes();
    let rate = bytes as f64 / elapsed.as_secs_f64().max(1e-6) / 1e6;
    let secs = elapsed.as_secs_f64().max(1e-6);
    let timing = if bulk.count > 1 {
        format!(
            "{} messages, {bytes} bytes echoed in {} ms ({:.0} round trips/s, {rate:.1} MB/s)",
            bulk.count,
            elapsed.as_millis(),
            bulk.count as f64 / secs
        )
    } else {
        format!(
            "{bytes} bytes echoed in {} ms ({rate:.1} MB/s)",
            elapsed.as_millis()
        )
    };
    j.observed = match j.observed {
        Observed::Close { .. } | Observed::TcpClose if j.verdict == Verdict::Pass => Observed::Echo,
        o => o,
    };
    j.note = Some(match j.note {
        Some(n) => format!("{timing}; then {n}"),
        None => timing,
    });
    j
}

/// Sends a Close (1000) and observes the endpoint's answer, as after valid
/// traffic that was all answered.
pub async fn close_normally<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    leftover: &[u8],
    we_are: Role,
    key: [u8; 4],
    deflate: Option<DeflateConfig>,
    deadline: Instant,
) -> Observation {
    let mut close = Frame::close(1000, b"");
    if we_are == Role::Client {
        close = close.masked(key);
    }
    let bytes = close.encode().unwrap_or_default();
    let _ = timeout_at(deadline, async {
        stream.write_all(&bytes).await?;
        stream.flush().await
    })
    .await;
    let mut obs = observe(
        stream,
        leftover,
        ObserveOptions {
            we_are,
            deflate,
            plan: Some(&[]),
            key,
            deadline,
            sent_close: true,
            close_when_done: true,
        },
    )
    .await;
    obs.we_closed_first = true;
    obs
}

/// Writes one message's frames (as `write` says) while reading its echo.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    wire: &[u8],
    write: Write,
    decoder: &mut Decoder,
    echo: &mut Echo,
    pending: &mut Vec<u8>,
    deadline: Instant,
) -> Result<(), Stop> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writing = async {
        for piece in write.pieces(wire) {
            wr.write_all(piece).await?;
            wr.flush().await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let reading = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if !pending.is_empty() {
                let input = std::mem::take(pending);
                if let Err(v) = decoder.feed(&input, &mut |ev| echo.on_event(ev)) {
                    return Err(Stop::Violation(v.to_string()));
                }
            }
            if let Some(d) = echo.differs.take() {
                return Err(Stop::Differs(d));
            }
            if echo.complete {
                return Ok(());
            }
            if let Some(c) = echo.close.take() {
                return Err(Stop::Closed(c));
            }
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return Err(Stop::TcpClosed),
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
    };
    let both = async {
        let mut writing = std::pin::pin!(writing);
        let mut reading = std::pin::pin!(reading);
        let mut written = false;
        loop {
            tokio::select! {
                r = &mut reading => return r,
                w = &mut writing, if !written => {
                    written = true;
                    // A failed write shows as the peer's close on the read side.
                    let _ = w;
                }
            }
        }
    };
    timeout_at(deadline, both)
        .await
        .unwrap_or(Err(Stop::Timeout))
}

fn stopped(stop: Stop, index: usize, bulk: &Bulk) -> Judgement {
    let at = format!(
        "message {} of {} ({} bytes)",
        index + 1,
        bulk.count,
        bulk.size
    );
    match stop {
        Stop::Closed(close) => verdict::bulk_closed(&close, &at),
        Stop::TcpClosed => Judgement::new(
            Observed::TcpClose,
            Verdict::Fail,
            Some(format!("dropped the connection at {at}")),
        ),
        Stop::Timeout => Judgement::new(
            Observed::Timeout,
            Verdict::Fail,
            Some(format!("the echo of {at} was not complete in time")),
        ),
        Stop::Violation(v) => Judgement::new(
            Observed::Continued,
            Verdict::Fail,
            Some(format!(
                "the endpoint itself sent invalid data at {at}: {v}"
            )),
        ),
        Stop::Differs(d) => Judgement::new(
            Observed::Continued,
            Verdict::Fail,
            Some(format!("{d} ({at})")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wschaos_codec::cases::Payload;

    #[test]
    fn each_end_compresses_by_its_own_parameters() {
        let p = DeflateParams {
            client_no_context_takeover: true,
            client_max_window_bits: Some(9),
            server_no_context_takeover: false,
            server_max_window_bits: Some(10),
        };
        let c = Agreed::new(p, Role::Client);
        assert_eq!((c.send_reset, c.send_window), (true, 9));
        assert_eq!(c.receive.peer_max_window_bits, Some(10));
        assert!(!c.receive.peer_no_context_takeover);
        let s = Agreed::new(p, Role::Server);
        assert_eq!((s.send_reset, s.send_window), (false, 10));
        assert_eq!(s.receive.peer_max_window_bits, Some(9));
        assert!(s.receive.peer_no_context_takeover);
    }

    #[test]
    fn frames_fragment_the_compressed_payload_and_flag_the_first() {
        let bulk = Bulk {
            text: true,
            size: 3000,
            count: 1,
            frame_size: Some(100),
            payload: Payload::Pattern(b"abc"),
            deflate: None,
        };
        let msg = bulk.message(0);
        let plain = frames(&bulk, &msg, None, Role::Server, [0; 4]);
        let outcome = wschaos_codec::classify(ValidatorConfig::new(Role::Client), &plain);
        assert!(outcome.violation.is_none());
        assert_eq!(outcome.frames.len(), 30);
        let mut c = Compressor::new(false, 15);
        let z = frames(&bulk, &msg, Some(&mut c), Role::Client, [1, 2, 3, 4]);
        let config = ValidatorConfig::new(Role::Server).with_deflate(DeflateConfig::default());
        let outcome = wschaos_codec::classify(config, &z);
        assert!(outcome.violation.is_none(), "{:?}", outcome.violation);
        assert!(z.len() < 200, "{}", z.len());
    }
}
