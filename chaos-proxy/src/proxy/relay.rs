//! The proxy's sans-IO core for one connection. Bytes go in per direction and come
//! out to be forwarded: the upgrade request and the 101 response are held until
//! complete (at most 16 KiB) so a fault can edit them; then frames are followed
//! with the codec's incremental parser and forwarded as they arrive, headers
//! re-encoded byte for byte. Without faults the output equals the input, whatever
//! it is (traffic that never was WebSocket goes through opaquely). After a fault,
//! the reverse direction is watched for the receiver's own reaction, which the
//! crate's `verdict` rules turn into a verdict:
//! - a Close it sends of its own accord is its reaction; a Close that answers the
//!   other side's Close (sent after it, with the same code or a code the fault
//!   does not call for) is not;
//! - any other frame it sends after the faulted frame was forwarded means it
//!   carried on; that is final once `in_flight_grace` has passed since then
//!   (earlier frames may have been on their way before the fault arrived), or
//!   once it follows them with a Close that fails nothing (a normal end);
//! - a fault that reaches a receiver which had already sent its Close is owed
//!   only a TCP close.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wschaos_codec::encode::encode_header;
use wschaos_codec::frame::MAX_HEADER_LEN;
use wschaos_codec::handshake::{
    MAX_HANDSHAKE_BYTES, PERMESSAGE_DEFLATE, parse_extensions, parse_request, parse_response,
};
use wschaos_codec::mask::apply_mask;
use wschaos_codec::parse::{Event, FrameParser};
use wschaos_codec::{CloseCode, Data, OpCode};

use crate::catalogue::Expect;
use crate::proxy::fault::{Dir, Fault, FaultKind, FaultSpec, FrameCtx, PayloadEdit};
use crate::report::{ClosePayload, Observed, Verdict};
use crate::seed::derive_seed;
use crate::verdict::{self, Reaction};

/// Bytes of an injected frame's payload kept in its record.
const RECORDED_PAYLOAD: usize = 125;

/// A fault ready to fire.
#[derive(Debug)]
pub struct ActiveFault {
    pub spec: FaultSpec,
    pub fault: Box<dyn Fault>,
}

impl ActiveFault {
    pub fn new(spec: FaultSpec) -> Result<ActiveFault, crate::proxy::fault::SpecError> {
        let fault = crate::proxy::fault::build(&spec)?;
        Ok(ActiveFault { spec, fault })
    }
}

/// One injected fault and, once known, the receiver's reaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub fault: String,
    pub dir: Dir,
    /// 1-based frame index in `dir`; `None` for a handshake edit.
    pub frame_index: Option<u64>,
    pub what: String,
    /// The bytes sent in place of the original: header (or head) and the start of
    /// the payload.
    pub bytes: Vec<u8>,
    pub expected: Vec<CloseCode>,
    /// Time since the connection opened.
    pub at: Duration,
    /// Where the reacting endpoint's frames flow.
    watch: Dir,
    pub observed: Option<Observed>,
    pub verdict: Option<Verdict>,
    /// Why the verdict is what it is, when the observation alone does not say.
    pub note: Option<String>,
    /// When the faulted frame (or head) had been forwarded whole.
    forwarded: Option<Duration>,
    /// The receiver sent a frame other than a Close after that.
    continued: bool,
    kind: Kind,
}

/// How an injection is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Frame,
    /// The receiver had sent its Close before the fault reached it.
    AfterOwnClose,
    /// A handshake edit: `RefuseOpen`, `MandatoryExtension` or `Info`
    /// (`HeadEdit::expect`).
    Head(Expect),
}

impl Injection {
    fn settle(&mut self, r: Reaction) {
        let (verdict, note) = match self.kind {
            Kind::Frame => verdict::violation(&self.expected, &r),
            Kind::AfterOwnClose => verdict::after_own_close(&r),
            Kind::Head(Expect::MandatoryExtension) => {
                verdict::mandatory_extension(&self.expected, &r)
            }
            Kind::Head(Expect::RefuseOpen) => verdict::refuse_open(&r),
            // `Info`; a head edit carries no other expectation.
            Kind::Head(_) => (Verdict::Info, None),
        };
        self.observed = Some(r.observed());
        self.verdict = Some(verdict);
        self.note = note;
    }

