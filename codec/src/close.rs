//! Close codes (RFC 6455 section 7.4 and the IANA registry) as a typed value, so no
//! magic numbers travel past the parser.

use std::fmt;

/// A close status code. `From<u16>` never fails; `is_valid_on_wire` says whether an
/// endpoint may receive it in a Close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CloseCode {
    /// 1000
    Normal,
    /// 1001
    Away,
    /// 1002
    Protocol,
    /// 1003
    Unsupported,
    /// 1005: must never appear on the wire.
    Status,
    /// 1006: must never appear on the wire.
    Abnormal,
    /// 1007
    Invalid,
    /// 1008
    Policy,
    /// 1009
    Size,
    /// 1010: the client required an extension the server did not agree to.
    Extension,
    /// 1011
    Error,
    /// 1012 (IANA)
    Restart,
    /// 1013 (IANA)
    Again,
    /// 1014 (IANA)
    BadGateway,
    /// 1015: must never appear on the wire.
    Tls,
    /// 1004 and 1016..=2999: reserved for future protocol use, invalid today.
    Reserved(u16),
    /// 3000..=3999: registered with IANA by libraries and frameworks.
    Iana(u16),
    /// 4000..=4999: private use.
    Private(u16),
    /// 0..=999 and 5000..: never valid.
    Bad(u16),
}

impl CloseCode {
    /// Whether a Close frame carrying this code is valid (RFC 6455 7.4.1/7.4.2 and
    /// the IANA registry: 1012-1014 are registered, 1004/1005/1006/1015 are not
    /// sendable, 1016-2999 are unassigned).
    pub fn is_valid_on_wire(self) -> bool {
        !matches!(
            self,
            CloseCode::Status
                | CloseCode::Abnormal
                | CloseCode::Tls
                | CloseCode::Reserved(_)
                | CloseCode::Bad(_)
        )
    }

    /// Whether an endpoint that closes with this code says the connection failed
    /// because of an error (1002, 1003, 1007-1011), as opposed to a normal or
    /// application close. Verdicts call a Close with such a code, but not the one
    /// the case expects, `non-strict` rather than `fail`.
    pub fn fails_connection(self) -> bool {
        matches!(
            self,
            CloseCode::Protocol
                | CloseCode::Unsupported
                | CloseCode::Invalid
                | CloseCode::Policy
                | CloseCode::Size
                | CloseCode::Extension
                | CloseCode::Error
        )
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        match code {
            1000 => CloseCode::Normal,
            1001 => CloseCode::Away,
            1002 => CloseCode::Protocol,
            1003 => CloseCode::Unsupported,
            1005 => CloseCode::Status,
            1006 => CloseCode::Abnormal,
            1007 => CloseCode::Invalid,
            1008 => CloseCode::Policy,
            1009 => CloseCode::Size,
            1010 => CloseCode::Extension,
            1011 => CloseCode::Error,
            1012 => CloseCode::Restart,
            1013 => CloseCode::Again,
            1014 => CloseCode::BadGateway,
            1015 => CloseCode::Tls,
            1004 | 1016..=2999 => CloseCode::Reserved(code),
            3000..=3999 => CloseCode::Iana(code),
            4000..=4999 => CloseCode::Private(code),
            _ => CloseCode::Bad(code),
        }
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        match code {
            CloseCode::Normal => 1000,
            CloseCode::Away => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::Unsupported => 1003,
            CloseCode::Status => 1005,
            CloseCode::Abnormal => 1006,
            CloseCode::Invalid => 1007,
            CloseCode::Policy => 1008,
            CloseCode::Size => 1009,
            CloseCode::Extension => 1010,
            CloseCode::Error => 1011,
            CloseCode::Restart => 1012,
            CloseCode::Again => 1013,
            CloseCode::BadGateway => 1014,
            CloseCode::Tls => 1015,
            CloseCode::Reserved(c)
            | CloseCode::Iana(c)
            | CloseCode::Private(c)
            | CloseCode::Bad(c) => c,
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", u16::from(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_u16_round_trips() {
        for c in 0..=u16::MAX {
            assert_eq!(u16::from(CloseCode::from(c)), c);
        }
    }

    #[test]
    fn validity_matches_rfc_and_registry() {
        let valid: Vec<u16> = (0..=u16::MAX)
            .filter(|&c| CloseCode::from(c).is_valid_on_wire())
            .collect();
        let mut expected: Vec<u16> = vec![1000, 1001, 1002, 1003];
        expected.extend(1007..=1014);
        expected.extend(3000..=4999);
        assert_eq!(valid, expected);
    }

    #[test]
    fn error_codes_are_exactly_the_failure_codes() {
        let failing: Vec<u16> = (0..=u16::MAX)
            .filter(|&c| CloseCode::from(c).fails_connection())
            .collect();
        assert_eq!(failing, vec![1002, 1003, 1007, 1008, 1009, 1010, 1011]);
    }
}
