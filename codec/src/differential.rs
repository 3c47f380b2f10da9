//! Differential checks: the same bytes are read by our validator (the oracle: for
//! any byte sequence it says which reaction the receiver owes) and by another
//! WebSocket implementation running in this process, and their reactions are
//! compared. Differences we have studied are typed in [`KnownDifference`] and
//! listed in the README; anything else is a finding.
//!
//! # Plugging in your own implementation
//!
//! Implement [`Endpoint`] for a small adapter type, then call [`check_endpoint`]
//! from a fuzz target (or a test) with fuzzer bytes decoded by
//! [`DiffInput::from_bytes`]:
//!
//! 1. [`Endpoint::react`] gets a fresh connection's [`Setup`] (role, bytes per
//!    read, message limit) and the bytes the peer sent after the handshake. Build
//!    your endpoint over an in-memory stream (see [`MemStream`], or for an
//!    async crate `asyncio::AsyncMemStream` inside `asyncio::block_on`, with
//!    the `differential-async` feature) that hands out at most `setup.read_size` bytes per read and keeps what is
//!    written, and read until the input is used up, an error, or the peer's Close.
//! 2. Report its [`Reaction`]: `Closed(code)` when it failed the connection with
//!    a Close frame (use [`failure_close_sent`] to find a failure Close your
//!    library wrote itself; where the library returns an error and leaves the
//!    Close to the application, send the code the application would, from the
//!    error's kind); `Dropped` when it failed without a Close; `CarriedOn` when it
//!    read everything (or answered the peer's Close) and is still fine.
//! 3. Run it: `check_endpoint(&mut MyAdapter, &DiffInput::from_bytes(data))`
//!    returns `Err` with a one-line finding when your endpoint's reaction is not
//!    the one owed (for a violation, a Close with one of
//!    [`Violation::accepted_codes`]; without one, carrying on).
//! 4. Once a finding is understood and the difference is legal or deliberate,
//!    type it: add a [`KnownDifference`] variant with a sentence on why and
//!    recognise it in [`Endpoint::known_difference`] from the [`Disagreement`]
//!    (which frame broke which rule, whether it was complete, its length).
//!
//! Seeds: `cargo run -p wschaos-codec --example seed_corpus` writes every catalogue
//! case in this input format (`corpus/differential_tungstenite/` holds them).

use std::io::{self, Read, Write};

use crate::close::CloseCode;
use crate::frame::Role;
use crate::stream::{StreamOutcome, classify_chunks};
use crate::validate::{FrameDone, ValidatorConfig};
use crate::violation::Violation;

#[cfg(feature = "differential-async")]
pub mod asyncio;
#[cfg(feature = "differential-fastwebsockets")]
pub mod fastwebsockets;
#[cfg(feature = "differential-tokio-websockets")]
pub mod tokio_websockets;
pub mod tungstenite;

pub use self::tungstenite::{Tungstenite, tungstenite_read_all};

/// A byte stream for one receiver: `[flags, max_hi, max_lo, read_size, stream...]`
/// with the flags of [`crate::fuzz::SplitInput`] (deflate is ignored: none of the
/// compared implementations is asked to negotiate permessage-deflate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffInput {
    pub receiver: Role,
    /// Bytes per read on the other implementation's side (0 means all at once).
    pub read_size: u8,
    /// Small message limits reach the 1009 paths on both sides.
    pub max_message_size: Option<u16>,
    pub data: Vec<u8>,
}

