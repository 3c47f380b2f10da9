//! Fuzz harness logic, kept in the library so unit and property tests run the very
//! checks the cargo-fuzz targets run. Each `check_*` returns `Err` with a one-line
//! description when a law is broken; the fuzz targets turn that into a crash.

use arbitrary::Arbitrary;

use crate::encode::Frame;
use crate::frame::{FrameHeader, LengthForm, OpCode, Role};
use crate::handshake;
use crate::mask::apply_mask;
use crate::parse::{Event, FrameParser};
use crate::stream::classify_chunks;
use crate::validate::{DeflateConfig, ValidatorConfig};

/// A byte stream for one receiver, with cut points. Encoded plainly (not through
/// `Arbitrary`) so that seed files are a few config bytes and then real frames:
/// `[flags, max_hi, max_lo, n_cuts, cuts as n_cuts u16 BE..., stream...]`, flags
/// bit 0 client receiver, bit 1 deflate negotiated, bit 2 no context takeover,
/// bit 3 use the small message limit `125 + max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitInput {
    pub receiver: Role,
    pub deflate: Option<bool>,
    /// Small limits reach the 1009 paths; `None` is the default limit.
    pub max_message_size: Option<u16>,
    pub cuts: Vec<u16>,
    pub data: Vec<u8>,
}

/// The config part shared by the stream targets: receiver, deflate, limit.
pub(crate) fn decode_flags(data: &[u8]) -> (Role, Option<bool>, Option<u16>) {
    let flags = data.first().copied().unwrap_or(0);
    let max = u16::from_be_bytes([
        data.get(1).copied().unwrap_or(0),
        data.get(2).copied().unwrap_or(0),
    ]);
    let receiver = if flags & 1 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let deflate = (flags & 2 != 0).then_some(flags & 4 != 0);
    // Limits start at 125: below the control-frame maximum a limit is not a
    // meaningful configuration, and tungstenite applies it to control frames.
    let max = (flags & 8 != 0).then_some(max.saturating_add(125));
    (receiver, deflate, max)
}

pub(crate) fn encode_flags(receiver: Role, deflate: Option<bool>, max: Option<u16>) -> [u8; 3] {
    let mut flags = u8::from(receiver == Role::Client);
    if let Some(reset) = deflate {
        flags |= 2 | if reset { 4 } else { 0 };
    }
    if max.is_some() {
        flags |= 8;
    }
    let m = max.unwrap_or(125).saturating_sub(125).to_be_bytes();
    [flags, m[0], m[1]]
}

pub(crate) fn config_for(
    receiver: Role,
    deflate: Option<bool>,
    max: Option<u16>,
) -> ValidatorConfig {
    let mut c = ValidatorConfig::new(receiver);
    if let Some(max) = max {
        c.max_message_size = u64::from(max);
    }
    if let Some(reset) = deflate {
        c.deflate = Some(DeflateConfig {
            peer_no_context_takeover: reset,
            ..DeflateConfig::default()
        });
    }
    c
}