    fn pending(&self) -> bool {
        self.verdict.is_none()
    }
}

#[derive(Debug)]
enum Phase {
    Head(Vec<u8>),
    Frames,
    Opaque,
}

#[derive(Debug)]
struct Half {
    phase: Phase,
    parser: FrameParser,
    frames: u64,
    in_message: bool,
    injected: bool,
    /// The current frame's edit and its original mask key.
    /// (edit, original key, payload bytes recorded, original payload length)
    edit: Option<(PayloadEdit, Option<[u8; 4]>, usize, u64)>,
    /// Where, in the output of the current `feed`, the injected frame began.
    fault_at: Option<usize>,
    key: Option<[u8; 4]>,
    /// Collecting a Close frame's payload (plaintext).
    close: Option<Vec<u8>>,
    /// The first Close this direction carried, its frame index, and its place
    /// among the connection's Closes (1 = first).
    closed: Option<SentClose>,
    /// When this direction last carried a frame header.
    last_frame: Option<Duration>,
    eof: bool,
}

#[derive(Debug, Clone)]
struct SentClose {
    payload: ClosePayload,
    index: u64,
    order: u8,
}

impl Half {
    fn new() -> Half {
        Half {
            phase: Phase::Head(Vec::new()),
            parser: FrameParser::new(),
            frames: 0,
            in_message: false,
            injected: false,
            edit: None,
            key: None,
            fault_at: None,
            close: None,
            closed: None,
            last_frame: None,
            eof: false,
        }
    }
}

/// The core for one proxied connection.
#[derive(Debug)]
pub struct Relay {
    c2s: Half,
    s2c: Half,
    rng: ChaCha8Rng,
    /// permessage-deflate agreed, as the client was told.
    deflate: bool,
    injections: Vec<Injection>,
    /// How long a receiver has to react after a fault.
    reaction_timeout: Duration,
    /// Frames a receiver sends this soon after a fault reached it may have been
    /// on their way already; later ones mean it carried on.
    in_flight_grace: Duration,
    injected_any: bool,
    /// The directions in which an endpoint that received a fault sends.
    receivers: Vec<Dir>,
    /// The server answered the upgrade with something other than 101.
    refused: bool,
}

impl Relay {
    /// `seed` and `conn` make the decisions reproducible: same seed, same
    /// connection number and same traffic give the same faults.
    pub fn new(seed: u64, conn: u64, reaction_timeout: Duration) -> Relay {
        Relay {
            c2s: Half::new(),
            s2c: Half::new(),
            rng: ChaCha8Rng::seed_from_u64(derive_seed(seed, conn, "relay")),
            deflate: false,
            injections: Vec::new(),
            reaction_timeout,
            in_flight_grace: (reaction_timeout / 4).min(Duration::from_millis(250)),
            injected_any: false,
            receivers: Vec::new(),
            refused: false,
        }
    }

    fn half(&mut self, dir: Dir) -> &mut Half {
        match dir {
            Dir::C2s => &mut self.c2s,
            Dir::S2c => &mut self.s2c,
        }
    }

    /// Takes bytes that arrived in `dir` and appends what to forward to `out`.
    pub fn feed(
        &mut self,
        dir: Dir,
        input: &[u8],
        now: Duration,
        faults: &[ActiveFault],
        out: &mut Vec<u8>,
    ) {
        let phase = std::mem::replace(&mut self.half(dir).phase, Phase::Opaque);
        match phase {
            Phase::Opaque => {
                out.extend_from_slice(input);
            }
            Phase::Frames if self.refused => {
                out.extend_from_slice(self.half(dir).parser.pending_header());
                out.extend_from_slice(input);
            }
            Phase::Frames => {
                self.half(dir).phase = Phase::Frames;
                self.frames(dir, input, now, faults, out);
            }
            Phase::Head(mut buf) => {
                buf.extend_from_slice(input);
                self.head(dir, buf, now, faults, out);
            }
        }
    }