impl DiffInput {
    pub fn from_bytes(data: &[u8]) -> DiffInput {
        let (receiver, _, max_message_size) = crate::fuzz::decode_flags(data);
        DiffInput {
            receiver,
            read_size: data.get(3).copied().unwrap_or(0),
            max_message_size,
            data: data.get(4..).unwrap_or(&[]).to_vec(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            crate::fuzz::encode_flags(self.receiver, None, self.max_message_size).to_vec();
        out.push(self.read_size);
        out.extend_from_slice(&self.data);
        out
    }

    pub fn setup(&self) -> Setup {
        Setup {
            receiver: self.receiver,
            read_size: if self.read_size == 0 {
                usize::MAX
            } else {
                usize::from(self.read_size)
            },
            max_message_size: self
                .max_message_size
                .map_or(crate::validate::DEFAULT_MAX_MESSAGE_SIZE, u64::from),
        }
    }
}

/// How the endpoint under test is set up for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// The endpoint's role: a server reads client frames (masked), a client reads
    /// server frames (unmasked).
    pub receiver: Role,
    /// At most this many bytes per read (`usize::MAX`: everything at once).
    pub read_size: usize,
    /// The message size limit to configure (bytes of one message's payload).
    pub max_message_size: u64,
}

/// What an endpoint did with the bytes it was fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// No failure: it read everything it was given (possibly stopping inside a
    /// frame), or answered the peer's Close.
    CarriedOn,
    /// It failed the connection with a Close frame carrying this code.
    Closed(CloseCode),
    /// It failed the connection without a Close frame with a code.
    Dropped,
}

/// An endpoint's report on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointReport {
    pub reaction: Reaction,
    /// The library's error, if it returned one, as text.
    pub error: Option<String>,
}

/// Any WebSocket implementation that can be run in-process on given bytes.
pub trait Endpoint {
    /// Name and version, for findings ("tungstenite 0.30").
    fn name(&self) -> &'static str;

    /// Reads `input`, sent by the peer after a successful handshake, as one fresh
    /// connection set up as `setup` says, and reports how it reacted.
    fn react(&mut self, setup: &Setup, input: &[u8]) -> EndpointReport;

    /// A studied difference that explains this disagreement, if any.
    fn known_difference(&self, _d: &Disagreement<'_>) -> Option<KnownDifference> {
        None
    }
}

/// The oracle's verdict on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No violation: the stream ended (possibly mid-frame) or a Close arrived.
    Fine,
    /// Fail the connection with this code.
    Fail(CloseCode),
}

