//! The frame model as plain data: typed opcodes (with `Reserved` arms, so any 4-bit
//! value is representable), the header fields exactly as they were on the wire
//! (including a non-minimal length form), and which endpoint is which.

/// Which endpoint of a connection. Masking rules depend on who sends a frame:
/// clients must mask, servers must not (RFC 6455 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Role {
    Client,
    Server,
}

impl Role {
    /// The other end of the connection.
    pub fn peer(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}

/// Data-frame opcodes (0x0..=0x7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Data {
    Continue,
    Text,
    Binary,
    /// 0x3..=0x7
    Reserved(u8),
}

/// Control-frame opcodes (0x8..=0xF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Control {
    Close,
    Ping,
    Pong,
    /// 0xB..=0xF
    Reserved(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    Data(Data),
    Control(Control),
}

impl OpCode {
    pub const CONTINUE: OpCode = OpCode::Data(Data::Continue);
    pub const TEXT: OpCode = OpCode::Data(Data::Text);
    pub const BINARY: OpCode = OpCode::Data(Data::Binary);
    pub const CLOSE: OpCode = OpCode::Control(Control::Close);
    pub const PING: OpCode = OpCode::Control(Control::Ping);
    pub const PONG: OpCode = OpCode::Control(Control::Pong);

    /// Decodes the low four bits; the high bits are ignored.
    pub fn from_nibble(b: u8) -> OpCode {
        match b & 0x0F {
            0x0 => OpCode::CONTINUE,
            0x1 => OpCode::TEXT,
            0x2 => OpCode::BINARY,
            v @ 0x3..=0x7 => OpCode::Data(Data::Reserved(v)),
            0x8 => OpCode::CLOSE,
            0x9 => OpCode::PING,
            0xA => OpCode::PONG,
            v => OpCode::Control(Control::Reserved(v)),
        }
    }

    pub fn nibble(self) -> u8 {
        match self {
            OpCode::Data(Data::Continue) => 0x0,
            OpCode::Data(Data::Text) => 0x1,
            OpCode::Data(Data::Binary) => 0x2,
            OpCode::Data(Data::Reserved(v)) | OpCode::Control(Control::Reserved(v)) => v & 0x0F,
            OpCode::Control(Control::Close) => 0x8,
            OpCode::Control(Control::Ping) => 0x9,
            OpCode::Control(Control::Pong) => 0xA,
        }
    }

    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Control(_))
    }

    pub fn is_reserved(self) -> bool {
        matches!(
            self,
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_))
        )
    }
}

/// How the payload length was encoded: in the 7-bit field, the 16-bit extension
/// or the 64-bit extension. Kept so that a parsed header re-encodes to the same
/// bytes, and so the checker can write non-minimal lengths on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum LengthForm {
    Short,
    U16,
    U64,
}

impl LengthForm {
    /// The form RFC 6455 5.2 requires for `len` ("the minimal number of bytes").
    pub fn minimal(len: u64) -> LengthForm {
        if len <= 125 {
            LengthForm::Short
        } else if len <= u64::from(u16::MAX) {
            LengthForm::U16
        } else {
            LengthForm::U64
        }
    }

    /// Bytes the length takes after the first two header bytes.
    pub fn extra_len(self) -> usize {
        match self {
            LengthForm::Short => 0,
            LengthForm::U16 => 2,
            LengthForm::U64 => 8,
        }
    }

    /// Whether `len` can be written in this form at all.
    pub fn fits(self, len: u64) -> bool {
        match self {
            LengthForm::Short => len <= 125,
            LengthForm::U16 => len <= u64::from(u16::MAX),
            LengthForm::U64 => true,
        }
    }
}

/// The longest possible header: 2 + 8 (length) + 4 (mask key).
pub const MAX_HEADER_LEN: usize = 14;

/// A frame header exactly as on the wire; no field is validated here (that is the
/// [`crate::Validator`]'s job), so deliberately invalid headers are representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    pub length_form: LengthForm,
}

impl FrameHeader {
    /// A final frame with no RSV bits and the minimal length form.
    pub fn new(opcode: OpCode, mask: Option<[u8; 4]>, payload_len: u64) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len,
            length_form: LengthForm::minimal(payload_len),
        }
    }

    /// Encoded size of this header in bytes (2..=14).
    pub fn encoded_len(&self) -> usize {
        2 + self.length_form.extra_len() + if self.mask.is_some() { 4 } else { 0 }
    }

    pub fn is_minimal_length(&self) -> bool {
        self.length_form == LengthForm::minimal(self.payload_len)
    }

    /// The RSV bits as they sit in the first byte (0x40, 0x20, 0x10).
    pub fn rsv_bits(&self) -> u8 {
        (u8::from(self.rsv1) << 6) | (u8::from(self.rsv2) << 5) | (u8::from(self.rsv3) << 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nibble_round_trips() {
        for b in 0..16u8 {
            assert_eq!(OpCode::from_nibble(b).nibble(), b);
            assert_eq!(OpCode::from_nibble(b).is_control(), b >= 8);
            assert_eq!(
                OpCode::from_nibble(b).is_reserved(),
                (3..=7).contains(&b) || b >= 0xB
            );
        }
    }

    #[test]
    fn minimal_length_forms() {
        assert_eq!(LengthForm::minimal(0), LengthForm::Short);
        assert_eq!(LengthForm::minimal(125), LengthForm::Short);
        assert_eq!(LengthForm::minimal(126), LengthForm::U16);
        assert_eq!(LengthForm::minimal(65535), LengthForm::U16);
        assert_eq!(LengthForm::minimal(65536), LengthForm::U64);
        assert!(!LengthForm::Short.fits(126));
        assert!(LengthForm::U64.fits(u64::MAX));
    }
}