impl SplitInput {
    pub fn from_bytes(data: &[u8]) -> SplitInput {
        let (receiver, deflate, max_message_size) = decode_flags(data);
        let n = usize::from(data.get(3).copied().unwrap_or(0));
        let cut_bytes = data.get(4..).unwrap_or(&[]);
        let n = n.min(cut_bytes.len() / 2);
        let cuts = cut_bytes[..2 * n]
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        SplitInput {
            receiver,
            deflate,
            max_message_size,
            cuts,
            data: cut_bytes[2 * n..].to_vec(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = encode_flags(self.receiver, self.deflate, self.max_message_size).to_vec();
        let n = self.cuts.len().min(255);
        out.push(n as u8);
        for c in &self.cuts[..n] {
            out.extend_from_slice(&c.to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }

    pub fn config(&self) -> ValidatorConfig {
        config_for(self.receiver, self.deflate, self.max_message_size)
    }
}

/// Law: the outcome of classifying a stream does not depend on how it is split,
/// down to one byte per read.
pub fn check_split(input: &SplitInput) -> Result<(), String> {
    let config = input.config();
    let data = &input.data[..];
    let whole = classify_chunks(config, [data]);
    let mut points: Vec<usize> = input
        .cuts
        .iter()
        .map(|&c| usize::from(c) % (data.len() + 1))
        .collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    let split = classify_chunks(config, points.windows(2).map(|w| &data[w[0]..w[1]]));
    if split != whole {
        return Err(format!(
            "split at {points:?} disagrees: whole {:?} vs split {:?}",
            whole.violation, split.violation
        ));
    }
    if data.len() <= 4096 {
        let bytewise = classify_chunks(config, data.chunks(1));
        if bytewise != whole {
            return Err(format!(
                "one byte per read disagrees: whole {:?} vs bytewise {:?}",
                whole.violation, bytewise.violation
            ));
        }
    }
    Ok(())
}

/// A frame the fuzzer builds field by field: any opcode, bits, key and form.
#[derive(Debug, Clone, Arbitrary)]
pub struct ArbFrame {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub form: LengthForm,
    pub payload: Vec<u8>,
}

impl ArbFrame {
    /// The frame, with the length form widened when the payload does not fit it.
    pub fn to_frame(&self) -> Frame {
        let len = self.payload.len() as u64;
        let form = if self.form.fits(len) {
            self.form
        } else {
            LengthForm::minimal(len)
        };
        Frame {
            header: FrameHeader {
                fin: self.fin,
                rsv1: self.rsv1,
                rsv2: self.rsv2,
                rsv3: self.rsv3,
                opcode: OpCode::from_nibble(self.opcode),
                mask: self.mask,
                payload_len: len,
                length_form: form,
            },
            payload: self.payload.clone(),
        }
    }
}

/// Law: parse(encode(frames)) == frames, header field for field and payload byte
/// for byte, for any frame the model holds (valid or not), read in `cuts` pieces.
pub fn check_roundtrip(frames: &[ArbFrame], cuts: &[u16]) -> Result<(), String> {
    let expected: Vec<Frame> = frames.iter().map(ArbFrame::to_frame).collect();
    let mut wire = Vec::new();
    for f in &expected {
        let bytes = f.encode().map_err(|e| format!("encode failed: {e}"))?;
        wire.extend_from_slice(&bytes);
    }
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (wire.len() + 1))
        .collect();
    points.push(0);
    points.push(wire.len());
    points.sort_unstable();

    let mut parser = FrameParser::new();
    let mut got: Vec<Frame> = Vec::new();
    let mut ended = 0usize;
    for w in points.windows(2) {
        let mut input = &wire[w[0]..w[1]];
        loop {
            let ev = parser.next_event(&mut input);
            match ev {
                None => break,
                Some(Event::Header(h)) => got.push(Frame {
                    header: h,
                    payload: Vec::new(),
                }),
                Some(Event::Payload { data, offset }) => {
                    let f = got.last_mut().ok_or("payload before any header")?;
                    if offset != f.payload.len() as u64 {
                        return Err(format!("payload offset {offset} != {}", f.payload.len()));
                    }
                    let start = f.payload.len();
                    f.payload.extend_from_slice(data);
                    if let Some(key) = f.header.mask {
                        apply_mask(&mut f.payload[start..], key, offset);
                    }
                }
                Some(Event::End) => ended += 1,
            }
        }
    }
    if got != expected {
        return Err(format!(
            "round trip differs: {} frames in, {} out",
            expected.len(),
            got.len()
        ));
    }
    if ended != expected.len() || !parser.at_frame_boundary() {
        return Err(format!("{ended} frame ends for {} frames", expected.len()));
    }
    Ok(())
}

const PROBE: &str = "x-wschaos-probe";

/// Law for the proxy's handshake edits: injecting an extension and stripping it
/// again gives back the head byte for byte (including what follows the head).
fn check_edit_round_trip(data: &[u8]) -> Result<(), String> {
    if data
        .to_ascii_lowercase()
        .windows(PROBE.len())
        .any(|w| w == PROBE.as_bytes())
    {
        return Ok(());
    }
    let probe = handshake::ExtensionOffer {
        name: PROBE.to_owned(),
        params: vec![("v".to_owned(), Some("1".to_owned()))],
    };
    let Ok(injected) = handshake::inject_extension(data, &probe) else {
        return Ok(());
    };
    match handshake::strip_extension(&injected, PROBE) {
        Ok(Some(back)) if back == data => Ok(()),
        Ok(Some(_)) => Err("strip(inject(head)) changed other bytes".to_owned()),
        Ok(None) => Err("injected extension not found by strip".to_owned()),
        // Another extension header that is not valid syntax stops the edit.
        Err(_) => Ok(()),
    }
}

/// Parses a request head (any bytes), validates it, and checks the edit law.
pub fn check_handshake_request(data: &[u8]) -> Result<(), String> {
    let Ok(Some(req)) = handshake::parse_request(data) else {
        return Ok(());
    };
    if req.head_len > data.len() || req.headers.iter().any(|h| h.line.end > req.head_len) {
        return Err("header ranges point past the head".to_owned());
    }
    if let Ok(hs) = handshake::validate_request(&req) {
        for ext in &hs.extensions {
            if ext.name == "permessage-deflate" {
                let _ = handshake::DeflateParams::from_offer(ext);
            }
        }
    }
    check_edit_round_trip(data)
}

/// The key of RFC 6455 1.3, so the seed corpus can hold a response with the
/// right accept value and the fuzzer reaches the checks after it.
pub const FUZZ_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Parses a response head, validates it against an offer of permessage-deflate
/// and subprotocol `chat`, and checks the edit law.
pub fn check_handshake_response(data: &[u8]) -> Result<(), String> {
    let Ok(Some(resp)) = handshake::parse_response(data) else {
        return Ok(());
    };
    if resp.head_len > data.len() || resp.headers.iter().any(|h| h.line.end > resp.head_len) {
        return Err("header ranges point past the head".to_owned());
    }
    let offer = handshake::DeflateParams::default().to_offer();
    if let Ok(agreed) =
        handshake::validate_response(&resp, FUZZ_KEY, &["chat".to_owned()], &[offer])
    {
        for ext in &agreed.extensions {
            let _ = handshake::DeflateParams::from_offer(ext);
        }
    }
    check_edit_round_trip(data)
}

/// The fuzz targets by name. `run` is what each cargo-fuzz target calls and what
/// the regression test replays `corpus/regressions/<target>/*` through, so a saved
/// crash input is decoded exactly as the fuzzer decoded it.
pub const TARGETS: &[&str] = &[
    "frame_split",
    "frame_roundtrip",
    "handshake_request",
    "handshake_response",
    #[cfg(feature = "differential")]
    "differential_tungstenite",
    "raw_wschaos",
    #[cfg(feature = "differential")]
    "raw_tungstenite",
    #[cfg(feature = "differential-fastwebsockets")]
    "differential_fastwebsockets",
    #[cfg(feature = "differential-tokio-websockets")]
    "differential_tokio_websockets",
];

/// `raw_wschaos`: the input as a client's byte stream, decoded once by a server's
/// `Decoder` in one read, the way `raw_tungstenite` reads it with tungstenite.
/// The pair measures the two parsers' fuzzing speed in the same setup
/// (`scripts/bench-fuzz`); this one also checks that the decoder never reports
/// more data, or consumes more input, than it was given.
pub fn check_raw(data: &[u8]) -> Result<(), String> {
    let mut decoder = crate::Decoder::new(ValidatorConfig::new(Role::Server));
    let mut seen = 0usize;
    let fed = decoder.feed(data, &mut |ev| {
        if let crate::DecoderEvent::Data(d) = ev {
            seen += d.len();
        }
    });
    if seen > data.len() {
        return Err(format!(
            "{seen} data bytes out of {} input bytes",
            data.len()
        ));
    }
    match fed {
        Ok(fed) if fed.consumed > data.len() => Err(format!(
            "consumed {} of {} input bytes",
            fed.consumed,
            data.len()
        )),
        _ => Ok(()),
    }
}

/// Runs one fuzz target's check on raw fuzzer bytes.
pub fn run(target: &str, data: &[u8]) -> Result<(), String> {
    match target {
        "frame_split" => check_split(&SplitInput::from_bytes(data)),
        "frame_roundtrip" => {
            let u = arbitrary::Unstructured::new(data);
            let parsed = <(Vec<ArbFrame>, Vec<u16>)>::arbitrary_take_rest(u);
            match parsed {
                Ok((frames, cuts)) => check_roundtrip(&frames, &cuts),
                Err(_) => Ok(()),
            }
        }
        "handshake_request" => check_handshake_request(data),
        "handshake_response" => check_handshake_response(data),
        #[cfg(feature = "differential")]
        "differential_tungstenite" => {
            crate::differential::check(&crate::differential::DiffInput::from_bytes(data))
                .map(|_| ())
        }
        "raw_wschaos" => check_raw(data),
        #[cfg(feature = "differential")]
        "raw_tungstenite" => {
            crate::differential::tungstenite_read_all(data);
            Ok(())
        }
        #[cfg(feature = "differential-fastwebsockets")]
        "differential_fastwebsockets" => crate::differential::check_endpoint(
            &mut crate::differential::fastwebsockets::Fastwebsockets,
            &crate::differential::DiffInput::from_bytes(data),
        )
        .map(|_| ()),
        #[cfg(feature = "differential-tokio-websockets")]
        "differential_tokio_websockets" => crate::differential::check_endpoint(
            &mut crate::differential::tokio_websockets::TokioWebsockets,
            &crate::differential::DiffInput::from_bytes(data),
        )
        .map(|_| ()),
        other => Err(format!("unknown fuzz target {other:?}")),
    }
}