/// Disagreements we have analysed; each is listed in the README section on the
/// differential checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownDifference {
    /// tungstenite rejects close code 1014 (registered by IANA as Bad Gateway).
    Tungstenite1014Strict,
    /// tungstenite reads a frame's whole payload before it checks anything about
    /// the frame (mask bit, opcode, RSV, UTF-8), so a stream that ends inside a
    /// bad frame is not failed; we fail at the header, or at the first byte that
    /// cannot be UTF-8 (RFC 6455 8.1 "fail fast"). Against a live peer that sends
    /// a bad header and then stalls, tungstenite times out instead of closing.
    TungsteniteChecksOnlyWholeFrames,
    /// tungstenite checks the size limit as soon as it has a header, before the
    /// header rules; we check the rules first. A frame that is both too big and
    /// breaks a rule gets 1009 from tungstenite and 1002 from us (both legal).
    TungsteniteSizeBeforeRules,
    /// A Close with both an invalid code and a reason that is not UTF-8:
    /// tungstenite reports the reason (1007), we report the code (1002).
    TungsteniteCloseReasonBeforeCode,
    /// fastwebsockets judges the RSV bits, the opcode and a control frame's FIN
    /// from the first two bytes of a header; we judge a header once it is whole.
    /// A stream that ends inside such a header is failed by it, not by us (both
    /// legal: the rule is broken either way, it is only sooner).
    FastwebsocketsFailsOnPartialHeader,
    /// fastwebsockets' fragment collector takes a non-final text or binary frame
    /// while a message is open as the start of a new message, dropping the open
    /// one (RFC 6455 5.4: fail the connection). It carries on, or fails later
    /// for another reason (the new frame's UTF-8, say). A final one is refused.
    FastwebsocketsRestartsMessageMidMessage,
    /// A final text frame while a message is open, whose payload is not UTF-8:
    /// fastwebsockets checks a final text frame's UTF-8 before the collector
    /// checks the fragment rule, so it says 1007 where we say 1002. Both rules
    /// are broken.
    FastwebsocketsUtf8BeforeFragmentRules,
    /// A fragmented text message that ends inside a UTF-8 sequence (its last
    /// frames never complete the code point begun before them): fastwebsockets'
    /// collector keeps the incomplete bytes aside and does not look at them
    /// when the final frame arrives, so it delivers the message (RFC 6455 8.1:
    /// fail with 1007).
    FastwebsocketsTruncatedUtf8AtMessageEnd,
    /// fastwebsockets never looks at the mask bit: a server takes unmasked
    /// client frames, a client takes masked server frames (and leaves their
    /// payload masked). RFC 6455 5.1 says both must fail the connection.
    FastwebsocketsIgnoresMasking,
    /// fastwebsockets rejects close code 1014 (registered by IANA as Bad
    /// Gateway), answering it with 1002.
    Fastwebsockets1014Strict,
    /// fastwebsockets checks the 125-byte limit of control frames only on pings:
    /// a pong or Close of 126 bytes or more is taken (RFC 6455 5.5 forbids it).
    FastwebsocketsControlLengthOnlyForPing,
    /// fastwebsockets checks its size limit at the header, before the fragment
    /// rules (and any rule it checks once the frame is in), so a frame that is
    /// too big and breaks such a rule gets 1009 from it, 1002 from us (both legal).
    FastwebsocketsSizeBeforeRules,
    /// A Close with an invalid code and a reason that is not UTF-8:
    /// fastwebsockets reports the reason (1007), we report the code (1002).
    FastwebsocketsCloseReasonBeforeCode,
    /// fastwebsockets' limit bounds each frame, not the message: its fragment
    /// collector joins any number of frames, so a fragmented message past the
    /// limit is taken (we fail it with 1009).
    FastwebsocketsLimitPerFrame,
    /// fastwebsockets refuses a frame of exactly the limit (`len >= max`); we
    /// take a message of up to `max` bytes. Off by one, strict side.
    FastwebsocketsLimitInclusive,
    /// fastwebsockets reads a frame's whole payload before the fragment rules
    /// (orphan continuation, data frame mid-message), the Close payload rules
    /// and UTF-8, so a stream that ends inside such a frame is not failed.
    FastwebsocketsChecksOnlyWholeFrames,
    /// tokio-websockets fails a frame whose length is not in its minimal form
    /// with 1002. RFC 6455 5.2 binds only the sender ("the minimal number of
    /// bytes MUST be used"); we report it as a notice and carry on. Strict side.
    TokioWebsocketsRejectsNonMinimalLength,
    /// tokio-websockets checks a fragmented message's total against its limit
    /// only once a continuation frame is in whole (its header check bounds the
    /// frame alone), so a stream that ends inside the frame that crosses the
    /// limit is not failed, and bad UTF-8 inside that frame is found first
    /// (1007); we fail at that frame's header with 1009.
    TokioWebsocketsMessageLimitAfterFrame,
    /// tokio-websockets judges what it can from the first two bytes of a header
    /// (RSV, opcode, fragmentation state, mask bit, control length); we judge a
    /// header once it is whole. As for fastwebsockets: sooner, not different.
    TokioWebsocketsFailsOnPartialHeader,
    /// tokio-websockets fails a Close that declares a 1-byte payload at its
    /// header; we fail it once the byte is in. A stream that ends before it is
    /// failed by it, not by us. Sooner, not different.
    TokioWebsocketsCloseOneByteAtHeader,
    /// A fragmented text message whose final frame is empty while a code point
    /// begun before it is incomplete: tokio-websockets validates UTF-8 only for
    /// frames with a payload, so the end-of-message check never runs and the
    /// message is delivered, marked as validated UTF-8 (RFC 6455 8.1: 1007).
    /// Its `Message::as_text` then builds a `&str` from those bytes unchecked.
    TokioWebsocketsTruncatedUtf8BeforeEmptyFinalFrame,
}

/// The outcome of one comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub ours: Verdict,
    pub ours_violation: Option<Violation>,
    pub theirs: Reaction,
    pub theirs_error: Option<String>,
    pub known: Option<KnownDifference>,
}

impl Comparison {
    /// Agreement: both carry on, or both fail with a code the case accepts.
    pub fn agrees(&self) -> bool {
        match (&self.ours, &self.theirs, &self.ours_violation) {
            (Verdict::Fine, Reaction::CarriedOn, _) => true,
            (Verdict::Fail(_), Reaction::Closed(t), Some(v)) => v.accepted_codes().contains(t),
            _ => false,
        }
    }
}

