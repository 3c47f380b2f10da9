//! Incremental frame parser. It takes bytes as they arrive, split anywhere, and
//! yields a header, then payload chunks that borrow the input (never buffering a
//! payload), then the end of the frame. It is purely syntactic and cannot fail:
//! every byte sequence is some header, so a proxy can follow (and forward) traffic
//! that breaks the rules; judging it is the [`crate::Validator`]'s job.

use crate::frame::{FrameHeader, LengthForm, MAX_HEADER_LEN, OpCode};

/// What one call to [`FrameParser::parse`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete header; payload events for `payload_len` bytes follow.
    Header(FrameHeader),
    /// Raw payload bytes as on the wire (still masked when the header has a key);
    /// `offset` is their position within the frame's payload, for unmasking.
    Payload { data: &'a [u8], offset: u64 },
    /// The frame's payload is complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Payload { remaining: u64, offset: u64 },
    End,
}

/// Sans-IO frame parser. Its memory is a 14-byte header buffer, whatever arrives.
#[derive(Debug, Clone)]
pub struct FrameParser {
    state: State,
    buf: [u8; MAX_HEADER_LEN],
    have: usize,
}

impl Default for FrameParser {
    fn default() -> Self {
        FrameParser::new()
    }
}

/// Total header length implied by the second header byte (length and mask bits).
#[inline]
pub fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// Decodes a header from the start of `buf`; `None` when `buf` is too short.
#[inline(always)]
pub fn decode_header(buf: &[u8]) -> Option<(FrameHeader, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let len = header_len(b1);
    let bytes = buf.get(..len)?;
    let (payload_len, length_form, mut pos) = match b1 & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes([bytes[2], bytes[3]])),
            LengthForm::U16,
            4,
        ),
        127 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(&bytes[2..10]);
            (u64::from_be_bytes(n), LengthForm::U64, 10)
        }
        n => (u64::from(n), LengthForm::Short, 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let mut k = [0u8; 4];
        k.copy_from_slice(&bytes[pos..pos + 4]);
        pos += 4;
        Some(k)
    } else {
        None
    };
    debug_assert_eq!(pos, len);
    Some((
        FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode: OpCode::from_nibble(b0),
            mask,
            payload_len,
            length_form,
        },
        len,
    ))
}

impl FrameParser {
    pub fn new() -> FrameParser {
        FrameParser {
            state: State::Header,
            buf: [0; MAX_HEADER_LEN],
            have: 0,
        }
    }

    /// True between frames with no partial header held: a clean cut point.
    pub fn at_frame_boundary(&self) -> bool {
        self.state == State::Header && self.have == 0
    }

    /// Header bytes taken but not yet reported (a header split across reads).
    /// A relay flushes these when the stream ends inside a header.
    pub fn pending_header(&self) -> &[u8] {
        &self.buf[..self.have]
    }

    /// Payload bytes still to come for the current frame (0 between frames).
    pub fn payload_remaining(&self) -> u64 {
        match self.state {
            State::Payload { remaining, .. } => remaining,
            _ => 0,
        }
    }