    fn head(
        &mut self,
        dir: Dir,
        buf: Vec<u8>,
        now: Duration,
        faults: &[ActiveFault],
        out: &mut Vec<u8>,
    ) {
        let parsed = match dir {
            Dir::C2s => parse_request(&buf).map(|r| r.map(|r| (r.head_len, None))),
            Dir::S2c => parse_response(&buf).map(|r| r.map(|r| (r.head_len, Some(r.status)))),
        };
        let (head_len, status) = match parsed {
            Ok(Some(p)) => p,
            Ok(None) if buf.len() <= MAX_HANDSHAKE_BYTES => {
                self.half(dir).phase = Phase::Head(buf);
                return;
            }
            // Not an HTTP upgrade we understand: relay it untouched from here on.
            _ => {
                out.extend_from_slice(&buf);
                return;
            }
        };
        let (head, rest) = buf.split_at(head_len);
        let mut head = head.to_vec();
        for f in faults.iter().filter(|f| f.spec.dir.matches(dir)) {
            if f.spec.trigger.after.is_some_and(|a| now < a) {
                continue;
            }
            if let Some(edit) = f.fault.edit_head(dir, &head) {
                if f.spec
                    .trigger
                    .p
                    .is_some_and(|p| self.rng.random::<f64>() >= p)
                {
                    continue;
                }
                head = edit.head;
                let expected = match edit.expect {
                    Expect::MandatoryExtension => {
                        vec![CloseCode::Extension, CloseCode::Protocol]
                    }
                    _ => Vec::new(),
                };
                self.injected_any = true;
                self.receivers.push(Dir::C2s);
                self.injections.push(Injection {
                    fault: f.spec.text.clone(),
                    dir,
                    frame_index: None,
                    what: edit.what,
                    bytes: head.clone(),
                    expected,
                    at: now,
                    watch: Dir::C2s,
                    observed: None,
                    verdict: None,
                    note: None,
                    forwarded: Some(now),
                    continued: false,
                    kind: Kind::Head(edit.expect),
                });
                break;
            }
        }
        out.extend_from_slice(&head);
        match status {
            None if self.refused => out.extend_from_slice(rest),
            Some(101) | None => {
                if status.is_some() {
                    // What the client was told, after any edit, is what it judges by.
                    self.deflate = parse_response(&head).ok().flatten().is_some_and(|r| {
                        r.headers_named("Sec-WebSocket-Extensions")
                            .filter_map(|h| parse_extensions(&h.value).ok())
                            .flatten()
                            .any(|e| e.name == PERMESSAGE_DEFLATE)
                    });
                }
                self.half(dir).phase = Phase::Frames;
                self.frames(dir, rest, now, faults, out);
            }
            Some(_) => {
                // Refused upgrade: whatever follows is HTTP, not frames. The
                // client's half switches itself on its next bytes, so that what it
                // holds is flushed into its own direction.
                self.refused = true;
                out.extend_from_slice(rest);
            }
        }
    }

    fn frames(
        &mut self,
        dir: Dir,
        mut input: &[u8],
        now: Duration,
        faults: &[ActiveFault],
        out: &mut Vec<u8>,
    ) {
        loop {
            let ev = self.half(dir).parser.next_event(&mut input);
            match ev {
                None => return,
                Some(Event::Header(h)) => self.on_header(dir, h, now, faults, out),
                Some(Event::Payload { data, offset }) => self.on_payload(dir, data, offset, out),
                Some(Event::End) => self.on_end(dir, now, out),
            }
        }
    }