/// What an [`Endpoint::known_difference`] gets to decide whether a disagreement
/// is a studied one.
pub struct Disagreement<'a> {
    pub setup: Setup,
    /// The peer's bytes.
    pub input: &'a [u8],
    /// The oracle's reading of them.
    pub oracle: &'a StreamOutcome,
    pub cmp: &'a Comparison,
}

impl Disagreement<'_> {
    /// The index of the frame that broke a rule, and the rule.
    pub fn violation(&self) -> Option<(u64, &Violation)> {
        self.oracle.violation.as_ref().map(|(i, v)| (*i, v))
    }

    /// The header of the frame that broke a rule.
    pub fn violating_header(&self) -> Option<&crate::frame::FrameHeader> {
        let (i, _) = self.violation()?;
        self.oracle
            .frames
            .get(usize::try_from(i).ok()?)
            .map(|f| &f.header)
    }

    /// The data of the message the violating frame belongs to, from its first
    /// frame up to and including the violating frame (control frames left out),
    /// if every one of those frames arrived in full.
    pub fn violating_message(&self) -> Option<Vec<u8>> {
        self.message_upto(false)
    }

    /// Like [`Disagreement::violating_message`], with what arrived of the
    /// violating frame if the stream ends inside it.
    pub fn violating_message_so_far(&self) -> Option<Vec<u8>> {
        self.message_upto(true)
    }

    fn message_upto(&self, partial: bool) -> Option<Vec<u8>> {
        use crate::frame::{Data, OpCode};
        let (last, _) = self.violation()?;
        let frames = &self.oracle.frames;
        let first = (0..=last).rev().find(|&i| {
            frames
                .get(i as usize)
                .is_some_and(|f| matches!(f.header.opcode, OpCode::Data(Data::Text | Data::Binary)))
        })?;
        let mut message = Vec::new();
        for i in first..=last {
            if matches!(frames.get(i as usize)?.header.opcode, OpCode::Data(_)) {
                message.extend(frame_payload_upto(self.input, i, partial && i == last)?);
            }
        }
        Some(message)
    }

    /// The declared payload length of frame `index`.
    pub fn frame_len(&self, index: u64) -> Option<u64> {
        let i = usize::try_from(index).ok()?;
        self.oracle.frames.get(i).map(|f| f.header.payload_len)
    }

    /// Whether the frame that broke a rule arrived in full (its whole payload).
    pub fn violating_frame_complete(&self) -> bool {
        self.violation()
            .is_some_and(|(i, _)| frame_payload(self.input, i).is_some())
    }

    /// The unmasked payload of the frame that broke a rule, if it arrived in full.
    pub fn violating_payload(&self) -> Option<Vec<u8>> {
        self.violation()
            .and_then(|(i, _)| frame_payload(self.input, i))
    }

    /// The stream ends inside a frame header (the oracle judges a header once it
    /// is whole): the violation the header's bytes so far already commit it to,
    /// found by completing the header (with zero bytes, or all ones).
    pub fn owed_once_header_completes(&self) -> Option<Violation> {
        // Zero bytes for the smallest length (and key); all ones for the largest,
        // where the length form alone decides (a control frame's 16-bit length).
        [0x00, 0xFF].into_iter().find_map(|pad| {
            let (i, v) = self.header_completed(pad)?.violation?;
            (i == self.oracle.frames.len() as u64).then_some(v)
        })
    }

    /// The stream ends inside a frame header that, completed with zero bytes,
    /// is not in its minimal length form (the notice's rule is broken already).
    pub fn partial_header_not_minimal(&self) -> bool {
        self.header_completed(0x00).is_some_and(|o| {
            o.notices
                .iter()
                .any(|(i, _)| *i == self.oracle.frames.len() as u64)
        })
    }

    /// The oracle's reading of the stream with its last, partial frame header
    /// completed with `pad` bytes; `None` if it does not end inside a header.
    pub fn header_completed(&self, pad: u8) -> Option<StreamOutcome> {
        if self.oracle.closed || self.oracle.violation.is_some() {
            return None;
        }
        let mut parser = crate::parse::FrameParser::new();
        let mut rest = self.input;
        while parser.next_event(&mut rest).is_some() {}
        let have = parser.pending_header();
        let missing = match have {
            [] => return None,
            [_] => 1,
            [_, b1, ..] => crate::parse::header_len(*b1).saturating_sub(have.len()),
        };
        let config = ValidatorConfig::new(self.setup.receiver)
            .with_max_message_size(self.setup.max_message_size);
        let mut padded = self.input.to_vec();
        padded.resize(padded.len() + missing, pad);
        Some(classify_chunks(config, [&padded[..]]))
    }

    /// Ours carries on because the stream ends inside a header whose bytes so far
    /// already break a rule; theirs failed with a code that rule accepts.
    pub fn failed_on_partial_header(&self) -> bool {
        match (&self.cmp.ours, &self.cmp.theirs) {
            (Verdict::Fine, Reaction::Closed(code)) => self
                .owed_once_header_completes()
                .is_some_and(|v| v.accepted_codes().contains(code)),
            _ => false,
        }
    }

    /// Whether a valid Close frame with this code arrived.
    pub fn closed_with(&self, code: u16) -> bool {
        self.oracle.frames.iter().any(|f| {
            matches!(&f.done, Some(FrameDone::Close { code: Some(c), .. }) if u16::from(*c) == code)
        })
    }

    /// A Close with an invalid code whose reason is not UTF-8 either.
    pub fn close_bad_code_and_reason(&self) -> bool {
        matches!(
            self.cmp.ours_violation,
            Some(Violation::InvalidCloseCode(_))
        ) && self
            .violating_payload()
            .is_some_and(|p| p.len() > 2 && std::str::from_utf8(&p[2..]).is_err())
    }

    /// Ours 1002, theirs 1009, on a frame declaring more than `limit` bytes.
    pub fn size_before_rules(&self, over: impl Fn(u64) -> bool) -> bool {
        matches!(
            (&self.cmp.ours, &self.cmp.theirs),
            (
                Verdict::Fail(CloseCode::Protocol),
                Reaction::Closed(CloseCode::Size)
            )
        ) && self
            .violation()
            .and_then(|(i, _)| self.frame_len(i))
            .is_some_and(over)
    }
}

