//! One case's exchange as it went over the wire: the bytes each way with the time
//! they were read or written (recorded by `check::wire`), and their decoding for
//! the per-case report files and the HTML report: the upgrade request and
//! response, then every frame both ways. Frames are cut with the codec's
//! `FrameParser` and judged with its `classify` (one parser in the project), so
//! frames that break the rules are shown as they were sent.

use serde::Serialize;
use wschaos_codec::handshake::{parse_request, parse_response};
use wschaos_codec::validate::DeflateConfig;
use wschaos_codec::{Event, FrameParser, Role, ValidatorConfig, classify};

/// Bytes recorded per direction and case; the totals count on past it.
pub const WIRE_BOUND: usize = 80 * 1024;
/// Payload bytes shown per frame (hex and text); the full length is given.
pub const PAYLOAD_SHOWN: usize = 4096;

/// Which way bytes went, from wschaos's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// wschaos wrote them (to the endpoint under test).
    Sent,
    /// The endpoint under test sent them.
    Received,
}

/// Bytes read or written in one call, and when (microseconds since the case began).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub at_us: u64,
    pub dir: Dir,
    pub bytes: Vec<u8>,
}

/// The recorded bytes of one case, both ways, bounded by [`WIRE_BOUND`] per way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireLog {
    /// wschaos's role on this connection (the peer's frames are decoded as the
    /// other role's).
    pub ours: Role,
    pub chunks: Vec<Chunk>,
    /// Bytes that went each way, recorded or not: `[sent, received]`.
    pub total: [u64; 2],
}

impl WireLog {
    pub fn new(ours: Role) -> WireLog {
        WireLog {
            ours,
            chunks: Vec::new(),
            total: [0, 0],
        }
    }

    fn slot(dir: Dir) -> usize {
        match dir {
            Dir::Sent => 0,
            Dir::Received => 1,
        }
    }

    /// Adds bytes that went `dir` at `at_us`, keeping at most [`WIRE_BOUND`] per way.
    pub fn record(&mut self, at_us: u64, dir: Dir, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let slot = Self::slot(dir);
        let kept = self.total[slot].min(WIRE_BOUND as u64) as usize;
        self.total[slot] += bytes.len() as u64;
        let room = WIRE_BOUND.saturating_sub(kept);
        if room == 0 {
            return;
        }
        let bytes = &bytes[..bytes.len().min(room)];
        match self.chunks.last_mut() {
            // Consecutive pieces the same way at the same instant are one row.
            Some(last) if last.dir == dir && last.at_us == at_us => {
                last.bytes.extend_from_slice(bytes)
            }
            _ => self.chunks.push(Chunk {
                at_us,
                dir,
                bytes: bytes.to_vec(),
            }),
        }
    }

    /// The recorded bytes one way, and for each chunk its offset and time.
    fn stream(&self, dir: Dir) -> (Vec<u8>, Vec<(usize, u64)>) {
        let mut bytes = Vec::new();
        let mut marks = Vec::new();
        for c in self.chunks.iter().filter(|c| c.dir == dir) {
            marks.push((bytes.len(), c.at_us));
            bytes.extend_from_slice(&c.bytes);
        }
        (bytes, marks)
    }

    /// Decodes the exchange: HTTP heads, then frames both ways in time order.
    pub fn decode(&self) -> Decoded {
        let client_dir = match self.ours {
            Role::Client => Dir::Sent,
            Role::Server => Dir::Received,
        };
        let server_dir = match client_dir {
            Dir::Sent => Dir::Received,
            Dir::Received => Dir::Sent,
        };
        let (req_bytes, req_marks) = self.stream(client_dir);
        let (resp_bytes, resp_marks) = self.stream(server_dir);
        let req_head = match parse_request(&req_bytes) {
            Ok(Some(r)) => r.head_len,
            _ => head_end(&req_bytes),
        };
        let (resp_head, upgraded, deflate) = match parse_response(&resp_bytes) {
            Ok(Some(r)) => {
                let deflate = r
                    .header("Sec-WebSocket-Extensions")
                    .is_some_and(|h| h.value_lossy().contains("permessage-deflate"));
                (r.head_len, r.status == 101, deflate)
            }
            _ => (head_end(&resp_bytes), false, false),
        };
        let mut frames = Vec::new();
        let mut notes = Vec::new();
        // The client's frames go to a server, the server's to a client.
        let sides = [
            (
                client_dir,
                &req_bytes,
                &req_marks,
                req_head,
                Role::Server,
                true,
            ),
            (
                server_dir,
                &resp_bytes,
                &resp_marks,
                resp_head,
                Role::Client,
                upgraded,
            ),
        ];
        for (dir, bytes, marks, head, receiver, framed) in sides {
            let rest = &bytes[head.min(bytes.len())..];
            if rest.is_empty() {
                continue;
            }
            if !framed {
                notes.push(format!(
                    "{} {} bytes after the HTTP head (not frames: no 101)",
                    dir_word(dir),
                    rest.len()
                ));
                continue;
            }
            frames.extend(decode_frames(
                dir, rest, head, marks, receiver, deflate, &mut notes,
            ));
        }
        frames.sort_by_key(|f| f.at_us);
        for (slot, dir) in [(0, Dir::Sent), (1, Dir::Received)] {
            if self.total[slot] > WIRE_BOUND as u64 {
                notes.push(format!(
                    "{} {} bytes in all; only the first {} were recorded",
                    dir_word(dir),
                    self.total[slot],
                    WIRE_BOUND
                ));
            }
        }
        Decoded {
            http_request: String::from_utf8_lossy(&req_bytes[..req_head.min(req_bytes.len())])
                .into_owned(),
            http_response: String::from_utf8_lossy(&resp_bytes[..resp_head.min(resp_bytes.len())])
                .into_owned(),
            frames,
            octets_sent: self.total[0],
            octets_received: self.total[1],
            notes,
        }
    }
}