    /// Consumes a prefix of `input` and returns how many bytes it took and at most
    /// one event. `None` means every byte was taken and more are needed; call again
    /// with the rest of the input until then. `End` consumes nothing, so a loop
    /// over this always terminates: every other event takes at least one byte.
    pub fn parse<'a>(&mut self, input: &'a [u8]) -> (usize, Option<Event<'a>>) {
        match self.state {
            State::End => {
                self.state = State::Header;
                (0, Some(Event::End))
            }
            State::Payload { remaining, offset } => {
                if input.is_empty() {
                    return (0, None);
                }
                let take = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
                let left = remaining - take as u64;
                self.state = if left == 0 {
                    State::End
                } else {
                    State::Payload {
                        remaining: left,
                        offset: offset + take as u64,
                    }
                };
                (
                    take,
                    Some(Event::Payload {
                        data: &input[..take],
                        offset,
                    }),
                )
            }
            State::Header => {
                if self.have == 0 {
                    if let Some((header, len)) = decode_header(input) {
                        self.start_payload(&header);
                        return (len, Some(Event::Header(header)));
                    }
                }
                self.parse_split_header(input)
            }
        }
    }

    /// [`FrameParser::parse`] for a loop: takes what it consumes off the front of
    /// `input` and returns the event, `None` once `input` is used up.
    pub fn next_event<'a>(&mut self, input: &mut &'a [u8]) -> Option<Event<'a>> {
        let (n, event) = self.parse(input);
        *input = &input[n..];
        event
    }

    fn parse_split_header<'a>(&mut self, input: &'a [u8]) -> (usize, Option<Event<'a>>) {
        let mut used = 0;
        loop {
            let need = if self.have < 2 {
                2
            } else {
                header_len(self.buf[1])
            };
            if self.have == need {
                let decoded = decode_header(&self.buf[..need]);
                self.have = 0;
                return match decoded {
                    Some((header, _)) => {
                        self.start_payload(&header);
                        (used, Some(Event::Header(header)))
                    }
                    // Unreachable by construction (need == header_len), but a
                    // parser must not panic on its input.
                    None => (used, None),
                };
            }
            let take = (need - self.have).min(input.len() - used);
            if take == 0 {
                return (used, None);
            }
            self.buf[self.have..self.have + take].copy_from_slice(&input[used..used + take]);
            self.have += take;
            used += take;
        }
    }

    fn start_payload(&mut self, header: &FrameHeader) {
        self.state = if header.payload_len == 0 {
            State::End
        } else {
            State::Payload {
                remaining: header.payload_len,
                offset: 0,
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(p: &mut FrameParser, mut input: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let ev = p.next_event(&mut input);
            match ev {
                None => break,
                Some(Event::Header(h)) => out.push(format!("H{:?}/{}", h.opcode, h.payload_len)),
                Some(Event::Payload { data, offset }) => out.push(format!("P{offset}:{data:?}")),
                Some(Event::End) => out.push("E".into()),
            }
        }
        assert!(input.is_empty());
        out
    }

    #[test]
    fn rfc_examples() {
        let mut p = FrameParser::new();
        // Unmasked "Hello", then masked "Hello" (RFC 6455 5.7).
        let ev = events(&mut p, &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
        assert_eq!(
            ev,
            vec!["HData(Text)/5", "P0:[72, 101, 108, 108, 111]", "E"]
        );
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (h, n) = decode_header(&masked).unwrap();
        assert_eq!(n, 6);
        assert_eq!(h.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        // 256-byte binary uses the 16-bit form, 64 KiB the 64-bit form.
        let (h, n) = decode_header(&[0x82, 0x7E, 0x01, 0x00]).unwrap();
        assert_eq!((h.payload_len, h.length_form, n), (256, LengthForm::U16, 4));
        let (h, n) = decode_header(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!(
            (h.payload_len, h.length_form, n),
            (65536, LengthForm::U64, 10)
        );
    }

    #[test]
    fn one_byte_at_a_time_equals_whole() {
        let input = [
            0x01, 0x03, b'H', b'e', b'l', 0x89, 0x00, 0x80, 0x02, b'l', b'o', 0x82, 0xFE, 0x00,
            0x01, 1, 2, 3, 4, 9,
        ];
        let whole = {
            let mut p = FrameParser::new();
            events(&mut p, &input)
        };
        let mut p = FrameParser::new();
        let mut split = Vec::new();
        for b in input.chunks(1) {
            split.extend(events(&mut p, b));
        }
        // Payload chunks differ in size by construction; compare headers and ends.
        let shape = |v: &[String]| -> Vec<String> {
            v.iter().filter(|e| !e.starts_with('P')).cloned().collect()
        };
        assert_eq!(shape(&whole), shape(&split));
        assert!(p.at_frame_boundary());
    }

    #[test]
    fn huge_length_is_streamed_not_buffered() {
        let mut p = FrameParser::new();
        let (n, ev) = p.parse(&[
            0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2,
        ]);
        assert_eq!(n, 10);
        assert!(matches!(ev, Some(Event::Header(h)) if h.payload_len == u64::MAX));
        let (n, ev) = p.parse(&[1, 2]);
        assert_eq!(n, 2);
        assert!(matches!(ev, Some(Event::Payload { offset: 0, .. })));
        assert_eq!(p.payload_remaining(), u64::MAX - 2);
    }
}