    fn on_header(
        &mut self,
        dir: Dir,
        h: wschaos_codec::FrameHeader,
        now: Duration,
        faults: &[ActiveFault],
        out: &mut Vec<u8>,
    ) {
        let deflate = self.deflate;
        let receiver_closed = self.half(dir.reverse()).closed.is_some();
        let half = self.half(dir);
        half.frames += 1;
        half.last_frame = Some(now);
        let ctx_index = half.frames;
        let in_message = half.in_message;
        let injected = half.injected;
        half.key = h.mask;
        half.close = (h.opcode == OpCode::CLOSE).then(Vec::new);
        match h.opcode {
            OpCode::Data(Data::Continue) if h.fin => half.in_message = false,
            OpCode::Data(Data::Text | Data::Binary) => half.in_message = !h.fin,
            _ => {}
        }
        let mut chosen = None;
        if !injected {
            let ctx = FrameCtx {
                dir,
                header: &h,
                index: ctx_index,
                in_message,
                deflate,
            };
            // Only frame faults draw from the schedule, so adding a transport or a
            // handshake fault does not change which frames are hit.
            let frame_faults = faults
                .iter()
                .filter(|f| f.spec.dir.matches(dir))
                .filter(|f| matches!(f.fault.kind(), FaultKind::Frame(_)));
            for f in frame_faults {
                let t = f.spec.trigger;
                if t.after.is_some_and(|a| now < a) {
                    continue;
                }
                let rand = self.rng.random::<u64>();
                let Some(edit) = f.fault.edit_frame(&ctx, rand) else {
                    continue;
                };
                let fire = match (t.nth, t.p) {
                    (Some(n), _) => ctx_index == n,
                    (None, Some(p)) => self.rng.random::<f64>() < p,
                    (None, None) => true,
                };
                if fire {
                    chosen = Some((f.spec.text.clone(), edit));
                    break;
                }
            }
        }
        let mut buf = [0u8; MAX_HEADER_LEN];
        match chosen {
            Some((fault, edit)) => {
                self.half(dir).fault_at = Some(out.len());
                // Edits never change the length, so the new header always encodes.
                let n = encode_header(&edit.header, &mut buf)
                    .unwrap_or_else(|_| encode_header(&h, &mut buf).unwrap_or(0));
                out.extend_from_slice(&buf[..n]);
                self.injected_any = true;
                self.receivers.push(dir.reverse());
                let half = self.half(dir);
                half.injected = true;
                half.edit = Some((edit.payload, h.mask, 0, h.payload_len));
                self.injections.push(Injection {
                    fault,
                    dir,
                    frame_index: Some(ctx_index),
                    what: edit.what,
                    bytes: buf[..n].to_vec(),
                    expected: edit.expected,
                    at: now,
                    watch: dir.reverse(),
                    observed: None,
                    verdict: None,
                    note: None,
                    forwarded: None,
                    continued: false,
                    kind: if receiver_closed {
                        Kind::AfterOwnClose
                    } else {
                        Kind::Frame
                    },
                });
            }
            None => {
                let n = encode_header(&h, &mut buf).unwrap_or(0);
                out.extend_from_slice(&buf[..n]);
            }
        }
        if h.opcode != OpCode::CLOSE {
            // A frame from the receiver after the fault reached it: it carried on.
            let grace = self.in_flight_grace;
            for inj in self
                .injections
                .iter_mut()
                .filter(|i| i.watch == dir && i.pending())
            {
                let Some(forwarded) = inj.forwarded else {
                    continue;
                };
                inj.continued = true;
                match inj.kind {
                    // Nothing of the client's can predate the 101 it got.
                    Kind::Head(Expect::RefuseOpen) => inj.settle(Reaction::Continued),
                    // `MandatoryExtension` or `Info`: carrying on is legal there;
                    // only a Close says more.
                    Kind::Head(_) => {}
                    Kind::Frame | Kind::AfterOwnClose if now >= forwarded + grace => {
                        inj.settle(Reaction::Continued)
                    }
                    Kind::Frame | Kind::AfterOwnClose => {}
                }
            }
        }
    }

    fn on_payload(&mut self, dir: Dir, data: &[u8], offset: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(data);
        let half = self.half(dir);
        let key = half.key;
        if let Some(close) = half.close.as_mut() {
            let from = close.len();
            close.extend_from_slice(&data[..data.len().min(125usize.saturating_sub(from))]);
            if let Some(k) = key {
                apply_mask(&mut close[from..], k, offset);
            }
        }
        let Some((edit, orig_key, recorded, _)) = half.edit.as_mut() else {
            return;
        };
        let written = &mut out[start..];
        match edit {
            PayloadEdit::Keep | PayloadEdit::Append(_) => {}
            PayloadEdit::Unmask { key } => apply_mask(written, *key, offset),
            PayloadEdit::Mask { key } => apply_mask(written, *key, offset),
            PayloadEdit::Set { offset: at, bytes } => {
                for (i, b) in written.iter_mut().enumerate() {
                    let pos = offset + i as u64;
                    if let Some(&v) = pos.checked_sub(*at).and_then(|r| bytes.get(r as usize)) {
                        let k = orig_key.map_or(0, |k| k[(pos & 3) as usize]);
                        *b = v ^ k;
                    }
                }
            }
        }
        let keep = RECORDED_PAYLOAD
            .saturating_sub(*recorded)
            .min(written.len());
        *recorded += keep;
        let copy = written[..keep].to_vec();
        if let Some(inj) = self
            .injections
            .iter_mut()
            .rev()
            .find(|i| i.dir == dir && i.frame_index.is_some())
        {
            inj.bytes.extend_from_slice(&copy);
        }
    }

