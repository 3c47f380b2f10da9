//! Message-level validation of a receiver: fragmentation state, control-frame rules,
//! masking direction, RSV bits against what was negotiated, close payloads, UTF-8
//! of text across fragments, permessage-deflate and the message size limit. It is
//! fed headers and unmasked payload chunks (see [`crate::Decoder`]) and reports
//! the first [`Violation`].

use crate::close::CloseCode;
use crate::deflate::{InflateOrSink, Inflater};
use crate::frame::{Control, Data, FrameHeader, OpCode, Role};
use crate::utf8::Utf8Validator;
use crate::violation::Violation;

/// 64 MiB, tungstenite's default message limit, so the two agree out of the box.
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 64 << 20;

/// permessage-deflate as negotiated, seen from the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateConfig {
    /// The sender resets its compression context after each message
    /// (`client_no_context_takeover` for a server receiving, `server_...` for a client).
    pub peer_no_context_takeover: bool,
    /// The sender's agreed window (`*_max_window_bits`); `None` is 15 bits.
    pub peer_max_window_bits: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorConfig {
    /// The endpoint that receives (and so must judge) the frames.
    pub receiver: Role,
    /// Application-data limit per message (after inflation); larger is 1009.
    pub max_message_size: u64,
    /// `Some` when permessage-deflate was negotiated.
    pub deflate: Option<DeflateConfig>,
}

impl ValidatorConfig {
    pub fn new(receiver: Role) -> ValidatorConfig {
        ValidatorConfig {
            receiver,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            deflate: None,
        }
    }

    pub fn with_deflate(mut self, deflate: DeflateConfig) -> ValidatorConfig {
        self.deflate = Some(deflate);
        self
    }

    pub fn with_max_message_size(mut self, max: u64) -> ValidatorConfig {
        self.max_message_size = max;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Text,
    Binary,
}

/// What a completed, valid frame was.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FrameDone {
    /// A non-final data frame.
    Fragment,
    /// The final frame of a data message; `size` is application data (inflated).
    Message {
        kind: MessageKind,
        size: u64,
    },
    Ping,
    Pong,
    /// `code` is `None` for an empty Close payload.
    Close {
        code: Option<CloseCode>,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Data { fin: bool },
    Ping,
    Pong,
    Close,
}

#[derive(Debug)]
struct Message {
    kind: MessageKind,
    compressed: bool,
    /// Wire bytes so far (compressed size when compressed).
    wire_size: u64,
    /// Application bytes so far.
    size: u64,
    utf8: Utf8Validator,
    /// Compressed text whose inflated bytes broke UTF-8 so far. Raised at the end
    /// of the frame, not at once: how much a corrupt DEFLATE block lets through
    /// before the inflater fails depends on how its input was split, so an
    /// early UTF-8 error would make the verdict depend on the reads.
    utf8_bad: bool,
}

#[derive(Debug)]
pub struct Validator {
    config: ValidatorConfig,
    frame: Option<FrameKind>,
    message: Option<Message>,
    close_buf: [u8; 125],
    close_len: usize,
    inflater: Option<Inflater>,
}

impl Validator {
    pub fn new(config: ValidatorConfig) -> Validator {
        Validator {
            config,
            frame: None,
            message: None,
            close_buf: [0; 125],
            close_len: 0,
            inflater: None,
        }
    }

    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// True while a fragmented data message is open.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Checks a header against the frame rules and the connection state.
    #[inline]
    pub fn on_header(&mut self, h: &FrameHeader) -> Result<(), Violation> {
        if let OpCode::Data(Data::Reserved(v)) | OpCode::Control(Control::Reserved(v)) = h.opcode {
            return Err(Violation::ReservedOpcode(v));
        }
        if h.rsv2 {
            return Err(Violation::ReservedBit { bit: 2 });
        }
        if h.rsv3 {
            return Err(Violation::ReservedBit { bit: 3 });
        }
        if h.rsv1 {
            match (self.config.deflate, h.opcode) {
                (None, _) => return Err(Violation::ReservedBit { bit: 1 }),
                (Some(_), OpCode::Control(_)) => return Err(Violation::Rsv1OnControl),
                (Some(_), OpCode::Data(Data::Continue)) => {
                    return Err(Violation::Rsv1OnContinuation);
                }
                (Some(_), OpCode::Data(_)) => {}
            }
        }
        match (self.config.receiver, h.mask.is_some()) {
            (Role::Server, false) => return Err(Violation::UnmaskedClientFrame),
            (Role::Client, true) => return Err(Violation::MaskedServerFrame),
            _ => {}
        }
        if h.payload_len >> 63 != 0 {
            return Err(Violation::LengthMsbSet);
        }
        let kind = match h.opcode {
            OpCode::Control(c) => {
                if !h.fin {
                    return Err(Violation::FragmentedControl);
                }
                if h.payload_len > 125 {
                    return Err(Violation::ControlTooLong(h.payload_len));
                }
                match c {
                    Control::Close => FrameKind::Close,
                    Control::Ping => FrameKind::Ping,
                    _ => FrameKind::Pong,
                }
            }
            OpCode::Data(d) => {
                match (d, self.message.is_some()) {
                    (Data::Continue, false) => return Err(Violation::OrphanContinuation),
                    (Data::Text | Data::Binary | Data::Reserved(_), true) => {
                        return Err(Violation::DataFrameMidMessage);
                    }
                    (Data::Continue, true) => {}
                    (d, false) => {
                        let kind = if d == Data::Text {
                            MessageKind::Text
                        } else {
                            MessageKind::Binary
                        };
                        self.message = Some(Message {
                            kind,
                            compressed: h.rsv1,
                            wire_size: 0,
                            size: 0,
                            utf8: Utf8Validator::new(),
                            utf8_bad: false,
                        });
                    }
                }
                let max = self.config.max_message_size;
                if let Some(m) = self.message.as_mut() {
                    let wire = m.wire_size.saturating_add(h.payload_len);
                    let app = if m.compressed { m.size } else { wire };
                    if wire.max(app) > max {
                        return Err(Violation::MessageTooBig {
                            size: wire.max(app),
                            max,
                        });
                    }
                    m.wire_size = wire;
                }
                FrameKind::Data { fin: h.fin }
            }
        };
        self.close_len = 0;
        self.frame = Some(kind);
        Ok(())
    }