/// Compares, and returns `Err` only for a disagreement that is not a known one.
pub fn check_endpoint<E: Endpoint + ?Sized>(
    endpoint: &mut E,
    input: &DiffInput,
) -> Result<Comparison, String> {
    let cmp = compare_endpoint(endpoint, input);
    if cmp.agrees() || cmp.known.is_some() {
        Ok(cmp)
    } else {
        Err(format!(
            "reactions differ for a {:?} receiver: ours {:?} ({:?}), {} {:?} ({})",
            input.receiver,
            cmp.ours,
            cmp.ours_violation,
            endpoint.name(),
            cmp.theirs,
            cmp.theirs_error.as_deref().unwrap_or("no error")
        ))
    }
}

/// The oracle's verdict beside the endpoint's reaction, with the known
/// difference that explains a disagreement, if there is one.
pub fn compare_endpoint<E: Endpoint + ?Sized>(endpoint: &mut E, input: &DiffInput) -> Comparison {
    let setup = input.setup();
    let bytes = &input.data[..];
    let config = ValidatorConfig::new(setup.receiver).with_max_message_size(setup.max_message_size);
    let outcome = classify_chunks(config, [bytes]);
    let ours_violation = outcome.violation.as_ref().map(|(_, v)| v.clone());
    let ours = match &ours_violation {
        Some(v) => Verdict::Fail(v.close_code()),
        None => Verdict::Fine,
    };
    let report = endpoint.react(&setup, bytes);
    let mut cmp = Comparison {
        ours,
        ours_violation,
        theirs: report.reaction,
        theirs_error: report.error,
        known: None,
    };
    if !cmp.agrees() {
        let d = Disagreement {
            setup,
            input: bytes,
            oracle: &outcome,
            cmp: &cmp,
        };
        cmp.known = endpoint.known_difference(&d);
    }
    cmp
}

/// The tungstenite differential (the `differential_tungstenite` target).
pub fn check(input: &DiffInput) -> Result<Comparison, String> {
    check_endpoint(&mut Tungstenite, input)
}

/// [`compare_endpoint`] with tungstenite.
pub fn compare(input: &DiffInput) -> Comparison {
    compare_endpoint(&mut Tungstenite, input)
}

