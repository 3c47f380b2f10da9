//! Differential check against tungstenite: the same bytes are read by our decoder
//! and by a tungstenite `WebSocket` over an in-memory stream, and the two verdicts
//! (carry on, closed, or fail with a close code) are compared. Differences we have
//! studied are typed in [`KnownDifference`] and listed in the README; anything else
//! is a finding.

use std::io::{self, Read, Write};

use tungstenite::error::{Error as TError, ProtocolError};
use tungstenite::protocol::{Role as TRole, WebSocket, WebSocketConfig};

use crate::close::CloseCode;
use crate::frame::Role;
use crate::stream::classify_chunks;
use crate::validate::{FrameDone, ValidatorConfig};
use crate::violation::Violation;

/// A byte stream for one receiver: `[flags, max_hi, max_lo, read_size, stream...]`
/// with the flags of [`crate::fuzz::SplitInput`] (deflate is ignored: tungstenite
/// does not implement permessage-deflate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffInput {
    pub receiver: Role,
    /// Bytes per read on tungstenite's side (0 means all at once).
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
}

/// A receiver's verdict on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No violation: the stream ended (possibly mid-frame) or a Close arrived.
    Fine,
    /// Fail the connection with this code.
    Fail(CloseCode),
}

/// Disagreements we have analysed; each is documented in the README under
/// "where tungstenite is lax/strict".
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
}

/// The outcome of one comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub ours: Verdict,
    pub ours_violation: Option<Violation>,
    pub theirs: Verdict,
    pub theirs_error: Option<String>,
    pub known: Option<KnownDifference>,
}

impl Comparison {
    /// Agreement: both carry on, or both fail with a code the case accepts.
    pub fn agrees(&self) -> bool {
        match (&self.ours, &self.theirs, &self.ours_violation) {
            (Verdict::Fine, Verdict::Fine, _) => true,
            (Verdict::Fail(_), Verdict::Fail(t), Some(v)) => v.accepted_codes().contains(t),
            _ => false,
        }
    }
}

/// Compares, and returns `Err` only for a disagreement that is not a known one.
pub fn check(input: &DiffInput) -> Result<Comparison, String> {
    let cmp = compare(input);
    if cmp.agrees() || cmp.known.is_some() {
        Ok(cmp)
    } else {
        Err(format!(
            "verdicts differ for a {:?} receiver: ours {:?} ({:?}), tungstenite {:?} ({})",
            input.receiver,
            cmp.ours,
            cmp.ours_violation,
            cmp.theirs,
            cmp.theirs_error.as_deref().unwrap_or("no error")
        ))
    }
}

pub fn compare(input: &DiffInput) -> Comparison {
    let bytes = &input.data[..];
    let max = input
        .max_message_size
        .map_or(crate::validate::DEFAULT_MAX_MESSAGE_SIZE, u64::from);
    let config = ValidatorConfig::new(input.receiver).with_max_message_size(max);
    let outcome = classify_chunks(config, [bytes]);
    let ours_violation = outcome.violation.as_ref().map(|(_, v)| v.clone());
    let ours = match &ours_violation {
        Some(v) => Verdict::Fail(v.close_code()),
        None => Verdict::Fine,
    };
    let (theirs, theirs_error) = tungstenite_verdict(input, bytes, max);
    let mut cmp = Comparison {
        ours,
        ours_violation,
        theirs,
        theirs_error,
        known: None,
    };
    if !cmp.agrees() {
        cmp.known = explain(bytes, max, &cmp, &outcome);
    }
    cmp
}