    /// Checks a chunk of unmasked payload. `sink` receives the frame's data as the
    /// application would see it: inflated for compressed messages.
    #[inline(always)]
    pub fn on_payload(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), Violation> {
        match self.frame {
            Some(FrameKind::Close) => {
                let take = data.len().min(self.close_buf.len() - self.close_len);
                self.close_buf[self.close_len..self.close_len + take]
                    .copy_from_slice(&data[..take]);
                self.close_len += take;
                sink(data);
                Ok(())
            }
            Some(FrameKind::Ping | FrameKind::Pong) | None => {
                sink(data);
                Ok(())
            }
            Some(FrameKind::Data { .. }) => {
                let max = self.config.max_message_size;
                let Some(m) = self.message.as_mut() else {
                    return Ok(());
                };
                if m.compressed {
                    let config = self.config;
                    let inflater = self.inflater.get_or_insert_with(|| inflater_for(config));
                    inflater
                        .feed(data, &mut |out| accept_inflated(m, out, max, sink))
                        .map_err(inflate_violation)
                } else {
                    accept_app_data(m, data, max, sink)
                }
            }
        }
    }

    /// Ends the current frame and says what it was.
    #[inline(always)]
    pub fn on_frame_end(&mut self, sink: &mut dyn FnMut(&[u8])) -> Result<FrameDone, Violation> {
        match self.frame.take() {
            Some(FrameKind::Close) => self.finish_close(),
            Some(FrameKind::Ping) => Ok(FrameDone::Ping),
            Some(FrameKind::Pong) | None => Ok(FrameDone::Pong),
            Some(FrameKind::Data { fin: false }) => {
                if self.message.as_ref().is_some_and(|m| m.utf8_bad) {
                    return Err(Violation::InvalidUtf8Text);
                }
                Ok(FrameDone::Fragment)
            }
            Some(FrameKind::Data { fin: true }) => {
                let max = self.config.max_message_size;
                // Worked on in place, not `take()`n: moving the struct right after
                // `on_payload` updated its fields stalls on store forwarding.
                let Some(m) = self.message.as_mut() else {
                    return Ok(FrameDone::Fragment);
                };
                let mut result = Ok(());
                if m.compressed {
                    // Even a message with no payload bytes gets the tail
                    // appended (RFC 7692 7.2.2): an empty payload is not an
                    // empty DEFLATE block, and what the tail then leaves the
                    // inflater in is what the next message is read after.
                    let config = self.config;
                    let inflater = self.inflater.get_or_insert_with(|| inflater_for(config));
                    result = inflater
                        .finish_message(&mut |out| accept_inflated(m, out, max, sink))
                        .map_err(inflate_violation);
                }
                let (kind, size) = (m.kind, m.size);
                if result.is_ok() && m.utf8_bad {
                    result = Err(Violation::InvalidUtf8Text);
                }
                if result.is_ok() && kind == MessageKind::Text && m.utf8.finish().is_err() {
                    result = Err(Violation::InvalidUtf8Text);
                }
                self.message = None;
                result.map(|()| FrameDone::Message { kind, size })
            }
        }
    }