    fn on_end(&mut self, dir: Dir, now: Duration, out: &mut Vec<u8>) {
        let half = self.half(dir);
        let edited = half.edit.take();
        let index = half.frames;
        if let Some((PayloadEdit::Append(extra), key, _, len)) = &edited {
            let start = out.len();
            out.extend_from_slice(extra);
            if let Some(k) = key {
                apply_mask(&mut out[start..], *k, *len);
            }
        }
        if edited.is_some() {
            // The faulted frame is out whole: the receiver's reactions count from now.
            if let Some(inj) = self
                .injections
                .iter_mut()
                .rev()
                .find(|i| i.dir == dir && i.frame_index == Some(index))
            {
                inj.forwarded = Some(now);
            }
        }
        let Some(payload) = self.half(dir).close.take() else {
            return;
        };
        let close = ClosePayload::parse(&payload);
        let order = 1 + u8::from(self.half(dir.reverse()).closed.is_some());
        let half = self.half(dir);
        if half.closed.is_none() {
            half.closed = Some(SentClose {
                payload: close.clone(),
                index,
                order,
            });
        }
        let other = self.half(dir.reverse()).closed.clone();
        for inj in self
            .injections
            .iter_mut()
            .filter(|i| i.watch == dir && i.pending())
        {
            // The other side's own Close, unless that Close is the faulted frame.
            let answered = other
                .as_ref()
                .filter(|o| o.order == 1 && inj.frame_index != Some(o.index));
            let reply = answered.is_some_and(|o| {
                o.payload.code == close.code
                    || !close.code.is_some_and(|c| inj.expected.contains(&c))
            });
            // Frames after the fault and then a Close that fails nothing: the
            // receiver carried on and later ended the conversation as usual.
            let normal_end = inj.continued && !close.code.is_some_and(|c| c.fails_connection());
            if (reply || normal_end) && inj.kind != Kind::AfterOwnClose {
                inj.settle(Reaction::Continued);
            } else {
                inj.settle(Reaction::Close(close.clone()));
            }
        }
    }

    /// The sender in `dir` closed its side (EOF or reset). Bytes held back (an
    /// incomplete head, or a header cut short) are appended to `out`, so that
    /// nothing is lost even then.
    pub fn eof(&mut self, dir: Dir, out: &mut Vec<u8>) {
        self.flush_held(dir, out);
        self.half(dir).eof = true;
        for inj in self
            .injections
            .iter_mut()
            .filter(|i| i.watch == dir && i.pending())
        {
            inj.settle(if inj.continued {
                Reaction::Continued
            } else {
                Reaction::TcpClose
            });
        }
    }

    /// Appends the bytes held back in `dir` (an incomplete head or header) to `out`
    /// and relays the rest of that direction untouched: for a stream that ends
    /// without its peer having closed (shutdown).
    pub fn flush_held(&mut self, dir: Dir, out: &mut Vec<u8>) {
        let half = self.half(dir);
        match std::mem::replace(&mut half.phase, Phase::Opaque) {
            Phase::Head(buf) => out.extend_from_slice(&buf),
            Phase::Frames => out.extend_from_slice(half.parser.pending_header()),
            Phase::Opaque => {}
        }
    }

    /// Settles injections whose receiver has had `reaction_timeout` to react.
    pub fn tick(&mut self, now: Duration) {
        let timeout = self.reaction_timeout;
        for inj in self
            .injections
            .iter_mut()
            .filter(|i| i.pending() && now >= i.at.saturating_add(timeout))
        {
            inj.settle(if inj.continued {
                Reaction::Continued
            } else {
                Reaction::Timeout
            });
        }
    }