fn dir_word(dir: Dir) -> &'static str {
    match dir {
        Dir::Sent => "sent:",
        Dir::Received => "received:",
    }
}

/// Where an HTTP head that did not parse ends: after its blank line, else all of it.
fn head_end(bytes: &[u8]) -> usize {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |p| p + 4)
}

/// The time of the byte at `offset` of a direction's stream.
fn time_at(marks: &[(usize, u64)], offset: usize) -> u64 {
    marks
        .iter()
        .take_while(|(o, _)| *o <= offset)
        .last()
        .map_or(0, |(_, t)| *t)
}

fn decode_frames(
    dir: Dir,
    bytes: &[u8],
    base: usize,
    marks: &[(usize, u64)],
    receiver: Role,
    deflate: bool,
    notes: &mut Vec<String>,
) -> Vec<FrameRow> {
    let mut config = ValidatorConfig::new(receiver);
    if deflate {
        config.deflate = Some(DeflateConfig {
            peer_no_context_takeover: true,
            ..DeflateConfig::default()
        });
    }
    let outcome = classify(config, bytes);
    let mut parser = FrameParser::new();
    let mut input = bytes;
    let mut rows: Vec<FrameRow> = Vec::new();
    let mut start = 0usize;
    loop {
        if parser.at_frame_boundary() {
            start = bytes.len() - input.len();
        }
        let Some(event) = parser.next_event(&mut input) else {
            break;
        };
        match event {
            Event::Header(h) => rows.push(FrameRow {
                at_us: time_at(marks, base + start),
                dir,
                fin: h.fin,
                rsv: [h.rsv1, h.rsv2, h.rsv3],
                opcode: h.opcode.nibble(),
                opcode_name: opcode_name(h.opcode.nibble()),
                masked: h.mask.is_some(),
                length: h.payload_len,
                payload: Vec::new(),
                complete: false,
                violation: None,
                mask: h.mask,
            }),
            Event::Payload { data, offset } => {
                if let Some(row) = rows.last_mut() {
                    let room = PAYLOAD_SHOWN.saturating_sub(row.payload.len());
                    let take = &data[..data.len().min(room)];
                    let at = row.payload.len();
                    row.payload.extend_from_slice(take);
                    if let Some(key) = row.mask {
                        wschaos_codec::mask::apply_mask(&mut row.payload[at..], key, offset);
                    }
                }
            }
            Event::End => {
                if let Some(row) = rows.last_mut() {
                    row.complete = true;
                }
            }
        }
    }
    if let Some((index, v)) = &outcome.violation {
        let text = format!("{v} (owes close {})", u16::from(v.close_code()));
        match rows.get_mut(*index as usize) {
            Some(row) => row.violation = Some(text),
            None => notes.push(format!("{} {text}", dir_word(dir))),
        }
    }
    let pending = parser.pending_header().len();
    if pending > 0 {
        notes.push(format!(
            "{} the stream ends inside a frame header ({pending} bytes)",
            dir_word(dir)
        ));
    }
    rows
}

/// RFC 6455's names for the opcodes; the reserved ones by number.
pub fn opcode_name(op: u8) -> String {
    match op {
        0x0 => "continuation".into(),
        0x1 => "text".into(),
        0x2 => "binary".into(),
        0x8 => "close".into(),
        0x9 => "ping".into(),
        0xA => "pong".into(),
        n => format!("reserved-{n:x}"),
    }
}

/// A decoded exchange.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub http_request: String,
    pub http_response: String,
    pub frames: Vec<FrameRow>,
    pub octets_sent: u64,
    pub octets_received: u64,
    /// What could not be shown as frames, and recording bounds reached.
    pub notes: Vec<String>,
}

