//! Watching an endpoint's reaction: bytes it sends are decoded with the codec's
//! `Decoder` (one parser for the whole project), answers are collected up to a
//! bound, a Close is answered as RFC 6455 5.5.1 asks, and every wait ends at the
//! case deadline.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use wschaos_codec::decode::{Decoder, DecoderEvent};
use wschaos_codec::encode::Frame;
use wschaos_codec::validate::{DeflateConfig, FrameDone, MessageKind};
use wschaos_codec::{CloseCode, Role, ValidatorConfig, Violation};

use crate::report::ClosePayload;

/// Something an endpoint sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Message {
        kind: MessageKind,
        data: Vec<u8>,
    },
    Pong(Vec<u8>),
    Ping(Vec<u8>),
    Close {
        code: Option<CloseCode>,
        reason: String,
    },
}

/// Answers kept per case at most; an endpoint that floods is judged on these.
const MAX_ANSWER_BYTES: usize = 4 << 20;

/// Collects decoded frames into answers.
struct Collector {
    answers: Vec<Answer>,
    /// The open data message, kept apart from control payloads, which may
    /// arrive between its fragments.
    message: Vec<u8>,
    control: Vec<u8>,
    in_control: bool,
    bytes: usize,
    truncated: bool,
}

impl Collector {
    fn new() -> Collector {
        Collector {
            answers: Vec::new(),
            message: Vec::new(),
            control: Vec::new(),
            in_control: false,
            bytes: 0,
            truncated: false,
        }
    }

    fn on_event(&mut self, ev: DecoderEvent<'_>) {
        match ev {
            DecoderEvent::Header(h) => self.in_control = h.opcode.is_control(),
            DecoderEvent::Data(d) => {
                if self.bytes + d.len() <= MAX_ANSWER_BYTES {
                    let buf = if self.in_control {
                        &mut self.control
                    } else {
                        &mut self.message
                    };
                    buf.extend_from_slice(d);
                    self.bytes += d.len();
                } else {
                    self.truncated = true;
                }
            }
            DecoderEvent::Done(done) => {
                let answer = match done {
                    FrameDone::Fragment => return,
                    FrameDone::Message { kind, .. } => Answer::Message {
                        kind: *kind,
                        data: std::mem::take(&mut self.message),
                    },
                    FrameDone::Ping => Answer::Ping(std::mem::take(&mut self.control)),
                    FrameDone::Pong => Answer::Pong(std::mem::take(&mut self.control)),
                    FrameDone::Close { code, reason } => {
                        self.control.clear();
                        Answer::Close {
                            code: *code,
                            reason: reason.clone(),
                        }
                    }
                };
                self.answers.push(answer);
            }
        }
    }
}

/// What a conforming endpoint answers to valid `bytes`: an echo per message, a
/// pong per ping, a Close for a Close (and nothing for what follows the Close).
pub fn plan_answers(receiver: Role, deflate: Option<DeflateConfig>, bytes: &[u8]) -> Vec<Answer> {
    let mut config = ValidatorConfig::new(receiver);
    config.deflate = deflate;
    let mut decoder = Decoder::new(config);
    let mut c = Collector::new();
    let _ = decoder.feed(bytes, &mut |ev| c.on_event(ev));
    c.answers
        .into_iter()
        .filter_map(|a| match a {
            Answer::Ping(p) => Some(Answer::Pong(p)),
            Answer::Pong(_) => None,
            other => Some(other),
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Data messages, pings and pongs received, in order (the Close is in `close`).
    pub answers: Vec<Answer>,
    /// The endpoint's Close frame.
    pub close: Option<ClosePayload>,
    /// The endpoint itself sent something invalid.
    pub peer_violation: Option<Violation>,
    /// EOF or reset seen.
    pub tcp_closed: bool,
    /// We closed first, after the endpoint answered everything it owed.
    pub we_closed_first: bool,
    /// Bytes the endpoint sent after its own Close frame.
    pub after_close_bytes: usize,
    pub timed_out: bool,
    /// After the closing handshake we waited for the server to close TCP
    /// (and `tcp_closed` says whether it did).
    pub waited_for_tcp_close: bool,
    /// Answers beyond the per-case bound were dropped.
    pub truncated: bool,
    /// For a case written with pauses: whether the endpoint had sent something
    /// (or closed) before the last piece was written.
    pub acted_before_end: Option<bool>,
}

/// How to observe one connection.
pub struct ObserveOptions<'a> {
    /// The role of *our* end: decides masking of our replies and of theirs.
    pub we_are: Role,
    pub deflate: Option<DeflateConfig>,
    /// Answers that complete the exchange; once all arrived we close normally.
    pub plan: Option<&'a [Answer]>,
    /// Mask key for the frames we send as a client.
    pub key: [u8; 4],
    pub deadline: Instant,
    /// Whether a Close frame was among what we already sent.
    pub sent_close: bool,
    /// Close normally once the plan is complete; otherwise just return.
    pub close_when_done: bool,
}

/// Reads until the endpoint closed (Close frame and/or TCP close), broke a rule,
/// completed the plan, or the deadline passed. `leftover` is what was read past
/// the handshake head.
pub async fn observe<S>(stream: &mut S, leftover: &[u8], opts: ObserveOptions<'_>) -> Observation
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut config = ValidatorConfig::new(opts.we_are);
    config.deflate = opts.deflate;
    let mut decoder = Decoder::new(config);
    let mut c = Collector::new();
    let mut obs = Observation::default();
    let mut sent_close = opts.sent_close;
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending: Vec<u8> = leftover.to_vec();
    // After the closing handshake, a server closes TCP at once; a client waits
    // a little for the server to do it (RFC 6455 7.1.1).
    let mut close_grace: Option<Instant> = None;
    loop {
        if !pending.is_empty() {
            let input = std::mem::take(&mut pending);
            if obs.close.is_some() {
                obs.after_close_bytes += input.len();
            } else {
                match decoder.feed(&input, &mut |ev| c.on_event(ev)) {
                    Ok(fed) => obs.after_close_bytes += input.len() - fed.consumed,
                    Err(v) => {
                        obs.peer_violation = Some(v);
                        break;
                    }
                }
            }
            obs.truncated |= c.truncated;
            if let Some(pos) = c
                .answers
                .iter()
                .position(|a| matches!(a, Answer::Close { .. }))
            {
                if obs.close.is_none() {
                    if let Answer::Close { code, reason } = c.answers.remove(pos) {
                        obs.close = Some(ClosePayload { code, reason });
                        if !sent_close {
                            let reply = code.map_or_else(
                                || Frame::new(wschaos_codec::OpCode::CLOSE, Vec::new()),
                                |code| Frame::close(u16::from(code), b""),
                            );
                            let _ = send_frame(stream, opts.we_are, opts.key, reply).await;
                            sent_close = true;
                        }
                        let grace = if opts.we_are == Role::Server {
                            Duration::ZERO
                        } else {
                            obs.waited_for_tcp_close = true;
                            Duration::from_millis(1000)
                        };
                        close_grace = Some((Instant::now() + grace).min(opts.deadline));
                    }
                }
            }
            obs.answers = c.answers.clone();
        }
        // Once everything owed has come (at once when nothing is owed, such as
        // for a lone pong), the exchange ends.
        if !sent_close {
            if let Some(plan) = opts.plan {
                if answers_complete(plan, &c.answers) {
                    if !opts.close_when_done {
                        break;
                    }
                    obs.we_closed_first = true;
                    let _ =
                        send_frame(stream, opts.we_are, opts.key, Frame::close(1000, b"")).await;
                    sent_close = true;
                }
            }
        }
        let until = close_grace.unwrap_or(opts.deadline);
        if close_grace.is_some() && Instant::now() >= until {
            break;
        }
        match timeout_at(until, stream.read(&mut buf)).await {
            Err(_) => {
                obs.timed_out = close_grace.is_none();
                break;
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                obs.tcp_closed = true;
                break;
            }
            Ok(Ok(n)) => pending.extend_from_slice(&buf[..n]),
        }
    }
    obs.answers = c.answers;
    obs
}

async fn send_frame<S>(
    stream: &mut S,
    we_are: Role,
    key: [u8; 4],
    frame: Frame,
) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let frame = if we_are == Role::Client {
        frame.masked(key)
    } else {
        frame
    };
    let bytes = frame.encode().unwrap_or_default();
    stream.write_all(&bytes).await?;
    stream.flush().await
}