/// The unmasked payload of frame `index` (0-based) of `bytes`, if it is there
/// in full.
pub fn frame_payload(bytes: &[u8], index: u64) -> Option<Vec<u8>> {
    frame_payload_upto(bytes, index, false)
}

/// Like [`frame_payload`], and with `partial` what arrived of a frame the
/// stream ends inside.
fn frame_payload_upto(bytes: &[u8], index: u64, partial: bool) -> Option<Vec<u8>> {
    let mut parser = crate::parse::FrameParser::new();
    let mut input = bytes;
    let mut seen = 0u64;
    let mut payload = Vec::new();
    let mut key = None;
    loop {
        let ev = parser.next_event(&mut input);
        let Some(ev) = ev else {
            return (partial && seen == index).then_some(payload);
        };
        match ev {
            crate::parse::Event::Header(h) => key = h.mask,
            crate::parse::Event::Payload { data, offset } if seen == index => {
                let start = payload.len();
                payload.extend_from_slice(data);
                if let Some(k) = key {
                    crate::mask::apply_mask(&mut payload[start..], k, offset);
                }
            }
            crate::parse::Event::Payload { .. } => {}
            crate::parse::Event::End if seen == index => return Some(payload),
            crate::parse::Event::End => seen += 1,
        }
    }
}

/// The most an in-memory stream keeps of what the endpoint wrote: only its Close
/// frame matters, and it comes before the connection ends.
pub const WRITTEN_CAP: usize = 64 * 1024;

/// A blocking in-memory connection: reads hand out at most `read_size` bytes of
/// `input` (0 at the end, as a closed socket does); writes are kept, capped.
pub struct MemStream<'a> {
    pub input: &'a [u8],
    pub read_size: usize,
    pub written: Vec<u8>,
}

impl<'a> MemStream<'a> {
    pub fn new(input: &'a [u8], read_size: usize) -> MemStream<'a> {
        MemStream {
            input,
            read_size: read_size.max(1),
            written: Vec::new(),
        }
    }

    /// Takes up to `room` bytes of input, as one read of that buffer size.
    pub fn take(&mut self, room: usize) -> &'a [u8] {
        let n = room.min(self.input.len()).min(self.read_size);
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        head
    }

    /// Keeps `buf` (up to [`WRITTEN_CAP`] in all).
    pub fn keep(&mut self, buf: &[u8]) {
        let room = WRITTEN_CAP.saturating_sub(self.written.len());
        self.written.extend_from_slice(&buf[..buf.len().min(room)]);
    }
}

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let head = self.take(buf.len());
        buf[..head.len()].copy_from_slice(head);
        Ok(head.len())
    }
}