/// The unmasked payload of frame `index` (0-based) of `bytes`, if it is there
/// in full.
fn frame_payload(bytes: &[u8], index: u64) -> Option<Vec<u8>> {
    let mut parser = crate::parse::FrameParser::new();
    let mut input = bytes;
    let mut seen = 0u64;
    let mut payload = Vec::new();
    let mut key = None;
    loop {
        let ev = parser.next_event(&mut input);
        match ev? {
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

fn explain(
    bytes: &[u8],
    max: u64,
    cmp: &Comparison,
    outcome: &crate::stream::StreamOutcome,
) -> Option<KnownDifference> {
    let closed_with = |code: u16| {
        outcome.frames.iter().any(|f| {
            matches!(&f.done, Some(crate::validate::FrameDone::Close { code: Some(c), .. }) if u16::from(*c) == code)
        })
    };
    match (&cmp.ours, &cmp.theirs) {
        (Verdict::Fine, Verdict::Fail(CloseCode::Protocol)) if closed_with(1014) => {
            Some(KnownDifference::Tungstenite1014Strict)
        }
        (Verdict::Fail(CloseCode::Protocol), Verdict::Fail(CloseCode::Size))
            if outcome.violation.as_ref().is_some_and(|(i, _)| {
                outcome
                    .frames
                    .get(*i as usize)
                    .is_some_and(|f| f.header.payload_len > max)
            }) =>
        {
            Some(KnownDifference::TungsteniteSizeBeforeRules)
        }
        (Verdict::Fail(CloseCode::Protocol), Verdict::Fail(CloseCode::Invalid))
            if matches!(cmp.ours_violation, Some(Violation::InvalidCloseCode(_)))
                && outcome.violation.as_ref().is_some_and(|(i, _)| {
                    frame_payload(bytes, *i)
                        .is_some_and(|p| p.len() > 2 && std::str::from_utf8(&p[2..]).is_err())
                }) =>
        {
            Some(KnownDifference::TungsteniteCloseReasonBeforeCode)
        }
        (Verdict::Fail(_), Verdict::Fine)
            if outcome
                .violation
                .as_ref()
                .is_some_and(|(i, _)| frame_payload(bytes, *i).is_none()) =>
        {
            Some(KnownDifference::TungsteniteChecksOnlyWholeFrames)
        }
        _ => None,
    }
}

struct MemStream<'a> {
    input: &'a [u8],
    read_size: usize,
    /// What tungstenite wrote back, capped: only its Close frame matters.
    written: Vec<u8>,
}

const WRITTEN_CAP: usize = 64 * 1024;

impl Read for MemStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.input.len()).min(self.read_size);
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for MemStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = WRITTEN_CAP.saturating_sub(self.written.len());
        self.written.extend_from_slice(&buf[..buf.len().min(room)]);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite reading `bytes` as a server, the way it reads a socket, until its
/// first error; returns the data bytes of the messages it delivered. The
/// `raw_tungstenite` fuzz target: the peer in the fuzzing-speed comparison.
pub fn tungstenite_read_all(bytes: &[u8]) -> u64 {
    let stream = MemStream {
        input: bytes,
        read_size: usize::MAX,
        written: Vec::new(),
    };
    // Limits as in `tungstenite_verdict`: without a frame limit it would allocate
    // a frame's declared length up front.
    let limit = Some(crate::validate::DEFAULT_MAX_MESSAGE_SIZE as usize);
    let config = WebSocketConfig::default()
        .max_message_size(limit)
        .max_frame_size(limit);
    let mut ws = WebSocket::from_raw_socket(stream, TRole::Server, Some(config));
    let mut n = 0u64;
    // Every successful read consumes at least one frame header (2 bytes).
    for _ in 0..=bytes.len() / 2 + 1 {
        match ws.read() {
            Ok(m) => n += m.len() as u64,
            Err(_) => break,
        }
    }
    n
}

/// Tungstenite's verdict and its error text.
fn tungstenite_verdict(input: &DiffInput, bytes: &[u8], max: u64) -> (Verdict, Option<String>) {
    let read_size = if input.read_size == 0 {
        usize::MAX
    } else {
        usize::from(input.read_size)
    };
    let stream = MemStream {
        input: bytes,
        read_size,
        written: Vec::new(),
    };
    // The frame limit must stay set: without one tungstenite allocates a frame's
    // declared length up front (2^40 bytes for `length.huge`) and aborts.
    let limit = Some(usize::try_from(max).unwrap_or(usize::MAX));
    let config = WebSocketConfig::default()
        .max_message_size(limit)
        .max_frame_size(limit);
    let role = match input.receiver {
        Role::Server => TRole::Server,
        Role::Client => TRole::Client,
    };
    let mut ws = WebSocket::from_raw_socket(stream, role, Some(config));
    let mut error = None;
    // Every successful read consumes at least one frame header (2 bytes).
    for _ in 0..=bytes.len() / 2 + 1 {
        match ws.read() {
            // Its reply (an echo, or its own failure code) is written; what
            // follows a Close is not read by a conforming endpoint.
            Ok(tungstenite::Message::Close(_)) => break,
            Ok(_) => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let _ = ws.flush();
    let verdict = match &error {
        Some(TError::Protocol(ProtocolError::ResetWithoutClosingHandshake))
        | Some(TError::ConnectionClosed)
        | Some(TError::AlreadyClosed)
        | None => Verdict::Fine,
        Some(TError::Protocol(_)) => Verdict::Fail(CloseCode::Protocol),
        Some(TError::Utf8(_)) => Verdict::Fail(CloseCode::Invalid),
        Some(TError::Capacity(_)) => Verdict::Fail(CloseCode::Size),
        Some(_) => Verdict::Fine,
    };
    // tungstenite answers some violations (an invalid close code) by sending its
    // own Close instead of returning an error: read what it wrote.
    let verdict = match (
        verdict,
        failure_close_sent(ws.get_ref(), bytes, input.receiver),
    ) {
        (Verdict::Fine, Some(code)) => Verdict::Fail(code),
        (v, _) => v,
    };
    (verdict, error.map(|e| e.to_string()))
}

/// The code of a Close frame tungstenite wrote that is not an echo of the peer's
/// valid Close (an echo repeats the peer's code; a failure uses 1002 and friends).
fn failure_close_sent(stream: &MemStream<'_>, input: &[u8], receiver: Role) -> Option<CloseCode> {
    let theirs = classify_chunks(ValidatorConfig::new(receiver.peer()), [&stream.written[..]]);
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