/// Whether `got` holds every answer of `plan` (messages in order, pongs in any
/// order); a Close in the plan is answered through `Observation::close`.
pub fn answers_complete(plan: &[Answer], got: &[Answer]) -> bool {
    compare_answers(plan, got).is_ok()
}

/// `Ok` when `got` matches `plan` exactly (ignoring the plan's Close); otherwise
/// a one-line description of the first difference.
pub fn compare_answers(plan: &[Answer], got: &[Answer]) -> Result<(), String> {
    let msgs = |a: &[Answer]| -> Vec<Answer> {
        a.iter()
            .filter(|x| matches!(x, Answer::Message { .. }))
            .cloned()
            .collect()
    };
    let pongs = |a: &[Answer]| -> Vec<Vec<u8>> {
        let mut p: Vec<Vec<u8>> = a
            .iter()
            .filter_map(|x| match x {
                Answer::Pong(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        p.sort();
        p
    };
    let (want, have) = (msgs(plan), msgs(got));
    if want != have {
        return Err(format!(
            "expected {} echoed message(s), got {} matching",
            want.len(),
            have.iter().zip(&want).take_while(|(a, b)| a == b).count()
        ));
    }
    if pongs(plan) != pongs(got) {
        return Err(format!(
            "expected {} pong(s), got {}",
            pongs(plan).len(),
            pongs(got).len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wschaos_codec::cases::frame_cases;

    #[test]
    fn plan_for_fragmented_text_and_ping() {
        let cases = frame_cases(Role::Server, [1, 2, 3, 4]);
        let c = cases
            .iter()
            .find(|c| c.id == "ok.ping-mid-message")
            .unwrap();
        let plan = plan_answers(Role::Server, None, &c.bytes);
        assert_eq!(
            plan,
            vec![
                Answer::Pong(b"mid".to_vec()),
                Answer::Message {
                    kind: MessageKind::Text,
                    data: b"before after".to_vec()
                }
            ]
        );
        // Pongs may come in any order relative to messages.
        let got = vec![plan[1].clone(), plan[0].clone()];
        assert!(answers_complete(&plan, &got));
        assert!(!answers_complete(&plan, &plan[..1]));
    }

    #[test]
    fn nothing_after_close_is_planned() {
        let cases = frame_cases(Role::Server, [1, 2, 3, 4]);
        let c = cases.iter().find(|c| c.id == "ok.close-1000").unwrap();
        let mut bytes = c.bytes.clone();
        bytes.extend(Frame::ping(b"late").masked([1, 2, 3, 4]).encode().unwrap());
        let plan = plan_answers(Role::Server, None, &bytes);
        assert_eq!(
            plan,
            vec![Answer::Close {
                code: Some(CloseCode::Normal),
                reason: "bye".into()
            }]
        );
    }
}