    #[inline(never)]
    fn finish_close(&mut self) -> Result<FrameDone, Violation> {
        let payload = &self.close_buf[..self.close_len];
        match payload {
            [] => Ok(FrameDone::Close {
                code: None,
                reason: String::new(),
            }),
            [_] => Err(Violation::CloseOneByte),
            [hi, lo, reason @ ..] => {
                let raw = u16::from_be_bytes([*hi, *lo]);
                let code = CloseCode::from(raw);
                if !code.is_valid_on_wire() {
                    return Err(Violation::InvalidCloseCode(raw));
                }
                let reason =
                    std::str::from_utf8(reason).map_err(|_| Violation::InvalidUtf8CloseReason)?;
                Ok(FrameDone::Close {
                    code: Some(code),
                    reason: reason.to_owned(),
                })
            }
        }
    }
}

fn accept_app_data(
    m: &mut Message,
    data: &[u8],
    max: u64,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<(), Violation> {
    // Judge bytes in stream order: the part within the limit first, so a UTF-8
    // error before the limit wins however the bytes were chunked.
    let room = usize::try_from(max.saturating_sub(m.size)).unwrap_or(usize::MAX);
    let (within, beyond) = data.split_at(data.len().min(room));
    if m.kind == MessageKind::Text && m.utf8.feed(within).is_err() {
        return Err(Violation::InvalidUtf8Text);
    }
    m.size += within.len() as u64;
    if !beyond.is_empty() {
        return Err(Violation::MessageTooBig {
            size: max.saturating_add(1),
            max,
        });
    }
    sink(data);
    Ok(())
}

/// The inflater for compressed messages as `config`'s permessage-deflate agreed.
fn inflater_for(config: ValidatorConfig) -> Inflater {
    let d = config.deflate.unwrap_or_default();
    Inflater::with_window(
        d.peer_no_context_takeover,
        d.peer_max_window_bits.unwrap_or(15),
    )
}

/// [`accept_app_data`] for inflated bytes: a UTF-8 error is noted in
/// `utf8_bad` and raised at the end of the frame (see there why).
fn accept_inflated(
    m: &mut Message,
    data: &[u8],
    max: u64,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<(), Violation> {
    let room = usize::try_from(max.saturating_sub(m.size)).unwrap_or(usize::MAX);
    let (within, beyond) = data.split_at(data.len().min(room));
    if m.kind == MessageKind::Text && !m.utf8_bad && m.utf8.feed(within).is_err() {
        m.utf8_bad = true;
    }
    m.size += within.len() as u64;
    if !beyond.is_empty() {
        return Err(Violation::MessageTooBig {
            size: max.saturating_add(1),
            max,
        });
    }
    sink(data);
    Ok(())
}

fn inflate_violation(e: InflateOrSink<Violation>) -> Violation {
    match e {
        InflateOrSink::Inflate(_) => Violation::InvalidDeflate,
        InflateOrSink::Sink(v) => v,
    }
}
