//! Every protocol violation a receiver can detect, as a value that knows the close
//! code the receiving endpoint must send (and the other codes the case catalogue
//! accepts), and which receiving role the rule binds.

use crate::close::CloseCode;
use crate::frame::{FrameHeader, Role};

/// Which receiving endpoint a rule binds. Not a [`Role`]: most rules bind both
/// ends (`Both`), which no single role can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binds {
    /// Only a server receiving client frames (e.g. "client frames must be masked").
    Server,
    /// Only a client receiving server frames.
    Client,
    Both,
}

impl Binds {
    pub fn applies_to(self, receiver: Role) -> bool {
        matches!(
            (self, receiver),
            (Binds::Both, _) | (Binds::Server, Role::Server) | (Binds::Client, Role::Client)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("client frame is not masked (RFC 6455 5.1)")]
    UnmaskedClientFrame,
    #[error("server frame is masked (RFC 6455 5.1)")]
    MaskedServerFrame,
    #[error("RSV{bit} is set but no negotiated extension defines it (RFC 6455 5.2)")]
    ReservedBit { bit: u8 },
    #[error("RSV1 on a control frame (RFC 7692 6)")]
    Rsv1OnControl,
    #[error("RSV1 on a continuation frame (RFC 7692 6.1)")]
    Rsv1OnContinuation,
    #[error("reserved opcode 0x{0:X} (RFC 6455 5.2)")]
    ReservedOpcode(u8),
    #[error("control frame payload of {0} bytes exceeds 125 (RFC 6455 5.5)")]
    ControlTooLong(u64),
    #[error("fragmented control frame (RFC 6455 5.5)")]
    FragmentedControl,
    #[error("continuation frame with no message open (RFC 6455 5.4)")]
    OrphanContinuation,
    #[error("new data frame before the open message finished (RFC 6455 5.4)")]
    DataFrameMidMessage,
    #[error("64-bit payload length with the most significant bit set (RFC 6455 5.2)")]
    LengthMsbSet,
    #[error("close payload of one byte (RFC 6455 5.5.1)")]
    CloseOneByte,
    #[error("invalid close code {0} (RFC 6455 7.4)")]
    InvalidCloseCode(u16),
    #[error("close reason is not valid UTF-8 (RFC 6455 5.5.1)")]
    InvalidUtf8CloseReason,
    #[error("text message is not valid UTF-8 (RFC 6455 8.1)")]
    InvalidUtf8Text,
    #[error("message of at least {size} bytes exceeds the limit of {max}")]
    MessageTooBig { size: u64, max: u64 },
    #[error("compressed payload is not a valid DEFLATE stream (RFC 7692 7.2.2)")]
    InvalidDeflate,
}

impl Violation {
    /// The close code the receiving endpoint must send.
    pub fn close_code(&self) -> CloseCode {
        self.accepted_codes()[0]
    }

    /// Every code the case catalogue accepts as a strict reaction, the required
    /// one first. Where the RFC leaves a choice (an invalid close reason is both a
    /// UTF-8 error and a malformed Close frame) more than one is accepted.
    pub fn accepted_codes(&self) -> &'static [CloseCode] {
        use CloseCode::*;
        match self {
            Violation::InvalidUtf8Text => &[Invalid],
            Violation::InvalidUtf8CloseReason => &[Invalid, Protocol],
            Violation::InvalidDeflate => &[Invalid, Protocol],
            Violation::LengthMsbSet => &[Protocol, Size],
            Violation::MessageTooBig { .. } => &[Size],
            _ => &[Protocol],
        }
    }

    pub fn binds(&self) -> Binds {
        match self {
            Violation::UnmaskedClientFrame => Binds::Server,
            Violation::MaskedServerFrame => Binds::Client,
            _ => Binds::Both,
        }
    }
}

/// Departures from a SHOULD or from a sender-only MUST, where the RFC leaves the
/// receiver's reaction open: reported as `info`, never as a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The length used more bytes than needed (RFC 6455 5.2: senders MUST use the
    /// minimal form; receivers are not told to fail).
    NonMinimalLength,
}

impl Notice {
    pub fn for_header(header: &FrameHeader) -> Option<Notice> {
        (!header.is_minimal_length()).then_some(Notice::NonMinimalLength)
    }
}