    /// Injections with a verdict, removed from the relay.
    pub fn take_settled(&mut self) -> Vec<Injection> {
        let (done, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut self.injections)
            .into_iter()
            .partition(|i| i.verdict.is_some());
        self.injections = pending;
        done
    }

    /// The oldest injection with a verdict, removed from the relay.
    pub fn take_next_settled(&mut self) -> Option<Injection> {
        let i = self.injections.iter().position(|i| i.verdict.is_some())?;
        Some(self.injections.remove(i))
    }

    /// Ends the connection after every reaction window has run out.
    pub fn finish(&mut self) -> Vec<Injection> {
        self.finish_at(Duration::MAX)
    }

    /// Ends the connection at `now`: every pending injection is settled as it
    /// stands. One whose receiver had not yet had its full time to react, and had
    /// not carried on, is reported as info: the run stopped before it could say.
    pub fn finish_at(&mut self, now: Duration) -> Vec<Injection> {
        let timeout = self.reaction_timeout;
        for inj in self.injections.iter_mut().filter(|i| i.pending()) {
            if inj.continued || now >= inj.at.saturating_add(timeout) {
                continue;
            }
            inj.observed = Some(Observed::Timeout);
            inj.verdict = Some(Verdict::Info);
            inj.note = Some("the proxy stopped before the receiver's time to react ran out".into());
        }
        self.tick(Duration::MAX);
        self.take_settled()
    }

    /// Whether injections are held, pending or settled but not yet taken.
    pub fn has_injections(&self) -> bool {
        !self.injections.is_empty()
    }

    /// The earliest time a pending injection times out, for the caller's timer.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.injections
            .iter()
            .filter(|i| i.pending())
            .map(|i| i.at.saturating_add(self.reaction_timeout))
            .min()
    }

    /// A Close with an error code that an endpoint sent of its own accord (not in
    /// answer to the other's Close) although no fault reached it: what a transport
    /// fault could be blamed for.
    pub fn unexplained_error_close(&self) -> Option<&ClosePayload> {
        [Dir::C2s, Dir::S2c].into_iter().find_map(|dir| {
            let sent = match dir {
                Dir::C2s => self.c2s.closed.as_ref(),
                Dir::S2c => self.s2c.closed.as_ref(),
            }?;
            let faulted = self.receivers.contains(&dir);
            let failing = sent.payload.code.is_some_and(|c| c.fails_connection());
            (failing && sent.order == 1 && !faulted).then_some(&sent.payload)
        })
    }

    /// Whether a direction this selection covers carried a frame at or after
    /// `since` (a transport fault is only judged where it had traffic to act on).
    pub fn carried_frames_since(&self, c2s: bool, s2c: bool, since: Duration) -> bool {
        (c2s && self.c2s.last_frame.is_some_and(|t| t >= since))
            || (s2c && self.s2c.last_frame.is_some_and(|t| t >= since))
    }

    /// Where the injected frame began in the output of the last `feed` in `dir`
    /// (for `--record`, so a recording always holds the faulted frame).
    pub fn take_fault_offset(&mut self, dir: Dir) -> Option<usize> {
        self.half(dir).fault_at.take()
    }

    /// Whether the opening handshake is over: both heads were forwarded (or the
    /// traffic turned out not to be an upgrade, and is relayed as it is).
    pub fn opened(&self) -> bool {
        !matches!(self.c2s.phase, Phase::Head(_)) && !matches!(self.s2c.phase, Phase::Head(_))
    }

    /// Frame headers relayed in `dir` so far (the proxy's frame metric).
    pub fn frame_count(&self, dir: Dir) -> u64 {
        match dir {
            Dir::C2s => self.c2s.frames,
            Dir::S2c => self.s2c.frames,
        }
    }

    /// Whether the server answered the upgrade with something other than 101.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// Whether any fault has been injected on this connection so far.
    pub fn any_injected(&self) -> bool {
        self.injected_any
    }

    /// permessage-deflate agreed, as the client was told.
    pub fn deflate(&self) -> bool {
        self.deflate
    }
}