/// One frame as it went over the wire.
#[derive(Debug, Clone)]
pub struct FrameRow {
    pub at_us: u64,
    pub dir: Dir,
    pub fin: bool,
    pub rsv: [bool; 3],
    pub opcode: u8,
    pub opcode_name: String,
    pub masked: bool,
    /// The length the header declares.
    pub length: u64,
    /// Unmasked payload, at most [`PAYLOAD_SHOWN`] bytes.
    pub payload: Vec<u8>,
    /// The whole frame was recorded.
    pub complete: bool,
    /// The rule this frame breaks, as the receiver's validator sees it.
    pub violation: Option<String>,
    mask: Option<[u8; 4]>,
}

impl FrameRow {
    /// The payload as text, when it is text: a text or continuation frame whose
    /// shown bytes are UTF-8 (a cut at the bound is allowed), or a Close reason.
    pub fn text(&self) -> Option<String> {
        let bytes = match self.opcode {
            0x8 if self.payload.len() >= 2 => &self.payload[2..],
            0x0 | 0x1 | 0x9 | 0xA => &self.payload[..],
            _ => return None,
        };
        match std::str::from_utf8(bytes) {
            Ok(s) => Some(s.to_owned()),
            Err(e)
                if e.error_len().is_none() && self.payload.len() as u64 == PAYLOAD_SHOWN as u64 =>
            {
                Some(String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned())
            }
            Err(_) => None,
        }
    }

    /// A Close frame's code, if its payload has one.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 0x8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    pub fn hex(&self) -> String {
        self.payload.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Flags as a short word: `FIN`, `RSV1`..., `MASK`.
    pub fn flags(&self) -> String {
        let mut f = Vec::new();
        if self.fin {
            f.push("FIN");
        }
        for (i, name) in ["RSV1", "RSV2", "RSV3"].into_iter().enumerate() {
            if self.rsv[i] {
                f.push(name);
            }
        }
        if self.masked {
            f.push("MASK");
        }
        f.join(" ")
    }

    /// The JSON row of the per-case report file.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "t_ms": self.at_us as f64 / 1000.0,
            "dir": self.dir,
            "fin": self.fin,
            "rsv1": self.rsv[0],
            "rsv2": self.rsv[1],
            "rsv3": self.rsv[2],
            "opcode": self.opcode,
            "opcode_name": self.opcode_name,
            "masked": self.masked,
            "length": self.length,
            "payload_hex": self.hex(),
        });
        if let Some(t) = self.text() {
            v["payload_text"] = t.into();
        }
        if let Some(c) = self.close_code() {
            v["close_code"] = c.into();
        }
        if self.payload.len() as u64 != self.length {
            v["payload_shown"] = self.payload.len().into();
        }
        if !self.complete {
            v["incomplete"] = true.into();
        }
        if let Some(x) = &self.violation {
            v["violation"] = x.clone().into();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wschaos_codec::encode::Frame;

    #[test]
    fn decodes_heads_frames_and_violations_both_ways() {
        let mut log = WireLog::new(Role::Client);
        let req = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        log.record(0, Dir::Sent, req);
        let resp =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        log.record(10, Dir::Received, resp);
        let mut bad = Frame::text("hé").masked([1, 2, 3, 4]).encode().unwrap();
        bad[0] |= 0x20; // RSV2
        log.record(20, Dir::Sent, &bad);
        let close = Frame::close(1002, b"bad <rsv>").encode().unwrap();
        log.record(30, Dir::Received, &close[..3]);
        log.record(31, Dir::Received, &close[3..]);
        let d = log.decode();
        assert!(d.http_request.starts_with("GET / HTTP/1.1"));
        assert!(d.http_response.starts_with("HTTP/1.1 101"));
        assert_eq!(d.frames.len(), 2, "{d:?}");
        let f = &d.frames[0];
        assert_eq!(
            (f.dir, f.opcode, f.rsv, f.masked),
            (Dir::Sent, 1, [false, true, false], true)
        );
        assert_eq!(f.text().as_deref(), Some("hé"));
        assert!(f.violation.as_deref().unwrap().contains("1002"), "{f:?}");
        let c = &d.frames[1];
        assert_eq!(
            (c.dir, c.at_us, c.close_code()),
            (Dir::Received, 30, Some(1002))
        );
        assert_eq!(c.text().as_deref(), Some("bad <rsv>"));
        assert!(c.violation.is_none());
    }

    #[test]
    fn recording_is_bounded_and_totals_count_on() {
        let mut log = WireLog::new(Role::Server);
        let big = vec![0u8; WIRE_BOUND + 10];
        log.record(0, Dir::Received, &big);
        log.record(1, Dir::Received, b"more");
        assert_eq!(log.total[1], WIRE_BOUND as u64 + 14);
        let kept: usize = log.chunks.iter().map(|c| c.bytes.len()).sum();
        assert_eq!(kept, WIRE_BOUND);
        assert!(
            log.decode()
                .notes
                .iter()
                .any(|n| n.contains("only the first"))
        );
    }
}