impl Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.keep(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The code of a Close frame the endpoint wrote (`written`) that is not an echo
/// of the peer's valid Close in `input` (an echo repeats the peer's code, or
/// sends 1000; a failure uses 1002 and friends). `receiver` is the endpoint's
/// role.
pub fn failure_close_sent(written: &[u8], input: &[u8], receiver: Role) -> Option<CloseCode> {
    let theirs = classify_chunks(ValidatorConfig::new(receiver.peer()), [written]);
    let sent = theirs.frames.iter().find_map(|f| match &f.done {
        Some(FrameDone::Close { code, .. }) => Some(*code),
        _ => None,
    })?;
    let received = classify_chunks(ValidatorConfig::new(receiver), [input]);
    let echoed = received.frames.iter().find_map(|f| match &f.done {
        Some(FrameDone::Close { code, .. }) => Some(*code),
        _ => None,
    });
    match sent {
        Some(code) if Some(Some(code)) != echoed && code != CloseCode::Normal => Some(code),
        _ => None,
    }
}

/// Whether the endpoint wrote a Close frame at all (with or without a code).
pub fn close_sent(written: &[u8], receiver: Role) -> bool {
    let theirs = classify_chunks(ValidatorConfig::new(receiver.peer()), [written]);
    theirs
        .frames
        .iter()
        .any(|f| matches!(f.done, Some(FrameDone::Close { .. })))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The catalogue case `id` for `receiver`, as a differential input.
    pub(crate) fn case_input(receiver: Role, id: &str) -> DiffInput {
        let case = crate::cases::frame_cases(receiver, [0xA1, 0x5B, 0x3C, 0x0D])
            .into_iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no case {id} for a {receiver:?} receiver"));
        DiffInput {
            receiver,
            read_size: 0,
            max_message_size: None,
            data: case.bytes,
        }
    }

    /// Every catalogue case (without permessage-deflate), both roles, read whole,
    /// in 1-byte and in 7-byte reads: the endpoint agrees or the difference is known.
    pub(crate) fn assert_catalogue_clean<E: Endpoint>(endpoint: &mut E) {
        let mut findings = Vec::new();
        for receiver in [Role::Server, Role::Client] {
            for case in crate::cases::frame_cases(receiver, [0xA1, 0x5B, 0x3C, 0x0D]) {
                if case.needs_deflate {
                    continue;
                }
                for read_size in [0, 1, 7] {
                    let input = DiffInput {
                        receiver,
                        read_size,
                        max_message_size: None,
                        data: case.bytes.clone(),
                    };
                    if let Err(e) = check_endpoint(endpoint, &input) {
                        findings.push(format!("{} ({read_size}-byte reads): {e}", case.id));
                    }
                }
            }
        }
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn catalogue_agrees_or_is_known() {
        assert_catalogue_clean(&mut Tungstenite);
        #[cfg(feature = "differential-fastwebsockets")]
        assert_catalogue_clean(&mut fastwebsockets::Fastwebsockets);
        #[cfg(feature = "differential-tokio-websockets")]
        assert_catalogue_clean(&mut tokio_websockets::TokioWebsockets);
    }

    /// A client frame (masked with a zero key, so the payload reads as is).
    pub(crate) fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(payload);
        out
    }

    /// A server-side input with a message limit of 200 bytes.
    pub(crate) fn limited(data: Vec<u8>) -> DiffInput {
        DiffInput {
            receiver: Role::Server,
            read_size: 0,
            max_message_size: Some(200),
            data,
        }
    }

    /// Valid traffic in both roles (fragments, a ping between them, a text, a
    /// Close) is carried on: what every adapter's first test checks.
    pub(crate) fn assert_valid_traffic_carries_on<E: Endpoint>(endpoint: &mut E) {
        for (receiver, id) in [
            (Role::Server, "ok.fragmented"),
            (Role::Server, "ok.ping-mid-message"),
            (Role::Client, "ok.text"),
            (Role::Client, "ok.ping"),
            (Role::Server, "ok.close-1000"),
        ] {
            assert_reaction(endpoint, receiver, id, Reaction::CarriedOn);
        }
    }

    /// The endpoint reacts to case `id` as `expected`, read whole and in 1- and
    /// 7-byte reads.
    pub(crate) fn assert_reaction<E: Endpoint>(
        endpoint: &mut E,
        receiver: Role,
        id: &str,
        expected: Reaction,
    ) {
        let mut input = case_input(receiver, id);
        for read_size in [0, 1, 7] {
            input.read_size = read_size;
            let report = endpoint.react(&input.setup(), &input.data);
            assert_eq!(
                report.reaction,
                expected,
                "{} on {id} ({read_size}-byte reads): {:?}",
                endpoint.name(),
                report.error
            );
        }
    }

    /// On case `id` the endpoint closes with a code the violation accepts, or
    /// disagrees in the studied way `known`.
    pub(crate) fn assert_owed<E: Endpoint>(
        endpoint: &mut E,
        receiver: Role,
        id: &str,
        known: Option<KnownDifference>,
    ) {
        let mut input = case_input(receiver, id);
        for read_size in [0, 1, 7] {
            input.read_size = read_size;
            let cmp = compare_endpoint(endpoint, &input);
            assert!(
                matches!(cmp.ours, Verdict::Fail(_)),
                "{id} is not a violation"
            );
            match known {
                None => assert!(
                    cmp.agrees(),
                    "{} on {id} ({read_size}-byte reads): {cmp:?}",
                    endpoint.name()
                ),
                Some(k) => assert_eq!(
                    cmp.known,
                    Some(k),
                    "{} on {id} ({read_size}-byte reads): {cmp:?}",
                    endpoint.name()
                ),
            }
        }
    }
}
