//! Frame encoder. It writes any header the model can hold, valid or not (reserved
//! opcodes, RSV bits, non-minimal or MSB-set lengths, a length that disagrees with
//! the payload), because the checker and the fault engine break rules on purpose.

use crate::frame::{FrameHeader, LengthForm, MAX_HEADER_LEN, OpCode};
use crate::mask::apply_mask;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("payload length {len} does not fit the {form:?} length form")]
    LengthDoesNotFit { len: u64, form: LengthForm },
}

/// Writes `header` into `out` and returns its length (2..=14).
pub fn encode_header(
    header: &FrameHeader,
    out: &mut [u8; MAX_HEADER_LEN],
) -> Result<usize, EncodeError> {
    let len = header.payload_len;
    if !header.length_form.fits(len) {
        return Err(EncodeError::LengthDoesNotFit {
            len,
            form: header.length_form,
        });
    }
    out[0] = (u8::from(header.fin) << 7) | header.rsv_bits() | header.opcode.nibble();
    let mask_bit = if header.mask.is_some() { 0x80 } else { 0 };
    let mut pos = match header.length_form {
        LengthForm::Short => {
            out[1] = mask_bit | len as u8;
            2
        }
        LengthForm::U16 => {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        LengthForm::U64 => {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&len.to_be_bytes());
            10
        }
    };
    if let Some(key) = header.mask {
        out[pos..pos + 4].copy_from_slice(&key);
        pos += 4;
    }
    Ok(pos)
}

/// Appends `header` to `out`.
pub fn write_header(header: &FrameHeader, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut buf = [0u8; MAX_HEADER_LEN];
    let n = encode_header(header, &mut buf)?;
    out.extend_from_slice(&buf[..n]);
    Ok(())
}

/// Appends `header` and then `payload` (given unmasked, masked here with the
/// header's key). The payload is written as given even when it disagrees with
/// `header.payload_len`, which is how truncated or overlong frames are made.
pub fn write_frame(
    header: &FrameHeader,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    write_header(header, out)?;
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = header.mask {
        apply_mask(&mut out[start..], key, 0);
    }
    Ok(())
}

/// A whole frame: header plus unmasked payload. Convenience for tests, the checker
/// and the fuzzers; streaming code uses [`write_header`] and payload chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: FrameHeader,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A final, unmasked frame with a consistent minimal length.
    pub fn new(opcode: OpCode, payload: impl Into<Vec<u8>>) -> Frame {
        let payload = payload.into();
        Frame {
            header: FrameHeader::new(opcode, None, payload.len() as u64),
            payload,
        }
    }

    pub fn text(s: &str) -> Frame {
        Frame::new(OpCode::TEXT, s.as_bytes())
    }

    pub fn binary(b: &[u8]) -> Frame {
        Frame::new(OpCode::BINARY, b)
    }

    pub fn ping(b: &[u8]) -> Frame {
        Frame::new(OpCode::PING, b)
    }

    pub fn pong(b: &[u8]) -> Frame {
        Frame::new(OpCode::PONG, b)
    }

    /// A Close frame with a status code and reason.
    pub fn close(code: u16, reason: &[u8]) -> Frame {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason);
        Frame::new(OpCode::CLOSE, p)
    }

    pub fn masked(mut self, key: [u8; 4]) -> Frame {
        self.header.mask = Some(key);
        self
    }

    pub fn fin(mut self, fin: bool) -> Frame {
        self.header.fin = fin;
        self
    }

    pub fn rsv(mut self, rsv1: bool, rsv2: bool, rsv3: bool) -> Frame {
        self.header.rsv1 = rsv1;
        self.header.rsv2 = rsv2;
        self.header.rsv3 = rsv3;
        self
    }

    /// Re-encodes the length in `form` (e.g. non-minimal on purpose).
    pub fn length_form(mut self, form: LengthForm) -> Frame {
        self.header.length_form = form;
        self
    }

    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.header.encoded_len() + self.payload.len());
        write_frame(&self.header, &self.payload, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::decode_header;

    #[test]
    fn rfc_example_bytes() {
        assert_eq!(
            Frame::text("Hello").encode().unwrap(),
            [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']
        );
        assert_eq!(
            Frame::text("Hello")
                .masked([0x37, 0xfa, 0x21, 0x3d])
                .encode()
                .unwrap(),
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
    }

    #[test]
    fn every_length_form_and_invalid_header_encodes_and_decodes() {
        for form in [LengthForm::Short, LengthForm::U16, LengthForm::U64] {
            for len in [0u64, 1, 125, 126, 65535, 65536, 1 << 40, u64::MAX] {
                for mask in [None, Some([1, 2, 3, 4])] {
                    for nibble in 0..16 {
                        let h = FrameHeader {
                            fin: nibble % 2 == 0,
                            rsv1: nibble & 2 != 0,
                            rsv2: nibble & 4 != 0,
                            rsv3: nibble & 8 != 0,
                            opcode: OpCode::from_nibble(nibble),
                            mask,
                            payload_len: len,
                            length_form: form,
                        };
                        let mut buf = [0u8; MAX_HEADER_LEN];
                        match encode_header(&h, &mut buf) {
                            Ok(n) => {
                                assert_eq!(n, h.encoded_len());
                                assert_eq!(decode_header(&buf[..n]), Some((h, n)));
                            }
                            Err(_) => assert!(!form.fits(len)),
                        }
                    }
                }
            }
        }
    }
}
